"""The report at the end of `prepare`: hours kept and dropped, why, per speaker, and every input that was
dropped (wholly or in part) with its reason, so a creator can fix or replace those files.

Hours are audio seconds: "kept" is the utterances in the corpus; "dropped" is what a reason removed (a whole
video's audio, or one utterance); "unused" is the rest of the kept videos (pauses and silence between
utterances). A file that could not be read at all has no known length and counts 0 h (it is still named).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from .process import REASONS


def build_report(records: list[dict], manifest: dict | None, run: dict) -> dict:
    """records: the done records of this run's inputs (plus "error" / "not_found" ones); run: timing info."""
    kept_s = Counter()
    dropped_s: dict[str, Counter] = defaultdict(Counter)
    dropped_n: Counter = Counter()
    dropped_utts: Counter = Counter()
    total_s = Counter()
    inputs = []
    for r in sorted(records, key=lambda r: r["key"]):
        spk = r.get("speaker", "")
        seconds = float(r.get("seconds", 0.0) or 0.0)
        total_s[spk] += seconds
        kept = sum(u["duration"] for u in r.get("utterances", [])) if r["status"] == "kept" else 0.0
        kept_s[spk] += kept
        entry = {
            "input": r["key"],
            "path": r.get("path", ""),
            "speaker": spk,
            "status": r["status"],
            "seconds": round(seconds, 2),
            "kept_seconds": round(kept, 2),
        }
        if r["status"] in ("dropped", "error"):
            dropped_s[r["reason"]][spk] += seconds
            dropped_n[r["reason"]] += 1
            entry.update(reason=r["reason"], message=r.get("message", ""))
        else:
            parts = Counter()
            for d in r.get("dropped", []):
                dropped_s[d["reason"]][spk] += d["seconds"]
                dropped_utts[d["reason"]] += 1
                parts[d["reason"]] += 1
            if parts:
                entry["dropped_utterances"] = dict(parts)
                entry["details"] = r.get("details", {})
        entry["utterances"] = len(r.get("utterances", [])) if r["status"] == "kept" else 0
        inputs.append(entry)
    speakers = sorted(set(total_s) | set(kept_s))
    split = (manifest or {}).get("speakers", {})
    per_speaker = {}
    for s in speakers:
        dropped = {k: round(v[s] / 3600, 4) for k, v in dropped_s.items() if v[s] > 0}
        per_speaker[s] = {
            "split": split.get(s, {}).get("split", "-"),
            "kept_hours": round(kept_s[s] / 3600, 4),
            "dropped_hours": dropped,
            "videos": sum(e["speaker"] == s for e in inputs),
        }
    kept_total = sum(kept_s.values())
    dropped_total = sum(sum(v.values()) for v in dropped_s.values())
    reasons = {
        k: {
            "label": REASONS.get(k, k),
            "videos": dropped_n[k],
            "utterances": dropped_utts[k],
            "hours": round(sum(dropped_s[k].values()) / 3600, 4),
        }
        for k in sorted(dropped_s)
    }
    return {
        "kept_hours": round(kept_total / 3600, 4),
        "dropped_hours": round(dropped_total / 3600, 4),
        "unused_hours": round(max(0.0, sum(total_s.values()) - kept_total - dropped_total) / 3600, 4),
        "utterances": sum(e["utterances"] for e in inputs),
        "videos": len(inputs),
        "videos_kept": sum(e["status"] == "kept" for e in inputs),
        "videos_dropped": sum(e["status"] == "dropped" for e in inputs),
        "videos_failed": sum(e["status"] == "error" for e in inputs),
        "reasons": reasons,
        "speakers": per_speaker,
        "dropped": [e for e in inputs if e["status"] != "kept" or e.get("dropped_utterances")],
        "run": run,
    }


def format_report(rep: dict) -> str:
    """The printed summary."""
    run = rep["run"]
    lines = [
        f"prepare: {rep['kept_hours'] * 60:.2f} min kept in {rep['utterances']} utterances from "
        f"{rep['videos_kept']} of {rep['videos']} videos; {rep['dropped_hours'] * 60:.2f} min dropped, "
        f"{rep['unused_hours'] * 60:.2f} min of pauses unused",
        f"  this run: {run.get('processed', 0)} videos processed, {run.get('skipped', 0)} already done, "
        f"{run.get('failed', 0)} failed; {run.get('video_seconds', 0):.1f} s of video in {run.get('elapsed', 0):.1f} s"
        f" ({run.get('speed', 0):.2f} s of video per second, {run.get('workers', 1)} workers)",
    ]
    if rep["reasons"]:
        lines.append("  dropped, by reason:")
        for v in sorted(rep["reasons"].values(), key=lambda v: -v["hours"]):
            lines.append(
                f"    {v['label']}: {v['videos']} videos, {v['utterances']} utterances, {v['hours'] * 60:.2f} min"
            )
    lines.append("  per speaker (split: kept min / dropped min):")
    for s, v in rep["speakers"].items():
        lines.append(
            f"    {s} ({v['split']}): {v['kept_hours'] * 60:.2f} / {sum(v['dropped_hours'].values()) * 60:.2f}"
        )
    if rep["dropped"]:
        lines.append("  inputs dropped (wholly or in part):")
        for e in rep["dropped"]:
            if e["status"] == "kept":
                parts = ", ".join(f"{n} {REASONS.get(k, k)}" for k, n in e["dropped_utterances"].items())
                lines.append(f"    {e['input']}: kept {e['utterances']} utterances; dropped {parts}")
            else:
                label = REASONS.get(e["reason"], e["reason"])
                retry = " (retried on the next run)" if e["status"] == "error" else ""
                lines.append(f"    {e['input']}: {label}{retry}: {e['message']}")
    return "\n".join(lines)
