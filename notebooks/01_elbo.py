# %% [markdown]
# # 01 · The evidence lower bound (ELBO)
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/wae-resnet/wae-resnet/blob/main/notebooks/01_elbo.ipynb)
#
# *Thesis §2.1 — the objective of the variational auto-encoder (VAE), the baseline of the thesis.*
#
# A VAE is trained by maximising a lower bound on the log-likelihood of the data. In this notebook we
# derive that bound from scratch and then **check every step numerically** on a model small enough
# that all the quantities the derivation talks about — the evidence $p(x)$, the true posterior
# $p(z\mid x)$ and the KL divergence to it — can be computed exactly.
#
# **What you will learn**
#
# 1. why the evidence $p(x)=\int p(x\mid z)\,p(z)\,dz$ and the posterior $p(z\mid x)$ are hard, and how a
#    family $q_\psi(z\mid x)$ turns inference into optimisation;
# 2. the identity $\log p(x) = \mathrm{ELBO}(\psi) + \mathrm{KL}\big(q_\psi(z\mid x)\,\|\,p(z\mid x)\big)$ and
#    why maximising the ELBO is the same as minimising the KL to the posterior;
# 3. the per-datapoint form $\mathrm{ELBO}_i = \mathbb{E}_{q}[\log p(x_i\mid z)] - \mathrm{KL}(q(z\mid x_i)\,\|\,p(z))$ the
#    VAE loss is built from, and what its KL term penalises once averaged over the data;
# 4. the reparameterisation trick $z = \mu + \sigma\varepsilon$ and the closed-form Gaussian KL used by
#    `waelib.losses.gaussian_kl`, both checked against Monte Carlo.
#
# The library does the computing (`waelib.course.toy`, `waelib.losses`); the notebook narrates and checks.
#
# **Notation** (the same in notebooks 01 and 02):
#
# | symbol | meaning |
# |---|---|
# | $D$ | the data dimension, $x\in\mathbb R^D$ |
# | $d_z$ | the latent dimension, $z\in\mathbb R^{d_z}$ |
# | $p(z)$, $p(x\mid z)$, $p(z\mid x)$ | prior, likelihood (the decoder), true posterior |
# | $q_\psi(z\mid x)$ | the approximate posterior, with variational parameters $\psi$ (here $\psi = (\mu, \Sigma_q)$, a Gaussian's mean and covariance) |
# | $\theta$, $\phi$ | the weights of the encoder and of the decoder networks (thesis §2.1) |
# | $G(z)$, $\sigma_G^2$ | the decoder's mean and its variance: $p(x\mid z) = \mathcal N(G(z), \sigma_G^2 I_D)$ |
# | $n$; $M$ | the size of a minibatch $x_1,\dots,x_n$; the number of Monte Carlo draws |
# | $\lambda$ | reserved for the WAE's penalty weight (notebook 02). The thesis also writes $\lambda$ for the variational parameters; we write $\psi$ for those |

# %% [markdown]
# ## Setup
#
# Prerequisites: Python ≥ 3.10, probability at the level of Gaussian densities, Bayes' theorem and
# expectations; no earlier notebook (this one starts the course). The first cell installs the course's
# library `waelib` when it is missing (on Colab or in a fresh environment) and prints the notebook's
# measured run times. The parameters cell below picks a profile: `profile="smoke"` runs in seconds (the
# tests use it), `default` is the CPU course profile, `colab` uses the same sizes as `default` here, and
# `thesis` the largest Monte Carlo sizes (this notebook needs no GPU on any profile).

# %% tags=["setup"]
# %matplotlib inline
import importlib.util
import os

if importlib.util.find_spec("waelib") is None:   # Colab or a fresh environment: install the course's library
    get_ipython().run_line_magic("pip", "install --quiet " + os.environ.get("WAELIB_SOURCE", "git+https://github.com/wae-resnet/wae-resnet"))  # noqa: F821
from waelib.course import profiles

_guard = profiles.setup(globals(), "01_elbo")   # prints what this notebook needs and its measured run times; checks the parameters cell's names

# %% tags=["parameters"]
profile = "default"   # smoke | default | thesis (see waelib.course.profiles)
seed = None           # None: take the value from the profile
n_mc = None           # Monte Carlo sample size for the numerical checks
figures_dir = None    # where figures are written (default ../figures)
out_dir = None        # where the numbers of the checks are written (a JSON file)

