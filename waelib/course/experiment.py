"""The thesis experiment as the notebooks run it: data -> train -> evaluate -> tables.

Notebooks 03 (VAE, VAE-ResNet), 04 (WAE, WAE-MMD, WAE-ResNet) and 05 (tables and figures)
call these few functions with their resolved parameters ``params`` (:mod:`waelib.course.profiles`), so the
pipeline is written, tested and reused once:

- :func:`load_data` -- the train set and the held-out images of a profile;
- :func:`train_model` -- :func:`waelib.train.fit` into ``<out_dir>/<model>``;
- :func:`feature_extractor` / :func:`reference_stats` -- what FID is measured with, and against;
- :func:`evaluate_run` -- :func:`waelib.evaluate.evaluate_model`, saved as ``eval.json``;
- :func:`prepare` / :func:`train_and_evaluate` -- the set-up and the train-and-evaluate loop of
  notebooks 03 and 04, one call each;
- :func:`baseline_rows` / :func:`check_beats_baseline` -- trained vs. untrained models;
- :func:`train_config` / :func:`evaluation_counts` -- a run's configuration and evaluation counts,
  built once for the notebooks and the studies;
- :func:`parameter_rows`, :func:`markdown_rows` -- small shared helpers;
- :func:`load_trained` / :func:`collect_evaluations` -- what notebook 05 reads back.

The held-out images are split in two disjoint halves: the first is the FID reference set, the
second provides the images that are reconstructed and interpolated and the "real images" row
of each table. Every FID is therefore measured against images the model never saw and that are
not the inputs of the reconstructions (docs/deviations.md, row 17).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch

from .. import evaluate, metrics, registry
from ..data import load_dataset, thesis_n_train, thesis_splits, to_uint8_tensor
from ..models import count_parameters
from ..parallel import longest_first, run_parallel, split_cores
from ..registry import build_model, model_spec
from ..train import fit, load_run
from ..train.checkpoint import CHECKPOINT_NAME, CONFIG_NAME, LOG_NAME
from ..train.config import REUSE_KEYS
from ..train.fastpath import step_seconds
from ..utils import check_choice, display_path, resolve_device, seed_everything
from .figures import markdown_rows  # noqa: F401 - re-exported: experiment.markdown_rows, the notebooks' name for it
from .profiles import FID_FEATURE_CHOICES


@dataclass
class ExperimentData:
    """The images of one profile.

    Attributes:
        train: the training Dataset (items (image (3, S, S) in [0, 1], target)).
        test: uint8 (N_test, 3, S, S) held-out images, CPU.
        name: data set name; image_size: S.
    """

    train: Any
    test: torch.Tensor
    name: str
    image_size: int

    @property
    def reference_images(self) -> torch.Tensor:
        """First half of the held-out images: the FID reference set."""
        return self.test[: len(self.test) // 2]

    @property
    def eval_images(self) -> torch.Tensor:
        """Second half: reconstructed, interpolated and the "real images" row."""
        return self.test[len(self.test) // 2:]


def load_data(params: Mapping[str, Any]) -> ExperimentData:
    """Train set and held-out images for parameters ``params`` (dataset, data_root, image_size,
    n_train, n_test; None = the whole split).

    synthfaces is generated just large enough that the thesis' random 80/20 split holds at
    least ``n_train`` training and ``n_test`` held-out images; both are then cut to size.
    Other data sets are cut to size.
    """
    name, size, root = params["dataset"], int(params["image_size"]), params.get("data_root", "data")
    n_train, n_test = params.get("n_train"), params.get("n_test")
    train_split, test_split = thesis_splits(name)
    options: Dict[str, Any] = {}
    if name.startswith("synthfaces") and n_train is not None:   # also synthfaces_n8 / _n16
        options["n"] = synthfaces_size(int(n_train), int(n_test or max(2, n_train // 4)))
    train = load_dataset(name, root=root, split=train_split, image_size=size, **options)
    test = load_dataset(name, root=root, split=test_split, image_size=size, **options)
    if n_train is not None and len(train) > n_train:
        train = torch.utils.data.Subset(train, range(int(n_train)))
    if n_test is not None and len(test) > n_test:
        test = torch.utils.data.Subset(test, range(int(n_test)))
    return ExperimentData(train=train, test=to_uint8_tensor(test), name=name, image_size=size)


def synthfaces_size(n_train: int, n_test: int) -> int:
    """The smallest synthfaces size n whose thesis split (``data.thesis_n_train(n)`` training
    images, the rest held out) has at least ``n_train`` and ``n_test`` images."""
    n = max(n_train + n_test, 2)
    while thesis_n_train(n) < n_train or n - thesis_n_train(n) < n_test:
        n = max(n + 1, int(n * 1.01))
    return n


def fid_sample_count(params: Mapping[str, Any], data: "ExperimentData") -> int:
    """The one n of every Fréchet distance of a profile (samples, reconstructions,
    interpolations, the real row): ``params["n_fid"]``, capped by the held-out evaluation images."""
    n = params.get("n_fid") or min(params["n_samples"], params["n_recon"])
    return int(min(n, len(data.eval_images)))


def run_dir(params: Mapping[str, Any], model: str) -> Path:
    """``<out_dir>/<model>``: where a model's run (config, log, checkpoint, eval) lives."""
    return Path(params["out_dir"]) / model


