"""What a trained model's code keeps (issue 20, ``docs/claims.md``): measures a student can see.

For the held-out evaluation images with their true synthfaces labels:

- :func:`attribute_accuracy` -- the synthfaces classifier's accuracy per attribute,
  ``predict_attributes(images) > 0.5`` against the true attributes, on the reconstructions and on
  the originals (the classifier's own ceiling);
- :func:`teeth_rates` -- the "white blob": the renderer draws teeth only for a smiling face with
  an open mouth, so a reconstruction classified ``Smiling`` and ``Mouth_Slightly_Open`` of a face
  without both shows teeth that are not there;
- :func:`background_colour` / :func:`hue_distance` -- the background's hue (a circle: HSV hue in
  turns, distance at most 1/2) and saturation, from the mean colour of the two top corners;
- :func:`code_samples`, :func:`prior_mmd` -- MMD(Q_Z, P_Z) of the test codes against prior draws
  (the WAE-MMD penalty's estimator, :func:`waelib.losses.mmd`);
- :func:`discriminator_accuracy` -- how well the latent discriminator tells prior draws from codes;
- :func:`analyse_codes` -- all of them for one model, JSON-ready, and a few images without teeth
  and their reconstructions for the figure.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import config, losses, metrics
from ..evaluate import reconstruct

__all__ = ["TEETH", "attribute_accuracy", "predict", "teeth_rates", "background_colour", "hue_distance",
           "code_samples", "prior_mmd", "discriminator_accuracy", "analyse_codes"]

#: The two attributes whose conjunction draws the teeth (``synthfaces_render``: teeth = smile * open).
TEETH: Tuple[str, str] = ("Smiling", "Mouth_Slightly_Open")


def attribute_accuracy(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-attribute accuracy of ``probs > 0.5``: probs (N, A) in [0, 1], labels (N, A) 0/1 ->
    (A,) float64 in [0, 1]."""
    return ((probs > 0.5).long() == labels.long()).double().mean(0)


