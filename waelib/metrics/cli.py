"""``python -m waelib.metrics --bench``: this machine's feature-extraction throughput and
the cost of one 2048-d Fréchet distance next to ``scipy.linalg.sqrtm``."""
from __future__ import annotations

import argparse
import math
import platform
import time
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch

from .features import AttributeCNN, ClassifierFeatures, FeatureExtractor, InceptionFeatures, load_feature_extractor
from .frechet import frechet_distance


# =====================================================================================
# Benchmark: python -m waelib.metrics --bench
# =====================================================================================
def _images_per_second(ext: FeatureExtractor, size: int, batch: int, repeats: int) -> float:
    x = torch.rand(batch, 3, size, size)
    with torch.no_grad():
        ext(x)  # warm-up
        t = time.perf_counter()
        for _ in range(repeats):
            ext(x)
        dt = time.perf_counter() - t
    return batch * repeats / dt


def bench(*, dim: int = 2048, threads: Optional[int] = None) -> Dict[str, Any]:
    """Print and return this machine's metric costs (see module docstring)."""

    if threads:
        torch.set_num_threads(threads)
    res: Dict[str, Any] = {"machine": f"{platform.processor() or platform.machine()}, "
                                      f"torch threads={torch.get_num_threads()}"}
    print(f"waelib.metrics bench on {res['machine']}")
    try:
        clf = load_feature_extractor("synthfaces_classifier")
        name = clf.name
    except FileNotFoundError:
        clf = ClassifierFeatures(AttributeCNN(n_attr=8), name="classifier(random weights)")
        name = clf.name + " [asset missing]"
    for size in (32, 64, 128):
        ips = _images_per_second(clf, size, 100, 3)
        res[f"classifier_{size}px_img_per_s"] = ips
        print(f"  feature extraction, {name}, {size}px, batch 100: {ips:8.1f} images/s")
    try:
        inc = InceptionFeatures()
        label = "inception (real weights)"
    except FileNotFoundError:
        inc = InceptionFeatures(random_weights=True)
        label = "inception with RANDOM weights (real file absent; same cost)"
    ips = _images_per_second(inc, 64, 8, 2)
    res["inception_img_per_s"] = ips
    print(f"  feature extraction, {label}, 64px→299, batch 8: {ips:8.1f} images/s")

    rng = np.random.default_rng(0)
    a = rng.standard_normal((dim, dim)) / math.sqrt(dim)
    b = rng.standard_normal((dim, dim)) / math.sqrt(dim)
    s1, s2 = a @ a.T, b @ b.T + 0.1 * np.eye(dim)
    mu1, mu2 = rng.standard_normal(dim), rng.standard_normal(dim)
    t = time.perf_counter()
    ours = frechet_distance(mu1, s1, mu2, s2)
    t_ours = time.perf_counter() - t
    import scipy.linalg  # deferred: scipy only for the matrix square root of this command

    t = time.perf_counter()
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    ref = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2)
                - 2 * np.trace(np.real(covmean)))
    t_ref = time.perf_counter() - t
    res.update(fd_seconds=t_ours, sqrtm_seconds=t_ref, speedup=t_ref / t_ours,
               fd_rel_diff=abs(ours - ref) / abs(ref))
    print(f"  Fréchet distance, {dim}-d: eigh {t_ours:.2f} s vs scipy sqrtm {t_ref:.2f} s "
          f"(x{t_ref / t_ours:.1f} faster; relative difference {res['fd_rel_diff']:.1e})")
    return res


#: The command's description: the first line of :mod:`waelib.metrics`' docstring.
DESCRIPTION = ("Evaluation metrics: FID (Inception or an offline classifier), sharpness, RMSE, MS-SSIM "
               "diversity, improved precision/recall, KID and latent correlation (NAC).")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m waelib.metrics", description=DESCRIPTION)
    p.add_argument("--bench", action="store_true", help="time feature extraction and the FD")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = p.parse_args(argv)
    if args.bench:
        bench(threads=args.threads)
        return 0
    p.print_help()
    return 0
