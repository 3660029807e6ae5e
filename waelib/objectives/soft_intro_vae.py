"""STUB, being written: Soft-IntroVAE (Daniel & Tamar 2021).

Exports the names the registry uses: :class:`SoftIntroVAEObjective`, :func:`build` and :data:`OVERRIDES`.
"""
from __future__ import annotations

from typing import Tuple

from ..models import vae_builder
from .intro_vae import IntroVAEObjective

__all__ = ["SoftIntroVAEObjective", "build", "OVERRIDES"]

#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2",)

#: The model's builder: (image_size, latent_dim, width, prior_sigma2, **overrides) -> model.
build = vae_builder("soft_intro_vae", resnet=False)


class SoftIntroVAEObjective(IntroVAEObjective):
    """STUB: trains as its base class until written."""

    name = "soft_intro_vae"
