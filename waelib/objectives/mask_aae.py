"""MaskAAE's objective (seed 004; Mondal et al., UAI 2020): Algorithm 2 on masked codes.

The model masks its codes and its prior draws (:class:`waelib.models.MaskAAE`); the
auto-encoder's loss gains ``mask_weight * ||mu||_1 + mask_binary * sum_j mu_j (1 - mu_j)``
(our construction: docs/deviations.md, the seed names the mask but not its loss), and the gates
learn at their own Adam rate ``config.MASK_LR``.
"""
from __future__ import annotations

from typing import Dict

import torch

from .. import config
from .base import OptimizerSpec
from .wae_gan import WAEGANObjective

__all__ = ["MaskAAEObjective"]


class MaskAAEObjective(WAEGANObjective):
    """:class:`~waelib.objectives.wae_gan.WAEGANObjective` plus the mask's two penalties."""

    name = "mask_aae"
    options = ("mask_weight", "mask_binary")

    def optimizers(self) -> Dict[str, OptimizerSpec]:
        mask_ids = {id(p) for p in self.model.mask.parameters()}
        ae = [p for p in self.autoencoder_groups() if id(p) not in mask_ids]
        groups = [{"params": ae},
                  {"params": list(self.model.mask.parameters()), "lr": config.MASK_LR, "own_lr": True}]
        return {"ae": OptimizerSpec(groups, "lr"),
                "disc": OptimizerSpec(list(self.model.discriminator.parameters()), "disc_lr")}

    def extra_terms(self, terms: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Adds ``mask_penalty`` (||mu||_1), ``mask_binarity`` and ``active_dims`` (m_A)."""
        w = self.option("mask_weight", config.MASK_SPARSITY_WEIGHT)
        wb = self.option("mask_binary", config.MASK_BINARY_WEIGHT)
        terms["mask_penalty"] = self.model.mask_penalty()
        terms["mask_binarity"] = self.model.mask_binarity()
        terms["loss"] = terms["loss"] + w * terms["mask_penalty"] + wb * terms["mask_binarity"]
        terms["active_dims"] = (self.model.mask().detach() > 0.5).sum().float()
        return terms
