"""Soft-IntroVAE (waelib/objectives/soft_intro_vae.py): the encoder's and the decoder's loss
against the official formula written out by hand in float64, the whole training step against an
independent transcription of the official update (taldatech/soft-intro-vae-pytorch,
soft_intro_vae/train_soft_intro_vae.py) with its detaches and order, which parameters each
optimiser moves, the warm-up switch, options through the trainer, training by name through
``fit`` and an exact resume across the warm-up switch."""
from __future__ import annotations

import contextlib
import copy
import math

import pytest
import torch
from torch.nn import functional

from waelib.objectives import soft_intro_vae as siv
from waelib.registry import build_model, model_spec
from waelib.train import TrainConfig, Trainer, fit, load_run

TINY_MODEL = dict(image_size=32, width=0.0625, latent_dim=8)
RUN = dict(TINY_MODEL, batch_size=8, seed=0, progress=False, amp=None, channels_last=False, fused=False,
           compile=False, log_every=1, sample_every=1000, checkpoint_every=1000, threads=1)
# Non-default weights, so that a swapped or dropped beta changes every value below.
WEIGHTS = dict(beta_rec=0.7, beta_kl=1.3, beta_neg=5.0, gamma_r=0.3)
# float64 hand values: sums of a few terms and exp(); the code's and the hand's results agree to
# ~1e-15 relative, rel=1e-12 leaves room and still catches any wrong factor or term.
REL = 1e-12
SGD_LR = 0.05          # plain SGD in the step comparisons: the update is -lr * gradient exactly
WARMUP_LR = 1e-4       # the same for the (unscaled) warm-up loss


