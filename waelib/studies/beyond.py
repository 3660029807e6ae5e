"""Beyond the thesis (notebook 06): the related seeds' models and claims, measured with the
thesis' tools. A resumable runner and its renderer, like :mod:`waelib.studies.claims_study`.

    python -m waelib.studies.beyond --profile default          # train + evaluate what is missing
    python -m waelib.studies.beyond --profile default --render # tables and figures only

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

import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

from .. import evaluate, metrics
from ..course import experiment
from ..expost import active_dimensions, fit_expost, latent_codes, normalized_absolute_correlation
from ..train.fastpath import step_seconds
from . import runner
from .beyond_plan import PROFILES, RunSpec, check_profile, load_results, plan, results_root, work_root
from .beyond_render import render

__all__ = ["PROFILES", "RunSpec", "plan", "run_all", "run_one", "evaluate_run", "latent_summary", "work_root",
           "load_results", "results_root", "check_profile", "main"]


def study_data(params, dataset: str) -> runner.StudyData:
    """This process' data of ``dataset`` for a profile's settings (made once per process;
    ``device="auto"`` resolved here, as the evaluation is recorded with it)."""
    params = dict(params, dataset=dataset)
    if params["device"] == "auto":
        params["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    return runner.worker_data([params, dataset], lambda: runner.StudyData(params, train_u8=True))


def latent_summary(model, images: torch.Tensor) -> Dict[str, Any]:
    """m_A and NAC of seed 004 Table 2 on the codes of ``images`` (N, 3, S, S).

    MaskAAE: m_A = gates above 1/2 and NAC over those dimensions; other models: m_A =
    :func:`waelib.expost.active_dimensions` and NAC over all non-constant dimensions.
    """
    codes = latent_codes(model, images)
    if hasattr(model, "mask"):
        active = model.mask().detach().cpu() > 0.5
        m_a = int(active.sum())
        nac = normalized_absolute_correlation(codes, active) if m_a >= 2 else None
        return {"m_active": m_a, "nac": nac, "mask": model.mask().detach().cpu().tolist()}
    return {"m_active": active_dimensions(codes), "nac": normalized_absolute_correlation(codes)}


def evaluate_run(model, data: runner.StudyData, seed: int, *,
                 keep: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Every number of notebook 06 for one trained model (see the module docstring).
    ``keep`` (a dict) receives the fitted :class:`waelib.expost.ExPostModel` as ``"expost"``."""
    params = data.params
    ev = experiment.evaluate_with(model, data, params, seed=seed, n_diversity_pairs=params["n_div"])
    n = min(params["n_fid"], len(data.train_u8))
    train_rec = evaluate.reconstruct(model, data.train_u8[:n])
    ev["reconstructions_train"] = {"n": n, "rmse": metrics.rmse(data.train_u8[:n], train_rec).mean().item()}
    t0 = time.perf_counter()
    ex = fit_expost(model, data.train_u8, n_components=params["gmm_components"], seed=seed,
                    max_codes=params.get("gmm_max_codes"))
    if keep is not None:
        keep["expost"] = ex
    ev["samples_gmm"] = evaluate.evaluate_samples(ex, params["n_fid"], extractor=data.extractor,
                                                  reference=data.reference, n_fid=params["n_fid"], seed=seed,
                                                  n_diversity_pairs=params["n_div"])
    ev["gmm"] = dict(ex.sampler.settings, seconds=time.perf_counter() - t0)
    ev["latent"] = latent_summary(model, data.data.eval_images)
    ev["real"] = data.real
    return ev


def run_one(spec: RunSpec, data: runner.StudyData, *, results: Path, work: Path,
            progress: bool = False, threads: Optional[int] = None) -> Dict[str, Any]:
    """Train and evaluate one run; write its small results; return its ``run.json``."""
    params = data.params
    out, res = Path(work) / spec.key, Path(results) / spec.key
    steps = params.get("latent_steps", params["steps"]) if spec.part == "latent" else params["steps"]
    cfg = experiment.train_config(spec.model, data.data, params, seed=spec.seed,
                                  out=out, latent_dim=spec.latent_dim, steps=steps, amp="none",
                                  progress=progress, sample_every=10**9, threads=threads)
    record: Dict[str, Any] = {"part": spec.part, "dataset": spec.dataset, "model": spec.model,
                              "latent_dim": spec.latent_dim, "seed": spec.seed}
    kept: Dict[str, Any] = {}

    def after(trained) -> None:
        if spec.seed == 0 and spec.part == "models":
            runner.save_figure_images(trained, data, res / "images.npz", seed=0)
            runner.save_figure_images(kept["expost"], data, res / "images_gmm.npz", seed=0)

    return runner.run_recorded(
        record, spec.model, data.data.train, cfg, out=out, res=res, key=spec.key,
        evaluate_run=lambda trained: evaluate_run(trained, data, spec.seed, keep=kept),
        eval_config=params, after=after)


def _beyond_task(task) -> Dict[str, Any]:
    """One run of notebook 06 in a worker (:func:`waelib.parallel.run_parallel`); the data of
    each data set are made once per process."""
    profile, spec, results, work, progress = task
    data = study_data(check_profile(profile), spec.dataset)
    print(f"[{time.strftime('%H:%M:%S')}] {spec.key} ...", flush=True)
    return run_one(spec, data, results=Path(results), work=Path(work), progress=progress,
                   threads=torch.get_num_threads())


def run_all(profile: str, *, out_dir: Optional[Path] = None, limit: Optional[int] = None,
            progress: bool = False, render_after: bool = True,
            figures_dir: Optional[Path] = None, jobs: Optional[int] = 1,
            threads: Optional[int] = None) -> List[Dict[str, Any]]:
    """Make every missing run of ``profile`` (at most ``limit``), ``jobs`` at a time with
    ``threads`` torch threads each (as :func:`waelib.studies.claims_study.run_study`), rendering
    after each run. ``out_dir``: see :func:`waelib.studies.beyond_plan.results_root`;
    ``figures_dir``: see :func:`waelib.studies.beyond_render.render`."""
    params = check_profile(profile)
    results, work = results_root(profile, out_dir), work_root(profile, out_dir)
    todo = [s for s in plan(profile) if not runner.is_done(results / s.key)]
    if limit is not None:
        todo = todo[:limit]

    def finished(task, rec: Dict[str, Any]) -> None:
        runner.report(task[1].key, rec)
        if render_after:
            render(profile, out_dir=out_dir, figures_dir=figures_dir)

    steps = {"models": params["steps"], "latent": params.get("latent_steps", params["steps"])}
    tasks = [(profile, spec, str(results), str(work), progress) for spec in todo]
    return runner.run_tasks(f"beyond ({profile})", tasks, _beyond_task, jobs=jobs, threads=threads,
                            device=str(params["device"]), on_result=finished,
                            cost=lambda t: steps[t[1].part] * step_seconds(t[1].model, params["image_size"]))


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = runner.study_parser("python -m waelib.studies.beyond", __doc__, profiles=PROFILES)
    a = p.parse_args(argv)

    def body(jobs: int) -> None:
        if not a.render:
            run_all(a.profile, limit=a.limit, jobs=jobs, threads=a.threads)
        render(a.profile)

    return runner.run_cli(p, a, body, check=lambda: check_profile(a.profile))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

