"""The objectives of the thesis, written out so that they can be read and tested.

Per-sample terms (shape (N,)):

- :func:`gaussian_kl` -- KL(N(mu, diag sigma^2) || N(0, I)) in closed form (§2.1).
- :func:`reconstruction_cost` -- c(x, y) = ||x - y||^2 summed over pixels (§2.2, §4.3.2).

Distribution-level penalties (scalars):

- :func:`mmd` -- the unbiased MMD estimator of the official WAE code, IMQ or RBF kernel.
- :func:`discriminator_loss` / :func:`encoder_adversarial_loss` -- the WAE-GAN penalty of
  thesis Algorithm 2, in the numerically stable logits form.

Whole objectives, one function each, returning a dict of scalar batch means
(``loss`` is what is minimised; the other entries are its terms, for logging):

- :func:`vae_loss` -- the negative ELBO (§2.1, eq. ELBO_i).
- :func:`wae_loss` -- recon_scale * c + lambda * penalty (the penalised D_WAE of §2.2).
- :func:`wae_mmd_loss` and :func:`wae_gan_loss` -- :func:`wae_loss` with each penalty.
- :func:`rae_loss` (seed 004), :func:`intro_vae_encoder_loss` and
  :func:`intro_vae_generator_loss` (seed 003) -- the related seeds' objectives (notebook 06).
"""
from __future__ import annotations

import math
from typing import Dict, Sequence

import torch
from torch import nn

from . import config


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per sample, in closed form.

    KL = 1/2 * sum_j (sigma_j^2 + mu_j^2 - 1 - log sigma_j^2).

    Args:
        mu, logvar: (N, d).
    Returns:
        (N,) nats.
    """
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(dim=1)


def reconstruction_cost(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """c(x, x_hat) = ||x - x_hat||_2^2 summed over channels and pixels (§4.3.2).

    Args:
        x, x_hat: (N, C, H, W) (or any (N, ...)).
    Returns:
        (N,).
    """
    return (x - x_hat).pow(2).flatten(1).sum(dim=1)


def recon_scale_for(image_size: int, pixel_range: float = 1.0, *,
                    base: float = config.RECON_SCALE) -> float:
    """The weight of c(x, x_hat) that gives the official WAE code's balance at any image size.

    The official code minimises ``0.05 * sum_pixels (x - x_hat)^2 + lambda * D_Z`` on
    64 x 64 x 3 images in [-1, 1]. The sum grows with the pixel count (S^2) and with the square
    of the pixel range, so on [0, 1] images of side S the same lambda needs

        recon_scale = 0.05 * (2 / pixel_range)^2 * (64 / S)^2,

    i.e. 0.05 at 128 px (the thesis size: the plain 0.05 is right there by coincidence), 0.2 at
    64 px and 0.8 at 32 px. Args: image_size S; pixel_range = max - min of the data (1 for
    [0, 1]). Returns the scalar recon_scale for :func:`wae_loss`.
    """
    if image_size <= 0 or pixel_range <= 0:
        raise ValueError(f"image_size and pixel_range must be positive, got {image_size}, {pixel_range}")
    return base * (config.OFFICIAL_PIXEL_RANGE / pixel_range) ** 2 * (config.OFFICIAL_IMAGE_SIZE / image_size) ** 2


def gaussian_nll(x: torch.Tensor, x_hat: torch.Tensor, sigma2: float = config.VAE_DECODER_SIGMA2,
                 include_constant: bool = False) -> torch.Tensor:
    """-log N(x; x_hat, sigma2 * I) per sample: ||x - x_hat||^2 / (2 sigma2) [+ D/2 log 2 pi sigma2].

    The Gaussian decoder P_G(X|Z) = N(X; G(Z), sigma_G^2 I) of §4.3.1. Returns (N,).
    """
    nll = reconstruction_cost(x, x_hat) / (2.0 * sigma2)
    if include_constant:
        d = x[0].numel()
        nll = nll + 0.5 * d * math.log(2 * math.pi * sigma2)
    return nll


# --------------------------------------------------------------------------------------
# MMD (WAE-MMD; Tolstikhin et al. 2018, official code)
# --------------------------------------------------------------------------------------
def sq_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances (n, m) between rows of a (n, d) and b (m, d)."""
    d = a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1).unsqueeze(0) - 2.0 * a @ b.t()
    return d.clamp_min(0.0)


