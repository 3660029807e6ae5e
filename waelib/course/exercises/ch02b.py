"""Exercises of notebook 02b (activations, He initialisation, residual blocks): helpers and checks.

The signal through a stack of dense ReLU layers (He et al. 2015, https://arxiv.org/abs/1502.01852):
input ``x ~ N(0, I_n)``, ``h_0 = x``, ``y_l = W_l h_{l-1}``, ``h_l = ReLU(y_l)``, every weight of
``W_l`` drawn independently with mean 0 and variance ``c / n`` (``n`` = fan-in). Then
``q_l = E[y_l^2]`` obeys ``q_1 = c`` and ``q_l = (c / 2) q_{l-1}`` (``y_l`` is symmetric about 0,
so the ReLU keeps half of its second moment), i.e. ``q_L = 2 (c / 2)^L``: it shrinks as ``2^-L``
for ``c = 1`` (LeCun's ``1/n``), as ``6^-L`` for PyTorch's default ``nn.Linear`` / ``nn.Conv2d``
initialisation (``c = 1/3``) and stays at 2 for He's ``c = 2``.

- :func:`relu_second_moment` -- that closed form;
- :func:`relu_stack_second_moments` -- the same quantity measured on a random stack;
- checks: :func:`check_relu_moments`, :func:`check_default_rescale`,
  :func:`check_bottleneck_parameters`, :func:`check_encoder_sizes`.

Each check computes its expected value itself (a closed form), never from the answer.
"""
from __future__ import annotations

import math
from typing import Any, Sequence, Tuple

import torch

from . import Verdict, close

__all__ = ["INITS", "relu_second_moment", "relu_stack_second_moments", "check_relu_moments",
           "check_default_rescale", "check_bottleneck_parameters", "check_encoder_sizes"]

#: ``c`` = fan-in x weight variance of the three initialisations compared in notebook 02b.
INITS = {"LeCun 1/n": 1.0, "PyTorch default": 1.0 / 3.0, "He 2/n": 2.0}


def relu_second_moment(c: float, depth: int) -> float:
    """``q_L = E[y_L^2]`` after ``depth`` dense ReLU layers with weight variance ``c / n`` and
    input ``x ~ N(0, I)``: ``2 (c / 2)^depth`` (the module docstring derives it)."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    return 2.0 * (c / 2.0) ** depth


def relu_stack_second_moments(init: str, *, width: int = 512, depth: int = 32, batch: int = 1024,
                              seed: int = 0) -> torch.Tensor:
    """The measured ``q_l`` (mean of ``y_l^2`` over the batch and the units), l = 1 .. depth.

    Args:
        init: a key of :data:`INITS`. "PyTorch default" uses the initialisation of
            ``torch.nn.Linear.reset_parameters`` (``kaiming_uniform_(a=sqrt(5))``: uniform on
            ``[-1/sqrt(n), 1/sqrt(n)]``, variance ``1/(3n)``); the other two draw ``N(0, c/n)``
            weights.
        width, depth, batch: units per layer, layers, input vectors.
        seed: seeds the inputs and the weights.
    Returns:
        (depth,) float64 tensor.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; valid choices: {', '.join(INITS)}")
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(batch, width, generator=gen, dtype=torch.float64)
    out = []
    for _ in range(depth):
        if init == "PyTorch default":
            w = torch.empty(width, width, dtype=torch.float64)
            torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=gen)
        else:
            w = torch.randn(width, width, generator=gen, dtype=torch.float64) * math.sqrt(INITS[init] / width)
        y = h @ w.T
        out.append(y.pow(2).mean())
        h = torch.relu(y)
    return torch.stack(out)


def check_relu_moments(answer: Any, depth: int = 20) -> Verdict:
    """Exercise 1: ``q_L`` after ``depth`` layers for c = 1, 1/3 and 2 (LeCun, PyTorch's
    default, He), as three numbers in that order. Pure arithmetic: relative tolerance 1e-6."""
    expected = torch.tensor([2.0 * (c / 2.0) ** depth for c in (1.0, 1.0 / 3.0, 2.0)], dtype=torch.float64)
    return close(answer, expected, rel=1e-6, what=f"E[y^2] after {depth} ReLU layers for c = 1, 1/3, 2",
                 hint="q_1 = c (the input has E[x^2] = 1), and each further layer multiplies by c/2: "
                      "the ReLU keeps half the second moment of a symmetric input")