def train_config(model: str, data: "ExperimentData", params: Mapping[str, Any], *, seed: int,
                 out: Path, **extra) -> Dict[str, Any]:
    """The :class:`waelib.train.TrainConfig` fields of a run of ``model`` on ``data`` with the
    schedule of ``params`` (``width``, ``batch_size``, ``latent_dim``, ``epochs``/``steps``,
    ``device``) and ``seed``, into ``out`` (resumed when it holds a checkpoint); ``extra``:
    further fields. The one place the notebooks and the studies build a run's configuration."""
    out = Path(out)
    cfg = dict(model=model, dataset=data.name, image_size=data.image_size, width=params["width"],
               latent_dim=params.get("latent_dim"), batch_size=params["batch_size"],
               epochs=params.get("epochs"), steps=params.get("steps"), seed=seed,
               device=params.get("device", "auto"), out=str(out),
               resume=(out / CHECKPOINT_NAME).exists(), n=len(data.train))
    cfg.update(extra)
    return cfg


def train_model(model: str, data: ExperimentData, params: Mapping[str, Any], *, retrain: bool = False,
                **overrides):
    """Train ``model`` on ``data.train`` with the schedule of ``params`` (:func:`waelib.train.fit`).

    An existing run in :func:`run_dir` with the same settings is reused: resumed if it was
    interrupted, returned at once if it is complete. A run made with other settings (say another
    ``width``, or more ``steps`` than asked for now) is refused with the two ways out:
    ``retrain=True`` (papermill: ``-p retrain True``) trains again in place, another ``out_dir``
    keeps both. ``overrides`` are further :class:`waelib.train.TrainConfig` fields.
    """
    model_spec(model)
    out = run_dir(params, model)
    if retrain and out.exists():
        for f in (CHECKPOINT_NAME, LOG_NAME, evaluate.EVAL_NAME, CONFIG_NAME):
            (out / f).unlink(missing_ok=True)
    cfg = train_config(model, data, params, seed=params["seed"], out=out,
                       tensorboard=bool(params.get("tensorboard", False)))
    cfg.update(overrides)
    check_reusable_run(out, cfg)
    return fit(model, data.train, cfg)


def check_reusable_run(out: Path, cfg: Mapping[str, Any]) -> None:
    """Refuse, with the way out, to reuse a run in ``out`` whose settings differ from ``cfg``.

    ``steps``/``epochs`` count too: a longer earlier run would otherwise be reused silently
    where a shorter one was asked for.
    """
    path = Path(out) / CONFIG_NAME
    if not (Path(out) / CHECKPOINT_NAME).exists() or not path.is_file():
        return
    old = json.loads(path.read_text()).get("config", {})
    differ = {k: (old.get(k), cfg.get(k)) for k in REUSE_KEYS
              if k in old and cfg.get(k) is not None and old.get(k) != cfg.get(k)}
    if differ:
        detail = ", ".join(f"{k}={a!r} there, {b!r} now" for k, (a, b) in differ.items())
        raise ValueError(f"{out} holds a run with other settings ({detail}). Train again in place "
                         f"with retrain=True (papermill: -p retrain True), or keep both by "
                         f"choosing another out_dir (-p out_dir ...).")


