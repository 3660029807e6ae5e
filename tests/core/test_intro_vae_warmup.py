"""IntroVAE's two added options (waelib/objectives/intro_vae.py): ``num_vae``, the official
plain-VAE warm-up (github hhb072/IntroVAE, main.py ``train_vae``) with its step counter as a model
buffer, and ``alpha_gen``, the generator's own KL weight (main.py: 0.5 * weight_kl). Both off by
default: the default objective, its model and its terms are unchanged."""
from __future__ import annotations

import contextlib
import copy

import pytest
import torch

from waelib import losses
from waelib.objectives import intro_vae
from waelib.objectives.intro_vae import STEP_BUFFER, IntroVAEObjective
from waelib.registry import build_model
from waelib.train import TrainConfig, fit

TINY_MODEL = dict(image_size=32, width=0.0625, latent_dim=8)
RUN = dict(TINY_MODEL, batch_size=8, seed=0, progress=False, amp=None, channels_last=False, fused=False,
           compile=False, log_every=1, sample_every=1000, checkpoint_every=1000, threads=1)
TERMS = {"loss", "encoder_loss", "generator_loss", "recon", "kl_real", "kl_rec", "kl_fake"}
SGD_LR = 0.05          # plain SGD in the step comparisons: the update is -lr * gradient exactly


class StubCtx:
    """The step context of a training step, with given optimisers."""

    def __init__(self, model, optimizers):
        self.device, self.fwd, self.disc_fwd, self.optimizers = torch.device("cpu"), model, None, optimizers

    def autocast(self):
        return contextlib.nullcontext()


def _sgd(model):
    return {"enc": torch.optim.SGD(model.encoder.parameters(), lr=SGD_LR),
            "dec": torch.optim.SGD(model.decoder.parameters(), lr=SGD_LR)}


def _objective(model, **options):
    return IntroVAEObjective(model, TrainConfig(model="intro_vae", image_size=32, loss_options=options))


