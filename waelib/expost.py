"""Ex-post density sampling (seed 004, the RAE + GMM row of its Table 3) and the latent-code
measures of seed 004's Table 2 (NAC, active dimensions m_A).

After training, fit a density to the TRAINING codes of any model and decode draws from it
instead of draws from the prior (Ghosh et al., "From variational to deterministic
auto-encoders", the "+ GMM" rows quoted by seed 004; SPEC §7):

- :func:`fit_gmm` -- a scikit-learn ``GaussianMixture`` (default: 10 components, full
  covariance, as the RAE paper) fitted in float64 to (N, d) codes;
- :class:`GaussianMixtureSampler` -- its weights, means and Cholesky factors as torch float64
  tensors; ``sample`` draws in torch from a ``torch.Generator`` (so a seeded CPU generator gives
  the same codes on any machine, unlike sklearn's ``sample``, which uses numpy's global state),
  ``log_prob`` and JSON-able ``to_dict`` / ``from_dict``;
- :class:`ExPostModel` -- a trained model whose ``sample_prior`` draws from the GMM; it works
  unchanged with :func:`waelib.evaluate.generate` and :func:`waelib.evaluate.evaluate_model`;
- :func:`fit_expost` -- encode the training images and fit the GMM, one call;
- :func:`normalized_absolute_correlation` (NAC) and :func:`active_dimensions` (m_A).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .metrics import nac, to_float_images  # nac: the one NAC formula

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


@torch.no_grad()
def latent_codes(model, images: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """The codes ``model.encode(x)`` of (N, 3, S, S) images (uint8 or float in [0, 1]), computed
    in batches on the model's device: an (N, d) float CPU tensor (for a VAE, the means)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        x = to_float_images(images[i:i + batch_size]).to(device)
        out.append(model.encode(x).float().cpu())
    return torch.cat(out) if out else torch.empty(0)


def _as_codes(codes: Any, what: str = "codes") -> torch.Tensor:
    """(N, d) float64 CPU tensor; ValueError for any other shape or for non-finite entries."""
    z = torch.as_tensor(codes).detach().to("cpu", torch.float64)
    if z.dim() != 2:
        raise ValueError(f"{what} must be a 2-D (N, d) tensor, got shape {tuple(z.shape)}")
    bad = ~torch.isfinite(z)
    if bad.any():
        raise ValueError(
            f"{what} contain {int(bad.sum())} non-finite values (NaN/inf) in "
            f"{int(bad.any(1).sum())} of {len(z)} rows: the model's encoder diverged; retrain it "
            f"or drop those rows (codes[torch.isfinite(codes).all(1)]) before fitting")
    return z


def _full_covariances(covariances: np.ndarray, covariance_type: str, k: int, d: int) -> torch.Tensor:
    """sklearn's ``covariances_`` of any ``covariance_type`` as (K, d, d) float64."""
    c = torch.as_tensor(np.asarray(covariances), dtype=torch.float64)
    if covariance_type == "full":
        return c.reshape(k, d, d)
    if covariance_type == "tied":
        return c.reshape(1, d, d).expand(k, d, d).clone()
    if covariance_type == "diag":
        return torch.diag_embed(c.reshape(k, d))
    return c.reshape(k, 1, 1) * torch.eye(d, dtype=torch.float64)  # spherical


