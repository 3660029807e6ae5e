# %% [markdown]
# # 07 · The landscape of regularised auto-encoders, every row
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/wae-resnet/wae-resnet/blob/main/notebooks/07_landscape.ipynb)
#
# *A related document: Prathosh A.P. (IIT Delhi, with H. Asnani, P. Singla, A. K. Mondal and A. Jayendran),
# "The landscape of Regularized Auto-Encoders for Generative modeling" (a talk), and the papers of its rows.*
#
# Notebook 06 built four of the talk's models. The talk's tables have about a dozen more: VAEs with three
# likelihoods, a β-VAE, a VAE whose posterior is a normalising flow, a VAE with a second VAE on its codes, two
# VAEs whose prior is learned, two deterministic auto-encoders with an ex-post sampler, an injective flow,
# MaskAAE and the talk's own FlexAE. Here every row is a registered model (`waelib.registry`) with its own
# objective module (`waelib.objectives`), trained by the same `fit` on the same data at the same budget, and
# measured by the same evaluator. The thesis' WAE-ResNet is one more row, so that we can see where it stands.
#
# The talk's claims are **orderings** ("the 2-Stage VAE beats the VAE", "FlexAE beats every row"). Before any
# run we wrote down how each is decided (`docs/landscape.md`): paired seeds, a 95 % interval, and three
# verdicts — *supported*, *contradicted*, or *inconclusive at this scale*.
#
# **What you will learn**
#
# 1. why "make the prior fit the codes" has three answers — change the posterior, change the prior, or fit a
#    density after training — and the one identity behind all of them;
# 2. the density-ratio trick (VAE-IOP) and the mixture prior (VampPrior), each checked numerically;
# 3. how to read a big comparison: Fréchet distances, precision and recall, memorisation, attribute
#    manipulation, each with its interval over seeds;
# 4. which of the talk's orderings hold at CPU scale, and what "not resolved" means.

# %% [markdown]
# ## Setup
#
# **Prerequisites:** the ELBO (notebook 01), the WAE objective (02), the Fréchet distance and training loop (04),
# the paired-seed statistics (05) and ex-post sampling (06). Python ≥ 3.10.
#
# The first cell installs the course's library `waelib` where it is missing (on Colab), then prints what this
# notebook needs and its measured run times. `profile="smoke"` trains a few tiny rows in about a minute (the
# tests use it). `default` renders the committed study (`results/landscape/`); with `train=True` it also makes
# the runs that are missing, which takes hours on a CPU (the same as `make landscape`). `colab` is the default
# study on a Colab GPU, and `thesis` the related documents' 128-px scale, which needs a GPU.

# %% tags=["setup"]
# %matplotlib inline
import importlib.util
import os

if importlib.util.find_spec("waelib") is None:   # Colab or a fresh environment: install the course's library
    get_ipython().run_line_magic("pip", "install --quiet " + os.environ.get("WAELIB_SOURCE", "git+https://github.com/wae-resnet/wae-resnet"))  # noqa: F821
from waelib.course import profiles

_guard = profiles.setup(globals(), "07_landscape")   # prints what this notebook needs and its measured run times; checks the parameters cell's names

# %% tags=["parameters"]
profile = "default"   # smoke | default | colab | thesis (waelib.studies.landscape_plan.NOTEBOOK_PROFILES)
out_dir = None        # None: results/landscape (committed) for default, runs/<profile> otherwise
figures_dir = None    # None: the profile's, under runs/<profile>/
train = None          # None: the profile's (False for default: render the committed results only)
jobs = None           # runs side by side when training (None: one per CPU core)

# %%
from waelib.studies import landscape_plan

params = profiles.notebook_params(globals(), _guard, table=landscape_plan.NOTEBOOK_PROFILES)

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from waelib.course import figures, show
from waelib.course.exercises import ch07
from waelib.objectives import vae_vamp
from waelib.studies import landscape, landscape_claims, landscape_render
from waelib.utils import display_path, repo_root