def kernel_values(d2: torch.Tensor, kernel: str, c: float) -> torch.Tensor:
    if kernel == "imq":
        return c / (c + d2)
    return torch.exp(-d2 / c)


def mmd(z_q: torch.Tensor, z_p: torch.Tensor, kernel: str = "imq", sigma2: float = config.WAE_PRIOR_SIGMA2,
        scales: Sequence[float] = config.MMD_SCALES) -> torch.Tensor:
    """Unbiased estimate of MMD^2(Q_Z, P_Z), exactly as in the official WAE code.

    For each scale s, with C = s * 2 * d * sigma2 (d = code size, sigma2 = prior variance):

    - IMQ: k(x, y) = C / (C + ||x - y||^2);  RBF: k(x, y) = exp(-||x - y||^2 / C);
    - within-set sums drop the diagonal and divide by n(n-1) (resp. m(m-1));
    - the cross term uses all n*m pairs: 2/(n m) * sum_ij k(q_i, p_j).

    The estimate is summed over the scales (.1, .2, .5, 1, 2, 5, 10). It is unbiased, so it can
    be slightly negative when Q_Z = P_Z.

    Args:
        z_q: (n, d) codes of the data (samples of Q_Z).
        z_p: (m, d) samples of the prior P_Z.
        kernel: ``"imq"`` (default, as in the WAE paper) or ``"rbf"``.
        sigma2: prior variance sigma_z^2 that sets the base scale (2 in the thesis).
    Returns:
        scalar tensor.
    """
    if kernel not in ("imq", "rbf"):
        raise ValueError(f"unknown kernel {kernel!r}; valid choices: imq, rbf")
    n, d = z_q.shape
    m = z_p.shape[0]
    if n < 2 or m < 2:
        raise ValueError("mmd needs at least 2 samples in each set")
    d_qq, d_pp, d_qp = sq_distances(z_q, z_q), sq_distances(z_p, z_p), sq_distances(z_q, z_p)
    eye_q = torch.eye(n, dtype=z_q.dtype, device=z_q.device)
    eye_p = torch.eye(m, dtype=z_p.dtype, device=z_p.device)
    c_base = 2.0 * d * sigma2
    stat = z_q.new_zeros(())
    for s in scales:
        c = c_base * s
        k_qq = (kernel_values(d_qq, kernel, c) * (1 - eye_q)).sum() / (n * (n - 1))
        k_pp = (kernel_values(d_pp, kernel, c) * (1 - eye_p)).sum() / (m * (m - 1))
        k_qp = kernel_values(d_qp, kernel, c).sum() * 2.0 / (n * m)
        stat = stat + k_qq + k_pp - k_qp
    return stat


# --------------------------------------------------------------------------------------
# GAN penalty (thesis Algorithm 2)
# --------------------------------------------------------------------------------------
def discriminator_loss(logits_prior: torch.Tensor, logits_codes: torch.Tensor,
                       lam: float = config.WAE_GAN_LAMBDA) -> torch.Tensor:
    """The adversary's loss of Algorithm 2 (minimised by the discriminator).

    Algorithm 2 ascends lambda/n * sum_i [log D(z_i) + log(1 - D(z~_i))] with z_i ~ P_Z and
    z~_i ~ Q(Z|x_i); we minimise its negative,
    lambda * (BCE(D(z), 1) + BCE(D(z~), 0)), from logits via ``binary_cross_entropy_with_logits``.

    Args:
        logits_prior: (n,) logits of D on prior samples.
        logits_codes: (n,) logits of D on encoded data.
    Returns:
        scalar.
    """
    real = nn.functional.binary_cross_entropy_with_logits(logits_prior, torch.ones_like(logits_prior))
    fake = nn.functional.binary_cross_entropy_with_logits(logits_codes, torch.zeros_like(logits_codes))
    return lam * (real + fake)