@torch.no_grad()
def predict(extractor, images: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """``extractor.predict_attributes`` in batches: images (N, 3, S, S) uint8 or float -> (N, A)."""
    return torch.cat([extractor.predict_attributes(images[i:i + batch_size]).float().cpu()
                      for i in range(0, len(images), batch_size)])


def teeth_rates(probs: torch.Tensor, labels: torch.Tensor, attr_names: Sequence[str]) -> Dict[str, Any]:
    """The white blob as numbers. True teeth: both :data:`TEETH` attributes in ``labels`` (N, A);
    seen teeth: both predicted (``probs`` (N, A) > 0.5). Returns ``false_positive`` (the share of
    faces without teeth whose image is seen with them), ``kept`` (the share of faces with teeth
    seen with them; None without such faces) and the counts."""
    i, j = (list(attr_names).index(a) for a in TEETH)
    true = labels[:, i].bool() & labels[:, j].bool()
    seen = (probs[:, i] > 0.5) & (probs[:, j] > 0.5)
    n_with, n_without = int(true.sum()), int((~true).sum())
    return {"false_positive": float(seen[~true].double().mean()) if n_without else None,
            "kept": float(seen[true].double().mean()) if n_with else None,
            "n_with": n_with, "n_without": n_without}


def background_colour(images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """HSV hue (turns, [0, 1)) and saturation of each image's background: the mean RGB of its two
    top corner squares of side max(1, S // 8) (the face, its hair and clothes rarely reach
    them). images (N, 3, S, S) uint8 or float -> two (N,) float64 tensors."""
    x = metrics.to_float_images(images).double()
    k = max(1, x.shape[-1] // 8)
    rgb = torch.cat([x[:, :, :k, :k], x[:, :, :k, -k:]], dim=-1).mean(dim=(2, 3))    # (N, 3)
    r, g, b = rgb.unbind(1)
    mx, mn = rgb.max(1).values, rgb.min(1).values
    delta = mx - mn
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    hue = torch.where(mx == r, ((g - b) / safe) % 6.0,
                      torch.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0)) / 6.0
    hue = torch.where(delta > 0, hue % 1.0, torch.zeros_like(hue))
    sat = torch.where(mx > 0, delta / torch.where(mx > 0, mx, torch.ones_like(mx)), torch.zeros_like(mx))
    return hue, sat


def hue_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Circular distance of hues in turns (hue 0.99 and 0.01 are 0.02 apart): (N,), (N,) ->
    (N,) in [0, 1/2]."""
    d = (a - b).abs() % 1.0
    return torch.minimum(d, 1.0 - d)


@torch.no_grad()
def code_samples(model, images: torch.Tensor, *, seed: int, batch_size: int = 256) -> torch.Tensor:
    """One sample of Q_Z per image: images (N, 3, S, S) -> codes (N, d) float64 on the CPU. A
    deterministic encoder's code; for a Gaussian encoder (``encode_stats``) one draw
    ``mu + sigma * eps`` of q(z|x), eps from a generator seeded with ``seed``."""
    dev = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, len(images), batch_size):
        x = metrics.to_float_images(images[i:i + batch_size]).to(dev)
        if hasattr(model, "encode_stats"):
            mu, logvar = (t.double().cpu() for t in model.encode_stats(x))
            out.append(mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen, dtype=torch.float64))
        else:
            out.append(model.encode(x).double().cpu())
    return torch.cat(out)


def prior_mmd(codes: torch.Tensor, prior: torch.Tensor, sigma2: float) -> Dict[str, Any]:
    """MMD^2(Q_Z, P_Z), the unbiased IMQ estimator of the official WAE code summed over its
    scales (:func:`waelib.losses.mmd`, C = s * 2 d sigma2): codes (n, d), prior draws (m, d)."""
    value = losses.mmd(codes.double(), prior.double(), kernel="imq", sigma2=sigma2)
    return {"value": float(value), "kernel": "imq", "sigma2": float(sigma2),
            "scales": [float(s) for s in config.MMD_SCALES], "n_codes": len(codes), "n_prior": len(prior)}


@torch.no_grad()
def discriminator_accuracy(discriminator, codes: torch.Tensor, prior: torch.Tensor) -> Dict[str, Any]:
    """The latent discriminator's accuracy: prior draws (m, d) count as right when their logit is
    > 0 (it says "prior"), codes (n, d) when it is < 0. Returns the two shares and their mean
    (``accuracy``; 1/2 is a discriminator that cannot tell them apart)."""
    p = next(discriminator.parameters())
    lp = discriminator(prior.to(p.device, p.dtype)).float().cpu()
    lq = discriminator(codes.to(p.device, p.dtype)).float().cpu()
    acc_p, acc_q = float((lp > 0).double().mean()), float((lq < 0).double().mean())
    return {"accuracy": 0.5 * (acc_p + acc_q), "accuracy_prior": acc_p, "accuracy_codes": acc_q,
            "n_prior": len(prior), "n_codes": len(codes)}


def _uint8(x: torch.Tensor) -> np.ndarray:
    return (metrics.to_float_images(x).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def _background(originals: torch.Tensor, recon: torch.Tensor, true_hue: Optional[torch.Tensor]) -> Dict[str, Any]:
    """Hue error (degrees) and saturation ratio of the reconstructions' backgrounds against the
    originals', and (``true_hue`` (N,) in turns) the originals' against the true ``bg_hue``."""
    h_o, s_o = background_colour(originals)
    h_r, s_r = background_colour(recon)
    err = hue_distance(h_r, h_o) * 360.0
    ratio = s_r / s_o.clamp_min(1e-6)
    out = {"hue_error_deg_median": float(err.median()), "hue_error_deg_mean": float(err.mean()),
           "saturation_ratio_median": float(ratio.median()), "n": len(err),
           "definition": "mean RGB of the two top corner squares of side S/8; circular hue distance"}
    if true_hue is not None:
        floor = hue_distance(h_o, true_hue.double()) * 360.0
        out["original_vs_true_deg_median"] = float(floor.median())
    return out


@torch.no_grad()
def analyse_codes(model, images: torch.Tensor, attrs: torch.Tensor, attr_names: Sequence[str], extractor, *,
                  seed: int, true_hue: Optional[torch.Tensor] = None, n_keep: int = 8) -> Dict[str, Any]:
    """What ``model``'s code keeps of ``images`` (N, 3, S, S) with true attributes ``attrs``
    (N, A) 0/1 (columns ``attr_names``) and, if given, true background hues ``true_hue`` (N,).

    Returns ``attributes`` (per-attribute accuracy on the reconstructions and on the originals,
    their means, the reconstructions' agreement with the originals' predictions, the base rates),
    ``teeth`` (:func:`teeth_rates` of both), ``background``, ``mmd`` (test codes against as many
    prior draws, generator seeded with ``seed + 1``), ``code_sd`` (mean per-dimension SD of the
    codes) and ``prior_sd``, ``discriminator`` (None without one), and under ``images`` the first
    ``n_keep`` images without teeth, their reconstructions (uint8 (k, 3, S, S)) and indices.
    """
    recon = reconstruct(model, images)
    p_orig, p_rec = predict(extractor, images), predict(extractor, recon)
    acc_r, acc_o = attribute_accuracy(p_rec, attrs), attribute_accuracy(p_orig, attrs)
    agree = ((p_rec > 0.5) == (p_orig > 0.5)).double().mean(0)
    codes = code_samples(model, images, seed=seed)
    prior = model.sample_prior(len(codes), generator=torch.Generator().manual_seed(seed + 1),
                               device=torch.device("cpu")).double()
    disc = getattr(model, "discriminator", None)
    t_rec, t_orig = teeth_rates(p_rec, attrs, attr_names), teeth_rates(p_orig, attrs, attr_names)
    i, j = (list(attr_names).index(a) for a in TEETH)
    no_teeth = torch.nonzero(~(attrs[:, i].bool() & attrs[:, j].bool())).flatten()[:n_keep]
    return {
        "n": len(images), "attr_names": list(attr_names),
        "attributes": {"recon": acc_r.tolist(), "original": acc_o.tolist(), "agreement": agree.tolist(),
                       "base_rate": attrs.double().mean(0).tolist(), "recon_mean": float(acc_r.mean()),
                       "original_mean": float(acc_o.mean())},
        "teeth": {"recon_false_positive": t_rec["false_positive"], "original_false_positive": t_orig["false_positive"],
                  "recon_kept": t_rec["kept"], "original_kept": t_orig["kept"], "n_with": t_rec["n_with"],
                  "n_without": t_rec["n_without"]},
        "background": _background(images, recon, true_hue),
        "mmd": prior_mmd(codes, prior, model.prior_sigma2),
        "code_sd": float(codes.std(0).mean()), "prior_sd": float(np.sqrt(model.prior_sigma2)),
        "discriminator": discriminator_accuracy(disc, codes, prior) if disc is not None else None,
        "images": {"originals": _uint8(images[no_teeth]), "reconstructions": _uint8(recon[no_teeth]),
                   "indices": no_teeth.numpy(), "recon_teeth_seen": ((p_rec[no_teeth, i] > 0.5)
                                                                     & (p_rec[no_teeth, j] > 0.5)).numpy()},
    }
