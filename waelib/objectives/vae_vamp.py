"""The VAE with a VampPrior (seed 004 Table 3 row "VAE-Vamprior" [12]; Tomczak & Welling,
"VAE with a VampPrior", AISTATS 2018).

The prior is the "variational mixture of posteriors": the encoder's own Gaussian posterior
evaluated at K learned pseudo-inputs u_1..u_K (images of the data's shape),

    p(z) = 1/K sum_k q(z | u_k),   log p(z) = logsumexp_k log q(z | u_k) - log K,

and the VAE is trained on the negative ELBO with the KL term estimated at the one
reparameterised draw z = mu(x) + sigma(x) * eps (the mixture has no closed-form KL):

    loss = E[ ||x - G(z)||^2 / (2 sigma_G^2) ] + beta * E[ log q(z|x) - log p(z) ].

Taken from the official code, github ``jmtomczak/vae_vampprior`` (commit bb6ff3e):

- ``models/Model.py``, ``add_pseudoinputs``: the pseudo-inputs are a bias-free linear layer
  applied to an identity matrix (an "idle input") followed by ``Hardtanh(0, 1)``, i.e. a free
  (K, D) weight clipped to [0, 1]; the weight is initialised ``normal_(mean, std)``
  (``utils/nn.py``, ``normal_init``). We keep the weight as one (K, 3, S, S) parameter and
  clip it with ``hardtanh(0, 1)`` (the same map without the identity product); mean 0.4 and std
  0.05 are their values for the one RGB 32 px data set, CIFAR-10 (``utils/load_data.py``,
  ``load_cifar10``).
- ``models/VAE.py``, ``log_p_z`` (prior ``vampprior``): the K pseudo-inputs go through the
  encoder ``q_z``, and log p(z) = max + log sum exp(a - max) with a_k = log N(z; mu_k, diag
  sigma_k^2) - log K (``utils/distributions.py``, ``log_Normal_diag``; they drop the
  -d/2 log 2 pi that cancels in the KL, we keep it so that log p(z) is a true log-density).
- ``models/VAE.py``, ``calculate_loss``: KL = -(log p(z) - log q(z|x)) at the sampled z,
  loss = -RE + beta * KL; ``utils/training.py``: beta = min(1, epoch / warmup) (our option
  ``warmup_steps``, counted in steps, off by default).
- ``models/VAE.py``, ``generate_x``: a sample is z ~ q(z | u_k) decoded; they take
  k = 0..N-1 in order, we draw k uniformly, which is a draw from the mixture p(z) itself.
- K = 500 (``experiment.py`` default ``--number_components``); here K = 64 (the cost, see
  :data:`N_PSEUDO`).

The networks are the thesis' VAE (:func:`waelib.models.vae_builder`, §4.3.1) plus the
pseudo-inputs (:class:`VampPriorVAE`). The thesis' encoder has BatchNorm, the reference's MLP
has none: in training the data batch and the pseudo-inputs go through the encoder as ONE
concatenated batch, so that both are normalised with the same statistics and q(z|u_k) is the
same function as q(z|x) in that step; in eval mode (sampling, evaluation) the running
statistics serve both. Every departure is a row of ``docs/deviations_parts/vae_vamp.md``.
"""
from __future__ import annotations

import functools
import math
from typing import Dict, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional

from .. import config, losses
from ..models import VAE, AutoEncoder, vae_builder
from ..utils import eval_mode
from .base import StepContext
from .vae import VAEObjective

__all__ = ["VampPriorObjective", "VampPriorVAE", "build", "OVERRIDES", "N_PSEUDO",
           "diagonal_gaussian_log_density", "vamp_log_prior", "vamp_kl_estimate", "kl_weight"]

#: K, the number of pseudo-inputs. The paper and ``experiment.py`` use 500; at batch 64 that
#: would push ~8x the batch through the encoder every step. The encoder is ~45% of the VAE's
#: forward+backward FLOPs at 32 px / width 0.125, so K = 64 (one batch) adds ~50% FLOPs per
#: step (185 vs 124 MFLOP counted), within the study's "twice the VAE" budget.
N_PSEUDO: int = 64
#: Initial pseudo-input pixels ~ N(0.4, 0.05^2): ``utils/load_data.py``, ``load_cifar10``
#: (their RGB 32 px, "continuous" setting), then clipped to [0, 1].
PSEUDO_INIT_MEAN: float = 0.4
PSEUDO_INIT_STD: float = 0.05
#: KL warm-up length in steps; 0 = none (the landscape's other VAEs use none; the reference
#: warms up for 100 epochs, ``experiment.py --warmup``).
WARMUP_STEPS: float = 0.0
LOG_2PI: float = math.log(2.0 * math.pi)

