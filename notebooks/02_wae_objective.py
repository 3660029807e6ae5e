# %% [markdown]
# # 02 · The Wasserstein auto-encoder objective
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/wae-resnet/wae-resnet/blob/main/notebooks/02_wae_objective.ipynb)
#
# *Thesis §2.2 — the objective of WAE and WAE-ResNet (Tolstikhin et al., 2018).*
#
# The VAE of notebook 01 maximises a bound on the likelihood. The **Wasserstein auto-encoder** instead
# minimises an *optimal-transport distance* between the data distribution $P_X$ and the model
# $P_G$. In this notebook we derive its objective and check each step numerically.
#
# **What you will learn**
#
# 1. Kantorovich's optimal-transport problem $W_c(P_X,P_G)=\inf_\Gamma \mathbb{E}_\Gamma\, c(X,Y)$, and how to
#    solve it exactly for small discrete measures (a linear programme) and on the line (sort!);
# 2. why, for a **deterministic decoder** $G$, the coupling can be searched through *encoders*
#    $Q(Z\mid X)$ whose aggregate $Q_Z$ equals the prior (Theorem 1 of Tolstikhin et al.);
# 3. the relaxed, penalised objective $D_{\mathrm{WAE}} = \inf_Q \mathbb{E}\,c(X, G(Z)) + \lambda\,\mathcal D_Z(Q_Z, P_Z)$, and
#    precisely what it is and is not: it equals $W_c$ only for an unrestricted encoder and $\lambda\to\infty$ (or
#    a large enough $\lambda$, for some penalties);
# 4. how this regulariser differs from the VAE's KL — the exact identity
#    $\mathbb E_{P_X}\mathrm{KL}(Q(Z\mid X)\,\|\,P_Z) = I(X;Z) + \mathrm{KL}(Q_Z\,\|\,P_Z)$ — checked in closed form
#    and on a 2-D toy you can see;
# 5. the two penalties: the GAN penalty of the thesis' Algorithm 2 — whose adversary estimates the
#    Jensen–Shannon divergence, but whose non-saturating encoder loss does *not* descend it — and the
#    MMD penalty with the IMQ kernel, whose estimator is unbiased.
#
# **Notation** (the same as in notebook 01):
#
# | symbol | meaning |
# |---|---|
# | $D$ | the data dimension, $X\in\mathcal X = \mathbb R^D$ |
# | $d_z$ | the latent dimension, $Z\in\mathcal Z = \mathbb R^{d_z}$ |
# | $P_X$; $P_Z = \mathcal N(0, \sigma_z^2 I_{d_z})$ | the data distribution; the prior ($\sigma_z^2 = 2$ for the thesis' WAEs, `waelib.config.WAE_PRIOR_SIGMA2`) |
# | $G$; $P_G = G_\# P_Z$ | the deterministic decoder $\mathcal Z\to\mathcal X$; the model, the law of $G(Z)$ |
# | $Q(Z\mid X)$; $Q_Z$ | the encoder; the aggregate posterior $\mathbb E_{P_X}[Q(Z\mid X)]$ (densities $q(z\mid x)$, $q(z)$) |
# | $c$, $\Gamma$, $W_c$ | the cost ($\|x-y\|^2$), a coupling, the optimal-transport cost |
# | $\mathcal D_Z$; $\lambda$ | a divergence between distributions on $\mathcal Z$; **the WAE's penalty weight — the only meaning of $\lambda$** |
# | $D_\gamma$, $D^*$ | the latent discriminator of Algorithm 2 (weights $\gamma$) and the optimal one — not to be confused with the plain $D$ above |
# | $n$; $M$ | a minibatch or sample size; the number of Monte Carlo draws |

# %% [markdown]
# ## Setup
#
# Prerequisites: notebook 01 (the ELBO and the VAE's KL term), Python ≥ 3.10; a first course in
# probability (couplings are joint distributions with given marginals) and what a linear programme is.
# The first cell installs the course's library `waelib` when it is missing (on Colab or in a fresh
# environment) and prints the notebook's measured run times. The parameters cell below picks a profile:
# `profile="smoke"` runs in seconds (the tests use it), `default` is the CPU course profile, `colab` uses the
# same sizes as `default` here, and `thesis` the largest sample sizes (this notebook needs no GPU on any profile).

# %% tags=["setup"]
# %matplotlib inline
import importlib.util
import os

if importlib.util.find_spec("waelib") is None:   # Colab or a fresh environment: install the course's library
    get_ipython().run_line_magic("pip", "install --quiet " + os.environ.get("WAELIB_SOURCE", "git+https://github.com/wae-resnet/wae-resnet"))  # noqa: F821
from waelib.course import profiles

_guard = profiles.setup(globals(), "02_wae_objective")   # prints what this notebook needs and its measured run times; checks the parameters cell's names

# %% tags=["parameters"]
profile = "default"   # smoke | default | thesis (see waelib.course.profiles)
seed = None           # None: take the value from the profile
n_mc = None           # Monte Carlo sample size
n_repeats = None      # number of independent MMD estimates in the unbiasedness check
n_points = None       # data points of the 2-D toy and of the 1-D transport check
figures_dir = None    # where figures are written (default ../figures)
out_dir = None        # where the numbers of the checks are written (a JSON file)

# %%
params = profiles.notebook_params(globals(), _guard, table=profiles.TOY_PROFILES)

# %%
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import wasserstein_distance

from waelib import config, losses
from waelib.course import figures, show, toy
from waelib.course.exercises import ch02
from waelib.utils import atomic_write_json, seed_everything

figures.use_style()
gen = seed_everything(params.seed)
rng = np.random.default_rng(params.seed)
checks = {}
# the numbers the prose quotes, written by this run (show.quote reads them back)
numbers_file = Path(params.figures_dir) / "nb02_wae_objective_numbers.json"
numbers = {"provenance": "written by notebooks/02_wae_objective.ipynb from its own toy computations", "profile": params.profile}

# %% [markdown]
# ## 1. Kantorovich's optimal-transport problem
#
# Given two distributions $P_X$ and $P_G$ on $\mathcal X$ and a cost $c(x,y)\ge 0$ of moving mass from $x$ to $y$,
# Kantorovich's problem (thesis eq. 2.1) is
#
# $$W_c(P_X,P_G) = \inf_{\Gamma\in\mathcal P(X\sim P_X,\;Y\sim P_G)} \mathbb{E}_{(X,Y)\sim\Gamma}\big[c(X,Y)\big],$$
#
# an infimum over all **couplings** $\Gamma$: joint distributions whose marginals are $P_X$ and $P_G$.
# With $c = \delta^p$ for a metric $\delta$, $W_p = W_c^{1/p}$ is the $p$-Wasserstein distance. The thesis uses
# $c(x,y)=\|x-y\|^2$.
#
# For discrete measures $a\in\Delta_n$, $b\in\Delta_m$ and a cost matrix $C_{ij}$, this is a **linear
# programme**: minimise $\sum_{ij}\Gamma_{ij}C_{ij}$ subject to row sums $a$, column sums $b$, $\Gamma\ge0$
# (`waelib.course.toy.ot_linprog`). On the **real line** with a convex cost the optimal coupling is the
# *monotone* one — match the $i$-th smallest $x$ with the $i$-th smallest $y$ (the quantile coupling):
# any crossing pair $x_1<x_2$, $y_1>y_2$ can be uncrossed without increasing the cost. For equal-weight
# measures with $n$ points each, some optimal $\Gamma$ is a permutation (Birkhoff–von Neumann), so for
# small $n$ we can also try all $n!$ permutations.

# %%
# Four ways to the same number: sorting, scipy, the LP, and (for n <= 7) all permutations.
for n in (7, params.n_points):
    xs, ys = rng.normal(0, 1, n), rng.gamma(2.0, 1.0, n)
    w_sorted = toy.ot_1d_sorted(xs, ys, p=1)
    w_scipy = wasserstein_distance(xs, ys)
    line = f"n = {n:5d}: sorted {w_sorted:.6f}   scipy {w_scipy:.6f}"
    assert abs(w_sorted - w_scipy) < 1e-9
    if n <= 7:
        w_brute, perm = toy.ot_brute_force(xs, ys, p=1)
        w_lp, _ = toy.ot_linprog(np.full(n, 1 / n), np.full(n, 1 / n), np.abs(xs[:, None] - ys[None]))
        line += f"   brute force {w_brute:.6f}   LP {w_lp:.6f}"
        assert abs(w_brute - w_sorted) < 1e-9 and abs(w_lp - w_sorted) < 1e-7
        # the squared cost too: the sorted coupling is optimal for every convex cost (and the only optimal
        # one for a strictly convex cost such as |x - y|^2; for |x - y| other optimal plans may exist)
        w2_lp, plan = toy.ot_linprog(np.full(n, 1 / n), np.full(n, 1 / n), (xs[:, None] - ys[None]) ** 2)
        assert abs(toy.ot_brute_force(xs, ys, p=2)[0] - toy.ot_1d_sorted(xs, ys, p=2)) < 1e-9
        assert abs(w2_lp - toy.ot_1d_sorted(xs, ys, p=2)) < 1e-7
        small = (xs, ys, plan)
    print(line)
