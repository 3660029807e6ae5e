"""Why WAE-ResNet loses at CPU scale (issue 20; pre-registered in ``docs/claims.md``): the
resumable runner and its command line.

    python -m waelib.studies.why                  # train + evaluate what is missing, then render
    python -m waelib.studies.why --dry-run        # the runs and stages still to make
    python -m waelib.studies.why --render         # tables and figures only

Each run (arm, seed) of the plan (:mod:`waelib.studies.why_plan`) is ONE training, made in
stages: successive :func:`waelib.train.fit` calls on the same work folder with ``steps`` = each
budget of the arm (500, 1,000, 2,000, 4,000, 8,000 for the curve), each resuming the last
checkpoint exactly, so a run evaluated at five budgets costs one run. After every stage the model
is evaluated (the thesis' numbers of :func:`waelib.evaluate.evaluate_model` and the code analysis
of :func:`waelib.studies.why_eval.analyse_codes`) into ``eval_step0500.json`` and so on, beside
the run's ``config.json`` and thinned ``log.jsonl`` in ``results/why/<arm>/seed<k>/``. The
``run.json`` (the shared runner's record, :mod:`waelib.studies.runner`) is written after the last
stage only; an interrupted run resumes at its first missing stage (mid-stage, from its
checkpoint). A stage that diverges ends the run (recorded, never repeated); its earlier stages
are kept.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import numpy as np
import torch

from .. import evaluate
from ..course import experiment
from ..data import load_dataset, thesis_splits
from ..registry import build_model
from ..train.fastpath import step_seconds
from ..utils import atomic_write_json, run_metadata
from . import runner
from .landscape import save_npz
from .why_eval import analyse_codes
from .why_plan import (
    PROFILES,
    RunSpec,
    arm,
    check_profile,
    model_overrides,
    plan,
    results_root,
    settings,
    stage_name,
    stage_steps,
    stages,
    work_root,
)

__all__ = ["WhyData", "eval_targets", "why_data", "completed_stages", "evaluate_stage", "parameter_counts",
           "run_stage", "run_one", "run_all", "main"]


def eval_targets(params: Mapping[str, Any], n_test: int) -> Dict[str, Any]:
    """The true labels of the evaluation images (the second half of the first ``n_test``
    held-out images, as :func:`waelib.studies.landscape.eval_labels`): ``attrs`` (N_eval, A) 0/1,
    ``factors`` (N_eval, F) and their names."""
    options = {}
    if params.get("n_train") is not None:
        options["n"] = experiment.synthfaces_size(int(params["n_train"]), int(params["n_test"]))
    test = load_dataset(params["dataset"], root=params.get("data_root", "data"),
                        split=thesis_splits(params["dataset"])[1], image_size=params["image_size"], **options)
    labels = test.labels(np.arange(n_test // 2, n_test))
    return {"attrs": labels["attr"], "factors": labels["factors"], "attr_names": list(test.attr_names),
            "factor_names": list(test.factor_names)}


class WhyData:
    """The study's data, made once per worker process: the study data (:class:`runner.StudyData`)
    and the evaluation images' true labels (:func:`eval_targets`)."""

    def __init__(self, params: Mapping[str, Any]):
        self.study = runner.StudyData(params)
        self.targets = eval_targets(params, len(self.study.data.test))

    @property
    def params(self) -> Dict[str, Any]:
        return self.study.params

    @property
    def true_hue(self) -> torch.Tensor:
        """The evaluation images' true ``bg_hue`` (N_eval,), turns."""
        return self.targets["factors"][:, self.targets["factor_names"].index("bg_hue")]


def why_data(params: Mapping[str, Any]) -> WhyData:
    """This process' :class:`WhyData` of the settings ``params``."""
    return runner.worker_data(["why", dict(params)], lambda: WhyData(params))


def completed_stages(res: Path) -> Set[int]:
    """The budgets whose evaluation file exists in a run's results folder ``res``."""
    return {s for s in (stage_steps(p.name) for p in Path(res).glob("eval_step*.json")) if s is not None}


