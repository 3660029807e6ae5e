"""The VAE with a fixed unit-variance Gaussian decoder (seed 004 Table 1, "VAE (fixed variance)").

    -log p(x|z) = ||x - G(z)||^2 / (2 gamma) + D/2 log(2 pi gamma),   gamma = 1 fixed,

the baseline of Dai & Wipf ("Diagnosing and enhancing VAE models", ICLR 2019), whose Table 1
seed 004 copies. The thesis' own VAE is the same likelihood with gamma = sigma_G^2 = 0.5; with
gamma = 1 the reconstruction term weighs half as much against the KL. The constant is kept so
that ``loss`` is the negative ELBO in nats (it moves no gradient).
"""
from __future__ import annotations

import math
from typing import Dict

import torch

from .. import losses
from .vae import VAEObjective

__all__ = ["GAMMA", "VAEFixedVarianceObjective"]

#: The decoder's fixed variance gamma (Dai & Wipf's fixed-variance baseline).
GAMMA: float = 1.0


class VAEFixedVarianceObjective(VAEObjective):
    """The negative ELBO with N(x; G(z), gamma I), gamma = :data:`GAMMA`."""

    name = "vae_fixed_var"

    def elbo_terms(self, x: torch.Tensor, out: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """``recon`` = mean of ||x - x^||^2 / (2 gamma) + D/2 log(2 pi gamma), D = 3 S^2
        (in x's precision, at least fp32)."""
        dtype = torch.promote_types(x.dtype, torch.float32)
        x_hat = out["x_hat"].to(dtype)
        sq = losses.reconstruction_cost(x, x_hat)
        dim = x[0].numel()
        recon = (sq / (2.0 * GAMMA)).mean() + 0.5 * dim * math.log(2.0 * math.pi * GAMMA)
        kl = losses.gaussian_kl(out["mu"].to(dtype), out["logvar"].to(dtype)).mean()
        return {"loss": recon + kl, "recon": recon, "kl": kl, "sq_error": sq.mean()}
