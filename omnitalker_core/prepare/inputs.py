"""INPUT... -> the videos to prepare: files, folders (recursive) and CSV/JSONL manifests.

Every video gets a *key* that does not depend on where the data is mounted (the path under the input folder,
prefixed by the folder's name; the path as a manifest writes it; a file's name), so `--shard I/N` picks the
same videos on every machine and the utterance ids of a sharded run equal those of a single run.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv")
MANIFEST_EXTENSIONS = (".csv", ".jsonl")
SPEAKER_FROM = ("folder", "video")
ENDS = 64 * 1024  # bytes hashed at each end of a file for its fingerprint


@dataclass(frozen=True)
class Source:
    """One input video and what is known about it before decoding."""

    key: str  # location-independent name (see module doc)
    path: str  # resolved path on this machine
    speaker: str
    transcript: str | None  # whole-video transcript (manifest column or a .txt beside the video)
    transcript_from: str  # "manifest", "txt" or "" (none: ASR)

    @property
    def vid(self) -> str:
        return video_id(self.key)

    def fingerprint(self) -> dict:
        """What a finished record must match to be reused: the file (size and a hash of its first and last
        64 KiB, where MP4/MOV keep their index: the same on every machine, unlike a modification time), the
        transcript and the speaker."""
        path = Path(self.path)
        size, ends = -1, ""
        if path.is_file():
            size = path.stat().st_size
            h = hashlib.sha1()
            with open(path, "rb") as f:
                h.update(f.read(ENDS))
                f.seek(max(0, size - ENDS))
                h.update(f.read(ENDS))
            ends = h.hexdigest()[:16]
        text = hashlib.sha1((self.transcript or "").encode()).hexdigest()[:16]
        return {"size": size, "sha1_ends": ends, "transcript": text, "speaker": self.speaker}

    def to_dict(self) -> dict:
        return asdict(self)


def video_id(key: str) -> str:
    """File-name-safe id of a video: a readable stem plus a hash of its key (unique)."""
    stem = slug(re.sub(r"\.[A-Za-z0-9]+$", "", key))[-48:].strip("_.-") or "video"
    return f"{stem}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def slug(text: str) -> str:
    """Speaker and video ids: letters, digits, '.', '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("/", "__")).strip("_") or "x"


def shard_of(key: str, count: int) -> int:
    """The `--shard I/N` a video belongs to: a hash of its key, the same on every machine."""
    return int(hashlib.sha1(key.encode()).hexdigest()[:12], 16) % count


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N), 0 <= I < N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or int(m[2]) < 1 or int(m[1]) >= int(m[2]):
        raise ValueError(f"--shard must be I/N with 0 <= I < N (e.g. 0/4), got {text!r}")
    return int(m[1]), int(m[2])


def _read_transcript(video: Path) -> str | None:
    txt = video.with_suffix(".txt")
    if txt.is_file():
        text = " ".join(txt.read_text(encoding="utf-8", errors="replace").split())
        return text or None
    return None


def _speaker(video: Path, given: str | None, speaker_from: str, key: str) -> str:
    if given and given.strip():
        return slug(given.strip())
    if speaker_from == "folder" and video.parent.name:
        return slug(video.parent.name)
    return video_id(key)  # one speaker per video


def _from_video(video: Path, key: str, speaker_from: str, speaker: str | None = None, transcript: str | None = None):
    text_from = "manifest" if transcript and transcript.strip() else ""
    text = " ".join(transcript.split()) if text_from else None
    if text is None:
        text = _read_transcript(video)
        text_from = "txt" if text else ""
    return Source(key, str(video.resolve()), _speaker(video, speaker, speaker_from, key), text, text_from)


def read_manifest(path: Path) -> list[dict]:
    """Rows of a CSV (header: path[,transcript][,speaker]) or JSON-lines manifest, as dicts."""
    rows: list[dict] = []
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = [c.strip().lower() for c in reader.fieldnames or []]
            if "path" not in fields:
                raise ValueError(f"{path}: a CSV manifest needs a header with a 'path' column, got {fields}")
            for row in reader:
                rows.append({(k or "").strip().lower(): (v or "") for k, v in row.items()})
    else:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: not a JSON object ({e.msg})") from e
            if not isinstance(row, dict) or not row.get("path"):
                raise ValueError(f"{path}:{i}: each line needs a 'path' field")
            rows.append(row)
    return rows


def discover(inputs: list[str | Path], out: Path, speaker_from: str = "folder") -> tuple[list[Source], list[dict]]:
    """Expand INPUT... into sources sorted by key, plus manifest rows whose file is missing (reported, not fatal).

    Raises ValueError for no videos, an output directory that is (inside) an input folder, or two different
    files with the same key; FileNotFoundError for an input path that does not exist."""
    if speaker_from not in SPEAKER_FROM:
        raise ValueError(f"speaker_from must be one of {SPEAKER_FROM}, got {speaker_from!r}")
    if not inputs:
        raise ValueError("no inputs: give video files, folders of videos or a CSV/JSONL manifest")
    out = Path(out).resolve()
    sources: dict[str, Source] = {}
    missing: list[dict] = []

    def add(src: Source) -> None:
        other = sources.get(src.key)
        if other is not None and other.path != src.path:
            raise ValueError(
                f"two inputs have the same name {src.key!r}: {other.path} and {src.path}; "
                "rename one or list them in a manifest with distinct paths"
            )
        sources.setdefault(src.key, src)

    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise FileNotFoundError(f"input not found: {p}")
        rp = p.resolve()
        if rp == out or (rp.is_dir() and out.is_relative_to(rp)):
            raise ValueError(f"--out {out} is inside the input folder {rp}; choose an output directory elsewhere")
        if rp.is_relative_to(out):
            raise ValueError(f"the input {rp} is inside the output directory {out}; choose another --out")
        if p.is_dir():
            videos = sorted(
                v
                for v in rp.rglob("*")
                if v.suffix.lower() in VIDEO_EXTENSIONS
                and v.is_file()
                and not any(part.startswith(".") for part in v.relative_to(rp).parts)
            )
            for v in videos:
                add(_from_video(v, f"{rp.name}/{v.relative_to(rp).as_posix()}", speaker_from))
        elif p.suffix.lower() in MANIFEST_EXTENSIONS:
            for row in read_manifest(rp):
                written = str(row["path"]).strip()
                v = Path(written).expanduser()
                v = (v if v.is_absolute() else rp.parent / v).resolve()
                key = Path(written).as_posix()
                if not v.is_file():
                    missing.append(
                        {
                            "key": key,
                            "path": str(v),
                            "reason": "not_found",
                            "message": f"{written} (listed in {p.name}) does not exist",
                        }
                    )
                    continue
                if v.is_relative_to(out):
                    raise ValueError(f"{p.name} lists {v}, inside the output directory {out}; choose another --out")
                add(_from_video(v, key, speaker_from, row.get("speaker"), row.get("transcript")))
        else:
            add(_from_video(rp, rp.name, speaker_from))
    if not sources:
        raise ValueError(
            f"no videos found in {', '.join(str(i) for i in inputs)} (looked for {', '.join(VIDEO_EXTENSIONS)} "
            "files, and CSV/JSONL manifests with a 'path' column)"
        )
    return [sources[k] for k in sorted(sources)], missing
