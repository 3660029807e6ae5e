"""VAE + Flow (seed 004 Table 1 / Table 3, its reference [8]): a VAE whose posterior is an
inverse autoregressive flow (IAF; Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling,
"Improved variational inference with inverse autoregressive flow", NeurIPS 2016, arXiv 1606.04934).

The posterior (the paper's §4 and its Algorithm 1): the encoder gives [mu, log sigma^2, h](x),
h a context vector, and

    z_0 = mu + sigma * eps,                    eps ~ N(0, I),
    z_t = f_t(z_{t-1}; h),  t = 1..T,          f_t affine and autoregressive:
    z_{t,i} = exp(a_{t,i}) z_{t-1,i} + b_{t,i},   (a_t, b_t)_i = MADE_t(z_{t-1,<i}, h),

    log q(z_T|x) = log N(z_0; mu, sigma^2) - sum_t log|det dz_t/dz_{t-1}|
                 = -sum_i (eps_i^2 / 2 + log(2 pi) / 2 + log sigma_i) - sum_t sum_i a_{t,i}.

Each Jacobian is triangular in step t's variable order, so its log-determinant is sum_i a_{t,i}.
The KL term is the single-sample estimate log q(z_T|x) - log p(z_T), p = N(0, prior_sigma2 I),
and the loss the thesis VAE's (§2.1): ||x - G(z_T)||^2 / (2 sigma_G^2) + that estimate, one
Adam optimiser at the VAE's rate. Samples decode prior draws (p is still N(0, I)); ``encode(x)``
is the flow applied to z_0 = mu(x) (eps = 0), the code the decoder was trained around.

What comes from where:

- the posterior, log q(z_T|x) and the single-sample KL: the paper's §4 and Algorithm 1, and the
  official code openai/iaf, ``tf_train.py`` ``IAFLayer.down``: ``z = (z - arw_mean) /
  tf.exp(arw_logsd)``; ``logqs += arw_logsd``; ``kl_cost = logqs - logps`` (the same step in
  Theano, ``models.py``, posterior ``up_iaf2_nl``). That code's step is the affine map with a
  free positive scale, the one zuko's :class:`~zuko.transforms.MonotonicAffineTransform` makes
  (y = exp(a) x + b); the paper's gated form sigma z + (1 - sigma) m is not used by either.
- the autoregressive network: two hidden layers with ELU and the context entering the first
  layer (openai/iaf ``tf_utils/layers.py`` ``ar_multiconv2d``: ``[h_size, h_size]`` hidden,
  ``if i == 0: x += context``, ``nl=tf.nn.elu``); a step starts near the identity
  (``arw_mean, arw_logsd = x[0] * 0.1, x[1] * 0.1``): here the last layer's initial weights
  are multiplied by 0.1 and its bias set to 0.
- the flow itself: zuko 1.6, ``zuko/flows/autoregressive.py``
  :class:`~zuko.flows.autoregressive.MaskedAutoregressiveTransform` (a MADE hyper-network,
  :class:`zuko.nn.MaskedMLP`) composed with :class:`zuko.lazy.LazyComposedTransform`, orders
  alternating ascending / descending as ``zuko.flows.MAF`` does. Its *forward* call computes
  (a, b) from its own input, one network pass (``AutoregressiveTransform._call`` =
  ``meta(x)(x)``), with the log-determinant from ``call_and_ladj``; its ``.inv`` costs
  ``passes`` = d sequential passes. A MAF uses forward for densities of data; an IAF is that
  transform run the other way round (zuko discussion #72: ``Flow(maf.transform.inv, base)``),
  so the IAF's sampling direction z_0 -> z_T is the transform's forward, the cheap one, which is
  all training and encoding need. Only the tests call ``.inv``.

The paper's own text was not in the stored corpora: its equations are cited as published
(arXiv 1606.04934; the gated form and its forget-gate-like bias also as a search excerpt of
jaanli/variational-autoencoder ``flow.py`` quotes them, "Eq 11-14"); the statements about
openai/iaf and zuko were checked in their code.

Departures (the thesis' VAE networks, the Gaussian decoder instead of the discretised logistic,
no free bits, T = 2, the sizes) are in ``docs/deviations_parts/vae_flow.md``.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
from torch import nn
from zuko.flows.autoregressive import MaskedAutoregressiveTransform
from zuko.lazy import LazyComposedTransform

from .. import config, losses
from ..blocks import VAEDecoder, VAEEncoder
from ..models import VAE
from .vae import VAEObjective

__all__ = ["IAFVAE", "VAEFlowObjective", "build", "OVERRIDES", "iaf_flow", "gaussian_log_density", "flow_kl_terms",
           "FLOW_STEPS", "FLOW_INIT_SCALE"]

#: The keyword arguments :func:`waelib.registry.build_model` accepts for this model.
OVERRIDES: Tuple[str, ...] = ("prior_sigma2", "flow_steps", "flow_hidden", "context_dim")

#: Number T of IAF steps. Our choice for the CPU scale (the paper compares several depths; a
#: second step lets the orders alternate, so the composed map is no longer triangular).
FLOW_STEPS: int = 2
#: Hidden width of each step's MADE, as a multiple of the latent size d (our choice: 2d, so that
#: every one of the d input degrees has hidden units; 128 for the study's d = 64).
FLOW_HIDDEN_PER_DIM: int = 2
#: Initial scale of each MADE's last layer: openai/iaf multiplies its outputs by 0.1 so that a
#: step starts near the identity (tf_train.py ``x[0] * 0.1, x[1] * 0.1``).
FLOW_INIT_SCALE: float = 0.1
LOG_2PI: float = math.log(2.0 * math.pi)


def iaf_flow(latent_dim: int, context_dim: int, steps: int, hidden: int) -> LazyComposedTransform:
    """T = ``steps`` zuko masked autoregressive affine steps on d = ``latent_dim`` features with a
    ``context_dim`` context, each a MADE with two ELU hidden layers of ``hidden`` units (openai/iaf
    ``ar_multiconv2d``), orders alternating ascending / descending (``zuko.flows.MAF``). Calling
    it with a context h (N, c) gives a transform whose ``call_and_ladj(z_0)`` returns
    (z_T (N, d), sum_t log|det dz_t/dz_{t-1}| (N,)) in one pass per step."""
    orders = (torch.arange(latent_dim), torch.arange(latent_dim).flip(0))
    made = [MaskedAutoregressiveTransform(latent_dim, context_dim, order=orders[t % 2],
                                          hidden_features=(hidden, hidden), activation=nn.ELU)
            for t in range(steps)]
    for step in made:
        last = step.hyper[-1]
        with torch.no_grad():
            last.weight.mul_(FLOW_INIT_SCALE)
            last.bias.zero_()
    return LazyComposedTransform(*made)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag exp(logvar)) summed over the last axis: z, mean, logvar broadcast to
    (N, d); returns (N,) nats (-1/2 sum_i ((z_i - m_i)^2 / s_i^2 + log 2 pi + log s_i^2))."""
    logvar = torch.as_tensor(logvar, dtype=z.dtype, device=z.device).expand_as(z)
    return -0.5 * ((z - mean).pow(2) * torch.exp(-logvar) + LOG_2PI + logvar).sum(dim=-1)