def evaluate_stage(model, data: WhyData, seed: int) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """One stage's evaluation of a trained model (eval mode): the thesis' numbers
    (:func:`waelib.course.experiment.evaluate_with`) with the code analysis under ``"codes"``;
    and the code analysis' images (no-teeth originals and reconstructions, uint8)."""
    params = data.params
    ev = experiment.evaluate_with(model, data.study, params, seed=seed, n_diversity_pairs=params["n_div"])
    codes = analyse_codes(model, data.study.data.eval_images, data.targets["attrs"], data.targets["attr_names"],
                          data.study.extractor, seed=seed, true_hue=data.true_hue, n_keep=params["n_keep"])
    images = codes.pop("images")
    ev["codes"] = codes
    return ev, images


def parameter_counts(model: str, params: Mapping[str, Any], overrides: Mapping[str, Any]) -> Dict[str, int]:
    """Trainable parameters of the encoder, decoder and (GAN penalty) discriminator of a run."""
    with torch.device("meta"):
        m = build_model(model, image_size=params["image_size"], width=params["width"],
                        latent_dim=params.get("latent_dim"), **dict(overrides))
    parts = {"encoder": m.encoder, "decoder": m.decoder, "discriminator": getattr(m, "discriminator", None)}
    return {k: sum(p.numel() for p in v.parameters() if p.requires_grad) for k, v in parts.items() if v is not None}


def run_stage(spec: RunSpec, data: WhyData, steps: int, record: Mapping[str, Any], *, out: Path, res: Path,
              progress: bool = False, threads: Optional[int] = None) -> Optional[Dict[str, Any]]:
    """Train run ``spec`` to ``steps`` in total (resuming its checkpoint in ``out``), evaluate it
    and write the stage's files into ``res``: the run's files, the images (the figure seed) and
    last ``eval_step<steps>.json``. Returns the stage's record, or None when the stage diverged
    (then ``run.json`` is written with the run's ``record``: the run is done)."""
    params, a = data.params, arm(spec.arm)
    cfg = experiment.train_config(a.model, data.study.data, params, seed=spec.seed, out=out, steps=steps,
                                  amp="none", compile=False, progress=progress, sample_every=10**9, threads=threads,
                                  model_overrides=dict(record["model_overrides"]))
    rec = {**record, "stage": steps, "stages_done": sorted(completed_stages(res))}
    result = runner.train_recorded(a.model, data.study.data.train, cfg, rec, out, res, f"{spec.key}@{steps}")
    if result is None:
        return None
    t1 = time.perf_counter()
    ev, images = evaluate_stage(result.model.eval(), data, spec.seed)
    stage = {"steps": steps, "step": result.step, "trained_steps": result.trained_steps,
             "train_seconds": rec["train_seconds"], "eval_seconds": time.perf_counter() - t1,
             "threads": rec["threads"]}
    runner.copy_run_files(out, res)
    if spec.seed == params["figure_seed"]:
        save_npz(res / f"codes_step{steps:04d}.npz", **images)
    evaluate.save_evaluation(res, ev, config={"stage": stage, "settings": record["settings"]},
                             name=stage_name(steps))
    return stage


