"""Beyond the thesis (notebook 06): the related seeds' models and claims, measured with the
thesis' tools. A resumable runner and its renderer, like :mod:`waelib.study`.

    python -m waelib.beyond --profile default          # train + evaluate what is missing
    python -m waelib.beyond --profile default --render # tables and figures only

Two parts, one protocol (every Fréchet distance of a data set at the same n, seeds paired,
means with 95 % t-intervals over seeds):

- **models** (seeds 003 and 004 on ``synthfaces``): WAE-GAN, WAE-MMD, RAE and IntroVAE.
  Seed 003's Table 1 (RMSE of train and test reconstructions) and its MS-SSIM diversity;
  seed 004's Table 3 form: reconstruction FCD and sample FCD with the prior AND with an
  ex-post 10-component full-covariance GMM fitted to the training codes
  (:mod:`waelib.expost`), plus the interpolation FCD.
- **latent** (seed 004, Figures 2/5 and Table 2): a WAE-GAN at latent sizes m on
  ``synthfaces_n8`` / ``synthfaces_n16`` (true dimension n known, :mod:`waelib.data`), and
  MaskAAE at the largest m: FCD against m, the active dimensions m_A and NAC.

Each run writes ``config.json``, ``log.jsonl`` (thinned), ``eval.json`` and ``run.json``
(status, wall times, hardware, date) under ``<results>/<dataset>/<model>_m<m>/seed<k>/``;
checkpoints stay in ``runs/``. A run with a ``run.json`` is skipped, so the work resumes in a
later session or on another machine. :func:`render` turns the results into
``figures/beyond_*.{md,csv,json,png,pdf}`` without training.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch

from . import config as C
from .utils import atomic_write_json, run_metadata

ROOT = Path(__file__).resolve().parent.parent
_COMMON = dict(batch_size=64, interp_steps=C.N_INTERPOLATION_STEPS, fid_features="synthfaces_classifier",
               data_root="../data", out_dir=None, figures_dir=None, device="cpu", gmm_components=10, gmm_max_codes=4096,
               models_dataset="synthfaces",
               models=("wae_gan", "wae_mmd", "rae", "intro_vae"))
#: The profiles of notebook 06. ``default`` is what ``make beyond`` and papermill run (about
#: 40 minutes on 2 CPU cores): the models part at the thesis notebooks' 2,000 steps, the latent
#: sweep (36 runs) at 1,000; ``smoke`` is the tests'; ``thesis`` the seeds' 128-px scale (GPU).
PROFILES: Dict[str, Dict[str, Any]] = {
    "smoke": dict(_COMMON, image_size=32, width=0.0625, batch_size=16, steps=3, n_train=256,
                  n_test=192, n_fid=64, n_interp=8, n_div=20, gmm_components=2,
                  models=("wae_gan", "rae", "intro_vae"), seeds=(0,), latent_seeds=(0,),
                  latent_datasets=("synthfaces_n8",), latent_sizes=(4, 8), mask_latent=8),
    "default": dict(_COMMON, image_size=32, width=0.125, steps=2000, latent_steps=1000,
                    n_train=8192, n_test=4096, n_fid=1024, n_interp=200, n_div=2000,
                    seeds=(0, 1, 2), latent_seeds=(0, 1, 2),
                    latent_datasets=("synthfaces_n8", "synthfaces_n16"),
                    latent_sizes=(4, 8, 16, 32, 64), mask_latent=64),
    "thesis": dict(_COMMON, image_size=128, width=1.0, batch_size=100, steps=20000, n_train=None,
                   n_test=None, n_fid=10000, n_interp=C.N_INTERPOLATION_PAIRS, n_div=10000,
                   fid_features="auto", device="auto", gmm_max_codes=None, seeds=(0, 1, 2),
                   latent_seeds=(0, 1, 2),
                   latent_datasets=("synthfaces_n8", "synthfaces_n16"),
                   latent_sizes=(4, 8, 16, 32, 64, 128), mask_latent=128),
}


@dataclass(frozen=True)
class RunSpec:
    """One run: ``part`` ("models" or "latent"), data set, model, latent size (None = the
    model's default) and training seed."""

    part: str
    dataset: str
    model: str
    latent_dim: Optional[int]
    seed: int

    @property
    def key(self) -> str:
        m = "" if self.latent_dim is None else f"_m{self.latent_dim}"
        return f"{self.dataset}/{self.model}{m}/seed{self.seed}"


def check_profile(profile: str) -> Dict[str, Any]:
    """The settings of ``profile`` (relative paths made absolute against ``notebooks/``, as
    every notebook profile's); a ValueError lists the valid profiles."""
    from .profiles import resolve_paths
    from .utils import check_choice
    return resolve_paths(dict(PROFILES[check_choice(profile, tuple(PROFILES), "beyond profile")]))


def plan(profile: str) -> List[RunSpec]:
    """Every run of a profile, seed-major within each part (pairs complete together)."""
    P = check_profile(profile)
    runs = [RunSpec("models", P["models_dataset"], m, None, s) for s in P["seeds"] for m in P["models"]]
    for s in P["latent_seeds"]:
        for ds in P["latent_datasets"]:
            runs += [RunSpec("latent", ds, "wae_gan", m, s) for m in P["latent_sizes"]]
            runs.append(RunSpec("latent", ds, "mask_aae", P["mask_latent"], s))
    return runs


def results_root(profile: str, out_dir: Optional[Path] = None) -> Path:
    """Where a profile's small results live: ``<out_dir>/beyond_results`` when ``out_dir`` is
    given; else ``results/beyond/default`` (committed) for ``default`` and
    ``runs/<profile>/beyond`` for the others."""
    if out_dir is not None:
        return Path(out_dir) / "beyond_results"
    return ROOT / "results" / "beyond" / profile if profile == "default" else ROOT / "runs" / profile / "beyond"


def work_root(profile: str, out_dir: Optional[Path] = None) -> Path:
    """Where the runs' checkpoints go (never committed): ``<out_dir or runs/<profile>>/beyond_work``."""
    return Path(out_dir or ROOT / "runs" / profile) / "beyond_work"


class _Data:
    """The images, feature extractor, reference statistics and real row of one data set."""

    def __init__(self, P: Mapping[str, Any], dataset: str):
        from . import evaluate as E
        from . import experiment as X
        from .data import to_uint8_tensor
        self.P = dict(P, dataset=dataset)
        if self.P["device"] == "auto":
            self.P["device"] = "cuda" if torch.cuda.is_available() else "cpu"
        self.data = X.load_data(self.P)
        self.train_u8 = to_uint8_tensor(self.data.train)
        self.extractor = X.feature_extractor(self.P)
        self.reference = X.reference_stats(self.data, self.extractor)
        self.real = E.evaluate_real(self.data.eval_images, extractor=self.extractor,
                                    reference=self.reference, n=self.P["n_fid"])


def latent_summary(model, images: torch.Tensor) -> Dict[str, Any]:
    """m_A and NAC of seed 004 Table 2 on the codes of ``images`` (N, 3, S, S).

    MaskAAE: m_A = gates above 1/2 and NAC over those dimensions; other models: m_A =
    :func:`waelib.expost.active_dimensions` and NAC over all non-constant dimensions.
    """
    from .experiment import latent_codes
    from .expost import active_dimensions, normalized_absolute_correlation
    codes = latent_codes(model, images)
    if hasattr(model, "mask"):
        active = model.mask().detach().cpu() > 0.5
        m_a = int(active.sum())
        nac = normalized_absolute_correlation(codes, active) if m_a >= 2 else None
        return {"m_active": m_a, "nac": nac, "mask": model.mask().detach().cpu().tolist()}
    return {"m_active": active_dimensions(codes), "nac": normalized_absolute_correlation(codes)}


def evaluate_run(model, data: _Data, seed: int, *, keep: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Every number of notebook 06 for one trained model (see the module docstring).
    ``keep`` (a dict) receives the fitted :class:`waelib.expost.ExPostModel` as ``"expost"``."""
    from . import evaluate as E
    from . import metrics as M
    from .expost import fit_expost
    P = data.P
    ev = E.evaluate_model(model, data.data.eval_images, extractor=data.extractor,
                          reference=data.reference, n_fid=P["n_fid"], n_interp_pairs=P["n_interp"],
                          steps=P["interp_steps"], n_diversity_pairs=P["n_div"], seed=seed)
    n = min(P["n_fid"], len(data.train_u8))
    train_rec = E.reconstruct(model, data.train_u8[:n])
    ev["reconstructions_train"] = {"n": n, "rmse": M.rmse(data.train_u8[:n], train_rec).mean().item()}
    t0 = time.perf_counter()
    ex = fit_expost(model, data.train_u8, n_components=P["gmm_components"], seed=seed,
                    max_codes=P.get("gmm_max_codes"))
    if keep is not None:
        keep["expost"] = ex
    ev["samples_gmm"] = E.evaluate_samples(ex, P["n_fid"], extractor=data.extractor,
                                           reference=data.reference, n_fid=P["n_fid"], seed=seed,
                                           n_diversity_pairs=P["n_div"])
    ev["gmm"] = dict(ex.sampler.settings, seconds=time.perf_counter() - t0)
    ev["latent"] = latent_summary(model, data.data.eval_images)
    ev["real"] = data.real
    return ev


def run_one(spec: RunSpec, data: _Data, *, results: Path, work: Path,
            progress: bool = False, threads: Optional[int] = None) -> Dict[str, Any]:
    """Train and evaluate one run; write its small results; return its ``run.json``."""
    from .study import _copy_run_files, save_figure_images, train_recorded

    P = data.P
    out, res = Path(work) / spec.key, Path(results) / spec.key
    steps = P.get("latent_steps", P["steps"]) if spec.part == "latent" else P["steps"]
    cfg = dict(model=spec.model, dataset=data.data.name, image_size=P["image_size"], width=P["width"],
               latent_dim=spec.latent_dim, batch_size=P["batch_size"], steps=steps, seed=spec.seed,
               device=P["device"], out=str(out), resume=(out / "checkpoint.pt").exists(),
               n=len(data.data.train), amp="none", progress=progress, sample_every=10**9,
               threads=threads)
    record: Dict[str, Any] = {"part": spec.part, "dataset": spec.dataset, "model": spec.model,
                              "latent_dim": spec.latent_dim, "seed": spec.seed}
    result = train_recorded(spec.model, data.data.train, cfg, record, out, res, spec.key)
    if result is None:
        return record
    t1 = time.perf_counter()
    trained = result.model.eval()
    kept: Dict[str, Any] = {}
    ev = evaluate_run(trained, data, spec.seed, keep=kept)
    record.update(status="done", eval_seconds=time.perf_counter() - t1,
                  finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    _copy_run_files(out, res)
    from .evaluate import save_evaluation
    save_evaluation(res, ev, config=dict(P))
    if spec.seed == 0 and spec.part == "models":
        save_figure_images(trained, data, res / "images.npz", seed=0)
        save_figure_images(kept["expost"], data, res / "images_gmm.npz", seed=0)
    atomic_write_json(res / "run.json", {**record, "metadata": run_metadata()})
    return record


_WORKER_DATA: Dict[str, _Data] = {}


def _beyond_task(task) -> Dict[str, Any]:
    """One run of notebook 06 in a worker (:func:`waelib.parallel.run_parallel`); the data of
    each data set are made once per process."""
    profile, spec, results, work, progress = task
    P = check_profile(profile)
    key = json.dumps([P, spec.dataset], sort_keys=True, default=str)
    if key not in _WORKER_DATA:
        _WORKER_DATA.clear()                       # one data set in memory at a time
        _WORKER_DATA[key] = _Data(P, spec.dataset)
    print(f"[{time.strftime('%H:%M:%S')}] {spec.key} ...", flush=True)
    return run_one(spec, _WORKER_DATA[key], results=Path(results), work=Path(work),
                   progress=progress, threads=torch.get_num_threads())


def run_all(profile: str, *, out_dir: Optional[Path] = None, limit: Optional[int] = None,
            progress: bool = False, render_after: bool = True,
            figures: Optional[Path] = None, jobs: Optional[int] = 1,
            threads: Optional[int] = None) -> List[Dict[str, Any]]:
    """Make every missing run of ``profile`` (at most ``limit``), ``jobs`` at a time with
    ``threads`` torch threads each (as :func:`waelib.study.run_study`), rendering after each run.
    ``out_dir``: see :func:`results_root`; ``figures``: see :func:`waelib.beyond_render.render`."""
    from .parallel import longest_first, run_parallel, split_cores

    P = check_profile(profile)
    results, work = results_root(profile, out_dir), work_root(profile, out_dir)
    todo = [s for s in plan(profile) if not (results / s.key / "run.json").is_file()]
    if limit is not None:
        todo = todo[:limit]
    jobs, threads = split_cores(len(todo), jobs, threads, device=str(P["device"]))
    print(f"beyond ({profile}): {len(todo)} run(s) to make, {jobs} at a time"
          + (f", {threads} thread(s) each" if threads else ""), flush=True)

    def finished(task, rec: Dict[str, Any]) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {task[1].key}: {rec['status']} (train "
              f"{rec.get('train_seconds', 0):.0f} s, eval {rec.get('eval_seconds', 0):.0f} s)", flush=True)
        if render_after:
            from .beyond_render import render
            render(profile, out_dir=out_dir, figures=figures)

    tasks = [(profile, spec, str(results), str(work), progress) for spec in todo]
    if jobs > 1:       # longest runs first, so that no core idles at the end (results unchanged)
        from .train.fastpath import step_seconds
        steps = {"models": P["steps"], "latent": P.get("latent_steps", P["steps"])}
        tasks = longest_first(tasks, lambda t: steps[t[1].part] * step_seconds(t[1].model, P["image_size"]))
    return [rec for _, rec in run_parallel(tasks, _beyond_task, jobs=jobs, threads=threads,
                                           on_result=finished)]


def load_results(profile: str, out_dir: Optional[Path] = None) -> Dict[str, Dict[str, Any]]:
    """``{run key: {"run": run.json, "eval": eval.json result or None}}`` of a profile."""
    root = results_root(profile, out_dir)
    out: Dict[str, Dict[str, Any]] = {}
    for run in sorted(root.glob("*/*/seed*/run.json")):
        d = run.parent
        ev = d / "eval.json"
        out[str(d.relative_to(root))] = {
            "run": json.loads(run.read_text()),
            "eval": json.loads(ev.read_text())["result"] if ev.is_file() else None}
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m waelib.beyond", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="default", help=f"one of {', '.join(PROFILES)} (default: default)")
    p.add_argument("--render", action="store_true", help="only re-render tables and figures")
    p.add_argument("--limit", type=int, default=None, help="make at most this many runs")
    p.add_argument("--jobs", default="auto",
                   help="runs side by side: 'auto' (one per core on a CPU, one on a GPU) or a number")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads per run (default: the cores divided among the jobs)")
    a = p.parse_args(argv)
    from .parallel import parse_jobs
    try:
        check_profile(a.profile)
        jobs = parse_jobs(a.jobs)
    except ValueError as e:
        p.error(str(e))
    from .beyond_render import render
    try:
        if not a.render:
            run_all(a.profile, limit=a.limit, jobs=jobs, threads=a.threads)
        render(a.profile)
    except KeyboardInterrupt as e:
        print(f"interrupted: {e}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["PROFILES", "RunSpec", "plan", "run_all", "run_one", "evaluate_run", "latent_summary",
           "load_results", "results_root", "check_profile", "main"]
