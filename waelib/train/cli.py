"""The command line: ``python -m waelib.train`` (also under ``torchrun`` for several GPUs)::

    python -m waelib.train --model wae_mmd --image-size 32 --width 0.125 --steps 2000   # a CPU try
    python -m waelib.train --model wae_resnet --dataset celeba --epochs 100 --out runs/x  # the thesis
    python -m waelib.train --out runs/x --resume          # continue an interrupted run
    python -m waelib.train --out runs/x --resume --lr 1e-4   # ... with a lower learning rate
    torchrun --nproc_per_node 4 -m waelib.train --model wae_resnet --dataset celeba --epochs 100

Everything that needs no data (the choices, the image size, the data set's split and options)
is checked before anything is loaded. Errors print one ``error: ...`` line and exit with 2 (1
for a run that diverged to NaN/inf); an interrupted run saves its checkpoint and exits with 130
(SIGINT, Ctrl-C) or 143 (SIGTERM).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Dict, NoReturn, Optional, Sequence

import torch
import torch.distributed as dist

from .. import config, registry
from .checkpoint import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    NonFiniteLossError,
    RunFolderError,
    read_checkpoint,
    read_run_config,
)
from .config import TrainConfig
from .dataset import check_before_loading, dataset_names
from .run import TENSORBOARD_DIR, fit
from .runtime import log_rank0

__all__ = ["main", "EXIT_ERROR", "EXIT_DIVERGED", "EXIT_SIGINT", "EXIT_SIGTERM"]

PROG = "python -m waelib.train"
#: Exit statuses: a usage or data error; a run that diverged (NaN/inf); interrupted runs
#: (128 + the signal number, as a shell reports a process killed by it).
EXIT_ERROR, EXIT_DIVERGED = 2, 1
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM

_THESIS = dict(size=config.IMAGE_SIZE, epochs=config.EPOCHS, batch=config.BATCH_SIZE,
               n_train=config.CELEBA_N_TRAIN)
DESCRIPTION = f"""\
Train one of the thesis' models (also under torchrun for several GPUs): one resumable loop that
writes config.json, log.jsonl, checkpoint.pt and sample grids into --out.

The defaults are the thesis' setting: a bare `{PROG} --model wae_mmd` trains at
{_THESIS['size']} px, full width, for {_THESIS['epochs']} epochs with batch {_THESIS['batch']} on
{_THESIS['n_train']:,} training images of synthfaces, which are rendered first (about 5 minutes on a
CPU before the first step) -- a GPU job. For a first try on a CPU:

  {PROG} --model wae_mmd --image-size 32 --width 0.125 --steps 2000
"""

EPILOG = f"""\
examples:
  {PROG} --model wae_resnet --dataset celeba --epochs 100 --out runs/thesis/wae_resnet
  {PROG} --out runs/thesis/wae_resnet --resume              # after an interruption
  {PROG} --out runs/thesis/wae_resnet --resume --lr 3e-05   # after a NaN: lower lr
  torchrun --nproc_per_node 4 -m waelib.train --model wae_resnet --dataset celeba --epochs 100

exit status: 0 done, 2 bad arguments or data, 1 the run diverged (NaN/inf),
130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM (the checkpoint is saved first).
"""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every option's default. The options' argparse defaults are None ("not given",
    so that ``--resume`` keeps the run's own settings); the default shown is the value the run
    then uses (``action.shown_default``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        shown = getattr(action, "shown_default", None)
        if shown is not None and "%(default)" not in help_text:
            return f"{help_text} (default: {str(shown).replace('%', '%%')})"
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Usage errors print one ``error: ...`` line (and where to find help) and exit with 2."""

    def error(self, message: str) -> NoReturn:
        _print_error(f"{message} (see {PROG} --help)")
        raise SystemExit(EXIT_ERROR)


def _print_error(message: str) -> None:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def _opt(p, *flags: str, shown: Any = None, **kw) -> argparse.Action:
    action = p.add_argument(*flags, **kw)
    action.shown_default = shown
    return action


