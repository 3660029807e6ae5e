"""Fréchet distance (thesis §2.4) and the FID/FCD plumbing: image sources → batches →
features → :class:`FeatureStats` → :class:`FIDResult`, with cached reference statistics
(:func:`reference_statistics`) and the real-vs-real floor (:func:`fid_floor`).
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from waelib.utils import atomic_write_bytes, resolve_device

from .features import FeatureExtractor, load_feature_extractor
from .images import to_float_images

ArrayLike = Union[np.ndarray, torch.Tensor]


# =====================================================================================
# Fréchet distance (thesis §2.4)
# =====================================================================================
def _as_float64(x: ArrayLike, device: torch.device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(device=device, dtype=torch.float64)
    return torch.as_tensor(np.asarray(x), dtype=torch.float64, device=device)


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (thesis §2.4, FID).

    ``d² = ‖mu1 − mu2‖² + tr(Σ1) + tr(Σ2) − 2·tr((Σ1 Σ2)^{1/2})``, in float64.

    The trace of the matrix square root is taken from eigenvalues, not from
    ``scipy.linalg.sqrtm``: with ``S = Σ1^{1/2}`` (symmetric eigendecomposition, negative
    round-off eigenvalues clipped to 0), ``Σ1 Σ2`` is similar to the symmetric PSD matrix
    ``S Σ2 S``, so ``tr((Σ1 Σ2)^{1/2}) = Σ_i sqrt(λ_i(S Σ2 S))``. Two ``eigh`` calls are
    several times faster than a Schur-based ``sqrtm`` at 2048 dims, need no ``eps·I``
    offset for singular covariances (e.g. fewer samples than dimensions), and never
    produce an imaginary component.

    Args:
        mu1, mu2: means, shape ``(d,)``; numpy arrays or torch tensors.
        sigma1, sigma2: covariances, shape ``(d, d)``, symmetric positive semi-definite.
            If any argument is a CUDA tensor the computation runs on that GPU.

    Returns:
        The squared Fréchet distance as a Python float (the quantity called "FID").
    """
    device = torch.device("cpu")
    for a in (mu1, sigma1, mu2, sigma2):
        if isinstance(a, torch.Tensor) and a.is_cuda:
            device = a.device
            break
    m1, m2 = _as_float64(mu1, device).reshape(-1), _as_float64(mu2, device).reshape(-1)
    s1, s2 = _as_float64(sigma1, device), _as_float64(sigma2, device)
    d = m1.numel()
    if m2.numel() != d or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shape mismatch: mu1 {tuple(m1.shape)}, sigma1 {tuple(s1.shape)}, "
                         f"mu2 {tuple(m2.shape)}, sigma2 {tuple(s2.shape)}")
    s1 = 0.5 * (s1 + s1.T)
    s2 = 0.5 * (s2 + s2.T)
    w, v = torch.linalg.eigh(s1)
    root1 = (v * w.clamp_min(0).sqrt()) @ v.T            # Σ1^{1/2}
    m = root1 @ s2 @ root1
    lam = torch.linalg.eigvalsh(0.5 * (m + m.T))
    tr_covmean = lam.clamp_min(0).sqrt().sum()
    diff = m1 - m2
    value = diff.dot(diff) + torch.trace(s1) + torch.trace(s2) - 2.0 * tr_covmean
    return float(value.item())


# =====================================================================================
# Image sources → batches → features → statistics
# =====================================================================================
def _first(batch: Any) -> torch.Tensor:
    """A batch may be a tensor or a (images, targets) tuple/list."""
    if isinstance(batch, (tuple, list)):
        batch = batch[0]
    return to_float_images(batch)


def _uint8_fast_path(dataset: Any) -> Tuple[Any, Optional[np.ndarray]]:
    """``(base, positions)`` when ``dataset`` (possibly nested ``Subset``s) is backed by a data
    set with a batch method ``uint8_batch(positions) -> uint8 (B, 3, S, S)`` (the fast path of
    every :mod:`waelib.data` set); ``(None, None)`` otherwise."""
    positions: Optional[np.ndarray] = None
    while isinstance(dataset, torch.utils.data.Subset):
        idx = np.asarray(dataset.indices, dtype=np.int64)
        positions = idx if positions is None else idx[positions]
        dataset = dataset.dataset
    if not callable(getattr(dataset, "uint8_batch", None)):
        return None, None
    if positions is None:
        positions = np.arange(len(dataset), dtype=np.int64)
    return dataset, positions


