"""The pre-registered claims study (docs/claims.md): its resumable runner and command line.

    python -m waelib.studies.claims_study --scale primary --scale second  # train + evaluate what is missing
    python -m waelib.studies.claims_study --render                        # tables and figures only
    python -m waelib.studies.claims_study --scale thesis                  # the thesis' scale, on a GPU

Each run (scale, model, seed) of the design (:mod:`waelib.studies.claims_design`) trains with
:func:`waelib.train.fit` into ``runs/claims/<scale>/<model>/seed<k>/`` (checkpoints stay there,
never committed), is evaluated with :func:`waelib.evaluate.evaluate_model`, and writes its small
results to ``results/claims/<scale>/<model>/seed<k>/`` through the shared runner
(:mod:`waelib.studies.runner`): ``config.json``, ``log.jsonl``, ``eval.json`` and ``run.json``.
A run whose ``run.json`` exists is skipped, so the study resumes after an interruption, in a
later session or on another machine. A run that diverges is recorded as such and never repeated
(docs/claims.md: every run is kept). :func:`waelib.studies.claims_render.render` turns the
results into ``figures/claims.{md,csv,json}``, the forest plot and the thesis tables over seeds.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from ..course import experiment
from ..train.fastpath import step_seconds
from ..utils import atomic_write_json, run_metadata
from . import runner
from .claims_design import (
    FIGURE_SEED,
    FIGURES,
    MODEL_ORDER,
    RESULTS,
    SCALES,
    SENSITIVITY,
    SENSITIVITY_RESULTS,
    WORK,
    plan,
    result_dir,
    scale_params,
)
from .claims_render import render, render_sensitivity

__all__ = ["scale_data", "run_one", "run_study", "run_sensitivity", "is_done", "main"]


def is_done(scale: str, model: str, seed: int, root: Path = RESULTS) -> bool:
    """A run is done when its ``run.json`` exists (finished or diverged)."""
    return runner.is_done(result_dir(scale, model, seed, root))


def scale_data(scale: str, results: Optional[Path] = None) -> runner.StudyData:
    """This process' data of ``scale`` (made once per process); with ``results``, writes the
    scale's ``real.json`` there when it is missing."""
    params = scale_params(scale)
    data = runner.worker_data([scale, params], lambda: runner.StudyData(params))
    real = Path(results) / scale / "real.json" if results is not None else None
    if real is not None and not real.is_file():
        atomic_write_json(real, {"result": data.real, "metadata": run_metadata()})
    return data


def run_one(scale: str, model: str, seed: int, data: runner.StudyData, *, results: Path = RESULTS,
            work: Path = WORK, progress: bool = False, overrides: Optional[Mapping[str, Any]] = None,
            tag: Optional[str] = None) -> Dict[str, Any]:
    """Train and evaluate one run; write its small results; return its ``run.json``.

    ``overrides``: extra :class:`waelib.train.TrainConfig` fields (the λ sensitivity runs);
    ``tag`` replaces ``seed<k>`` in the run's folder names."""
    params = data.params
    leaf = tag or f"seed{seed}"
    out, res = Path(work) / scale / model / leaf, Path(results) / scale / model / leaf
    cfg = experiment.train_config(model, data.data, params, seed=seed, out=out, amp="none",
                                  progress=progress, sample_every=10**9, **dict(overrides or {}))
    record: Dict[str, Any] = {"scale": scale, "model": model, "seed": seed}

    def after(trained) -> None:
        if seed == FIGURE_SEED and tag is None:
            runner.save_figure_images(trained, data, res / "images.npz", seed=seed)

    return runner.run_recorded(
        record, model, data.data.train, cfg, out=out, res=res, key=f"{scale}/{model}/seed{seed}",
        evaluate_run=lambda trained: experiment.evaluate_with(trained, data, params, seed=seed),
        eval_config={"scale": scale, **{k: v for k, v in params.items() if k not in ("seeds", "default_seeds")}},
        after=after)


def _run_cost(task: Tuple[Any, ...]) -> float:
    """Relative cost of a run of the study: steps x the measured step time of the model."""
    spec = SCALES[task[0]]
    return (spec["steps"] or 1) * step_seconds(task[1], spec["image_size"])