checks["w1_sorted_equals_scipy"] = True

# %%
xs, ys, plan = small
assert ((plan > 1e-9).sum(1) == 1).all(), "the LP's vertex solution is a permutation"
assert (np.argsort(np.argsort(xs)) == np.argsort(np.argsort(ys))[plan.argmax(1)]).all(), "... the sorted matching"
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1.6, 1]})
ax = axes[0]
ax.scatter(xs, np.ones_like(xs), color="C0", zorder=3, label=r"$x_i \sim P_X$")
ax.scatter(ys, np.zeros_like(ys), color="C3", zorder=3, label=r"$y_j \sim P_G$")
for i, j in zip(*np.nonzero(plan > 1e-9)):
    ax.plot([xs[i], ys[j]], [1, 0], color="0.4", lw=1)
ax.set_yticks([0, 1], ["$P_G$", "$P_X$"]); ax.set_ylim(-0.3, 1.3)
ax.set_title(r"optimal coupling for $c = |x - y|^2$ = sorted matching")
ax.legend(loc="center right", bbox_to_anchor=(1.0, 0.5)); ax.grid(False)
ax = axes[1]
order_x, order_y = np.argsort(xs), np.argsort(ys)
ax.imshow(plan[np.ix_(order_x, order_y)] * len(xs), cmap="Blues", vmin=0, vmax=1)
ax.set_xlabel("$y$ (sorted)"); ax.set_ylabel("$x$ (sorted)")
ax.set_title(r"LP plan $n\,\Gamma_{ij}$: a permutation"); ax.grid(False)
fig.tight_layout()
figures.save_figure(fig, "nb02_ot_1d", params.figures_dir)
plt.show()

# %% [markdown]
# **What this shows.** On the line the four computations give the same number (asserted above), and for the
# squared cost the LP's optimal plan is a permutation matrix that matches the points in sorted order: no two
# transport lines cross (asserted). For $c = |x-y|$ the value is the same but the optimal plan need not be
# unique — a crossing plan can cost exactly as much — which is why the figure uses the strictly convex cost. In more than one dimension there is no sorting shortcut, and even the LP grows with the product of
# the two sample sizes — one reason WAE never computes $W_c$ between image distributions directly, but
# rewrites it through the latent space (next section). Exercise 1 compares the LP on samples with the
# closed form that exists for two Gaussians.

# %% [markdown]
# ## 2. A deterministic decoder: transport through the latent space
#
# The model is a latent-variable model: $Z\sim P_Z$ on a latent space $\mathcal Z$, and a decoder maps it to
# $\mathcal X$ (thesis eq. 2.3, $p_G(x)=\int p_G(x\mid z)p_Z(z)dz$). Like the thesis we take a
# **deterministic** decoder $X = G(Z)$. Then every coupling of $P_X$ and $P_G$ can be built by choosing,
# for each $x$, a distribution of codes $Q(Z\mid X=x)$ — an *encoder* — such that the codes of all the data
# together, the **aggregate posterior**
#
# $$Q_Z := \mathbb{E}_{X\sim P_X}\big[Q(Z\mid X)\big],$$
#
# is the prior, and then decoding. Tolstikhin et al. (Theorem 1) prove the two searches give the same value:
#
# $$W_c(P_X, P_G) \;=\; \inf_{Q:\;Q_Z = P_Z}\; \mathbb{E}_{X\sim P_X}\,\mathbb{E}_{Z\sim Q(Z\mid X)}\big[c\big(X, G(Z)\big)\big].$$
#
# *Why:* given an admissible $Q$, the law of $(X, G(Z))$ is a coupling of $P_X$ and $P_G$ (its second
# marginal is $G_\#Q_Z = G_\#P_Z = P_G$), so the right side is $\ge W_c$; conversely an optimal coupling
# $\Gamma(X,Y)$ can be lifted to $(X,Z)$ by drawing $Z$ from $P_Z$ conditioned on $G(Z)=Y$, whose $Z$-marginal is $P_Z$.
#
# We check this with two linear programmes on discrete measures, with a decoder that is **not injective**
# (several codes decode to the same point, so $P_G$ has merged atoms): (a) Kantorovich's LP between $P_X$
# and $P_G$ directly, (b) the LP over encoders $Q(z\mid x)$ with the constraint $Q_Z = P_Z$.

# %%
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

# %% [markdown]
# **What this shows.** The two linear programmes — one over couplings in $\mathcal X$, one over encoders whose
# aggregate posterior is the prior — have the same optimum, even though the decoder merges codes (so the
# optimal encoder need not be unique: mass can be exchanged between codes that decode to the same point
# without changing the cost). The
# second LP's plan satisfies $Q_Z = P_Z$ exactly (asserted). This equality is Theorem 1; it uses the constraint
# $Q_Z = P_Z$, which a neural network cannot impose, and it searches *all* encoders. The next section drops both.

# %% [markdown]
# ## 3. The relaxed objective $D_{\mathrm{WAE}}$
#
# The constraint $Q_Z = P_Z$ is hard to impose on a neural encoder, so it is relaxed into a penalty
# (thesis eq. 2.4):
#
# $$D_{\mathrm{WAE}}(P_X, P_G) = \inf_{Q(Z\mid X)\in\mathcal Q}\; \mathbb{E}_{P_X}\mathbb{E}_{Q(Z\mid X)}\big[c(X, G(Z))\big] \;+\; \lambda\,\mathcal D_Z(Q_Z, P_Z),$$
#
# with any divergence $\mathcal D_Z$ between distributions on $\mathcal Z$ and a weight $\lambda>0$. The encoder now
# has two jobs: give codes from which $G$ reconstructs $x$ (first term), and make the *cloud of all codes*
# look like the prior (second term). `waelib.losses.wae_loss` computes
# `recon_scale * E c(x, G(z)) + lam * penalty`. The factor `recon_scale` comes from the official WAE code,
# whose cost is $0.05\,\|x-y\|^2$ on $64\times64$ images in $[-1,1]$ and whose $\lambda$ values assume it; this
# repository rescales it to the image size and pixel range, `losses.recon_scale_for` (it only rescales
# $\lambda$: `recon_scale`$\cdot c + \lambda\mathcal D_Z$ has the minimisers of $c + (\lambda/$`recon_scale`$)\,\mathcal D_Z$;
# `docs/deviations.md`, row 7).
#
# ### What $D_{\mathrm{WAE}}$ is, and what it is not
#
# Write $D_\lambda(\mathcal Q)$ for the right-hand side of (2.4) with the encoders restricted to a set $\mathcal Q$, and
# assume $\mathcal D_Z\ge0$ with $\mathcal D_Z(Q_Z,P_Z)=0$ exactly when $Q_Z=P_Z$.
#
# 1. **With an unrestricted (non-parametric) $\mathcal Q$** — all conditional distributions, the set eq. 2.4
#    and Theorem 1 use — every encoder with $Q_Z = P_Z$ is in $\mathcal Q$ and pays no penalty, so
#    $$D_\lambda(\mathcal Q_{\text{all}}) \le \inf_{Q:\,Q_Z=P_Z}\mathbb E\,c(X,G(Z)) = W_c(P_X,P_G)\qquad\text{for every }\lambda .$$
#    For finite $\lambda$ the penalised objective is a **lower bound** on $W_c$, non-decreasing in $\lambda$, and it
#    tends to $W_c$ as $\lambda\to\infty$ (a standard penalty-method argument: on compact spaces, with $c$ and $G$
#    continuous and $\mathcal D_Z$ weakly lower semicontinuous, the near-optimal encoders have
#    $\mathcal D_Z\le W_c/\lambda\to0$ and accumulate at admissible ones). For some divergences it equals $W_c$ already
#    from a finite $\lambda$ on (an *exact* penalty, like the $L^1$ distance below); for penalties that are quadratic
#    near $Q_Z = P_Z$ — the $\mathrm{MMD}^2$ that WAE-MMD estimates, the JS divergence — it is in general below $W_c$
#    for every finite $\lambda$.
# 2. **With a parametric $\mathcal Q$** — a neural network with Gaussian or deterministic outputs, what is trained —
#    the infimum is over a subset, so $D_\lambda(\mathcal Q) \ge D_\lambda(\mathcal Q_{\text{all}})$, but it is **neither a lower
#    nor an upper bound on $W_c$** in general: it can be below it for small $\lambda$, and above it — without bound as
#    $\lambda\to\infty$ — when no member of the family makes $Q_Z = P_Z$ exactly.
# 3. It is **not** a likelihood or a bound on one, and its value at the $\lambda$ used in training is not a distance
#    between $P_X$ and $P_G$. Training also minimises over $G$, estimates both terms on minibatches, and replaces
#    $\mathcal D_Z$ by an estimator (an adversary, section 5, or the MMD, section 6).
#
# A discrete problem shows all three regimes exactly. We keep the data, prior and non-injective decoder of
# section 2 and take $\mathcal D_Z(Q_Z,P_Z) = \sum_j |Q_Z(j) - P_Z(j)|$ (the $L^1$ distance, twice the total
# variation), so that the penalised problem over all encoders is again a linear programme
# (`toy.penalised_wae_lp`). The restricted family is the **deterministic encoders**, $x_i\mapsto$ one code, searched
# exhaustively (`toy.penalised_wae_deterministic_path`): with fewer data atoms than prior atoms, none of them can
# make $Q_Z = P_Z$.