# %%
params = profiles.notebook_params(globals(), _guard, table=profiles.TOY_PROFILES)

# %%
import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from waelib import losses
from waelib.course import figures, show, toy
from waelib.course.exercises import ch01
from waelib.utils import atomic_write_json, seed_everything

figures.use_style()
gen = seed_everything(params.seed)
checks = {}            # every number we assert on, saved at the end
# the numbers the prose quotes, written by this run (show.quote reads them back)
numbers_file = Path(params.figures_dir) / "nb01_elbo_numbers.json"
numbers = {"provenance": "written by notebooks/01_elbo.ipynb from its own toy computations", "profile": params.profile}

# %% [markdown]
# ## 1. Latent-variable models and the evidence
#
# A latent-variable model explains each data point $x$ by an unobserved code $z$:
#
# - draw $z_i \sim p(z)$ (the **prior**),
# - draw $x_i \sim p(x\mid z_i)$ (the **likelihood**, in a VAE a decoder network),
#
# so the joint density factorises as $p(x,z) = p(x\mid z)\,p(z)$. To *infer* a code for a given $x$ we
# need the **posterior**, by Bayes' theorem
#
# $$p(z\mid x) = \frac{p(x\mid z)\,p(z)}{p(x)},\qquad p(x) = \int p(x\mid z)\,p(z)\,dz .$$
#
# The normaliser $p(x)$ is the **evidence**. For a neural-network likelihood the integral has no closed
# form, and numerical integration over a many-dimensional $z$ costs exponential time in its dimension.
#
# ## 2. Variational inference: from the KL to the ELBO
#
# Pick a tractable family $q_\psi(z\mid x)$ — here Gaussians with $\psi=(\mu,\Sigma_q)$ — and look
# for the member closest to the posterior in Kullback–Leibler divergence (the thesis calls the variational
# parameters $\lambda$; we keep $\lambda$ for the WAE's penalty weight of notebook 02). Expanding the definition
# and using $\log p(z\mid x) = \log p(x,z) - \log p(x)$:
#
# $$
# \begin{aligned}
# \mathrm{KL}\big(q_\psi(z\mid x)\,\|\,p(z\mid x)\big)
# &= \mathbb{E}_q\big[\log q_\psi(z\mid x) - \log p(z\mid x)\big] \\
# &= \mathbb{E}_q[\log q_\psi(z\mid x)] - \mathbb{E}_q[\log p(x,z)] + \log p(x).
# \end{aligned}
# $$
#
# The last term does not depend on $\psi$ (nor on $z$), so it leaves the expectation. The KL still
# contains the unknown $\log p(x)$, but the part that depends on $\psi$ does not. Name it:
#
# $$\mathrm{ELBO}(\psi) = \mathbb{E}_q[\log p(x,z)] - \mathbb{E}_q[\log q_\psi(z\mid x)] .$$
#
# Rearranging the KL line gives the central identity of this notebook,
#
# $$\boxed{\;\log p(x) = \mathrm{ELBO}(\psi) + \mathrm{KL}\big(q_\psi(z\mid x)\,\|\,p(z\mid x)\big)\;}$$
#
# Because $\mathrm{KL}\ge 0$ (Jensen's inequality), the ELBO is a **lower bound on the log evidence**,
# and since $\log p(x)$ is fixed, *maximising the ELBO over $\psi$ is the same as minimising the KL
# to the true posterior*. The bound is tight exactly when $q_\psi = p(z\mid x)$.
#
# Splitting $\log p(x,z) = \log p(x\mid z) + \log p(z)$ gives the form a VAE uses for each data point:
#
# $$\mathrm{ELBO}_i(\psi) = \mathbb{E}_{q_\psi(z\mid x_i)}[\log p(x_i\mid z)] - \mathrm{KL}\big(q_\psi(z\mid x_i)\,\|\,p(z)\big),$$
#
# a reconstruction term minus a KL **to the prior** (not to the posterior) — a quantity we can compute.
#
# **What the KL term penalises, averaged over the data.** Write $p_{\text{data}}$ for the data distribution,
# $q(x, z) = p_{\text{data}}(x)\,q_\psi(z\mid x)$ for the joint law of a data point and its code, and
# $q(z) = \mathbb E_{p_{\text{data}}}[q_\psi(z\mid x)]$ for the density of all codes together (the *aggregate
# posterior*, $Q_Z$ in notebook 02). Inserting $q(z)$ into the logarithm,
#
# $$\mathbb E_{p_{\text{data}}}\,\mathrm{KL}\big(q_\psi(z\mid x)\,\|\,p(z)\big)
#   = \mathbb E_{q(x,z)}\Big[\log\frac{q_\psi(z\mid x)}{q(z)}\Big] + \mathbb E_{q(z)}\Big[\log\frac{q(z)}{p(z)}\Big]
#   = I_q(X;Z) + \mathrm{KL}\big(q(z)\,\|\,p(z)\big),$$
#
# where $I_q(X;Z)$ is the mutual information between a data point and its code **under the encoder's joint
# $q(x,z)$** (not under the model's $p(x,z)$). Both terms are $\ge 0$, so the data-averaged KL is an **upper
# bound on $I_q(X;Z)$**, tight exactly when the aggregate posterior equals the prior. A single data point's
# $\mathrm{KL}(q_\psi(z\mid x_i)\,\|\,p(z))$ is not a bound on anything by itself; the statement is about the
# average. So the VAE pays for every nat of information its codes carry about $x$ — notebook 02 derives
# this identity again next to the WAE's penalty, which keeps only the second term, and checks it numerically.
#
# ## 3. A model where everything is exact: linear-Gaussian
#
# Take $z\sim\mathcal N(0, I_{d_z})$ and a linear decoder $G(z) = Wz + b$ with $x\mid z \sim \mathcal N(Wz + b,\; \sigma_G^2 I_D)$
# ($W$ is $D\times d_z$; the toy's arguments `d`, `k`, `s2` are $D$, $d_z$, $\sigma_G^2$). Then $x$ is a linear
# map of Gaussians, so
#
# $$p(x) = \mathcal N\big(x;\; b,\; WW^\top + \sigma_G^2 I_D\big),$$
#
# and completing the square in $\log p(x\mid z) + \log p(z)$ (a quadratic in $z$) gives a Gaussian posterior
#
# $$p(z\mid x) = \mathcal N(\mu_{\text{post}}, \Sigma_{\text{post}}),\qquad
# \Sigma_{\text{post}} = \big(I_{d_z} + W^\top W / \sigma_G^2\big)^{-1},\quad
# \mu_{\text{post}} = \Sigma_{\text{post}} W^\top (x-b)/\sigma_G^2 .$$
#
# For a Gaussian $q=\mathcal N(m,\Sigma_q)$ every term of the ELBO is also closed-form
# ($\mathbb{E}_q\|x - Wz - b\|^2 = \|x - Wm - b\|^2 + \operatorname{tr}(W\Sigma_q W^\top)$, and the entropy is
# $\tfrac12\log\det(2\pi e \Sigma_q)$). `waelib.course.toy.LinearGaussian` implements these formulas.