def feature_extractor(params: Mapping[str, Any]) -> metrics.FeatureExtractor:
    """The FID feature net for ``params["fid_features"]``.

    ``"auto"``: pytorch-fid's Inception when its weights file is present AND the profile
    measures at least 2048 images per Fréchet distance (``n_fid``; Inception's feature
    dimension), else the data set's offline attribute classifier (a Fréchet *classifier*
    distance, labelled FCD, 128-d). So a table does not silently turn into mostly sample-size
    bias when the weights appear (docs/deviations.md). Any name of
    :func:`waelib.metrics.load_feature_extractor` is accepted too.
    """
    choice = check_choice(params.get("fid_features", "auto"), FID_FEATURE_CHOICES, "fid_features")
    if choice != "auto":
        return metrics.load_feature_extractor(choice, root=params.get("data_root", "data"))
    n_fid = params.get("n_fid") or params.get("n_samples") or 0
    if metrics.inception_weights_path().is_file() and n_fid >= metrics.InceptionFeatures.dim:
        return metrics.load_feature_extractor("inception")
    # Without the weights, or with fewer images than Inception's 2048 feature dimensions (where
    # the Fréchet distance is mostly small-sample bias): the data set's classifier (FCD).
    name = "celeba_classifier" if params["dataset"] == "celeba" else "synthfaces_classifier"
    return metrics.load_feature_extractor(name, root=params.get("data_root", "data"))


def reference_stats(data: ExperimentData, extractor: metrics.FeatureExtractor, *,
                    batch_size: int = 256, device=None) -> metrics.FeatureStats:
    """Feature statistics of :attr:`ExperimentData.reference_images` (the FID reference)."""
    test_split = thesis_splits(data.name)[1]
    label = f"{data.name}/{test_split}@{data.image_size}px[first {len(data.reference_images)}]"
    return metrics.compute_statistics(data.reference_images, extractor, batch_size=batch_size,
                                device=device or "auto", label=label)


def evaluation_counts(params: Mapping[str, Any], n_fid: Optional[int] = None) -> Dict[str, Any]:
    """The counts :func:`waelib.evaluate.evaluate_model` takes from a profile's or a study's
    settings: ``n_fid`` (default ``params["n_fid"]``), ``n_interp_pairs`` (``n_interp``) and the
    interpolation ``steps`` (``interp_steps``). The one mapping from settings to evaluation."""
    return {"n_fid": int(n_fid if n_fid is not None else params["n_fid"]),
            "n_interp_pairs": params["n_interp"], "steps": params["interp_steps"]}


def evaluate_with(model, data, params: Mapping[str, Any], *, seed: int, **extra) -> Dict[str, Any]:
    """:func:`waelib.evaluate.evaluate_model` of ``model`` on a study's data (``data.data``'s
    evaluation images, ``data.extractor``, ``data.reference``; a
    :class:`waelib.studies.runner.StudyData`) with :func:`evaluation_counts` (params)."""
    return evaluate.evaluate_model(model, data.data.eval_images, extractor=data.extractor,
                                   reference=data.reference, seed=seed,
                                   **evaluation_counts(params), **extra)


def evaluate_run(model, data: ExperimentData, params: Mapping[str, Any], *, extractor,
                 reference: metrics.FeatureStats, save: bool = True) -> Dict[str, Any]:
    """:func:`waelib.evaluate.evaluate_model` with the counts of ``params``; saved as ``eval.json``
    in the model's run folder (with the run's configuration and the machine's metadata)."""
    n_fid = fid_sample_count(params, data)
    result = evaluate.evaluate_model(model, data.eval_images, extractor=extractor, reference=reference,
                                     n_samples=max(params["n_samples"], n_fid),
                                     n_recon=min(max(params["n_recon"], n_fid), len(data.eval_images)),
                                     seed=params["seed"], **evaluation_counts(params, n_fid))
    if save:
        evaluate.save_evaluation(run_dir(params, model.name), result, config=dict(params))
    return result


