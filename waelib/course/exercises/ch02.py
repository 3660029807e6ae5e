"""Checks of notebook 02 (the WAE objective)'s exercises.

Each check computes the expected value itself from the problem's data (never from the answer):

- :func:`check_w2_gaussians` -- the squared 2-Wasserstein distance between two Gaussians, in
  closed form (Dowson & Landau 1982; Olkin & Pukelsheim 1982);
- :func:`check_v_statistic_bias` -- the mean of the biased (V-statistic) MMD^2 estimate when
  Q_Z = P_Z, by one-dimensional quadrature over a chi-square law;
- :func:`check_gaussian_channel_information` -- I(X; Z) of z = a x + noise, the Gaussian
  channel formula;
- :func:`check_nonsaturating_gradient` -- the gradient of Algorithm 2's encoder loss -log D* with
  respect to the codes' mean, by quadrature of its defining integral.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from ... import config
from . import Verdict, close

__all__ = ["check_w2_gaussians", "check_v_statistic_bias", "check_gaussian_channel_information",
           "check_nonsaturating_gradient", "w2_squared_gaussians", "v_statistic_bias"]

DT = torch.float64


def _sqrtm_psd(cov: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a positive semi-definite matrix, by its eigenvectors."""
    vals, vecs = torch.linalg.eigh(cov)
    return vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T


def w2_squared_gaussians(m1: torch.Tensor, cov1: torch.Tensor, m2: torch.Tensor, cov2: torch.Tensor) -> torch.Tensor:
    """W_2^2(N(m1, cov1), N(m2, cov2)) = |m1 - m2|^2 + tr(cov1 + cov2 - 2 (cov2^1/2 cov1 cov2^1/2)^1/2)."""
    m1, cov1, m2, cov2 = (torch.as_tensor(t, dtype=DT) for t in (m1, cov1, m2, cov2))
    r2 = _sqrtm_psd(cov2)
    return (m1 - m2).pow(2).sum() + torch.trace(cov1 + cov2 - 2 * _sqrtm_psd(r2 @ cov1 @ r2))


def check_w2_gaussians(answer: Any, m1: torch.Tensor, cov1: torch.Tensor, m2: torch.Tensor,
                       cov2: torch.Tensor) -> Verdict:
    """Exercise 1: W_2^2 between N(m1, cov1) and N(m2, cov2) (the squared distance, i.e. W_c for
    c = |x - y|^2). Tolerance: relative 1e-6 -- the closed form in float64; an estimate from
    samples (the linear programme) is off by far more and must not pass."""
    return close(answer, w2_squared_gaussians(m1, cov1, m2, cov2), rel=1e-6, abs_tol=1e-12,
                 what="W_2^2 between the Gaussians",
                 hint="|m1 - m2|^2 + tr(S1 + S2 - 2 (S2^1/2 S1 S2^1/2)^1/2), with symmetric square "
                      "roots (torch.linalg.eigh)")


def v_statistic_bias(n: int, d_z: int, scales: Sequence[float] = config.MMD_SCALES) -> float:
    """E[V-statistic MMD^2] when both samples (n each) come from the same N(0, s2 I_{d_z}), for the
    IMQ kernels C_s / (C_s + |z - z'|^2), C_s = 2 d_z s2 s:

        2/n * sum_s (1 - E[d_z s / (d_z s + chi2_{d_z})])

    (|z - z'|^2 = 2 s2 chi2_{d_z}, so s2 cancels); the expectation by quadrature.
    """
    from scipy import integrate, stats  # deferred: scipy only for this check
    total = 0.0
    for s in scales:
        mean_k, _ = integrate.quad(lambda t, s=s: d_z * s / (d_z * s + t) * stats.chi2.pdf(t, d_z), 0, np.inf)
        total += 1.0 - mean_k
    return 2.0 * total / n


def check_v_statistic_bias(answer: Any, n: int, d_z: int,
                           scales: Sequence[float] = config.MMD_SCALES) -> Verdict:
    """Exercise 2: the expected value of :func:`waelib.course.toy.mmd_biased` under Q_Z = P_Z, for
    n codes and n prior samples in d_z dimensions (:func:`v_statistic_bias`). Tolerance: relative
    1e-2 -- an answer that estimates E k(z, z') by Monte Carlo from 10^5 pairs is within a few
    10^-3; the unbiased estimator's mean (0) and a wrong factor (1/n instead of 2/n) fail."""
    return close(answer, v_statistic_bias(n, d_z, scales), rel=1e-2, what="the V-statistic's bias",
                 hint="expand E V term by term: the n diagonal terms k(z, z) = 1 per scale, the "
                      "n(n - 1) others E k(z, z'); the cross term is E k(z, z') too")


def check_gaussian_channel_information(answer: Any, a: float, var_x: float, noise_var: float) -> Verdict:
    """Exercise 3: I(X; Z) for x ~ N(0, var_x), z | x ~ N(a x, noise_var): 1/2 log(1 + a^2 var_x /
    noise_var) nats. Tolerance: relative 1e-8 -- closed forms in float64 on either route."""
    expected = 0.5 * math.log1p(a ** 2 * var_x / noise_var)
    return close(answer, expected, rel=1e-8, abs_tol=1e-12, what="I(X; Z)",
                 hint="E_x KL(q(z|x) || p(z)) - KL(Q_Z || P_Z); Q_Z is N(0, a^2 var_x + noise_var)")


def check_nonsaturating_gradient(answer: Any, q_mu: float, q_sd: float, p_sd: float) -> Verdict:
    """Exercise 4: d/dmu E_{N(mu, q_sd^2)}[-log D*(z)] at mu = q_mu, with D* = p / (p + q) the
    optimal discriminator of the current codes held fixed and p = N(0, p_sd^2). Computed here as
    the integral of dq/dmu * log((p + q) / p) (Simpson's rule on a fine grid). Tolerance: relative
    1e-5 -- central differences of KL - 2 JS with a step near 1e-4 are accurate to ~1e-8."""
    from scipy import integrate, stats  # deferred: scipy only for this check
    z = np.linspace(q_mu - 30 * max(q_sd, p_sd), q_mu + 30 * max(q_sd, p_sd), 60_001)
    lp, lq = stats.norm.logpdf(z, 0.0, p_sd), stats.norm.logpdf(z, q_mu, q_sd)
    dq = np.exp(lq) * (z - q_mu) / q_sd ** 2
    expected = float(integrate.simpson(dq * (np.logaddexp(lp, lq) - lp), x=z))
    return close(answer, expected, rel=1e-5, abs_tol=1e-9, what="the non-saturating gradient",
                 hint="Arjovsky & Bottou (2017): it is the gradient of KL(Q_Z || P_Z) - 2 JS(P_Z, Q_Z)")
