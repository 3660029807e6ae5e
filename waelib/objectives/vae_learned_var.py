"""The VAE with a learned decoder variance (seed 004 Table 1, "VAE (learned variance)").

    -log p(x|z) = ||x - G(z)||^2 / (2 gamma) + D/2 log(2 pi gamma),   gamma = exp(log_gamma) learned,

one scalar gamma shared by every pixel, as in Dai & Wipf ("Diagnosing and enhancing VAE models",
ICLR 2019), learned with the networks by the same Adam optimiser and started at gamma = 1.
gamma settles near the mean squared error per pixel, so the balance between reconstruction and
KL is learned instead of fixed. The model is the thesis' VAE plus that one parameter
(:class:`LearnedVarianceVAE`).
"""
from __future__ import annotations

import math
from typing import Dict

import torch
from torch import nn

from .. import losses
from ..models import VAE
from .vae import VAEObjective

__all__ = ["LearnedVarianceVAE", "VAELearnedVarianceObjective", "gaussian_nll_learned"]


class LearnedVarianceVAE(VAE):
    """:class:`waelib.models.VAE` with a learned scalar ``log_gamma`` (starts at 0: gamma = 1)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.log_gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The VAE's dict plus ``log_gamma`` (a scalar), so that its gradient reaches the
        parameter through the forward pass (and DDP's gradient sync)."""
        return dict(super().forward(x), log_gamma=self.log_gamma)


def gaussian_nll_learned(x: torch.Tensor, x_hat: torch.Tensor, log_gamma: torch.Tensor) -> torch.Tensor:
    """-log N(x; x_hat, gamma I) per sample, x and x_hat (N, C, H, W), log_gamma a scalar
    tensor: ||x - x_hat||^2 / (2 gamma) + D/2 (log 2 pi + log gamma). Returns (N,) nats."""
    dim = x[0].numel()
    sq = losses.reconstruction_cost(x, x_hat)
    return 0.5 * sq * torch.exp(-log_gamma) + 0.5 * dim * (math.log(2.0 * math.pi) + log_gamma)


class VAELearnedVarianceObjective(VAEObjective):
    """The negative ELBO with N(x; G(z), gamma I), gamma learned (logged as ``gamma``)."""

    name = "vae_learned_var"

    def elbo_terms(self, x: torch.Tensor, out: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """``recon`` = mean :func:`gaussian_nll_learned`, ``gamma`` = exp(log_gamma) (in x's
        precision, at least fp32)."""
        dtype = torch.promote_types(x.dtype, torch.float32)
        x_hat = out["x_hat"].to(dtype)
        log_gamma = out["log_gamma"].to(dtype)
        recon = gaussian_nll_learned(x, x_hat, log_gamma).mean()
        kl = losses.gaussian_kl(out["mu"].to(dtype), out["logvar"].to(dtype)).mean()
        sq = losses.reconstruction_cost(x, x_hat).mean()
        return {"loss": recon + kl, "recon": recon, "kl": kl, "sq_error": sq,
                "gamma": torch.exp(log_gamma)}
