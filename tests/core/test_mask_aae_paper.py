"""MaskAAE with its paper's own mask objective (waelib/objectives/mask_aae_paper.py, after the authors'
MaskAAE_MNIST.py): the mask's parameterisation, each loss term against values worked out by hand with
``math``, the critic's gradient penalty against a per-row brute force, the regulariser's schedule, which
parameters each optimiser's gradient reaches (against an independent re-computation of all four
losses), the masked codes and prior, training by name through ``fit``, options through the trainer and an
exact resume of the schedule's step counter."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from waelib.models import MaskAAE
from waelib.objectives import mask_aae_paper as paper
from waelib.objectives.mask_aae_paper import (
    MaskAAEPaperObjective,
    PaperMask,
    PaperMaskAAE,
    bce_reconstruction,
    critic_loss,
    default_interval,
    mask_loss,
    poly_regulariser,
    poly_weight,
    reference_interval,
    variance_penalty,
)
from waelib.registry import build_model, model_spec
from waelib.train import TrainConfig, Trainer, fit

NAME = "mask_aae_paper"
CPU = torch.device("cpu")
TINY = dict(image_size=32, width=0.0625, latent_dim=8, batch_size=8, seed=0, progress=False, amp=None,
            compile=False, fused=False, channels_last=False, log_every=1, sample_every=1000,
            checkpoint_every=1000, n_samples=4)
# float64 hand values: each is a sum of at most a dozen terms, so code and hand agree to ~1e-15
# relative; 1e-12 leaves room and still catches any wrong factor, constant or dropped term.
REL = 1e-12
# The gates: alpha = 0 is a closed gate (mu = 0 exactly), 0.1 is just under the 0.1 threshold
# (mu = 0.0952), the rest open.
ALPHA = [0.0, 0.1, 0.5, 1.0, 3.0, 5.0, 0.05, 2.0]


def _images(n=32, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


def _tiny_model(alpha=ALPHA) -> PaperMaskAAE:
    torch.manual_seed(0)
    model = build_model(NAME, image_size=32, width=0.0625, latent_dim=len(alpha))
    with torch.no_grad():
        model.mask.alpha.copy_(torch.tensor(alpha))
    return model


# ---------------------------------------------------------------------------------------
# The model: mask, codes, prior
# ---------------------------------------------------------------------------------------
def test_builds_by_name_with_the_codes_mask():
    torch.manual_seed(0)
    model = build_model(NAME, image_size=32, width=0.0625, latent_dim=16)
    assert isinstance(model, PaperMaskAAE) and isinstance(model, MaskAAE)
    assert isinstance(model.mask, PaperMask) and hasattr(model, "discriminator")
    assert model_spec(NAME).objective is MaskAAEPaperObjective
    a = model.mask.alpha.detach()
    assert a.shape == (16,) and bool((a >= 0).all()) and bool((a < 5.0).all())   # alpha ~ U(0, 5)
    assert a.std() > 0.5                       # uniform on [0, 5) has std 1.44, not a constant fill
    assert int(model.step) == 0 and model.step.dtype == torch.long
    assert "step" in dict(model.named_buffers())
    assert model.prior_sigma2 == 2.0 and build_model(NAME, latent_dim=4, image_size=32, width=0.0625,
                                                     prior_sigma2=1.0).prior_sigma2 == 1.0


def test_mask_is_one_minus_exp_of_a_nonnegative_alpha():
    mask = PaperMask(len(ALPHA))
    with torch.no_grad():
        mask.alpha.copy_(torch.tensor(ALPHA, dtype=torch.float64).float())
    mu = mask().tolist()
    for a, m in zip(ALPHA, mu):
        # float32 exp on values <= 5: relative rounding ~1e-7; abs 1e-7 for the closed gate at 0.
        assert m == pytest.approx(1.0 - math.exp(-a), rel=1e-6, abs=1e-7)
    assert mu[0] == 0.0                                      # alpha = 0 is exactly closed
    # mu >= 0.1 <=> alpha >= -ln 0.9 = 0.1054: 0.5, 1, 3, 5 and 2 are on; 0, 0.1 and 0.05 are off
    assert mask.active() == 5 and mask.active(0.5) == 4
    with torch.no_grad():
        mask.alpha.copy_(torch.tensor([-0.3, 0.2, -1e-3, 4.0, 0.0, -2.0, 1.0, 0.5]))
    mask.project_()
    assert mask.alpha.tolist() == pytest.approx([0.0, 0.2, 0.0, 4.0, 0.0, 0.0, 1.0, 0.5])
    assert bool((mask()[[0, 2, 4, 5]] == 0).all())


def test_codes_and_prior_draws_are_masked():
    model = _tiny_model().eval()
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    mu = model.mask().detach()
    with torch.no_grad():
        h = model.encoder(x)
        out = model(x)
        z = model.encode(x)
    assert torch.equal(z, h * mu) and torch.equal(out["z"], z) and torch.equal(out["h"], h)
    assert bool((z[:, 0] == 0).all())                                         # the closed gate
    g = torch.Generator().manual_seed(5)
    draws = model.sample_prior(6, generator=g).detach()
    eps = torch.randn(6, 8, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(draws, eps * math.sqrt(2.0) * mu)     # same float32 ops up to order: ~1 ulp
    assert bool((draws[:, 0] == 0).all()) and draws[:, 5].abs().sum() > 0
    again = model.sample_prior(6, generator=torch.Generator().manual_seed(5)).detach()
    assert torch.equal(draws, again)                                          # seeded: reproducible
    with torch.no_grad():
        samples = model.decode(draws)
    assert samples.shape == (6, 3, 32, 32) and bool(((samples >= 0) & (samples <= 1)).all())


# ---------------------------------------------------------------------------------------
# The loss terms, by hand
# ---------------------------------------------------------------------------------------
def _hand_bce(x, p, eps=1e-7):
    p = min(max(p, eps), 1.0 - eps)
    return -(x * math.log(p) + (1.0 - x) * math.log(1.0 - p))


def test_bce_reconstruction_by_hand():
    xs, ps = [0.2, 0.9, 1.0, 0.0], [0.5, 0.3, 1.0, 1e-9]      # the last two hit Keras' clip at 1e-7
    x = torch.tensor(xs, dtype=torch.float64).reshape(2, 1, 1, 2)
    x_hat = torch.tensor(ps, dtype=torch.float64).reshape(2, 1, 1, 2)
    hand = sum(_hand_bce(a, b) for a, b in zip(xs, ps)) / 4
    assert bce_reconstruction(x, x_hat).item() == pytest.approx(hand, rel=REL)


def test_variance_penalty_by_hand():
    rows = [[1.0, -2.0], [3.0, 0.0], [-1.0, 5.0]]
    mus = [0.3, 0.9]
    h = torch.tensor(rows, dtype=torch.float64)
    mu = torch.tensor(mus, dtype=torch.float64)
    hand = 0.0
    for j in range(2):
        col = [r[j] for r in rows]
        mean = sum(col) / 3
        hand += sum((v - mean) ** 2 for v in col) * math.exp(-10.0 * mus[j] ** 2)
    hand /= 6                                                   # mean over the 3 x 2 entries
    assert variance_penalty(h, mu).item() == pytest.approx(hand, rel=REL)
    # a closed gate weighs its dimension's variance fully (exp 0 = 1), an open one hardly at all
    assert variance_penalty(h, torch.tensor([0.0, 1.0], dtype=torch.float64)).item() == pytest.approx(
        (8.0 + 26.0 * math.exp(-10.0)) / 6, rel=REL)        # column sums of squares 8 and 26


def test_poly_regulariser_and_mask_loss_by_hand():
    mu = torch.tensor([0.0, 0.3, 1.0, 0.5], dtype=torch.float64)
    assert poly_regulariser(mu).item() == pytest.approx(0.3 * 0.7 + 0.25, rel=REL)     # 0.46
    recon = torch.tensor(0.7, dtype=torch.float64)
    s_q = torch.tensor([1.0, 2.0], dtype=torch.float64)        # mean 1.5
    s_p = torch.tensor([0.5, -0.5], dtype=torch.float64)       # mean 0: gap 1.5, (1 - 1.5)^2 = 0.25
    w = torch.tensor(4.0, dtype=torch.float64)
    got = mask_loss(recon, s_q, s_p, mu, w).item()
    assert got == pytest.approx(1000 * 0.7 + 0.25 + 4 * 0.46, rel=REL)
    assert mask_loss(recon, s_q, s_p, mu, w, rec_weight=10.0).item() == pytest.approx(7 + 0.25 + 1.84, rel=REL)


def test_critic_loss_of_a_linear_critic_by_hand():
    """H(z) = w.z + b with ||w|| = 5: grad H = w everywhere, so the penalty is (5 - 1)^2 = 16."""
    critic = nn.Linear(2, 1).double()
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 4.0]]))
        critic.bias.fill_(0.5)
    z_q = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    z_p = torch.tensor([[-1.0, 1.0], [2.0, 2.0]], dtype=torch.float64)
    u = torch.tensor([[0.25], [0.75]], dtype=torch.float64)
    loss, penalty = critic_loss(lambda z: critic(z).squeeze(-1), z_q, z_p, u)
    mean_q = (3.0 + 8.0) / 2 + 0.5
    mean_p = (1.0 + 14.0) / 2 + 0.5
    assert penalty.item() == pytest.approx(16.0, rel=REL)
    assert loss.item() == pytest.approx(mean_q - mean_p + 10.0 * 16.0, rel=REL)


def test_gradient_penalty_of_an_mlp_against_a_per_row_jacobian():
    torch.manual_seed(2)
    critic = nn.Sequential(nn.Linear(3, 7), nn.Tanh(), nn.Linear(7, 1)).double()
    z_q, z_p = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    u = torch.rand(5, 1, dtype=torch.float64)
    _, penalty = critic_loss(lambda z: critic(z).squeeze(-1), z_q, z_p, u, gp_weight=3.0)
    z_hat = z_p + u * (z_q - z_p)
    norms = [torch.autograd.functional.jacobian(lambda r: critic(r).sum(), z_hat[i]).norm().item()
             for i in range(5)]
    assert penalty.item() == pytest.approx(sum((v - 1.0) ** 2 for v in norms) / 5, rel=1e-10)  # float64


def test_the_regulariser_schedule_of_the_code():
    assert [reference_interval(m) for m in (8, 20, 21, 64, 100)] == [75, 75, 2362, 7200, 10000]
    assert default_interval(64, 2000) == pytest.approx(28.8, rel=REL)      # 7200 * 2000 / 500000
    assert default_interval(8, None) == 75.0
    steps = torch.tensor([0, 7, 8, 15, 16, 8 * 20])
    got = [poly_weight(s, 8, 2.0).item() for s in steps]          # I = 2: doubles every 8 steps
    assert got == [0.25, 0.25, 0.5, 0.5, 1.0, 2048.0]             # 2 / 8, ..., capped at 2048
    assert poly_weight(torch.tensor(0), 64, 28.8).item() == pytest.approx(1 / 32, rel=REL)
    assert poly_weight(torch.tensor(115), 64, 28.8).item() == pytest.approx(1 / 32, rel=REL)
    assert poly_weight(torch.tensor(116), 64, 28.8).item() == pytest.approx(1 / 16, rel=REL)


# ---------------------------------------------------------------------------------------
# Which parameters each loss reaches
# ---------------------------------------------------------------------------------------
class Recorder:
    """Stands in for an optimiser: records the gradients it is asked to step with, moves nothing."""

    def __init__(self, opt: torch.optim.Optimizer):
        self.params = [p for g in opt.param_groups for p in g["params"]]
        self.seen = []

    def zero_grad(self, set_to_none: bool = True):
        for p in self.params:
            p.grad = None

    def step(self):
        self.seen.append({id(p): p.grad.detach().clone() for p in self.params if p.grad is not None})


def _recording_trainer(**options):
    cfg = TrainConfig(model=NAME, steps=10, loss_options=options, **TINY).resolved(CPU, total_steps=10)
    torch.manual_seed(0)
    tr = Trainer(cfg)
    with torch.no_grad():
        tr.model.mask.alpha.copy_(torch.tensor(ALPHA))
    tr.optimizers = {k: Recorder(v) for k, v in tr.optimizers.items()}
    return tr


def _independent_losses(model, x, n_critic_draws):
    """All four losses re-derived from the module docstring's formulas on a copy of the model, with
    the prior and u drawn in the order the step draws them."""
    n, sigma = x.shape[0], math.sqrt(model.prior_sigma2)
    alpha, critic = model.mask.alpha, model.discriminator
    mu = 1.0 - torch.exp(-alpha)
    h = model.encoder(x)
    x_hat = model.decoder(h * mu)
    z_q = (h * mu).detach()
    d_losses = []
    for _ in range(n_critic_draws):
        z_p = (torch.randn(n, 8) * sigma * mu).detach()
        u = torch.rand(n, 1)
        z_hat = (z_p + u * (z_q - z_p)).requires_grad_(True)
        grads = [torch.autograd.grad(critic(z_hat[i:i + 1]).sum(), z_hat, create_graph=True)[0][i]
                 for i in range(n)]
        gp = sum((g.norm() - 1.0) ** 2 for g in grads) / n
        d_losses.append(critic(z_q).mean() - critic(z_p).mean() + 10.0 * gp)
    p = x_hat.clamp(1e-7, 1 - 1e-7)
    recon = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).mean()
    var = ((h - h.mean(0)) ** 2 * torch.exp(-10.0 * mu.detach() ** 2)).mean()
    z_p = torch.randn(n, 8) * sigma * mu
    gap = critic(h.detach() * mu).mean() - critic(z_p).mean()
    poly = (mu * (1 - mu)).abs().sum()
    return {"disc": d_losses, "ae": recon + 100.0 * var, "gen": -critic(h * mu.detach()).mean(),
            "mask": 1000.0 * recon + (1.0 - gap) ** 2 + (2.0 / 8) * poly}


def _grads(loss, params):
    return torch.autograd.grad(loss, params, retain_graph=True)


def test_each_optimiser_steps_on_the_gradient_of_its_own_loss_only():
    tr = _recording_trainer(n_critic=1)
    model, twin = tr.model, copy.deepcopy(tr.model)
    x = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(11)
    terms = tr.objective.training_step(tr, x)
    torch.manual_seed(11)
    ref = _independent_losses(twin, x, n_critic_draws=1)
    enc_dec = list(model.encoder.parameters()) + list(model.decoder.parameters())
    twin_enc_dec = list(twin.encoder.parameters()) + list(twin.decoder.parameters())
    expected_params = {"disc": (list(model.discriminator.parameters()), list(twin.discriminator.parameters())),
                       "ae": (enc_dec, twin_enc_dec),
                       "gen": (list(model.encoder.parameters()), list(twin.encoder.parameters())),
                       "mask": ([model.mask.alpha], [twin.mask.alpha])}
    assert set(expected_params) == set(tr.optimizers)
    for name, (params, twin_params) in expected_params.items():
        rec = tr.optimizers[name]
        assert len(rec.seen) == 1, name                                   # one step each (n_critic = 1)
        assert set(rec.seen[0]) == {id(p) for p in params}, name          # exactly its own parameters
        loss = ref[name][0] if name == "disc" else ref[name]
        wants = _grads(loss, twin_params)
        # float32, and the module scores the critic on one concatenated batch where the twin scores
        # each part (another BLAS summation order): ~1e-6 relative. The biases just before a BatchNorm
        # have a gradient that is 0 up to that noise, hence an atol of 1e-5 of the largest gradient.
        atol = 1e-5 * max(float(w.abs().max()) for w in wants)
        for p, want in zip(params, wants):
            assert torch.allclose(rec.seen[0][id(p)], want, rtol=1e-4, atol=atol), name
    # The mask's gradient is L_M's alone: adding L_AE (which holds the same recon at weight 1, and
    # reaches alpha through D(mu h)) changes it by ~1e-3 relative, which the tolerance above rejects.
    wrong = _grads(ref["mask"] + ref["ae"], [twin.mask.alpha])[0]
    got = tr.optimizers["mask"].seen[0][id(model.mask.alpha)]
    assert not torch.allclose(got, wrong, rtol=1e-4, atol=1e-5 * float(got.abs().max()))
    assert got[0] != 0        # the closed gate still gets a gradient (d mu / d alpha = 1 at 0)
    assert terms["poly_weight"].item() == 0.25 and int(model.step) == 1


class Overshoot(Recorder):
    """A mask "optimiser" that moves every alpha by -10: only the NonNeg projection can keep it >= 0."""

    def step(self):
        with torch.no_grad():
            for p in self.params:
                p.sub_(10.0)


def test_the_critic_moves_only_in_its_own_steps_and_alpha_is_projected():
    cfg = TrainConfig(model=NAME, steps=10, loss_options={"n_critic": 0}, **TINY).resolved(CPU, total_steps=10)
    torch.manual_seed(0)
    tr = Trainer(cfg)
    tr.optimizers["mask"] = Overshoot(tr.optimizers["mask"])
    before = copy.deepcopy(tr.model.state_dict())
    x = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    tr.objective.training_step(tr, x)
    after = tr.model.state_dict()
    for k in before:
        if k.startswith("discriminator."):
            assert torch.equal(before[k], after[k]), k                   # no critic step was taken
    for part in ("encoder.", "decoder."):                                   # L_AE (and L_G) moved them
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(part)), part
    assert bool((before["mask.alpha"] < 10).all())             # alpha ~ U(0, 5): each step went below 0
    assert bool((tr.model.mask.alpha == 0).all()) and bool((tr.model.mask() == 0).all())


# ---------------------------------------------------------------------------------------
# Through the trainer
# ---------------------------------------------------------------------------------------
def test_options_and_defaults_through_the_trainer():
    cfg = TrainConfig(model=NAME, steps=2000, loss_options={"mask_lr": 0.05, "gen_lr": 3e-4, "n_critic": 2},
                      **dict(TINY, latent_dim=64)).resolved(CPU, total_steps=2000)
    tr = Trainer(cfg)
    lrs = {k: [g["lr"] for g in v.param_groups] for k, v in tr.optimizers.items()}
    assert lrs == {"ae": [5e-4], "gen": [3e-4], "disc": [1e-4], "mask": [0.05]}
    assert cfg.betas == (0.0, 0.9)
    assert tr.objective.interval() == pytest.approx(28.8)                 # scaled to the 2,000 steps
    tr.optimizers["disc"] = Recorder(tr.optimizers["disc"])
    tr.objective.training_step(tr, torch.rand(8, 3, 32, 32))
    assert len(tr.optimizers["disc"].seen) == 2                            # n_critic = 2 critic steps
    default = Trainer(TrainConfig(model=NAME, steps=4, **TINY).resolved(CPU, total_steps=4))
    assert [g["lr"] for g in default.optimizers["mask"].param_groups] == [paper.MASK_LR]
    assert [g["lr"] for g in default.optimizers["gen"].param_groups] == [paper.GEN_LR]
    pinned = Trainer(TrainConfig(model=NAME, steps=4, loss_options={"reg_interval": 3.0}, **TINY).resolved(CPU))
    assert pinned.objective.interval() == 3.0
    with pytest.raises(ValueError, match="n_critic"):
        TrainConfig(model=NAME, loss_options={"mask_weight": 1.0}).validate()
    with pytest.raises(ValueError, match="reg_interval"):
        Trainer(TrainConfig(model=NAME, steps=4, loss_options={"reg_interval": 0.0},
                            **TINY).resolved(CPU)).objective.interval()


def test_trains_by_name_through_fit(tmp_path):
    res = fit(NAME, _images(16), TrainConfig(steps=2, out=str(tmp_path), **TINY))
    assert res.step == 2 and not res.interrupted and int(res.model.step) == 2
    keys = {"loss", "ae_loss", "gen_loss", "mask_loss", "disc_loss", "recon", "var_penalty", "critic_gap",
            "poly", "poly_weight", "gradient_penalty", "active_dims", "mask_mean"}
    for row in res.history:
        assert keys <= set(row) and all(math.isfinite(row[k]) for k in keys)
        assert 0 <= row["active_dims"] <= 8
    with torch.no_grad():
        samples = res.model.sample(4, generator=torch.Generator().manual_seed(0))
    assert bool(torch.isfinite(samples).all()) and bool((res.model.mask.alpha >= 0).all())


def test_an_interrupted_run_resumes_the_schedule_exactly(tmp_path):
    base = dict(TINY, steps=4, loss_options={"reg_interval": 0.25, "n_critic": 2})  # w_poly doubles each step
    full = fit(NAME, _images(16), TrainConfig(out=str(tmp_path / "full"), **base))
    part = fit(NAME, _images(16), TrainConfig(out=str(tmp_path / "part"), **base),
               callback=lambda info: info["step"] == 2)
    assert part.interrupted and part.step == 2 and int(part.model.step) == 2
    resumed = fit(NAME, _images(16), TrainConfig(out=str(tmp_path / "part"), resume=True, **base))
    assert resumed.step == 4 and int(resumed.model.step) == 4
    # Exact on purpose: the same process, settings and kernels, so any difference is a resume bug.
    full_state, res_state = full.model.state_dict(), resumed.model.state_dict()
    assert set(full_state) == set(res_state)
    assert all(torch.equal(full_state[k], res_state[k]) for k in full_state)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("time", "images_per_second")} for r in rows]
    assert strip(full.history) == strip(resumed.history)
    assert [r["poly_weight"] for r in resumed.history] == [0.25, 0.5, 1.0, 2.0]