figures.use_style()
MAIN, ORDERS = "figures/landscape_primary.json", "figures/landscape_orderings.json"
ATTRS, CAPS = "figures/landscape_attributes.json", "figures/landscape_table5.json"
show.say(
    "The committed study (`results/landscape/`) holds {n_runs} runs so far, with {train_s} s of training and "
    "{eval_s} s of evaluation in all on {hw} (`make landscape`; it resumes where it stopped). The tables below "
    "are *your* run's; each \"What this run shows\" quotes the committed ones.",
    n_runs=show.quote(MAIN, "meta.n_runs"),
    train_s=show.quote(MAIN, "meta.train_seconds_total", "{:,.0f}"),
    eval_s=show.quote(MAIN, "meta.eval_seconds_total", "{:,.0f}"),
    hw=show.quote(MAIN, "meta.hardware[0]"))

# %% [markdown]
# ## 1 · The rows
#
# Every row of the talk's Tables 1, 3 and 4 is a *training arm* (a registered model with its options) and a
# *sampler*: the model's own prior, or an ex-post Gaussian mixture fitted to its training codes (notebook 06).
# One training gives both: "RAE" and "RAE + GMM" are the same network sampled two ways. The table is built from
# the registry and the study's plan, so it is the code's own account of itself.

# %%
rows = landscape_plan.row_table()
show.table(rows, caption=f"{len(rows)} rows from {len(landscape_plan.ARMS)} trainings per seed and scale, "
                         f"plus the talk's Table 5: FlexAE at {len(landscape_plan.CAPACITY_ARMS)} prior capacities.")

# %% [markdown]
# ## 2 · One identity, three remedies
#
# Averaged over the data, the VAE's KL term splits in two (Hoffman & Johnson's "ELBO surgery"):
#
# $$\mathbb E_{x}\,\mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big) \;=\; I_q(x; z) \;+\; \mathrm{KL}\big(q(z)\,\|\,p(z)\big),
# \qquad q(z) = \mathbb E_x\, q(z\mid x).$$
#
# The first part is the information the code carries about the image, which a good auto-encoder *needs*. The
# second is the mismatch between the **aggregated posterior** $q(z)$ and the prior, and it is what makes prior
# samples decode to nothing the decoder has seen. It is zero exactly when $p = q(z)$: the best prior is the
# aggregated posterior. The rows differ in how they get there:
#
# - **change the posterior**: VAE + Flow pushes $z_0 = \mu + \sigma\varepsilon$ through an inverse
#   autoregressive flow, $\log q(z_T\mid x) = \log\mathcal N(z_0;\mu,\sigma^2) - \sum_t \log\left|\det
#   \partial z_t/\partial z_{t-1}\right|$, so that $q(z\mid x)$ is no longer Gaussian;
# - **change the prior**: the VampPrior is a mixture of posteriors at learned pseudo-inputs,
#   $p(z) = \frac1K\sum_k q(z\mid u_k)$; VAE-IOP uses $q(z)$ itself and estimates
#   $\log q(z)/\mathcal N(z)$ with a classifier; the 2-Stage VAE fits a second VAE to the codes; FlexAE learns a
#   generator $G_\psi$ whose outputs a critic cannot tell from the codes;
# - **fit after training**: the AE, RAE and InjFlow rows fit a 10-component GMM to the training codes.
#
# A numeric check of the identity's conclusion. Two images $x = \pm 2$, an encoder $q(z\mid x) = \mathcal N(x,
# 0.5^2)$: the aggregated posterior is a two-bump mixture. The average KL to three priors, by Monte Carlo, is
# smallest for the mixture, and there it equals the mutual information.

