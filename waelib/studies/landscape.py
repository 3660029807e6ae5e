"""Seed 004's landscape of regularised auto-encoders at CPU scale: the resumable runner
(``docs/landscape.md`` is its pre-registration; :mod:`waelib.studies.landscape_plan` its plan).

    python -m waelib.studies.landscape                       # train + evaluate what is missing
    python -m waelib.studies.landscape --scale primary       # one scale
    python -m waelib.studies.landscape --render              # tables and figures only

Every arm of :data:`~waelib.studies.landscape_plan.ARMS` is trained at each scale and seed with
:func:`waelib.train.fit` through the shared runner (:mod:`waelib.studies.runner`), then evaluated
with its prior and with an ex-post 10-component GMM (:mod:`waelib.expost`): reconstruction and
sample FCD (as the thesis' tables), precision/recall and the nearest-training-neighbour distances
(:mod:`waelib.studies.landscape_eval`), and on synthfaces the attribute manipulation. A run with
a ``run.json`` is skipped, so the study resumes in a later session or on another machine.
"""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch

from .. import evaluate, metrics
from ..course import experiment
from ..data import load_dataset, thesis_splits
from ..expost import fit_expost
from ..train.fastpath import step_seconds
from ..utils import atomic_write_bytes
from . import runner
from .beyond import latent_summary
from .landscape_eval import evaluate_attributes, nearest_indices, sampler_measures
from .landscape_plan import ATTRIBUTES, PROFILES, RunSpec, arm, check_profile, plan, results_root, work_root

__all__ = ["LandscapeData", "landscape_data", "evaluate_run", "run_one", "run_all", "main"]


class LandscapeData:
    """One scale's data, made once per worker process: the study data (:class:`runner.StudyData`,
    with the training images as uint8), the FCD features of the reference, evaluation and training
    images, and, where the data set has attributes, the evaluation images' true attributes."""

    def __init__(self, params: Mapping[str, Any]):
        self.study = runner.StudyData(params, train_u8=True)
        ext = self.study.extractor
        self.ref_feats = metrics.compute_features(self.study.data.reference_images, ext, batch_size=256, device="cpu")
        self.test_feats = metrics.compute_features(self.study.data.eval_images, ext, batch_size=256, device="cpu")
        self.train_feats = metrics.compute_features(self.study.train_u8, ext, batch_size=256, device="cpu")
        self.labels, self.attr_names = eval_labels(params, len(self.study.data.test)) if params["attributes"] \
            else (None, None)

    @property
    def params(self) -> Dict[str, Any]:
        return self.study.params


