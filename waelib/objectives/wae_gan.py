"""The WAE-GAN's objective: thesis Algorithm 2 (§2.2, §4.3.2, §4.3.4).

Used by ``wae_gan`` and ``wae_resnet``. Per batch, first ONE discriminator step on
:func:`waelib.losses.discriminator_loss` (prior codes against the detached data codes), then ONE
auto-encoder step on :func:`waelib.losses.wae_gan_loss`, scored by the updated discriminator.
Two Adam optimisers: the auto-encoder's (``"ae"``, lr 3e-4) and the discriminator's
(``"disc"``, lr 1e-3), both beta1 0.5.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

from .. import config, losses
from .base import Objective, OptimizerSpec, StepContext

__all__ = ["AutoEncoderCore", "WAEGANObjective"]


class AutoEncoderCore(nn.Module):
    """Holds only the encoder and decoder of a WAE-GAN so that DDP syncs exactly the
    auto-encoder's gradients; ``forward`` is the model's own ``forward`` (dict x_hat, z)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.encoder = model.encoder
        self.decoder = model.decoder
        object.__setattr__(self, "_model", model)  # not registered: no discriminator params

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(N, 3, S, S) -> the model's dict (``x_hat`` (N, 3, S, S), ``z`` (N, d))."""
        return self._model(x)


class WAEGANObjective(Objective):
    """Algorithm 2: the adversary's step, then the auto-encoder's."""

    name = "wae_gan"
    lr = config.WAE_AE_LR
    disc_lr = config.WAE_DISC_LR
    betas = (config.WAE_BETA1, 0.999)

    def autoencoder_groups(self) -> list:
        """The auto-encoder optimiser's parameters: everything but the discriminator's."""
        disc_ids = {id(p) for p in self.model.discriminator.parameters()}
        return [p for p in self.model.parameters() if id(p) not in disc_ids]

    def optimizers(self) -> Dict[str, OptimizerSpec]:
        return {"ae": OptimizerSpec(self.autoencoder_groups(), "lr"),
                "disc": OptimizerSpec(list(self.model.discriminator.parameters()), "disc_lr")}

    def forward_module(self) -> nn.Module:
        return AutoEncoderCore(self.model)

    def adversary(self) -> Optional[nn.Module]:
        return self.model.discriminator

    def extra_terms(self, terms: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Hook for subclasses: terms added to the auto-encoder's loss (MaskAAE's mask)."""
        return terms

    def training_step(self, ctx: StepContext, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Algorithm 2 on x (n, 3, S, S): one discriminator step, then one auto-encoder step."""
        n, lam = x.shape[0], self.lam_kwargs()
        with ctx.autocast():
            out = ctx.fwd(x)                                    # z~ = Q(x), x^ = G(z~)
        z_q = out["z"]
        z_p = self.model.sample_prior(n, device=ctx.device)     # z ~ P_Z = N(0, 2 I)
        # (1) discriminator step: one forward over [z_p; z~.detach()] (one DDP pass).
        with ctx.autocast():
            logits = ctx.disc_fwd(torch.cat([z_p.detach().to(z_q.dtype), z_q.detach()]))
        logits_p, logits_q = logits.float().split(n)
        d_loss = losses.discriminator_loss(logits_p, logits_q, **lam)
        ctx.minimise("disc", d_loss)
        # (2) auto-encoder step, scored by the updated discriminator. The plain module is
        # used (no DDP sync of the discriminator grads it leaves; they are cleared above).
        with ctx.autocast():
            logits_ae = self.model.discriminator(z_q)
        terms = losses.wae_gan_loss(x, out["x_hat"].float(), logits_ae.float(),
                                    recon_scale=self.recon_scale(), **lam)
        terms = self.extra_terms(terms)
        ctx.minimise("ae", terms["loss"])
        return dict(terms, disc_loss=d_loss)