# %%
g = torch.Generator().manual_seed(0)
centres, sd = torch.tensor([-2.0, 2.0]), 0.5
z = centres[:, None] + sd * torch.randn(2, 200_000, generator=g)            # z ~ q(z | x) for each x
log_q = torch.distributions.Normal(centres[:, None], sd).log_prob(z)
mixture = torch.logsumexp(torch.distributions.Normal(centres[:, None, None], sd).log_prob(z[None]), 0) - np.log(2)
priors = {"N(0, 1)": torch.distributions.Normal(0.0, 1.0).log_prob(z),
          "N(0, 2.06²), the moment-matched Gaussian": torch.distributions.Normal(0.0, (4 + sd**2) ** 0.5).log_prob(z),
          "q(z), the aggregated posterior": mixture}
avg_kl = {name: (log_q - lp).mean().item() for name, lp in priors.items()}
for name, v in avg_kl.items():
    print(f"E_x KL(q(z|x) || {name}) = {v:.3f} nats")
print(f"I(x; z) = {(log_q - mixture).mean().item():.3f} nats (at most log 2 = {np.log(2):.3f})")
assert min(avg_kl, key=avg_kl.get) == "q(z), the aggregated posterior"

# %% [markdown]
# **What this run shows.** As the assertion checks, the aggregated posterior is the best of the three priors,
# and with it the average KL is the mutual information alone, just under $\log 2$: the code tells the two
# images apart almost perfectly, and nothing is wasted on a mismatched prior. The single Gaussian that matches
# the codes' mean and variance still pays for putting mass between the bumps, where no code lives.
#
# ### The density-ratio trick (VAE-IOP)
#
# VAE-IOP never writes $q(z)$ down. A classifier $T$ trained to tell codes $z \sim q(z)$ (label 1) from prior
# draws $z \sim \mathcal N(0, I)$ (label 0), with equal numbers of each, has at its optimum the logit
# $T(z) = \log q(z)/\mathcal N(z;0,I)$ (the Bayes-optimal logit is the log density ratio). Then
# $\mathrm{KL}(q(z\mid x)\,\|\,q(z)) = \mathrm{KL}(q(z\mid x)\,\|\,\mathcal N) - \mathbb E_{q(z\mid x)} T(z)$. For
# $q = \mathcal N(1, 1)$ the ratio is $z - \tfrac12$; a logistic regression finds it:

# %%
z_ratio, labels = ch07.ratio_samples()
fit = LogisticRegression(C=1e6).fit(z_ratio, labels)
print(f"fitted logit: {fit.coef_[0, 0]:.3f} z {fit.intercept_[0]:+.3f}   (closed form: 1.000 z -0.500)")
assert ch07.check_log_ratio(fit.coef_[0, 0], fit.intercept_[0])

# %% [markdown]
# **What this run shows.** The classifier's logit is, within its sampling error, the exact log ratio: a
# classifier is a density-ratio estimator. `waelib.objectives.vae_iop` trains such a network $T$ next to the
# VAE and subtracts $T(z)$ from the KL. The method says nothing about *sampling* $q(z)$; our row draws from a
# mixture of recent training posteriors, a choice recorded in `docs/deviations.md`.
#
# ### The VampPrior's density
#
# `vae_vamp.vamp_log_prior` computes $\log p(z) = \operatorname{logsumexp}_k \log q(z\mid u_k) - \log K$. On two
# 1-d components it agrees with the mixture density written out by hand:

# %%
e = ch07.VAMP_EXERCISE
mu = torch.tensor(e["means"], dtype=torch.float64)[:, None]
logvar = torch.tensor(e["variances"], dtype=torch.float64).log()[:, None]
library = float(vae_vamp.vamp_log_prior(torch.tensor([[e["z"]]], dtype=torch.float64), mu, logvar)[0])
by_hand = np.log(np.mean([np.exp(-(e["z"] - m) ** 2 / (2 * v)) / np.sqrt(2 * np.pi * v)
                          for m, v in zip(e["means"], e["variances"])]))
print(f"log p(z = {e['z']}): library {library:.6f}, by hand {by_hand:.6f}")
assert abs(library - by_hand) < 1e-12