def evaluate_untrained(model_name: str, data: ExperimentData, params: Mapping[str, Any], *, extractor,
                       reference: metrics.FeatureStats) -> Dict[str, Any]:
    """The same evaluation for a freshly initialised model: the baseline a trained model's FID
    must beat by far."""
    torch.manual_seed(params["seed"])
    model = build_model(model_name, image_size=data.image_size, width=params["width"],
                        latent_dim=params.get("latent_dim")).eval()
    counts = dict(evaluation_counts(params, fid_sample_count(params, data)),
                  n_interp_pairs=min(params["n_interp"], 64))
    return evaluate.evaluate_model(model, data.eval_images, extractor=extractor, reference=reference,
                                   seed=params["seed"], **counts)


def prepare(params: Mapping[str, Any], *, verbose: bool = True) -> ExperimentData:
    """The start of a training notebook: seed everything with ``params["seed"]``, report the device
    and the data, and return :func:`load_data` (params).

    Prints (when ``verbose``) the device ``params["device"]`` resolves to, torch's thread count, and
    the data set's name, sizes and image size.
    """
    seed_everything(params["seed"])
    data = load_data(params)
    if verbose:
        device = resolve_device(params.get("device", "auto"))
        print("device:", device, "| torch threads:", torch.get_num_threads())
        print(f"{data.name}: {len(data.train)} training images, {len(data.test)} held-out images, "
              f"{data.image_size}x{data.image_size} px")
    return data


@dataclass
class ExperimentResults:
    """What :func:`train_and_evaluate` returns, per model name (in the order trained).

    Attributes:
        runs: ``{model: run}``, each what :func:`train_model` returns (``.model`` the trained
            model, ``.history`` its log rows, ``.step``, ``.out_dir``).
        evaluations: ``{model: evaluate_run result}`` (also saved as the run's ``eval.json``).
        baselines: ``{model: evaluate_untrained result}``: the same protocol on an untrained model.
        extractor, reference: the feature net and the real-image statistics every FID used.
    """

    runs: Dict[str, Any]
    evaluations: Dict[str, Dict[str, Any]]
    baselines: Dict[str, Dict[str, Any]]
    extractor: Any
    reference: metrics.FeatureStats

    @property
    def models(self) -> Dict[str, torch.nn.Module]:
        """``{model name: trained model}``."""
        return {m: r.model for m, r in self.runs.items()}

    @property
    def histories(self) -> Dict[str, List[Dict[str, Any]]]:
        """``{model name: log rows}`` (the input of :func:`waelib.course.plots.training_curves`)."""
        return {m: r.history for m, r in self.runs.items()}


def _fid_kind(extractor) -> str:
    return "FID" if extractor.name == "inception" else "FCD, a Frechet classifier distance"


def _train_task(task) -> Dict[str, Any]:
    """One model of :func:`train_side_by_side` in a worker process."""
    model, train, params, retrain, overrides = task
    data = ExperimentData(name=params["dataset_name"], train=train, test=None, image_size=params["image_size"])
    res = train_model(model, data, params, retrain=retrain, **overrides)
    return {"model": model, "step": res.step, "threads": res.config.threads}


def train_side_by_side(models: Sequence[str], data: ExperimentData, params: Mapping[str, Any], *,
                       retrain: bool = False, verbose: bool = True, **overrides) -> List[Dict[str, Any]]:
    """Train the runs of ``models`` that are not complete yet side by side, ``params["jobs"]`` at a
    time (None: one per CPU core, one torch thread each, :func:`waelib.parallel.default_jobs`;
    1: nothing is done here and :func:`train_and_evaluate` trains them one after the other).

    Each run is an ordinary :func:`train_model` run in its own process; afterwards
    :func:`train_and_evaluate` finds each one complete and reloads it. The thread count is
    recorded in every run's ``config.json`` (fp32 results differ between thread counts, never
    with what runs beside them)."""
    todo = [m for m in models if retrain or not _complete(run_dir(params, m), params)]
    jobs, threads = split_cores(len(todo), params.get("jobs"), None, device=str(params.get("device", "cpu")))
    if jobs <= 1 or len(todo) <= 1:
        return []
    if verbose:
        print(f"training {', '.join(todo)} side by side: {jobs} at a time, {threads} thread(s) each")
    train = to_uint8_tensor(data.train)
    plain = dict(params, dataset_name=data.name, image_size=data.image_size)
    todo = longest_first(todo, lambda m: step_seconds(m, data.image_size))   # no core idles at the end
    tasks = [(m, train, plain, retrain, dict(overrides, threads=threads, progress=False)) for m in todo]
    return [r for _, r in run_parallel(tasks, _train_task, jobs=jobs, threads=threads)]


