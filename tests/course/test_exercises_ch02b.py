"""The checks of notebook 02b's exercises: the right answer passes, a plausible wrong one fails.

The right answers here are computed another way than the checks compute them (the live
modules of waelib.blocks, a traced forward pass, a measured stack of layers), so a test fails
when a check's closed form is wrong, not only when it is changed.
"""
from __future__ import annotations

import math

import pytest
import torch

from waelib import blocks
from waelib.course import diagrams
from waelib.course.exercises import ch02b


def test_relu_moments_right_and_wrong():
    depth = 20
    right = [ch02b.relu_second_moment(c, depth) for c in (1.0, 1.0 / 3.0, 2.0)]
    assert ch02b.check_relu_moments(right, depth)
    # the closed form is q_L = 2 (c/2)^L: He's factor keeps q at 2 exactly
    assert right[2] == 2.0
    # forgetting the ReLU's factor 1/2 (q_L = c^L) fails, as does a list in another order
    assert not ch02b.check_relu_moments([c ** depth for c in (1.0, 1.0 / 3.0, 2.0)], depth)
    assert not ch02b.check_relu_moments(right[::-1], depth)
    assert not ch02b.check_relu_moments(None, depth)


@pytest.mark.parametrize("init", list(ch02b.INITS))
def test_measured_second_moments_follow_the_closed_form(init):
    """An independent route: the measured q_l of a random stack. With width 512 each layer's
    estimate fluctuates by about sqrt(2/512) ~ 6 % (relative), so over 32 layers log2 of the
    ratio measured / predicted stays within +-2 (about 4 standard deviations of the random walk)."""
    c, depth = ch02b.INITS[init], 32
    q = ch02b.relu_stack_second_moments(init, width=512, depth=depth, batch=1024, seed=0)
    predicted = torch.tensor([ch02b.relu_second_moment(c, layer) for layer in range(1, depth + 1)],
                             dtype=torch.float64)
    assert (torch.log2(q / predicted).abs() < 2).all()


def test_pytorch_default_variance_is_one_third_over_fan_in():
    """What INITS["PyTorch default"] and check_default_rescale assume about nn.Linear."""
    torch.manual_seed(0)
    n = 2048
    w = torch.nn.Linear(n, n, bias=False).weight.detach().double()
    # the sample variance of 4 million uniform draws is within 0.2 % of the truth
    assert w.var().item() * n == pytest.approx(1 / 3, rel=5e-3)


def test_default_rescale_right_and_wrong():
    assert ch02b.check_default_rescale(math.sqrt(6))
    assert ch02b.check_default_rescale(2.449)          # four digits are enough (tolerance 1e-3)
    torch.manual_seed(0)
    n = 2048
    w = torch.nn.Linear(n, n, bias=False).weight.detach().double()
    measured = math.sqrt(2.0 / (w.var().item() * n))   # the factor measured on a real layer
    assert ch02b.check_default_rescale(round(measured, 2))
    assert not ch02b.check_default_rescale(6.0)        # the variance ratio, not the weights' factor
    assert not ch02b.check_default_rescale(math.sqrt(2))


@pytest.mark.parametrize("shortcut", [False, True])
def test_bottleneck_parameters_match_the_live_blocks(shortcut):
    if shortcut:
        block, args = blocks.ConvBlock(64, (64, 64, 256), stride=1), (64, (64, 64, 256))
    else:
        block, args = blocks.IdentityBlock(256, (64, 64, 256)), (256, (64, 64, 256))
    n = sum(p.numel() for p in block.parameters())
    assert ch02b.check_bottleneck_parameters(n, *args, shortcut=shortcut)
    assert not ch02b.check_bottleneck_parameters(n + 1, *args, shortcut=shortcut)   # exact: off by one fails
    # counting the BatchNorm buffers (running mean and variance) as parameters fails
    buffers = sum(b.numel() for name, b in block.named_buffers() if "running" in name)
    assert not ch02b.check_bottleneck_parameters(n + buffers, *args, shortcut=shortcut)


@pytest.mark.parametrize("size", [64, 128])
def test_encoder_sizes_match_a_traced_forward_pass(size):
    enc = blocks.ResNetEncoder(8, image_size=size, width=0.0625)
    shapes = diagrams.trace_shapes(enc, (3, size, size))
    traced = [shapes["features.0"][1][-1], shapes["features.1"][1][-1], shapes["features.4"][1][-1]]
    traced += [shapes[f"features.{i}"][1][-1] for i in (5, 6, 7, 8)] + [shapes["features.9"][1][-1]]
    assert ch02b.check_encoder_sizes(traced, size)
    assert tuple(traced) == blocks.resnet_spatial_sizes(size)
    wrong = list(traced)
    wrong[2] += 2                                        # a "same"-padded max-pooling
    assert not ch02b.check_encoder_sizes(wrong, size)
    assert not ch02b.check_encoder_sizes(traced[:-1], size)   # seven numbers instead of eight
