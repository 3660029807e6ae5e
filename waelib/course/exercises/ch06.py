"""Checks for the exercises of notebook 06 (RAE with ex-post sampling, IntroVAE, MaskAAE).

Every check computes its expected value itself (a closed form or an independent computation),
never from the student's answer:

- :func:`check_gmm_loglik` -- the training log-likelihood of (ex-post) GMMs with 1, 2, ...
  components: the one-component value against the closed-form Gaussian maximum likelihood,
  the others against the property that a mixture can only fit its training codes better;
- :func:`check_intro_encoder_loss` -- IntroVAE's encoder loss for given KLs (the formula);
- :func:`check_nac` -- NAC of the codes of :func:`nac_codes` (exact correlations by design);
- :func:`check_mask_gate_gradient` -- the gradient of MaskAAE's mask penalties with respect
  to one gate's logit at the start of training (a closed form).

The data helpers (:func:`exercise_model`, :func:`exercise_images`, :func:`nac_codes`) hand the
student the model, images and codes the checks use.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ... import config
from ...data import to_uint8_tensor
from ...registry import build_model
from ...train import load_run, read_log
from ..experiment import load_data
from . import Verdict, close

__all__ = ["INTRO_EXERCISE", "exercise_model", "exercise_images", "gaussian_ml_loglik",
           "check_gmm_loglik", "check_intro_encoder_loss", "nac_codes", "check_nac",
           "check_mask_gate_gradient", "intro_vae_log_summary"]

#: Exercise 2: one batch's mean KLs (nats) and summed squared error, at ``image_size`` px.
INTRO_EXERCISE = {"kl_real": 30.0, "kl_rec_ng": 100.0, "kl_fake_ng": 150.0, "recon": 200.0,
                  "image_size": 32}


def exercise_model(params: Mapping[str, Any], run: Path, model: str = "rae",
                   seed: int = 0) -> Tuple[torch.nn.Module, str]:
    """The trained ``model`` of the run folder ``run`` (notebook 06 passes its seed-0 run under
    :func:`waelib.studies.beyond_plan.work_root`), in eval mode, and a sentence saying which
    model it is. Without a checkpoint (the committed default results keep none) an untrained
    model of the profile's size (seeded with ``seed``) is returned, and the sentence says so."""
    run = Path(run)
    if (run / "checkpoint.pt").is_file():
        return load_run(run), f"the trained {model} of {run}"
    torch.manual_seed(seed)
    net = build_model(model, image_size=int(params["image_size"]), width=float(params["width"])).eval()
    return net, (f"an UNTRAINED {model} (no checkpoint in {run}: the committed results keep none; "
                 f"run the notebook with train=True and a fresh out_dir to train one)")


def exercise_images(params: Mapping[str, Any], n: int) -> torch.Tensor:
    """The first ``n`` training images (uint8, (n, 3, S, S)) of the profile's data set."""
    data = load_data(dict(params, dataset=params["models_dataset"]))
    return to_uint8_tensor(torch.utils.data.Subset(data.train, range(min(n, len(data.train)))))


def gaussian_ml_loglik(codes: torch.Tensor, reg_covar: float = 1e-6) -> float:
    """Mean log-density of (N, d) codes under their maximum-likelihood Gaussian (mean, ÷N
    covariance S) with ``reg_covar`` added to the diagonal, as scikit-learn fits it:
    ``-(d log 2π + log det(S + rI) + tr((S + rI)^-1 S)) / 2``, from the eigenvalues λ of S:
    ``tr(...) = Σ λ / (λ + r)``."""
    z = torch.as_tensor(codes, dtype=torch.float64)
    n, d = z.shape
    c = z - z.mean(0)
    lam = torch.linalg.eigvalsh(c.T @ c / n).clamp_min(0.0)
    return float(-0.5 * (d * math.log(2 * math.pi) + torch.log(lam + reg_covar).sum()
                         + (lam / (lam + reg_covar)).sum()))


def check_gmm_loglik(answer: Any, components: Sequence[int], codes: torch.Tensor, *,
                     reg_covar: float = 1e-6) -> Verdict:
    """Exercise 1: ``answer[i]`` is the mean training log-likelihood (``train_log_likelihood``)
    of a GMM with ``components[i]`` components fitted to the (N, d) ``codes``
    (:func:`waelib.expost.fit_gmm` on them, or :func:`waelib.expost.fit_expost` on the images
    whose codes they are: ``expost.latent_codes(model, images)``).

    The one-component value must equal :func:`gaussian_ml_loglik` of ``codes`` to 1e-6
    relative (EM reaches the closed form in one step; the rest is round-off). A mixture with
    more components contains that Gaussian, and EM from k-means only improves its start, so
    every other value must be at least the one-component value (less 1e-6 relative).
    """
    comps = list(components)
    try:
        got = [float(v) for v in answer]
    except (TypeError, ValueError):
        return Verdict(False, f"log-likelihoods: expected {len(comps)} numbers, one per component count")
    if len(got) != len(comps) or 1 not in comps:
        return Verdict(False, f"log-likelihoods: expected one number per entry of components={comps} "
                              f"(which must include 1), got {len(got)}")
    single = gaussian_ml_loglik(codes, reg_covar)
    first = close(got[comps.index(1)], single, rel=1e-6, what="one-component log-likelihood",
                  hint="take train_log_likelihood of the fit with n_components=1 on the same codes")
    if not first:
        return first
    low = [k for k, v in zip(comps, got) if v < single - 1e-6 * abs(single)]
    if low:
        return Verdict(False, f"log-likelihoods: the fits with {low} components score below one Gaussian, "
                              f"which no fitted mixture does: are they fitted to the same codes?")
    return Verdict(True, "log-likelihoods: right (one Gaussian in closed form, every mixture at or above it)")


