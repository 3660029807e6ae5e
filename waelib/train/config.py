"""The configuration of a training run: :class:`TrainConfig`, the thesis' learning rates
(§4.3.1, §4.3.2) and the settings a resumed run must share with its checkpoint."""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch

from .. import config
from ..losses import recon_scale_for
from ..registry import model_spec, objective_for
from .fastpath import cpu_choice

__all__ = ["TrainConfig", "default_lrs", "RESUME_KEYS", "REUSE_KEYS"]


def default_lrs(model_name: str) -> Tuple[float, Optional[float]]:
    """Default learning rates ``(lr, disc_lr)`` of a model's objective (disc_lr is None for an
    objective with one optimiser); an unknown name is a ValueError."""
    return objective_for(model_name).default_lrs()


@dataclass
class TrainConfig:
    """Everything a training run needs. ``None`` means "the thesis / device default".

    Model and data:
        model: a registered name (:data:`waelib.registry.MODEL_NAMES`).
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
        lr: Adam lr of the objective's first optimiser (the model's; the auto-encoder's of a
        WAE-GAN; IntroVAE's encoder's); disc_lr: its second optimiser's (the discriminator's;
        IntroVAE's decoder's), None without one; betas: Adam betas. Defaults: the objective's
        (:mod:`waelib.objectives`);
        lam: penalty weight lambda (None = the loss function's default: 1 GAN, 100 MMD).
        recon_scale: weight of the reconstruction cost in the WAE objectives (None =
            :func:`waelib.losses.recon_scale_for` ``(image_size)``: the official WAE code's
            balance at every image size; 0.05 at 128 px, 0.2 at 64 px, 0.8 at 32 px).
        loss_options: the objective's own weights (each objective's ``options``, e.g. ``rae``
            ``z_weight``/``decoder_l2``; ``intro_vae`` ``alpha``/``beta``/``margin``;
            ``mask_aae`` ``mask_weight``/``mask_binary``). Empty = the objective's defaults.
    Run:
        seed, device ("auto" = CUDA if available), out (run folder; None = runs/<auto name>),
        resume (continue from ``out/checkpoint.pt`` when it exists).
    Fast path (None = the device's fastest correct setting; an explicit value always wins):
        amp ("bf16" or None; "auto" = bf16 on CUDA, off on the CPU: bf16 changes results beyond
        rounding, so on the CPU it is only on when asked for), channels_last, compile
        (torch.compile; inductor on CUDA and on the CPU), fused (fused Adam), data_on_device
        (uint8 data set resident on the GPU), cudnn_benchmark. On CUDA None means on (compile:
        off). On the CPU ``channels_last``/``fused``/``compile`` left at None take the fp32
        settings measured fastest for this model, size and kind of CPU
        (:func:`waelib.train.fastpath.cpu_choice`, backed by ``make bench``).
        ``fast_path`` is output only: :meth:`resolved` records there where the settings came
        from (table entry, CPU kind, which settings were given explicitly).
        threads: torch's intra-op CPU threads for this run (None = torch's current number;
        recorded, because fp32 results differ between thread counts). :func:`fit` sets it
        for the run and restores the previous number after; a resume takes the checkpoint's.
    Output:
        log_every (steps between host syncs: log flush, NaN check, progress bar),
        sample_every, n_samples (grid of decoded prior samples), checkpoint_every (steps) and
        checkpoint_minutes (wall clock, checked at log syncs; None = off): a checkpoint is
        written when either is due, at the end and on SIGINT/SIGTERM; progress (tqdm bar),
        tensorboard (also write every loss term, images/s and the sample grids to a
        TensorBoard event file in ``out/tensorboard/``; needs the ``tensorboard`` package).
    """

    model: str = "wae_resnet"
    dataset: str = "synthfaces"
    image_size: int = config.IMAGE_SIZE
    width: float = 1.0
    latent_dim: Optional[int] = None
    model_overrides: Dict[str, Any] = field(default_factory=dict)
    n: Optional[int] = None
    data_root: str = "data"
    split: Optional[str] = None
    dataset_options: Dict[str, Any] = field(default_factory=dict)
    epochs: Optional[int] = None
    steps: Optional[int] = None
    batch_size: int = config.BATCH_SIZE
    lr: Optional[float] = None
    disc_lr: Optional[float] = None
    betas: Optional[Tuple[float, float]] = None
    lam: Optional[float] = None
    recon_scale: Optional[float] = None
    loss_options: Dict[str, float] = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    out: Optional[str] = None
    resume: bool = False
    amp: Optional[str] = "auto"
    channels_last: Optional[bool] = None
    compile: Optional[bool] = None
    fused: Optional[bool] = None
    data_on_device: Optional[bool] = None
    cudnn_benchmark: Optional[bool] = None
    log_every: int = 10
    sample_every: int = 1000
    n_samples: int = 64
    checkpoint_every: int = 5000
    checkpoint_minutes: Optional[float] = 15.0
    progress: bool = True
    fast_path: Optional[Dict[str, Any]] = None
    tensorboard: bool = False
    threads: Optional[int] = None

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
        model_spec(self.model)
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
        objective_for(self.model).check_options(self.loss_options, self.model)
        for name in ("log_every", "sample_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")

    def resolved(self, device: torch.device, *, total_steps: Optional[int] = None) -> "TrainConfig":
        """Fill every ``None``/"auto" with the thesis value or the device default.

        ``total_steps``: the run's projected length, when known (:class:`waelib.train.Run`
        knows it once the data are loaded). Only the CPU fast path uses it: a long run on a
        CPU kind without a committed measurement measures its fastest path once (cached), and
        ``torch.compile`` is switched on when the run is long enough to pay for it
        (:func:`waelib.train.fastpath.cpu_choice`)."""
        self.validate()
        cuda = device.type == "cuda"
        lr, disc_lr = default_lrs(self.model)
        amp = self.amp
        if amp == "auto":
            amp = "bf16" if (cuda and torch.cuda.is_bf16_supported()) else None
        if amp == "none":
            amp = None
        threads = int(self.threads) if self.threads is not None else torch.get_num_threads()
        fast = self._resolved_fast_path(device, threads, total_steps)
        return self.replace(
            lr=float(self.lr if self.lr is not None else lr),
            disc_lr=(None if disc_lr is None else
                     float(self.disc_lr if self.disc_lr is not None else disc_lr)),
            betas=tuple(self.betas) if self.betas is not None else tuple(objective_for(self.model).betas),
            epochs=(self.epochs if (self.epochs is not None or self.steps is not None) else config.EPOCHS),
            device=str(device), amp=amp, threads=threads, **fast,
            data_on_device=cuda if self.data_on_device is None else bool(self.data_on_device),
            cudnn_benchmark=cuda if self.cudnn_benchmark is None else bool(self.cudnn_benchmark),
            recon_scale=float(self.recon_scale if self.recon_scale is not None
                              else recon_scale_for(self.image_size)),
        )

    def _resolved_fast_path(self, device: torch.device, threads: int,
                            total_steps: Optional[int]) -> Dict[str, Any]:
        """``channels_last``, ``fused``, ``compile`` and the ``fast_path`` record for ``device``:
        explicit values kept; None = on for CUDA (compile off), the measured choice on the CPU
        (:func:`waelib.train.fastpath.cpu_choice`)."""
        names = ("channels_last", "fused", "compile")
        given = {k: bool(getattr(self, k)) for k in names if getattr(self, k) is not None}
        if device.type == "cuda":
            chosen = {"channels_last": True, "fused": True, "compile": False}
            record: Dict[str, Any] = {"source": "CUDA defaults"}
        elif device.type == "cpu":
            steps = total_steps if total_steps is not None else self.steps
            chosen, record = cpu_choice(self.model, self.image_size, self.width,
                                        batch_size=self.batch_size, threads=threads,
                                        projected_steps=steps)
        else:
            chosen = {k: False for k in names}
            record = {"source": f"{device.type}: fast path off"}
        out = {k: given.get(k, chosen[k]) for k in names}
        record = dict(record, explicit=sorted(given), auto={k: chosen[k] for k in names})
        if device.type == "cpu" and out["compile"] and out["channels_last"]:
            # torch 2.14's inductor miscompiles channels-last training steps on the CPU (the
            # VAE's first-step loss off by 8e-4 relative, gradients by up to 20 %, even with
            # layout_optimization off; tests/core/test_fastpath.py): compiled runs stay NCHW.
            # An explicit request still wins (with a warning); the automatic choice never
            # combines the two.
            if "channels_last" in given:
                warnings.warn("channels_last=True with compile=True: inductor (torch 2.14) "
                              "miscompiles channels-last training steps on the CPU (wrong "
                              "gradients); leave channels_last unset to compile in NCHW",
                              stacklevel=3)
                record["note"] = "channels-last + compile as asked: miscompiled on the CPU"
            else:
                out["channels_last"] = False
                record["note"] = "compiled in NCHW: inductor miscompiles channels-last on the CPU"
        return dict(out, fast_path=record)

    def default_out(self) -> str:
        return str(Path("runs") / f"{self.model}_{self.dataset}_{self.image_size}px_w{self.width:g}_seed{self.seed}")


#: Fields that must agree between a checkpoint and a resuming run.
RESUME_KEYS: Tuple[str, ...] = ("model", "image_size", "width", "latent_dim", "model_overrides",
                                "batch_size", "seed", "dataset", "n", "split", "recon_scale",
                                "loss_options")
#: Fields that must agree for a notebook to reuse a run it made before
#: (:func:`waelib.course.experiment.check_reusable_run`): those of a resume, plus the length
#: (a longer earlier run would otherwise be reused silently where a shorter one was asked for).
REUSE_KEYS: Tuple[str, ...] = RESUME_KEYS + ("epochs", "steps")
