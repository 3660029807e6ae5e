"""The Trainer: one process' model, optimisers and wrapped modules, and the step the
model's objective defines (thesis §4.3; :mod:`waelib.objectives`).

The trainer knows no model. It asks the registry (:mod:`waelib.registry`) for the model's
objective, builds the Adam optimisers the objective names (:meth:`Objective.optimizers`), wraps
the modules it hands over (:meth:`Objective.forward_module`, :meth:`Objective.adversary`) for
DDP and ``torch.compile``, and delegates each step to :meth:`Objective.training_step`, passing
itself as the step's context (``fwd``, ``disc_fwd``, ``optimizers``, :meth:`autocast`,
:meth:`minimise`).

Fast path on CUDA (defaults): bf16 autocast for the networks (losses in fp32), channels-last,
fused Adam, cuDNN autotuning; ``compile=True`` adds ``torch.compile``. On the CPU the fp32
settings (channels-last, fused Adam, ``torch.compile`` with inductor's C++ backend) left at None
follow the measured table of :mod:`waelib.train.fastpath`; bf16 autocast only when asked for.
``torch.compile`` wraps the forward module (the auto-encoder); the losses, the discriminator
and the optimiser steps stay eager (inductor options: :func:`waelib.train.fastpath.compile_options`).
Under DDP the forward modules are wrapped (the auto-encoder and the discriminator separately).
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Dict, Optional

import torch
import torch.distributed as dist
from torch import nn

from ..objectives.base import Objective
from ..registry import build_model, objective_for
from . import autotune
from .config import TrainConfig
from .fastpath import compile_options
from .runtime import compiler_available, dist_info

__all__ = ["Trainer"]


class Trainer:
    """Model, optimisers and one training step, for one process (rank).

    Usually driven by :func:`fit`; :mod:`waelib.studies.bench` uses :meth:`train_step` directly.

    Args:
        cfg: a *resolved* :class:`TrainConfig` (see :meth:`TrainConfig.resolved`).
        model: an already built model (else built from ``cfg``).

    Attributes:
        objective: the model's :class:`~waelib.objectives.base.Objective`.
        optimizers: name -> Adam optimiser, as the objective names them.
        lr_fields: name -> the ``TrainConfig`` field that sets that optimiser's learning rate.
    """

    def __init__(self, cfg: TrainConfig, model: Optional[nn.Module] = None):
        self.cfg = cfg
        self.device = torch.device(cfg.device)
        self.dist, self.rank, self.world_size = dist_info()
        if model is None:
            model = build_model(cfg.model, image_size=cfg.image_size, latent_dim=cfg.latent_dim,
                                width=cfg.width, **cfg.model_overrides)
        self.model = model.to(self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = bool(cfg.cudnn_benchmark)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.amp_dtype = torch.bfloat16 if cfg.amp == "bf16" else None
        self.objective: Objective = objective_for(cfg.model)(self.model, cfg)

        specs = self.objective.optimizers()
        self.optimizers = {name: self._adam(spec.params, getattr(cfg, spec.lr_field))
                           for name, spec in specs.items()}
        self.lr_fields = {name: spec.lr_field for name, spec in specs.items()}

        # --- forward modules (DDP / compile wrappers share the model's parameters) -------
        fwd: nn.Module = self.objective.forward_module()
        disc_fwd: Optional[nn.Module] = self.objective.adversary()
        if self.dist:
            from torch.nn.parallel import DistributedDataParallel as DDP  # noqa: N817 - deferred: only under DDP
            ids = [self.device.index] if self.device.type == "cuda" else None
            fwd = DDP(fwd, device_ids=ids)
            if disc_fwd is not None:
                disc_fwd = DDP(disc_fwd, device_ids=ids)
        self.compiled = False
        if cfg.compile:
            if self.device.type == "cpu" and not compiler_available():
                warnings.warn("compile=True needs a C++ compiler for inductor's CPU kernels and "
                              "none was found (c++, g++, clang++); running eagerly", stacklevel=2)
            else:
                fwd = torch.compile(fwd, options=compile_options(self.device))
                self.compiled = True
        self.fwd = fwd
        self.disc_fwd = disc_fwd

    def _adam(self, params, lr) -> torch.optim.Optimizer:
        kw = dict(lr=lr, betas=tuple(self.cfg.betas))
        if self.cfg.fused:
            try:
                return torch.optim.Adam(params, fused=True, **kw)
            except (RuntimeError, TypeError) as e:  # fused unsupported for this device/dtype
                warnings.warn(f"fused Adam unavailable ({e}); using the default Adam", stacklevel=2)
        return torch.optim.Adam(params, **kw)

    def autocast(self):
        """bf16 autocast when the run asked for it (``cfg.amp``), else a null context."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def minimise(self, name: str, loss: torch.Tensor) -> None:
        """One step of optimiser ``name`` on ``loss`` (gradients cleared first)."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def prepare_batch(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 (or float) (n, 3, S, S) on any device -> float32 in [0, 1] on the device."""
        x = batch.to(self.device, non_blocking=True)
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def train_step(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One optimisation step of the objective on a float batch x (n, 3, S, S) in [0, 1].

        Returns the (detached, on-device) loss terms; nothing here syncs with the host.
        """
        return {k: v.detach() for k, v in self.objective.training_step(self, x).items()}

    # ---- state ------------------------------------------------------------------------
    def params_finite(self) -> bool:
        ok = torch.ones((), dtype=torch.bool, device=self.device)
        for t in self.model.state_dict().values():
            if t.is_floating_point():
                ok &= torch.isfinite(t).all()
        return bool(ok.item())

    def sync_buffers(self) -> None:
        """Broadcast rank 0's buffers (BatchNorm running statistics): under DDP each rank's
        last forward updated them with its own shard."""
        if self.dist:
            for b in self.model.buffers():
                dist.broadcast(b.data, src=0)


def measurement_trainer(model: str, image_size: int, width: float, batch_size: int,
                        settings: Dict[str, bool]) -> Trainer:
    """A CPU trainer of ``model`` with the fast-path ``settings`` (channels_last, fused,
    compile), for :func:`waelib.train.autotune.measure` to time."""
    cfg = TrainConfig(model=model, image_size=image_size, width=width, batch_size=batch_size,
                      device="cpu", steps=1, progress=False, amp=None, **settings
                      ).resolved(torch.device("cpu"))
    return Trainer(cfg)


autotune.register_trainer_factory(measurement_trainer)