# %%
model = toy.LinearGaussian.random(d=5, k=2, s2=0.5, seed=params.seed)
x, z_true = model.sample(1, gen)
x = x[0]
log_px = model.log_evidence(x)
print(f"data point x = {x.numpy().round(3)}")
print(f"exact log evidence log p(x) = {log_px.item():.6f}")

# The evidence is an integral over the prior: check it by Monte Carlo, log E_{p(z)}[p(x|z)] with M prior draws.
z = torch.randn(params.n_mc, model.k, generator=gen, dtype=torch.float64)
log_px_mc = torch.logsumexp(model.log_likelihood(x, z), 0) - math.log(params.n_mc)
print(f"Monte Carlo  log p(x) = {log_px_mc.item():.6f}  (M = {params.n_mc:,} prior samples)")
assert abs(log_px_mc - log_px) < 0.05, "the evidence formula disagrees with the integral"
checks["log_evidence"] = log_px.item()

# %% [markdown]
# **What this shows.** The closed-form evidence and the Monte Carlo integral over the prior agree within
# the tolerance the cell asserts: for this model, $p(x)$ is known exactly, so every later statement about
# the gap $\log p(x) - \mathrm{ELBO}$ can be checked against the truth. For a neural decoder no such formula
# exists, and a plain Monte Carlo estimate over the prior needs many more draws as $d_z$ grows (most prior
# codes explain a given $x$ badly) — this is why the VAE optimises a bound instead.

