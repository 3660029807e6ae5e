"""VAE-IOP (seed 004 ref. [17], waelib/objectives/vae_iop.py): the loss terms against values worked
out by hand with ``math``; the density-ratio network recovering a known log ratio; the gradient
paths (through z into the encoder, never into T from the VAE's loss); the sampler drawing from the
bank's mixture (moments against the closed form); the ring buffer; options and overrides through
the trainer; training by name through ``fit``; an exact resume (the bank and the warm-up clock are
model buffers)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import waelib.train.config as train_config
import waelib.train.trainer as train_trainer
from waelib import evaluate
from waelib.objectives.base import Objective
from waelib.objectives.vae_iop import (
    IOPVAE,
    RATIO_HIDDEN,
    VAEIOPObjective,
    gaussian_kl_to,
    iop_terms,
    ratio_loss,
)
from waelib.registry import build_model, model_spec
from waelib.train import TrainConfig, Trainer, fit

CPU = torch.device("cpu")
FAST = dict(progress=False, amp=None, compile=False, fused=False, channels_last=False)
TINY = dict(image_size=32, width=0.0625, latent_dim=8, batch_size=8, seed=0, threads=1, **FAST)
# float64 throughout the hand checks: each value is a sum of at most a dozen terms per row, so the
# code's and the hand's float64 sums agree to ~1e-15 relative; 1e-12 still catches any wrong
# factor, constant or dropped term.
REL = 1e-12


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread per test (restored after): these tensors are tiny, and on a shared
    2-core machine a second thread only adds synchronisation."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _trainer(steps=1, options=None, overrides=None, **kw):
    cfg = TrainConfig(model="vae_iop", steps=steps, loss_options=options or {},
                      model_overrides=overrides or {}, **dict(TINY, **kw))
    return Trainer(cfg.resolved(CPU, total_steps=steps))


def _images(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)


# ---------------------------------------------------------------------------------------
# Loss terms by hand
# ---------------------------------------------------------------------------------------
def _hand_batch():
    g = torch.Generator().manual_seed(7)
    x = torch.rand(2, 3, 2, 2, generator=g).double()
    x_hat = torch.rand(2, 3, 2, 2, generator=g).double()
    mu = torch.randn(2, 3, generator=g).double()
    logvar = (0.5 * torch.randn(2, 3, generator=g)).double()
    log_ratio = torch.tensor([0.7, -1.3], dtype=torch.float64)
    return x, x_hat, mu, logvar, log_ratio


@pytest.mark.parametrize("sigma2, weight", [(1.0, 1.0), (2.0, 0.25)])
def test_iop_terms_by_hand(sigma2, weight):
    """recon = mean ||x - x^||^2 (sigma_G^2 = 0.5); kl_normal = mean KL(N(mu, s^2) || N(0, sigma2));
    kl = kl_normal - mean T(z); loss = recon + w * kl."""
    x, x_hat, mu, logvar, t = _hand_batch()
    terms = iop_terms(x, x_hat, mu, logvar, t, kl_weight=weight, prior_sigma2=sigma2)
    rows = lambda a: [a[i].flatten().tolist() for i in range(a.shape[0])]  # noqa: E731
    sq = [sum((a - b) ** 2 for a, b in zip(ra, rb)) for ra, rb in zip(rows(x), rows(x_hat))]
    kln = [0.5 * sum((math.exp(v) + m * m) / sigma2 - 1.0 - v + math.log(sigma2) for m, v in zip(rm, rv))
           for rm, rv in zip(rows(mu), rows(logvar))]
    recon, kl_normal, ratio = sum(sq) / 2, sum(kln) / 2, (0.7 - 1.3) / 2
    assert terms["recon"].item() == pytest.approx(recon, rel=REL)
    assert terms["kl_normal"].item() == pytest.approx(kl_normal, rel=REL)
    assert terms["log_ratio"].item() == pytest.approx(ratio, rel=REL)
    assert terms["kl"].item() == pytest.approx(kl_normal - ratio, rel=REL)
    assert terms["loss"].item() == pytest.approx(recon + weight * (kl_normal - ratio), rel=REL)
    assert terms["kl_weight"].item() == weight


def test_gaussian_kl_to_unit_is_the_thesis_kl():
    """At sigma2 = 1 the KL is waelib.losses.gaussian_kl (the VAE's), row for row."""
    from waelib.losses import gaussian_kl
    _, _, mu, logvar, _ = _hand_batch()
    assert torch.allclose(gaussian_kl_to(mu, logvar, 1.0), gaussian_kl(mu, logvar), rtol=REL, atol=0)


def test_ratio_loss_by_hand():
    """mean log(1 + e^{-T(z_q)}) + mean log(1 + e^{T(z_p)}): labels 1 for q, 0 for p."""
    lq, lp = [0.3, -2.0, 1.5], [-0.4, 0.9, 2.5]
    got = ratio_loss(torch.tensor(lq, dtype=torch.float64), torch.tensor(lp, dtype=torch.float64))
    hand = sum(math.log1p(math.exp(-v)) for v in lq) / 3 + sum(math.log1p(math.exp(v)) for v in lp) / 3
    assert got.item() == pytest.approx(hand, rel=REL)


# ---------------------------------------------------------------------------------------
# The density ratio
# ---------------------------------------------------------------------------------------
def test_ratio_updates_recover_a_known_log_ratio():
    """With q = N(1, 1) in the bank and p = N(0, 1), T's own updates (bank draws vs prior draws,
    logistic loss, Adam) learn log q/p = z - 1/2 on [-1, 2]."""
    tr = _trainer(latent_dim=1, overrides={"ratio_hidden": 16, "ratio_dropout": 0.0, "bank_size": 64})
    tr.model.remember(torch.ones(64, 1), torch.zeros(64, 1))          # every component N(1, 1)
    for steps, lr in ((200, 1e-2), (150, 1e-3)):                      # a short fit, then settle
        for group in tr.optimizers["ratio"].param_groups:
            group["lr"] = lr
        for _ in range(steps):
            tr.objective.ratio_update(tr, 512)
    z = torch.linspace(-1.0, 2.0, 61)
    with torch.no_grad():
        t = tr.objective.frozen_log_ratio(z[:, None])
    err = (t - (z - 0.5)).abs()
    # Over 10 seeds of this schedule the worst error on the grid was 0.105 nats, the worst mean
    # error 0.042 (SGD noise of the last iterates plus finite samples); 0.3 and 0.12 leave ~3x
    # that, while swapped labels (T = 1/2 - z) are off by 1.5 nats on average and a prior or
    # bank drawn at the wrong scale by several tenths at the ends of the grid.
    assert err.max().item() < 0.3 and err.mean().item() < 0.12, err


def test_vae_loss_reaches_the_encoder_through_z_never_the_ratio_net():
    """The VAE's loss: T's term -E T(z) moves the encoder (pathwise, through z) and leaves T's
    parameters without a gradient; T's loss, on banked (detached) codes, never reaches the encoder."""
    tr = _trainer()
    model, obj = tr.model, tr.objective
    out = model(torch.rand(8, 3, 32, 32))
    obj.frozen_log_ratio(out["z"]).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    assert all(p.grad is None for p in model.ratio_net.parameters())
    # pathwise: d T(z)/d z is the ratio net's own Jacobian at z
    z = out["z"].detach().requires_grad_(True)
    (dz,) = torch.autograd.grad(obj.frozen_log_ratio(z).sum(), z)
    jac = torch.autograd.functional.jacobian(lambda v: model.ratio_net(v[None])[0], z[0].detach())
    assert torch.allclose(dz[0], jac, rtol=1e-5, atol=1e-7)   # float32: same ops, other order
    model.remember(out["mu"], out["logvar"])
    model.zero_grad(set_to_none=True)
    obj.ratio_update(tr, 8)
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.ratio_net.parameters())


