"""FlexAE (seed 004's proposal; Mondal, Asnani, Singla & Prathosh, "FlexAE: Flexibly learning
latent priors for Wasserstein Auto-Encoders", UAI 2021): a deterministic auto-encoder whose prior
is learned.

Seed 004 ("Choosing the 'Right' Prior", Figure 10) writes the objective

    D_FlexAE = inf_{phi, theta, psi}  E_x c(x, D_theta(E_phi(x)))  +  lambda * D_Z(q_phi(z) || p_psi(z)),

where p_psi is the law of G_psi(z'), z' ~ N(0, I_{m'}), m' >= m, the output of a prior generator
P-GEN, and D_Z is measured by a critic C_kappa. The authors' code (github.com/dair-iitd/FlexAE,
``FlexAESR.py``, the only script of the repository) makes D_Z the Wasserstein-1 distance of a
WGAN-GP critic (Gulrajani et al. 2017) with the encoder's codes as the critic's "real" side:

    L_C = E_z' C(G(z')) - E_x C(E(x)) + gp * E_zhat (||grad_zhat C(zhat)||_2 - 1)^2,
          zhat = G(z') + alpha (E(x) - G(z')),  alpha ~ U(0, 1) per row       (``_loss``, ``_build_model``)
    L_G = -E_z' C(G(z'))             (P-GEN moves the prior towards the codes)
    L_E = +E_x C(E(x))               (the encoder moves the codes towards the prior)
    L_AE = E_x sum_pixels (x - D(E(x)))^2                                   (``ae_loss`` 'mse')

Each loss has its own Adam optimiser over its own variables (``_trainer``), so both the prior and
the codes move: the prior at the auto-encoder's rate, the codes by L_E at 1/20 of it (the
encoder trainer's ``lr / 10`` against the auto-encoder's ``2 lr``). That rate ratio is what the
seed's lambda becomes: with separate Adam steps a weight on L_E would be divided out.
One step (``train``): one auto-encoder step, ``disc_training_ratio`` = 5 critic steps, one P-GEN
step, one encoder step. Samples are D(G(z')).

Taken from ``FlexAESR.py`` (checked there): P-GEN = 4 x [Dense 1024, ReLU] -> Dense m
(``_build_generator``); critic = 4 x [Dense 1024, ReLU] -> Dense 1 (``_build_discriminator``); both
Glorot-normal kernels, zero biases; gradient-penalty weight 10, 5 critic steps (argparse
defaults); Adam rates lr = 1e-4: auto-encoder 2 lr with (0.9, 0.999), critic lr, P-GEN 2 lr,
encoder lr / 10, the adversarial three with betas (0, 0.9); m' = m (``gan_lat_dim`` defaults to
``z_dim``), z' ~ N(0, I) (sampler ``normal``); no RAE regulariser (``enc_kernel_reg``,
``dec_kernel_reg``, ``lat_reg`` are None). Left out: the "-SR" parts (the image critic on latent
interpolations and the auto-encoder's smoothing step), which make FlexAE-SR, not FlexAE.
The paper's text was not reachable, so its Table 5 sizes are unknown: :data:`PGEN_CAPACITIES` is
our choice. Every departure is a row of ``docs/deviations_parts/flexae.md``.
"""
from __future__ import annotations

import contextlib
import math
from typing import Dict, Iterator, Optional, Tuple

import torch
from torch import nn

from .. import config, losses
from ..blocks import scaled
from ..models import WAE, wae_builder
from .base import Objective, OptimizerSpec, StepContext
from .wae_gan import AutoEncoderCore

__all__ = ["FlexAE", "FlexAEObjective", "LatentCritic", "PriorGenerator", "build", "OVERRIDES",
           "PGEN_CAPACITIES", "critic_loss", "encoder_loss", "pgen_loss"]

# --- networks (FlexAESR.py _build_generator / _build_discriminator; hidden sizes at width 1) ---
PGEN_HIDDEN: int = 1024               # FlexAESR.py: n_neurons = 1024
PGEN_LAYERS: int = 4                  # FlexAESR.py: for i in range(4)
CRITIC_HIDDEN: int = 1024             # FlexAESR.py: n_neurons = 1024
CRITIC_LAYERS: int = 4                # FlexAESR.py: for i in range(4)