# %% [markdown]
# ### ELBO + KL = log p(x), for *any* q
#
# Take an arbitrary Gaussian $q$ — nowhere near the posterior — and evaluate both sides. We also
# estimate the ELBO by plain Monte Carlo, $\frac1M\sum_{s=1}^M [\log p(x,z_s) - \log q(z_s)]$ with
# $z_s\sim q$, to make sure the closed form is the expectation the definition talks about, and we check
# that the per-datapoint form (reconstruction − KL to the prior) is the same number.

# %%
m_q = torch.tensor([1.5, -1.0], dtype=torch.float64)
S_q = torch.tensor([[0.8, 0.3], [0.3, 0.5]], dtype=torch.float64)

elbo = model.elbo(x, m_q, S_q)
kl_post = model.kl_to_posterior(x, m_q, S_q)
elbo_mc, elbo_se = model.elbo_mc(x, m_q, S_q, params.n_mc, gen)
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
numbers.update(log_px=log_px.item(), elbo_arbitrary_q=elbo.item(), kl_arbitrary_q=kl_post.item())
_ = atomic_write_json(numbers_file, numbers)

# %%
_ = show.say("**What this shows.** As we can see, for a Gaussian $q$ chosen with no regard to the data the ELBO "
             "({elbo} nats) lies below $\\log p(x)$ ({lpx} nats), and the difference is exactly "
             "$\\mathrm{{KL}}(q\\,\\|\\,p(z\\mid x))$ ({kl} nats): the identity holds to rounding error, the two forms of "
             "the ELBO are the same number, and the Monte Carlo estimate agrees with the closed form within its "
             "standard error (the cell above asserts all three).",
             elbo=show.quote(numbers_file, "elbo_arbitrary_q", "{:.3f}"), lpx=show.quote(numbers_file, "log_px", "{:.3f}"),
             kl=show.quote(numbers_file, "kl_arbitrary_q", "{:.3f}"))

# %% [markdown]
# ### The gap closes at the true posterior
#
# Now move $q$ along a path from the arbitrary Gaussian above ($t=0$) to the true posterior ($t=1$).
# The ELBO rises, the KL gap $\log p(x) - \mathrm{ELBO}$ shrinks, and at $t=1$ it is exactly zero.

# %%
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
ax.axhline(log_px.item(), color="k", ls="--", lw=1.2, label=r"$\log p(x)$ (exact)")
ax.fill_between(ts, elbos, log_px.item(), color="C1", alpha=0.25,
                label=r"gap $=\mathrm{KL}(q_t\,\|\,p(z|x))$")
ax.set_xlabel(r"$t$   ($q_0$ = arbitrary Gaussian, $q_1$ = true posterior)")
ax.set_ylabel("nats")
ax.set_title("The ELBO is a lower bound that is tight at the posterior")
ax.legend(loc="lower right")
figures.save_figure(fig, "nb01_elbo_gap", params.figures_dir)
plt.show()
checks["kl_at_posterior"] = kls[-1].item()

# %% [markdown]
# **What this shows.** The shaded gap is the KL to the true posterior: it shrinks monotonically along this
# path and vanishes at $t=1$, where $q$ *is* the posterior (asserted above). The ELBO is therefore a bound
# that a rich enough family can make tight. A VAE's family is narrower — diagonal Gaussians — and
# Exercises 1 and 2 compute how much of the gap such a family can never close.

# %% [markdown]
# ## 4. The reparameterisation trick
#
# To maximise $\mathrm{ELBO}_i$ by stochastic gradient descent we need $\nabla_\psi \mathbb{E}_{q_\psi}[f(z)]$
# where the *distribution* depends on $\psi$. Writing a sample as a deterministic function of
# $\psi$ and parameter-free noise,
#
# $$z = \mu + \sigma \odot \varepsilon,\qquad \varepsilon\sim\mathcal N(0,I)
# \quad\Longrightarrow\quad
# \nabla_{\mu,\sigma}\,\mathbb{E}_{q}[f(z)] = \mathbb{E}_{\varepsilon}\big[\nabla_{\mu,\sigma} f(\mu+\sigma\odot\varepsilon)\big],$$
#
# moves the gradient inside the expectation; autograd does the rest (this is line 3 of the thesis'
# Algorithm 1). For a quadratic $f(z) = z^\top A z + c^\top z$ the answer is known:
# $\mathbb{E}_q f = \mu^\top A\mu + \sum_j A_{jj}\sigma_j^2 + c^\top\mu$, so
# $\nabla_\mu = (A + A^\top)\mu + c$ and $\partial/\partial\sigma_j = 2A_{jj}\sigma_j$.
# We compare, and contrast with the score-function (REINFORCE) estimator
# $\mathbb{E}_q[f(z)\nabla\log q(z)]$, which is also unbiased but far noisier.