def test_optimisers_split_the_parameters():
    """"model" holds every VAE parameter, "ratio" every parameter of T, none in both."""
    tr = _trainer()
    ids = {k: {id(p) for g in o.param_groups for p in g["params"]} for k, o in tr.optimizers.items()}
    assert ids["ratio"] == {id(p) for p in tr.model.ratio_net.parameters()}
    assert not ids["model"] & ids["ratio"]
    assert ids["model"] | ids["ratio"] == {id(p) for p in tr.model.parameters()}
    assert tr.cfg.disc_lr == 1e-3 and tr.cfg.lr == 1e-3


def test_dropout_only_in_the_ratio_updates():
    """T with dropout=True is random (its own updates); the VAE's T is deterministic in any mode."""
    model = build_model("vae_iop", image_size=32, width=0.0625, latent_dim=8)
    z = torch.randn(16, 8)
    model.train()
    a, b = model.ratio_net(z, dropout=True), model.ratio_net(z, dropout=True)
    assert not torch.equal(a, b)
    plain = model.ratio_net(z)
    assert torch.equal(plain, model.ratio_net(z))
    model.eval()
    assert torch.equal(model.ratio_net(z), plain)


# ---------------------------------------------------------------------------------------
# The sampler and the bank
# ---------------------------------------------------------------------------------------
def _bank_model():
    model = build_model("vae_iop", image_size=32, width=0.0625, latent_dim=2, bank_size=8)
    mu = torch.tensor([[2.0, -1.0], [-1.5, 0.5], [0.0, 3.0]])
    logvar = torch.tensor([[math.log(4.0), 0.0], [math.log(0.25), math.log(9.0)], [0.0, math.log(0.5)]])
    model.bank_mu.fill_(1e3)                        # rows 3..7 are not filled: never drawn
    model.remember(mu, logvar)
    return model, mu.double(), logvar.double()


