"""STUB, being written: FlexAE (seed 004's proposal).

Exports the names the registry uses: :class:`FlexAEObjective`, :func:`build` and :data:`OVERRIDES`.
"""
from __future__ import annotations

from typing import Tuple

from ..models import wae_builder
from .rae import RAEObjective

__all__ = ["FlexAEObjective", "build", "OVERRIDES"]

#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2",)

#: The model's builder: (image_size, latent_dim, width, prior_sigma2, **overrides) -> model.
build = wae_builder("flexae", resnet=False, adversary=False)


class FlexAEObjective(RAEObjective):
    """STUB: trains as its base class until written."""

    name = "flexae"
