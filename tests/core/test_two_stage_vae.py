"""The 2-Stage VAE (seed 004 [19], Dai & Wipf 2019; waelib/objectives/two_stage_vae.py): both
stages' losses against the reference code's formulas by hand, the stage-2 network against a
hand-written forward pass, that each stage's step moves only its own parameters (and stage 2
trains on fresh samples of the frozen, eval-mode encoder), that ``sample_prior`` goes through the
second stage, the switch point through the trainer, and an exact resume across the switch."""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional

from waelib.objectives.two_stage_vae import (
    SECOND_DEPTH,
    SECOND_DIM,
    STAGE1,
    STAGE2,
    SecondStageVAE,
    TwoStageVAE,
    TwoStageVAEObjective,
    switch_step,
)
from waelib.registry import build_model
from waelib.train import TrainConfig, Trainer, fit

NAME = "two_stage_vae"
CPU = torch.device("cpu")
TINY = dict(image_size=32, width=0.0625, latent_dim=8, batch_size=8, seed=0, progress=False, amp=None, n_samples=4,
            channels_last=False, fused=False, compile=False)
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# float64 hand values: each is a sum of a few dozen terms, so code and hand agree to ~1e-15
# relative; rel=1e-12 leaves room and still catches any wrong factor, constant or dropped term.
REL = 1e-12


def _objective(**options) -> TwoStageVAEObjective:
    return TwoStageVAEObjective(None, TrainConfig(model=NAME, steps=10, loss_options=options))


def _gaussian(shape, seed):
    """(target, mean, mu, logvar) float64 tensors for a batch of shape ``shape``; mu/logvar (N, 3)."""
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(*shape, generator=g).double()
    mean = (0.05 + 0.9 * torch.rand(*shape, generator=g)).double()
    mu = torch.randn(shape[0], 3, generator=g).double()
    logvar = (0.5 * torch.randn(shape[0], 3, generator=g)).double()
    return target, mean, mu, logvar


def _hand_loss(target, mean, log_sd, mu, logvar):
    """The reference's __build_loss written out: gen = sum(((t - m) / sd)^2 / 2 + log sd +
    log(2 pi) / 2) / N, kl = sum(mu^2 + sd^2 - 2 log sd - 1) / 2 / N with sd = exp(logvar / 2)."""
    n, sd = target.shape[0], math.exp(log_sd)
    gen = sum(((t - m) / sd) ** 2 / 2.0 + log_sd + HALF_LOG_2PI
              for t, m in zip(target.flatten().tolist(), mean.flatten().tolist())) / n
    kl = sum(m * m + math.exp(v) - v - 1.0 for m, v in zip(mu.flatten().tolist(), logvar.flatten().tolist())) / 2.0 / n
    sq = sum((t - m) ** 2 for t, m in zip(target.flatten().tolist(), mean.flatten().tolist())) / n
    return gen, kl, sq


def _images(n=40, seed=0):
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------
# Losses and the second-stage network
# ---------------------------------------------------------------------------------------
def test_stage1_loss_matches_the_reference_formula_by_hand():
    x, x_hat, mu, logvar = _gaussian((2, 3, 2, 2), seed=1)
    log_sd = torch.tensor(-0.3, dtype=torch.float64)
    terms = _objective().elbo_terms(x, {"x_hat": x_hat, "mu": mu, "logvar": logvar, "log_sd_x": log_sd})
    gen, kl, sq = _hand_loss(x, x_hat, -0.3, mu, logvar)
    assert terms["recon"].item() == pytest.approx(gen, rel=REL)
    assert terms["kl"].item() == pytest.approx(kl, rel=REL)
    assert terms["loss"].item() == pytest.approx(gen + kl, rel=REL)
    assert terms["sq_error"].item() == pytest.approx(sq, rel=REL)
    assert terms["gamma"].item() == pytest.approx(math.exp(-0.6), rel=REL)   # the paper's gamma: sd^2


def test_stage2_loss_matches_the_reference_formula_by_hand():
    z, z_hat, mu, logvar = _gaussian((4, 3), seed=2)
    z = 3.0 * z - 1.5                                   # codes are not confined to [0, 1]
    log_sd = torch.tensor(0.4, dtype=torch.float64)
    terms = _objective().stage2_terms(z, {"z_hat": z_hat, "mu": mu, "logvar": logvar, "log_sd_z": log_sd})
    gen, kl, sq = _hand_loss(z, z_hat, 0.4, mu, logvar)
    assert terms["recon"].item() == pytest.approx(gen, rel=REL)
    assert terms["kl"].item() == pytest.approx(kl, rel=REL)
    assert terms["loss"].item() == pytest.approx(gen + kl, rel=REL)
    assert terms["sq_error"].item() == pytest.approx(sq, rel=REL)


