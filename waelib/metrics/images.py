"""Image metrics: sharpness (thesis §2.5, both definitions), RMSE and MS-SSIM diversity.

Images are float tensors ``(N, 3, H, W)`` in ``[0, 1]`` (:func:`to_float_images` also
accepts uint8 0-255); :func:`to_grey` is the BT.601 luma both sharpness definitions use.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

#: ITU-R BT.601 luma weights used to convert RGB to grey (both sharpness definitions).
LUMA_WEIGHTS: Tuple[float, float, float] = (0.299, 0.587, 0.114)
#: Default MS-SSIM scale weights (Wang et al. 2003), as in pytorch-msssim and ProGAN.
MSSSIM_WEIGHTS: Tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def to_float_images(images: Union[torch.Tensor, np.ndarray]) -> torch.Tensor:
    """uint8 (0-255) or float (0-1) images → float32 tensor ``(N, C, H, W)``."""
    x = torch.as_tensor(images)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


# =====================================================================================
# Sharpness (thesis §2.5) and pixel metrics
# =====================================================================================
def to_grey(images: torch.Tensor) -> torch.Tensor:
    """RGB ``(N, 3, H, W)`` → grey ``(N, H, W)`` with ITU-R BT.601 luma weights
    0.299 R + 0.587 G + 0.114 B (single-channel input is passed through), float64."""
    x = torch.as_tensor(images)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    x = x.to(torch.float64)
    if x.shape[1] == 1:
        return x[:, 0]
    if x.shape[1] != 3:
        raise ValueError(f"expected 1 or 3 channels, got shape {tuple(x.shape)}")
    w = torch.tensor(LUMA_WEIGHTS, dtype=torch.float64, device=x.device)
    return torch.einsum("nchw,c->nhw", x, w)


def sharpness(images: torch.Tensor, scale: float = 255.0) -> torch.Tensor:
    """The thesis' sharpness (§2.5), per image; larger is sharper.

    1. grey = 0.299 R + 0.587 G + 0.114 B, multiplied by ``scale``;
    2. the image gradient (gy, gx) exactly as ``np.gradient(grey)``: central differences
       ``(f[i+1] − f[i−1]) / 2`` inside, one-sided first differences at the borders;
    3. gradient magnitude ``sqrt(gx² + gy²)`` per pixel;
    4. mean over the image.

    The thesis does not state the pixel scale; its values of ~6-10 (Tables 4.3-4.5) point to
    0-255, so images in ``[0, 1]`` are scaled by ``scale=255`` by default (pass ``scale=1``
    for images already in 0-255).

    Note: the mean gradient magnitude is a (discrete) total variation per pixel, so blurring
    one isolated monotone edge leaves it unchanged; it drops when blur merges neighbouring
    up- and down-going edges (fine texture, detail), which is what it measures in practice.
    :func:`laplacian_sharpness` reacts to the blur of any edge.

    Args:
        images: ``(N, 3, H, W)`` or ``(N, 1, H, W)`` in ``[0, 1]`` (H, W ≥ 2).
    Returns:
        ``(N,)`` float64 tensor.
    """
    g = to_grey(images) * scale
    gy, gx = torch.gradient(g, dim=(1, 2))
    return torch.sqrt(gx * gx + gy * gy).mean(dim=(1, 2))


_LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def laplacian_sharpness(images: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The official WAE code's "blurriness" sharpness, per image; larger is sharper.

    grey (BT.601 weights; TF's ``rgb_to_grayscale`` uses the same to 4 digits) ×
    ``scale``, convolved with the 3×3 Laplacian (0,1,0 / 1,−4,1 / 0,1,0) with 'valid'
    padding, then the (population, ÷N) variance of the response over the image. The
    official code feeds [0, 1] images, hence ``scale=1`` by default, and logs the **minimum**
    over a batch of samples; this function returns every image's value (take ``.min()`` to
    reproduce that log, ``.mean()`` for a table). Not comparable with :func:`sharpness`.

    Args:
        images: ``(N, 3, H, W)`` or ``(N, 1, H, W)`` in ``[0, 1]`` (H, W ≥ 3).
    Returns:
        ``(N,)`` float64 tensor.
    """
    g = (to_grey(images) * scale).unsqueeze(1)
    k = torch.tensor(_LAPLACIAN, dtype=torch.float64, device=g.device).view(1, 1, 3, 3)
    r = nn.functional.conv2d(g, k)  # cross-correlation == convolution for this symmetric kernel
    return r.flatten(1).var(dim=1, unbiased=False)