def test_sampler_draws_from_the_banks_mixture():
    """sample_prior: mean and covariance of 200,000 draws against the mixture's closed form
    m = mean_k mu_k, C = mean_k (diag sigma_k^2 + mu_k mu_k^T) - m m^T."""
    model, mu, logvar = _bank_model()
    n = 200_000
    z = model.sample_prior(n, generator=torch.Generator().manual_seed(0)).double()
    assert z.abs().max() < 100                      # no draw from the unfilled rows
    m = mu.mean(0)
    cov = (torch.diag_embed(logvar.exp()) + mu[:, :, None] * mu[:, None, :]).mean(0) - torch.outer(m, m)
    emp_m, zc = z.mean(0), z - z.mean(0)
    emp_c = zc.T @ zc / n
    # 5 standard errors, each estimated from the draws (sd of z_j, of z_i z_j products, / sqrt n):
    # a false alarm has probability ~1e-6 per entry; using exp(logvar) as sigma, dropping sigma or
    # drawing rows with unequal weight moves some entry by tens of standard errors.
    se_m = z.std(0) / math.sqrt(n)
    se_c = (zc[:, :, None] * zc[:, None, :]).flatten(1).std(0).view(2, 2) / math.sqrt(n)
    assert ((emp_m - m).abs() < 5 * se_m).all(), (emp_m, m)
    assert ((emp_c - cov).abs() < 5 * se_c).all(), (emp_c, cov)


def test_sampler_is_reproducible_and_falls_back_to_p_when_empty():
    """The same seeded generator gives the same codes; an empty bank samples N(0, prior_sigma2 I)
    exactly as the base class does."""
    model, _, _ = _bank_model()
    draw = lambda m: m.sample_prior(64, generator=torch.Generator().manual_seed(3))  # noqa: E731
    assert torch.equal(draw(model), draw(model))
    empty = build_model("vae_iop", image_size=32, width=0.0625, latent_dim=2, prior_sigma2=2.0)
    assert empty.bank_filled == 0
    ref = torch.randn(64, 2, generator=torch.Generator().manual_seed(3)) * math.sqrt(2.0)
    assert torch.allclose(draw(empty), ref, rtol=1e-6, atol=0)       # float32 sqrt(2) scaling


def test_bank_is_a_ring_buffer():
    """After 5 + 5 writes into a bank of 8, it holds the last 8 rows in ring order; a batch
    larger than the bank keeps its last rows."""
    model = build_model("vae_iop", image_size=32, width=0.0625, latent_dim=1, bank_size=8)
    rows = torch.arange(10.0)[:, None]
    model.remember(rows[:5], -rows[:5])
    model.remember(rows[5:], -rows[5:])
    assert int(model.bank_count) == 10 and model.bank_filled == 8
    assert model.bank_mu.squeeze(1).tolist() == [8, 9, 2, 3, 4, 5, 6, 7]
    assert model.bank_logvar.squeeze(1).tolist() == [-8, -9, -2, -3, -4, -5, -6, -7]
    model.remember(torch.arange(100.0, 111.0)[:, None], torch.zeros(11, 1))
    assert int(model.bank_count) == 21
    # the ring continues: row 100 + i would sit at (10 + i) % 8, so the kept 103..110 end with 110 at row 4
    assert model.bank_mu[4].item() == 110 and sorted(model.bank_mu.squeeze(1).tolist()) == list(range(103, 111))


def test_overrides_reach_the_model():
    """ratio_hidden (default 500 x width), ratio_dropout and bank_size through build_model."""
    default = build_model("vae_iop", image_size=32, width=0.125, latent_dim=8)
    assert isinstance(default, IOPVAE)
    assert default.ratio_net.head.in_features == round(RATIO_HIDDEN * 0.125)
    model = build_model("vae_iop", image_size=32, width=0.0625, latent_dim=8, ratio_hidden=7,
                        ratio_dropout=0.2, bank_size=5)
    assert model.ratio_net.head.in_features == 7 and model.ratio_net.p == 0.2
    assert model.bank_mu.shape == (5, 8) and "bank_mu" in model.state_dict()
    with pytest.raises(ValueError, match="bank_size"):
        build_model("vae_iop", image_size=32, width=0.0625, latent_dim=8, bank_size=0)


