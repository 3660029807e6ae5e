"""Thesis Figure 2.1, small: the degradation of deep plain CNNs, and its cure by residual blocks.

He et al. (2016, Fig. 1) -- reproduced as the thesis' Figure 2.1 -- show that a 56-layer plain
CNN has a *higher training error* (not only test error) than a 20-layer one on CIFAR-10:
the deeper network is harder to optimise, although it could represent the shallow one plus
identity layers. Residual connections H(x) = F(x) + x make those identity layers the default
(F = 0) and remove the effect.

This module reproduces the experiment at CPU scale on scikit-learn's bundled handwritten
digits (1,797 images, 8x8 grey, 10 classes; no download):

- :func:`load_digits_split` -- a fixed stratified 75/25 train/test split, standardised.
- :class:`CifarResNet` -- He et al.'s CIFAR family with depth 6n + 2: a 3x3 stem, three stages
  of n basic blocks (two 3x3 convolutions each; widths w, 2w, 4w; strides 1, 2, 2), global
  average pooling and a linear classifier. ``residual=False`` gives the *plain* net with the same
  layers and the same number of parameters; ``residual=True`` adds the parameter-free
  shortcuts of He et al.'s CIFAR experiments (identity, or stride-2 subsampling with zero
  channel padding -- "option A").
- :func:`train_classifier` / :func:`run_degradation` -- SGD with momentum, train and test
  error on fixed sets every ``eval_every`` iterations.

The residual blocks of the thesis' encoder (:class:`waelib.blocks.IdentityBlock`,
:class:`waelib.blocks.ConvBlock`) are the 1x1-3x3-1x1 *bottleneck* version of the same idea;
the 3x3-3x3 basic block here is the one He et al. used for their CIFAR degradation study.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------
def load_digits_split(test_fraction: float = 0.25, seed: int = 0
                      ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn digits as (x_train (N, 1, 8, 8), y_train, x_test, y_test), float32.

    The 8x8 native resolution is kept (upsampling adds no information and 16x the compute);
    pixels are scaled to [0, 1] and standardised with the training set's mean and std. The
    split is stratified and fixed by ``seed``.
    """
    # deferred: scikit-learn is slow to import and only this function needs it
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = d.images.astype(np.float32) / 16.0
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed,
                                              stratify=y)
    mean, std = x_tr.mean(), x_tr.std()
    f = lambda a: torch.from_numpy((a - mean) / std).unsqueeze(1)
    return f(x_tr), torch.from_numpy(y_tr), f(x_te), torch.from_numpy(y_te)


# --------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    """Two 3x3 convolutions (each with optional BN) and ReLU: (N, C_in, H, W) -> (N, C_out, H/s, W/s).

    ``residual=True``: out = ReLU(F(x) + shortcut(x)), shortcut = identity, or for a change of
    shape, stride-s subsampling with zero-padded channels (parameter-free, He et al. option A).
    ``residual=False``: out = ReLU(F(x)) -- the same layers, no shortcut (a "plain" block).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1, *, residual: bool = True,
                 batch_norm: bool = True):
        super().__init__()
        self.residual, self.stride, self.pad = residual, stride, c_out - c_in
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.pad > 0:
            x = nn.functional.pad(x, (0, 0, 0, 0, 0, self.pad))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(nn.functional.relu(self.bn1(self.conv1(x)))))
        if self.residual:
            out = out + self.shortcut(x)
        return nn.functional.relu(out)


class CifarResNet(nn.Module):
    """He et al.'s CIFAR network of depth 6n + 2 (plain or residual), for (N, C, H, W) inputs.

    Layers: conv 3x3 (w) -> 3 stages x n BasicBlocks (w, 2w, 4w; first block of stages 2, 3
    has stride 2) -> global average pool -> linear. ``depth`` counts the weighted layers
    (2 per block + stem + classifier): 8, 14, 20, 32, 44, 56, 110, ...
    """

    def __init__(self, depth: int, *, residual: bool, base_width: int = 16, batch_norm: bool = True,
                 in_channels: int = 1, n_classes: int = 10, init: str = "kaiming"):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, ...), got {depth}")
        n = (depth - 2) // 6
        self.depth, self.residual, self.batch_norm = depth, residual, batch_norm
        w = base_width
        self.stem = nn.Conv2d(in_channels, w, 3, padding=1, bias=not batch_norm)
        self.stem_bn = nn.BatchNorm2d(w) if batch_norm else nn.Identity()
        blocks: List[nn.Module] = []
        c = w
        for width, stride in ((w, 1), (2 * w, 2), (4 * w, 2)):
            for j in range(n):
                blocks.append(BasicBlock(c, width, stride if j == 0 else 1, residual=residual,
                                         batch_norm=batch_norm))
                c = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, n_classes)
        if init == "kaiming":
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
        elif init != "default":
            raise ValueError(f"unknown init {init!r}; valid choices: kaiming, default")

    @property
    def n_weight_layers(self) -> int:
        return sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in self.modules())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(nn.functional.relu(self.stem_bn(self.stem(x))))
        return self.fc(h.mean(dim=(2, 3)))


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------
@dataclass
class Curve:
    """Error curves of one network: iterations and errors in [0, 1]."""

    label: str
    depth: int
    residual: bool
    iterations: List[int] = field(default_factory=list)
    train_error: List[float] = field(default_factory=list)
    test_error: List[float] = field(default_factory=list)
    seconds: float = 0.0
    n_params: int = 0

    def to_dict(self) -> Dict:
        return dict(self.__dict__)


