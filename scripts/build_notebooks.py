#!/usr/bin/env python
"""Generate the course notebooks (01_elbo ... 05_thesis_results) without outputs.

The notebooks are the source students read, but they are easier to review and keep
consistent as Python: this script writes them with nbformat, WITHOUT outputs.

    .venv/bin/python scripts/build_notebooks.py            # all of them
    .venv/bin/python scripts/build_notebooks.py 01_elbo    # one

Every notebook follows the same skeleton: title + what you'll learn; a setup cell that
creates the parameter guard; ONE cell tagged ``parameters``; the cell that resolves the
profile (:func:`waelib.profiles.notebook_params`); then short cells that import from waelib,
check every claim numerically (``assert`` with a tolerance) and save figures through
:func:`waelib.figures.save_figure`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"


def md(src: str):
    return new_markdown_cell(src.strip("\n"))


def code(src: str, tags=None):
    c = new_code_cell(src.strip("\n"))
    if tags:
        c.metadata["tags"] = list(tags)
    return c


def notebook(cells) -> nbformat.NotebookNode:
    for i, c in enumerate(cells):
        c["id"] = f"cell-{i:02d}"          # stable ids: regenerating gives the same file
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


SETUP = '''
%matplotlib inline
from waelib import profiles
_guard = profiles.ParameterGuard(globals())   # records which names the parameters cell defines
'''


def header(table: str, params: str):
    return [
        code(SETUP),
        code(params, tags=["parameters"]),
        code(f"P = profiles.notebook_params(globals(), _guard, table=profiles.{table})"),
    ]


# =======================================================================================
# 01 -- the ELBO
# =======================================================================================
def nb01():
    cells = [md(r"""
# 01 · The evidence lower bound (ELBO)

*Thesis §2.1 — the objective of the variational auto-encoder (VAE), the baseline of the thesis.*

A VAE is trained by maximising a lower bound on the log-likelihood of the data. In this notebook we
derive that bound from scratch and then **check every step numerically** on a model small enough
that all the quantities the derivation talks about — the evidence $p(x)$, the true posterior
$p(z\mid x)$ and the KL divergence to it — can be computed exactly.

**What you will learn**

1. why the evidence $p(x)=\int p(x\mid z)\,p(z)\,dz$ and the posterior $p(z\mid x)$ are hard, and how a
   family $q_\lambda(z\mid x)$ turns inference into optimisation;
2. the identity $\log p(x) = \mathrm{ELBO}(\lambda) + \mathrm{KL}\big(q_\lambda(z\mid x)\,\|\,p(z\mid x)\big)$ and
   why maximising the ELBO is the same as minimising the KL to the posterior;
3. the per-datapoint form $\mathrm{ELBO}_i = \mathbb{E}_{q}[\log p(x_i\mid z)] - \mathrm{KL}(q(z\mid x_i)\,\|\,p(z))$ the
   VAE loss is built from;
4. the reparameterisation trick $z = \mu + \sigma\varepsilon$ and the closed-form Gaussian KL used by
   `waelib.losses.gaussian_kl`, both checked against Monte Carlo.

The library does the computing (`waelib.toy`, `waelib.losses`); the notebook narrates and checks.
"""),
        *header("TOY_PROFILES", '''
profile = "default"   # smoke | default | thesis (see waelib.profiles)
seed = None           # None: take the value from the profile
n_mc = None           # Monte Carlo sample size for the numerical checks
figures_dir = None    # where figures are written (default ../figures)
out_dir = None        # where the numbers of the checks are written (a JSON file)
'''),
        code('''
import math
import matplotlib.pyplot as plt
import torch
from waelib import figures, losses, toy
from waelib.utils import atomic_write_json, seed_everything

figures.use_style()
gen = seed_everything(P.seed)
checks = {}            # every number we assert on, saved at the end
'''),
        md(r"""
## 1. Latent-variable models and the evidence

A latent-variable model explains each data point $x$ by an unobserved code $z$:

- draw $z_i \sim p(z)$ (the **prior**),
- draw $x_i \sim p(x\mid z_i)$ (the **likelihood**, in a VAE a decoder network),

so the joint density factorises as $p(x,z) = p(x\mid z)\,p(z)$. To *infer* a code for a given $x$ we
need the **posterior**, by Bayes' theorem

$$p(z\mid x) = \frac{p(x\mid z)\,p(z)}{p(x)},\qquad p(x) = \int p(x\mid z)\,p(z)\,dz .$$

The normaliser $p(x)$ is the **evidence**. For a neural-network likelihood the integral has no closed
form, and numerical integration over a many-dimensional $z$ costs exponential time in its dimension.

## 2. Variational inference: from the KL to the ELBO

Pick a tractable family $q_\lambda(z\mid x)$ — here Gaussians with $\lambda=(\mu,\sigma^2)$ — and look
for the member closest to the posterior in Kullback–Leibler divergence. Expanding the definition
and using $\log p(z\mid x) = \log p(x,z) - \log p(x)$:

$$
\begin{aligned}
\mathrm{KL}\big(q_\lambda(z\mid x)\,\|\,p(z\mid x)\big)
&= \mathbb{E}_q\big[\log q_\lambda(z\mid x) - \log p(z\mid x)\big] \\
&= \mathbb{E}_q[\log q_\lambda(z\mid x)] - \mathbb{E}_q[\log p(x,z)] + \log p(x).
\end{aligned}
$$

The last term does not depend on $\lambda$ (nor on $z$), so it leaves the expectation. The KL still
contains the unknown $\log p(x)$, but the part that depends on $\lambda$ does not. Name it:

$$\mathrm{ELBO}(\lambda) = \mathbb{E}_q[\log p(x,z)] - \mathbb{E}_q[\log q_\lambda(z\mid x)] .$$

Rearranging the KL line gives the central identity of this notebook,

$$\boxed{\;\log p(x) = \mathrm{ELBO}(\lambda) + \mathrm{KL}\big(q_\lambda(z\mid x)\,\|\,p(z\mid x)\big)\;}$$

