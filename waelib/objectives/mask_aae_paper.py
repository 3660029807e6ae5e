"""STUB, being written: MaskAAE with its paper's mask objective (Mondal et al. 2020).

Exports the names the registry uses: :class:`MaskAAEPaperObjective`, :func:`build` and :data:`OVERRIDES`.
"""
from __future__ import annotations

from typing import Tuple

from ..models import wae_builder
from .wae_gan import WAEGANObjective

__all__ = ["MaskAAEPaperObjective", "build", "OVERRIDES"]

#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2", "disc_hidden", "disc_layers")

#: The model's builder: (image_size, latent_dim, width, prior_sigma2, **overrides) -> model.
build = wae_builder("mask_aae_paper", resnet=False, adversary=True)


class MaskAAEPaperObjective(WAEGANObjective):
    """STUB: trains as its base class until written."""

    name = "mask_aae_paper"
