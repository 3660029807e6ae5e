"""Residual blocks and the ResNet encoder (thesis §3.2)."""
import pytest
import torch

from waelib import config
from waelib.blocks import (
    ConvBlock,
    DCGANDecoder,
    IdentityBlock,
    LatentDiscriminator,
    ResNetEncoder,
    resnet_spatial_sizes,
    scaled,
)


def test_identity_block_is_identity_when_last_bn_weight_is_zero():
    block = IdentityBlock(16, (4, 4, 16))
    torch.nn.init.zeros_(block.bn3.weight)
    x = torch.rand(2, 16, 9, 9)  # block inputs inside the encoder are ReLU outputs (>= 0)
    for mode in (block.train, block.eval):
        mode()
        torch.testing.assert_close(block(x), x, rtol=0, atol=0)


def test_identity_block_is_not_identity_by_default():
    block = IdentityBlock(16, (4, 4, 16))
    x = torch.rand(2, 16, 9, 9)
    assert (block(x) - x).abs().max() > 1e-3


def test_identity_block_rejects_channel_mismatch():
    with pytest.raises(ValueError, match="filters"):
        IdentityBlock(8, (4, 4, 16))


def test_conv_block_projects_shortcut_with_stride():
    block = ConvBlock(8, (4, 4, 16), stride=2)
    x = torch.randn(2, 8, 61, 61)
    y = block(x)
    assert y.shape == (2, 16, 31, 31)
    # H(X) = F(X) + W_s X: with F switched off the output is the (ReLU'd) projection alone.
    torch.nn.init.zeros_(block.bn3.weight)
    torch.testing.assert_close(block(x), torch.relu(block.shortcut(x)))
    assert block.shortcut[0].kernel_size == (1, 1) and block.shortcut[0].stride == (2, 2)


def test_resnet_spatial_sizes_match_spec_at_128():
    assert resnet_spatial_sizes(128) == (132, 63, 61, 61, 31, 16, 8, 4)


def test_resnet_encoder_shapes_traced_through_the_real_network():
    enc = ResNetEncoder(config.WAE_LATENT_DIM, image_size=128, width=1.0).eval()
    seen = []
    layers = list(enc.features)
    hooks = [layers[i].register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[1:])))
             for i in (0, 1, 4, 5, 6, 7, 8, 9, 10)]
    with torch.no_grad():
        z = enc(torch.rand(1, 3, 128, 128))
    for h in hooks:
        h.remove()
    assert [s[-1] for s in seen[:-1]] == [132, 63, 61, 61, 31, 16, 8, 4]
    assert [s[0] for s in seen[3:7]] == [256, 512, 1024, 2048]
    assert seen[-1] == (4 * 4 * 2048,)
    assert enc.n_features == 32768 and z.shape == (1, 64)


def test_resnet_stage_depths_follow_thesis():
    enc = ResNetEncoder(8, image_size=32, width=0.125)
    stages = [m for m in enc.features if isinstance(m, torch.nn.Sequential)]
    assert [len(s) - 1 for s in stages] == list(config.RESNET_IDENTITY_BLOCKS)
    assert all(isinstance(s[0], ConvBlock) for s in stages)
    assert all(isinstance(b, IdentityBlock) for s in stages for b in s[1:])


@pytest.mark.parametrize("size", config.SUPPORTED_IMAGE_SIZES)
def test_dcgan_decoder_output_size_and_range(size):
    dec = DCGANDecoder(8, image_size=size, width=0.0625)
    x = dec(torch.randn(3, 8) * 100)
    assert x.shape == (3, 3, size, size)
    assert x.min() >= 0 and x.max() <= 1


def test_discriminator_returns_logits_and_probabilities():
    d = LatentDiscriminator(64)
    z = torch.randn(5, 64)
    assert d(z).shape == (5,)
    torch.testing.assert_close(d.prob(z), torch.sigmoid(d(z)))
    assert len([m for m in d.net if isinstance(m, torch.nn.Linear)]) == 5


def test_scaled_width():
    assert scaled(2048, 1.0) == 2048 and scaled(64, 0.125) == 8 and scaled(3, 0.01) == 1
