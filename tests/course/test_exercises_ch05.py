"""The checks of notebook 05's exercises: each passes the right answer, computed independently
(the library's own functions, or by hand), and fails the usual wrong ones. Every check's
tolerance is documented in its docstring; the wrong answers below are chosen well outside it."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import stats

from waelib import metrics
from waelib.course import show
from waelib.course.exercises import ch05
from waelib.studies import claims
from waelib.utils import repo_root


# --------------------------------------------------------------------------------------
# Exercise 1: the sharpness of a step edge
# --------------------------------------------------------------------------------------
def _edge(e):
    image = torch.full((1, 3, e["height"], e["width"]), e["low"])
    image[..., e["column"]:] = e["high"]
    return image


def test_step_edge_closed_form_is_the_library_value():
    """The check's closed form 255 |high - low| / width is what metrics.sharpness measures."""
    assert ch05.check_step_edge_sharpness(metrics.sharpness(_edge(ch05.STEP_EDGE)).item())
    other = dict(ch05.STEP_EDGE, low=0.1, high=0.5, width=32, height=16, column=10)
    assert ch05.check_step_edge_sharpness(metrics.sharpness(_edge(other)).item(), other)


def test_step_edge_wrong_answers_fail():
    e = ch05.STEP_EDGE
    right = 255 * abs(e["high"] - e["low"]) / e["width"]
    assert not ch05.check_step_edge_sharpness(right / 2)                  # one column's central difference only
    assert not ch05.check_step_edge_sharpness(right / e["height"])        # divided by all pixels twice
    assert not ch05.check_step_edge_sharpness(abs(e["high"] - e["low"]) / e["width"])   # the [0, 1] scale
    assert not ch05.check_step_edge_sharpness("about 2")


# --------------------------------------------------------------------------------------
# Exercises 2-4 on synthetic claims results (known values) and on the committed ones
# --------------------------------------------------------------------------------------
def _write_eval(root, scale, model, seed, fid):
    path = root / scale / model / f"seed{seed}" / "eval.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"result": {"samples": {"fid": {"value": fid}}}}))


@pytest.fixture
def synthetic_root(tmp_path):
    """d = WAE-ResNet - WAE = (1, 2, 3, 4, 5) over five seeds: mean 3, sd sqrt(2.5)."""
    for seed, d in enumerate([1.0, 2.0, 3.0, 4.0, 5.0]):
        _write_eval(tmp_path, "primary", "wae_gan", seed, 100.0 + 7 * seed)
        _write_eval(tmp_path, "primary", "wae_resnet", seed, 100.0 + 7 * seed + d)
    _write_eval(tmp_path, "primary", "wae_resnet", 9, 1.0)                # a seed without a partner: ignored
    return tmp_path


def test_per_seed_values_reads_the_eval_files(synthetic_root):
    assert ch05.per_seed_values("wae_gan", root=synthetic_root) == {s: 100.0 + 7 * s for s in range(5)}
    with pytest.raises(FileNotFoundError):
        ch05.per_seed_values("vae", root=synthetic_root)


def test_paired_interval_by_hand_on_known_differences(synthetic_root):
    half = stats.t.ppf(0.975, 4) * np.sqrt(2.5) / np.sqrt(5)             # t(0.975, 4) sd / sqrt(n)
    assert ch05.check_paired_interval((3 - half, 3 + half), root=synthetic_root)
    z = 1.959964 * np.sqrt(2.5) / np.sqrt(5)                              # the normal quantile: too narrow
    assert not ch05.check_paired_interval((3 - z, 3 + z), root=synthetic_root)
    pop = stats.t.ppf(0.975, 4) * np.sqrt(2.0) / np.sqrt(5)               # population sd (ddof = 0)
    assert not ch05.check_paired_interval((3 - pop, 3 + pop), root=synthetic_root)
    assert not ch05.check_paired_interval(3.0, root=synthetic_root)


def test_paired_interval_on_the_committed_results_matches_the_claims_table():
    a, b = ch05.per_seed_values("wae_resnet"), ch05.per_seed_values("wae_gan")
    s = claims.paired_summary([a[k] - b[k] for k in sorted(set(a) & set(b))])
    assert ch05.check_paired_interval((s["lo"], s["hi"]))
    row = "rows[claim=C1,scale=primary]"
    assert ch05.check_paired_interval((show.lookup("figures/claims.json", f"{row}.ci_lo"),
                                       show.lookup("figures/claims.json", f"{row}.ci_hi")))
    assert not ch05.check_paired_interval((s["lo"] + 1.0, s["hi"]))


