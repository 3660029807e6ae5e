"""Checks for the exercises of notebook 07 (seed 004's landscape of regularised auto-encoders).

Every check computes its expected value itself, never from the student's answer:

- :func:`check_log_ratio` -- the density-ratio trick of VAE-IOP: a logistic regression between
  draws of two Gaussians recovers their log density ratio (the closed form);
- :func:`check_vamp_log_prior` -- a VampPrior's log-density at one code (scipy's mixture);
- :func:`check_gmm_gain` -- what the ex-post GMM changes in the RAE's sample FCD, read from the
  committed results' ``eval.json`` files directly (not through the study's code);
- :func:`check_memorisation` -- the nearest-neighbour memorisation measure on toy features
  (scikit-learn's nearest neighbours).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch
from scipy import stats
from scipy.special import logsumexp

from ...utils import repo_root
from . import Verdict, close

__all__ = ["RATIO_EXERCISE", "VAMP_EXERCISE", "ratio_samples", "check_log_ratio", "check_vamp_log_prior",
           "gmm_gain_by_seed", "check_gmm_gain", "memorisation_sets", "lower_median", "check_memorisation"]

#: Exercise 1: draws of q = N(mean_q, 1) (label 1) and p = N(0, 1) (label 0), n of each.
RATIO_EXERCISE = {"mean_q": 1.0, "n": 20000, "seed": 0}
#: Exercise 2: a 1-d VampPrior with two components (the encoder's posteriors at two pseudo-inputs).
VAMP_EXERCISE = {"z": 0.3, "means": (-1.0, 1.0), "variances": (0.5, 2.0)}


def ratio_samples() -> Tuple[np.ndarray, np.ndarray]:
    """Exercise 1's data: z (2n, 1) and labels (2n,), 1 for q's draws and 0 for p's."""
    rng = np.random.default_rng(RATIO_EXERCISE["seed"])
    n, m = RATIO_EXERCISE["n"], RATIO_EXERCISE["mean_q"]
    z = np.concatenate([rng.normal(m, 1.0, n), rng.normal(0.0, 1.0, n)])[:, None]
    return z, np.concatenate([np.ones(n), np.zeros(n)])


def check_log_ratio(slope: Any, intercept: Any) -> Verdict:
    """Exercise 1: the logit ``slope * z + intercept`` of a classifier of q against p (balanced
    classes) estimates log q(z)/p(z) = m z - m^2/2 for q = N(m, 1), p = N(0, 1)."""
    m = RATIO_EXERCISE["mean_q"]
    # with 20,000 draws per class the logistic fit's standard errors are about 0.015 (slope) and
    # 0.01 (intercept); 0.08 is five of them and still rejects a slope of 0.5 or an intercept of 0
    a = close(slope, m, rel=0.0, abs_tol=0.08, what="the slope", hint="log N(z; m, 1) - log N(z; 0, 1) is linear in z")
    if not a:
        return a
    return close(intercept, -m * m / 2, rel=0.0, abs_tol=0.08, what="the intercept",
                 hint="expand -(z - m)^2/2 + z^2/2; the classes are balanced, so no log prior-odds term")


def check_vamp_log_prior(answer: Any) -> Verdict:
    """Exercise 2: log p(z) = log (1/K) sum_k N(z; mu_k, var_k) at :data:`VAMP_EXERCISE`."""
    e = VAMP_EXERCISE
    logs = [stats.norm.logpdf(e["z"], mu, math.sqrt(v)) for mu, v in zip(e["means"], e["variances"])]
    expected = float(logsumexp(logs) - math.log(len(logs)))
    return close(answer, expected, rel=1e-6, what="log p(z)",
                 hint="average the two component densities (weights 1/K), then take the log")


def gmm_gain_by_seed(root: Optional[Path] = None, scale: str = "primary", arm: str = "rae") -> Dict[int, float]:
    """``{seed: sample FCD with the ex-post GMM - with the prior}`` of ``arm`` at ``scale``, read
    from ``results/landscape/<scale>/<arm>/seed<k>/eval.json`` (runs that finished)."""
    root = Path(root) if root is not None else repo_root() / "results" / "landscape"
    out = {}
    for ev_path in sorted((root / scale / arm).glob("seed*/eval.json")):
        run = json.loads((ev_path.parent / "run.json").read_text()) if (ev_path.parent / "run.json").is_file() else {}
        if run.get("status") != "done":
            continue
        ev = json.loads(ev_path.read_text())["result"]
        out[int(ev_path.parent.name[4:])] = (ev["samples_gmm"]["fid"]["value"] - ev["samples"]["fid"]["value"])
    return out


def check_gmm_gain(answer: Any, root: Optional[Path] = None) -> Verdict:
    """Exercise 3: the mean over seeds of :func:`gmm_gain_by_seed` (the committed results)."""
    d = gmm_gain_by_seed(root)
    if not d:
        return Verdict(False, "no finished RAE run in results/landscape/primary/rae yet: run make landscape")
    return close(answer, float(np.mean(list(d.values()))), rel=1e-6, what="the mean paired difference",
                 hint="per seed: eval['samples_gmm']['fid']['value'] - eval['samples']['fid']['value']")


def memorisation_sets(seed: int = 0) -> Dict[str, torch.Tensor]:
    """Exercise 4's toy features: ``train`` (500, 8), ``test`` (200, 8) new draws, and ``samples``
    (200, 8) of which the first 100 are copies of training points plus small noise."""
    g = torch.Generator().manual_seed(seed)
    train, test = torch.randn(500, 8, generator=g), torch.randn(200, 8, generator=g)
    copies = train[:100] + 0.01 * torch.randn(100, 8, generator=g)
    return {"train": train, "test": test, "samples": torch.cat([copies, torch.randn(100, 8, generator=g)])}


def lower_median(x: np.ndarray) -> float:
    """The lower of the two middle values for an even count (``torch.median``'s convention, which
    the study's :func:`waelib.studies.landscape_eval.memorisation` uses), the middle one otherwise."""
    return float(np.sort(np.asarray(x))[(len(x) - 1) // 2])


def check_memorisation(answer: Any, seed: int = 0) -> Verdict:
    """Exercise 4: median nearest-training distance of the samples minus that of the test points
    (medians as :func:`lower_median`), computed with scikit-learn's exact nearest neighbours."""
    # deferred: scikit-learn is slow to import and only this check needs it
    from sklearn.neighbors import NearestNeighbors
    sets = memorisation_sets(seed)
    nn = NearestNeighbors(n_neighbors=1).fit(sets["train"].double().numpy())
    ds = nn.kneighbors(sets["samples"].double().numpy())[0][:, 0]
    dt = nn.kneighbors(sets["test"].double().numpy())[0][:, 0]
    return close(answer, lower_median(ds) - lower_median(dt), rel=1e-6, what="the median difference",
                 hint="torch.cdist(queries, train).min(1) gives each query's nearest distance; then torch.median")
