"""waelib.course.exercises.ch02: the checks of notebook 02's exercises pass the right answer
(computed here by an independent route) and fail wrong ones; and the toys notebook 02 adds to
waelib.course.toy (the KL / mutual-information bridge, the penalised objective on discrete
measures, the saturating and non-saturating encoder gradients)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from waelib import config
from waelib.course import toy
from waelib.course.exercises import ch02

DT = torch.float64


# --------------------------------------------------------------------------------------
# Exercise checks
# --------------------------------------------------------------------------------------
def test_w2_gaussians_closed_form():
    """1-D: W_2^2 = (m1 - m2)^2 + (s1 - s2)^2 (the quantile coupling); commuting covariances:
    the per-axis sum. The sample estimate from the sorted coupling is close (2 %) but must fail
    the check's 1e-6."""
    assert ch02.check_w2_gaussians(1.0 + 1.0, torch.zeros(1), 4 * torch.eye(1), torch.ones(1), torch.eye(1))
    m1, m2 = torch.tensor([0.0, 1.0], dtype=DT), torch.tensor([2.0, -1.0], dtype=DT)
    cov1, cov2 = torch.diag(torch.tensor([1.0, 4.0], dtype=DT)), torch.diag(torch.tensor([9.0, 0.25], dtype=DT))
    per_axis = 8.0 + (1 - 3) ** 2 + (2 - 0.5) ** 2
    assert ch02.check_w2_gaussians(per_axis, m1, cov1, m2, cov2)
    assert not ch02.check_w2_gaussians(8.0, m1, cov1, m2, cov2)                    # means only
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(0, 2, 100_000), rng.normal(1, 1, 100_000)
    est = toy.ot_1d_sorted(xs, ys, p=2)
    assert est == pytest.approx(2.0, rel=0.02)
    assert not ch02.check_w2_gaussians(est, torch.zeros(1), 4 * torch.eye(1), torch.ones(1), torch.eye(1))


def test_w2_gaussians_non_commuting_is_symmetric_and_zero_on_itself():
    cov1 = torch.tensor([[2.0, 0.8], [0.8, 1.0]], dtype=DT)
    cov2 = torch.tensor([[1.0, -0.3], [-0.3, 0.5]], dtype=DT)
    m = torch.tensor([0.3, -0.2], dtype=DT)
    a, b = ch02.w2_squared_gaussians(m, cov1, -m, cov2), ch02.w2_squared_gaussians(-m, cov2, m, cov1)
    assert torch.isclose(a, b, atol=1e-12) and a > 0
    assert abs(ch02.w2_squared_gaussians(m, cov1, m, cov1)) < 1e-12


def test_v_statistic_bias_against_simulation():
    """400 simulated V-statistics with Q_Z = P_Z = N(0, 2 I_4), n = 32: their mean is within 4
    standard errors of the quadrature; the unbiased estimator's mean 0 and half the bias fail
    (the check's 1 % tolerance is far tighter than either error)."""
    g = torch.Generator().manual_seed(0)
    n, d_z, sd = 32, 4, math.sqrt(config.WAE_PRIOR_SIGMA2)
    v = np.array([toy.mmd_biased(sd * torch.randn(n, d_z, generator=g, dtype=DT),
                                 sd * torch.randn(n, d_z, generator=g, dtype=DT)).item() for _ in range(400)])
    bias = ch02.v_statistic_bias(n, d_z)
    assert abs(v.mean() - bias) < 4 * v.std(ddof=1) / math.sqrt(len(v))
    assert ch02.check_v_statistic_bias(bias, n, d_z)
    assert not ch02.check_v_statistic_bias(0.0, n, d_z)
    assert not ch02.check_v_statistic_bias(bias / 2, n, d_z)


