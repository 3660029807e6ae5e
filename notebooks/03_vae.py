# %% [markdown]
# # 03 · VAE and VAE-ResNet
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/wae-resnet/wae-resnet/blob/main/notebooks/03_vae.ipynb)
#
# *Thesis §2.1 (the ELBO), §4.3.1 (the VAE) and §4.3.3 (the VAE with a ResNet encoder).*
#
# The thesis' baselines are two variational auto-encoders that share one decoder and differ only in the
# encoder: five strided 3×3 convolutions for the **VAE**, and the ResNet-50-like encoder of §3.2 (notebook 02b) for
# **VAE-ResNet**. This notebook builds both from `waelib`, checks their training loss against the ELBO of
# notebook 01, trains them with the same loop that trains every model of the thesis
# (`waelib.train.fit`), and measures their samples and reconstructions.
#
# **What you will learn**
#
# 1. how the thesis' layer lists become the modules of `waelib.blocks` and what they cost in parameters;
# 2. how the negative ELBO becomes a loss on a batch: a reconstruction term and a KL term, weighed against
#    each other by the decoder variance $\sigma_G^2$;
# 3. why the average KL is an **upper bound** on the information the code carries about an image, not that
#    information itself;
# 4. what a trained VAE's samples and reconstructions look like — and why they are blurry.
#
# The default profile trains narrow networks on the embedded `synthfaces` data set at 32×32 on a CPU;
# `profile="thesis"` trains the thesis configuration (128×128, full width, 100 epochs) on a GPU.

# %% [markdown]
# ## Setup
#
# **Prerequisites:** Python ≥ 3.10; the ELBO of notebook **01_elbo** (its derivation is used, not repeated)
# and the residual blocks of notebook **02b_resnet_degradation** (the VAE-ResNet encoder).
#
# The first cell installs the course's library `waelib` when it is missing (on Colab, or in a fresh
# environment), then prints what this notebook needs and its measured run times. `profile="smoke"` runs
# in seconds (two training steps: it checks the code, not the models), `default` is the CPU course profile,
# and `thesis` needs a GPU.

# %% tags=["setup"]
# %matplotlib inline
import importlib.util
import os

if importlib.util.find_spec("waelib") is None:   # Colab or a fresh environment: install the course's library
    get_ipython().run_line_magic("pip", "install --quiet " + os.environ.get("WAELIB_SOURCE", "git+https://github.com/wae-resnet/wae-resnet"))  # noqa: F821
from waelib.course import profiles

_guard = profiles.setup(globals(), "03_vae")   # prints what this notebook needs and its measured run times; checks the parameters cell's names

# %% tags=["parameters"]
profile = "default"   # smoke | default | thesis (see waelib.course.profiles)
models = ["vae", "vae_resnet"]
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
n_fid = None          # images per Fréchet distance, the same for every row (thesis profile: 10,000)
n_interp = None       # interpolation pairs (Table 4.3, Figure 4.1)
interp_steps = None   # images per interpolation row, the two real ends included
fid_features = None   # auto | inception | synthfaces_classifier | celeba_classifier
data_root = None
out_dir = None        # runs are written to <out_dir>/<model>
figures_dir = None
retrain = False       # True: ignore an existing run in <out_dir>/<model> and train again
jobs = None           # models trained side by side; None: the profile's (default: one per CPU core, 1 thread each); 1: one after the other
tensorboard = False   # True: also log to <out_dir>/<model>/tensorboard (open with `tensorboard --logdir <out_dir>`)

# %%
params = profiles.notebook_params(globals(), _guard, table=profiles.PROFILES)

# %%
import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from waelib import blocks, config, losses, registry
from waelib.course import experiment, figures, plots, show
from waelib.course.exercises import ch03
from waelib.registry import build_model
from waelib.utils import atomic_write_json

figures.use_style()
data = experiment.prepare(params)   # seed everything, report the device, load the train and held-out images

# %%
fig = plots.show_real_images(data.test, n=16, title=f"real held-out {data.name} images")
plt.show()

