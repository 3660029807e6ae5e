"""The claims study's pre-registered design (docs/claims.md): its scales, seeds, run order and
folders. The runner (:mod:`waelib.studies.claims_study`) and the renderer
(:mod:`waelib.studies.claims_render`) both read it from here."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from .. import config
from ..course.profiles import celeba_available
from ..utils import repo_root

__all__ = ["RESULTS", "WORK", "FIGURES", "SCALES", "MODEL_ORDER", "FIGURE_SEED", "SENSITIVITY",
           "SENSITIVITY_RESULTS", "plan", "result_dir", "scale_params"]

#: Default folders (parameters of the runner and the renderer): the repository's.
RESULTS = repo_root() / "results" / "claims"
WORK = repo_root() / "runs" / "claims"
FIGURES = repo_root() / "figures"

_WAES5 = {"wae_gan": range(5), "wae_resnet": range(5)}
#: The scales of docs/claims.md. ``seeds``: model -> seeds (the others get ``default_seeds``).
SCALES: Dict[str, Dict[str, Any]] = {
    "primary": dict(dataset="synthfaces", image_size=64, width=0.125, batch_size=64, steps=2000,
                    epochs=None, n_train=16384, n_test=8192, n_fid=2048, n_interp=500,
                    interp_steps=config.N_INTERPOLATION_STEPS, default_seeds=range(3), seeds=_WAES5,
                    device="cpu", data_root="data", fid_features="synthfaces_classifier"),
    "second": dict(dataset="synthfaces", image_size=32, width=0.125, batch_size=64, steps=2000,
                   epochs=None, n_train=8192, n_test=4096, n_fid=1024, n_interp=500,
                   interp_steps=config.N_INTERPOLATION_STEPS, default_seeds=range(3), seeds={},
                   device="cpu", data_root="data", fid_features="synthfaces_classifier"),
    "thesis": dict(dataset="auto", image_size=config.IMAGE_SIZE, width=1.0, batch_size=config.BATCH_SIZE,
                   steps=None, epochs=config.EPOCHS, n_train=None, n_test=None,
                   n_fid=config.N_RANDOM_SAMPLES, n_interp=config.N_INTERPOLATION_PAIRS,
                   interp_steps=config.N_INTERPOLATION_STEPS, default_seeds=range(3), seeds=_WAES5,
                   device="auto", data_root="data", fid_features="auto"),
}
#: The order runs are made in: the primary comparison first, so that a partial study already
#: answers the central claim.
MODEL_ORDER = ("wae_gan", "wae_resnet", "vae", "vae_resnet", "wae_mmd")
#: Seed 0 of each model keeps a few images for Figures 4.1-4.3 (small, committed).
FIGURE_SEED = 0


def plan(scales: Sequence[str], models: Sequence[str] = MODEL_ORDER) -> List[Tuple[str, str, int]]:
    """Every (scale, model, seed) of the study, seed-major so that pairs complete together."""
    out = []
    for scale in scales:
        spec = SCALES[scale]
        runs = [(model, seed) for model in models
                for seed in spec["seeds"].get(model, spec["default_seeds"])]
        out += [(scale, m, s) for m, s in sorted(runs, key=lambda r: (r[1], models.index(r[0])))]
    return out


def result_dir(scale: str, model: str, seed: int, root: Path = RESULTS) -> Path:
    return Path(root) / scale / model / f"seed{seed}"


def scale_params(scale: str) -> Dict[str, Any]:
    """The settings of ``scale``; ``dataset="auto"`` becomes celeba when its files are present."""
    spec = dict(SCALES[scale])
    if spec["dataset"] == "auto":
        spec["dataset"] = "celeba" if celeba_available(spec["data_root"]) else "synthfaces"
    return spec


#: The λ-calibration check of docs/deviations.md (row 7): the two WAEs at the second scale,
#: seed 0, with the reconstruction weight of the official code's balance (0.8 at 32 px), the
#: plain 0.05 used before (penalty 16x heavier) and one value in between.
SENSITIVITY = dict(scale="second", models=("wae_gan", "wae_mmd"), recon_scales=(0.05, 0.2, 0.8), seed=0)
SENSITIVITY_RESULTS = repo_root() / "results" / "lambda_sensitivity"