def test_gaussian_channel_information_against_the_bridge():
    """The bridge route (E_x KL - KL(Q_Z || P_Z), with the 1-D toy encoder) equals the channel
    formula; E_x KL alone (an upper bound, not I) fails when Q_Z != P_Z."""
    a, var_x, noise = 1.5, 2.0, 0.3
    enc = toy.LinearGaussianEncoder(Sx=torch.tensor([[var_x]], dtype=DT), A=torch.tensor([[a]], dtype=DT),
                                    c=torch.zeros(1, dtype=DT), S=torch.tensor([[noise]], dtype=DT),
                                    prior_sigma2=config.WAE_PRIOR_SIGMA2)
    bridge = (enc.expected_kl_to_prior() - enc.kl_aggregate_to_prior()).item()
    assert ch02.check_gaussian_channel_information(bridge, a, var_x, noise)
    assert not ch02.check_gaussian_channel_information(enc.expected_kl_to_prior().item(), a, var_x, noise)


def test_nonsaturating_gradient():
    """Arjovsky & Bottou's identity (finite differences of KL - 2 JS) passes; the saturating
    gradient 2 JS' (Goodfellow et al.'s) and JS' fail."""
    q_mu, q_sd, p_sd = 1.0, 0.5, math.sqrt(config.WAE_PRIOR_SIGMA2)
    g = toy.gan_encoder_gradients_1d(q_mu, q_sd, p_sd)
    assert ch02.check_nonsaturating_gradient(g["kl_reverse"] - 2 * g["js"], q_mu, q_sd, p_sd)
    assert not ch02.check_nonsaturating_gradient(2 * g["js"], q_mu, q_sd, p_sd)
    assert not ch02.check_nonsaturating_gradient(g["js"], q_mu, q_sd, p_sd)


# --------------------------------------------------------------------------------------
# The toys notebook 02 uses
# --------------------------------------------------------------------------------------
@pytest.fixture
def encoder():
    return toy.LinearGaussianEncoder(
        Sx=torch.tensor([[1.0, 0.6], [0.6, 2.0]], dtype=DT), A=torch.tensor([[1.2, -0.4], [0.3, 0.8]], dtype=DT),
        c=torch.tensor([0.5, -0.3], dtype=DT), S=torch.tensor([[0.3, 0.05], [0.05, 0.2]], dtype=DT),
        prior_sigma2=config.WAE_PRIOR_SIGMA2)


def test_kl_bridge_closed_forms(encoder):
    e, i, k = encoder.expected_kl_to_prior(), encoder.mutual_information(), encoder.kl_aggregate_to_prior()
    assert torch.isclose(e, i + k, atol=1e-12) and i > 0 and k > 0
    # E_x KL in closed form against the average of the per-x KL (losses.gaussian_kl style formula)
    x, _ = encoder.sample(20_000, torch.Generator().manual_seed(1))
    per_x = torch.stack([toy.kl_gaussians(m, encoder.S, torch.zeros(2, dtype=DT), encoder.prior_cov())
                         for m in (x[:2000] @ encoder.A.T + encoder.c)])
    assert abs(per_x.mean() - e) < 5 * per_x.std() / math.sqrt(len(per_x))


def test_kl_bridge_monte_carlo(encoder):
    mc = encoder.monte_carlo(100_000, torch.Generator().manual_seed(0))
    for name, exact in (("expected_kl", encoder.expected_kl_to_prior()),
                        ("mutual_information", encoder.mutual_information()),
                        ("kl_aggregate", encoder.kl_aggregate_to_prior())):
        mean, se = mc[name]
        assert abs(mean - exact.item()) < 5 * se, name


def test_kl_bridge_equality_when_aggregate_is_prior():
    """A = 0 (codes ignore x): I = 0 and E_x KL = KL(Q_Z || P_Z); S = prior, c = 0: all zero."""
    enc = toy.LinearGaussianEncoder(Sx=torch.eye(2, dtype=DT), A=torch.zeros(2, 2, dtype=DT),
                                    c=torch.zeros(2, dtype=DT), S=2.0 * torch.eye(2, dtype=DT), prior_sigma2=2.0)
    assert abs(enc.mutual_information()) < 1e-12 and abs(enc.expected_kl_to_prior()) < 1e-12


