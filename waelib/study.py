"""The pre-registered claims study (docs/claims.md): a resumable runner and its renderer.

    python -m waelib.study --scale primary --scale second     # train + evaluate what is missing
    python -m waelib.study --render                           # tables and figures only
    python -m waelib.study --scale thesis                     # the thesis' scale, on a GPU

Each run (scale, model, seed) trains with :func:`waelib.train.fit` into
``runs/claims/<scale>/<model>/seed<k>/`` (checkpoints stay there, never committed), is evaluated
with :func:`waelib.evaluate.evaluate_model`, and writes its small results to
``results/claims/<scale>/<model>/seed<k>/``: ``config.json``, ``log.jsonl``, ``eval.json`` and
``run.json`` (status, wall times, hardware). A run whose ``run.json`` exists is skipped, so the
study resumes after an interruption, in a later session or on another machine. A run that
diverges is recorded as such and never repeated (docs/claims.md: every run is kept).

:func:`render` turns ``results/claims/`` into ``figures/claims.{md,csv,json}``, the forest plot
and the thesis tables over seeds, without training; the tests re-render and compare them with
the committed files.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from . import claims as CL
from . import config as C
from .utils import atomic_write_json, run_metadata

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "claims"
WORK = ROOT / "runs" / "claims"
FIGURES = ROOT / "figures"

_WAES5 = {"wae_gan": range(5), "wae_resnet": range(5)}
#: The scales of docs/claims.md. ``seeds``: model -> seeds (the others get ``default_seeds``).
SCALES: Dict[str, Dict[str, Any]] = {
    "primary": dict(dataset="synthfaces", image_size=64, width=0.125, batch_size=64, steps=2000,
                    epochs=None, n_train=16384, n_test=8192, n_fid=2048, n_interp=500,
                    interp_steps=C.N_INTERPOLATION_STEPS, default_seeds=range(3), seeds=_WAES5,
                    device="cpu", data_root="data", fid_features="synthfaces_classifier"),
    "second": dict(dataset="synthfaces", image_size=32, width=0.125, batch_size=64, steps=2000,
                   epochs=None, n_train=8192, n_test=4096, n_fid=1024, n_interp=500,
                   interp_steps=C.N_INTERPOLATION_STEPS, default_seeds=range(3), seeds={},
                   device="cpu", data_root="data", fid_features="synthfaces_classifier"),
    "thesis": dict(dataset="auto", image_size=C.IMAGE_SIZE, width=1.0, batch_size=C.BATCH_SIZE,
                   steps=None, epochs=C.EPOCHS, n_train=None, n_test=None,
                   n_fid=C.N_RANDOM_SAMPLES, n_interp=C.N_INTERPOLATION_PAIRS,
                   interp_steps=C.N_INTERPOLATION_STEPS, default_seeds=range(3), seeds=_WAES5,
                   device="auto", data_root="data", fid_features="auto"),
}
#: The order runs are made in: the primary comparison first, so that a partial study already
#: answers the central claim.
MODEL_ORDER = ("wae_gan", "wae_resnet", "vae", "vae_resnet", "wae_mmd")
#: Seed 0 of each model keeps a few images for Figures 4.1-4.3 (small, committed).
FIGURE_SEED = 0


def plan(scales: Sequence[str], models: Sequence[str] = MODEL_ORDER) -> List[Tuple[str, str, int]]:
    """Every (scale, model, seed) of the study, seed-major so that pairs complete together."""
    out = []
    for scale in scales:
        spec = SCALES[scale]
        runs = [(model, seed) for model in models
                for seed in spec["seeds"].get(model, spec["default_seeds"])]
        out += [(scale, m, s) for m, s in sorted(runs, key=lambda r: (r[1], models.index(r[0])))]
    return out


def result_dir(scale: str, model: str, seed: int, root: Path = RESULTS) -> Path:
    return Path(root) / scale / model / f"seed{seed}"


def is_done(scale: str, model: str, seed: int, root: Path = RESULTS) -> bool:
    """A run is done when its ``run.json`` exists (finished or diverged)."""
    return (result_dir(scale, model, seed, root) / "run.json").is_file()


def _params(scale: str) -> Dict[str, Any]:
    spec = dict(SCALES[scale])
    if spec["dataset"] == "auto":
        from .profiles import celeba_available
        spec["dataset"] = "celeba" if celeba_available(spec["data_root"]) else "synthfaces"
    return spec


class _ScaleData:
    """Data, feature extractor, reference statistics and the real row of one scale (made once)."""

    def __init__(self, scale: str):
        from . import evaluate as E
        from . import experiment as X
        self.scale, self.P = scale, _params(scale)
        self.data = X.load_data(self.P)
        self.extractor = X.feature_extractor(self.P)
        self.reference = X.reference_stats(self.data, self.extractor)
        self.real = E.evaluate_real(self.data.eval_images, extractor=self.extractor,
                                    reference=self.reference, n=self.P["n_fid"])


def run_one(scale: str, model: str, seed: int, data: _ScaleData, *, results: Path = RESULTS,
            work: Path = WORK, progress: bool = False, overrides: Optional[Mapping[str, Any]] = None,
            tag: Optional[str] = None) -> Dict[str, Any]:
    """Train and evaluate one run; write its small results; return its ``run.json``.

    ``overrides``: extra :class:`waelib.train.TrainConfig` fields (the λ sensitivity runs);
    ``tag`` replaces ``seed<k>`` in the run's folder names."""
    from . import evaluate as E

    P = data.P
    leaf = tag or f"seed{seed}"
    out, res = Path(work) / scale / model / leaf, Path(results) / scale / model / leaf
    cfg = dict(model=model, dataset=data.data.name, image_size=P["image_size"], width=P["width"],
               batch_size=P["batch_size"], steps=P["steps"], epochs=P["epochs"], seed=seed,
               device=P["device"], out=str(out), resume=(out / "checkpoint.pt").exists(),
               n=len(data.data.train),
               amp="none", progress=progress, sample_every=10**9, **dict(overrides or {}))
    record: Dict[str, Any] = {"scale": scale, "model": model, "seed": seed}
    result = train_recorded(model, data.data.train, cfg, record, out, res,
                            f"{scale}/{model}/seed{seed}")
    if result is None:
        return record
    t1 = time.perf_counter()
    trained = result.model.eval()
    ev = E.evaluate_model(trained, data.data.eval_images, extractor=data.extractor,
                          reference=data.reference, n_fid=P["n_fid"], n_interp_pairs=P["n_interp"],
                          steps=P["interp_steps"], seed=seed)
    record.update(status="done", eval_seconds=time.perf_counter() - t1,
                  finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    _copy_run_files(out, res)
    E.save_evaluation(res, ev, config={"scale": scale, **{k: v for k, v in P.items()
                                                          if k not in ("seeds", "default_seeds")}})
    if seed == FIGURE_SEED and tag is None:
        save_figure_images(trained, data, res / "images.npz", seed=seed)
    atomic_write_json(res / "run.json", {**record, "metadata": run_metadata()})
    return record


def train_recorded(model: str, train: Any, cfg: Mapping[str, Any], record: Dict[str, Any],
                   out: Path, res: Path, key: str):
    """:func:`waelib.train.fit` with a study run's record keeping, shared by :func:`run_one` and
    :func:`waelib.beyond.run_one`.

    Fills ``record`` (status, start time, ``train_seconds``). A run that diverges is recorded as
    such (its files and ``run.json`` written to ``res``) and None is returned: it is kept, never
    repeated. An interrupted run raises KeyboardInterrupt after its checkpoint in ``out`` is safe.
    Returns the :class:`waelib.train.FitResult` otherwise.
    """
    from .train import NonFiniteLossError, fit

    record.update(status="running", started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  threads=int(cfg.get("threads") or torch.get_num_threads()))
    t0 = time.perf_counter()
    try:
        result = fit(model, train, dict(cfg))
    except NonFiniteLossError as err:
        record.update(status="diverged", error=str(err), train_seconds=time.perf_counter() - t0)
        _copy_run_files(out, res)
        atomic_write_json(res / "run.json", {**record, "metadata": run_metadata()})
        return None
    record["train_seconds"] = time.perf_counter() - t0
    if getattr(result, "interrupted", False):
        raise KeyboardInterrupt(f"run {key} was interrupted; its checkpoint is in {out}, "
                                f"and the next call resumes it")
    return result


#: The committed copy of a run's log keeps every LOG_STRIDE-th step (and the last): the curves
#: stay readable and 40 runs' logs stay small.
LOG_STRIDE = 10


def _copy_run_files(src: Path, dst: Path) -> None:
    """config.json as is; log.jsonl thinned to every :data:`LOG_STRIDE`-th step."""
    from .utils import atomic_write_text

    dst.mkdir(parents=True, exist_ok=True)
    if (src / "config.json").is_file():
        shutil.copyfile(src / "config.json", dst / "config.json")
    if (src / "log.jsonl").is_file():
        lines = (src / "log.jsonl").read_text().splitlines()
        keep = [ln for i, ln in enumerate(lines) if i % LOG_STRIDE == LOG_STRIDE - 1 or i == len(lines) - 1]
        atomic_write_text(dst / "log.jsonl", "\n".join(keep) + ("\n" if keep else ""))


@torch.no_grad()
def save_figure_images(model, data: _ScaleData, path: Path, *, seed: int = 0,
                       n_samples: int = 8, n_recon: int = 6, n_rows: int = 3) -> Path:
    """A few uint8 images for Figures 4.1-4.3 (samples, originals + reconstructions,
    interpolation rows), compressed, so that the figures re-render without a checkpoint."""
    import io

    from . import evaluate as E
    from .utils import atomic_write_bytes

    def u8(x: torch.Tensor) -> np.ndarray:
        return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()

    images = data.data.eval_images
    ia, ib = E.interpolation_pairs(len(images), n_rows, seed=seed)
    buf = io.BytesIO()
    np.savez_compressed(buf, samples=u8(E.generate(model, n_samples, seed=seed)),
                        originals=images[:n_recon].numpy(),
                        reconstructions=u8(E.reconstruct(model, images[:n_recon])),
                        interpolations=u8(E.interpolation_rows(model, images[ia], images[ib],
                                                               data.P["interp_steps"])))
    return atomic_write_bytes(path, buf.getvalue())


_WORKER_DATA: Dict[str, _ScaleData] = {}


def _scale_data(scale: str, results: Path) -> _ScaleData:
    """This process' :class:`_ScaleData` of ``scale`` (made once per process); writes the
    scale's ``real.json`` when it is missing."""
    key = json.dumps([scale, _params(scale)], sort_keys=True, default=str)
    if key not in _WORKER_DATA:
        _WORKER_DATA.clear()                       # one scale's data in memory at a time
        _WORKER_DATA[key] = _ScaleData(scale)
        real = Path(results) / scale / "real.json"
        if not real.is_file():
            atomic_write_json(real, {"result": _WORKER_DATA[key].real, "metadata": run_metadata()})
    return _WORKER_DATA[key]


def _study_task(task: Tuple[str, str, int, str, str, bool, Dict[str, Any]]) -> Dict[str, Any]:
    """One run of the study in a worker (:func:`waelib.parallel.run_parallel`)."""
    scale, model, seed, results, work, progress, overrides = task
    print(f"[{time.strftime('%H:%M:%S')}] {scale}/{model}/seed{seed} ...", flush=True)
    return run_one(scale, model, seed, _scale_data(scale, Path(results)), results=Path(results),
                   work=Path(work), progress=progress,
                   overrides={"threads": torch.get_num_threads(), **overrides})


def _run_cost(scale: str, model: str) -> float:
    """Relative cost of a run of the study: steps x the measured step time of the model."""
    from .train.fastpath import step_seconds
    spec = SCALES[scale]
    return (spec["steps"] or 1) * step_seconds(model, spec["image_size"])


def run_study(scales: Sequence[str], *, models: Sequence[str] = MODEL_ORDER,
              results: Path = RESULTS, work: Path = WORK, limit: Optional[int] = None,
              progress: bool = False, figures: Optional[Path] = None,
              jobs: Optional[int] = 1, threads: Optional[int] = None,
              train_overrides: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """Make every missing run of ``scales`` (at most ``limit``), ``jobs`` at a time with
    ``threads`` torch threads each (None: :func:`waelib.parallel.default_jobs`; ``jobs=1``,
    ``threads=None``: here, with torch's current threads); after each run, re-render the tables
    and figures into ``figures`` (None: don't). Interrupted runs resume on the next call.
    ``train_overrides``: further TrainConfig fields for every run (e.g. ``compile=False``)."""
    from .parallel import longest_first, run_parallel, split_cores

    todo = [r for r in plan(scales, models) if not is_done(*r, root=results)][:limit]
    jobs, threads = split_cores(len(todo), jobs, threads,
                                device=str(SCALES[scales[0]]["device"]) if scales else "cpu")
    print(f"claims study: {len(todo)} run(s) to make, {jobs} at a time"
          + (f", {threads} thread(s) each" if threads else ""), flush=True)
    tasks = [(scale, model, seed, str(results), str(work), progress, dict(train_overrides or {}))
             for scale, model, seed in todo]
    if jobs > 1:       # longest runs first, so that no core idles at the end (results unchanged)
        tasks = longest_first(tasks, lambda t: _run_cost(t[0], t[1]))

    def finished(task, rec: Dict[str, Any]) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {task[0]}/{task[1]}/seed{task[2]}: {rec['status']} "
              f"(train {rec.get('train_seconds', 0):.0f} s, eval {rec.get('eval_seconds', 0):.0f} s)",
              flush=True)
        if figures is not None:
            render(Path(results), Path(figures))

    return [rec for _, rec in run_parallel(tasks, _study_task, jobs=jobs, threads=threads,
                                           on_result=finished)]


#: The λ-calibration check of docs/deviations.md (row 7): the two WAEs at the second scale,
#: seed 0, with the reconstruction weight of the official code's balance (0.8 at 32 px), the
#: plain 0.05 used before (penalty 16x heavier) and one value in between.
SENSITIVITY = dict(scale="second", models=("wae_gan", "wae_mmd"), recon_scales=(0.05, 0.2, 0.8), seed=0)
SENSITIVITY_RESULTS = ROOT / "results" / "lambda_sensitivity"


def run_sensitivity(results: Path = SENSITIVITY_RESULTS, work: Path = WORK / "lambda",
                    figures: Optional[Path] = FIGURES) -> List[Dict[str, Any]]:
    """Make the missing λ-sensitivity runs (resumable like the study) and render their table."""
    spec, done = SENSITIVITY, []
    data: Optional[_ScaleData] = None
    for model in spec["models"]:
        for rs in spec["recon_scales"]:
            tag = f"recon_scale{rs:g}"
            if (Path(results) / spec["scale"] / model / tag / "run.json").is_file():
                continue
            data = data or _ScaleData(spec["scale"])
            done.append(run_one(spec["scale"], model, spec["seed"], data, results=results, work=work,
                                overrides={"recon_scale": rs}, tag=tag))
    if figures is not None:
        render_sensitivity(results, figures)
    return done


def render_sensitivity(results: Path = SENSITIVITY_RESULTS, figures: Path = FIGURES) -> List[Path]:
    """``figures/lambda_sensitivity.{md,csv,json}`` from the sensitivity runs."""
    from . import figures as F
    from .losses import recon_scale_for

    spec, rows = SENSITIVITY, []
    size = SCALES[spec["scale"]]["image_size"]
    for ev in sorted(Path(results).glob(f"{spec['scale']}/*/recon_scale*/eval.json")):
        r = json.loads(ev.read_text())
        res, cfg = r["result"], json.loads((ev.parent / "config.json").read_text())
        rs = float(ev.parent.name[len("recon_scale"):])
        rows.append({"model": C.THESIS_MODEL_LABELS[ev.parent.parent.name], "recon_scale": rs,
                     "penalty_weight_vs_official": recon_scale_for(size) / rs,
                     "sample_fcd": res["samples"]["fid"]["value"],
                     "recon_fcd": res["reconstructions"]["fid"]["value"],
                     "rmse": res["reconstructions"]["rmse"], "sample_sharpness": res["samples"]["sharpness"],
                     "n_fid": res["n_fid"], "steps": cfg.get("config", cfg).get("steps")})
    if not rows:
        return []
    return [Path(p) for p in F.save_table(
        rows, "lambda_sensitivity", figures, provenance=False,
        caption=f"WAE objectives at {size} px with three reconstruction weights (seed "
                f"{spec['seed']}): penalty_weight_vs_official = 1 is the official code's balance "
                f"(recon_scale_for({size}) = {recon_scale_for(size):g}); 0.05 was used before.",
        meta={"design": {k: v for k, v in SCALES[spec["scale"]].items() if k != "seeds"},
              "results": "results/lambda_sensitivity/"}).values()]


# --------------------------------------------------------------------------------------
# Reading results back
# --------------------------------------------------------------------------------------
def load_results(scale: str, root: Path = RESULTS) -> Dict[str, Dict[int, Dict[str, Any]]]:
    """``{model: {seed: eval result}}`` of the finished runs of one scale."""
    out: Dict[str, Dict[int, Dict[str, Any]]] = {}
    for ev in sorted(Path(root, scale).glob("*/seed*/eval.json")):
        model, seed = ev.parent.parent.name, int(ev.parent.name[4:])
        out.setdefault(model, {})[seed] = json.loads(ev.read_text())["result"]
    return out


def run_records(root: Path = RESULTS) -> Iterator[Dict[str, Any]]:
    for p in sorted(Path(root).glob("*/*/seed*/run.json")):
        yield json.loads(p.read_text())


# --------------------------------------------------------------------------------------
# Rendering: tables and figures from results/claims/ (no training)
# --------------------------------------------------------------------------------------
SCALE_LABELS = {"primary": "64 px", "second": "32 px", "thesis": "thesis scale"}
SCALE_COLORS = {"primary": "#222222", "second": "#888888", "thesis": "#1f77b4"}
VERDICT_MARK = {CL.SUPPORTED: "supported", CL.CONTRADICTED: "CONTRADICTED",
                CL.INCONCLUSIVE: "inconclusive"}


def claims_rows(root: Path = RESULTS, scales: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """:func:`waelib.claims.analyse` of every scale that has results (for the claims table)."""
    rows = []
    for scale in scales or tuple(SCALES):
        res = load_results(scale, root)
        if res:
            rows += CL.analyse(res, scale)
    return rows


def _table_meta(root: Path, scale: str) -> Dict[str, Any]:
    recs = [r for r in run_records(root) if r.get("scale") == scale]
    unknown = {k: "?" for k in ("cpu_name", "cpu_count", "cpu_capability")}
    hardware = sorted({"{cpu_name} ({cpu_count} cores, {cpu_capability})".format(
        **{**unknown, **r.get("metadata", {}).get("hardware", {})}) for r in recs})
    return {"scale": scale, "design": {k: (list(v) if isinstance(v, range) else v)
                                       for k, v in SCALES[scale].items() if k != "seeds"},
            "seeds": {m: list(s) for m, s in SCALES[scale]["seeds"].items()},
            "runs": len(recs), "diverged": [f"{r['model']}/seed{r['seed']}" for r in recs
                                            if r.get("status") == "diverged"],
            "train_seconds_total": round(sum(r.get("train_seconds", 0) for r in recs), 1),
            "hardware": hardware, "pre_registration": "docs/claims.md",
            "results": f"results/claims/{scale}/"}


def forest_plot(rows: Sequence[Mapping[str, Any]]):
    """Paired differences (mean and 95 % interval) of every claim, one panel per metric kind,
    one colour per scale; the shaded side of zero is the side the thesis claims."""
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("ci_lo") is not None]
    kinds = [("fid", "FID / FCD difference (A − B)"), ("sharpness", "sharpness difference (A − B)")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * max(4, len(rows) / 2) + 1.2), squeeze=False)
    for ax, (kind, xlabel) in zip(axes[0], kinds):
        sub = [r for r in rows if r["metric"].endswith(kind)]
        labels = []
        for i, r in enumerate(sub):
            y = len(sub) - 1 - i
            ax.errorbar(r["mean_diff"], y, xerr=[[r["mean_diff"] - r["ci_lo"]], [r["ci_hi"] - r["mean_diff"]]],
                        fmt="o", color=SCALE_COLORS.get(r["scale"], "k"), capsize=3)
            labels.append((y, f"{r['claim']} ({SCALE_LABELS.get(r['scale'], r['scale'])}): "
                              f"{VERDICT_MARK[r['verdict']]}"))
        ax.axvline(0, color="k", lw=0.8)
        lo, hi = ax.get_xlim()
        side = -1 if kind == "fid" else +1
        ax.axvspan(lo if side < 0 else 0, 0 if side < 0 else hi, color="#2ca02c", alpha=0.08, lw=0)
        ax.set_xlim(lo, hi)
        ax.set_yticks([y for y, _ in labels], [t for _, t in labels], fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_title("thesis claims the shaded side", fontsize=9)
    fig.tight_layout()
    return fig


def _image_rows(root: Path, scale: str, key: str) -> Dict[str, np.ndarray]:
    out = {}
    for model in C.MODEL_NAMES:
        p = result_dir(scale, model, FIGURE_SEED, root) / "images.npz"
        if p.is_file():
            with np.load(p) as z:
                out[model] = z[key] if key != "recon_pairs" else np.concatenate(
                    [z["originals"], z["reconstructions"]])
    return out


def figure_grids(root: Path, scale: str, key: str, nrow: int):
    """Figures 4.1-4.3 from the committed images of seed 0: one row of panels per model."""
    import matplotlib.pyplot as plt

    from .figures import show_images

    imgs = _image_rows(root, scale, key)
    if not imgs:
        return None
    rows_per_model = 2 if key == "recon_pairs" else 1
    fig, axes = plt.subplots(len(imgs), 1, squeeze=False,
                             figsize=(nrow * 0.9, 1.1 * len(imgs) * rows_per_model + 0.3))
    for ax, (model, x) in zip(axes[:, 0], imgs.items()):
        x = torch.from_numpy(x.reshape(-1, *x.shape[-3:])).float() / 255
        show_images(ax, x, nrow=nrow)
        ax.set_title(C.THESIS_MODEL_LABELS[model], fontsize=9, color=C.MODEL_COLORS[model], loc="left")
    fig.tight_layout()
    return fig


def render(root: Path = RESULTS, figures_dir: Path = FIGURES, *, primary: str = "primary") -> List[Path]:
    """Write the claims table, the forest plot, Tables 4.3-4.5 over seeds and Figures 4.1-4.3
    of the ``primary`` scale from ``root`` (no training). Returns the written paths."""
    import matplotlib.pyplot as plt

    from . import figures as F

    F.use_style()
    root, figures_dir = Path(root), Path(figures_dir)
    written: List[Path] = []
    rows = claims_rows(root)
    if not rows:
        return written
    scales = sorted({r["scale"] for r in rows}, key=list(SCALES).index)
    cols = ["claim", "scale", "source", "statement", "thesis_a", "thesis_b", "n_seeds", "mean_diff",
            "ci_lo", "ci_hi", "mde", "p", "p_holm", "verdict", "fragile"]
    meta = {s: _table_meta(root, s) for s in scales}
    written += F.save_table([{c: r.get(c) for c in cols} for r in rows], "claims", figures_dir,
                            caption="The thesis' claims as paired differences A − B over training "
                                    "seeds: mean, 95 % t-interval, smallest detectable difference "
                                    "(80 % power), paired t-test p (Holm-adjusted over one scale) "
                                    "and the pre-registered verdict (docs/claims.md).",
                            meta=meta, columns=cols, provenance=False,
                            notes=["FID here is the Fréchet classifier distance (FCD) on synthfaces; "
                                   "its values are comparable only within one scale.",
                                   "thesis_a / thesis_b: the thesis' values for A and B (CelebA, "
                                   "128 px, one run each)."]).values()
    fig = forest_plot(rows)
    written += F.save_figure(fig, "claims_forest", figures_dir, close=True)
    res = load_results(primary, root)
    if res:
        real_path = root / primary / "real.json"
        real = json.loads(real_path.read_text())["result"] if real_path.is_file() else None
        for table in CL.TABLE_METRICS:
            rows = CL.aggregate_table(table, res)
            if real is not None and table != "table4_3_interpolation_sharpness":
                metric = CL.TABLE_METRICS[table]
                rows.append({"model": "real test images", metric[0]: real["fid"]["value"],
                             metric[1]: real["sharpness"], metric[2]: real["laplacian_sharpness"]})
            written += F.save_table(rows, f"claims_{table}", figures_dir,
                                    caption=f"Thesis {table[5:8].replace('_', '.')} over seeds at the "
                                            f"{SCALE_LABELS[primary]} scale: mean and 95 % interval "
                                            f"half-width (_ci) over n_seeds training seeds; every "
                                            f"Fréchet distance at n = {SCALES[primary]['n_fid']}, "
                                            f"the real row included (its floor).",
                                    meta=meta.get(primary, {}), provenance=False).values()
        for name, key, nrow in (("fig4_1_interpolations", "interpolations", C.N_INTERPOLATION_STEPS),
                                ("fig4_2_random_samples", "samples", 8),
                                ("fig4_3_reconstructions", "recon_pairs", 6)):
            fig = figure_grids(root, primary, key, nrow)
            if fig is not None:
                written += F.save_figure(fig, f"claims_{name}", figures_dir, formats=("png",))
                plt.close(fig)
    return [Path(p) for p in written]


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m waelib.study", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--scale", "--profile", dest="scale", action="append", choices=list(SCALES),
                   help="scale(s) to run (repeatable; --profile is a synonym); none: only render")
    p.add_argument("--model", action="append", choices=list(MODEL_ORDER), help="restrict to these models")
    p.add_argument("--limit", type=int, default=None, help="make at most this many runs")
    p.add_argument("--results", default=str(RESULTS), help="results folder")
    p.add_argument("--work", default=str(WORK), help="folder for checkpoints (not committed)")
    p.add_argument("--figures", default=str(FIGURES), help="where tables and figures go")
    p.add_argument("--render", action="store_true", help="only render tables and figures")
    p.add_argument("--dry-run", action="store_true", help="list the runs still to make")
    p.add_argument("--sensitivity", action="store_true",
                   help="make the lambda-sensitivity runs (docs/deviations.md row 7) first")
    p.add_argument("--jobs", default="auto",
                   help="runs side by side: 'auto' (one per core on a CPU, one on a GPU) or a number")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads per run (default: the cores divided among the jobs)")
    a = p.parse_args(argv)
    from .parallel import parse_jobs
    try:
        jobs = parse_jobs(a.jobs)
    except ValueError as e:
        p.error(str(e))
    try:
        if a.scale and a.dry_run:
            for r in plan(a.scale, tuple(a.model or MODEL_ORDER)):
                print(*r, "done" if is_done(*r, root=Path(a.results)) else "to do")
            return 0
        if a.sensitivity and not a.render:
            run_sensitivity(work=Path(a.work) / "lambda", figures=Path(a.figures))
        if a.scale and not a.render:
            run_study(a.scale, models=tuple(a.model or MODEL_ORDER), results=Path(a.results),
                      work=Path(a.work), limit=a.limit, figures=Path(a.figures), jobs=jobs,
                      threads=a.threads)
        for path in render(Path(a.results), Path(a.figures)):
            print(f"wrote {path}")
    except KeyboardInterrupt as err:
        print(f"interrupted: {err}" if str(err) else "interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
