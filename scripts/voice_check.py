"""Listen to a model as a user would: clone a voice from a reference, say sentences it never saw, and measure
what Whisper hears and how close the voice is to the reference speaker.

    .venv/bin/python scripts/voice_check.py --model M.safetensors [--librivox DIR] [--out DIR] [--steps 16] [--timing espeak]

References: the bundled clip (its transcript), and with --librivox a real human reader: DIR is
`test/data/librivox/` of the pocketsphinx 5.1.1 sdist (`pip download --no-binary :all: --no-deps
pocketsphinx==5.1.1`), utterance 0870 as the reference, 0920 as "another utterance of the same reader".
Targets: Harvard sentences 21-23 (list 3) and two short lines. Whisper tiny.en, beam 5, temperature 0.
Similarity: resemblyzer cosine of the output to the reference speaker (another utterance of them) and to
a different voice (the bundled clip for LibriVox, LibriVox for the bundled clip). Prints JSON; --out keeps wavs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from omnitalker_core import audio as audio_lib
from omnitalker_core.checkpoints import REFERENCE_CLIP, REFERENCE_TRANSCRIPT, load_bundle
from omnitalker_core.eval import speaker, wer
from omnitalker_core.eval.sentences import HARVARD
from omnitalker_core.pipeline import generate, vocode
from omnitalker_core.precision import CHOICES, resolve_dtype
from omnitalker_core.style import capture_style
from omnitalker_core.vocoder import vocoder_for

SHORT = ["Hello.", "Dr. Smith paid $3.50 on 12/05 - really?!"]
SHORT_SPOKEN = ["Hello.", "Doctor Smith paid three dollars fifty on December fifth, really?!"]


def _load(path: Path) -> tuple[torch.Tensor, int]:
    wave, rate = audio_lib.load_audio(path)
    return audio_lib.to_mono(wave), rate


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--librivox", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--harvard", type=int, default=3, help="Harvard sentences from 21 on (list 3 and after)")
    p.add_argument("--dtype", choices=CHOICES, default="float32", help="generator precision (auto: per CPU)")
    p.add_argument("--vocoder-dtype", choices=CHOICES, default=None, help="HiFi-GAN precision (default: --dtype)")
    p.add_argument("--cfg-stop", type=float, default=1.0, help="guidance only on steps that start before this t")
    p.add_argument("--timing", choices=("model", "espeak"), default="model",
                   help="phoneme durations: the model file's predictor (when it has one) or eSpeak's")  # fmt: skip
    args = p.parse_args()
    torch.set_num_threads(2)
    dtype = resolve_dtype(args.dtype, "cpu")
    bundle = load_bundle(args.model, dtype=dtype)
    vocoder = vocoder_for(bundle, dtype=resolve_dtype(args.vocoder_dtype or args.dtype, "cpu"))
    targets = [*HARVARD[20 : 20 + args.harvard], *SHORT]
    spoken = [*HARVARD[20 : 20 + args.harvard], *SHORT_SPOKEN]
    n = args.harvard
    if args.timing == "espeak":
        bundle.tokenizer.durations = None
    refs = {"bundled clip": (REFERENCE_CLIP, REFERENCE_TRANSCRIPT.read_text().strip(), None)}
    if args.librivox:
        stem = "sense_and_sensibility_01_austen_64kb-"
        read = lambda k: (args.librivox / f"{stem}{k}.txt").read_text().strip()  # noqa: E731
        refs["librivox reader"] = (args.librivox / f"{stem}0870.wav", read("0870"), args.librivox / f"{stem}0920.wav")
    embeds = {}
    for name, (path, _, other) in refs.items():
        wave, rate = _load(other or path)
        embeds[name] = speaker.embed(wave, rate)
    timing = "model" if getattr(bundle.tokenizer, "durations", None) is not None else "espeak"
    report = {
        "model": str(args.model), "steps": args.steps, "timing": timing, "dtype": str(dtype).removeprefix("torch."),
        "vocoder_dtype": args.vocoder_dtype or args.dtype, "cfg_stop": args.cfg_stop, "rows": [],
    }  # fmt: skip
    for name, (path, transcript, _) in refs.items():
        wave, rate = _load(path)
        style = capture_style(wave, rate, transcript=transcript)
        hyps, sims, others, seconds, wall = [], [], [], 0.0, 0.0
        for i, text in enumerate(targets):
            t0 = time.time()
            with torch.inference_mode():
                gen = generate(bundle, style, text, steps=args.steps, seed=args.seed, cfg_stop=args.cfg_stop)
                out = vocode(vocoder, gen.mel)
            wall += time.time() - t0
            seconds += out.numel() / audio_lib.SAMPLE_RATE
            hyps.append(wer.transcribe_for_wer(out, audio_lib.SAMPLE_RATE))
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                audio_lib.save_wav(args.out / f"{name.replace(' ', '_')}_{i}.wav", out)
            emb = speaker.embed(out, audio_lib.SAMPLE_RATE)
            sims.append(speaker.cosine(emb, embeds[name]))
            others.append(np.mean([speaker.cosine(emb, e) for k, e in embeds.items() if k != name] or [np.nan]))
        report["rows"].append({
            "reference": name,
            "wer_harvard": round(wer.word_error_rate(spoken[:n], hyps[:n]), 3),
            "wer_all": round(wer.word_error_rate(spoken, hyps), 3),
            "sim_to_reference_speaker": round(float(np.mean(sims)), 3),
            "sim_to_other_voice": round(float(np.nanmean(others)), 3) if len(refs) > 1 else None,
            "rtf": round(wall / seconds, 2),
            "heard": hyps,
        })  # fmt: skip
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