# --- objective (FlexAESR.py argparse defaults) -------------------------------------------
N_CRITIC: int = 5                     # --disc_training_ratio 5
GP_WEIGHT: float = 10.0               # --gradient_penalty_weight 10
ENCODER_LR_RATIO: float = 0.05        # enc-trainer lr / 10 against ae-trainer 2 lr
CRITIC_LR_RATIO: float = 0.5          # disc-trainer lr against ae-trainer 2 lr

# --- optimisers ---------------------------------------------------------------------------
AE_LR: float = config.RAE_LR          # decision: 1e-3 as the AE/RAE rows (code: 2e-4 for 130k steps)
CRITIC_LR: float = CRITIC_LR_RATIO * AE_LR   # the code's ratio to the auto-encoder's rate
AE_BETAS: Tuple[float, float] = (0.9, 0.999)     # ae-trainer: Adam's defaults
ADV_BETAS: Tuple[float, float] = (0.0, 0.9)      # disc-, gen-, enc-trainer: beta1=0.0, beta2=0.9

#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2", "pgen_hidden", "pgen_layers", "pgen_latent",
                              "critic_hidden", "critic_layers")

#: Six P-GEN capacities in increasing order for seed 004's Table 5 (our choice: the paper's sizes
#: are not public). From an affine map (a learned full-covariance Gaussian prior) through the
#: code's 4 x 1024 (number 5) to twice its width; hidden sizes are at width 1 (scaled by width).
PGEN_CAPACITIES: Tuple[Dict[str, int], ...] = (
    {"pgen_layers": 0, "pgen_hidden": 1024},
    {"pgen_layers": 1, "pgen_hidden": 512},
    {"pgen_layers": 2, "pgen_hidden": 512},
    {"pgen_layers": 3, "pgen_hidden": 1024},
    {"pgen_layers": 4, "pgen_hidden": 1024},
    {"pgen_layers": 4, "pgen_hidden": 2048},
)


# --------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------
def dense_stack(d_in: int, d_out: int, hidden: int, n_layers: int) -> nn.Sequential:
    """n_layers x [Dense hidden, ReLU] -> Dense d_out (n_layers = 0: one affine map), with
    Glorot-normal weights and zero biases (FlexAESR.py: ``glorot_normal_initializer``)."""
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(n_layers):
        layers += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    layers.append(nn.Linear(d, d_out))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


class PriorGenerator(nn.Module):
    """P-GEN G_psi (seed 004 Figure 10): z' (N, m') -> codes (N, m)."""

    def __init__(self, noise_dim: int, latent_dim: int, hidden: int = PGEN_HIDDEN, n_layers: int = PGEN_LAYERS):
        super().__init__()
        self.noise_dim = int(noise_dim)
        self.net = dense_stack(noise_dim, latent_dim, hidden, n_layers)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.net(noise)


class LatentCritic(nn.Module):
    """The critic C_kappa (seed 004 Figure 10): codes (N, m) -> (N,) scores (no activation)."""

    def __init__(self, latent_dim: int, hidden: int = CRITIC_HIDDEN, n_layers: int = CRITIC_LAYERS):
        super().__init__()
        self.net = dense_stack(latent_dim, 1, hidden, n_layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)


class FlexAE(WAE):
    """The thesis' WAE networks (DCGAN 5x5 encoder and decoder) plus P-GEN and the critic.

    The prior is G(z'), z' ~ N(0, prior_sigma2 I_{m'}): :meth:`sample_prior` returns P-GEN's
    output, which is what the decoder turns into this model's samples.
    """

    def __init__(self, name: str, encoder: nn.Module, decoder: nn.Module, latent_dim: int, image_size: int,
                 prior_sigma2: float, pgen: PriorGenerator, critic: LatentCritic):
        super().__init__(name, encoder, decoder, latent_dim, image_size, prior_sigma2)
        self.pgen = pgen
        self.critic = critic

    @property
    def pgen_latent(self) -> int:
        """m', the size of P-GEN's input."""
        return self.pgen.noise_dim

    def sample_noise(self, n: int, generator: Optional[torch.Generator] = None,
                     device: Optional[torch.device] = None) -> torch.Tensor:
        """z' ~ N(0, prior_sigma2 I_{m'}): (n, m'), drawn on the generator's device, then moved."""
        device = device or next(self.parameters()).device
        gen_device = generator.device if generator is not None else device
        noise = torch.randn(n, self.pgen_latent, generator=generator, device=gen_device)
        return (noise * math.sqrt(self.prior_sigma2)).to(device)

    @torch.no_grad()
    def sample_prior(self, n: int, generator: Optional[torch.Generator] = None,
                     device: Optional[torch.device] = None) -> torch.Tensor:
        """n draws of the learned prior, G(z'): (n, latent_dim)."""
        return self.pgen(self.sample_noise(n, generator, device))


