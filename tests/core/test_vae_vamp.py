"""The VAE with a VampPrior (waelib/objectives/vae_vamp.py): log p(z) against a brute-force
scipy mixture, the KL estimate by hand and in expectation, the pseudo-inputs (range, init,
gradients), the shared BatchNorm pass, the prior's samples, and training, the warm-up option
and an exact resume through ``fit``."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from waelib.evaluate import generate
from waelib.objectives.vae_vamp import (
    N_PSEUDO,
    VampPriorObjective,
    VampPriorVAE,
    diagonal_gaussian_log_density,
    kl_weight,
    vamp_kl_estimate,
    vamp_log_prior,
)
from waelib.registry import build_model, objective_for
from waelib.train import TrainConfig, fit

SMALL = dict(image_size=32, width=0.0625, latent_dim=8)
RUN = dict(SMALL, batch_size=8, seed=0, progress=False, amp=None, compile=False, fused=False,
           channels_last=False, log_every=1, sample_every=1000, checkpoint_every=1000,
           model_overrides={"n_pseudo": 8})
# float64 hand and scipy values: each is a sum of a dozen terms and a log-sum-exp, exact to
# ~1e-15 relative; 1e-10 leaves room for scipy's own summation order and still catches any
# wrong factor, dropped 2 pi term or a missing log K.
REL64 = 1e-10


def _model(n_pseudo=4, seed=0, **kw):
    torch.manual_seed(seed)
    return build_model("vae_vamp", n_pseudo=n_pseudo, **SMALL, **kw)


def _images(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)


def _mixture(n=6, k=5, d=3, seed=1, spread=1.0):
    g = torch.Generator().manual_seed(seed)
    z = spread * torch.randn(n, d, generator=g, dtype=torch.float64)
    mu = spread * torch.randn(k, d, generator=g, dtype=torch.float64)
    logvar = 0.7 * torch.randn(k, d, generator=g, dtype=torch.float64)
    return z, mu, logvar


def _scipy_log_prior(z, mu, logvar):
    """Brute force: log (1/K sum_k N(z; mu_k, diag exp(logvar_k))), one scipy density per component."""
    comp = np.stack([multivariate_normal(mean=m, cov=np.diag(np.exp(v))).logpdf(z.numpy())
                     for m, v in zip(mu.numpy(), logvar.numpy())], axis=1)
    return logsumexp(comp, axis=1) - math.log(mu.shape[0])


# ---------------------------------------------------------------------------------------
# Densities
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("spread", [1.0, 30.0])
def test_log_prior_matches_a_scipy_mixture(spread):
    """log p(z) = logsumexp_k log N(z; mu_k, diag sigma_k^2) - log K, also far in the tails
    (spread 30: the component densities are ~exp(-1e3) and would underflow without the max)."""
    z, mu, logvar = _mixture(spread=spread)
    ours = vamp_log_prior(z, mu, logvar).numpy()
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, _scipy_log_prior(z, mu, logvar), rtol=REL64)
    single = diagonal_gaussian_log_density(z, mu[0], logvar[0]).numpy()
    ref = multivariate_normal(mean=mu[0].numpy(), cov=np.diag(np.exp(logvar[0].numpy()))).logpdf(z.numpy())
    np.testing.assert_allclose(single, ref, rtol=REL64)


def test_kl_estimate_by_hand():
    """log q(z|x) - log p(z) at z, d = 2, K = 2, worked out with math."""
    z = torch.tensor([[0.3, -1.2]], dtype=torch.float64)
    mu = torch.tensor([[0.1, -0.8]], dtype=torch.float64)
    logvar = torch.tensor([[-0.5, 0.2]], dtype=torch.float64)
    pmu = torch.tensor([[0.0, 0.0], [1.0, -2.0]], dtype=torch.float64)
    plv = torch.tensor([[0.0, 0.0], [-1.0, 0.5]], dtype=torch.float64)

    def log_n(x, m, v):
        return sum(-0.5 * (math.log(2 * math.pi) + vj + (xj - mj) ** 2 / math.exp(vj)) for xj, mj, vj in zip(x, m, v))

    log_q = log_n([0.3, -1.2], [0.1, -0.8], [-0.5, 0.2])
    log_p = math.log(0.5 * (math.exp(log_n([0.3, -1.2], [0.0, 0.0], [0.0, 0.0]))
                            + math.exp(log_n([0.3, -1.2], [1.0, -2.0], [-1.0, 0.5]))))
    assert vamp_kl_estimate(z, mu, logvar, pmu, plv).item() == pytest.approx(log_q - log_p, rel=REL64)


def test_kl_estimate_is_unbiased_for_one_component():
    """With K = 1 the prior is one Gaussian: the mean of the estimate over z ~ q is the closed
    form KL(N(mu, s^2) || N(m, t^2)) = 1/2 sum [t^-2 s^2 + (mu - m)^2 t^-2 - 1 + log t^2 - log s^2]."""
    n = 200_000
    g = torch.Generator().manual_seed(5)
    mu = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    logvar = torch.tensor([-1.0, 0.3, 0.0], dtype=torch.float64)
    pmu = torch.tensor([[0.0, 0.5, 1.0]], dtype=torch.float64)
    plv = torch.tensor([[0.5, -0.2, 1.0]], dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n, 3, generator=g, dtype=torch.float64)
    est = vamp_kl_estimate(z, mu.expand(n, 3), logvar.expand(n, 3), pmu, plv)
    closed = 0.5 * sum(math.exp(lv - pv) + (m - pm) ** 2 / math.exp(pv) - 1.0 + pv - lv
                       for m, lv, pm, pv in zip(mu.tolist(), logvar.tolist(), pmu[0].tolist(), plv[0].tolist()))
    # Monte-Carlo: 5 standard errors of the mean (a false failure ~1 in 1.7 million); a wrong
    # sign, a missing term or the wrong density shifts the mean by O(1), far more.
    se = est.std().item() / math.sqrt(n)
    assert est.mean().item() == pytest.approx(closed, abs=5 * se)


def test_kl_weight_warms_up_linearly():
    """beta = min(1, (t + 1) / W); 1 without warm-up."""
    steps = torch.tensor([0, 1, 3, 9])
    assert kl_weight(steps, 4).tolist() == [0.25, 0.5, 1.0, 1.0]
    assert kl_weight(steps[0], 0).item() == 1.0


# ---------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------
def test_pseudo_inputs_shape_range_and_init():
    """K images (3, S, S) in [0, 1], the weight ~ N(0.4, 0.05^2) (load_cifar10's init)."""
    model = build_model("vae_vamp", **SMALL)
    assert model.n_pseudo == N_PSEUDO and model.pseudo_weight.shape == (N_PSEUDO, 3, 32, 32)
    w = model.pseudo_weight.detach()
    # 196,608 normal draws: the sample mean's standard error is 1e-4 and the std's ~8e-5;
    # 2e-3 is > 20 of them and well below a wrong init (e.g. 0.05 or 0.5, std 0.01 or 0.02).
    assert w.mean().item() == pytest.approx(0.4, abs=2e-3)
    assert w.std().item() == pytest.approx(0.05, abs=2e-3)
    u = build_model("vae_vamp", n_pseudo=3, pseudo_init_mean=1.5, pseudo_init_std=0.01, **SMALL).pseudo_inputs()
    assert u.shape == (3, 3, 32, 32) and torch.all(u == 1.0)           # hardtanh clips at 1
    with pytest.raises(ValueError, match="n_pseudo"):
        build_model("vae_vamp", n_pseudo=0, **SMALL)


def test_forward_is_one_encoder_pass_over_data_and_pseudo_inputs():
    """Training mode: data and pseudo-inputs share the BatchNorm statistics of the concatenated
    batch (the data's codes differ from a pass over the data alone). Eval mode: rows are
    independent, so the joint pass equals encode(x) and prior_components()."""
    model = _model()
    x = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    model.train()
    torch.manual_seed(0)
    out = model(x)
    with torch.no_grad():
        mu_all, logvar_all = model.encode_stats(torch.cat([x, model.pseudo_inputs()]))
    torch.testing.assert_close(out["mu"], mu_all[:6])
    torch.testing.assert_close(out["prior_logvar"], logvar_all[6:])
    assert out["prior_mu"].shape == (4, 8) and out["x_hat"].shape == x.shape
    assert (out["mu"] - model.encode(x)).abs().max() > 1e-3      # separate stats would differ
    model.eval()
    with torch.no_grad():
        out = model(x)
        mu_k, logvar_k = model.prior_components()
        # float32, and the batch size changes how the convolutions block their sums:
        # differences ~1e-6; 1e-5 still catches any statistics leaking between rows (~1e-1).
        torch.testing.assert_close(out["mu"], model.encode(x), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out["prior_mu"], mu_k, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out["prior_logvar"], logvar_k, atol=1e-5, rtol=1e-5)


def test_pseudo_inputs_receive_gradients_through_the_kl_only_inside_0_1():
    """In eval mode (no batch statistics) only the KL reaches the pseudo-inputs; the clipped
    entries (outside [0, 1]) get none; in training mode the full loss reaches them."""
    model = _model()
    obj = VampPriorObjective(model, TrainConfig(model="vae_vamp"))
    x = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        model.pseudo_weight[0, 0, 0, 0] = -0.5
        model.pseudo_weight[1, 2, 5, 5] = 1.5
    model.train()
    obj.elbo_terms(x, model(x))["loss"].backward()
    grad = model.pseudo_weight.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert grad[0, 0, 0, 0] == 0 and grad[1, 2, 5, 5] == 0
    model.eval()
    for term, reaches in (("recon", False), ("kl", True)):
        model.zero_grad(set_to_none=True)
        obj.elbo_terms(x, model(x))[term].backward()
        g = model.pseudo_weight.grad
        assert (g is not None and g.abs().sum().item() > 0) == reaches, term


def test_samples_are_draws_from_the_mixture(monkeypatch):
    """With two known, far-apart components: k is uniform (binomial share), and within each
    component the draws have its mean and standard deviation."""
    model = _model(n_pseudo=2)
    mu_k = torch.tensor([[-10.0] * 8, [10.0] * 8])
    logvar_k = torch.stack([torch.full((8,), math.log(0.25)), torch.full((8,), math.log(4.0))])
    monkeypatch.setattr(model, "prior_components", lambda: (mu_k, logvar_k))
    n = 20_000
    z = model.sample_prior(n, generator=torch.Generator().manual_seed(7))
    first = z[:, 0] < 0
    # binomial(20000, 1/2): sd 70.7 draws; 5 sd. Component means: se sigma/sqrt(10^4) <= 0.02,
    # std: se ~ sigma/sqrt(2 * 10^4) <= 0.015; 0.1 is > 5 se and far below any mix-up.
    assert abs(first.sum().item() - n / 2) < 5 * math.sqrt(n / 4)
    for part, m, s in ((z[first], -10.0, 0.5), (z[~first], 10.0, 2.0)):
        assert part.mean().item() == pytest.approx(m, abs=0.1)
        assert part.std(dim=0).mean().item() == pytest.approx(s, abs=0.1)


def test_sample_prior_draws_k_then_eps_from_the_generator_without_side_effects():
    """z = mu_k + sigma_k * eps with k = randint(K), eps = randn from the same seeded generator
    (in that order); reproducible; the model keeps its mode and its BatchNorm statistics."""
    model = _model()
    model(torch.rand(8, 3, 32, 32))                 # move the running statistics off their init
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    z = model.sample_prior(500, generator=torch.Generator().manual_seed(11))
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    g = torch.Generator().manual_seed(11)
    k = torch.randint(4, (500,), generator=g)
    eps = torch.randn(500, 8, generator=g)
    mu_k, logvar_k = model.prior_components()
    torch.testing.assert_close(z, mu_k[k] + torch.exp(0.5 * logvar_k[k]) * eps)
    assert torch.equal(z, model.sample_prior(500, generator=torch.Generator().manual_seed(11)))
    torch.testing.assert_close(model.log_prior(z[:5]), vamp_log_prior(z[:5], mu_k, logvar_k))


# ---------------------------------------------------------------------------------------
# Training through the trainer
# ---------------------------------------------------------------------------------------
def test_trains_through_fit_and_generates(tmp_path):
    """By name through fit: finite terms, the pseudo-inputs move, steps_done counts, and the
    evaluation's samples are finite images."""
    assert objective_for("vae_vamp") is VampPriorObjective
    seen = []
    res = fit("vae_vamp", _images(), TrainConfig(steps=3, out=str(tmp_path), **RUN),
              callback=lambda info: seen.append(info["trainer"].model.pseudo_weight.detach().clone()))
    assert isinstance(res.model, VampPriorVAE) and int(res.model.steps_done) == 3
    assert res.model.pseudo_weight.shape == (8, 3, 32, 32)
    rows = [r for r in res.history if "loss" in r]
    assert len(rows) == 3
    for r in rows:
        assert all(math.isfinite(r[k]) for k in ("loss", "recon", "kl", "sq_error"))
        assert r["kl_weight"] == 1.0
    assert len(seen) == 3 and not torch.equal(seen[0], seen[2])        # the pseudo-inputs are learned
    imgs = generate(res.model, 10, seed=0)
    assert imgs.shape == (10, 3, 32, 32) and torch.isfinite(imgs).all()
    assert imgs.min() >= 0 and imgs.max() <= 1


def test_warmup_option_and_an_exact_resume(tmp_path):
    """loss_options warmup_steps=4 gives kl_weight 1/4, 2/4, 3/4, 1 and loss = recon + w kl; a
    run stopped after 2 steps and resumed equals the uninterrupted one, steps_done included."""
    base = dict(RUN, steps=4, loss_options={"warmup_steps": 4})
    full = fit("vae_vamp", _images(), TrainConfig(out=str(tmp_path / "full"), **base))
    part = fit("vae_vamp", _images(), TrainConfig(out=str(tmp_path / "part"), **base),
               callback=lambda info: info["step"] == 2)
    assert part.interrupted and part.step == 2
    resumed = fit("vae_vamp", _images(), TrainConfig(out=str(tmp_path / "part"), resume=True, **base))
    rows = [r for r in full.history if "loss" in r]
    assert [r["kl_weight"] for r in rows] == [0.25, 0.5, 0.75, 1.0]
    for r in rows:
        # logged floats of float32 terms: 1e-6 relative is float32 rounding of a 3-term sum.
        assert r["loss"] == pytest.approx(r["recon"] + r["kl_weight"] * r["kl"], rel=1e-6)
    # Exact on purpose: same process, threads and kernels, so any difference is a resume bug.
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert int(resumed.model.steps_done) == 4
    assert [r["loss"] for r in rows] == [r["loss"] for r in resumed.history if "loss" in r]