class IAFVAE(VAE):
    """The thesis' VAE (§4.3.1) with an IAF posterior: the dense head also gives the context h,
    and ``flow`` (:func:`iaf_flow`) carries z_0 to z_T.

    Args (beyond :class:`waelib.models.VAE`'s):
        flow_steps: T (0: no flow, the VAE with a single-sample KL).
        flow_hidden: MADE hidden width (None: 2 * latent_dim).
        context_dim: size c of h (None: latent_dim).
    """

    def __init__(self, name: str, trunk: nn.Module, trunk_features: int, decoder: nn.Module,
                 latent_dim: int, image_size: int, prior_sigma2: float = config.VAE_PRIOR_SIGMA2, *,
                 flow_steps: int = FLOW_STEPS, flow_hidden: Optional[int] = None,
                 context_dim: Optional[int] = None):
        super().__init__(name, trunk, trunk_features, decoder, latent_dim, image_size, prior_sigma2)
        if flow_steps < 0:
            raise ValueError(f"flow_steps must be >= 0, got {flow_steps}")
        self.context_dim = int(context_dim or latent_dim)
        self.flow_hidden = int(flow_hidden or FLOW_HIDDEN_PER_DIM * latent_dim)
        self.flow_steps = int(flow_steps)
        # The Gaussian head of VAE, widened to [mu, log sigma^2, h] (Algorithm 1's EncoderNN).
        self.encoder[-1] = nn.Linear(trunk_features, 2 * latent_dim + self.context_dim)
        self.flow = iaf_flow(latent_dim, self.context_dim, self.flow_steps, self.flow_hidden)

    def encode_posterior(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, 3, S, S) -> (mu, logvar, h): (N, d), (N, d), (N, c)."""
        d = self.latent_dim
        out = self.encoder(x)
        return out[:, :d], out[:, d:2 * d], out[:, 2 * d:]

    def encode_stats(self, x: torch.Tensor):
        """(mu, logvar) of the base Gaussian q(z_0|x), each (N, d)."""
        return self.encode_posterior(x)[:2]

    def transform(self, z0: torch.Tensor, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The flow z_0 (N, d) -> z_T (N, d) with context h (N, c), and sum_t log|det dz_t/dz_{t-1}|
        (N,). Run in float32 (at least) outside autocast: the log-determinant is a sum of T * d
        log-scales that bf16 would round."""
        dtype = torch.promote_types(z0.dtype, torch.float32)
        if self.flow_steps == 0:
            return z0.to(dtype), z0.new_zeros(z0.shape[0], dtype=dtype)
        with torch.autocast(z0.device.type, enabled=False):
            return self.flow(h.to(dtype)).call_and_ladj(z0.to(dtype))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The flow applied to z_0 = mu(x) (eps = 0): (N, d). Each coordinate of z_T is monotone
        in its own eps_i given the earlier ones, so this is the posterior's conditional median."""
        mu, _, h = self.encode_posterior(x)
        return self.transform(mu, h)[0]

    def posterior_sample(self, mu: torch.Tensor, logvar: torch.Tensor,
                         h: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One reparameterised draw of q(z_T|x) (Algorithm 1 of the paper): eps ~ N(0, I),
        z_0 = mu + sigma eps, z_T = flow(z_0; h). mu, logvar (N, d), h (N, c).

        Returns ``z`` = z_T and ``z0`` (N, d), ``log_det`` (N,), ``log_q`` = log q(z_T|x) =
        log N(z_0; mu, sigma^2) - log_det and ``log_p`` = log p(z_T) (N,).
        """
        eps = torch.randn_like(mu)
        z0 = mu + torch.exp(0.5 * logvar) * eps
        z, log_det = self.transform(z0, h)
        log_q = gaussian_log_density(eps.to(log_det.dtype), 0.0, 0.0) \
            - 0.5 * logvar.to(log_det.dtype).sum(dim=1) - log_det
        log_p = gaussian_log_density(z, 0.0, math.log(self.prior_sigma2))
        return {"z": z, "z0": z0, "log_det": log_det, "log_q": log_q, "log_p": log_p}

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Encode, :meth:`posterior_sample`, decode z_T: its dict plus ``x_hat`` (N, 3, S, S),
        ``mu`` and ``logvar`` (N, d)."""
        mu, logvar, h = self.encode_posterior(x)
        out = self.posterior_sample(mu, logvar, h)
        return dict(out, x_hat=self.decode(out["z"].to(mu.dtype)), mu=mu, logvar=logvar)


def build(image_size: int, latent_dim: int, width: float, prior_sigma2: float, *,
          flow_steps: int = FLOW_STEPS, flow_hidden: Optional[int] = None,
          context_dim: Optional[int] = None) -> IAFVAE:
    """The model's builder: the VAE conv trunk and decoder of §4.3.1 (``vae_builder``'s), an IAF
    posterior of ``flow_steps`` steps (overrides ``flow_steps``, ``flow_hidden``, ``context_dim``)."""
    trunk = VAEEncoder(image_size=image_size, width=width)
    decoder = VAEDecoder(latent_dim, image_size=image_size, width=width)
    return IAFVAE("vae_flow", trunk, trunk.out_features, decoder, latent_dim, image_size, prior_sigma2,
                  flow_steps=flow_steps, flow_hidden=flow_hidden, context_dim=context_dim)


def flow_kl_terms(x: torch.Tensor, out: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The negative ELBO of one batch with the flow's single-sample KL: x (N, 3, S, S), ``out``
    the model's forward dict. ``recon`` = mean ||x - x^||^2 / (2 sigma_G^2) (the thesis VAE's,
    :func:`waelib.losses.vae_loss`), ``kl`` = mean (log q(z_T|x) - log p(z_T)), ``log_det`` =
    mean sum_t log|det|, ``kl_base`` = mean closed-form KL of q(z_0|x) to N(0, I) (a reading,
    not minimised; equal in expectation to ``kl`` when the flow is the identity)."""
    dtype = torch.promote_types(x.dtype, torch.float32)
    base = losses.vae_loss(x, out["x_hat"].to(dtype), out["mu"].to(dtype), out["logvar"].to(dtype))
    kl = (out["log_q"] - out["log_p"]).to(dtype).mean()
    return {"loss": base["recon"] + kl, "recon": base["recon"], "kl": kl, "sq_error": base["sq_error"],
            "log_det": out["log_det"].to(dtype).mean(), "kl_base": base["kl"]}


class VAEFlowObjective(VAEObjective):
    """The negative ELBO with an IAF posterior (:func:`flow_kl_terms`); the VAE's optimiser,
    learning rate and betas (one Adam over every parameter, the flow's included)."""

    name = "vae_flow"

    def elbo_terms(self, x: torch.Tensor, out: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """:func:`flow_kl_terms`."""
        return flow_kl_terms(x, out)
