"""The claims' statistics (waelib.studies.claims) against scipy and hand-computed values."""
import numpy as np
import pytest
from scipy import stats

from waelib.studies import claims


def test_paired_summary_matches_scipy_ttest_and_interval():
    rng = np.random.default_rng(0)
    a, b = rng.normal(5, 1, 6), rng.normal(5.8, 1, 6)
    s = claims.paired_summary(a - b)
    t = stats.ttest_rel(a, b)
    assert s["p"] == pytest.approx(t.pvalue, rel=1e-10)
    lo, hi = stats.t.interval(0.95, 5, loc=np.mean(a - b), scale=stats.sem(a - b))
    assert (s["lo"], s["hi"]) == (pytest.approx(lo), pytest.approx(hi))
    assert s["n"] == 6 and s["sd"] == pytest.approx(np.std(a - b, ddof=1))


def test_smallest_detectable_difference_has_about_80_percent_power():
    """The exact power of the two-sided paired t-test at the reported mde (noncentral t)."""
    d = [0.3, -0.1, 0.5, 0.2, 0.0]
    s = claims.paired_summary(d)
    n, se = 5, s["sd"] / np.sqrt(5)
    tq = stats.t.ppf(0.975, n - 1)
    nc = s["mde"] / se
    power = stats.nct.sf(tq, n - 1, nc) + stats.nct.cdf(-tq, n - 1, nc)
    assert 0.75 < power < 0.85


def test_paired_summary_with_one_value_has_no_interval():
    s = claims.paired_summary([1.5])
    assert s["mean"] == 1.5 and s["lo"] is None and s["p"] is None
    assert claims.verdict(s, -1) == claims.INCONCLUSIVE


def test_holm_by_hand():
    adj = claims.holm([0.01, 0.04, 0.03, 0.005, None])
    assert adj[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adj[4] is None


@pytest.mark.parametrize("lo,hi,direction,expected", [
    (-3, -1, -1, claims.SUPPORTED), (1, 3, -1, claims.CONTRADICTED), (-1, 1, -1, claims.INCONCLUSIVE),
    (1, 3, +1, claims.SUPPORTED), (-3, -1, +1, claims.CONTRADICTED), (-1, 1, +1, claims.INCONCLUSIVE)])
def test_verdict(lo, hi, direction, expected):
    assert claims.verdict({"lo": lo, "hi": hi}, direction) == expected


def _result(fid, sharp):
    return {"samples": {"fid": {"value": fid}, "sharpness": sharp, "laplacian_sharpness": 1.0},
            "reconstructions": {"fid": {"value": fid / 2}, "sharpness": sharp, "laplacian_sharpness": 1.0},
            "interpolations": {"fid": None, "sharpness": sharp, "laplacian_sharpness": 1.0}}


def test_analyse_pairs_by_seed_and_combines_c5():
    noise = [0.1, -0.2, 0.05, 0.15, -0.1]
    results = {
        "wae_gan": {s: _result(10 + e, 5.0 + e) for s, e in enumerate(noise)},
        # lower FID by 2 on every seed (supported), blurrier by 1 (contradicted)
        "wae_resnet": {s: _result(8 + e, 4.0 + 0.5 * e) for s, e in enumerate(noise)},
        "vae": {s: _result(30 + e, 3.0) for s, e in enumerate(noise[:3])},
        "vae_resnet": {s: _result(30 - e, 3.0) for s, e in enumerate(noise[:3])},
    }
    rows = {r["claim"]: r for r in claims.analyse(results, "test")}
    assert rows["C1"]["verdict"] == claims.SUPPORTED and rows["C1"]["n_seeds"] == 5
    assert rows["C1"]["mean_diff"] == pytest.approx(-2.0)
    assert rows["C3a"]["verdict"] == claims.CONTRADICTED
    assert rows["C4a"]["n_seeds"] == 3 and rows["C4a"]["seeds"] == [0, 1, 2]
    assert rows["C5"]["verdict"] == claims.SUPPORTED
    assert rows["C1"]["thesis_a"] == 5.693 and rows["C1"]["thesis_b"] == 5.756
    # A model missing for a seed drops that pair only.
    del results["wae_resnet"][4]
    assert {r["claim"]: r for r in claims.analyse(results, "t")}["C1"]["n_seeds"] == 4


def test_aggregate_table_means_and_intervals():
    results = {"wae_gan": {0: _result(10, 5), 1: _result(12, 7)}}
    rows = claims.aggregate_table("table4_4_random_samples", results)
    assert rows[0]["model"] == "WAE" and rows[0]["sample_fid"] == pytest.approx(11.0)
    assert rows[0]["sample_fid_ci"] == pytest.approx(stats.t.ppf(0.975, 1) * np.std([10, 12], ddof=1) / np.sqrt(2))
    assert rows[0]["thesis_sample_fid"] == 5.756 and rows[0]["n_seeds"] == 2
    with pytest.raises(ValueError, match="valid"):
        claims.aggregate_table("table9", results)