# %% [markdown]
# ## 3 · The study
#
# `landscape.run_all` makes every missing run of the plan through `waelib.train.fit` (resumable: a run with a
# `run.json` is skipped), and `landscape_render.render` turns the results into the tables and figures below.
# Every Fréchet distance of a scale is taken at one sample size against the same held-out reference images; the
# features are the synthfaces classifier's (FCD), not Inception's, so only **orderings** compare with the talk.

# %%
study = landscape_plan.check_profile(params.study_profile)
todo = landscape_plan.plan(params.study_profile, params.scales, params.arms)
print(f"study profile {params.study_profile!r}: {len(todo)} runs in the plan; scales: "
      + "; ".join(f"{s}: {p['dataset']} {p['image_size']} px, {p['steps']} steps, seeds {list(p['seeds'])}"
                  for s, p in study.items()))
if params.train:
    landscape.run_all(params.study_profile, scales=params.scales, arms=params.arms, out_dir=params.out_dir,
                      jobs=params.jobs)
done = landscape_render.render(params.study_profile, out_dir=params.out_dir, figures_dir=params.figures_dir)
print(f"{done['provenance']['n_runs']} runs rendered from {done['provenance']['results']} into "
      f"{display_path(Path(params.figures_dir))}")

# %% [markdown]
# ## 4 · Tables 1, 3 and 4 at CPU scale
#
# One row per table row: reconstruction FCD of held-out images, FCD of the row's samples, precision and recall
# ($k = 3$, Kynkäänniemi et al. 2019: precision is the share of samples inside the real images' manifold, recall
# the share of real images inside the samples'), and the memorisation measure of §7. Mean and 95 % half-width
# over seeds; the talk's own numbers (Inception FIDs on CelebA) beside.

# %%
main_scale = next(iter(done["main"]), None)
if main_scale is not None:
    cols = ["row", "n_seeds", "recon_fcd", "recon_fcd_ci", "sample_fcd", "sample_fcd_ci", "precision", "recall"]
    cols += [c for c in done["main"][main_scale][0] if c.startswith("seed004_")]
    show.table(done["main"][main_scale], columns=cols, caption=f"your run, {main_scale} scale")
    figures.save_figure(landscape_render.fcd_figure(done["main"][main_scale], main_scale), "nb07_landscape_fcd",
                        params.figures_dir)
    plt.show()

# %%
show.say(
    "**What this run shows.** In the committed study at the primary scale (synthfaces, 32 px), FlexAE's samples "
    "score a sample FCD of {flex} ± {flex_ci} and its reconstructions {flex_rec}; the RAE's samples score "
    "{rae} ± {rae_ci} from its N(0, I) prior and {rae_gmm} ± {rae_gmm_ci} from the ex-post GMM; the VAE (fixed "
    "variance) {vae} ± {vae_ci}; the thesis' WAE-ResNet {wr} ± {wr_ci}. The real-vs-real floor at the same n is "
    "in the figures' JSON. Rows are compared below by paired differences, not by these marginal intervals.",
    flex=show.quote(MAIN, "rows[key=flexae].sample_fcd", "{:.1f}"),
    flex_ci=show.quote(MAIN, "rows[key=flexae].sample_fcd_ci", "{:.1f}"),
    flex_rec=show.quote(MAIN, "rows[key=flexae].recon_fcd", "{:.1f}"),
    rae=show.quote(MAIN, "rows[key=rae].sample_fcd", "{:.1f}"),
    rae_ci=show.quote(MAIN, "rows[key=rae].sample_fcd_ci", "{:.1f}"),
    rae_gmm=show.quote(MAIN, "rows[key=rae_gmm].sample_fcd", "{:.1f}"),
    rae_gmm_ci=show.quote(MAIN, "rows[key=rae_gmm].sample_fcd_ci", "{:.1f}"),
    vae=show.quote(MAIN, "rows[key=vae_fixed_var].sample_fcd", "{:.1f}"),
    vae_ci=show.quote(MAIN, "rows[key=vae_fixed_var].sample_fcd_ci", "{:.1f}"),
    wr=show.quote(MAIN, "rows[key=wae_resnet].sample_fcd", "{:.1f}"),
    wr_ci=show.quote(MAIN, "rows[key=wae_resnet].sample_fcd_ci", "{:.1f}"))

