"""The RAE's objective (seed 004; Ghosh et al. 2020, the L2 variant with pythae's defaults).

    loss = sum_pixels (x - x^)^2 + z_weight * 1/2 ||z||^2 + decoder_l2 * 1/2 ||theta_dec||^2,

one Adam optimiser (lr 1e-3, beta1 0.5). Sampled ex post (:mod:`waelib.expost`).
"""
from __future__ import annotations

from typing import Dict

import torch

from .. import config, losses
from .base import Objective, StepContext

__all__ = ["RAEObjective"]


class RAEObjective(Objective):
    """RAE-L2 (:func:`waelib.losses.rae_loss`); options ``z_weight``, ``decoder_l2``."""

    name = "rae"
    lr = config.RAE_LR
    betas = (config.WAE_BETA1, 0.999)
    options = ("z_weight", "decoder_l2")

    def training_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """recon + beta/2 ||z||^2 + lam/2 ||theta_D||^2 on x (n, 3, S, S), one Adam step."""
        with ctx.autocast():
            out = ctx.fwd(x)
        terms = losses.rae_loss(x, out["x_hat"].float(), out["z"].float(),
                                losses.squared_norm(list(self.model.decoder.parameters())),
                                z_weight=self.option("z_weight", config.RAE_Z_WEIGHT),
                                decoder_l2=self.option("decoder_l2", config.RAE_DECODER_L2))
        ctx.minimise("model", terms["loss"])
        return terms
