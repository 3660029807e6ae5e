# %% [markdown]
# # 04 · WAE, WAE-MMD and WAE-ResNet — the thesis' proposal
#
# *Thesis §2.2 (the WAE objective), §3 (the ResNet encoder), §4.3.2 and §4.3.4 (the models).*
#
# This is the main notebook of the course. The thesis' claim is that the **Wasserstein auto-encoder**
# (WAE), which only asks the *aggregated* posterior $Q_Z$ to match the prior, produces sharper images than a
# VAE — and that replacing the WAE's plain convolutional encoder by a deep **residual** encoder
# (WAE-ResNet) improves it further, because the skip connections keep a deep encoder trainable.
#
# **What you will learn**
#
# 1. the two residual blocks of §3.2 and what the skip connection does to the gradients of a deep network;
# 2. the three WAE models: the DCGAN-style WAE with a latent GAN penalty (the thesis' "WAE"), the same
#    networks with the MMD penalty (WAE-MMD, from the WAE paper), and WAE-ResNet;
# 3. the WAE-GAN training step of the thesis' Algorithm 2 and the MMD penalty, as code;
# 4. how to train them, and how to check that they learned something: random samples that look like faces,
#    and a Fréchet distance far below an untrained model's.
#
# The default profile runs on a CPU in under 10 minutes on the embedded `synthfaces` data at 32×32 with
# narrow networks (`make demo`); `profile="thesis"` is the thesis configuration for a GPU.

# %%
# %matplotlib inline
from waelib.course import profiles

_guard = profiles.ParameterGuard(globals())   # records which names the parameters cell defines

# %% tags=["parameters"]
profile = "default"   # smoke | default | thesis (see waelib.course.profiles)
models = ["wae_gan", "wae_mmd", "wae_resnet"]
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

from waelib import expost, losses, registry
from waelib.course import degradation, experiment, figures, plots
from waelib.registry import build_model

figures.use_style()
data = experiment.prepare(params)   # seed everything, report the device, load the train and held-out images

# %%
fig = plots.show_real_images(data.test, n=16, title=f"real held-out {data.name} images")
plt.show()

# %% [markdown]
# ## 1. Residual blocks (thesis §3.2)
#
# A residual block learns a *correction* $F(X)$ to its input instead of a whole mapping:
#
# $$H(X) = F(X) + X \quad\text{(identity block, §3.2.1)},\qquad H(X) = F(X) + W_s X \quad\text{(conv block, §3.2.2)},$$
#
# where $F$ is 1×1 → 3×3 → 1×1 convolutions with BatchNorm and ReLU, and $W_s$ a strided 1×1 convolution that
# matches the shape of $F(X)$ when the block changes the number of channels or the resolution. If the best
# thing a block can do is nothing, it only has to drive $F$ to zero — for instance by zeroing the scale of its
# last BatchNorm — and it becomes the identity. A plain stack of layers would have to *learn* the identity.

# %%
from waelib.blocks import ConvBlock, IdentityBlock, resnet_spatial_sizes

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

# %% [markdown]
# ### Why the skip connections help
#
# Back-propagation multiplies one Jacobian per layer. In a deep *plain* network these products can shrink or
# grow geometrically with depth, so the first layers receive gradients of a very different size than the last
# ones. In a residual network the gradient also flows through the identity paths, which add, rather than
# multiply, the blocks' contributions. Below: the gradient norm of every convolution of He et al.'s CIFAR
# networks (the ones of notebook 02b, thesis Figure 2.1) at initialisation, plain vs. residual, at depths 20
# and 56, on one batch of digits.

# %%
xd, yd, _, _ = degradation.load_digits_split(seed=params.seed)
fig, ax = plt.subplots(figsize=(7.5, 3.4))
ratios = {}
for depth, ls in ((20, ":"), (56, "-")):
    for residual, color in ((False, "C3"), (True, "C0")):
        torch.manual_seed(params.seed)
        norms = degradation.layer_gradient_norms(degradation.CifarResNet(depth, residual=residual), xd[:128], yd[:128])
        ratios[(depth, residual)] = norms[0] / norms[-1]
        ax.semilogy(range(1, len(norms) + 1), norms, ls=ls, color=color,
                    label=f"{'residual' if residual else 'plain'}-{depth}")
