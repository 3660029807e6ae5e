"""What every objective shares: :class:`Objective`, the contract between a model kind and the
trainer's loop.

An objective owns everything about *how* one kind of model learns, the way Lightning's
``LightningModule`` owns ``configure_optimizers`` and ``training_step`` and each of pythae's
model folders owns its loss:

- its default learning rates and Adam betas (the thesis' §4.3.1 / §4.3.2 values, or the
  related documents');
- the objective options that ``TrainConfig.loss_options`` may set;
- its optimisers: which parameters each one moves, and which ``TrainConfig`` learning-rate
  field drives it (:meth:`Objective.optimizers`);
- the modules the trainer may wrap (DDP, ``torch.compile``): :meth:`Objective.forward_module`
  and :meth:`Objective.adversary`;
- one training step, :meth:`Objective.training_step` (Algorithm 1 or 2 of the thesis, RAE,
  IntroVAE, MaskAAE, ...).

The trainer (:class:`waelib.train.Trainer`) knows no model: it builds the optimisers the
objective names, wraps the modules it hands over and calls ``training_step`` with itself as
the :class:`StepContext`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, ContextManager, Dict, List, Mapping, Optional, Protocol, Tuple

import torch
from torch import nn

from .. import losses

__all__ = ["Objective", "OptimizerSpec", "StepContext"]


@dataclass(frozen=True)
class OptimizerSpec:
    """One Adam optimiser an objective asks for.

    Attributes:
        params: parameters, or parameter-group dicts (a group may carry its own ``lr`` and
            ``own_lr=True``: then a resume with a new learning rate leaves it alone).
        lr_field: the :class:`~waelib.train.TrainConfig` field that sets its learning rate,
            ``"lr"`` or ``"disc_lr"``.
    """

    params: List[Any]
    lr_field: str = "lr"


class StepContext(Protocol):
    """What :meth:`Objective.training_step` may use of the trainer (``waelib.train.Trainer``)."""

    device: torch.device
    fwd: nn.Module                       # the (maybe DDP- / compile-wrapped) forward_module()
    disc_fwd: Optional[nn.Module]        # the (maybe DDP-wrapped) adversary(), or None
    optimizers: Dict[str, torch.optim.Optimizer]

    def autocast(self) -> ContextManager[Any]: ...

    def minimise(self, name: str, loss: torch.Tensor) -> None: ...


class Objective:
    """The training objective of one model kind (subclass it; one module per kind).

    Class attributes (the defaults a :class:`~waelib.train.TrainConfig` left at None takes):
        name: the objective's name (the registry's ``ModelSpec.objective`` points at the class).
        lr: Adam learning rate of the first optimiser.
        disc_lr: learning rate of the second optimiser (the adversary), or None without one.
        betas: Adam's (beta1, beta2).
        options: the names ``TrainConfig.loss_options`` may set (defaults live where they are
            used, in :mod:`waelib.config`).

    Args:
        model: the built model (:mod:`waelib.models`), already on its device.
        cfg: the run's :class:`~waelib.train.TrainConfig`.
    """

    name: ClassVar[str] = ""
    lr: ClassVar[float] = 0.0
    disc_lr: ClassVar[Optional[float]] = None
    betas: ClassVar[Tuple[float, float]] = (0.5, 0.999)
    options: ClassVar[Tuple[str, ...]] = ()

    def __init__(self, model: nn.Module, cfg: Any):
        self.model = model
        self.cfg = cfg

    # ---- defaults (used by TrainConfig.resolved / validate) ----------------------------
    @classmethod
    def default_lrs(cls) -> Tuple[float, Optional[float]]:
        """``(lr, disc_lr)``; disc_lr is None for an objective with one optimiser."""
        return cls.lr, cls.disc_lr

    @classmethod
    def check_options(cls, options: Mapping[str, Any], model_name: str) -> None:
        """Raise a ValueError naming every option this objective does not know."""
        bad = sorted(set(options or {}) - set(cls.options))
        if bad:
            raise ValueError(f"unknown loss option(s) {bad} for model {model_name!r}; valid: "
                             f"{', '.join(cls.options) or 'none'}")

    # ---- what the trainer builds -------------------------------------------------------
    def optimizers(self) -> Dict[str, OptimizerSpec]:
        """The optimisers by name (checkpoints store their states under these names).
        Default: one optimiser ``"model"`` over every parameter, at ``lr``."""
        return {"model": OptimizerSpec(list(self.model.parameters()), "lr")}

    def forward_module(self) -> nn.Module:
        """The module whose forward pass the trainer may wrap (DDP, torch.compile)."""
        return self.model

    def adversary(self) -> Optional[nn.Module]:
        """A second module the trainer wraps for DDP (the WAE-GAN's discriminator), or None."""
        return None

    def training_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One optimisation step on a float batch x (n, 3, S, S) in [0, 1]; returns the loss
        terms (scalars on the device, not synced with the host). ``loss`` is what was
        minimised."""
        raise NotImplementedError(f"{type(self).__name__} has no training_step")

    # ---- helpers for subclasses --------------------------------------------------------
    @staticmethod
    def minimise_together(ctx: StepContext, names: Tuple[str, ...], loss: torch.Tensor) -> None:
        """One backward pass of ``loss``, then a step of each optimiser in ``names`` (gradients
        cleared before and after): a VAE warm-up that moves an encoder and a decoder, each with
        its own optimiser, on one loss."""
        for name in names:
            ctx.optimizers[name].zero_grad(set_to_none=True)
        loss.backward()
        for name in names:
            ctx.optimizers[name].step()
        for name in names:
            ctx.optimizers[name].zero_grad(set_to_none=True)

    def option(self, key: str, default: float) -> float:
        """``cfg.loss_options[key]`` as a float, else ``default``."""
        return float((self.cfg.loss_options or {}).get(key, default))

    def lam_kwargs(self) -> Dict[str, float]:
        """``{"lam": cfg.lam}``, or {} when lambda is left to the loss function's default."""
        return {} if self.cfg.lam is None else {"lam": self.cfg.lam}

    def recon_scale(self) -> float:
        """The weight of c(x, x^) in the WAE objectives: ``cfg.recon_scale``, else
        :func:`waelib.losses.recon_scale_for` (image_size)."""
        return (self.cfg.recon_scale if self.cfg.recon_scale is not None
                else losses.recon_scale_for(self.cfg.image_size))
