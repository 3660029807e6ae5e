"""The thesis run, planned on paper from the CPU measurements at the thesis size.

    python benchmarks/thesis_plan.py          # reads results/bench/thesis_size_cpu.json

PROJECTIONS, not measurements. Inputs measured on the CPU (benchmarks/thesis_size.py): FLOPs
of one training step per image (matmul/conv only, every forward and backward of the step),
activation memory per image under bf16 autocast (the proxy for the GPU's), parameter counts.
Assumptions (each printed into the JSON):

- GPU memory usable by tensors: 78 GiB on an H100 80 GB, 139 GiB on an H200 141 GB (what
  ``torch.cuda.get_device_properties`` reports on this project's device machines);
- resident: fp32 parameters, gradients and Adam's two moments (16 bytes per parameter) plus the
  bf16 weight copies autocast makes (2 bytes per parameter); the whole uint8 training set on the
  GPU (``data_on_device``: 162,079 x 3 x 128 x 128 bytes = 7.97 GB); 3 GiB for the CUDA context,
  cuDNN workspaces and the allocator; only 80% of what is left is given to activations
  (fragmentation, transient gradient buffers of the backward pass);
- throughput: 30% of the H100's dense bf16 peak (989 TFLOP/s), i.e. 297 TFLOP/s, on the counted
  FLOPs. Element-wise work (BatchNorm, activations, the optimiser) is not counted; for the VAE
  (1.3 GFLOP per image) a step is too small to reach 30% of peak, so its time is a lower bound;
- schedule: the thesis' 100 epochs of 162,079 training images (CelebA's 80% split) for each of
  the five models, one GPU, one model after the other.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GiB = 2**30
USABLE = {"H100 80 GB": 78 * GiB, "H200 141 GB": 139 * GiB}
PEAK_BF16 = 989e12
FRACTION = 0.30
N_TRAIN, EPOCHS, IMAGE_BYTES = 162_079, 100, 3 * 128 * 128
OVERHEAD = 3 * GiB
SAFETY = 0.8


def plan(measured: dict) -> dict:
    rows, total_s = [], 0.0
    for r in measured["results"]:
        p = r["n_parameters"]
        static = 18 * p
        data = N_TRAIN * IMAGE_BYTES
        act = r["activation_bytes_per_image_bf16_autocast"]
        fit = {name: int(SAFETY * (mem - static - data - OVERHEAD) / act) for name, mem in USABLE.items()}
        flop_img = r["flops_per_step"] / r["batch_size"]
        seconds = EPOCHS * N_TRAIN * flop_img / (FRACTION * PEAK_BF16)
        total_s += seconds
        rows.append({"model": r["model"], "parameters": p, "gflop_per_image_per_step": flop_img / 1e9,
                     "activation_mib_per_image_bf16": act / 2**20,
                     "activation_mib_per_image_fp32": r["activation_bytes_per_image_fp32"] / 2**20,
                     "static_gib": static / GiB, "max_batch": fit,
                     "projected_hours_100_epochs": seconds / 3600})
    return {"kind": "PROJECTION (not a measurement)", "rows": rows,
            "projected_hours_all_five": total_s / 3600,
            "assumptions": {"usable_gib": {k: v / GiB for k, v in USABLE.items()},
                            "bytes_per_parameter_resident": 18, "data_on_gpu_gb": N_TRAIN * IMAGE_BYTES / 1e9,
                            "overhead_gib": OVERHEAD / GiB, "activation_share_of_rest": SAFETY,
                            "throughput_tflops": FRACTION * PEAK_BF16 / 1e12,
                            "peak_bf16_tflops": PEAK_BF16 / 1e12, "fraction_of_peak": FRACTION,
                            "epochs": EPOCHS, "train_images": N_TRAIN,
                            "flops": "matmul/conv only (torch FlopCounterMode), per training step",
                            "activations": "bf16 autocast on the CPU as a proxy for the GPU"},
            "source": "results/bench/thesis_size_cpu.json"}


def main() -> int:
    measured = json.loads((ROOT / "results/bench/thesis_size_cpu.json").read_text())
    out = plan(measured)
    for r in out["rows"]:
        print(f"{r['model']:>10}: {r['gflop_per_image_per_step']:5.1f} GFLOP/img, "
              f"{r['activation_mib_per_image_bf16']:5.1f} MiB/img bf16, batch that fits "
              f"{r['max_batch']['H100 80 GB']:,} (80 GB) / {r['max_batch']['H200 141 GB']:,} (141 GB), "
              f"{r['projected_hours_100_epochs']:.2f} h")
    print(f"all five: {out['projected_hours_all_five']:.1f} h (projection)")
    from waelib.utils import atomic_write_json
    atomic_write_json(ROOT / "results/bench/thesis_plan.json", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