def _iter_batches(source: Any, *, n: Optional[int], batch_size: int) -> Iterator[torch.Tensor]:
    """Yield float image batches from a tensor/array, a Dataset, an iterable of batches
    (e.g. a DataLoader) or a callable ``f(batch_size) -> images``; at most ``n`` images."""

    if isinstance(source, (torch.Tensor, np.ndarray)):
        total = len(source) if n is None else min(n, len(source))
        for i in range(0, total, batch_size):
            yield to_float_images(source[i:min(i + batch_size, total)])
        return
    if isinstance(source, Dataset) and hasattr(source, "__len__"):
        total = len(source) if n is None else min(n, len(source))
        base, positions = _uint8_fast_path(source)
        if base is not None:  # batch rendering/decoding (waelib.data's ``uint8_batch``)
            for i in range(0, total, batch_size):
                yield to_float_images(base.uint8_batch(positions[i:min(i + batch_size, total)]))
            return
        if total < len(source):
            source = torch.utils.data.Subset(source, range(total))
        source = DataLoader(source, batch_size=batch_size, shuffle=False, num_workers=0)
    elif callable(source) and not isinstance(source, Iterable):
        if n is None:
            raise ValueError("a callable image source f(batch_size) needs n=")
        done = 0
        while done < n:
            b = min(batch_size, n - done)
            x = _first(source(b))[:b]
            done += len(x)
            yield x
        return
    done = 0
    for batch in source:
        x = _first(batch)
        if n is not None:
            x = x[: n - done]
        if len(x) == 0:
            break
        done += len(x)
        yield x
        if n is not None and done >= n:
            break


@torch.no_grad()
def compute_features(source: Any, extractor: Union[FeatureExtractor, str], *,
                     n: Optional[int] = None, batch_size: int = 100,
                     device: Optional[Union[str, torch.device]] = "auto") -> torch.Tensor:
    """Features ``(N, dim)`` (float32, CPU) of the images in ``source`` (see
    :func:`compute_statistics` for the accepted sources)."""
    ext = load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    dev = resolve_device(device)
    ext = ext.to(dev).eval()
    out = [ext(x.to(dev)).float().cpu() for x in _iter_batches(source, n=n, batch_size=batch_size)]
    if not out:
        raise ValueError("the image source yielded no images")
    return torch.cat(out)


