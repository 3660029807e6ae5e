"""The helpers and exercise checks of notebook 04 (waelib.course.exercises.ch04): every check
passes the right answer and fails a plausible wrong one; the helpers agree with the library."""
from __future__ import annotations

import math

import pytest
import torch

from waelib import losses, registry
from waelib.blocks import ResNetEncoder
from waelib.course.exercises import ch04
from waelib.models import count_parameters


# --------------------------------------------------------------------------------------
# curve_summary, count_convolutions
# --------------------------------------------------------------------------------------
def _history(values, key="penalty"):
    return [{"step": i + 1, key: v} for i, v in enumerate(values)]


def test_curve_summary_takes_the_second_half_and_its_quantiles():
    # steps 1..10 with values 1..10: the second half is steps 6..10 (values 6..10)
    hist = {"m": _history([float(v) for v in range(1, 11)])}
    s = ch04.curve_summary(hist, ["penalty", "missing"], thresholds={"penalty": 8.0})["m"]
    assert "missing" not in s
    p = s["penalty"]
    assert p["from_step"] == 6 and p["n_steps"] == 5
    assert p["q50"] == pytest.approx(8.0) and p["min"] == 6.0 and p["max"] == 10.0
    assert p["q10"] == pytest.approx(6.4) and p["q90"] == pytest.approx(9.6)   # linear interpolation
    assert p["first"] == 1.0 and p["last"] == 10.0
    assert p["threshold"] == 8.0 and p["share_below"] == pytest.approx(2 / 5)   # 6 and 7


def test_curve_summary_skips_models_without_the_key_and_rejects_bad_input():
    hist = {"gan": _history([1.0, 2.0], "disc_loss"), "mmd": _history([0.1, 0.2])}
    s = ch04.curve_summary(hist, ["disc_loss"])
    assert set(s["gan"]) == {"disc_loss"} and s["mmd"] == {}
    # a two-step run (the smoke profile): the second half is the last step
    assert s["gan"]["disc_loss"]["n_steps"] == 1 and s["gan"]["disc_loss"]["q50"] == 2.0
    with pytest.raises(ValueError):
        ch04.curve_summary(hist, ["disc_loss"], start_fraction=1.0)
    with pytest.raises(ValueError):
        ch04.curve_summary({"empty": []}, ["disc_loss"])


def test_count_convolutions_of_the_resnet_encoder():
    """Stem 1 + 4 conv blocks x (3 + 1 shortcut) + 11 identity blocks x 3 = 50 = 46 + 4, at any
    size and width."""
    for size, width in ((32, 0.0625), (128, 0.25)):
        counts = ch04.count_convolutions(ResNetEncoder(64, image_size=size, width=width))
        assert counts == {"total": 50, "shortcut": 4, "main": 46}


# --------------------------------------------------------------------------------------
# Exercise 1: lambda
# --------------------------------------------------------------------------------------
def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(6, 3, 8, 8, generator=g)
    x_hat = torch.rand(6, 3, 8, 8, generator=g)
    logits = torch.randn(6, generator=g)
    return x, x_hat, logits


def test_check_lambda_objectives_passes_the_library_and_fails_a_wrong_weighting():
    x, x_hat, logits = _batch()
    lams, scale = (0.1, 1.0, 10.0), 0.8
    right = torch.stack([losses.wae_gan_loss(x, x_hat, logits, lam=lam, recon_scale=scale)["loss"]
                         for lam in lams])
    assert ch04.check_lambda_objectives(right, x, x_hat, logits, lams, scale)
    assert ch04.check_lambda_objectives([float(v) for v in right], x, x_hat, logits, lams, scale)
    # lambda on the reconstruction instead of the penalty
    wrong = torch.stack([losses.wae_gan_loss(x, x_hat, logits, lam=1.0, recon_scale=lam * scale)["loss"]
                         for lam in lams])
    assert not ch04.check_lambda_objectives(wrong, x, x_hat, logits, lams, scale)
    # the saturating penalty log(1 - D) instead of -log D
    sat = torch.stack([scale * losses.reconstruction_cost(x, x_hat).mean()
                       + lam * torch.log1p(-torch.sigmoid(logits)).mean() for lam in lams])
    assert not ch04.check_lambda_objectives(sat, x, x_hat, logits, lams, scale)
    assert not ch04.check_lambda_objectives(right[:2], x, x_hat, logits, lams, scale)   # shape
    assert not ch04.check_lambda_objectives("no", x, x_hat, logits, lams, scale)


