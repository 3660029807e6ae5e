"""The four seed-004 landscape objectives (beta_vae, vae_bce, vae_fixed_var, vae_learned_var):
loss terms against values worked out by hand with ``math`` on tiny tensors, their defining
properties, their options through the trainer, a short training smoke test, and that each was
added as one objective module the trainer does not name."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

import waelib.train.config as train_config
import waelib.train.trainer as train_trainer
from waelib.objectives.base import Objective
from waelib.objectives.beta_vae import BETA, BetaVAEObjective
from waelib.objectives.vae import VAEObjective
from waelib.objectives.vae_bce import VAEBCEObjective, bernoulli_nll
from waelib.objectives.vae_fixed_var import VAEFixedVarianceObjective
from waelib.objectives.vae_learned_var import VAELearnedVarianceObjective
from waelib.registry import model_spec
from waelib.train import TrainConfig, Trainer

NEW = ("beta_vae", "vae_bce", "vae_fixed_var", "vae_learned_var")
CPU = torch.device("cpu")
TINY = dict(image_size=32, width=0.125, batch_size=8, seed=0, progress=False, amp=None,
            channels_last=False, fused=False, compile=False)
D = 3 * 2 * 2          # pixels per image of the hand-made batch
LOG_2PI = math.log(2.0 * math.pi)
# float64 throughout: each hand value is a sum of at most a dozen terms per image, so the code's
# and the hand's float64 sums agree to ~1e-15 relative; rel=1e-12 leaves room and still catches
# any wrong factor, constant or dropped term.
REL = 1e-12


def _batch():
    """x, x_hat (2, 3, 2, 2) in (0, 1), mu, logvar (2, 3): float64 holding float32 values, so that
    a float32 cast (VAEObjective's) of x_hat is exact."""
    g = torch.Generator().manual_seed(4)
    x = torch.rand(2, 3, 2, 2, generator=g).double()
    x_hat = (0.05 + 0.9 * torch.rand(2, 3, 2, 2, generator=g)).double()
    mu = torch.randn(2, 3, generator=g).double()
    logvar = (0.5 * torch.randn(2, 3, generator=g)).double()
    return x, {"x_hat": x_hat, "mu": mu, "logvar": logvar}


def _rows(t):
    return [t[i].flatten().tolist() for i in range(t.shape[0])]


def _hand_sq(x, x_hat):
    return [sum((a - b) ** 2 for a, b in zip(xa, xb)) for xa, xb in zip(_rows(x), _rows(x_hat))]


def _hand_kl(mu, logvar):
    return [0.5 * sum(math.exp(v) + m * m - 1.0 - v for m, v in zip(mr, vr))
            for mr, vr in zip(_rows(mu), _rows(logvar))]


def _mean(values):
    return sum(values) / len(values)


def _objective(cls, name, **options):
    return cls(None, TrainConfig(model=name, loss_options=options))


def test_beta_vae_terms_by_hand():
    """beta_vae: recon = mean ||x - x^||^2 (sigma_G^2 = 0.5), loss = recon + 4 kl by default."""
    x, out = _batch()
    terms = _objective(BetaVAEObjective, "beta_vae").elbo_terms(x, out)
    recon, kl = _mean(_hand_sq(x, out["x_hat"])), _mean(_hand_kl(out["mu"], out["logvar"]))
    assert BETA == 4.0
    assert terms["recon"].item() == pytest.approx(recon, rel=REL)
    # VAEObjective.elbo_terms (vae.py) casts mu and logvar to float32, so kl carries float32
    # rounding (eps 1.2e-7 over six exp terms): rel=1e-6, not the float64 REL.
    assert terms["kl"].item() == pytest.approx(kl, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(recon + 4.0 * kl, rel=1e-6)
    half = _objective(BetaVAEObjective, "beta_vae", beta=0.5).elbo_terms(x, out)
    assert half["loss"].item() == pytest.approx(recon + 0.5 * kl, rel=1e-6)


def test_beta_one_is_the_vae():
    """beta_vae with beta = 1 is the thesis VAE's objective, term for term."""
    x, out = _batch()
    beta = _objective(BetaVAEObjective, "beta_vae", beta=1.0).elbo_terms(x, out)
    vae = _objective(VAEObjective, "vae").elbo_terms(x, out)
    for k in ("loss", "recon", "kl"):
        assert beta[k].item() == pytest.approx(vae[k].item(), rel=REL)


def test_vae_bce_terms_by_hand():
    """vae_bce: recon = mean over images of -sum [x log x^ + (1 - x) log(1 - x^)]."""
    x, out = _batch()
    terms = _objective(VAEBCEObjective, "vae_bce").elbo_terms(x, out)
    bce = [-sum(a * math.log(b) + (1 - a) * math.log(1 - b) for a, b in zip(xa, xb))
           for xa, xb in zip(_rows(x), _rows(out["x_hat"]))]
    kl = _mean(_hand_kl(out["mu"], out["logvar"]))
    assert terms["recon"].item() == pytest.approx(_mean(bce), rel=REL)
    assert terms["kl"].item() == pytest.approx(kl, rel=REL)
    assert terms["loss"].item() == pytest.approx(_mean(bce) + kl, rel=REL)
    assert terms["sq_error"].item() == pytest.approx(_mean(_hand_sq(x, out["x_hat"])), rel=REL)


def test_bernoulli_nll_is_summed_bce_minimised_at_x():
    """bernoulli_nll is torch's summed BCE per image; for binary x it is 0 at x^ = x and grows."""
    x, out = _batch()
    nll = bernoulli_nll(x, out["x_hat"])
    for i in range(2):
        ref = nn.functional.binary_cross_entropy(out["x_hat"][i], x[i], reduction="sum")
        assert nll[i].item() == pytest.approx(ref.item(), rel=REL)
    xb = (x > 0.5).double()
    assert 0 < xb.sum() < xb.numel()
    assert bernoulli_nll(xb, xb).tolist() == [0.0, 0.0]
    costs = [bernoulli_nll(xb, xb * (1 - eps) + (1 - xb) * eps).sum().item() for eps in (1e-3, 0.1, 0.4)]
    assert 0 < costs[0] < costs[1] < costs[2]


def test_vae_fixed_var_terms_by_hand():
    """vae_fixed_var: recon = mean ||x - x^||^2 / 2 + D/2 log(2 pi) (gamma = 1)."""
    x, out = _batch()
    terms = _objective(VAEFixedVarianceObjective, "vae_fixed_var").elbo_terms(x, out)
    sq, kl = _mean(_hand_sq(x, out["x_hat"])), _mean(_hand_kl(out["mu"], out["logvar"]))
    recon = sq / 2.0 + D / 2.0 * LOG_2PI
    assert terms["recon"].item() == pytest.approx(recon, rel=REL)
    assert terms["kl"].item() == pytest.approx(kl, rel=REL)
    assert terms["loss"].item() == pytest.approx(recon + kl, rel=REL)
    assert terms["sq_error"].item() == pytest.approx(sq, rel=REL)


def test_fixed_var_minus_thesis_vae_closed_form():
    """loss(gamma = 1) - loss(sigma_G^2 = 0.5) = -mean ||x - x^||^2 / 2 + D/2 log(2 pi)."""
    x, out = _batch()
    # logvar = 0 and mu in eighths: both kls are exact even in vae.py's float32, so the
    # difference is the float64 recon difference.
    out = dict(out, mu=torch.tensor([[0.5, -1.25, 0.0], [2.0, 0.125, -0.75]], dtype=torch.float64),
               logvar=torch.zeros(2, 3, dtype=torch.float64))
    fixed = _objective(VAEFixedVarianceObjective, "vae_fixed_var").elbo_terms(x, out)["loss"]
    thesis = _objective(VAEObjective, "vae").elbo_terms(x, out)["loss"]
    expected = -_mean(_hand_sq(x, out["x_hat"])) / 2.0 + D / 2.0 * LOG_2PI
    assert (fixed - thesis).item() == pytest.approx(expected, rel=REL)


def test_vae_learned_var_terms_by_hand():
    """vae_learned_var: recon = mean ||x - x^||^2 / (2 gamma) + D/2 (log 2 pi + log gamma)."""
    x, out = _batch()
    out["log_gamma"] = torch.tensor(0.3, dtype=torch.float64)
    terms = _objective(VAELearnedVarianceObjective, "vae_learned_var").elbo_terms(x, out)
    gamma = math.exp(0.3)
    sq, kl = _mean(_hand_sq(x, out["x_hat"])), _mean(_hand_kl(out["mu"], out["logvar"]))
    recon = sq / (2.0 * gamma) + D / 2.0 * (LOG_2PI + 0.3)
    assert terms["gamma"].item() == pytest.approx(gamma, rel=REL)
    assert terms["recon"].item() == pytest.approx(recon, rel=REL)
    assert terms["kl"].item() == pytest.approx(kl, rel=REL)
    assert terms["loss"].item() == pytest.approx(recon + kl, rel=REL)


def test_learned_var_optimum_is_mse_per_pixel():
    """The learned-variance loss is smallest over gamma at gamma = mean squared error per pixel."""
    x, out = _batch()
    obj = _objective(VAELearnedVarianceObjective, "vae_learned_var")
    best = _mean(_hand_sq(x, out["x_hat"])) / D
    log_gamma = torch.tensor(math.log(best), dtype=torch.float64, requires_grad=True)
    loss = obj.elbo_terms(x, dict(out, log_gamma=log_gamma))["loss"]
    (grad,) = torch.autograd.grad(loss, log_gamma)
    assert abs(grad.item()) < 1e-12 * D      # d/dlog_gamma = D/2 (1 - mse/gamma), float64
    for factor in (0.5, 0.9, 1.1, 2.0):
        other = torch.tensor(math.log(best * factor), dtype=torch.float64)
        assert obj.elbo_terms(x, dict(out, log_gamma=other))["loss"].item() > loss.item()


def test_beta_option_reaches_the_objective():
    """loss_options={"beta": 2} on a TrainConfig reaches the trained objective."""
    cfg = TrainConfig(model="beta_vae", steps=1, loss_options={"beta": 2.0}, **TINY).resolved(CPU, total_steps=1)
    terms = Trainer(cfg).train_step(torch.rand(8, 3, 32, 32))
    assert terms["kl"].item() > 1e-3           # so that beta 2 and 4 give different losses
    # the same float32 operations as the objective: equal up to float32 rounding of one sum
    assert terms["loss"].item() == pytest.approx((terms["recon"] + 2.0 * terms["kl"]).item(), rel=1e-6)


@pytest.mark.parametrize("name, valid", [("beta_vae", "beta"), ("vae_learned_var", "none")])
def test_unknown_option_is_named(name, valid):
    """An unknown loss option is a ValueError naming it and the valid ones."""
    with pytest.raises(ValueError, match=rf"'gamma'.*valid: {valid}"):
        TrainConfig(model=name, loss_options={"gamma": 1}).validate()


@pytest.mark.parametrize("name", NEW)
def test_short_training_is_finite(name):
    """Three steps on a tiny model give finite terms; the learned gamma moves and is logged."""
    cfg = TrainConfig(model=name, steps=3, **TINY).resolved(CPU, total_steps=3)
    tr = Trainer(cfg)
    for _ in range(3):
        terms = tr.train_step(torch.rand(8, 3, 32, 32))
        assert {"loss", "recon", "kl"} <= set(terms)
        assert all(torch.isfinite(v).all() for v in terms.values())
    if name == "vae_learned_var":
        assert tr.model.log_gamma.item() != 0.0
        assert terms["gamma"].item() > 0
        assert any(p is tr.model.log_gamma for g in tr.optimizers["model"].param_groups for p in g["params"])


@pytest.mark.parametrize("name", NEW)
def test_added_as_one_objective_module(name):
    """Each new model is one Objective module of its own; the trainer's files never name it."""
    objective = model_spec(name).objective
    assert issubclass(objective, Objective)
    assert objective.__module__ == f"waelib.objectives.{name}"
    assert objective.name == name
    for module in (train_trainer, train_config):
        assert name not in Path(module.__file__).read_text(encoding="utf-8")