def _max_diff(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return max((sa[k].double() - sb[k].double()).abs().max().item() for k in sa if k != STEP_BUFFER)


def test_the_defaults_leave_model_and_terms_as_they_were():
    """No counter buffer (so the committed checkpoints load strictly), the original seven terms,
    and the official defaults (num_vae 0, alpha_gen = alpha)."""
    torch.manual_seed(0)
    model = build_model("intro_vae", **TINY_MODEL)
    keys = set(model.state_dict())
    objective = _objective(model)
    assert objective.num_vae == intro_vae.NUM_VAE == 0 and set(model.state_dict()) == keys
    terms = objective.training_step(StubCtx(model, _sgd(model)), torch.rand(2, 3, 32, 32))
    assert set(terms) == TERMS
    # an explicit alpha_gen equal to alpha is the default, step for step
    torch.manual_seed(0)
    same = build_model("intro_vae", **TINY_MODEL)
    torch.manual_seed(1)
    x = torch.rand(2, 3, 32, 32)
    other = copy.deepcopy(same)
    for m, options in ((same, {}), (other, {"alpha_gen": 0.25})):
        torch.manual_seed(2)
        _objective(m, **options).training_step(StubCtx(m, _sgd(m)), x)
    assert _max_diff(same, other) == 0.0


def test_the_warmup_is_main_py_train_vae_then_the_introspective_step():
    """Step 1 (num_vae = 1): one SGD step of both networks on L_AE + KL (pixel-sum squared error,
    weight 1 each), as an independent computation; step 2: the default introspective step."""
    torch.manual_seed(0)
    model = build_model("intro_vae", **TINY_MODEL)
    ref = copy.deepcopy(model)
    objective = _objective(model, num_vae=1)
    assert int(getattr(model, STEP_BUFFER)) == 0 and STEP_BUFFER in model.state_dict()
    x, ctx = torch.rand(2, 3, 32, 32), StubCtx(model, _sgd(model))
    torch.manual_seed(3)
    first = objective.training_step(ctx, x)
    torch.manual_seed(3)
    mu, logvar = ref.encoder(x).chunk(2, dim=1)
    x_r = ref.decoder(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
    recon = (x_r - x).pow(2).flatten(1).sum(1).mean()
    kl = (0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(1)).mean()
    (recon + kl).backward()
    for opt in _sgd(ref).values():
        opt.step()
    # float32 through a few conv layers, the same operations: ~1e-7 relative on weights of
    # size ~0.1; 1e-6 absolute leaves room, and a wrong loss (e.g. beta * recon, 3.2x) moves
    # the weights by ~lr * |g| >> 1e-6.
    assert _max_diff(model, ref) < 1e-6
    assert first["loss"].item() == pytest.approx((recon + kl).item(), rel=1e-6)   # float32 sums
    assert (first["warmup"].item(), first["kl_rec"].item(), first["kl_fake"].item()) == (1.0, 0.0, 0.0)
    # from the switch on: the default step, from the same state and seed
    default = copy.deepcopy(model)
    torch.manual_seed(4)
    second = objective.training_step(ctx, x)
    torch.manual_seed(4)
    _objective(default).training_step(StubCtx(default, _sgd(default)), x)
    assert _max_diff(model, default) == 0.0
    assert second["warmup"].item() == 0.0 and second["kl_rec"].item() > 0.0
    assert set(first) == set(second) == TERMS | {"warmup"} and int(getattr(model, STEP_BUFFER)) == 2


def test_alpha_gen_weights_the_generators_kl_sum_only():
    """L_G = alpha_gen (KL_r + KL_p) + beta L_AE; the encoder's update does not change."""
    torch.manual_seed(0)
    base = build_model("intro_vae", **TINY_MODEL)
    x = torch.rand(2, 3, 32, 32)
    models = {a: copy.deepcopy(base) for a in (None, 0.5)}
    terms = {}
    for a, m in models.items():
        torch.manual_seed(5)
        terms[a] = _objective(m, **({} if a is None else {"alpha_gen": a})).training_step(StubCtx(m, _sgd(m)), x)
    t = terms[0.5]
    beta = losses.intro_beta_for(32)
    # float32 sums of three terms of size ~1e3: rel=1e-5 is a few float32 roundings
    assert t["generator_loss"].item() == pytest.approx(
        0.5 * (t["kl_rec"].item() + t["kl_fake"].item()) + beta * t["recon"].item(), rel=1e-5)
    assert terms[None]["generator_loss"].item() == pytest.approx(
        0.25 * (t["kl_rec"].item() + t["kl_fake"].item()) + beta * t["recon"].item(), rel=1e-5)
    enc = lambda m: torch.cat([p.detach().flatten() for p in m.encoder.parameters()])   # noqa: E731
    dec = lambda m: torch.cat([p.detach().flatten() for p in m.decoder.parameters()])   # noqa: E731
    assert torch.equal(enc(models[None]), enc(models[0.5]))
    assert not torch.equal(dec(models[None]), dec(models[0.5]))


def test_num_vae_must_be_a_whole_number_of_steps():
    for bad in (-1, 1.5):
        with pytest.raises(ValueError, match="num_vae"):
            _objective(None, num_vae=bad)


def _images(n=16):
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)


def test_a_warmup_run_resumes_exactly_across_the_switch(tmp_path):
    """fit restores the objective-registered counter from the checkpoint (strict load_state_dict):
    stopped after step 1 of a 2-step warm-up and resumed to 4, bit for bit the uninterrupted run."""
    base = dict(RUN, steps=4, loss_options={"num_vae": 2})
    full = fit("intro_vae", _images(), TrainConfig(out=str(tmp_path / "full"), **base))
    part = fit("intro_vae", _images(), TrainConfig(out=str(tmp_path / "part"), **base),
               callback=lambda info: info["step"] == 1)
    assert part.interrupted and part.step == 1
    ckpt = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=False)
    assert int(ckpt["model"][STEP_BUFFER]) == 1
    resumed = fit("intro_vae", _images(), TrainConfig(out=str(tmp_path / "part"), resume=True, **base))
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert int(b[STEP_BUFFER]) == 4
    assert [r["warmup"] for r in resumed.history] == [1.0, 1.0, 0.0, 0.0]
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("time", "images_per_second")}  # noqa: E731
                          for r in rows]
    assert strip(full.history) == strip(resumed.history)
