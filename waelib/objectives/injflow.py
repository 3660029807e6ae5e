"""STUB, being written: InjFlow (Kumar, Poole & Murphy 2020).

Exports the names the registry uses: :class:`InjFlowObjective`, :func:`build` and :data:`OVERRIDES`.
"""
from __future__ import annotations

from typing import Tuple

from ..models import wae_builder
from .rae import RAEObjective

__all__ = ["InjFlowObjective", "build", "OVERRIDES"]

#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2",)

#: The model's builder: (image_size, latent_dim, width, prior_sigma2, **overrides) -> model.
build = wae_builder("injflow", resnet=False, adversary=False)


class InjFlowObjective(RAEObjective):
    """STUB: trains as its base class until written."""

    name = "injflow"