def _complete(out: Path, params: Mapping[str, Any]) -> bool:
    """Whether ``out`` holds a finished run of the length ``params`` asks for."""
    path = out / CONFIG_NAME
    if not (out / CHECKPOINT_NAME).is_file() or not path.is_file():
        return False
    try:
        meta = json.loads(path.read_text())
        rows = (out / LOG_NAME).read_text().splitlines()
        last = json.loads(rows[-1])["step"] if rows else 0
    except (ValueError, OSError, KeyError):
        return False
    return last >= int(meta.get("total_steps") or 0) > 0


def train_and_evaluate(data: ExperimentData, params: Mapping[str, Any], *,
                       models: Optional[Sequence[str]] = None, retrain: Optional[bool] = None,
                       extractor=None, reference: Optional[metrics.FeatureStats] = None,
                       verbose: bool = True, **overrides) -> ExperimentResults:
    """Train every model, evaluate it like the thesis' chapter 4 (§4.4), and evaluate an
    untrained copy as the baseline: the loop of notebooks 03 and 04.

    Args:
        data: :func:`load_data` (params).
        params: resolved notebook parameters (:mod:`waelib.course.profiles`).
        models: model names (default ``params["models"]``), trained in this order.
        retrain: ignore existing runs (default ``params["retrain"]``); else a run is resumed or, when
            complete, reloaded.
        extractor, reference: the FID feature net and reference statistics (default
            :func:`feature_extractor` (params) and :func:`reference_stats`).
        verbose: print what is measured with, and per model the steps, the run folder and the
            Fréchet distances of samples (trained and untrained) and reconstructions.
        overrides: further :class:`waelib.train.TrainConfig` fields for :func:`train_model`.
    Returns:
        :class:`ExperimentResults`.
    """
    models = list(params["models"] if models is None else models)
    for m in models:
        model_spec(m)
    retrain = bool(params.get("retrain", False) if retrain is None else retrain)
    extractor = extractor if extractor is not None else feature_extractor(params)
    reference = reference if reference is not None else reference_stats(data, extractor)
    if verbose:
        print(f"FID features: {extractor.name} ({_fid_kind(extractor)}); "
              f"reference: {reference.source}, n={reference.n}")
    runs: Dict[str, Any] = {}
    evals: Dict[str, Dict[str, Any]] = {}
    baselines: Dict[str, Dict[str, Any]] = {}
    done = {r["model"] for r in train_side_by_side(models, data, params, retrain=retrain,
                                                    verbose=verbose, **overrides)}
    for name in models:
        if verbose:
            print(f"--- {registry.MODEL_LABELS[name]} ({name}) ---")
        runs[name] = train_model(name, data, params, retrain=retrain and name not in done, **overrides)
        evals[name] = evaluate_run(runs[name].model, data, params, extractor=extractor, reference=reference)
        baselines[name] = evaluate_untrained(name, data, params, extractor=extractor, reference=reference)
        if verbose:
            fid, base = evals[name]["samples"]["fid"], baselines[name]["samples"]["fid"]
            print(f"{runs[name].step} steps in {runs[name].out_dir}\n"
                  f"  {fid['metric']} of samples: {fid['value']:.2f} (untrained: {base['value']:.2f}); "
                  f"{fid['metric']} of reconstructions: "
                  f"{evals[name]['reconstructions']['fid']['value']:.2f}")
    return ExperimentResults(runs=runs, evaluations=evals, baselines=baselines,
                             extractor=extractor, reference=reference)