@contextlib.contextmanager
def float64():
    """Build and run in float64 (models, inputs and prior draws), restoring the default after."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


class StubCtx:
    """The :class:`~waelib.objectives.base.StepContext` of a training step, with given optimisers."""

    def __init__(self, model, optimizers):
        self.device, self.fwd, self.disc_fwd, self.optimizers = torch.device("cpu"), model, None, optimizers

    def autocast(self):
        return contextlib.nullcontext()

    def minimise(self, name, loss):     # pragma: no cover - the objective steps by itself
        raise AssertionError("SoftIntroVAEObjective calls its optimisers directly")


def _sgd(model, lr=SGD_LR):
    return {"enc": torch.optim.SGD(model.encoder.parameters(), lr=lr),
            "dec": torch.optim.SGD(model.decoder.parameters(), lr=lr)}


def _objective(model, **options):
    return siv.SoftIntroVAEObjective(model, TrainConfig(model="soft_intro_vae", image_size=32,
                                                        loss_options=options))


# ---------------------------------------------------------------------------------------
# The loss terms by hand
# ---------------------------------------------------------------------------------------
def test_encoder_and_decoder_loss_match_the_official_formula_by_hand():
    """lossE = s (b_rec r + b_kl kl) + 1/4 (mean exp(-2 s (b_rec e_r + b_neg kl_r)) + same for the
    prior samples); lossD = s (b_rec r + 1/2 b_kl (kl_r + kl_f) + 1/2 gamma_r b_rec (e_r + e_f))."""
    s = 1.0 / 12.0                                      # C H W = 3 x 2 x 2
    recon, kl_real = 40.0, 3.0
    err_rec, kl_rec = [30.0, 55.0, 12.0], [2.0, 7.0, 0.5]
    err_fake, kl_fake = [80.0, 20.0, 44.0], [9.0, 1.5, 4.0]
    b_rec, b_kl, b_neg, g_r = WEIGHTS["beta_rec"], WEIGHTS["beta_kl"], WEIGHTS["beta_neg"], WEIGHTS["gamma_r"]

    def soft(errs, kls):
        return sum(math.exp(-2.0 * s * (b_rec * e + b_neg * k)) for e, k in zip(errs, kls)) / len(errs)

    hand_e = s * (b_rec * recon + b_kl * kl_real) + 0.25 * (soft(err_rec, kl_rec) + soft(err_fake, kl_fake))
    t = lambda v: torch.tensor(v, dtype=torch.float64)       # noqa: E731 - a local shorthand
    e = siv.encoder_loss(t(recon), t(kl_real), t(err_rec), t(kl_rec), t(err_fake), t(kl_fake), scale=s,
                         beta_rec=b_rec, beta_kl=b_kl, beta_neg=b_neg)
    assert e["loss"].item() == pytest.approx(hand_e, rel=REL)
    assert e["expelbo_rec"].item() == pytest.approx(soft(err_rec, kl_rec), rel=REL)
    assert e["expelbo_fake"].item() == pytest.approx(soft(err_fake, kl_fake), rel=REL)
    assert 1e-3 < e["expelbo_rec"].item() < 1.0          # the exponential is neither 0 nor 1 here

    mean = lambda v: sum(v) / len(v)                          # noqa: E731
    rr, rf = 25.0, 31.0
    hand_d = s * (b_rec * recon + 0.5 * b_kl * (mean(kl_rec) + mean(kl_fake)) + 0.5 * g_r * b_rec * (rr + rf))
    d = siv.decoder_loss(t(recon), t(mean(kl_rec)), t(mean(kl_fake)), t(rr), t(rf), scale=s, beta_rec=b_rec,
                         beta_kl=b_kl, gamma_r=g_r)
    assert d["loss"].item() == pytest.approx(hand_d, rel=REL)
    assert siv.vae_warmup_loss(t(recon), t(kl_real), beta_rec=b_rec, beta_kl=b_kl).item() == pytest.approx(
        b_rec * recon + b_kl * kl_real, rel=REL)


def test_the_soft_exponential_pushes_each_fake_by_its_own_elbo():
    """d lossE / d kl_i = -(1/4)(1/N) 2 s b_neg exp(-2 s (b_rec e_i + b_neg kl_i)): the push on a
    fake decays exponentially with its ELBO loss (IntroVAE's hinge pushes all equally, up to m)."""
    s, b_rec, b_neg = 1.0 / 12.0, 0.7, 5.0
    errs, kls = [30.0, 55.0, 12.0], [2.0, 7.0, 0.5]
    kl = torch.tensor(kls, dtype=torch.float64, requires_grad=True)
    zero = torch.zeros((), dtype=torch.float64)
    e = siv.encoder_loss(zero, zero, torch.tensor(errs, dtype=torch.float64), kl,
                         torch.tensor([1e6], dtype=torch.float64), torch.tensor([1e6], dtype=torch.float64),
                         scale=s, beta_rec=b_rec, beta_kl=1.0, beta_neg=b_neg)
    e["loss"].backward()
    hand = [-0.25 / 3 * 2 * s * b_neg * math.exp(-2 * s * (b_rec * er + b_neg * k)) for er, k in zip(errs, kls)]
    assert kl.grad.tolist() == pytest.approx(hand, rel=REL)


def test_kl_scale_and_defaults_follow_the_official_code():
    """calc_kl against torch.distributions (an independent KL), with the prior N(0, sigma^2 I);
    scale = 1 / (C H W); the CIFAR-10 recommended weights, lr 2e-4 and Adam's default betas."""
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(4, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g,
                                                                                 dtype=torch.float64)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    for s2 in (1.0, 2.0):
        p = torch.distributions.Normal(torch.zeros(()), torch.tensor(math.sqrt(s2), dtype=torch.float64))
        ref = torch.distributions.kl_divergence(q, p).sum(1)
        assert torch.allclose(siv.kl_to_prior(mu, logvar, s2), ref, rtol=REL, atol=0)
    assert siv.image_scale(3, 32) == 1.0 / 3072
    assert (siv.BETA_KL, siv.BETA_REC, siv.BETA_NEG, siv.GAMMA_R, siv.NUM_VAE) == (1.0, 1.0, 256.0, 1e-8, 0)
    cfg = TrainConfig(model="soft_intro_vae", image_size=32).resolved(torch.device("cpu"))
    assert (cfg.lr, cfg.disc_lr, tuple(cfg.betas)) == (2e-4, 2e-4, (0.9, 0.999))


# ---------------------------------------------------------------------------------------
# The training step against the official update
# ---------------------------------------------------------------------------------------
def official_step(model, x, w, *, detach_rec_target=False, simultaneous=False):
    """train_soft_intro_vae.py's "Update E" then "Update D", transcribed (requires_grad toggles,
    .backward(), SGD at SGD_LR standing in for Adam). The two flags give plausible wrong
    variants: a detached x_r target in the encoder's error, and the encoder updated only after
    the decoder's loss (a simultaneous update)."""
    enc, dec, opts = model.encoder, model.decoder, _sgd(model)
    s = 1.0 / x[0].numel()
    encode = lambda t: enc(t).chunk(2, dim=1)                                    # noqa: E731
    reparam = lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.randn_like(mu)     # noqa: E731
    kl = lambda mu, lv: -0.5 * (1 + lv - lv.exp() - mu.pow(2)).sum(1)            # noqa: E731
    mse = lambda a, b: functional.mse_loss(b.reshape(len(b), -1), a.reshape(len(a), -1),  # noqa: E731
                                           reduction="none").sum(1)

    def forward(t):
        mu, lv = encode(t)
        return mu, lv, dec(reparam(mu, lv))

    noise = torch.randn(len(x), model.latent_dim)
    for p in dec.parameters():
        p.requires_grad_(False)
    fake = dec(noise)
    real_mu, real_lv = encode(x)
    z = reparam(real_mu, real_lv)
    rec = dec(z)
    rec_mu, rec_lv, rec_rec = forward(rec.detach())
    fake_mu, fake_lv, rec_fake = forward(fake.detach())
    err_rec = mse(rec.detach() if detach_rec_target else rec, rec_rec)
    expelbo_rec = (-2 * s * (w["beta_rec"] * err_rec + w["beta_neg"] * kl(rec_mu, rec_lv))).exp().mean()
    expelbo_fake = (-2 * s * (w["beta_rec"] * mse(fake, rec_fake) + w["beta_neg"] * kl(fake_mu, fake_lv))).exp().mean()
    loss_e = (s * (w["beta_rec"] * mse(x, rec).mean() + w["beta_kl"] * kl(real_mu, real_lv).mean())
              + 0.25 * (expelbo_rec + expelbo_fake))
    loss_e.backward()
    if not simultaneous:
        opts["enc"].step()
    for p in enc.parameters():
        p.requires_grad_(False)
    for p in dec.parameters():
        p.requires_grad_(True)
    fake = dec(noise)
    rec = dec(z.detach())
    rec_mu, rec_lv = encode(rec)
    z_rec = reparam(rec_mu, rec_lv)
    fake_mu, fake_lv = encode(fake)
    z_fake = reparam(fake_mu, fake_lv)
    rec_rec, rec_fake = dec(z_rec.detach()), dec(z_fake.detach())
    loss_d = s * (mse(x, rec).mean() * w["beta_rec"]
                  + (kl(rec_mu, rec_lv).mean() + kl(fake_mu, fake_lv).mean()) * 0.5 * w["beta_kl"]
                  + w["gamma_r"] * 0.5 * w["beta_rec"] * (mse(rec.detach(), rec_rec).mean()
                                                          + mse(fake.detach(), rec_fake).mean()))
    loss_d.backward()
    opts["dec"].step()
    for p in enc.parameters():
        p.requires_grad_(True)
    if simultaneous:
        opts["enc"].step()
    return loss_e.item(), loss_d.item()


def _max_diff(a, b, skip=(siv.STEP_BUFFER,)):
    sa, sb = a.state_dict(), b.state_dict()
    return max((sa[k].double() - sb[k].double()).abs().max().item() for k in sa if k not in skip)


def test_the_step_is_the_official_encoder_then_decoder_update():
    """Same start, same seed: every parameter and BatchNorm statistic after one step equals the
    transcription's (so the detaches, the frozen network of each step, the updated encoder in the
    decoder's loss and the order of the random draws are the official ones); both wrong variants
    land far away."""
    with float64():
        torch.manual_seed(0)
        model = build_model("soft_intro_vae", **TINY_MODEL)
        start = copy.deepcopy(model)
        x = torch.rand(2, 3, 32, 32)
        torch.manual_seed(7)
        terms = _objective(model, **WEIGHTS).training_step(StubCtx(model, _sgd(model)), x)
        runs = {}
        for variant in ("official", "detach_rec_target", "simultaneous"):
            ref = copy.deepcopy(start)
            torch.manual_seed(7)
            flags = {variant: True} if variant != "official" else {}
            runs[variant] = (ref, official_step(ref, x, WEIGHTS, **flags))
    ref, (loss_e, loss_d) = runs["official"]
    # float64 through a few conv layers, the same operations in the same order: the two agree to
    # ~1e-15; 1e-11 leaves room for a different reduction order and is far below the variants' gaps.
    assert _max_diff(model, ref) < 1e-11
    assert terms["encoder_loss"].item() == pytest.approx(loss_e, rel=1e-11)
    assert terms["decoder_loss"].item() == pytest.approx(loss_d, rel=1e-11)
    assert int(getattr(model, siv.STEP_BUFFER)) == 1 and terms["warmup"].item() == 0.0
    for variant in ("detach_rec_target", "simultaneous"):
        assert _max_diff(model, runs[variant][0]) > 1e-7, variant


class RecordingSGD(torch.optim.SGD):
    """SGD that records, at each step, the ids of the model's parameters holding a gradient."""

    def __init__(self, params, seen, all_params):
        super().__init__(params, lr=SGD_LR)
        self.seen, self.all_params = seen, all_params

    def step(self, closure=None):
        self.seen.append({id(p) for p in self.all_params if p.grad is not None})
        return super().step(closure)


def test_each_optimiser_sees_only_its_own_network_and_the_warmup_moves_both():
    torch.manual_seed(0)
    model = build_model("soft_intro_vae", **TINY_MODEL)
    enc, dec = {id(p) for p in model.encoder.parameters()}, {id(p) for p in model.decoder.parameters()}
    assert enc.isdisjoint(dec) and enc | dec == {id(p) for p in model.parameters()}
    seen = {"enc": [], "dec": []}
    every = list(model.parameters())
    opts = {"enc": RecordingSGD(model.encoder.parameters(), seen["enc"], every),
            "dec": RecordingSGD(model.decoder.parameters(), seen["dec"], every)}
    objective, x = _objective(model, num_vae=1), torch.rand(2, 3, 32, 32)
    for _ in range(2):                                  # step 1: warm-up; step 2: introspective
        objective.training_step(StubCtx(model, opts), x)
    assert seen["enc"][0] == seen["dec"][0] == enc | dec         # one backward, both step
    assert seen["enc"][1] == enc and seen["dec"][1] == dec       # L_E -> encoder, L_D -> decoder


def test_the_warmup_is_the_official_vae_step_then_switches():
    """While steps_done < num_vae: one SGD step of both networks on b_rec L_r + b_kl KL (unscaled),
    as an independent computation; from step num_vae on the introspective step."""
    with float64():
        torch.manual_seed(0)
        model = build_model("soft_intro_vae", **TINY_MODEL)
        ref = copy.deepcopy(model)
        x = torch.rand(2, 3, 32, 32)
        # the warm-up's loss is unscaled (pixel sums ~1e3): a small SGD step keeps three steps finite
        objective, ctx = _objective(model, num_vae=2, **WEIGHTS), StubCtx(model, _sgd(model, WARMUP_LR))
        torch.manual_seed(3)
        first = objective.training_step(ctx, x)
        torch.manual_seed(3)
        mu, lv = ref.encoder(x).chunk(2, dim=1)
        rec = ref.decoder(mu + torch.exp(0.5 * lv) * torch.randn_like(mu))
        recon = (rec - x).pow(2).flatten(1).sum(1).mean()
        kl = (-0.5 * (1 + lv - lv.exp() - mu.pow(2)).sum(1)).mean()
        loss = WEIGHTS["beta_rec"] * recon + WEIGHTS["beta_kl"] * kl
        loss.backward()
        for opt in _sgd(ref, WARMUP_LR).values():
            opt.step()
        assert _max_diff(model, ref) < 1e-11          # float64, same operations (as above)
        assert first["loss"].item() == pytest.approx(loss.item(), rel=1e-11)
        assert first["warmup"].item() == 1.0 and first["expelbo_rec"].item() == 0.0
        second, third = objective.training_step(ctx, x), objective.training_step(ctx, x)
    assert second["warmup"].item() == 1.0 and third["warmup"].item() == 0.0
    assert 0.0 < third["expelbo_rec"].item() < 1.0 and third["kl_fake"].item() > 0.0
    assert int(getattr(model, siv.STEP_BUFFER)) == 3
    assert set(first) == set(third)                   # the trainer logs one fixed set of terms


def test_gamma_r_zero_skips_the_two_extra_decodes():
    """Per introspective step: 5 encoder passes and 8 decoder passes (6 with gamma_r = 0)."""
    counts = {}
    for gamma_r in (siv.GAMMA_R, 0.0):
        model = build_model("soft_intro_vae", **TINY_MODEL)
        calls = []
        model.encoder.register_forward_hook(lambda *a, log=calls: log.append("enc"))
        model.decoder.register_forward_hook(lambda *a, log=calls: log.append("dec"))
        terms = _objective(model, gamma_r=gamma_r).training_step(StubCtx(model, _sgd(model)),
                                                                  torch.rand(4, 3, 32, 32))
        assert all(torch.isfinite(v) for v in terms.values())
        counts[gamma_r] = (calls.count("enc"), calls.count("dec"))
    assert counts == {siv.GAMMA_R: (5, 8), 0.0: (5, 6)}


# ---------------------------------------------------------------------------------------
# Through the trainer
# ---------------------------------------------------------------------------------------
def test_options_through_the_trainer_and_their_checks():
    opts = dict(WEIGHTS, num_vae=3)
    cfg = TrainConfig(model="soft_intro_vae", steps=1, loss_options=opts, **RUN).resolved(torch.device("cpu"),
                                                                                        total_steps=1)
    objective = Trainer(cfg).objective
    assert isinstance(objective, model_spec("soft_intro_vae").objective)
    assert objective.weights == WEIGHTS and objective.num_vae == 3
    with pytest.raises(ValueError, match="unknown loss option"):
        TrainConfig(model="soft_intro_vae", loss_options={"margin": 1.0}).validate()
    with pytest.raises(ValueError, match="num_vae"):
        _objective(None, num_vae=1.5)


def _images(n=16):
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)