Because $\mathrm{KL}\ge 0$ (Jensen's inequality), the ELBO is a **lower bound on the log evidence**,
and since $\log p(x)$ is fixed, *maximising the ELBO over $\lambda$ is the same as minimising the KL
to the true posterior*. The bound is tight exactly when $q_\lambda = p(z\mid x)$.

Splitting $\log p(x,z) = \log p(x\mid z) + \log p(z)$ gives the form a VAE uses for each data point:

$$\mathrm{ELBO}_i(\lambda) = \mathbb{E}_{q_\lambda(z\mid x_i)}[\log p(x_i\mid z)] - \mathrm{KL}\big(q_\lambda(z\mid x_i)\,\|\,p(z)\big),$$

a reconstruction term minus a KL **to the prior** (not to the posterior) — a quantity we can compute.

## 3. A model where everything is exact: linear-Gaussian

Take $z\sim\mathcal N(0, I_k)$ and $x\mid z \sim \mathcal N(Wz + b,\; s^2 I_d)$. Then $x$ is a linear map of Gaussians, so

$$p(x) = \mathcal N\big(x;\; b,\; WW^\top + s^2 I_d\big),$$

and completing the square in $\log p(x\mid z) + \log p(z)$ (a quadratic in $z$) gives a Gaussian posterior

$$p(z\mid x) = \mathcal N(\mu_{\text{post}}, \Sigma_{\text{post}}),\qquad
\Sigma_{\text{post}} = \big(I_k + W^\top W / s^2\big)^{-1},\quad
\mu_{\text{post}} = \Sigma_{\text{post}} W^\top (x-b)/s^2 .$$

For a Gaussian $q=\mathcal N(m,S)$ every term of the ELBO is also closed-form
($\mathbb{E}_q\|x - Wz - b\|^2 = \|x - Wm - b\|^2 + \operatorname{tr}(WSW^\top)$, and the entropy is
$\tfrac12\log\det(2\pi e S)$). `waelib.toy.LinearGaussian` implements these formulas.
"""),
        code('''
model = toy.LinearGaussian.random(d=5, k=2, s2=0.5, seed=P.seed)
x, z_true = model.sample(1, gen)
x = x[0]
log_px = model.log_evidence(x)
print(f"data point x = {x.numpy().round(3)}")
print(f"exact log evidence log p(x) = {log_px.item():.6f}")

# The evidence is an integral over the prior: check it by Monte Carlo, log E_{p(z)}[p(x|z)].
z = torch.randn(P.n_mc, model.k, generator=gen, dtype=torch.float64)
log_px_mc = torch.logsumexp(model.log_likelihood(x, z), 0) - math.log(P.n_mc)
print(f"Monte Carlo  log p(x) = {log_px_mc.item():.6f}  ({P.n_mc:,} prior samples)")
assert abs(log_px_mc - log_px) < 0.05, "the evidence formula disagrees with the integral"
checks["log_evidence"] = log_px.item()
'''),
        md(r"""
### ELBO + KL = log p(x), for *any* q

Take an arbitrary Gaussian $q$ — nowhere near the posterior — and evaluate both sides. We also
estimate the ELBO by plain Monte Carlo, $\frac1n\sum_s [\log p(x,z_s) - \log q(z_s)]$ with
$z_s\sim q$, to make sure the closed form is the expectation the definition talks about, and we check
that the per-datapoint form (reconstruction − KL to the prior) is the same number.
"""),
        code('''
m_q = torch.tensor([1.5, -1.0], dtype=torch.float64)
S_q = torch.tensor([[0.8, 0.3], [0.3, 0.5]], dtype=torch.float64)

elbo = model.elbo(x, m_q, S_q)
kl_post = model.kl_to_posterior(x, m_q, S_q)
elbo_mc, elbo_se = model.elbo_mc(x, m_q, S_q, P.n_mc, gen)
elbo_i = model.elbo_per_datapoint(x, m_q, S_q)

print(f"ELBO (closed form)        = {elbo.item():.6f}")
print(f"ELBO (Monte Carlo)        = {elbo_mc:.6f} +- {elbo_se:.6f}")
print(f"E_q log p(x|z) - KL(q||p(z)) = {elbo_i.item():.6f}")
print(f"KL(q || p(z|x))           = {kl_post.item():.6f}")
print(f"ELBO + KL                 = {(elbo + kl_post).item():.6f}   vs   log p(x) = {log_px.item():.6f}")

assert torch.isclose(elbo + kl_post, log_px, atol=1e-9), "log p(x) = ELBO + KL failed"
assert torch.isclose(elbo, elbo_i, atol=1e-9), "the two forms of the ELBO differ"
assert abs(elbo_mc - elbo.item()) < 5 * elbo_se, "Monte Carlo ELBO disagrees with the closed form"
assert elbo < log_px and kl_post > 0
checks.update(elbo_arbitrary_q=elbo.item(), kl_arbitrary_q=kl_post.item())
'''),
        md(r"""
### The gap closes at the true posterior

Now move $q$ along a path from the arbitrary Gaussian above ($t=0$) to the true posterior ($t=1$).
The ELBO rises, the KL gap $\log p(x) - \mathrm{ELBO}$ shrinks, and at $t=1$ it is exactly zero.
"""),
        code('''
m_post, S_post = model.posterior(x)
ts = torch.linspace(0, 1, 41)
path = [toy.interpolate_q(m_q, S_q, m_post, S_post, t.item()) for t in ts]
elbos = torch.stack([model.elbo(x, m, S) for m, S in path])
kls = torch.stack([model.kl_to_posterior(x, m, S) for m, S in path])

assert torch.allclose(elbos + kls, log_px.expand_as(elbos), atol=1e-9)
assert kls[-1].abs() < 1e-10 and torch.isclose(elbos[-1], log_px, atol=1e-10), "gap not closed"
assert (kls[1:] <= kls[:-1] + 1e-12).all(), "along this path the KL should decrease monotonically"
print(f"at the posterior: ELBO = {elbos[-1].item():.8f}, log p(x) = {log_px.item():.8f}, KL = {kls[-1].item():.1e}")

fig, ax = plt.subplots(figsize=(6.4, 3.8))
ax.plot(ts, elbos, color="C0", label=r"ELBO$(q_t)$")
ax.axhline(log_px.item(), color="k", ls="--", lw=1.2, label=r"$\\log p(x)$ (exact)")
ax.fill_between(ts, elbos, log_px.item(), color="C1", alpha=0.25,
                label=r"gap $=\\mathrm{KL}(q_t\\,\\|\\,p(z|x))$")
ax.set_xlabel(r"$t$   ($q_0$ = arbitrary Gaussian, $q_1$ = true posterior)")
ax.set_ylabel("nats")
ax.set_title("The ELBO is a lower bound that is tight at the posterior")
ax.legend(loc="lower right")
figures.save_figure(fig, "nb01_elbo_gap", P.figures_dir)
plt.show()
checks["kl_at_posterior"] = kls[-1].item()
'''),
        md(r"""
## 4. The reparameterisation trick

To maximise $\mathrm{ELBO}_i$ by stochastic gradient descent we need $\nabla_\lambda \mathbb{E}_{q_\lambda}[f(z)]$
where the *distribution* depends on $\lambda$. Writing a sample as a deterministic function of
$\lambda$ and parameter-free noise,

$$z = \mu + \sigma \odot \varepsilon,\qquad \varepsilon\sim\mathcal N(0,I)
\quad\Longrightarrow\quad
\nabla_{\mu,\sigma}\,\mathbb{E}_{q}[f(z)] = \mathbb{E}_{\varepsilon}\big[\nabla_{\mu,\sigma} f(\mu+\sigma\odot\varepsilon)\big],$$

moves the gradient inside the expectation; autograd does the rest (this is line 3 of the thesis'
Algorithm 1). For a quadratic $f(z) = z^\top A z + c^\top z$ the answer is known:
$\mathbb{E}_q f = \mu^\top A\mu + \sum_j A_{jj}\sigma_j^2 + c^\top\mu$, so
$\nabla_\mu = (A + A^\top)\mu + c$ and $\partial/\partial\sigma_j = 2A_{jj}\sigma_j$.
We compare, and contrast with the score-function (REINFORCE) estimator
$\mathbb{E}_q[f(z)\nabla\log q(z)]$, which is also unbiased but far noisier.
"""),
        code('''
A = torch.tensor([[2.0, 0.5], [0.0, 1.0]], dtype=torch.float64)
c = torch.tensor([1.0, -1.0], dtype=torch.float64)
f = lambda z: (z @ A * z).sum(-1) + z @ c
mu = torch.tensor([0.3, -0.7], dtype=torch.float64)
sigma = torch.tensor([0.8, 1.5], dtype=torch.float64)

g_mu, g_sigma = toy.quadratic_expectation_grad(A, c, mu, sigma)
r_mu, r_sigma, r_mu_sd, r_sigma_sd = toy.reparam_grad(f, mu, sigma, P.n_mc, gen)
s_mu, s_sigma, s_mu_sd, s_sigma_sd = toy.score_function_grad(f, mu, sigma, P.n_mc, gen)
se = lambda sd: sd / math.sqrt(P.n_mc)

print("                    d/dmu                d/dsigma")
print(f"closed form      {g_mu.numpy().round(4)}     {g_sigma.numpy().round(4)}")
print(f"reparameterised  {r_mu.numpy().round(4)}     {r_sigma.numpy().round(4)}")
print(f"score function   {s_mu.numpy().round(4)}     {s_sigma.numpy().round(4)}")
print(f"per-sample std: reparameterised {r_mu_sd.numpy().round(2)}, score function {s_mu_sd.numpy().round(2)}")

assert ((r_mu - g_mu).abs() < 5 * se(r_mu_sd) + 1e-12).all()
assert ((r_sigma - g_sigma).abs() < 5 * se(r_sigma_sd) + 1e-12).all()
assert ((s_mu - g_mu).abs() < 5 * se(s_mu_sd)).all()       # unbiased too ...
assert (s_mu_sd > r_mu_sd).all()                           # ... but noisier
checks.update(reparam_grad_mu=r_mu.tolist(), closed_grad_mu=g_mu.tolist())
'''),
        md(r"""
## 5. The closed-form KL of the VAE

With $q(z\mid x) = \mathcal N(\mu, \operatorname{diag}\sigma^2)$ and $p(z) = \mathcal N(0,I)$ the KL term of
$\mathrm{ELBO}_i$ separates over the $d$ coordinates, and for each one

$$\mathrm{KL}\big(\mathcal N(\mu,\sigma^2)\,\|\,\mathcal N(0,1)\big)
= \mathbb{E}_q\Big[-\tfrac12\log\sigma^2 - \tfrac{(z-\mu)^2}{2\sigma^2} + \tfrac{z^2}{2}\Big]
= \tfrac12\big(\sigma^2 + \mu^2 - 1 - \log\sigma^2\big),$$

using $\mathbb{E}(z-\mu)^2 = \sigma^2$ and $\mathbb{E}z^2 = \mu^2+\sigma^2$. This is
`waelib.losses.gaussian_kl(mu, logvar)`. We check it against Monte Carlo and against the general
full-covariance formula of `waelib.toy.kl_gaussians`.
"""),
        code('''
mu = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0], [1.0, 1.0, -0.3]], dtype=torch.float64)
logvar = torch.tensor([[0.1, -0.5, 0.7], [0.0, 0.0, 0.0], [-2.0, 1.0, 0.2]], dtype=torch.float64)

kl_closed = losses.gaussian_kl(mu, logvar)
kl_mc, kl_se = toy.gaussian_kl_mc(mu, logvar, P.n_mc, gen)
kl_full = torch.stack([toy.kl_gaussians(m, torch.diag(lv.exp()), torch.zeros(3, dtype=torch.float64),
                                        torch.eye(3, dtype=torch.float64)) for m, lv in zip(mu, logvar)])
for i in range(len(mu)):
    print(f"row {i}: closed form {kl_closed[i].item():.4f}   Monte Carlo {kl_mc[i].item():.4f} +- {kl_se[i].item():.4f}")
assert torch.allclose(kl_closed, kl_full, atol=1e-10)
assert ((kl_closed - kl_mc).abs() <= 5 * kl_se + 1e-12).all(), "gaussian_kl disagrees with Monte Carlo"
assert kl_closed[1] == 0, "KL(N(0, I) || N(0, I)) must be 0"
checks["gaussian_kl"] = kl_closed.tolist()
'''),
        md(r"""
## 6. From the ELBO to the VAE loss

The thesis' Algorithm 1 descends $l_i = -\mathrm{ELBO}_i$, estimating the reconstruction term with one
reparameterised sample $\tilde z_i = \mu_i + \sigma_i\varepsilon_i$. With a Gaussian decoder
$p(x\mid z) = \mathcal N(x;\,G(z),\,\sigma_G^2 I)$,

$$-\log p(x\mid \tilde z) = \frac{\|x - G(\tilde z)\|^2}{2\sigma_G^2} + \frac{D}{2}\log(2\pi\sigma_G^2),$$

and the constant does not affect training. `waelib.losses.vae_loss` is exactly this
(`decoder_sigma2` $=\sigma_G^2$, constant dropped) plus `gaussian_kl`. We check it against
`torch.distributions`.
"""),
        code('''
from torch.distributions import Normal
xb = torch.rand(4, 3, 8, 8, generator=gen, dtype=torch.float64)
x_hat = torch.rand(4, 3, 8, 8, generator=gen, dtype=torch.float64)
mu_b = torch.randn(4, 6, generator=gen, dtype=torch.float64)
lv_b = torch.randn(4, 6, generator=gen, dtype=torch.float64) * 0.3
s2 = 0.5
out = losses.vae_loss(xb, x_hat, mu_b, lv_b, decoder_sigma2=s2)

nll = -Normal(x_hat, math.sqrt(s2)).log_prob(xb).flatten(1).sum(1)          # -log p(x | z)
const = 0.5 * xb[0].numel() * math.log(2 * math.pi * s2)
neg_elbo = (nll - const + losses.gaussian_kl(mu_b, lv_b)).mean()
print(f"vae_loss = {out['loss'].item():.6f};  -ELBO (torch.distributions, constant removed) = {neg_elbo.item():.6f}")
assert torch.isclose(out["loss"], neg_elbo, atol=1e-9)
assert torch.allclose(losses.gaussian_nll(xb, x_hat, s2, include_constant=True), nll, atol=1e-9)
checks["vae_loss_matches_neg_elbo"] = True
'''),
        md(r"""
## Summary

- $\log p(x) = \mathrm{ELBO} + \mathrm{KL}(q\,\|\,p(z\mid x))$ holds for any $q$ (checked to $10^{-9}$), so the
  ELBO is a lower bound, tight exactly at the posterior.
- The VAE maximises $\mathrm{ELBO}_i = \mathbb{E}_q[\log p(x_i\mid z)] - \mathrm{KL}(q(z\mid x_i)\,\|\,p(z))$: note that the
  KL term pulls **every** $q(z\mid x_i)$ towards the prior, one data point at a time. Notebook 02 shows
  why the Wasserstein auto-encoder replaces this with a penalty on the *aggregate* of the codes.
- The reparameterisation trick gives unbiased, low-variance gradients, and `waelib.losses`
  implements the closed-form KL and the VAE loss exactly as derived.
"""),
        code('''
from pathlib import Path
atomic_write_json(Path(P.out_dir) / "01_elbo_checks.json", {"profile": P.profile, "params": dict(P), "checks": checks})
print("all checks passed:", ", ".join(checks))
'''),
    ]
    return notebook(cells)


# =======================================================================================
# 02 -- the WAE objective
# =======================================================================================
def nb02():
    cells = [md(r"""
# 02 · The Wasserstein auto-encoder objective

*Thesis §2.2 — the objective of WAE and WAE-ResNet (Tolstikhin et al., 2018).*

The VAE of notebook 01 maximises a bound on the likelihood. The **Wasserstein auto-encoder** instead
minimises an *optimal-transport distance* between the data distribution $P_X$ and the model
$P_G$. In this notebook we derive its objective and check each step numerically.

**What you will learn**

1. Kantorovich's optimal-transport problem $W_c(P_X,P_G)=\inf_\Gamma \mathbb{E}_\Gamma\, c(X,Y)$, and how to
   solve it exactly for small discrete measures (a linear programme) and on the line (sort!);
2. why, for a **deterministic decoder** $G$, the coupling can be searched through *encoders*
   $Q(Z\mid X)$ whose aggregate $Q_Z$ equals the prior (Theorem 1 of Tolstikhin et al.);
3. the relaxed, penalised objective $D_{\mathrm{WAE}} = \inf_Q \mathbb{E}\,c(X, G(Z)) + \lambda\,\mathcal D_Z(Q_Z, P_Z)$;
4. how this regulariser differs from the VAE's KL — the aggregate posterior vs each per-sample posterior —
   on a 2-D toy you can see;
5. the two penalties: the GAN penalty of the thesis' Algorithm 2 (a Jensen–Shannon estimate) and the
   MMD penalty with the IMQ kernel, whose estimator is unbiased.
"""),
        *header("TOY_PROFILES", '''
profile = "default"   # smoke | default | thesis (see waelib.profiles)
seed = None           # None: take the value from the profile
n_mc = None           # Monte Carlo sample size
n_repeats = None      # number of independent MMD estimates in the unbiasedness check
n_points = None       # data points of the 2-D toy and of the 1-D transport check
figures_dir = None    # where figures are written (default ../figures)
out_dir = None        # where the numbers of the checks are written (a JSON file)
'''),
        code('''
import math
import numpy as np
import matplotlib.pyplot as plt
import torch
from scipy.stats import wasserstein_distance
from waelib import config as C, figures, losses, toy
from waelib.utils import atomic_write_json, seed_everything

figures.use_style()
gen = seed_everything(P.seed)
rng = np.random.default_rng(P.seed)
checks = {}
'''),
        md(r"""
## 1. Kantorovich's optimal-transport problem

Given two distributions $P_X$ and $P_G$ on $\mathcal X$ and a cost $c(x,y)\ge 0$ of moving mass from $x$ to $y$,
Kantorovich's problem (thesis eq. 2.1) is

$$W_c(P_X,P_G) = \inf_{\Gamma\in\mathcal P(X\sim P_X,\;Y\sim P_G)} \mathbb{E}_{(X,Y)\sim\Gamma}\big[c(X,Y)\big],$$

an infimum over all **couplings** $\Gamma$: joint distributions whose marginals are $P_X$ and $P_G$.
With $c = d^p$ for a metric $d$, $W_p = W_c^{1/p}$ is the $p$-Wasserstein distance. The thesis uses
$c(x,y)=\|x-y\|^2$.

For discrete measures $a\in\Delta_n$, $b\in\Delta_m$ and a cost matrix $C_{ij}$, this is a **linear
programme**: minimise $\sum_{ij}\Gamma_{ij}C_{ij}$ subject to row sums $a$, column sums $b$, $\Gamma\ge0$
(`waelib.toy.ot_linprog`). On the **real line** with a convex cost the optimal coupling is the
*monotone* one — match the $i$-th smallest $x$ with the $i$-th smallest $y$ (the quantile coupling):
any crossing pair $x_1<x_2$, $y_1>y_2$ can be uncrossed without increasing the cost. For equal-weight
measures with $n$ points each, some optimal $\Gamma$ is a permutation (Birkhoff–von Neumann), so for
small $n$ we can also try all $n!$ permutations.
"""),
        code('''
# Four ways to the same number: sorting, scipy, the LP, and (for n <= 7) all permutations.
for n in (7, P.n_points):
    xs, ys = rng.normal(0, 1, n), rng.gamma(2.0, 1.0, n)
    w_sorted = toy.ot_1d_sorted(xs, ys, p=1)
    w_scipy = wasserstein_distance(xs, ys)
    line = f"n = {n:5d}: sorted {w_sorted:.6f}   scipy {w_scipy:.6f}"
    assert abs(w_sorted - w_scipy) < 1e-9
    if n <= 7:
        w_brute, perm = toy.ot_brute_force(xs, ys, p=1)
        w_lp, plan = toy.ot_linprog(np.full(n, 1 / n), np.full(n, 1 / n), np.abs(xs[:, None] - ys[None]))
        line += f"   brute force {w_brute:.6f}   LP {w_lp:.6f}"
        assert abs(w_brute - w_sorted) < 1e-9 and abs(w_lp - w_sorted) < 1e-7
        # the squared cost too: the sorted coupling is optimal for every convex cost
        assert abs(toy.ot_brute_force(xs, ys, p=2)[0] - toy.ot_1d_sorted(xs, ys, p=2)) < 1e-9
        small = (xs, ys, plan)
    print(line)
checks["w1_sorted_equals_scipy"] = True
'''),
        code('''
xs, ys, plan = small
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1.6, 1]})
ax = axes[0]
ax.scatter(xs, np.ones_like(xs), color="C0", zorder=3, label=r"$x_i \\sim P_X$")
ax.scatter(ys, np.zeros_like(ys), color="C3", zorder=3, label=r"$y_j \\sim P_G$")
for i, j in zip(*np.nonzero(plan > 1e-9)):
    ax.plot([xs[i], ys[j]], [1, 0], color="0.4", lw=1)
ax.set_yticks([0, 1], ["$P_G$", "$P_X$"]); ax.set_ylim(-0.3, 1.3)
ax.set_title("optimal coupling on the line = sorted matching")
ax.legend(loc="center right", bbox_to_anchor=(1.0, 0.5)); ax.grid(False)
ax = axes[1]
order_x, order_y = np.argsort(xs), np.argsort(ys)
ax.imshow(plan[np.ix_(order_x, order_y)] * len(xs), cmap="Blues", vmin=0, vmax=1)
ax.set_xlabel("$y$ (sorted)"); ax.set_ylabel("$x$ (sorted)")
ax.set_title(r"LP plan $n\\,\\Gamma_{ij}$: a permutation"); ax.grid(False)
fig.tight_layout()
figures.save_figure(fig, "nb02_ot_1d", P.figures_dir)
plt.show()
'''),
        md(r"""
## 2. A deterministic decoder: transport through the latent space

The model is a latent-variable model: $Z\sim P_Z$ on a latent space $\mathcal Z$, and a decoder maps it to
$\mathcal X$ (thesis eq. 2.3, $p_G(x)=\int p_G(x\mid z)p_Z(z)dz$). Like the thesis we take a
**deterministic** decoder $X = G(Z)$. Then every coupling of $P_X$ and $P_G$ can be built by choosing,
for each $x$, a distribution of codes $Q(Z\mid X=x)$ — an *encoder* — such that the codes of all the data
together, the **aggregate posterior**

$$Q_Z := \mathbb{E}_{X\sim P_X}\big[Q(Z\mid X)\big],$$

is the prior, and then decoding. Tolstikhin et al. (Theorem 1) prove the two searches give the same value:

$$W_c(P_X, P_G) \;=\; \inf_{Q:\;Q_Z = P_Z}\; \mathbb{E}_{X\sim P_X}\,\mathbb{E}_{Z\sim Q(Z\mid X)}\big[c\big(X, G(Z)\big)\big].$$

*Why:* given an admissible $Q$, the law of $(X, G(Z))$ is a coupling of $P_X$ and $P_G$ (its second
marginal is $G_\#Q_Z = G_\#P_Z = P_G$), so the right side is $\ge W_c$; conversely an optimal coupling
$\Gamma(X,Y)$ can be lifted to $(X,Z)$ by drawing $Z$ from $P_Z$ conditioned on $G(Z)=Y$, whose $Z$-marginal is $P_Z$.

We check this with two linear programmes on discrete measures, with a decoder that is **not injective**
(several codes decode to the same point, so $P_G$ has merged atoms): (a) Kantorovich's LP between $P_X$
and $P_G$ directly, (b) the LP over encoders $Q(z\mid x)$ with the constraint $Q_Z = P_Z$.
"""),
        code('''
n, m = 6, 9
x_atoms = rng.normal(0, 1, (n, 2)); a = rng.dirichlet(np.ones(n))      # P_X
p_z = rng.dirichlet(np.ones(m))                                         # P_Z on m codes
G = rng.normal(0, 1, (5, 2))                                            # 5 distinct images ...
g_of_z = np.array([0, 1, 2, 3, 4, 0, 1, 2, 0])                          # ... of 9 codes: not injective
cost = lambda u, v: ((u[:, None, :] - v[None, :, :]) ** 2).sum(-1)      # c(x, y) = ||x - y||^2

p_g = np.bincount(g_of_z, weights=p_z, minlength=len(G))               # P_G = G # P_Z (merged atoms)
w_direct, _ = toy.ot_linprog(a, p_g, cost(x_atoms, G))                  # (a) inf over couplings of P_X, P_G
w_latent, Q = toy.ot_linprog(a, p_z, cost(x_atoms, G[g_of_z]))          # (b) inf over Q(z|x) a(x), Q_Z = P_Z
print(f"(a) W_c(P_X, P_G) over couplings           = {w_direct:.8f}")
print(f"(b) inf over encoders with Q_Z = P_Z      = {w_latent:.8f}")
assert abs(w_direct - w_latent) < 1e-7, "Theorem 1 check failed"
assert np.allclose(Q.sum(0), p_z, atol=1e-9)                            # the aggregate posterior is the prior
checks["theorem1_direct"], checks["theorem1_latent"] = w_direct, w_latent
'''),
        md(r"""
## 3. The relaxed objective $D_{\mathrm{WAE}}$

The constraint $Q_Z = P_Z$ is hard to impose on a neural encoder, so it is relaxed into a penalty
(thesis eq. 2.4):

$$D_{\mathrm{WAE}}(P_X, P_G) = \inf_{Q(Z\mid X)\in\mathcal Q}\; \mathbb{E}_{P_X}\mathbb{E}_{Q(Z\mid X)}\big[c(X, G(Z))\big] \;+\; \lambda\,\mathcal D_Z(Q_Z, P_Z),$$

with any divergence $\mathcal D_Z$ between distributions on $\mathcal Z$ and a weight $\lambda>0$. The encoder now
has two jobs: give codes from which $G$ reconstructs $x$ (first term), and make the *cloud of all codes*
look like the prior (second term). `waelib.losses.wae_loss` computes
`recon_scale * E c(x, G(z)) + lam * penalty`; the factor `recon_scale` $=0.05$ comes from the official WAE
code, whose $\lambda$ values assume it (it only rescales $\lambda$, see `docs/deviations.md`).

## 4. The VAE's KL and the WAE's $\mathcal D_Z$ penalise different things

In notebook 01 the VAE's regulariser was $\mathbb{E}_{P_X}\mathrm{KL}\big(Q(Z\mid X)\,\|\,P_Z\big)$: it pushes **every**
per-sample posterior $Q(Z\mid X=x)$ towards the prior. Codes of different inputs then overlap, and the
decoder can no longer tell the inputs apart — blurry reconstructions. WAE only asks the **aggregate**
$Q_Z$ to match $P_Z$; each $Q(Z\mid X=x)$ may be a narrow blob (or a point) far from the prior.

A 2-D toy makes this visible. The data $X$ are four separated clusters; three Gaussian encoders
(`waelib.toy.encoder_toys`):

- **WAE-like**: narrow posteriors centred at $T(x)$, where $T$ pushes $P_X$ forward to exactly
  $\mathcal N(0,I)$ (per-coordinate $\Phi^{-1}\!\circ F$) — large KL, but $Q_Z = P_Z$ and $x$ is recoverable;
- **collapsed**: $Q(Z\mid X=x)=\mathcal N(0,I)$ for every $x$ — KL $=0$, $Q_Z=P_Z$, and $z$ says nothing about $x$;
- **mismatched**: narrow posteriors at the standardised $x$ — the same KL as WAE-like, but $Q_Z$ is four clumps.

We measure the mean KL (the VAE regulariser), the MMD between $Q_Z$ and $P_Z$ (a WAE regulariser,
section 6) and how well the cluster can be read back from a code (nearest-centroid accuracy).
"""),
        code('''
data = toy.GridMixture(a=2.0, s=0.35)
x2, cluster = data.sample(P.n_points, gen)
encoders = toy.encoder_toys(data, x2, tau=0.1)
z_prior = torch.randn(P.n_points, 2, generator=gen, dtype=torch.float64)
names = {"wae": "WAE-like: Q_Z = P_Z, informative", "collapsed": "collapsed: every Q(Z|x) = P_Z",
         "mismatched": "mismatched: Q_Z != P_Z"}
stats = {}
for key, enc in encoders.items():
    z = toy.sample_aggregate(enc["mu"], enc["sigma"], gen)
    kl = losses.gaussian_kl(enc["mu"], 2 * enc["sigma"].log()).mean().item()
    mmd = losses.mmd(z, z_prior, sigma2=1.0).item()
    centroids = torch.stack([z[cluster == k].mean(0) for k in range(4)])
    acc = (torch.cdist(z, centroids).argmin(1) == cluster).double().mean().item()
    stats[key] = dict(kl=kl, mmd=mmd, acc=acc, z=z)
    print(f"{names[key]:<36s} mean KL = {kl:6.3f} nats   MMD(Q_Z, P_Z) = {mmd:8.5f}   cluster from z: {acc:6.1%}")

s = stats
assert s["collapsed"]["kl"] < 1e-12 and s["wae"]["kl"] > 3 and abs(s["wae"]["kl"] - s["mismatched"]["kl"]) < 0.5
assert s["mismatched"]["mmd"] > 20 * max(abs(s["wae"]["mmd"]), 1e-3), "MMD should single out the mismatched aggregate"
assert s["wae"]["acc"] > 0.85 and s["mismatched"]["acc"] > 0.95 and s["collapsed"]["acc"] < 0.4
checks["toy_2d"] = {k: {m: v[m] for m in ("kl", "mmd", "acc")} for k, v in stats.items()}
'''),
        code('''
from matplotlib.patches import Ellipse
fig, axes = plt.subplots(1, 4, figsize=(15, 3.9))
colors = np.array(["C0", "C1", "C2", "C3"])
ax = axes[0]
ax.scatter(*x2[:600].T, s=4, c=colors[cluster[:600]])
ax.set_title("data $X$ (4 clusters)"); ax.set_aspect("equal")
show = torch.arange(0, P.n_points, max(1, P.n_points // 12))[:12]
for ax, key in zip(axes[1:], encoders):
    enc, st = encoders[key], stats[key]
    ax.scatter(*st["z"][:600].T, s=3, c=colors[cluster[:600]], alpha=0.35, lw=0)
    for r in (1, 2):   # prior N(0, I): 1 and 2 sigma circles
        ax.add_patch(plt.Circle((0, 0), r, fill=False, ls="--", color="k", lw=1))
    for i in show.tolist():   # a few per-sample posteriors Q(Z|X = x_i), 2-sigma ellipses
        mu_i, sd_i = enc["mu"][i].numpy(), enc["sigma"][i].numpy()
        ax.add_patch(Ellipse(mu_i, 4 * sd_i[0], 4 * sd_i[1], fill=False, color=colors[cluster[i]], lw=1.6))
    ax.set_xlim(-3.5, 3.5); ax.set_ylim(-3.5, 3.5); ax.set_aspect("equal")
    ax.set_title(f"{names[key]}\\nKL = {st['kl']:.2f}, MMD = {st['mmd']:.4f}", fontsize=9.5)
fig.suptitle("Latent space: dots = aggregate posterior $Q_Z$, ellipses = a few $Q(Z|X=x)$ (2 sd), "
             "dashed = prior $N(0, I)$ (1 and 2 sd)")
fig.tight_layout(rect=(0, 0, 1, 0.95))
figures.save_figure(fig, "nb02_vae_vs_wae_regularisers", P.figures_dir)
plt.show()
'''),
        md(r"""
The KL column cannot tell the informative WAE-like encoder from the mismatched one (same value), and it
rewards the useless collapsed encoder with a perfect 0 (its codes identify the cluster no better than a
guess, 25 %). The WAE-like codes identify it most of the time; the errors come from codes near the axes,
where a prior-shaped $Q_Z$ must put mass between the clusters. The MMD column is ~0 for both encoders whose
*aggregate* is the prior and large only for the mismatched one — which is the property the generator
needs: decoding prior samples $z\sim P_Z$ works only if the codes seen in training cover the prior.

## 5. The GAN penalty (thesis Algorithm 2)

Choosing $\mathcal D_Z = D_{\mathrm{JS}}$, the Jensen–Shannon divergence, it can be estimated adversarially: a
discriminator $D_\gamma(z)\in(0,1)$ in the latent space tells prior samples ("real") from codes ("fake").
Algorithm 2 alternates

$$\text{ascend}\quad \frac{\lambda}{n}\sum_{i=1}^n\big[\log D_\gamma(z_i) + \log\big(1-D_\gamma(\tilde z_i)\big)\big],\quad z_i\sim P_Z,\ \tilde z_i\sim Q(Z\mid x_i);$$

$$\text{descend}\quad \frac1n\sum_{i=1}^n\big[c\big(x_i, G(\tilde z_i)\big) - \lambda\log D_\gamma(\tilde z_i)\big].$$

`waelib.losses.discriminator_loss` is the negative of the first line (minimised, written with logits and
binary cross-entropy for numerical stability); `waelib.losses.encoder_adversarial_loss` is the mean of
$-\log D_\gamma(\tilde z_i)$ of the second line. For a fixed $Q_Z$ the best discriminator is
$D^*(z) = \frac{p_Z(z)}{p_Z(z)+q_Z(z)}$, i.e. logit $\log p_Z(z) - \log q_Z(z)$, and at $D^*$

$$\frac{\text{discriminator\_loss}}{\lambda} = 2\log 2 - 2\,D_{\mathrm{JS}}(P_Z, Q_Z),$$

so the adversary's loss *measures* the JS divergence. We check both the formulas and this identity on
1-D Gaussians (JS by quadrature).
"""),
        code('''
from scipy.stats import norm
lam = 1.0
p_sd, q_mu, q_sd = math.sqrt(C.WAE_PRIOR_SIGMA2), 1.0, 0.5          # P_Z = N(0, 2) as in the thesis
logp = lambda t: norm.logpdf(t, 0, p_sd)
logq = lambda t: norm.logpdf(t, q_mu, q_sd)
zp = torch.randn(P.n_mc, generator=gen, dtype=torch.float64) * p_sd
zq = q_mu + q_sd * torch.randn(P.n_mc, generator=gen, dtype=torch.float64)
logit = lambda t: torch.as_tensor(logp(t.numpy()) - logq(t.numpy()))  # the optimal discriminator

d_loss = losses.discriminator_loss(logit(zp), logit(zq), lam=lam)
# the same number from Algorithm 2's formula
D = lambda t: torch.sigmoid(logit(t))
alg2 = -lam * (torch.log(D(zp)) + torch.log(1 - D(zq))).mean()
assert torch.isclose(d_loss, alg2, rtol=1e-9)
assert torch.isclose(losses.encoder_adversarial_loss(logit(zq)), -torch.log(D(zq)).mean(), rtol=1e-9)

js = toy.js_divergence_1d(logp, logq)
terms = torch.nn.functional.softplus(-logit(zp)) + torch.nn.functional.softplus(logit(zq))  # per-pair loss
se = lam * terms.std().item() / math.sqrt(P.n_mc)
print(f"discriminator loss at D*   = {d_loss.item():.5f}")
print(f"2 log 2 - 2 JS(P_Z, Q_Z)   = {2 * math.log(2) - 2 * js:.5f}   (JS = {js:.5f} nats, quadrature)")
assert abs(d_loss.item() - lam * (2 * math.log(2) - 2 * js)) < 5 * se + 1e-6
# any other discriminator does worse (a higher loss), e.g. an over-confident one:
assert losses.discriminator_loss(2 * logit(zp), 2 * logit(zq), lam=lam) > d_loss
checks.update(js_quadrature=js, disc_loss_at_optimum=d_loss.item())
'''),
        md(r"""
## 6. The MMD penalty and its unbiased estimator

The maximum mean discrepancy with a positive-definite kernel $k$ is

$$\mathrm{MMD}_k^2(P_Z, Q_Z) = \mathbb{E}\,k(z,z') + \mathbb{E}\,k(\tilde z,\tilde z') - 2\,\mathbb{E}\,k(z,\tilde z),
\qquad z,z'\sim P_Z,\ \tilde z,\tilde z'\sim Q_Z,$$

zero iff $P_Z = Q_Z$ for a characteristic kernel. WAE-MMD uses the inverse multiquadratic kernel
$k(x,y) = C/(C + \|x-y\|^2)$, summed over scales $C\in\{.1,.2,.5,1,2,5,10\}\times 2\,d_z\,\sigma_z^2$ (the
official code). From $n$ samples of each, the **unbiased** estimator (a U-statistic) drops the $i=j$
terms of the within-set sums:

$$\widehat{\mathrm{MMD}}^2_u = \frac{1}{n(n-1)}\sum_{i\ne j}k(z_i,z_j) + \frac{1}{n(n-1)}\sum_{i\ne j}k(\tilde z_i,\tilde z_j) - \frac{2}{n^2}\sum_{i,j}k(z_i,\tilde z_j).$$

Keeping the diagonal (the V-statistic, `waelib.toy.mmd_biased`) adds $k(z,z)=1$ terms and biases the
estimate upwards by $O(1/n)$ — an encoder would be penalised even when $Q_Z=P_Z$. We draw many
independent estimates with $Q_Z = P_Z = \mathcal N(0, 2I_8)$: the unbiased ones average to 0 (some are
negative!), the biased ones do not.
"""),
        code('''
n, d = 64, 8
sd = math.sqrt(C.WAE_PRIOR_SIGMA2)
u, v = [], []
for _ in range(P.n_repeats):
    zq_ = sd * torch.randn(n, d, generator=gen, dtype=torch.float64)
    zp_ = sd * torch.randn(n, d, generator=gen, dtype=torch.float64)
    u.append(losses.mmd(zq_, zp_).item())
    v.append(toy.mmd_biased(zq_, zp_).item())
u, v = np.array(u), np.array(v)
se_u, se_v = u.std(ddof=1) / math.sqrt(len(u)), v.std(ddof=1) / math.sqrt(len(v))
print(f"unbiased: mean {u.mean():+.5f} +- {se_u:.5f}   ({(u < 0).mean():.0%} of the estimates are negative)")
print(f"biased:   mean {v.mean():+.5f} +- {se_v:.5f}")
assert abs(u.mean()) < 4 * se_u, "the unbiased MMD estimator is biased?"
assert v.mean() > 10 * se_v and (v > 0).all(), "the V-statistic should be positively biased"
# and the estimator does see a difference: shift Q_Z by one prior standard deviation in one coordinate
zq_shift = sd * torch.randn(n, d, generator=gen, dtype=torch.float64) + torch.eye(d, dtype=torch.float64)[0] * sd
shifted = losses.mmd(zq_shift, sd * torch.randn(n, d, generator=gen, dtype=torch.float64)).item()
print(f"one estimate with Q_Z shifted by 1 sd: {shifted:+.4f}")
assert shifted > u.mean() + 3 * u.std()
checks.update(mmd_unbiased_mean=u.mean(), mmd_unbiased_se=se_u, mmd_biased_mean=v.mean())

fig, ax = plt.subplots(figsize=(7, 3.6))
bins = np.linspace(min(u.min(), v.min()), max(u.max(), v.max()), 50)
ax.hist(u, bins=bins, alpha=0.6, color="C0", label="unbiased U-statistic (waelib.losses.mmd)")
ax.hist(v, bins=bins, alpha=0.6, color="C3", label="biased V-statistic (diagonal kept)")
ax.axvline(0, color="k", lw=1.2)
ax.axvline(u.mean(), color="C0", ls="--"); ax.axvline(v.mean(), color="C3", ls="--")
ax.set_xlabel(r"$\\widehat{\\mathrm{MMD}}^2$ with $Q_Z = P_Z$  (n = %d codes, d = %d)" % (n, d))
ax.set_ylabel("count"); ax.set_title(f"{P.n_repeats} independent estimates: only the U-statistic is centred at 0")
ax.set_ylim(0, ax.get_ylim()[1] * 1.35)
ax.legend(loc="upper center", ncol=1)
figures.save_figure(fig, "nb02_mmd_unbiased", P.figures_dir)
plt.show()
'''),
        md(r"""
## Summary

- Optimal transport is a linear programme over couplings; on the line the sorted coupling solves it
  (checked against scipy, the LP and all permutations).
- With a deterministic decoder the coupling can be searched through encoders whose aggregate posterior
  is the prior (Theorem 1, checked with two LPs); relaxing the constraint gives $D_{\mathrm{WAE}}$ with a
  penalty $\lambda\,\mathcal D_Z(Q_Z,P_Z)$.
- Unlike the VAE's per-sample KL, $\mathcal D_Z$ looks only at the aggregate of the codes, so each input
  may keep its own, distinguishable code.
- The GAN penalty estimates the JS divergence through an adversary (Algorithm 2, used by the thesis'
  WAE and WAE-ResNet); the MMD penalty is a closed-form, unbiased estimate (WAE-MMD).
  Notebook 04 trains all of them.
"""),
        code('''
from pathlib import Path
atomic_write_json(Path(P.out_dir) / "02_wae_objective_checks.json", {"profile": P.profile, "params": dict(P), "checks": checks})
print("all checks passed:", ", ".join(checks))
'''),
    ]
    return notebook(cells)


# =======================================================================================
# 02b -- ReLU, SELU, residual blocks, the encoder, and the degradation problem
# =======================================================================================
def nb02b():
    cells = [md(r"""
# 02b · The building blocks: activations, residual blocks, and why skip connections help

*Thesis §2.3 (ResNet, Figure 2.1), §2.6 (ReLU and SELU, Figures 2.2–2.3) and §3.2 (the encoder,
Figures 3.1–3.3).*

The thesis' proposal is to replace the plain convolutional encoder of the WAE by a deep **residual**
encoder. This notebook looks at the pieces it is built from and at the problem residual connections
solve.

**What you will learn**

1. the ReLU and SELU activations (and why SELU's two constants are what they are);
2. the **degradation problem**: a deeper *plain* network can have a higher *training* error than a
   shallower one — and how residual blocks $H(X) = F(X) + X$ remove it. We reproduce the thesis'
   Figure 2.1 at CPU scale;
3. the identity block, the convolutional block and the ResNet encoder of the thesis, drawn
   **from the live modules** of `waelib.blocks`, so the figures cannot drift from the code.
"""),
        *header("DEGRADATION_PROFILES", '''
profile = "default"     # smoke | default | thesis (see waelib.profiles)
seed = None             # None: take the value from the profile
depths = None           # depths 6n+2 of the networks compared, e.g. [20, 56] as in the thesis
iterations = None       # SGD iterations per network
batch_size = None
lr = None
eval_every = None       # iterations between evaluations of the train / test error
batch_norm = None       # BatchNorm in every conv layer (He et al.'s setting)
base_width = None       # channels of the first stage (16 in He et al.)
device = None
arch_image_size = None  # input size used to draw Figures 3.1-3.3 (thesis: 128)
arch_width = None       # channel multiplier of the drawn encoder (thesis: 1.0)
figures_dir = None      # where figures are written (default ../figures)
out_dir = None          # where the error curves are written (a JSON file)
'''),
        code('''
import math
from pathlib import Path
import matplotlib.pyplot as plt
import numpy as np
import torch
from waelib import blocks, config as C, degradation, figures
from waelib.models import build_model
from waelib.utils import atomic_write_json, resolve_device, seed_everything

figures.use_style()
seed_everything(P.seed)
torch.set_num_threads(1)   # these networks are tiny: one thread is faster than several (no sync overhead)
checks = {}
'''),
        md(r"""
## 1. ReLU (thesis Figure 2.2)

$$\mathrm{ReLU}(x) = \max(0, x),\qquad \mathrm{ReLU}'(x) = \mathbb 1[x>0].$$

It passes positive inputs unchanged (gradient exactly 1, so it does not shrink gradients the way a
saturating sigmoid does) and zeroes the rest. The residual blocks of the encoder use it after every
BatchNorm and after the addition.
"""),
        code('''
xg = torch.linspace(-4, 4, 801, dtype=torch.float64, requires_grad=True)
relu = torch.relu(xg)
(d_relu,) = torch.autograd.grad(relu.sum(), xg)
assert torch.equal(relu, torch.clamp(xg, min=0)) and torch.equal(d_relu, (xg > 0).double())

fig, ax = plt.subplots(figsize=(5.2, 3.6))
ax.plot(xg.detach(), relu.detach(), color="C0", label=r"ReLU$(x)=\\max(0,x)$")
ax.plot(xg.detach(), d_relu, color="C0", ls=":", label="derivative")
ax.axhline(0, color="k", lw=0.6); ax.axvline(0, color="k", lw=0.6)
ax.set_xlabel("$x$"); ax.set_title("Figure 2.2: ReLU activation function"); ax.legend(loc="upper left")
figures.save_figure(fig, "fig2_2_relu", P.figures_dir)
plt.show()
'''),
        md(r"""
## 2. SELU (thesis Figure 2.3)

$$\mathrm{SELU}(x) = \lambda\begin{cases} x & x > 0\\ \alpha e^{x} - \alpha & x\le 0\end{cases},\qquad
\alpha \approx 1.6732632423543772,\ \lambda\approx 1.0507009873554805 .$$

(The first text extraction of the thesis lost the case $x>0$; the second has it.) The constants are the
solution of a fixed-point condition (Klambauer et al., 2017): for $x\sim\mathcal N(0,1)$,
$\mathbb{E}[\mathrm{SELU}(x)] = 0$ and $\mathbb{E}[\mathrm{SELU}(x)^2] = 1$. So a deep stack of dense layers
with weights of variance $1/\text{fan-in}$ keeps its activations at mean 0 and variance 1 — it is
**self-normalising**. The thesis' VAE uses SELU in its dense layers. We check the constants against
`torch.nn.SELU`, the fixed point by quadrature, and the self-normalisation through 32 layers.
"""),
        code('''
ALPHA, LAMBDA = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946   # thesis §2.6.2
selu_thesis = lambda t: LAMBDA * torch.where(t > 0, t, ALPHA * torch.exp(t) - ALPHA)
x64 = xg.detach()
assert torch.allclose(selu_thesis(x64), torch.nn.SELU()(x64), atol=1e-12, rtol=1e-12)
assert torch.allclose(selu_thesis(x64), torch.nn.functional.selu(x64), atol=1e-12)

# the fixed point: E[SELU(x)] = 0 and E[SELU(x)^2] = 1 for x ~ N(0, 1) (trapezoidal rule)
t = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
phi = torch.exp(-t ** 2 / 2) / math.sqrt(2 * math.pi)
m1 = torch.trapezoid(selu_thesis(t) * phi, t).item()
m2 = torch.trapezoid(selu_thesis(t) ** 2 * phi, t).item()
print(f"E[SELU(x)] = {m1:.2e},  E[SELU(x)^2] = {m2:.8f}")
assert abs(m1) < 1e-8 and abs(m2 - 1) < 1e-8

# self-normalisation: 32 dense layers, weights N(0, 1/fan_in), inputs far from standardised
g = torch.Generator().manual_seed(P.seed)
h = 3.0 + 2.0 * torch.randn(1024, 256, generator=g, dtype=torch.float64)
stats = {"SELU": [], "ReLU": []}
for name, act in (("SELU", torch.nn.functional.selu), ("ReLU", torch.relu)):
    a = h.clone()
    for _ in range(32):
        a = act(a @ (torch.randn(256, 256, generator=g, dtype=torch.float64) / 16.0))
        stats[name].append((a.mean().item(), a.var().item()))
print("after 32 layers: SELU mean %.3f var %.3f | ReLU mean %.2e var %.2e" % (*stats["SELU"][-1], *stats["ReLU"][-1]))
assert abs(stats["SELU"][-1][0]) < 0.1 and abs(stats["SELU"][-1][1] - 1) < 0.15

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
ax = axes[0]
ax.plot(x64, torch.nn.functional.selu(x64), color="C3", label="SELU")
ax.plot(x64, torch.relu(x64), color="C0", ls="--", lw=1.2, label="ReLU")
ax.axhline(-LAMBDA * ALPHA, color="C3", ls=":", lw=1, label=r"$-\\lambda\\alpha \\approx -1.758$")
ax.axhline(0, color="k", lw=0.6); ax.axvline(0, color="k", lw=0.6)
ax.set_xlabel("$x$"); ax.set_title("Figure 2.3: SELU activation function"); ax.legend(loc="upper left")
ax = axes[1]
for name, col in (("SELU", "C3"), ("ReLU", "C0")):
    ax.plot(range(1, 33), [v for _, v in stats[name]], color=col, label=f"{name}: variance")
    ax.plot(range(1, 33), [m for m, _ in stats[name]], color=col, ls=":", label=f"{name}: mean")
ax.axhline(1, color="k", lw=0.8, ls="--"); ax.axhline(0, color="k", lw=0.6)
ax.set_ylim(-0.5, 3); ax.set_xlabel("layer")
ax.set_title("32 dense layers, weights N(0, 1/fan-in): SELU self-normalises")
ax.legend(loc="upper right", ncol=2)
fig.tight_layout()
figures.save_figure(fig, "fig2_3_selu", P.figures_dir)
plt.show()
checks.update(selu_mean=m1, selu_second_moment=m2)
'''),
        md(r"""
## 3. The degradation problem (thesis Figure 2.1)

Deeper networks can represent everything shallower ones can — add layers that compute the identity.
Yet He et al. (2016) found that a 56-layer *plain* CNN reaches a **higher training error** than a
20-layer one on CIFAR-10 (thesis Figure 2.1). This is not over-fitting (the *training* error is worse)
but an optimisation difficulty: a stack of nonlinear layers finds it hard to even approximate the
identity. (The thesis attributes it to vanishing/exploding gradients; He et al. used BatchNorm, which
keeps the forward signal well scaled, and still saw it.)

A residual block learns the *difference* from the identity instead:

$$H(X) = F(X) + X,$$

so an unneeded block only has to drive $F$ to 0 (thesis §3.2). We reproduce the experiment at CPU
scale: He et al.'s CIFAR networks of depth $6n+2$ (`waelib.degradation.CifarResNet`: a 3×3 stem, three
stages of $n$ blocks of two 3×3 convolutions, global pooling, a linear classifier), *plain* and
*residual* with exactly the same layers and parameter count, on scikit-learn's handwritten digits
(1,797 8×8 images — embedded, no download), trained with SGD + momentum with identical mini-batches.
The profile sets the depths, iterations and learning rate.
"""),
        code('''
data = degradation.load_digits_split(seed=0)
print(f"digits: {len(data[0])} train / {len(data[2])} test images of shape {tuple(data[0].shape[1:])}")
device = str(resolve_device(P.device))
curves = degradation.run_degradation(P.depths, base_width=P.base_width, batch_norm=P.batch_norm,
                                     iterations=P.iterations, batch_size=P.batch_size, lr=P.lr,
                                     eval_every=P.eval_every, seed=P.seed, device=device, data=data)
for c in curves:
    print(f"{c.label:>10s}: {c.n_params:7,d} parameters, {c.seconds:5.1f} s, "
          f"final train error {c.train_error[-1]:.1%}, test error {c.test_error[-1]:.1%}")
plain = [c for c in curves if not c.residual]
assert plain[0].n_params == [c for c in curves if c.residual][0].n_params, "plain and residual must match"
'''),
        code('''
shallow, deep = min(P.depths), max(P.depths)
fig = degradation.plot_degradation(
    curves, title=f"Figure 2.1 (reproduced small): plain vs residual CNNs of depth {shallow} and {deep} "
                  f"on digits, {P.iterations} SGD iterations")
figures.save_figure(fig, "fig2_1_degradation", P.figures_dir)
plt.show()

err = degradation.final_errors(curves)
rows = [dict(network=k, train_error=v[0], test_error=v[1]) for k, v in err.items()]
figures.save_table(rows, "fig2_1_degradation_errors", P.figures_dir,
                   caption="Final errors (mean of the last 3 evaluations) of the Figure 2.1 run.",
                   meta={k: P[k] for k in ("seed", "depths", "iterations", "batch_size", "lr",
                                          "batch_norm", "base_width", "profile")},
                   provenance=P.profile != "smoke")
tr = lambda name: err[name][0]
degraded = tr(f"plain-{deep}") > tr(f"plain-{shallow}") + 0.05
cured = tr(f"ResNet-{deep}") < tr(f"plain-{deep}") - 0.05
print(f"plain-{deep} vs plain-{shallow} training error: {tr(f'plain-{deep}'):.1%} vs {tr(f'plain-{shallow}'):.1%}"
      f" -> degradation {'VISIBLE' if degraded else 'NOT visible'} at this budget")
print(f"ResNet-{deep} vs plain-{deep} training error: {tr(f'ResNet-{deep}'):.1%} vs {tr(f'plain-{deep}'):.1%}"
      f" -> residual connections {'remove it' if cured else 'do NOT help here'}")
checks.update(final_errors=err, degradation_visible=degraded, residual_cures=cured)
'''),
        md(r"""
**What to look for.** With the default profile (depths 20 and 56, 300 iterations, BatchNorm as in He et
al.) the deep plain network's *training* error stays far above the shallow one's — both solid curves
start at chance (90 %), but the 56-layer one barely moves — while the 56-layer **residual** network
(dashed) trains as fast as the 20-layer ones: exactly the shape of the thesis' Figure 2.1, and its
cure. The cell above prints whether the effect is visible in *this* run, so the text never claims more
than the numbers show: with the tiny `smoke` profile (a few iterations) it is usually not. The effect
is about optimisation speed at a fixed budget; He et al. report that the plain 56-layer net stays worse
even after convergence. The numbers are saved in `fig2_1_degradation_errors.csv`.

## 4. The residual blocks of the encoder (thesis Figures 3.2 and 3.3)

The encoder uses the *bottleneck* form of the residual block: $F$ is a 1×1 convolution (reduce the
channels), a 3×3 convolution, and a 1×1 convolution (expand again), each followed by BatchNorm, with
ReLU in between:

- **identity block** (§3.2.1): input and output shapes agree, $H(X) = \mathrm{ReLU}\big(F(X) + X\big)$;
- **convolutional block** (§3.2.2): the shape changes (more channels, stride 2), so the shortcut is a
  1×1 convolution $W_s$ with the block's stride (and BatchNorm): $H(X) = \mathrm{ReLU}\big(F(X) + W_sX\big)$.

The diagrams below are drawn by `waelib.figures.draw_architecture` from a forward pass through the
blocks of the *live* encoder (`build_model("wae_resnet").encoder`, stage 3): every label and shape is read
from the module, and the addition node is verified numerically ($\text{block}(x) = \mathrm{ReLU}(F(x) +
\text{shortcut}(x))$). We also check the thesis' argument that a block can switch itself off: with the
last BatchNorm of $F$ set to zero, an identity block is exactly the identity on its (non-negative) inputs.
"""),
        code('''
model = build_model("wae_resnet", image_size=P.arch_image_size, width=P.arch_width)
encoder = model.encoder
in_shape = (C.IMAGE_CHANNELS, P.arch_image_size, P.arch_image_size)
shapes = figures.trace_shapes(encoder, in_shape)
stage3 = encoder.features[6]                       # ZeroPad, Conv, BN, ReLU, MaxPool, stage 2, stage 3, ...
conv_block, id_block = stage3[0], stage3[1]
tag = f"{P.arch_image_size} px, width {P.arch_width:g}"
d33 = figures.draw_architecture(conv_block, shapes["features.6.0"][0], "fig3_3_conv_block", P.figures_dir,
                                title=f"Figure 3.3: convolutional block (encoder stage 3, {tag})")
d32 = figures.draw_architecture(id_block, shapes["features.6.1"][0], "fig3_2_identity_block", P.figures_dir,
                                title=f"Figure 3.2: identity block (encoder stage 3, {tag})")
plt.show()

# F = 0 makes the identity block the identity map (on ReLU outputs, which is what it receives)
import copy
blk = copy.deepcopy(id_block).eval()
torch.nn.init.zeros_(blk.bn3.weight); torch.nn.init.zeros_(blk.bn3.bias)
xin = torch.rand(2, *shapes["features.6.1"][0])
with torch.no_grad():
    assert torch.equal(blk(xin), xin), "with F = 0 the identity block should be the identity"
print("identity block with F = 0 is the identity: OK")
assert [r.text for r in d32.boxes[1].rows][0].startswith("Conv 1×1")
'''),
        md(r"""
## 5. The ResNet encoder (thesis Figure 3.1)

Zero-padding 2, a 7×7/2 convolution with 64 filters, BatchNorm, ReLU and 3×3 max-pooling (stage 1), then
four stages, each one convolutional block followed by 2, 3, 3 and 3 identity blocks, then 2×2
average-pooling, flatten, and a dense layer to the 64-dimensional code. At 128 px the spatial sizes are
132 → 63 → 61 → 61 → 31 → 16 → 8 → 4, so $4\cdot4\cdot2048 = 32768$ features reach the dense layer. The
diagram is again drawn from the live module, and we check it against the thesis' numbers in
`waelib.config`.
"""),
        code('''
d31 = figures.draw_architecture(encoder, in_shape, "fig3_1_encoder", P.figures_dir,
                                title=f"Figure 3.1: the ResNet encoder of WAE-ResNet ({tag})")
plt.show()

stage_boxes = [b for b in d31.boxes if b.title.startswith("Stage") and any("Block" in r.label for r in b.rows)]
n_identity = [sum(r.count for r in b.rows if r.label.startswith("IdentityBlock")) for b in stage_boxes]
strides = [int(b.rows[0].label.rsplit("stride ", 1)[1]) for b in stage_boxes]
print("identity blocks per stage:", n_identity, " conv-block strides:", strides)
assert tuple(n_identity) == C.RESNET_IDENTITY_BLOCKS and tuple(strides) == C.RESNET_STAGE_STRIDES
sizes = blocks.resnet_spatial_sizes(P.arch_image_size)
traced = [shapes["features.0"][1][-1], shapes["features.1"][1][-1], shapes["features.4"][1][-1]] + \\
         [shapes[f"features.{i}"][1][-1] for i in (5, 6, 7, 8)] + [shapes["features.9"][1][-1]]
print("spatial sizes (traced):", traced, " expected:", list(sizes))
assert tuple(traced) == sizes
assert shapes["features"][1][0] == encoder.n_features and shapes["dense"][1] == (model.latent_dim,)
checks.update(identity_blocks=n_identity, spatial_sizes=traced, n_features=encoder.n_features)
'''),
        md(r"""
## Summary

- ReLU and SELU are checked against their definitions; SELU's constants make $\mathcal N(0,1)$ a fixed
  point, which keeps deep dense stacks normalised.
- Deep *plain* networks can be harder to train than shallow ones (higher training error); residual
  connections, which make the identity the default, remove the effect (Figure 2.1, run above).
- Figures 3.1–3.3 are generated from the same `waelib.blocks` modules that notebook 04 trains, so they
  always show the network that was actually used.
"""),
        code('''
atomic_write_json(Path(P.out_dir) / "02b_resnet_degradation.json",
                  {"profile": P.profile, "params": dict(P), "checks": checks,
                   "curves": [c.to_dict() for c in curves]})
print("all checks passed:", ", ".join(checks))
'''),
    ]
    return notebook(cells)



# =======================================================================================
# 03, 04, 05 -- training and the thesis' results
# =======================================================================================
TRAIN_PARAMS = '''
profile = "default"   # smoke | default | thesis (see waelib.profiles)
models = {models}
seed = None           # None: take the value from the profile
dataset = None        # synthfaces | celeba | digits | auto (thesis profile: celeba when present)
image_size = None     # 32, 64 or 128 (thesis: 128)
width = None          # channel multiplier of every layer (thesis: 1.0)
latent_dim = None     # None: thesis value (512 VAE, 64 WAE)
epochs = None         # give epochs or steps
steps = None
batch_size = None
device = None         # auto | cpu | cuda
n_train = None        # None: the whole training split
n_test = None
n_samples = None      # random samples for Table 4.4 (thesis: 10,000)
n_recon = None        # reconstructions for Table 4.5 (thesis: 40,000)
n_interp = None       # interpolation pairs (Table 4.3, Figure 4.1)
interp_steps = None   # images per interpolation row, the two real ends included
fid_features = None   # auto | inception | synthfaces_classifier | celeba_classifier
data_root = None
out_dir = None        # runs are written to <out_dir>/<model>
figures_dir = None
retrain = False       # True: ignore an existing run in <out_dir>/<model> and train again
'''

TRAIN_SETUP = '''
import matplotlib.pyplot as plt
import torch
from waelib import config as C, evaluate as E, experiment as X, figures, losses as L
from waelib.models import build_model, count_parameters
from waelib.utils import resolve_device, seed_everything

figures.use_style()
seed_everything(P.seed)
device = resolve_device(P.device)
print("device:", device, "| torch threads:", torch.get_num_threads())
data = X.load_data(P)
print(f"{data.name}: {len(data.train)} training images, {len(data.test)} held-out images, "
      f"{data.image_size}x{data.image_size} px")
'''

SHOW_REAL = '''
fig, ax = plt.subplots(figsize=(8, 2.2))
figures.show_images(ax, data.test[:16].float() / 255, nrow=16, title=f"real held-out {data.name} images")
plt.show()
'''

TRAIN_AND_EVALUATE = '''
extractor = X.feature_extractor(P)
reference = X.reference_stats(data, extractor)
print(f"FID features: {extractor.name} ({'FID' if extractor.name == 'inception' else 'FCD, a Frechet classifier distance'}); "
      f"reference: {reference.source}, n={reference.n}")

runs, evals, baselines = {}, {}, {}
for name in P.models:
    print(f"--- {C.THESIS_MODEL_LABELS[name]} ({name}) ---")
    runs[name] = X.train_model(name, data, P, retrain=P.retrain)
    evals[name] = X.evaluate_run(runs[name].model, data, P, extractor=extractor, reference=reference)
    baselines[name] = X.evaluate_untrained(name, data, P, extractor=extractor, reference=reference)
    metric = evals[name]["samples"]["fid"]["metric"]
    print(f"trained {runs[name].step} steps -> {runs[name].out_dir}\\n"
          f"  {metric} of samples: {evals[name]['samples']['fid']['value']:.2f} "
          f"(untrained: {baselines[name]['samples']['fid']['value']:.2f}); "
          f"{metric} of reconstructions: {evals[name]['reconstructions']['fid']['value']:.2f}")
'''

PLOT_CURVES = '''
keys = {keys}
fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2))
for ax, key in zip(axes, keys):
    for name, run in runs.items():
        rows = [r for r in run.history if key in r]
        if rows:
            ax.plot([r["step"] for r in rows], [r[key] for r in rows], label=C.THESIS_MODEL_LABELS[name])
    ax.set_title(key); ax.set_xlabel("step")
    ax.set_yscale("log" if key in ("loss", "recon", "sq_error", "kl") else "linear")
axes[0].legend()
fig.tight_layout()
figures.save_figure(fig, "{figname}", P.figures_dir)
plt.show()
'''

SHOW_SAMPLES = '''
n = len(P.models)
fig, axes = plt.subplots(n, 2, figsize=(12, 3.1 * n), squeeze=False)
for row, name in zip(axes, P.models):
    model = runs[name].model
    figures.show_images(row[0], E.generate(model, 32, seed=P.seed), nrow=8,
                        title=f"{C.THESIS_MODEL_LABELS[name]}: random samples")
    x = data.eval_images[:16]
    pairs = torch.stack([x.float() / 255, E.reconstruct(model, x)], 1).flatten(0, 1)
    figures.show_images(row[1], pairs, nrow=8, title=f"{C.THESIS_MODEL_LABELS[name]}: originals | reconstructions")
fig.tight_layout()
figures.save_figure(fig, "{figname}", P.figures_dir)
plt.show()
'''

CHECK_BASELINE = '''
rows = [{"model": C.THESIS_MODEL_LABELS[m],
         "samples": evals[m]["samples"]["fid"]["value"],
         "untrained samples": baselines[m]["samples"]["fid"]["value"],
         "trained / untrained": evals[m]["samples"]["fid"]["value"] / baselines[m]["samples"]["fid"]["value"],
         "reconstructions": evals[m]["reconstructions"]["fid"]["value"],
         "sharpness (samples)": evals[m]["samples"]["sharpness"]} for m in P.models]
print(figures.markdown_table(list(rows[0]), [[figures.format_value(v) for v in r.values()] for r in rows]))
if P.profile != "smoke":   # the smoke profile trains for 2 steps: nothing to assert
    for r in rows:
        assert r["trained / untrained"] < 0.7, r
    print("every trained model's samples are far closer to the data than an untrained model's")
'''


def nb03():
    cells = [md(r"""
# 03 · VAE and VAE-ResNet

*Thesis §2.1 (the ELBO), §4.3.1 (the VAE) and §4.3.3 (the VAE with a ResNet encoder).*

The thesis' baselines are two variational auto-encoders that share one decoder and differ only in the
encoder: five strided 3×3 convolutions for the **VAE**, and the ResNet-50-like encoder of §3.2 for
**VAE-ResNet**. This notebook builds both from `waelib`, checks their training loss against the ELBO of
notebook 01, trains them with the same loop that trains every model of the thesis
(`waelib.train.fit`), and measures their samples and reconstructions.

**What you will learn**

1. how the thesis' layer lists become the modules of `waelib.blocks` and what they cost in parameters;
2. how the negative ELBO becomes a loss on a batch: a reconstruction term and a KL term;
3. what a trained VAE's samples and reconstructions look like — and why they are blurry.

With the default profile everything runs on a CPU in a few minutes on the embedded `synthfaces` data
set at 32×32 with narrow networks; `profile="thesis"` trains the thesis configuration (128×128, full
width, 100 epochs) on a GPU.
"""),
        *header("PROFILES", TRAIN_PARAMS.format(models='["vae", "vae_resnet"]')),
        code(TRAIN_SETUP),
        code(SHOW_REAL),
        md(r"""
## 1. The two models

Both encoders end in a dense layer that outputs $2d$ numbers, split into the mean $\mu(x)$ and the
log-variance $\log\sigma^2(x)$ of the Gaussian posterior $q(z\mid x)=\mathcal N(\mu(x),\operatorname{diag}\sigma^2(x))$,
with $d = 512$ (§4.3.1). For VAE-ResNet the thesis writes a 64-unit dense layer, which cannot give a 512-d
Gaussian; we use the same $2d$-unit head as for the VAE (row 2 of `docs/deviations.md`). The decoder —
dense 2048 → dense 8192 → five transposed convolutions → a sigmoid — is shared.

The parameter counts at the thesis' size are checked in `tests/test_models.py` against a count derived
by hand from the thesis' layer lists.
"""),
        code('''
for name in P.models:
    full = build_model(name)                      # the thesis configuration: 128 px, width 1
    small = build_model(name, image_size=data.image_size, width=P.width, latent_dim=P.latent_dim)
    print(f"{C.THESIS_MODEL_LABELS[name]:<11} thesis size: {count_parameters(full)/1e6:6.2f} M parameters | "
          f"this run ({data.image_size} px, width {P.width}): {count_parameters(small)/1e6:6.3f} M")
    del full
'''),
        md(r"""
## 2. The loss is the negative ELBO

With a Gaussian decoder $p(x\mid z)=\mathcal N(x; G(z), \sigma_G^2 I)$, the per-sample ELBO of notebook 01 is

$$\mathrm{ELBO}(x) = \mathbb E_{q(z\mid x)}\big[\log p(x\mid z)\big] - \mathrm{KL}\big(q(z\mid x)\,\|\,\mathcal N(0,I)\big)
= -\frac{\mathbb E_q\|x-G(z)\|^2}{2\sigma_G^2} - \mathrm{KL} + \text{const}.$$

`waelib.losses.vae_loss` returns the batch mean of $-\mathrm{ELBO}$ (without the constant), estimating the
expectation with one reparameterised draw $z=\mu+\sigma\odot\varepsilon$. The KL has the closed form
$\tfrac12\sum_j(\sigma_j^2+\mu_j^2-1-\log\sigma_j^2)$. The thesis does not give $\sigma_G$; we use
$\sigma_G^2 = 0.5$, which makes the first term the plain sum of squared errors (row 8 of the deviations table).
"""),
        code('''
torch.manual_seed(P.seed)
vae = build_model("vae", image_size=data.image_size, width=P.width, latent_dim=P.latent_dim)
x = data.test[:8].float() / 255
out = vae(x)
terms = L.vae_loss(x, out["x_hat"], out["mu"], out["logvar"])
sq = ((x - out["x_hat"]) ** 2).flatten(1).sum(1).mean()
kl = (0.5 * (out["logvar"].exp() + out["mu"] ** 2 - 1 - out["logvar"]).sum(1)).mean()
assert torch.allclose(terms["recon"], sq / (2 * C.VAE_DECODER_SIGMA2))
assert torch.allclose(terms["kl"], kl) and torch.allclose(terms["loss"], terms["recon"] + terms["kl"])
print({k: round(v.item(), 3) for k, v in terms.items()})
'''),
        md(r"""
## 3. Training

`waelib.experiment.train_model` calls `waelib.train.fit`, the single training loop of the project:
Adam with the thesis' learning rate $10^{-3}$ and $\beta_1=0.5$ (the thesis' "exponential decay rate"),
a seeded data order, a per-step log, checkpoints written atomically, and a guard that stops on a NaN
loss. A run folder `<out_dir>/<model>` holds `config.json` (configuration, hardware, versions, commit),
`log.jsonl`, `checkpoint.pt` and sample grids; running the cell again resumes from it (or returns at once
when the run is complete). The same loop runs from a shell:
`python -m waelib.train --model vae_resnet --dataset synthfaces --image-size 32 --width 0.125 --steps 2000`.

After training, each model is evaluated exactly as in the thesis' chapter 4 (`waelib.evaluate`), and the
numbers are saved beside the run as `eval.json`, from which notebook 05 builds the tables.
"""),
        code(TRAIN_AND_EVALUATE),
        code(PLOT_CURVES.replace("{keys}", '["loss", "sq_error", "kl"]').replace("{figname}", "nb03_vae_training_curves")),
        md(r"""
## 4. Samples and reconstructions

Random samples decode $z\sim\mathcal N(0,I)$. The VAE's KL term pushes *every* posterior $q(z\mid x)$
towards the prior, so posteriors of different images overlap and the decoder learns to output their
average: VAE samples and reconstructions are typically **blurry**. That is the weakness the WAE addresses
(notebooks 02 and 04).
"""),
        code(SHOW_SAMPLES.replace("{figname}", "nb03_vae_samples")),
        md(r"""
How much does a VAE remember about each image? The KL term is exactly the number of nats the code carries
about $x$ beyond the prior (on average over the data it bounds the mutual information between $x$ and $z$).
The last logged KL of each run tells:
"""),
        code('''
for name, run in runs.items():
    last = run.history[-1]
    print(f"{C.THESIS_MODEL_LABELS[name]:<11} KL = {last['kl']:6.1f} nats per image, "
          f"sum of squared errors = {last['sq_error']:6.1f} over {3 * data.image_size ** 2} pixel values")
'''),
        md(r"""
A few nats cannot describe a face in detail: the decoder can only draw an average face for each rough
region of the latent space. Raising the weight of the reconstruction term (a smaller $\sigma_G^2$) buys
sharper reconstructions at the price of a posterior further from the prior; the WAE avoids this trade-off by
penalising only the aggregated posterior.
"""),
        code(CHECK_BASELINE),
        md(r"""
## Summary

- VAE and VAE-ResNet are built by name from the thesis' layer lists (`waelib.models.build_model`), and their
  loss is the negative ELBO derived in notebook 01.
- One training loop trains them; each run folder records its configuration, hardware and metrics.
- Next: **04_wae_resnet.ipynb** trains the Wasserstein auto-encoders, and **05_thesis_results.ipynb** puts
  all five models into the thesis' tables.
"""),
    ]
    return notebook(cells)


def nb04():
    cells = [md(r"""
# 04 · WAE, WAE-MMD and WAE-ResNet — the thesis' proposal

*Thesis §2.2 (the WAE objective), §3 (the ResNet encoder), §4.3.2 and §4.3.4 (the models).*

This is the main notebook of the course. The thesis' claim is that the **Wasserstein auto-encoder**
(WAE), which only asks the *aggregated* posterior $Q_Z$ to match the prior, produces sharper images than a
VAE — and that replacing the WAE's plain convolutional encoder by a deep **residual** encoder
(WAE-ResNet) improves it further, because the skip connections keep a deep encoder trainable.

**What you will learn**

1. the two residual blocks of §3.2 and what the skip connection does to the gradients of a deep network;
2. the three WAE models: the DCGAN-style WAE with a latent GAN penalty (the thesis' "WAE"), the same
   networks with the MMD penalty (WAE-MMD, from the WAE paper), and WAE-ResNet;
3. the WAE-GAN training step of the thesis' Algorithm 2 and the MMD penalty, as code;
4. how to train them, and how to check that they learned something: random samples that look like faces,
   and a Fréchet distance far below an untrained model's.

The default profile runs on a CPU in under 10 minutes on the embedded `synthfaces` data at 32×32 with
narrow networks (`make demo`); `profile="thesis"` is the thesis configuration for a GPU.
"""),
        *header("PROFILES", TRAIN_PARAMS.format(models='["wae_gan", "wae_mmd", "wae_resnet"]')),
        code(TRAIN_SETUP),
        code(SHOW_REAL),
        md(r"""
## 1. Residual blocks (thesis §3.2)

A residual block learns a *correction* $F(X)$ to its input instead of a whole mapping:

$$H(X) = F(X) + X \quad\text{(identity block, §3.2.1)},\qquad H(X) = F(X) + W_s X \quad\text{(conv block, §3.2.2)},$$

where $F$ is 1×1 → 3×3 → 1×1 convolutions with BatchNorm and ReLU, and $W_s$ a strided 1×1 convolution that
matches the shape of $F(X)$ when the block changes the number of channels or the resolution. If the best
thing a block can do is nothing, it only has to drive $F$ to zero — for instance by zeroing the scale of its
last BatchNorm — and it becomes the identity. A plain stack of layers would have to *learn* the identity.
"""),
        code('''
from waelib.blocks import ConvBlock, IdentityBlock, ResNetEncoder, resnet_spatial_sizes

block = IdentityBlock(256, (64, 64, 256))
torch.nn.init.zeros_(block.bn3.weight)          # F(X) = 0
x = torch.rand(2, 256, 16, 16)                  # inside the encoder, block inputs are ReLU outputs (>= 0)
assert torch.equal(block(x), x)
print("identity block with its last BN scale at zero: H(X) == X exactly")

conv = ConvBlock(256, (128, 128, 512), stride=2)
print("conv block:", tuple(x.shape), "->", tuple(conv(x).shape), "(W_s:", conv.shortcut[0], ")")

sizes = resnet_spatial_sizes(128)
assert sizes == (132, 63, 61, 61, 31, 16, 8, 4)
print("spatial sizes through the thesis' ResNet encoder at 128 px:", " -> ".join(map(str, sizes)),
      f"-> 4*4*2048 = {4 * 4 * 2048} features into the dense layer")
'''),
        md(r"""
### Why the skip connections help

Back-propagation multiplies one Jacobian per layer. In a deep *plain* network these products can shrink or
grow geometrically with depth, so the first layers receive gradients of a very different size than the last
ones. In a residual network the gradient also flows through the identity paths, which add, rather than
multiply, the blocks' contributions. Below: the gradient norm of every convolution of He et al.'s CIFAR
networks (the ones of notebook 02b, thesis Figure 2.1) at initialisation, plain vs. residual, at depths 20
and 56, on one batch of digits.
"""),
        code('''
from waelib import degradation as D

xd, yd, _, _ = D.load_digits_split(seed=P.seed)
fig, ax = plt.subplots(figsize=(7.5, 3.4))
ratios = {}
for depth, ls in ((20, ":"), (56, "-")):
    for residual, color in ((False, "C3"), (True, "C0")):
        torch.manual_seed(P.seed)
        norms = D.layer_gradient_norms(D.CifarResNet(depth, residual=residual), xd[:128], yd[:128])
        ratios[(depth, residual)] = norms[0] / norms[-1]
        ax.semilogy(range(1, len(norms) + 1), norms, ls=ls, color=color,
                    label=f"{'residual' if residual else 'plain'}-{depth}")
ax.set_xlabel("convolution (input -> output)"); ax.set_ylabel("gradient norm at init"); ax.legend()
fig.tight_layout(); plt.show()
for (depth, residual), r in ratios.items():
    print(f"{'residual' if residual else 'plain':>8}-{depth}: first/last layer gradient ratio {r:10.3g}")
assert ratios[(56, False)] > 10 * ratios[(56, True)]
'''),
        md(r"""
## 2. The three models

| model | encoder | decoder | penalty on $Q_Z$ | latent |
|---|---|---|---|---|
| WAE (`wae_gan`) | 5 × conv 5×5 stride 2 [128…2048], BN, ReLU → dense 64 | dense → 4×4×2048 → 5 × transposed conv 5×5 | GAN: a 4×512 MLP discriminator on $z$ | 64 |
| WAE-MMD (`wae_mmd`) | as WAE | as WAE | MMD with an inverse multiquadric kernel | 64 |
| WAE-ResNet (`wae_resnet`) | the ResNet encoder of §3.2 (49 convolutions) | as WAE | GAN, as WAE | 64 |

All use the prior $P_Z=\mathcal N(0,\sigma_z^2 I)$ with $\sigma_z = 1.414$, i.e. $\sigma_z^2=2$, a deterministic
encoder, and the cost $c(x,y)=\|x-y\|^2$.
"""),
        code('''
for name in P.models:
    full = build_model(name)
    small = build_model(name, image_size=data.image_size, width=P.width, latent_dim=P.latent_dim)
    print(f"{C.THESIS_MODEL_LABELS[name]:<11} thesis size: {count_parameters(full)/1e6:6.1f} M parameters | "
          f"this run ({data.image_size} px, width {P.width}): {count_parameters(small)/1e6:6.3f} M")
    del full
'''),
        md(r"""
## 3. The objectives, as code

The WAE minimises $\;\mathbb E\,c(x, G(Q(x))) + \lambda\,\mathcal D_Z(Q_Z, P_Z)$ (notebook 02). `waelib.losses`
writes each penalty once, and the training loop only calls these functions:

- **GAN (thesis Algorithm 2).** A discriminator $D$ tells prior samples $z\sim P_Z$ from codes
  $\tilde z = Q(x)$. It ascends $\frac\lambda n\sum_i\log D(z_i)+\log(1-D(\tilde z_i))$
  (`discriminator_loss`, the negative of it); then the encoder and decoder descend
  $\frac1n\sum_i c(x_i, G(\tilde z_i)) - \lambda\log D(\tilde z_i)$ (`wae_gan_loss`): one step each per batch.
- **MMD.** $\mathrm{MMD}^2_k(Q_Z,P_Z)$ with $k(x,y)=\sum_s C_s/(C_s+\|x-y\|^2)$, $C_s = s\cdot 2 d\sigma_z^2$,
  estimated without bias (`mmd`, `wae_mmd_loss`).

As in the official WAE code, the cost is scaled by 0.05 and $\lambda=1$ (GAN) or $100$ (MMD); the thesis
does not give $\lambda$ (row 7 of `docs/deviations.md`). A quick check on an untrained encoder: its codes are
far from the prior, and the MMD says so.
"""),
        code('''
torch.manual_seed(P.seed)
model = build_model("wae_mmd", image_size=data.image_size, width=P.width, latent_dim=P.latent_dim).eval()
with torch.no_grad():
    z_q = model.encode(data.test[:256].float() / 255)
z_p = model.sample_prior(256)
z_p2 = model.sample_prior(256)
print(f"MMD(untrained codes, prior) = {L.mmd(z_q, z_p).item():.4f}   MMD(prior, prior) = {L.mmd(z_p2, z_p).item():.4f}")
assert L.mmd(z_q, z_p) > 10 * abs(L.mmd(z_p2, z_p))
logits = torch.tensor([2.0, -1.0])
print("discriminator loss on logits (prior 2, codes -1):", round(L.discriminator_loss(logits[:1], logits[1:]).item(), 4),
      "| encoder's adversarial loss:", round(L.encoder_adversarial_loss(logits[1:]).item(), 4))
'''),
        md(r"""
## 4. Training and evaluation

One loop (`waelib.train.fit`) trains all three: for the GAN models two Adam optimisers (auto-encoder
$3\cdot10^{-4}$, discriminator $10^{-3}$, $\beta_1=0.5$), for WAE-MMD one ($10^{-3}$). Each trained model is
then evaluated like in the thesis' chapter 4: **random samples** (decoded prior draws) and
**reconstructions** of held-out images, scored with a Fréchet distance to held-out real images and with the
thesis' sharpness. Without the Inception weights (no internet here) the Fréchet distance uses a small
attribute classifier trained on the data set: a *Fréchet classifier distance* (FCD), comparable between our
models but not with Inception FIDs.
"""),
        code(TRAIN_AND_EVALUATE),
        code(PLOT_CURVES.replace("{keys}", '["recon", "penalty", "disc_loss"]').replace("{figname}", "nb04_wae_training_curves")),
        md(r"""
The reconstruction cost falls for all three models. The GAN penalty $-\log D(\tilde z)$ hovers around
$\log 2\approx0.69$ when the discriminator cannot tell codes from prior samples, and the MMD penalty falls
towards 0 as $Q_Z$ approaches $P_Z$.

## 5. Samples and reconstructions
"""),
        code(SHOW_SAMPLES.replace("{figname}", "nb04_wae_samples")),
        code(CHECK_BASELINE),
        md(r"""
## 6. Did the penalty match $Q_Z$ to the prior?

The WAE never asks an individual code to be random; it asks the *cloud* of codes $Q_Z$ to look like
$\mathcal N(0, 2I)$. Under the prior, $\|z\|^2/\sigma_z^2$ follows a $\chi^2_{64}$ distribution, so the norms of
the codes should concentrate around $\sigma_z\sqrt{64}\approx 11.3$.
"""),
        code('''
fig, ax = plt.subplots(figsize=(6.5, 3.2))
prior_norms = runs[P.models[0]].model.sample_prior(2048, torch.Generator().manual_seed(P.seed)).norm(dim=1)
ax.hist(prior_norms, bins=40, density=True, histtype="step", color="k", lw=2, label="prior N(0, 2I)")
for name in P.models:
    model = runs[name].model
    with torch.no_grad():
        codes = torch.cat([model.encode(data.eval_images[i:i + 256].float().div(255).to(next(model.parameters()).device)).cpu()
                           for i in range(0, len(data.eval_images), 256)])
    mmd = L.mmd(codes[:512], model.sample_prior(512, torch.Generator().manual_seed(1)).cpu()).item()
    ax.hist(codes.norm(dim=1), bins=40, density=True, alpha=0.45, label=f"{C.THESIS_MODEL_LABELS[name]} (MMD {mmd:.3f})")
ax.set_xlabel("||z||"); ax.legend(fontsize=8); fig.tight_layout(); plt.show()
'''),
        md(r"""
## Summary

- A residual block is the identity when its residual branch is switched off, and skip connections keep the
  gradients of a deep network balanced — the reason the thesis uses a ResNet encoder.
- WAE, WAE-MMD and WAE-ResNet are built by name, trained by one loop with the objectives of `waelib.losses`,
  and evaluated with the thesis' protocol; every number printed here is saved beside its run.
- **05_thesis_results.ipynb** collects these runs (and the VAEs of notebook 03) into the thesis' Tables
  4.3–4.5 and Figures 4.1–4.3, each beside the thesis' own numbers.
"""),
    ]
    return notebook(cells)


def nb05():
    cells = [md(r"""
# 05 · The thesis' results, regenerated

*Thesis chapter 4: Tables 4.1–4.5 and Figures 4.1–4.3.*

This notebook trains nothing. It reads the runs that notebooks 03 and 04 saved under `<out_dir>/<model>`
(with the **same profile**), evaluates nothing it has not already measured, and writes every table and
figure of chapter 4 into `figures/` — each table as CSV, Markdown and a JSON file recording which runs,
configuration, hardware, date and commit produced it, with the thesis' own numbers in a column beside
ours.

**Read the numbers with their context.** With the default profile our models are small (width 0.125) and
trained for minutes at 32×32 on the synthetic `synthfaces` data, and the Fréchet distance uses an offline
attribute classifier (FCD) rather than Inception. The thesis trained full-size models for 100 epochs on
CelebA at 128×128. The *ranking* of the models is the comparable quantity, not the values; the thesis
profile on a GPU is what reproduces the thesis' setting.
"""),
        *header("PROFILES", TRAIN_PARAMS.format(models="list(C.MODEL_NAMES)").replace(
            'profile = "default"   # smoke | default | thesis (see waelib.profiles)',
            'from waelib import config as C\nprofile = "default"   # smoke | default | thesis (see waelib.profiles)')),
        code('''
import json
from pathlib import Path
import matplotlib.pyplot as plt
import torch
from waelib import config as C, evaluate as E, experiment as X, figures
from waelib.utils import atomic_write_json, atomic_write_text, display_path, run_metadata

figures.use_style()
found = X.collect_evaluations(P, P.models)
missing = X.missing_runs(P, P.models)
for m, nb in missing.items():
    print(f"missing: {C.THESIS_MODEL_LABELS[m]} has no evaluated run in {X.run_dir(P, m)}; "
          f"produce it with `papermill {nb} out.ipynb -p profile {P.profile}` (or `make figures`).")
if not found:
    raise FileNotFoundError(f"no evaluated runs under {P.out_dir}: run notebooks/03_vae.ipynb and "
                            f"notebooks/04_wae_resnet.ipynb with profile {P.profile!r} first (or `make figures`).")
models = [m for m in P.models if m in found]
evals = {m: found[m]["result"] for m in models}
# The runs' own records (training config.json + eval.json: configuration, seed, hardware, versions,
# commit, date) are copied beside the tables, because the run folders themselves are not in git.
records_path = Path(P.figures_dir) / "runs.json"
atomic_write_json(records_path, X.run_records(P, models))
run_links = {C.THESIS_MODEL_LABELS[m]: f"{display_path(X.run_dir(P, m))} (record: {display_path(records_path)}#{m})"
             for m in models}
print("runs:", json.dumps(run_links, indent=1))
'''),
        md(r"""
## Table 4.1 — hardware

The thesis trained on a Tesla P100 with 16 GB. Each of our runs records the machine it ran on in its
`config.json` and `eval.json`.
"""),
        code('''
rows = []
for m in models:
    meta = found[m]["metadata"]
    rows.append({"model": C.THESIS_MODEL_LABELS[m], "thesis": "Tesla P100 16 GB", "ours": X.machine_name(meta),
                 "torch": meta["versions"]["torch"], "date (UTC)": meta["date_utc"], "commit": meta["git_commit"]})
figures.save_table(rows, "table4_1_hardware", P.figures_dir, caption="Table 4.1: hardware of each run",
                   meta={"runs": run_links, "profile": P.profile})
print(figures.markdown_table(list(rows[0]), [list(map(str, r.values())) for r in rows]))
'''),
        md(r"""
## Table 4.2 — the data set

The thesis splits CelebA's 202,599 images at random into 162,079 training and 40,520 test images (not the
official partition). `waelib.data.thesis_split` reproduces that split (seeded); the embedded `synthfaces`
data set has 202,599 images by default so that the split applies verbatim, and smaller profiles use the same
80/20 proportions.
"""),
        code('''
data = X.load_data(P)
cfg = found[models[0]]["config"]
rows = [{"quantity": "data set", "thesis": "CelebA (aligned & cropped)", "ours": data.name},
        {"quantity": "images", "thesis": C.CELEBA_N_IMAGES, "ours": len(data.train) + len(data.test)},
        {"quantity": "train", "thesis": C.CELEBA_N_TRAIN, "ours": len(data.train)},
        {"quantity": "test", "thesis": C.CELEBA_N_TEST, "ours": len(data.test)},
        {"quantity": "FID reference (first half of test)", "thesis": "not stated", "ours": len(data.reference_images)},
        {"quantity": "image size", "thesis": "128 x 128", "ours": f"{data.image_size} x {data.image_size}"}]
figures.save_table(rows, "table4_2_dataset", P.figures_dir, caption="Table 4.2: data set and split",
                   meta={"runs": run_links, "profile": P.profile, "params": dict(P)})
print(figures.markdown_table(list(rows[0]), [list(map(str, r.values())) for r in rows]))
'''),
        md(r"""
## Tables 4.3–4.5 — sharpness and Fréchet distances

- **Table 4.3**: sharpness of the interpolated images (the real endpoints excluded).
- **Table 4.4**: Fréchet distance and sharpness of random samples.
- **Table 4.5**: Fréchet distance and sharpness of reconstructed held-out images, plus their RMSE (seed 003).

Sharpness follows the thesis' definition (§2.5) on a 0–255 pixel scale; a sharper image has a larger value,
and the "real test images" row shows the value of the data itself. MS-SSIM diversity (seed 003) is the mean
MS-SSIM of random pairs of samples: lower is more diverse. The WAE-MMD row has no thesis number: the thesis
did not train it.
"""),
        code('''
extractor = X.feature_extractor(P)
reference = X.reference_stats(data, extractor)
real = E.evaluate_real(data.eval_images, extractor=extractor, reference=reference, n=len(data.eval_images), seed=P.seed)
ev0 = evals[models[0]]
fid = ev0["samples"]["fid"]
captions = {
    "table4_3_interpolation_sharpness": "Table 4.3: sharpness (larger is sharper) of interpolated images",
    "table4_4_random_samples": f"Table 4.4: {fid['metric']} (smaller is better) and sharpness of {ev0['samples']['n']} random samples",
    "table4_5_reconstructions": f"Table 4.5: {fid['metric']} and sharpness of {ev0['reconstructions']['n']} reconstructed held-out images",
}
notes = [f"Frechet distance: {fid['metric']} with feature extractor '{fid['extractor']}' against {fid['reference']} "
         f"(n_real={fid['n_real']}); thesis: Inception FID against CelebA test images.",
         f"Sharpness: {ev0['sharpness_definition']}.",
         f"Profile '{P.profile}': {data.name}, {data.image_size} px, width {P.width}; runs: {run_links}."]
tables = {}
for table in E.TABLES:
    rows = E.results_table(table, evals, models=models, real=real)
    tables[table] = rows
    figures.save_table(rows, table, P.figures_dir, caption=captions[table], notes=notes,
                       meta={"runs": run_links, "profile": P.profile, "params": dict(P),
                             "extractor": fid["extractor"], "reference": fid["reference"]})
    print(captions[table])
    print(figures.markdown_table(list(rows[0]), [[figures.format_value(v) for v in r.values()] for r in rows]), "\\n")
'''),
        md(r"""
## Figures 4.1–4.3

Each figure is drawn from the trained models of the runs: interpolations between pairs of real held-out
images (first and last column real, as in the thesis), random samples, and reconstructions.
"""),
        code('''
trained = {m: X.load_trained(P, m) for m in models}
labels = [C.THESIS_MODEL_LABELS[m] for m in models]
ia, ib = E.interpolation_pairs(len(data.eval_images), 2, seed=P.seed)

fig, axes = plt.subplots(len(models), 1, figsize=(1.1 * P.interp_steps, 2.3 * len(models)), squeeze=False)
for ax, m, label in zip(axes[:, 0], models, labels):
    rows = E.interpolation_rows(trained[m], data.eval_images[ia], data.eval_images[ib], P.interp_steps)
    figures.show_images(ax, rows.flatten(0, 1), nrow=P.interp_steps, title=label)
fig.suptitle("Figure 4.1: interpolations (first and last image of each row are real)")
fig.tight_layout(); figures.save_figure(fig, "fig4_1_interpolations", P.figures_dir); plt.show()

fig, axes = plt.subplots(1, len(models), figsize=(3.3 * len(models), 3.6), squeeze=False)
for ax, m, label in zip(axes[0], models, labels):
    figures.show_images(ax, E.generate(trained[m], 36, seed=P.seed), nrow=6, title=label)
fig.suptitle("Figure 4.2: random samples")
fig.tight_layout(); figures.save_figure(fig, "fig4_2_random_samples", P.figures_dir); plt.show()

originals = data.eval_images[:10]
grid = [originals.float() / 255] + [E.reconstruct(trained[m], originals) for m in models]
fig, ax = plt.subplots(figsize=(11, 0.98 * len(grid) + 0.7))
figures.show_images(ax, torch.cat(grid), nrow=len(originals))
ax.set_yticks([(i + 0.5) * (data.image_size + 2) for i in range(len(grid))], ["original"] + labels)
ax.tick_params(left=False)
fig.suptitle("Figure 4.3: originals and reconstructions")
fig.tight_layout(); figures.save_figure(fig, "fig4_3_reconstructions", P.figures_dir); plt.show()
'''),
        md(r"""
## Where the figures came from

`figures/README.md` is rewritten here from the runs' own records: which notebook made each file, with which
profile, on which machine, at which commit and date.
"""),
        code('''
text = X.figures_readme(P, X.run_records(P, models), data, run_metadata())
atomic_write_text(Path(P.figures_dir) / "README.md", text)
print(text)
'''),
        md(r"""
## Summary

Every table and figure of the thesis' chapter 4 is regenerated from saved runs, with the thesis' numbers
beside ours and the configuration, hardware and commit of each run recorded next to it. To reproduce the
thesis' own setting, run notebooks 03, 04 and 05 with `-p profile thesis` on a GPU, with CelebA in
`data/celeba/` and the Inception weights in torch.hub's cache (see the README).
"""),
    ]
    return notebook(cells)


NOTEBOOKS = {"01_elbo": nb01, "02_wae_objective": nb02, "02b_resnet_degradation": nb02b,
             "03_vae": nb03, "04_wae_resnet": nb04, "05_thesis_results": nb05}


def main(argv=None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(NOTEBOOKS)
    for name in names:
        if name not in NOTEBOOKS:
            print(f"unknown notebook {name!r}; valid: {', '.join(NOTEBOOKS)}", file=sys.stderr)
            return 2
        nb = NOTEBOOKS[name]()
        nbformat.validate(nb)
        path = NB_DIR / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(path))
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
