"""STUB, being written: VAE + inverse autoregressive flow (Kingma et al. 2016).

Exports the names the registry uses: :class:`VAEFlowObjective`, :func:`build` and :data:`OVERRIDES`.
"""
from __future__ import annotations

from typing import Tuple

from ..models import vae_builder
from .vae import VAEObjective

__all__ = ["VAEFlowObjective", "build", "OVERRIDES"]

#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2",)

#: The model's builder: (image_size, latent_dim, width, prior_sigma2, **overrides) -> model.
build = vae_builder("vae_flow", resnet=False)


class VAEFlowObjective(VAEObjective):
    """STUB: trains as its base class until written."""

    name = "vae_flow"
