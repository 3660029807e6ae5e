"""The ``colab`` profile, planned on paper for a free Colab GPU (an NVIDIA T4, 16 GB).

    .venv/bin/python benchmarks/colab_projection.py      # writes results/course/colab_projection.json

A PROJECTION, not a measurement: nobody has run the course on a T4 yet. Measured here (on the
CPU, by ``torch.utils.flop_counter.FlopCounterMode`` through the trainer's own step): the FLOPs
of one training step of each thesis model at the profile's size. Assumed: the T4's fp32 peak of
8.1 TFLOP/s (NVIDIA's data sheet; bf16 autocast is off on a T4, which has no bf16 units) at 25 %
efficiency on the counted FLOPs (small convolutions, element-wise work not counted), and a
budget of 40 minutes of training for the five models of notebooks 03 and 04, one after the
other, the rest of the hour left to data generation and evaluation. The profile's ``steps`` is
the largest multiple of 100 that fits the budget (tests/course/test_colab_profile.py checks
that ``waelib.course.profiles.PROFILES["colab"]`` uses it).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from waelib.registry import THESIS_MODEL_NAMES  # noqa: E402
from waelib.studies.bench_flops import count_step_flops  # noqa: E402
from waelib.train import TrainConfig, Trainer  # noqa: E402
from waelib.utils import atomic_write_json, run_metadata  # noqa: E402

T4_FP32_PEAK = 8.1e12
EFFICIENCY = 0.25
TRAIN_BUDGET_SECONDS = 40 * 60
SIZE = dict(image_size=64, width=0.5, batch_size=100)


def main() -> int:
    rows = []
    for model in THESIS_MODEL_NAMES:
        torch.manual_seed(0)
        cfg = TrainConfig(model=model, device="cpu", steps=1, progress=False, amp=None,
                          channels_last=False, fused=False, compile=False, **SIZE).resolved(torch.device("cpu"))
        trainer = Trainer(cfg)
        x = torch.rand(SIZE["batch_size"], 3, SIZE["image_size"], SIZE["image_size"])
        flops = count_step_flops(trainer, x)
        rows.append({"model": model, "flops_per_step": flops,
                     "projected_seconds_per_step": flops / (T4_FP32_PEAK * EFFICIENCY)})
    per_round = sum(r["projected_seconds_per_step"] for r in rows)
    steps = int(TRAIN_BUDGET_SECONDS / per_round) // 100 * 100
    out = {"kind": "PROJECTION (not a measurement)", "profile": dict(SIZE, steps=steps),
           "rows": rows, "projected_training_minutes_all_five": steps * per_round / 60,
           "assumptions": {"gpu": "NVIDIA T4 16 GB (free Colab)", "fp32_peak_flops": T4_FP32_PEAK,
                           "efficiency": EFFICIENCY, "train_budget_seconds": TRAIN_BUDGET_SECONDS,
                           "flops": "matmul/conv of one training step (FlopCounterMode), measured on the CPU"},
           "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "metadata": run_metadata()}
    atomic_write_json(ROOT / "results" / "course" / "colab_projection.json", out)
    print(json.dumps({k: out[k] for k in ("profile", "projected_training_minutes_all_five")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
