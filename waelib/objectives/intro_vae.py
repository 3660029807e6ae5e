"""IntroVAE's objective (seed 003; Huang et al. 2018): the encoder is the generator's adversary.

Two Adam optimisers with the official code's settings: the encoder's (``"enc"``, ``lr``) and
the decoder's (``"dec"``, ``disc_lr``), 2e-4 each, torch's default betas. Options ``alpha``,
``beta`` (default :func:`waelib.losses.intro_beta_for` (image_size)) and ``margin``.

Two options from the official code (github ``hhb072/IntroVAE``, ``main.py``), both off by default
so that the committed runs are unchanged:

- ``num_vae`` (default 0): a plain-VAE warm-up. ``main.py`` trains ``train_vae`` -- one backward of
  ``loss_rec + loss_kl`` (the pixel sum of squared errors and the KL, batch means, unweighted),
  then ``optimizerE.step()`` and ``optimizerG.step()`` -- while ``epoch < num_vae``, then the
  introspective ``train``. Here ``num_vae`` counts steps, not epochs. Its step counter is the model
  buffer :data:`STEP_BUFFER`, registered by the objective (``waelib.models.IntroVAE`` has none)
  only when ``num_vae > 0``: the checkpoint stores it and ``fit``'s (strict) ``load_state_dict``
  restores it, so a resume crosses the switch exactly. (``waelib.train.load_run`` builds the model
  without the objective and loads strictly, so it refuses such a checkpoint's extra key:
  docs/deviations.md.) With the warm-up every row of the log also carries ``warmup`` (1 or 0);
  during it ``kl_rec``/``kl_fake`` are logged as 0 (no fakes are encoded).
- ``alpha_gen`` (default: ``alpha``): the weight of the generator's KL sum. ``main.py`` writes
  ``lossG = (lossG_rec_kl + lossG_fake_kl) * 0.5 * opt.weight_kl`` (0.5 in ``run_256.sh``,
  ``--weight_kl=1.0``) while the encoder's hinge sum carries ``0.5 * opt.weight_neg`` (0.25); the
  seed's single alpha uses 0.25 for both.
"""
from __future__ import annotations

from typing import Any, Dict, List

import torch
from torch import nn

from .. import config, losses
from .base import Objective, OptimizerSpec, StepContext

__all__ = ["IntroVAEObjective", "NUM_VAE", "STEP_BUFFER", "ensure_step_buffer", "warmup_steps"]

#: Steps of plain-VAE warm-up by default: none (``main.py``'s ``--num_vae`` default and
#: ``run_256.sh``'s ``--num_vae=0``).
NUM_VAE: int = 0
#: Name of the step-counter buffer the objective adds to the model when ``num_vae > 0``.
STEP_BUFFER: str = "intro_step"


def warmup_steps(value: float) -> int:
    """A ``num_vae`` option as a step count: a non-negative whole number, else a ValueError."""
    if value < 0 or value != int(value):
        raise ValueError(f"num_vae must be a non-negative whole number of steps, got {value}")
    return int(value)


def ensure_step_buffer(model: nn.Module, name: str) -> torch.Tensor:
    """The int64 scalar step-counter buffer ``name`` of ``model``, registered (persistent, at 0,
    on the model's device) when absent, so that ``state_dict`` and checkpoints carry it."""
    buffers = dict(model.named_buffers(recurse=False))
    if name not in buffers:
        device = next(model.parameters()).device
        model.register_buffer(name, torch.zeros((), dtype=torch.long, device=device))
    return getattr(model, name)