def test_second_stage_is_their_dense_network_with_input_skips():
    """3 x [Dense -> ReLU], the input concatenated, dense heads [mu_u, log sd_u] and z_hat."""
    torch.manual_seed(0)
    net = SecondStageVAE(latent_dim=5, hidden=7, depth=3).double()
    z = torch.randn(4, 5, dtype=torch.float64)

    def mlp(mlp_module, t):
        h = t
        for lin in [m for m in mlp_module.body if isinstance(m, torch.nn.Linear)]:
            h = functional.relu(h @ lin.weight.T + lin.bias)
        return torch.cat([t, h], dim=1)

    head = mlp(net.enc, z) @ net.enc_head.weight.T + net.enc_head.bias
    mu, logvar = net.encode_stats(z)
    # float64, the same products in the same order: agreement to float64 rounding (default tolerance).
    torch.testing.assert_close(mu, head[:, :5])
    torch.testing.assert_close(logvar, 2.0 * head[:, 5:])            # their head gives log sd_u
    torch.testing.assert_close(net.decode(mu), mlp(net.dec, mu) @ net.dec_head.weight.T + net.dec_head.bias)
    assert len([m for m in net.enc.body if isinstance(m, torch.nn.Linear)]) == 3
    assert net.log_sd_z.item() == 0.0                                # gamma_z starts at 1


def test_overrides_and_the_width_scaled_default():
    m = build_model(NAME, image_size=32, width=0.0625, latent_dim=8)
    assert isinstance(m, TwoStageVAE) and m.stage2.enc.body[0].out_features == round(SECOND_DIM * 0.0625)
    assert len(m.stage2.enc.body) == 2 * SECOND_DEPTH and m.log_sd_x.item() == 0.0
    small = build_model(NAME, image_size=32, width=0.0625, latent_dim=8, second_dim=16, second_depth=2)
    assert small.stage2.enc.body[0].out_features == 16 and len(small.stage2.dec.body) == 4
    assert small.stage2.dec_head.in_features == 8 + 16
    with pytest.raises(ValueError, match="switch_fraction"):
        switch_step(1.5, 10)
    assert [switch_step(f, 2000) for f in (0.0, 0.5, 1.0)] == [0, 1000, 2000]


# ---------------------------------------------------------------------------------------
# The two stages inside one run
# ---------------------------------------------------------------------------------------
def _trainer(steps=4, **options) -> Trainer:
    cfg = TrainConfig(model=NAME, steps=steps, loss_options=options, **TINY).resolved(CPU)
    return Trainer(cfg)


