"""The 2-Stage VAE (seed 004 [19]; Dai & Wipf, "Diagnosing and enhancing VAE models", ICLR 2019).

Stage 1 is a VAE on images with a learned scalar decoder variance gamma_x; stage 2 is a small
dense VAE fitted to the codes z of the trained, frozen stage-1 encoder. Both stages minimise the
negative ELBO with a learned Gaussian likelihood (``gamma`` is the variance, ``log_sd`` = log
sqrt(gamma) is the parameter, as in the reference code):

    stage 1:  L1 = E_x[ ||x - G(z)||^2 / (2 gamma_x) + D/2 log(2 pi gamma_x) + KL(q(z|x) || N(0, I)) ],
              z = mu_z(x) + sigma_z(x) * eps,                                        D = 3 S^2 pixels;
    stage 2:  L2 = E_z[ ||z - F(u)||^2 / (2 gamma_z) + k/2 log(2 pi gamma_z) + KL(q(u|z) || N(0, I)) ],
              u = mu_u(z) + sigma_u(z) * eps,   z ~ q(z|x) of the frozen stage 1,    k = latent size.

Samples: u ~ N(0, I), z = F(u) + sqrt(gamma_z) * eps, x = G(z) (:meth:`TwoStageVAE.sample_prior`
returns z). Reconstructions and ``encode`` use stage 1 only (the posterior mean mu_z).

Within one :func:`waelib.train.fit` run of ``cfg.steps`` steps, the first
round(``switch_fraction`` * steps) steps are stage-1 steps and the rest stage-2 steps, each on
the codes of that step's image batch. The steps done and the stage are buffers of the model
(``steps_done``, ``stage``), so a resume continues exactly, and the stage never goes back to 1.

Taken from the official code, github ``daib13/TwoStageVAE`` (commit 8718623, TensorFlow):

- ``network/two_stage_vae_model.py``, ``__build_loss``: ``gen_loss1 = sum(((x - x_hat) /
  gamma_x)^2 / 2 + log gamma_x + HALF_LOG_TWO_PI) / batch`` and ``kl_loss1 = sum(mu^2 + sd^2 -
  2 log sd - 1) / 2 / batch``; the same with (z, z_hat, gamma_z, mu_u, sd_u) for stage 2. Their
  ``gamma_x = exp(loggamma_x)`` is a standard deviation, a scalar started at 0 (``tf.zeros_
  initializer``); we keep that parameter (``log_sd_x``, ``log_sd_z``), i.e. gamma = exp(2 log_sd)
  in the paper's notation, and reuse :func:`waelib.objectives.vae_learned_var.gaussian_nll_learned`.
- ``build_encoder2`` / ``build_decoder2``: ``second_depth`` = 3 dense layers of ``second_dim`` =
  1024 ReLU units, the input concatenated to their output, then dense heads ``mu_u``, ``logsd_u``
  (encoder) and ``z_hat`` (decoder, linear); u has the latent size of z.
- ``__build_optimizer``: one Adam per stage, over the ``stage1`` / ``stage2`` variables only.
- ``extract_posterior`` and ``demo.py``: after stage 1, the encoder is run with
  ``is_training: False`` (BatchNorm statistics frozen) and stage 2 trains on fresh SAMPLES
  ``z = mu_z + sd_z * N(0, 1)`` in every batch, not on the means.
- ``generate(stage=2)``: u ~ N(0, I), ``z = z_hat + gamma_z * N(0, 1)``, x = the decoder mean.
- ``demo.py`` defaults: 400 stage-1 and 800 stage-2 epochs of equal length, lr 1e-4 for both,
  halved every 150 / 300 epochs; ``README.md``'s CelebA commands: 100 + 100 and 70 + 70 epochs.

The paper's own description of the two stages (its Section 4) was not readable here beyond the
abstract and introduction, so every detail above is the code's. Our networks for stage 1 are the
thesis' VAE (:func:`waelib.models.vae_builder`, §4.3.1, mu / log sigma^2 head); stage 2 is theirs
with the hidden width scaled like every other layer (``scaled(1024, width)``: 128 at width 0.125).
Each departure is a row of ``docs/deviations_parts/two_stage_vae.md``.

Cost at the study's sizes (32 px, width 0.125, latent 64, batch 64; counted with
``torch.utils.flop_counter``): a stage-1 step is the plain VAE's, ~0.12 GFLOP; a stage-2 step
(the stage-1 encoder's forward pass and the two 128-wide MLPs, forward and backward) ~0.064
GFLOP. With their 1024 units it would cost ~1.75 GFLOP, 14 VAE steps.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from .. import losses
from ..blocks import scaled
from ..models import VAE, AutoEncoder, vae_builder
from ..utils import eval_mode
from .base import OptimizerSpec, StepContext
from .vae import VAEObjective
from .vae_learned_var import gaussian_nll_learned

__all__ = ["TwoStageVAEObjective", "TwoStageVAE", "SecondStageVAE", "SkipMLP", "Stage1Core", "build", "OVERRIDES",
           "SWITCH_FRACTION", "SECOND_DIM", "SECOND_DEPTH", "STAGE1", "STAGE2", "gaussian_nll_sd", "negative_elbo",
           "switch_step"]

#: Fraction of ``cfg.steps`` trained as stage 1 (the rest is stage 2). The reference trains the
#: stages for equal numbers of epochs in its CelebA commands (``README.md``: 100 + 100, 70 + 70)
#: and 400 + 800 by default (``demo.py``); at 2,000 steps we take their CelebA ratio, 1 : 1
#: (docs/deviations_parts/two_stage_vae.md gives why not 1 : 2).
SWITCH_FRACTION: float = 0.5
#: Hidden units of each stage-2 dense layer at width 1 (``demo.py --second-dim 1024``); scaled by width.
SECOND_DIM: int = 1024
#: Dense layers in each stage-2 network (``demo.py --second-depth 3``).
SECOND_DEPTH: int = 3
#: log sqrt(gamma) at the start, for both stages (``loggamma_x``, ``loggamma_z``: tf.zeros_initializer).
LOG_SD_INIT: float = 0.0
#: The values of the model's ``stage`` buffer.
STAGE1: int = 1
STAGE2: int = 2


# --------------------------------------------------------------------------------------
# Losses (two_stage_vae_model.py, __build_loss)
# --------------------------------------------------------------------------------------
def gaussian_nll_sd(target: torch.Tensor, mean: torch.Tensor, log_sd: torch.Tensor) -> torch.Tensor:
    """-log N(target; mean, sd^2 I) per sample with a scalar sd = exp(log_sd): target, mean (N, ...)
    -> (N,) nats. Their ``gen_loss``: sum(((t - m) / sd)^2 / 2 + log sd + log(2 pi) / 2)."""
    return gaussian_nll_learned(target, mean, 2.0 * log_sd)


def negative_elbo(target: torch.Tensor, mean: torch.Tensor, log_sd: torch.Tensor, mu: torch.Tensor,
                  logvar: torch.Tensor) -> Dict[str, torch.Tensor]:
    """The loss of either stage (batch means, in at least float32).

    Args:
        target, mean: (N, ...) the data (images x or codes z) and the decoder's mean.
        log_sd: scalar, log sqrt(gamma) of the decoder.
        mu, logvar: (N, k) the encoder's Gaussian.
    Returns:
        ``loss`` = ``recon`` + ``kl``, ``sq_error`` = mean ||target - mean||^2 and ``gamma`` =
        exp(2 log_sd), the paper's variance.
    """
    dtype = torch.promote_types(target.dtype, torch.float32)
    target, mean, log_sd = target.to(dtype), mean.to(dtype), log_sd.to(dtype)
    recon = gaussian_nll_sd(target, mean, log_sd).mean()
    kl = losses.gaussian_kl(mu.to(dtype), logvar.to(dtype)).mean()
    return {"loss": recon + kl, "recon": recon, "kl": kl,
            "sq_error": losses.reconstruction_cost(target, mean).mean(), "gamma": torch.exp(2.0 * log_sd)}


def switch_step(fraction: float, steps: int) -> int:
    """The first stage-2 step (0-based count of steps done): round(fraction * steps) in [0, steps]."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"switch_fraction must lie in [0, 1], got {fraction}")
    return int(math.floor(fraction * steps + 0.5))


