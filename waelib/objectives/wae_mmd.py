"""WAE-MMD's objective (seeds 002/003; the official WAE code): recon_scale * c + lambda * MMD.

One Adam optimiser (lr 1e-3, beta1 0.5). The MMD is the unbiased IMQ-kernel estimate between
the batch's codes and as many prior draws (:func:`waelib.losses.mmd`).
"""
from __future__ import annotations

from typing import Dict

import torch

from .. import config, losses
from .base import Objective, StepContext

__all__ = ["WAEMMDObjective"]


class WAEMMDObjective(Objective):
    """recon_scale * c(x, G(Q(x))) + lambda * MMD(Q_Z, P_Z) (:func:`waelib.losses.wae_mmd_loss`)."""

    name = "wae_mmd"
    lr = config.WAE_MMD_LR
    betas = (config.WAE_BETA1, 0.999)

    def training_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Codes and reconstructions of x (n, 3, S, S), n prior draws, one Adam step."""
        with ctx.autocast():
            out = ctx.fwd(x)
        z_p = self.model.sample_prior(x.shape[0], device=ctx.device)
        terms = losses.wae_mmd_loss(x, out["x_hat"].float(), out["z"].float(), z_p,
                                    sigma2=self.model.prior_sigma2, recon_scale=self.recon_scale(),
                                    **self.lam_kwargs())
        ctx.minimise("model", terms["loss"])
        return terms