def _discrete_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (4, 2))
    a, p_z = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(6))
    y = rng.normal(0, 1, (6, 2))
    return a, p_z, ((x[:, None] - y[None]) ** 2).sum(-1)


def test_penalised_lp_below_wc_and_exact_for_large_lambda():
    a, p_z, cost = _discrete_problem()
    w, _ = toy.ot_linprog(a, p_z, cost)
    values = [toy.penalised_wae_lp(a, p_z, cost, lam)["objective"] for lam in (0.0, 0.1, 1.0, 10.0, 100.0)]
    assert all(v <= w + 1e-9 for v in values)
    assert all(b >= a_ - 1e-12 for a_, b in zip(values, values[1:]))        # non-decreasing in lambda
    assert values[0] == pytest.approx(cost.min(1) @ a, abs=1e-9)            # lambda = 0: nearest code
    big = toy.penalised_wae_lp(a, p_z, cost, 100.0)
    assert big["objective"] == pytest.approx(w, abs=1e-8) and big["penalty"] < 1e-9
    assert np.allclose(big["plan"].sum(1), a)


def test_penalised_deterministic_against_brute_force_and_lp():
    """Exhaustive search agrees with a hand loop over all maps; it is never below the LP (a
    subset of encoders) and, when no map can match the prior, above W_c for large lambda."""
    import itertools
    a, p_z, cost = _discrete_problem()
    lam = 3.0
    best = min(sum(a[i] * cost[i, j] for i, j in enumerate(m))
               + lam * np.abs(np.bincount(m, weights=a, minlength=6) - p_z).sum()
               for m in itertools.product(range(6), repeat=4))
    det = toy.penalised_wae_deterministic(a, p_z, cost, lam)
    assert det["objective"] == pytest.approx(best, abs=1e-12)
    assert det["objective"] >= toy.penalised_wae_lp(a, p_z, cost, lam)["objective"] - 1e-9
    w, _ = toy.ot_linprog(a, p_z, cost)
    assert toy.penalised_wae_deterministic(a, p_z, cost, 100.0)["objective"] > w
    path = toy.penalised_wae_deterministic_path(a, p_z, cost, [0.0, lam, 100.0])
    assert [r["objective"] for r in path] == pytest.approx(
        [toy.penalised_wae_deterministic(a, p_z, cost, v)["objective"] for v in (0.0, lam, 100.0)], abs=1e-12)
    with pytest.raises(ValueError):
        toy.penalised_wae_deterministic(np.ones(8) / 8, np.ones(8) / 8, np.zeros((8, 8)), 1.0)


def test_gan_encoder_gradients_identities():
    """Goodfellow et al.: saturating = 2 JS'; Arjovsky & Bottou: non-saturating = KL' - 2 JS'.
    KL' is mu / p_sd^2 in closed form; far from the prior the saturating gradient vanishes."""
    p_sd = math.sqrt(2.0)
    for mu, sd in ((0.5, 0.5), (2.0, 1.0), (-1.0, 2.0)):
        g = toy.gan_encoder_gradients_1d(mu, sd, p_sd)
        assert g["saturating"] == pytest.approx(2 * g["js"], abs=1e-7)
        assert g["non_saturating"] == pytest.approx(g["kl_reverse"] - 2 * g["js"], abs=1e-7)
        assert g["kl_reverse"] == pytest.approx(mu / p_sd ** 2, abs=1e-7)
    far = toy.gan_encoder_gradients_1d(10.0, 0.5, p_sd)
    assert abs(far["saturating"]) < 1e-3 < far["non_saturating"]
    assert toy.kl_gaussians_1d(0.0, 1.0, 0.0, 1.0) == 0.0