def eval_labels(params: Mapping[str, Any], n_test: int):
    """The true attributes (N_eval, A) of the evaluation images (the second half of the first
    ``n_test`` held-out images, :class:`waelib.course.experiment.ExperimentData`) and their names."""
    options = {}
    if params["dataset"].startswith("synthfaces") and params.get("n_train") is not None:
        options["n"] = experiment.synthfaces_size(int(params["n_train"]), int(params["n_test"]))
    test = load_dataset(params["dataset"], root=params.get("data_root", "data"),
                        split=thesis_splits(params["dataset"])[1], image_size=params["image_size"], **options)
    positions = np.arange(n_test // 2, n_test)
    return test.labels(positions)["attr"], list(test.attr_names)


def landscape_data(params: Mapping[str, Any]) -> LandscapeData:
    """This process' :class:`LandscapeData` of a scale (``device="auto"`` resolved first)."""
    params = dict(params)
    if params["device"] == "auto":
        params["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    return runner.worker_data(["landscape", params], lambda: LandscapeData(params))


def evaluate_run(model, data: LandscapeData, seed: int, *, keep: Optional[Dict[str, Any]] = None
                 ) -> Dict[str, Any]:
    """Every number of the study for one trained model: the thesis-style evaluation with its
    prior (``samples``, ``reconstructions``, ``interpolations``), the GMM's samples
    (``samples_gmm``), precision/recall and memorisation of both samplers (``pr``), the latent
    summary, the attribute effects (synthfaces) and the real-vs-real row. ``keep`` receives the
    ex-post model and the attribute images."""
    params, study = data.params, data.study
    ev = experiment.evaluate_with(model, study, params, seed=seed, n_diversity_pairs=params["n_div"])
    ex = fit_expost(model, study.train_u8, n_components=params["gmm_components"], seed=seed,
                    max_codes=params.get("gmm_max_codes"))
    ev["samples_gmm"] = evaluate.evaluate_samples(ex, params["n_fid"], extractor=study.extractor,
                                                  reference=study.reference, n_fid=params["n_fid"], seed=seed,
                                                  n_diversity_pairs=params["n_div"])
    ev["gmm"] = dict(ex.sampler.settings)
    feats = dict(extractor=study.extractor, ref_feats=data.ref_feats, test_feats=data.test_feats,
                 train_feats=data.train_feats, seed=seed)
    ev["pr"] = {"prior": sampler_measures(model, params["n_fid"], **feats),
                "gmm": sampler_measures(ex, params["n_fid"], **feats)}
    ev["latent"] = latent_summary(model, study.data.eval_images)
    if data.labels is not None:
        attrs = evaluate_attributes(model, study.data.eval_images, data.labels, data.attr_names, study.extractor,
                                    ATTRIBUTES, n_paths=params["n_attr_paths"], steps=params["attr_steps"])
        if keep is not None:
            keep["attribute_images"] = attrs.pop("images")
        else:
            attrs.pop("images")
        ev["attributes"] = attrs
    ev["real"] = study.real
    if keep is not None:
        keep["expost"] = ex
    return ev


@torch.no_grad()
def save_neighbour_images(sampler, data: LandscapeData, path: Path, *, seed: int, n: int = 4, k: int = 4) -> Path:
    """Figure 17's images: ``n`` samples and their ``k`` nearest training images (in the FCD's
    features), uint8, compressed."""
    samples = evaluate.generate(sampler, n, seed=seed)
    feats = metrics.compute_features(samples, data.study.extractor, batch_size=256, device="cpu")
    idx = nearest_indices(feats, data.train_feats, k=k)
    u8 = (samples.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return save_npz(path, samples=u8, neighbours=data.study.train_u8[idx.flatten()].reshape(
        n, k, *data.study.train_u8.shape[1:]).numpy())


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    """``arrays`` as one compressed .npz, written atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def run_one(spec: RunSpec, data: LandscapeData, *, results: Path, work: Path, progress: bool = False,
            threads: Optional[int] = None) -> Dict[str, Any]:
    """Train and evaluate one run; write its small results; return its ``run.json``."""
    params, a = data.params, arm(spec.arm)
    out, res = Path(work) / spec.key, Path(results) / spec.key
    train = data.study.data.train
    if a.n_train is not None:
        train = torch.utils.data.Subset(train, range(min(a.n_train, len(train))))
    cfg = experiment.train_config(a.model, data.study.data, params, seed=spec.seed, out=out,
                                  latent_dim=params["latent_dim"], steps=params["steps"], amp="none", compile=False,
                                  progress=progress, sample_every=10**9, threads=threads, n=len(train),
                                  loss_options=dict(a.loss_options), model_overrides=dict(a.model_overrides))
    record: Dict[str, Any] = {"scale": spec.scale, "arm": spec.arm, "model": a.model, "seed": spec.seed,
                              "loss_options": dict(a.loss_options), "model_overrides": dict(a.model_overrides),
                              "n_train": len(train)}
    kept: Dict[str, Any] = {}

    def after(trained) -> None:
        if "attribute_images" in kept:
            save_npz(res / "attributes.npz", **kept["attribute_images"])
        if spec.seed == 0:
            runner.save_figure_images(trained, data.study, res / "images.npz", seed=0)
            runner.save_figure_images(kept["expost"], data.study, res / "images_gmm.npz", seed=0)
            save_neighbour_images(trained, data, res / "neighbours.npz", seed=0)
            save_neighbour_images(kept["expost"], data, res / "neighbours_gmm.npz", seed=0)

    return runner.run_recorded(record, a.model, train, cfg, out=out, res=res, key=spec.key,
                               evaluate_run=lambda trained: evaluate_run(trained, data, spec.seed, keep=kept),
                               eval_config=params, after=after)


def _landscape_task(task) -> Dict[str, Any]:
    """One run in a worker (:func:`waelib.parallel.run_parallel`)."""
    profile, spec, results, work, progress = task
    data = landscape_data(check_profile(profile)[spec.scale])
    print(f"[{time.strftime('%H:%M:%S')}] {spec.key} ...", flush=True)
    return run_one(spec, data, results=Path(results), work=Path(work), progress=progress,
                   threads=torch.get_num_threads())


def run_all(profile: str = "default", *, scales: Optional[Sequence[str]] = None,
            arms: Optional[Sequence[str]] = None, out_dir: Optional[Path] = None,
            limit: Optional[int] = None, progress: bool = False, jobs: Optional[int] = 1,
            threads: Optional[int] = None) -> List[Dict[str, Any]]:
    """Make every missing run of ``profile`` (at most ``limit``; the plan's order, so that the
    pairs of a seed complete together; only ``arms`` if given), ``jobs`` at a time with
    ``threads`` threads each; ``out_dir``: see :func:`waelib.studies.landscape_plan.results_root`."""
    params = check_profile(profile)
    results, work = results_root(profile, out_dir), work_root(profile, out_dir)
    todo = [s for s in plan(profile, tuple(scales) if scales else None, tuple(arms) if arms else None)
            if not runner.is_done(results / s.key)]
    if limit is not None:
        todo = todo[:limit]


    tasks = [(profile, spec, str(results), str(work), progress) for spec in todo]
    device = str(next(iter(params.values()))["device"])
    blocks = {b: i for i, b in enumerate(dict.fromkeys(_block(s) for s in todo))}

    def cost(t) -> float:
        """Longest first within a block (a scale's seed, or its capacity sweep); blocks in plan
        order, so that the pairs of one seed complete before the next seed starts."""
        return -1e6 * blocks[_block(t[1])] + step_seconds(arm(t[1].arm).model, 32)

    return runner.run_tasks(f"landscape ({profile})", tasks, _landscape_task, jobs=jobs, threads=threads,
                            device=device, on_result=lambda task, rec: runner.report(task[1].key, rec), cost=cost)


def _block(spec: RunSpec):
    return spec.scale, spec.seed, spec.arm.startswith("flexae_c")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = runner.study_parser("python -m waelib.studies.landscape", __doc__, profiles=PROFILES)
    p.add_argument("--scale", action="append", default=None, help="primary or second (default: both)")
    p.add_argument("--readme", action="store_true", help="also rewrite the README's landscape block")
    a = p.parse_args(argv)

    def check() -> None:
        params = check_profile(a.profile)
        for s in a.scale or ():
            if s not in params:
                raise ValueError(f"unknown scale {s!r}; valid choices: {', '.join(params)}")

    def body(jobs: int) -> None:
        if not a.render:
            run_all(a.profile, scales=a.scale, limit=a.limit, jobs=jobs, threads=a.threads)
        # deferred: the renderer imports matplotlib; a training-only call does not need it
        from .landscape_render import render, update_readme
        done = render(a.profile)
        if a.readme:
            update_readme(done)

    return runner.run_cli(p, a, body, check)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