# --------------------------------------------------------------------------------------
# Exercise 2: parameters
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("size,width", [(32, 0.0625), (32, 0.125), (64, 0.25), (128, 1.0)])
def test_resnet_parameter_closed_form_matches_the_built_encoder(size, width):
    model = registry.build_model("wae_resnet", image_size=size, width=width)
    assert ch04.resnet_encoder_parameters(size, width) == count_parameters(model.encoder)


def test_check_encoder_parameters():
    model = registry.build_model("wae_resnet", image_size=64, width=0.25)
    right = sum(p.numel() for p in model.encoder.parameters())
    assert ch04.check_encoder_parameters(right, 64, 0.25)
    # exact count: one parameter off fails; counting the BN running statistics (buffers) fails
    assert not ch04.check_encoder_parameters(right + 1, 64, 0.25)
    with_buffers = right + sum(b.numel() for n, b in model.encoder.named_buffers() if "running" in n)
    assert not ch04.check_encoder_parameters(with_buffers, 64, 0.25)
    with pytest.raises(ValueError):
        ch04.resnet_encoder_parameters(8, 1.0)


# --------------------------------------------------------------------------------------
# Exercise 3: MMD
# --------------------------------------------------------------------------------------
def test_reference_mmd_matches_the_library():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(40, 8, generator=g), 1.5 * torch.randn(30, 8, generator=g)
    assert ch04.reference_mmd(a, b) == pytest.approx(losses.mmd(a, b).item(), rel=1e-4, abs=1e-6)


def test_check_codes_mmd():
    torch.manual_seed(0)
    model = registry.build_model("wae_mmd", image_size=32, width=0.0625)
    images = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8)
    n = 32
    model.eval()
    with torch.no_grad():
        codes = model.encode(images[:n].float() / 255)
    z_p = model.sample_prior(n, torch.Generator().manual_seed(0))
    right = losses.mmd(codes, z_p).item()
    assert ch04.check_codes_mmd(right, model, images, n=n, seed=0)
    # the biased estimate (diagonal pairs kept, n^2 in the denominators) is off by ~14/n
    c_base = 2.0 * codes.shape[1] * 2.0
    biased = 0.0
    for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
        c = s * c_base
        k_qq, k_pp, k_qp = ((c / (c + torch.cdist(u, v) ** 2)).mean()
                            for u, v in ((codes, codes), (z_p, z_p), (codes, z_p)))
        biased += float(k_qq + k_pp - 2 * k_qp)
    assert abs(biased - right) > 0.1
    assert not ch04.check_codes_mmd(biased, model, images, n=n, seed=0)
    # prior draws of another seed: another estimate
    other = losses.mmd(codes, model.sample_prior(n, torch.Generator().manual_seed(5))).item()
    assert not ch04.check_codes_mmd(other, model, images, n=n, seed=0)
    # the check restores the model's mode
    model.train()
    ch04.check_codes_mmd(right, model, images, n=n, seed=0)
    assert model.training


# --------------------------------------------------------------------------------------
# Exercise 4: recon_scale
# --------------------------------------------------------------------------------------
def test_check_recon_scale():
    assert ch04.check_recon_scale(losses.recon_scale_for(64), 64)
    assert ch04.check_recon_scale(losses.recon_scale_for(128, pixel_range=2.0), 128, pixel_range=2.0)
    assert ch04.check_recon_scale(0.8, 32)
    assert not ch04.check_recon_scale(0.05, 64)                # the plain official value
    assert not ch04.check_recon_scale(losses.recon_scale_for(64) * 2, 64)
    assert not ch04.check_recon_scale(losses.recon_scale_for(128), 128, pixel_range=2.0)
    assert math.isclose(ch04.LOG2, math.log(2))
