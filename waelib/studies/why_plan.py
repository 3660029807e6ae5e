"""The plan of the study of issue 20, "Why WAE-ResNet loses at CPU scale" (pre-registered in
``docs/claims.md``): its settings, its training arms, the comparisons it decides, and the
capacity control's encoder width.

Three questions, one set of runs (synthfaces 32 px, width 0.125, batch 64):

- **the budget** -- WAE and WAE-ResNet on seeds 0-4, each one run trained in stages to 500,
  1,000, 2,000, 4,000 and 8,000 steps and evaluated after every stage (:mod:`waelib.studies.why`);
- **the capacity** -- a WAE-ResNet whose encoder width is raised until its parameter count
  matches the DCGAN encoder's (:func:`matching_encoder_width`), decoder and discriminator
  unchanged, on the same seeds, to the primary budget (2,000 steps);
- **what each code keeps** -- for every run and stage the classifier's attribute accuracy on
  reconstructions, the background hue, the "white blob" (teeth where there are none), MMD to the
  prior and the discriminator's accuracy (:mod:`waelib.studies.why_eval`); VAE, VAE-ResNet and
  WAE-MMD join on seeds 0-2 to the primary budget.

Nothing here trains: :mod:`waelib.studies.why` runs the plan, :mod:`waelib.studies.why_analysis`
decides the comparisons, :mod:`waelib.studies.why_render` writes the tables and figures.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from .. import config
from ..blocks import DCGANEncoder, ResNetEncoder
from ..course.profiles import resolve_paths
from ..models import count_parameters
from ..registry import model_spec
from ..utils import check_choice, repo_root

__all__ = ["Arm", "RunSpec", "ARMS", "PROFILES", "METRICS", "CURVE_METRICS", "CODE_METRICS", "CODE_PAIRS",
           "WIDTH_TOLERANCE", "arm", "settings", "check_profile", "stages", "seeds", "plan", "stage_name",
           "stage_steps", "encoder_parameters", "matching_encoder_width", "model_overrides", "results_root",
           "work_root"]


@dataclass(frozen=True)
class Arm:
    """One training of the study: ``model`` (a registry name) in ``role`` "curve" (every budget,
    the curve's seeds), "control" (the wide ResNet encoder: the curve's seeds, budgets up to the
    primary one) or "codes" (the code analysis' other models: its seeds, up to the primary
    budget); printed as ``label``."""

    key: str
    model: str
    role: str
    label: str


ARMS: Dict[str, Arm] = {a.key: a for a in (
    Arm("wae_gan", "wae_gan", "curve", "WAE"),
    Arm("wae_resnet", "wae_resnet", "curve", "WAE-ResNet"),
    Arm("wae_resnet_wide", "wae_resnet", "control", "WAE-ResNet, encoder as large as WAE's"),
    Arm("vae", "vae", "codes", "VAE"),
    Arm("vae_resnet", "vae_resnet", "codes", "VAE-ResNet"),
    Arm("wae_mmd", "wae_mmd", "codes", "WAE-MMD"),
)}

#: The study's settings: the claims study's second scale (docs/claims.md), longer budgets.
_DEFAULT: Dict[str, Any] = dict(
    dataset="synthfaces", image_size=32, width=0.125, batch_size=64, latent_dim=None, n_train=8192,
    n_test=4096, n_fid=1024, n_interp=500, interp_steps=config.N_INTERPOLATION_STEPS, n_div=500,
    device="cpu", data_root="../data", fid_features="synthfaces_classifier",
    budgets=(500, 1000, 2000, 4000, 8000), primary=2000, curve_seeds=(0, 1, 2, 3, 4), code_seeds=(0, 1, 2),
    n_keep=8, figure_seed=0)
#: ``default`` is the study (committed under results/why); ``smoke`` is the tests' (tiny: two
#: stages of 2 and 4 steps, two paired seeds).
PROFILES: Dict[str, Dict[str, Any]] = {
    "default": _DEFAULT,
    "smoke": dict(_DEFAULT, width=0.0625, batch_size=16, n_train=256, n_test=192, n_fid=64, n_interp=8,
                  n_div=20, budgets=(2, 4), primary=2, curve_seeds=(0, 1), code_seeds=(0,), n_keep=4),
}

#: Where each metric lives in one stage's evaluation, and whether lower is better (None: neither,
#: e.g. the discriminator's accuracy, whose ideal is 1/2).
METRICS: Dict[str, Tuple[Tuple[str, ...], str, Optional[bool]]] = {
    "sample_fcd": (("samples", "fid", "value"), "sample FCD", True),
    "recon_fcd": (("reconstructions", "fid", "value"), "reconstruction FCD", True),
    "recon_rmse": (("reconstructions", "rmse"), "reconstruction RMSE", True),
    "attr_acc": (("codes", "attributes", "recon_mean"), "attribute accuracy on reconstructions", False),
    "teeth_fp": (("codes", "teeth", "recon_false_positive"), "teeth seen where there are none", True),
    "bg_hue_err": (("codes", "background", "hue_error_deg_median"), "background hue error (deg)", True),
    "bg_sat_ratio": (("codes", "background", "saturation_ratio_median"), "background saturation ratio", None),
    "mmd": (("codes", "mmd", "value"), "MMD(Q_Z, P_Z)", True),
    "code_sd": (("codes", "code_sd"), "code SD", None),
    "disc_acc": (("codes", "discriminator", "accuracy"), "discriminator accuracy", None),
}
#: The budget curve's and the capacity control's metrics (thesis direction: WAE-ResNet lower).
CURVE_METRICS: Tuple[str, ...] = ("sample_fcd", "recon_fcd", "recon_rmse")
#: The code analysis' metrics.
CODE_METRICS: Tuple[str, ...] = ("attr_acc", "teeth_fp", "bg_hue_err", "bg_sat_ratio", "mmd", "code_sd",
                                 "disc_acc")
#: The code analysis' paired comparisons (A, B) at the primary budget, A - B, two-sided.
CODE_PAIRS: Tuple[Tuple[str, str], ...] = (("wae_resnet", "wae_gan"), ("wae_resnet_wide", "wae_gan"),
                                           ("wae_mmd", "wae_gan"))

#: The capacity control's encoder has the DCGAN encoder's parameter count within this share.
WIDTH_TOLERANCE = 0.05


@dataclass(frozen=True)
class RunSpec:
    """One run: an arm of :data:`ARMS` and a training seed."""

    arm: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.arm}/seed{self.seed}"


def arm(key: str) -> Arm:
    """The arm ``key`` of :data:`ARMS`; a ValueError lists them."""
    return ARMS[check_choice(key, tuple(ARMS), "why arm")]


def settings(profile: str) -> Dict[str, Any]:
    """A profile's settings as written in the plan (relative paths kept: what the records store)."""
    return dict(PROFILES[check_choice(profile, tuple(PROFILES), "why profile")])


