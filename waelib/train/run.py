"""One training run as a small object, and :func:`fit`, the notebooks' entry point.

:func:`fit` merges its arguments into a :class:`~waelib.train.TrainConfig` and hands over to
:class:`Run`: ``Run(cfg, dataset, callback=...).prepare().train()``. Each method of the run does
one thing: :meth:`Run.prepare` (configuration, data, resume, model, run folder),
:meth:`Run.train_step` (one optimisation step), :meth:`Run.log` (the host sync: log rows, NaN
guard on the loss terms and on every parameter and buffer, agreement on stopping),
:meth:`Run.save_checkpoint`, :meth:`Run.save_samples` and :meth:`Run.train` (the loop).

With ``tensorboard=True`` the run also writes a TensorBoard event file into
``<out>/tensorboard/``: every loss term of every step (tags ``train/<term>``), images/s
(``train/images_per_second``) at each log sync and the sample grids (``samples``); view it with
``tensorboard --logdir <out>/tensorboard``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.distributed as dist
from torch import nn

from .. import registry
from ..utils import atomic_write_json, progress_bar, run_metadata, seed_everything
from .batches import BatchSource
from .checkpoint import (
    CHECKPOINT_NAME,
    LOG_NAME,
    NonFiniteLossError,
    RunFolderError,
    adopt_checkpoint_settings,
    apply_learning_rates,
    checkpoint_desc,
    gather_rng_states,
    load_resume_checkpoint,
    read_log,
    restore_checkpoint,
    resume_changes,
    state_checksum,
    write_checkpoint,
    write_run_folder,
)
from .config import TrainConfig
from .dataset import (
    check_before_loading,
    check_image_range,
    check_image_shape,
    first_image,
    load_named_dataset,
    materialise,
)
from .runtime import StopFlag, dist_info, log_rank0, resolve_run_device
from .trainer import Trainer

__all__ = ["FitResult", "Run", "fit", "TENSORBOARD_DIR"]

Callback = Callable[[Dict[str, Any]], Optional[bool]]

#: Folder of the TensorBoard event files inside the run folder (``tensorboard=True``).
TENSORBOARD_DIR = "tensorboard"


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model (unwrapped: no DDP / compile wrapper), in eval mode.
        history: the per-step log rows of the whole run (read back from ``log.jsonl``).
        out_dir: the run folder; checkpoint: path of ``checkpoint.pt``.
        step, epoch: steps done in total (including before a resume) and the current epoch.
        trained_steps: the steps this call trained (0 when it reloaded a finished run).
        interrupted: True when SIGINT/SIGTERM (or a callback) stopped the run early;
        stop_reason: then what stopped it: ``"SIGINT"``, ``"SIGTERM"``, ``"callback"`` or
        ``"another rank"`` (None when the run finished).
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
    stop_reason: Optional[str] = None
    trained_steps: int = 0


class Run:
    """One training run of one process (rank): what :func:`fit` does, one method per job.

    Args:
        cfg: a validated :class:`TrainConfig` (resolved for this device by :meth:`prepare`).
        dataset: as for :func:`fit` (None or a name: ``cfg.dataset`` is loaded).
        callback: as for :func:`fit`.

    After :meth:`prepare`: ``cfg`` (resolved), ``device``, ``rank``/``world``, ``out_dir``,
    ``data`` (N, 3, S, S), ``n_items``, ``steps_per_epoch``, ``total_steps``, ``trainer``,
    ``model``, ``ckpt`` (the checkpoint resumed from, or None) and ``step`` (steps done).
    """

    def __init__(self, cfg: TrainConfig, dataset: Any = None, *,
                 callback: Optional[Callback] = None):
        self.cfg = cfg
        self.dataset = dataset
        self.callback = callback
        self.step = 0
        self.interrupted = False
        self.stop_reason: Optional[str] = None
        self.resume_changes: Dict[str, Any] = {}
        self.tb = None

    # ---- prepare ----------------------------------------------------------------------
    def prepare(self) -> "Run":
        """Everything before the first step, in this order: resolve the configuration for this
        device and rank, the checks that need no data (:func:`check_before_loading`, for a data
        set given by name), load and check the data (before building anything big), load the checkpoint to resume from,
        build the model and the optimisers (a resume applies the configured learning rates to
        the restored optimisers), write the run folder. Returns ``self``."""
        self._threads_before = torch.get_num_threads()
        try:
            self._resolve_config()
            self._load_data()
            self._resolve_fast_path()
            self._load_checkpoint()
            self._use_threads()
            self._build()
            self._write_run_folder()
        except BaseException:
            torch.set_num_threads(self._threads_before)
            raise
        self.last_good_step: Optional[int] = self.step if self.ckpt is not None else None
        self.last_ckpt_time = time.monotonic()
        return self

    def _resolve_config(self) -> None:
        self.is_dist, self.rank, self.world = dist_info()
        self.device = resolve_run_device(self.cfg.device, self.is_dist)
        self._given = self.cfg
        # The run's length is not known before the data are: provisional fast path (no
        # measurement, compile off), made final by _resolve_fast_path.
        cfg = self.cfg.resolved(self.device, total_steps=0)
        self.out_dir = Path(cfg.out or cfg.default_out())
        self.cfg = cfg.replace(out=str(self.out_dir))
        self.ckpt_path = self.out_dir / CHECKPOINT_NAME
        if self.cfg.batch_size % self.world:
            raise ValueError(f"batch_size={self.cfg.batch_size} is not divisible by the world "
                             f"size {self.world}")

    def _load_data(self) -> None:
        """The checks come first (configuration, then the first image's shape and range),
        before materialising or building anything big."""
        cfg, dataset = self.cfg, self.dataset
        named = dataset is None or isinstance(dataset, str)
        if named:
            check_before_loading(cfg)
            log_rank0(f"preparing data set {cfg.dataset!r} at {cfg.image_size} px ...", self.rank)
            dataset = load_named_dataset(cfg)
            desc = f"data set {cfg.dataset!r}"
        else:
            desc = f"the given data set ({type(dataset).__name__})"
        first = dataset[:1] if isinstance(dataset, torch.Tensor) else first_image(dataset)[None]
        check_image_shape(first.shape[1:], cfg.image_size, cfg.model, desc)
        check_image_range(first, desc)
        data = materialise(dataset, self.device if cfg.data_on_device else None,
                           progress=cfg.progress and self.rank == 0)
        check_image_shape(data.shape[1:], cfg.image_size, cfg.model, desc)
        check_image_range(data, desc)
        self.n_items = len(data)
        self.steps_per_epoch = self.n_items // cfg.batch_size
        if self.steps_per_epoch < 1:
            raise ValueError(f"the data set has {self.n_items} images, fewer than one batch "
                             f"(batch_size={cfg.batch_size}); lower batch_size or use more data")
        self.total_steps = cfg.steps if cfg.steps is not None else cfg.epochs * self.steps_per_epoch
        if cfg.data_on_device:
            data = data.to(self.device)
        self.data, self.data_desc = data, desc

    def _resolve_fast_path(self) -> None:
        """The fast path for this run's length (:func:`waelib.train.fastpath.cpu_choice`):
        a measurement on an unmeasured CPU kind, compile where it pays. A resume from an
        existing checkpoint measures nothing: it takes the checkpoint's settings
        (:meth:`_load_checkpoint`)."""
        resuming = self.cfg.resume and self.ckpt_path.exists()
        self.cfg = self._given.resolved(self.device, total_steps=0 if resuming else self.total_steps
                                        ).replace(out=str(self.out_dir))

    def _load_checkpoint(self) -> None:
        """The checkpoint to resume from (None for a new run). A resumed run keeps the fast
        path and thread count it ran with, unless they are given anew, so that it continues
        bit for bit; a run already past the requested length is refused (nothing to train)."""
        self.ckpt = (load_resume_checkpoint(self.ckpt_path, self.cfg, self.n_items, self.rank)
                     if self.cfg.resume else None)
        if self.ckpt is None:
            return
        done = int(self.ckpt["step"])
        if done > self.total_steps:
            raise RunFolderError(
                f"the run in {self.out_dir} is already at step {done}, past the requested length of "
                f"{self.total_steps} steps; nothing was trained. To train it further give a longer "
                f"length (--steps N or --epochs N, N > {done}); to use it as it is, load it with "
                f"waelib.train.load_run({str(self.out_dir)!r})")
        self.cfg = adopt_checkpoint_settings(self.cfg, self._given, self.ckpt, self.device)

    def _use_threads(self) -> None:
        """torch's thread count for the run (restored when :meth:`train` ends)."""
        if self.cfg.threads and torch.get_num_threads() != self.cfg.threads:
            torch.set_num_threads(int(self.cfg.threads))

    def _build(self) -> None:
        cfg = self.cfg
        seed_everything(cfg.seed)
        self.trainer = Trainer(cfg)
        self.model = self.trainer.model
        # Training noise (reparameterisation, prior draws): distinct per rank, reproducible.
        torch.manual_seed(cfg.seed + 1_000_003 * self.rank)
        self.step = 0
        if self.ckpt is not None:
            self.step = restore_checkpoint(self.trainer, self.ckpt, seed=cfg.seed, rank=self.rank,
                                           world=self.world, path=self.ckpt_path)
            # the restored optimisers carry the checkpoint's learning rates: apply cfg's
            lr_changes = apply_learning_rates(self.trainer, cfg)
            for k, (old, new) in lr_changes.items():
                log_rank0(f"{k} changed on resume: {old:g} -> {new:g}", self.rank)
            self.resume_changes = resume_changes(self.ckpt, cfg, lr_changes)
        if self.model.image_size != cfg.image_size:  # pragma: no cover - build_model guarantees it
            check_image_shape(self.data.shape[1:], self.model.image_size, cfg.model, self.data_desc)

    def _write_run_folder(self) -> None:
        if self.rank != 0:
            return
        meta = {"config": self.cfg.to_dict(), "metadata": run_metadata(self.device),
                "world_size": self.world, "data_source": self.data_desc,
                "n_train_images": self.n_items, "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total_steps,
                "model_label": registry.THESIS_MODEL_LABELS.get(self.cfg.model),
                "n_parameters": sum(p.numel() for p in self.model.parameters())}
        write_run_folder(self.out_dir, meta, self.step if self.ckpt is not None else None,
                         changed=self.resume_changes)

    # ---- one step ---------------------------------------------------------------------
    def train_step(self) -> Tuple[int, Dict[str, torch.Tensor]]:
        """One optimisation step (:meth:`Trainer.train_step`) on this rank's shard of the next
        batch of the epoch's permutation (:class:`~waelib.train.batches.BatchSource`). Advances ``step`` and
        queues the loss terms for :meth:`log`; returns ``(epoch, terms)``, terms on the device."""
        cfg = self.cfg
        epoch, idx = self.batches.indices_at(self.step)
        x = self.trainer.prepare_batch(self.data[idx])
        terms = self.trainer.train_step(x)
        if not self._term_names:
            self._term_names = list(terms)
        self.step += 1
        self._window_images += cfg.batch_size
        self._pending.append((self.step, epoch, terms))
        return epoch, terms

    # ---- log: the host sync -----------------------------------------------------------
    def log(self, stop_local: bool) -> Tuple[bool, bool]:
        """Host sync: log the pending steps (averaged over ranks), check them for NaN/inf,
        agree on stopping and on a time-based checkpoint (rank 0's clock).
        Returns (some rank asked to stop, a checkpoint is due by time)."""
        vals, stop, bad = self._reduce(stop_local)
        dt = time.perf_counter() - self._window_t0
        ips = self._window_images / dt if dt > 0 else float("nan")
        self._check_finite(vals)
        self._check_state_finite(bad)
        if self.rank == 0 and self._pending:
            self._write_log_rows(vals, ips)
        self._pending = []
        self._last_sync_step = self.step
        self._window_t0, self._window_images = time.perf_counter(), 0
        return bool(stop[0] > 0), bool(stop[1] > 0)

    def _reduce(self, stop_local: bool) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One device-to-host copy of: the pending terms as a (steps, terms) tensor averaged
        over ranks; the flags (stop asked, checkpoint due by time) summed over ranks; and one
        flag per floating-point parameter and buffer (:meth:`_state_flags`), > 0 where some
        rank holds a NaN/inf. All three on the CPU."""
        cfg, names = self.cfg, self._term_names
        if self._pending:
            vals = torch.stack([torch.stack([t[k].float() for k in names]) for _, _, t in self._pending])
        else:
            vals = torch.zeros(0, len(names), device=self.device)
        due = (self.rank == 0 and cfg.checkpoint_minutes is not None
               and time.monotonic() - self.last_ckpt_time > 60.0 * cfg.checkpoint_minutes)
        stop = torch.tensor([float(stop_local), float(due)], device=self.device)
        bad = self._state_flags()
        flat = torch.cat([vals.flatten().to(self.device), stop, bad])
        if self.is_dist:
            dist.all_reduce(flat)
        flat = flat.cpu()                                   # the one host sync of a log sync
        n_vals = vals.numel()
        vals = flat[:n_vals].view_as(vals)
        if self.is_dist:
            vals = vals / self.world
        return vals, flat[n_vals:n_vals + 2], flat[n_vals + 2:]

    def _watched_state(self) -> List[Tuple[str, torch.Tensor]]:
        """The model's floating-point parameters and buffers (BatchNorm running statistics),
        by their ``state_dict`` names."""
        return [(k, v) for k, v in self.model.state_dict(keep_vars=True).items()
                if v.is_floating_point()]

    def _state_flags(self) -> torch.Tensor:
        """On the device, without a host sync: one float per tensor of :meth:`_watched_state`,
        1.0 where it holds a NaN or inf. One fused L1-norm kernel (``_foreach_norm``): a sum
        is NaN/inf exactly when an entry is (or, for absurd finite values, when it overflows,
        which :meth:`_nonfinite_names` then tells apart)."""
        ts = [t.detach() for _, t in self._watched_state()]
        if not ts:
            return torch.zeros(0, device=self.device)
        try:
            norms = torch._foreach_norm(ts, 1)
        except (AttributeError, RuntimeError, TypeError):   # pragma: no cover - old torch
            norms = [t.float().abs().sum() for t in ts]
        norms = torch.stack([n.float().to(self.device) for n in norms])
        return (~torch.isfinite(norms)).float()

    def _nonfinite_names(self, candidates: Optional[List[str]] = None) -> List[str]:
        """Exactly which parameters/buffers hold NaN/inf (host syncs: the error path only)."""
        return [k for k, v in self._watched_state()
                if (candidates is None or k in candidates) and not bool(torch.isfinite(v).all())]

    def _check_state_finite(self, bad: torch.Tensor) -> None:
        """Raise :class:`NonFiniteLossError` naming the first non-finite parameter or buffer
        (e.g. ``decoder.net.3.running_var``) and the steps since the last log sync, in which it
        became non-finite."""
        if bad.numel() == 0 or not bool((bad > 0).any()):
            return
        state = self._watched_state()
        flagged = [k for (k, _), b in zip(state, bad.tolist()) if b > 0]
        names = self._nonfinite_names(flagged) or flagged   # other ranks: trust their flags
        self._raise_nonfinite_state(names, self._last_sync_step + 1, self.step)

    def _raise_nonfinite_state(self, names: List[str], first: int, last: int) -> None:
        param_names = {k for k, _ in self.model.named_parameters()}
        first_name = names[0]
        what = ("parameter" if first_name in param_names else
                "BatchNorm running statistic" if "running_" in first_name else "buffer")
        window = f"step {last}" if first >= last else f"steps {first}-{last}"
        more = "" if len(names) == 1 else (
            f" ({len(names)} tensors in all: {', '.join(names[:8])}"
            f"{', ...' if len(names) > 8 else ''})")
        self._bar.close()
        raise NonFiniteLossError(
            f"{what} {first_name!r} of {self.cfg.model} became NaN/inf during {window} (found at "
            f"the log sync after step {last}; log_every={self.cfg.log_every} steps between "
            f"checks){more}. The loss terms were still finite. The last good checkpoint is kept "
            f"at {checkpoint_desc(self.ckpt_path, self.last_good_step)}. "
            + self._resume_advice())

    def _resume_advice(self) -> str:
        """How to continue with a lower learning rate, on the command line and in Python."""
        lr = self.cfg.lr
        disc = (f" --disc-lr {self.cfg.disc_lr / 10:g}" if self.cfg.disc_lr is not None else "")
        disc_py = (f", disc_lr={self.cfg.disc_lr / 10:g}" if self.cfg.disc_lr is not None else "")
        return (f"To continue, resume from it with a lower learning rate: python -m waelib.train "
                f"--out {self.out_dir} --resume --lr {lr / 10:g}{disc} (in Python: fit(..., "
                f"out={str(self.out_dir)!r}, resume=True, lr={lr / 10:g}{disc_py})); a resume "
                f"applies the new rates to the restored optimisers.")

    def _check_finite(self, vals: torch.Tensor) -> None:
        """Raise :class:`NonFiniteLossError` naming the first non-finite step and its cause."""
        finite = torch.isfinite(vals)
        if bool(finite.all()):
            return
        names = self._term_names
        i = int((~finite).any(dim=1).nonzero()[0])
        bad = [k for k, ok in zip(names, finite[i].tolist()) if not ok]
        name = next((k for k in bad if k != "loss"), bad[0])  # name the cause, not the sum
        value = vals[i, names.index(name)].item()
        bad_step, bad_epoch, _ = self._pending[i]
        self._bar.close()
        raise NonFiniteLossError(
            f"loss term {name!r} became {value} at step {bad_step} (epoch {bad_epoch}) of "
            f"{self.cfg.model} (non-finite terms: {', '.join(bad)}). The last good checkpoint is kept at "
            f"{checkpoint_desc(self.ckpt_path, self.last_good_step)}. Check the data for NaN/inf "
            f"pixels. " + self._resume_advice())

    def _write_log_rows(self, vals: torch.Tensor, ips: float) -> None:
        """Append the pending rows to ``log.jsonl`` and update the progress bar (rank 0)."""
        names = self._term_names
        now = time.time()
        lines = []
        for (s, e, _), row in zip(self._pending, vals.tolist()):
            rec = {"step": s, "epoch": e, **dict(zip(names, row)),
                   "images_per_second": ips, "time": now}
            lines.append(json.dumps(rec) + "\n")
        with open(self.out_dir / LOG_NAME, "a") as fh:
            fh.writelines(lines)
        if self.tb is not None:
            for (s, _, _), row in zip(self._pending, vals.tolist()):
                for k, v in zip(names, row):
                    self.tb.add_scalar(f"train/{k}", v, s)
            self.tb.add_scalar("train/images_per_second", ips, self._pending[-1][0])
        last = dict(zip(names, vals[-1].tolist()))
        post = {"ep": self._pending[-1][1], "img/s": f"{ips:.0f}"}
        post.update({k: f"{v:.4g}" for k, v in last.items() if k in ("loss", "recon", "kl", "penalty", "disc_loss")})
        self._bar.set_postfix(post, refresh=False)
        self._bar.update(len(self._pending))

    # ---- outputs ----------------------------------------------------------------------
    def save_checkpoint(self, finished: bool) -> None:
        """Write ``checkpoint.pt`` (rank 0) with every rank's RNG state, after checking that
        the parameters are finite (a NaN model never overwrites the last good checkpoint)."""
        if not self.trainer.params_finite():   # a safety net: log() already checked them
            names = self._nonfinite_names() or ["(a tensor on another rank)"]
            self._raise_nonfinite_state(names, self._last_sync_step + 1, self.step)
        self.trainer.sync_buffers()
        states = gather_rng_states(self.is_dist, self.world)
        if self.rank == 0:
            write_checkpoint(self.ckpt_path, self.model, self.trainer.optimizers, step=self.step,
                             cfg=self.cfg, n_items=self.n_items,
                             steps_per_epoch=self.steps_per_epoch, rng_states=states,
                             world_size=self.world, finished=finished)
        self.last_good_step = self.step
        self.last_ckpt_time = time.monotonic()
        if self.tb is not None:
            self.tb.flush()

    def sample_codes(self) -> torch.Tensor:
        """The codes of the progress grids: ``n_samples`` draws of the model's prior as it is now,
        from a generator seeded with the run's seed (the same noise at every save). Drawn afresh
        at each save, so a learned prior (VampPrior, 2-Stage VAE, FlexAE, VAE-IOP) shows its
        current samples; for a fixed N(0, sigma^2 I) prior they are the same codes every time."""
        return self.model.sample_prior(self.cfg.n_samples, generator=torch.Generator().manual_seed(self.cfg.seed),
                                       device=self.device)

    def save_samples(self) -> None:
        """``samples_step{N:06d}.png``: :meth:`sample_codes` decoded (rank 0)."""
        if self.rank != 0:
            return
        # deferred: torchvision is slow to import and only this function needs it
        from torchvision.utils import make_grid, save_image
        model = self.model
        was_training = model.training
        model.eval()
        with torch.no_grad(), self.trainer.autocast():
            imgs = model.decode(self.sample_codes()).float().clamp(0, 1).cpu()
        model.train(was_training)
        nrow = max(1, int(math.sqrt(self.cfg.n_samples)))
        grid = make_grid(imgs, nrow=nrow, padding=2)
        save_image(grid, self.out_dir / f"samples_step{self.step:06d}.png")
        if self.tb is not None:
            self.tb.add_image("samples", grid, self.step)

    # ---- the loop ---------------------------------------------------------------------
    def train(self) -> FitResult:
        """Run the steps from ``step`` to ``total_steps`` (call :meth:`prepare` first).

        Host syncs (:meth:`log`) every ``log_every`` steps and whenever a checkpoint or a sample
        grid is due; a stop request (SIGINT/SIGTERM or the callback) checkpoints and ends the
        run at the next sync. Returns the :class:`FitResult`."""
        self._start_loop()
        cfg = self.cfg
        with StopFlag() as stop_flag:
            try:
                while self.step < self.total_steps:
                    epoch, terms = self.train_step()
                    by_callback = self._callback_asks_to_stop(epoch, terms)
                    want_stop = by_callback or stop_flag.requested
                    if not self._sync_due(want_stop):
                        continue
                    stop_now, ckpt_due = self.log(want_stop)
                    if stop_now:
                        self.interrupted = True
                        why = stop_flag.signal_name or ("callback" if by_callback else "another rank")
                        self.stop_reason = why
                        log_rank0(f"stop requested ({why}); saving a checkpoint at step {self.step}",
                                  self.rank)
                        self.save_checkpoint(finished=False)
                        break
                    if self.step % cfg.sample_every == 0:
                        self.save_samples()
                    if (self.step % cfg.checkpoint_every == 0 or ckpt_due) and self.step < self.total_steps:
                        self.save_checkpoint(finished=False)
                else:
                    self._finish()
            finally:
                self._bar.close()
                if self.tb is not None:
                    self.tb.close()
                    self.tb = None
        try:
            return self.result()
        finally:
            torch.set_num_threads(self._threads_before)

    def _start_loop(self) -> None:
        self._bar = progress_bar(total=self.total_steps, initial=self.step,
                                 disable=(self.rank != 0 or not self.cfg.progress),
                                 desc=f"{self.cfg.model}", dynamic_ncols=True, leave=True)
        self._open_tensorboard()
        self._first_step = self.step
        self._last_sync_step = self.step
        self._pending: List[Tuple[int, int, Dict[str, torch.Tensor]]] = []
        self._term_names: List[str] = []
        self._window_t0 = time.perf_counter()
        self._window_images = 0
        self.interrupted = False
        self.batches = BatchSource(self.data, self.cfg.batch_size, self.cfg.seed, rank=self.rank,
                                   world=self.world)
        self.model.train()

    def _open_tensorboard(self) -> None:
        """``tensorboard=True``: a SummaryWriter on ``<out>/tensorboard`` (rank 0). A fresh run
        starts a fresh event log; a resume purges the events after the checkpoint's step."""
        self.tb = None
        if not self.cfg.tensorboard or self.rank != 0:
            return
        # deferred: optional package, only with tensorboard=True
        from torch.utils.tensorboard import SummaryWriter
        tb_dir = self.out_dir / TENSORBOARD_DIR
        if self.ckpt is None and tb_dir.is_dir():
            for f in tb_dir.glob("events.out.tfevents.*"):
                f.unlink()
        self.tb = SummaryWriter(log_dir=str(tb_dir),
                                purge_step=self.step if self.ckpt is not None else None)

    def _callback_asks_to_stop(self, epoch: int, terms: Dict[str, torch.Tensor]) -> bool:
        return bool(self.callback is not None and self.callback(
            {"step": self.step, "epoch": epoch, "terms": terms, "trainer": self.trainer}))

    def _sync_due(self, want_stop: bool) -> bool:
        cfg, step = self.cfg, self.step
        return (step % cfg.log_every == 0 or step == self.total_steps
                or step % cfg.checkpoint_every == 0 or step % cfg.sample_every == 0
                or (want_stop and not self.is_dist))

    def _finish(self) -> None:
        """After the last step: flush the log, then the final samples and checkpoint (unless
        the checkpoint resumed from was already the finished one)."""
        if self._pending:
            self.log(False)
        already_done = (self.ckpt is not None and self.ckpt.get("finished")
                        and self.step == int(self.ckpt["step"]))
        if not already_done:
            if self.step % self.cfg.sample_every:
                self.save_samples()
            self.save_checkpoint(finished=True)

    def result(self) -> FitResult:
        """The :class:`FitResult`; under DDP the ranks' model checksums are compared and
        written to ``replicas.json`` (a collective: every rank calls this)."""
        checksums = None
        if self.is_dist:
            mine = state_checksum(self.model)
            checksums = [None] * self.world
            dist.all_gather_object(checksums, mine)
            if self.rank == 0:
                atomic_write_json(self.out_dir / "replicas.json", {"step": self.step, "sha256": checksums})
        self.model.eval()
        history = read_log(self.out_dir) if self.rank == 0 else []
        return FitResult(model=self.model, history=history, out_dir=self.out_dir,
                         checkpoint=self.ckpt_path, step=self.step,
                         epoch=self.step // self.steps_per_epoch, interrupted=self.interrupted,
                         config=self.cfg, replica_checksums=checksums,
                         stop_reason=self.stop_reason, trained_steps=self.step - self._first_step)


def _merge_config(model_name: Optional[str], dataset: Any,
                  config: Union[TrainConfig, Dict[str, Any], None],
                  overrides: Dict[str, Any]) -> TrainConfig:
    """``config`` (or the defaults) with ``model_name``, a dataset name and ``overrides``
    applied, validated."""
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
    return cfg


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
    cfg = _merge_config(model_name, dataset, config, overrides)
    return Run(cfg, dataset, callback=callback).prepare().train()
