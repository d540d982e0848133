"""The output directory of `prepare`: per-video shards and done records, the settings they were made with,
merging directories of sharded runs, and the manifest built from the finished pieces.

Why one shard and one record per video: a video is the unit of work, so a crash or Ctrl-C loses at most the
videos in flight; the record is written last and atomically (temp file + rename), so its presence means the
video's shard is complete, and a rerun skips it. The manifest is derived (rebuilt at the end of every run and
merge) from the records alone, and holds nothing that depends on the machine, the worker count or the order of
work, so a sharded run merged is the same corpus as a single run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from ..corpus.generate import MANIFEST, VERSION
from ..files import write_json

VIDEOS = "videos"
SETTINGS = "prepare.json"
REPORT = "report.json"
FORMAT = "omnitalker-prepare"


def shard_name(vid: str) -> str:
    return f"{VIDEOS}/{vid}.safetensors"


def shard_path(out: Path, vid: str) -> Path:
    return Path(out) / shard_name(vid)


def record_path(out: Path, vid: str) -> Path:
    return Path(out) / VIDEOS / f"{vid}.json"


def write_shard(path: Path, tensors: dict[str, np.ndarray]) -> None:
    import torch

    from ..checkpoints import atomic_save_file

    atomic_save_file(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()},
        path,
        {"format": "omnitalker-corpus", "version": str(VERSION)},
    )


def write_record(out: Path, record: dict) -> None:
    write_json(record_path(out, record["id"]), record)


def clean_stale(out: Path) -> int:
    """Remove temp files an interrupted run left behind; returns how many."""
    n = 0
    for tmp in list((Path(out) / VIDEOS).glob(".*.tmp")) + list(Path(out).glob(".*.tmp")):
        tmp.unlink(missing_ok=True)
        n += 1
    return n


def load_records(out: Path) -> dict[str, dict]:
    """vid -> done record, for every finished video in OUT (a record whose shard is missing is not finished)."""
    records = {}
    for path in sorted((Path(out) / VIDEOS).glob("*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # unreadable: the video is processed again
        if rec.get("status") == "kept" and not (Path(out) / rec.get("shard", "")).is_file():
            continue
        records[rec["id"]] = rec
    return records


def check_settings(out: Path, settings: dict) -> None:
    """Record the content settings in OUT/prepare.json, or refuse when OUT was prepared with other ones (its
    finished videos would then not match the new ones)."""
    path = Path(out) / SETTINGS
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        diff = _diff(old.get("settings", {}), settings)
        if diff:
            raise ValueError(
                f"{out} was prepared with other settings ({'; '.join(diff[:6])}); its finished videos would not "
                "match. Use another --out, or the same settings to continue it"
            )
        return
    write_json(path, {"format": FORMAT, "version": VERSION, "settings": settings})


def read_settings(out: Path) -> dict:
    path = Path(out) / SETTINGS
    if not path.is_file():
        raise ValueError(f"{out} is not a prepare output directory (no {SETTINGS}); --merge takes OUT dirs of prepare")
    return json.loads(path.read_text(encoding="utf-8"))["settings"]


def _diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            out += _diff(x, y, f"{prefix}{k}.")
        elif x != y:
            out.append(f"{prefix}{k}: {_show(x)} there, {_show(y)} now")
    return out


def _show(v) -> str:
    return f"{len(v)} symbols" if isinstance(v, list) else repr(v)


def merge_into(out: Path, dirs: list[Path]) -> dict:
    """Copy (hard-link where possible) every finished video of `dirs` into OUT; all must share their settings.
    Returns those settings. A video finished in two dirs must be the same there."""
    out = Path(out)
    settings = None
    for d in dirs:
        s = read_settings(d)
        if settings is None:
            settings = s
        elif _diff(settings, s):
            raise ValueError(f"{d} was prepared with other settings than {dirs[0]}: {'; '.join(_diff(settings, s))}")
    check_settings(out, settings)
    seen: dict[str, Path] = {}
    for d in dirs:
        for vid, rec in load_records(d).items():
            if vid in seen:
                if _strip(rec) != _strip(json.loads(record_path(seen[vid], vid).read_text(encoding="utf-8"))):
                    raise ValueError(f"video {rec['key']!r} was prepared differently in {seen[vid]} and {d}")
                continue
            seen[vid] = Path(d)
            if rec.get("shard"):
                _link_or_copy(Path(d) / rec["shard"], out / rec["shard"])
            write_record(out, rec)
    return settings


def _strip(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k not in ("path", "elapsed", "fingerprint")}


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.exists() and dst.stat().st_size == src.stat().st_size and _same(src, dst):
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def _same(a: Path, b: Path) -> bool:
    def digest(p: Path) -> str:
        with open(p, "rb") as f:
            return hashlib.file_digest(f, "sha1").hexdigest()

    return os.path.samefile(a, b) or digest(a) == digest(b)


# ---- splits and manifest --------------------------------------------------------------------------


def _unit(*parts) -> float:
    """A number in [0, 1) from a hash: the same on every machine and in every run."""
    return int(hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()[:12], 16) / 16**12


def heldout_count(value: float, speakers: int) -> int:
    """--heldout-speakers: K >= 1 speakers, or a fraction < 1 of them (at least one when > 0); at least one
    speaker always stays in training."""
    if value < 0:
        raise ValueError(f"--heldout-speakers must be >= 0, got {value:g}")
    if value >= 1:
        if value != int(value):
            raise ValueError(f"--heldout-speakers is a count (>= 1) or a fraction (< 1), got {value:g}")
        k = int(value)
    else:
        k = max(1, round(value * speakers)) if value > 0 else 0
    return max(0, min(k, speakers - 1))


def assign_splits(
    speakers: list[str], utt_ids: dict[str, list[str]], seed: int, heldout_speakers: float, heldout_utterances: float
) -> tuple[dict[str, str], dict[str, str]]:
    """(speaker -> "train"|"heldout", utterance id -> split). Held-out speakers: the K with the lowest hash of
    (seed, speaker); each training speaker's utterances go to "heldout_sentence" (the trainer's held-out loss)
    with probability `heldout_utterances`, by a hash of (seed, id). Deterministic for the seed, and independent
    of the order in which videos were processed or merged."""
    if not 0 <= heldout_utterances < 1:
        raise ValueError(f"--heldout-utterances must be a fraction in [0, 1), got {heldout_utterances:g}")
    ranked = sorted(speakers, key=lambda s: (_unit(seed, "speaker", s), s))
    held = set(ranked[: heldout_count(heldout_speakers, len(ranked))])
    spk_split = {s: "heldout" if s in held else "train" for s in sorted(speakers)}
    utt_split = {}
    for s, ids in utt_ids.items():
        for uid in ids:
            if s in held:
                utt_split[uid] = "heldout_speaker"
            else:
                utt_split[uid] = "heldout_sentence" if _unit(seed, "utterance", uid) < heldout_utterances else "train"
    return spk_split, utt_split


def build_manifest(
    records: list[dict], settings: dict, seed: int, heldout_speakers: float, heldout_utterances: float
) -> dict:
    """The corpus manifest (`corpus.dataset.load_manifest` format) of the kept utterances of `records`."""
    from ..audio import SAMPLE_RATE, mel_spec

    spec = mel_spec(settings["mel_spec"])
    utts = sorted(
        (
            {**u, "shard": r["shard"], "source": r["key"]}
            for r in records
            if r["status"] == "kept"
            for u in r["utterances"]
        ),
        key=lambda u: u["id"],
    )
    by_speaker: dict[str, list[str]] = {}
    for u in utts:
        by_speaker.setdefault(u["speaker"], []).append(u["id"])
    spk_split, utt_split = assign_splits(sorted(by_speaker), by_speaker, seed, heldout_speakers, heldout_utterances)
    keys = (
        "id",
        "speaker",
        "split",
        "text",
        "shard",
        "num_frames",
        "duration",
        "source",
        "start",
        "end",
        "text_source",
    )
    rows = [{k: ({**u, "split": utt_split[u["id"]]})[k] for k in keys} for u in utts]
    speakers = {}
    for s in sorted(by_speaker):
        mine = [u for u in utts if u["speaker"] == s]
        speakers[s] = {
            "split": spk_split[s],
            "utterances": len(mine),
            "videos": len({u["source"] for u in mine}),
            "hours": round(sum(u["duration"] for u in mine) / 3600, 4),
        }
    splits = Counter(r["split"] for r in rows)
    unknown: Counter = Counter()
    for r in records:
        unknown.update(r.get("unknown_phonemes", {}))
    stats = {
        "hours": round(sum(u["duration"] for u in rows) / 3600, 4),
        "hours_by_split": {k: round(sum(u["duration"] for u in rows if u["split"] == k) / 3600, 4) for k in splits},
        "utterances": len(rows),
        "utterances_by_split": dict(splits),
        "speakers": len(speakers),
        "heldout_speakers": sum(v["split"] == "heldout" for v in speakers.values()),
        "videos": len({r["source"] for r in rows}),
        "frames": int(sum(u["num_frames"] for u in rows)),
        "phoneme_vocab_size": len(settings["phoneme_vocab"]),
        "unknown_phoneme_events": int(sum(unknown.values())),
    }
    return {
        "version": VERSION,
        "sample_rate": SAMPLE_RATE,
        "mel_fps": spec.fps,
        "mel_spec": spec.name,
        "teacher": "real",
        "phoneme_timing": "espeak_stretched",
        "phoneme_vocab": list(settings["phoneme_vocab"]),
        "text_source": "transcripts of real talking-head videos (prepare): .txt / manifest, else offline Whisper",
        "generator": {
            "tool": "prepare",
            "seed": seed,
            "heldout_speakers": heldout_speakers,
            "heldout_utterances": heldout_utterances,
            "settings": {k: v for k, v in settings.items() if k != "phoneme_vocab"},
        },
        "stats": stats,
        "speakers": speakers,
        "utterances": rows,
    }


def write_manifest(out: Path, manifest: dict) -> None:
    write_json(Path(out) / MANIFEST, manifest)