# %%
A = torch.tensor([[2.0, 0.5], [0.0, 1.0]], dtype=torch.float64)
c = torch.tensor([1.0, -1.0], dtype=torch.float64)
f = lambda z: (z @ A * z).sum(-1) + z @ c
mu = torch.tensor([0.3, -0.7], dtype=torch.float64)
sigma = torch.tensor([0.8, 1.5], dtype=torch.float64)

g_mu, g_sigma = toy.quadratic_expectation_grad(A, c, mu, sigma)
r_mu, r_sigma, r_mu_sd, r_sigma_sd = toy.reparam_grad(f, mu, sigma, params.n_mc, gen)
s_mu, s_sigma, s_mu_sd, s_sigma_sd = toy.score_function_grad(f, mu, sigma, params.n_mc, gen)
se = lambda sd: sd / math.sqrt(params.n_mc)

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
numbers.update(sd_ratio_score_to_reparam_mu=(s_mu_sd / r_mu_sd).tolist())
_ = atomic_write_json(numbers_file, numbers)

# %%
_ = show.say("**What this shows.** Both estimators are unbiased — each lies within five standard errors of the "
             "closed-form gradient — but the score-function estimator's per-sample standard deviation is "
             "{r0}× (first coordinate of $\\mu$) and {r1}× (second) that of the reparameterised one on this "
             "quadratic. Reaching the same precision with it takes the square of that factor more samples; this "
             "is why the VAE (Algorithm 1, line 3) reparameterises.",
             r0=show.quote(numbers_file, "sd_ratio_score_to_reparam_mu[0]", "{:.1f}"),
             r1=show.quote(numbers_file, "sd_ratio_score_to_reparam_mu[1]", "{:.1f}"))

# %% [markdown]
# ## 5. The closed-form KL of the VAE
#
# With $q(z\mid x) = \mathcal N(\mu, \operatorname{diag}\sigma^2)$ and $p(z) = \mathcal N(0,I)$ the KL term of
# $\mathrm{ELBO}_i$ separates over the $d_z$ coordinates, and for each one
#
# $$\mathrm{KL}\big(\mathcal N(\mu,\sigma^2)\,\|\,\mathcal N(0,1)\big)
# = \mathbb{E}_q\Big[-\tfrac12\log\sigma^2 - \tfrac{(z-\mu)^2}{2\sigma^2} + \tfrac{z^2}{2}\Big]
# = \tfrac12\big(\sigma^2 + \mu^2 - 1 - \log\sigma^2\big),$$
#
# using $\mathbb{E}(z-\mu)^2 = \sigma^2$ and $\mathbb{E}z^2 = \mu^2+\sigma^2$. This is
# `waelib.losses.gaussian_kl(mu, logvar)`. We check it against Monte Carlo and against the general
# full-covariance formula of `waelib.course.toy.kl_gaussians`.

# %%
mu = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0], [1.0, 1.0, -0.3]], dtype=torch.float64)
logvar = torch.tensor([[0.1, -0.5, 0.7], [0.0, 0.0, 0.0], [-2.0, 1.0, 0.2]], dtype=torch.float64)

kl_closed = losses.gaussian_kl(mu, logvar)
kl_mc, kl_se = toy.gaussian_kl_mc(mu, logvar, params.n_mc, gen)
kl_full = torch.stack([toy.kl_gaussians(m, torch.diag(lv.exp()), torch.zeros(3, dtype=torch.float64),
                                        torch.eye(3, dtype=torch.float64)) for m, lv in zip(mu, logvar)])
for i in range(len(mu)):
    print(f"row {i}: closed form {kl_closed[i].item():.4f}   Monte Carlo {kl_mc[i].item():.4f} +- {kl_se[i].item():.4f}")
assert torch.allclose(kl_closed, kl_full, atol=1e-10)
assert ((kl_closed - kl_mc).abs() <= 5 * kl_se + 1e-12).all(), "gaussian_kl disagrees with Monte Carlo"
assert kl_closed[1] == 0, "KL(N(0, I) || N(0, I)) must be 0"
checks["gaussian_kl"] = kl_closed.tolist()

