"""The audio + motion that each row of the evaluation table scores, made from corpus utterances.

- `render_target`: a target the corpus does not contain (a Harvard sentence said by a held-out
  speaker), rendered by the corpus generator itself, so it is an item like the corpus's own.
- `ground_truth`: the corpus's own audio and motion of the target utterance.
- `ground_truth_vocoded`: the target's corpus mel through the model's vocoder (audio only), which
  separates what the vocoder loses from what the generator loses.
- `generated`: the model's output for the target text after a reference utterance (mel through
  the vocoder; motion at 25 fps), timed for the real-time factor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import audio as audio_lib
from .. import motion as motion_code
from ..style import Style
from .speed import StageTimer, real_time_factor

if TYPE_CHECKING:
    from ..face.appearance import AppearanceReader


@dataclass
class Sample:
    audio: torch.Tensor  # [T] at 24 kHz
    motion: np.ndarray | None  # [frames, 61] at 25 fps; None for audio-only rows
    rtf: float | None = None  # (generate + vocode) seconds / output seconds
    stage_seconds: dict[str, float] | None = None

    @property
    def seconds(self) -> float:
        return self.audio.numel() / audio_lib.SAMPLE_RATE


def motion_at_video_rate(mel_rate_motion: torch.Tensor) -> np.ndarray:
    """Corpus motion (mel clock, [n, 61]) -> 25 fps codes [frames, 61]."""
    n = mel_rate_motion.shape[0]
    frames = max(1, round(n / audio_lib.MEL_FPS * motion_code.VIDEO_FPS))
    return motion_code.to_video_rate(mel_rate_motion.float(), frames).numpy()


def style_from_item(item: dict, motion: torch.Tensor | None = None) -> Style:
    """A `Style` straight from a corpus utterance: its mel, mel-rate motion (or `motion`, e.g. `tracked_motion`'s),
    transcript and audio. With the corpus motion the tracker is bypassed: that measures the generator alone."""
    if "audio" not in item:
        raise ValueError("corpus items need their audio (CorpusDataset(..., with_audio=True))")
    bins = item["mel"].shape[-1]  # the two features differ in bins (100 Vocos, 80 HiFi-GAN)
    spec = next(s.name for s in audio_lib.MEL_SPECS.values() if s.n_mels == bins)
    motion = item["motion"] if motion is None else motion
    return Style(ref_mel=item["mel"].float(), ref_motion=motion.float(), transcript=item["text"],
                 portrait=None, ref_audio=item["audio"].float(), mel_spec=spec)  # fmt: skip


TRACKED_PORTRAIT_SIZE = 320


def tracking_portrait() -> np.ndarray:
    """The face references are rendered onto for `tracked_motion`: the calibration's astronaut crop."""
    from ..face.calibration import calibration_portraits

    return calibration_portraits()["astronaut_crop"][0]


def tracked_motion(
    item: dict, portrait: np.ndarray, size: int = TRACKED_PORTRAIT_SIZE, appearance: bool = True,
    readers: Sequence[AppearanceReader] | None = None,
) -> torch.Tensor:  # fmt: skip
    """The item's motion as a user's reference video gives it: drawn onto `portrait` at 25 fps by the geometric
    renderer and read back by the tracker (Capture Style's path), on the mel clock [n, 61].
    appearance=False: the tracker without its pixel read-out (landmarks and calibration only); readers: the
    read-out adapted to the portrait (`adapted_readers`), as Capture Style's adapt_to_face reads a clip."""
    from ..face.tracker import track_frames
    from ..pipeline import render_frames, rest_codes

    codes = motion_at_video_rate(item["motion"])
    frames = render_frames(portrait, codes, base_codes=rest_codes(portrait), resolution=size)
    where = f"the rendered reference {item.get('id', '')}"
    res = track_frames(frames, fps=motion_code.VIDEO_FPS, where=where, appearance=appearance, readers=readers)
    return motion_code.resample(
        torch.from_numpy(res.codes), motion_code.VIDEO_FPS, audio_lib.MEL_FPS, item["mel"].shape[0]
    ).float()


def adapted_readers(
    portrait: np.ndarray, size: int = TRACKED_PORTRAIT_SIZE, callback: Callable[[int, int], None] | None = None
) -> tuple[AppearanceReader, AppearanceReader]:
    """The read-out adapted to `portrait` once for all references drawn on it (`adaptation`, about 12 min on 2
    cores), from the portrait rendered at rest at the references' size: the frame Capture Style adapts on
    (a clip's most resting one). Adapting per clip would cost that for every reference."""
    from ..face.adaptation import AdaptConfig, cached_adapt
    from ..pipeline import render_frames, rest_codes

    rest = rest_codes(portrait)
    frame = render_frames(portrait, rest[None], base_codes=rest, resolution=size)[0]
    return cached_adapt(frame, AdaptConfig(), callback).readers


def render_target(manifest: dict, target: dict) -> dict:
    """A corpus-style item {"id", "speaker", "text", "mel" [n, 100], "motion" [n, 61], "phonemes" [n],
    "audio" [t]} for `target` (a `protocol.harvard_target` entry), made exactly as the corpus generator
    makes its utterances: the speaker's eSpeak voice and motion style from the manifest, the
    manifest's phoneme vocabulary and seed, mel and motion on the mel clock, 16-bit audio.

    eSpeak carries wave-generator state from call to call (see `text.espeak`), so a render in a
    process that has used eSpeak before may differ from a fresh one by a few samples; the text,
    voice, prosody and style are the same."""
    from ..corpus.generate import render_utterance
    from ..corpus.speakers import Speaker
    from ..text.phonemes import PhonemeVocab

    spk = target["speaker"]
    if spk not in manifest["speakers"]:
        raise ValueError(f"speaker {spk!r} is not in the corpus manifest")
    r = render_utterance(
        target["text"],
        Speaker.from_manifest(spk, manifest["speakers"][spk]),
        PhonemeVocab.from_list(manifest["phoneme_vocab"]),
        int(manifest.get("generator", {}).get("seed", 0)),
        int(target["render_index"]),
        audio_lib.mel_spec(manifest.get("mel_spec", audio_lib.DEFAULT_MEL_SPEC)),
    )
    return {
        "id": target["id"],
        "speaker": spk,
        "text": target["text"],
        "mel": torch.from_numpy(r["mel"]).float(),
        "motion": torch.from_numpy(r["motion"]).float(),
        "phonemes": torch.from_numpy(r["phonemes"]).long(),
        "audio": torch.from_numpy(r["audio"].astype(np.float32) / 32767.0),  # as CorpusDataset reads it
    }


def ground_truth(item: dict) -> Sample:
    return Sample(audio=item["audio"].float(), motion=motion_at_video_rate(item["motion"]))


def ground_truth_vocoded(item: dict, vocoder) -> Sample:
    """The target's mel through the vocoder; recomputed from its audio when the corpus has another feature (a
    model of the Vocos feature evaluated on a HiFi-GAN corpus, to compare checkpoints on one corpus)."""
    from ..pipeline import vocode

    mel = item["mel"].float()
    if mel.shape[-1] != vocoder.spec.n_mels:
        mel = vocoder.spec.features(item["audio"].float()).T.contiguous()
    return Sample(audio=vocode(vocoder, mel), motion=None)


def generated(
    bundle, vocoder, reference: dict, text: str, *, steps: int, seed: int, cfg_audio: float, cfg_motion: float,
    reference_motion: torch.Tensor | None = None,
) -> Sample:  # fmt: skip
    from ..pipeline import generate, vocode

    timer = StageTimer()
    style = style_from_item(reference, reference_motion)
    with torch.inference_mode():
        with timer("generate"):
            gen = generate(bundle, style, text, seed=seed, steps=steps, cfg_audio=cfg_audio, cfg_motion=cfg_motion)
        with timer("vocode"):
            wave = vocode(vocoder, gen.mel)
    rtf = real_time_factor(timer.total(), wave.numel() / audio_lib.SAMPLE_RATE)
    return Sample(audio=wave, motion=gen.motion.numpy(), rtf=rtf, stage_seconds=dict(timer.seconds))