# %% [markdown]
# **The second scale: real digits.** The same rows on `mnist5k` (5,000 real MNIST digits, grey, rendered as
# three channels), scored with a digit classifier's features. It asks whether an ordering seen on synthetic faces
# survives on real images of another kind. The table and figure are the committed study's.

# %%
SECOND = "figures/landscape_second.json"
second_rows = show.lookup(SECOND, "rows") if (repo_root() / SECOND).is_file() else []
if second_rows:
    show.table("landscape_second", columns=["row", "n_seeds", "recon_fcd", "recon_fcd_ci", "sample_fcd",
                                            "sample_fcd_ci", "precision", "recall", "seed004_gen_MNIST",
                                            "seed004_table1_MNIST"])
    fig, ax = plt.subplots(figsize=(10, 5))
    ax.imshow(plt.imread(repo_root() / "figures" / "landscape_fcd_second.png"))
    ax.set_axis_off()
    plt.show()
    show.say(
        "**What the second scale shows.** On real digits the RAE's samples score {rae} ± {rae_ci} from its prior "
        "and {rae_gmm} ± {rae_gmm_ci} from the ex-post GMM, FlexAE's {flex} ± {flex_ci}, and the VAE (fixed "
        "variance) {vae} ± {vae_ci}, over {n} seeds (committed study; the last two columns are the talk's own "
        "generation FIDs on MNIST from its Tables 3 and 1, with Inception features: comparable in order only).",
        rae=show.quote(SECOND, "rows[key=rae].sample_fcd", "{:.1f}"),
        rae_ci=show.quote(SECOND, "rows[key=rae].sample_fcd_ci", "{:.1f}"),
        rae_gmm=show.quote(SECOND, "rows[key=rae_gmm].sample_fcd", "{:.1f}"),
        rae_gmm_ci=show.quote(SECOND, "rows[key=rae_gmm].sample_fcd_ci", "{:.1f}"),
        flex=show.quote(SECOND, "rows[key=flexae].sample_fcd", "{:.1f}"),
        flex_ci=show.quote(SECOND, "rows[key=flexae].sample_fcd_ci", "{:.1f}"),
        vae=show.quote(SECOND, "rows[key=vae_fixed_var].sample_fcd", "{:.1f}"),
        vae_ci=show.quote(SECOND, "rows[key=vae_fixed_var].sample_fcd_ci", "{:.1f}"),
        n=show.quote(SECOND, "rows[key=rae].n_seeds"))
else:
    print("the second scale has no committed runs yet: `make landscape` makes them")

# %% [markdown]
# ## 5 · The talk's orderings
#
# Each ordering is one or more paired comparisons $d_s = \text{metric}(A, s) - \text{metric}(B, s)$ over the
# training seeds $s$, decided by the interval of their mean (`waelib.studies.landscape_claims`, the claims
# study's statistics). A composite ordering is *supported* only if every part is. With three seeds an interval
# is wide: "inconclusive" means *not resolved at this scale*, never "equal".

# %%
if done["orderings"]:
    show.table(done["orderings"], columns=["ordering", "scale", "statement", "verdict", "fragile", "n_seeds"],
               caption="your run's verdicts")

# %%
verdict_lines = {o.id: show.quote(ORDERS, f"rows[ordering={o.id},scale=primary].verdict")
                 for o in landscape_claims.ORDERINGS}
show.say("**What this run shows.** The committed study's verdicts at the primary scale: "
         + "; ".join(f"{k} ({o.statement}): *{{{k}}}*" for k, o in zip(verdict_lines, landscape_claims.ORDERINGS))
         + ". `figures/landscape_ordering_parts.md` lists every part with its interval, p-value, Holm's p and the "
           "smallest difference the design can detect.",
         **verdict_lines)