def encoder_adversarial_loss(logits_codes: torch.Tensor) -> torch.Tensor:
    """The encoder's GAN penalty of Algorithm 2: mean -log D(z~) = BCE(D(z~), 1).

    This is the non-saturating form that Algorithm 2 writes (- lambda * log D(z~_i)) and the
    official code uses. Multiply by lambda in the objective (:func:`wae_gan_loss`).

    Args:
        logits_codes: (n,) logits of D on encoded data.
    Returns:
        scalar.
    """
    return nn.functional.binary_cross_entropy_with_logits(logits_codes, torch.ones_like(logits_codes))


# --------------------------------------------------------------------------------------
# Whole objectives
# --------------------------------------------------------------------------------------
def vae_loss(x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, *,
             decoder_sigma2: float = config.VAE_DECODER_SIGMA2) -> Dict[str, torch.Tensor]:
    """Negative ELBO (§2.1): E_q[-log p(x|z)] + KL(q(z|x) || N(0, I)), batch mean.

    With the Gaussian decoder N(x; G(z), sigma_G^2 I), -log p(x|z) = ||x - G(z)||^2 / (2 sigma_G^2)
    up to a constant (dropped). ``decoder_sigma2`` = sigma_G^2 (the thesis does not give it;
    0.5 makes the term the plain sum of squared errors, docs/deviations.md).

    Args:
        x, x_hat: (N, 3, H, W); mu, logvar: (N, d).
    Returns:
        dict with ``loss`` = ``recon`` + ``kl`` and ``sq_error`` = mean ||x - x_hat||^2.
    """
    sq = reconstruction_cost(x, x_hat)
    recon = (sq / (2.0 * decoder_sigma2)).mean()
    kl = gaussian_kl(mu, logvar).mean()
    return {"loss": recon + kl, "recon": recon, "kl": kl, "sq_error": sq.mean()}


def wae_loss(x: torch.Tensor, x_hat: torch.Tensor, penalty: torch.Tensor, *, lam: float,
             recon_scale: float = config.RECON_SCALE) -> Dict[str, torch.Tensor]:
    """The penalised WAE objective (§2.2): recon_scale * E[c(x, G(z))] + lambda * D_Z(Q_Z, P_Z).

    ``recon_scale`` = 0.05 follows the official WAE code, whose lambda values (1 for GAN,
    100 for MMD) assume it; recon_scale * c + lambda * D is the thesis' c + (lambda/recon_scale) * D
    up to an overall factor.

    Args:
        x, x_hat: (N, 3, H, W); penalty: scalar D_Z estimate.
    Returns:
        dict with ``loss``, ``recon`` (mean c, unscaled) and ``penalty`` (unweighted).
    """
    recon = reconstruction_cost(x, x_hat).mean()
    return {"loss": recon_scale * recon + lam * penalty, "recon": recon, "penalty": penalty}


def wae_mmd_loss(x: torch.Tensor, x_hat: torch.Tensor, z_q: torch.Tensor, z_p: torch.Tensor, *,
                 lam: float = config.WAE_MMD_LAMBDA, sigma2: float = config.WAE_PRIOR_SIGMA2,
                 recon_scale: float = config.RECON_SCALE, kernel: str = "imq") -> Dict[str, torch.Tensor]:
    """WAE-MMD objective: :func:`wae_loss` with D_Z = :func:`mmd` (z_q, z_p: (n, d))."""
    return wae_loss(x, x_hat, mmd(z_q, z_p, kernel=kernel, sigma2=sigma2), lam=lam,
                    recon_scale=recon_scale)


def wae_gan_loss(x: torch.Tensor, x_hat: torch.Tensor, logits_codes: torch.Tensor, *,
                 lam: float = config.WAE_GAN_LAMBDA, recon_scale: float = config.RECON_SCALE
                 ) -> Dict[str, torch.Tensor]:
    """Encoder/decoder side of Algorithm 2: :func:`wae_loss` with D_Z = -log D(z~) (logits (n,))."""
    return wae_loss(x, x_hat, encoder_adversarial_loss(logits_codes), lam=lam,
                    recon_scale=recon_scale)