ax.set_xlabel("convolution (input -> output)"); ax.set_ylabel("gradient norm at init"); ax.legend()
fig.tight_layout(); plt.show()
for (depth, residual), r in ratios.items():
    print(f"{'residual' if residual else 'plain':>8}-{depth}: first/last layer gradient ratio {r:10.3g}")
assert ratios[(56, False)] > 10 * ratios[(56, True)]

# %% [markdown]
# ## 2. The three models
#
# | model | encoder | decoder | penalty on $Q_Z$ | latent |
# |---|---|---|---|---|
# | WAE (`wae_gan`) | 5 × conv 5×5 stride 2 [128…2048], BN, ReLU → dense 64 | dense → 4×4×2048 → 5 × transposed conv 5×5 | GAN: a 4×512 MLP discriminator on $z$ | 64 |
# | WAE-MMD (`wae_mmd`) | as WAE | as WAE | MMD with an inverse multiquadric kernel | 64 |
# | WAE-ResNet (`wae_resnet`) | the ResNet encoder of §3.2 (49 convolutions) | as WAE | GAN, as WAE | 64 |
#
# All use the prior $P_Z=\mathcal N(0,\sigma_z^2 I)$ with $\sigma_z = 1.414$, i.e. $\sigma_z^2=2$, a deterministic
# encoder, and the cost $c(x,y)=\|x-y\|^2$.

# %%
print(f"millions of parameters at the thesis' size (128 px, width 1) and in this run ({data.image_size} px, width {params.width}):")
print(experiment.markdown_rows(experiment.parameter_rows(params.models, image_size=data.image_size, width=params.width,
                                                         latent_dim=params.latent_dim)))

# %% [markdown]
# ## 3. The objectives, as code
#
# The WAE minimises $\;\mathbb E\,c(x, G(Q(x))) + \lambda\,\mathcal D_Z(Q_Z, P_Z)$ (notebook 02). `waelib.losses`
# writes each penalty once, and the training loop only calls these functions:
#
# - **GAN (thesis Algorithm 2).** A discriminator $D$ tells prior samples $z\sim P_Z$ from codes
#   $\tilde z = Q(x)$. It ascends $\frac\lambda n\sum_i\log D(z_i)+\log(1-D(\tilde z_i))$
#   (`discriminator_loss`, the negative of it); then the encoder and decoder descend
#   $\frac1n\sum_i c(x_i, G(\tilde z_i)) - \lambda\log D(\tilde z_i)$ (`wae_gan_loss`): one step each per batch.
# - **MMD.** $\mathrm{MMD}^2_k(Q_Z,P_Z)$ with $k(x,y)=\sum_s C_s/(C_s+\|x-y\|^2)$, $C_s = s\cdot 2 d\sigma_z^2$,
#   estimated without bias (`mmd`, `wae_mmd_loss`).
#
# As in the official WAE code, the cost is scaled by 0.05 and $\lambda=1$ (GAN) or $100$ (MMD); the thesis
# does not give $\lambda$ (row 7 of `docs/deviations.md`). A quick check on an untrained encoder: its codes are
# far from the prior, and the MMD says so.

# %%
torch.manual_seed(params.seed)
model = build_model("wae_mmd", image_size=data.image_size, width=params.width, latent_dim=params.latent_dim).eval()
with torch.no_grad():
    z_q = model.encode(data.test[:256].float() / 255)
