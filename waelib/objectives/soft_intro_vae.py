"""Soft-IntroVAE (seed 004's landscape; Daniel & Tamar, "Soft-IntroVAE: Analyzing and improving
the introspective variational autoencoder", CVPR 2021) on the thesis' VAE networks.

IntroVAE's encoder pushes the KL of fakes above a hard margin m; Soft-IntroVAE replaces the hinge
by the soft exponential of the fakes' ELBOs. With s = 1 / (C H W) (the official "scale"),
L_r(x) = ||x - D(z)||^2 (pixel sum, z ~ q(z|x)), KL(x) = KL(q(z|x) || N(0, sigma^2 I)), x_r the
reconstruction of a real batch and x_f = D(z_f), z_f ~ N(0, sigma^2 I) (prior samples):

    L_E = s (beta_rec L_r(x) + beta_kl KL(x))
          + 1/4 sum_{k in {r, f}} mean_i exp(-2 s (beta_rec L_r(x_k) + beta_neg KL(x_k)))
    L_D = s (beta_rec L_r(x) + 1/2 beta_kl (KL(x_r) + KL(x_f))
             + 1/2 gamma_r beta_rec (L_r(x_r) + L_r(x_f)))

(1/4 = 1/2 for the mean over the two kinds of fakes times 1/alpha, alpha = 2: the exponent is
alpha times the scaled negative ELBO). The real terms are batch means; in L_E the exponential is
averaged over the batch (the soft exponential of each fake's own ELBO), in L_D the fakes' KLs and
errors are batch means.

What is taken from where:

- github ``taldatech/soft-intro-vae-pytorch``, ``soft_intro_vae/train_soft_intro_vae.py``,
  ``train_soft_intro_vae``: the encoder step (``lossE = lossE_real + lossE_fake`` with
  ``expelbo_rec``/``expelbo_fake``, ``lossE_fake = 0.25 * (...)``), the decoder step (``lossD``
  with ``gamma_r``), ``scale = 1 / (ch * image_size ** 2)``, ``calc_kl`` (KL to N(mu_o, exp(logvar_o));
  here mu_o = 0 and logvar_o = log sigma^2, the model's prior, 0 by default), ``calc_reconstruction_loss``
  (``mse``: pixel sum per image, ``reduction="mean"`` over the batch), the ``num_vae`` warm-up
  (``epoch < num_vae``: one backward of ``beta_rec * loss_rec + beta_kl * loss_kl``, no scale, then
  both optimisers step), and the update order with its detaches:

  encoder step (decoder frozen): fake = D(z_f); (mu, logvar) = E(x), z = reparam, x_r = D(z);
  E and D applied to ``x_r.detach()`` and ``fake.detach()`` (each its own batch: ``model(...)``
  draws a z and decodes it); the error of the reconstructed reconstruction is taken against the
  *undetached* x_r (``calc_reconstruction_loss(rec, rec_rec)``), so the exponential's gradient
  also reaches the encoder through x_r; Adam step of the encoder.
  decoder step (encoder frozen, already updated): fake = D(z_f) (same z_f), x_r = D(z.detach())
  (same z), E(x_r) and E(fake) with fresh z's, decoded from ``z.detach()``, errors against
  ``x_r.detach()`` and ``fake.detach()``; Adam step of the decoder.

  The order of the forward passes and random draws here is the official one (prior draw; real
  pass; x_r pass; fake pass; then z_r, z_f of the decoder step).
- ``soft_intro_vae/main.py`` and ``soft_intro_vae/README.md``, "Recommended hyper-parameters",
  CIFAR10 (32 x 32 x 3 images, the size of the study's): beta_kl = 1, beta_rec = 1, beta_neg = 256;
  ``--gamma_r`` 1e-8, ``--num_vae`` 0, ``--lr`` 2e-4 for both optimisers, ``optim.Adam`` with
  torch's default betas (0.9, 0.999).
- the objective as the official tutorial states it (``soft_intro_vae_tutorial/
  soft_intro_vae_image_code_tutorial.ipynb``, "Soft-IntroVAE Objectives"). The paper's own text
  could not be read here beyond its abstract; the loss above is the code's.

Departures (docs/deviations_parts/soft_intro_vae.md): the thesis' VAE networks (sigmoid output)
instead of the official residual ones; ``num_vae`` counts steps, not epochs; the official
``MultiStepLR`` (x0.1 at epoch 350) never fires within the study's length and is left out.

The step counter the warm-up needs is the model's buffer ``steps_done`` (:class:`SoftIntroVAE`),
so checkpoints carry it and a resume crosses the warm-up switch exactly.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Tuple

import torch
from torch import nn

from .. import losses
from ..models import IntroVAE, vae_builder
from .base import Objective, OptimizerSpec, StepContext
from .intro_vae import ensure_step_buffer, warmup_steps

__all__ = ["SoftIntroVAE", "SoftIntroVAEObjective", "build", "OVERRIDES", "image_scale",
           "kl_to_prior", "exp_elbo", "encoder_loss", "decoder_loss", "vae_warmup_loss",
           "reparameterise"]

# ---- the official CIFAR-10 settings (soft_intro_vae/main.py, README "Recommended hyperparameters") ----
BETA_KL: float = 1.0       # beta_kl, CIFAR10
BETA_REC: float = 1.0      # beta_rec, CIFAR10
BETA_NEG: float = 256.0    # beta_neg, CIFAR10
GAMMA_R: float = 1e-8      # --gamma_r default (train_soft_intro_vae.py, main.py)
NUM_VAE: int = 0           # --num_vae default (here in steps; the official count is epochs)
LR: float = 2e-4           # --lr default; lr_e = lr_d = lr
BETAS: Tuple[float, float] = (0.9, 0.999)   # optim.Adam's defaults (only lr is passed)
# ---- constants of the loss (train_soft_intro_vae.py) ----
EXP_ALPHA: float = 2.0     # the "-2 * scale" of expelbo_*: exp(alpha * scaled ELBO), alpha = 2
FAKE_WEIGHT: float = 0.25  # lossE_fake = 0.25 * (expelbo_rec + expelbo_fake): 1/2 mean x 1/alpha
FAKE_KL_WEIGHT: float = 0.5   # lossD: (lossD_rec_kl + lossD_fake_kl) * 0.5 * beta_kl
#: Name of the model's step-counter buffer (the warm-up switch).
STEP_BUFFER: str = "steps_done"

#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2",)


class SoftIntroVAE(IntroVAE):
    """The thesis' VAE networks (:class:`waelib.models.IntroVAE`) plus the int64 buffer
    ``steps_done``: training steps taken, which :class:`SoftIntroVAEObjective`'s warm-up reads."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.register_buffer(STEP_BUFFER, torch.zeros((), dtype=torch.long))


