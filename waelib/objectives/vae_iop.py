"""The VAE with implicit optimal priors, VAE-IOP (seed 004 ref. [17]; Takahashi, Iwata, Yamanaka,
Yamada & Yagi, AAAI 2019, arXiv 1809.05284).

The prior that maximises the average ELBO is the aggregated posterior q(z) = E_{p_D(x)} q(z|x)
(Hoffman & Johnson 2016, cited by the paper's introduction). Its KL has no closed form, but

    KL(q(z|x) || q(z)) = KL(q(z|x) || p(z)) - E_{q(z|x)}[ log q(z) / p(z) ],   p = N(0, sigma^2 I),

a closed-form Gaussian KL minus a log density ratio in the (low-dimensional) latent space, "to
which the density ratio trick is applied" (the paper's abstract). A dense network T(z) trained by
logistic regression, codes z ~ q(z) labelled 1 and draws z ~ p(z) labelled 0,

    max_T  E_{q(z)}[ log sigmoid(T(z)) ] + E_{p(z)}[ log(1 - sigmoid(T(z))) ],

has the optimum T*(z) = log q(z) - log p(z). The VAE then minimises, per batch (batch means),

    loss = E_q[-log p(x|z)] + w_t * mean_i [ KL(N(mu_i, sigma_i^2) || p) - T(z_i) ],
    z_i = mu_i + sigma_i * eps_i   (the same single draw that is decoded),

with -log p(x|z) the thesis' Gaussian decoder (:func:`waelib.losses.vae_loss`) and w_t the KL
warm-up, 0 -> 1 linearly over the first ``warmup`` fraction of the planned steps.

What is taken from where (the authors' code, github ``takahashihiroshi/vae_iop``, commit f79147d,
``models/gaussian/gaussian_vae_iop.py``, checked there):

- the KL estimate ``gaussian_kl_divergence(mu, ln_var) - discriminator(z)`` on the reparameterised
  z that is also decoded, k = 1 (``_compute_RE_and_KL``), and the warm-up ``beta = epoch /
  warm_up_epoch`` on the whole KL over the first 100 of 1,000 epochs (``fit``, ``main.py``);
- the ratio network ``Discriminator``: 3 x [Linear(n_h) -> tanh], Dropout (p = 0.5), Linear(1),
  n_h = 500; trained with ``BCEWithLogitsLoss``, inferred codes (detached) labelled 1 and
  ``torch.randn_like`` draws labelled 0, the two means summed; dropout on while it is trained,
  off (``discriminator.eval()``) while the VAE is trained; its own Adam at lr 1e-3
  (``learning_rate_dual``);
- the gradient path: the VAE loss reaches the encoder through z (pathwise) and T's parameters
  are not in the VAE's optimiser. Ignoring T*'s own dependence on the encoder phi is exact:
  that part of the gradient is E_{q(z)}[d/dphi log q_phi(z)] = d/dphi of the integral of
  q_phi(z) = 0 (the argument of AVB, Mescheder et al. 2017, Prop. 2);
- the order: the code alternates one VAE epoch (T frozen) with 10 epochs of T (encoder frozen),
  so in the steady state every VAE update is scored by a T fitted to the current encoder's codes.
  Per step we do the same in small: first ``ratio_steps`` updates of T, then the VAE update
  scored by the updated T (like the thesis' Algorithm 2 in :mod:`waelib.objectives.wae_gan`).

Sampling. The model's prior is the aggregated posterior. The code has no sampler (it evaluates
test log-likelihoods by importance sampling with log p(z) = log N(z; 0, I) + T(z),
``_importance_sampling``) and the abstract reports density estimation only; we read no
generation procedure of the paper. We sample q(z) directly, as the mixture of the posteriors of
the most recent ``bank_size`` training images,

    q(z) ~= 1/M sum_m N(z; mu_m, diag sigma_m^2),

kept in a ring buffer of model buffers (``bank_mu``, ``bank_logvar``, ``bank_count``) so that a
checkpoint restores it; the same bank supplies T's q-codes (no extra encoder pass). An empty
bank (before the first step) falls back to p. Decisions and departures:
``docs/deviations_parts/vae_iop.md``.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional

from .. import config, losses
from ..blocks import VAEDecoder, VAEEncoder, scaled
from ..models import VAE
from .base import Objective, OptimizerSpec, StepContext
from .wae_gan import AutoEncoderCore

__all__ = ["BANK_SIZE", "DensityRatioNet", "IOPVAE", "OVERRIDES", "RATIO_DROPOUT", "RATIO_HIDDEN",
           "RATIO_LAYERS", "RATIO_LR", "RATIO_STEPS", "VAEIOPObjective", "WARMUP", "build",
           "gaussian_kl_to", "iop_terms", "ratio_loss"]

#: Hidden units of T at width 1 (the authors' ``n_h = 500``, ``main.py``); scaled by ``width``.
RATIO_HIDDEN: int = 500
#: Hidden tanh layers of T (the authors' ``Discriminator``: three).
RATIO_LAYERS: int = 3
#: Dropout before T's output layer while T is trained (``nn.Dropout()``'s default p, the code's).
RATIO_DROPOUT: float = 0.5
#: Adam learning rate of T (the code's ``learning_rate_dual = 1e-3``).
RATIO_LR: float = 1e-3
#: Updates of T per VAE update. Our choice (the code runs 10 epochs of T per VAE epoch): T is warm-
#: started every step; with 5 updates a step costs 1.35x the plain VAE's FLOPs at the study's sizes.
RATIO_STEPS: int = 5
#: KL warm-up as a fraction of the planned steps (the code: 100 warm-up epochs of 1,000).
WARMUP: float = 0.1
#: Posteriors kept for sampling q(z) and for T's q-codes. Our choice: 64 batches of 64, under one
#: epoch of either study data set (8,192 synthfaces, 5,000 digits), so no image appears twice.
BANK_SIZE: int = 4096

#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2", "ratio_hidden", "ratio_dropout", "bank_size")


# --------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------
class DensityRatioNet(nn.Module):
    """T(z) ~= log q(z) / p(z): (N, d) -> (N,) logits (the authors' ``Discriminator``).

    ``n_layers`` x [Linear(hidden) -> tanh], dropout, Linear(1). Dropout is applied only when the
    caller asks (``dropout=True``: T's own updates), whatever ``self.training`` says, so the VAE's
    updates and every evaluation see the deterministic T (the code's ``discriminator.eval()``).
    """

    def __init__(self, latent_dim: int, hidden: int, n_layers: int = RATIO_LAYERS, p: float = RATIO_DROPOUT):
        super().__init__()
        layers: list[nn.Module] = []
        d = latent_dim
        for _ in range(n_layers):
            layers += [nn.Linear(d, hidden), nn.Tanh()]
            d = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(d, 1)
        self.p = float(p)

    def forward(self, z: torch.Tensor, dropout: bool = False) -> torch.Tensor:
        """(N, d) -> (N,); ``dropout``: inverted dropout with probability ``p`` before the head."""
        h = functional.dropout(self.body(z), self.p, training=dropout)
        return self.head(h).squeeze(-1)


class IOPVAE(VAE):
    """The thesis' VAE networks plus T (``ratio_net``) and a bank of recent posteriors.

    Buffers (saved in the checkpoint): ``bank_mu``, ``bank_logvar`` (bank_size, d), a ring buffer
    of detached training posteriors; ``bank_count`` (long), posteriors written so far; ``step``
    (long), training steps taken (the warm-up clock).
    """

    def __init__(self, *args, ratio_hidden: int, ratio_dropout: float = RATIO_DROPOUT,
                 bank_size: int = BANK_SIZE, **kwargs):
        super().__init__(*args, **kwargs)
        if int(bank_size) < 1:
            raise ValueError(f"bank_size must be >= 1, got {bank_size}")
        self.ratio_net = DensityRatioNet(self.latent_dim, int(ratio_hidden), p=ratio_dropout)
        self.register_buffer("bank_mu", torch.zeros(int(bank_size), self.latent_dim))
        self.register_buffer("bank_logvar", torch.zeros(int(bank_size), self.latent_dim))
        self.register_buffer("bank_count", torch.zeros((), dtype=torch.long))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    @property
    def bank_filled(self) -> int:
        """Number of valid rows of the bank: min(bank_count, bank_size)."""
        return int(min(int(self.bank_count), self.bank_mu.shape[0]))

    @torch.no_grad()
    def remember(self, mu: torch.Tensor, logvar: torch.Tensor) -> None:
        """Write posteriors (N, d) into the ring buffer (oldest rows overwritten first)."""
        size, n = self.bank_mu.shape[0], mu.shape[0]
        keep = min(n, size)                      # a batch larger than the bank keeps its last rows
        start = int(self.bank_count) + n - keep
        rows = (start + torch.arange(keep, device=self.bank_mu.device)) % size
        self.bank_mu.index_copy_(0, rows, mu.detach()[n - keep:].float().to(self.bank_mu.device))
        self.bank_logvar.index_copy_(0, rows, logvar.detach()[n - keep:].float().to(self.bank_mu.device))
        self.bank_count += n

    def bank_mixture(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The valid components (mu, logvar), each (M, d), M = :attr:`bank_filled`."""
        m = self.bank_filled
        return self.bank_mu[:m], self.bank_logvar[:m]

    def reference_prior(self, n: int, generator: Optional[torch.Generator] = None,
                        device: Optional[torch.device] = None) -> torch.Tensor:
        """n draws (n, d) from the reference p = N(0, prior_sigma2 I) that T compares q with."""
        return super().sample_prior(n, generator, device)

    def sample_prior(self, n: int, generator: Optional[torch.Generator] = None,
                     device: Optional[torch.device] = None) -> torch.Tensor:
        """n draws (n, d) from the aggregated posterior 1/M sum_m N(mu_m, diag sigma_m^2) of the
        bank: a uniform component index, then mu + sigma * eps, both drawn on the generator's
        device (then moved), so a seeded CPU generator gives the same codes anywhere. An empty
        bank falls back to p = N(0, prior_sigma2 I)."""
        device = device or next(self.parameters()).device
        m = self.bank_filled
        if m == 0:
            return self.reference_prior(n, generator, device)
        gen_device = generator.device if generator is not None else device
        idx = torch.randint(m, (n,), generator=generator, device=gen_device)
        eps = torch.randn(n, self.latent_dim, generator=generator, device=gen_device)
        idx = idx.to(self.bank_mu.device)
        mu, logvar = self.bank_mu.index_select(0, idx), self.bank_logvar.index_select(0, idx)
        return (mu + torch.exp(0.5 * logvar) * eps.to(mu.device)).to(device)


def build(image_size: int, latent_dim: int, width: float, prior_sigma2: float, *,
          ratio_hidden: Optional[int] = None, ratio_dropout: float = RATIO_DROPOUT,
          bank_size: int = BANK_SIZE) -> IOPVAE:
    """The model's builder: the thesis' VAE conv networks (§4.3.1) and T with ``ratio_hidden``
    units per layer (None: :data:`RATIO_HIDDEN` scaled by ``width``, as the thesis' latent
    discriminator scales its 512)."""
    trunk = VAEEncoder(image_size=image_size, width=width)
    decoder = VAEDecoder(latent_dim, image_size=image_size, width=width)
    hidden = scaled(RATIO_HIDDEN, width) if ratio_hidden is None else int(ratio_hidden)
    return IOPVAE("vae_iop", trunk, trunk.out_features, decoder, latent_dim, image_size, prior_sigma2,
                  ratio_hidden=hidden, ratio_dropout=ratio_dropout, bank_size=bank_size)


# --------------------------------------------------------------------------------------
# Loss terms
# --------------------------------------------------------------------------------------
def gaussian_kl_to(mu: torch.Tensor, logvar: torch.Tensor, sigma2: float = 1.0) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, sigma2 I)) per row: (N, d) -> (N,) nats,
    1/2 sum_j (sigma_j^2 / sigma2 + mu_j^2 / sigma2 - 1 - log sigma_j^2 + log sigma2)."""
    return 0.5 * ((logvar.exp() + mu.pow(2)) / sigma2 - 1.0 - logvar + math.log(sigma2)).sum(dim=1)


def ratio_loss(logits_q: torch.Tensor, logits_p: torch.Tensor) -> torch.Tensor:
    """T's logistic loss (the code's two ``BCEWithLogitsLoss`` means, summed): logits (n,) of
    codes from q (label 1) and of draws from p (label 0) -> scalar
    mean softplus(-T(z_q)) + mean softplus(T(z_p))."""
    real = functional.binary_cross_entropy_with_logits(logits_q, torch.ones_like(logits_q))
    fake = functional.binary_cross_entropy_with_logits(logits_p, torch.zeros_like(logits_p))
    return real + fake


def iop_terms(x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
              log_ratio: torch.Tensor, *, kl_weight: float = 1.0,
              prior_sigma2: float = config.VAE_PRIOR_SIGMA2) -> Dict[str, torch.Tensor]:
    """The VAE's loss terms (batch means): x, x_hat (N, 3, S, S); mu, logvar (N, d); log_ratio
    (N,) = T(z_i). ``kl_normal`` = KL(q(z|x) || p), ``kl`` = kl_normal - log_ratio (the estimate
    of KL(q(z|x) || q(z))), ``loss`` = recon + kl_weight * kl (recon, sq_error as
    :func:`waelib.losses.vae_loss`)."""
    vae = losses.vae_loss(x, x_hat, mu, logvar)
    kl_normal = gaussian_kl_to(mu, logvar, prior_sigma2).mean()
    ratio = log_ratio.mean()
    kl = kl_normal - ratio
    return {"loss": vae["recon"] + kl_weight * kl, "recon": vae["recon"], "kl": kl,
            "kl_normal": kl_normal, "log_ratio": ratio, "sq_error": vae["sq_error"],
            "kl_weight": torch.as_tensor(float(kl_weight), device=kl.device)}


# --------------------------------------------------------------------------------------
# Objective
# --------------------------------------------------------------------------------------
class VAEIOPObjective(Objective):
    """Per step: ``ratio_steps`` updates of T (optimiser ``"ratio"``, ``disc_lr``), then one VAE
    update (``"model"``, ``lr``) scored by the frozen T. Options: ``ratio_steps`` (default
    :data:`RATIO_STEPS`), ``warmup`` (fraction of ``cfg.steps``, default :data:`WARMUP`; 0 without
    ``cfg.steps``)."""

    name = "vae_iop"
    lr = config.VAE_LR
    disc_lr = RATIO_LR
    betas = (config.VAE_BETA1, 0.999)
    options = ("ratio_steps", "warmup")

    def optimizers(self) -> Dict[str, OptimizerSpec]:
        ratio_ids = {id(p) for p in self.model.ratio_net.parameters()}
        vae = [p for p in self.model.parameters() if id(p) not in ratio_ids]
        return {"model": OptimizerSpec(vae, "lr"),
                "ratio": OptimizerSpec(list(self.model.ratio_net.parameters()), "disc_lr")}

    def forward_module(self) -> nn.Module:
        return AutoEncoderCore(self.model)

    def adversary(self) -> Optional[nn.Module]:
        return self.model.ratio_net

    def kl_weight(self) -> float:
        """The warm-up weight w_t = min(1, t / (warmup * cfg.steps)), t = ``model.step``."""
        total = self.cfg.steps if self.cfg.steps is not None else 0
        ramp = self.option("warmup", WARMUP) * total
        return 1.0 if ramp <= 0 else min(1.0, int(self.model.step) / ramp)

    def ratio_update(self, ctx: StepContext, n: int) -> torch.Tensor:
        """One update of T on n codes from the bank's mixture q (label 1) and n draws from p
        (label 0), dropout on; returns the loss (scalar)."""
        device = self.model.bank_mu.device
        z_q = self.model.sample_prior(n, device=device)              # the bank's mixture
        z_p = self.model.reference_prior(n, device=device)           # p = N(0, sigma^2 I)
        net = ctx.disc_fwd if ctx.disc_fwd is not None else self.model.ratio_net
        logits_q, logits_p = net(torch.cat([z_q, z_p]), dropout=True).float().split(n)
        loss = ratio_loss(logits_q, logits_p)
        ctx.minimise("ratio", loss)
        return loss.detach()

    def frozen_log_ratio(self, z: torch.Tensor) -> torch.Tensor:
        """T(z) (N,) without dropout, with T's parameters detached: the gradient reaches z (and
        through it the encoder) but never T."""
        net = self.model.ratio_net
        params = {k: v.detach() for k, v in net.named_parameters()}
        return functional_call(net, params, (z.float(),))

    def training_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """x (n, 3, S, S): encode and decode, bank the posteriors, update T, update the VAE."""
        with ctx.autocast():
            out = ctx.fwd(x)
        mu, logvar = out["mu"].float(), out["logvar"].float()
        self.model.remember(mu, logvar)
        steps = int(self.option("ratio_steps", RATIO_STEPS))
        r_losses = [self.ratio_update(ctx, x.shape[0]) for _ in range(steps)]
        terms = iop_terms(x, out["x_hat"].float(), mu, logvar, self.frozen_log_ratio(out["z"]),
                          kl_weight=self.kl_weight(), prior_sigma2=self.model.prior_sigma2)
        ctx.minimise("model", terms["loss"])
        self.model.step += 1
        ratio = torch.stack(r_losses).mean() if r_losses else torch.zeros((), device=mu.device)
        return dict(terms, ratio_loss=ratio)
