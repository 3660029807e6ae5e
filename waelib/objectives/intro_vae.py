"""IntroVAE's objective (seed 003; Huang et al. 2018): the encoder is the generator's adversary.

Two Adam optimisers with the official code's settings: the encoder's (``"enc"``, ``lr``) and
the decoder's (``"dec"``, ``disc_lr``), 2e-4 each, torch's default betas. Options ``alpha``,
``beta`` (default :func:`waelib.losses.intro_beta_for` (image_size)) and ``margin``.
"""
from __future__ import annotations

from typing import Dict, List

import torch

from .. import config, losses
from .base import Objective, OptimizerSpec, StepContext

__all__ = ["IntroVAEObjective"]


class IntroVAEObjective(Objective):
    """L_E for the encoder and L_G for the generator (:func:`waelib.losses.intro_vae_encoder_loss`,
    :func:`waelib.losses.intro_vae_generator_loss`)."""

    name = "intro_vae"
    lr = config.INTRO_LR
    disc_lr = config.INTRO_LR          # the generator's (decoder's) rate
    betas = tuple(config.INTRO_BETAS)
    options = ("alpha", "beta", "margin")

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
        g_terms = losses.intro_vae_generator_loss(kl_g[0], kl_g[1], recon, alpha=alpha, beta=beta)
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