def check_intro_encoder_loss(answer: Any, values: Optional[Mapping[str, float]] = None) -> Verdict:
    """Exercise 2: IntroVAE's encoder loss
    ``L_E = kl_real + α([m - kl_rec_ng]^+ + [m - kl_fake_ng]^+) + β(S) · recon`` for
    :data:`INTRO_EXERCISE`, with α, m and ``β(S) = 0.05 (256 / S)²`` from :mod:`waelib.config`
    (the official run's constants). The tolerance 1e-6 (relative) allows round-off only.
    """
    v = dict(INTRO_EXERCISE, **(values or {}))
    m, alpha = config.INTRO_MARGIN, config.INTRO_ALPHA
    beta = config.INTRO_BETA * (config.INTRO_IMAGE_SIZE / v["image_size"]) ** 2
    expected = (v["kl_real"] + alpha * (max(0.0, m - v["kl_rec_ng"]) + max(0.0, m - v["kl_fake_ng"]))
                + beta * v["recon"])
    return close(answer, expected, rel=1e-6, what="IntroVAE's encoder loss",
                 hint="a fake whose KL is already above the margin adds nothing; β depends on the image size")


def nac_codes(n: int = 8) -> torch.Tensor:
    """(n, 4) codes whose correlations are exact: with ``a = (1, -1, 1, -1, ...)`` and
    ``b = (1, 1, -1, -1, ...)`` (zero mean, equal variance, orthogonal for n a multiple of 4)
    the columns are a, 1 - 2a, b and a + b."""
    if n % 4:
        raise ValueError(f"n must be a multiple of 4, got {n}")
    i = torch.arange(n)
    a = 1.0 - 2.0 * (i % 2).double()
    b = 1.0 - 2.0 * ((i // 2) % 2).double()
    return torch.stack([a, 1.0 - 2.0 * a, b, a + b], dim=1)


def check_nac(answer: Any) -> Verdict:
    """Exercise 3: NAC (mean |off-diagonal correlation|) of :func:`nac_codes`.

    Closed form: corr(a, 1 - 2a) = -1, corr(a, b) = corr(1 - 2a, b) = 0, and a + b has
    correlation ±1/√2 with each of the others, so the six pairs average
    ``(1 + 3/√2) / 6``. The tolerance 1e-6 (relative) allows round-off only.
    """
    expected = (1.0 + 3.0 / math.sqrt(2.0)) / 6.0
    return close(answer, expected, rel=1e-6, what="NAC of the four columns",
                 hint="average the ABSOLUTE correlations over the off-diagonal entries only")


def check_mask_gate_gradient(answer: Any) -> Verdict:
    """Exercise 4: ∂/∂a of MaskAAE's mask penalties ``w ||μ||_1 + w_b Σ μ(1 - μ)``, μ = sigmoid(a),
    for one gate at its initial logit a = ``config.MASK_INIT_LOGIT``.

    Closed form: ``(w + w_b (1 - 2μ)) · μ (1 - μ)``; at a = 0 (μ = 1/2) the binarity term's
    slope vanishes and the gradient is ``w / 4``. The tolerance 1e-6 (relative) allows round-off.
    """
    mu = 1.0 / (1.0 + math.exp(-config.MASK_INIT_LOGIT))
    w, wb = config.MASK_SPARSITY_WEIGHT, config.MASK_BINARY_WEIGHT
    expected = (w + wb * (1.0 - 2.0 * mu)) * mu * (1.0 - mu)
    return close(answer, expected, rel=1e-6, what="gradient of the mask penalties",
                 hint="chain rule: d/dμ of the penalties times dμ/da = μ(1 - μ)")


def intro_vae_log_summary(intro_root: Path, margin: float = config.INTRO_MARGIN,
                          after_step: int = 200) -> Optional[Dict[str, Any]]:
    """What the committed IntroVAE logs of notebook 06 show (``<intro_root>/seed*/log.jsonl``, the
    steps after ``after_step``): the range of the summed squared error, the share of logged steps
    where both kinds of fake have a KL above the margin, median KLs of prior samples and real
    images, and the largest KL of a fake. None when there are no logs."""
    runs = sorted(Path(intro_root).glob("seed*"))
    rows = [r for run in runs for r in read_log(run) if r["step"] > after_step]
    if not rows:
        return None
    return {"seeds": len(runs), "logged_steps": len(rows), "margin": margin,
            "recon_min": min(r["recon"] for r in rows), "recon_max": max(r["recon"] for r in rows),
            "share_fakes_above_margin": float(np.mean([min(r["kl_rec"], r["kl_fake"]) > margin for r in rows])),
            "median_kl_fake": float(np.median([r["kl_fake"] for r in rows])),
            "median_kl_real": float(np.median([r["kl_real"] for r in rows])),
            "max_kl_fakes": max(max(r["kl_rec"], r["kl_fake"]) for r in rows)}