@dataclass
class FeatureStats:
    """Mean ``mu`` ``(d,)`` and covariance ``sigma`` ``(d, d)`` (float64, unbiased, n−1) of
    ``n`` feature vectors from ``extractor`` on ``source`` (a description)."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    extractor: str = ""
    source: str = ""

    def save(self, path: Union[str, Path], key: Optional[dict] = None) -> Path:
        """Write an ``.npz`` atomically (``key``: the settings it was computed with)."""
        buf = io.BytesIO()
        np.savez(buf, mu=self.mu, sigma=self.sigma, n=np.int64(self.n),
                 extractor=np.array(self.extractor), source=np.array(self.source),
                 key=np.array(json.dumps(key or {}, sort_keys=True)))
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: Union[str, Path]) -> "FeatureStats":
        with np.load(path, allow_pickle=False) as z:
            return cls(mu=z["mu"].astype(np.float64), sigma=z["sigma"].astype(np.float64),
                       n=int(z["n"]), extractor=str(z["extractor"]), source=str(z["source"]))


@torch.no_grad()
def compute_statistics(source: Any, extractor: Union[FeatureExtractor, str], *,
                       n: Optional[int] = None, batch_size: int = 100,
                       device: Optional[Union[str, torch.device]] = "auto",
                       label: str = "") -> FeatureStats:
    """Feature mean and covariance (float64) of a set of images.

    Args:
        source: images ``(N, 3, H, W)`` (float in [0, 1] or uint8; tensor or numpy); a
            ``Dataset`` whose items are images or ``(image, target)``; an iterable of such
            batches (e.g. a ``DataLoader``); or a callable ``f(batch_size) -> images`` (e.g. a
            model's sampler; then ``n`` is required). ``FeatureStats`` pass through.
        extractor: a :class:`FeatureExtractor` or a name for :func:`load_feature_extractor`.
        n: use at most ``n`` images (all by default).
        device: ``"auto"`` = CUDA when available. Sums are accumulated in float64 on it,
            shifted by the first batch's mean for numerical stability.
        label: a description of the images, stored in ``FeatureStats.source``.
    """
    if isinstance(source, FeatureStats):
        return source
    ext = load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    dev = resolve_device(device)
    ext = ext.to(dev).eval()
    count, shift, s1, s2 = 0, None, None, None
    for x in _iter_batches(source, n=n, batch_size=batch_size):
        f = ext(x.to(dev)).to(torch.float64)
        if shift is None:
            shift = f.mean(0)
            s1 = torch.zeros_like(shift)
            s2 = torch.zeros(f.shape[1], f.shape[1], dtype=torch.float64, device=dev)
        f = f - shift
        s1 += f.sum(0)
        s2 += f.T @ f
        count += f.shape[0]
    if count < 2:
        raise ValueError(f"need at least 2 images for a covariance, got {count}")
    mean_shifted = s1 / count
    sigma = (s2 - count * torch.outer(mean_shifted, mean_shifted)) / (count - 1)
    sigma = 0.5 * (sigma + sigma.T)
    return FeatureStats(mu=(shift + mean_shifted).cpu().numpy(), sigma=sigma.cpu().numpy(),
                        n=count, extractor=ext.name, source=label)


@dataclass
class FIDResult:
    """A Fréchet distance together with what it was measured with.

    ``metric`` is ``"FID"`` for the real Inception net and ``"FCD"`` (Fréchet classifier
    distance) for any other feature net; values are only comparable with the same
    extractor, reference set and similar sample counts.
    """

    value: float
    extractor: str
    reference: str
    n_fake: int
    n_real: int
    metric: str = field(default="")

    def __post_init__(self) -> None:
        if not self.metric:
            self.metric = "FID" if self.extractor == "inception" else "FCD"

    def __float__(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        return (f"{self.metric}[{self.extractor}] = {self.value:.3f} "
                f"(n_fake={self.n_fake} vs reference {self.reference}, n_real={self.n_real})")

    def as_dict(self) -> dict:
        return asdict(self)


def fid_from_stats(fake: FeatureStats, real: FeatureStats, *,
                   reference: Optional[str] = None) -> FIDResult:
    """:func:`frechet_distance` of two :class:`FeatureStats` (same extractor required)."""
    if fake.extractor and real.extractor and fake.extractor != real.extractor:
        raise ValueError(f"statistics from different extractors: {fake.extractor!r} vs "
                         f"{real.extractor!r}")
    value = frechet_distance(fake.mu, fake.sigma, real.mu, real.sigma)
    return FIDResult(value=value, extractor=real.extractor or fake.extractor,
                     reference=reference or real.source or "unnamed", n_fake=fake.n, n_real=real.n)


def fid(fake: Any, real: Any, extractor: Union[FeatureExtractor, str], *,
        n_fake: Optional[int] = None, n_real: Optional[int] = None,
        reference: Optional[str] = None, batch_size: int = 100,
        device: Optional[Union[str, torch.device]] = "auto") -> FIDResult:
    """FID (or FCD) between generated and real images.

    ``fake`` and ``real`` are any source :func:`compute_statistics` accepts, or precomputed
    :class:`FeatureStats` (e.g. from :func:`reference_statistics`). ``reference`` names the
    real set in the result (default: ``real.source`` or ``"unnamed"``). Use ≥ 2048 images
    per side for 2048-d Inception features (SPEC §4).
    """
    ext = load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    fs = compute_statistics(fake, ext, n=n_fake, batch_size=batch_size, device=device)
    rs = compute_statistics(real, ext, n=n_real, batch_size=batch_size, device=device)
    return fid_from_stats(fs, rs, reference=reference)


def _subset_indices(length: int, n: Optional[int], part: int, seed: int) -> List[int]:
    if n is None:
        if part != 0:
            raise ValueError("part > 0 needs an explicit n")
        return list(range(length))
    if (part + 1) * n > length:
        raise ValueError(f"the data set has {length} images; part {part} of size {n} needs "
                         f"{(part + 1) * n}")
    perm = torch.randperm(length, generator=torch.Generator().manual_seed(seed))
    return sorted(perm[part * n:(part + 1) * n].tolist())


def reference_statistics(dataset_name: str, split: str, image_size: int,
                         extractor: Union[FeatureExtractor, str], n: Optional[int] = None, *,
                         cache_dir: Union[str, Path] = "data/cache", root: Union[str, Path] = "data",
                         part: int = 0, seed: int = 0, batch_size: int = 100,
                         device: Optional[Union[str, torch.device]] = "auto",
                         refresh: bool = False, **dataset_options: Any) -> FeatureStats:
    """Feature statistics of a real reference set, computed once and cached.

    The images are ``n`` images of ``load_dataset(dataset_name, root=root, split=split,
    image_size=image_size, **dataset_options)`` chosen by a seeded permutation (``part``
    selects the ``part``-th disjoint block of ``n``; ``n=None`` = the whole split). The result
    is cached as an ``.npz`` in ``cache_dir`` (written atomically) under a name keyed by all
    of these settings and the extractor's weights fingerprint, and reused on later calls.
    """
    from waelib.data import load_dataset  # deferred: waelib.data is optional for most metrics

    ext = load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    key = {"dataset": dataset_name, "split": split, "image_size": int(image_size),
           "extractor": ext.fingerprint, "n": n, "part": int(part), "seed": int(seed),
           "options": {k: repr(v) for k, v in sorted(dataset_options.items())}, "version": 1}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    safe_ext = "".join(c if c.isalnum() or c in "-_" else "_" for c in ext.name)
    path = Path(cache_dir) / (f"stats_{dataset_name}_{split}_{image_size}px_{safe_ext}_"
                              f"n{n if n is not None else 'all'}_p{part}_{digest}.npz")
    label = f"{dataset_name}/{split}@{image_size}px" + (f"[n={n},part={part},seed={seed}]"
                                                        if n is not None else "")
    if path.is_file() and not refresh:
        stats = FeatureStats.load(path)
        stats.source = stats.source or label
        return stats
    ds = load_dataset(dataset_name, root=str(root), split=split, image_size=image_size,
                      **dataset_options)
    idx = _subset_indices(len(ds), n, part, seed)
    subset = ds if len(idx) == len(ds) else torch.utils.data.Subset(ds, idx)
    stats = compute_statistics(subset, ext, batch_size=batch_size, device=device, label=label)
    stats.save(path, key=key)
    return stats


def fid_floor(dataset: str, extractor: Union[FeatureExtractor, str], n: int, *,
              split: str = "test", image_size: int = 64, root: Union[str, Path] = "data",
              cache_dir: Union[str, Path] = "data/cache", seed: int = 0, batch_size: int = 100,
              device: Optional[Union[str, torch.device]] = "auto",
              **dataset_options: Any) -> FIDResult:
    """The real-vs-real floor: FID/FCD between two disjoint random subsets of ``n`` real
    images each (parts 0 and 1 of :func:`reference_statistics`, both cached). For CelebA at
    10k vs 10k the WAE paper reports about 2 (SPEC §4). Needs ``2·n`` images in the split."""
    ext = load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    kw = dict(cache_dir=cache_dir, root=root, seed=seed, batch_size=batch_size, device=device,
              **dataset_options)
    a = reference_statistics(dataset, split, image_size, ext, n, part=0, **kw)
    b = reference_statistics(dataset, split, image_size, ext, n, part=1, **kw)
    return fid_from_stats(b, a, reference=f"{a.source} vs disjoint {b.source} (real-vs-real floor)")