#: The model's builder: (image_size, latent_dim, width, prior_sigma2, **overrides) -> model.
build = vae_builder("soft_intro_vae", resnet=False, cls=SoftIntroVAE)


# --------------------------------------------------------------------------------------
# The loss terms (train_soft_intro_vae.py)
# --------------------------------------------------------------------------------------
def image_scale(channels: int, image_size: int) -> float:
    """The official ``scale = 1 / (ch * image_size ** 2)``: one over the pixel count C H W."""
    return 1.0 / (channels * image_size * image_size)


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor, prior_sigma2: float = 1.0) -> torch.Tensor:
    """``calc_kl(logvar, mu, mu_o=0, logvar_o=log sigma^2, reduce="none")``: per sample,
    KL(N(mu, exp(logvar)) || N(0, sigma^2 I)) = -1/2 sum_j (1 + logvar - log sigma^2
    - exp(logvar) / sigma^2 - mu^2 / sigma^2). mu, logvar (N, d) -> (N,) nats."""
    log_s2 = math.log(prior_sigma2)
    return -0.5 * (1.0 + logvar - log_s2 - (logvar.exp() + mu.pow(2)) / prior_sigma2).sum(dim=1)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The official ``reparameterize``: z = mu + exp(logvar / 2) * eps, eps ~ N(0, I); (N, d)."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def exp_elbo(error: torch.Tensor, kl: torch.Tensor, *, scale: float, beta_rec: float,
             beta_neg: float) -> torch.Tensor:
    """``expelbo_*`` = mean_i exp(-2 s (beta_rec error_i + beta_neg kl_i)): the soft exponential of
    the fakes' scaled ELBOs; error, kl (N,) per fake -> scalar."""
    return torch.exp(-EXP_ALPHA * scale * (beta_rec * error + beta_neg * kl)).mean()