# %%
second_lines = {o.id: show.quote(ORDERS, f"rows[ordering={o.id},scale=second].verdict")
                for o in landscape_claims.ORDERINGS}
show.say("**And on real digits** (the second scale): "
         + "; ".join(f"{k}: *{{{k}}}*" for k in second_lines)
         + ". An ordering that holds at one scale and not at the other depends on the data, which is what a "
           "second scale is for.",
         **second_lines)

# %% [markdown]
# ## 6 · FlexAE's prior, too small and too big (Table 5)
#
# The talk's bias–variance argument: a prior generator with too little capacity cannot follow the codes (bias),
# one with too much, trained on few images, follows them too closely (variance), so the sample FCD should have
# an interior minimum over capacity. Six capacities, from an affine map to four layers of 2,048 units, each
# trained on 1,024 images.

# %%
if "table5" in done:
    show.table(done["table5"], columns=["model", "pgen_layers", "pgen_hidden", "n_seeds", "recon_fcd",
                                        "sample_fcd", "sample_fcd_ci", "seed004_gen_CELEBA"],
               caption="your run's Table 5")

# %%
show.say("**What this run shows.** In the committed study, the pre-registered rule picks the capacity with the "
         "lowest mean sample FCD ({statement}); the ordering is *{verdict}*.",
         statement=show.quote(ORDERS, "rows[ordering=L10,scale=primary].statement"),
         verdict=show.quote(ORDERS, "rows[ordering=L10,scale=primary].verdict"))

# %% [markdown]
# ## 7 · Attribute manipulation and memorisation (Figures 12–17)
#
# **Attributes.** synthfaces renders its faces from CelebA-named attributes, so we know which test faces smile.
# The direction of an attribute is the mean code of the faces with it minus that of the faces without; moving a
# code along it should turn the attribute on, and nothing else. The synthfaces classifier scores both: the
# change of the target attribute's probability, and the largest change of any other.
#
# **Memorisation.** For each sample, the distance (in the classifier's features) to its nearest training image;
# the same for held-out test images. A model that copies its training set puts its samples *closer* to it than
# new images are: a negative difference of the medians.

# %%
tdir = Path(params.figures_dir)
for name in ("landscape_attributes", "landscape_neighbours_primary"):
    if (tdir / f"{name}.png").is_file():
        fig, ax = plt.subplots(figsize=(10, 4))
        ax.imshow(plt.imread(tdir / f"{name}.png"))
        ax.set_axis_off()
        plt.show()
if "attributes" in done:
    smile = [r for r in done["attributes"] if r["attribute"] == "Smiling"]
    show.table(smile, columns=["model", "add_target", "add_target_ci", "add_other_max", "remove_target"],
               caption="your run: moving towards 'Smiling'")

# %%
show.say(
    "**What this run shows.** In the committed study, moving FlexAE's codes towards *Smiling* raises the "
    "classifier's probability of a smile by {flex_smile} (the largest change of another attribute: {flex_other}); "
    "for the WAE-ResNet the rise is {wr_smile}. FlexAE's samples sit {flex_mem} feature units nearer to their "
    "nearest training image than test images do (negative: closer), and the RAE + GMM's {rae_mem}.",
    flex_smile=show.quote(ATTRS, "rows[model=FlexAE,attribute=Smiling].add_target", "{:+.2f}"),
    flex_other=show.quote(ATTRS, "rows[model=FlexAE,attribute=Smiling].add_other_max", "{:.2f}"),
    wr_smile=show.quote(ATTRS, "rows[model=WAE-ResNet (the thesis),attribute=Smiling].add_target", "{:+.2f}"),
    flex_mem=show.quote(MAIN, "rows[key=flexae].memorisation", "{:+.2f}"),
    rae_mem=show.quote(MAIN, "rows[key=rae_gmm].memorisation", "{:+.2f}"))

