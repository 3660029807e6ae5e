"""The networks of every model: the auto-encoder classes and their builders.

A model is an encoder, a decoder and a Gaussian prior (:class:`AutoEncoder`); a VAE's encoder
ends in a Gaussian head (:class:`VAE`), a WAE's is deterministic (:class:`WAE`, optionally with
a latent discriminator), MaskAAE's ends in a learned mask (:class:`MaskAAE`). Which networks,
sizes and objective each named model uses is said once, in :mod:`waelib.registry`, which also
builds them by name:

>>> from waelib.registry import build_model
>>> model = build_model("wae_resnet")                                  # thesis size, 128 px
>>> small = build_model("wae_resnet", image_size=32, width=0.125)      # a CPU-sized version

Every model exposes ``latent_dim``, ``encode(x)`` (N, latent_dim) -- the posterior mean for
a VAE --, ``decode(z)`` (N, 3, H, W) in [0, 1], ``sample(n, generator=None)``,
``reconstruct(x)`` and ``sample_prior(n)``. Models with a GAN penalty (WAE-GAN, WAE-ResNet,
MaskAAE) also carry ``discriminator``. How a model learns is its objective's business
(:mod:`waelib.objectives`), not the network's.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Type

import torch
from torch import nn

from . import config
from .blocks import DCGANDecoder, DCGANEncoder, LatentDiscriminator, ResNetEncoder, VAEDecoder, VAEEncoder


class AutoEncoder(nn.Module):
    """Common interface of every model: an encoder, a decoder and a Gaussian prior.

    Attributes:
        name: registry name (e.g. ``"wae_resnet"``).
        latent_dim: size d_z of the codes.
        image_size: side S of the (N, 3, S, S) images.
        prior_sigma2: variance of the isotropic prior N(0, sigma^2 I) (1 for VAE, 2 for WAE).
    """

    def __init__(self, name: str, encoder: nn.Module, decoder: nn.Module, latent_dim: int,
                 image_size: int, prior_sigma2: float):
        super().__init__()
        self.name = name
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.prior_sigma2 = float(prior_sigma2)

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(N, latent_dim) -> (N, 3, S, S) images in [0, 1]."""
        return self.decoder(z)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """decode(encode(x)): (N, 3, S, S) -> (N, 3, S, S)."""
        return self.decode(self.encode(x))

    def sample_prior(self, n: int, generator: Optional[torch.Generator] = None,
                     device: Optional[torch.device] = None) -> torch.Tensor:
        """n draws from the prior N(0, prior_sigma2 * I): (n, latent_dim).

        With a ``generator`` the draws are made on the generator's device (then moved), so a
        seeded CPU generator gives the same codes on any device.
        """
        device = device or next(self.parameters()).device
        gen_device = generator.device if generator is not None else device
        z = torch.randn(n, self.latent_dim, generator=generator, device=gen_device)
        return (z * math.sqrt(self.prior_sigma2)).to(device)

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Decode n prior draws: (n, 3, S, S) in [0, 1]."""
        return self.decode(self.sample_prior(n, generator))


class VAE(AutoEncoder):
    """Gaussian-encoder VAE (§2.1, §4.3.1, §4.3.3).

    The encoder trunk maps (N, 3, S, S) to features; one dense head gives
    [mu, log sigma^2] of shape (N, 2 * latent_dim).
    """

    def __init__(self, name: str, trunk: nn.Module, trunk_features: int, decoder: nn.Module,
                 latent_dim: int, image_size: int, prior_sigma2: float = config.VAE_PRIOR_SIGMA2):
        encoder = nn.Sequential(trunk, nn.Linear(trunk_features, 2 * latent_dim))
        super().__init__(name, encoder, decoder, latent_dim, image_size, prior_sigma2)

    def encode_stats(self, x: torch.Tensor):
        """(N, 3, S, S) -> (mu, logvar), each (N, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean mu(x): (N, latent_dim)."""
        return self.encode_stats(x)[0]

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Reparameterised pass: z = mu + sigma * eps, eps ~ N(0, I) (§2.1).

        Returns a dict with ``x_hat`` (N, 3, S, S), ``mu``, ``logvar`` and ``z`` (N, latent_dim).
        """
        mu, logvar = self.encode_stats(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return {"x_hat": self.decode(z), "mu": mu, "logvar": logvar, "z": z}


class WAE(AutoEncoder):
    """Deterministic-encoder WAE (§2.2, §3.1, §4.3.2): the GAN or MMD penalty acts on Q_Z."""

    def __init__(self, name: str, encoder: nn.Module, decoder: nn.Module,
                 latent_dim: int, image_size: int, prior_sigma2: float = config.WAE_PRIOR_SIGMA2,
                 discriminator: Optional[nn.Module] = None):
        super().__init__(name, encoder, decoder, latent_dim, image_size, prior_sigma2)
        if discriminator is not None:
            self.discriminator = discriminator

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes z = Q(x): (N, 3, S, S) -> (N, latent_dim)."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Returns a dict with ``x_hat`` (N, 3, S, S) and ``z`` (N, latent_dim)."""
        z = self.encode(x)
        return {"x_hat": self.decode(z), "z": z}


class LatentMask(nn.Module):
    """The learned mask of MaskAAE (seed 004): mu = sigmoid(a), one gate per latent dimension.

    The logits start at ``init_logit`` (all dimensions on, mu ~ 0.95). ``active(threshold)``
    counts the dimensions with mu > threshold: the m_A of seed 004 Table 2.
    """

    def __init__(self, latent_dim: int, init_logit: float = config.MASK_INIT_LOGIT):
        super().__init__()
        self.logits = nn.Parameter(torch.full((latent_dim,), float(init_logit)))

    def forward(self) -> torch.Tensor:
        """The mask mu: (latent_dim,) in (0, 1)."""
        return torch.sigmoid(self.logits)

    def active(self, threshold: float = 0.5) -> int:
        """Number of dimensions with mu > threshold."""
        return int((self().detach() > threshold).sum())


class MaskAAE(WAE):
    """MaskAAE (seed 004, Figure 4): a WAE-GAN whose encoder ends in a learned mask.

    Codes are z = mu * Q(x) and prior draws are mu * z_p, z_p ~ N(0, sigma_z^2 I), so the
    adversary compares the two on the unmasked dimensions only; a dimension that the data
    cannot fill (m > n) is cheaper to switch off than to match. ``mask_penalty`` is an L1
    sparsity term on the gates (our choice, docs/deviations.md: the seed names the mask but not
    its loss): a gate stays open only while its dimension pays for itself in reconstruction
    and prior matching.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mask = LatentMask(self.latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Masked codes mu * Q(x): (N, 3, S, S) -> (N, latent_dim)."""
        return self.encoder(x) * self.mask()

    def sample_prior(self, n: int, generator: Optional[torch.Generator] = None,
                     device: Optional[torch.device] = None) -> torch.Tensor:
        """Masked prior draws mu * z, z ~ N(0, sigma_z^2 I): (n, latent_dim)."""
        z = super().sample_prior(n, generator, device)
        return z * self.mask().to(z.device)

    def mask_penalty(self) -> torch.Tensor:
        """Sparsity term ||mu||_1 = sum_j mu_j (scalar; the number of open gates when binary)."""
        return self.mask().sum()

    def mask_binarity(self) -> torch.Tensor:
        """sum_j mu_j (1 - mu_j) (scalar; 0 exactly when every gate is 0 or 1)."""
        mu = self.mask()
        return (mu * (1.0 - mu)).sum()


class IntroVAE(VAE):
    """IntroVAE (seed 003; Huang et al. 2018): the VAE's networks, trained introspectively.

    The encoder doubles as the adversary: it keeps the KL of real codes small and pushes the
    KL of reconstructions and prior samples above a margin m; the generator (decoder) pulls
    the latter down. Same networks and interface as :class:`VAE`; the objective is
    :class:`waelib.objectives.intro_vae.IntroVAEObjective`.
    """


# --------------------------------------------------------------------------------------
# Builders (the registry, waelib.registry, calls them with its defaults)
# --------------------------------------------------------------------------------------
#: A builder: (image_size, latent_dim, width, prior_sigma2, **overrides) -> model.
Builder = Callable[..., AutoEncoder]


def vae_builder(name: str, *, resnet: bool, cls: Type[VAE] = VAE) -> Builder:
    """A builder of the VAE networks (§4.3.1): the VAE conv trunk, or with ``resnet`` the ResNet
    trunk of §3.2 (§4.3.3), a dense Gaussian head and the VAE decoder; ``cls`` the model class."""
    def build(image_size: int, latent_dim: int, width: float, prior_sigma2: float,
              **kw) -> AutoEncoder:
        if resnet:
            # The ResNet trunk up to the flatten; its dense layer becomes the Gaussian head.
            full = ResNetEncoder(1, image_size=image_size, width=width)
            trunk, n_feat = full.features, full.n_features
        else:
            trunk = VAEEncoder(image_size=image_size, width=width)
            n_feat = trunk.out_features
        decoder = VAEDecoder(latent_dim, image_size=image_size, width=width)
        return cls(name, trunk, n_feat, decoder, latent_dim, image_size, prior_sigma2)
    return build


def wae_builder(name: str, *, resnet: bool, adversary: bool, cls: Type[WAE] = WAE) -> Builder:
    """A builder of the WAE networks (§4.3.2): the DCGAN 5x5 encoder, or with ``resnet`` the
    ResNet encoder (§3.2, §4.3.4), the DCGAN decoder and, with ``adversary``, the latent
    discriminator of Algorithm 2 (overrides ``disc_hidden``, ``disc_layers``).

    ``encoder_width`` (None = ``width``): the encoder's own channel multiplier, the decoder and
    the discriminator keep ``width`` -- the capacity control of docs/claims.md (issue 20), a
    ResNet encoder as large as the DCGAN encoder in front of the same decoder."""
    def build(image_size: int, latent_dim: int, width: float, prior_sigma2: float,
              disc_hidden: int = config.DISC_HIDDEN, disc_layers: int = config.DISC_LAYERS,
              encoder_width: Optional[float] = None) -> AutoEncoder:
        enc_cls = ResNetEncoder if resnet else DCGANEncoder
        if encoder_width is not None and not (isinstance(encoder_width, (int, float)) and 0 < encoder_width <= 4):
            raise ValueError(f"encoder_width must be a number in (0, 4], got {encoder_width!r}")
        enc_width = width if encoder_width is None else float(encoder_width)
        encoder = enc_cls(latent_dim, image_size=image_size, width=enc_width)
        decoder = DCGANDecoder(latent_dim, image_size=image_size, width=width)
        disc = (LatentDiscriminator(latent_dim, hidden=disc_hidden, n_layers=disc_layers, width=width)
                if adversary else None)
        return cls(name, encoder, decoder, latent_dim, image_size, prior_sigma2, disc)
    return build


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm running statistics excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
