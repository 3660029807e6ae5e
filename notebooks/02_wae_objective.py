# %% [markdown]
# # 02 · The Wasserstein auto-encoder objective
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
# 3. the relaxed, penalised objective $D_{\mathrm{WAE}} = \inf_Q \mathbb{E}\,c(X, G(Z)) + \lambda\,\mathcal D_Z(Q_Z, P_Z)$;
# 4. how this regulariser differs from the VAE's KL — the aggregate posterior vs each per-sample posterior —
#    on a 2-D toy you can see;
# 5. the two penalties: the GAN penalty of the thesis' Algorithm 2 (a Jensen–Shannon estimate) and the
#    MMD penalty with the IMQ kernel, whose estimator is unbiased.

# %%
# %matplotlib inline
from waelib.course import profiles

_guard = profiles.ParameterGuard(globals())   # records which names the parameters cell defines

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

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import wasserstein_distance

from waelib import config, losses
from waelib.course import figures, toy
from waelib.utils import atomic_write_json, seed_everything

figures.use_style()
gen = seed_everything(params.seed)
rng = np.random.default_rng(params.seed)
checks = {}

# %% [markdown]
# ## 1. Kantorovich's optimal-transport problem
#
# Given two distributions $P_X$ and $P_G$ on $\mathcal X$ and a cost $c(x,y)\ge 0$ of moving mass from $x$ to $y$,
# Kantorovich's problem (thesis eq. 2.1) is
#
# $$W_c(P_X,P_G) = \inf_{\Gamma\in\mathcal P(X\sim P_X,\;Y\sim P_G)} \mathbb{E}_{(X,Y)\sim\Gamma}\big[c(X,Y)\big],$$
#
# an infimum over all **couplings** $\Gamma$: joint distributions whose marginals are $P_X$ and $P_G$.
# With $c = d^p$ for a metric $d$, $W_p = W_c^{1/p}$ is the $p$-Wasserstein distance. The thesis uses
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
        w_lp, plan = toy.ot_linprog(np.full(n, 1 / n), np.full(n, 1 / n), np.abs(xs[:, None] - ys[None]))
        line += f"   brute force {w_brute:.6f}   LP {w_lp:.6f}"
        assert abs(w_brute - w_sorted) < 1e-9 and abs(w_lp - w_sorted) < 1e-7
        # the squared cost too: the sorted coupling is optimal for every convex cost
        assert abs(toy.ot_brute_force(xs, ys, p=2)[0] - toy.ot_1d_sorted(xs, ys, p=2)) < 1e-9
        small = (xs, ys, plan)
    print(line)
checks["w1_sorted_equals_scipy"] = True

# %%
xs, ys, plan = small
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1.6, 1]})
ax = axes[0]
ax.scatter(xs, np.ones_like(xs), color="C0", zorder=3, label=r"$x_i \sim P_X$")
ax.scatter(ys, np.zeros_like(ys), color="C3", zorder=3, label=r"$y_j \sim P_G$")
for i, j in zip(*np.nonzero(plan > 1e-9)):
    ax.plot([xs[i], ys[j]], [1, 0], color="0.4", lw=1)
ax.set_yticks([0, 1], ["$P_G$", "$P_X$"]); ax.set_ylim(-0.3, 1.3)
ax.set_title("optimal coupling on the line = sorted matching")
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
# `recon_scale * E c(x, G(z)) + lam * penalty`; the factor `recon_scale` $=0.05$ comes from the official WAE
# code, whose $\lambda$ values assume it (it only rescales $\lambda$, see `docs/deviations.md`).
#
# ## 4. The VAE's KL and the WAE's $\mathcal D_Z$ penalise different things
#
# In notebook 01 the VAE's regulariser was $\mathbb{E}_{P_X}\mathrm{KL}\big(Q(Z\mid X)\,\|\,P_Z\big)$: it pushes **every**
# per-sample posterior $Q(Z\mid X=x)$ towards the prior. Codes of different inputs then overlap, and the
# decoder can no longer tell the inputs apart — blurry reconstructions. WAE only asks the **aggregate**
# $Q_Z$ to match $P_Z$; each $Q(Z\mid X=x)$ may be a narrow blob (or a point) far from the prior.
#
# A 2-D toy makes this visible. The data $X$ are four separated clusters; three Gaussian encoders
# (`waelib.course.toy.encoder_toys`):
#
# - **WAE-like**: narrow posteriors centred at $T(x)$, where $T$ pushes $P_X$ forward to exactly
#   $\mathcal N(0,I)$ (per-coordinate $\Phi^{-1}\!\circ F$) — large KL, but $Q_Z = P_Z$ and $x$ is recoverable;
# - **collapsed**: $Q(Z\mid X=x)=\mathcal N(0,I)$ for every $x$ — KL $=0$, $Q_Z=P_Z$, and $z$ says nothing about $x$;
# - **mismatched**: narrow posteriors at the standardised $x$ — the same KL as WAE-like, but $Q_Z$ is four clumps.
#
# We measure the mean KL (the VAE regulariser), the MMD between $Q_Z$ and $P_Z$ (a WAE regulariser,
# section 6) and how well the cluster can be read back from a code (nearest-centroid accuracy).

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

