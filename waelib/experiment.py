"""The thesis experiment as the notebooks run it: data -> train -> evaluate -> tables.

Notebooks 03 (VAE, VAE-ResNet), 04 (WAE, WAE-MMD, WAE-ResNet) and 05 (tables and figures)
call these few functions with their resolved parameters ``P`` (:mod:`waelib.profiles`), so the
pipeline is written, tested and reused once:

- :func:`load_data` -- the train set and the held-out images of a profile;
- :func:`train_model` -- :func:`waelib.train.fit` into ``<out_dir>/<model>``;
- :func:`feature_extractor` / :func:`reference_stats` -- what FID is measured with, and against;
- :func:`evaluate_run` -- :func:`waelib.evaluate.evaluate_model`, saved as ``eval.json``;
- :func:`load_trained` / :func:`collect_evaluations` -- what notebook 05 reads back.

The held-out images are split in two disjoint halves: the first is the FID reference set, the
second provides the images that are reconstructed and interpolated and the "real images" row
of each table. Every FID is therefore measured against images the model never saw and that are
not the inputs of the reconstructions (docs/deviations.md, row 17).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

import torch

from . import config as C
from . import evaluate as E
from . import metrics as M
from .data import load_dataset, thesis_splits, to_uint8_tensor
from .models import build_model, check_model_name
from .utils import display_path


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


def load_data(P: Mapping[str, Any]) -> ExperimentData:
    """Train set and held-out images for parameters ``P`` (dataset, data_root, image_size,
    n_train, n_test; None = the whole split).

    synthfaces is generated with ``n = n_train + n_test`` images so that the thesis' random
    80/20 split gives (about) the requested sizes; other data sets are cut to size.
    """
    name, size, root = P["dataset"], int(P["image_size"]), P.get("data_root", "data")
    n_train, n_test = P.get("n_train"), P.get("n_test")
    train_split, test_split = thesis_splits(name)
    options: Dict[str, Any] = {}
    if name == "synthfaces" and n_train is not None:
        total = int(n_train) + int(n_test or max(2, n_train // 4))
        options["n"] = total
    train = load_dataset(name, root=root, split=train_split, image_size=size, **options)
    test = load_dataset(name, root=root, split=test_split, image_size=size, **options)
    if n_train is not None and len(train) > n_train:
        train = torch.utils.data.Subset(train, range(int(n_train)))
    if n_test is not None and len(test) > n_test:
        test = torch.utils.data.Subset(test, range(int(n_test)))
    return ExperimentData(train=train, test=to_uint8_tensor(test), name=name, image_size=size)


def run_dir(P: Mapping[str, Any], model: str) -> Path:
    """``<out_dir>/<model>``: where a model's run (config, log, checkpoint, eval) lives."""
    return Path(P["out_dir"]) / model


def train_model(model: str, data: ExperimentData, P: Mapping[str, Any], *, retrain: bool = False,
                **overrides):
    """Train ``model`` on ``data.train`` with the schedule of ``P`` (:func:`waelib.train.fit`).

    An existing run in :func:`run_dir` is resumed (and returns at once when it is complete),
    unless ``retrain``. ``overrides`` are further :class:`waelib.train.TrainConfig` fields.
    """
    from .train import fit  # deferred: train imports are heavier

    check_model_name(model)
    out = run_dir(P, model)
    if retrain and out.exists():
        for f in ("checkpoint.pt", "log.jsonl", "eval.json"):
            (out / f).unlink(missing_ok=True)
    cfg = dict(model=model, dataset=data.name, image_size=data.image_size, width=P["width"],
               latent_dim=P.get("latent_dim"), batch_size=P["batch_size"], epochs=P.get("epochs"),
               steps=P.get("steps"), seed=P["seed"], device=P.get("device", "auto"), out=str(out),
               resume=True, n=len(data.train))
    cfg.update(overrides)
    return fit(model, data.train, cfg)


def feature_extractor(P: Mapping[str, Any]) -> M.FeatureExtractor:
    """The FID feature net for ``P["fid_features"]``.

    ``"auto"``: pytorch-fid's Inception when its weights file is present, else the data set's
    offline attribute classifier (a Fréchet *classifier* distance, labelled FCD). Any name of
    :func:`waelib.metrics.load_feature_extractor` is accepted too.
    """
    choice = P.get("fid_features", "auto")
    if choice != "auto":
        return M.load_feature_extractor(choice, root=P.get("data_root", "data"))
    if M.inception_weights_path().is_file():
        return M.load_feature_extractor("inception")
    name = "celeba_classifier" if P["dataset"] == "celeba" else "synthfaces_classifier"
    return M.load_feature_extractor(name, root=P.get("data_root", "data"))


def reference_stats(data: ExperimentData, extractor: M.FeatureExtractor, *,
                    batch_size: int = 256, device=None) -> M.FeatureStats:
    """Feature statistics of :attr:`ExperimentData.reference_images` (the FID reference)."""
    test_split = thesis_splits(data.name)[1]
    label = f"{data.name}/{test_split}@{data.image_size}px[first {len(data.reference_images)}]"
    return M.compute_statistics(data.reference_images, extractor, batch_size=batch_size,
                                device=device or "auto", label=label)