def check_profile(profile: str) -> Dict[str, Any]:
    """A profile's settings with its relative paths made absolute against ``notebooks/``."""
    return dict(resolve_paths(settings(profile)))


def stages(a: Arm, params: Mapping[str, Any]) -> Tuple[int, ...]:
    """The budgets (total steps) at which arm ``a`` is evaluated: every budget for the curve, the
    budgets up to the primary one for the control and the other models."""
    if a.role == "curve":
        return tuple(params["budgets"])
    return tuple(b for b in params["budgets"] if b <= params["primary"])


def seeds(a: Arm, params: Mapping[str, Any]) -> Tuple[int, ...]:
    """The training seeds of arm ``a``: the curve's for the curve and the control (paired)."""
    return tuple(params["code_seeds"] if a.role == "codes" else params["curve_seeds"])


def plan(profile: str, arms: Optional[Sequence[str]] = None) -> List[RunSpec]:
    """Every run of a profile, seed-major (the pairs of a seed complete together), in the order
    of :data:`ARMS` within a seed; ``arms`` keeps only those."""
    params = settings(profile)
    keep = [arm(k).key for k in arms] if arms else list(ARMS)
    all_seeds = sorted({s for k in keep for s in seeds(ARMS[k], params)})
    return [RunSpec(k, s) for s in all_seeds for k in ARMS if k in keep and s in seeds(ARMS[k], params)]


