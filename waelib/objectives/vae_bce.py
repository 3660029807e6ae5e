"""The VAE with a cross-entropy decoder (seed 004 Table 1, "VAE (cross-entr.)").

The decoder's output is read as the means of independent Bernoulli pixels, so that

    -log p(x|z) = - sum_pixels [x log x^ + (1 - x) log(1 - x^)],

the binary cross-entropy summed over the pixels (x in [0, 1]: for grey values it is the usual
"cross-entropy VAE", not a normalised density). The rest is the thesis' VAE (§4.3.1): networks,
KL, optimiser.
"""
from __future__ import annotations

from typing import Dict

import torch
from torch import nn  # noqa: N812 - PyTorch's own convention

from .. import losses
from .vae import VAEObjective

__all__ = ["bernoulli_nll", "VAEBCEObjective"]


def bernoulli_nll(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Summed binary cross-entropy of targets x against means x_hat, both (N, C, H, W) in [0, 1];
    returns (N,) nats. (torch clamps each log at -100, so a saturated pixel costs at most 100.)"""
    return nn.functional.binary_cross_entropy(x_hat, x, reduction="none").flatten(1).sum(dim=1)


class VAEBCEObjective(VAEObjective):
    """The negative ELBO with the Bernoulli (cross-entropy) likelihood."""

    name = "vae_bce"

    def elbo_terms(self, x: torch.Tensor, out: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """``loss`` = ``recon`` (mean summed BCE) + ``kl``; ``sq_error`` = mean ||x - x^||^2.
        Computed in x's precision, at least fp32 (autocast's bf16 outputs are cast up; x and
        x^ must share a dtype for ``binary_cross_entropy``)."""
        dtype = torch.promote_types(x.dtype, torch.float32)
        x, x_hat = x.to(dtype), out["x_hat"].to(dtype)
        recon = bernoulli_nll(x, x_hat).mean()
        kl = losses.gaussian_kl(out["mu"].to(dtype), out["logvar"].to(dtype)).mean()
        sq = losses.reconstruction_cost(x, x_hat).mean()
        return {"loss": recon + kl, "recon": recon, "kl": kl, "sq_error": sq}
