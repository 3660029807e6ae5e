"""Objectives checked against closed forms, brute force and properties."""
import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from waelib import config, losses


def test_gaussian_kl_matches_torch_distributions_and_monte_carlo():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(4, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(4, 3, generator=g, dtype=torch.float64) * 0.5
    ours = losses.gaussian_kl(mu, logvar)
    q = Independent(Normal(mu, (0.5 * logvar).exp()), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    torch.testing.assert_close(ours, kl_divergence(q, p))
    # Monte Carlo: E_q[log q(z) - log p(z)] with 400k draws, to within 5 standard errors.
    z = q.sample((400_000,))
    terms = q.log_prob(z) - p.log_prob(z)
    mc, se = terms.mean(0), terms.std(0) / math.sqrt(terms.shape[0])
    assert ((ours - mc).abs() < 5 * se + 1e-3).all(), (ours, mc, se)


def test_gaussian_kl_is_zero_only_at_the_prior():
    assert losses.gaussian_kl(torch.zeros(2, 5), torch.zeros(2, 5)).abs().max() == 0
    assert (losses.gaussian_kl(torch.full((1, 5), 0.1), torch.zeros(1, 5)) > 0).all()


def test_reconstruction_cost_is_summed_squared_error():
    x = torch.zeros(2, 3, 4, 4)
    y = torch.zeros(2, 3, 4, 4)
    y[0, 0, 0, 0] = 2.0
    y[1] = 0.5
    torch.testing.assert_close(losses.reconstruction_cost(x, y), torch.tensor([4.0, 0.25 * 48]))


def _mmd_brute_force(zq, zp, sigma2, kernel="imq"):
    n, d = zq.shape
    m = zp.shape[0]
    total = 0.0
    for s in config.MMD_SCALES:
        c = 2 * d * sigma2 * s
        k = (lambda a, b, c=c: c / (c + float(((a - b) ** 2).sum()))) if kernel == "imq" else \
            (lambda a, b, c=c: math.exp(-float(((a - b) ** 2).sum()) / c))
        qq = sum(k(zq[i], zq[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        pp = sum(k(zp[i], zp[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        qp = sum(k(zq[i], zp[j]) for i in range(n) for j in range(m)) * 2 / (n * m)
        total += qq + pp - qp
    return total


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_mmd_equals_brute_force_double_loop(kernel):
    g = torch.Generator().manual_seed(2)
    zq = torch.randn(7, 3, generator=g, dtype=torch.float64) + 0.3
    zp = torch.randn(9, 3, generator=g, dtype=torch.float64) * 1.4
    ours = losses.mmd(zq, zp, kernel=kernel, sigma2=2.0).item()
    # float64, ~100 kernel values summed in another order: ~1e-15 relative to the terms, and the
    # estimate (~0.1) is not much smaller than them
    assert ours == pytest.approx(_mmd_brute_force(zq, zp, 2.0, kernel), rel=1e-10)


def test_mmd_is_unbiased_for_equal_distributions_and_positive_when_shifted():
    g = torch.Generator().manual_seed(3)
    same, shifted = [], []
    for _ in range(400):
        a = torch.randn(32, 8, generator=g, dtype=torch.float64) * math.sqrt(2)
        b = torch.randn(32, 8, generator=g, dtype=torch.float64) * math.sqrt(2)
        same.append(losses.mmd(a, b).item())
        shifted.append(losses.mmd(a + 1.0, b).item())
    same, shifted = torch.tensor(same), torch.tensor(shifted)
    se = same.std() / math.sqrt(len(same))
    assert same.mean().abs() < 4 * se            # zero in expectation...
    assert (same < 0).any()                       # ...so it must sometimes be negative
    assert shifted.mean() > 20 * same.std() / math.sqrt(len(same)) and (shifted > 0).all()


def test_mmd_detects_the_wrong_prior_variance():
    # The bug reported in PyTorch ports: prior drawn with variance 1 while the kernel assumes 2.
    g = torch.Generator().manual_seed(4)
    vals = [losses.mmd(torch.randn(64, 16, generator=g), torch.randn(64, 16, generator=g) * math.sqrt(2)).item()
            for _ in range(20)]
    assert min(vals) > 0


def test_mmd_scale_invariance_with_sigma2():
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(10, 4, generator=g, dtype=torch.float64), torch.randn(10, 4, generator=g, dtype=torch.float64)
    s = 3.0
    assert losses.mmd(a, b, sigma2=1.0).item() == pytest.approx(
        losses.mmd(a * s, b * s, sigma2=s * s).item(), rel=1e-10)


def test_mmd_rejects_unknown_kernel():
    with pytest.raises(ValueError, match="imq, rbf"):
        losses.mmd(torch.randn(4, 2), torch.randn(4, 2), kernel="laplace")


def test_gan_losses_match_hand_computed_values():
    lp, lc = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 0.0])
    # -log sigmoid(t) = log(1 + e^-t);  -log(1 - sigmoid(t)) = log(1 + e^t)
    real = (math.log1p(math.exp(-2.0)) + math.log(2)) / 2
    fake = (math.log1p(math.exp(-1.0)) + math.log(2)) / 2
    # fp32 softplus of two logits (vectorised and scalar math libraries differ by <= 1 ulp):
    # ~2e-7 relative; a wrong sign or term is O(1)
    assert losses.discriminator_loss(lp, lc).item() == pytest.approx(real + fake, rel=1e-6)
    assert losses.discriminator_loss(lp, lc, lam=3.0).item() == pytest.approx(3 * (real + fake), rel=1e-6)
    enc = (math.log1p(math.exp(1.0)) + math.log(2)) / 2
    assert losses.encoder_adversarial_loss(lc).item() == pytest.approx(enc, rel=1e-6)


def test_gan_losses_are_stable_and_have_the_right_sign():
    big = torch.tensor([200.0, -200.0])
    assert torch.isfinite(losses.discriminator_loss(big, -big))
    assert torch.isfinite(losses.encoder_adversarial_loss(-big))
    # The discriminator is rewarded for high logits on prior samples, low logits on codes...
    assert losses.discriminator_loss(torch.tensor([3.0]), torch.tensor([-3.0])) < losses.discriminator_loss(
        torch.tensor([-3.0]), torch.tensor([3.0]))
    # ...and the encoder for fooling it (high logits on its codes).
    assert losses.encoder_adversarial_loss(torch.tensor([3.0])) < losses.encoder_adversarial_loss(torch.tensor([-3.0]))


def test_vae_loss_is_negative_elbo():
    x = torch.rand(3, 3, 4, 4)
    x_hat = torch.rand(3, 3, 4, 4)
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5)
    out = losses.vae_loss(x, x_hat, mu, logvar, decoder_sigma2=0.25)
    expect_recon = ((x - x_hat) ** 2).flatten(1).sum(1).mean() / 0.5
    torch.testing.assert_close(out["recon"], expect_recon)
    torch.testing.assert_close(out["loss"], out["recon"] + losses.gaussian_kl(mu, logvar).mean())
    # Up to the constant, the recon term is the Gaussian decoder's negative log-likelihood.
    nll = -Normal(x_hat, math.sqrt(0.25)).log_prob(x).flatten(1).sum(1).mean()
    const = 0.5 * x[0].numel() * math.log(2 * math.pi * 0.25)
    # another fp32 path (Normal.log_prob per pixel, summed): values ~50, ~1e-5 apart
    torch.testing.assert_close(out["recon"] + const, nll, rtol=1e-5, atol=1e-4)


def test_wae_losses_use_lambda_and_scale():
    x, x_hat = torch.rand(4, 3, 4, 4), torch.rand(4, 3, 4, 4)
    zq, zp = torch.randn(4, 6), torch.randn(4, 6)
    out = losses.wae_mmd_loss(x, x_hat, zq, zp, lam=10.0, recon_scale=0.5)
    torch.testing.assert_close(out["penalty"], losses.mmd(zq, zp))
    torch.testing.assert_close(out["loss"], 0.5 * losses.reconstruction_cost(x, x_hat).mean() + 10.0 * out["penalty"])
    logits = torch.randn(4)
    g1, g0 = losses.wae_gan_loss(x, x_hat, logits, lam=1.0), losses.wae_gan_loss(x, x_hat, logits, lam=0.0)
    torch.testing.assert_close(g1["loss"] - g0["loss"], losses.encoder_adversarial_loss(logits))


@pytest.mark.parametrize("size", [32, 64, 128])
def test_recon_scale_gives_the_official_per_image_magnitude(size):
    """The official code's term 0.05 * sum over a 64 px [-1, 1] image, computed on the same
    picture at 64 px in [-1, 1], equals recon_scale_for(S) * sum over its [0, 1] version at S
    (pictures made at 32 px and enlarged by pixel replication)."""
    torch.manual_seed(0)
    x32, y32 = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    up = lambda t, s: torch.nn.functional.interpolate(t, size=s, mode="nearest")  # noqa: E731
    x64, y64 = up(x32, 64), up(y32, 64)   # pixel replication keeps the mean squared error
    official = 0.05 * ((2 * x64 - 1) - (2 * y64 - 1)).pow(2).flatten(1).sum(1)
    ours = losses.recon_scale_for(size) * losses.reconstruction_cost(up(x32, size), up(y32, size))
    # fp32 sums of 3e3-5e4 squared differences computed two ways: ~1e-6 relative
    torch.testing.assert_close(ours, official, rtol=1e-5, atol=1e-4)


def test_recon_scale_values_and_errors():
    assert losses.recon_scale_for(128) == pytest.approx(0.05)
    assert losses.recon_scale_for(64) == pytest.approx(0.2)
    assert losses.recon_scale_for(32) == pytest.approx(0.8)
    assert losses.recon_scale_for(64, pixel_range=2.0) == pytest.approx(0.05)
    with pytest.raises(ValueError):
        losses.recon_scale_for(0)