def baseline_rows(results: ExperimentResults, models: Optional[Sequence[str]] = None
                  ) -> List[Dict[str, Any]]:
    """One row per model: the Fréchet distance of its samples, trained and untrained, their
    ratio, the distance of its reconstructions and the sharpness of its samples (§4.4).

    Args:
        results: :func:`train_and_evaluate`'s results.
        models: which models, in which order (default: all of ``results``).
    Returns:
        dicts with the keys ``model`` (the thesis' name), ``samples``, ``untrained samples``,
        ``trained / untrained``, ``reconstructions`` and ``sharpness (samples)``.
    """
    models = list(results.evaluations if models is None else models)
    rows = []
    for m in models:
        ev, base = results.evaluations[m], results.baselines[m]
        fid, fid0 = ev["samples"]["fid"]["value"], base["samples"]["fid"]["value"]
        rows.append({"model": registry.THESIS_MODEL_LABELS[m], "samples": fid, "untrained samples": fid0,
                     "trained / untrained": fid / fid0,
                     "reconstructions": ev["reconstructions"]["fid"]["value"],
                     "sharpness (samples)": ev["samples"]["sharpness"]})
    return rows


def check_beats_baseline(rows: Sequence[Mapping[str, Any]], *, max_ratio: float = 0.7,
                         enforce: bool = True) -> str:
    """Check that every trained model's samples are far closer to the data than an untrained
    model's: ``trained / untrained < max_ratio`` in every row of :func:`baseline_rows`.

    Args:
        rows: :func:`baseline_rows`.
        max_ratio: the largest accepted ratio of Fréchet distances.
        enforce: False skips the check (the smoke profile trains for 2 steps: nothing to assert).
    Returns:
        a sentence saying what was checked.
    Raises:
        AssertionError: naming each model whose ratio is not below ``max_ratio``.
    """
    if not enforce:
        return "baseline check skipped (nothing to assert after a few training steps)"
    failed = [f"{r['model']} ({r['trained / untrained']:.3g})" for r in rows
              if not r["trained / untrained"] < max_ratio]
    if failed:
        raise AssertionError(f"trained / untrained Frechet distance is not below {max_ratio} for: "
                             + ", ".join(failed))
    return (f"every trained model's samples are far closer to the data than an untrained model's "
            f"(trained / untrained < {max_ratio})")


def parameter_rows(models: Sequence[str], *, image_size: int, width: float,
                   latent_dim: Optional[int] = None) -> List[Dict[str, Any]]:
    """Parameter counts of each model at the thesis' size (128 px, width 1) and at the size of
    this run (§4.3; the thesis-size counts are checked in tests/core/test_models.py).

    Returns:
        dicts with ``model`` (the thesis' name), ``thesis size (M)`` and ``this run (M)``
        (millions of parameters, floats).
    """
    rows = []
    for name in models:
        full = count_parameters(build_model(name))
        small = count_parameters(build_model(name, image_size=image_size, width=width,
                                             latent_dim=latent_dim))
        rows.append({"model": registry.THESIS_MODEL_LABELS[name], "thesis size (M)": full / 1e6,
                     "this run (M)": small / 1e6})
    return rows


def load_trained(params: Mapping[str, Any], model: str, *, device: str = "cpu"):
    """The trained model of ``<out_dir>/<model>``; a missing run raises FileNotFoundError naming
    the notebook that trains it."""

    path = run_dir(params, model)
    if not (path / CHECKPOINT_NAME).is_file():
        nb = "03_vae.ipynb" if model.startswith("vae") else "04_wae_resnet.ipynb"
        raise FileNotFoundError(
            f"no trained {model!r} in {path}. Run notebooks/{nb} with profile "
            f"{params.get('profile', '?')!r} first (e.g. `papermill notebooks/{nb} out.ipynb -p profile "
            f"{params.get('profile', 'default')}`), or `make figures`.")
    return load_run(path, device=device)


def collect_evaluations(params: Mapping[str, Any], models: Sequence[str] = registry.THESIS_MODEL_NAMES
                        ) -> Dict[str, Dict[str, Any]]:
    """``{model: eval.json payload}`` for every model of ``models`` that has one
    (:func:`missing_runs` lists the others)."""
    found: Dict[str, Dict[str, Any]] = {}
    for m in models:
        try:
            found[m] = evaluate.load_evaluation(run_dir(params, m))
        except FileNotFoundError:
            continue
    return found