def stage_name(steps: int) -> str:
    """The file of one stage's evaluation: ``eval_step0500.json`` for 500 steps."""
    return f"eval_step{int(steps):04d}.json"


def stage_steps(name: str) -> Optional[int]:
    """The steps of a stage file name (:func:`stage_name`), or None for any other name."""
    if name.startswith("eval_step") and name.endswith(".json") and name[9:-5].isdigit():
        return int(name[9:-5])
    return None


def encoder_parameters(kind: str, width: float, image_size: int, latent_dim: int) -> int:
    """Trainable parameters of the WAE encoder ``kind`` ("dcgan" or "resnet") at ``width``,
    built on the meta device (no memory, no initialisation)."""
    cls = {"dcgan": DCGANEncoder, "resnet": ResNetEncoder}[check_choice(kind, ("dcgan", "resnet"), "encoder")]
    with torch.device("meta"):
        return count_parameters(cls(latent_dim, image_size=image_size, width=width))


def matching_encoder_width(width: float, image_size: int, latent_dim: int, *, tol: float = WIDTH_TOLERANCE,
                           iters: int = 40) -> Dict[str, Any]:
    """The ResNet encoder width whose parameter count is nearest the DCGAN encoder's at ``width``.

    The count is a non-decreasing step function of the width (channels are rounded), so a
    bisection on [width, 4] finds the smallest width ``hi`` with at least the DCGAN encoder's
    parameters; of ``hi`` rounded up and the width just below it rounded down (4 decimals), the
    one with the smaller relative difference is returned. Returns ``encoder_width``,
    ``resnet_parameters``, ``dcgan_parameters`` and ``relative_difference`` (resnet / dcgan - 1).
    Raises ValueError when no width in (0, 4] comes within ``tol``.
    """
    target = encoder_parameters("dcgan", width, image_size, latent_dim)

    def count(w: float) -> int:
        return encoder_parameters("resnet", w, image_size, latent_dim)

    lo, hi = width, 4.0
    if count(hi) < target:
        raise ValueError(f"no ResNet encoder width up to 4 reaches the DCGAN encoder's {target} parameters")
    if count(lo) >= target:
        hi = lo
    else:
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if count(mid) >= target else (mid, hi)
    candidates = {min(4.0, math.ceil(hi * 1e4) / 1e4), max(1e-4, math.floor(lo * 1e4) / 1e4)}
    best = min(sorted(candidates), key=lambda w: abs(count(w) / target - 1.0))
    rel = count(best) / target - 1.0
    if abs(rel) > tol:
        raise ValueError(f"the nearest ResNet encoder width {best} has {count(best)} parameters, "
                         f"{rel:+.1%} from the DCGAN encoder's {target} (tolerance {tol:.0%})")
    return {"encoder_width": best, "resnet_parameters": count(best), "dcgan_parameters": target,
            "relative_difference": rel, "width": width, "image_size": image_size, "latent_dim": latent_dim}


def model_overrides(a: Arm, params: Mapping[str, Any]) -> Dict[str, Any]:
    """The :func:`waelib.registry.build_model` overrides of arm ``a``: the matched
    ``encoder_width`` for the capacity control, nothing for the others."""
    if a.role != "control":
        return {}
    latent = int(params.get("latent_dim") or model_spec(a.model).latent_dim)
    match = matching_encoder_width(params["width"], params["image_size"], latent)
    return {"encoder_width": match["encoder_width"]}


def results_root(profile: str, out_dir: Optional[Path] = None) -> Path:
    """Where a profile's small results live: ``<out_dir>/why_results`` when given; else
    ``results/why`` (committed) for ``default`` and ``runs/<profile>/why`` otherwise."""
    if out_dir is not None:
        return Path(out_dir) / "why_results"
    root = repo_root()
    return root / "results" / "why" if profile == "default" else root / "runs" / profile / "why"


def work_root(profile: str, out_dir: Optional[Path] = None) -> Path:
    """Where the runs' checkpoints go (never committed)."""
    return Path(out_dir) / "why_work" if out_dir is not None else repo_root() / "runs" / "why" / profile