# %% [markdown]
# **What this shows.** `waelib.losses.gaussian_kl` equals the full-covariance formula to rounding error and
# the Monte Carlo average within five standard errors, row by row (asserted above), and it is exactly zero
# when $q$ is the prior. Note what it does *not* contain: the data. It compares each $q(z\mid x_i)$ with the
# prior separately — the averaged form of this term is the $I_q(X;Z) + \mathrm{KL}(q(z)\,\|\,p(z))$ of section 2.

# %% [markdown]
# ## 6. From the ELBO to the VAE loss
#
# The thesis' Algorithm 1 descends $l_i = -\mathrm{ELBO}_i$, estimating the reconstruction term with one
# reparameterised sample $\tilde z_i = \mu_i + \sigma_i\varepsilon_i$. With a Gaussian decoder
# $p(x\mid z) = \mathcal N(x;\,G(z),\,\sigma_G^2 I_D)$,
#
# $$-\log p(x\mid \tilde z) = \frac{\|x - G(\tilde z)\|^2}{2\sigma_G^2} + \frac{D}{2}\log(2\pi\sigma_G^2),$$
#
# and the constant does not affect training. `waelib.losses.vae_loss` is exactly this
# (`decoder_sigma2` $=\sigma_G^2$, constant dropped) plus `gaussian_kl`. We check it against
# `torch.distributions`.

# %%
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

# %% [markdown]
# **What this shows.** The library's VAE loss is the negative ELBO of the derivation, averaged over the
# minibatch, up to the constant $\frac{D}{2}\log(2\pi\sigma_G^2)$ per image — the same number as the one
# `torch.distributions` computes from the densities (asserted above). The decoder variance $\sigma_G^2$ is not
# a free detail: it sets the relative weight of reconstruction and KL (Exercise 4 computes the $\sigma_G^2$ the
# data would choose).

# %% [markdown]
# ## Summary
#
# - $\log p(x) = \mathrm{ELBO} + \mathrm{KL}(q\,\|\,p(z\mid x))$ holds for any $q$ (checked to rounding error on a model
#   where every term is exact), so the ELBO is a lower bound, tight exactly at the posterior.
# - The VAE maximises $\mathrm{ELBO}_i = \mathbb{E}_q[\log p(x_i\mid z)] - \mathrm{KL}(q(z\mid x_i)\,\|\,p(z))$: the
#   KL term pulls **every** $q(z\mid x_i)$ towards the prior, one data point at a time. Averaged over the data it
#   is $I_q(X;Z) + \mathrm{KL}(q(z)\,\|\,p(z))$, an upper bound on the information the codes carry. Notebook 02
#   shows why the Wasserstein auto-encoder keeps only a penalty on the *aggregate* of the codes.
# - The reparameterisation trick gives unbiased, low-variance gradients, and `waelib.losses`
#   implements the closed-form KL and the VAE loss exactly as derived.

# %%
atomic_write_json(Path(params.out_dir) / "01_elbo_checks.json", {"profile": params.profile, "params": dict(params), "checks": checks})
print("all checks passed:", ", ".join(checks))

# %% [markdown]
# ## Exercises
#
# Each exercise has a starter cell (fill in `answer`; it runs as given) and a hidden solution cell below
# it (click to expand). The checks in `waelib.course.exercises.ch01` compute the expected value themselves,
# in closed form.
#
# ### Exercise 1 — a diagonal $q$ cannot close the gap
#
# A VAE's encoder outputs a *diagonal* Gaussian $q = \mathcal N(m, \operatorname{diag} v)$, but the posterior of
# section 3 has a full covariance $\Sigma_{\text{post}}$. Maximise $\mathrm{ELBO}(q)$ over $m$ and $v$ for the data
# point `x` of section 3 (use `model.elbo(x, m, torch.diag(v))`; optimise over $\log v$ so that $v > 0$) and
# report the smallest gap $\log p(x) - \mathrm{ELBO}(q^*)$. *Hint:* the gap is the KL to the posterior — why can it
# not reach 0?

# %%
answer = None   # the gap log p(x) - ELBO(q*) of the best diagonal Gaussian q*, a float
if answer is not None:
    print(ch01.check_mean_field_gap(answer, model, x))

# %% jupyter={"source_hidden": true} tags=["solution"]
from scipy.optimize import minimize

