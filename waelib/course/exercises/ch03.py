"""Exercises of notebook 03 (the VAE): helpers and checks.

- :func:`linear_vae_neg_elbo` -- the exact expected negative ELBO of a one-dimensional linear
  Gaussian VAE (data ``x ~ N(0, s^2)``, prior ``z ~ N(0, 1)``, decoder ``N(x; w z, sigma_G^2)``,
  encoder ``q(z|x) = N(a x, tau^2)``), for exercise 2;
- :func:`exercise_batch` -- the fixed batch (x, x_hat, mu, logvar) of exercise 3;
- checks: :func:`check_decoder_sizes`, :func:`check_linear_vae_kl`, :func:`check_batch_loss`,
  :func:`check_mutual_information`.

Each check computes its expected value itself (a closed form, or an independent quadrature),
never from the answer.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Sequence

import torch

from . import Verdict, close

__all__ = ["linear_vae_neg_elbo", "exercise_batch", "check_decoder_sizes", "check_linear_vae_kl",
           "check_batch_loss", "check_mutual_information"]


# --------------------------------------------------------------------------------------
# Exercise 1: the six transposed convolutions of the VAE decoder
# --------------------------------------------------------------------------------------
def check_decoder_sizes(answer: Any, image_size: int = 64) -> Verdict:
    """The side of the VAE decoder's feature map after each of its six transposed convolutions
    (``waelib.blocks.VAEDecoder``: five 3x3 with stride 2, padding 1, output_padding 1, then one
    3x3 with stride 1, padding 1), starting from ``image_size / 32``.

    Expected from ``out = (n - 1) s - 2 p + k + output_padding``; exact."""
    side = image_size // 32
    expected = []
    for stride, out_pad in [(2, 1)] * 5 + [(1, 0)]:
        side = (side - 1) * stride - 2 * 1 + 3 + out_pad
        expected.append(side)
    return close(answer, torch.tensor(expected, dtype=torch.float64), rel=0.0,
                 what=f"sides after the six transposed convolutions at {image_size} px",
                 hint="a transposed convolution gives (n - 1) * s - 2 * p + k + output_padding; the "
                      "decoder starts from a (S/32) x (S/32) map and the last layer has stride 1")


# --------------------------------------------------------------------------------------
# Exercise 2: sigma_G^2 and the KL / reconstruction trade-off in a linear Gaussian VAE
# --------------------------------------------------------------------------------------
def linear_vae_neg_elbo(a: torch.Tensor, w: torch.Tensor, logtau2: torch.Tensor, *, data_var: float,
                        sigma2: float) -> Dict[str, torch.Tensor]:
    """Exact ``E_x[-ELBO(x)]`` (without the constant ``1/2 log(2 pi sigma2)``) of the 1-D linear VAE.

    With ``z = a x + tau eps``: ``x - w z = (1 - w a) x - w tau eps``, so
    ``E (x - w z)^2 = (1 - w a)^2 s^2 + w^2 tau^2``, and ``E_x KL(q(z|x) || N(0, 1)) =
    1/2 (tau^2 + a^2 s^2 - 1 - log tau^2)``.

    Args:
        a, w, logtau2: encoder gain, decoder weight, log posterior variance (scalar tensors).
        data_var: ``s^2``; sigma2: the decoder variance ``sigma_G^2``.
    Returns:
        ``loss`` = ``recon`` + ``kl`` and ``sq_error`` = ``E (x - w z)^2``.
    """
    tau2 = logtau2.exp()
    sq = (1 - w * a) ** 2 * data_var + w ** 2 * tau2
    kl = 0.5 * (tau2 + a ** 2 * data_var - 1 - logtau2)
    recon = sq / (2 * sigma2)
    return {"loss": recon + kl, "recon": recon, "kl": kl, "sq_error": sq}


def check_linear_vae_kl(answer: Any, sigma2s: Sequence[float], data_var: float = 4.0) -> Verdict:
    """The average KL ``E_x KL(q(z|x) || p(z))`` at the optimum of the linear VAE's ELBO, for each
    decoder variance in ``sigma2s``.

    Closed form (the optimum is probabilistic PCA's: ``w^2 = s^2 - sigma^2``, ``tau^2 =
    sigma^2 / s^2``, ``a = w / s^2``, so ``tau^2 + a^2 s^2 = 1``): ``1/2 log(s^2 / sigma^2)`` when
    ``sigma^2 < s^2``, and 0 (posterior collapse, ``w = 0``) otherwise. Tolerance: relative
    1e-3 plus absolute 1e-3 nats, which a numerical optimisation of the ELBO meets."""
    expected = torch.tensor([max(0.0, 0.5 * math.log(data_var / s2)) for s2 in sigma2s], dtype=torch.float64)
    return close(answer, expected, rel=1e-3, abs_tol=1e-3,
                 what=f"optimal average KL for sigma_G^2 = {list(sigma2s)} (s^2 = {data_var:g})",
                 hint="minimise linear_vae_neg_elbo over (a, w, log tau^2) for each sigma_G^2 and read "
                      "off its 'kl'; when sigma_G^2 >= s^2 the decoder ignores z")


# --------------------------------------------------------------------------------------
# Exercise 3: the loss of one batch by hand
# --------------------------------------------------------------------------------------
def exercise_batch(seed: int = 0) -> Dict[str, torch.Tensor]:
    """A fixed batch: ``x``, ``x_hat`` (4, 3, 8, 8) in [0, 1], ``mu``, ``logvar`` (4, 16), float64."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 3, 8, 8, generator=gen, dtype=torch.float64)
    x_hat = (x + 0.1 * torch.randn(x.shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    mu = torch.randn(4, 16, generator=gen, dtype=torch.float64)
    logvar = -1.0 + 0.5 * torch.randn(4, 16, generator=gen, dtype=torch.float64)
    return {"x": x, "x_hat": x_hat, "mu": mu, "logvar": logvar}


def check_batch_loss(answer: Any, decoder_sigma2: float = 0.1, seed: int = 0) -> Verdict:
    """``[recon, kl, loss]`` (batch means) of :func:`exercise_batch` for the Gaussian decoder with
    variance ``decoder_sigma2``: recon = ``sum (x - x_hat)^2 / (2 sigma_G^2)`` per image, kl =
    ``1/2 sum (sigma^2 + mu^2 - 1 - log sigma^2)`` per image. Recomputed here from the batch;
    relative tolerance 1e-5 (float32 arithmetic on the batch, 192 terms per image, stays inside it)."""
    b = exercise_batch(seed)
    recon = torch.stack([((xi - yi) ** 2).sum() for xi, yi in zip(b["x"], b["x_hat"])]).mean() / (2 * decoder_sigma2)
    var = torch.exp(b["logvar"])
    kl = torch.stack([0.5 * (v + m * m - 1 - lv).sum() for v, m, lv in zip(var, b["mu"], b["logvar"])]).mean()
    expected = torch.stack([recon, kl, recon + kl])
    return close(answer, expected, rel=1e-5, what=f"[recon, kl, loss] of the batch at sigma_G^2 = {decoder_sigma2:g}",
                 hint="sum over pixels and latent dimensions per image, then average over the 4 images; the "
                      "squared error is divided by 2 sigma_G^2")


# --------------------------------------------------------------------------------------
# Exercise 4: the KL bounds the information the code carries
# --------------------------------------------------------------------------------------
def _normal_pdf(z: torch.Tensor, mean: float, var: float) -> torch.Tensor:
    return torch.exp(-(z - mean) ** 2 / (2 * var)) / math.sqrt(2 * math.pi * var)


def check_mutual_information(answer: Any, m: float = 1.0, tau2: float = 0.25) -> Verdict:
    """``I(X; Z)`` in nats for ``X`` uniform on ``{-m, +m}`` and ``q(z|x) = N(x, tau2)``.

    Computed here as ``H(Z) - H(Z|X)``: ``H(Z|X) = 1/2 log(2 pi e tau2)`` and ``H(Z)`` by the
    trapezoidal rule on 400,001 points over ``m +- 12 tau``. Relative tolerance 1e-3 (a student's
    quadrature or a Monte Carlo estimate with about a million draws meets it)."""
    half = m + 12 * math.sqrt(tau2)
    z = torch.linspace(-half, half, 400_001, dtype=torch.float64)
    q = 0.5 * (_normal_pdf(z, -m, tau2) + _normal_pdf(z, m, tau2))
    h_z = -torch.trapezoid(torch.where(q > 0, q * torch.log(q), torch.zeros_like(q)), z)
    expected = h_z - 0.5 * math.log(2 * math.pi * math.e * tau2)
    return close(answer, expected, rel=1e-3, what=f"I(X; Z) for m = {m:g}, tau^2 = {tau2:g}",
                 hint="I(X; Z) = E_x KL(q(z|x) || p(z)) - KL(Q_Z || P_Z); the first term has a closed form, "
                      "the second needs a one-dimensional integral over the mixture Q_Z")
