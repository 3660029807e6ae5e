"""One resumable, guarded training loop for the five models (thesis §4.3, Algorithm 2).

Notebooks call :func:`fit`; the shell runs the same code::

    python -m waelib.train --model wae_resnet --dataset synthfaces --image-size 64 --epochs 5
    torchrun --nproc_per_node 4 -m waelib.train --model wae_resnet --dataset celeba --epochs 100

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

A run folder (``config.out``) holds:

- ``config.json``   -- the resolved :class:`TrainConfig` plus :func:`waelib.utils.run_metadata`
  (hardware, library versions, git commit, date) and the world size;
- ``log.jsonl``     -- one JSON row per training step: every loss term, images/s, epoch;
- ``checkpoint.pt`` -- written atomically: ``model`` (the model's ``state_dict``), ``optimizers``,
  ``step``, ``epoch``, ``data_order`` (seed, epoch, position: the per-epoch permutation is a pure
  function of (seed, epoch)), ``rng`` (torch CPU/CUDA, numpy and Python states, per rank),
  ``config`` and ``finished``;
- ``samples_step{N:06d}.png`` -- grids of decoded prior samples (fixed codes) every
  ``sample_every`` steps and at the end.

Data path: the whole training set is materialised once as a uint8 tensor (N, 3, S, S) (on the
GPU when ``data_on_device``; 128 px CelebA is 8 GB), batches are gathered with the epoch's
permutation and converted to float in [0, 1] on the device. No DataLoader, no worker stalls, and
the order is exactly reproducible on resume.

Fast path on CUDA (defaults): bf16 autocast for the networks (losses in fp32), channels-last,
fused Adam, cuDNN autotuning, GPU-resident data; ``compile=True`` adds ``torch.compile``. On the
CPU these are skipped (amp off, NCHW, plain Adam, no compile) unless asked for explicitly.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import random
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from . import config as C
from . import losses
from .data import to_uint8_tensor
from .models import build_model, check_model_name
from .utils import (atomic_torch_save, atomic_write_json, resolve_device, run_metadata,
                    seed_everything)

__all__ = ["TrainConfig", "FitResult", "Trainer", "NonFiniteLossError", "fit", "load_run",
           "read_log", "default_lrs", "epoch_permutation", "main"]

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.json"
LOG_NAME = "log.jsonl"


class NonFiniteLossError(RuntimeError):
    """A loss term (or a parameter) became NaN or inf; the last good checkpoint is kept."""


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------
def default_lrs(model_name: str) -> Tuple[float, Optional[float]]:
    """Thesis learning rates ``(lr, disc_lr)`` for a model (disc_lr is None without a GAN)."""
    kind = check_model_name(model_name).kind
    if kind == "vae":
        return C.VAE_LR, None
    if kind == "wae_mmd":
        return C.WAE_MMD_LR, None
    return C.WAE_AE_LR, C.WAE_DISC_LR


def _default_beta1(model_name: str) -> float:
    return C.VAE_BETA1 if check_model_name(model_name).kind == "vae" else C.WAE_BETA1


@dataclass
class TrainConfig:
    """Everything a training run needs. ``None`` means "the thesis / device default".

    Model and data:
        model: one of :data:`waelib.config.MODEL_NAMES`.
        dataset: data set name for :func:`waelib.data.load_dataset` (used when ``fit`` gets a
            name or ``None``), or a ``.pt`` file holding a (N, 3, S, S) tensor. ``n``: synthfaces'
            size option, else the first n images. ``split``: None = ``thesis_train`` for CelebA
            (the thesis' random 80/20 split), load_dataset's default otherwise.
            ``data_root`` and ``dataset_options`` are passed through.
        image_size: side S of the (3, S, S) images (thesis: 128); the data must match.
        width: channel multiplier of :func:`waelib.models.build_model` (1.0 = thesis).
        latent_dim: None = thesis (512 VAE, 64 WAE). ``model_overrides``: extra build_model kwargs.
    Schedule:
        epochs / steps: give at most one; neither = ``config.EPOCHS`` (100) epochs. ``steps`` is
            the total number of optimisation steps (a WAE-GAN step = 1 disc + 1 AE update).
        batch_size: global batch (split evenly over DDP ranks); the last partial batch of an
            epoch is dropped.
    Optimisation (None = thesis value for the model, from :mod:`waelib.config`):
        lr: Adam lr of the model (VAE, WAE-MMD) or of the auto-encoder (WAE-GAN);
        disc_lr: discriminator lr (WAE-GAN only); betas: Adam betas, default (0.5, 0.999);
        lam: penalty weight lambda (None = the loss function's default).
    Run:
        seed, device ("auto" = CUDA if available), out (run folder; None = runs/<auto name>),
        resume (continue from ``out/checkpoint.pt`` when it exists).
    Fast path (None = on for CUDA, off for CPU):
        amp ("bf16" or None; "auto" = bf16 on CUDA), channels_last, compile (torch.compile, CUDA
        only), fused (fused Adam), data_on_device (uint8 data set resident on the GPU),
        cudnn_benchmark.
    Output:
        log_every (steps between host syncs: log flush, NaN check, progress bar),
        sample_every, n_samples (grid of decoded prior samples), checkpoint_every (steps) and
        checkpoint_minutes (wall clock, checked at log syncs; None = off): a checkpoint is
        written when either is due, at the end and on SIGINT/SIGTERM; progress (tqdm bar),
    """

    model: str = "wae_resnet"
    dataset: str = "synthfaces"
    image_size: int = C.IMAGE_SIZE
    width: float = 1.0
    latent_dim: Optional[int] = None
    model_overrides: Dict[str, Any] = field(default_factory=dict)
    n: Optional[int] = None
    data_root: str = "data"
    split: Optional[str] = None
    dataset_options: Dict[str, Any] = field(default_factory=dict)
    epochs: Optional[int] = None
    steps: Optional[int] = None
    batch_size: int = C.BATCH_SIZE
    lr: Optional[float] = None
    disc_lr: Optional[float] = None
    betas: Optional[Tuple[float, float]] = None
    lam: Optional[float] = None
    seed: int = 0
    device: str = "auto"
    out: Optional[str] = None
    resume: bool = False
    amp: Optional[str] = "auto"
    channels_last: Optional[bool] = None
    compile: bool = False
    fused: Optional[bool] = None
    data_on_device: Optional[bool] = None
    cudnn_benchmark: Optional[bool] = None
    log_every: int = 10
    sample_every: int = 1000
    n_samples: int = 64
    checkpoint_every: int = 5000
    checkpoint_minutes: Optional[float] = 15.0
    progress: bool = True

    # ---- construction -----------------------------------------------------------------
    @classmethod
    def field_names(cls) -> List[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
        """Build from a dict; unknown keys raise a ValueError that lists the valid ones."""
        unknown = sorted(set(d) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"unknown TrainConfig key(s) {unknown}; valid keys: "
                             f"{', '.join(cls.field_names())}")
        d = dict(d)
        if d.get("betas") is not None:
            d["betas"] = tuple(float(b) for b in d["betas"])
        return cls(**d)

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["betas"] is not None:
            d["betas"] = list(d["betas"])
        return d

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes`` applied (unknown keys raise like :meth:`from_dict`)."""
        d = self.to_dict()
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ValueError(f"unknown TrainConfig key(s) {unknown}; valid keys: "
                             f"{', '.join(self.field_names())}")
        d.update(changes)
        return TrainConfig.from_dict(d)

    def validate(self) -> None:
        check_model_name(self.model)
        if self.epochs is not None and self.steps is not None:
            raise ValueError("give either epochs or steps, not both")
        for name in ("epochs", "steps"):
            v = getattr(self, name)
            if v is not None and (int(v) != v or v < 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if self.amp not in (None, "auto", "bf16", "none"):
            raise ValueError(f"amp must be 'bf16', 'auto' or None, got {self.amp!r}")
        for name in ("log_every", "sample_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")

    def resolved(self, device: torch.device) -> "TrainConfig":
        """Fill every ``None``/"auto" with the thesis value or the device default."""
        self.validate()
        cuda = device.type == "cuda"
        lr, disc_lr = default_lrs(self.model)
        amp = self.amp
        if amp == "auto":
            amp = "bf16" if (cuda and torch.cuda.is_bf16_supported()) else None
        if amp == "none":
            amp = None
        return self.replace(
            lr=float(self.lr if self.lr is not None else lr),
            disc_lr=(None if disc_lr is None else
                     float(self.disc_lr if self.disc_lr is not None else disc_lr)),
            betas=tuple(self.betas) if self.betas is not None else (_default_beta1(self.model), 0.999),
            epochs=(self.epochs if (self.epochs is not None or self.steps is not None) else C.EPOCHS),
            device=str(device), amp=amp,
            channels_last=cuda if self.channels_last is None else bool(self.channels_last),
            fused=cuda if self.fused is None else bool(self.fused),
            data_on_device=cuda if self.data_on_device is None else bool(self.data_on_device),
            cudnn_benchmark=cuda if self.cudnn_benchmark is None else bool(self.cudnn_benchmark),
            compile=bool(self.compile),
        )

    def default_out(self) -> str:
        return str(Path("runs") / f"{self.model}_{self.dataset}_{self.image_size}px_w{self.width:g}_seed{self.seed}")


# Fields that must agree between a checkpoint and a resuming run.
_RESUME_KEYS = ("model", "image_size", "width", "latent_dim", "model_overrides", "batch_size",
                "seed", "dataset", "n", "split")


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model (unwrapped: no DDP / compile wrapper), in eval mode.
        history: the per-step log rows of the whole run (read back from ``log.jsonl``).
        out_dir: the run folder; checkpoint: path of ``checkpoint.pt``.
        step, epoch: steps done in total (including before a resume) and the current epoch.
        interrupted: True when SIGINT/SIGTERM (or a callback) stopped the run early.
        config: the resolved configuration.
    """

    model: nn.Module
    history: List[Dict[str, Any]]
    out_dir: Path
    checkpoint: Path
    step: int
    epoch: int
    interrupted: bool
    config: TrainConfig
    replica_checksums: Optional[List[str]] = None


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------
def epoch_permutation(n_items: int, seed: int, epoch: int) -> torch.Tensor:
    """The data order of one epoch: a permutation of ``range(n_items)`` that depends only on
    (seed, epoch), so a resumed run sees exactly the same batches. Returns int64 (n_items,)."""
    state = np.random.SeedSequence([int(seed) % 2**63, int(epoch)]).generate_state(2, dtype=np.uint32)
    g = torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)
    return torch.randperm(n_items, generator=g)


def _first_image(dataset) -> torch.Tensor:
    item = dataset[0]
    if isinstance(item, (tuple, list)):
        item = item[0]
    return torch.as_tensor(item)


def check_image_shape(shape: Sequence[int], image_size: int, model_name: str,
                      dataset_desc: str = "the data set") -> None:
    """Refuse data whose images are not (3, image_size, image_size), naming the fix."""
    shape = tuple(int(s) for s in shape)
    expected = (C.IMAGE_CHANNELS, image_size, image_size)
    if shape == expected:
        return
    if len(shape) != 3:
        raise ValueError(f"{dataset_desc} has images of shape {shape}, but model {model_name!r} "
                         f"expects (channels, height, width) = {expected}.")
    if shape[0] != C.IMAGE_CHANNELS:
        raise ValueError(
            f"{dataset_desc} has {shape[0]}-channel images of shape {shape}, but model "
            f"{model_name!r} expects {C.IMAGE_CHANNELS}-channel RGB images {expected}. Convert the "
            f"images to RGB (e.g. repeat a grey channel 3 times) or choose an RGB data set.")
    raise ValueError(
        f"{dataset_desc} has images of shape {shape}, but model {model_name!r} was configured "
        f"for {expected}. Either pass image_size={shape[1]} (--image-size {shape[1]}) so the model "
        f"matches the data, or load the data set at image_size={image_size}.")


def _materialise(dataset, device: Optional[torch.device] = None,
                 progress: bool = False) -> torch.Tensor:
    """The whole data set as one (N, 3, S, S) tensor: uint8 via :func:`waelib.data.to_uint8_tensor`
    (a float tensor given directly is kept as float so that, e.g., NaN pixels survive)."""
    if isinstance(dataset, torch.Tensor):
        return dataset
    for attr in ("images", "tensors", "data"):  # TensorImageDataset / TensorDataset-like
        t = getattr(dataset, attr, None)
        if isinstance(t, (tuple, list)) and t and isinstance(t[0], torch.Tensor):
            t = t[0]
        if isinstance(t, torch.Tensor) and t.dim() == 4 and len(t) == len(dataset):
            return t
    # synthfaces renders straight onto the GPU when ``device`` is CUDA
    return to_uint8_tensor(dataset, progress=progress, device=device)


def _load_named_dataset(cfg: TrainConfig):
    """``cfg.dataset`` through :func:`waelib.data.load_dataset`, or a ``.pt`` file holding a
    (N, 3, S, S) image tensor (uint8, or float in [0, 1])."""
    if cfg.dataset.endswith(".pt"):
        path = Path(cfg.dataset)
        if not path.exists():
            raise FileNotFoundError(f"data set file {path} does not exist")
        t = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{path} must hold one (N, 3, S, S) image tensor, got {type(t).__name__}")
        return t[: cfg.n] if cfg.n is not None else t
    from . import data as _data
    opts = dict(cfg.dataset_options)
    split = cfg.split
    if split is None and cfg.dataset in _data.DATASETS:
        split = _data.thesis_splits(cfg.dataset)[0]   # the thesis' random 80/20 split (§4.2)
    if split is not None:
        opts["split"] = split
    if cfg.n is None:
        return _data.load_dataset(cfg.dataset, root=cfg.data_root, image_size=cfg.image_size, **opts)
    try:   # synthfaces: n = size of the generated set (before its train/test split)
        return _data.load_dataset(cfg.dataset, root=cfg.data_root, image_size=cfg.image_size,
                                  n=cfg.n, **opts)
    except TypeError:   # other sets: the first n images
        ds = _data.load_dataset(cfg.dataset, root=cfg.data_root, image_size=cfg.image_size, **opts)
        return torch.utils.data.Subset(ds, range(min(cfg.n, len(ds))))


def dataset_names() -> Optional[Tuple[str, ...]]:
    """Names accepted by ``waelib.data.load_dataset`` (None when the module does not say)."""
    try:
        from . import data as _data
    except ImportError:  # pragma: no cover
        return None
    for attr in ("DATASET_NAMES", "DATASETS"):
        names = getattr(_data, attr, None)
        if names:
            return tuple(names)
    return None


# --------------------------------------------------------------------------------------
# Distributed helpers
# --------------------------------------------------------------------------------------
def _dist_info() -> Tuple[bool, int, int]:
    on = dist.is_available() and dist.is_initialized()
    return on, (dist.get_rank() if on else 0), (dist.get_world_size() if on else 1)


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


def _rng_state() -> Dict[str, Any]:
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(state["cuda"])
        except Exception:  # different GPU count
            warnings.warn("could not restore the CUDA RNG state (different GPUs?)")
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def state_checksum(module: nn.Module) -> str:
    """SHA-256 over the bytes of every parameter and buffer of ``module`` (state_dict order)."""
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                 if v.numel() else b"")
    return h.hexdigest()


class _StopFlag:
    """SIGINT/SIGTERM handler: the first signal asks the loop to checkpoint and stop after the
    current step; a second SIGINT raises KeyboardInterrupt as usual."""

    def __init__(self):
        self.requested = False
        self.signal_name: Optional[str] = None
        self._previous: Dict[int, Any] = {}

    def _handler(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                try:
                    self._previous[s] = signal.signal(s, self._handler)
                except (ValueError, OSError):  # pragma: no cover
                    pass
        return self

    def __exit__(self, *exc):
        for s, h in self._previous.items():
            signal.signal(s, h)
        return False


# --------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------
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
        self.dist, self.rank, self.world_size = _dist_info()
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
        if cfg.compile:
            if self.device.type == "cuda":
                fwd = torch.compile(fwd)
            else:
                warnings.warn("compile=True is only used on CUDA; running eagerly on the CPU")
        self.fwd = fwd
        self.disc_fwd = disc_fwd

    def _adam(self, params, lr) -> torch.optim.Optimizer:
        kw = dict(lr=lr, betas=tuple(self.cfg.betas))
        if self.cfg.fused:
            try:
                return torch.optim.Adam(params, fused=True, **kw)
            except (RuntimeError, TypeError) as e:  # fused unsupported for this device/dtype
                warnings.warn(f"fused Adam unavailable ({e}); using the default Adam")
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
                                        sigma2=self.model.prior_sigma2, **lam)
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
            terms = losses.wae_gan_loss(x, out["x_hat"].float(), logits_ae.float(), **lam)
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


# --------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------
def _log(msg: str, rank: int = 0) -> None:
    if rank == 0:
        print(f"[waelib.train] {msg}", file=sys.stderr, flush=True)


def read_log(out_dir: Union[str, os.PathLike], max_step: Optional[int] = None) -> List[Dict[str, Any]]:
    """The per-step rows of ``out_dir/log.jsonl`` (rows after ``max_step`` dropped)."""
    path = Path(out_dir) / LOG_NAME
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a hard kill
                continue
            if max_step is None or row.get("step", 0) <= max_step:
                rows.append(row)
    return rows


def fit(model_name: Optional[str] = None, dataset: Any = None,
        config: Union[TrainConfig, Dict[str, Any], None] = None, *,
        callback: Optional[Callable[[Dict[str, Any]], Optional[bool]]] = None,
        **overrides) -> FitResult:
    """Train one model; resumable, NaN-guarded, DDP-ready. The notebook entry point.

    Args:
        model_name: one of ``vae``, ``vae_resnet``, ``wae_gan``, ``wae_mmd``, ``wae_resnet``
            (None: ``config.model``).
        dataset: a data set whose items are ``(image (3, S, S) float in [0, 1], target)`` (or bare
            images), a tensor (N, 3, S, S) (uint8, or float in [0, 1]), a name for
            :func:`waelib.data.load_dataset`, or None (``config.dataset``).
        config: a :class:`TrainConfig` or a dict of its fields (unknown keys are refused).
        callback: called after every step with ``{"step", "epoch", "terms", "trainer"}``
            (``terms`` are on-device tensors); returning True stops the run like SIGINT does.
        **overrides: TrainConfig fields, e.g. ``fit("wae_resnet", ds, steps=200, image_size=32)``.

    Returns:
        :class:`FitResult`.

    Raises:
        ValueError: unknown names/keys, or images that do not match the model (checked before
            any training).
        NonFiniteLossError: a loss term became NaN/inf; the message names the step and term and
            where the last good checkpoint is.
    """
    if isinstance(config, dict):
        cfg = TrainConfig.from_dict(config)
    else:
        cfg = config or TrainConfig()
    changes = dict(overrides)
    if model_name is not None:
        changes["model"] = model_name
    if isinstance(dataset, str):
        changes["dataset"] = dataset
    if changes:
        cfg = cfg.replace(**changes)
    cfg.validate()

    is_dist, rank, world = _dist_info()
    device = _resolve_run_device(cfg.device, is_dist)
    cfg = cfg.resolved(device)
    out_dir = Path(cfg.out or cfg.default_out())
    cfg = cfg.replace(out=str(out_dir))
    if cfg.batch_size % world:
        raise ValueError(f"batch_size={cfg.batch_size} is not divisible by the world size {world}")

    # ---- data: shape check first (before materialising or building anything big) -----
    if dataset is None or isinstance(dataset, str):
        dataset = _load_named_dataset(cfg)
        desc = f"data set {cfg.dataset!r}"
    else:
        desc = f"the given data set ({type(dataset).__name__})"
    first_shape = dataset.shape[1:] if isinstance(dataset, torch.Tensor) else _first_image(dataset).shape
    check_image_shape(first_shape, cfg.image_size, cfg.model, desc)
    data = _materialise(dataset, device if cfg.data_on_device else None,
                        progress=cfg.progress and rank == 0)
    check_image_shape(data.shape[1:], cfg.image_size, cfg.model, desc)
    n_items = len(data)
    steps_per_epoch = n_items // cfg.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"the data set has {n_items} images, fewer than one batch "
                         f"(batch_size={cfg.batch_size}); lower batch_size or use more data")
    total_steps = cfg.steps if cfg.steps is not None else cfg.epochs * steps_per_epoch
    if cfg.data_on_device:
        data = data.to(device)

    # ---- resume? ----------------------------------------------------------------------
    ckpt_path = out_dir / CHECKPOINT_NAME
    ckpt = None
    if cfg.resume:
        if ckpt_path.exists():
            ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
            old = ckpt.get("config", {})
            bad = {k: (old.get(k), cfg.to_dict()[k]) for k in _RESUME_KEYS
                   if k in old and old.get(k) != cfg.to_dict()[k]}
            old_n = ckpt.get("data_order", {}).get("n_items", n_items)
            if old_n != n_items:
                bad["n_train_images"] = (old_n, n_items)
            if bad:
                raise ValueError(f"cannot resume {ckpt_path}: settings differ from the checkpoint "
                                 f"(checkpoint, now): {bad}")
        else:
            _log(f"resume requested but {ckpt_path} does not exist; starting a new run", rank)

    # ---- build ----------------------------------------------------------------------
    seed_everything(cfg.seed)
    trainer = Trainer(cfg)
    model = trainer.model
    # Training noise (reparameterisation, prior draws): distinct per rank, reproducible.
    torch.manual_seed(cfg.seed + 1_000_003 * rank)
    step = 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        for k, opt in trainer.optimizers.items():
            opt.load_state_dict(ckpt["optimizers"][k])
        step = int(ckpt["step"])
        rng = ckpt.get("rng", {}).get("ranks", [])
        if ckpt.get("world_size", 1) == world and rank < len(rng):
            _set_rng_state(rng[rank])
        else:
            _log("world size changed since the checkpoint; re-seeding the training noise", rank)
            torch.manual_seed(cfg.seed + 1_000_003 * rank + step)
        _log(f"resumed from {ckpt_path} at step {step}", rank)
    if model.image_size != cfg.image_size:  # pragma: no cover - build_model guarantees it
        check_image_shape(data.shape[1:], model.image_size, cfg.model, desc)

    # ---- run folder ------------------------------------------------------------------
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        meta = {"config": cfg.to_dict(), "metadata": run_metadata(device), "world_size": world,
                "data_source": desc, "n_train_images": n_items, "steps_per_epoch": steps_per_epoch,
                "total_steps": total_steps, "model_label": C.THESIS_MODEL_LABELS.get(cfg.model),
                "n_parameters": sum(p.numel() for p in model.parameters())}
        cfg_path = out_dir / CONFIG_NAME
        if ckpt is not None and cfg_path.exists():
            prev = json.loads(cfg_path.read_text())
            meta["resumes"] = prev.get("resumes", []) + [
                {"step": step, "date_utc": meta["metadata"]["date_utc"],
                 "metadata": meta["metadata"]}]
            meta["metadata"] = prev.get("metadata", meta["metadata"])
        atomic_write_json(cfg_path, meta)
        # keep the log consistent with the checkpoint (drop rows a hard kill left after it)
        rows = read_log(out_dir, max_step=step) if ckpt is not None else []
        log_text = "".join(json.dumps(r) + "\n" for r in rows)
        (out_dir / LOG_NAME).write_text(log_text)

    sample_z = model.sample_prior(cfg.n_samples, generator=torch.Generator().manual_seed(cfg.seed),
                                  device=device)
    last_good: Dict[str, Any] = {"step": step if ckpt is not None else None}
    last_ckpt_time = [time.monotonic()]

    def save_checkpoint(finished: bool) -> None:
        if not trainer.params_finite():
            raise NonFiniteLossError(
                f"the parameters contain NaN/inf at step {step}; not overwriting the last good "
                f"checkpoint {_ckpt_desc(ckpt_path, last_good['step'])}. Lower the learning rate "
                f"(lr=...) and resume.")
        trainer.sync_buffers()
        states = [_rng_state()]
        if is_dist:
            gathered: List[Any] = [None] * world
            dist.all_gather_object(gathered, states[0])
            states = gathered
        if rank == 0:
            epoch, pos = divmod(step, steps_per_epoch)
            atomic_torch_save({
                "model": model.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in trainer.optimizers.items()},
                "step": step, "epoch": epoch,
                "data_order": {"seed": cfg.seed, "epoch": epoch, "position": pos,
                               "n_items": n_items, "batch_size": cfg.batch_size,
                               "steps_per_epoch": steps_per_epoch,
                               "permutation": "waelib.train.epoch_permutation(n_items, seed, epoch)"},
                "rng": {"ranks": states}, "world_size": world,
                "config": cfg.to_dict(), "finished": finished,
                "model_name": cfg.model, "kind": model.kind,
            }, ckpt_path)
        last_good["step"] = step
        last_ckpt_time[0] = time.monotonic()

    def save_samples() -> None:
        if rank != 0:
            return
        from torchvision.utils import make_grid, save_image
        was_training = model.training
        model.eval()
        with torch.no_grad(), trainer._autocast():
            imgs = model.decode(sample_z).float().clamp(0, 1).cpu()
        model.train(was_training)
        nrow = max(1, int(math.sqrt(cfg.n_samples)))
        save_image(make_grid(imgs, nrow=nrow, padding=2), out_dir / f"samples_step{step:06d}.png")

    # ---- the loop ----------------------------------------------------------------------
    from tqdm.auto import tqdm
    bar = tqdm(total=total_steps, initial=step, disable=(rank != 0 or not cfg.progress),
               desc=f"{cfg.model}", dynamic_ncols=True, leave=True)
    b_local = cfg.batch_size // world
    pending: List[Tuple[int, int, Dict[str, torch.Tensor]]] = []
    term_names: List[str] = []
    window_t0 = time.perf_counter()
    window_images = 0
    interrupted = False
    perm_epoch, perm = -1, None
    model.train()

    def flush(stop_local: bool) -> Tuple[bool, bool]:
        """Host sync: log the pending steps (averaged over ranks), check them for NaN/inf,
        agree on stopping and on a time-based checkpoint (rank 0's clock).
        Returns (some rank asked to stop, a checkpoint is due by time)."""
        nonlocal pending, window_t0, window_images
        if pending:
            vals = torch.stack([torch.stack([t[k].float() for k in term_names]) for _, _, t in pending])
        else:
            vals = torch.zeros(0, len(term_names), device=device)
        due = (rank == 0 and cfg.checkpoint_minutes is not None
               and time.monotonic() - last_ckpt_time[0] > 60.0 * cfg.checkpoint_minutes)
        stop = torch.tensor([float(stop_local), float(due)], device=device)
        if is_dist:
            flat = torch.cat([vals.flatten(), stop])
            dist.all_reduce(flat)
            vals = (flat[:-2] / world).view_as(vals)
            stop = flat[-2:]
        vals = vals.cpu()
        dt = time.perf_counter() - window_t0
        ips = window_images / dt if dt > 0 else float("nan")
        finite = torch.isfinite(vals)
        if not bool(finite.all()):
            i = int((~finite).any(dim=1).nonzero()[0])
            bad = [k for k, ok in zip(term_names, finite[i].tolist()) if not ok]
            name = next((k for k in bad if k != "loss"), bad[0])  # name the cause, not the sum
            value = vals[i, term_names.index(name)].item()
            bad_step, bad_epoch, _ = pending[i]
            bar.close()
            raise NonFiniteLossError(
                f"loss term {name!r} became {value} at step {bad_step} (epoch {bad_epoch}) of "
                f"{cfg.model} (non-finite terms: {', '.join(bad)}). The last good checkpoint is kept at "
                f"{_ckpt_desc(ckpt_path, last_good['step'])}. To continue, resume from it with a "
                f"lower learning rate (e.g. fit(..., resume=True, lr={cfg.lr / 10:g}) or "
                f"--resume --lr {cfg.lr / 10:g}), and check the data for NaN/inf pixels.")
        if rank == 0 and pending:
            now = time.time()
            lines = []
            for (s, e, _), row in zip(pending, vals.tolist()):
                rec = {"step": s, "epoch": e, **dict(zip(term_names, row)),
                       "images_per_second": ips, "time": now}
                lines.append(json.dumps(rec) + "\n")
            with open(out_dir / LOG_NAME, "a") as fh:
                fh.writelines(lines)
            last = dict(zip(term_names, vals[-1].tolist()))
            post = {"ep": pending[-1][1], "img/s": f"{ips:.0f}"}
            post.update({k: f"{v:.4g}" for k, v in last.items() if k in ("loss", "recon", "kl", "penalty", "disc_loss")})
            bar.set_postfix(post, refresh=False)
            bar.update(len(pending))
        pending = []
        window_t0, window_images = time.perf_counter(), 0
        stop = stop.cpu()
        return bool(stop[0] > 0), bool(stop[1] > 0)

    with _StopFlag() as stop_flag:
        try:
            while step < total_steps:
                epoch, pos = divmod(step, steps_per_epoch)
                if epoch != perm_epoch:
                    perm = epoch_permutation(n_items, cfg.seed, epoch).to(data.device)
                    perm_epoch = epoch
                lo = pos * cfg.batch_size + rank * b_local
                x = trainer.prepare_batch(data[perm[lo:lo + b_local]])
                terms = trainer.train_step(x)
                if not term_names:
                    term_names = list(terms)
                step += 1
                window_images += cfg.batch_size
                pending.append((step, epoch, terms))
                by_callback = bool(callback is not None and callback(
                    {"step": step, "epoch": epoch, "terms": terms, "trainer": trainer}))
                want_stop = by_callback or stop_flag.requested
                sync = (step % cfg.log_every == 0 or step == total_steps
                        or step % cfg.checkpoint_every == 0 or step % cfg.sample_every == 0
                        or (want_stop and not is_dist))
                if not sync:
                    continue
                stop_now, ckpt_due = flush(want_stop)
                if stop_now:
                    interrupted = True
                    why = stop_flag.signal_name or ("callback" if by_callback else "another rank")
                    _log(f"stop requested ({why}); saving a checkpoint at step {step}", rank)
                    save_checkpoint(finished=False)
                    break
                if step % cfg.sample_every == 0:
                    save_samples()
                if (step % cfg.checkpoint_every == 0 or ckpt_due) and step < total_steps:
                    save_checkpoint(finished=False)
            else:
                if pending:
                    flush(False)
                already_done = (ckpt is not None and ckpt.get("finished")
                                and step == int(ckpt["step"]))
                if not already_done:
                    if step % cfg.sample_every:
                        save_samples()
                    save_checkpoint(finished=True)
        finally:
            bar.close()

    checksums = None
    if is_dist:
        mine = state_checksum(model)
        checksums = [None] * world
        dist.all_gather_object(checksums, mine)
        if rank == 0:
            atomic_write_json(out_dir / "replicas.json", {"step": step, "sha256": checksums})
    model.eval()
    history = read_log(out_dir) if rank == 0 else []
    return FitResult(model=model, history=history, out_dir=out_dir, checkpoint=ckpt_path,
                     step=step, epoch=step // steps_per_epoch, interrupted=interrupted,
                     config=cfg, replica_checksums=checksums)


def _ckpt_desc(path: Path, step: Optional[int]) -> str:
    if step is None:
        return f"{path} (none written yet in this run: no good checkpoint exists)"
    return f"{path} (step {step})"


def _resolve_run_device(device: str, is_dist: bool) -> torch.device:
    if is_dist and device in (None, "auto", "cuda") and torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank() % torch.cuda.device_count()))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is not None:
        torch.cuda.set_device(dev)
    return dev


# --------------------------------------------------------------------------------------
# Loading a saved run
# --------------------------------------------------------------------------------------
def load_run(out_dir: Union[str, os.PathLike], *, device: str = "cpu",
             checkpoint: str = CHECKPOINT_NAME) -> nn.Module:
    """Rebuild a trained model from a run folder (``config.json`` + ``checkpoint.pt``).

    Returns the model in eval mode on ``device``; ``model.run_config`` holds the TrainConfig
    and ``model.run_step`` the number of steps it was trained for.
    """
    out_dir = Path(out_dir)
    cfg_path, ckpt_path = out_dir / CONFIG_NAME, out_dir / checkpoint
    if not ckpt_path.exists():
        raise FileNotFoundError(f"no checkpoint at {ckpt_path}; train first with "
                                f"waelib.train.fit(...) or python -m waelib.train --out {out_dir}")
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    if cfg_path.exists():
        cfg = TrainConfig.from_dict(json.loads(cfg_path.read_text())["config"])
    else:
        cfg = TrainConfig.from_dict(ckpt["config"])
    model = build_model(cfg.model, image_size=cfg.image_size, latent_dim=cfg.latent_dim,
                        width=cfg.width, **cfg.model_overrides)
    model.load_state_dict(ckpt["model"])
    model.run_config = cfg
    model.run_step = int(ckpt.get("step", 0))
    return model.to(resolve_device(device)).eval()


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m waelib.train",
        description="Train one of the thesis' models (also under torchrun for several GPUs).")
    p.add_argument("--model", choices=C.MODEL_NAMES, help="model name (required unless --resume)")
    p.add_argument("--dataset", help="data set name for waelib.data.load_dataset, or a .pt file "
                   "holding a uint8 (N, 3, S, S) image tensor")
    p.add_argument("--image-size", type=int)
    p.add_argument("--width", type=float)
    p.add_argument("--latent-dim", type=int)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--epochs", type=int)
    g.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--disc-lr", type=float)
    p.add_argument("--lam", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device")
    p.add_argument("--out", help="run folder (default runs/<model>_<dataset>_...)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--n", type=int, help="use only the first N images of the data set")
    p.add_argument("--data-root")
    p.add_argument("--split", help="data split (default: load_dataset's default)")
    p.add_argument("--amp", choices=["bf16", "none", "auto"])
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--fused", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--data-on-device", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--log-every", type=int)
    p.add_argument("--sample-every", type=int)
    p.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    p.add_argument("--checkpoint-minutes", type=float, help="minutes between checkpoints")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    given = {k: v for k, v in vars(args).items() if v is not None}
    if not given.get("resume"):
        given.pop("resume", None)
    names = dataset_names()
    if ("dataset" in given and names and given["dataset"] not in names
            and not given["dataset"].endswith(".pt")):
        p.error(f"unknown dataset {given['dataset']!r}; valid choices: {', '.join(names)}")
    if "amp" in given and given["amp"] == "none":
        given["amp"] = None
    base: Dict[str, Any] = {}
    if given.get("resume") and given.get("out") and (Path(given["out"]) / CONFIG_NAME).exists():
        base = json.loads((Path(given["out"]) / CONFIG_NAME).read_text())["config"]
        for k in ("device", "amp", "channels_last", "fused", "data_on_device", "cudnn_benchmark"):
            base.pop(k, None)  # device-dependent: re-resolve on this machine unless given
        for k in ("epochs", "steps"):  # a new length replaces the old one
            if "epochs" in given or "steps" in given:
                base.pop(k, None)
    elif "model" not in given:
        p.error("--model is required (valid choices: " + ", ".join(C.MODEL_NAMES) + ")")
    base.update(given)
    cfg = TrainConfig.from_dict(base)

    started = False
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo"
        dist.init_process_group(backend=backend)
        started = True
    try:
        try:
            res = fit(None, None, cfg)
        except ValueError as e:
            if "unknown" in str(e) and "dataset" in str(e).lower():
                p.error(str(e))
            raise
        rank = dist.get_rank() if dist.is_initialized() else 0
        if res.replica_checksums is not None:
            same = len(set(res.replica_checksums)) == 1
            _log(f"replicas identical after {res.step} steps: {same}", rank)
        _log(f"{'interrupted' if res.interrupted else 'finished'} at step {res.step}; "
             f"run folder {res.out_dir}", rank)
    finally:
        if started:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
