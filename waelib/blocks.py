"""Building blocks of the thesis' networks.

- :class:`IdentityBlock` and :class:`ConvBlock`: the bottleneck residual blocks of thesis §3.2.1
  and §3.2.2 (1x1 -> kxk -> 1x1 convolutions with BatchNorm and ReLU).
- :class:`ResNetEncoder`: the encoder of thesis §3.2 / Figure 3.1 (a ResNet-50-like trunk with
  2, 3, 3, 3 identity blocks after the conv block of each stage).
- :class:`DCGANEncoder` / :class:`DCGANDecoder`: the WAE encoder and decoder of thesis §4.3.2.
- :class:`VAEEncoder` / :class:`VAEDecoder`: the VAE encoder and decoder of thesis §4.3.1.
- :class:`LatentDiscriminator`: the WAE-GAN adversary on codes, 4 x dense 512 ReLU -> 1.

Every channel count can be scaled by ``width`` (see :func:`scaled`) so that small CPU-sized
versions of the thesis networks exist; ``width=1`` is the thesis configuration. Layer order
follows the thesis text literally (e.g. "LeakyReLU ... and BatchNormalization" is
activation-then-BN in the VAE), except the final BatchNorm that the thesis puts after the
output sigmoid, which we put before it so that images stay in [0, 1]
(docs/deviations.md).

Convolutions keep their bias (as Keras does by default), so parameter counts match the
thesis' Keras models.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import nn

from . import config


def scaled(channels: int, width: float) -> int:
    """Scale a channel count by ``width``, rounding, never below 1."""
    return max(1, int(round(channels * width)))


def _conv_out(n: int, kernel: int, stride: int, padding: int) -> int:
    """Output size of a convolution or pooling along one axis."""
    return (n + 2 * padding - kernel) // stride + 1


# --------------------------------------------------------------------------------------
# Residual blocks (§3.2.1, §3.2.2)
# --------------------------------------------------------------------------------------
class _Bottleneck(nn.Module):
    """F(X): 1x1 (stride s) -> BN -> ReLU -> kxk 'same' -> BN -> ReLU -> 1x1 -> BN."""

    def __init__(self, in_channels: int, filters: Sequence[int], kernel: int, stride: int = 1):
        super().__init__()
        f1, f2, f3 = filters
        self.conv1 = nn.Conv2d(in_channels, f1, 1, stride=stride)
        self.bn1 = nn.BatchNorm2d(f1)
        self.conv2 = nn.Conv2d(f1, f2, kernel, padding=kernel // 2)
        self.bn2 = nn.BatchNorm2d(f2)
        self.conv3 = nn.Conv2d(f2, f3, 1)
        self.bn3 = nn.BatchNorm2d(f3)
        self.relu = nn.ReLU(inplace=True)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """F(X): (N, C_in, H, W) -> (N, f3, ceil(H/s), ceil(W/s))."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))


class IdentityBlock(_Bottleneck):
    """Identity residual block, thesis §3.2.1 / Figure 3.2: H(X) = ReLU(F(X) + X).

    Input and output are (N, f3, H, W); the input must already have ``f3`` channels.
    F is 1x1 -> kxk -> 1x1 convolutions, each followed by BatchNorm, with ReLU between.
    The ReLU after the addition is the Keras ResNet-50 convention that the thesis' figure
    shows; inside the encoder every block input is itself a ReLU output (>= 0), so with
    F = 0 the block is exactly the identity map there.
    """

    def __init__(self, channels: int, filters: Sequence[int], kernel: int = config.RESNET_BLOCK_KERNEL):
        if filters[-1] != channels:
            raise ValueError(f"IdentityBlock needs filters[-1] == in channels, got {filters} vs {channels}")
        super().__init__(channels, filters, kernel, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.residual(x) + x)