k = model.k
result = minimize(lambda v: -model.elbo(x, torch.as_tensor(v[:k]), torch.diag(torch.as_tensor(v[k:]).exp())).item(),
                  torch.zeros(2 * k, dtype=torch.float64).numpy(), method="BFGS", options={"gtol": 1e-10})
m_star, v_star = torch.as_tensor(result.x[:k]), torch.as_tensor(result.x[k:]).exp()
answer = (log_px - model.elbo(x, m_star, torch.diag(v_star))).item()
# the optimum: the posterior mean, and variances 1 / (precision)_jj -- not the posterior variances
print("best diagonal q: mean", m_star.numpy().round(4), "variances", v_star.numpy().round(4))
print("posterior:       mean", m_post.numpy().round(4), "variances", torch.diagonal(S_post).numpy().round(4),
      " 1/precision_jj", (1 / torch.diagonal(torch.linalg.inv(S_post))).numpy().round(4))
print(f"smallest gap = {answer:.6f} nats (> 0: the posterior is correlated)")
verdict = ch01.check_mean_field_gap(answer, model, x)
assert verdict.ok, verdict
print(verdict)

# %% [markdown]
# ### Exercise 2 — the gap as a function of the posterior's correlation
#
# Let the posterior be a 2-D Gaussian with standard deviations $s_1, s_2$ and correlation $\rho$. Show that the
# best diagonal $q$ has the posterior's mean and variances $1/\Lambda_{jj}$ ($\Lambda = \Sigma^{-1}$, the precision),
# and that its gap $\min_q \mathrm{KL}(q\,\|\,p(z\mid x))$ depends on $\rho$ only. Compute it for each $\rho$ in `rhos`
# (a tensor of four values), then plot it against $\rho$: how fast does it grow as $|\rho|\to 1$?

# %%
rhos = [0.0, 0.5, 0.9, 0.99]
answer = None   # a tensor with one gap per rho
if answer is not None:
    print(ch01.check_gap_vs_correlation(answer, rhos))

# %% jupyter={"source_hidden": true} tags=["solution"]
# Setting the gradient of KL(q || p) to zero for q = N(m, diag v): m = the posterior mean, 1/v_j = Lambda_jj.
# Then KL = 1/2 [sum_j log Lambda_jj + log det Sigma]; for two coordinates Lambda_11 Lambda_22 det Sigma = 1/(1 - rho^2).
gaps = []
for rho in rhos:
    sd1, sd2 = 0.7, 1.9          # any standard deviations: the gap does not depend on them
    cov = torch.tensor([[sd1 ** 2, rho * sd1 * sd2], [rho * sd1 * sd2, sd2 ** 2]], dtype=torch.float64)
    q_cov = torch.diag(1 / torch.diagonal(torch.linalg.inv(cov)))
    gaps.append(toy.kl_gaussians(torch.zeros(2, dtype=torch.float64), q_cov, torch.zeros(2, dtype=torch.float64), cov))
answer = torch.stack(gaps)
print("rho:", rhos, " gap:", answer.numpy().round(5), " -1/2 log(1 - rho^2):",
      (-0.5 * torch.log1p(-torch.tensor(rhos, dtype=torch.float64) ** 2)).numpy().round(5))
# it grows without bound: like -1/2 log(1 - |rho|) as |rho| -> 1
verdict = ch01.check_gap_vs_correlation(answer, rhos)
assert verdict.ok, verdict
print(verdict)

# %% [markdown]
# ### Exercise 3 — the KL to the WAE's prior
#
# The WAEs of the thesis use the prior $\mathcal N(0, \sigma_z^2 I_{d_z})$ with $\sigma_z^2 = 2$
# (`waelib.config.WAE_PRIOR_SIGMA2`), not $\mathcal N(0, I)$. Redo the derivation of section 5 for this prior and
# compute $\mathrm{KL}(\mathcal N(\mu, \operatorname{diag}\sigma^2)\,\|\,\mathcal N(0,\sigma_z^2 I))$ for each row of the `mu`, `logvar` of
# section 5 (a tensor of three values). Which row has KL 0 now, if any?

# %%
answer = None   # a tensor with one KL per row of mu
if answer is not None:
    print(ch01.check_kl_to_wae_prior(answer, mu, logvar))

# %% jupyter={"source_hidden": true} tags=["solution"]
from waelib import config