# %% [markdown]
# ## Summary
#
# - The best prior is the aggregated posterior; the rows differ in whether they bend the posterior, learn the
#   prior, or fit a density after training.
# - A classifier is a density-ratio estimator; a mixture of posteriors is a prior.
# - The talk's orderings are tested here as paired comparisons over seeds, at CPU scale, on synthetic faces
#   and on 5,000 real MNIST digits; the verdicts above are the committed study's, and `README.md` summarises them.
#
# ## Exercises
#
# Each exercise has a starter cell (fill in `answer`, then run it: the check prints ✓ or a hint) and a hidden
# solution cell below it.
#
# ### Exercise 1 — the density ratio of two Gaussians
#
# For $q = \mathcal N(m, 1)$ and $p = \mathcal N(0, 1)$, derive $\log q(z)/p(z)$ on paper, then fit a logistic
# regression to `ch07.ratio_samples()` and compare its slope and intercept. What would an unbalanced data set
# (twice as many prior draws) add to the intercept?

# %%
slope, intercept = None, None   # the logit's slope and intercept
if slope is not None:
    print(ch07.check_log_ratio(slope, intercept))

# %% jupyter={"source_hidden": true} tags=["solution"]
m = ch07.RATIO_EXERCISE["mean_q"]
slope, intercept = m, -m * m / 2          # -(z - m)^2/2 + z^2/2 = m z - m^2/2; unbalanced classes add log(n_q/n_p)
print(f"closed form {slope} z {intercept:+}; fitted {fit.coef_[0, 0]:.3f} z {fit.intercept_[0]:+.3f}")
ch07.check_log_ratio(slope, intercept)

# %% [markdown]
# ### Exercise 2 — a VampPrior by hand
#
# Two pseudo-inputs give the posteriors $\mathcal N(-1, 0.5)$ and $\mathcal N(1, 2)$ (`ch07.VAMP_EXERCISE`).
# Compute $\log p(z)$ at $z = 0.3$. Why is averaging the two *log*-densities wrong?

# %%
answer = None   # a number: log p(0.3)
if answer is not None:
    print(ch07.check_vamp_log_prior(answer))

# %% jupyter={"source_hidden": true} tags=["solution"]
answer = by_hand                           # log of the average density; the average of logs is a lower bound (Jensen)
ch07.check_vamp_log_prior(answer)

# %% [markdown]
# ### Exercise 3 — what does the ex-post GMM buy the RAE?
#
# From the committed results (`results/landscape/primary/rae/seed*/eval.json`), compute for each seed the GMM's
# sample FCD minus the prior's (`eval["samples_gmm"]["fid"]["value"]`, `eval["samples"]["fid"]["value"]`), and
# their mean. Which ordering of §5 uses it, and what does its interval say?

# %%
answer = None   # a number: the mean paired difference, GMM minus prior
if answer is not None:
    print(ch07.check_gmm_gain(answer))

# %% jupyter={"source_hidden": true} tags=["solution"]
per_seed = ch07.gmm_gain_by_seed()
answer = float(np.mean(list(per_seed.values()))) if per_seed else None
print(f"per seed: {per_seed}; mean {answer}")   # L2's second part; see landscape_ordering_parts for its interval
if answer is not None:
    print(ch07.check_gmm_gain(answer))

# %% [markdown]
# ### Exercise 4 — catch a copying generator
#
# `ch07.memorisation_sets()` holds training features, new test features, and "samples" of which half are
# near-copies of training points. Compute the median nearest-training distance of the samples minus that of the
# test points (`torch.cdist`, then `torch.median`). Why is the *median* a better summary here than the mean?

# %%
answer = None   # a number: median(sample distances) - median(test distances)
if answer is not None:
    print(ch07.check_memorisation(answer))