class ConvBlock(_Bottleneck):
    """Convolutional residual block, thesis §3.2.2 / Figure 3.3: H(X) = ReLU(F(X) + W_s X).

    (N, C_in, H, W) -> (N, f3, ceil(H/s), ceil(W/s)). The shortcut W_s is a 1x1 convolution
    with the block's stride (followed by BatchNorm, as in Figure 3.3 and Keras ResNet-50),
    which matches the channel count and the spatial size of F(X). The stride sits on the
    first 1x1 convolution of F, as in Keras ResNet-50.
    """

    def __init__(self, in_channels: int, filters: Sequence[int], kernel: int = config.RESNET_BLOCK_KERNEL,
                 stride: int = 2):
        super().__init__(in_channels, filters, kernel, stride=stride)
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, filters[-1], 1, stride=stride),
                                      nn.BatchNorm2d(filters[-1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.residual(x) + self.shortcut(x))


# --------------------------------------------------------------------------------------
# ResNet encoder (§3.2, Figure 3.1)
# --------------------------------------------------------------------------------------
def resnet_spatial_sizes(image_size: int) -> Tuple[int, ...]:
    """Spatial sizes through the ResNet encoder (§3.2).

    Returns (after zero-pad, after 7x7/2 conv, after 3x3/1 max-pool, after stage 2, 3, 4, 5,
    after 2x2 avg-pool). For 128 px: (132, 63, 61, 61, 31, 16, 8, 4).
    """
    n = image_size + 2 * config.RESNET_ZERO_PAD
    sizes = [n]
    n = _conv_out(n, config.RESNET_STEM_KERNEL, 2, 0)
    sizes.append(n)
    n = _conv_out(n, 3, 1, 0)
    sizes.append(n)
    for stride in config.RESNET_STAGE_STRIDES:
        n = _conv_out(n, 1, stride, 0)
        sizes.append(n)
    n = n // 2
    sizes.append(n)
    return tuple(sizes)


class ResNetEncoder(nn.Module):
    """The thesis' ResNet encoder, §3.2 / Figure 3.1: (N, 3, S, S) -> (N, out_features).

    ZeroPad 2 -> Conv 7x7/64 stride 2 -> BN -> ReLU -> MaxPool 3x3 stride 1 ->
    stage 2: ConvBlock [64, 64, 256] s1 + 2 IdentityBlocks ->
    stage 3: ConvBlock [128, 128, 512] s2 + 3 IdentityBlocks ->
    stage 4: ConvBlock [256, 256, 1024] s2 + 3 IdentityBlocks ->
    stage 5: ConvBlock [512, 512, 2048] s2 + 3 IdentityBlocks ->
    AvgPool 2x2 -> Flatten -> Dense(out_features).
    At S = 128 the spatial sizes are 132 -> 63 -> 61 -> 61 -> 31 -> 16 -> 8 -> 4, so
    4 * 4 * 2048 = 32768 features reach the dense layer (64 units in the thesis).
    """

    def __init__(self, out_features: int, image_size: int = config.IMAGE_SIZE, width: float = 1.0,
                 in_channels: int = config.IMAGE_CHANNELS):
        super().__init__()
        stem = scaled(config.RESNET_STEM_CHANNELS, width)
        layers: list[nn.Module] = [
            nn.ZeroPad2d(config.RESNET_ZERO_PAD),
            nn.Conv2d(in_channels, stem, config.RESNET_STEM_KERNEL, stride=2),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=1),
        ]
        channels = stem
        for filters, stride, n_id in zip(config.RESNET_STAGE_FILTERS, config.RESNET_STAGE_STRIDES,
                                         config.RESNET_IDENTITY_BLOCKS):
            f = tuple(scaled(c, width) for c in filters)
            stage = [ConvBlock(channels, f, stride=stride)]
            stage += [IdentityBlock(f[-1], f) for _ in range(n_id)]
            layers.append(nn.Sequential(*stage))
            channels = f[-1]
        layers += [nn.AvgPool2d(2), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        side = resnet_spatial_sizes(image_size)[-1]
        if side < 1:
            raise ValueError(f"image_size={image_size} is too small for the ResNet encoder")
        self.n_features = channels * side * side
        self.dense = nn.Linear(self.n_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.features(x))


# --------------------------------------------------------------------------------------
# WAE encoder / decoder (§4.3.2) -- DCGAN style, 5x5 kernels
# --------------------------------------------------------------------------------------
def _check_size(image_size: int, n_down: int = 5) -> int:
    if image_size % (2 ** n_down):
        raise ValueError(f"image_size must be a multiple of {2 ** n_down}, got {image_size}")
    return image_size // 2 ** n_down


class DCGANEncoder(nn.Module):
    """WAE encoder, §4.3.2: (N, 3, S, S) -> (N, out_features).

    5 x [Conv 5x5 stride 2 'same' -> BN -> ReLU] with [128, 256, 512, 1024, 2048] filters,
    flatten, Dense(out_features) (64 in the thesis).
    """

    def __init__(self, out_features: int, image_size: int = config.IMAGE_SIZE, width: float = 1.0,
                 filters: Sequence[int] = config.WAE_ENCODER_FILTERS, kernel: int = config.WAE_KERNEL):
        super().__init__()
        side = _check_size(image_size, len(filters))
        layers: list[nn.Module] = []
        c_in = config.IMAGE_CHANNELS
        for f in filters:
            c = scaled(f, width)
            layers += [nn.Conv2d(c_in, c, kernel, stride=2, padding=kernel // 2),
                       nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        self.n_features = c_in * side * side
        self.dense = nn.Linear(self.n_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.features(x))


class _ImageDecoder(nn.Module):
    """Shared tail of both decoders: dense features -> (c0, side, side) -> ``deconv`` -> image."""

    c0: int
    side: int
    deconv: nn.Sequential

    @staticmethod
    def output_layer(c_in: int, kernel: int, stride: int) -> list:
        """ConvT to 3 channels -> BN -> sigmoid: the thesis' "sigmoid and BatchNormalization",
        with the BN moved before the sigmoid so that images stay in [0, 1]."""
        extra = dict(output_padding=1) if stride == 2 else {}
        return [nn.ConvTranspose2d(c_in, config.IMAGE_CHANNELS, kernel, stride=stride, padding=kernel // 2,
                                   **extra),
                nn.BatchNorm2d(config.IMAGE_CHANNELS), nn.Sigmoid()]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.dense(z).view(z.shape[0], self.c0, self.side, self.side)
        return self.deconv(h)


class DCGANDecoder(_ImageDecoder):
    """WAE decoder, §4.3.2: (N, latent_dim) -> (N, 3, S, S) in [0, 1].

    Dense(S/32 * S/32 * 2048) -> BN -> ReLU -> reshape, 4 x [ConvT 5x5 stride 2 'same' -> BN ->
    ReLU] with [1024, 512, 256, 128] filters, ConvT 5x5 stride 2 -> 3 -> BN -> sigmoid.
    (The thesis lists BN after the sigmoid; we apply it before, see docs/deviations.md.)
    """

    def __init__(self, latent_dim: int, image_size: int = config.IMAGE_SIZE, width: float = 1.0,
                 filters: Sequence[int] = config.WAE_DECODER_FILTERS, kernel: int = config.WAE_KERNEL,
                 first_channels: int = config.WAE_ENCODER_FILTERS[-1]):
        super().__init__()
        self.side = _check_size(image_size, len(filters) + 1)
        self.c0 = scaled(first_channels, width)
        n0 = self.c0 * self.side * self.side
        self.dense = nn.Sequential(nn.Linear(latent_dim, n0), nn.BatchNorm1d(n0), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        c_in = self.c0
        pad = kernel // 2
        for f in filters:
            c = scaled(f, width)
            layers += [nn.ConvTranspose2d(c_in, c, kernel, stride=2, padding=pad, output_padding=1),
                       nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
        self.deconv = nn.Sequential(*layers, *self.output_layer(c_in, kernel, stride=2))


# --------------------------------------------------------------------------------------
# VAE encoder / decoder (§4.3.1) -- 3x3 kernels, LeakyReLU(0.02), SELU dense layers
# --------------------------------------------------------------------------------------
class VAEEncoder(nn.Module):
    """VAE encoder trunk, §4.3.1: (N, 3, S, S) -> (N, 2048).

    5 x [Conv 3x3 stride 2 'same' -> LeakyReLU(0.02) -> BN] with [32, 64, 128, 256, 512]
    filters, flatten, Dense(2048) -> SELU. The Gaussian heads (mu, log sigma^2) sit on top,
    in :class:`waelib.models.VAE`.
    """

    def __init__(self, image_size: int = config.IMAGE_SIZE, width: float = 1.0,
                 filters: Sequence[int] = config.VAE_ENCODER_FILTERS, kernel: int = config.VAE_KERNEL,
                 hidden: int = config.VAE_HIDDEN):
        super().__init__()
        side = _check_size(image_size, len(filters))
        layers: list[nn.Module] = []
        c_in = config.IMAGE_CHANNELS
        for f in filters:
            c = scaled(f, width)
            layers += [nn.Conv2d(c_in, c, kernel, stride=2, padding=kernel // 2),
                       nn.LeakyReLU(config.VAE_LEAKY_SLOPE, inplace=True), nn.BatchNorm2d(c)]
            c_in = c
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        self.n_features = c_in * side * side
        self.out_features = scaled(hidden, width)
        self.dense = nn.Sequential(nn.Linear(self.n_features, self.out_features), nn.SELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.features(x))


class VAEDecoder(_ImageDecoder):
    """VAE decoder, §4.3.1: (N, latent_dim) -> (N, 3, S, S) in [0, 1].

    Dense(2048) -> SELU -> BN, Dense(S/32 * S/32 * 512) -> SELU -> reshape,
    5 x [ConvT 3x3 stride 2 'same' -> LeakyReLU(0.02) -> BN] with [256, 128, 64, 32, 16] filters,
    ConvT 3x3 stride 1 'same' -> 3 -> BN -> sigmoid (BN moved before the sigmoid, see
    docs/deviations.md).
    """

    def __init__(self, latent_dim: int, image_size: int = config.IMAGE_SIZE, width: float = 1.0,
                 filters: Sequence[int] = config.VAE_DECODER_FILTERS, kernel: int = config.VAE_KERNEL,
                 hidden: int = config.VAE_HIDDEN, first_channels: int = config.VAE_ENCODER_FILTERS[-1]):
        super().__init__()
        self.side = _check_size(image_size, len(filters))
        self.c0 = scaled(first_channels, width)
        h = scaled(hidden, width)
        n0 = self.c0 * self.side * self.side
        self.dense = nn.Sequential(nn.Linear(latent_dim, h), nn.SELU(), nn.BatchNorm1d(h),
                                   nn.Linear(h, n0), nn.SELU())
        layers: list[nn.Module] = []
        c_in = self.c0
        for f in filters:
            c = scaled(f, width)
            layers += [nn.ConvTranspose2d(c_in, c, kernel, stride=2, padding=kernel // 2,
                                          output_padding=1),
                       nn.LeakyReLU(config.VAE_LEAKY_SLOPE, inplace=True), nn.BatchNorm2d(c)]
            c_in = c
        self.deconv = nn.Sequential(*layers, *self.output_layer(c_in, kernel, stride=1))


# --------------------------------------------------------------------------------------
# Latent discriminator (§4.3.2)
# --------------------------------------------------------------------------------------
class LatentDiscriminator(nn.Module):
    """WAE-GAN adversary on codes, §4.3.2: (N, latent_dim) -> (N,) logits.

    4 x [Dense 512 -> ReLU] -> Dense 1. The thesis ends in a sigmoid; we return the logit and
    apply the sigmoid inside the numerically stable losses (``waelib.losses``), or via
    :meth:`prob`.
    """

    def __init__(self, latent_dim: int, hidden: int = config.DISC_HIDDEN, n_layers: int = config.DISC_LAYERS,
                 width: float = 1.0):
        super().__init__()
        h = scaled(hidden, width)
        layers: list[nn.Module] = []
        d = latent_dim
        for _ in range(n_layers):
            layers += [nn.Linear(d, h), nn.ReLU(inplace=True)]
            d = h
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)

    def prob(self, z: torch.Tensor) -> torch.Tensor:
        """D(z) in (0, 1): the probability that ``z`` was drawn from the prior."""
        return torch.sigmoid(self(z))
