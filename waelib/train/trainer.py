"""The Trainer: model, optimisers and one training step of each of the five models, for one
process (thesis §4.3, Algorithm 2).

Objectives (all taken from :mod:`waelib.losses`, never re-implemented here):

- ``vae`` / ``vae_resnet`` (kind ``"vae"``): the negative ELBO, :func:`waelib.losses.vae_loss`;
  one Adam optimiser, lr 1e-3, beta1 0.5 (§4.3.1, "exponential decay rate = 0.5").
- ``wae_mmd``: recon + lambda * unbiased MMD (IMQ kernel), :func:`waelib.losses.wae_mmd_loss`;
  one Adam optimiser, lr 1e-3, beta1 0.5 (seeds 002/003).
- ``wae_gan`` / ``wae_resnet`` (kind ``"wae_gan"``): thesis Algorithm 2. Per batch, first ONE
  discriminator step on :func:`waelib.losses.discriminator_loss` (prior codes vs. detached data
  codes), then ONE auto-encoder step on :func:`waelib.losses.wae_gan_loss` (the updated
  discriminator scores the same codes). Two Adam optimisers: auto-encoder lr 3e-4, discriminator
  lr 1e-3, both beta1 0.5 (§4.3.2).

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

from .. import losses
from ..models import build_model
from .config import TrainConfig
from .fastpath import compile_options, compiler_available
from .runtime import dist_info

__all__ = ["Trainer"]


class _AutoEncoderCore(nn.Module):
    """Holds only the encoder and decoder of a WAE-GAN so that DDP syncs exactly the
    auto-encoder's gradients; ``forward`` is the model's own ``forward`` (dict x_hat, z)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.encoder = model.encoder
        self.decoder = model.decoder
        object.__setattr__(self, "_model", model)  # not registered: no discriminator params

    def forward(self, x):
        return self._model(x)


class Trainer:
    """Model, optimisers, data and one training step, for one process (rank).

    Usually driven by :func:`fit`; :mod:`waelib.bench` uses :meth:`train_step` directly.

    Args:
        cfg: a *resolved* :class:`TrainConfig` (see :meth:`TrainConfig.resolved`).
        model: an already built model (else built from ``cfg``).
    """

    def __init__(self, cfg: TrainConfig, model: Optional[nn.Module] = None):
        self.cfg = cfg
        self.device = torch.device(cfg.device)
        self.dist, self.rank, self.world_size = dist_info()
        if model is None:
            model = build_model(cfg.model, image_size=cfg.image_size, latent_dim=cfg.latent_dim,
                                width=cfg.width, **cfg.model_overrides)
        self.model = model.to(self.device)
        self.kind = model.kind
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = bool(cfg.cudnn_benchmark)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.amp_dtype = torch.bfloat16 if cfg.amp == "bf16" else None

        # --- optimisers: two for Algorithm 2, one otherwise -----------------------------
        if self.kind == "wae_gan":
            disc_ids = {id(p) for p in model.discriminator.parameters()}
            ae_params = [p for p in model.parameters() if id(p) not in disc_ids]
            self.optimizers = {"ae": self._adam(ae_params, cfg.lr),
                               "disc": self._adam(list(model.discriminator.parameters()), cfg.disc_lr)}
        else:
            self.optimizers = {"model": self._adam(list(model.parameters()), cfg.lr)}

        # --- forward modules (DDP / compile wrappers share the model's parameters) -------
        fwd: nn.Module = _AutoEncoderCore(model) if self.kind == "wae_gan" else model
        disc_fwd: Optional[nn.Module] = model.discriminator if self.kind == "wae_gan" else None
        if self.dist:
            from torch.nn.parallel import DistributedDataParallel as DDP
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

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def prepare_batch(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 (or float) (n, 3, S, S) on any device -> float32 in [0, 1] on the device."""
        x = batch.to(self.device, non_blocking=True)
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def train_step(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One optimisation step on a float batch x (n, 3, S, S) in [0, 1].

        Returns the (detached, on-device) loss terms; nothing here syncs with the host.
        WAE-GAN (Algorithm 2): one discriminator update, then one auto-encoder update.
        """
        n = x.shape[0]
        lam = {} if self.cfg.lam is None else {"lam": self.cfg.lam}
        scale = (self.cfg.recon_scale if self.cfg.recon_scale is not None
                 else losses.recon_scale_for(self.cfg.image_size))
        if self.kind == "vae":
            with self._autocast():
                out = self.fwd(x)
            terms = losses.vae_loss(x, out["x_hat"].float(), out["mu"].float(), out["logvar"].float())
            opt = self.optimizers["model"]
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
        elif self.kind == "wae_mmd":
            with self._autocast():
                out = self.fwd(x)
            z_p = self.model.sample_prior(n, device=self.device)
            terms = losses.wae_mmd_loss(x, out["x_hat"].float(), out["z"].float(), z_p,
                                        sigma2=self.model.prior_sigma2, recon_scale=scale, **lam)
            opt = self.optimizers["model"]
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
        elif self.kind == "wae_gan":
            opt_ae, opt_d = self.optimizers["ae"], self.optimizers["disc"]
            with self._autocast():
                out = self.fwd(x)                                   # z~ = Q(x), x^ = G(z~)
            z_q = out["z"]
            z_p = self.model.sample_prior(n, device=self.device)    # z ~ P_Z = N(0, 2 I)
            # (1) discriminator step: one forward over [z_p; z~.detach()] (one DDP pass).
            with self._autocast():
                logits = self.disc_fwd(torch.cat([z_p.to(z_q.dtype), z_q.detach()]))
            logits_p, logits_q = logits.float().split(n)
            d_loss = losses.discriminator_loss(logits_p, logits_q, **lam)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            # (2) auto-encoder step, scored by the updated discriminator. The plain module is
            # used (no DDP sync of the discriminator grads it leaves; they are cleared above).
            with self._autocast():
                logits_ae = self.model.discriminator(z_q)
            terms = losses.wae_gan_loss(x, out["x_hat"].float(), logits_ae.float(),
                                        recon_scale=scale, **lam)
            opt_ae.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt_ae.step()
            terms = dict(terms, disc_loss=d_loss)
        else:  # pragma: no cover
            raise ValueError(f"unknown model kind {self.kind!r}")
        return {k: v.detach() for k, v in terms.items()}

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
