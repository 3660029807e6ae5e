"""Checks of notebook 01 (the ELBO)'s exercises.

Each check computes the expected value itself, in closed form, from the problem's data (never
from the answer):

- :func:`check_mean_field_gap` -- the smallest gap log p(x) - ELBO a diagonal Gaussian q can
  reach on the linear-Gaussian model's (correlated) posterior;
- :func:`check_gap_vs_correlation` -- the same gap for a 2-D Gaussian posterior with correlation
  rho, as a function of rho;
- :func:`check_kl_to_wae_prior` -- the VAE's KL with the WAE's prior N(0, sigma_z^2 I) instead
  of N(0, I);
- :func:`check_optimal_decoder_variance` -- the decoder variance sigma_G^2 that maximises the
  Gaussian log-likelihood of a batch of reconstructions.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from ... import config
from . import Verdict, close

__all__ = ["check_mean_field_gap", "check_gap_vs_correlation", "check_kl_to_wae_prior",
           "check_optimal_decoder_variance", "mean_field_gap"]

DT = torch.float64


def mean_field_gap(posterior_cov: torch.Tensor) -> torch.Tensor:
    """min over diagonal Gaussians q of KL(q || N(m, Sigma)), in closed form.

    With the precision Lambda = Sigma^-1, the minimiser has mean m and variances 1 / Lambda_jj,
    and the minimum is 1/2 [sum_j log Lambda_jj + log det Sigma] (>= 0 by Hadamard's inequality,
    0 exactly when Sigma is diagonal).
    """
    cov = torch.as_tensor(posterior_cov, dtype=DT)
    precision = torch.linalg.inv(cov)
    return 0.5 * (torch.log(torch.diagonal(precision)).sum() + torch.logdet(cov))


def check_mean_field_gap(answer: Any, model: Any, x: torch.Tensor) -> Verdict:
    """Exercise 1: the gap log p(x) - ELBO(q*) of the best diagonal Gaussian q* for the data point
    ``x`` of the linear-Gaussian ``model`` (:class:`waelib.course.toy.LinearGaussian`).

    The expected value is :func:`mean_field_gap` of the posterior covariance
    (I + W'W / s^2)^-1, built here from ``model.W`` and ``model.s2`` (it does not depend on x).
    Tolerance: relative 1e-4 -- an optimiser run to convergence (L-BFGS, float64) reaches it;
    a gap from a diagonal q that is merely close is off in the second or third digit.
    """
    w = torch.as_tensor(model.W, dtype=DT)
    cov = torch.linalg.inv(torch.eye(w.shape[1], dtype=DT) + w.T @ w / float(model.s2))
    return close(answer, mean_field_gap(cov), rel=1e-4, abs_tol=1e-9, what="the mean-field ELBO gap",
                 hint="optimise the ELBO over a mean m and a *diagonal* covariance (log-variances), "
                      "then take log p(x) - ELBO; the gap must stay > 0 when the posterior is correlated")


def check_gap_vs_correlation(answer: Any, rhos: Sequence[float]) -> Verdict:
    """Exercise 2: the best diagonal q's gap for a 2-D Gaussian posterior with correlation rho,
    one value per rho of ``rhos``: -1/2 log(1 - rho^2) (whatever the two variances).
    Tolerance: relative 1e-6 -- the answer is a closed form, or a float64 computation of it."""
    r = torch.as_tensor(list(rhos), dtype=DT)
    if bool((r.abs() >= 1).any()):
        raise ValueError("correlations must lie in (-1, 1)")
    return close(answer, -0.5 * torch.log1p(-r ** 2), rel=1e-6, abs_tol=1e-12,
                 what="the gap as a function of the correlation",
                 hint="write the precision matrix of a 2-D Gaussian with correlation rho and use "
                      "the mean-field solution (variances 1 / Lambda_jj)")


def check_kl_to_wae_prior(answer: Any, mu: torch.Tensor, logvar: torch.Tensor,
                          prior_sigma2: float = config.WAE_PRIOR_SIGMA2) -> Verdict:
    """Exercise 3: KL(N(mu, diag e^logvar) || N(0, prior_sigma2 I)) per row of ``mu`` (N, d_z):

    1/2 sum_j [(sigma_j^2 + mu_j^2) / prior_sigma2 - 1 - log sigma_j^2 + log prior_sigma2].

    Tolerance: relative 1e-8 -- a closed form in float64; a Monte Carlo answer does not pass
    (on purpose: the exercise asks for the closed form)."""
    mu, logvar = torch.as_tensor(mu, dtype=DT), torch.as_tensor(logvar, dtype=DT)
    s2 = float(prior_sigma2)
    expected = 0.5 * ((logvar.exp() + mu ** 2) / s2 - 1 - logvar + math.log(s2)).sum(-1)
    return close(answer, expected, rel=1e-8, abs_tol=1e-12, what="KL to N(0, sigma_z^2 I)",
                 hint="redo the derivation of section 5 with E z^2 / sigma_z^2 in place of E z^2, "
                      "and keep the log of the prior's normaliser")


def check_optimal_decoder_variance(answer: Any, x: torch.Tensor, x_hat: torch.Tensor) -> Verdict:
    """Exercise 4: the sigma_G^2 that maximises sum_i log N(x_i; x_hat_i, sigma_G^2 I) over a batch,
    the mean squared residual over every coordinate of every image.
    Tolerance: relative 1e-6 -- closed form; a grid search over sigma_G^2 is not precise enough."""
    x, x_hat = torch.as_tensor(x, dtype=DT), torch.as_tensor(x_hat, dtype=DT)
    return close(answer, (x - x_hat).pow(2).mean(), rel=1e-6, what="the optimal decoder variance",
                 hint="differentiate -||r||^2 / (2 s) - (D / 2) log(2 pi s) with respect to s = sigma_G^2, "
                      "summed over the batch")
