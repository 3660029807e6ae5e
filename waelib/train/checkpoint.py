"""The run folder on disk: atomic checkpoints with every RNG state, the resume check, the
per-step log, and loading a trained model back.

A run folder (``config.out``) holds:

- ``config.json``   -- the resolved :class:`~waelib.train.TrainConfig` plus
  :func:`waelib.utils.run_metadata` (hardware, library versions, git commit, date) and the world
  size; each resume appends ``{"step", "date_utc", "metadata", "changed"}`` to ``resumes``
  (``changed``: the settings given anew, e.g. ``{"lr": [old, new]}``, see
  :func:`resume_changes`);
- ``log.jsonl``     -- one JSON row per training step: every loss term, images/s, epoch;
- ``checkpoint.pt`` -- written atomically: ``model`` (the model's ``state_dict``), ``optimizers``,
  ``step``, ``epoch``, ``data_order`` (seed, epoch, position: the per-epoch permutation is a pure
  function of (seed, epoch)), ``rng`` (torch CPU/CUDA, numpy and Python states, per rank),
  ``config`` and ``finished``;
- ``samples_step{N:06d}.png`` -- grids of decoded prior samples (fixed codes);
- ``replicas.json`` -- under DDP, the SHA-256 of every rank's final model;
- ``tensorboard/``  -- with ``tensorboard=True``, TensorBoard event files (loss terms, images/s,
  sample grids).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..registry import build_model, objective_for
from ..utils import atomic_torch_save, atomic_write_json, resolve_device
from .config import RESUME_KEYS, TrainConfig
from .runtime import log_rank0

__all__ = ["CHECKPOINT_NAME", "CONFIG_NAME", "LOG_NAME", "NonFiniteLossError", "RunFolderError",
           "read_checkpoint", "read_run_config", "adopt_checkpoint_settings",
           "CHECKPOINT_RUN_SETTINGS", "state_checksum",
           "rng_state", "set_rng_state", "gather_rng_states", "write_checkpoint",
           "load_resume_checkpoint", "restore_checkpoint", "apply_learning_rates",
           "resume_changes", "checkpoint_desc", "write_run_folder", "read_log", "load_run"]

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.json"
LOG_NAME = "log.jsonl"


class NonFiniteLossError(RuntimeError):
    """A loss term (or a parameter) became NaN or inf; the last good checkpoint is kept."""


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked: a damaged ``checkpoint.pt`` or ``config.json``,
    or a resume past the run's length. The message names the file and the way out; nothing in
    the folder has been changed when it is raised."""


def read_checkpoint(path: Path) -> Dict[str, Any]:
    """``torch.load`` of a run's checkpoint, with a :class:`RunFolderError` naming the file and
    the way out when it is damaged (truncated, not a checkpoint)."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:   # zip reader, unpickling, EOF: all mean the file is not readable
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise RunFolderError(
            f"the checkpoint {path} cannot be read ({reason}): the file is damaged or truncated "
            f"(checkpoints are written atomically, so it was cut by a copy or a full disk). "
            f"Nothing in {path.parent} was changed. Restore a good copy of it, or move it aside "
            f"(mv {path} {path}.damaged) and train anew") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "step" not in ckpt:
        raise RunFolderError(f"{path} is not a waelib checkpoint (no model state and step in it); "
                             f"point --out at a run folder written by waelib.train")
    return ckpt


def read_run_config(path: Path) -> Dict[str, Any]:
    """The parsed ``config.json`` of a run folder, with a :class:`RunFolderError` naming the
    file, the position of the damage and the way out when it is not valid JSON."""
    path = Path(path)
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunFolderError(
            f"{path} is not valid JSON ({e.msg}: line {e.lineno}, column {e.colno}). The run's "
            f"settings are also stored in {path.parent / CHECKPOINT_NAME}: move the damaged file "
            f"aside (mv {path} {path}.damaged) and resume again, and they are read from the "
            f"checkpoint") from None
    except OSError as e:
        raise RunFolderError(f"cannot read {path}: {e.strerror}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise RunFolderError(f"{path} has no \"config\" entry, so it is not a waelib run's "
                             f"config.json; move it aside (mv {path} {path}.damaged) and resume "
                             f"again: the settings are then read from the checkpoint")
    return meta


#: Settings a resumed run takes from its checkpoint unless they are given anew: the fast path
#: and the thread count change results at rounding level, so keeping them keeps a resume bit
#: for bit the uninterrupted run.
CHECKPOINT_RUN_SETTINGS = ("channels_last", "fused", "compile", "threads")


def adopt_checkpoint_settings(cfg: TrainConfig, given: TrainConfig, ckpt: Mapping[str, Any],
                              device: torch.device) -> TrainConfig:
    """``cfg`` with :data:`CHECKPOINT_RUN_SETTINGS` taken from ``ckpt``'s configuration where
    ``given`` (the configuration as asked for) left them at None and the checkpoint ran on the
    same kind of device; ``fast_path["from_checkpoint"]`` lists what was taken."""
    old = ckpt.get("config", {})
    if str(old.get("device", "")).split(":")[0] != device.type:
        return cfg
    taken = {k: old[k] for k in CHECKPOINT_RUN_SETTINGS
             if getattr(given, k) is None and old.get(k) is not None and old[k] != getattr(cfg, k)}
    if not taken:
        return cfg
    fast = dict(cfg.fast_path or {}, from_checkpoint=sorted(taken))
    return cfg.replace(fast_path=fast, **taken)


# --------------------------------------------------------------------------------------
# State: RNGs and checksums
# --------------------------------------------------------------------------------------
def rng_state() -> Dict[str, Any]:
    """This process' torch CPU/CUDA, numpy and Python RNG states."""
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore the RNG states saved by :func:`rng_state` (CUDA only when the GPUs allow it)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(state["cuda"])
        except Exception:  # different GPU count
            warnings.warn("could not restore the CUDA RNG state (different GPUs?)", stacklevel=2)
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def gather_rng_states(is_dist: bool, world: int) -> List[Dict[str, Any]]:
    """Every rank's :func:`rng_state`, in rank order (a collective under DDP)."""
    states = [rng_state()]
    if is_dist:
        gathered: List[Any] = [None] * world
        dist.all_gather_object(gathered, states[0])
        states = gathered
    return states


