"""Checks for the exercises of notebook 05 (the thesis' results and the claims study).

Every check computes its expected value itself, from a closed form or from the committed
results read here directly (``results/claims/<scale>/<model>/seed<k>/eval.json``,
``figures/claims.json``), never from the student's answer:

- :func:`check_step_edge_sharpness` -- the thesis' sharpness of a step edge (a closed form);
- :func:`check_paired_interval` -- the 95 % t-interval of claim C1's paired differences
  (scipy's paired t-test);
- :func:`check_holm` -- Holm's adjusted p-values of one scale's claims;
- :func:`check_seeds_needed` -- how many seeds detect a given difference with 80 % power;
- :func:`check_gap_slope` -- the slope of a gap against log2(steps), per doubling (least squares,
  numpy's polyfit as the independent reference).

The data helpers (:func:`per_seed_values`, :func:`claim_pvalues`) hand the student the same
committed numbers the checks read.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats

from ...utils import repo_root
from . import Verdict, close

__all__ = ["STEP_EDGE", "per_seed_values", "claim_pvalues",
           "check_step_edge_sharpness", "check_paired_interval",
           "check_holm", "check_seeds_needed", "GAP_CURVE", "check_gap_slope"]

#: Exercise 1: a vertical step edge in a (height x width) image, grey ``low`` left of column
#: ``column`` and ``high`` from it on, in [0, 1] (the thesis' sharpness scales by 255).
STEP_EDGE: Dict[str, Any] = {"low": 0.2, "high": 0.8, "height": 64, "width": 64, "column": 32}

#: Exercise 5: a made-up gap WAE-ResNet - WAE (sample FCD) of one seed at the study's budgets.
GAP_CURVE: Dict[str, List[float]] = {"steps": [500, 1000, 2000, 4000, 8000],
                                     "gap": [38.0, 31.0, 22.0, 17.0, 9.0]}

#: The metric of claim C1 (Table 4.4): the Fréchet distance of random samples.
SAMPLE_FID = ("samples", "fid", "value")


def _claims_root(root: Optional[Path]) -> Path:
    return Path(root) if root is not None else repo_root() / "results" / "claims"


def per_seed_values(model: str, scale: str = "primary", metric: Sequence[str] = SAMPLE_FID, *,
                    root: Optional[Path] = None) -> Dict[int, float]:
    """``{seed: value}`` of one model's metric at one scale of the claims study, read straight
    from the committed ``results/claims/<scale>/<model>/seed<k>/eval.json`` files.

    ``metric`` is the key path inside an evaluation result (default: the sample FID/FCD).
    Raises FileNotFoundError when the scale has no run of ``model``.
    """
    folder = _claims_root(root) / scale / model
    out: Dict[int, float] = {}
    for path in sorted(folder.glob("seed*/eval.json")):
        value: Any = json.loads(path.read_text())["result"]
        for key in metric:
            value = value[key]
        out[int(path.parent.name[4:])] = float(value)
    if not out:
        raise FileNotFoundError(f"no evaluated run of {model!r} under {folder}")
    return out


def _c1_pairs(scale: str, root: Optional[Path]) -> Tuple[np.ndarray, np.ndarray]:
    """WAE-ResNet's and WAE's sample FCD over the seeds both have, in seed order."""
    a, b = per_seed_values("wae_resnet", scale, root=root), per_seed_values("wae_gan", scale, root=root)
    seeds = sorted(set(a) & set(b))
    return np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])


def _claims_rows(scale: str, table: Optional[Path]) -> List[Dict[str, Any]]:
    path = Path(table) if table is not None else repo_root() / "figures" / "claims.json"
    data = json.loads(path.read_text())
    rows = [dict(zip(data["columns"], r)) for r in data["rows"]]
    return [r for r in rows if r["scale"] == scale and r["p"] is not None]


def claim_pvalues(scale: str = "primary", *, table: Optional[Path] = None) -> Dict[str, float]:
    """``{claim: unadjusted p}`` of the paired claims of one scale (the composite C5 has no p
    of its own), in the order of the committed ``figures/claims.json``."""
    return {r["claim"]: float(r["p"]) for r in _claims_rows(scale, table)}


def check_step_edge_sharpness(answer: Any, edge: Optional[Dict[str, Any]] = None) -> Verdict:
    """Exercise 1: the thesis' sharpness S (§2.5; 0-255 scale) of the step edge :data:`STEP_EDGE`.

    Closed form: ``np.gradient`` gives the two columns beside the step the central difference
    255 (high - low) / 2 each and every other pixel 0, so each row sums to 255 |high - low|
    and the mean over the image is ``S = 255 |high - low| / width`` (any height). The
    tolerance 1e-6 (relative) allows floating-point round-off only.
    """
    e = dict(STEP_EDGE, **(edge or {}))
    expected = 255.0 * abs(e["high"] - e["low"]) / e["width"]
    return close(answer, expected, rel=1e-6, what="sharpness of the step edge",
                 hint="sum |f[j+1] - f[j-1]| / 2 along one row, then divide by the number of pixels in it")


def check_paired_interval(answer: Any, scale: str = "primary", *, root: Optional[Path] = None) -> Verdict:
    """Exercise 2: the 95 % t-interval ``(lo, hi)`` of claim C1's paired differences
    d_s = FCD(WAE-ResNet, s) - FCD(WAE, s) at ``scale``.

    The expected interval is scipy's paired t-test (``stats.ttest_rel(a, b)
    .confidence_interval(0.95)``) on the committed per-seed values. The tolerance 1e-3
    (relative) passes an answer computed from values rounded to 4 significant digits; the
    usual slips are far outside it (the normal quantile 1.96 for t(0.975, 4) = 2.78 narrows
    the interval by 29 %, the population sd (ddof = 0) by 11 % at n = 5).
    """
    try:
        lo, hi = (float(v) for v in answer)
    except (TypeError, ValueError):
        return Verdict(False, "paired 95 % interval: expected two numbers (lo, hi)")
    a, b = _c1_pairs(scale, root)
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    return close([lo, hi], [float(ci.low), float(ci.high)], rel=1e-3,
                 what=f"C1's paired 95 % interval at the {scale} scale",
                 hint="mean(d) ± t(0.975, n - 1) · sd(d) / √n with the sample sd (ddof = 1) and the t quantile")


def check_holm(answer: Any, scale: str = "primary", *, table: Optional[Path] = None) -> Verdict:
    """Exercise 3: Holm's adjusted p-values of the claims of one scale, in the order of
    :func:`claim_pvalues`.

    Computed here as the step-down rule written out: sort the m p-values, multiply the k-th
    smallest (k = 0, 1, ...) by (m - k), cap at 1, and take the running maximum so that the
    adjusted values keep the order of the raw ones; then undo the sort. The tolerance 1e-6
    (relative) allows round-off only.
    """
    p = np.asarray(list(claim_pvalues(scale, table=table).values()), dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    expected = np.empty(m)
    expected[order] = stepped
    try:
        got = np.asarray(list(answer), dtype=float)
    except (TypeError, ValueError):
        return Verdict(False, f"Holm-adjusted p-values: expected a list of {m} numbers")
    return close(got, expected, rel=1e-6, what=f"Holm-adjusted p-values at the {scale} scale",
                 hint="multiply the k-th smallest p by (m - k + 1), cap at 1, and never let an "
                      "adjusted value fall below the one before it in the sorted order")


def check_seeds_needed(answer: Any, scale: str = "primary", *, power: float = 0.80,
                       root: Optional[Path] = None, max_seeds: int = 1000) -> Verdict:
    """Exercise 4: the smallest number of seeds n at which claim C1's design detects a true
    difference as large as the observed mean difference with ``power``, at the 5 % level,
    assuming the observed sd of the differences: the least n >= 2 with
    ``(t(0.975, n - 1) + t(power, n - 1)) · sd / √n <= |mean(d)|``. An integer: exact match.
    """
    a, b = _c1_pairs(scale, root)
    d = a - b
    target, sd = abs(float(d.mean())), float(d.std(ddof=1))
    expected = next((n for n in range(2, max_seeds + 1)
                     if (stats.t.ppf(0.975, n - 1) + stats.t.ppf(power, n - 1)) * sd / math.sqrt(n) <= target),
                    None)
    if expected is None:
        return Verdict(False, f"seeds needed: more than {max_seeds}")
    if isinstance(answer, bool) or not isinstance(answer, (int, np.integer)):
        return Verdict(False, f"seeds needed: expected an integer, got {type(answer).__name__}")
    if int(answer) == expected:
        return Verdict(True, "seeds needed: right")
    return Verdict(False, "seeds needed: not yet -- the t quantiles change with n too: recompute "
                          "them for every n you try")


def check_gap_slope(answer: Any, curve: Optional[Dict[str, Sequence[float]]] = None) -> Verdict:
    """Exercise 5: the least-squares slope of the gap of :data:`GAP_CURVE` against log2(steps),
    i.e. the change of the gap per doubling of the budget (numpy's ``polyfit`` of degree 1).
    Tolerance rel 1e-6: any correct float64 computation agrees far closer, and the usual wrong
    ones (natural log, raw steps, end points) are off by 0.5 % or more."""
    c = curve or GAP_CURVE
    x, g = np.log2(np.asarray(c["steps"], dtype=float)), np.asarray(c["gap"], dtype=float)
    expected = float(np.polyfit(x, g, 1)[0])
    return close(answer, expected, rel=1e-6, what="the gap's slope per doubling",
                 hint="regress the gap on x = log2(steps): slope = sum((x - mean x)(g - mean g)) / "
                      "sum((x - mean x)^2); a doubling adds 1 to x")
