"""Notebook 04 (WAE, WAE-MMD and WAE-ResNet): the summary of a run's training curves, and the
checks of its exercises.

- :func:`curve_summary` -- quantiles of logged quantities over the late part of training (what
  the notebook says about its training curves, saved as JSON and quoted).
- :func:`count_convolutions` -- the Conv2d layers of a module, split into the residual
  shortcuts (W_s) and the main path.
- :func:`check_lambda_objectives` (exercise 1) -- the penalised WAE-GAN objective of one batch
  at several lambda, from the closed form recon_scale * mean c + lambda * mean(-log D).
- :func:`resnet_encoder_parameters` / :func:`check_encoder_parameters` (exercise 2) -- the
  ResNet encoder's parameter count, counted layer by layer from thesis §3.2.
- :func:`reference_mmd` / :func:`check_codes_mmd` (exercise 3) -- the unbiased IMQ MMD of
  a model's codes against prior draws, written out pair by pair.
- :func:`check_recon_scale` (exercise 4) -- the official code's balance at another image
  size: 0.05 * (2 / range)^2 * (64 / S)^2.

Each check computes its expected value itself, without the function the notebook teaches.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence

import torch
from torch import nn

from . import Verdict, close

__all__ = ["curve_summary", "count_convolutions", "check_lambda_objectives",
           "resnet_encoder_parameters", "check_encoder_parameters", "reference_mmd",
           "check_codes_mmd", "check_recon_scale", "LOG2"]

#: log 2: the encoder's GAN penalty -log D(z~) when D = 1/2 (D cannot tell codes from prior
#: samples); the discriminator's loss is then 2 log 2 (with lambda = 1).
LOG2 = math.log(2.0)


# --------------------------------------------------------------------------------------
# What the notebook computes and quotes
# --------------------------------------------------------------------------------------
def curve_summary(histories: Mapping[str, Sequence[Mapping[str, Any]]], keys: Iterable[str], *,
                  start_fraction: float = 0.5, quantiles: Sequence[float] = (0.1, 0.5, 0.9),
                  thresholds: Optional[Mapping[str, float]] = None) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Quantiles of logged quantities over the late part of training.

    Args:
        histories: ``{model: log rows}`` (each row a dict with ``"step"`` and the logged
            values, as in a run's ``log.jsonl``).
        keys: the quantities to summarise; a model that does not log one is left out of it.
        start_fraction: the part of the run that is skipped: 0.5 summarises the second half
            (the rows whose step is above half the last step).
        quantiles: which quantiles, stored as ``q10``, ``q50``, ``q90`` (percent, rounded).
        thresholds: ``{key: value}``: also store ``share_below`` the value (the fraction of the
            summarised steps where the quantity is below it) and the ``threshold`` itself.
    Returns:
        ``{model: {key: {"q10", "q50", "q90", "min", "max", "first", "last", "from_step",
        "n_steps", ["threshold", "share_below"]}}}``; ``first``/``last`` are the values at the
        first and last logged steps of the whole run.
    Raises:
        ValueError: ``start_fraction`` outside [0, 1) or a model without log rows.
    """
    if not 0.0 <= start_fraction < 1.0:
        raise ValueError(f"start_fraction must be in [0, 1), got {start_fraction}")
    thresholds = dict(thresholds or {})
    out: Dict[str, Dict[str, Dict[str, float]]] = {}
    for model, rows in histories.items():
        if not rows:
            raise ValueError(f"{model}: no log rows")
        last_step = max(int(r["step"]) for r in rows)
        start = start_fraction * last_step
        out[model] = {}
        for key in keys:
            logged = [r for r in rows if key in r and r[key] is not None]
            late = [r for r in logged if int(r["step"]) > start] or logged[-1:]
            if not late:
                continue
            values = torch.tensor([float(r[key]) for r in late], dtype=torch.float64)
            entry = {f"q{round(100 * q)}": float(torch.quantile(values, q)) for q in quantiles}
            entry.update(min=float(values.min()), max=float(values.max()),
                         first=float(logged[0][key]), last=float(logged[-1][key]),
                         from_step=int(late[0]["step"]), n_steps=len(late))
            if key in thresholds:
                entry["threshold"] = float(thresholds[key])
                entry["share_below"] = float((values < thresholds[key]).double().mean())
            out[model][key] = entry
    return out