# %%
lams = np.concatenate([[0.0], np.geomspace(0.01, 100.0, 13)])
cost_xz = cost(x_atoms, G[g_of_z])                                      # c(x_i, G(z_j))
free = [toy.penalised_wae_lp(a, p_z, cost_xz, lam) for lam in lams]     # all encoders
det = toy.penalised_wae_deterministic_path(a, p_z, cost_xz, lams)          # deterministic encoders
d_free = np.array([r["objective"] for r in free])
d_det = np.array([r["objective"] for r in det])

assert (d_free <= w_direct + 1e-8).all(), "over all encoders, D_WAE must stay below W_c"
assert (np.diff(d_free) >= -1e-9).all() and (np.diff(d_det) >= -1e-9).all(), "D_lambda is non-decreasing"
assert abs(d_free[-1] - w_direct) < 1e-7 and free[-1]["penalty"] < 1e-9, "the L1 penalty is exact for large lambda"
assert (d_det >= d_free - 1e-9).all(), "a restricted family cannot do better"
assert min(r["penalty"] for r in det) > 1e-6, "no deterministic encoder matches the prior here"
assert d_det[-1] > w_direct, "with a restricted family and a large lambda, D_WAE exceeds W_c"
exact_from = lams[np.argmax(np.abs(d_free - w_direct) < 1e-7)]
crosses_at = lams[np.argmax(d_det > w_direct)]
numbers.update(w_c=w_direct, d_free_lam0=d_free[0], exact_from_lambda=exact_from, det_crosses_wc_at=crosses_at,
               det_min_penalty=min(r["penalty"] for r in det))
_ = atomic_write_json(numbers_file, numbers)
checks.update(d_wae_free=d_free.tolist(), d_wae_deterministic=d_det.tolist(), lambdas=lams.tolist())

fig, ax = plt.subplots(figsize=(7, 3.8))
xs_plot = np.where(lams == 0, lams[1] / 3, lams)                          # lambda = 0 drawn at the left edge
ax.plot(xs_plot, d_free, "o-", color="C0", label=r"$D_\lambda$ over all encoders (LP)")
ax.plot(xs_plot, d_det, "s-", color="C3", label=r"$D_\lambda$ over deterministic encoders")
ax.axhline(w_direct, color="k", ls="--", lw=1.2, label=r"$W_c(P_X, P_G)$ (Theorem 1)")
ax.set_xscale("log"); ax.set_yscale("log")
ax.set_xlabel(r"penalty weight $\lambda$  (leftmost point: $\lambda = 0$)")
ax.set_ylabel(r"$\inf_Q\ \mathbb{E}\,c + \lambda\,\|Q_Z - P_Z\|_1$")
ax.set_title(r"$D_\lambda$ equals $W_c$ only for an unrestricted encoder and a large enough $\lambda$")
ax.legend(loc="upper left", fontsize=9)
figures.save_figure(fig, "nb02_penalised_objective", params.figures_dir)
plt.show()

# %%
_ = show.say("**What this shows.** As we can see, over all encoders $D_\\lambda$ starts at {d0} for $\\lambda=0$ (each "
             "$x$ sent to its best code, whatever $Q_Z$ becomes), rises with $\\lambda$ and never exceeds "
             "$W_c$ = {wc}; with the $L^1$ penalty it equals $W_c$ from $\\lambda$ = {lam_exact} on (of the values "
             "tried). The deterministic encoders can never match the prior here (their smallest $L^1$ distance "
             "to it is {pen}), so their objective grows without bound — eventually linearly in $\\lambda$, with that "
             "distance as slope — and passes $W_c$ from "
             "$\\lambda$ = {lam_cross} on. The value a WAE reports is therefore not $W_c$: it depends on "
             "$\\lambda$ and on the encoder family. (On continuous data a deterministic encoder *can* push $P_X$ "
             "to $P_Z$ exactly — section 4's toy has one — so this failure is specific to atoms; the point is "
             "that the family, not only $\\lambda$, decides how close $D_\\lambda$ is to $W_c$.)",
             d0=show.quote(numbers_file, "d_free_lam0", "{:.3f}"), wc=show.quote(numbers_file, "w_c", "{:.3f}"),
             lam_exact=show.quote(numbers_file, "exact_from_lambda", "{:.3g}"),
             pen=show.quote(numbers_file, "det_min_penalty", "{:.3f}"),
             lam_cross=show.quote(numbers_file, "det_crosses_wc_at", "{:.3g}"))

# %% [markdown]
# ## 4. The VAE's KL and the WAE's $\mathcal D_Z$ penalise different things
#
# In notebook 01 the VAE's regulariser was $\mathbb{E}_{P_X}\mathrm{KL}\big(Q(Z\mid X)\,\|\,P_Z\big)$: it pushes **every**
# per-sample posterior $Q(Z\mid X=x)$ towards the prior. Codes of different inputs then overlap, which makes
# them harder for the decoder to tell apart (the usual explanation of the VAE's blurry reconstructions).
# WAE only asks the **aggregate**
# $Q_Z$ to match $P_Z$; each $Q(Z\mid X=x)$ may be a narrow blob (or a point) far from the prior.
#
# ### The exact relation: $\mathbb E_{P_X}\mathrm{KL}(Q(Z\mid X)\,\|\,P_Z) = I(X;Z) + \mathrm{KL}(Q_Z\,\|\,P_Z)$
#
# Let $q(z\mid x)$, $q(z)$ and $p(z)$ be the densities of $Q(Z\mid X=x)$, $Q_Z$ and $P_Z$. Under the encoder's joint
# law $(X,Z)\sim P_X(x)\,q(z\mid x)$, insert $q(z)$ into the VAE's regulariser:
#
# $$\mathbb E_{P_X}\mathrm{KL}\big(q(\cdot\mid X)\,\|\,p\big)
#   = \mathbb E_{(X,Z)}\Big[\log\frac{q(Z\mid X)}{q(Z)}\Big] + \mathbb E_{(X,Z)}\Big[\log\frac{q(Z)}{p(Z)}\Big]
#   = I(X;Z) + \mathrm{KL}(Q_Z\,\|\,P_Z),$$
#
# because the second expectation only involves $Z$, whose law is $Q_Z$. Here $I(X;Z)$ is the mutual information
# **under the encoder's joint** (the data and their codes), not under the model. Both terms are $\ge 0$, so:
#
# - the VAE's data-averaged KL is an **upper bound on $I(X;Z)$**, with equality exactly when $Q_Z = P_Z$;
# - the VAE penalises two things: the information its codes carry about $x$ ($I$), and the mismatch of the
#   aggregate with the prior. The WAE's penalty $\lambda\,\mathcal D_Z(Q_Z,P_Z)$ keeps only the second (with
#   $\mathcal D_Z = \mathrm{KL}$ it is literally the second term). A WAE pays nothing for informative codes.
#
# We check the identity term by term where everything is Gaussian (`toy.LinearGaussianEncoder`): data
# $X\sim\mathcal N(0,\Sigma_x)$ in $D = 2$ dimensions, an encoder $q(z\mid x) = \mathcal N(Ax + c_0, S)$ in $d_z = 2$, the
# thesis' prior $\mathcal N(0, \sigma_z^2 I)$. Then $Q_Z = \mathcal N(c_0, A\Sigma_xA^\top + S)$,
# $I(X;Z) = \tfrac12\log\det(A\Sigma_xA^\top + S) - \tfrac12\log\det S$, and the other two terms are Gaussian KLs. Monte
# Carlo estimates each term from $M$ draws of $(x, z)$ by averaging its log-ratio.