z_p = model.sample_prior(256)
z_p2 = model.sample_prior(256)
print(f"MMD(untrained codes, prior) = {losses.mmd(z_q, z_p).item():.4f}   MMD(prior, prior) = {losses.mmd(z_p2, z_p).item():.4f}")
assert losses.mmd(z_q, z_p) > 10 * abs(losses.mmd(z_p2, z_p))
logits = torch.tensor([2.0, -1.0])
print("discriminator loss on logits (prior 2, codes -1):", round(losses.discriminator_loss(logits[:1], logits[1:]).item(), 4),
      "| encoder's adversarial loss:", round(losses.encoder_adversarial_loss(logits[1:]).item(), 4))

# %% [markdown]
# ## 4. Training and evaluation
#
# One loop (`waelib.train.fit`) trains all three: for the GAN models two Adam optimisers (auto-encoder
# $3\cdot10^{-4}$, discriminator $10^{-3}$, $\beta_1=0.5$), for WAE-MMD one ($10^{-3}$). Each trained model is
# then evaluated like in the thesis' chapter 4: **random samples** (decoded prior draws) and
# **reconstructions** of held-out images, scored with a Fréchet distance to held-out real images and with the
# thesis' sharpness. Without the Inception weights (no internet here) the Fréchet distance uses a small
# attribute classifier trained on the data set: a *Fréchet classifier distance* (FCD), comparable between our
# models but not with Inception FIDs.

# %%
results = experiment.train_and_evaluate(data, params)   # train (or resume), evaluate, and evaluate an untrained copy

# %%
fig = plots.training_curves(results.histories, ["recon", "penalty", "disc_loss"])
figures.save_figure(fig, "nb04_wae_training_curves", params.figures_dir)
plt.show()

# %% [markdown]
# The reconstruction cost falls for all three models. The GAN penalty $-\log D(\tilde z)$ hovers around
# $\log 2\approx0.69$ when the discriminator cannot tell codes from prior samples, and the MMD penalty falls
# towards 0 as $Q_Z$ approaches $P_Z$.
#
# ## 5. Samples and reconstructions

# %%
fig = plots.samples_and_reconstructions(results.models, data.eval_images, n_samples=32, n_originals=16, seed=params.seed)
figures.save_figure(fig, "nb04_wae_samples", params.figures_dir)
plt.show()

# %%
rows = experiment.baseline_rows(results)
print(experiment.markdown_rows(rows))
print(experiment.check_beats_baseline(rows, max_ratio=0.7, enforce=params.profile != "smoke"))  # smoke: 2 steps, nothing to assert

# %% [markdown]
# ## 6. Did the penalty match $Q_Z$ to the prior?
#
# The WAE never asks an individual code to be random; it asks the *cloud* of codes $Q_Z$ to look like
# $\mathcal N(0, 2I)$. Under the prior, $\|z\|^2/\sigma_z^2$ follows a $\chi^2_{64}$ distribution, so the norms of
# the codes should concentrate around $\sigma_z\sqrt{64}\approx 11.3$.

# %%
prior = results.runs[params.models[0]].model.sample_prior(2048, torch.Generator().manual_seed(params.seed)).cpu()
codes, labels = {}, {}
for name, model in results.models.items():
    codes[name] = expost.latent_codes(model, data.eval_images)             # (N, 64) codes Q(x) of held-out images
    mmd = losses.mmd(codes[name][:512], model.sample_prior(512, torch.Generator().manual_seed(1)).cpu()).item()
    labels[name] = f"{registry.THESIS_MODEL_LABELS[name]} (MMD {mmd:.3f})"
fig = plots.latent_norm_histogram(codes, prior, labels=labels, prior_label="prior N(0, 2I)")
plt.show()

# %% [markdown]
# ## Summary
#
# - A residual block is the identity when its residual branch is switched off, and skip connections keep the
#   gradients of a deep network balanced — the reason the thesis uses a ResNet encoder.
# - WAE, WAE-MMD and WAE-ResNet are built by name, trained by one loop with the objectives of `waelib.losses`,
#   and evaluated with the thesis' protocol; every number printed here is saved beside its run.
# - **05_thesis_results.ipynb** collects these runs (and the VAEs of notebook 03) into the thesis' Tables
#   4.3–4.5 and Figures 4.1–4.3, each beside the thesis' own numbers.
