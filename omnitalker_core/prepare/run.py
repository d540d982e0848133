"""The `prepare` driver: find the inputs, pick this machine's shard, skip finished videos, process the rest in
a process pool with a progress bar, then (re)build the manifest and the report from the finished pieces.
`merge` combines the OUT dirs of sharded runs into one corpus, the same as a single run would have written.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..files import write_json
from . import store
from .features import FaceLimits
from .inputs import discover, shard_of
from .segment import SegmentConfig

log = logging.getLogger(__name__)

FALLBACK_MEL_SPEC = "hifigan_22k_80"


def demo_mel_spec() -> str:
    """The mel front-end of the bundled demo model (what the example workflows run), the default feature."""
    from ..checkpoints import DEMO_CHECKPOINT, read_metadata

    try:
        cfg = read_metadata(DEMO_CHECKPOINT).get("model_config", "{}")
        return (json.loads(cfg) if isinstance(cfg, str) else cfg).get("mel_spec", FALLBACK_MEL_SPEC)
    except (OSError, ValueError):
        return FALLBACK_MEL_SPEC


@dataclass(frozen=True)
class PrepareConfig:
    out: Path
    mel_spec: str = ""  # "" = the demo model's (hifigan_22k_80 today)
    asr_model: str | None = None  # a local CTranslate2 Whisper dir; None = the bundled tiny.en
    workers: int = 2
    seed: int = 0  # held-out choice
    heldout_speakers: float = 0.1  # K speakers (>= 1) or a fraction of them (< 1)
    heldout_utterances: float = 0.02  # share of training speakers' utterances in "heldout_sentence"
    shard: tuple[int, int] = (0, 1)  # this machine's part I of N
    speaker_from: str = "folder"  # "folder": the video's parent folder name; "video": one speaker per video
    max_file_gb: float = 4.0
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    face: FaceLimits = field(default_factory=FaceLimits)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")
        if not self.max_file_gb > 0:
            raise ValueError(f"--max-file-gb must be positive, got {self.max_file_gb}")
        store.heldout_count(self.heldout_speakers, 2)  # validates
        if not 0 <= self.heldout_utterances < 1:
            raise ValueError(f"--heldout-utterances must be a fraction in [0, 1), got {self.heldout_utterances}")
        from ..audio import mel_spec

        mel_spec(self.spec_name)  # a clear error for an unknown feature

    @property
    def spec_name(self) -> str:
        return self.mel_spec or demo_mel_spec()

    def settings(self, vocab: list[str]) -> dict:
        """What shapes the content of a finished video (prepare.json); the split options are not in it."""
        return {
            "mel_spec": self.spec_name,
            "max_file_gb": self.max_file_gb,
            "segment": self.segment.to_dict(),
            "face": self.face.to_dict(),
            "asr_model": Path(self.asr_model).name if self.asr_model else "bundled whisper tiny.en",
            "phoneme_vocab": vocab,
        }


def phoneme_vocab(out: Path) -> list[str]:
    """The synthetic corpus's phoneme inventory (every eSpeak English accent over its word list), which is also
    the demo model's: a model trained on either corpus can start from the other. Reused from OUT when present."""
    path = Path(out) / store.SETTINGS
    if path.is_file():
        vocab = json.loads(path.read_text(encoding="utf-8")).get("settings", {}).get("phoneme_vocab")
        if vocab:
            return vocab
    return list(_synthetic_vocab())


@lru_cache(maxsize=1)
def _synthetic_vocab() -> tuple[str, ...]:
    from ..corpus import sentences as sent
    from ..corpus.generate import build_vocab
    from ..corpus.speakers import ACCENTS

    return tuple(build_vocab(list(ACCENTS), list(sent.word_list())).to_list())


def _init_worker() -> None:
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    torch.set_num_threads(1)