# --------------------------------------------------------------------------------------
# The second stage (build_encoder2 / build_decoder2)
# --------------------------------------------------------------------------------------
class SkipMLP(nn.Module):
    """``depth`` (>= 1) x [Dense(hidden) -> ReLU] with the input concatenated to the output:
    (N, k) -> (N, k + hidden) (their ``t = concat([input, t])``)."""

    def __init__(self, in_dim: int, hidden: int, depth: int):
        super().__init__()
        if depth < 1 or hidden < 1:
            raise ValueError(f"second_depth and second_dim must be at least 1, got {depth}, {hidden}")
        layers: List[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(in_dim if i == 0 else hidden, hidden), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.out_features = in_dim + hidden

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return torch.cat([t, self.body(t)], dim=-1)


class SecondStageVAE(nn.Module):
    """The stage-2 VAE on codes: z (N, k) -> u (N, k) -> z_hat (N, k), with a learned scalar
    ``log_sd_z`` (log sqrt(gamma_z)). No BatchNorm: train and eval mode compute the same."""

    def __init__(self, latent_dim: int, hidden: int, depth: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.enc = SkipMLP(latent_dim, hidden, depth)
        self.enc_head = nn.Linear(self.enc.out_features, 2 * latent_dim)   # [mu_u, logsd_u]
        self.dec = SkipMLP(latent_dim, hidden, depth)
        self.dec_head = nn.Linear(self.dec.out_features, latent_dim)      # z_hat
        self.log_sd_z = nn.Parameter(torch.full((), LOG_SD_INIT))

    def encode_stats(self, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, k) -> (mu_u, log sigma_u^2), each (N, k); their head gives log sigma_u."""
        mu, log_sd = self.enc_head(self.enc(z)).chunk(2, dim=1)
        return mu, 2.0 * log_sd

    def decode(self, u: torch.Tensor) -> torch.Tensor:
        """The decoder mean F(u): (N, k) -> (N, k)."""
        return self.dec_head(self.dec(u))

    def forward(self, z: torch.Tensor) -> Dict[str, torch.Tensor]:
        """u = mu_u + sigma_u * eps, z_hat = F(u). Returns ``z_hat``, ``mu``, ``logvar``, ``u``
        (N, k) and ``log_sd_z`` (scalar; through the forward pass for DDP)."""
        mu, logvar = self.encode_stats(z)
        u = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return {"z_hat": self.decode(u), "mu": mu, "logvar": logvar, "u": u, "log_sd_z": self.log_sd_z}


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------
class TwoStageVAE(VAE):
    """:class:`waelib.models.VAE` (stage 1) with a learned ``log_sd_x``, a :class:`SecondStageVAE`
    ``stage2`` and two long buffers: ``steps_done`` (steps trained) and ``stage`` (1 or 2).

    Extra args: second_dim, second_depth (the stage-2 MLPs); sample_noise: add sqrt(gamma_z) *
    eps to the stage-2 decoder mean when sampling (their ``generate``), else return the mean.
    """

    def __init__(self, *args, second_dim: int, second_depth: int = SECOND_DEPTH, sample_noise: bool = True,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.log_sd_x = nn.Parameter(torch.full((), LOG_SD_INIT))
        self.stage2 = SecondStageVAE(self.latent_dim, int(second_dim), int(second_depth))
        self.sample_noise = bool(sample_noise)
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        self.register_buffer("stage", torch.full((), STAGE1, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Stage 1's reparameterised pass (the VAE's dict) plus ``log_sd_x`` (scalar)."""
        return dict(super().forward(x), log_sd_x=self.log_sd_x)

    def stage1_parameters(self) -> List[nn.Parameter]:
        """Every parameter but the second stage's (their ``stage1`` variables)."""
        skip = {id(p) for p in self.stage2.parameters()}
        return [p for p in self.parameters() if id(p) not in skip]

    @torch.no_grad()
    def sample_prior(self, n: int, generator: Optional[torch.Generator] = None,
                     device: Optional[torch.device] = None, stage: Optional[int] = None) -> torch.Tensor:
        """n codes z (n, k) for the stage-1 decoder.

        Stage 2 (the default once the model has reached it): u ~ N(0, I), then eps ~ N(0, I),
        both drawn on the generator's device, z = F(u) + sqrt(gamma_z) * eps (``generate``).
        Before stage 2 was trained (``stage`` buffer 1), or with ``stage=1``: z ~ N(0, prior_sigma2 I),
        the first-stage VAE's own prior (their ``generate(stage=1)``).
        """
        device = device or next(self.parameters()).device
        stage = int(self.stage) if stage is None else int(stage)
        if stage < STAGE2:
            return super().sample_prior(n, generator, device)
        gen_device = generator.device if generator is not None else device
        u = torch.randn(n, self.latent_dim, generator=generator, device=gen_device)
        eps = torch.randn(n, self.latent_dim, generator=generator, device=gen_device)
        z = self.stage2.decode(u.to(device))
        if self.sample_noise:
            z = z + torch.exp(self.stage2.log_sd_z) * eps.to(device)
        return z


class Stage1Core(nn.Module):
    """Holds only the stage-1 modules (encoder, decoder, ``log_sd_x``) so that DDP syncs exactly
    stage 1's gradients; ``forward`` is the model's own ``forward``."""

    def __init__(self, model: TwoStageVAE):
        super().__init__()
        self.encoder = model.encoder
        self.decoder = model.decoder
        self.log_sd_x = model.log_sd_x
        object.__setattr__(self, "_model", model)  # not registered: no stage-2 params

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(N, 3, S, S) -> the model's dict (``x_hat``, ``mu``, ``logvar``, ``z``, ``log_sd_x``)."""
        return self._model(x)


def build(image_size: int, latent_dim: int, width: float, prior_sigma2: float,
          second_dim: Optional[int] = None, second_depth: int = SECOND_DEPTH,
          sample_noise: bool = True) -> AutoEncoder:
    """The thesis' VAE networks (conv trunk, §4.3.1) as stage 1 of a :class:`TwoStageVAE`; stage 2
    has ``second_depth`` dense layers of ``second_dim`` units (default scaled(1024, width))."""
    hidden = scaled(SECOND_DIM, width) if second_dim is None else int(second_dim)

    def cls(*args, **kwargs) -> TwoStageVAE:
        return TwoStageVAE(*args, second_dim=hidden, second_depth=int(second_depth),
                           sample_noise=bool(sample_noise), **kwargs)
    return vae_builder("two_stage_vae", resnet=False, cls=cls)(image_size, latent_dim, width, prior_sigma2)


#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2", "second_dim", "second_depth", "sample_noise")


# --------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------
class TwoStageVAEObjective(VAEObjective):
    """Stage-1 steps, then stage-2 steps, in one run; two Adam optimisers (``"stage1"``,
    ``"stage2"``), both at the VAE's lr and betas (thesis §4.3.1; the reference uses one lr for both).

    Option ``switch_fraction`` (default :data:`SWITCH_FRACTION`): the share of ``cfg.steps``
    trained as stage 1. Logged, for the stage trained in that step: ``loss``, ``recon``, ``kl``,
    ``sq_error``, ``gamma`` (variance), and ``stage`` (1 or 2).
    """

    name = "two_stage_vae"
    options = ("switch_fraction",)

    def __init__(self, model: nn.Module, cfg):
        super().__init__(model, cfg)
        if cfg.steps is None:
            raise ValueError("two_stage_vae switches stages at a fraction of the planned steps: give "
                             "`steps` (not `epochs`)")
        self.switch = switch_step(self.option("switch_fraction", SWITCH_FRACTION), int(cfg.steps))
        self._host_counts: Optional[List[int]] = None   # [steps_done, stage], read once from the buffers

    def optimizers(self) -> Dict[str, OptimizerSpec]:
        return {"stage1": OptimizerSpec(self.model.stage1_parameters(), "lr"),
                "stage2": OptimizerSpec(list(self.model.stage2.parameters()), "lr")}

    def forward_module(self) -> nn.Module:
        return Stage1Core(self.model)

    def adversary(self) -> Optional[nn.Module]:
        """The second stage, so that DDP wraps (and syncs) it on its own."""
        return self.model.stage2

    def elbo_terms(self, x: torch.Tensor, out: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Stage 1's terms: :func:`negative_elbo` of x (N, 3, S, S) under the model's dict."""
        return negative_elbo(x, out["x_hat"], out["log_sd_x"], out["mu"], out["logvar"])

    def stage2_terms(self, z: torch.Tensor, out: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Stage 2's terms: :func:`negative_elbo` of codes z (N, k) under the stage-2 dict."""
        return negative_elbo(z, out["z_hat"], out["log_sd_z"], out["mu"], out["logvar"])

    def next_stage(self) -> int:
        """The stage of the coming step (host-side copy of the buffers, read once after a
        resume's load): 2 from step ``switch`` on, and 2 for good once reached."""
        if self._host_counts is None:
            self._host_counts = [int(self.model.steps_done), int(self.model.stage)]
        done, stage = self._host_counts
        return STAGE2 if (stage >= STAGE2 or done >= self.switch) else STAGE1

    def stage1_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Reparameterised stage-1 pass on x (N, 3, S, S), L1, one step of ``"stage1"``."""
        with ctx.autocast():
            out = ctx.fwd(x)
        terms = self.elbo_terms(x, out)
        ctx.minimise("stage1", terms["loss"])
        return terms

    def stage2_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Codes z ~ q(z|x) of the frozen stage-1 encoder (eval mode, no gradient), then L2 and
        one step of ``"stage2"`` (``extract_posterior`` and ``demo.py``'s stage-2 loop)."""
        model = self.model
        with torch.no_grad(), eval_mode(model.encoder), ctx.autocast():
            mu, logvar = model.encode_stats(x)
        mu, logvar = mu.float(), logvar.float()
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        net = ctx.disc_fwd if ctx.disc_fwd is not None else model.stage2
        with ctx.autocast():
            out = net(z)
        terms = self.stage2_terms(z, out)
        ctx.minimise("stage2", terms["loss"])
        return terms

    def training_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One step of the stage :meth:`next_stage` names; then ``steps_done`` + 1 and ``stage`` set."""
        stage = self.next_stage()
        terms = self.stage2_step(ctx, x) if stage == STAGE2 else self.stage1_step(ctx, x)
        with torch.no_grad():
            self.model.steps_done += 1
            self.model.stage.fill_(stage)
        self._host_counts = [self._host_counts[0] + 1, stage]
        return dict(terms, stage=torch.tensor(float(stage), device=terms["loss"].device))
