"""The checks of notebook 03's exercises: the right answer passes, a plausible wrong one fails.

Where possible the right answer is obtained another way than the check computes it: a traced
forward pass of the live decoder, a numerical optimisation of the ELBO, waelib.losses.vae_loss,
and a second quadrature of the mutual information.
"""
from __future__ import annotations

import math

import pytest
import torch

from waelib import blocks, losses
from waelib.course.exercises import ch03


@pytest.mark.parametrize("size", [32, 64])
def test_decoder_sizes_match_the_live_decoder(size):
    dec = blocks.VAEDecoder(16, image_size=size, width=0.0625).eval()
    sides = []
    convs = [m for m in dec.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(convs) == 6
    hooks = [m.register_forward_hook(lambda m, i, o: sides.append(o.shape[-1])) for m in convs]
    with torch.no_grad():
        dec(torch.zeros(2, 16))
    for h in hooks:
        h.remove()
    assert ch03.check_decoder_sizes(sides, size)
    assert not ch03.check_decoder_sizes(sides[:5], size)            # five convolutions, not six
    assert not ch03.check_decoder_sizes([2 * s for s in sides], size)


def _optimal_kl(sigma2: float, data_var: float) -> float:
    """The KL at the optimum of the linear VAE's exact ELBO, by Adam (1000 steps converge to
    better than 1e-6 nats for the decoder variances used here)."""
    p = torch.tensor([0.1, 0.1, 0.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.1)
    for _ in range(1000):
        loss = ch03.linear_vae_neg_elbo(p[0], p[1], p[2], data_var=data_var, sigma2=sigma2)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return ch03.linear_vae_neg_elbo(p[0], p[1], p[2], data_var=data_var, sigma2=sigma2)["kl"].item()


def test_linear_vae_kl_right_and_wrong():
    sigma2s = [0.1, 0.5, 2.0, 8.0]
    optimised = [_optimal_kl(s2, 4.0) for s2 in sigma2s]
    assert ch03.check_linear_vae_kl(optimised, sigma2s)
    # the closed form without the collapse (1/2 log(s^2/sigma^2) < 0 for sigma^2 > s^2) fails
    assert not ch03.check_linear_vae_kl([0.5 * math.log(4.0 / s2) for s2 in sigma2s], sigma2s)
    # log instead of 1/2 log fails
    assert not ch03.check_linear_vae_kl([max(0.0, math.log(4.0 / s2)) for s2 in sigma2s], sigma2s)


def test_linear_vae_objective_is_the_monte_carlo_one():
    """linear_vae_neg_elbo is the exact expectation: a Monte Carlo estimate with 4 million draws
    agrees within 0.5 % (its standard error is about 0.1 % here)."""
    a, w, logtau2 = torch.tensor(0.3, dtype=torch.float64), torch.tensor(1.2, dtype=torch.float64), \
        torch.tensor(-1.0, dtype=torch.float64)
    exact = ch03.linear_vae_neg_elbo(a, w, logtau2, data_var=4.0, sigma2=0.5)
    g = torch.Generator().manual_seed(0)
    x = 2.0 * torch.randn(4_000_000, generator=g, dtype=torch.float64)
    z = a * x + torch.exp(0.5 * logtau2) * torch.randn(x.shape, generator=g, dtype=torch.float64)
    sq = ((x - w * z) ** 2).mean()
    assert exact["sq_error"].item() == pytest.approx(sq.item(), rel=5e-3)


def test_batch_loss_right_and_wrong():
    b = ch03.exercise_batch(0)
    t = losses.vae_loss(b["x"], b["x_hat"], b["mu"], b["logvar"], decoder_sigma2=0.1)
    right = torch.stack([t["recon"], t["kl"], t["loss"]])
    assert ch03.check_batch_loss(right, 0.1)
    assert ch03.check_batch_loss(right.float(), 0.1)                  # float32 arithmetic passes
    assert not ch03.check_batch_loss(right, 0.5)                      # another sigma_G^2
    t5 = losses.vae_loss(b["x"], b["x_hat"], b["mu"], b["logvar"], decoder_sigma2=0.5)
    assert ch03.check_batch_loss(torch.stack([t5["recon"], t5["kl"], t5["loss"]]), 0.5)
    # the per-pixel mean instead of the sum over pixels fails
    assert not ch03.check_batch_loss(right * torch.tensor([1 / 192, 1, 1], dtype=torch.float64), 0.1)


def test_mutual_information_right_and_wrong():
    m, tau2 = 1.0, 0.25
    # the other route: E_x KL(q(z|x) || p(z)) minus KL(Q_Z || P_Z) by another grid
    ekl = 0.5 * (tau2 + m * m - 1 - math.log(tau2))
    z = torch.linspace(-10, 10, 200_001, dtype=torch.float64)
    pdf = lambda t, mean, var: torch.exp(-(t - mean) ** 2 / (2 * var)) / math.sqrt(2 * math.pi * var)
    q = 0.5 * (pdf(z, -m, tau2) + pdf(z, m, tau2))
    kl_agg = torch.trapezoid(q * torch.log(q / pdf(z, 0.0, 1.0)), z).item()
    mi = ekl - kl_agg
    assert 0 < mi < math.log(2)                                     # X carries at most log 2 nats
    assert ch03.check_mutual_information(mi, m, tau2)
    assert not ch03.check_mutual_information(ekl, m, tau2)          # the upper bound is not I(X; Z)
    assert not ch03.check_mutual_information(math.log(2), m, tau2)
