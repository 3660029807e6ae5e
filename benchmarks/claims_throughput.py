#!/usr/bin/env python
"""Runs per hour of the claims study's runner: one after the other (the runner before issue
"portable and fast": one run at a time, 2 torch threads, eager) against side by side (``--jobs``,
the default split of the cores, compile as the trainer chooses), on the same subset of the study.

    .venv/bin/python benchmarks/claims_throughput.py --json results/bench/claims_throughput.json

Both arms make the same runs (default: the 32 px scale's WAE and WAE-ResNet, seeds 0 and 1: four
runs of 2,000 steps, trained and evaluated exactly as ``make claims`` does) into scratch folders,
first sequential, then side by side; the wall time of each arm includes everything the runner
does (data, training, evaluation). Run it on an otherwise idle machine: the arms run one after
the other, so a neighbour's load would bias the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _arm(name: str, *, jobs, threads, overrides, scale, models, limit) -> dict:
    from waelib.studies import claims_study as study

    with tempfile.TemporaryDirectory(prefix=f"claims_{name}_") as tmp:
        t0 = time.perf_counter()
        recs = study.run_study([scale], models=models, results=Path(tmp) / "results",
                               work=Path(tmp) / "work", limit=limit, jobs=jobs, threads=threads,
                               train_overrides=overrides)
        wall = time.perf_counter() - t0
        configs = [json.loads(p.read_text())["config"] for p in (Path(tmp) / "work").rglob("config.json")]
    return {"arm": name, "jobs": jobs, "threads": threads, "overrides": overrides, "wall_seconds": wall,
            "runs": len(recs), "runs_per_hour": 3600 * len(recs) / wall,
            "per_run": [{k: r.get(k) for k in ("model", "seed", "status", "train_seconds",
                                                "eval_seconds", "threads")} for r in recs],
            "fast_paths": [{k: c.get(k) for k in ("model", "seed", "threads", "channels_last",
                                                  "fused", "compile")} for c in configs]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="second")
    ap.add_argument("--models", default="wae_gan,wae_resnet")
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--json", dest="json_path")
    ap.add_argument("--reuse-sequential", action="store_true",
                    help="take the sequential arm from the existing --json file (same CPU kind, "
                         "same runs) and measure only the side-by-side arm again")
    a = ap.parse_args(argv)
    from waelib.parallel import default_jobs
    from waelib.train.fastpath import cpu_kind
    from waelib.utils import atomic_write_json, run_metadata

    models = tuple(a.models.split(","))
    jobs, threads = default_jobs(a.limit)
    seq = None
    if a.reuse_sequential and a.json_path and Path(a.json_path).is_file():
        old = json.loads(Path(a.json_path).read_text())
        if old.get("cpu_kind") == cpu_kind() and old.get("config", {}).get("models") == a.models:
            seq = dict(old["arms"][0], reused_from=old["metadata"]["date_utc"])
    if seq is None:
        seq = _arm("sequential", jobs=1, threads=2, overrides={"compile": False}, scale=a.scale,
                   models=models, limit=a.limit)
    par = _arm("side_by_side", jobs=jobs, threads=threads, overrides={}, scale=a.scale,
               models=models, limit=a.limit)
    report = {"arms": [seq, par], "ratio_runs_per_hour": par["runs_per_hour"] / seq["runs_per_hour"],
              "cpu_kind": cpu_kind(), "load_average_after": list(os.getloadavg()),
              "config": vars(a), "metadata": run_metadata()}
    print(f"sequential: {seq['wall_seconds']:.0f} s for {seq['runs']} runs; side by side "
          f"({jobs} jobs x {threads} thread(s)): {par['wall_seconds']:.0f} s; runs per hour "
          f"x{report['ratio_runs_per_hour']:.2f}")
    if a.json_path:
        atomic_write_json(a.json_path, report)
        print(f"wrote {a.json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
