# %% [markdown]
# # 03 · VAE and VAE-ResNet
#
# *Thesis §2.1 (the ELBO), §4.3.1 (the VAE) and §4.3.3 (the VAE with a ResNet encoder).*
#
# The thesis' baselines are two variational auto-encoders that share one decoder and differ only in the
# encoder: five strided 3×3 convolutions for the **VAE**, and the ResNet-50-like encoder of §3.2 for
# **VAE-ResNet**. This notebook builds both from `waelib`, checks their training loss against the ELBO of
# notebook 01, trains them with the same loop that trains every model of the thesis
# (`waelib.train.fit`), and measures their samples and reconstructions.
#
# **What you will learn**
#
# 1. how the thesis' layer lists become the modules of `waelib.blocks` and what they cost in parameters;
# 2. how the negative ELBO becomes a loss on a batch: a reconstruction term and a KL term;
# 3. what a trained VAE's samples and reconstructions look like — and why they are blurry.
#
# With the default profile everything runs on a CPU in a few minutes on the embedded `synthfaces` data
# set at 32×32 with narrow networks; `profile="thesis"` trains the thesis configuration (128×128, full
# width, 100 epochs) on a GPU.

# %%
# %matplotlib inline
from waelib.course import profiles

_guard = profiles.ParameterGuard(globals())   # records which names the parameters cell defines

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
import matplotlib.pyplot as plt
import torch

from waelib import config, losses, registry
from waelib.course import experiment, figures, plots
from waelib.registry import build_model

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
# Gaussian; we use the same $2d$-unit head as for the VAE (row 2 of `docs/deviations.md`). The decoder —
# dense 2048 → dense 8192 → five transposed convolutions → a sigmoid — is shared.
#
# The parameter counts at the thesis' size are checked in `tests/core/test_models.py` against a count derived
# by hand from the thesis' layer lists.

# %%
print(f"millions of parameters at the thesis' size (128 px, width 1) and in this run ({data.image_size} px, width {params.width}):")
print(experiment.markdown_rows(experiment.parameter_rows(params.models, image_size=data.image_size, width=params.width,
                                                         latent_dim=params.latent_dim)))

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
# untrained copy of each as well: the baseline a trained model must beat (end of section 4).

# %%
results = experiment.train_and_evaluate(data, params)   # train (or resume), evaluate, and evaluate an untrained copy

# %%
fig = plots.training_curves(results.histories, ["loss", "sq_error", "kl"])
figures.save_figure(fig, "nb03_vae_training_curves", params.figures_dir)
plt.show()

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
# How much does a VAE remember about each image? The KL term is exactly the number of nats the code carries
# about $x$ beyond the prior (on average over the data it bounds the mutual information between $x$ and $z$).
# The last logged KL of each run tells:

# %%
for name, run in results.runs.items():
    last = run.history[-1]
    print(f"{registry.THESIS_MODEL_LABELS[name]:<11} KL = {last['kl']:6.1f} nats per image, "
          f"sum of squared errors = {last['sq_error']:6.1f} over {3 * data.image_size ** 2} pixel values")

# %% [markdown]
# A few nats cannot describe a face in detail: the decoder can only draw an average face for each rough
# region of the latent space. Raising the weight of the reconstruction term (a smaller $\sigma_G^2$) buys
# sharper reconstructions at the price of a posterior further from the prior; the WAE avoids this trade-off by
# penalising only the aggregated posterior.

# %%
rows = experiment.baseline_rows(results)
print(experiment.markdown_rows(rows))
print(experiment.check_beats_baseline(rows, max_ratio=0.7, enforce=params.profile != "smoke"))  # smoke: 2 steps, nothing to assert

# %% [markdown]
# ## Summary
#
# - VAE and VAE-ResNet are built by name from the thesis' layer lists (`waelib.registry.build_model`), and their
#   loss is the negative ELBO derived in notebook 01.
# - One training loop trains them; each run folder records its configuration, hardware and metrics.
# - Next: **04_wae_resnet.ipynb** trains the Wasserstein auto-encoders, and **05_thesis_results.ipynb** puts
#   all five models into the thesis' tables.
