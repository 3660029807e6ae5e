"""Time training steps of one model on the naive and on the fast path, in one run.

    python -m waelib.bench --model wae_resnet --image-size 128 --width 1 --batch-size 256 \\
        --steps 50 --json results/bench/h200.json

The two paths run the same :class:`waelib.train.Trainer` step (thesis Algorithm 2 for the GAN
models: one discriminator and one auto-encoder update per batch):

- **naive**: fp32, eager, NCHW, torch's default (non-fused) Adam, batches from a shuffling
  ``DataLoader`` over a float32 CPU tensor, copied to the device every step;
- **fast**: bf16 autocast (CUDA; losses stay fp32), channels-last, fused Adam, cuDNN autotuning,
  ``torch.compile`` (CUDA, when Triton is available; ``--compile off`` disables it), and a uint8
  data set resident on the device, gathered with a permutation and converted to float there.
  **On the CPU** "fast" means: fp32 (bf16 autocast only with ``--amp bf16``: most CPUs run it
  slower), channels-last, fused Adam where this torch supports it on the CPU, eager, and the
  pre-materialised uint8 data instead of the DataLoader. CPU figures are for the plumbing, not
  for the speed claims.

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
import re
import statistics
import sys
import time
import warnings
from typing import Any, Dict, Optional, Sequence

import torch

from . import config as C
from .train import TrainConfig, Trainer, epoch_permutation
from .utils import atomic_write_json, resolve_device, run_metadata

__all__ = ["PEAK_BF16_FLOPS", "peak_flops", "count_step_flops", "bench_path", "run_bench", "main"]

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


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    import platform
    return platform.processor() or platform.machine()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory(device: torch.device) -> Optional[int]:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        import resource
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB
    except Exception:  # pragma: no cover - non-Unix
        return None


def count_step_flops(trainer: Trainer, x: torch.Tensor) -> int:
    """FLOPs of one full training step on batch ``x`` (forward + backward of every update;
    matmul/conv only, optimiser steps contribute nothing), by FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        trainer.train_step(x)
    return int(counter.get_total_flops())


def _make_config(model: str, image_size: int, width: float, batch_size: int, device: torch.device,
                 fast: bool, amp: str, compile_: bool) -> TrainConfig:
    cfg = TrainConfig(model=model, image_size=image_size, width=width, batch_size=batch_size,
                      device=str(device), seed=0, steps=1, progress=False,
                      amp=(amp if fast else None), channels_last=fast, fused=fast,
                      data_on_device=fast, cudnn_benchmark=fast, compile=compile_ and fast)
    return cfg.resolved(device)


def bench_path(kind: str, *, model: str, image_size: int, width: float, batch_size: int,
               steps: int, warmup: int, device: torch.device, amp: str = "auto",
               compile_: bool = False, flops_per_step: Optional[int] = None,
               n_batches: int = 8, windows: int = 1) -> Dict[str, Any]:
    """Time ``steps`` training steps on the ``"naive"`` or ``"fast"`` path (module docstring)."""
    fast = kind == "fast"
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
        state = {"i": 0, "perm": None}

        def next_batch() -> torch.Tensor:
            n_steps = len(data) // batch_size
            epoch, pos = divmod(state["i"], n_steps)
            if pos == 0:
                state["perm"] = epoch_permutation(len(data), 0, epoch).to(data.device)
            state["i"] += 1
            return trainer.prepare_batch(data[state["perm"][pos * batch_size:(pos + 1) * batch_size]])
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
        warnings.warn(f"torch.compile failed ({type(e).__name__}: {e}); timing eager instead")
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
    del trainer
    gc.collect()
    return result


def run_bench(*, model: str = "wae_resnet", image_size: int = C.IMAGE_SIZE, width: float = 1.0,
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
    if compile == "auto":
        use_compile = dev.type == "cuda" and importlib.util.find_spec("triton") is not None
    else:
        use_compile = compile == "on"
        if use_compile and dev.type != "cuda":
            warnings.warn("torch.compile is only used on CUDA; the CPU fast path runs eagerly")
            use_compile = False
    common = dict(model=model, image_size=image_size, width=width, batch_size=batch_size,
                  steps=steps, warmup=warmup, device=dev, windows=windows)
    naive = bench_path("naive", **common)
    fast = bench_path("fast", amp=amp, compile_=use_compile,
                      flops_per_step=naive["flops_per_step"], **common)
    report = {
        "naive": naive, "fast": fast,
        "speedup": fast["images_per_second"] / naive["images_per_second"],
        "device": {"type": dev.type, "name": (torch.cuda.get_device_name(dev) if dev.type == "cuda"
                                              else _cpu_name()),
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
    p = argparse.ArgumentParser(prog="python -m waelib.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=C.MODEL_NAMES, default="wae_resnet")
    p.add_argument("--image-size", type=int, default=C.IMAGE_SIZE)
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
    a = p.parse_args(argv)
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
