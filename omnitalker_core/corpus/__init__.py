"""Synthetic multi-speaker talking corpus: eSpeak NG speech + frame-aligned phonemes + 61-D motion
(visemes with coarticulation, per-speaker facial/head styles tied to prosody), and its reader.

Modules: `sentences` (text source), `speakers` (voices + styles), `prosody` (energy/pitch/stress),
`visemes` (mouth), `styles` (face, head, gaze), `generate` (shards + manifest), `dataset` (reader,
frame-budget sampler, collate).
"""