# %%
bridge = toy.LinearGaussianEncoder(
    Sx=torch.tensor([[1.0, 0.6], [0.6, 2.0]], dtype=torch.float64),
    A=torch.tensor([[1.2, -0.4], [0.3, 0.8]], dtype=torch.float64),
    c=torch.tensor([0.5, -0.3], dtype=torch.float64),
    S=torch.tensor([[0.3, 0.05], [0.05, 0.2]], dtype=torch.float64), prior_sigma2=config.WAE_PRIOR_SIGMA2)
closed = {"expected_kl": bridge.expected_kl_to_prior().item(), "mutual_information": bridge.mutual_information().item(),
          "kl_aggregate": bridge.kl_aggregate_to_prior().item()}
mc = bridge.monte_carlo(params.n_mc, gen)
assert abs(closed["expected_kl"] - closed["mutual_information"] - closed["kl_aggregate"]) < 1e-12
for key in closed:
    assert abs(mc[key][0] - closed[key]) < 5 * mc[key][1], f"Monte Carlo disagrees with the closed form of {key}"
labels = {"expected_kl": "E_x KL(q(z|x) || p(z))  (the VAE's regulariser)",
          "mutual_information": "I(X; Z)  (under the encoder's joint)",
          "kl_aggregate": "KL(Q_Z || P_Z)  (a WAE penalty)"}
show.table([{"term": labels[k], "closed form (nats)": f"{closed[k]:.4f}",
             "Monte Carlo (nats)": f"{mc[k][0]:.4f} ± {mc[k][1]:.4f}"} for k in closed])
checks.update(bridge_closed=closed, bridge_mc={k: v[0] for k, v in mc.items()})
numbers.update(bridge=closed)
_ = atomic_write_json(numbers_file, numbers)

# %%
_ = show.say("**What this shows.** The closed forms satisfy the identity to rounding error, and each one is "
             "the expectation it claims to be (Monte Carlo within five standard errors, asserted). Of this "
             "encoder's {ekl} nats of VAE penalty, {mi} nats are mutual information — the price of codes that "
             "tell inputs apart — and only {kla} nats measure the mismatch between $Q_Z$ and the prior, the part "
             "a WAE penalises. Exercise 3 derives $I(X;Z)$ of the one-dimensional version by this route.",
             ekl=show.quote(numbers_file, "bridge.expected_kl", "{:.3f}"),
             mi=show.quote(numbers_file, "bridge.mutual_information", "{:.3f}"),
             kla=show.quote(numbers_file, "bridge.kl_aggregate", "{:.3f}"))

# %% [markdown]
# ### A 2-D toy you can see
#
# A 2-D toy makes this visible. The data $X$ are four separated clusters; three Gaussian encoders
# (`waelib.course.toy.encoder_toys`):
#
# - **WAE-like**: narrow posteriors centred at $T(x)$, where $T$ pushes $P_X$ forward to exactly
#   $\mathcal N(0,I)$ (per-coordinate $\Phi^{-1}\!\circ F$) — large KL, but $Q_Z = P_Z$ and $x$ is recoverable;
# - **collapsed**: $Q(Z\mid X=x)=\mathcal N(0,I)$ for every $x$ — KL $=0$, $Q_Z=P_Z$, and $z$ says nothing about $x$;
# - **mismatched**: narrow posteriors at the standardised $x$ — the same KL as WAE-like, but $Q_Z$ is four clumps.
#
# Here the prior is $\mathcal N(0, I_2)$ (the KL is `losses.gaussian_kl`'s, to $\mathcal N(0,I)$). We measure the mean KL
# (the VAE regulariser), the MMD between $Q_Z$ and $P_Z$ (a WAE regulariser, section 6) and how well the cluster
# can be read back from a code (nearest-centroid accuracy). By the identity above, the WAE-like encoder's KL is
# *all* mutual information: its aggregate is exactly the prior ($T(X)\sim\mathcal N(0,I)$, shrunk by
# $\sqrt{1-\tau^2}$, plus noise of variance $\tau^2$).

# %%
data = toy.GridMixture(a=2.0, s=0.35)
x2, cluster = data.sample(params.n_points, gen)
encoders = toy.encoder_toys(data, x2, tau=0.1)
z_prior = torch.randn(params.n_points, 2, generator=gen, dtype=torch.float64)
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
numbers.update(toy_2d=checks["toy_2d"])
_ = atomic_write_json(numbers_file, numbers)

# %%
from matplotlib.patches import Ellipse