def check_default_rescale(answer: Any) -> Verdict:
    """Exercise 2: the factor by which PyTorch's default weights (uniform on
    ``[-1/sqrt(n), 1/sqrt(n)]``) must be multiplied to get He's variance ``2/n``.

    Expected: the uniform's variance is ``(1/sqrt(n))^2 / 3 = 1/(3n)``, so the factor on the
    weights is ``sqrt((2/n) / (1/(3n))) = sqrt(6)``. Relative tolerance 1e-3 (an answer typed
    with four digits, 2.449, passes)."""
    half_width_sq = 1.0                      # (1/sqrt(n))^2 * n
    default_var_times_n = half_width_sq / 3.0
    expected = math.sqrt(2.0 / default_var_times_n)
    return close(answer, expected, rel=1e-3, what="rescaling factor of PyTorch's default weights",
                 hint="compare variances (a uniform on [-b, b] has variance b^2/3), then take the "
                      "square root: the factor multiplies the weights, not their variance")


def check_bottleneck_parameters(answer: Any, in_channels: int, filters: Sequence[int], *, kernel: int = 3,
                                shortcut: bool = False) -> Verdict:
    """Exercise 3: the number of parameters of a bottleneck block of ``waelib.blocks`` (1x1 ->
    kxk -> 1x1 convolutions with biases, a BatchNorm (gamma, beta) after each; with ``shortcut``
    also a 1x1 convolution ``in_channels -> filters[-1]`` with bias and its BatchNorm).
    Counted from the layer sizes; exact (tolerance 0)."""
    f1, f2, f3 = filters
    conv = lambda c_in, c_out, k: c_in * c_out * k * k + c_out
    bn = lambda c: 2 * c
    expected = conv(in_channels, f1, 1) + bn(f1) + conv(f1, f2, kernel) + bn(f2) + conv(f2, f3, 1) + bn(f3)
    if shortcut:
        expected += conv(in_channels, f3, 1) + bn(f3)
    return close(answer, float(expected), rel=0.0, what="parameters of the bottleneck block",
                 hint="a k x k convolution from C_in to C_out has C_in * C_out * k * k weights and C_out "
                      "biases; a BatchNorm has two learned vectors (gamma, beta) per channel; the running "
                      "mean and variance are buffers, not parameters")


def _encoder_sizes(image_size: int) -> Tuple[int, ...]:
    out = lambda n, k, s, p=0: (n + 2 * p - k) // s + 1
    sizes = [image_size + 2 * 2]                 # ZeroPadding2D(2)
    sizes.append(out(sizes[-1], 7, 2))           # 7x7 convolution, stride 2, no padding
    sizes.append(out(sizes[-1], 3, 1))           # 3x3 max-pooling, stride 1
    for stride in (1, 2, 2, 2):                  # stages 2-5: the stride sits on a 1x1 convolution
        sizes.append(out(sizes[-1], 1, stride))
    sizes.append(out(sizes[-1], 2, 2))           # 2x2 average pooling
    return tuple(sizes)


def check_encoder_sizes(answer: Any, image_size: int = 64) -> Verdict:
    """Exercise 4: the spatial side of the ResNet encoder's feature maps at ``image_size``:
    after the zero-padding, the 7x7/2 convolution, the 3x3/1 max-pooling, stages 2, 3, 4 and 5,
    and the 2x2 average pooling (8 integers). From ``floor((n + 2p - k) / s) + 1``; exact."""
    expected = torch.tensor(_encoder_sizes(image_size), dtype=torch.float64)
    return close(answer, expected, rel=0.0, what=f"spatial sizes of the ResNet encoder at {image_size} px",
                 hint="an output side is floor((n + 2p - k) / s) + 1; the stem convolution has no padding, "
                      "and each stage changes the size only through its first 1x1 convolution's stride")
