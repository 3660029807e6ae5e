"""Distribution metrics in feature and latent space: improved precision/recall, KID, and
the normalised absolute correlation of latent codes (NAC)."""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]


# =====================================================================================
# Feature-space metrics: precision/recall, KID; latent NAC
# =====================================================================================
def _feats64(f: ArrayLike) -> torch.Tensor:
    return torch.as_tensor(np.asarray(f) if not isinstance(f, torch.Tensor) else f).to(torch.float64)


def _kth_nn_radii(feats: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    out = []
    for a in range(0, len(feats), chunk):
        d = torch.cdist(feats[a:a + chunk], feats)
        out.append(d.kthvalue(k + 1, dim=1).values)  # k+1: the point itself is at distance 0
    return torch.cat(out)


def _coverage(queries: torch.Tensor, refs: torch.Tensor, radii: torch.Tensor, chunk: int) -> float:
    inside = []
    for a in range(0, len(queries), chunk):
        d = torch.cdist(queries[a:a + chunk], refs)
        inside.append((d <= radii.unsqueeze(0)).any(dim=1))
    return float(torch.cat(inside).double().mean().item())


def precision_recall(real_feats: ArrayLike, fake_feats: ArrayLike, k: int = 3, *,
                     chunk: int = 1024) -> Tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019; seed 004).

    Each set's manifold is the union of balls around its points with radius the distance
    to the point's k-th nearest neighbour in the same set (k = 3). Precision = fraction of
    fake features inside the real manifold; recall = fraction of real features inside the
    fake manifold. Features ``(N, d)``, ``(M, d)``; float64 Euclidean distances.
    """
    r, f = _feats64(real_feats), _feats64(fake_feats)
    if len(r) <= k or len(f) <= k:
        raise ValueError(f"each set needs more than k={k} points")
    rr, fr = _kth_nn_radii(r, k, chunk), _kth_nn_radii(f, k, chunk)
    return _coverage(f, r, rr, chunk), _coverage(r, f, fr, chunk)


def _poly_kernel(a: torch.Tensor, b: torch.Tensor, degree: int, gamma: Optional[float],
                 coef: float) -> torch.Tensor:
    g = 1.0 / a.shape[1] if gamma is None else gamma
    return (a @ b.T * g + coef) ** degree


def kid(real_feats: ArrayLike, fake_feats: ArrayLike, subsets: int = 100,
        subset_size: int = 1000, *, degree: int = 3, gamma: Optional[float] = None,
        coef: float = 1.0, generator: Optional[torch.Generator] = None) -> Tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD² with the
    polynomial kernel ``k(x, y) = (x·y / d + 1)³``, averaged over ``subsets`` random subsets
    of ``subset_size`` features from each set (drawn without replacement within a subset).

    Within-set sums drop the diagonal and divide by m(m−1); the cross term uses all m²
    pairs (as torchmetrics' ``KernelInceptionDistance``). Unbiased: ≈ 0 in expectation for
    two samples of one distribution, and can be slightly negative.

    Returns:
        ``(mean, std)`` over the subsets (std with ddof=0, as torchmetrics).
    """
    r, f = _feats64(real_feats), _feats64(fake_feats)
    if subset_size > len(r) or subset_size > len(f):
        raise ValueError(f"subset_size={subset_size} exceeds the number of features "
                         f"({len(r)} real, {len(f)} fake)")
    m = subset_size
    vals = []
    for _ in range(subsets):
        a = r[torch.randperm(len(r), generator=generator)[:m]]
        b = f[torch.randperm(len(f), generator=generator)[:m]]
        kxx = _poly_kernel(a, a, degree, gamma, coef)
        kyy = _poly_kernel(b, b, degree, gamma, coef)
        kxy = _poly_kernel(a, b, degree, gamma, coef)
        v = ((kxx.sum() - kxx.diagonal().sum()) + (kyy.sum() - kyy.diagonal().sum())) / (m * (m - 1))
        vals.append(v - 2.0 * kxy.sum() / (m * m))
    t = torch.stack(vals)
    return float(t.mean().item()), float(t.std(unbiased=False).item())


def nac(codes: ArrayLike) -> float:
    """Normalised absolute correlation of latent codes (seed 004, Table 2): the mean of
    ``|corr(z_i, z_j)|`` over all ordered pairs ``i ≠ j`` of latent dimensions, from the
    Pearson correlation matrix of ``codes`` ``(N, d)``. Near 0 for independent dimensions
    (≈ sqrt(2/(πN)) from sampling noise), 1 for perfectly correlated ones. Constant
    dimensions are given zero correlation."""
    z = _feats64(codes)
    if z.dim() != 2 or z.shape[1] < 2 or z.shape[0] < 2:
        raise ValueError(f"expected codes (N>=2, d>=2), got {tuple(z.shape)}")
    z = z - z.mean(0)
    std = z.pow(2).sum(0).sqrt()
    zn = z / torch.where(std > 0, std, torch.ones_like(std))
    corr = zn.T @ zn
    d = corr.shape[0]
    off = corr.abs().sum() - corr.diagonal().abs().sum()
    return float((off / (d * (d - 1))).item())