def _parser() -> argparse.ArgumentParser:
    # Long on purpose: one add_argument per option, grouped as --help shows them.
    d = TrainConfig()
    p = _Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=_HelpFormatter)
    g = p.add_argument_group("model and data")
    _opt(g, "--model", choices=registry.MODEL_NAMES, shown="required unless --resume",
         help="which model to train: the thesis' five, or rae, intro_vae, mask_aae (notebook 06)")
    _opt(g, "--dataset", shown=d.dataset,
         help=f"data set name ({', '.join(dataset_names())}), or a .pt file holding a uint8 "
              f"(N, 3, S, S) image tensor (or float in [0, 1])")
    _opt(g, "--image-size", type=int, choices=config.SUPPORTED_IMAGE_SIZES, shown=d.image_size,
         help="side S of the (3, S, S) images; the model is built for it and the data loaded at it")
    _opt(g, "--width", type=float, shown=d.width,
         help="channel multiplier of every network (1.0 = thesis; 0.125 trains in minutes on a CPU)")
    _opt(g, "--latent-dim", type=int, shown=f"thesis: {config.VAE_LATENT_DIM} VAE, {config.WAE_LATENT_DIM} WAE",
         help="size of the latent code")
    _opt(g, "--n", type=int, shown="all",
         help="use only N images (synthfaces: generate N images, then take the thesis split)")
    _opt(g, "--data-root", shown=d.data_root,
         help="folder that contains celeba/ (celeba/img_align_celeba/000001.jpg, "
              "celeba/list_eval_partition.txt, celeba/list_attr_celeba.txt) and cache/")
    _opt(g, "--split", shown="thesis_train, the thesis' random 80/20 split",
         help="data split to train on (celeba: thesis_train, thesis_test, train, valid, test, all)")
    _opt(g, "--download", action="store_true", default=None, shown="off",
         help="celeba only: try torchvision's Google-Drive download into DATA_ROOT/celeba "
              "(needs internet and gdown; often refused by quota)")
    g = p.add_argument_group("schedule and optimisation")
    x = g.add_mutually_exclusive_group()
    _opt(x, "--epochs", type=int, shown=f"{config.EPOCHS} when neither --epochs nor --steps is given",
         help="passes over the training images")
    _opt(x, "--steps", type=int, shown="none", help="total optimisation steps (instead of --epochs)")
    _opt(g, "--batch-size", type=int, shown=d.batch_size,
         help="global batch size (split over torchrun ranks)")
    _opt(g, "--lr", type=float,
         shown=f"thesis: {config.VAE_LR:g} VAE and WAE-MMD, {config.WAE_AE_LR:g} WAE-GAN auto-encoder",
         help="Adam learning rate of the model (of the auto-encoder for WAE-GAN); with --resume "
              "it replaces the checkpoint's rate")
    _opt(g, "--disc-lr", type=float, shown=f"{config.WAE_DISC_LR:g}",
         help="Adam learning rate of the latent discriminator (wae_gan, wae_resnet); with "
              "--resume it replaces the checkpoint's rate")
    _opt(g, "--lam", type=float, shown=f"{config.WAE_GAN_LAMBDA:g} GAN, {config.WAE_MMD_LAMBDA:g} MMD",
         help="weight lambda of the WAE penalty")
    _opt(g, "--seed", type=int, shown=d.seed, help="seed of the initialisation and data order")
    g = p.add_argument_group("run")
    _opt(g, "--device", shown=d.device, help="auto (CUDA when available), cpu, cuda, cuda:N")
    _opt(g, "--out", shown="runs/<model>_<dataset>_<size>px_w<width>_seed<seed>",
         help="run folder (config.json, log.jsonl, checkpoint.pt, samples_step*.png)")
    _opt(g, "--resume", action="store_true", default=None, shown="off",
         help="continue from OUT/checkpoint.pt with the run's own settings (a new --steps/"
              "--epochs, --lr, --disc-lr, ... replace them; the change is recorded in config.json)")
    _opt(g, "--tensorboard", action=argparse.BooleanOptionalAction, default=None, shown="off",
         help=f"also write the loss terms, images/s and sample grids to OUT/{TENSORBOARD_DIR} "
              f"(view with: tensorboard --logdir OUT/{TENSORBOARD_DIR})")
    _opt(g, "--log-every", type=int, shown=d.log_every,
         help="steps between host syncs: log rows, NaN/inf checks of the losses, parameters and "
              "BatchNorm statistics, progress bar")
    _opt(g, "--sample-every", type=int, shown=d.sample_every,
         help="steps between grids of decoded prior samples")
    _opt(g, "--checkpoint-every", type=int, shown=d.checkpoint_every,
         help="steps between checkpoints")
    _opt(g, "--checkpoint-minutes", type=float, shown=d.checkpoint_minutes,
         help="minutes between checkpoints (whichever of the two is due first)")
    _opt(g, "--no-progress", dest="progress", action="store_false", default=None, shown="bar on",
         help="no progress bar")
    g = p.add_argument_group("fast path (CUDA: on; CPU: the measured fastest fp32 path, unless given)")
    _opt(g, "--amp", choices=["bf16", "none", "auto"], shown="auto",
         help="bf16 autocast of the networks (auto: on CUDA with bf16 support)")
    _opt(g, "--channels-last", action=argparse.BooleanOptionalAction, default=None,
         shown="CUDA: on; CPU: measured", help="channels-last memory format")
    _opt(g, "--compile", action=argparse.BooleanOptionalAction, default=None,
         shown="CPU: on where the run is long enough to pay for the compile; CUDA: off",
         help="torch.compile the auto-encoder (inductor)")
    _opt(g, "--fused", action=argparse.BooleanOptionalAction, default=None, shown="CUDA: on; CPU: measured",
         help="fused Adam")
    _opt(g, "--data-on-device", action=argparse.BooleanOptionalAction, default=None,
         shown="on for CUDA", help="keep the uint8 training set resident on the GPU")
    _opt(g, "--threads", type=int, shown="torch's default (a resume: the run's own)",
         help="torch CPU threads for this run (recorded: fp32 results differ between thread counts)")
    return p


