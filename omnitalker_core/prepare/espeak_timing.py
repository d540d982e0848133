"""eSpeak phoneme durations of a video's utterance texts, computed in a fresh process per video.

Why a process: eSpeak carries wave-generator state from call to call, which moves phoneme boundaries by up
to ~10 ms depending on what was spoken before in the same process (`text.espeak`). Real speech has no eSpeak
timing anyway (the durations are only stretched over the utterance), but the corpus must not depend on which
videos a worker happened to process first: with a fresh process per video, a video's phonemes depend on its
own texts only, so sharded, parallel and resumed runs write the same corpus. The child imports eSpeak and the
text normaliser only (~0.3 s).
"""

from __future__ import annotations

import json
import subprocess
import sys


def timed_phonemes(texts: list[str], voice: str = "en-us") -> list[list[tuple[str, float]] | None]:
    """(phoneme, seconds) per text, as `PhonemeTokenizer.timed_phonemes` gives them (normalised text, eSpeak
    timing); None for a text eSpeak cannot speak."""
    if not texts:
        return []
    proc = subprocess.run(
        [sys.executable, "-m", __name__, voice],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"eSpeak phonemizer process failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return [None if r is None else [(p, float(d)) for p, d in r] for r in json.loads(proc.stdout)]


def _main() -> None:
    from ..text.espeak import SILENCE, phonemize
    from ..text.normalize import normalize_text

    voice = sys.argv[1] if len(sys.argv) > 1 else "en-us"
    out = []
    for text in json.loads(sys.stdin.read()):
        try:
            timed = phonemize(normalize_text(text), voice=voice)
        except ValueError:
            timed = []
        spoken = [(p, d) for p, d in timed if p != SILENCE]
        out.append(timed if spoken and sum(d for _, d in timed) > 0 else None)
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    _main()