def state_checksum(module: nn.Module) -> str:
    """SHA-256 over the bytes of every parameter and buffer of ``module`` (state_dict order)."""
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                 if v.numel() else b"")
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------
def checkpoint_desc(path: Path, step: Optional[int]) -> str:
    """``path (step N)``, or a note that no good checkpoint was written yet."""
    if step is None:
        return f"{path} (none written yet in this run: no good checkpoint exists)"
    return f"{path} (step {step})"


def write_checkpoint(path: Path, model: nn.Module, optimizers: Mapping[str, torch.optim.Optimizer],
                     *, step: int, cfg: TrainConfig, n_items: int, steps_per_epoch: int,
                     rng_states: List[Dict[str, Any]], world_size: int, finished: bool) -> None:
    """Write ``checkpoint.pt`` atomically (layout in the module docstring); rank 0 calls this."""
    epoch, pos = divmod(step, steps_per_epoch)
    atomic_torch_save({
        "model": model.state_dict(),
        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
        "step": step, "epoch": epoch,
        "data_order": {"seed": cfg.seed, "epoch": epoch, "position": pos,
                       "n_items": n_items, "batch_size": cfg.batch_size,
                       "steps_per_epoch": steps_per_epoch,
                       "permutation": "waelib.train.epoch_permutation(n_items, seed, epoch)"},
        "rng": {"ranks": rng_states}, "world_size": world_size,
        "config": cfg.to_dict(), "finished": finished,
        "model_name": cfg.model, "objective": objective_for(cfg.model).name,
    }, path)


def load_resume_checkpoint(path: Path, cfg: TrainConfig, n_items: int,
                           rank: int = 0) -> Optional[Dict[str, Any]]:
    """The checkpoint to resume from (None when ``path`` does not exist yet).

    Raises:
        ValueError: a setting of :data:`~waelib.train.config.RESUME_KEYS` or the number of
            training images differs between the checkpoint and ``cfg``.
    """
    if not path.exists():
        log_rank0(f"resume requested but {path} does not exist; starting a new run", rank)
        return None
    ckpt = read_checkpoint(path)
    cfg_path = path.parent / CONFIG_NAME
    if cfg_path.exists():
        read_run_config(cfg_path)            # damaged: named now, before anything is written
    old = ckpt.get("config", {})
    now = cfg.to_dict()
    bad = {k: (old.get(k), now[k]) for k in RESUME_KEYS if k in old and old.get(k) != now[k]}
    old_n = ckpt.get("data_order", {}).get("n_items", n_items)
    if old_n != n_items:
        bad["n_train_images"] = (old_n, n_items)
    if bad:
        raise RunFolderError(f"cannot resume {path}: settings differ from the checkpoint "
                         f"(checkpoint, now): {bad}")
    return ckpt


def restore_checkpoint(trainer, ckpt: Dict[str, Any], *, seed: int, rank: int, world: int,
                       path: Path) -> int:
    """Load the model, the optimisers and this rank's RNG state of ``ckpt`` into ``trainer``
    (a :class:`~waelib.train.Trainer`); returns the step to continue from. With a different
    world size the training noise is re-seeded from (seed, rank, step) instead."""
    trainer.model.load_state_dict(ckpt["model"])
    for k, opt in trainer.optimizers.items():
        opt.load_state_dict(ckpt["optimizers"][k])
    step = int(ckpt["step"])
    rng = ckpt.get("rng", {}).get("ranks", [])
    if ckpt.get("world_size", 1) == world and rank < len(rng):
        set_rng_state(rng[rank])
    else:
        log_rank0("world size changed since the checkpoint; re-seeding the training noise", rank)
        torch.manual_seed(seed + 1_000_003 * rank + step)
    log_rank0(f"resumed from {path} at step {step}", rank)
    return step