s2z = config.WAE_PRIOR_SIGMA2
# E_q[log q - log p] with log p = -1/2 log(2 pi s2z) - z^2 / (2 s2z) per coordinate, E z^2 = mu^2 + sigma^2:
answer = 0.5 * ((logvar.exp() + mu ** 2) / s2z - 1 - logvar + math.log(s2z)).sum(-1)
full = torch.stack([toy.kl_gaussians(m, torch.diag(lv.exp()), torch.zeros(3, dtype=torch.float64),
                                     s2z * torch.eye(3, dtype=torch.float64)) for m, lv in zip(mu, logvar)])
print("closed form:", answer.numpy().round(4), "  full-covariance formula:", full.numpy().round(4))
# no row is 0: row 1 (mu = 0, sigma^2 = 1) was the old prior itself, and N(0, I) != N(0, 2 I)
verdict = ch01.check_kl_to_wae_prior(answer, mu, logvar)
assert verdict.ok, verdict
print(verdict)

# %% [markdown]
# ### Exercise 4 — the decoder variance the data would choose
#
# In section 6 the decoder variance $\sigma_G^2$ was fixed (`s2`). Treat it as a parameter: which $\sigma_G^2$
# maximises $\sum_i \log \mathcal N(x_i;\, \hat x_i,\, \sigma_G^2 I_D)$ for the minibatch `xb`, `x_hat` of section 6? Derive it
# by setting the derivative to zero, compute it, and check that the log-likelihood is lower on either side.

# %%
answer = None   # the maximising sigma_G^2, a float
if answer is not None:
    print(ch01.check_optimal_decoder_variance(answer, xb, x_hat))

# %% jupyter={"source_hidden": true} tags=["solution"]
# d/ds [-||r||^2 / (2 s) - (D / 2) log(2 pi s)] summed over the batch = 0  =>  s = sum ||r_i||^2 / (n D)
answer = (xb - x_hat).pow(2).mean().item()
for s in (0.9 * answer, answer, 1.1 * answer):
    ll = -losses.gaussian_nll(xb, x_hat, s, include_constant=True).sum().item()
    print(f"sigma_G^2 = {s:.5f}: log-likelihood {ll:.4f}")
verdict = ch01.check_optimal_decoder_variance(answer, xb, x_hat)
assert verdict.ok, verdict
print(verdict)

# %% [markdown]
# ## References
#
# - Md Azad Ansari, *Wasserstein Auto-Encoder using Residual Neural Network*, M.Tech thesis, Indian Statistical
#   Institute, Kolkata, 2022 — §2.1 and Algorithm 1 are derived here.
# - D. P. Kingma and M. Welling, *Auto-Encoding Variational Bayes*, ICLR 2014, [arXiv:1312.6114](https://arxiv.org/abs/1312.6114)
#   (the VAE, the reparameterisation trick, the Gaussian KL).
# - D. J. Rezende, S. Mohamed and D. Wierstra, *Stochastic Backpropagation and Approximate Inference in Deep
#   Generative Models*, ICML 2014, [arXiv:1401.4082](https://arxiv.org/abs/1401.4082).
# - D. M. Blei, A. Kucukelbir and J. D. McAuliffe, *Variational Inference: A Review for Statisticians*, JASA 2017,
#   [arXiv:1601.00670](https://arxiv.org/abs/1601.00670) (the ELBO identity; mean-field families and their limits, Exercises 1–2).
# - R. J. Williams, *Simple Statistical Gradient-Following Algorithms for Connectionist Reinforcement
#   Learning*, Machine Learning 8, 1992 (the score-function estimator, REINFORCE).
# - M. D. Hoffman and M. J. Johnson, *ELBO surgery: yet another way to carve up the variational evidence lower
#   bound*, NIPS 2016 Workshop in Advances in Approximate Bayesian Inference (the decomposition
#   $\mathbb E\,\mathrm{KL}(q(z\mid x)\,\|\,p(z)) = I_q(X;Z) + \mathrm{KL}(q(z)\,\|\,p(z))$).
# - I. Tolstikhin, O. Bousquet, S. Gelly and B. Schölkopf, *Wasserstein Auto-Encoders*, ICLR 2018,
#   [arXiv:1711.01558](https://arxiv.org/abs/1711.01558) (where notebook 02 goes next).
# - Prathosh A. P., *The landscape of Regularized Auto-Encoders for Generative modeling* (lecture slides, IIT
#   Delhi), one of the related documents: the VAE variants (β-VAE, decoders with fixed or learned variance)
#   this repository also implements.
