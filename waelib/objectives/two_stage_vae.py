"""STUB, being written: 2-Stage VAE (Dai & Wipf 2019).

Exports the names the registry uses: :class:`TwoStageVAEObjective`, :func:`build` and :data:`OVERRIDES`.
"""
from __future__ import annotations

from typing import Tuple

from ..models import vae_builder
from .vae import VAEObjective

__all__ = ["TwoStageVAEObjective", "build", "OVERRIDES"]

#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2",)

#: The model's builder: (image_size, latent_dim, width, prior_sigma2, **overrides) -> model.
build = vae_builder("two_stage_vae", resnet=False)


class TwoStageVAEObjective(VAEObjective):
    """STUB: trains as its base class until written."""

    name = "two_stage_vae"