# ---------------------------------------------------------------------------------------
# Through the trainer
# ---------------------------------------------------------------------------------------
def test_options_reach_the_step():
    """ratio_steps = 0 leaves T untouched, 2 moves it; warmup = 0.5 of 4 steps gives the KL
    weights 0, 1/2, 1, 1 and loss = recon + w * kl."""
    frozen = _trainer(options={"ratio_steps": 0})
    before = [p.clone() for p in frozen.model.ratio_net.parameters()]
    frozen.train_step(torch.rand(8, 3, 32, 32))
    assert all(torch.equal(a, b) for a, b in zip(before, frozen.model.ratio_net.parameters()))
    tr = _trainer(steps=4, options={"ratio_steps": 2, "warmup": 0.5})
    before = [p.clone() for p in tr.model.ratio_net.parameters()]
    weights = []
    for _ in range(4):
        terms = tr.train_step(torch.rand(8, 3, 32, 32))
        weights.append(terms["kl_weight"].item())
        # float32 terms, one product and one sum: float32 rounding of the sum
        assert terms["loss"].item() == pytest.approx((terms["recon"] + weights[-1] * terms["kl"]).item(), rel=1e-6)
    assert weights == [0.0, 0.5, 1.0, 1.0]
    assert not all(torch.equal(a, b) for a, b in zip(before, tr.model.ratio_net.parameters()))
    with pytest.raises(ValueError, match=r"'beta'.*valid: ratio_steps, warmup"):
        TrainConfig(model="vae_iop", loss_options={"beta": 1}).validate()


def test_training_by_name_through_fit(tmp_path):
    """fit("vae_iop") trains with finite terms, fills the bank and the clock, and its samples
    (waelib.evaluate.generate) come from the bank, not from N(0, I)."""
    res = fit("vae_iop", _images(32), TrainConfig(steps=4, out=str(tmp_path), log_every=1, **TINY))
    names = {"loss", "recon", "kl", "kl_normal", "log_ratio", "ratio_loss", "kl_weight", "sq_error"}
    assert len(res.history) == 4 and all(names <= set(row) for row in res.history)
    assert all(math.isfinite(row[k]) for row in res.history for k in names)
    model = res.model
    assert int(model.step) == 4 and int(model.bank_count) == 32
    samples = evaluate.generate(model, 16, seed=0)
    assert samples.shape == (16, 3, 32, 32) and torch.isfinite(samples).all()
    z = model.sample_prior(16, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(z, model.reference_prior(16, generator=torch.Generator().manual_seed(0)))


def test_resume_is_exact(tmp_path):
    """Stopped at step 2 and resumed to 4 == 4 steps straight: weights, T, the bank (16 rows, so
    it wraps after step 2), the clock (warm-up 0.5 = 2 steps ends at the stop), the optimisers'
    states and the log, bit for bit."""
    data = _images(24)                              # 3 steps per epoch: the resume crosses an epoch
    base = dict(TINY, steps=4, log_every=1, checkpoint_every=1000, loss_options={"warmup": 0.5},
                model_overrides={"bank_size": 16})
    full = fit("vae_iop", data, TrainConfig(out=str(tmp_path / "full"), **base))
    part = fit("vae_iop", data, TrainConfig(out=str(tmp_path / "part"), **base),
               callback=lambda info: info["step"] == 2)
    assert part.interrupted and part.step == 2 and int(part.model.bank_count) == 16
    resumed = fit("vae_iop", data, TrainConfig(out=str(tmp_path / "part"), resume=True, **base))
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and {"bank_mu", "bank_logvar", "bank_count", "step"} <= set(a)
    # exact on purpose: the same process, threads and kernels, so any difference is a resume bug
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    ck = [torch.load(tmp_path / run / "checkpoint.pt", weights_only=False)["optimizers"] for run in ("full", "part")]
    for name in ("model", "ratio"):
        for i, state in ck[0][name]["state"].items():
            assert all(torch.equal(torch.as_tensor(v), torch.as_tensor(ck[1][name]["state"][i][k]))
                       for k, v in state.items())
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("time", "images_per_second")}  # noqa: E731
                          for r in rows]
    assert strip(full.history) == strip(resumed.history)


def test_added_as_one_objective_module():
    """One Objective module of its own; the trainer's files never name it."""
    objective = model_spec("vae_iop").objective
    assert objective is VAEIOPObjective and issubclass(objective, Objective)
    assert objective.__module__ == "waelib.objectives.vae_iop"
    for module in (train_trainer, train_config):
        assert "vae_iop" not in Path(module.__file__).read_text(encoding="utf-8")
