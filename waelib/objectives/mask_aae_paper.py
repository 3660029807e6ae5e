"""MaskAAE with its own mask objective (seed 004 [20]: Mondal, Chowdhury, Jayendran, Singla, Asnani &
Prathosh, "MaskAAE: Latent space optimization for Adversarial Auto-Encoders", UAI 2020, arXiv 1912.04564).

Sources.
- The authors' code, github.com/arnabkmondal/MaskAAE, file ``MaskAAE_MNIST.py`` (TensorFlow 1.15; the
  only training script published, MNIST with dense networks): the mask's parameterisation and
  initialisation, all four losses, which variables each optimiser moves, the learning rates, the
  critic's ratio and the regulariser's schedule below are taken from it (``_build_model``, ``_loss``,
  ``_trainer``, ``train`` and the ``argparse`` defaults).
- Seed 004 (its Figure 4 and Table 2): a mask layer mu at the end of the encoder; the prior draws are
  multiplied by the same mask before the discriminator; m_A = the number of unmasked dimensions.
- The paper's own text beyond its abstract could not be read here (the stored pages give only the
  abstract), so no equation number is cited: where this module says "the paper" it means the code.

The model (:class:`PaperMaskAAE`): encoder E, decoder D and critic H of a WAE, and a mask
mu = 1 - exp(-alpha), alpha >= 0 (Keras ``NonNeg`` constraint: alpha is projected to alpha >= 0 after each
update), alpha_j ~ U(0, 5) at the start. Codes z = mu * E(x); samples D(mu * z_p), z_p ~ N(0, sigma^2 I).

The four losses, each minimised by its own optimiser (h = E(x), batch of n, m = latent size):

    L_AE   = BCE(x, D(mu h)) + 100 * mean_{i,j} (h_ij - mean_i h_ij)^2 exp(-10 mu_j^2)     -> E, D
    L_H    = mean H(mu h) - mean H(mu z_p) + 10 * mean (||grad H(z^)|| - 1)^2,                -> H
             z^ = mu z_p + u (mu h - mu z_p), u ~ U(0, 1)  (WGAN-GP; 5 critic steps per step)
    L_G    = - mean H(mu h)                                                                  -> E
    L_M    = 1000 * BCE(x, D(mu h)) + (1 - (mean H(mu h) - mean H(mu z_p)))^2
             + w_poly * sum_j |mu_j (1 - mu_j)|                                              -> alpha

BCE is the per-pixel mean binary cross-entropy (Keras ``BinaryCrossentropy``). The variance penalty
makes the encoder's output constant on the dimensions the mask closes; the mask is moved only by
L_M: reconstruction keeps the dimensions the decoder needs, the critic term moves the gates to bring
the masked codes' distribution nearer the masked prior's, and the polynomial term, whose weight
w_poly = min(2048, (2 / m) 2^floor(k / (4 I))) doubles every 4 I steps (k the step, I the code's
``reg_schedule_interval``), drives every gate to 0 or 1. The step k lives in the model's ``step``
buffer, so a resumed run continues the schedule exactly. m_A (``active_dims``) counts mu_j >= 0.1, the
code's ``active_dim``.

Our departures (docs/deviations_parts/mask_aae_paper.md): the thesis' DCGAN networks and latent
discriminator; Adam(beta1 = 0, beta2 = 0.9) for the code's RMSProp (decay 0.9); one forward pass per
step with every gradient taken at the step's starting weights (the code takes four sub-steps on fresh
batches), the critic's 5 steps on the step's codes with fresh prior draws; the mask's rate 1e-2 and the
schedule's interval scaled to the run's length, for a 2,000-step run; the code's loss factor 1/5 at step
5 I (a no-op under RMSProp's normalisation) left out.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..models import MaskAAE, wae_builder
from .base import Objective, OptimizerSpec, StepContext

__all__ = ["MaskAAEPaperObjective", "PaperMask", "PaperMaskAAE", "MaskedCore", "build", "OVERRIDES",
           "at_least_float32", "bce_reconstruction", "variance_penalty", "poly_regulariser", "critic_loss", "mask_loss",
           "poly_weight", "reference_interval", "default_interval"]

# ---- constants of the authors' code (github.com/arnabkmondal/MaskAAE, MaskAAE_MNIST.py) --------------
REF_BASE_LR: float = 1e-4          # argparse --lr
AE_LR: float = 5 * REF_BASE_LR     # auto_encoder_trainer = RMSPropOptimizer(5 * self.lr)
GEN_LR: float = REF_BASE_LR        # generator_trainer = RMSPropOptimizer(self.lr)
DISC_LR: float = REF_BASE_LR       # discriminator_trainer = RMSPropOptimizer(self.lr)
REF_MASK_LR: float = 5 * REF_BASE_LR  # mask_trainer = RMSPropOptimizer(5 * self.lr) (not our default)
N_CRITIC: int = 5                  # argparse --disc_training_ratio
GP_WEIGHT: float = 10.0            # argparse --gradient_penalty_weight
VAR_WEIGHT: float = 100.0          # argparse --variance_penalty_weight
VAR_SHARPNESS: float = 10.0        # mask_weight = exp(-1 * 10 * square(alpha))
MASK_REC_WEIGHT: float = 1000.0    # mask_loss = 1000 * reconstruction_loss + ...
POLY_INIT_NUMERATOR: float = 2.0   # poly_reg_wt = 2 / z_dim
POLY_MAX: float = 2048.0           # poly_reg_wt = min(2048, poly_reg_wt * 2)
POLY_PERIOD: int = 4               # doubled when step % (4 * reg_schedule_interval) == 0
REF_SMALL_DIM: int = 20            # reg_schedule_interval = 75 if z_dim <= 20 else ...
REF_SMALL_INTERVAL: int = 75
REF_INTERVAL_PER_DIM: float = 112.5  # ... min(10000, floor(1125 * z_dim / 10))
REF_INTERVAL_MAX: int = 10000
REF_STEPS: int = 500_000           # argparse --training_steps
MASK_INIT_MAX: float = 5.0         # mask_vec.assign(random.uniform(minval=0.0, maxval=5.0))
ACTIVE_THRESHOLD: float = 0.1      # active_dim = count_nonzero(greater_equal(alpha, 0.1))
BCE_EPS: float = 1e-7              # Keras backend epsilon: BinaryCrossentropy clips D's output to it
# ---- our choices (docs/deviations_parts/mask_aae_paper.md) ------------------------------------------
BETAS: Tuple[float, float] = (0.0, 0.9)  # Adam(0, 0.9) = the code's RMSProp(decay 0.9) + bias correction
MASK_LR: float = 1e-2              # decision: Adam moves alpha by <= lr a step; 5e-4 moves it 1 in 2,000

#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2", "disc_hidden", "disc_layers")


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------
class PaperMask(nn.Module):
    """The code's mask: mu = 1 - exp(-alpha), alpha >= 0, alpha_j ~ U(0, ``init_max``) at the start.

    ``project_`` is Keras' ``NonNeg`` constraint (alpha <- alpha * (alpha >= 0)), applied after each
    update: a closed gate is exactly 0 (alpha = 0) and can reopen (d mu / d alpha = 1 there).
    """

    def __init__(self, latent_dim: int, init_max: float = MASK_INIT_MAX):
        super().__init__()
        self.alpha = nn.Parameter(torch.rand(latent_dim) * float(init_max))

    def forward(self) -> torch.Tensor:
        """The mask mu = 1 - exp(-alpha): (latent_dim,) in [0, 1)."""
        return -torch.expm1(-self.alpha)

    @torch.no_grad()
    def project_(self) -> None:
        """alpha <- max(alpha, 0), in place (the NonNeg constraint)."""
        self.alpha.clamp_(min=0.0)

    def active(self, threshold: float = ACTIVE_THRESHOLD) -> int:
        """Number of gates with mu >= threshold (the code's ``active_dim`` at 0.1)."""
        return int((self().detach() >= threshold).sum())


class PaperMaskAAE(MaskAAE):
    """:class:`waelib.models.MaskAAE` (codes mu * E(x), prior draws mu * z_p) with the code's mask
    (:class:`PaperMask`) and a ``step`` buffer (the regulariser's schedule, kept across a resume)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mask = PaperMask(self.latent_dim)       # replaces MaskAAE's sigmoid gates
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(N, 3, S, S) -> ``x_hat`` (N, 3, S, S), masked codes ``z`` and unmasked ``h`` = E(x) (N, d)."""
        h = self.encoder(x)
        z = h * self.mask()
        return {"x_hat": self.decode(z), "z": z, "h": h}


class MaskedCore(nn.Module):
    """Encoder, decoder and mask (not the critic): the module the trainer may wrap; ``forward`` is the
    model's."""

    def __init__(self, model: PaperMaskAAE):
        super().__init__()
        self.encoder, self.decoder, self.mask = model.encoder, model.decoder, model.mask
        object.__setattr__(self, "_model", model)  # not registered: no critic parameters

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(N, 3, S, S) -> the model's dict."""
        return self._model(x)


#: The model's builder: (image_size, latent_dim, width, prior_sigma2, **overrides) -> model.
build = wae_builder("mask_aae_paper", resnet=False, adversary=True, cls=PaperMaskAAE)


# --------------------------------------------------------------------------------------
# The loss terms (MaskAAE_MNIST.py, MaskAAE._loss)
# --------------------------------------------------------------------------------------
def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 when autocast made it half or bfloat16, else unchanged (float64 stays float64)."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def bce_reconstruction(x: torch.Tensor, x_hat: torch.Tensor, eps: float = BCE_EPS) -> torch.Tensor:
    """Per-element mean binary cross-entropy, Keras' ``BinaryCrossentropy`` on probabilities.

    x, x_hat: (N, ...) in [0, 1]; x_hat is clipped to [eps, 1 - eps]. Returns a scalar.
    """
    p = x_hat.clamp(eps, 1.0 - eps)
    return -(x * torch.log(p) + (1.0 - x) * torch.log1p(-p)).mean()


def variance_penalty(h: torch.Tensor, mu: torch.Tensor, sharpness: float = VAR_SHARPNESS) -> torch.Tensor:
    """mean_{i,j} (h_ij - mean_i h_ij)^2 exp(-sharpness mu_j^2): the code's ``variance_penalty``.

    h: (n, d) unmasked codes E(x); mu: (d,) the mask (pass it detached: L_AE does not move the mask).
    Returns a scalar: the batch variance of each dimension, weighted towards the closed gates.
    """
    return ((h - h.mean(dim=0, keepdim=True)).pow(2) * torch.exp(-sharpness * mu.pow(2))).mean()


def poly_regulariser(mu: torch.Tensor) -> torch.Tensor:
    """sum_j |mu_j (1 - mu_j)| (the code's ``poly_reg``): 0 exactly when every gate is 0 or 1. mu: (d,)."""
    return (mu * (1.0 - mu)).abs().sum()


def critic_loss(critic: nn.Module, z_q: torch.Tensor, z_p: torch.Tensor, u: torch.Tensor,
                gp_weight: float = GP_WEIGHT) -> Tuple[torch.Tensor, torch.Tensor]:
    """WGAN-GP critic loss of the code: mean H(z_q) - mean H(z_p) + gp_weight * mean (||grad H(z^)|| - 1)^2.

    z_q: (n, d) masked codes, z_p: (n, d) masked prior draws (both detached), u: (n, 1) in [0, 1];
    z^ = z_p + u (z_q - z_p). Returns (loss, gradient penalty), scalars. The critic scores the prior
    high: minimising the loss makes mean H(z_p) - mean H(z_q) its Wasserstein-1 estimate.
    """
    n = z_q.shape[0]
    z_hat = (z_p + u * (z_q - z_p)).requires_grad_(True)
    scores = at_least_float32(critic(torch.cat([z_q, z_p, z_hat])))
    s_q, s_p, s_hat = scores.split(n)
    grad = torch.autograd.grad(s_hat.sum(), z_hat, create_graph=True)[0]
    penalty = (torch.linalg.vector_norm(grad, dim=1) - 1.0).pow(2).mean()
    return s_q.mean() - s_p.mean() + gp_weight * penalty, penalty


def mask_loss(recon: torch.Tensor, score_q: torch.Tensor, score_p: torch.Tensor, mu: torch.Tensor,
              w_poly: torch.Tensor, rec_weight: float = MASK_REC_WEIGHT) -> torch.Tensor:
    """L_M = rec_weight * recon + (1 - (mean H(mu h) - mean H(mu z_p)))^2 + w_poly * sum |mu (1 - mu)|.

    recon: scalar BCE of D(mu h); score_q, score_p: (n,) critic scores of mu h and mu z_p; mu: (d,);
    w_poly: scalar weight (:func:`poly_weight`). Returns a scalar (the code's ``mask_loss``).
    """
    gap = score_q.mean() - score_p.mean()
    return rec_weight * recon + (1.0 - gap).pow(2) + w_poly * poly_regulariser(mu)


def reference_interval(latent_dim: int) -> int:
    """The code's ``reg_schedule_interval``: 75 for m <= 20, else min(10000, floor(1125 m / 10))."""
    if latent_dim <= REF_SMALL_DIM:
        return REF_SMALL_INTERVAL
    return min(REF_INTERVAL_MAX, math.floor(REF_INTERVAL_PER_DIM * latent_dim))


def default_interval(latent_dim: int, steps: Optional[int]) -> float:
    """The interval I scaled to a run of ``steps``: reference_interval(m) * steps / 500,000 (the code's
    run length), so the schedule keeps its shape relative to the run; unscaled when steps is None."""
    if steps is None:
        return float(reference_interval(latent_dim))
    return reference_interval(latent_dim) * float(steps) / REF_STEPS


def poly_weight(step: torch.Tensor, latent_dim: int, interval: float) -> torch.Tensor:
    """w_poly at step k (0-based): min(2048, (2 / m) 2^floor(k / (4 I))), on k's device (no host sync).

    The code starts at 2 / m and doubles when k % (4 I) == 0, k > 0, before that step's mask update.
    """
    doublings = torch.floor(step.double() / (POLY_PERIOD * float(interval)))
    w = (POLY_INIT_NUMERATOR / latent_dim) * torch.pow(2.0, doublings)
    return w.clamp(max=POLY_MAX).float()


# --------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------
class MaskAAEPaperObjective(Objective):
    """The code's four optimisers: ``ae`` (E, D; L_AE), ``gen`` (E; L_G), ``disc`` (H; L_H, N_CRITIC
    steps) and ``mask`` (alpha; L_M). Options: ``n_critic``, ``gp_weight``, ``var_weight``,
    ``mask_rec_weight``, ``reg_interval`` (I; default :func:`default_interval`), ``mask_lr``, ``gen_lr``."""

    name = "mask_aae_paper"
    lr = AE_LR
    disc_lr = DISC_LR
    betas = BETAS
    options = ("n_critic", "gp_weight", "var_weight", "mask_rec_weight", "reg_interval", "mask_lr", "gen_lr")

    def interval(self) -> float:
        """The regulariser's interval I of this run (``reg_interval``, else :func:`default_interval`)."""
        value = self.option("reg_interval", default_interval(self.model.latent_dim, self.cfg.steps))
        if value <= 0:
            raise ValueError(f"reg_interval must be positive, got {value}")
        return value

    def optimizers(self) -> Dict[str, OptimizerSpec]:
        m = self.model
        enc, dec = list(m.encoder.parameters()), list(m.decoder.parameters())
        gen = [{"params": enc, "lr": self.option("gen_lr", GEN_LR), "own_lr": True}]
        mask = [{"params": [m.mask.alpha], "lr": self.option("mask_lr", MASK_LR), "own_lr": True}]
        return {"ae": OptimizerSpec(enc + dec, "lr"), "gen": OptimizerSpec(gen, "lr"),
                "disc": OptimizerSpec(list(m.discriminator.parameters()), "disc_lr"),
                "mask": OptimizerSpec(mask, "lr")}

    def forward_module(self) -> nn.Module:
        return MaskedCore(self.model)

    def adversary(self) -> Optional[nn.Module]:
        return self.model.discriminator

    def critic_steps(self, ctx: StepContext, z_q: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``n_critic`` WGAN-GP steps of H on the detached masked codes z_q (n, d), a fresh masked prior
        draw and u ~ U(0, 1) each; returns the last step's ``disc_loss`` and ``gradient_penalty``."""
        n, zero = z_q.shape[0], torch.zeros((), device=z_q.device)
        out = {"disc_loss": zero, "gradient_penalty": zero}
        for _ in range(int(self.option("n_critic", N_CRITIC))):
            z_p = self.model.sample_prior(n, device=ctx.device).detach()
            u = torch.rand(n, 1, device=z_q.device)
            with ctx.autocast():
                loss, penalty = critic_loss(ctx.disc_fwd, z_q, z_p, u, self.option("gp_weight", GP_WEIGHT))
            ctx.minimise("disc", loss)
            out = {"disc_loss": loss.detach(), "gradient_penalty": penalty.detach()}
        return out

    def step_losses(self, ctx: StepContext, x: torch.Tensor, x_hat: torch.Tensor,
                    h: torch.Tensor) -> Dict[str, torch.Tensor]:
        """L_AE, L_G and L_M on one forward pass (x, x_hat (n, 3, S, S); h (n, d) = E(x)), scored by the
        updated critic; the detaches route each loss to its own parameters (module docstring)."""
        m, n = self.model, x.shape[0]
        mu = m.mask()
        recon = bce_reconstruction(x, x_hat)
        var_pen = variance_penalty(h, mu.detach())
        z_p = m.sample_prior(n, device=ctx.device)                       # mu * z_p: gradient to alpha
        with ctx.autocast():
            scores = at_least_float32(m.discriminator(torch.cat([h * mu.detach(), h.detach() * mu, z_p])))
        s_gen, s_q, s_p = scores.split(n)
        w_poly = poly_weight(m.step, m.latent_dim, self.interval())
        return {"ae_loss": recon + self.option("var_weight", VAR_WEIGHT) * var_pen,
                "gen_loss": -s_gen.mean(),
                "mask_loss": mask_loss(recon, s_q, s_p, mu, w_poly, self.option("mask_rec_weight", MASK_REC_WEIGHT)),
                "recon": recon, "var_penalty": var_pen, "critic_gap": s_q.mean() - s_p.mean(),
                "poly": poly_regulariser(mu), "poly_weight": w_poly}

    def parameter_groups(self) -> Dict[str, Tuple[str, List[nn.Parameter]]]:
        """optimiser name -> (the loss it minimises, its parameters)."""
        m = self.model
        enc, dec = list(m.encoder.parameters()), list(m.decoder.parameters())
        return {"ae": ("ae_loss", enc + dec), "gen": ("gen_loss", enc), "mask": ("mask_loss", [m.mask.alpha])}

    def apply_gradients(self, ctx: StepContext, terms: Dict[str, torch.Tensor]) -> None:
        """Every optimiser's gradient of its own loss at the same weights, then each one's step."""
        groups = self.parameter_groups()
        grads: Dict[str, Sequence[torch.Tensor]] = {
            name: torch.autograd.grad(terms[loss], params, retain_graph=True)
            for name, (loss, params) in groups.items()}
        for name, (_, params) in groups.items():
            for p, g in zip(params, grads[name]):
                p.grad = g
            ctx.optimizers[name].step()
            ctx.optimizers[name].zero_grad(set_to_none=True)
        self.model.mask.project_()

    def training_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One step on x (n, 3, S, S): the critic's steps, then E, D (L_AE), E (L_G) and alpha (L_M)."""
        m = self.model
        with ctx.autocast():
            out = ctx.fwd(x)
        h, x_hat = at_least_float32(out["h"]), at_least_float32(out["x_hat"])
        disc = self.critic_steps(ctx, (h * m.mask()).detach())
        terms = self.step_losses(ctx, x, x_hat, h)
        self.apply_gradients(ctx, terms)
        m.step += 1
        mu = m.mask().detach()
        return dict({k: v.detach() for k, v in terms.items()}, **disc, loss=terms["ae_loss"].detach(),
                    active_dims=(mu >= ACTIVE_THRESHOLD).sum().float(), mask_mean=mu.mean())
