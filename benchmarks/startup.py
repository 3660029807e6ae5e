"""Start-up cost of a training run: the time from ``fit()`` to the first training step.

    python benchmarks/startup.py --json results/bench/startup.json

Each measurement runs in a fresh interpreter (``python -c``), so imports are cold as in a real
run: it imports waelib.train (timed separately), builds the default-profile data as a uint8
tensor *before* calling ``fit`` (data preparation is excluded: it is measured on its own as
``data_preparation_seconds``), then calls ``fit(model, data, steps=1, ...)`` and records when
the trainer's first ``train_step`` begins. Reported per model: the median and range over
``--repeats`` fresh processes, and a profile of where the start-up time goes (the slowest
functions by cumulative time, from cProfile, in one extra process).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, sys, tempfile, time
t0 = time.perf_counter()
import torch
torch.set_num_threads(2)
t_torch = time.perf_counter()
from waelib.train import fit, Trainer
t_import = time.perf_counter()
from waelib.data import load_dataset
from waelib.train.dataset import materialise
model, size, profile, named = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
if named:   # the data are prepared inside fit(): time that part to subtract it
    import waelib.train.run
    prep = {"s": 0.0}
    def timed(f):
        def g(*a, **k):
            t = time.perf_counter(); out = f(*a, **k); prep["s"] += time.perf_counter() - t
            return out
        return g
    run_module = waelib.train.run
    run_module.materialise = timed(run_module.materialise)
    run_module.load_named_dataset = timed(run_module.load_named_dataset)
    data = "synthfaces"
else:
    ds = load_dataset("synthfaces", image_size=size, n=640, split="train")
    data = materialise(ds)
t_data = time.perf_counter()
first = {}
real = Trainer.train_step
HEAVY = ("torchvision", "scipy", "sklearn", "torchmetrics", "pytorch_fid", "matplotlib")
def stamped(self, x):
    if "t" not in first:
        first["t"] = time.perf_counter()
        first["heavy"] = [m for m in HEAVY if m in sys.modules]
    return real(self, x)
Trainer.train_step = stamped
with tempfile.TemporaryDirectory() as tmp:
    if profile:
        import cProfile, pstats, io
        pr = cProfile.Profile(); pr.enable()
    t_fit = time.perf_counter()
    extra = dict(n=10240) if named else {}
    fit(model, data, steps=1, image_size=size, width=0.125, batch_size=64, out=tmp, device="cpu",
        sample_every=10**9, progress=True, **extra)
    if profile:
        pr.disable(); s = io.StringIO()
        pstats.Stats(pr, stream=s).sort_stats("cumulative").print_stats(25)
in_fit = prep["s"] if named else 0.0
print("RESULT " + json.dumps({"import_torch_s": t_torch - t0, "import_waelib_train_s": t_import - t_torch,
      "data_preparation_seconds": (t_data - t_import) + in_fit,
      "fit_to_first_step_s": first["t"] - t_fit - in_fit,
      "fit_to_first_step_including_data_s": first["t"] - t_fit,
      "heavy_modules_loaded": first["heavy"],
      "profile": s.getvalue() if profile else None}))
"""


def measure(model: str, size: int, profile: bool = False, named: bool = False) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, model, str(size), "1" if profile else "0",
                          "1" if named else "0"],
                         cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))[7:])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="vae,wae_mmd,wae_resnet")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", dest="json_path")
    a = p.parse_args(argv)
    from waelib.utils import atomic_write_json, run_metadata
    results = {}
    for data_mode in ("tensor", "named"):
        for m in a.models.split(","):
            runs = [measure(m, a.image_size, named=data_mode == "named") for _ in range(a.repeats)]
            rec = results.setdefault(data_mode, {}).setdefault(m, {})
            for k in ("fit_to_first_step_s", "fit_to_first_step_including_data_s",
                      "import_waelib_train_s", "import_torch_s", "data_preparation_seconds"):
                vals = [r[k] for r in runs]
                rec[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
            rec["heavy_modules_loaded_before_first_step"] = runs[0]["heavy_modules_loaded"]
            f, d = rec["fit_to_first_step_s"], rec["data_preparation_seconds"]
            print(f"{data_mode:>6} {m:>10}: fit() -> first step {f['median']:.3f} s excluding data "
                  f"preparation (range {f['min']:.3f}-{f['max']:.3f}); data preparation "
                  f"{d['median']:.2f} s; import waelib.train "
                  f"{rec['import_waelib_train_s']['median']:.2f} s; heavy modules loaded: "
                  f"{runs[0]['heavy_modules_loaded']}", flush=True)
    prof = measure(a.models.split(",")[0], a.image_size, profile=True)["profile"]
    report = {"results": results, "image_size": a.image_size, "repeats": a.repeats,
              "modes": {"tensor": "fit(model, uint8 tensor built before fit)",
                        "named": "fit(model, 'synthfaces', n=10240): 8,192 training images "
                                 "prepared inside fit (timed and subtracted)"},
              "profile_first_model": prof, "loadavg": os.getloadavg(),
              "metadata": run_metadata(),
              "notes": "fresh interpreter per measurement; fit_to_first_step_s excludes data "
                       "preparation (tensor mode: the data are built before fit; named mode: the "
                       "time inside load_named_dataset/materialise is subtracted, and the "
                       "background import of torch._dynamo (waelib.train.runtime."
                       "warm_up_imports) overlaps it). The machine was shared with other jobs."}
    if a.json_path:
        atomic_write_json(a.json_path, report)
        print(f"wrote {a.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
