"""Small models whose answers are known in closed form, for the derivation notebooks.

Notebook 01 (ELBO, thesis §2.1):

- :class:`LinearGaussian` -- z ~ N(0, I_k), x | z ~ N(W z + b, s^2 I_d). Its evidence
  log p(x) and its posterior p(z | x) are Gaussian and exact, so ELBO + KL(q || p(z|x)) =
  log p(x) can be checked for any Gaussian q, and the gap closes at the posterior.
- :func:`kl_gaussians` (full covariances), :func:`gaussian_kl_mc` (Monte Carlo version of
  :func:`waelib.losses.gaussian_kl`), :func:`reparam_grad` / :func:`score_function_grad` /
  :func:`quadratic_expectation_grad` (the reparameterisation trick against the closed form).

Notebook 02 (WAE objective, thesis §2.2):

- :func:`ot_1d_sorted`, :func:`ot_brute_force`, :func:`ot_linprog` -- optimal transport between
  empirical measures three ways (quantile coupling, all permutations, Kantorovich's linear
  programme).
- :func:`mmd_biased` -- the V-statistic, to contrast with the unbiased
  :func:`waelib.losses.mmd`.
- :func:`js_divergence_1d` -- Jensen-Shannon divergence of two 1-D densities by quadrature
  (what the optimal GAN discriminator measures).
- :class:`GridMixture` and :func:`encoder_toys` -- a 2-D data set of 4 separated clusters and
  three encoders whose per-sample posteriors and aggregate posterior differ, to show what the
  VAE's KL and the WAE's D_Z(Q_Z, P_Z) each penalise.
- :class:`LinearGaussianEncoder` -- Gaussian data and a linear-Gaussian encoder, where
  E_x KL(q(z|x) || p(z)) = I(X; Z) + KL(Q_Z || P_Z) holds with every term in closed form.
- :func:`penalised_wae_lp`, :func:`penalised_wae_deterministic` (and its ``_path`` over many
  lambdas) -- the relaxed objective D_WAE
  on discrete measures (L1 penalty) over all encoders and over deterministic ones, against W_c.
- :func:`gan_encoder_gradients_1d`, :func:`kl_gaussians_1d` -- what the saturating and the
  non-saturating (-log D) encoder losses descend, at the optimal discriminator.

All tensors are float64 unless stated otherwise.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import config
from ..losses import kernel_values, sq_distances

LOG2PI = math.log(2 * math.pi)
DT = torch.float64


# --------------------------------------------------------------------------------------
# Gaussians
# --------------------------------------------------------------------------------------
def mvn_logpdf(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, cov) for x (..., d); cov (d, d)."""
    d = mean.shape[-1]
    L = torch.linalg.cholesky(cov)
    diff = (x - mean).unsqueeze(-1)
    sol = torch.linalg.solve_triangular(L, diff.reshape(-1, d).T, upper=False).T
    maha = sol.pow(2).sum(-1).reshape(x.shape[:-1])
    logdet = 2 * torch.log(torch.diagonal(L)).sum()
    return -0.5 * (d * LOG2PI + logdet + maha)


def kl_gaussians(m1: torch.Tensor, S1: torch.Tensor, m2: torch.Tensor, S2: torch.Tensor) -> torch.Tensor:
    """KL(N(m1, S1) || N(m2, S2)) = 1/2 [tr(S2^-1 S1) + (m2-m1)' S2^-1 (m2-m1) - k + log det S2/det S1]."""
    k = m1.shape[-1]
    S2inv = torch.linalg.inv(S2)
    dm = (m2 - m1)
    return 0.5 * (torch.trace(S2inv @ S1) + dm @ S2inv @ dm - k
                  + torch.logdet(S2) - torch.logdet(S1))


def gaussian_entropy(S: torch.Tensor) -> torch.Tensor:
    """H(N(m, S)) = 1/2 log det(2 pi e S)."""
    k = S.shape[-1]
    return 0.5 * (k * (1 + LOG2PI) + torch.logdet(S))