def _config(p: argparse.ArgumentParser, args: argparse.Namespace) -> TrainConfig:
    """The run's TrainConfig: the options given, over config.json's settings on a resume."""
    given = {k: v for k, v in vars(args).items() if v is not None}
    if not given.get("resume"):
        given.pop("resume", None)
    download = given.pop("download", False)
    names = dataset_names()
    if ("dataset" in given and names and given["dataset"] not in names
            and not given["dataset"].endswith(".pt")):
        p.error(f"unknown dataset {given['dataset']!r}; valid choices: {', '.join(names)} "
                f"or a .pt file")
    if "amp" in given and given["amp"] == "none":
        given["amp"] = None
    base: Dict[str, Any] = {}
    run_dir = Path(given["out"]) if given.get("out") else None
    if given.get("resume") and run_dir is not None and (
            (run_dir / CONFIG_NAME).exists() or (run_dir / CHECKPOINT_NAME).exists()):
        base = _saved_settings(run_dir)       # RunFolderError: one line in main, exit 2
        for k in ("device", "amp", "channels_last", "fused", "compile", "threads", "data_on_device",
                  "cudnn_benchmark", "fast_path"):
            # device-dependent: re-resolved on this machine unless given; the fast path and the
            # thread count are then taken from the checkpoint (Run.prepare), so the resume is
            # bit for bit the uninterrupted run on the same kind of device
            base.pop(k, None)
        for k in ("epochs", "steps"):  # a new length replaces the old one
            if "epochs" in given or "steps" in given:
                base.pop(k, None)
    elif given.get("resume") and "model" not in given:
        p.error(f"--resume needs --out pointing at a run folder with {CONFIG_NAME} (none at "
                f"{given.get('out', 'the default folder')}), or --model and the run's settings")
    elif "model" not in given:
        p.error("--model is required (valid choices: " + ", ".join(registry.MODEL_NAMES) + ")")
    base.update(given)
    if download:
        if base.get("dataset", TrainConfig.dataset) != "celeba":
            p.error("--download applies to --dataset celeba only")
        base["dataset_options"] = {**base.get("dataset_options", {}), "download": True}
    try:
        cfg = TrainConfig.from_dict(base)
        check_before_loading(cfg)          # choices, sizes, split, files: before any loading
    except (ValueError, TypeError, FileNotFoundError, ImportError) as e:
        p.error(str(e))
    return cfg