def test_fit_by_name_trains_and_load_run_restores_the_counter(tmp_path):
    res = fit("soft_intro_vae", _images(), TrainConfig(steps=3, out=str(tmp_path), loss_options={"num_vae": 1}, **RUN))
    assert [r["warmup"] for r in res.history] == [1.0, 0.0, 0.0]
    assert all(math.isfinite(v) for r in res.history for v in r.values() if isinstance(v, float))
    model = load_run(tmp_path)                       # the counter is the model class' own buffer
    assert int(getattr(model, siv.STEP_BUFFER)) == 3
    z = model.sample_prior(4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z, model.sample_prior(4, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        images = model.decode(z)
    assert images.shape == (4, 3, 32, 32) and bool(((images >= 0) & (images <= 1)).all())


def test_an_interrupted_run_resumes_exactly_across_the_warmup_switch(tmp_path):
    """Stopped after step 1 of a 2-step warm-up, resumed to 4: bit for bit the uninterrupted run
    (same process, settings and kernels, so any difference is a resume bug)."""
    base = dict(RUN, steps=4, loss_options={"num_vae": 2})
    full = fit("soft_intro_vae", _images(), TrainConfig(out=str(tmp_path / "full"), **base))
    part = fit("soft_intro_vae", _images(), TrainConfig(out=str(tmp_path / "part"), **base),
               callback=lambda info: info["step"] == 1)
    assert part.interrupted and part.step == 1
    resumed = fit("soft_intro_vae", _images(), TrainConfig(out=str(tmp_path / "part"), resume=True, **base))
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert int(b[siv.STEP_BUFFER]) == 4
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("time", "images_per_second")}  # noqa: E731
                          for r in rows]
    assert strip(full.history) == strip(resumed.history)
    assert [r["warmup"] for r in resumed.history] == [1.0, 1.0, 0.0, 0.0]
