"""The VAE's objective (thesis §2.1, §4.3.1, §4.3.3): the negative ELBO, one Adam optimiser.

Used by ``vae`` and ``vae_resnet``. Per batch (Algorithm 1 of the thesis' §2.1, in words):
encode, draw z = mu + sigma * eps, decode, and take one Adam step on

    E_q[-log p(x|z)] + KL(q(z|x) || N(0, I)),   -log p(x|z) = ||x - G(z)||^2 / (2 sigma_G^2),

with lr 1e-3 and beta1 0.5 ("exponential decay rate = 0.5", §4.3.1).
"""
from __future__ import annotations

from typing import Dict

import torch

from .. import config, losses
from .base import Objective, StepContext

__all__ = ["VAEObjective"]


class VAEObjective(Objective):
    """The negative ELBO with the thesis' Gaussian decoder (:func:`waelib.losses.vae_loss`)."""

    name = "vae"
    lr = config.VAE_LR
    betas = (config.VAE_BETA1, 0.999)

    def elbo_terms(self, x: torch.Tensor, out: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The loss terms of one batch: x (N, 3, S, S); ``out`` the model's forward dict
        (``x_hat``, ``mu``, ``logvar``). Subclasses change the likelihood or the KL weight here."""
        return losses.vae_loss(x, out["x_hat"].float(), out["mu"].float(), out["logvar"].float())

    def training_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Reparameterised forward pass, the negative ELBO, one Adam step."""
        with ctx.autocast():
            out = ctx.fwd(x)
        terms = self.elbo_terms(x, out)
        ctx.minimise("model", terms["loss"])
        return terms