# %% [markdown]
# ## 1. The two models
#
# Both encoders end in a dense layer that outputs $2d$ numbers, split into the mean $\mu(x)$ and the
# log-variance $\log\sigma^2(x)$ of the Gaussian posterior $q(z\mid x)=\mathcal N(\mu(x),\operatorname{diag}\sigma^2(x))$,
# with $d = 512$ (§4.3.1). For VAE-ResNet the thesis writes a 64-unit dense layer, which cannot give a 512-d
# Gaussian; we use the same $2d$-unit head as for the VAE (row 2 of `docs/deviations.md`). The decoder is
# shared: dense 2048 → dense to a $(S/32)\times(S/32)\times 512$ map ($4\cdot4\cdot512 = 8192$ units at
# $S = 128$) → transposed convolutions → BatchNorm → sigmoid. How many transposed convolutions? We count
# them in the live module rather than in prose:

# %%
probe = build_model("vae", image_size=data.image_size, width=params.width, latent_dim=params.latent_dim)
deconvs = [m for m in probe.decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
print(f"{len(deconvs)} transposed convolutions in waelib.blocks.VAEDecoder, strides {[m.stride[0] for m in deconvs]}, "
      f"output channels {[m.out_channels for m in deconvs]}")
assert len(deconvs) == 6 and [m.stride[0] for m in deconvs] == [2, 2, 2, 2, 2, 1]
assert isinstance(probe.decoder, blocks.VAEDecoder)

# %% [markdown]
# Six: five 3×3 transposed convolutions with stride 2, each doubling the side ($S/32 \to S$), and a sixth
# 3×3 with stride 1 that maps to the three colour channels (§4.3.1). The parameter counts at the thesis' size
# are checked in `tests/core/test_models.py` against a count derived by hand from the thesis' layer lists.

# %%
param_rows = experiment.parameter_rows(params.models, image_size=data.image_size, width=params.width,
                                       latent_dim=params.latent_dim)
show.table(param_rows, caption=f"millions of parameters at the thesis' size (128 px, width 1) and in this run "
                               f"({data.image_size} px, width {params.width})")
params_path = atomic_write_json(Path(params.figures_dir) / "nb03_parameters.json", {
    "source": "notebooks/03_vae.ipynb: waelib.course.experiment.parameter_rows (counted from the live modules)",
    "columns": list(param_rows[0]), "rows": [list(r.values()) for r in param_rows]})

# %%
for row in param_rows:
    show.say("**{model}**: {full} M parameters at the thesis' size, {small} M in this run.",
             model=show.quote(params_path, f"rows[model={row['model']}].model"),
             full=show.quote(params_path, f"rows[model={row['model']}].thesis size (M)", "{:.1f}"),
             small=show.quote(params_path, f"rows[model={row['model']}].this run (M)", "{:.2f}"))

# %% [markdown]
# **What this shows.** The ResNet encoder makes VAE-ResNet the larger model at the thesis' size (and at this
# run's size with the course's profiles). At the thesis' size
# most of the difference is one dense layer: the ResNet trunk hands $4\cdot4\cdot2048 = 32768$ features to the
# $2d$-unit Gaussian head, where the VAE's trunk hands it 2048. More parameters do not by themselves make
# better samples; section 4 compares the two.

# %% [markdown]
# ## 2. The loss is the negative ELBO
#
# With a Gaussian decoder $p(x\mid z)=\mathcal N(x; G(z), \sigma_G^2 I)$, the per-sample ELBO of notebook 01 is
#
# $$\mathrm{ELBO}(x) = \mathbb E_{q(z\mid x)}\big[\log p(x\mid z)\big] - \mathrm{KL}\big(q(z\mid x)\,\|\,\mathcal N(0,I)\big)
# = -\frac{\mathbb E_q\|x-G(z)\|^2}{2\sigma_G^2} - \mathrm{KL} + \text{const}.$$
#
# `waelib.losses.vae_loss` returns the batch mean of $-\mathrm{ELBO}$ (without the constant), estimating the
# expectation with one reparameterised draw $z=\mu+\sigma\odot\varepsilon$. The KL has the closed form
# $\tfrac12\sum_j(\sigma_j^2+\mu_j^2-1-\log\sigma_j^2)$. The thesis does not give $\sigma_G$; we use
# $\sigma_G^2 = 0.5$, which makes the first term the plain sum of squared errors (row 8 of the deviations table).
# $\sigma_G^2$ is not a detail: it sets how many nats one unit of squared error costs against the KL, so a
# smaller $\sigma_G^2$ buys closer reconstructions with a larger KL (exercise 2 solves this exactly in a
# linear model). The cell checks `vae_loss` against the two terms computed by hand on an untrained model.

# %%
torch.manual_seed(params.seed)
vae = build_model("vae", image_size=data.image_size, width=params.width, latent_dim=params.latent_dim)
x = data.test[:8].float() / 255
out = vae(x)
terms = losses.vae_loss(x, out["x_hat"], out["mu"], out["logvar"])
sq = ((x - out["x_hat"]) ** 2).flatten(1).sum(1).mean()
kl = (0.5 * (out["logvar"].exp() + out["mu"] ** 2 - 1 - out["logvar"]).sum(1)).mean()
assert torch.allclose(terms["recon"], sq / (2 * config.VAE_DECODER_SIGMA2))
assert torch.allclose(terms["kl"], kl) and torch.allclose(terms["loss"], terms["recon"] + terms["kl"])
print({k: round(v.item(), 3) for k, v in terms.items()})

# %% [markdown]
# ## 3. Training
#
# `waelib.course.experiment.train_model` calls `waelib.train.fit`, the single training loop of the project:
# Adam with the thesis' learning rate $10^{-3}$ and $\beta_1=0.5$ (the thesis' "exponential decay rate"),
# a seeded data order, a per-step log, checkpoints written atomically, and a guard that stops on a NaN
# loss. A run folder `<out_dir>/<model>` holds `config.json` (configuration, hardware, versions, commit),
# `log.jsonl`, `checkpoint.pt` and sample grids; running the cell again resumes from it (or returns at once
# when the run is complete). The same loop runs from a shell:
# `python -m waelib.train --model vae_resnet --dataset synthfaces --image-size 32 --width 0.125 --steps 2000`.
#
# After training, each model is evaluated exactly as in the thesis' chapter 4 (`waelib.evaluate`), and the
# numbers are saved beside the run as `eval.json`, from which notebook 05 builds the tables.
# `waelib.course.experiment.train_and_evaluate` does both for every model of `params.models`, and evaluates an
# untrained copy of each as well: the baseline a trained model must beat (section 6).

# %%
results = experiment.train_and_evaluate(data, params)   # train (or resume), evaluate, and evaluate an untrained copy

# %%
fig = plots.training_curves(results.histories, ["loss", "sq_error", "kl"])
figures.save_figure(fig, "nb03_vae_training_curves", params.figures_dir)
plt.show()

# what the prose below quotes about this run: the first and last logged terms, and the baseline comparison
terms = ("loss", "sq_error", "kl")
baseline = experiment.baseline_rows(results)
summary_path = atomic_write_json(Path(params.figures_dir) / "nb03_vae_summary.json", {
    "source": "notebooks/03_vae.ipynb: this run's training logs (<out_dir>/<model>/log.jsonl) and evaluations",
    "profile": params.profile, "image_size": data.image_size, "dataset": data.name,
    "pixel_values": config.IMAGE_CHANNELS * data.image_size ** 2,
    "models": {name: {"label": registry.THESIS_MODEL_LABELS[name], "steps": run.history[-1]["step"],
                      "first": {k: run.history[0][k] for k in terms}, "last": {k: run.history[-1][k] for k in terms},
                      "kl_per_pixel_value": run.history[-1]["kl"] / (config.IMAGE_CHANNELS * data.image_size ** 2),
                      "baseline": next(r for r in baseline if r["model"] == registry.THESIS_MODEL_LABELS[name])}
               for name, run in results.runs.items()}})

# %%
for name in results.runs:
    show.say("**{label}** ({profile} profile, {steps} steps): the loss went from {l0} at the first logged step to "
             "{l1} at the last; there the squared error per image was {sq} and the KL {kl} nats.",
             label=show.quote(summary_path, f"models.{name}.label"), profile=show.quote(summary_path, "profile"),
             steps=show.quote(summary_path, f"models.{name}.steps"),
             l0=show.quote(summary_path, f"models.{name}.first.loss", "{:.0f}"),
             l1=show.quote(summary_path, f"models.{name}.last.loss", "{:.0f}"),
             sq=show.quote(summary_path, f"models.{name}.last.sq_error", "{:.0f}"),
             kl=show.quote(summary_path, f"models.{name}.last.kl", "{:.1f}"))

# %% [markdown]
# **What this run shows.** With the `smoke` profile (two steps) the numbers above only show that the loop
# runs. In the committed default-profile curves (`figures/nb03_vae_training_curves.png`, 2,000 steps of the
# default profile) both losses fall steeply at first and then slowly; the KL spikes in the first steps, falls
# early and then changes slowly, so most of the later progress is in the squared error. VAE-ResNet's squared error
# stays above the VAE's after the first steps, and its KL below: at this scale the larger ResNet encoder does
# not fit the training images better.

# %% [markdown]
# ## 4. Samples and reconstructions
#
# Random samples decode $z\sim\mathcal N(0,I)$. The VAE's KL term pushes *every* posterior $q(z\mid x)$
# towards the prior, so posteriors of different images overlap and the decoder learns to output their
# average: VAE samples and reconstructions are typically **blurry**. That is the weakness the WAE addresses
# (notebooks 02 and 04).

# %%
fig = plots.samples_and_reconstructions(results.models, data.eval_images, n_samples=32, n_originals=16, seed=params.seed)
figures.save_figure(fig, "nb03_vae_samples", params.figures_dir)
plt.show()

# %% [markdown]
# **What the committed results show.** The committed figure (`figures/nb03_vae_samples.png`, default profile)
# shows exactly this blur: both models' samples are smooth, similar average faces, and their reconstructions
# keep the rough colours and the position of the face but lose hair outlines, eyes and glasses. The committed
# measurements of the same runs agree:

# %%
t44, t45 = "figures/table4_4_random_samples.json", "figures/table4_5_reconstructions.json"
show.say("Sample FCD (Fréchet classifier distance, smaller is closer to the held-out images): VAE {fv}, VAE-ResNet "
         "{fr}, against {floor} for real held-out images (the floor at this sample size). The Laplacian variance, "
         "which falls with blur, is {lv} for VAE samples and {lr} for VAE-ResNet's, against {lreal} for real images. "
         "Reconstruction RMSE (0–255 scale): VAE {rv}, VAE-ResNet {rr}; WAE-MMD, for comparison, {rm}.",
         fv=show.quote(t44, "rows[model=VAE].our_fcd", "{:.0f}"), fr=show.quote(t44, "rows[model=VAE-ResNet].our_fcd", "{:.0f}"),
         floor=show.quote(t44, "rows[model=real test images].our_fcd", "{:.1f}"),
         lv=show.quote(t44, "rows[model=VAE].our_laplacian", "{:.4f}"),
         lr=show.quote(t44, "rows[model=VAE-ResNet].our_laplacian", "{:.4f}"),
         lreal=show.quote(t44, "rows[model=real test images].our_laplacian", "{:.4f}"),
         rv=show.quote(t45, "rows[model=VAE].rmse", "{:.1f}"), rr=show.quote(t45, "rows[model=VAE-ResNet].rmse", "{:.1f}"),
         rm=show.quote(t45, "rows[model=WAE-MMD].rmse", "{:.1f}"))
claims = "figures/claims.json"
show.say("Does the ResNet encoder help the VAE, as the thesis' Tables 4.4 and 4.5 report? The claims study "
         "(`figures/claims.md`: {n} training seeds at 64 px) measured VAE-ResNet minus VAE: sample FCD {d4a} "
         "(95 % interval {lo4a} to {hi4a}), reconstruction FCD {d4b} (95 % interval {lo4b} to {hi4b}). Both point "
         "estimates go **against** the thesis (VAE-ResNet worse); the verdicts: sample FCD *{v4a}*, reconstruction "
         "FCD *{v4b}*.",
         n=show.quote(claims, "rows[claim=C4a,scale=primary].n_seeds"),
         d4a=show.quote(claims, "rows[claim=C4a,scale=primary].mean_diff", "{:+.1f}"),
         lo4a=show.quote(claims, "rows[claim=C4a,scale=primary].ci_lo", "{:+.1f}"),
         hi4a=show.quote(claims, "rows[claim=C4a,scale=primary].ci_hi", "{:+.1f}"),
         d4b=show.quote(claims, "rows[claim=C4b,scale=primary].mean_diff", "{:+.1f}"),
         lo4b=show.quote(claims, "rows[claim=C4b,scale=primary].ci_lo", "{:+.1f}"),
         hi4b=show.quote(claims, "rows[claim=C4b,scale=primary].ci_hi", "{:+.1f}"),
         v4a=show.quote(claims, "rows[claim=C4a,scale=primary].verdict"),
         v4b=show.quote(claims, "rows[claim=C4b,scale=primary].verdict"))

# %% [markdown]
# So at CPU scale the two VAEs cannot be told apart reliably, and a single run such as the default-profile one
# above (one seed, 32 px) does not settle their order. What holds in the committed runs is that both VAEs are
# far from the real images and blurry.

# %% [markdown]
# ## 5. How much does the code remember? The KL is an upper bound
#
# Average the KL term over the data, $p(x)$, and write $q(z) = \mathbb E_{p(x)}\,q(z\mid x)$ for the
# **aggregate posterior** $Q_Z$ (the distribution of codes of all images together). Adding and subtracting
# $\log q(z)$ inside the expectation,
#
# $$\mathbb E_{p(x)}\,\mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)
# = \underbrace{\mathbb E_{p(x)}\mathbb E_{q(z\mid x)}\Big[\log\frac{q(z\mid x)}{q(z)}\Big]}_{I(X;Z)}
# + \underbrace{\mathbb E_{q(z)}\Big[\log\frac{q(z)}{p(z)}\Big]}_{\mathrm{KL}(Q_Z\,\|\,P_Z)}
# \;\ge\; I(X;Z),$$
#
# where $I(X;Z)$ is the mutual information between an image and its code under the encoder (Hoffman &
# Johnson 2016). So the average KL is an **upper bound** on the information the code carries about the
# image, not that information itself; the two agree only when the aggregate posterior equals the prior.
# (Exercise 4 computes both sides for a two-image toy.) The KL a run logs is the mean of this term over a
# training batch, an estimate of the left-hand side:

# %%
for name in results.runs:
    show.say("**{label}**: average KL {kl} nats per image at the last logged step, so the code carries at most "
             "about that many nats about an image: {kpp} nats per pixel value ({n} values per image).",
             label=show.quote(summary_path, f"models.{name}.label"),
             kl=show.quote(summary_path, f"models.{name}.last.kl", "{:.1f}"),
             kpp=show.quote(summary_path, f"models.{name}.kl_per_pixel_value", "{:.3f}"),
             n=show.quote(summary_path, "pixel_values", "{:,}"))

# %% [markdown]
# **What this run shows.** The fewer nats the code carries, the more of each image the decoder has to fill in
# from what all faces share, and a decoder trained on squared error fills it in with an average — the blur of
# section 4 (after the two steps of `smoke` the KL is still whatever the untrained encoder gives, and means
# nothing yet). A smaller $\sigma_G^2$ weighs the squared error more: the
# optimum moves to a larger KL, closer reconstructions, and an aggregate posterior further from the prior,
# which makes prior samples worse. Exercise 2 computes this trade-off exactly for a linear Gaussian VAE.
#
# The WAE (notebooks 02 and 04) does **not** escape the trade-off. It drops the per-image KL and penalises only
# the aggregate posterior, $c(x, G(z)) + \lambda\,D_Z(Q_Z, P_Z)$, and its weight $\lambda$ (against the
# reconstruction scale) plays the role of $\sigma_G^2$. The committed sweep of the penalty weight
# (`figures/lambda_sensitivity.md`, one seed, 32 px) shows it:

# %%
lam = "figures/lambda_sensitivity.json"
show.table("lambda_sensitivity", columns=["model", "penalty_weight_vs_official", "sample_fcd", "recon_fcd", "rmse"])
mmd16, mmd1, gan16, gan1 = 3, 5, 0, 2      # rows of figures/lambda_sensitivity.json: (model, penalty weight 16x / 1x)
show.say("In this one-seed sweep, for {m}, lowering the penalty weight from {hi}× to {lo}× the official balance improved the "
         "reconstructions (RMSE {r16} → {r1}, reconstruction FCD {c16} → {c1}) while the sample FCD went from "
         r"{s16} to {s1}: better reconstructions, worse samples — the same trade-off as $\sigma_G^2$. For the "
         "GAN-penalised {g} the official balance was best in every column (sample FCD "
         "{g1} at {glo}× against {g16} at {ghi}×), so there the trade-off did not show at these settings.",
         m=show.quote(lam, f"rows[{mmd16}].model"), g=show.quote(lam, f"rows[{gan16}].model"),
         hi=show.quote(lam, f"rows[{mmd16}].penalty_weight_vs_official", "{:.0f}"),
         lo=show.quote(lam, f"rows[{mmd1}].penalty_weight_vs_official", "{:.0f}"),
         r16=show.quote(lam, f"rows[{mmd16}].rmse", "{:.1f}"), r1=show.quote(lam, f"rows[{mmd1}].rmse", "{:.1f}"),
         c16=show.quote(lam, f"rows[{mmd16}].recon_fcd", "{:.0f}"), c1=show.quote(lam, f"rows[{mmd1}].recon_fcd", "{:.0f}"),
         s16=show.quote(lam, f"rows[{mmd16}].sample_fcd", "{:.0f}"), s1=show.quote(lam, f"rows[{mmd1}].sample_fcd", "{:.0f}"),
         g1=show.quote(lam, f"rows[{gan1}].sample_fcd", "{:.0f}"), g16=show.quote(lam, f"rows[{gan16}].sample_fcd", "{:.0f}"),
         glo=show.quote(lam, f"rows[{gan1}].penalty_weight_vs_official", "{:.0f}"),
         ghi=show.quote(lam, f"rows[{gan16}].penalty_weight_vs_official", "{:.0f}"))
assert show.lookup(lam, f"rows[{mmd16}].model") == show.lookup(lam, f"rows[{mmd1}].model") == "WAE-MMD"
assert show.lookup(lam, f"rows[{gan16}].model") == show.lookup(lam, f"rows[{gan1}].model") == "WAE"
assert [show.lookup(lam, f"rows[{i}].penalty_weight_vs_official") for i in (mmd16, mmd1, gan16, gan1)] == [16, 1, 16, 1]

# %% [markdown]
# ## 6. Better than an untrained model?
#
# The table compares each trained model with an untrained copy evaluated by the same protocol: the Fréchet
# distance of its samples trained and untrained, their ratio, the distance of its reconstructions and the
# sharpness of its samples. With the default and thesis profiles the cell asserts that training brought the
# samples much closer to the data (ratio below 0.7); with `smoke` it only reports.

# %%
show.table(baseline, caption=f"{results.extractor.name} Fréchet distance of {data.name} samples and reconstructions "
                             f"({params.profile} profile, {data.image_size} px)")
print(experiment.check_beats_baseline(baseline, max_ratio=0.7, enforce=params.profile != "smoke"))  # smoke: 2 steps, nothing to assert

# %%
for name in results.runs:
    show.say("**{label}**: trained / untrained sample Fréchet distance {ratio} in this run ({profile} profile).",
             label=show.quote(summary_path, f"models.{name}.label"),
             ratio=show.quote(summary_path, f"models.{name}.baseline.trained / untrained", "{:.2f}"),
             profile=show.quote(summary_path, "profile"))

# %% [markdown]
# **What this run shows.** A ratio well below 1 means training moved the samples towards the data; after the two
# steps of `smoke` it can be near 1 or above. With the default profile both VAEs beat their untrained copies by a
# wide margin (the assertion above), yet, as section 4 showed, they stay far from the real-image floor.

# %% [markdown]
# ## Summary
#
# - VAE and VAE-ResNet are built by name from the thesis' layer lists (`waelib.registry.build_model`); they share
#   a decoder with six transposed convolutions, and their loss is the negative ELBO derived in notebook 01.
# - $\sigma_G^2$ weighs reconstruction against the KL; the average KL is an upper bound on the information the
#   code carries, $I(X;Z) + \mathrm{KL}(Q_Z\|P_Z)$.
# - At CPU scale both VAEs make blurry samples; the claims study finds no reliable difference between VAE and
#   VAE-ResNet, with both point estimates against the thesis.
# - One training loop trains them; each run folder records its configuration, hardware and metrics.
# - Next: **04_wae_resnet.ipynb** trains the Wasserstein auto-encoders, and **05_thesis_results.ipynb** puts
#   all five models into the thesis' tables.

# %% [markdown]
# ## Exercises
#
# Each exercise has a starter cell (fill in `answer`; the check runs once it is not `None`) and a hidden
# solution cell below it. The checks (`waelib.course.exercises.ch03`) compute the expected value themselves.
#
# **Exercise 1 (the decoder's sizes).** A transposed convolution maps a side $n$ to
# $(n-1)s - 2p + k + \text{output\_padding}$. The VAE decoder starts from an $(S/32)\times(S/32)$ map; its five
# stride-2 layers have $k = 3$, $p = 1$, output_padding 1, the last has stride 1, $p = 1$ and no output
# padding. Give the side after each of the six transposed convolutions for $S = 64$.

# %%
answer = None   # six integers
if answer is not None:
    print(ch03.check_decoder_sizes(answer, image_size=64))

# %% jupyter={"source_hidden": true} tags=["solution"]
side, answer = 64 // 32, []
for stride, output_padding in [(2, 1)] * 5 + [(1, 0)]:
    side = (side - 1) * stride - 2 * 1 + 3 + output_padding
    answer.append(side)
decoder = blocks.VAEDecoder(16, image_size=64, width=0.0625).eval()
with torch.no_grad():
    print(answer, "; the live decoder's output:", tuple(decoder(torch.zeros(2, 16)).shape[1:]))
ch03.check_decoder_sizes(answer, image_size=64)

# %% [markdown]
# **Exercise 2 ($\sigma_G^2$ and the trade-off).** Take a one-dimensional linear VAE: data $x\sim\mathcal N(0, s^2)$
# with $s^2 = 4$, prior $z\sim\mathcal N(0,1)$, decoder $\mathcal N(x; wz, \sigma_G^2)$, encoder
# $q(z\mid x) = \mathcal N(ax, \tau^2)$. `ch03.linear_vae_neg_elbo(a, w, log_tau2, data_var=4, sigma2=...)`
# returns the exact expected negative ELBO and its terms. Minimise it over $(a, w, \log\tau^2)$ for
# $\sigma_G^2 \in \{0.1, 0.5, 2, 8\}$ and give the average KL at each optimum (four numbers). What is the
# expected squared error at each optimum? (Probabilistic PCA gives the closed form; what happens when
# $\sigma_G^2 \ge s^2$?)

# %%
answer = None   # four numbers: the optimal average KL for sigma_G^2 = 0.1, 0.5, 2, 8
if answer is not None:
    print(ch03.check_linear_vae_kl(answer, [0.1, 0.5, 2.0, 8.0]))

# %% jupyter={"source_hidden": true} tags=["solution"]
sigma2s, answer = [0.1, 0.5, 2.0, 8.0], []
for sigma2 in sigma2s:
    theta = torch.tensor([0.1, 0.1, 0.0], dtype=torch.float64, requires_grad=True)   # a, w, log tau^2
    optimiser = torch.optim.Adam([theta], lr=0.1)
    for _ in range(1000):
        loss = ch03.linear_vae_neg_elbo(*theta, data_var=4.0, sigma2=sigma2)["loss"]
        optimiser.zero_grad(); loss.backward(); optimiser.step()
    best = ch03.linear_vae_neg_elbo(*theta, data_var=4.0, sigma2=sigma2)
    answer.append(best["kl"].item())
    print(f"sigma_G^2 = {sigma2:4}: KL {best['kl'].item():.4f} nats (1/2 log(s^2/sigma_G^2) = "
          f"{max(0.0, 0.5 * math.log(4.0 / sigma2)):.4f}), squared error {best['sq_error'].item():.4f}")
ch03.check_linear_vae_kl(answer, sigma2s)

# %% [markdown]
# **Exercise 3 (one batch by hand).** `ch03.exercise_batch(0)` returns a batch `x`, `x_hat`, `mu`, `logvar`.
# Compute, without `waelib.losses`, the batch means of the reconstruction term (with $\sigma_G^2 = 0.1$), of
# the KL term, and their sum, as `[recon, kl, loss]`. Then compare with `losses.vae_loss(..., decoder_sigma2=0.1)`.

# %%
answer = None   # three numbers: recon, kl, loss
if answer is not None:
    print(ch03.check_batch_loss(answer, decoder_sigma2=0.1))

# %% jupyter={"source_hidden": true} tags=["solution"]
batch = ch03.exercise_batch(0)
recon = ((batch["x"] - batch["x_hat"]) ** 2).flatten(1).sum(1).mean() / (2 * 0.1)
kl = (0.5 * (batch["logvar"].exp() + batch["mu"] ** 2 - 1 - batch["logvar"]).sum(1)).mean()
answer = torch.stack([recon, kl, recon + kl])
reference = losses.vae_loss(batch["x"], batch["x_hat"], batch["mu"], batch["logvar"], decoder_sigma2=0.1)
print("by hand:", answer.tolist(), " vae_loss:", [reference[k].item() for k in ("recon", "kl", "loss")])
ch03.check_batch_loss(answer, decoder_sigma2=0.1)

# %% [markdown]
# **Exercise 4 (the KL bounds the information).** Let $X$ be one of two images, coded as $\pm m$ with
# $m = 1$, each with probability ½, and let the encoder be $q(z\mid x) = \mathcal N(x, \tau^2)$ with
# $\tau^2 = 0.25$; the prior is $\mathcal N(0, 1)$. Compute $\mathbb E_x\,\mathrm{KL}(q(z\mid x)\|p(z))$ in closed
# form, $\mathrm{KL}(Q_Z\|P_Z)$ by a one-dimensional integral, and from them $I(X;Z)$ (in nats). Check that
# $I(X;Z) \le \log 2$ (a two-valued $X$ carries at most one bit) while the average KL is larger than $\log 2$.

# %%
answer = None   # one number: I(X; Z) in nats
if answer is not None:
    print(ch03.check_mutual_information(answer, m=1.0, tau2=0.25))

# %% jupyter={"source_hidden": true} tags=["solution"]
m, tau2 = 1.0, 0.25
average_kl = 0.5 * (tau2 + m ** 2 - 1 - math.log(tau2))      # the same for x = +m and x = -m
z = torch.linspace(-10, 10, 200_001, dtype=torch.float64)
q_z = 0.5 * (torch.exp(-(z - m) ** 2 / (2 * tau2)) + torch.exp(-(z + m) ** 2 / (2 * tau2))) / math.sqrt(2 * math.pi * tau2)
p_z = torch.exp(-z ** 2 / 2) / math.sqrt(2 * math.pi)
kl_aggregate = torch.trapezoid(q_z * torch.log(q_z / p_z), z).item()
answer = average_kl - kl_aggregate
print(f"E_x KL = {average_kl:.4f} nats = I(X;Z) {answer:.4f} + KL(Q_Z||P_Z) {kl_aggregate:.4f};  log 2 = {math.log(2):.4f}")
ch03.check_mutual_information(answer, m=1.0, tau2=0.25)

# %% [markdown]
# ## References
#
# - Md Azad Ansari, *Wasserstein Auto-Encoder using Residual Neural Network*, M.Tech thesis, Indian Statistical
#   Institute Kolkata, 2022 (§2.1, §4.3.1, §4.3.3; Tables 4.4, 4.5).
# - D. P. Kingma, M. Welling, *Auto-Encoding Variational Bayes*, ICLR 2014,
#   [arXiv:1312.6114](https://arxiv.org/abs/1312.6114) — the VAE and the reparameterisation trick.
# - I. Tolstikhin, O. Bousquet, S. Gelly, B. Schölkopf, *Wasserstein Auto-Encoders*, ICLR 2018,
#   [arXiv:1711.01558](https://arxiv.org/abs/1711.01558) — the WAE and its penalty weight $\lambda$.
# - K. He, X. Zhang, S. Ren, J. Sun, *Deep Residual Learning for Image Recognition*, CVPR 2016,
#   [arXiv:1512.03385](https://arxiv.org/abs/1512.03385) — the residual encoder.
# - G. Klambauer, T. Unterthiner, A. Mayr, S. Hochreiter, *Self-Normalizing Neural Networks*, NeurIPS 2017,
#   [arXiv:1706.02515](https://arxiv.org/abs/1706.02515) — the SELU of the dense layers.
# - M. D. Hoffman, M. J. Johnson, *ELBO surgery: yet another way to carve up the variational evidence lower
#   bound*, NIPS 2016 Workshop on Advances in Approximate Bayesian Inference — the decomposition of section 5.
# - A. A. Alemi, B. Poole, I. Fischer, J. V. Dillon, R. A. Saurous, K. Murphy, *Fixing a Broken ELBO*, ICML 2018,
#   [arXiv:1711.00464](https://arxiv.org/abs/1711.00464) — the rate (KL) / distortion trade-off.
# - M. E. Tipping, C. M. Bishop, *Probabilistic Principal Component Analysis*, Journal of the Royal Statistical
#   Society B, 1999 — the closed-form optimum of exercise 2; J. Lucas, G. Tucker, R. Grosse, M. Norouzi, *Don't
#   Blame the ELBO! A Linear VAE Perspective on Posterior Collapse*, NeurIPS 2019 — the same model as a VAE.
# - Related documents: A. Rogachevskaya, M. Garnitskiy, *Wasserstein Auto-Encoders* (a report on implementing
#   the WAE and comparing it with the VAE, Higher School of Economics); F. Bongini, *Comparison between Wasserstein
#   Auto-Encoders and Introspective Variational Auto-encoders* (2021); Prathosh A. P., *The landscape of
#   Regularized Auto-Encoders for Generative modeling* (lecture slides, IIT Delhi; VAEs with fixed and learned
#   decoder variance).