def _study_task(task: Tuple[str, str, int, str, str, bool, Dict[str, Any]]) -> Dict[str, Any]:
    """One run of the study in a worker (:func:`waelib.parallel.run_parallel`)."""
    scale, model, seed, results, work, progress, overrides = task
    print(f"[{time.strftime('%H:%M:%S')}] {scale}/{model}/seed{seed} ...", flush=True)
    return run_one(scale, model, seed, scale_data(scale, Path(results)), results=Path(results),
                   work=Path(work), progress=progress,
                   overrides={"threads": torch.get_num_threads(), **overrides})


def run_study(scales: Sequence[str], *, models: Sequence[str] = MODEL_ORDER,
              results: Path = RESULTS, work: Path = WORK, limit: Optional[int] = None,
              progress: bool = False, figures_dir: Optional[Path] = None,
              jobs: Optional[int] = 1, threads: Optional[int] = None,
              train_overrides: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """Make every missing run of ``scales`` (at most ``limit``), ``jobs`` at a time with
    ``threads`` torch threads each (None: :func:`waelib.parallel.default_jobs`; ``jobs=1``,
    ``threads=None``: here, with torch's current threads); after each run, re-render the tables
    and figures into ``figures_dir`` (None: don't). Interrupted runs resume on the next call.
    ``train_overrides``: further TrainConfig fields for every run (e.g. ``compile=False``)."""
    todo = [r for r in plan(scales, models) if not is_done(*r, root=results)][:limit]
    tasks = [(scale, model, seed, str(results), str(work), progress, dict(train_overrides or {}))
             for scale, model, seed in todo]

    def finished(task, rec: Dict[str, Any]) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {task[0]}/{task[1]}/seed{task[2]}: {rec['status']} "
              f"(train {rec.get('train_seconds', 0):.0f} s, eval {rec.get('eval_seconds', 0):.0f} s)",
              flush=True)
        if figures_dir is not None:
            render(Path(results), Path(figures_dir))

    device = str(SCALES[scales[0]]["device"]) if scales else "cpu"
    return runner.run_tasks("claims study", tasks, _study_task, jobs=jobs, threads=threads,
                            device=device, cost=_run_cost, on_result=finished)


def run_sensitivity(results: Path = SENSITIVITY_RESULTS, work: Path = WORK / "lambda",
                    figures_dir: Optional[Path] = FIGURES) -> List[Dict[str, Any]]:
    """Make the missing λ-sensitivity runs (resumable like the study) and render their table."""
    spec, done = SENSITIVITY, []
    for model in spec["models"]:
        for rs in spec["recon_scales"]:
            tag = f"recon_scale{rs:g}"
            if runner.is_done(Path(results) / spec["scale"] / model / tag):
                continue
            done.append(run_one(spec["scale"], model, spec["seed"], scale_data(spec["scale"]),
                                results=results, work=work, overrides={"recon_scale": rs}, tag=tag))
    if figures_dir is not None:
        render_sensitivity(results, figures_dir)
    return done


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = runner.study_parser("python -m waelib.studies.claims_study", __doc__)
    p.add_argument("--scale", dest="scale", action="append", choices=list(SCALES),
                   help="scale(s) to run (repeatable); none: only render. ('profile' is the notebooks' "
                        "smoke/default/colab/thesis; a study has scales)")
    p.add_argument("--model", action="append", choices=list(MODEL_ORDER), help="restrict to these models")
    p.add_argument("--results", default=str(RESULTS), help="results folder")
    p.add_argument("--work", default=str(WORK), help="folder for checkpoints (not committed)")
    p.add_argument("--figures", default=str(FIGURES), help="where tables and figures go")
    p.add_argument("--dry-run", action="store_true", help="list the runs still to make")
    p.add_argument("--sensitivity", action="store_true",
                   help="make the lambda-sensitivity runs (docs/deviations.md row 7) first")
    a = p.parse_args(argv)

    def body(jobs: int) -> None:
        if a.scale and a.dry_run:
            for r in plan(a.scale, tuple(a.model or MODEL_ORDER)):
                print(*r, "done" if is_done(*r, root=Path(a.results)) else "to do")
            return
        if a.sensitivity and not a.render:
            run_sensitivity(work=Path(a.work) / "lambda", figures_dir=Path(a.figures))
        if a.scale and not a.render:
            run_study(a.scale, models=tuple(a.model or MODEL_ORDER), results=Path(a.results),
                      work=Path(a.work), limit=a.limit, figures_dir=Path(a.figures), jobs=jobs,
                      threads=a.threads)
        for path in render(Path(a.results), Path(a.figures)):
            print(f"wrote {path}")

    return runner.run_cli(p, a, body)


if __name__ == "__main__":
    sys.exit(main())
