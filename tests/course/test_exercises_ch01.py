"""waelib.course.exercises.ch01: the checks of notebook 01's exercises pass the right answer
(computed here by an independent route where there is one) and fail wrong ones."""
from __future__ import annotations

import math

import torch

from waelib import config, losses
from waelib.course import toy
from waelib.course.exercises import Verdict, ch01

DT = torch.float64


def _best_diagonal_gap(model, x):
    """The route the solution takes: maximise the ELBO over diagonal Gaussians (L-BFGS)."""
    m = torch.zeros(model.k, dtype=DT, requires_grad=True)
    log_var = torch.zeros(model.k, dtype=DT, requires_grad=True)
    opt = torch.optim.LBFGS([m, log_var], lr=1.0, max_iter=500, tolerance_grad=1e-12,
                            tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = -model.elbo(x, m, torch.diag(log_var.exp()))
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return (model.log_evidence(x) - model.elbo(x, m, torch.diag(log_var.exp()))).item()


def test_mean_field_gap_closed_form_against_optimisation():
    """The closed form is the optimum: L-BFGS over (m, log sigma^2) lands on it (rel 1e-4 is
    what the check allows; the optimiser gets ~1e-10), and the gap is > 0 for a correlated
    posterior."""
    model = toy.LinearGaussian.random(d=5, k=2, s2=0.5, seed=0)
    x = model.sample(1, torch.Generator().manual_seed(0))[0][0]
    gap = _best_diagonal_gap(model, x)
    assert gap > 1e-3
    v = ch01.check_mean_field_gap(gap, model, x)
    assert isinstance(v, Verdict) and v.ok, v
    # a wrong answer: the gap of the prior N(0, I) as q (the KL to the posterior of a poor q)
    far = model.kl_to_posterior(x, torch.zeros(2, dtype=DT), torch.eye(2, dtype=DT)).item()
    assert not ch01.check_mean_field_gap(far, model, x)
    assert not ch01.check_mean_field_gap(0.0, model, x)        # "a diagonal q closes the gap": no
    assert not ch01.check_mean_field_gap(gap * 1.001, model, x)  # 1e-3 off is outside 1e-4


def test_mean_field_gap_is_zero_for_a_diagonal_posterior():
    assert abs(ch01.mean_field_gap(torch.diag(torch.tensor([0.3, 2.0], dtype=DT)))) < 1e-14


def test_gap_vs_correlation():
    """The 2-D closed form -1/2 log(1 - rho^2) against the general mean-field formula on
    covariances with unequal variances (an independent computation)."""
    rhos = [0.0, 0.5, 0.9, 0.99]
    general = []
    for r in rhos:
        s1, s2 = 0.7, 1.9
        cov = torch.tensor([[s1 ** 2, r * s1 * s2], [r * s1 * s2, s2 ** 2]], dtype=DT)
        lam = torch.linalg.inv(cov)
        q_cov = torch.diag(1 / torch.diagonal(lam))
        general.append(toy.kl_gaussians(torch.zeros(2, dtype=DT), q_cov, torch.zeros(2, dtype=DT), cov).item())
    assert ch01.check_gap_vs_correlation(general, rhos)
    assert not ch01.check_gap_vs_correlation([-math.log(1 - r ** 2) for r in rhos], rhos)   # factor 2
    assert not ch01.check_gap_vs_correlation(general[:3], rhos)                            # shape


def test_kl_to_wae_prior():
    """Against the full-covariance Gaussian KL; the VAE's N(0, I) KL is a wrong answer."""
    mu = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]], dtype=DT)
    lv = torch.tensor([[0.1, -0.5, 0.7], [math.log(2.0)] * 3], dtype=DT)
    s2 = config.WAE_PRIOR_SIGMA2
    full = torch.stack([toy.kl_gaussians(m, torch.diag(v.exp()), torch.zeros(3, dtype=DT),
                                         s2 * torch.eye(3, dtype=DT)) for m, v in zip(mu, lv)])
    assert ch01.check_kl_to_wae_prior(full, mu, lv)
    assert abs(full[1]) < 1e-12   # q = the prior itself
    assert not ch01.check_kl_to_wae_prior(losses.gaussian_kl(mu, lv), mu, lv)


def test_optimal_decoder_variance():
    """An independent route: a grid search of the Gaussian log-likelihood over sigma^2 (701
    log-spaced values, 1 % apart) lands within 1 % of the closed form, which the check accepts;
    the check's 1e-6 tolerance rejects an answer 1 % off and the per-image sum of squares."""
    g = torch.Generator().manual_seed(0)
    x, x_hat = torch.rand(4, 3, 8, 8, generator=g, dtype=DT), torch.rand(4, 3, 8, 8, generator=g, dtype=DT)
    grid = torch.linspace(-6, 1, 701, dtype=DT).exp()
    ll = torch.stack([-losses.gaussian_nll(x, x_hat, s.item(), include_constant=True).sum() for s in grid])
    searched = grid[ll.argmax()].item()
    exact = (x - x_hat).pow(2).mean().item()
    assert abs(searched - exact) / exact < 0.01
    assert ch01.check_optimal_decoder_variance(exact, x, x_hat)
    assert not ch01.check_optimal_decoder_variance(exact * 1.01, x, x_hat)
    assert not ch01.check_optimal_decoder_variance((x - x_hat).pow(2).flatten(1).sum(1).mean(), x, x_hat)
