"""`prepare`: real talking-head videos -> a training corpus in the format `corpus` writes and `train` reads.

Why: the paper trains on real video (speech, transcript, tracked facial motion); the synthetic corpus is only
a stand-in. This package takes the same road as Capture Style (decode, face track in the calibrated motion
space, mel of the model's front-end) for every 1-10 s utterance of every input video, so what a model
learns from here is what it sees at inference.

Flow, one video at a time (in worker processes):
    inputs.py      INPUT... (videos, folders, CSV/JSONL manifests) -> sorted `Source`s (key, speaker, transcript)
    media.py       probe (streams, frame timing, VFR), streaming decode of the utterances' frames only
    segment.py     energy VAD -> pauses -> utterances of 1-10 s; text per utterance (transcript / ASR words)
    transcribe.py  offline Whisper with word timestamps (faster-whisper), for transcript-less or long videos
    espeak_timing.py  eSpeak phoneme durations of the texts, in a fresh process per video (reproducible)
    features.py    mel, PCM, stretched phoneme ids, tracked motion on the mel clock, face quality checks
    process.py     one video -> its shard + done record (or the reason it was dropped)
    store.py       the output directory: done records, settings, merge, splits, manifest.json
    report.py      hours kept / dropped and why, per speaker; report.json
    run.py         the driver: discovery, sharding across machines, resume, process pool + progress bar

Layout of OUT (a superset of the synthetic corpus's; `corpus.dataset.CorpusDataset` reads it unchanged):
    manifest.json          version 1, sample_rate, mel_fps, mel_spec, phoneme_vocab, "phoneme_timing":
                           "espeak_stretched", speakers {id: {split, ...}}, utterances [{id, speaker, split,
                           text, shard, num_frames, duration, source, start, end, text_source}]
    videos/<vid>.safetensors   "{uid}/mel" f16 [n, n_mels], "{uid}/motion" f16 [n, 61], "{uid}/phonemes" i16 [n],
                           "{uid}/audio" i16 [t] (24 kHz), for every kept utterance of one video
    videos/<vid>.json      the done record of one video (written last, atomically: its presence = finished)
    prepare.json           the settings that shape the content; a rerun with other settings is refused
    report.json            the last run's report (also printed)
"""