def test_holm_against_the_library_and_the_committed_table():
    p = list(ch05.claim_pvalues("primary").values())
    assert ch05.check_holm(claims.holm(p))
    committed = {r[0]: r[12] for r in json.loads((repo_root() / "figures" / "claims.json").read_text())["rows"]
                 if r[1] == "primary" and r[11] is not None}
    assert ch05.check_holm([committed[c] for c in ch05.claim_pvalues("primary")])
    assert not ch05.check_holm(p)                                         # unadjusted
    assert not ch05.check_holm([min(1.0, len(p) * x) for x in p])         # Bonferroni
    assert not ch05.check_holm(claims.holm(p)[:-1])                       # one value short


def test_holm_closed_form_on_a_small_table(tmp_path):
    """p = (0.01, 0.04, 0.03, 0.20): sorted 0.01, 0.03, 0.04, 0.20 -> 0.04, 0.09, max(0.08, 0.09), 0.20."""
    table = tmp_path / "claims.json"
    table.write_text(json.dumps({"columns": ["claim", "scale", "p"],
                                 "rows": [[f"C{i}", "primary", p] for i, p in enumerate([0.01, 0.04, 0.03, 0.20])]
                                 + [["C5", "primary", None]]}))
    assert ch05.check_holm([0.04, 0.09, 0.09, 0.20], table=table)
    assert not ch05.check_holm([0.04, 0.08, 0.09, 0.20], table=table)    # without the running maximum


def test_seeds_needed(synthetic_root):
    """mean 3, sd sqrt(2.5): (t(.975, n-1) + t(.8, n-1)) sqrt(2.5 / n) is 3.29 at n = 4 and 2.63
    at n = 5, so n = 5 is the first that detects 3."""
    mde = {n: (stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)) * np.sqrt(2.5 / n) for n in (4, 5)}
    assert mde[4] > 3 >= mde[5]
    assert ch05.check_seeds_needed(5, root=synthetic_root)
    assert not ch05.check_seeds_needed(4, root=synthetic_root)
    assert not ch05.check_seeds_needed(6, root=synthetic_root)
    assert not ch05.check_seeds_needed(5.0, root=synthetic_root)         # an integer is asked for


def test_seeds_needed_on_the_committed_results():
    """The committed C1 design (5 seeds) cannot detect its own mean difference: mde > |mean|."""
    row = "rows[claim=C1,scale=primary]"
    mde, mean = (show.lookup("figures/claims.json", f"{row}.{k}") for k in ("mde", "mean_diff"))
    assert mde > abs(mean)
    assert not ch05.check_seeds_needed(show.lookup("figures/claims.json", f"{row}.n_seeds"))
    right = next(n for n in range(2, 200) if ch05.check_seeds_needed(n))
    assert right > 5


# --------------------------------------------------------------------------------------
# Exercise 5: the gap's slope per doubling
# --------------------------------------------------------------------------------------
def test_gap_slope_is_the_study_s_log2_slope():
    """The check (numpy's polyfit) agrees with the study's own least squares, and a doubling
    means +1 on the log2 axis: a gap falling by exactly 5 per doubling has slope -5."""
    from waelib.studies.why_analysis import log2_slope
    c = ch05.GAP_CURVE
    assert ch05.check_gap_slope(log2_slope(c["steps"], c["gap"]))
    line = {"steps": [500, 1000, 2000, 4000], "gap": [20.0, 15.0, 10.0, 5.0]}
    assert ch05.check_gap_slope(-5.0, line)


def test_gap_slope_wrong_answers_fail():
    c = ch05.GAP_CURVE
    steps, gap = np.asarray(c["steps"], dtype=float), np.asarray(c["gap"], dtype=float)
    right = float(np.polyfit(np.log2(steps), gap, 1)[0])
    assert not ch05.check_gap_slope(float(np.polyfit(steps, gap, 1)[0]))          # against steps, not log2
    assert not ch05.check_gap_slope(float(np.polyfit(np.log(steps), gap, 1)[0]))  # per factor e
    assert not ch05.check_gap_slope((gap[-1] - gap[0]) / 4)                       # the end points only
    assert not ch05.check_gap_slope(-right)
    assert not ch05.check_gap_slope("steep")