@dataclass
class LinearGaussian:
    """z ~ N(0, I_k); x | z ~ N(W z + b, s2 I_d). Everything below is exact.

    - evidence: x ~ N(b, W W' + s2 I), so log p(x) is a Gaussian log-density;
    - posterior: p(z | x) = N(mu_post, S_post), S_post = (I + W'W / s2)^-1,
      mu_post = S_post W'(x - b) / s2;
    - ELBO of q = N(m, S): E_q[log p(x|z)] + E_q[log p(z)] + H(q), each term in closed form.
    """

    W: torch.Tensor      # (d, k)
    b: torch.Tensor      # (d,)
    s2: float

    @classmethod
    def random(cls, d: int = 5, k: int = 2, s2: float = 0.5, seed: int = 0) -> "LinearGaussian":
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(d, k, generator=g, dtype=DT)
        b = torch.randn(d, generator=g, dtype=DT)
        return cls(W, b, float(s2))

    @property
    def d(self) -> int:
        return self.W.shape[0]

    @property
    def k(self) -> int:
        return self.W.shape[1]

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """n draws of (x, z) from the generative process: x (n, d), z (n, k)."""
        z = torch.randn(n, self.k, generator=generator, dtype=DT)
        eps = torch.randn(n, self.d, generator=generator, dtype=DT)
        return z @ self.W.T + self.b + math.sqrt(self.s2) * eps, z

    def evidence_cov(self) -> torch.Tensor:
        return self.W @ self.W.T + self.s2 * torch.eye(self.d, dtype=DT)

    def log_evidence(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = log N(x; b, W W' + s2 I), x (d,) or (n, d)."""
        return mvn_logpdf(x, self.b, self.evidence_cov())

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) for z (..., k): -(d/2) log(2 pi s2) - ||x - Wz - b||^2 / (2 s2)."""
        r = x - (z @ self.W.T + self.b)
        return -0.5 * (self.d * math.log(2 * math.pi * self.s2) + r.pow(2).sum(-1) / self.s2)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * (self.k * LOG2PI + z.pow(2).sum(-1))

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.log_likelihood(x, z) + self.log_prior(z)

    def posterior(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(mu_post (k,), S_post (k, k)) of p(z | x) for one x (d,)."""
        S = torch.linalg.inv(torch.eye(self.k, dtype=DT) + self.W.T @ self.W / self.s2)
        return S @ self.W.T @ (x - self.b) / self.s2, S

    def expected_log_likelihood(self, x: torch.Tensor, m: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        """E_{N(m,S)}[log p(x|z)] = -(d/2) log 2 pi s2 - (||x - Wm - b||^2 + tr(W S W')) / (2 s2)."""
        r = x - self.W @ m - self.b
        return -0.5 * (self.d * math.log(2 * math.pi * self.s2)
                       + (r @ r + torch.trace(self.W @ S @ self.W.T)) / self.s2)

    def elbo(self, x: torch.Tensor, m: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        """ELBO(q) = E_q[log p(x, z)] - E_q[log q(z)] for q = N(m, S), in closed form."""
        e_prior = -0.5 * (self.k * LOG2PI + m @ m + torch.trace(S))
        return self.expected_log_likelihood(x, m, S) + e_prior + gaussian_entropy(S)

    def elbo_per_datapoint(self, x: torch.Tensor, m: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        """The thesis' form ELBO_i = E_q[log p(x_i|z)] - KL(q(z|x_i) || p(z)) (same value)."""
        I = torch.eye(self.k, dtype=DT)  # noqa: E741 (the identity matrix, as in the derivation)
        return self.expected_log_likelihood(x, m, S) - kl_gaussians(m, S, torch.zeros_like(m), I)

    def elbo_mc(self, x: torch.Tensor, m: torch.Tensor, S: torch.Tensor, n: int,
                generator: Optional[torch.Generator] = None) -> Tuple[float, float]:
        """Monte Carlo ELBO: mean and standard error of log p(x, z) - log q(z), z ~ q."""
        L = torch.linalg.cholesky(S)
        z = m + torch.randn(n, self.k, generator=generator, dtype=DT) @ L.T
        w = self.log_joint(x, z) - mvn_logpdf(z, m, S)
        return w.mean().item(), (w.std() / math.sqrt(n)).item()

    def kl_to_posterior(self, x: torch.Tensor, m: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        mp, Sp = self.posterior(x)
        return kl_gaussians(m, S, mp, Sp)


def interpolate_q(m0: torch.Tensor, S0: torch.Tensor, m1: torch.Tensor, S1: torch.Tensor,
                  t: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """A path of Gaussians from q_0 = N(m0, S0) to q_1 = N(m1, S1): means linearly,
    covariances through their Cholesky factors (stays positive definite)."""
    L0, L1 = torch.linalg.cholesky(S0), torch.linalg.cholesky(S1)
    L = (1 - t) * L0 + t * L1
    return (1 - t) * m0 + t * m1, L @ L.T


# --------------------------------------------------------------------------------------
# KL of the VAE, reparameterisation
# --------------------------------------------------------------------------------------
def gaussian_kl_mc(mu: torch.Tensor, logvar: torch.Tensor, n: int,
                   generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo KL(N(mu, diag e^logvar) || N(0, I)) per row of mu (N, d): mean and standard
    error of log q(z) - log p(z) over n draws z ~ q."""
    std = (0.5 * logvar).exp()
    eps = torch.randn(n, *mu.shape, generator=generator, dtype=mu.dtype)
    z = mu + std * eps                                            # (n, N, d)
    log_q = -0.5 * (LOG2PI + logvar + eps.pow(2)).sum(-1)
    log_p = -0.5 * (LOG2PI + z.pow(2)).sum(-1)
    w = log_q - log_p
    return w.mean(0), w.std(0) / math.sqrt(n)


def quadratic_expectation(A: torch.Tensor, c: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """E_{z ~ N(mu, diag sigma^2)}[z'Az + c'z] = mu'A mu + sum_j A_jj sigma_j^2 + c'mu."""
    return mu @ A @ mu + (torch.diagonal(A) * sigma.pow(2)).sum() + c @ mu


def quadratic_expectation_grad(A: torch.Tensor, c: torch.Tensor, mu: torch.Tensor,
                               sigma: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Closed-form gradients of :func:`quadratic_expectation`: d/dmu = (A + A')mu + c,
    d/dsigma_j = 2 A_jj sigma_j."""
    return (A + A.T) @ mu + c, 2 * torch.diagonal(A) * sigma


def reparam_grad(f: Callable[[torch.Tensor], torch.Tensor], mu: torch.Tensor, sigma: torch.Tensor,
                 n: int, generator: Optional[torch.Generator] = None
                 ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reparameterised Monte Carlo gradient of E_{N(mu, diag sigma^2)}[f(z)].

    z = mu + sigma * eps with eps ~ N(0, I) moves the randomness out of the parameters, so
    d/d(mu, sigma) of the sample mean of f(z) is an unbiased gradient estimate (autograd).
    Returns (grad_mu, grad_sigma, per-sample std of grad_mu, per-sample std of grad_sigma).
    """
    mu = mu.detach().clone().requires_grad_(True)
    sigma = sigma.detach().clone().requires_grad_(True)
    eps = torch.randn(n, mu.shape[0], generator=generator, dtype=mu.dtype)
    z = mu + sigma * eps
    vals = f(z)                                                      # (n,)
    # per-sample gradients, to report the estimator's spread
    g_mu, g_sigma = torch.autograd.grad(vals.sum(), (mu, sigma), retain_graph=False)
    # per-sample gradients via the chain rule: df/dz at each z
    zz = z.detach().requires_grad_(True)
    dfdz, = torch.autograd.grad(f(zz).sum(), zz)
    return g_mu / n, g_sigma / n, dfdz.std(0), (dfdz * eps).std(0)


def score_function_grad(f: Callable[[torch.Tensor], torch.Tensor], mu: torch.Tensor,
                        sigma: torch.Tensor, n: int, generator: Optional[torch.Generator] = None
                        ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The score-function (REINFORCE) estimator of the same gradient, for comparison:
    E[f(z) d/dtheta log q(z)], with d/dmu log q = (z - mu)/sigma^2 and
    d/dsigma log q = ((z - mu)^2 - sigma^2)/sigma^3. Returns means and per-sample stds."""
    eps = torch.randn(n, mu.shape[0], generator=generator, dtype=mu.dtype)
    z = mu + sigma * eps
    fz = f(z).unsqueeze(1)
    s_mu = fz * eps / sigma
    s_sigma = fz * (eps.pow(2) - 1) / sigma
    return s_mu.mean(0), s_sigma.mean(0), s_mu.std(0), s_sigma.std(0)


# --------------------------------------------------------------------------------------
# Optimal transport
# --------------------------------------------------------------------------------------
def ot_1d_sorted(x: Sequence[float], y: Sequence[float], p: float = 1.0) -> float:
    """W_p^p between two uniform empirical measures of equal size on the line: the sorted
    (quantile) coupling x_(i) <-> y_(i) is optimal for any convex cost |x - y|^p."""
    x, y = np.sort(np.asarray(x, float)), np.sort(np.asarray(y, float))
    if x.shape != y.shape:
        raise ValueError("ot_1d_sorted needs samples of equal size")
    return float(np.mean(np.abs(x - y) ** p))


def ot_brute_force(x: Sequence[float], y: Sequence[float], p: float = 1.0) -> Tuple[float, Tuple[int, ...]]:
    """min over all n! permutations sigma of mean |x_i - y_sigma(i)|^p (n <= 8), and the best
    permutation. For uniform measures on n points each, the optimal couplings include a
    permutation (Birkhoff-von Neumann), so this is the exact Kantorovich value."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    if n > 8:
        raise ValueError("brute force over permutations is limited to n <= 8")
    best, arg = math.inf, None
    for perm in itertools.permutations(range(n)):
        v = float(np.mean(np.abs(x - y[list(perm)]) ** p))
        if v < best:
            best, arg = v, perm
    return best, arg


def ot_linprog(a: Sequence[float], b: Sequence[float], cost: np.ndarray) -> Tuple[float, np.ndarray]:
    """Kantorovich's problem for discrete measures, as a linear programme (scipy HiGHS):

    min_Gamma sum_ij Gamma_ij C_ij  s.t.  Gamma 1 = a, Gamma' 1 = b, Gamma >= 0.

    Returns (optimal cost, optimal plan Gamma (n, m)).
    """
    from scipy.optimize import linprog  # deferred: scipy only for this toy's closed form
    a, b, cost = np.asarray(a, float), np.asarray(b, float), np.asarray(cost, float)
    n, m = cost.shape
    A_eq = np.zeros((n + m, n * m))
    for i in range(n):
        A_eq[i, i * m:(i + 1) * m] = 1.0
    for j in range(m):
        A_eq[n + j, j::m] = 1.0
    res = linprog(cost.ravel(), A_eq=A_eq, b_eq=np.concatenate([a, b]), bounds=(0, None),
                  method="highs")
    if not res.success:  # pragma: no cover
        raise RuntimeError(f"linprog failed: {res.message}")
    return float(res.fun), res.x.reshape(n, m)


# --------------------------------------------------------------------------------------
# Divergences between distributions of codes
# --------------------------------------------------------------------------------------
def mmd_biased(z_q: torch.Tensor, z_p: torch.Tensor, kernel: str = "imq",
               sigma2: float = config.WAE_PRIOR_SIGMA2,
               scales: Sequence[float] = config.MMD_SCALES) -> torch.Tensor:
    """The biased V-statistic of MMD^2 (diagonal terms kept, 1/n^2 everywhere), same kernel and
    scales as :func:`waelib.losses.mmd`. Always >= 0, and > 0 in expectation even when the
    two distributions are equal."""
    n, d = z_q.shape
    m = z_p.shape[0]
    d_qq, d_pp, d_qp = sq_distances(z_q, z_q), sq_distances(z_p, z_p), sq_distances(z_q, z_p)
    stat = z_q.new_zeros(())
    for s in scales:
        c = 2.0 * d * sigma2 * s
        stat = stat + (kernel_values(d_qq, kernel, c).sum() / n ** 2 + kernel_values(d_pp, kernel, c).sum() / m ** 2
                       - 2 * kernel_values(d_qp, kernel, c).sum() / (n * m))
    return stat


def js_divergence_1d(logp: Callable[[np.ndarray], np.ndarray], logq: Callable[[np.ndarray], np.ndarray],
                     lo: float = -30.0, hi: float = 30.0, n: int = 200_001) -> float:
    """JS(P, Q) = 1/2 KL(P || M) + 1/2 KL(Q || M), M = (P + Q)/2, for 1-D densities given by
    their log-densities, by the trapezoidal rule on [lo, hi]."""
    x = np.linspace(lo, hi, n)
    lp, lq = logp(x), logq(x)
    lm = np.logaddexp(lp, lq) - math.log(2)
    p, q = np.exp(lp), np.exp(lq)
    return float(0.5 * np.trapezoid(p * (lp - lm), x) + 0.5 * np.trapezoid(q * (lq - lm), x))


# --------------------------------------------------------------------------------------
# A 2-D toy: what the KL and D_Z(Q_Z, P_Z) penalise
# --------------------------------------------------------------------------------------
@dataclass
class GridMixture:
    """Data X in R^2 with independent coordinates, each a mixture 1/2 N(-a, s^2) + 1/2 N(a, s^2):
    four well-separated clusters at (+-a, +-a)."""

    a: float = 2.0
    s: float = 0.35

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """x (n, 2) and the cluster index (n,) in 0..3."""
        signs = torch.randint(0, 2, (n, 2), generator=generator)
        x = (2 * signs - 1).to(DT) * self.a + self.s * torch.randn(n, 2, generator=generator, dtype=DT)
        return x, signs[:, 0] * 2 + signs[:, 1]

    def marginal_cdf(self, x: torch.Tensor) -> torch.Tensor:
        """F(x) of one coordinate (elementwise)."""
        from scipy.stats import norm  # deferred: scipy only for this toy's closed form
        xn = x.detach().cpu().numpy()
        F = 0.5 * norm.cdf((xn + self.a) / self.s) + 0.5 * norm.cdf((xn - self.a) / self.s)
        return torch.as_tensor(F, dtype=DT)

    def gaussianize(self, x: torch.Tensor) -> torch.Tensor:
        """T(x) = Phi^-1(F(x)) per coordinate: pushes P_X forward to exactly N(0, I_2) and is
        invertible (a deterministic encoder whose aggregate posterior is the prior)."""
        from scipy.stats import norm  # deferred: scipy only for this toy's closed form
        F = self.marginal_cdf(x).numpy().clip(1e-12, 1 - 1e-12)
        return torch.as_tensor(norm.ppf(F), dtype=DT)


def encoder_toys(data: GridMixture, x: torch.Tensor, tau: float = 0.1) -> Dict[str, Dict[str, torch.Tensor]]:
    """Three Gaussian encoders Q(Z|X=x) = N(mu(x), diag sigma(x)^2) on the 2-D toy.

    - ``"wae"``: mu(x) = the Gaussianizing map T(x) shrunk by sqrt(1 - tau^2), sigma = tau: each
      posterior is a narrow blob far from N(0, I) (large KL), yet the aggregate Q_Z is exactly
      N(0, I) (MMD ~ 0) and x can be recovered from z.
    - ``"collapsed"``: mu = 0, sigma = 1: every posterior IS the prior (KL = 0, MMD ~ 0), but z
      carries no information about x -- what the KL term pulls a VAE towards.
    - ``"mismatched"``: mu(x) = x / std(x) shrunk the same way, sigma = tau: narrow posteriors
      like ``"wae"`` (similar KL), but Q_Z is four separated clumps (MMD large).

    Returns {name: {"mu": (n, 2), "sigma": (n, 2)}}.
    """
    shrink = math.sqrt(1 - tau ** 2)
    n = x.shape[0]
    sd = math.sqrt(data.a ** 2 + data.s ** 2)
    full = lambda v: torch.full((n, 2), v, dtype=DT)
    return {
        "wae": {"mu": shrink * data.gaussianize(x), "sigma": full(tau)},
        "collapsed": {"mu": torch.zeros(n, 2, dtype=DT), "sigma": full(1.0)},
        "mismatched": {"mu": shrink * x / sd, "sigma": full(tau)},
    }


def sample_aggregate(mu: torch.Tensor, sigma: torch.Tensor,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """One z ~ Q(Z|x_i) per data point: samples of the aggregate posterior Q_Z."""
    return mu + sigma * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)


# --------------------------------------------------------------------------------------
# The VAE's penalty and the WAE's: E_x KL(q(z|x) || p(z)) = I(X; Z) + KL(Q_Z || P_Z)
# --------------------------------------------------------------------------------------
@dataclass
class LinearGaussianEncoder:
    """Data X ~ N(0, Sx) in R^D, a linear-Gaussian encoder q(z|x) = N(A x + c, S) in R^{d_z},
    and the prior p(z) = N(0, prior_sigma2 I). Every term of

        E_x KL(q(z|x) || p(z)) = I(X; Z) + KL(Q_Z || P_Z)

    is a Gaussian closed form: the aggregate posterior is Q_Z = N(c, A Sx A' + S), and the mutual
    information under the encoder's joint p(x) q(z|x) is 1/2 log det(A Sx A' + S) / det S.
    """

    Sx: torch.Tensor     # (D, D) covariance of the data
    A: torch.Tensor      # (d_z, D)
    c: torch.Tensor      # (d_z,)
    S: torch.Tensor      # (d_z, d_z) covariance of every q(z|x)
    prior_sigma2: float = 1.0

    @property
    def d_z(self) -> int:
        return self.A.shape[0]

    def prior_cov(self) -> torch.Tensor:
        return self.prior_sigma2 * torch.eye(self.d_z, dtype=DT)

    def aggregate(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """(mean, covariance) of the aggregate posterior Q_Z = E_x q(z|x) = N(c, A Sx A' + S)."""
        return self.c, self.A @ self.Sx @ self.A.T + self.S

    def expected_kl_to_prior(self) -> torch.Tensor:
        """E_x KL(N(Ax + c, S) || N(0, s2 I)) = 1/2 [(tr S + tr(A Sx A') + |c|^2)/s2 - d_z
        + d_z log s2 - log det S]: the VAE's regulariser averaged over the data."""
        s2, k = self.prior_sigma2, self.d_z
        spread = torch.trace(self.S) + torch.trace(self.A @ self.Sx @ self.A.T) + self.c @ self.c
        return 0.5 * (spread / s2 - k + k * math.log(s2) - torch.logdet(self.S))

    def mutual_information(self) -> torch.Tensor:
        """I(X; Z) = H(Z) - H(Z | X) = 1/2 [log det(A Sx A' + S) - log det S]."""
        return 0.5 * (torch.logdet(self.aggregate()[1]) - torch.logdet(self.S))

    def kl_aggregate_to_prior(self) -> torch.Tensor:
        """KL(Q_Z || P_Z) between the two Gaussians."""
        m, C = self.aggregate()
        return kl_gaussians(m, C, torch.zeros_like(m), self.prior_cov())

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """n draws of (x, z) from the encoder's joint p(x) q(z|x): x (n, D), z (n, d_z)."""
        D = self.Sx.shape[0]
        x = torch.randn(n, D, generator=generator, dtype=DT) @ torch.linalg.cholesky(self.Sx).T
        eps = torch.randn(n, self.d_z, generator=generator, dtype=DT)
        return x, x @ self.A.T + self.c + eps @ torch.linalg.cholesky(self.S).T

    def monte_carlo(self, n: int, generator: Optional[torch.Generator] = None) -> Dict[str, Tuple[float, float]]:
        """Monte Carlo (mean, standard error) of the three log-ratios over (x, z) ~ p(x) q(z|x):
        ``"expected_kl"`` log q(z|x) - log p(z), ``"mutual_information"`` log q(z|x) - log q_Z(z),
        ``"kl_aggregate"`` log q_Z(z) - log p(z). Per sample the first is the sum of the other
        two (the derivation); what the estimates check is each closed form's expectation."""
        x, z = self.sample(n, generator)
        m_agg, C_agg = self.aggregate()
        log_q_cond = mvn_logpdf(z - (x @ self.A.T + self.c), torch.zeros(self.d_z, dtype=DT), self.S)
        log_q_agg = mvn_logpdf(z, m_agg, C_agg)
        log_p = mvn_logpdf(z, torch.zeros(self.d_z, dtype=DT), self.prior_cov())
        out = {}
        for name, w in (("expected_kl", log_q_cond - log_p), ("mutual_information", log_q_cond - log_q_agg),
                        ("kl_aggregate", log_q_agg - log_p)):
            out[name] = (w.mean().item(), (w.std() / math.sqrt(n)).item())
        return out


# --------------------------------------------------------------------------------------
# D_WAE on discrete measures: the penalised objective against W_c
# --------------------------------------------------------------------------------------
def penalised_wae_lp(a: Sequence[float], p_z: Sequence[float], cost: np.ndarray,
                     lam: float) -> Dict[str, Any]:
    """The relaxed WAE objective over *all* encoders of a discrete problem, as a linear programme:

        min_Q  sum_ij a_i Q(j|i) C_ij + lam * sum_j |Q_Z(j) - p_z(j)|,   Q_Z(j) = sum_i a_i Q(j|i),

    with D_Z the L1 distance (twice the total variation) between the aggregate posterior and the
    prior. Variables: the joint Gamma_ij = a_i Q(j|i) (rows sum to a) and t_j >= |Q_Z(j) - p_z(j)|.
    ``cost[i, j]`` = c(x_i, G(z_j)). Returns {"objective", "transport", "penalty", "plan" (n, m)},
    with penalty the L1 distance itself (not multiplied by lam).
    """
    from scipy.optimize import linprog  # deferred: scipy only for this toy's closed form
    a, p_z, cost = np.asarray(a, float), np.asarray(p_z, float), np.asarray(cost, float)
    n, m = cost.shape
    c = np.concatenate([cost.ravel(), np.full(m, float(lam))])
    A_eq = np.zeros((n, n * m + m))
    for i in range(n):
        A_eq[i, i * m:(i + 1) * m] = 1.0
    A_ub = np.zeros((2 * m, n * m + m))
    for j in range(m):
        A_ub[j, j:n * m:m] = 1.0          #   Q_Z(j) - t_j <= p_z(j)
        A_ub[j, n * m + j] = -1.0
        A_ub[m + j, j:n * m:m] = -1.0     # - Q_Z(j) - t_j <= -p_z(j)
        A_ub[m + j, n * m + j] = -1.0
    res = linprog(c, A_ub=A_ub, b_ub=np.concatenate([p_z, -p_z]), A_eq=A_eq, b_eq=a,
                  bounds=(0, None), method="highs")
    if not res.success:  # pragma: no cover
        raise RuntimeError(f"linprog failed: {res.message}")
    plan = res.x[:n * m].reshape(n, m)
    transport = float((plan * cost).sum())
    penalty = float(np.abs(plan.sum(0) - p_z).sum())
    return {"objective": float(res.fun), "transport": transport, "penalty": penalty, "plan": plan}


def penalised_wae_deterministic(a: Sequence[float], p_z: Sequence[float], cost: np.ndarray,
                                lam: float) -> Dict[str, Any]:
    """The same objective as :func:`penalised_wae_lp`, but over a *restricted* family: the
    deterministic encoders, each x_i sent to one code j(i), searched exhaustively (m^n maps, at
    most 2 * 10^6). Returns {"objective", "transport", "penalty", "assignment" (n,)}."""
    return penalised_wae_deterministic_path(a, p_z, cost, [lam])[0]


def penalised_wae_deterministic_path(a: Sequence[float], p_z: Sequence[float], cost: np.ndarray,
                                     lams: Sequence[float]) -> List[Dict[str, Any]]:
    """:func:`penalised_wae_deterministic` for each lambda of ``lams``, enumerating the m^n
    deterministic encoders once (their transport cost and L1 penalty do not depend on lambda)."""
    a, p_z, cost = np.asarray(a, float), np.asarray(p_z, float), np.asarray(cost, float)
    n, m = cost.shape
    if m ** n > 2_000_000:
        raise ValueError(f"{m}^{n} deterministic encoders are too many to enumerate")
    maps = np.indices((m,) * n).reshape(n, -1).T                      # (m^n, n)
    transport = (a * cost[np.arange(n), maps]).sum(1)
    q_z = np.zeros((len(maps), m))
    for i in range(n):
        q_z[np.arange(len(maps)), maps[:, i]] += a[i]
    penalty = np.abs(q_z - p_z).sum(1)
    out = []
    for lam in lams:
        best = int(np.argmin(transport + lam * penalty))
        out.append({"objective": float(transport[best] + lam * penalty[best]), "transport": float(transport[best]),
                    "penalty": float(penalty[best]), "assignment": maps[best]})
    return out


# --------------------------------------------------------------------------------------
# The GAN penalty's encoder loss: saturating vs non-saturating (1-D Gaussians)
# --------------------------------------------------------------------------------------
def kl_gaussians_1d(m1: float, s1: float, m2: float, s2: float) -> float:
    """KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2."""
    return math.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5


def gan_encoder_gradients_1d(q_mu: float, q_sd: float, p_sd: float, *, h: float = 1e-4,
                             lo: float = -40.0, hi: float = 40.0, n: int = 40_001) -> Dict[str, float]:
    """Gradients with respect to the mean mu of the codes' law Q_Z = N(mu, q_sd^2), at mu = q_mu,
    with the prior P_Z = N(0, p_sd^2) and the optimal discriminator D*(z) = p(z) / (p(z) + q(z))
    of the current Q_Z held fixed (as a training step does):

    - ``"saturating"``: d/dmu E_{Q_mu}[log(1 - D*(z))], the minimax encoder loss;
    - ``"non_saturating"``: d/dmu E_{Q_mu}[-log D*(z)], Algorithm 2's encoder loss;
    - ``"js"``: d/dmu JS(P_Z, Q_mu);  ``"kl_reverse"``: d/dmu KL(Q_mu || P_Z).

    The first two are integrals of dq/dmu = q (z - mu) / q_sd^2 against the fixed log-ratios
    (trapezoidal rule); the last two are central differences (step h) of the divergences, JS by
    :func:`js_divergence_1d`, KL in closed form. Goodfellow et al. (2014): saturating = 2 js;
    Arjovsky & Bottou (2017, Thm 2.5): non_saturating = kl_reverse - 2 js.
    """
    from scipy.stats import norm  # deferred: scipy only for this toy's closed form
    z = np.linspace(lo, hi, n)
    lp, lq = norm.logpdf(z, 0.0, p_sd), norm.logpdf(z, q_mu, q_sd)
    lsum = np.logaddexp(lp, lq)
    dq = np.exp(lq) * (z - q_mu) / q_sd ** 2
    saturating = float(np.trapezoid(dq * (lq - lsum), z))           # log(1 - D*) = log q/(p+q)
    non_saturating = float(np.trapezoid(dq * (lsum - lp), z))       # -log D* = log (p+q)/p
    js = [js_divergence_1d(lambda t: norm.logpdf(t, 0.0, p_sd), lambda t, m=m: norm.logpdf(t, m, q_sd), lo, hi, n)
          for m in (q_mu + h, q_mu - h)]
    kl = [kl_gaussians_1d(m, q_sd, 0.0, p_sd) for m in (q_mu + h, q_mu - h)]
    return {"saturating": saturating, "non_saturating": non_saturating,
            "js": (js[0] - js[1]) / (2 * h), "kl_reverse": (kl[0] - kl[1]) / (2 * h)}