@dataclass(eq=False)
class GaussianMixtureSampler:
    """A fitted Gaussian mixture p(z) = sum_k w_k N(z; mu_k, L_k L_k^T), held as torch tensors.

    Attributes:
        weights: (K,) float64, summing to 1.
        means: (K, d) float64.
        scale_tril: (K, d, d) float64 lower-triangular Cholesky factors L_k of the covariances.
        settings: the fit's settings (n_components, covariance_type, seed, reg_covar, max_iter)
            and outcome (converged, n_iter, n_train).
        train_log_likelihood: mean log p(z) over the training codes (nats per code).
        estimator: the sklearn ``GaussianMixture`` when fitted here (None after ``from_dict``).
    """

    weights: torch.Tensor
    means: torch.Tensor
    scale_tril: torch.Tensor
    settings: Dict[str, Any] = field(default_factory=dict)
    train_log_likelihood: float = float("nan")
    estimator: Any = field(default=None, repr=False)

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    @property
    def latent_dim(self) -> int:
        return int(self.means.shape[1])

    @property
    def covariances(self) -> torch.Tensor:
        """(K, d, d) float64: L_k L_k^T."""
        return self.scale_tril @ self.scale_tril.transpose(-1, -2)

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """n draws: (n, d) float32, on the generator's device (the CPU without one).

        The component of each draw comes from ``torch.multinomial(weights, n)``, then
        ``z = mu_k + L_k eps`` with ``eps ~ N(0, I)`` (n, d) drawn in one call, both from
        ``generator``: a seeded CPU generator gives the same draws on any machine.
        """
        dev = generator.device if generator is not None else torch.device("cpu")
        w, mu, L = (t.to(dev) for t in (self.weights, self.means, self.scale_tril))
        if n <= 0:
            return torch.empty(0, self.latent_dim, device=dev)
        comp = torch.multinomial(w, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.latent_dim, generator=generator, device=dev, dtype=torch.float64)
        z = torch.empty_like(eps)
        for k in range(self.n_components):  # per component: no (n, d, d) gather
            idx = comp == k
            z[idx] = mu[k] + eps[idx] @ L[k].T
        return z.float()

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for (N, d) codes: (N,) float64 (equals sklearn's ``score_samples``)."""
        z = torch.as_tensor(z).detach().to("cpu", torch.float64)
        logdet = torch.log(torch.diagonal(self.scale_tril, dim1=-2, dim2=-1)).sum(-1)  # (K,)
        comp = torch.empty(self.n_components, len(z), dtype=torch.float64)            # (K, N)
        for k in range(self.n_components):  # per component: no (K, N, d, d) broadcast
            sol = torch.linalg.solve_triangular(self.scale_tril[k], (z - self.means[k]).T,
                                                upper=False)                         # (d, N)
            comp[k] = -0.5 * sol.pow(2).sum(0) - logdet[k]
        comp -= 0.5 * self.latent_dim * math.log(2 * math.pi)
        return torch.logsumexp(comp + torch.log(self.weights)[:, None], dim=0)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-able provenance: weights (K,), means (K, d) and covariances (K, d, d) as
        nested lists, plus settings and train log-likelihood (K * d^2 numbers: about 40k
        for the WAE's d = 64, 2.6M for the VAE's d = 512)."""
        return {"kind": "gaussian_mixture", "weights": self.weights.tolist(),
                "means": self.means.tolist(), "covariances": self.covariances.tolist(),
                "settings": dict(self.settings), "train_log_likelihood": self.train_log_likelihood}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "GaussianMixtureSampler":
        """Inverse of :meth:`to_dict` (no sklearn estimator attached)."""
        cov = torch.tensor(data["covariances"], dtype=torch.float64)
        return cls(weights=torch.tensor(data["weights"], dtype=torch.float64),
                   means=torch.tensor(data["means"], dtype=torch.float64),
                   scale_tril=torch.linalg.cholesky(cov), settings=dict(data.get("settings", {})),
                   train_log_likelihood=float(data.get("train_log_likelihood", float("nan"))))


def fit_gmm(codes: torch.Tensor, n_components: int = 10, covariance_type: str = "full",
            seed: int = 0, reg_covar: float = 1e-6, max_iter: int = 200) -> GaussianMixtureSampler:
    """Fit sklearn's ``GaussianMixture`` to (N, d) codes, in float64.

    ``reg_covar`` is sklearn's: an ABSOLUTE ridge added to every covariance diagonal, in code
    units; it keeps constant (masked) or collapsed dimensions positive definite and gives them
    a standard deviation of about sqrt(reg_covar) in the draws. ``seed`` is sklearn's
    ``random_state`` (k-means initialisation), so the fit is deterministic.
    Raises ValueError for non-finite codes, N < n_components or an unknown covariance_type.
    """
    # deferred: scikit-learn is slow to import and only this function needs it
    from sklearn.mixture import GaussianMixture

    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"unknown covariance_type {covariance_type!r}; valid: "
                         f"{', '.join(COVARIANCE_TYPES)}")
    z = _as_codes(codes)
    n, d = z.shape
    if n_components < 1 or n < n_components:
        raise ValueError(f"a {n_components}-component mixture needs at least {n_components} codes "
                         f"(and n_components >= 1), got {n}; pass more images or fewer components")
    gm = GaussianMixture(n_components=n_components, covariance_type=covariance_type,
                         reg_covar=reg_covar, max_iter=max_iter, random_state=seed)
    x = z.numpy()
    gm.fit(x)
    settings = {"n_components": n_components, "covariance_type": covariance_type, "seed": seed,
                "reg_covar": reg_covar, "max_iter": max_iter, "converged": bool(gm.converged_),
                "n_iter": int(gm.n_iter_), "n_train": int(n), "latent_dim": int(d),
                "fit_dtype": "float64", "library": "sklearn.mixture.GaussianMixture"}
    cov = _full_covariances(gm.covariances_, covariance_type, n_components, d)
    return GaussianMixtureSampler(
        weights=torch.as_tensor(gm.weights_, dtype=torch.float64),
        means=torch.as_tensor(gm.means_, dtype=torch.float64).reshape(n_components, d),
        scale_tril=torch.linalg.cholesky(cov), settings=settings,
        train_log_likelihood=float(gm.score(x)), estimator=gm)


class ExPostModel(nn.Module):
    """A trained model whose ``sample_prior`` draws from a fitted density of its codes.

    Same interface as :class:`waelib.models.AutoEncoder`: ``encode``, ``decode``,
    ``reconstruct`` and ``forward`` are the wrapped model's; ``name`` is
    ``"<model.name>+gmm"``; ``latent_dim``, ``image_size`` and ``prior_sigma2`` (the
    wrapped model's training prior, unused here) are copied.
    """

    def __init__(self, model: nn.Module, sampler: GaussianMixtureSampler, suffix: str = "gmm"):
        super().__init__()
        if sampler.latent_dim != model.latent_dim:
            raise ValueError(f"the sampler's codes are {sampler.latent_dim}-d, the model's "
                             f"{model.latent_dim}-d")
        self.model = model
        self.sampler = sampler
        self.name = f"{getattr(model, 'name', type(model).__name__)}+{suffix}"
        self.latent_dim = model.latent_dim
        self.image_size = getattr(model, "image_size", None)
        self.prior_sigma2 = getattr(model, "prior_sigma2", None)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) -> (N, d): the wrapped model's codes (posterior mean for a VAE)."""
        return self.model.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(N, d) -> (N, 3, S, S) in [0, 1]."""
        return self.model.decode(z)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) -> (N, 3, S, S)."""
        return self.model.reconstruct(x)

    def forward(self, x: torch.Tensor):
        return self.model(x)

    def sample_prior(self, n: int, generator: Optional[torch.Generator] = None,
                     device: Optional[torch.device] = None) -> torch.Tensor:
        """n GMM draws (n, d) float32, drawn on the generator's device, moved to ``device``
        (default: the model's)."""
        device = device or next(self.model.parameters()).device
        return self.sampler.sample(n, generator=generator).to(device)

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Decode n GMM draws: (n, 3, S, S) in [0, 1]."""
        return self.decode(self.sample_prior(n, generator))


def fit_expost(model: nn.Module, images: torch.Tensor, *, n_components: int = 10, seed: int = 0,
               batch_size: int = 256, covariance_type: str = "full", reg_covar: float = 1e-6,
               max_iter: int = 200, max_codes: Optional[int] = None) -> ExPostModel:
    """Encode the TRAINING images (N, 3, S, S) (uint8 or float; a VAE's posterior means) and
    fit a GMM to the codes (:func:`fit_gmm`). ``max_codes`` fits on a seeded random subset
    (full-covariance EM costs O(N K d^2) per iteration: large for the VAE's d = 512)."""

    if max_codes is not None and len(images) > max_codes:
        keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:max_codes]
        images = images[keep.sort().values]
    codes = latent_codes(model, images, batch_size=batch_size)
    sampler = fit_gmm(codes, n_components=n_components, covariance_type=covariance_type,
                      seed=seed, reg_covar=reg_covar, max_iter=max_iter)
    return ExPostModel(model, sampler)


def active_mask(codes: torch.Tensor, rel_threshold: float = 1e-3) -> torch.Tensor:
    """(d,) bool: dimensions whose standard deviation over the N codes exceeds
    ``rel_threshold`` times the largest one (all False when every dimension is constant)."""
    z = _as_codes(codes)
    std = z.std(0, unbiased=False) if len(z) > 1 else torch.zeros(z.shape[1], dtype=torch.float64)
    top = float(std.max()) if std.numel() else 0.0
    return (std > rel_threshold * top) & (std > 0)


def active_dimensions(codes: torch.Tensor, rel_threshold: float = 1e-3) -> int:
    """m_A of seed 004 (Table 2, "the number of unmasked latent dimensions"), for any model:
    our operational definition is the number of dimensions of the (N, d) codes whose standard
    deviation exceeds ``rel_threshold`` times the largest one (:func:`active_mask`). For a
    MaskAAE the masked dimensions are exactly zero and never count."""
    return int(active_mask(codes, rel_threshold).sum())


def normalized_absolute_correlation(codes: torch.Tensor,
                                    active: Optional[Sequence[bool]] = None) -> float:
    """NAC of seed 004, Table 2: the mean of |corr(z_i, z_j)| over the ordered pairs i != j of
    the ACTIVE dimensions of (N, d) codes (Pearson correlation, float64).

    Dimensions taken: those of the ``active`` mask (d,) when given (for MaskAAE, whose sigmoid
    gates never reach exactly 0, pass ``model.mask() > 0.5``; otherwise :func:`active_mask`),
    and always excluding the constant ones -- a dimension is constant, and dropped, when all
    its N values are identical (max == min), as a hard-masked one is; its correlation is
    undefined. (:func:`waelib.metrics.nac` instead keeps constant
    dimensions with correlation 0, which dilutes the mean; on codes without constant
    dimensions the two agree.) Near 0 for independent dimensions (about sqrt(2/(pi N)) from
    sampling noise), 1 for perfectly (anti-)correlated ones. ValueError if fewer than two
    dimensions remain or N < 2.
    """
    z = _as_codes(codes)
    keep = z.amax(0) > z.amin(0) if len(z) else torch.zeros(z.shape[1], dtype=torch.bool)
    if active is not None:
        mask = torch.as_tensor(active, dtype=torch.bool).flatten()
        if mask.numel() != z.shape[1]:
            raise ValueError(f"active mask has {mask.numel()} entries, codes have {z.shape[1]} "
                             f"dimensions")
        keep &= mask
    m = int(keep.sum())
    if m < 2 or len(z) < 2:
        raise ValueError(f"NAC needs N >= 2 codes and at least 2 non-constant active dimensions, "
                         f"got N={len(z)} and {m} of {z.shape[1]}")
    return nac(z[:, keep])
