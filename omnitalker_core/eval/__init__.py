"""Evaluation of a generator on held-out speakers, one module per metric.

- `wer`: word error rate of an offline ASR (Whisper tiny.en) against the target text, with a text normaliser.
- `speaker`: voice similarity (resemblyzer d-vectors): cosine to the reference, nearest speaker centroid.
- `nearest`: nearest-centroid speaker identification, shared by the voice and the motion tests.
- `motion_style`: per-utterance motion statistics (blendshape mean/std, pose velocity, blink rate...)
  for the motion nearest-speaker test.
- `frechet`: Fréchet distances between code distributions (the paper's E-FID on expression, P-FID on pose).
- `sync`: audio-visual lag: best cross-correlation of jawOpen with the speech envelope within ±200 ms.
- `speed`: real-time factor bookkeeping.
- `protocol`: which corpus utterances are references, targets and centroid pools; target texts are
  Harvard sentences by default.
- `sentences`: the Harvard sentences (IEEE 1969, lists 1-3), real English target texts.
- `samples`: the audio + motion of each row; renders Harvard ground truth with the corpus generator.
- `runner`: runs the model and the baselines over the protocol and aggregates the table.
"""