def evaluate_run(model, data: ExperimentData, P: Mapping[str, Any], *, extractor,
                 reference: M.FeatureStats, save: bool = True) -> Dict[str, Any]:
    """:func:`waelib.evaluate.evaluate_model` with the counts of ``P``; saved as ``eval.json``
    in the model's run folder (with the run's configuration and the machine's metadata)."""
    result = E.evaluate_model(model, data.eval_images, extractor=extractor, reference=reference,
                              n_samples=P["n_samples"], n_recon=P["n_recon"],
                              n_interp_pairs=P["n_interp"], steps=P["interp_steps"],
                              seed=P["seed"])
    if save:
        E.save_evaluation(run_dir(P, model.name), result, config=dict(P))
    return result


def evaluate_untrained(model_name: str, data: ExperimentData, P: Mapping[str, Any], *, extractor,
                       reference: M.FeatureStats) -> Dict[str, Any]:
    """The same evaluation for a freshly initialised model: the baseline a trained model's FID
    must beat by far."""
    torch.manual_seed(P["seed"])
    model = build_model(model_name, image_size=data.image_size, width=P["width"],
                        latent_dim=P.get("latent_dim")).eval()
    return E.evaluate_model(model, data.eval_images, extractor=extractor, reference=reference,
                            n_samples=min(P["n_samples"], 1024), n_recon=min(P["n_recon"], 1024),
                            n_interp_pairs=2, steps=P["interp_steps"], seed=P["seed"])


def load_trained(P: Mapping[str, Any], model: str, *, device: str = "cpu"):
    """The trained model of ``<out_dir>/<model>``; a missing run raises FileNotFoundError naming
    the notebook that trains it."""
    from .train import load_run

    path = run_dir(P, model)
    if not (path / "checkpoint.pt").is_file():
        nb = "03_vae.ipynb" if model.startswith("vae") else "04_wae_resnet.ipynb"
        raise FileNotFoundError(
            f"no trained {model!r} in {path}. Run notebooks/{nb} with profile "
            f"{P.get('profile', '?')!r} first (e.g. `papermill notebooks/{nb} out.ipynb -p profile "
            f"{P.get('profile', 'default')}`), or `make figures`.")
    return load_run(path, device=device)


def collect_evaluations(P: Mapping[str, Any], models: Sequence[str] = C.MODEL_NAMES
                        ) -> Dict[str, Dict[str, Any]]:
    """``{model: eval.json payload}`` for every model of ``models`` that has one
    (:func:`missing_runs` lists the others)."""
    found: Dict[str, Dict[str, Any]] = {}
    for m in models:
        try:
            found[m] = E.load_evaluation(run_dir(P, m))
        except FileNotFoundError:
            continue
    return found


def run_records(P: Mapping[str, Any], models: Sequence[str] = C.MODEL_NAMES) -> Dict[str, Dict[str, Any]]:
    """``{model: {"run": path, "train": config.json, "evaluation": eval.json}}`` for the evaluated
    runs: the provenance of every number in the tables (configuration, seed, hardware, versions,
    commit and date of training and of evaluation), small enough to commit beside them."""
    import json

    records = {}
    for m, ev in collect_evaluations(P, models).items():
        cfg_path = run_dir(P, m) / "config.json"
        train_cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else None
        records[m] = {"run": display_path(run_dir(P, m)), "train": train_cfg, "evaluation": ev}
    return records


def missing_runs(P: Mapping[str, Any], models: Sequence[str] = C.MODEL_NAMES) -> Dict[str, str]:
    """``{model: how to produce it}`` for the models without an ``eval.json``."""
    have = collect_evaluations(P, models)
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


def figures_readme(P: Mapping[str, Any], records: Mapping[str, Mapping[str, Any]],
                   data: ExperimentData, metadata: Mapping[str, Any]) -> str:
    """The text of ``figures/README.md``: which notebook made each file, and for the chapter-4
    tables which runs (steps, machine, date, commit), from the runs' own records
    (:func:`run_records`) and this process's ``metadata`` (:func:`waelib.utils.run_metadata`)."""
    fid = next(iter(records.values()))["evaluation"]["result"]["samples"]["fid"] if records else None
    lines = ["# Figures and tables", "",
             "Regenerated by the project's own runs; nothing here is typed in. "
             "Rebuild everything with `make figures` (all notebooks, profile `default`).", "",
             f"- written by `notebooks/05_thesis_results.ipynb`, profile `{P.get('profile')}`, "
             f"on {metadata['date_utc']}",
             f"- commit `{metadata['git_commit']}`; machine: {machine_name(metadata)}; "
             f"torch {metadata['versions']['torch']}",
             f"- data: {data.name}, {data.image_size} px, {len(data.train)} train / {len(data.test)} "
             f"held-out images; width {P.get('width')}"]
    if fid:
        lines.append(f"- Frechet distance: {fid['metric']} with `{fid['extractor']}` against {fid['reference']}")
    lines += ["", "| file | made by | what |", "|---|---|---|"]
    lines += [f"| {f} | {nb} | {what} |" for f, nb, what in FIGURE_SOURCES]
    lines += ["", "| model | run | steps | machine | trained (UTC) | commit |", "|---|---|---|---|---|---|"]
    for m, rec in records.items():
        train = rec.get("train") or {}
        meta = train.get("metadata") or rec["evaluation"]["metadata"]
        steps = train.get("total_steps", rec["evaluation"]["config"].get("steps"))
        lines.append(f"| {C.THESIS_MODEL_LABELS[m]} | `{rec['run']}` (record in `runs.json`) | {steps} | "
                     f"{machine_name(meta)} | {meta['date_utc']} | `{meta['git_commit']}` |")
    return "\n".join(lines) + "\n"