def count_convolutions(module: nn.Module) -> Dict[str, int]:
    """The ``nn.Conv2d`` layers of ``module``: ``total``, ``shortcut`` (those inside a
    submodule named ``shortcut``: the W_s of the conv blocks, §3.2.2) and ``main`` (the rest)."""
    total = shortcut = 0
    for name, sub in module.named_modules():
        if isinstance(sub, nn.Conv2d):
            total += 1
            shortcut += "shortcut" in name.split(".")
    return {"total": total, "shortcut": shortcut, "main": total - shortcut}


# --------------------------------------------------------------------------------------
# Exercise 1: the penalised objective against lambda
# --------------------------------------------------------------------------------------
def check_lambda_objectives(answer: Any, x: torch.Tensor, x_hat: torch.Tensor,
                            logits_codes: torch.Tensor, lams: Sequence[float],
                            recon_scale: float) -> Verdict:
    """Exercise 1: ``answer[i]`` is the auto-encoder's objective of Algorithm 2 on the batch
    (x, x_hat, D's logits on the codes) at ``lams[i]``.

    Expected, in float64 from the closed form: recon_scale * mean_i sum_pixels (x - x_hat)^2
    + lambda * mean_i -log sigmoid(logit_i) (the non-saturating penalty -log D(z~)).
    Relative tolerance 1e-5: the library computes the same sums in float32.
    """
    x64, xh64 = x.detach().double(), x_hat.detach().double()
    recon = (x64 - xh64).pow(2).flatten(1).sum(dim=1).mean()
    penalty = -torch.log(torch.sigmoid(logits_codes.detach().double())).mean()
    expected = torch.stack([recon_scale * recon + lam * penalty for lam in lams])
    if answer is not None and not isinstance(answer, torch.Tensor):
        try:
            answer = torch.as_tensor([float(a) for a in answer])
        except (TypeError, ValueError):
            pass
    return close(answer, expected, rel=1e-5, what="objective at each lambda",
                 hint="losses.wae_gan_loss(x, x_hat, logits, lam=..., recon_scale=...)['loss'] "
                      "for each lambda, stacked in the order of `lams`")


# --------------------------------------------------------------------------------------
# Exercise 2: the ResNet encoder's parameters
# --------------------------------------------------------------------------------------
#: Thesis §3.2 / Figure 3.1, written out here rather than read from waelib.config: the stem's
#: filters and kernel; per stage the bottleneck filters, the stride and the identity blocks.
_STEM_FILTERS, _STEM_KERNEL, _BLOCK_KERNEL = 64, 7, 3
_STAGES = (((64, 64, 256), 1, 2), ((128, 128, 512), 2, 3), ((256, 256, 1024), 2, 3),
           ((512, 512, 2048), 2, 3))