# One thread per worker process for every math library: the tracker's NumPy/LAPACK calls ran 5x slower with
# OpenBLAS's own threads competing with the other workers (measured on 2 cores), and results must not depend on
# the worker count.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def _worker_environment():
    """Spawned workers read these variables when they import NumPy; the parent's own environment is restored."""
    saved = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update({k: "1" for k in THREAD_ENV})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _blas_threads(n: int):
    """In this process (NumPy already loaded): limit its BLAS threads when threadpoolctl is installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(n):
        yield


def _finished(records: dict[str, dict], prints: dict[str, dict]) -> list[str]:
    """The vids (of `prints`: vid -> the file's fingerprint now) whose record was made from that file."""
    return [vid for vid, p in prints.items() if vid in records and records[vid].get("fingerprint") == p]


def prepare(inputs: list[str | Path], cfg: PrepareConfig) -> tuple[dict, int]:
    """Run `prepare`; returns (report, exit code): 0 done, 1 some videos failed unexpectedly (they are retried
    by the next run), 130 interrupted (finished videos are kept; rerun to continue)."""
    t0 = time.time()
    out = Path(cfg.out)
    sources, missing = discover(inputs, out, cfg.speaker_from)
    index, count = cfg.shard
    total = len(sources)
    if count > 1:
        sources = [s for s in sources if shard_of(s.key, count) == index]
        missing = [m for m in missing if shard_of(m["key"], count) == index]
        log.info("shard %d/%d: %d of %d videos", index, count, len(sources), total)
    if any(not s.transcript for s in sources) or cfg.asr_model:  # before anything is written to OUT
        from .transcribe import check_available

        check_available(cfg.asr_model)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; give a directory")
    out.mkdir(parents=True, exist_ok=True)
    store.clean_stale(out)
    vocab = phoneme_vocab(out)
    settings = cfg.settings(vocab)
    store.check_settings(out, settings)
    records = store.load_records(out)
    prints = {s.vid: s.fingerprint() for s in sources}  # each file's ends are read once, here
    finished = set(_finished(records, prints))
    todo = [s for s in sources if s.vid not in finished]
    skipped = len(sources) - len(todo)
    (out / store.MANIFEST).unlink(missing_ok=True)  # announced again only when every input is finished

    jobs = [
        {
            "source": s.to_dict(),
            "fingerprint": prints[s.vid],
            "out": str(out),
            "settings": settings,
            "vocab": vocab,
            "asr_model": cfg.asr_model,
        }
        for s in todo
    ]
    fresh: dict[str, dict] = {}
    interrupted = False
    try:
        _run_jobs(jobs, cfg.workers, fresh)
    except KeyboardInterrupt:
        interrupted = True
    elapsed = time.time() - t0
    records.update({vid: r for vid, r in fresh.items() if r["status"] != "error"})
    failed = [r for r in fresh.values() if r["status"] == "error"]
    video_seconds = sum(float(r.get("seconds", 0) or 0) for r in fresh.values())
    run = {
        "processed": len(fresh),
        "skipped": skipped,
        "failed": len(failed),
        "interrupted": interrupted,
        "elapsed": round(elapsed, 2),
        "video_seconds": round(video_seconds, 2),
        "speed": round(video_seconds / max(elapsed, 1e-9), 3),
        "workers": cfg.workers,
        "shard": f"{index}/{count}",
        "inputs_total": total,
    }
    mine = [records[vid] for vid in _finished(records, prints)]
    pseudo = [{"id": m["key"], "speaker": "", "seconds": 0.0, "status": "dropped", **m} for m in missing]
    manifest = None
    if not interrupted:
        manifest = store.build_manifest(mine, settings, cfg.seed, cfg.heldout_speakers, cfg.heldout_utterances)
        store.write_manifest(out, manifest)
    report = _report(out, mine + failed + pseudo, manifest, run)
    if interrupted:
        print(
            f"interrupted: {len(mine)} of {len(sources)} videos are finished in {out}; run the same command "
            "again to continue"
        )
        return report, 130
    return report, 1 if failed else 0


def _run_jobs(jobs: list[dict], workers: int, fresh: dict[str, dict]) -> None:
    from tqdm import tqdm

    from .process import process_video

    if not jobs:
        return
    bar = tqdm(total=len(jobs), unit="video", desc="prepare", disable=None)
    kept = 0.0

    def done(rec: dict) -> None:
        nonlocal kept
        fresh[rec["id"]] = rec
        kept += sum(u["duration"] for u in rec.get("utterances", [])) if rec["status"] == "kept" else 0.0
        bar.set_postfix(kept_min=f"{kept / 60:.1f}")
        bar.update(1)
        if rec["status"] == "error":
            log.warning("%s failed: %s (it is retried on the next run)", rec["key"], rec["message"])

    try:
        if workers == 1 or len(jobs) == 1:
            import torch

            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # as in a worker: the features do not depend on the worker count
            try:
                with _blas_threads(1):
                    for job in jobs:
                        done(process_video(job))
            finally:
                torch.set_num_threads(threads)
        else:
            ctx = mp.get_context("spawn")  # torch and LiteRT are not fork-safe
            with _worker_environment():
                pool = ctx.Pool(min(workers, len(jobs)), initializer=_init_worker)
            try:
                for rec in pool.imap_unordered(process_video, jobs):
                    done(rec)
                pool.close()
            except BaseException:
                pool.terminate()
                raise
            finally:
                pool.join()
    finally:
        bar.close()


def merge(dirs: list[str | Path], cfg: PrepareConfig) -> tuple[dict, int]:
    """Combine the OUT dirs of `prepare --shard I/N` runs into cfg.out (shards hard-linked or copied)."""
    t0 = time.time()
    out = Path(cfg.out).resolve()
    if not dirs:
        raise ValueError("--merge needs the output directories of prepare runs to combine")
    paths = []
    for d in dirs:
        p = Path(d).resolve()
        if not p.is_dir():
            raise FileNotFoundError(f"not a directory: {d}")
        if p == out:
            raise ValueError(f"--out {out} is one of the directories to merge; choose a new directory")
        paths.append(p)
    out.mkdir(parents=True, exist_ok=True)
    store.clean_stale(out)
    settings = store.merge_into(out, paths)
    records = list(store.load_records(out).values())
    manifest = store.build_manifest(records, settings, cfg.seed, cfg.heldout_speakers, cfg.heldout_utterances)
    store.write_manifest(out, manifest)
    run = {
        "processed": 0,
        "skipped": len(records),
        "failed": 0,
        "elapsed": round(time.time() - t0, 2),
        "video_seconds": 0.0,
        "speed": 0.0,
        "workers": 1,
        "merged": [str(p) for p in paths],
    }
    return _report(out, records, manifest, run), 0


def _report(out: Path, records: list[dict], manifest: dict | None, run: dict) -> dict:
    from .report import build_report

    report = build_report(records, manifest, run)
    write_json(out / store.REPORT, report)
    return report
