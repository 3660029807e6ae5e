"""WAE-MMD training steps: waelib vs pythae, the same network on the same data, alternating.

    pip install pythae          # optional extra: pip install -e .[bench]
    python benchmarks/pythae_compare.py --json results/bench/pythae_wae_mmd.json

pythae (https://github.com/clementchadebec/benchmark_VAE) trains its ``WAE_MMD`` model with its
own ``BaseTrainer`` loop (DataLoader over a ``BaseDataset``, ``model(inputs)`` computing the loss,
``zero_grad``/``backward``/``step`` and ``loss.item()`` per step). Here it gets waelib's own
WAE-MMD encoder and decoder (DCGAN, §4.3.2), wrapped in pythae's ``BaseEncoder``/``BaseDecoder``
and started from the same weights, the same synthfaces images, batch size, optimiser (Adam,
lr 1e-3, betas (0.5, 0.999)) and, as far as pythae's options allow, the same objective
(:data:`OBJECTIVE_DIFFERENCES` lists what is and is not matched, read from pythae's
``models/wae_mmd/wae_mmd_model.py``).

Each round runs one waelib training run (``waelib.train.fit``, the trainer's own choice of
CPU path, no progress bar) and one pythae run (``BaseTrainer.train``, its progress bar
removed), in alternating order; a callback time-stamps every step, and a side's rate is
(steps - warm-up) / (time of the last step - time of the last warm-up step), so start-up, data
preparation and the final model saving are not timed. Reported: steps/s per side (median and
quartiles over rounds), the per-round ratio waelib/pythae (median, quartiles, range), and
waelib's naive path (fp32, NCHW, default Adam) for reference when ``--naive`` is given.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from waelib import config  # noqa: E402
from waelib.losses import recon_scale_for  # noqa: E402
from waelib.registry import build_model  # noqa: E402
from waelib.train import TrainConfig, fit  # noqa: E402
from waelib.utils import atomic_write_json, run_metadata  # noqa: E402

#: Every difference between waelib's WAE-MMD objective/loop and pythae's, as run here.
OBJECTIVE_DIFFERENCES: List[Dict[str, str]] = [
    {"item": "prior P_Z", "matched": "no",
     "detail": "pythae draws z_prior = randn_like(z), i.e. N(0, I), and has no option for its "
               "variance; waelib (thesis, official WAE code) uses N(0, sigma_z^2 I) with "
               "sigma_z^2 = 2. The MMD targets differ."},
    {"item": "IMQ kernel base scale C", "matched": "yes",
     "detail": "pythae C = 2 * d * kernel_bandwidth^2; with kernel_bandwidth = sqrt(2) this is "
               "waelib's C = 2 * d * sigma_z^2 (d = 64)."},
    {"item": "kernel scales", "matched": "yes",
     "detail": "both sum the IMQ kernel over the scales (0.1, 0.2, 0.5, 1, 2, 5, 10) x C."},
    {"item": "MMD estimator", "matched": "yes (up to rounding)",
     "detail": "both are the unbiased estimator: within-set sums without the diagonal over "
               "n(n-1), cross term over n^2 (pythae subtracts diag(k) from k; waelib multiplies "
               "by 1 - I)."},
    {"item": "pairwise distances", "matched": "same value, different computation",
     "detail": "pythae: torch.norm(z1[:, None] - z2[None], dim=-1) ** 2 (an n x n x d tensor); "
               "waelib: |a|^2 + |b|^2 - 2 a.b, clamped at 0 (n x n). Equal up to rounding; "
               "different cost and memory."},
    {"item": "reconstruction term", "matched": "yes",
     "detail": "pythae: reconstruction_loss_scale * sum over pixels of (x - x_hat)^2, batch "
               "mean; waelib: recon_scale * mean ||x - x_hat||^2. reconstruction_loss_scale is "
               "set to waelib's recon_scale_for(32) = 0.8."},
    {"item": "penalty weight lambda", "matched": "yes", "detail": "pythae reg_weight = 100 = "
               "waelib lam (WAE_MMD_LAMBDA)."},
    {"item": "optimiser", "matched": "same algorithm and hyper-parameters",
     "detail": "Adam, lr 1e-3, betas (0.5, 0.999) on both; pythae uses torch's default "
               "(for-loop) Adam on the CPU, waelib the settings its CPU table chooses (fused "
               "Adam: same update, different rounding)."},
    {"item": "data order and noise", "matched": "no",
     "detail": "pythae: DataLoader(shuffle=True) with its own seeding, last partial batch kept; "
               "waelib: its per-epoch permutation, last partial batch dropped. The prior draws "
               "come from different RNG streams. Irrelevant to speed; the two runs' losses are "
               "not comparable step by step."},
    {"item": "host syncs", "matched": "no",
     "detail": "pythae calls loss.item() (and a NaN check) every step; waelib syncs every "
               "log_every = 10 steps. On the CPU a sync costs nothing measurable."},
    {"item": "network", "matched": "yes",
     "detail": "waelib's DCGAN encoder and decoder (width and size below), wrapped in pythae's "
               "BaseEncoder/BaseDecoder, same initial weights; BatchNorm in training mode on both."},
]


def _pythae_model(net, latent_dim: int, image_size: int, recon_scale: float, sigma2: float):
    from pythae.models import WAE_MMD, WAE_MMD_Config
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self, enc):
            BaseEncoder.__init__(self)
            self.net = enc

        def forward(self, x):
            return ModelOutput(embedding=self.net(x))

    class Decoder(BaseDecoder):
        def __init__(self, dec):
            BaseDecoder.__init__(self)
            self.net = dec

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z))

    cfg = WAE_MMD_Config(input_dim=(3, image_size, image_size), latent_dim=latent_dim,
                         kernel_choice="imq", reg_weight=config.WAE_MMD_LAMBDA,
                         kernel_bandwidth=math.sqrt(sigma2), scales=list(config.MMD_SCALES),
                         reconstruction_loss_scale=recon_scale)
    return WAE_MMD(cfg, encoder=Encoder(copy.deepcopy(net.encoder)),
                   decoder=Decoder(copy.deepcopy(net.decoder)))


def _rate(stamps: List[tuple], warmup: int) -> tuple:
    """(steps per wall-clock second, steps per CPU-second of this process) after ``warmup``."""
    n = len(stamps) - warmup
    return (n / (stamps[-1][0] - stamps[warmup - 1][0]),
            n / max(stamps[-1][1] - stamps[warmup - 1][1], 1e-9))


def _stamp() -> tuple:
    return (time.perf_counter(), time.process_time())


def run_waelib(data_u8: torch.Tensor, steps: int, warmup: int, args, naive: bool) -> tuple:
    stamps: List[tuple] = []
    extra = dict(channels_last=False, fused=False, compile=False) if naive else {}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(model="wae_mmd", image_size=args.image_size, width=args.width,
                          batch_size=args.batch_size, steps=steps, seed=0, device="cpu",
                          out=tmp, progress=False, sample_every=10**9, checkpoint_every=10**9,
                          checkpoint_minutes=None, **extra)
        fit("wae_mmd", data_u8, cfg, callback=lambda info: stamps.append(_stamp()))
    return _rate(stamps, warmup)


def run_pythae(model_template, data_f32: torch.Tensor, steps: int, warmup: int, args) -> tuple:
    from pythae.data.datasets import BaseDataset
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import ProgressBarCallback, TrainingCallback

    stamps: List[tuple] = []

    class Stamp(TrainingCallback):
        def on_train_step_end(self, training_config, **kwargs):
            stamps.append(_stamp())

    steps_per_epoch = math.ceil(len(data_f32) / args.batch_size)
    epochs = math.ceil(steps / steps_per_epoch)
    model = copy.deepcopy(model_template)
    with tempfile.TemporaryDirectory() as tmp:
        tcfg = BaseTrainerConfig(output_dir=tmp, per_device_train_batch_size=args.batch_size,
                                 num_epochs=epochs, learning_rate=1e-3, optimizer_cls="Adam",
                                 optimizer_params={"betas": (config.WAE_BETA1, 0.999)}, seed=0,
                                 no_cuda=True)
        ds = BaseDataset(data_f32, torch.zeros(len(data_f32)))

        class Trainer(BaseTrainer):      # pythae's own loop, without its per-step progress bar
            def _setup_callbacks(self):
                super()._setup_callbacks()
                self.callback_handler.callbacks = [
                    c for c in self.callback_handler.callbacks
                    if not isinstance(c, ProgressBarCallback)]

        trainer = Trainer(model=model, train_dataset=ds, training_config=tcfg, callbacks=[Stamp()])
        trainer.train()
    return _rate(stamps, warmup)


def _spread(xs):
    xs = sorted(xs)
    q = lambda p: xs[min(len(xs) - 1, max(0, round(p * (len(xs) - 1))))]
    return {"median": statistics.median(xs), "q1": q(0.25), "q3": q(0.75), "min": xs[0],
            "max": xs[-1], "n": len(xs)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=48, help="steps per run (timed: steps - warmup)")
    p.add_argument("--warmup", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--width", type=float, default=0.125)
    p.add_argument("--n-images", type=int, default=1024)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--naive", action="store_true", help="also time waelib's naive path")
    p.add_argument("--json", dest="json_path")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    import logging

    import pythae
    logging.getLogger("pythae").setLevel(logging.WARNING)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("pythae"):
            logging.getLogger(name).setLevel(logging.WARNING)
    from waelib.data import load_dataset, to_uint8_tensor

    t0 = time.perf_counter()
    ds = load_dataset("synthfaces", image_size=a.image_size, n=a.n_images + a.n_images // 4)
    data_u8 = to_uint8_tensor(ds)[: a.n_images]
    data_f32 = data_u8.float().div_(255)
    prep_s = time.perf_counter() - t0

    torch.manual_seed(0)
    net = build_model("wae_mmd", image_size=a.image_size, width=a.width)
    template = _pythae_model(net, net.latent_dim, a.image_size, recon_scale_for(a.image_size),
                             net.prior_sigma2)
    sides = ["waelib", "pythae"] + (["waelib_naive"] if a.naive else [])
    rates: Dict[str, List[float]] = {s: [] for s in sides}
    cpu_rates: Dict[str, List[float]] = {s: [] for s in sides}
    load = []
    for r in range(a.rounds):
        order = sides[r % len(sides):] + sides[:r % len(sides)]
        load.append(os.getloadavg()[0])
        for s in order:
            if s == "pythae":
                wall, cpu = run_pythae(template, data_f32, a.steps, a.warmup, a)
            else:
                wall, cpu = run_waelib(data_u8, a.steps, a.warmup, a, naive=(s != "waelib"))
            rates[s].append(wall)
            cpu_rates[s].append(cpu)
            print(f"round {r}: {s} {wall:.2f} steps/s ({cpu:.2f} per CPU-second)", flush=True)
    ratio = [w / q for w, q in zip(rates["waelib"], rates["pythae"])]
    cpu_ratio = [w / q for w, q in zip(cpu_rates["waelib"], cpu_rates["pythae"])]
    cfg = TrainConfig(model="wae_mmd", image_size=a.image_size, width=a.width,
                      batch_size=a.batch_size).resolved(torch.device("cpu"))
    report: Dict[str, Any] = {
        "steps_per_second": {s: _spread(v) for s, v in rates.items()},
        "round_steps_per_second": rates,
        "ratio_waelib_to_pythae": _spread(ratio),
        "cpu_time_steps_per_second": {s: _spread(v) for s, v in cpu_rates.items()},
        "round_cpu_time_steps_per_second": cpu_rates,
        "cpu_time_ratio_waelib_to_pythae": _spread(cpu_ratio),
        "target": "waelib steps/s >= 1.5 x pythae's",
        "target_met": statistics.median(ratio) >= 1.5,
        "settings": {
            "model": "wae_mmd (waelib DCGAN encoder/decoder)", "image_size": a.image_size,
            "width": a.width, "latent_dim": net.latent_dim, "batch_size": a.batch_size,
            "n_images": a.n_images, "data": "synthfaces (waelib.data), the same images for both",
            "steps_per_run": a.steps, "warmup_steps": a.warmup, "rounds": a.rounds,
            "torch_threads": torch.get_num_threads(),
            "waelib_path": {k: getattr(cfg, k) for k in ("amp", "channels_last", "fused", "compile")},
            "waelib_loop": "waelib.train.fit (progress bar off, no samples/checkpoints during timing)",
            "pythae_loop": "pythae BaseTrainer.train (ProgressBarCallback removed), default Adam",
            "optimizer": "Adam lr 1e-3 betas (0.5, 0.999) on both",
            "lambda": config.WAE_MMD_LAMBDA, "recon_scale": recon_scale_for(a.image_size),
            "pythae_kernel_bandwidth": math.sqrt(net.prior_sigma2),
            "data_preparation_seconds": prep_s,
        },
        "objective_differences": OBJECTIVE_DIFFERENCES,
        "versions_extra": {"pythae": getattr(pythae, "__version__", None) or _dist_version("pythae")},
        "load_average_1min_per_round": load,
        "metadata": run_metadata(torch.device("cpu")),
        "notes": ("Alternating runs in one process; each rate excludes the first `warmup_steps` "
                  "steps, start-up and the final save. cpu_time_*: steps per CPU-second of this "
                  "process (with 1 torch thread the contention-robust measure; with more it also "
                  "counts OpenMP spin-waiting). The machine was shared with other jobs "
                  "(see load_average_1min_per_round on 2 cores): compare the per-round ratios."),
    }
    print(json.dumps({k: report[k] for k in ("steps_per_second", "ratio_waelib_to_pythae",
                                              "cpu_time_ratio_waelib_to_pythae", "target_met")},
                     indent=1))
    if a.json_path:
        atomic_write_json(a.json_path, report)
        print(f"wrote {a.json_path}")
    return 0


def _dist_version(name: str):
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
