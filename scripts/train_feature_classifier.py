#!/usr/bin/env python
"""Train the offline feature net for the Fréchet classifier distance (FCD).

The standard FID needs pytorch-fid's Inception weights, which cannot be downloaded on the
machines this course runs on. Following the accepted practice for data sets where
Inception does not fit, this script trains a small CNN (:class:`waelib.metrics.AttributeCNN`)
on the data set's binary attributes (multi-label BCE) and, for ``synthfaces``, also
regresses its standardised continuous factors of variation (MSE). Its 128-d penultimate
layer is then the feature space of the FCD (:class:`waelib.metrics.ClassifierFeatures`).

Usage (the committed asset was made with the defaults; a few minutes on 2 CPU cores)::

    python scripts/train_feature_classifier.py --dataset synthfaces \\
        --out waelib/assets/synthfaces_classifier.pt
    python scripts/train_feature_classifier.py --dataset celeba --out data/celeba_classifier.pt
    python scripts/train_feature_classifier.py --dataset mnist5k --image-size 32 --n-train 4000 \
        --n-heldout 1000 --epochs 15 --out waelib/assets/mnist5k_classifier.pt

For a labelled data set without attributes (``mnist5k``), the ten classes are the attributes
(one-hot, ``digit_0`` ... ``digit_9``), so the same multi-label net and loss serve.

The checkpoint is written atomically and carries a metadata dict: data set, attribute
names, held-out accuracy (mean over attributes, and per attribute), factor R², the full
config, seed, date and hardware.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from waelib.metrics import AttributeCNN, ClassifierFeatures  # noqa: E402
from waelib.utils import atomic_write_bytes, resolve_device, run_metadata, seed_everything  # noqa: E402


def _labels(ds) -> Dict[str, torch.Tensor]:
    """Targets of every item of ``ds`` without rendering/decoding images where the data set
    allows it (synthfaces' ``labels(positions)``, CelebA's attribute table)."""
    positions = None
    base = ds
    while isinstance(base, torch.utils.data.Subset):
        idx = np.asarray(base.indices, dtype=np.int64)
        positions = idx if positions is None else idx[positions]
        base = base.dataset
    if positions is None:
        positions = np.arange(len(base), dtype=np.int64)
    if hasattr(base, "labels"):
        parts = [base.labels(positions[i:i + 4096]) for i in range(0, len(positions), 4096)]
        return {k: torch.cat([p_[k] for p_ in parts]) for k in parts[0]}
    if hasattr(base, "attr") and hasattr(base, "indices"):
        return {"attr": torch.as_tensor(base.attr)[torch.as_tensor(base.indices[positions])]}
    targets = [ds[i][1] for i in range(len(ds))]  # generic (slow) fallback
    return {k: torch.stack([t[k] for t in targets]) for k in targets[0]}


def load_labelled(name: str, split: str, n: int, image_size: int, root: str, seed: int,
                  **options) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
    """``n`` random images of ``split`` as uint8 ``(n, 3, S, S)``, attributes ``(n, A)``
    (0/1 float), factors ``(n, F)`` (``F = 0`` when the data set has none), attribute names."""
    from waelib.data import load_dataset, to_uint8_tensor

    ds = load_dataset(name, root=root, split=split, image_size=image_size, **options)
    if n < len(ds):
        idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n]
        ds = torch.utils.data.Subset(ds, sorted(idx.tolist()))
    images = to_uint8_tensor(ds)
    lab = _labels(ds)
    if "attr" not in lab and "label" in lab:           # classes as one-hot attributes
        attrs = torch.nn.functional.one_hot(lab["label"].long(), 10).float()
        return images, attrs, torch.zeros(len(attrs), 0), [f"digit_{i}" for i in range(10)]
    attrs = lab["attr"].float()
    factors = lab.get("factors", torch.zeros(len(attrs), 0)).float()
    base = ds.dataset if isinstance(ds, torch.utils.data.Subset) else ds
    attr_names = list(getattr(base, "attr_names", None) or
                      [f"attr_{i}" for i in range(attrs.shape[1])])
    return images, attrs, factors, attr_names


def evaluate(net: AttributeCNN, clf: ClassifierFeatures, images: torch.Tensor,
             attrs: torch.Tensor, factors: torch.Tensor, f_mean: torch.Tensor,
             f_std: torch.Tensor, device: torch.device, batch: int = 500) -> Dict[str, object]:
    net.eval()
    correct, preds_f = [], []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = clf.preprocess(images[i:i + batch].to(device))
            logits, fpred = net(x)
            correct.append(((logits > 0).float().cpu() == attrs[i:i + batch]).float())
            if fpred is not None:
                preds_f.append(fpred.cpu() * f_std + f_mean)
    acc = torch.cat(correct).mean(0)
    out: Dict[str, object] = {"heldout_accuracy": float(acc.mean()),
                              "heldout_accuracy_per_attr": [round(float(a), 4) for a in acc],
                              "heldout_majority_baseline": float(
                                  torch.maximum(attrs.mean(0), 1 - attrs.mean(0)).mean())}
    if preds_f:
        pf = torch.cat(preds_f)
        ss_res = ((pf - factors) ** 2).sum(0)
        ss_tot = ((factors - factors.mean(0)) ** 2).sum(0).clamp_min(1e-12)
        r2 = 1 - ss_res / ss_tot
        out["heldout_factor_r2"] = float(r2.mean())
        out["heldout_factor_r2_per_factor"] = [round(float(v), 4) for v in r2]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="synthfaces", choices=["synthfaces", "celeba", "mnist5k"])
    p.add_argument("--out", default=None, help="checkpoint path (default: waelib/assets/"
                   "synthfaces_classifier.pt or data/celeba_classifier.pt)")
    p.add_argument("--root", default="data")
    p.add_argument("--train-split", default=None,
                   help="default: train (synthfaces) / thesis_train (celeba)")
    p.add_argument("--heldout-split", default=None,
                   help="default: test (synthfaces) / thesis_test (celeba)")
    p.add_argument("--cache", action="store_true", help="celeba: use/build the uint8 cache")
    p.add_argument("--n-train", type=int, default=20000)
    p.add_argument("--n-heldout", type=int, default=2000)
    p.add_argument("--image-size", type=int, default=64, help="data resolution (the net "
                   "always sees 64x64)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--factor-weight", type=float, default=0.5,
                   help="weight of the factor-regression MSE next to the attribute BCE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    gen = seed_everything(args.seed)
    device = resolve_device(args.device)
    out = Path(args.out) if args.out else (
        Path(args.root) / "celeba_classifier.pt" if args.dataset == "celeba"
        else ROOT / "waelib" / "assets" / f"{args.dataset}_classifier.pt")

    celeba = args.dataset == "celeba"
    args.train_split = args.train_split or ("thesis_train" if celeba else "train")
    args.heldout_split = args.heldout_split or ("thesis_test" if celeba else "test")
    options = {"cache": True} if (celeba and args.cache) else {}

    t0 = time.time()
    xtr, atr, ftr, attr_names = load_labelled(args.dataset, args.train_split, args.n_train,
                                              args.image_size, args.root, args.seed, **options)
    xte, ate, fte, _ = load_labelled(args.dataset, args.heldout_split, args.n_heldout,
                                     args.image_size, args.root, args.seed + 1, **options)
    print(f"data: train {tuple(xtr.shape)}, held-out {tuple(xte.shape)}, {len(attr_names)} "
          f"attributes, {ftr.shape[1]} factors ({time.time() - t0:.1f} s)", flush=True)

    n_factors = ftr.shape[1]
    f_mean = ftr.mean(0) if n_factors else torch.zeros(0)
    f_std = ftr.std(0).clamp_min(1e-6) if n_factors else torch.ones(0)
    net = AttributeCNN(n_attr=len(attr_names), n_factors=n_factors).to(device)
    clf = ClassifierFeatures(net, name=f"{args.dataset}_classifier", attr_names=attr_names)
    for prm in net.parameters():
        prm.requires_grad_(True)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = args.epochs * ((len(xtr) + args.batch_size - 1) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps,
                                                pct_start=0.15)
    pos_weight = None
    history = []
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=gen)
        tot, nb, t1 = 0.0, 0, time.time()
        for i in range(0, len(xtr), args.batch_size):
            idx = perm[i:i + args.batch_size]
            x = xtr[idx].to(device)
            if torch.rand(1, generator=gen).item() < 0.5:  # mild augmentation: resolution jitter
                s = int(torch.randint(32, 129, (1,), generator=gen))
                x = nn.functional.interpolate(x.float() / 255, size=(s, s), mode="bilinear",
                                  align_corners=False, antialias=s < x.shape[-1])
            x = clf.preprocess(x)
            logits, fpred = net(x)
            loss = nn.functional.binary_cross_entropy_with_logits(logits, atr[idx].to(device),
                                                      pos_weight=pos_weight)
            if fpred is not None:
                loss = loss + args.factor_weight * nn.functional.mse_loss(
                    fpred, ((ftr[idx] - f_mean) / f_std).to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach())
            nb += 1
        ev = evaluate(net, clf, xte, ate, fte, f_mean, f_std, device)
        history.append({"epoch": epoch + 1, "train_loss": tot / nb, **{
            k: v for k, v in ev.items() if not k.endswith(("per_attr", "per_factor"))}})
        print(f"epoch {epoch + 1}/{args.epochs}: loss {tot / nb:.4f}, held-out accuracy "
              f"{ev['heldout_accuracy']:.4f} (majority {ev['heldout_majority_baseline']:.4f})"
              + (f", factor R² {ev['heldout_factor_r2']:.3f}" if 'heldout_factor_r2' in ev else "")
              + f" ({time.time() - t1:.1f} s)", flush=True)

    net.eval().cpu()
    meta = run_metadata(device)
    clf.metadata = {
        "dataset": args.dataset, "attr_names": attr_names, **ev,
        "factor_mean": [float(v) for v in f_mean], "factor_std": [float(v) for v in f_std],
        "config": {k: v for k, v in vars(args).items() if k != "out"},
        "arch": dict(net.config), "seed": args.seed, "history": history,
        "train_seconds": round(time.time() - t0, 1),
        "command": "python scripts/train_feature_classifier.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
        **meta,
    }
    # plain JSON types only, so that torch.load(..., weights_only=True) accepts the file
    # (e.g. torch.__version__ is a str subclass that the safe unpickler refuses)
    clf.metadata = json.loads(json.dumps(clf.metadata, default=str))
    buf = io.BytesIO()
    torch.save(clf.checkpoint(), buf)  # float32 weights incl. BN running statistics
    atomic_write_bytes(out, buf.getvalue())
    print(f"saved {out} ({out.stat().st_size / 1024:.0f} KiB); held-out accuracy "
          f"{ev['heldout_accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
