"""The checks of notebook 06's exercises: each passes the right answer, computed independently
(the library's own functions, autograd, scipy), and fails the usual wrong ones. Every check's
tolerance is documented in its docstring; the wrong answers below are chosen well outside it."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats

from waelib import config, expost, losses, registry
from waelib.course.exercises import ch06
from waelib.studies import beyond


@pytest.fixture
def ring() -> torch.Tensor:
    """2-D codes on a noisy ring (notebook 06, §1): one Gaussian fits them badly."""
    g = torch.Generator().manual_seed(0)
    angle = torch.rand(600, generator=g) * 2 * math.pi
    return torch.stack([angle.cos(), angle.sin()], 1) * 2 + 0.15 * torch.randn(600, 2, generator=g)


# --------------------------------------------------------------------------------------
# Exercise 1: the ex-post GMM's training log-likelihood against its number of components
# --------------------------------------------------------------------------------------
def test_gaussian_ml_loglik_is_scipys(ring):
    """The closed form equals scipy's mean log-density under the ML Gaussian (+ reg_covar I)."""
    z = ring.double().numpy()
    cov = np.cov(z, rowvar=False, bias=True) + 1e-6 * np.eye(2)
    expected = stats.multivariate_normal(z.mean(0), cov).logpdf(z).mean()
    assert ch06.gaussian_ml_loglik(ring) == pytest.approx(expected, rel=1e-10)


def test_gmm_loglik_right_answer_passes(ring):
    components = [1, 2, 4, 8]
    answer = [expost.fit_gmm(ring, n_components=k, seed=0).train_log_likelihood for k in components]
    assert answer[-1] > answer[0] + 0.1          # a ring is far from one Gaussian: more components help
    assert ch06.check_gmm_loglik(answer, components, ring)


def test_gmm_loglik_wrong_answers_fail(ring):
    components = [1, 2, 4]
    answer = [expost.fit_gmm(ring, n_components=k, seed=0).train_log_likelihood for k in components]
    assert not ch06.check_gmm_loglik([answer[0] + 0.01] + answer[1:], components, ring)   # not the closed form
    assert not ch06.check_gmm_loglik([answer[0], answer[0] - 1.0, answer[2]], components, ring)  # below one Gaussian
    assert not ch06.check_gmm_loglik(answer[:2], components, ring)                       # one value short
    assert not ch06.check_gmm_loglik(answer, [2, 4, 8], ring)                            # no one-component fit
    other = ring[:300]                                                                    # other codes
    assert not ch06.check_gmm_loglik(answer, components, other)


def test_expost_on_a_model_passes(tmp_path):
    """fit_expost on a model's codes is what the check expects (the notebook's exercise, small)."""
    params = dict(beyond.check_profile("smoke"), profile="smoke")
    model, which = ch06.exercise_model(params, tmp_path / "rae" / "seed0")   # no checkpoint: untrained
    assert "UNTRAINED" in which
    images = ch06.exercise_images(params, 64)
    assert images.shape == (64, 3, params["image_size"], params["image_size"]) and images.dtype == torch.uint8
    components = [1, 2]
    answer = [expost.fit_expost(model, images, n_components=k).sampler.train_log_likelihood for k in components]
    assert ch06.check_gmm_loglik(answer, components, expost.latent_codes(model, images))


# --------------------------------------------------------------------------------------
# Exercise 2: IntroVAE's encoder loss
# --------------------------------------------------------------------------------------
def test_intro_encoder_loss_is_the_library_value():
    v = ch06.INTRO_EXERCISE
    library = losses.intro_vae_encoder_loss(
        kl_real=torch.tensor(v["kl_real"]), kl_rec_ng=torch.tensor(v["kl_rec_ng"]),
        kl_fake_ng=torch.tensor(v["kl_fake_ng"]), recon=torch.tensor(v["recon"]),
        beta=losses.intro_beta_for(v["image_size"]))["loss"].item()
    assert ch06.check_intro_encoder_loss(library)