# %%
from matplotlib.patches import Ellipse

fig, axes = plt.subplots(1, 4, figsize=(15, 3.9))
colors = np.array(["C0", "C1", "C2", "C3"])
ax = axes[0]
ax.scatter(*x2[:600].T, s=4, c=colors[cluster[:600]])
ax.set_title("data $X$ (4 clusters)"); ax.set_aspect("equal")
show = torch.arange(0, params.n_points, max(1, params.n_points // 12))[:12]
for ax, key in zip(axes[1:], encoders):
    enc, st = encoders[key], stats[key]
    ax.scatter(*st["z"][:600].T, s=3, c=colors[cluster[:600]], alpha=0.35, lw=0)
    for r in (1, 2):   # prior N(0, I): 1 and 2 sigma circles
        ax.add_patch(plt.Circle((0, 0), r, fill=False, ls="--", color="k", lw=1))
    for i in show.tolist():   # a few per-sample posteriors Q(Z|X = x_i), 2-sigma ellipses
        mu_i, sd_i = enc["mu"][i].numpy(), enc["sigma"][i].numpy()
        ax.add_patch(Ellipse(mu_i, 4 * sd_i[0], 4 * sd_i[1], fill=False, color=colors[cluster[i]], lw=1.6))
    ax.set_xlim(-3.5, 3.5); ax.set_ylim(-3.5, 3.5); ax.set_aspect("equal")
    ax.set_title(f"{names[key]}\nKL = {st['kl']:.2f}, MMD = {st['mmd']:.4f}", fontsize=9.5)
fig.suptitle("Latent space: dots = aggregate posterior $Q_Z$, ellipses = a few $Q(Z|X=x)$ (2 sd), "
             "dashed = prior $N(0, I)$ (1 and 2 sd)")
fig.tight_layout(rect=(0, 0, 1, 0.95))
figures.save_figure(fig, "nb02_vae_vs_wae_regularisers", params.figures_dir)
plt.show()

# %% [markdown]
# The KL column cannot tell the informative WAE-like encoder from the mismatched one (same value), and it
# rewards the useless collapsed encoder with a perfect 0 (its codes identify the cluster no better than a
# guess, 25 %). The WAE-like codes identify it most of the time; the errors come from codes near the axes,
# where a prior-shaped $Q_Z$ must put mass between the clusters. The MMD column is ~0 for both encoders whose
# *aggregate* is the prior and large only for the mismatched one — which is the property the generator
# needs: decoding prior samples $z\sim P_Z$ works only if the codes seen in training cover the prior.
#
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
D = lambda t: torch.sigmoid(logit(t))
alg2 = -lam * (torch.log(D(zp)) + torch.log(1 - D(zq))).mean()
assert torch.isclose(d_loss, alg2, rtol=1e-9)
assert torch.isclose(losses.encoder_adversarial_loss(logit(zq)), -torch.log(D(zq)).mean(), rtol=1e-9)

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
# independent estimates with $Q_Z = P_Z = \mathcal N(0, 2I_8)$: the unbiased ones average to 0 (some are
# negative!), the biased ones do not.

# %%
n, d = 64, 8
sd = math.sqrt(config.WAE_PRIOR_SIGMA2)
u, v = [], []
for _ in range(params.n_repeats):
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
ax.set_xlabel(r"$\widehat{\mathrm{MMD}}^2$ with $Q_Z = P_Z$  (n = %d codes, d = %d)" % (n, d))
ax.set_ylabel("count"); ax.set_title(f"{params.n_repeats} independent estimates: only the U-statistic is centred at 0")
ax.set_ylim(0, ax.get_ylim()[1] * 1.35)
ax.legend(loc="upper center", ncol=1)
figures.save_figure(fig, "nb02_mmd_unbiased", params.figures_dir)
plt.show()

# %% [markdown]
# ## Summary
#
# - Optimal transport is a linear programme over couplings; on the line the sorted coupling solves it
#   (checked against scipy, the LP and all permutations).
# - With a deterministic decoder the coupling can be searched through encoders whose aggregate posterior
#   is the prior (Theorem 1, checked with two LPs); relaxing the constraint gives $D_{\mathrm{WAE}}$ with a
#   penalty $\lambda\,\mathcal D_Z(Q_Z,P_Z)$.
# - Unlike the VAE's per-sample KL, $\mathcal D_Z$ looks only at the aggregate of the codes, so each input
#   may keep its own, distinguishable code.
# - The GAN penalty estimates the JS divergence through an adversary (Algorithm 2, used by the thesis'
#   WAE and WAE-ResNet); the MMD penalty is a closed-form, unbiased estimate (WAE-MMD).
#   Notebook 04 trains all of them.

# %%
from pathlib import Path

atomic_write_json(Path(params.out_dir) / "02_wae_objective_checks.json", {"profile": params.profile, "params": dict(params), "checks": checks})
print("all checks passed:", ", ".join(checks))