@torch.no_grad()
def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
    was = model.training
    model.eval()
    wrong = 0
    for i in range(0, len(x), batch):
        wrong += (model(x[i:i + batch]).argmax(1) != y[i:i + batch]).sum().item()
    model.train(was)
    return wrong / len(x)


def train_classifier(model: nn.Module, data, *, iterations: int, batch_size: int = 64,
                     lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 1e-4,
                     eval_every: int = 20, seed: int = 0, label: str = "",
                     device: str = "cpu") -> Curve:
    """SGD with momentum on cross-entropy; every ``eval_every`` iterations (and at 0 and the end)
    record the error on the whole training set and on the test set (eval mode).

    Mini-batches are drawn from a seeded generator (epochs of random permutations), so a run
    is a pure function of ``seed``. ``data`` = (x_train, y_train, x_test, y_test).
    """
    x_tr, y_tr, x_te, y_te = (t.to(device) for t in data)
    model = model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    curve = Curve(label, getattr(model, "depth", 0), getattr(model, "residual", False),
                  n_params=sum(p.numel() for p in model.parameters()))
    t0 = time.perf_counter()
    perm, pos = torch.randperm(len(x_tr), generator=g), 0

    def record(it):
        curve.iterations.append(it)
        curve.train_error.append(error_rate(model, x_tr, y_tr))
        curve.test_error.append(error_rate(model, x_te, y_te))

    record(0)
    model.train()
    for it in range(1, iterations + 1):
        if pos + batch_size > len(perm):
            perm, pos = torch.randperm(len(x_tr), generator=g), 0
        idx = perm[pos:pos + batch_size].to(device)
        pos += batch_size
        loss = nn.functional.cross_entropy(model(x_tr[idx]), y_tr[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"{label}: non-finite loss at iteration {it}")
        if it % eval_every == 0 or it == iterations:
            record(it)
    curve.seconds = time.perf_counter() - t0
    return curve


def run_degradation(depths: Sequence[int] = (8, 44), *, base_width: int = 16,
                    batch_norm: bool = False, iterations: int = 300, batch_size: int = 64,
                    lr: float = 0.05, eval_every: int = 20, seed: int = 0, device: str = "cpu",
                    data=None, residual: Sequence[bool] = (False, True)) -> List[Curve]:
    """Train plain and residual nets of each depth with identical data order and settings.

    Every network starts from ``torch.manual_seed(seed)`` and sees the same mini-batches.
    Returns one :class:`Curve` per (residual, depth), plain nets first.
    """
    data = data if data is not None else load_digits_split(seed=0)
    curves = []
    for res in residual:
        for depth in depths:
            torch.manual_seed(seed)
            model = CifarResNet(depth, residual=res, base_width=base_width, batch_norm=batch_norm)
            label = f"{'ResNet' if res else 'plain'}-{depth}"
            curves.append(train_classifier(model, data, iterations=iterations, batch_size=batch_size,
                                           lr=lr, eval_every=eval_every, seed=seed, label=label,
                                           device=device))
    return curves


def final_errors(curves: Sequence[Curve], last: int = 3) -> Dict[str, Tuple[float, float]]:
    """{label: (train error, test error)} averaged over the last ``last`` evaluations."""
    return {c.label: (float(np.mean(c.train_error[-last:])), float(np.mean(c.test_error[-last:])))
            for c in curves}


def plot_degradation(curves: Sequence[Curve], title: Optional[str] = None):
    """Two panels like the thesis' Figure 2.1: training error (left) and test error (right) in %
    against iterations; plain nets solid, residual nets dashed; deeper nets darker."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    depths = sorted({c.depth for c in curves})
    colors = {False: plt.get_cmap("Oranges"), True: plt.get_cmap("Blues")}
    for c in curves:
        shade = 0.5 + 0.45 * (depths.index(c.depth) / max(1, len(depths) - 1))
        style = dict(color=colors[c.residual](shade), ls="--" if c.residual else "-",
                     label=f"{c.label}")
        axes[0].plot(c.iterations, [100 * e for e in c.train_error], **style)
        axes[1].plot(c.iterations, [100 * e for e in c.test_error], **style)
    for ax, t in zip(axes, ("training error", "test error")):
        ax.set_xlabel("iteration")
        ax.set_title(t)
        ax.set_ylim(0, 100)
    axes[0].set_ylabel("error (%)")
    axes[1].legend(loc="center right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def layer_gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> List[float]:
    """||dL/dW|| of every convolution weight, input to output, for one cross-entropy batch.

    Args:
        model: e.g. :class:`CifarResNet`; x: (N, C, H, W); y: (N,) class labels.
    Returns:
        one gradient norm per ``nn.Conv2d`` in module order (the stem first).

    The skip connections of a residual net give the gradient a path that bypasses every block,
    so the first layers receive gradients of the same order as the last ones; in a deep plain
    net they can shrink (or explode) layer by layer (thesis §2.3, §3.2).
    """
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    norms = [m.weight.grad.norm().item() for m in model.modules()
             if isinstance(m, nn.Conv2d) and m.weight.grad is not None]
    model.zero_grad(set_to_none=True)
    return norms