def encoder_loss(recon: torch.Tensor, kl_real: torch.Tensor, error_rec: torch.Tensor, kl_rec: torch.Tensor,
                 error_fake: torch.Tensor, kl_fake: torch.Tensor, *, scale: float, beta_rec: float,
                 beta_kl: float, beta_neg: float) -> Dict[str, torch.Tensor]:
    """The official ``lossE = lossE_real + lossE_fake``.

    Args:
        recon, kl_real: scalars, batch means of the real images' L_r and KL.
        error_rec, kl_rec: (N,) per reconstruction x_r: L_r of its own reconstruction and its KL.
        error_fake, kl_fake: (N,) the same per prior sample x_f.
    Returns:
        dict with ``loss``, ``real`` (s (beta_rec recon + beta_kl kl_real)), ``fake``
        (1/4 (expelbo_rec + expelbo_fake)), ``expelbo_rec``, ``expelbo_fake``.
    """
    weights = dict(scale=scale, beta_rec=beta_rec, beta_neg=beta_neg)
    e_rec, e_fake = exp_elbo(error_rec, kl_rec, **weights), exp_elbo(error_fake, kl_fake, **weights)
    real = scale * (beta_rec * recon + beta_kl * kl_real)
    fake = FAKE_WEIGHT * (e_rec + e_fake)
    return {"loss": real + fake, "real": real, "fake": fake, "expelbo_rec": e_rec, "expelbo_fake": e_fake}


def decoder_loss(recon: torch.Tensor, kl_rec: torch.Tensor, kl_fake: torch.Tensor, recon_rec: torch.Tensor,
                 recon_fake: torch.Tensor, *, scale: float, beta_rec: float, beta_kl: float,
                 gamma_r: float) -> Dict[str, torch.Tensor]:
    """The official ``lossD`` = s (beta_rec recon + 1/2 beta_kl (kl_rec + kl_fake)
    + 1/2 gamma_r beta_rec (recon_rec + recon_fake)); every argument a scalar batch mean (the
    real L_r, the fakes' KLs through the frozen encoder, the fakes' own L_r). Returns a dict
    with ``loss``."""
    fakes = FAKE_KL_WEIGHT * beta_kl * (kl_rec + kl_fake)
    fake_recon = FAKE_KL_WEIGHT * gamma_r * beta_rec * (recon_rec + recon_fake)
    return {"loss": scale * (beta_rec * recon + fakes + fake_recon)}


def vae_warmup_loss(recon: torch.Tensor, kl: torch.Tensor, *, beta_rec: float, beta_kl: float) -> torch.Tensor:
    """The official warm-up loss ``beta_rec * loss_rec + beta_kl * loss_kl`` (no scale); scalars."""
    return beta_rec * recon + beta_kl * kl


# --------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------
def _apply(ctx: StepContext, name: str, loss: torch.Tensor, params: list) -> None:
    """One step of optimiser ``name`` on the gradient of ``loss`` with respect to ``params``
    only (the official code freezes the other network with ``requires_grad = False``)."""
    grads = torch.autograd.grad(loss, params)
    for p, g in zip(params, grads):
        p.grad = g
    ctx.optimizers[name].step()
    ctx.optimizers[name].zero_grad(set_to_none=True)


