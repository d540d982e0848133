"""One video -> its corpus shard and done record (runs in a worker process).

Every problem with the input is an outcome, not an exception: the record says which reason dropped the whole
video or each of its utterances, and the run goes on. Only an unexpected error (a bug, a full disk) leaves no
record, so the next run tries that video again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np

from .. import media_errors
from ..audio import SAMPLE_RATE, mel_spec
from .features import FaceLimits
from .inputs import Source
from .segment import SegmentConfig, Span

log = logging.getLogger(__name__)

# reason -> what the report says; "video" reasons drop a whole file, the others one utterance
REASONS = {
    "not_found": "file not found",
    "huge_file": "file larger than --max-file-gb",
    "undecodable": "cannot be decoded",
    "no_video": "no video (sound only, or no frames)",
    "no_audio": "no audio track",
    "variable_frame_rate": "variable frame rate",
    "no_speech": "no speech in the audio",
    "no_transcript": "no speech recognised (no transcript)",
    "transcript_mismatch": "transcript does not match the speech",
    "too_short": "too short (under --min-seconds of speech)",
    "no_pause": "longer than --max-seconds without a pause to cut at",
    "no_words": "no words recognised in this stretch",
    "no_phonemes": "eSpeak found nothing to say in the text",
    "no_face": "no face",
    "several_faces": "several faces",
    "face_too_small": "face too small",
    "face_turned": "face turned too far",
    "face_lost": "face lost for too much of the clip",
}
MIN_TRANSCRIPT_AGREEMENT = 0.5  # matched words / words: below it, the .txt belongs to another video


def _dropped(record: dict, reason: str, message: str, seconds: float = 0.0) -> dict:
    record.update(status="dropped", reason=reason, message=message, seconds=round(seconds, 3))
    return record


def process_video(job: dict) -> dict:
    """job: {"source": Source dict, "fingerprint": its fingerprint (read by the parent), "out": str, "settings":
    content settings, "vocab": [...]}. Writes
    OUT/videos/<vid>.safetensors (if anything is kept) and then OUT/videos/<vid>.json; returns the record
    (status "kept" / "dropped", or "error" for an unexpected failure, which is not written)."""
    from . import store

    t0 = time.time()
    src = Source(**job["source"])
    record = {
        "id": src.vid,
        "key": src.key,
        "path": src.path,
        "speaker": src.speaker,
        "fingerprint": job.get("fingerprint") or src.fingerprint(),
        "transcript_from": src.transcript_from,
    }
    try:
        record = _process(src, record, Path(job["out"]), job["settings"], job["vocab"], job.get("asr_model"))
    except Exception as e:  # noqa: BLE001 - the run goes on; the report names the video, a rerun retries it
        log.exception("%s: unexpected error", src.key)
        record.update(status="error", reason="error", message=f"{type(e).__name__}: {e}", seconds=0.0)
        record["elapsed"] = round(time.time() - t0, 2)
        return record
    record["elapsed"] = round(time.time() - t0, 2)
    store.write_record(Path(job["out"]), record)
    return record


def _process(src: Source, record: dict, out: Path, settings: dict, vocab_list: list[str], asr_model) -> dict:
    from . import media, store

    path = Path(src.path)
    if not path.is_file():
        return _dropped(record, "not_found", f"{path} does not exist")
    size_gb = path.stat().st_size / 1e9
    if size_gb > settings["max_file_gb"]:
        return _dropped(record, "huge_file", f"{size_gb:.1f} GB, over --max-file-gb {settings['max_file_gb']:g}")
    try:
        info = media.probe(path)
    except media_errors.MediaError as e:
        no_video = "no video stream" in str(e) or "has no frames" in str(e)
        return _dropped(record, "no_video" if no_video else "undecodable", str(e))
    if not info.has_audio:
        return _dropped(record, "no_audio", str(media_errors.no_audio_track(path, "video")), info.duration)
    if info.vfr:
        return _dropped(
            record,
            "variable_frame_rate",
            f"variable frame rate: {info.vfr}. Re-encode it at a "
            "constant frame rate (e.g. ffmpeg -fps_mode cfr) or choose another file",
            info.duration,
        )
    from ..audio import read_audio

    try:
        audio, rate = read_audio(path, kind="video")
    except media_errors.MediaError as e:
        return _dropped(record, "undecodable", str(e), info.duration)
    if audio is None or audio.size == 0:
        return _dropped(record, "no_audio", str(media_errors.no_audio_track(path, "video")), info.duration)
    import torch

    from ..audio import prepare as to_24k_mono

    wave = to_24k_mono(torch.from_numpy(audio), rate).numpy()
    total = wave.size / SAMPLE_RATE
    record["seconds"] = round(total, 3)
    seg = SegmentConfig(**settings["segment"])
    if total < seg.min_seconds:
        return _dropped(record, "too_short", f"{total:.2f} s of audio, under --min-seconds {seg.min_seconds:g}", total)

    from .segment import asr_texts, cut, speech_regions, transcript_texts

    regions = speech_regions(wave, SAMPLE_RATE, seg)
    if not regions:
        return _dropped(record, "no_speech", "the audio track is silent (no speech found)", total)
    transcript = src.transcript
    whole = bool(transcript) and regions[-1].end - regions[0].start <= seg.max_seconds
    spans = cut(regions, total, seg, whole=whole)
    usable = [s for s in spans if not s.reason]
    texts, text_source = [""] * len(spans), ""
    if whole:
        texts = [transcript if not s.reason else "" for s in spans]
        text_source = "transcript"
    elif usable:
        from .transcribe import transcribe_words

        words = transcribe_words(wave, SAMPLE_RATE, asr_model)
        if not words:
            return _dropped(record, "no_transcript", "no speech was recognised; put a .txt transcript beside it", total)
        if transcript:
            texts, agreement = transcript_texts(transcript, words, spans)
            record["transcript_agreement"] = round(agreement, 3)
            if agreement < MIN_TRANSCRIPT_AGREEMENT:
                heard = " ".join(w.text for w in words)[:120]
                return _dropped(
                    record,
                    "transcript_mismatch",
                    f"only {agreement:.0%} of the words of its "
                    f"{src.transcript_from} transcript match what the speech recogniser heard "
                    f"({heard!r}...); is it the right transcript?",
                    total,
                )
            text_source = "transcript_asr_cut"
        else:
            texts = asr_texts(words, spans)
            text_source = "asr"
    spans = [Span(s.start, s.end, s.reason or ("" if texts[i] else "no_words")) for i, s in enumerate(spans)]

    from .espeak_timing import timed_phonemes

    keep = [i for i, s in enumerate(spans) if not s.reason]
    timed = dict(zip(keep, timed_phonemes([texts[i] for i in keep])))
    spans = [Span(s.start, s.end, s.reason or ("" if timed.get(i) else "no_phonemes")) for i, s in enumerate(spans)]

    # the cut starts on a video frame, so motion frame 0 and mel frame 0 are the same instant
    fps = info.fps
    windows, starts = [], {}
    for i, s in enumerate(spans):
        if s.reason:
            continue
        k = round((info.audio_start + s.start - info.video_start) * fps)
        start = info.video_start + max(k, 0) / fps - info.audio_start
        while start < 0:
            k += 1
            start = info.video_start + k / fps - info.audio_start
        if s.end - start < seg.min_seconds:
            spans[i] = Span(s.start, s.end, "too_short")
            continue
        starts[i] = start
        windows.append((i, (info.audio_start + start - 0.5 / fps, info.audio_start + s.end)))

    result = _features(src, spans, starts, windows, wave, texts, timed, info, settings, vocab_list)
    tensors, utts, reasons, details, unknown = result
    spans = [Span(s.start, s.end, reasons.get(i, s.reason)) for i, s in enumerate(spans)]
    for u in utts:
        u["text_source"] = text_source
    record["utterances"] = utts
    record["dropped"] = [
        {"start": round(s.start, 3), "end": round(s.end, 3), "seconds": round(s.seconds, 3), "reason": s.reason}
        for s in spans
        if s.reason
    ]
    record["unknown_phonemes"] = unknown
    record["details"] = details  # reason -> the first message the tracker or a face check gave for it
    if utts:
        shard = store.shard_path(out, src.vid)
        store.write_shard(shard, tensors)
        record.update(status="kept", reason="", message="", shard=store.shard_name(src.vid))
        return record
    by_reason = Counter()
    for d in record["dropped"]:
        by_reason[d["reason"]] += d["seconds"]
    reason = by_reason.most_common(1)[0][0] if by_reason else "too_short"
    message = "; ".join(
        f"{record['details'].get(r) or REASONS.get(r, r)} ({sec:.1f} s)" for r, sec in by_reason.most_common()
    )
    return _dropped(record, reason, message or "no utterance", total)


def _features(src, spans, starts, windows, wave, texts, timed, info, settings, vocab_list):
    """Track each utterance's frames and compute its features; returns (tensors, utterances, reasons of the
    spans dropped here, the first detail per reason, unknown phoneme counts)."""
    from ..face.landmarks import FaceLandmarker
    from ..face.rig import matrix_to_euler
    from ..face.tracker import track_frames
    from ..text.phonemes import PhonemeVocab, stretch_durations
    from . import media
    from .features import audio_features, face_problem, motion_on_mel, several_faces

    spec = mel_spec(settings["mel_spec"])
    limits = FaceLimits(**settings["face"])
    vocab = PhonemeVocab.from_list(vocab_list)
    detector = FaceLandmarker() if windows else None
    tensors: dict[str, np.ndarray] = {}
    utts: list[dict] = []
    reasons: dict[int, str] = {}
    details: dict[str, str] = {}
    unknown: Counter = Counter()
    order = [i for i, _ in windows]
    for w, frames, _times in media.frames_in_windows(src.path, [win for _, win in windows], info.scale):
        i = order[w]
        start, end = starts[i], spans[i].end
        expected = max(1, round((end - start) * info.fps))
        where = f"{Path(src.path).name} {start:.1f}-{end:.1f} s"
        problem = None
        if len(frames) == 0:
            problem = ("face_lost", "no video frames in this part")
        elif several_faces(detector, frames, limits.faces_sampled) > 1:
            problem = ("several_faces", "several faces of similar size")
        else:
            try:
                tracked = track_frames(frames, fps=info.fps, where=where)
            except ValueError as e:
                text = str(e)
                problem = ("several_faces" if "several faces" in text else "no_face", text)
            else:
                angles = matrix_to_euler(tracked.fit.pose.rotation)
                problem = face_problem(tracked.found, tracked.landmarks, angles, info.scale, expected, limits)
        if problem is not None:
            reasons[i] = problem[0]
            details.setdefault(problem[0], problem[1])
            continue
        a, b = round(start * SAMPLE_RATE), round(end * SAMPLE_RATE)
        pcm, mel = audio_features(wave[a:b], spec)
        n = mel.shape[0]
        uid = f"{src.vid}_{i:03d}"
        tensors[f"{uid}/mel"] = mel
        tensors[f"{uid}/motion"] = motion_on_mel(tracked.codes, info.fps, spec, n)
        tensors[f"{uid}/phonemes"] = stretch_durations(timed[i], n, vocab, spec.fps)[0].numpy().astype(np.int16)
        tensors[f"{uid}/audio"] = pcm
        unknown.update(p for p, _ in timed[i] if p not in vocab)
        utts.append(
            {
                "id": uid,
                "speaker": src.speaker,
                "text": texts[i],
                "num_frames": int(n),
                "duration": round(pcm.size / SAMPLE_RATE, 4),
                "start": round(start, 3),
                "end": round(end, 3),
            }
        )
    if details:
        log.debug("%s: %s", src.key, details)
    return tensors, utts, reasons, details, dict(unknown)