fig, axes = plt.subplots(1, 4, figsize=(15, 3.9))
colors = np.array(["C0", "C1", "C2", "C3"])
ax = axes[0]
ax.scatter(*x2[:600].T, s=4, c=colors[cluster[:600]])
ax.set_title("data $X$ (4 clusters)"); ax.set_aspect("equal")
idx_shown = torch.arange(0, params.n_points, max(1, params.n_points // 12))[:12]
for ax, key in zip(axes[1:], encoders):
    enc, st = encoders[key], stats[key]
    ax.scatter(*st["z"][:600].T, s=3, c=colors[cluster[:600]], alpha=0.35, lw=0)
    for r in (1, 2):   # prior N(0, I): 1 and 2 sigma circles
        ax.add_patch(plt.Circle((0, 0), r, fill=False, ls="--", color="k", lw=1))
    for i in idx_shown.tolist():   # a few per-sample posteriors Q(Z|X = x_i), 2-sigma ellipses
        mu_i, sd_i = enc["mu"][i].numpy(), enc["sigma"][i].numpy()
        ax.add_patch(Ellipse(mu_i, 4 * sd_i[0], 4 * sd_i[1], fill=False, color=colors[cluster[i]], lw=1.6))
    ax.set_xlim(-3.5, 3.5); ax.set_ylim(-3.5, 3.5); ax.set_aspect("equal")
    ax.set_title(f"{names[key]}\nKL = {st['kl']:.2f}, MMD = {st['mmd']:.4f}", fontsize=9.5)
fig.suptitle("Latent space: dots = aggregate posterior $Q_Z$, ellipses = a few $Q(Z|X=x)$ (2 sd), "
             "dashed = prior $N(0, I)$ (1 and 2 sd)")
fig.tight_layout(rect=(0, 0, 1, 0.95))
figures.save_figure(fig, "nb02_vae_vs_wae_regularisers", params.figures_dir)
plt.show()

# %%
q2 = lambda key: show.quote(numbers_file, f"toy_2d.{key}", "{:.3f}")
_ = show.say("**What this shows.** As we can see, the KL column cannot tell the informative WAE-like encoder "
             "({kl_w} nats) from the mismatched one ({kl_m} nats), and it rewards the useless collapsed encoder "
             "with {kl_c}: the collapsed codes identify the cluster with accuracy {acc_c}, where a guess among four "
             "equally likely clusters is right a quarter of the time. The WAE-like codes identify it with accuracy "
             "{acc_w}; the errors come from codes near the axes, where a prior-shaped $Q_Z$ must put mass between "
             "the clusters. The MMD column is {mmd_w} (WAE-like) and {mmd_c} (collapsed) for the two encoders whose "
             "*aggregate* is the prior, and {mmd_m} for the mismatched one — the property the generator needs: "
             "decoding prior samples $z\\sim P_Z$ works only if the codes seen in training cover the prior.",
             kl_w=q2("wae.kl"), kl_m=q2("mismatched.kl"), kl_c=q2("collapsed.kl"), acc_c=q2("collapsed.acc"),
             acc_w=q2("wae.acc"), mmd_w=q2("wae.mmd"), mmd_c=q2("collapsed.mmd"), mmd_m=q2("mismatched.mmd"))

# %% [markdown]
# ## 5. The GAN penalty (thesis Algorithm 2)
#
# Choosing $\mathcal D_Z = D_{\mathrm{JS}}$, the Jensen–Shannon divergence, it can be estimated adversarially: a
# discriminator $D_\gamma(z)\in(0,1)$ in the latent space tells prior samples ("real") from codes ("fake").
# Algorithm 2 alternates
#
# $$\text{ascend}\quad \frac{\lambda}{n}\sum_{i=1}^n\big[\log D_\gamma(z_i) + \log\big(1-D_\gamma(\tilde z_i)\big)\big],\quad z_i\sim P_Z,\ \tilde z_i\sim Q(Z\mid x_i);$$
#
# $$\text{descend}\quad \frac1n\sum_{i=1}^n\big[c\big(x_i, G(\tilde z_i)\big) - \lambda\log D_\gamma(\tilde z_i)\big].$$
#
# `waelib.losses.discriminator_loss` is the negative of the first line (minimised, written with logits and
# binary cross-entropy for numerical stability); `waelib.losses.encoder_adversarial_loss` is the mean of
# $-\log D_\gamma(\tilde z_i)$ of the second line. For a fixed $Q_Z$ the best discriminator is
# $D^*(z) = \frac{p_Z(z)}{p_Z(z)+q_Z(z)}$, i.e. logit $\log p_Z(z) - \log q_Z(z)$, and at $D^*$
#
# $$\frac{\text{discriminator\_loss}}{\lambda} = 2\log 2 - 2\,D_{\mathrm{JS}}(P_Z, Q_Z),$$
#
# so the adversary's loss *measures* the JS divergence. We check both the formulas and this identity on
# 1-D Gaussians (JS by quadrature).

# %%
from scipy.stats import norm

lam = 1.0
p_sd, q_mu, q_sd = math.sqrt(config.WAE_PRIOR_SIGMA2), 1.0, 0.5          # P_Z = N(0, 2) as in the thesis
logp = lambda t: norm.logpdf(t, 0, p_sd)
logq = lambda t: norm.logpdf(t, q_mu, q_sd)
zp = torch.randn(params.n_mc, generator=gen, dtype=torch.float64) * p_sd
zq = q_mu + q_sd * torch.randn(params.n_mc, generator=gen, dtype=torch.float64)
logit = lambda t: torch.as_tensor(logp(t.numpy()) - logq(t.numpy()))  # the optimal discriminator

d_loss = losses.discriminator_loss(logit(zp), logit(zq), lam=lam)
# the same number from Algorithm 2's formula
disc = lambda t: torch.sigmoid(logit(t))                              # D*(z), a probability
alg2 = -lam * (torch.log(disc(zp)) + torch.log(1 - disc(zq))).mean()
assert torch.isclose(d_loss, alg2, rtol=1e-9)
assert torch.isclose(losses.encoder_adversarial_loss(logit(zq)), -torch.log(disc(zq)).mean(), rtol=1e-9)

js = toy.js_divergence_1d(logp, logq)
terms = torch.nn.functional.softplus(-logit(zp)) + torch.nn.functional.softplus(logit(zq))  # per-pair loss
se = lam * terms.std().item() / math.sqrt(params.n_mc)
print(f"discriminator loss at D*   = {d_loss.item():.5f}")
print(f"2 log 2 - 2 JS(P_Z, Q_Z)   = {2 * math.log(2) - 2 * js:.5f}   (JS = {js:.5f} nats, quadrature)")
assert abs(d_loss.item() - lam * (2 * math.log(2) - 2 * js)) < 5 * se + 1e-6
# any other discriminator does worse (a higher loss), e.g. an over-confident one:
assert losses.discriminator_loss(2 * logit(zp), 2 * logit(zq), lam=lam) > d_loss
checks.update(js_quadrature=js, disc_loss_at_optimum=d_loss.item())

# %% [markdown]
# **What this shows.** The library's two GAN losses are Algorithm 2's formulas (to rounding error), and at the
# optimal discriminator the adversary's loss is $2\log2 - 2D_{\mathrm{JS}}$ within Monte Carlo error; every other
# discriminator has a higher expected loss ($D^*$ is the minimiser), and the over-confident one tried here does. So the **discriminator step** of Algorithm 2
# does estimate the Jensen–Shannon divergence. Whether the **encoder step** descends it is a different question.
#
# ### 5.1 The non-saturating encoder loss does not minimise the JS divergence
#
# In the minimax game of Goodfellow et al. (2014) the encoder would *minimise* the adversary's objective, i.e.
# $\mathbb E_{Q_Z}\log(1 - D_\gamma(\tilde z))$ (the "saturating" loss). Algorithm 2 — like the official WAE code and
# `losses.encoder_adversarial_loss` — instead descends $-\lambda\,\mathbb E_{Q_Z}\log D_\gamma(\tilde z)$, the **non-saturating**
# heuristic. The two have different gradients. Let the codes' law $Q_\theta$ depend on the encoder's weights $\theta$,
# and let the discriminator be optimal for the current $\theta_0$ and held fixed during the step, as in training:
# $D^* = p/(p + q_{\theta_0})$, with $p$, $q_\theta$ the densities of $P_Z$, $Q_\theta$. Using $\int\nabla_\theta q_\theta = 0$:
#
# $$\nabla_\theta\,2D_{\mathrm{JS}}(P_Z, Q_\theta) = \int \nabla_\theta q_\theta\,\log\frac{2q_\theta}{p+q_\theta},\qquad
#   \nabla_\theta\,\mathrm{KL}(Q_\theta\,\|\,P_Z) = \int \nabla_\theta q_\theta\,\log\frac{q_\theta}{p}$$
#
# (the terms from differentiating inside the logarithms integrate to zero). At $\theta=\theta_0$:
#
# - **saturating:** $\nabla_\theta\,\mathbb E_{Q_\theta}\log(1-D^*) = \int\nabla_\theta q_\theta \log\frac{q_{\theta_0}}{p+q_{\theta_0}}
#   = \nabla_\theta\,2D_{\mathrm{JS}}(P_Z,Q_\theta)$ — the JS divergence is descended (Goodfellow et al. 2014);
# - **non-saturating:** $\nabla_\theta\,\mathbb E_{Q_\theta}[-\log D^*] = \int\nabla_\theta q_\theta \log\frac{p+q_{\theta_0}}{p}
#   = \nabla_\theta\big[\mathrm{KL}(Q_\theta\,\|\,P_Z) - 2D_{\mathrm{JS}}(P_Z,Q_\theta)\big]$ (Arjovsky & Bottou 2017, Theorem 2.5).
#
# So with a perfect adversary the thesis' encoder follows the gradient of the **reverse KL minus twice the JS
# divergence**, not of $\lambda D_{\mathrm{JS}}$. Both divergences and their gradients vanish at $Q_Z = P_Z$, so the
# fixed point the penalty aims at is unchanged; what changes is the path: the reverse KL $\mathrm{KL}(Q_Z\,\|\,P_Z)$ is
# large where codes sit in regions the prior rarely visits, and in the Gaussian example below its gradient
# keeps growing as the two laws separate — whereas the JS divergence saturates at $\log 2$ there, and the
# saturating loss's gradient dies away. This is why the heuristic is used; it is also why "WAE-GAN minimises $D_{\mathrm{JS}}(Q_Z, P_Z)$" is, for
# Algorithm 2, only a description of its discriminator.
#
# We check both identities on 1-D Gaussians, $Q_Z = \mathcal N(\mu, \tau^2)$ against the thesis' prior
# $\mathcal N(0, \sigma_z^2)$, differentiating with respect to $\mu$: the two losses' gradients by quadrature of the
# integrals above with $D^*$ held fixed, the divergences' gradients by central differences
# (`toy.gan_encoder_gradients_1d`).

# %%
tau = 0.5
mus = np.linspace(0.0, 8.0, 17)
grads = [toy.gan_encoder_gradients_1d(m, tau, p_sd) for m in mus]
g_sat = np.array([g["saturating"] for g in grads])
g_ns = np.array([g["non_saturating"] for g in grads])
g_js = np.array([g["js"] for g in grads])
g_kl = np.array([g["kl_reverse"] for g in grads])
assert np.allclose(g_sat, 2 * g_js, atol=1e-7), "saturating loss: gradient of 2 JS"
assert np.allclose(g_ns, g_kl - 2 * g_js, atol=1e-7), "non-saturating loss: gradient of KL(Q||P) - 2 JS"
assert np.allclose(g_kl, mus / p_sd ** 2, atol=1e-7)                     # KL(N(mu, tau^2) || N(0, s^2))' = mu / s^2
assert (g_ns[1:] > 0).all(), "the non-saturating step moves the codes towards the prior's mean"
peak = g_sat.argmax()
assert (np.diff(g_sat[peak:]) < 0).all() and (np.diff(g_ns[peak:]) > 0).all(), "beyond the peak: JS saturates, NS grows"
ratio = g_ns[1:] / g_js[1:]
assert ratio.max() / ratio.min() > 10, "the non-saturating gradient is not a multiple of the JS gradient"
numbers.update(ns_over_js_ratio_min=ratio.min(), ns_over_js_ratio_max=ratio.max(), mu_far=mus[-1],
               sat_far=g_sat[-1], ns_far=g_ns[-1], sat_peak=g_sat.max(), mu_sat_peak=mus[g_sat.argmax()])
_ = atomic_write_json(numbers_file, numbers)
checks.update(gan_grad_mu=mus.tolist(), gan_grad_saturating=g_sat.tolist(), gan_grad_non_saturating=g_ns.tolist())

fig, ax = plt.subplots(figsize=(7, 3.8))
ax.plot(mus, g_ns, "o-", color="C3", label=r"non-saturating: $\partial_\mu\,\mathbb{E}_Q[-\log D^*]$ (Algorithm 2)")
ax.plot(mus, g_kl - 2 * g_js, "k+", ms=9, label=r"$\partial_\mu[\mathrm{KL}(Q_Z\|P_Z) - 2\,D_{\mathrm{JS}}]$")
ax.plot(mus, g_sat, "s-", color="C0", label=r"saturating: $\partial_\mu\,\mathbb{E}_Q\log(1-D^*)$ $=2\,\partial_\mu D_{\mathrm{JS}}$")
ax.set_xlabel(r"mean $\mu$ of the codes $Q_Z = N(\mu, %.1f^2)$; prior $P_Z = N(0, %g)$" % (tau, p_sd ** 2))
ax.set_ylabel(r"gradient with respect to $\mu$")
ax.set_title("At the optimal discriminator the two encoder losses descend different divergences")
ax.legend(loc="upper left", fontsize=9)
figures.save_figure(fig, "nb02_gan_encoder_gradients", params.figures_dir)
plt.show()

# %%
_ = show.say("**What this shows.** Both identities hold on the whole grid (asserted to $10^{{-7}}$). The saturating "
             "gradient is largest near $\\mu$ = {mu_peak} and then dies away: at $\\mu$ = {mu_far} it is {sat_far}, "
             "because the JS divergence has saturated. The non-saturating gradient there is {ns_far} and keeps "
             "growing, like the reverse KL's $\\mu/\\sigma_z^2$. Its ratio to the JS gradient runs from {rmin} to "
             "{rmax} over the grid, so it is not a rescaled JS gradient: the thesis' encoder step does not "
             "minimise $D_{{\\mathrm{{JS}}}}$, even with a perfect discriminator (Exercise 4 checks this identity at "
             "another point).",
             mu_peak=show.quote(numbers_file, "mu_sat_peak", "{:.1f}"), mu_far=show.quote(numbers_file, "mu_far", "{:.0f}"),
             sat_far=show.quote(numbers_file, "sat_far", "{:.1e}"), ns_far=show.quote(numbers_file, "ns_far", "{:.2f}"),
             rmin=show.quote(numbers_file, "ns_over_js_ratio_min", "{:.2f}"),
             rmax=show.quote(numbers_file, "ns_over_js_ratio_max", "{:.3g}"))

# %% [markdown]
# ## 6. The MMD penalty and its unbiased estimator
#
# The maximum mean discrepancy with a positive-definite kernel $k$ is
#
# $$\mathrm{MMD}_k^2(P_Z, Q_Z) = \mathbb{E}\,k(z,z') + \mathbb{E}\,k(\tilde z,\tilde z') - 2\,\mathbb{E}\,k(z,\tilde z),
# \qquad z,z'\sim P_Z,\ \tilde z,\tilde z'\sim Q_Z,$$
#
# zero iff $P_Z = Q_Z$ for a characteristic kernel. WAE-MMD uses the inverse multiquadratic kernel
# $k(x,y) = C/(C + \|x-y\|^2)$, summed over scales $C\in\{.1,.2,.5,1,2,5,10\}\times 2\,d_z\,\sigma_z^2$ (the
# official code). From $n$ samples of each, the **unbiased** estimator (a U-statistic) drops the $i=j$
# terms of the within-set sums:
#
# $$\widehat{\mathrm{MMD}}^2_u = \frac{1}{n(n-1)}\sum_{i\ne j}k(z_i,z_j) + \frac{1}{n(n-1)}\sum_{i\ne j}k(\tilde z_i,\tilde z_j) - \frac{2}{n^2}\sum_{i,j}k(z_i,\tilde z_j).$$
#
# Keeping the diagonal (the V-statistic, `waelib.course.toy.mmd_biased`) adds $k(z,z)=1$ terms and biases the
# estimate upwards by $O(1/n)$ — an encoder would be penalised even when $Q_Z=P_Z$. We draw many
# independent estimates with $Q_Z = P_Z = \mathcal N(0, 2I_8)$ ($d_z = 8$): the unbiased ones should average to 0
# — which forces some of them to be negative — and the biased ones should not.

# %%
n, d_z = 64, 8
sd = math.sqrt(config.WAE_PRIOR_SIGMA2)
u, v = [], []
for _ in range(params.n_repeats):
    zq_ = sd * torch.randn(n, d_z, generator=gen, dtype=torch.float64)
    zp_ = sd * torch.randn(n, d_z, generator=gen, dtype=torch.float64)
    u.append(losses.mmd(zq_, zp_).item())
    v.append(toy.mmd_biased(zq_, zp_).item())
u, v = np.array(u), np.array(v)
se_u, se_v = u.std(ddof=1) / math.sqrt(len(u)), v.std(ddof=1) / math.sqrt(len(v))
print(f"unbiased: mean {u.mean():+.5f} +- {se_u:.5f}   ({(u < 0).mean():.0%} of the estimates are negative)")
print(f"biased:   mean {v.mean():+.5f} +- {se_v:.5f}")
assert abs(u.mean()) < 4 * se_u, "the unbiased MMD estimator is biased?"
assert v.mean() > 10 * se_v and (v > 0).all(), "the V-statistic should be positively biased"
# and the estimator does see a difference: shift Q_Z by one prior standard deviation in one coordinate
zq_shift = sd * torch.randn(n, d_z, generator=gen, dtype=torch.float64) + torch.eye(d_z, dtype=torch.float64)[0] * sd
shifted = losses.mmd(zq_shift, sd * torch.randn(n, d_z, generator=gen, dtype=torch.float64)).item()
print(f"one estimate with Q_Z shifted by 1 sd: {shifted:+.4f}")
assert shifted > u.mean() + 3 * u.std()
checks.update(mmd_unbiased_mean=u.mean(), mmd_unbiased_se=se_u, mmd_biased_mean=v.mean())
numbers.update(mmd_n=n, mmd_d_z=d_z, mmd_repeats=params.n_repeats, mmd_u_mean=u.mean(), mmd_u_se=se_u,
               mmd_u_negative=float((u < 0).mean()), mmd_v_mean=v.mean(), mmd_v_se=se_v, mmd_shifted=shifted)
_ = atomic_write_json(numbers_file, numbers)

fig, ax = plt.subplots(figsize=(7, 3.6))
bins = np.linspace(min(u.min(), v.min()), max(u.max(), v.max()), 50)
ax.hist(u, bins=bins, alpha=0.6, color="C0", label="unbiased U-statistic (waelib.losses.mmd)")
ax.hist(v, bins=bins, alpha=0.6, color="C3", label="biased V-statistic (diagonal kept)")
ax.axvline(0, color="k", lw=1.2)
ax.axvline(u.mean(), color="C0", ls="--"); ax.axvline(v.mean(), color="C3", ls="--")
ax.set_xlabel(r"$\widehat{\mathrm{MMD}}^2$ with $Q_Z = P_Z$  (n = %d codes, $d_z$ = %d)" % (n, d_z))
ax.set_ylabel("count"); ax.set_title(f"{params.n_repeats} independent estimates: only the U-statistic is centred at 0")
ax.set_ylim(0, ax.get_ylim()[1] * 1.35)
ax.legend(loc="upper center", ncol=1)
figures.save_figure(fig, "nb02_mmd_unbiased", params.figures_dir)
plt.show()

# %%
_ = show.say("**What this shows.** As we can see, over {reps} independent pairs of samples the unbiased "
             "estimates average {um} ± {use} (standard error) — zero within noise — and {neg} of them are "
             "negative: an unbiased estimate of a quantity that is exactly 0 must fall on both sides, so "
             "$\\widehat{{\\mathrm{{MMD}}}}^2_u < 0$ is not a bug (the population $\\mathrm{{MMD}}^2$ is never negative; its estimate "
             "can be). The V-statistics average {vm} ± {vse} and are all positive: with them an encoder whose "
             "$Q_Z$ *is* the prior would still be penalised, by an amount that shrinks like $1/n$ (Exercise 2 "
             "computes it). A real difference is visible on the same scale: shifting $Q_Z$ by one prior standard "
             "deviation in one of the {dz} coordinates gives {shift}.",
             reps=show.quote(numbers_file, "mmd_repeats"), um=show.quote(numbers_file, "mmd_u_mean", "{:+.5f}"),
             use=show.quote(numbers_file, "mmd_u_se", "{:.5f}"), neg=show.quote(numbers_file, "mmd_u_negative", "{:.0%}"),
             vm=show.quote(numbers_file, "mmd_v_mean", "{:+.5f}"), vse=show.quote(numbers_file, "mmd_v_se", "{:.5f}"),
             dz=show.quote(numbers_file, "mmd_d_z"), shift=show.quote(numbers_file, "mmd_shifted", "{:+.4f}"))

# %% [markdown]
# ## Summary
#
# - Optimal transport is a linear programme over couplings; on the line the sorted coupling solves it
#   (checked against scipy, the LP and all permutations).
# - With a deterministic decoder the coupling can be searched through encoders whose aggregate posterior
#   is the prior (Theorem 1, checked with two LPs); relaxing the constraint gives $D_{\mathrm{WAE}}$ with a
#   penalty $\lambda\,\mathcal D_Z(Q_Z,P_Z)$. Over all encoders it is a lower bound on $W_c$ that reaches it only as
#   $\lambda\to\infty$ (or at a finite $\lambda$ for an exact penalty); over a network's restricted family it is
#   neither a lower nor an upper bound.
# - $\mathbb E_{P_X}\mathrm{KL}(Q(Z\mid X)\,\|\,P_Z) = I(X;Z) + \mathrm{KL}(Q_Z\,\|\,P_Z)$: the VAE's regulariser is an upper
#   bound on the codes' mutual information with the data and penalises it; $\mathcal D_Z$ looks only at the
#   aggregate of the codes, so each input may keep its own, distinguishable code.
# - The GAN penalty's adversary estimates the JS divergence (Algorithm 2, used by the thesis' WAE and
#   WAE-ResNet), but its non-saturating encoder loss descends $\mathrm{KL}(Q_Z\,\|\,P_Z) - 2D_{\mathrm{JS}}$, not
#   $D_{\mathrm{JS}}$; the MMD penalty is a closed-form, unbiased estimate (WAE-MMD). Notebook 04 trains all of them.

# %%
_ = atomic_write_json(Path(params.out_dir) / "02_wae_objective_checks.json", {"profile": params.profile, "params": dict(params), "checks": checks})
print("all checks passed:", ", ".join(checks))

# %% [markdown]
# ## Exercises
#
# Each exercise has a starter cell (fill in `answer`; it runs as given) and a hidden solution cell below
# it (click to expand). The checks in `waelib.course.exercises.ch02` compute the expected value themselves.
#
# ### Exercise 1 — $W_2$ between two Gaussians: closed form against the linear programme
#
# For Gaussians the optimal-transport cost with $c(x,y) = \|x-y\|^2$ has a closed form,
#
# $$W_2^2\big(\mathcal N(m_1,\Sigma_1), \mathcal N(m_2,\Sigma_2)\big) = \|m_1-m_2\|^2 + \operatorname{tr}\Big(\Sigma_1+\Sigma_2-2\big(\Sigma_2^{1/2}\Sigma_1\Sigma_2^{1/2}\big)^{1/2}\Big).$$
#
# Compute it for the two 2-D Gaussians below (symmetric square roots: `torch.linalg.eigh`). Then draw $n$ samples
# from each, solve Kantorovich's LP between the two empirical measures with `toy.ot_linprog`, and compare. Why
# is the LP's value, on average, above the closed form for small $n$? In one dimension, what does the formula
# reduce to?

# %%
m1, cov1 = torch.tensor([0.0, 0.0], dtype=torch.float64), torch.tensor([[1.0, 0.5], [0.5, 1.5]], dtype=torch.float64)
m2, cov2 = torch.tensor([1.0, -0.5], dtype=torch.float64), torch.tensor([[0.5, -0.2], [-0.2, 0.8]], dtype=torch.float64)
answer = None   # W_2^2 between N(m1, cov1) and N(m2, cov2), a float
if answer is not None:
    print(ch02.check_w2_gaussians(answer, m1, cov1, m2, cov2))

# %% jupyter={"source_hidden": true} tags=["solution"]
vals, vecs = torch.linalg.eigh(cov2)
root2 = vecs @ torch.diag(vals.sqrt()) @ vecs.T                       # cov2^(1/2)
vals, vecs = torch.linalg.eigh(root2 @ cov1 @ root2)
cross = vecs @ torch.diag(vals.sqrt()) @ vecs.T                       # (cov2^1/2 cov1 cov2^1/2)^(1/2)
answer = ((m1 - m2).pow(2).sum() + torch.trace(cov1 + cov2 - 2 * cross)).item()
n_ot = 120
xs1 = (m1 + torch.randn(n_ot, 2, generator=gen, dtype=torch.float64) @ torch.linalg.cholesky(cov1).T).numpy()
xs2 = (m2 + torch.randn(n_ot, 2, generator=gen, dtype=torch.float64) @ torch.linalg.cholesky(cov2).T).numpy()
w_lp, _ = toy.ot_linprog(np.full(n_ot, 1 / n_ot), np.full(n_ot, 1 / n_ot), cost(xs1, xs2))
print(f"closed form W_2^2 = {answer:.4f};  LP between {n_ot} samples of each = {w_lp:.4f}")
# Why above: W_c is jointly convex in its two arguments and the empirical measures average to the true ones,
# so by Jensen's inequality E[LP value] >= W_2^2. The bias shrinks as n grows (slowly in high dimension).
# In 1-D the formula is (m1 - m2)^2 + (s1 - s2)^2: the quantile coupling of section 1.
verdict = ch02.check_w2_gaussians(answer, m1, cov1, m2, cov2)
assert verdict.ok, verdict
print(verdict)

# %% [markdown]
# ### Exercise 2 — how biased is the V-statistic?
#
# Section 6 showed that the V-statistic (diagonal kept) is positive on average when $Q_Z = P_Z$. Compute its
# expected value exactly for $n$ codes and $n$ prior samples in $d_z$ dimensions. *Hint:* expand $\mathbb E\,V$ term by
# term — each within-set sum has $n$ diagonal terms $k(z,z)$ (what is $k(z,z)$ for the IMQ kernel, summed over
# its scales?) and $n(n-1)$ off-diagonal ones with mean $\bar k = \mathbb E\,k(z,z')$; the cross term has mean $\bar k$ too.
# Estimate $\bar k$ (Monte Carlo is fine) and compare your answer with the histogram's mean.

# %%
answer = None   # E[V-statistic] for n = 64 codes and d_z = 8 (the values of section 6), a float
if answer is not None:
    print(ch02.check_v_statistic_bias(answer, 64, 8))

# %% jupyter={"source_hidden": true} tags=["solution"]
# E V = 2 [k0/n + (n-1)/n kbar] - 2 kbar = (2/n)(k0 - kbar), k0 = k(z, z) = 1 per scale
n_pairs = 100_000
za = sd * torch.randn(n_pairs, 8, generator=gen, dtype=torch.float64)
zb = sd * torch.randn(n_pairs, 8, generator=gen, dtype=torch.float64)
d2 = (za - zb).pow(2).sum(1)
scales_c = [2 * 8 * config.WAE_PRIOR_SIGMA2 * s for s in config.MMD_SCALES]     # the IMQ scales C_s
kbar = sum((cs / (cs + d2)).mean().item() for cs in scales_c)
answer = 2 / 64 * (len(config.MMD_SCALES) - kbar)
print(f"E[V] = {answer:.5f};  the mean of the {params.n_repeats} V-statistics of section 6: {v.mean():.5f} +- {se_v:.5f}")
verdict = ch02.check_v_statistic_bias(answer, 64, 8)
assert verdict.ok, verdict
print(verdict)

# %% [markdown]
# ### Exercise 3 — the mutual information of a Gaussian channel, through the bridge
#
# Let $x\sim\mathcal N(0, v_x)$ and an encoder $q(z\mid x) = \mathcal N(a x, s^2)$ in one dimension, with the thesis' prior
# $P_Z = \mathcal N(0,\sigma_z^2)$. Compute $\mathbb E_x\mathrm{KL}(q(z\mid x)\,\|\,p(z))$ and $\mathrm{KL}(Q_Z\,\|\,P_Z)$ in closed form
# (`toy.kl_gaussians_1d` helps; what is $Q_Z$?) and obtain $I(X;Z)$ as their difference. Does your answer depend on
# $\sigma_z^2$? What happens to $I(X;Z)$, and to the VAE's penalty, as the encoder's noise $s^2\to0$?

# %%
a_enc, var_x, noise_var = 1.5, 1.0, 0.25
answer = None   # I(X; Z) in nats, a float
if answer is not None:
    print(ch02.check_gaussian_channel_information(answer, a_enc, var_x, noise_var))

# %% jupyter={"source_hidden": true} tags=["solution"]
sz = math.sqrt(config.WAE_PRIOR_SIGMA2)
# E_x KL(N(a x, s^2) || N(0, sz^2)) = log(sz/s) + (s^2 + a^2 E x^2) / (2 sz^2) - 1/2  (the mean a x enters squared)
expected_kl = math.log(sz / math.sqrt(noise_var)) + (noise_var + a_enc ** 2 * var_x) / (2 * sz ** 2) - 0.5
# Q_Z = N(0, a^2 v_x + s^2)
kl_agg = toy.kl_gaussians_1d(0.0, math.sqrt(a_enc ** 2 * var_x + noise_var), 0.0, sz)
answer = expected_kl - kl_agg
print(f"E_x KL = {expected_kl:.4f}, KL(Q_Z || P_Z) = {kl_agg:.4f}, I(X; Z) = {answer:.4f} nats")
# I = 1/2 log(1 + a^2 v_x / s^2): sigma_z^2 cancels. As s^2 -> 0, I -> infinity and so does the VAE's penalty:
# a VAE cannot afford near-deterministic codes, a WAE (which penalises only KL(Q_Z || P_Z)-like terms) can.
verdict = ch02.check_gaussian_channel_information(answer, a_enc, var_x, noise_var)
assert verdict.ok, verdict
print(verdict)

# %% [markdown]
# ### Exercise 4 — the non-saturating gradient, at another point
#
# For $Q_Z = \mathcal N(\mu, \tau^2)$ with $\mu = 1.5$, $\tau = 0.8$ and the thesis' prior, compute
# $\partial_\mu\big[\mathrm{KL}(Q_Z\,\|\,P_Z) - 2D_{\mathrm{JS}}(P_Z, Q_Z)\big]$ by central differences, using `toy.kl_gaussians_1d` and
# `toy.js_divergence_1d` (its arguments are log-densities, e.g. `scipy.stats.norm.logpdf`). The check computes the
# gradient of Algorithm 2's encoder loss $\mathbb E_{Q_Z}[-\log D^*]$ directly from its integral; if section 5.1 is
# right, the two agree.

# %%
answer = None   # d/dmu [KL(Q_Z || P_Z) - 2 JS(P_Z, Q_Z)] at mu = 1.5, tau = 0.8, a float
if answer is not None:
    print(ch02.check_nonsaturating_gradient(answer, 1.5, 0.8, p_sd))

# %% jupyter={"source_hidden": true} tags=["solution"]
h = 1e-4
objective = [toy.kl_gaussians_1d(m, 0.8, 0.0, p_sd)
             - 2 * toy.js_divergence_1d(lambda t: norm.logpdf(t, 0.0, p_sd), lambda t, m=m: norm.logpdf(t, m, 0.8))
             for m in (1.5 + h, 1.5 - h)]
answer = (objective[0] - objective[1]) / (2 * h)
print(f"d/dmu [KL - 2 JS] = {answer:.6f}")
verdict = ch02.check_nonsaturating_gradient(answer, 1.5, 0.8, p_sd)
assert verdict.ok, verdict
print(verdict)

# %% [markdown]
# ## References
#
# - Md Azad Ansari, *Wasserstein Auto-Encoder using Residual Neural Network*, M.Tech thesis, Indian Statistical
#   Institute, Kolkata, 2022 — §2.2, eq. 2.1–2.4 and Algorithm 2 are derived and checked here.
# - I. Tolstikhin, O. Bousquet, S. Gelly and B. Schölkopf, *Wasserstein Auto-Encoders*, ICLR 2018,
#   [arXiv:1711.01558](https://arxiv.org/abs/1711.01558) (Theorem 1, the relaxed objective, WAE-GAN and WAE-MMD); official code:
#   [tolstikhin/wae](https://github.com/tolstikhin/wae).
# - O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel and B. Schölkopf, *From optimal transport to
#   generative modeling: the VEGAN cookbook*, 2017, [arXiv:1705.07642](https://arxiv.org/abs/1705.07642) (the latent-space form of
#   the transport problem behind Theorem 1).
# - G. Peyré and M. Cuturi, *Computational Optimal Transport*, Foundations and Trends in Machine Learning, 2019,
#   [arXiv:1803.00567](https://arxiv.org/abs/1803.00567) (Kantorovich's LP, the 1-D case, the Gaussian closed form of Exercise 1).
# - C. Villani, *Optimal Transport: Old and New*, Springer, 2009.
# - I. Goodfellow, J. Pouget-Abadie, M. Mirza, B. Xu, D. Warde-Farley, S. Ozair, A. Courville and Y. Bengio,
#   *Generative Adversarial Nets*, NIPS 2014, [arXiv:1406.2661](https://arxiv.org/abs/1406.2661) (the optimal discriminator, the
#   JS identity, the non-saturating heuristic).
# - M. Arjovsky and L. Bottou, *Towards Principled Methods for Training Generative Adversarial Networks*,
#   ICLR 2017, [arXiv:1701.04862](https://arxiv.org/abs/1701.04862) (Theorem 2.5: what the $-\log D$ loss descends).
# - A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf and A. Smola, *A Kernel Two-Sample Test*, JMLR 13,
#   2012, [jmlr.org/papers/v13/gretton12a](https://jmlr.org/papers/v13/gretton12a.html) (the MMD and its unbiased estimator).
# - M. D. Hoffman and M. J. Johnson, *ELBO surgery: yet another way to carve up the variational evidence lower
#   bound*, NIPS 2016 Workshop in Advances in Approximate Bayesian Inference (the decomposition of section 4).
# - A. Makhzani, J. Shlens, N. Jaitly, I. Goodfellow and B. Frey, *Adversarial Autoencoders*, 2015,
#   [arXiv:1511.05644](https://arxiv.org/abs/1511.05644) (matching the aggregate posterior to the prior with an adversary).
# - D. P. Kingma and M. Welling, *Auto-Encoding Variational Bayes*, ICLR 2014, [arXiv:1312.6114](https://arxiv.org/abs/1312.6114).
# - Related documents: A. Rogachevskaya and M. Garnitskiy, *Wasserstein Auto-Encoders* (a report on implementing
#   WAE-GAN and WAE-MMD, Higher School of Economics); F. Bongini, *Comparison between Wasserstein Auto-Encoders
#   and Introspective Variational Auto-encoders* (2021); Prathosh A. P., *The landscape of Regularized
#   Auto-Encoders for Generative modeling* (lecture slides, IIT Delhi).
