"""Generator speed: our sampler against the `f5-tts` package's own `CFM.sample` on the same weights.

One run builds a named config with random weights (every parameter drawn, not the zero init, so
the comparison of outputs means something), copies its audio branch into an `f5_tts` DiT, and
samples 10 s of speech after a 3 s reference from the same noise with both, CFG on (strength 2,
sway -1, EPSS grid), reporting seconds per step, real-time factor at 16 and 32 steps, peak memory,
the max abs difference of the two mels and the speed ratio. `f5-tts` is a test dependency; without
it only our timings are reported.
"""

from __future__ import annotations

import argparse
import gc
import resource
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

import torch

from ..audio import MEL_FPS
from ..model.config import NAMED_CONFIGS, ModelConfig, named_config
from ..model.flow import FlowMatching

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", choices=sorted(NAMED_CONFIGS), default="demo", help="named model config")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32", help="weights and activations")
    parser.add_argument("--compile", action="store_true", help="torch.compile both transformers (ours and F5's)")
    parser.add_argument(
        "--steps",
        type=int,
        default=16,
        help="ODE steps of the timed runs (RTF at 16/32 steps is per-step time x 16/32)",
    )
    parser.add_argument("--ref-seconds", type=float, default=3.0, help="reference length")
    parser.add_argument("--target-seconds", type=float, default=10.0, help="generated speech length")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs of each contender, interleaved (the fastest counts)"
    )
    parser.add_argument("--no-f5", action="store_true", help="skip the f5-tts reference run")
    parser.add_argument("--no-motion", action="store_true", help="skip the audio + motion run")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)


# ---- measuring ----------------------------------------------------------------------------------


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


@contextmanager
def _peak_memory(device: torch.device, out: dict):
    """Peak memory above the level at entry: CUDA allocator peak, or CPU RSS sampled every 5 ms
    (resource's ru_maxrss is a whole-process high-water mark and cannot separate runs)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        yield
        torch.cuda.synchronize(device)
        out["peak_mem_mb"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        return
    try:
        base = _rss()
    except ImportError:  # no psutil: process high-water mark only
        yield
        out["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["peak_mem_basis"] = "process ru_maxrss"
        return
    peak, stop = [base], threading.Event()

    def watch() -> None:
        while not stop.wait(0.005):
            peak[0] = max(peak[0], _rss())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        out["peak_mem_mb"] = (max(peak[0], _rss()) - base) / 2**20


def _timed(fn: Callable[[], torch.Tensor], device: torch.device, stats: dict) -> torch.Tensor:
    gc.collect()
    with _peak_memory(device, stats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        stats["seconds"] = time.perf_counter() - t0
    return out


# ---- models -------------------------------------------------------------------------------------


def randomize_(module: torch.nn.Module, seed: int, std: float = 0.02) -> None:
    """Every parameter random (AdaLN-zero init would make each block an identity and hide work)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def param_counts(flow: FlowMatching) -> dict[str, int]:
    tr = flow.transformer
    counts = {
        "text_embed": count_params(tr.text_embed),
        "audio_branch": count_params(tr.audio),
        "motion_branch": count_params(tr.motion),
        "fusion_gates": count_params(tr.fusion),
    }
    counts["total"] = count_params(flow)
    counts["f5_equivalent"] = counts["text_embed"] + counts["audio_branch"]  # what an F5-TTS DiT of this size holds
    return counts


def f5_dit_from(flow: FlowMatching):
    """An `f5_tts` DiT of the audio branch's size holding the same weights (the converter's inverse)."""
    from f5_tts.model import DiT

    from ..f5_compat import f5_to_omnitalker

    c: ModelConfig = flow.model_cfg
    dit = DiT(
        dim=c.dim, depth=c.depth, heads=c.heads, dim_head=c.dim_head, ff_mult=c.ff_mult, mel_dim=c.mel_dim,
        text_num_embeds=c.text_num_embeds, text_dim=c.text_dim, conv_layers=c.conv_layers,
        text_mask_padding=c.text_mask_padding, dropout=0.0,
    )  # fmt: skip
    ours = flow.state_dict()
    state = {}
    for key, value in dit.state_dict().items():
        mapped = f5_to_omnitalker({key: value})
        state[key] = ours[next(iter(mapped))] if mapped else value
    dit.load_state_dict(state)
    return dit.eval()