#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2", "n_pseudo", "pseudo_init_mean", "pseudo_init_std")


# --------------------------------------------------------------------------------------
# Densities (models/VAE.py log_p_z and calculate_loss)
# --------------------------------------------------------------------------------------
def diagonal_gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), summed over the last dimension (broadcasting).

    = -1/2 sum_j [log 2 pi + logvar_j + (z_j - mu_j)^2 exp(-logvar_j)]; e.g. z (N, 1, d) against
    mu, logvar (1, K, d) gives (N, K). (``log_Normal_diag`` of the reference plus the 2 pi term.)
    """
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def vamp_log_prior(z: torch.Tensor, prior_mu: torch.Tensor, prior_logvar: torch.Tensor) -> torch.Tensor:
    """The VampPrior's log-density log p(z) = logsumexp_k log q(z | u_k) - log K.

    Args:
        z: (N, d) codes; prior_mu, prior_logvar: (K, d), the encoder's Gaussian at each
            pseudo-input.
    Returns:
        (N,) nats.
    """
    comp = diagonal_gaussian_log_density(z.unsqueeze(1), prior_mu.unsqueeze(0), prior_logvar.unsqueeze(0))
    return torch.logsumexp(comp, dim=1) - math.log(prior_mu.shape[0])


def vamp_kl_estimate(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                     prior_mu: torch.Tensor, prior_logvar: torch.Tensor) -> torch.Tensor:
    """The single-sample KL estimate log q(z|x) - log p(z) at z ~ q(z|x) (``calculate_loss``).

    Args:
        z, mu, logvar: (N, d), the draw and the posterior's parameters; prior_mu, prior_logvar:
            (K, d).
    Returns:
        (N,) nats (unbiased for KL(q(z|x) || p(z)); single values may be negative).
    """
    return diagonal_gaussian_log_density(z, mu, logvar) - vamp_log_prior(z, prior_mu, prior_logvar)


def kl_weight(steps_done: torch.Tensor, warmup_steps: float) -> torch.Tensor:
    """beta = min(1, (t + 1) / W) for the step after t steps done (t a long scalar tensor), 1
    without warm-up (W <= 0); a float32 scalar on t's device (no host sync).

    The reference's ``utils/training.py`` sets beta = min(1, epoch / warmup), epochs from 1.
    """
    if warmup_steps <= 0:
        return torch.ones((), device=steps_done.device)
    return ((steps_done + 1).float() / float(warmup_steps)).clamp(max=1.0)


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------
class VampPriorVAE(VAE):
    """:class:`waelib.models.VAE` with K learned pseudo-inputs of image shape and the VampPrior.

    Extra args: n_pseudo K, pseudo_init_mean / pseudo_init_std (the weight's normal init).
    Attributes: ``pseudo_weight`` (K, 3, S, S) parameter; ``steps_done`` long buffer (the
    steps trained, for the KL warm-up; in the state_dict so that a resume continues it).
    """

    def __init__(self, *args, n_pseudo: int = N_PSEUDO, pseudo_init_mean: float = PSEUDO_INIT_MEAN,
                 pseudo_init_std: float = PSEUDO_INIT_STD, **kwargs):
        super().__init__(*args, **kwargs)
        if n_pseudo < 1:
            raise ValueError(f"n_pseudo must be at least 1, got {n_pseudo}")
        self.n_pseudo = int(n_pseudo)
        shape = (self.n_pseudo, config.IMAGE_CHANNELS, self.image_size, self.image_size)
        self.pseudo_weight = nn.Parameter(torch.empty(shape).normal_(pseudo_init_mean, pseudo_init_std))
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    def pseudo_inputs(self) -> torch.Tensor:
        """u = hardtanh(W, 0, 1): (K, 3, S, S) in [0, 1] (``Model.add_pseudoinputs``)."""
        return functional.hardtanh(self.pseudo_weight, 0.0, 1.0)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One encoder pass over [x; u] (shared BatchNorm statistics), z = mu + sigma * eps.

        x: (N, 3, S, S). Returns the VAE's dict (``x_hat``, ``mu``, ``logvar``, ``z``: the data's)
        plus ``prior_mu``, ``prior_logvar`` (K, d): q(z | u_k) for every pseudo-input.
        """
        n = x.shape[0]
        u = self.pseudo_inputs().to(x.dtype)
        mu_all, logvar_all = self.encode_stats(torch.cat([x, u], dim=0))
        mu, logvar = mu_all[:n], logvar_all[:n]
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return {"x_hat": self.decode(z), "mu": mu, "logvar": logvar, "z": z,
                "prior_mu": mu_all[n:], "prior_logvar": logvar_all[n:]}

    def prior_components(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """(mu_k, logvar_k), each (K, d) float32: the encoder at the pseudo-inputs, in eval mode
        (running BatchNorm statistics, as at evaluation; no running-statistic update)."""
        with eval_mode(self.encoder):
            mu, logvar = self.encode_stats(self.pseudo_inputs())
        return mu.float(), logvar.float()

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) of codes z (N, d) under the eval-mode VampPrior: (N,)."""
        mu_k, logvar_k = self.prior_components()
        return vamp_log_prior(z.float(), mu_k, logvar_k)

    @torch.no_grad()
    def sample_prior(self, n: int, generator: Optional[torch.Generator] = None,
                     device: Optional[torch.device] = None) -> torch.Tensor:
        """n draws from the VampPrior: k ~ U{0..K-1}, then z = mu_k + sigma_k * eps: (n, d).

        k and then eps are drawn on the generator's device (so a seeded CPU generator gives the
        same codes on any device); the components are :meth:`prior_components`.
        """
        device = device or next(self.parameters()).device
        gen_device = generator.device if generator is not None else device
        k = torch.randint(self.n_pseudo, (n,), generator=generator, device=gen_device)
        eps = torch.randn(n, self.latent_dim, generator=generator, device=gen_device)
        mu_k, logvar_k = self.prior_components()
        k, eps = k.to(mu_k.device), eps.to(mu_k.device)
        z = mu_k[k] + torch.exp(0.5 * logvar_k[k]) * eps
        return z.to(device)


def build(image_size: int, latent_dim: int, width: float, prior_sigma2: float,
          n_pseudo: int = N_PSEUDO, pseudo_init_mean: float = PSEUDO_INIT_MEAN,
          pseudo_init_std: float = PSEUDO_INIT_STD) -> AutoEncoder:
    """The thesis' VAE networks (:func:`waelib.models.vae_builder`, conv trunk) as a
    :class:`VampPriorVAE`. ``prior_sigma2`` is accepted for the registry and unused: the prior
    is the learned mixture."""
    cls = functools.partial(VampPriorVAE, n_pseudo=int(n_pseudo), pseudo_init_mean=float(pseudo_init_mean),
                            pseudo_init_std=float(pseudo_init_std))
    return vae_builder("vae_vamp", resnet=False, cls=cls)(image_size, latent_dim, width, prior_sigma2)


# --------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------
class VampPriorObjective(VAEObjective):
    """The negative ELBO with the VampPrior's single-sample KL; one Adam optimiser over the
    networks and the pseudo-inputs, at the VAE's lr and betas (thesis §4.3.1).

    Option ``warmup_steps`` (default 0): the KL weight rises as min(1, (t + 1) / W).
    Logged: ``loss``, ``recon``, ``kl``, ``sq_error``, ``kl_weight``.
    """

    name = "vae_vamp"
    options = ("warmup_steps",)

    def elbo_terms(self, x: torch.Tensor, out: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The loss terms of one batch: x (N, 3, S, S); ``out`` the model's forward dict. recon
        is the thesis' ||x - G(z)||^2 / (2 sigma_G^2) (:func:`waelib.losses.vae_loss`'s)."""
        dtype = torch.promote_types(x.dtype, torch.float32)
        sq = losses.reconstruction_cost(x, out["x_hat"].to(dtype))
        recon = (sq / (2.0 * config.VAE_DECODER_SIGMA2)).mean()
        kl = vamp_kl_estimate(*(out[k].to(dtype) for k in ("z", "mu", "logvar", "prior_mu", "prior_logvar"))).mean()
        beta = kl_weight(self.model.steps_done, self.option("warmup_steps", WARMUP_STEPS)).to(dtype)
        return {"loss": recon + beta * kl, "recon": recon, "kl": kl, "sq_error": sq.mean(), "kl_weight": beta}

    def training_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Joint forward pass, the negative ELBO, one Adam step, then ``steps_done`` + 1."""
        terms = super().training_step(ctx, x)
        with torch.no_grad():
            self.model.steps_done += 1
        return terms