# %% jupyter={"source_hidden": true} tags=["solution"]
sets = ch07.memorisation_sets()
near = {k: torch.cdist(sets[k], sets["train"]).min(1).values for k in ("samples", "test")}
answer = float(near["samples"].median() - near["test"].median())
print(f"samples {near['samples'].median():.3f}, test {near['test'].median():.3f}: difference {answer:+.3f}")
ch07.check_memorisation(answer)

# %% [markdown]
# ## References
#
# - Prathosh A.P. (IIT Delhi; with H. Asnani, P. Singla, A. K. Mondal and A. Jayendran), *The landscape of
#   Regularized Auto-Encoders for Generative modeling*, talk slides (the related document of this notebook).
# - M. D. Hoffman, M. J. Johnson, *ELBO surgery: yet another way to carve up the variational evidence lower
#   bound*, NIPS Workshop on Advances in Approximate Bayesian Inference, 2016.
# - I. Higgins et al., *β-VAE: Learning basic visual concepts with a constrained variational framework*, ICLR 2017.
# - D. P. Kingma, T. Salimans, R. Jozefowicz, X. Chen, I. Sutskever, M. Welling, *Improved variational inference
#   with inverse autoregressive flow*, NeurIPS 2016, [arXiv:1606.04934](https://arxiv.org/abs/1606.04934);
#   the flow library used here: [zuko](https://github.com/probabilists/zuko).
# - B. Dai, D. Wipf, *Diagnosing and enhancing VAE models*, ICLR 2019,
#   [arXiv:1903.05789](https://arxiv.org/abs/1903.05789); code: [daib13/TwoStageVAE](https://github.com/daib13/TwoStageVAE).
# - J. M. Tomczak, M. Welling, *VAE with a VampPrior*, AISTATS 2018, [arXiv:1705.07120](https://arxiv.org/abs/1705.07120);
#   code: [jmtomczak/vae_vampprior](https://github.com/jmtomczak/vae_vampprior).
# - H. Takahashi, T. Iwata, Y. Yamanaka, M. Yamada, S. Yagi, *Variational autoencoder with implicit optimal
#   priors*, AAAI 2019, [arXiv:1809.05284](https://arxiv.org/abs/1809.05284); code:
#   [takahashihiroshi/vae_iop](https://github.com/takahashihiroshi/vae_iop).
# - A. Kumar, B. Poole, K. Murphy, *Regularized autoencoders via relaxed injective probability flow*, AISTATS
#   2020, [arXiv:2002.08927](https://arxiv.org/abs/2002.08927) (no public code; our row is a reconstruction).
# - A. K. Mondal et al., *MaskAAE: Latent space optimization for adversarial auto-encoders*, UAI 2020,
#   [arXiv:1912.04564](https://arxiv.org/abs/1912.04564); code: [arnabkmondal/MaskAAE](https://github.com/arnabkmondal/MaskAAE).
# - A. K. Mondal, H. Asnani, P. Singla, Prathosh A.P., *FlexAE: Flexibly learning latent priors for Wasserstein
#   auto-encoders*, UAI 2021; code: [dair-iitd/FlexAE](https://github.com/dair-iitd/FlexAE).
# - P. Ghosh, M. S. M. Sajjadi, A. Vergari, M. Black, B. Schölkopf, *From variational to deterministic
#   autoencoders*, ICLR 2020, [arXiv:1903.12436](https://arxiv.org/abs/1903.12436).
# - H. Huang et al., *IntroVAE*, NeurIPS 2018; T. Daniel, A. Tamar, *Soft-IntroVAE: Analyzing and improving the
#   introspective variational autoencoder*, CVPR 2021, [arXiv:2012.13253](https://arxiv.org/abs/2012.13253);
#   code: [taldatech/soft-intro-vae-pytorch](https://github.com/taldatech/soft-intro-vae-pytorch).
# - T. Kynkäänniemi, T. Karras, S. Laine, J. Lehtinen, T. Aila, *Improved precision and recall metric for
#   assessing generative models*, NeurIPS 2019, [arXiv:1904.06991](https://arxiv.org/abs/1904.06991).