def _inputs(cfg: ModelConfig, ref_frames: int, duration: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    ref_mel = torch.randn(1, ref_frames, cfg.mel_dim, generator=g) - 4.0
    ref_motion = torch.randn(1, ref_frames, cfg.motion_dim, generator=g) * 0.1
    # frame-aligned ids: one per frame (but the last, as F5's sampler makes N >= tokens + 1); else ~14 characters/s
    n_text = duration - 1 if cfg.text_alignment == "frames" else int(duration / MEL_FPS * 14)
    text = torch.randint(0, cfg.text_num_embeds, (1, n_text), generator=g)
    torch.manual_seed(seed)  # the noise F5's CFM.sample draws: manual_seed(seed), randn(duration, mel_dim)
    noise_a = torch.randn(duration, cfg.mel_dim)[None]
    noise_m = torch.randn(1, duration, cfg.motion_dim, generator=g)
    return ref_mel, ref_motion, text, (noise_a, noise_m)


def _summary(stats: dict, steps: int, target_seconds: float) -> dict:
    per_step = stats["seconds"] / steps
    return {
        "seconds": round(stats["seconds"], 4),
        "seconds_per_step": round(per_step, 5),
        "rtf_16_steps": round(per_step * 16 / target_seconds, 4),
        "rtf_32_steps": round(per_step * 32 / target_seconds, 4),
        "peak_mem_mb": round(stats.get("peak_mem_mb", float("nan")), 1),
    }


def run(args: argparse.Namespace) -> dict:
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cfg = named_config(args.config, dropout=0.0)
    torch.manual_seed(args.seed)
    flow = FlowMatching(cfg)
    randomize_(flow.transformer, args.seed)
    with torch.no_grad():  # audio gates zero (a converted F5 model), visual branch sees audio
        for gate in flow.transformer.fusion:
            gate.audio.zero_()
            gate.motion.fill_(1.0)
    flow = flow.to(device, dtype).eval()

    ref_frames = round(args.ref_seconds * MEL_FPS)
    duration = ref_frames + round(args.target_seconds * MEL_FPS)
    ref_mel, ref_motion, text, noise = _inputs(cfg, ref_frames, duration, args.seed)
    steps = args.steps
    kw = dict(steps=steps, cfg_audio=2.0, cfg_motion=2.5, sway=-1.0, epss=True, noise=noise)
    result: dict = {
        "config": args.config, "device": str(device), "dtype": args.dtype, "threads": torch.get_num_threads(),
        "compile": args.compile, "steps": steps, "cfg": 2.0, "ref_frames": ref_frames, "total_frames": duration,
        "target_seconds": args.target_seconds, "text_tokens": text.shape[1], "params": param_counts(flow),
    }  # fmt: skip
    dit = None
    if not args.no_f5:
        try:
            dit = f5_dit_from(flow).to(device, dtype)  # before compiling: the state dict keys change
        except ImportError:
            result["f5"] = "f5-tts not installed (pip install f5-tts; a test dependency)"
    if args.compile:
        flow.transformer = torch.compile(flow.transformer)

    runs: dict[str, Callable[[int], torch.Tensor]] = {
        "ours_voice": lambda k: flow.sample(ref_mel, text, duration, audio_only=True, **kw | {"steps": k}).mel,
    }
    if not args.no_motion:
        runs["ours_voice_motion"] = lambda k: (
            flow.sample(ref_mel, text, duration, ref_motion=ref_motion, **kw | {"steps": k}).mel
        )
    if dit is not None:
        from f5_tts.model import CFM

        cfm = CFM(transformer=torch.compile(dit) if args.compile else dit).to(device).eval()
        cond = ref_mel.to(device, dtype)

        def f5(k: int) -> torch.Tensor:
            with torch.inference_mode():
                out, _ = cfm.sample(cond, text.to(device), duration, steps=k, cfg_strength=2.0,
                                    sway_sampling_coef=-1.0, seed=args.seed, use_epss=True)  # fmt: skip
            return out

        runs["f5"] = f5
    # Interleaved repeats, fastest of each counts: on a shared machine, load changes from one
    # moment to the next, and interleaving exposes every contender to the same conditions.
    outputs, stats = {}, {name: {"seconds": float("inf")} for name in runs}
    for fn in runs.values():  # warm-up: first-call allocations, compilation
        fn(1)
    for _ in range(max(1, args.repeats)):
        for name, fn in runs.items():
            one: dict = {}
            outputs[name] = _timed(lambda f=fn: f(steps), device, one)
            stats[name]["seconds"] = min(stats[name]["seconds"], one["seconds"])
            stats[name].setdefault("peak_mem_mb", one.get("peak_mem_mb", float("nan")))
    for name in runs:
        result[name] = _summary(stats[name], steps, args.target_seconds)
    mel_ours = outputs["ours_voice"].float()
    if "ours_voice_motion" in outputs:
        result["voice_vs_voice_motion_max_abs_diff"] = (
            (outputs["ours_voice_motion"].float() - mel_ours).abs().max().item()
        )
    if "f5" in outputs:
        mel_f5 = outputs["f5"].float()
        result["max_abs_diff_vs_f5"] = (mel_ours - mel_f5).abs().max().item()
        result["mel_abs_mean"] = mel_f5[:, ref_frames:].abs().mean().item()
        result["speedup_vs_f5"] = round(result["f5"]["seconds"] / result["ours_voice"]["seconds"], 3)
        if "ours_voice_motion" in result:
            result["speedup_voice_motion_vs_f5"] = round(
                result["f5"]["seconds"] / result["ours_voice_motion"]["seconds"], 3
            )
    return result


def format_table(result: dict) -> str:
    """Human-readable lines for the terminal (the JSON has everything)."""
    p = result["params"]
    lines = [
        f"config {result['config']} on {result['device']} ({result['dtype']}, {result['threads']} threads), "
        f"{result['ref_frames']} ref + {result['total_frames'] - result['ref_frames']} target frames, {result['steps']} steps, CFG 2",
        f"params: total {p['total'] / 1e6:.2f}M = text {p['text_embed'] / 1e6:.2f}M + audio {p['audio_branch'] / 1e6:.2f}M "
        f"+ motion {p['motion_branch'] / 1e6:.2f}M + gates {p['fusion_gates']}",
        f"{'run':<20}{'s/step':>10}{'RTF@16':>10}{'RTF@32':>10}{'peak MB':>10}",
    ]
    for name in ("ours_voice", "ours_voice_motion", "f5"):
        r = result.get(name)
        if isinstance(r, dict):
            lines.append(
                f"{name:<20}{r['seconds_per_step']:>10.4f}{r['rtf_16_steps']:>10.3f}{r['rtf_32_steps']:>10.3f}{r['peak_mem_mb']:>10.1f}"
            )
    if "speedup_vs_f5" in result:
        lines.append(
            f"speed-up vs f5-tts: {result['speedup_vs_f5']:.2f}x, max abs diff {result['max_abs_diff_vs_f5']:.2e}"
        )
    return "\n".join(lines)