def _width(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


def _conv(c_in: int, c_out: int, k: int) -> int:
    """A k x k convolution with bias, followed by a BatchNorm (scale and shift)."""
    return k * k * c_in * c_out + c_out + 2 * c_out


def resnet_encoder_parameters(image_size: int, width: float, latent_dim: int = 64) -> int:
    """Trainable parameters of the thesis' ResNet encoder (§3.2), counted layer by layer.

    Stem: ZeroPad 2, Conv 7x7 stride 2 + BN, MaxPool 3x3 stride 1. Each stage: a conv block
    (1x1 -> 3x3 -> 1x1, each with BN, plus the 1x1 shortcut W_s with BN) and identity blocks
    (the same three convolutions); convolutions keep their bias (Keras' default). Then AvgPool
    2x2, flatten and Dense(latent_dim). Channel counts are scaled by ``width`` and rounded.
    """
    side = (image_size + 4 - _STEM_KERNEL) // 2 + 1 - 2          # zero-pad, 7x7/2 conv, 3x3/1 pool
    c = _width(_STEM_FILTERS, width)
    total = _conv(3, c, _STEM_KERNEL)
    for filters, stride, n_identity in _STAGES:
        f1, f2, f3 = (_width(f, width) for f in filters)
        block = _conv(f1, f2, _BLOCK_KERNEL) + _conv(f2, f3, 1)
        total += _conv(c, f1, 1) + block + _conv(c, f3, 1)           # conv block with W_s
        total += n_identity * (_conv(f3, f1, 1) + block)             # identity blocks
        side = (side - 1) // stride + 1
        c = f3
    side //= 2                                                     # 2x2 average pooling
    if side < 1:
        raise ValueError(f"image_size={image_size} is too small for the ResNet encoder")
    return total + c * side * side * latent_dim + latent_dim


def check_encoder_parameters(answer: Any, image_size: int, width: float, latent_dim: int = 64) -> Verdict:
    """Exercise 2: ``answer`` is the number of trainable parameters of WAE-ResNet's encoder at
    ``image_size`` and ``width``; compared exactly with :func:`resnet_encoder_parameters`."""
    return close(answer, resnet_encoder_parameters(image_size, width, latent_dim), rel=0.0,
                 abs_tol=0.5, what=f"encoder parameters at {image_size} px, width {width}",
                 hint="sum p.numel() over model.encoder.parameters() (BatchNorm's running "
                      "statistics are buffers, not parameters)")


# --------------------------------------------------------------------------------------
# Exercise 3: the MMD of a model's codes against the prior
# --------------------------------------------------------------------------------------
#: The kernel scales of the official WAE code, written out here.
_MMD_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def reference_mmd(z_q: torch.Tensor, z_p: torch.Tensor, sigma2: float = 2.0) -> float:
    """The unbiased MMD^2 estimate with the sum of inverse multiquadric kernels
    k(a, b) = C / (C + ||a - b||^2), C = s * 2 * d * sigma2 over the official scales s, in
    float64 and with explicit pair masks: within-set means over the n(n - 1) pairs i != j, the
    cross mean over all n * m pairs."""
    q, p = z_q.detach().double(), z_p.detach().double()
    n, d = q.shape
    m = p.shape[0]
    d_qq, d_pp, d_qp = torch.cdist(q, q) ** 2, torch.cdist(p, p) ** 2, torch.cdist(q, p) ** 2
    off_q = ~torch.eye(n, dtype=torch.bool)
    off_p = ~torch.eye(m, dtype=torch.bool)
    total = 0.0
    for s in _MMD_SCALES:
        c = s * 2.0 * d * sigma2
        total += float((c / (c + d_qq))[off_q].mean() + (c / (c + d_pp))[off_p].mean()
                       - 2.0 * (c / (c + d_qp)).mean())
    return total


@torch.no_grad()
def check_codes_mmd(answer: Any, model: nn.Module, images: torch.Tensor, *, n: int = 128,
                    seed: int = 0) -> Verdict:
    """Exercise 3: ``answer`` is MMD^2 between the codes Q(x) of the first ``n`` of ``images``
    (uint8 or [0, 1]; the model in eval mode) and ``n`` prior draws
    ``model.sample_prior(n, torch.Generator().manual_seed(seed))``.

    The check encodes the images and draws the prior itself (N(0, sigma_z^2 I) from a CPU
    generator seeded with ``seed``) and computes :func:`reference_mmd`. Tolerance: relative
    1e-3 plus 1e-5 absolute, for the float32 cancellation of three terms of size about 1 per
    scale (7 scales) in the library's estimate; the biased estimate (diagonal kept) is off by
    about 14 / n, far outside it.
    """
    was_training = model.training
    model.eval()
    try:
        x = images[:n]
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        param = next(model.parameters())
        z_q = model.encode(x.to(param.device)).float().cpu()
    finally:
        model.train(was_training)
    sigma2 = float(getattr(model, "prior_sigma2", 2.0))
    z_p = torch.randn(n, z_q.shape[1], generator=torch.Generator().manual_seed(seed)) * math.sqrt(sigma2)
    return close(answer, reference_mmd(z_q, z_p, sigma2), rel=1e-3, abs_tol=1e-5,
                 what=f"MMD^2 of {n} codes against {n} prior draws",
                 hint="model.eval(); codes = model.encode(images[:n].float() / 255) under "
                      "torch.no_grad(); losses.mmd(codes, model.sample_prior(n, generator))")


# --------------------------------------------------------------------------------------
# Exercise 4: the reconstruction weight at another image size
# --------------------------------------------------------------------------------------
def check_recon_scale(answer: Any, image_size: int, pixel_range: float = 1.0) -> Verdict:
    """Exercise 4: ``answer`` is the recon_scale that keeps the official WAE code's balance
    (0.05 on the pixel sum of 64 x 64 images in [-1, 1]) for images of side ``image_size`` and
    pixel range ``pixel_range``: 0.05 * (2 / range)^2 * (64 / S)^2. Relative tolerance 1e-9
    (a closed form; only rounding)."""
    expected = 0.05 * (2.0 / pixel_range) ** 2 * (64.0 / image_size) ** 2
    return close(answer, expected, rel=1e-9, what=f"recon_scale at {image_size} px, range {pixel_range:g}",
                 hint="the pixel sum grows with the number of pixels (S^2) and with the square of "
                      "the pixel range; losses.recon_scale_for(S, pixel_range)")
