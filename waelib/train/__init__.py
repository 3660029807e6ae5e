"""One resumable, guarded training loop for every registered model (thesis §4.3); each step is
the model's objective (:mod:`waelib.objectives`: Algorithm 2 for the WAE-GAN, ...).

Notebooks call :func:`fit`; the shell runs the same code::

    python -m waelib.train --model wae_resnet --dataset synthfaces --image-size 64 --epochs 5
    torchrun --nproc_per_node 4 -m waelib.train --model wae_resnet --dataset celeba --epochs 100

The package, one module per concern (every public name is re-exported here):

- :mod:`~waelib.train.config`     -- :class:`TrainConfig`, the thesis learning rates
  (:func:`default_lrs`) and the settings a resume must share with its checkpoint;
- :mod:`~waelib.train.dataset`    -- the data path: a data set by name or ``.pt`` file, the shape
  check, the whole set as one uint8 tensor, the per-epoch order (:func:`epoch_permutation`);
- :mod:`~waelib.train.trainer`    -- :class:`Trainer`: model, optimisers and one training step of
  each model (Algorithm 2 for the WAE-GANs), AMP / channels-last / fused Adam / compile / DDP;
- :mod:`~waelib.train.run`        -- :class:`Run`, one run as a small object (prepare, step, log,
  checkpoint, samples, the loop), and :func:`fit`, which delegates to it;
- :mod:`~waelib.train.checkpoint` -- the run folder: atomic checkpoints with every RNG state, the
  resume check, ``log.jsonl`` (:func:`read_log`) and :func:`load_run`;
- :mod:`~waelib.train.runtime`    -- rank, world size and device under torchrun, the SIGINT/SIGTERM
  handler, console messages;
- :mod:`~waelib.train.cli`        -- ``python -m waelib.train`` (:func:`main`).

A run folder (``config.out``) holds ``config.json`` (the resolved configuration, hardware,
versions, commit, date), ``log.jsonl`` (one row per step: every loss term, images/s, epoch),
``checkpoint.pt`` (model, optimisers, step, data order, every rank's RNG states; written
atomically, at the end and on SIGINT/SIGTERM) and ``samples_step{N:06d}.png`` grids of decoded
prior samples; with ``tensorboard=True`` (``--tensorboard``) also ``tensorboard/`` event files.
A resumed run is bit-for-bit the run that was never interrupted; a resume may change the
learning rates (``lr``, ``disc_lr``: applied to the restored optimisers, recorded in
``config.json``'s ``resumes``).

Every log sync (every ``log_every`` steps) checks the loss terms and, on the device in the same
host transfer, every parameter and buffer (BatchNorm running statistics) for NaN/inf; the error
names the term or tensor and the steps. ``python -m waelib.train`` checks its arguments before
loading data, prints one ``error:`` line (exit 2; 1 for a diverged run) and exits with 130/143
after SIGINT/SIGTERM once the checkpoint is saved.

Fast path on CUDA (defaults): bf16 autocast for the networks (losses in fp32), channels-last,
fused Adam, cuDNN autotuning, GPU-resident data; ``compile=True`` adds ``torch.compile``. On the
CPU the settings left at None resolve to the fastest *fp32* combination of channels-last and fused
Adam measured for that model, size and kind of CPU (:mod:`~waelib.train.fastpath`, backed by
``results/bench/cpu_suite.json``); bf16 autocast and ``torch.compile`` only when asked for.
- :mod:`~waelib.train.fastpath`   -- that table and how a CPU kind is recognised.
"""
from __future__ import annotations

from .batches import BatchSource, epoch_permutation
from .checkpoint import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    LOG_NAME,
    NonFiniteLossError,
    RunFolderError,
    load_run,
    read_log,
    state_checksum,
)
from .cli import main
from .config import RESUME_KEYS, TrainConfig, default_lrs
from .dataset import check_before_loading, check_image_shape, dataset_names
from .run import TENSORBOARD_DIR, FitResult, Run, fit
from .trainer import Trainer

__all__ = ["TrainConfig", "FitResult", "Trainer", "Run", "NonFiniteLossError", "fit", "load_run",
           "read_log", "default_lrs", "epoch_permutation", "state_checksum", "check_image_shape",
           "check_before_loading", "dataset_names", "main", "RESUME_KEYS", "CHECKPOINT_NAME",
           "CONFIG_NAME", "LOG_NAME", "TENSORBOARD_DIR", "RunFolderError"]