class IntroVAEObjective(Objective):
    """L_E for the encoder and L_G for the generator (:func:`waelib.losses.intro_vae_encoder_loss`,
    :func:`waelib.losses.intro_vae_generator_loss`)."""

    name = "intro_vae"
    lr = config.INTRO_LR
    disc_lr = config.INTRO_LR          # the generator's (decoder's) rate
    betas = tuple(config.INTRO_BETAS)
    options = ("alpha", "beta", "margin", "num_vae", "alpha_gen")

    def __init__(self, model: nn.Module, cfg: Any):
        super().__init__(model, cfg)
        self.num_vae = warmup_steps(self.option("num_vae", NUM_VAE))
        if self.num_vae > 0 and model is not None:
            ensure_step_buffer(model, STEP_BUFFER)

    def optimizers(self) -> Dict[str, OptimizerSpec]:
        return {"enc": OptimizerSpec(list(self.model.encoder.parameters()), "lr"),
                "dec": OptimizerSpec(list(self.model.decoder.parameters()), "disc_lr")}

    def _kls(self, ctx: StepContext, images: torch.Tensor, n: int) -> List[torch.Tensor]:
        """Mean KL of Enc(x_r) and of Enc(x_p) (images (2n, 3, S, S)), each encoded as its own
        batch (as the official code does; BatchNorm sees the two kinds of fakes separately)."""
        out = []
        for part in images.split(n):
            with ctx.autocast():
                mu, logvar = self.model.encode_stats(part)
            out.append(losses.gaussian_kl(mu.float(), logvar.float()).mean())
        return out

    def training_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One step on x (n, 3, S, S): the VAE warm-up while the step counter is below
        ``num_vae`` (:meth:`vae_step`), else the introspective step (:meth:`introspective_step`).
        Without a warm-up (the default) always the latter, and no counter exists."""
        if self.num_vae <= 0:
            return self.introspective_step(ctx, x)
        counter = getattr(self.model, STEP_BUFFER)
        warm = int(counter.item()) < self.num_vae
        terms = self.vae_step(ctx, x) if warm else self.introspective_step(ctx, x)
        counter.add_(1)
        return dict(terms, warmup=torch.tensor(float(warm), device=terms["loss"].device))

    def vae_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``main.py``'s ``train_vae``: one backward of L_AE + L_REG(Enc(x)) (pixel-sum squared
        error and KL, batch means, weight 1 each), then an encoder and a generator step. The
        terms carry the introspective step's names (``kl_rec``, ``kl_fake`` = 0)."""
        with ctx.autocast():
            out = ctx.fwd(x)
        recon = losses.reconstruction_cost(x, out["x_hat"].float()).mean()
        kl_real = losses.gaussian_kl(out["mu"].float(), out["logvar"].float()).mean()
        loss = recon + kl_real
        self.minimise_together(ctx, ("enc", "dec"), loss)
        zero = torch.zeros((), device=loss.device)
        return {"loss": loss, "encoder_loss": loss, "generator_loss": loss, "recon": recon,
                "kl_real": kl_real, "kl_rec": zero, "kl_fake": zero}

    def introspective_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One encoder step on L_E and one generator step on L_G, on x (n, 3, S, S).

        Both gradients are taken at the same weights (a simultaneous update; the official
        code steps the encoder first, docs/deviations.md). Encoder: the KLs of ng(x_r), ng(x_p)
        (gradient-stopped images). Generator: the KLs of x_r, x_p through the (fixed) encoder.
        L_AE's gradient reaches both (through z = mu + sigma * eps for the encoder).
        """
        m, n = self.model, x.shape[0]
        alpha = self.option("alpha", config.INTRO_ALPHA)
        beta = self.option("beta", losses.intro_beta_for(self.cfg.image_size))
        margin = self.option("margin", config.INTRO_MARGIN)
        alpha_gen = self.option("alpha_gen", alpha)
        with ctx.autocast():
            out = ctx.fwd(x)                                     # mu, logvar, z, x_r = G(z)
            x_p = m.decode(m.sample_prior(n, device=ctx.device))
        x_r = out["x_hat"]
        fakes = torch.cat([x_r, x_p])
        recon = losses.reconstruction_cost(x, x_r.float()).mean()
        kl_real = losses.gaussian_kl(out["mu"].float(), out["logvar"].float()).mean()
        kl_ng = self._kls(ctx, fakes.detach(), n)
        e_terms = losses.intro_vae_encoder_loss(kl_real, kl_ng[0], kl_ng[1], recon, alpha=alpha,
                                                beta=beta, margin=margin)
        kl_g = self._kls(ctx, fakes, n)
        g_terms = losses.intro_vae_generator_loss(kl_g[0], kl_g[1], recon, alpha=alpha_gen, beta=beta)
        enc_params = list(m.encoder.parameters())
        dec_params = list(m.decoder.parameters())
        g_enc = torch.autograd.grad(e_terms["loss"], enc_params, retain_graph=True)
        g_dec = torch.autograd.grad(g_terms["loss"], dec_params)
        for params, grads, name in ((enc_params, g_enc, "enc"), (dec_params, g_dec, "dec")):
            for p, g in zip(params, grads):
                p.grad = g
            ctx.optimizers[name].step()
            ctx.optimizers[name].zero_grad(set_to_none=True)
        return {"loss": e_terms["loss"] + g_terms["loss"], "encoder_loss": e_terms["loss"],
                "generator_loss": g_terms["loss"], "recon": recon, "kl_real": kl_real,
                "kl_rec": kl_ng[0], "kl_fake": kl_ng[1]}