def _split_state(model):
    """(stage-1 state, stage-2 state): clones of the state_dict without the two counters."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if k not in ("steps_done", "stage")}
    return ({k: v for k, v in state.items() if not k.startswith("stage2.")},
            {k: v for k, v in state.items() if k.startswith("stage2.")})


def test_each_stage_moves_only_its_own_parameters():
    assert _trainer(steps=4, switch_fraction=0.25).objective.switch == 1     # the option, through the trainer
    tr = _trainer(steps=4, switch_fraction=0.5)                       # steps 0, 1: stage 1; 2, 3: stage 2
    model, x = tr.model, torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    s1, s2 = _split_state(model)
    for _ in range(2):
        assert tr.train_step(x)["stage"].item() == STAGE1
    a1, a2 = _split_state(model)
    assert all(torch.equal(s2[k], a2[k]) for k in s2)                   # stage 2 untouched ...
    assert all(p.grad is None for p in model.stage2.parameters())      # ... no gradient reached it
    assert not tr.optimizers["stage2"].state
    assert model.log_sd_x.item() != 0.0 and not torch.equal(s1["decoder.dense.0.weight"], a1["decoder.dense.0.weight"])
    for p in model.stage1_parameters():
        p.grad = None
    for _ in range(2):
        assert tr.train_step(x)["stage"].item() == STAGE2
    b1, b2 = _split_state(model)
    # Stage 1 frozen, BatchNorm running statistics included (the encoder runs in eval mode).
    assert all(torch.equal(a1[k], b1[k]) for k in a1)
    assert all(p.grad is None for p in model.stage1_parameters())
    assert all(not torch.equal(a2[k], b2[k]) for k in a2), [k for k in a2 if torch.equal(a2[k], b2[k])]
    assert model.training and model.encoder.training                  # modes restored after the step
    assert int(model.steps_done) == 4 and int(model.stage) == STAGE2


def test_stage2_trains_on_fresh_samples_of_the_eval_mode_encoder():
    """z = mu_z + sd_z * eps with eval-mode BatchNorm (demo.py / extract_posterior), not mu_z."""
    tr = _trainer(steps=2, switch_fraction=0.0)
    model, x = tr.model, torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    seen = []
    model.stage2.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    torch.manual_seed(7)
    tr.train_step(x)
    model.eval()
    with torch.no_grad():
        mu, logvar = model.encode_stats(x)
    torch.manual_seed(7)
    expected = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    # The same float32 operations on the same inputs: default float32 tolerance covers any reordering.
    torch.testing.assert_close(seen[0], expected)
    assert (seen[0] - mu).abs().max() > 1e-3                           # samples, not the means
    model.train()
    with torch.no_grad():
        mu_train, _ = model.encode_stats(x)
    assert (mu_train - mu).abs().max() > 1e-3                          # train-mode BN would differ


def test_the_stage_never_goes_back_and_bad_settings_are_errors():
    tr = _trainer(steps=10, switch_fraction=0.5)
    tr.model.stage.fill_(STAGE2)                                       # e.g. resumed with a longer run
    tr.model.steps_done.fill_(1)
    assert tr.train_step(torch.rand(8, 3, 32, 32))["stage"].item() == STAGE2
    with pytest.raises(ValueError, match="switch_fraction"):
        _trainer(steps=4, switch_fraction=1.5)
    with pytest.raises(ValueError, match="give `steps`"):
        Trainer(TrainConfig(model=NAME, epochs=1, **TINY).resolved(CPU))
    with pytest.raises(ValueError, match="unknown loss option"):
        TrainConfig(model=NAME, steps=2, loss_options={"switch": 0.5}).validate()


# ---------------------------------------------------------------------------------------
# Sampling and the interface
# ---------------------------------------------------------------------------------------
def test_sample_prior_goes_through_the_second_stage():
    model = build_model(NAME, image_size=32, width=0.0625, latent_dim=8).eval()
    with torch.no_grad():
        model.stage2.log_sd_z.fill_(-0.7)
    # Before stage 2 was trained: the first-stage prior N(0, I) (their generate(stage=1)).
    z1 = model.sample_prior(6, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(z1, torch.randn(6, 8, generator=torch.Generator().manual_seed(5)))
    model.stage.fill_(STAGE2)
    z = model.sample_prior(6, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    u, eps = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    with torch.no_grad():
        expected = model.stage2.decode(u) + math.exp(-0.7) * eps      # u -> F(u) + sqrt(gamma_z) eps
    # The same float32 operations on the same inputs: default float32 tolerance covers any reordering.
    torch.testing.assert_close(z, expected)
    torch.testing.assert_close(model.sample_prior(6, generator=torch.Generator().manual_seed(5), stage=1), z1)
    with torch.no_grad():                                              # a change of the stage-2 decoder shows
        model.stage2.dec_head.bias.add_(3.0)
    assert torch.allclose(model.sample_prior(6, generator=torch.Generator().manual_seed(5)), z + 3.0, atol=1e-5)
    x = torch.rand(3, 3, 32, 32)
    torch.testing.assert_close(model.encode(x), model.encode_stats(x)[0])   # stage 1 only
    torch.testing.assert_close(model.reconstruct(x), model.decode(model.encode(x)))
    imgs = model.decode(model.sample_prior(4, generator=torch.Generator().manual_seed(0)))
    assert imgs.shape == (4, 3, 32, 32) and 0 <= imgs.min() and imgs.max() <= 1
    mean_only = build_model(NAME, image_size=32, width=0.0625, latent_dim=8, sample_noise=False).eval()
    mean_only.stage.fill_(STAGE2)
    with torch.no_grad():
        torch.testing.assert_close(mean_only.sample_prior(6, generator=torch.Generator().manual_seed(5)),
                                   mean_only.stage2.decode(u))


# ---------------------------------------------------------------------------------------
# Through fit: the switch point and an exact resume across it
# ---------------------------------------------------------------------------------------
def test_fit_switches_at_the_option_and_resumes_exactly_across_the_switch(tmp_path):
    data = _images()
    full = fit(NAME, data, TrainConfig(out=str(tmp_path / "full"), steps=6, **TINY))
    assert [r["stage"] for r in full.history] == [1, 1, 1, 2, 2, 2]     # default fraction 0.5
    assert all(math.isfinite(r[k]) for r in full.history for k in ("loss", "recon", "kl", "gamma"))
    part_cfg = dict(out=str(tmp_path / "part"), steps=6, **TINY)
    part = fit(NAME, data, TrainConfig(**part_cfg), callback=lambda info: info["step"] == 2)
    assert part.interrupted and part.step == 2 and int(part.model.stage) == STAGE1
    again = fit(NAME, data, TrainConfig(resume=True, **part_cfg), callback=lambda info: info["step"] == 4)
    assert again.interrupted and again.step == 4 and int(again.model.stage) == STAGE2
    resumed = fit(NAME, data, TrainConfig(resume=True, **part_cfg))
    assert resumed.step == 6 and int(resumed.model.steps_done) == 6
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k                                    # same path, same steps: exactly equal
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]
