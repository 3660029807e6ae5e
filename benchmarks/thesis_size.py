"""The thesis size, end to end on the CPU: every model at 128 px and full width.

    python benchmarks/thesis_size.py --json results/bench/thesis_size_cpu.json   # make thesis-size

For each model, in a fresh process (so that its peak resident memory is its own): build it at
128 x 128, width 1 (the thesis' networks), run ``--steps`` training steps at ``--batch-size`` on
synthfaces with the trainer's own CPU path, then a tiny evaluation through
:mod:`waelib.evaluate` (decoded prior samples and reconstructions of held-out images). Recorded
per model: parameters, the time of every step (the first includes oneDNN's one-off kernel
set-up), peak resident memory (``ru_maxrss``) and the resident memory before the model was
built, FLOPs per training step (:func:`waelib.studies.bench.count_step_flops`: matmul/conv only, every
forward and backward of the step), and the activation memory one image keeps for the backward
pass (bytes of the distinct tensors autograd saves during one training step, divided by the
batch size; measured as the slope between batch b and 2b), in fp32 and under bf16 autocast.
These feed the paper plan of the thesis run in
results/bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict

import torch

from waelib import registry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def saved_activation_bytes(trainer, x) -> int:
    """Bytes of the distinct storages autograd saves for backward during one training step.
    (Parameters saved by a layer are excluded: they are not activations.)"""
    params = {p.untyped_storage().data_ptr() for p in trainer.model.parameters()}
    seen: Dict[int, int] = {}

    def pack(t):
        st = t.untyped_storage()
        ptr = st.data_ptr()
        if ptr not in params and ptr not in seen:
            seen[ptr] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        trainer.train_step(x)
    return sum(seen.values())


def one(model: str, batch_size: int, steps: int, threads: int) -> Dict[str, Any]:
    torch.set_num_threads(threads)
    from waelib import evaluate
    from waelib.data import load_dataset, to_uint8_tensor
    from waelib.studies.bench import count_step_flops
    from waelib.train import TrainConfig, Trainer

    cpu = torch.device("cpu")
    rss_start = _rss_bytes()
    n = max(batch_size * steps, 2 * batch_size) + 8
    t0 = time.perf_counter()
    train = to_uint8_tensor(load_dataset("synthfaces", image_size=128, n=2 * n, split="train"))[:n]
    test = to_uint8_tensor(load_dataset("synthfaces", image_size=128, n=2 * n, split="test"))[:4]
    data_s = time.perf_counter() - t0
    cfg = TrainConfig(model=model, image_size=128, width=1.0, batch_size=batch_size, seed=0,
                      device="cpu", progress=False).resolved(cpu)
    torch.manual_seed(0)
    tr = Trainer(cfg)
    n_params = sum(p.numel() for p in tr.model.parameters())
    rss_model = _rss_bytes()
    step_s, losses = [], []
    for i in range(steps):
        x = tr.prepare_batch(train[i * batch_size:(i + 1) * batch_size])
        t = time.perf_counter()
        terms = tr.train_step(x)
        step_s.append(time.perf_counter() - t)
        losses.append({k: float(v) for k, v in terms.items()})
    peak_train = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    # tiny evaluation through waelib.evaluate
    t = time.perf_counter()
    samples = evaluate.generate(tr.model, 4, seed=0)
    recon = evaluate.reconstruct(tr.model, test)
    eval_s = time.perf_counter() - t
    ok_eval = (samples.shape == (4, 3, 128, 128) and recon.shape == (4, 3, 128, 128)
               and bool(torch.isfinite(samples).all()) and bool(torch.isfinite(recon).all()))
    tr.model.train()
    x = tr.prepare_batch(train[:batch_size])
    flops = count_step_flops(tr, x)
    # per image: the slope between batch b and 2b (removes what does not scale with the batch,
    # e.g. the bf16 copies of the weights that autocast saves)
    x2 = tr.prepare_batch(train[:2 * batch_size])
    act_fp32 = saved_activation_bytes(tr, x2) - saved_activation_bytes(tr, x)
    tr_bf16 = Trainer(cfg.replace(amp="bf16"), model=tr.model)
    act_bf16 = saved_activation_bytes(tr_bf16, x2) - saved_activation_bytes(tr_bf16, x)
    peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    return {
        "model": model, "image_size": 128, "width": 1.0, "batch_size": batch_size,
        "settings": {k: getattr(cfg, k) for k in ("amp", "channels_last", "fused", "compile")},
        "fast_path": cfg.fast_path, "n_parameters": n_params,
        "data_preparation_seconds": data_s, "step_seconds": step_s,
        "losses": losses,
        "losses_finite": all(all(math.isfinite(v) for v in r.values()) for r in losses),
        "evaluation_seconds": eval_s, "evaluation_ok": ok_eval,
        "evaluation": "waelib.evaluate.generate(model, 4) + reconstruct(model, 4 held-out images)",
        "rss_before_model_bytes": rss_start,
        "rss_after_model_bytes": rss_model,
        "peak_rss_training_bytes": peak_train, "peak_rss_bytes": peak,
        "flops_per_step": flops, "gflops_per_image_per_step": flops / batch_size / 1e9,
        "activation_bytes_per_image_fp32": act_fp32 / batch_size,
        "activation_bytes_per_image_bf16_autocast": act_bf16 / batch_size,
        "threads": torch.get_num_threads(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--models", default=None, help="comma-separated (default: all five)")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--json", dest="json_path")
    a = p.parse_args(argv)
    if a.one:
        print("RESULT " + json.dumps(one(a.one, a.batch_size, a.steps, a.threads)), flush=True)
        return 0
    from waelib.utils import atomic_write_json, run_metadata
    models = a.models.split(",") if a.models else list(registry.THESIS_MODEL_NAMES)
    results = []
    t0 = time.perf_counter()
    for m in models:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--one", m, "--batch-size",
               str(a.batch_size), "--steps", str(a.steps), "--threads", str(a.threads)]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{m} failed at the thesis size")
        rec = json.loads(next(line for line in out.stdout.splitlines()
                              if line.startswith("RESULT "))[7:])
        results.append(rec)
        print(f"{m:>10}: {rec['n_parameters'] / 1e6:6.1f} M params, steps "
              f"{', '.join(f'{s:.2f}' for s in rec['step_seconds'])} s at batch {a.batch_size}, "
              f"peak RSS {rec['peak_rss_bytes'] / 2**30:.2f} GiB, "
              f"{rec['gflops_per_image_per_step']:.1f} GFLOP/img/step, activations "
              f"{rec['activation_bytes_per_image_fp32'] / 2**20:.0f} MiB/img fp32, "
              f"{rec['activation_bytes_per_image_bf16_autocast'] / 2**20:.0f} MiB/img bf16; "
              f"eval ok {rec['evaluation_ok']}", flush=True)
    report = {"results": results, "seconds": time.perf_counter() - t0,
              "config": {"image_size": 128, "width": 1.0, "batch_size": a.batch_size,
                         "steps": a.steps, "threads": a.threads, "device": "cpu",
                         "data": "synthfaces at 128 px"},
              "metadata": run_metadata(torch.device("cpu")),
              "notes": ("Each model in its own process. step_seconds[0] includes one-off kernel "
                        "set-up. peak_rss_bytes: ru_maxrss of that process (training, the tiny "
                        "evaluation and the measurement passes; rss_before_model_bytes is the "
                        "interpreter with torch and the data). Activation bytes: distinct "
                        "storages saved for backward during one training step (forward of every "
                        "update of the step), per image: (saved(2b) - saved(b)) / b; bf16 "
                        "autocast on the CPU is a proxy for "
                        "the GPU's. The machine was shared with other jobs; times are indicative.")}
    if a.json_path:
        atomic_write_json(a.json_path, report)
        print(f"wrote {a.json_path}")
    bad = [r["model"] for r in results if not (r["losses_finite"] and r["evaluation_ok"])]
    if bad:   # CI runs this: a non-finite loss or a broken evaluation at the thesis size fails it
        print(f"error: non-finite losses or a failed evaluation at the thesis size: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
