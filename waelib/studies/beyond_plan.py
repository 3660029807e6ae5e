"""Notebook 06's design (beyond the thesis): its profiles, its runs and where their results
live. The runner (:mod:`waelib.studies.beyond`) and the renderer
(:mod:`waelib.studies.beyond_render`) both read it from here."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from .. import config
from ..course.profiles import resolve_paths
from ..utils import check_choice, repo_root
from .runner import load_run_results

__all__ = ["PROFILES", "RunSpec", "check_profile", "plan", "results_root", "work_root", "load_results"]

_COMMON = dict(batch_size=64, interp_steps=config.N_INTERPOLATION_STEPS, fid_features="synthfaces_classifier",
               data_root="../data", out_dir=None, device="cpu", gmm_components=10, gmm_max_codes=4096,
               models_dataset="synthfaces",
               models=("wae_gan", "wae_mmd", "rae", "intro_vae"))
#: The profiles of notebook 06. ``default`` is what ``make beyond`` and papermill run (about
#: 40 minutes on 2 CPU cores): the models part at the thesis notebooks' 2,000 steps, the latent
#: sweep (36 runs) at 1,000; ``smoke`` is the tests'; ``thesis`` the seeds' 128-px scale (GPU).
PROFILES: Dict[str, Dict[str, Any]] = {
    "smoke": dict(_COMMON, figures_dir="../runs/smoke/figures", image_size=32, width=0.0625, batch_size=16,
                  steps=3, n_train=256,
                  n_test=192, n_fid=64, n_interp=8, n_div=20, gmm_components=2,
                  models=("wae_gan", "rae", "intro_vae"), seeds=(0,), latent_seeds=(0,),
                  latent_datasets=("synthfaces_n8",), latent_sizes=(4, 8), mask_latent=8),
    "default": dict(_COMMON, figures_dir="../runs/default/figures", image_size=32, width=0.125, steps=2000,
                    latent_steps=1000,
                    n_train=8192, n_test=4096, n_fid=1024, n_interp=200, n_div=2000,
                    seeds=(0, 1, 2), latent_seeds=(0, 1, 2),
                    latent_datasets=("synthfaces_n8", "synthfaces_n16"),
                    latent_sizes=(4, 8, 16, 32, 64), mask_latent=64),
    "thesis": dict(_COMMON, figures_dir="../runs/thesis/figures", image_size=128, width=1.0, batch_size=100,
                   steps=20000, n_train=None,
                   n_test=None, n_fid=10000, n_interp=config.N_INTERPOLATION_PAIRS, n_div=10000,
                   fid_features="auto", device="auto", gmm_max_codes=None, seeds=(0, 1, 2),
                   latent_seeds=(0, 1, 2),
                   latent_datasets=("synthfaces_n8", "synthfaces_n16"),
                   latent_sizes=(4, 8, 16, 32, 64, 128), mask_latent=128),
}
#: A free Colab GPU: the default profile's runs, on the GPU.
PROFILES["colab"] = dict(PROFILES["default"], figures_dir="../runs/colab/figures", device="auto")


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
    return resolve_paths(dict(PROFILES[check_choice(profile, tuple(PROFILES), "beyond profile")]))


def plan(profile: str) -> List[RunSpec]:
    """Every run of a profile, seed-major within each part (pairs complete together)."""
    params = check_profile(profile)
    runs = [RunSpec("models", params["models_dataset"], m, None, s) for s in params["seeds"] for m in params["models"]]
    for s in params["latent_seeds"]:
        for ds in params["latent_datasets"]:
            runs += [RunSpec("latent", ds, "wae_gan", m, s) for m in params["latent_sizes"]]
            runs.append(RunSpec("latent", ds, "mask_aae", params["mask_latent"], s))
    return runs


def results_root(profile: str, out_dir: Optional[Path] = None) -> Path:
    """Where a profile's small results live: ``<out_dir>/beyond_results`` when ``out_dir`` is
    given; else ``results/beyond/default`` (committed) for ``default`` and
    ``runs/<profile>/beyond`` for the others."""
    if out_dir is not None:
        return Path(out_dir) / "beyond_results"
    root = repo_root()
    return root / "results" / "beyond" / profile if profile == "default" else root / "runs" / profile / "beyond"


def work_root(profile: str, out_dir: Optional[Path] = None) -> Path:
    """Where the runs' checkpoints go (never committed): ``<out_dir or runs/<profile>>/beyond_work``."""
    return Path(out_dir or repo_root() / "runs" / profile) / "beyond_work"


def load_results(profile: str, out_dir: Optional[Path] = None) -> Dict[str, Dict[str, Any]]:
    """``{run key: {"run": run.json, "eval": eval.json result or None}}`` of a profile."""
    return load_run_results(results_root(profile, out_dir))