def run_one(spec: RunSpec, data: WhyData, *, results: Path, work: Path, plan_settings: Mapping[str, Any],
            progress: bool = False, threads: Optional[int] = None) -> Dict[str, Any]:
    """Every missing stage of one run, then its ``run.json``; returns the run's record (status
    ``done``, or ``diverged`` at the stage that diverged). ``plan_settings``: the profile's settings
    as planned (relative paths), stored with every stage."""
    params, a = data.params, arm(spec.arm)
    out, res = Path(work) / spec.key, Path(results) / spec.key
    overrides = model_overrides(a, params)
    record: Dict[str, Any] = {"arm": spec.arm, "model": a.model, "seed": spec.seed, "role": a.role,
                              "stages": list(stages(a, params)), "model_overrides": overrides,
                              "n_parameters": parameter_counts(a.model, params, overrides),
                              "settings": dict(plan_settings)}
    for steps in stages(a, params):
        if steps in completed_stages(res):
            continue
        print(f"[{time.strftime('%H:%M:%S')}] {spec.key}: stage {steps} steps ...", flush=True)
        if run_stage(spec, data, steps, record, out=out, res=res, progress=progress, threads=threads) is None:
            return json.loads((res / runner.RUN_RECORD_NAME).read_text())
    done = [json.loads((res / stage_name(s)).read_text())["config"]["stage"] for s in stages(a, params)]
    record.update(status="done", train_seconds=sum(s["train_seconds"] for s in done),
                  eval_seconds=sum(s["eval_seconds"] for s in done),
                  stage_seconds={str(s["steps"]): s["train_seconds"] for s in done},
                  finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    runner.write_record(res, record)
    return record


def _why_task(task) -> Dict[str, Any]:
    """One run in a worker (:func:`waelib.parallel.run_parallel`)."""
    profile, spec, results, work, progress = task
    params = check_profile(profile)
    data = why_data(params)
    real = Path(results) / "real.json"
    if not real.is_file():
        atomic_write_json(real, {"result": data.study.real, "metadata": run_metadata()})
    return run_one(spec, data, results=Path(results), work=Path(work), plan_settings=settings(profile),
                   progress=progress, threads=torch.get_num_threads())


def _cost(task) -> float:
    """Relative length of a run: its last budget times the model's measured step time (the
    control's wider encoder counted twice)."""
    spec, params = task[1], check_profile(task[0])
    a = arm(spec.arm)
    return stages(a, params)[-1] * step_seconds(a.model, params["image_size"]) * (2.0 if a.role == "control" else 1.0)


def run_all(profile: str = "default", *, arms: Optional[Sequence[str]] = None, out_dir: Optional[Path] = None,
            limit: Optional[int] = None, progress: bool = False, jobs: Optional[int] = 1,
            threads: Optional[int] = None) -> List[Dict[str, Any]]:
    """Make every missing run of ``profile`` (at most ``limit``; the plan's seed-major order;
    only ``arms`` if given), ``jobs`` at a time with ``threads`` threads each; ``out_dir``: see
    :func:`waelib.studies.why_plan.results_root`."""
    params = check_profile(profile)
    results, work = results_root(profile, out_dir), work_root(profile, out_dir)
    todo = [s for s in plan(profile, arms) if not runner.is_done(results / s.key)]
    if limit is not None:
        todo = todo[:limit]
    tasks = [(profile, spec, str(results), str(work), progress) for spec in todo]
    return runner.run_tasks(f"why ({profile})", tasks, _why_task, jobs=jobs, threads=threads,
                            device=str(params["device"]), cost=_cost,
                            on_result=lambda task, rec: runner.report(task[1].key, rec))


def _dry_run(profile: str, arms: Optional[Sequence[str]], out_dir: Optional[Path]) -> None:
    params, results = check_profile(profile), results_root(profile, out_dir)
    for spec in plan(profile, arms):
        res = results / spec.key
        missing = [s for s in stages(arm(spec.arm), params) if s not in completed_stages(res)]
        print(spec.key, "done" if runner.is_done(res) else f"to do: stages {missing}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = runner.study_parser("python -m waelib.studies.why", __doc__, profiles=PROFILES)
    p.add_argument("--arm", action="append", default=None, help="restrict to these arms (repeatable)")
    p.add_argument("--out-dir", default=None, help="results, work and figures under this folder instead")
    p.add_argument("--readme", action="store_true", help="also rewrite the README's why-summary block")
    p.add_argument("--dry-run", action="store_true", help="list the runs and stages still to make")
    a = p.parse_args(argv)
    out_dir = Path(a.out_dir) if a.out_dir else None

    def check() -> None:
        settings(a.profile)
        for k in a.arm or ():
            arm(k)

    def body(jobs: int) -> None:
        if a.dry_run:
            _dry_run(a.profile, a.arm, out_dir)
            return
        if not a.render:
            run_all(a.profile, arms=a.arm, out_dir=out_dir, limit=a.limit, jobs=jobs, threads=a.threads)
        # deferred: the renderer imports matplotlib; a training-only call does not need it
        from .why_render import render, update_readme
        done = render(a.profile, out_dir=out_dir)
        for path in done["written"]:
            print(f"wrote {path}")
        if a.readme:
            print(f"wrote {update_readme(done)}")

    return runner.run_cli(p, a, body, check)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