def rmse(x: torch.Tensor, x_hat: torch.Tensor, scale: float = 255.0) -> torch.Tensor:
    """Root-mean-square error per image (seed 003), ``(N,)`` float64.

    ``sqrt(mean_{c,h,w} (scale·(x − x_hat))²)``. Seed 003 reports values of ~11-27, i.e.
    a 0-255 pixel scale, hence ``scale=255`` by default (``scale=1`` for the [0, 1] scale).
    Average over images for the seed's "average of the RMSE".
    """
    a = to_float_images(x).to(torch.float64)
    b = to_float_images(x_hat).to(device=a.device, dtype=torch.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {tuple(a.shape)} vs {tuple(b.shape)}")
    return ((a - b) * scale).pow(2).flatten(1).mean(1).sqrt()


# =====================================================================================
# MS-SSIM and diversity
# =====================================================================================
def msssim_window(side: int, win_size: int = 11, win_sigma: float = 1.5) -> Tuple[int, float]:
    """The Gaussian window used at one MS-SSIM scale whose smaller side is ``side`` px.

    ``win_size`` when it fits; otherwise the largest odd size ≤ ``side`` with sigma shrunk in
    proportion (``win_sigma · w / win_size``), the rule of ProGAN's MS-SSIM code.
    """
    if side >= win_size:
        return win_size, win_sigma
    w = side if side % 2 == 1 else side - 1
    w = max(w, 1)
    return w, win_sigma * w / win_size


def _gauss_1d(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype, device=device) - size // 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _ssim_level(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor, data_range: float,
                K: Tuple[float, float]) -> Tuple[torch.Tensor, torch.Tensor]:
    c = x.shape[1]
    w = win.shape[0]

    def filt(t: torch.Tensor) -> torch.Tensor:
        t = nn.functional.conv2d(t, win.view(1, 1, 1, w).expand(c, 1, 1, w), groups=c)
        return nn.functional.conv2d(t, win.view(1, 1, w, 1).expand(c, 1, w, 1), groups=c)

    c1, c2 = (K[0] * data_range) ** 2, (K[1] * data_range) ** 2
    mu1, mu2 = filt(x), filt(y)
    s11 = filt(x * x) - mu1 * mu1
    s22 = filt(y * y) - mu2 * mu2
    s12 = filt(x * y) - mu1 * mu2
    cs_map = (2 * s12 + c2) / (s11 + s22 + c2)
    ssim_map = ((2 * mu1 * mu2 + c1) / (mu1 * mu1 + mu2 * mu2 + c1)) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0,
            weights: Sequence[float] = MSSSIM_WEIGHTS, win_size: int = 11,
            win_sigma: float = 1.5, K: Tuple[float, float] = (0.01, 0.03)) -> torch.Tensor:
    """Multi-scale SSIM per image pair, ``(N,)``, for images ``(N, C, H, W)`` of any size
    ≥ 2^(len(weights)−1) px.

    The computation is pytorch-msssim's (Gaussian window, 'valid' filtering, 2×2 average
    pooling with odd-size padding, ReLU on the per-scale terms, mean over channels), except
    that where a scale is smaller than the window the window shrinks to that scale
    (:func:`msssim_window`, as ProGAN's code does) instead of failing: pytorch-msssim needs
    > 160 px for the 11-px window. At ≥ 176 px nothing shrinks and the result equals
    ``pytorch_msssim.ms_ssim(..., size_average=False)`` (tested). At 32 px the last scale is
    2 px with a 1-px window, where only the luminance term is informative.
    """
    x = to_float_images(x)
    y = to_float_images(y).to(x.device)
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch {tuple(x.shape)} vs {tuple(y.shape)}")
    levels = len(weights)
    if min(x.shape[-2:]) < 2 ** (levels - 1):
        raise ValueError(f"images of {tuple(x.shape[-2:])} px are too small for {levels} scales")
    wts = torch.tensor(list(weights), dtype=x.dtype, device=x.device)
    mcs: List[torch.Tensor] = []
    ssim_c = None
    for i in range(levels):
        w, s = msssim_window(min(x.shape[-2:]), win_size, win_sigma)
        win = _gauss_1d(w, s, x.dtype, x.device)
        ssim_c, cs = _ssim_level(x, y, win, data_range, K)
        if i < levels - 1:
            mcs.append(torch.relu(cs))
            pad = [s_ % 2 for s_ in x.shape[2:]]
            x = nn.functional.avg_pool2d(x, kernel_size=2, padding=pad)
            y = nn.functional.avg_pool2d(y, kernel_size=2, padding=pad)
    stack = torch.stack(mcs + [torch.relu(ssim_c)], dim=0)  # (levels, N, C)
    return torch.prod(stack ** wts.view(-1, 1, 1), dim=0).mean(1)


@torch.no_grad()
def ms_ssim_diversity(samples: torch.Tensor, n_pairs: int = 1000, *,
                      generator: Optional[torch.Generator] = None, batch_size: int = 200,
                      **ms_ssim_kwargs: Any) -> float:
    """Mean MS-SSIM over ``n_pairs`` random pairs of distinct samples (SPEC §4, seed 003):
    **lower is more diverse**. Pairs ``(i, j)``, ``i ≠ j``, are drawn uniformly with
    ``generator``. Images ``(N, 3, H, W)`` in ``[0, 1]``; see :func:`ms_ssim` for small sizes."""
    x = to_float_images(samples)
    n = len(x)
    if n < 2:
        raise ValueError("need at least 2 samples")
    i = torch.randint(0, n, (n_pairs,), generator=generator)
    j = (i + torch.randint(1, n, (n_pairs,), generator=generator)) % n
    vals = [ms_ssim(x[i[a:a + batch_size]], x[j[a:a + batch_size]], **ms_ssim_kwargs)
            for a in range(0, n_pairs, batch_size)]
    return float(torch.cat(vals).mean().item())