def _saved_settings(run_dir: Path) -> Dict[str, Any]:
    """The settings a run folder was trained with: ``config.json``'s, else (missing) the
    checkpoint's copy. A damaged file raises :class:`RunFolderError` naming it and the fix."""
    if (run_dir / CONFIG_NAME).exists():
        return dict(read_run_config(run_dir / CONFIG_NAME)["config"])
    return dict(read_checkpoint(run_dir / CHECKPOINT_NAME).get("config", {}))


class _Terminated(BaseException):
    """SIGTERM outside the training loop (the loop's own handler checkpoints and stops)."""


def _raise_terminated(signum, frame):
    raise _Terminated()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m waelib.train``; returns the exit status (usage errors raise SystemExit(2)):
    0 done, 1 diverged (NaN/inf), 2 a data error found while loading, 130/143 interrupted by
    SIGINT/SIGTERM (after the checkpoint was saved)."""
    p = _parser()
    args = p.parse_args(argv)
    try:
        cfg = _config(p, args)
    except RunFolderError as e:      # a damaged run folder: the arguments were fine
        _print_error(e)
        return EXIT_ERROR

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    started = False
    training: Dict[str, bool] = {"started": False}
    try:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo"
            dist.init_process_group(backend=backend)
            started = True
        rank = dist.get_rank() if dist.is_initialized() else 0
        return _train(cfg, rank, training)
    except KeyboardInterrupt:
        _print_interrupted(cfg, "SIGINT", training["started"])
        return EXIT_SIGINT
    except _Terminated:
        _print_interrupted(cfg, "SIGTERM", training["started"])
        return EXIT_SIGTERM
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if started and dist.is_initialized():
            dist.destroy_process_group()


def _train(cfg: TrainConfig, rank: int, training: Dict[str, bool]) -> int:
    def started(info: Dict[str, Any]) -> None:       # called after every step
        training["started"] = True

    try:
        res = fit(None, None, cfg, callback=started)
    except NonFiniteLossError as e:
        _print_error(e)
        return EXIT_DIVERGED
    except (ValueError, TypeError, FileNotFoundError, ImportError, RuntimeError) as e:
        if isinstance(e, RuntimeError) and "CelebA download failed" not in str(e):
            raise                                    # a bug: keep the traceback
        _print_error(e)
        return EXIT_ERROR
    if res.replica_checksums is not None:
        same = len(set(res.replica_checksums)) == 1
        log_rank0(f"replicas identical after {res.step} steps: {same}", rank)
    if res.trained_steps == 0 and not res.interrupted:
        log_rank0(f"nothing to train: the run was already finished at step {res.step} (its "
                  f"length); run folder {res.out_dir}. To train it further, resume with a "
                  f"longer --steps or --epochs", rank)
    else:
        log_rank0(f"{'interrupted' if res.interrupted else 'finished'} at step {res.step} "
                  f"({res.trained_steps} steps trained now); run folder {res.out_dir}", rank)
    if cfg.tensorboard:
        log_rank0(f"TensorBoard: tensorboard --logdir {res.out_dir / TENSORBOARD_DIR}", rank)
    if res.interrupted:
        return {"SIGINT": EXIT_SIGINT, "SIGTERM": EXIT_SIGTERM}.get(res.stop_reason, EXIT_SIGTERM)
    return 0


def _print_interrupted(cfg: TrainConfig, sig: str, training: bool) -> None:
    """One line, no traceback, for a signal that arrived outside the loop's own handler: while
    the data and the model were prepared, or a second Ctrl-C during training."""
    out = Path(cfg.out or cfg.default_out())
    ckpt = out / CHECKPOINT_NAME
    when = ("again during training (the first signal asks for a checkpoint; a second one stops "
            "at once)" if training else "while preparing the data and the model")
    kept = (f"the checkpoint {ckpt} is kept; continue with: {PROG} --out {out} --resume"
            if ckpt.exists() and cfg.resume or training and ckpt.exists()
            else "no checkpoint of this run was written")
    print(f"interrupted ({sig}) {when}; {kept}", file=sys.stderr, flush=True)