def test_intro_encoder_loss_wrong_answers_fail():
    v = ch06.INTRO_EXERCISE
    m, a = config.INTRO_MARGIN, config.INTRO_ALPHA
    beta = losses.intro_beta_for(v["image_size"])
    right = v["kl_real"] + a * max(0.0, m - v["kl_rec_ng"]) + beta * v["recon"]
    assert ch06.check_intro_encoder_loss(right)
    assert not ch06.check_intro_encoder_loss(v["kl_real"] + a * max(0.0, m - v["kl_rec_ng"])
                                             + config.INTRO_BETA * v["recon"])          # beta at 256 px
    assert not ch06.check_intro_encoder_loss(right + a * (m - v["kl_fake_ng"]))         # hinge without [.]^+


# --------------------------------------------------------------------------------------
# Exercise 3: NAC
# --------------------------------------------------------------------------------------
def test_nac_is_the_library_value():
    codes = ch06.nac_codes()
    assert ch06.check_nac(expost.normalized_absolute_correlation(codes))
    assert ch06.check_nac(expost.normalized_absolute_correlation(ch06.nac_codes(16)))


def test_nac_wrong_answers_fail():
    corr = np.corrcoef(ch06.nac_codes().numpy(), rowvar=False)
    assert not ch06.check_nac(np.abs(corr).mean())                     # the diagonal's ones included
    assert not ch06.check_nac(corr[~np.eye(4, dtype=bool)].mean())     # signed: -1 and +1 cancel
    with pytest.raises(ValueError):
        ch06.nac_codes(6)


# --------------------------------------------------------------------------------------
# Exercise 4: the gradient of MaskAAE's mask penalties at the start
# --------------------------------------------------------------------------------------
def test_mask_gate_gradient_is_autograd_on_the_model():
    """The gradient of the model's own penalties with respect to its gate logits, at initialisation."""
    model = registry.build_model("mask_aae", image_size=32, width=0.0625, latent_dim=4)
    loss = (config.MASK_SPARSITY_WEIGHT * model.mask_penalty()
            + config.MASK_BINARY_WEIGHT * model.mask_binarity())
    logits = list(model.mask.parameters())
    assert len(logits) == 1
    (grad,) = torch.autograd.grad(loss, logits)
    assert grad.numel() == 4
    for g in grad.flatten().tolist():
        assert ch06.check_mask_gate_gradient(g)


def test_mask_gate_gradient_wrong_answers_fail():
    assert not ch06.check_mask_gate_gradient(config.MASK_SPARSITY_WEIGHT)                # no chain rule
    assert not ch06.check_mask_gate_gradient(config.MASK_SPARSITY_WEIGHT / 4
                                             + config.MASK_BINARY_WEIGHT / 4)             # binarity slope at 0
    assert not ch06.check_mask_gate_gradient(-config.MASK_SPARSITY_WEIGHT / 4)           # the sign


def test_intro_vae_log_summary_reads_the_logged_steps_after_the_warm_up(tmp_path):
    """Computed by hand on two seeds' tiny logs: steps after 200 only, both fakes above the margin."""
    for seed, rows in enumerate(([(100, 300, 10, 10, 5), (210, 200, 150, 130, 20)],
                                 [(220, 180, 90, 400, 30), (230, 250, 121, 125, 40)])):
        run = tmp_path / f"seed{seed}"
        run.mkdir()
        (run / "log.jsonl").write_text("".join(
            json.dumps({"step": s, "recon": r, "kl_rec": a, "kl_fake": b, "kl_real": k}) + "\n"
            for s, r, a, b, k in rows))
    out = ch06.intro_vae_log_summary(tmp_path, margin=120.0)
    assert out["seeds"] == 2 and out["logged_steps"] == 3
    assert (out["recon_min"], out["recon_max"]) == (180, 250)
    assert out["share_fakes_above_margin"] == pytest.approx(2 / 3)       # step 220: kl_rec 90 < 120
    assert (out["median_kl_fake"], out["median_kl_real"], out["max_kl_fakes"]) == (130, 30, 400)
    assert ch06.intro_vae_log_summary(tmp_path / "none") is None