#: The thesis' WAE networks (§4.3.2) without a discriminator; FlexAE takes their encoder and decoder.
wae_networks = wae_builder("flexae", resnet=False, adversary=False)


def build(image_size: int, latent_dim: int, width: float, prior_sigma2: float, *,
          pgen_hidden: int = PGEN_HIDDEN, pgen_layers: int = PGEN_LAYERS, pgen_latent: Optional[int] = None,
          critic_hidden: int = CRITIC_HIDDEN, critic_layers: int = CRITIC_LAYERS) -> FlexAE:
    """The model: (image_size, latent_dim, width, prior_sigma2, **overrides) -> :class:`FlexAE`.

    Hidden sizes are at width 1 and scaled by ``width`` (as the WAE-GAN's ``disc_hidden``);
    ``pgen_latent`` is m' (None: m' = latent_dim, the code's default; seed 004 requires m' >= m).
    """
    noise_dim = latent_dim if pgen_latent is None else int(pgen_latent)
    if noise_dim < latent_dim:
        raise ValueError(f"pgen_latent (m') must be >= latent_dim (m) = {latent_dim} (seed 004, Figure 10), "
                         f"got {noise_dim}")
    if min(pgen_layers, critic_layers) < 0 or min(pgen_hidden, critic_hidden) < 1:
        raise ValueError("pgen/critic layers must be >= 0 and hidden sizes >= 1")
    wae = wae_networks(image_size, latent_dim, width, prior_sigma2)
    pgen = PriorGenerator(noise_dim, latent_dim, scaled(pgen_hidden, width), int(pgen_layers))
    critic = LatentCritic(latent_dim, scaled(critic_hidden, width), int(critic_layers))
    return FlexAE("flexae", wae.encoder, wae.decoder, latent_dim, image_size, prior_sigma2, pgen, critic)


# --------------------------------------------------------------------------------------
# Losses (FlexAESR.py _loss, 'wgan' with gp = 1)
# --------------------------------------------------------------------------------------
def critic_loss(critic: nn.Module, codes: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor,
                gp_weight: float = GP_WEIGHT) -> Dict[str, torch.Tensor]:
    """The WGAN-GP critic loss L_C on detached codes E(x) (n, m) and P-GEN draws G(z') (n, m).

    zhat = fake + alpha (codes - fake) with alpha (n, 1) in [0, 1]; the penalty is the batch mean
    of (||grad C(zhat)||_2 - 1)^2 per row. One critic pass over [codes; fake; zhat].
    Returns ``critic_loss`` (minimised by the critic), ``gradient_penalty`` and ``w_distance`` =
    mean C(codes) - mean C(fake), the critic's estimate of W1(Q_Z, P_psi).
    """
    codes, fake = codes.detach(), fake.detach()
    zhat = (fake + alpha * (codes - fake)).detach().requires_grad_(True)
    n = codes.shape[0]
    c_real, c_fake, c_hat = critic(torch.cat([codes, fake, zhat])).split([n, n, zhat.shape[0]])
    grad, = torch.autograd.grad(c_hat.sum(), zhat, create_graph=True)
    penalty = (torch.linalg.vector_norm(grad, dim=1) - 1.0).pow(2).mean()
    w_distance = c_real.mean() - c_fake.mean()
    return {"critic_loss": -w_distance + gp_weight * penalty, "gradient_penalty": penalty,
            "w_distance": w_distance}


def pgen_loss(critic: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    """L_G = -mean C(G(z')) on P-GEN draws (n, m): minimised by P-GEN (scalar)."""
    return -critic(fake).mean()


def encoder_loss(critic: nn.Module, codes: torch.Tensor) -> torch.Tensor:
    """L_E = +mean C(E(x)) on codes (n, m): minimised by the encoder (scalar)."""
    return critic(codes).mean()


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Within the block no gradient is computed for ``module``'s parameters (they stay as they
    are: the critic while P-GEN and the encoder step through it)."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


