"""The plain deterministic auto-encoder (seed 004's "AE" row; Ghosh et al. 2020's baseline):

    loss = sum_pixels (x - x^)^2,

the RAE's step (:class:`~waelib.objectives.rae.RAEObjective`) with both regularisers off
(``z_weight = decoder_l2 = 0``), one Adam optimiser at the RAE's rate. It has no prior of its
own: it is sampled ex post, through a Gaussian mixture fitted to its training codes
(:mod:`waelib.expost`), which makes the "AE + GMM" row. The options may still switch a
regulariser on, which makes it an RAE.
"""
from __future__ import annotations

from typing import Tuple

from ..models import wae_builder
from .rae import RAEObjective

__all__ = ["AEObjective", "build", "OVERRIDES"]

#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2",)

#: The DCGAN networks of the thesis' WAE (§4.3.2), without a discriminator.
build = wae_builder("ae", resnet=False, adversary=False)


class AEObjective(RAEObjective):
    """The RAE's step with ``z_weight`` and ``decoder_l2`` defaulting to 0."""

    name = "ae"

    def option(self, key: str, default: float) -> float:
        """The RAE's options, with 0 in place of the RAE's defaults."""
        return super().option(key, 0.0 if key in ("z_weight", "decoder_l2") else default)