class SoftIntroVAEObjective(Objective):
    """Soft-IntroVAE: an encoder step on L_E, then a decoder step on L_D (module docstring).

    Two Adam optimisers as :class:`~waelib.objectives.intro_vae.IntroVAEObjective`: ``"enc"``
    (encoder, ``lr``) and ``"dec"`` (decoder, ``disc_lr``). Options: ``beta_kl``, ``beta_rec``,
    ``beta_neg``, ``gamma_r`` (the official CIFAR-10 values by default) and ``num_vae`` (steps of
    plain-VAE warm-up, default 0). ``gamma_r = 0`` skips the decoder step's two extra decodes.
    """

    name = "soft_intro_vae"
    lr = LR
    disc_lr = LR                   # the decoder's rate (official lr_d = lr_e)
    betas = BETAS
    options = ("beta_kl", "beta_rec", "beta_neg", "gamma_r", "num_vae")

    def __init__(self, model: nn.Module, cfg: Any):
        super().__init__(model, cfg)
        self.num_vae = warmup_steps(self.option("num_vae", NUM_VAE))
        self.weights = {"beta_kl": self.option("beta_kl", BETA_KL), "beta_rec": self.option("beta_rec", BETA_REC),
                        "beta_neg": self.option("beta_neg", BETA_NEG), "gamma_r": self.option("gamma_r", GAMMA_R)}
        if model is not None:          # a model built elsewhere (Trainer(cfg, model)) gets the counter too
            ensure_step_buffer(model, STEP_BUFFER)

    def optimizers(self) -> Dict[str, OptimizerSpec]:
        return {"enc": OptimizerSpec(list(self.model.encoder.parameters()), "lr"),
                "dec": OptimizerSpec(list(self.model.decoder.parameters()), "disc_lr")}

    def _scale(self, x: torch.Tensor) -> float:
        """s = 1 / (C H W) of the batch x (n, C, H, W)."""
        return 1.0 / x[0].numel()

    def _kl(self, mu: torch.Tensor, logvar: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Per-sample KL to the model's prior, in ``dtype``: (N,)."""
        return kl_to_prior(mu.to(dtype), logvar.to(dtype), self.model.prior_sigma2)

    def training_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The VAE warm-up while ``steps_done < num_vae`` (:meth:`vae_step`), else
        :meth:`encoder_step` then :meth:`decoder_step`; the counter then advances. Every step logs
        the same terms (those a phase does not compute are 0) and ``warmup`` (1 or 0)."""
        counter = getattr(self.model, STEP_BUFFER)
        warm = self.num_vae > 0 and int(counter.item()) < self.num_vae
        if warm:
            terms = self.vae_step(ctx, x)
        else:
            noise = self.model.sample_prior(x.shape[0], device=ctx.device)   # z_f, drawn first
            e_terms, z = self.encoder_step(ctx, x, noise)
            d_terms = self.decoder_step(ctx, x, noise, z)
            terms = {"loss": e_terms["loss"] + d_terms["loss"], "encoder_loss": e_terms["loss"],
                     "decoder_loss": d_terms["loss"], "recon": e_terms["recon"], "kl_real": e_terms["kl_real"],
                     "kl_rec": d_terms["kl_rec"], "kl_fake": d_terms["kl_fake"],
                     "expelbo_rec": e_terms["expelbo_rec"], "expelbo_fake": e_terms["expelbo_fake"]}
        counter.add_(1)
        return dict(terms, warmup=torch.tensor(float(warm), device=terms["loss"].device))

    def vae_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The official warm-up on x (n, 3, S, S): beta_rec L_r + beta_kl KL (batch means, no
        scale), one backward, then the encoder's and the decoder's Adam step."""
        dtype = torch.promote_types(x.dtype, torch.float32)
        with ctx.autocast():
            out = ctx.fwd(x)
        recon = losses.reconstruction_cost(x, out["x_hat"].to(dtype)).mean()
        kl_real = self._kl(out["mu"], out["logvar"], dtype).mean()
        loss = vae_warmup_loss(recon, kl_real, beta_rec=self.weights["beta_rec"], beta_kl=self.weights["beta_kl"])
        self.minimise_together(ctx, ("enc", "dec"), loss)
        zero = torch.zeros((), dtype=loss.dtype, device=loss.device)
        return {"loss": loss, "encoder_loss": loss, "decoder_loss": loss, "recon": recon, "kl_real": kl_real,
                "kl_rec": zero, "kl_fake": zero, "expelbo_rec": zero, "expelbo_fake": zero}

    def encoder_step(self, ctx: StepContext, x: torch.Tensor,
                     noise: torch.Tensor) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        """The official "Update E" on x (n, 3, S, S) and prior codes ``noise`` (n, d): L_E's
        gradient for the encoder only, one Adam step. Returns L_E's terms (plus ``recon``,
        ``kl_real``) and the real codes z (n, d) that the decoder step reuses."""
        m, w, dtype = self.model, self.weights, torch.promote_types(x.dtype, torch.float32)
        with ctx.autocast():
            with torch.no_grad():                    # frozen decoder, constant codes: no graph
                fake = m.decode(noise)
            out = ctx.fwd(x)                         # mu, logvar, z, x_r = D(z)
            rec_out = m(out["x_hat"].detach())
            fake_out = m(fake)
        rec, fake = out["x_hat"].to(dtype), fake.to(dtype)
        recon = losses.reconstruction_cost(x, rec).mean()
        kl_real = self._kl(out["mu"], out["logvar"], dtype).mean()
        # calc_reconstruction_loss(rec, rec_rec): the target x_r keeps its graph (official)
        error_rec = losses.reconstruction_cost(rec, rec_out["x_hat"].to(dtype))
        error_fake = losses.reconstruction_cost(fake, fake_out["x_hat"].to(dtype))
        terms = encoder_loss(recon, kl_real, error_rec, self._kl(rec_out["mu"], rec_out["logvar"], dtype),
                             error_fake, self._kl(fake_out["mu"], fake_out["logvar"], dtype),
                             scale=self._scale(x), beta_rec=w["beta_rec"], beta_kl=w["beta_kl"],
                             beta_neg=w["beta_neg"])
        _apply(ctx, "enc", terms["loss"], list(m.encoder.parameters()))
        return dict(terms, recon=recon.detach(), kl_real=kl_real.detach()), out["z"].detach()

    def decoder_step(self, ctx: StepContext, x: torch.Tensor, noise: torch.Tensor,
                     z: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The official "Update D": x (n, 3, S, S), the same prior codes ``noise`` and real codes
        z (n, d), the encoder (already updated) frozen; L_D's gradient for the decoder, one Adam
        step. Returns ``loss``, ``kl_rec``, ``kl_fake``."""
        m, w, dtype = self.model, self.weights, torch.promote_types(x.dtype, torch.float32)
        with ctx.autocast():
            fake = m.decode(noise)
            rec = m.decode(z)
            rec_mu, rec_logvar = m.encode_stats(rec)
            z_rec = reparameterise(rec_mu, rec_logvar)
            fake_mu, fake_logvar = m.encode_stats(fake)
            z_fake = reparameterise(fake_mu, fake_logvar)
        kl_rec = self._kl(rec_mu, rec_logvar, dtype).mean()
        kl_fake = self._kl(fake_mu, fake_logvar, dtype).mean()
        recon = losses.reconstruction_cost(x, rec.to(dtype)).mean()
        zero = torch.zeros((), dtype=dtype, device=x.device)
        recon_rec = recon_fake = zero
        if w["gamma_r"] != 0.0:                      # gamma_r = 0: the two decodes add nothing
            with ctx.autocast():
                rec_rec, rec_fake = m.decode(z_rec.detach()), m.decode(z_fake.detach())
            recon_rec = losses.reconstruction_cost(rec.detach().to(dtype), rec_rec.to(dtype)).mean()
            recon_fake = losses.reconstruction_cost(fake.detach().to(dtype), rec_fake.to(dtype)).mean()
        terms = decoder_loss(recon, kl_rec, kl_fake, recon_rec, recon_fake, scale=self._scale(x),
                             beta_rec=w["beta_rec"], beta_kl=w["beta_kl"], gamma_r=w["gamma_r"])
        _apply(ctx, "dec", terms["loss"], list(m.decoder.parameters()))
        return dict(terms, kl_rec=kl_rec.detach(), kl_fake=kl_fake.detach())
