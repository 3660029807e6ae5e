"""What ``torch.compile`` costs and gains on this CPU, per model and size (``make bench-compile``).

    python -m waelib.studies.bench_compile --json results/bench/cpu_compile.json

For every model and size (width 0.125, batch 64, the trainer's chosen eager path) two child
processes share one fresh inductor cache folder (``TORCHINDUCTOR_CACHE_DIR``):

The compiled step runs in NCHW (inductor miscompiles channels-last training steps on the CPU,
:meth:`waelib.train.TrainConfig.resolved`); its speed-up is against the best eager path.

1. **cold**: the first two compiled training steps with the cache empty, less two eager steps:
   the cold compile time a run pays once;
2. **warm**: the same with the cache filled by the first child (what every later run on this
   machine pays), then alternating timing windows of the eager and the compiled step at each
   thread count asked for (``--threads 1,2``): the per-step speed-up (median of per-round ratios,
   with quartiles), and the eager seconds per step that :func:`waelib.train.fastpath.compile_pays`
   projects a run's length with.

It also reports the share of the machine's matrix-multiply rate that the eager training step
reaches (FLOPs of one step by :class:`torch.utils.flop_counter.FlopCounterMode`, convolutions
and matmuls only, against a 2048^3 fp32 matmul at the same thread count), so that the room left
for kernel work is visible.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

import torch

from .. import registry
from ..train import TrainConfig, Trainer
from ..train.autotune import time_steps
from ..train.batches import BatchSource
from ..train.fastpath import cpu_kind
from ..utils import atomic_write_json, cpu_name, run_metadata
from .bench_flops import count_step_flops, matmul_gflops

__all__ = ["matmul_gflops", "probe", "run_compile_suite", "main"]


def _trainer(model: str, size: int, width: float, batch: int, compile_: bool):
    torch.manual_seed(0)
    cfg = TrainConfig(model=model, image_size=size, width=width, batch_size=batch, device="cpu",
                      steps=1, progress=False, amp=None, compile=compile_,
                      channels_last=False if compile_ else None).resolved(torch.device("cpu"))
    return Trainer(cfg)


def probe(model: str, size: int, width: float, batch: int, threads: Sequence[int],
          rounds: int, speed: bool) -> Dict[str, Any]:
    """In this process: compile time of the first two steps (less two eager steps) and, with
    ``speed``, eager vs compiled per-step times at each thread count (alternating windows)."""

    torch.set_num_threads(max(threads))
    source = BatchSource.random(batch, size)
    eager = _trainer(model, size, width, batch, False)
    time_steps(eager, source, 2)
    eager_step = statistics.median(time_steps(eager, source, 1) for _ in range(3))
    comp = _trainer(model, size, width, batch, True)
    t0 = time.perf_counter()
    time_steps(comp, source, 2)
    out: Dict[str, Any] = {"compile_seconds": max(0.0, time.perf_counter() - t0 - 2 * eager_step),
                           "eager_settings": {k: getattr(eager.cfg, k) for k in ("channels_last", "fused")}}
    if not speed:
        return out
    flops = count_step_flops(eager, source.next(eager))
    window = max(1, round(4 * (32 / size) ** 2))
    out["per_threads"] = {}
    for t in threads:
        torch.set_num_threads(t)
        time_steps(eager, source, 1)
        time_steps(comp, source, 1)
        e, c = [], []
        for r in range(rounds):
            pair = [(eager, e), (comp, c)] if r % 2 == 0 else [(comp, c), (eager, e)]
            for tr, acc in pair:
                acc.append(time_steps(tr, source, window) / window)
        ratios = sorted(a / b for a, b in zip(e, c))
        q1, q3 = statistics.quantiles(ratios, n=4)[0::2] if len(ratios) > 1 else (ratios[0], ratios[0])
        out["per_threads"][str(t)] = {
            "eager_seconds_per_step": statistics.median(e),
            "compiled_seconds_per_step": statistics.median(c),
            "speedup": {"median": statistics.median(ratios), "q1": q1, "q3": q3},
            "step_flops": flops, "eager_gflops": flops / statistics.median(e) / 1e9,
            "matmul_gflops": matmul_gflops(t)}
        out["per_threads"][str(t)]["share_of_matmul"] = (
            out["per_threads"][str(t)]["eager_gflops"] / out["per_threads"][str(t)]["matmul_gflops"])
    return out


def _child(args: List[str], cache_dir: str) -> Dict[str, Any]:
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache_dir, WAELIB_AUTOTUNE="0")
    res = subprocess.run([sys.executable, "-m", "waelib.studies.bench_compile", "--probe", *args],
                         env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"compile probe {' '.join(args)} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_compile_suite(models: Sequence[str], sizes: Sequence[int], threads: Sequence[int], *,
                      rounds: int = 6, width: float = 0.125, batch: int = 64,
                      json_path: Optional[str] = None, log=print) -> Dict[str, Any]:
    """:func:`probe` cold and warm for every model and size (see the module docstring)."""

    t_start = time.perf_counter()
    rows = []
    for size in sizes:
        for model in models:
            with tempfile.TemporaryDirectory(prefix="inductor_") as cache:
                base = [model, str(size), str(width), str(batch), ",".join(map(str, threads)), str(rounds)]
                cold = _child(base + ["cold"], cache)
                warm = _child(base + ["warm"], cache)
            for t, rec in warm["per_threads"].items():
                row = {"model": model, "image_size": size, "width": width, "batch_size": batch,
                       "threads": int(t), "cold_compile_seconds": cold["compile_seconds"],
                       "warm_compile_seconds": warm["compile_seconds"],
                       "eager_settings": warm["eager_settings"], **rec}
                rows.append(row)
                log(f"{model:>10} {size:>3}px {t} thr: compile cold {row['cold_compile_seconds']:5.1f} s, "
                    f"warm {row['warm_compile_seconds']:5.1f} s; speed-up {rec['speedup']['median']:.2f} "
                    f"({rec['speedup']['q1']:.2f}-{rec['speedup']['q3']:.2f}); eager step "
                    f"{rec['eager_seconds_per_step'] * 1e3:.0f} ms = {100 * rec['share_of_matmul']:.0f} % "
                    f"of the matmul rate")
    report = {"results": rows,
              "device": {"type": "cpu", "name": cpu_name(), "cpu_kind": cpu_kind()},
              "config": {"models": list(models), "sizes": list(sizes), "threads": list(threads),
                         "rounds": rounds, "width": width, "batch_size": batch},
              "seconds": time.perf_counter() - t_start, "metadata": run_metadata(),
              "load_average": list(os.getloadavg()),
              "notes": "cold: first two compiled steps with an empty inductor cache, less two "
                       "eager steps; warm: the same with the cache filled; speedup: eager / "
                       "compiled seconds per step, median (quartiles) of per-round ratios of "
                       "alternating windows; share_of_matmul: the eager step's conv+matmul FLOP "
                       "rate over a 2048^3 fp32 matmul's at the same thread count."}
    if json_path:
        atomic_write_json(json_path, report)
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m waelib.studies.bench_compile", description=__doc__.split("\n\n")[0])
    p.add_argument("--probe", nargs=7, metavar=("MODEL", "SIZE", "WIDTH", "BATCH", "THREADS", "ROUNDS", "PHASE"),
                   help=argparse.SUPPRESS)
    p.add_argument("--models", default=",".join(registry.THESIS_MODEL_NAMES))
    p.add_argument("--sizes", default="32,64")
    p.add_argument("--threads", default="1,2", help="thread counts for the speed-up, comma-separated")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--json", dest="json_path")
    a = p.parse_args(argv)
    if a.probe:
        model, size, width, batch, threads, rounds, phase = a.probe
        out = probe(model, int(size), float(width), int(batch), [int(t) for t in threads.split(",")],
                    int(rounds), speed=(phase == "warm"))
        print(json.dumps(out))
        return 0
    run_compile_suite(a.models.split(","), [int(s) for s in a.sizes.split(",")],
                      [int(t) for t in a.threads.split(",")], rounds=a.rounds, json_path=a.json_path)
    if a.json_path:
        print(f"wrote {a.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