def apply_learning_rates(trainer, cfg: TrainConfig) -> Dict[str, List[float]]:
    """Set the learning rates of ``cfg`` (``lr``, ``disc_lr``) on the optimisers of
    ``trainer``, e.g. after :func:`restore_checkpoint` loaded the checkpoint's (old) ones, so
    that ``fit(..., resume=True, lr=...)`` / ``--resume --lr ...`` take effect. Adam's moment
    estimates are kept. Returns ``{field: [old, new]}`` for each rate that changed."""
    changed: Dict[str, List[float]] = {}
    for name, opt in trainer.optimizers.items():
        field = trainer.lr_fields[name]          # as the objective named it
        new = getattr(cfg, field)
        if new is None:
            continue
        for group in opt.param_groups:
            if group.get("own_lr"):              # e.g. MaskAAE's mask: its own, fixed rate
                continue
            old = group["lr"]
            old_f = float(old.item() if isinstance(old, torch.Tensor) else old)
            if old_f == float(new):
                continue
            if isinstance(old, torch.Tensor):    # a tensor lr (capturable / fused Adam)
                old.fill_(float(new))
            else:
                group["lr"] = float(new)
            changed.setdefault(field, [old_f, float(new)])
    return changed


#: Settings whose change on a resume is not worth recording (the resume flag itself).
_NOT_RECORDED = ("resume",)


def resume_changes(ckpt: Dict[str, Any], cfg: TrainConfig,
                   lr_changes: Optional[Mapping[str, List[float]]] = None) -> Dict[str, List[Any]]:
    """``{field: [checkpoint value, new value]}`` for every setting of ``cfg`` that differs
    from the checkpoint's configuration (new length, learning rates, device, fast path...),
    with the learning rates the optimisers really had (``lr_changes`` of
    :func:`apply_learning_rates`) -- what ``config.json`` records in the run's ``resumes``."""
    old = ckpt.get("config", {})
    now = json.loads(json.dumps(cfg.to_dict()))      # tuples as lists, like the checkpoint
    old = json.loads(json.dumps(old))
    changed = {k: [old[k], v] for k, v in now.items()
               if k in old and k not in _NOT_RECORDED and old[k] != v}
    for k in ("lr", "disc_lr"):
        changed.pop(k, None)
    changed.update({k: list(v) for k, v in (lr_changes or {}).items()})
    return changed


# --------------------------------------------------------------------------------------
# config.json and log.jsonl
# --------------------------------------------------------------------------------------
def write_run_folder(out_dir: Path, meta: Dict[str, Any], resumed_step: Optional[int],
                     changed: Optional[Mapping[str, Any]] = None) -> None:
    """Create ``out_dir``; write ``config.json`` (``meta``) and start ``log.jsonl``.

    On a resume (``resumed_step`` not None) the first run's metadata is kept, this start is
    appended to ``resumes`` as ``{"step", "date_utc", "metadata", "changed"}`` (``changed``:
    ``{setting: [checkpoint value, new value]}``, e.g. a lowered ``lr``; see
    :func:`resume_changes`), and the log is cut back to the checkpoint's step (dropping rows a
    hard kill left after it); otherwise the log starts empty.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = out_dir / CONFIG_NAME
    if resumed_step is not None and cfg_path.exists():
        prev = read_run_config(cfg_path)
        meta["resumes"] = prev.get("resumes", []) + [
            {"step": resumed_step, "date_utc": meta["metadata"]["date_utc"],
             "metadata": meta["metadata"], "changed": dict(changed or {})}]
        meta["metadata"] = prev.get("metadata", meta["metadata"])
    atomic_write_json(cfg_path, meta)
    rows = read_log(out_dir, max_step=resumed_step) if resumed_step is not None else []
    log_text = "".join(json.dumps(r) + "\n" for r in rows)
    (out_dir / LOG_NAME).write_text(log_text)


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
    ckpt = read_checkpoint(ckpt_path)
    if cfg_path.exists():
        cfg = TrainConfig.from_dict(read_run_config(cfg_path)["config"])
    else:
        cfg = TrainConfig.from_dict(ckpt["config"])
    model = build_model(cfg.model, image_size=cfg.image_size, latent_dim=cfg.latent_dim,
                        width=cfg.width, **cfg.model_overrides)
    objective_for(cfg.model)(model, cfg)     # an objective may add state to the model (IntroVAE's warm-up step)
    model.load_state_dict(ckpt["model"])
    model.run_config = cfg
    model.run_step = int(ckpt.get("step", 0))
    return model.to(resolve_device(device)).eval()
