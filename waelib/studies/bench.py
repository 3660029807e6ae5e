"""Time training steps of one model on the naive and on the fast path, in one run.

    python -m waelib.studies.bench --model wae_resnet --image-size 128 --width 1 --batch-size 256 \\
        --steps 50 --json results/bench/h200.json

The two paths run the same :class:`waelib.train.Trainer` step (thesis Algorithm 2 for the GAN
models: one discriminator and one auto-encoder update per batch):

- **naive**: fp32, eager, NCHW, torch's default (non-fused) Adam, batches from a shuffling
  ``DataLoader`` over a float32 CPU tensor, copied to the device every step;
- **fast**: bf16 autocast (CUDA; losses stay fp32), channels-last, fused Adam, cuDNN autotuning,
  ``torch.compile`` (CUDA, when Triton is available; ``--compile off`` disables it), and a uint8
  data set resident on the device, gathered with a permutation and converted to float there.
  **On the CPU** "fast" means: fp32 (bf16 autocast only with ``--amp bf16``: it changes results
  beyond rounding), the trainer's own measured choice of channels-last / fused Adam
  (:mod:`waelib.train.fastpath`), ``torch.compile`` only with ``--compile on`` (inductor's C++
  backend), and the pre-materialised uint8 data instead of the DataLoader.

The CPU suite (``make bench``; ``--suite``) compares, for every model at 32 and 64 px (width
0.125, batch 64), paths of the same trainer step that share the trainer's data path: ``naive``
(fp32, NCHW, default Adam, eager), ``auto`` (whatever :meth:`TrainConfig.resolved` chooses),
``auto+compile`` and the candidates of :data:`CANDIDATES`, in alternating timing windows within
one process (:func:`compare_paths`), and writes the JSON report and the Markdown table of
``results/bench/README.md``.

Reported per path: ``images_per_second`` (timed steps only, warm-up excluded, the device
synchronised at both ends; with ``--windows K`` the median of K consecutive timing windows),
``tflops`` = FLOPs per step x steps per second, with the FLOPs of
one full training step (all forward and backward passes of Algorithm 2's two updates) counted
once by :class:`torch.utils.flop_counter.FlopCounterMode` on the eager fp32 model; that counter
counts matrix multiplications and convolutions only (2 FLOPs per multiply-add), so the
optimisers' and all element-wise work are excluded. ``peak_fraction`` = achieved / the nominal
dense bf16 peak of the GPU from :data:`PEAK_BF16_FLOPS` (null when unknown, e.g. on the CPU;
the naive fp32 path is measured against the same bf16 peak). ``peak_memory_bytes``: on CUDA
``torch.cuda.max_memory_allocated`` for that path alone; on the CPU the process' peak resident
set size (``ru_maxrss``), a high-water mark over the whole process, so the fast path's value
includes the naive path's.
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import re
import statistics
import sys
import time
import warnings
from typing import Any, Dict, Optional, Sequence

import torch

from .. import config, registry
from ..train import TrainConfig, Trainer
from ..train.batches import BatchSource
from ..train.fastpath import cpu_kind
from ..utils import atomic_write_json, cpu_name, resolve_device, run_metadata
from .bench_flops import count_step_flops, matmul_gflops
from .bench_report import README_BEGIN, README_END, suite_markdown, update_readme_table

__all__ = ["PEAK_BF16_FLOPS", "peak_flops", "count_step_flops", "bench_path", "run_bench", "main",
           "README_BEGIN", "README_END", "suite_markdown", "update_readme_table"]

#: Nominal dense (no sparsity) bf16 tensor-core peak, FLOP/s, keyed by a GPU-name token.
PEAK_BF16_FLOPS: Dict[str, float] = {
    "H200": 989e12,
    "GH200": 989e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
}


def peak_flops(device: torch.device) -> Optional[float]:
    """Dense bf16 peak of ``device`` from :data:`PEAK_BF16_FLOPS`, or None when unknown/CPU."""
    if device.type != "cuda":
        return None
    return _peak_for_name(torch.cuda.get_device_name(device))


def _peak_for_name(name: str) -> Optional[float]:
    for key in sorted(PEAK_BF16_FLOPS, key=len, reverse=True):
        if re.search(r"(?<![A-Za-z0-9])" + re.escape(key) + r"(?![A-Za-z0-9])", name):
            return PEAK_BF16_FLOPS[key]
    return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory(device: torch.device) -> Optional[int]:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        import resource  # deferred: POSIX only (peak memory); absent on Windows
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB
    except Exception:  # pragma: no cover - non-Unix
        return None


def _make_config(model: str, image_size: int, width: float, batch_size: int, device: torch.device,
                 fast: bool, amp: str, compile_: Optional[bool]) -> TrainConfig:
    """naive: everything off. fast: on CUDA everything on; on the CPU the trainer's own choice
    (:mod:`waelib.train.fastpath`) for every setting left at None."""
    cpu = device.type == "cpu"
    auto = None if (fast and cpu) else fast
    cfg = TrainConfig(model=model, image_size=image_size, width=width, batch_size=batch_size,
                      device=str(device), seed=0, steps=1, progress=False,
                      amp=(amp if fast else None), channels_last=auto, fused=auto,
                      data_on_device=fast, cudnn_benchmark=fast,
                      compile=(compile_ if fast else False))
    return cfg.resolved(device)


def bench_path(path: str, *, model: str, image_size: int, width: float, batch_size: int,
               steps: int, warmup: int, device: torch.device, amp: str = "auto",
               compile_: Optional[bool] = False, flops_per_step: Optional[int] = None,
               n_batches: int = 8, windows: int = 1) -> Dict[str, Any]:
    """Time ``steps`` training steps on the ``"naive"`` or ``"fast"`` path (module docstring)."""
    # Long on purpose: the set-up, warm-up and timed windows of one path read as one protocol.
    fast = path == "fast"
    if fast and device.type == "cpu" and amp == "auto":
        amp = None
    cfg = _make_config(model, image_size, width, batch_size, device, fast, amp, compile_)
    torch.manual_seed(0)
    images = torch.randint(0, 256, (batch_size * n_batches, 3, image_size, image_size),
                           dtype=torch.uint8)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    trainer = Trainer(cfg)
    notes: Dict[str, Any] = {}

    if fast:
        data = images.to(device) if cfg.data_on_device else images
        source = BatchSource(data, batch_size, seed=0)     # the trainer's data path

        def next_batch() -> torch.Tensor:
            return source.next(trainer)
    else:
        ds = torch.utils.data.TensorDataset(images.float().div_(255))
        loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=True)
        it = iter(loader)

        def next_batch() -> torch.Tensor:
            nonlocal it
            try:
                (b,) = next(it)
            except StopIteration:
                it = iter(loader)
                (b,) = next(it)
            return trainer.prepare_batch(b)

    if flops_per_step is None:
        flops_per_step = count_step_flops(trainer, next_batch())
    try:
        for _ in range(warmup):
            trainer.train_step(next_batch())
        _sync(device)
    except Exception as e:  # torch.compile failures surface here: fall back to eager
        if not cfg.compile:
            raise
        warnings.warn(f"torch.compile failed ({type(e).__name__}: {e}); timing eager instead",
                      stacklevel=2)
        notes["compile_error"] = f"{type(e).__name__}: {str(e)[:500]}"
        cfg = cfg.replace(compile=False)
        trainer = Trainer(cfg)
        for _ in range(warmup):
            trainer.train_step(next_batch())
        _sync(device)
    # Timed steps in `windows` consecutive windows; the median window rate is reported
    # (robust to a neighbour process stealing a shared CPU for a moment).
    windows = max(1, min(windows, steps))
    sizes = [steps // windows + (1 if i < steps % windows else 0) for i in range(windows)]
    rates, seconds = [], 0.0
    for size in sizes:
        t0 = time.perf_counter()
        for _ in range(size):
            trainer.train_step(next_batch())
        _sync(device)
        dt = time.perf_counter() - t0
        seconds += dt
        rates.append(batch_size * size / dt)
    ips = statistics.median(rates)
    peak = peak_flops(device)
    tflops = flops_per_step * ips / batch_size / 1e12
    result = {
        "images_per_second": ips,
        "window_images_per_second": rates,
        "tflops": tflops,
        "peak_fraction": (tflops * 1e12 / peak) if peak else None,
        "peak_memory_bytes": _peak_memory(device),
        "peak_memory_kind": ("torch.cuda.max_memory_allocated" if device.type == "cuda"
                             else "process ru_maxrss (high-water mark of the whole process)"),
        "seconds": seconds, "steps": steps, "warmup_steps": warmup, "batch_size": batch_size,
        "flops_per_step": flops_per_step, "gflops_per_image": flops_per_step / batch_size / 1e9,
        "settings": {"amp": cfg.amp, "channels_last": cfg.channels_last, "fused_adam": cfg.fused,
                     "compile": cfg.compile, "cudnn_benchmark": cfg.cudnn_benchmark,
                     "data": ("uint8 tensor on the device, permutation gather" if fast else
                              "DataLoader(shuffle) over a float32 CPU tensor, copied per step")},
        **notes,
    }
    trainer = None  # free the model before the next path is built
    gc.collect()
    return result


def run_bench(*, model: str = "wae_resnet", image_size: int = config.IMAGE_SIZE, width: float = 1.0,
              batch_size: int = 64, steps: int = 20, warmup: int = 3, device: str = "auto",
              amp: str = "auto", compile: str = "auto", json_path: Optional[str] = None,
              threads: Optional[int] = None, windows: int = 1) -> Dict[str, Any]:
    """Benchmark the naive and the fast path; optionally write the JSON report atomically.

    Returns ``{"naive": {...}, "fast": {...}, "speedup": ..., "device": {...}, "config": {...},
    "metadata": run_metadata(), "notes": ...}``.
    """
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is not None:
        torch.cuda.set_device(dev)
    if compile == "auto":   # CUDA with Triton; on the CPU the measured table decides
        use_compile = (dev.type == "cuda" and importlib.util.find_spec("triton") is not None) or None
    else:
        use_compile = compile == "on"
    common = dict(model=model, image_size=image_size, width=width, batch_size=batch_size,
                  steps=steps, warmup=warmup, device=dev, windows=windows)
    naive = bench_path("naive", **common)
    fast = bench_path("fast", amp=amp, compile_=use_compile,
                      flops_per_step=naive["flops_per_step"], **common)
    report = {
        "naive": naive, "fast": fast,
        "speedup": fast["images_per_second"] / naive["images_per_second"],
        "device": {"type": dev.type, "name": (torch.cuda.get_device_name(dev) if dev.type == "cuda"
                                              else cpu_name()),
                   "peak_bf16_flops": peak_flops(dev), "torch_threads": torch.get_num_threads()},
        "config": {"model": model, "image_size": image_size, "width": width,
                   "batch_size": batch_size, "steps": steps, "warmup": warmup, "amp": amp,
                   "compile": compile, "windows": windows},
        "metadata": run_metadata(dev),
        "notes": ("FLOPs: one full training step (every forward and backward of the step; "
                  "optimiser steps excluded) counted once with torch.utils.flop_counter."
                  "FlopCounterMode on the eager fp32 model, matmul/conv only, 2 FLOPs per "
                  "multiply-add. peak_fraction: achieved / nominal dense bf16 peak (both paths), "
                  "null where the peak is unknown (CPU). Warm-up steps are not timed."),
    }
    if json_path:
        atomic_write_json(json_path, report)
    return report


# --------------------------------------------------------------------------------------
# The CPU suite: every model, naive vs the trainer's choice (and candidate paths), alternating
# --------------------------------------------------------------------------------------
#: (image size, width, batch size) of the suite: the default profile and the 64 px study size.
SUITE_SIZES = ((32, 0.125, 64), (64, 0.125, 64))

#: fp32 candidate paths (explicit settings); "auto" is whatever the trainer resolves by itself.
CANDIDATES: Dict[str, Dict[str, Any]] = {
    "naive": dict(amp=None, channels_last=False, fused=False, compile=False),
    "auto": dict(),
    "fused": dict(amp=None, channels_last=False, fused=True, compile=False),
    "channels_last": dict(amp=None, channels_last=True, fused=False, compile=False),
    "cl+fused": dict(amp=None, channels_last=True, fused=True, compile=False),
    "fused+compile": dict(amp=None, channels_last=False, fused=True, compile=True),
    "cl+fused+compile": dict(amp=None, channels_last=True, fused=True, compile=True),
    "bf16+cl+fused": dict(amp="bf16", channels_last=True, fused=True, compile=False),
}
#: What ``make bench`` runs: naive, the trainer's choice, and the choice plus torch.compile.
DEFAULT_SUITE_PATHS = ("naive", "auto", "auto+compile")


def _path_settings(name: str) -> Dict[str, Any]:
    if name == "auto+compile":
        return dict(compile=True)
    return dict(CANDIDATES[name])


def _quantile(xs: Sequence[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    pos = q * (len(xs) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _spread(xs: Sequence[float]) -> Dict[str, float]:
    return {"median": statistics.median(xs), "q1": _quantile(xs, 0.25), "q3": _quantile(xs, 0.75),
            "min": min(xs), "max": max(xs), "n": len(xs)}


def compare_paths(model: str, image_size: int, width: float, batch_size: int,
                  paths: Sequence[str] = DEFAULT_SUITE_PATHS, *, rounds: int = 12,
                  window_steps: Optional[int] = None, warmup: int = 3,
                  device: str = "cpu", n_batches: int = 8) -> Dict[str, Any]:
    """Time several paths of the same training step in one process, alternating.

    Every path gets its own :class:`~waelib.train.Trainer` built from the same seed (same
    weights) and the same uint8 data gathered with the epoch permutation (the trainer's data
    path), and is warmed up (``torch.compile`` compiles then; that time is reported as
    ``warmup_seconds``). Then ``rounds`` rounds each time one window of ``window_steps`` steps
    of every path, in an order rotated from round to round. Reported per path: images/s of
    every window and their median, quartiles and best; the ratio to ``naive`` per round (each
    round's windows run back to back, so a neighbour's load hits both sides of a ratio alike)
    with its median, quartiles and range, and the ratio of the best windows. The same from the
    process' CPU time (``cpu_time_*``: images per CPU-second of this process): with one torch
    thread that is the contention-robust measure on a shared machine (a descheduled thread
    accrues no CPU time); with several threads it also counts OpenMP spin-waiting.
    """
    # Long on purpose: alternating timing windows of every path, one protocol in one place.
    dev = resolve_device(device)
    if window_steps is None:
        window_steps = max(1, round(4 * (32 / image_size) ** 2))
    torch.manual_seed(0)
    images = torch.randint(0, 256, (batch_size * n_batches, 3, image_size, image_size),
                           dtype=torch.uint8)
    runs: Dict[str, Dict[str, Any]] = {}
    for name in paths:
        settings = _path_settings(name)
        cfg = TrainConfig(model=model, image_size=image_size, width=width, batch_size=batch_size,
                          device=str(dev), seed=0, steps=1, progress=False,
                          **settings).resolved(dev)
        torch.manual_seed(0)
        trainer = Trainer(cfg)
        source = BatchSource(images, batch_size, seed=0)      # the trainer's data path

        def next_batch(trainer=trainer, source=source) -> torch.Tensor:
            return source.next(trainer)

        t0 = time.perf_counter()
        note = None
        try:
            for _ in range(warmup):
                trainer.train_step(next_batch())
            _sync(dev)
        except Exception as e:  # a failed torch.compile: recorded, the path is dropped
            note = f"{type(e).__name__}: {str(e)[:300]}"
        runs[name] = {"trainer": trainer, "next_batch": next_batch, "warmup_seconds":
                      time.perf_counter() - t0, "error": note,
                      "settings": {"amp": cfg.amp, "channels_last": cfg.channels_last,
                                   "fused": cfg.fused, "compile": cfg.compile},
                      "fast_path": cfg.fast_path, "rates": [], "cpu_rates": []}
    live = [n for n in paths if runs[n]["error"] is None]
    step_flops = count_step_flops(runs[live[0]]["trainer"], runs[live[0]]["next_batch"]()) if live else None
    load_before = _loadavg()
    for r in range(rounds):
        order = live[r % len(live):] + live[:r % len(live)]
        for name in order:
            run = runs[name]
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(window_steps):
                run["trainer"].train_step(run["next_batch"]())
            _sync(dev)
            run["rates"].append(batch_size * window_steps / (time.perf_counter() - t0))
            run["cpu_rates"].append(batch_size * window_steps / max(time.process_time() - c0, 1e-9))
    out: Dict[str, Any] = {"model": model, "image_size": image_size, "width": width,
                           "batch_size": batch_size, "rounds": rounds, "window_steps": window_steps,
                           "warmup_steps": warmup, "load_average_before": load_before,
                           "step_flops": step_flops,
                           "load_average_after": _loadavg(), "paths": {}}
    base = runs["naive"]["rates"] if "naive" in live else None
    for name in paths:
        run = runs[name]
        rec: Dict[str, Any] = {"settings": run["settings"], "warmup_seconds": run["warmup_seconds"],
                               "fast_path": run["fast_path"]}
        if run["error"] is not None:
            rec["error"] = run["error"]
        else:
            rates = run["rates"]
            rec.update(window_images_per_second=rates, images_per_second=_spread(rates),
                       best_images_per_second=max(rates))
            cpu = run["cpu_rates"]
            rec.update(cpu_time_images_per_second=_spread(cpu))
            if base is not None:
                ratios = [a / b for a, b in zip(rates, base)]
                cbase = runs["naive"]["cpu_rates"]
                rec.update(ratio_to_naive=_spread(ratios), best_ratio_to_naive=max(rates) / max(base),
                           cpu_time_ratio_to_naive=_spread([a / b for a, b in zip(cpu, cbase)]))
        out["paths"][name] = rec
    for run in runs.values():
        del run["trainer"]
    gc.collect()
    return out


def _loadavg() -> Optional[list]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):  # pragma: no cover
        return None


def run_suite(*, models: Sequence[str] = registry.THESIS_MODEL_NAMES, sizes=SUITE_SIZES,
              paths: Sequence[str] = DEFAULT_SUITE_PATHS, rounds: int = 12, warmup: int = 3,
              threads: Optional[int] = 2, device: str = "cpu", json_path: Optional[str] = None,
              readme: Optional[str] = None, compile_max_size: Optional[int] = None,
              log=print) -> Dict[str, Any]:
    """:func:`compare_paths` for every model and size; optionally write the JSON report and
    the table between the ``<!-- cpu-suite -->`` markers of ``readme``. Paths with
    ``compile`` run only at image sizes <= ``compile_max_size`` (None: all sizes): compiling
    costs 10-50 s per model on 2 cores."""
    if threads:
        torch.set_num_threads(int(threads))
    t_start = time.perf_counter()
    results = []
    for size, width, batch in sizes:
        here = [p for p in paths if compile_max_size is None or size <= compile_max_size
                or not _path_settings(p).get("compile")]
        for model in models:
            res = compare_paths(model, size, width, batch, here, rounds=rounds, warmup=warmup,
                                device=device)
            results.append(res)
            log(_suite_line(res))
    dev = resolve_device(device)
    report = {
        "results": results,
        "device": {"type": dev.type, "name": cpu_name() if dev.type == "cpu"
                   else torch.cuda.get_device_name(dev), "cpu_kind": cpu_kind(),
                   "torch_threads": torch.get_num_threads(),
                   "matmul_gflops": matmul_gflops(torch.get_num_threads()) if dev.type == "cpu" else None},
        "config": {"models": list(models), "sizes": [list(s) for s in sizes], "paths": list(paths),
                   "rounds": rounds, "warmup": warmup, "compile_max_size": compile_max_size},
        "seconds": time.perf_counter() - t_start,
        "metadata": run_metadata(dev),
        "notes": ("Alternating windows in one process; ratio_to_naive is the per-round ratio of "
                  "a path's window to naive's window of the same round (median, quartiles, "
                  "range); best_ratio_to_naive compares the best windows. naive = fp32, eager, "
                  "NCHW, torch's default Adam (today's CPU default before issue #12); auto = the "
                  "trainer's own resolution (waelib.train.fastpath). All paths use the trainer's "
                  "data path (uint8 tensor, permutation gather). The machine may have been "
                  "shared with other jobs: see load_average_before/after."),
    }
    if json_path:
        atomic_write_json(json_path, report)
    if readme:
        update_readme_table(readme, suite_markdown(report))
    return report


def _suite_line(res: Dict[str, Any]) -> str:
    parts = [f"{res['model']:>10} {res['image_size']:>3}px"]
    for name, rec in res["paths"].items():
        if "error" in rec:
            parts.append(f"{name}: failed")
            continue
        ratio = rec.get("ratio_to_naive")
        r = "" if ratio is None or name == "naive" else f" x{ratio['median']:.2f}"
        parts.append(f"{name}: {rec['images_per_second']['median']:.0f} img/s{r}")
    return " | ".join(parts)


def _fmt(report: Dict[str, Any]) -> str:
    lines = [f"device: {report['device']['name']} ({report['device']['type']})"]
    for k in ("naive", "fast"):
        r = report[k]
        pf = "n/a" if r["peak_fraction"] is None else f"{100 * r['peak_fraction']:.1f}%"
        mem = "n/a" if r["peak_memory_bytes"] is None else f"{r['peak_memory_bytes'] / 2**20:.0f} MiB"
        lines.append(f"{k:>5}: {r['images_per_second']:9.1f} img/s  {r['tflops']:8.3f} TFLOP/s  "
                     f"peak {pf:>6}  mem {mem}")
    lines.append(f"speed-up fast/naive: {report['speedup']:.2f}x; "
                 f"{report['naive']['gflops_per_image']:.2f} GFLOP per image per step")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m waelib.studies.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=registry.THESIS_MODEL_NAMES, default="wae_resnet")
    p.add_argument("--image-size", type=int, default=config.IMAGE_SIZE)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=20, help="timed steps per path")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per path")
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", choices=["auto", "bf16", "none"], default="auto",
                   help="fast path autocast: auto = bf16 on CUDA, none on the CPU")
    p.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                   help="torch.compile on the fast path: auto = on with CUDA and Triton")
    p.add_argument("--windows", type=int, default=1,
                   help="split the timed steps into this many windows and report the median "
                        "window's rate (use >1 on a shared machine)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--json", dest="json_path", help="write the report here (atomically)")
    p.add_argument("--suite", action="store_true",
                   help="CPU suite: every model at 32 and 64 px (width 0.125, batch 64), naive vs "
                        "the trainer's choice, alternating windows in one process")
    p.add_argument("--paths", default=",".join(DEFAULT_SUITE_PATHS),
                   help="suite paths, comma-separated: " + ", ".join(list(CANDIDATES) + ["auto+compile"]))
    p.add_argument("--models", default=",".join(registry.THESIS_MODEL_NAMES), help="suite models")
    p.add_argument("--sizes", default="32,64", help="suite image sizes (width 0.125, batch 64)")
    p.add_argument("--rounds", type=int, default=12, help="suite: alternating rounds per row")
    p.add_argument("--readme", help="suite: rewrite the table between the cpu-suite markers here")
    p.add_argument("--compile-max-size", type=int,
                   help="suite: run the compile paths only at image sizes up to this")
    a = p.parse_args(argv)
    if a.suite:
        sizes = [(int(x), 0.125, 64) for x in a.sizes.split(",")]
        paths = [x for x in a.paths.split(",") if x]
        for x in paths:
            if x not in CANDIDATES and x != "auto+compile":
                p.error(f"unknown path {x!r}; valid choices: {', '.join(list(CANDIDATES) + ['auto+compile'])}")
        if "naive" not in paths:
            paths.insert(0, "naive")
        models = [x for x in a.models.split(",") if x]
        for m in models:
            if m not in registry.THESIS_MODEL_NAMES:
                p.error(f"unknown model {m!r}; valid choices: {', '.join(registry.THESIS_MODEL_NAMES)}")
        report = run_suite(models=models, sizes=sizes, paths=paths, rounds=a.rounds,
                           warmup=a.warmup, threads=a.threads or 2, device=a.device
                           if a.device != "auto" else "cpu",
                           json_path=a.json_path, readme=a.readme,
                           compile_max_size=a.compile_max_size)
        print(suite_markdown(report))
        if a.json_path:
            print(f"wrote {a.json_path}")
        return 0
    report = run_bench(model=a.model, image_size=a.image_size, width=a.width,
                       batch_size=a.batch_size, steps=a.steps, warmup=a.warmup, device=a.device,
                       amp=(None if a.amp == "none" else a.amp), compile=a.compile,
                       json_path=a.json_path, threads=a.threads, windows=a.windows)
    print(_fmt(report))
    if a.json_path:
        print(f"wrote {a.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