# --------------------------------------------------------------------------------------
# Beyond the thesis: RAE (seed 004) and IntroVAE (seed 003)
# --------------------------------------------------------------------------------------
def squared_norm(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """||theta||^2 = sum of the squares of every tensor in ``params`` (scalar)."""
    return sum((p.pow(2).sum() for p in params), torch.zeros(()))


def rae_loss(x: torch.Tensor, x_hat: torch.Tensor, z: torch.Tensor, decoder_sq_norm: torch.Tensor, *,
             z_weight: float = config.RAE_Z_WEIGHT, decoder_l2: float = config.RAE_DECODER_L2
             ) -> Dict[str, torch.Tensor]:
    """The RAE-L2 objective (seed 004; Ghosh et al. 2020, eq. 11), batch mean:

        E[ ||x - D(E(x))||^2 ] + beta * E[ 1/2 ||z||^2 ] + lam/2 * ||theta_D||^2,

    a deterministic auto-encoder whose codes are kept near the origin and whose decoder is
    kept smooth by weight decay (the L2 variant; the RAE paper's alternatives are a gradient
    penalty or spectral normalisation). ``lam/2 ||theta||^2`` has the gradient lam * theta,
    i.e. Adam's coupled ``weight_decay=lam`` that pythae's RAE_L2 uses.

    Args:
        x, x_hat: (N, 3, H, W); z: (N, d) codes; decoder_sq_norm: scalar ||theta_D||^2
            (:func:`squared_norm` of the decoder's parameters).
    Returns:
        dict with ``loss``, ``recon`` (mean c), ``z_norm`` (mean 1/2 ||z||^2), ``decoder_l2``.
    """
    recon = reconstruction_cost(x, x_hat).mean()
    z_norm = 0.5 * z.pow(2).sum(dim=1).mean()
    reg = 0.5 * decoder_sq_norm
    return {"loss": recon + z_weight * z_norm + decoder_l2 * reg, "recon": recon, "z_norm": z_norm,
            "decoder_l2": reg}


def intro_beta_for(image_size: int, *, base: float = config.INTRO_BETA,
                   base_size: int = config.INTRO_IMAGE_SIZE) -> float:
    """IntroVAE's reconstruction weight beta at image side S: base * (base_size / S)^2.

    The official run uses beta = 0.05 on the pixel SUM at 256 px; the sum grows with S^2, so
    the same balance against the KL terms (nats, independent of S) needs 3.2 at 32 px and 0.8
    at 64 px (docs/deviations.md).
    """
    if image_size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    return base * (base_size / image_size) ** 2


def intro_vae_encoder_loss(kl_real: torch.Tensor, kl_rec_ng: torch.Tensor, kl_fake_ng: torch.Tensor,
                           recon: torch.Tensor, *, alpha: float = config.INTRO_ALPHA,
                           beta: float, margin: float = config.INTRO_MARGIN) -> Dict[str, torch.Tensor]:
    """IntroVAE's encoder objective, as seed 003 writes it:

        L_E = L_REG(Enc(x)) + alpha * sum_{s in {r, p}} [m - L_REG(Enc(ng(x_s)))]^+ + beta * L_AE(x, x_r)

    with L_REG the KL to N(0, I), [.]^+ = max(0, .), x_r = G(Enc(x)), x_p = G(z_p). Every
    argument is a batch mean (scalar): ``kl_real`` of the real codes, ``kl_rec_ng`` /
    ``kl_fake_ng`` of the (gradient-stopped) reconstructions and prior samples, ``recon`` the
    mean L_AE = sum over pixels of (x - x_r)^2. Returns a dict with ``loss`` and its terms.
    """
    hinge = nn.functional.relu(margin - kl_rec_ng) + nn.functional.relu(margin - kl_fake_ng)
    return {"loss": kl_real + alpha * hinge + beta * recon, "kl_real": kl_real,
            "hinge": hinge, "recon": recon}


def intro_vae_generator_loss(kl_rec: torch.Tensor, kl_fake: torch.Tensor, recon: torch.Tensor, *,
                             alpha: float = config.INTRO_ALPHA, beta: float) -> Dict[str, torch.Tensor]:
    """IntroVAE's generator objective, as seed 003 writes it:

        L_G = alpha * sum_{s in {r, p}} L_REG(Enc(x_s)) + beta * L_AE(x, x_r)

    (scalars as in :func:`intro_vae_encoder_loss`; here the KLs keep their gradient to the
    generator). Returns a dict with ``loss``, ``kl_rec``, ``kl_fake``.
    """
    return {"loss": alpha * (kl_rec + kl_fake) + beta * recon, "kl_rec": kl_rec, "kl_fake": kl_fake}