# --------------------------------------------------------------------------------------
# Objective
# --------------------------------------------------------------------------------------
class FlexAEObjective(Objective):
    """FlexAESR.py's schedule without the "-SR" parts: per batch one auto-encoder step, ``n_critic``
    critic steps, one P-GEN step and one encoder step.

    Optimisers: ``ae`` (encoder + decoder, ``lr``, betas ``cfg.betas`` = (0.9, 0.999)),
    ``critic`` (``disc_lr``), ``pgen`` (``lr``) and ``encoder`` (``encoder_lr_ratio * lr``, fixed
    when built), the last three with betas (0, 0.9). Options: ``n_critic`` (5), ``gp_weight``
    (10), ``encoder_lr_ratio`` (0.05; 0 turns the encoder's step off: the prior alone chases the
    codes), ``z_weight`` and ``decoder_l2`` (the RAE's terms, 0 as in the code).
    """

    name = "flexae"
    lr = AE_LR
    disc_lr = CRITIC_LR
    betas = AE_BETAS
    options = ("n_critic", "gp_weight", "encoder_lr_ratio", "z_weight", "decoder_l2")

    def __init__(self, model: nn.Module, cfg):
        super().__init__(model, cfg)
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            raise NotImplementedError("flexae does not sync P-GEN and the critic across DDP ranks")

    def encoder_lr(self) -> float:
        """The encoder's adversarial rate: ``encoder_lr_ratio`` times the auto-encoder's."""
        base = self.cfg.lr if self.cfg.lr is not None else self.lr
        return self.option("encoder_lr_ratio", ENCODER_LR_RATIO) * float(base)

    def optimizers(self) -> Dict[str, OptimizerSpec]:
        m = self.model
        return {
            "ae": OptimizerSpec(list(m.encoder.parameters()) + list(m.decoder.parameters()), "lr"),
            "critic": OptimizerSpec([{"params": list(m.critic.parameters()), "betas": ADV_BETAS}], "disc_lr"),
            "pgen": OptimizerSpec([{"params": list(m.pgen.parameters()), "betas": ADV_BETAS}], "lr"),
            "encoder": OptimizerSpec([{"params": list(m.encoder.parameters()), "betas": ADV_BETAS,
                                       "lr": self.encoder_lr(), "own_lr": True}], "lr"),
        }

    def forward_module(self) -> nn.Module:
        return AutoEncoderCore(self.model)

    def autoencoder_terms(self, x: torch.Tensor, out: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """L_AE on x, x_hat (n, 3, S, S) and codes z (n, m): :func:`waelib.losses.rae_loss`, whose
        z-norm and decoder weight-decay terms are off by default (FlexAESR.py has none)."""
        return losses.rae_loss(x, out["x_hat"].float(), out["z"].float(),
                               losses.squared_norm(list(self.model.decoder.parameters())),
                               z_weight=self.option("z_weight", 0.0), decoder_l2=self.option("decoder_l2", 0.0))

    def critic_steps(self, ctx: StepContext, codes: torch.Tensor) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        """``n_critic`` critic steps on the batch's detached codes (n, m), fresh z' and alpha each;
        returns the last step's terms and its z' (n, m'), which the P-GEN step reuses (as the
        code's ``gen_feed_dict``)."""
        n, model = codes.shape[0], self.model
        gp_weight = self.option("gp_weight", GP_WEIGHT)
        terms, noise = {}, None
        for _ in range(int(self.option("n_critic", N_CRITIC))):
            noise = model.sample_noise(n, device=codes.device)
            with torch.no_grad():
                fake = model.pgen(noise)
            alpha = torch.rand(n, 1, device=codes.device)
            terms = critic_loss(model.critic, codes, fake, alpha, gp_weight)
            ctx.minimise("critic", terms["critic_loss"])
        if noise is None:
            raise ValueError("n_critic must be at least 1")
        return terms, noise

    def training_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One FlexAE step on x (n, 3, S, S): auto-encoder, critic x n_critic, P-GEN, encoder."""
        model = self.model
        with ctx.autocast():
            out = ctx.fwd(x)
        terms = self.autoencoder_terms(x, out)
        ctx.minimise("ae", terms["loss"])
        encoder_step = self.option("encoder_lr_ratio", ENCODER_LR_RATIO) > 0
        with torch.set_grad_enabled(encoder_step), ctx.autocast():
            codes = model.encoder(x)                             # the updated encoder's codes
        codes = codes.float()
        adv, noise = self.critic_steps(ctx, codes.detach())
        with frozen(model.critic):
            g_loss = pgen_loss(model.critic, model.pgen(noise))
            ctx.minimise("pgen", g_loss)
            e_loss = encoder_loss(model.critic, codes)
            if encoder_step:
                ctx.minimise("encoder", e_loss)
        return dict(terms, **adv, pgen_loss=g_loss.detach(), encoder_loss=e_loss.detach())