def run_records(params: Mapping[str, Any],
                models: Sequence[str] = registry.THESIS_MODEL_NAMES) -> Dict[str, Dict[str, Any]]:
    """``{model: {"run": path, "train": config.json, "evaluation": eval.json}}`` for the evaluated
    runs: the provenance of every number in the tables (configuration, seed, hardware, versions,
    commit and date of training and of evaluation), small enough to commit beside them."""
    records = {}
    for m, ev in collect_evaluations(params, models).items():
        cfg_path = run_dir(params, m) / CONFIG_NAME
        train_cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else None
        records[m] = {"run": display_path(run_dir(params, m)), "train": train_cfg, "evaluation": ev}
    return records


def missing_runs(params: Mapping[str, Any], models: Sequence[str] = registry.THESIS_MODEL_NAMES) -> Dict[str, str]:
    """``{model: how to produce it}`` for the models without an ``eval.json``."""
    have = collect_evaluations(params, models)
    return {m: ("notebooks/03_vae.ipynb" if m.startswith("vae") else "notebooks/04_wae_resnet.ipynb")
            for m in models if m not in have}


def machine_name(metadata: Mapping[str, Any]) -> str:
    """A short description of the machine in a :func:`waelib.utils.run_metadata` record."""
    hw = metadata["hardware"]
    return hw.get("gpu_name") or f"CPU ({hw.get('processor')}, {hw.get('cpu_count')} cores)"


FIGURE_SOURCES = (
    ("fig2_1_degradation", "02b_resnet_degradation", "plain vs residual CNNs on digits (thesis Fig. 2.1)"),
    ("fig2_2_relu, fig2_3_selu", "02b_resnet_degradation", "activations (Figs. 2.2, 2.3)"),
    ("fig3_1_encoder, fig3_2_identity_block, fig3_3_conv_block", "02b_resnet_degradation",
     "drawn from the live `waelib.blocks` modules (Figs. 3.1-3.3)"),
    ("nb01_*, nb02_*", "01_elbo, 02_wae_objective", "the derivations' numerical checks"),
    ("nb03_*, nb04_*", "03_vae, 04_wae_resnet", "training curves, samples, reconstructions"),
    ("table4_1 ... table4_5, fig4_1 ... fig4_3", "05_thesis_results", "chapter 4, from the runs below"),
    ("runs.json", "05_thesis_results",
     "each run's training config.json and eval.json (config, seed, hardware, versions, commit, dates)"),
)


def figures_readme(params: Mapping[str, Any], records: Mapping[str, Mapping[str, Any]],
                   data: ExperimentData, metadata: Mapping[str, Any]) -> str:
    """The text of ``figures/README.md``: which notebook made each file, and for the chapter-4
    tables which runs (steps, machine, date, commit), from the runs' own records
    (:func:`run_records`) and this process's ``metadata`` (:func:`waelib.utils.run_metadata`)."""
    fid = next(iter(records.values()))["evaluation"]["result"]["samples"]["fid"] if records else None
    lines = ["# Figures and tables", "",
             "Regenerated by the project's own runs; nothing here is typed in. "
             "Rebuild everything with `make figures` (all notebooks, profile `default`).", "",
             f"- written by `notebooks/05_thesis_results.ipynb`, profile `{params.get('profile')}`, "
             f"on {metadata['date_utc']}",
             f"- commit `{metadata['git_commit']}`; machine: {machine_name(metadata)}; "
             f"torch {metadata['versions']['torch']}",
             f"- data: {data.name}, {data.image_size} px, {len(data.train)} train / {len(data.test)} "
             f"held-out images; width {params.get('width')}"]
    if fid:
        lines.append(f"- Frechet distance: {fid['metric']} with `{fid['extractor']}` against {fid['reference']}")
    lines += ["", "| file | made by | what |", "|---|---|---|"]
    lines += [f"| {f} | {nb} | {what} |" for f, nb, what in FIGURE_SOURCES]
    lines += ["", "| model | run | steps | machine | trained (UTC) | commit |", "|---|---|---|---|---|---|"]
    for m, rec in records.items():
        train = rec.get("train") or {}
        meta = train.get("metadata") or rec["evaluation"]["metadata"]
        steps = train.get("total_steps", rec["evaluation"]["config"].get("steps"))
        lines.append(f"| {registry.THESIS_MODEL_LABELS[m]} | `{rec['run']}` (record in `runs.json`) | {steps} | "
                     f"{machine_name(meta)} | {meta['date_utc']} | `{meta['git_commit']}` |")
    return "\n".join(lines) + "\n"
