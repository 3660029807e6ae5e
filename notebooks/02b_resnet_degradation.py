# %% [markdown]
# # 02b · The building blocks: activations, residual blocks, and why skip connections help
#
# *Thesis §2.3 (ResNet, Figure 2.1), §2.6 (ReLU and SELU, Figures 2.2–2.3) and §3.2 (the encoder,
# Figures 3.1–3.3).*
#
# The thesis' proposal is to replace the plain convolutional encoder of the WAE by a deep **residual**
# encoder. This notebook looks at the pieces it is built from and at the problem residual connections
# solve.
#
# **What you will learn**
#
# 1. the ReLU and SELU activations (and why SELU's two constants are what they are);
# 2. the **degradation problem**: a deeper *plain* network can have a higher *training* error than a
#    shallower one — and how residual blocks $H(X) = F(X) + X$ remove it. We reproduce the thesis'
#    Figure 2.1 at CPU scale;
# 3. the identity block, the convolutional block and the ResNet encoder of the thesis, drawn
#    **from the live modules** of `waelib.blocks`, so the figures cannot drift from the code.

# %%
# %matplotlib inline
from waelib.course import profiles

_guard = profiles.ParameterGuard(globals())   # records which names the parameters cell defines

# %% tags=["parameters"]
profile = "default"     # smoke | default | thesis (see waelib.course.profiles)
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

# %%
params = profiles.notebook_params(globals(), _guard, table=profiles.DEGRADATION_PROFILES)

# %%
import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from waelib import blocks, config
from waelib.course import degradation, diagrams, figures
from waelib.registry import build_model
from waelib.utils import atomic_write_json, resolve_device, seed_everything

figures.use_style()
seed_everything(params.seed)
torch.set_num_threads(1)   # these networks are tiny: one thread is faster than several (no sync overhead)
checks = {}

# %% [markdown]
# ## 1. ReLU (thesis Figure 2.2)
#
# $$\mathrm{ReLU}(x) = \max(0, x),\qquad \mathrm{ReLU}'(x) = \mathbb 1[x>0].$$
#
# It passes positive inputs unchanged (gradient exactly 1, so it does not shrink gradients the way a
# saturating sigmoid does) and zeroes the rest. The residual blocks of the encoder use it after every
# BatchNorm and after the addition.

# %%
xg = torch.linspace(-4, 4, 801, dtype=torch.float64, requires_grad=True)
relu = torch.relu(xg)
(d_relu,) = torch.autograd.grad(relu.sum(), xg)
assert torch.equal(relu, torch.clamp(xg, min=0)) and torch.equal(d_relu, (xg > 0).double())

fig, ax = plt.subplots(figsize=(5.2, 3.6))
ax.plot(xg.detach(), relu.detach(), color="C0", label=r"ReLU$(x)=\max(0,x)$")
ax.plot(xg.detach(), d_relu, color="C0", ls=":", label="derivative")
ax.axhline(0, color="k", lw=0.6); ax.axvline(0, color="k", lw=0.6)
ax.set_xlabel("$x$"); ax.set_title("Figure 2.2: ReLU activation function"); ax.legend(loc="upper left")
figures.save_figure(fig, "fig2_2_relu", params.figures_dir)
plt.show()

# %% [markdown]
# ## 2. SELU (thesis Figure 2.3)
#
# $$\mathrm{SELU}(x) = \lambda\begin{cases} x & x > 0\\ \alpha e^{x} - \alpha & x\le 0\end{cases},\qquad
# \alpha \approx 1.6732632423543772,\ \lambda\approx 1.0507009873554805 .$$
#
# (The first text extraction of the thesis lost the case $x>0$; the second has it.) The constants are the
# solution of a fixed-point condition (Klambauer et al., 2017): for $x\sim\mathcal N(0,1)$,
# $\mathbb{E}[\mathrm{SELU}(x)] = 0$ and $\mathbb{E}[\mathrm{SELU}(x)^2] = 1$. So a deep stack of dense layers
# with weights of variance $1/\text{fan-in}$ keeps its activations at mean 0 and variance 1 — it is
# **self-normalising**. The thesis' VAE uses SELU in its dense layers. We check the constants against
# `torch.nn.SELU`, the fixed point by quadrature, and the self-normalisation through 32 layers.

# %%
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
g = torch.Generator().manual_seed(params.seed)
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
ax.axhline(-LAMBDA * ALPHA, color="C3", ls=":", lw=1, label=r"$-\lambda\alpha \approx -1.758$")
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
figures.save_figure(fig, "fig2_3_selu", params.figures_dir)
plt.show()
checks.update(selu_mean=m1, selu_second_moment=m2)

# %% [markdown]
# ## 3. The degradation problem (thesis Figure 2.1)
#
# Deeper networks can represent everything shallower ones can — add layers that compute the identity.
# Yet He et al. (2016) found that a 56-layer *plain* CNN reaches a **higher training error** than a
# 20-layer one on CIFAR-10 (thesis Figure 2.1). This is not over-fitting (the *training* error is worse)
# but an optimisation difficulty: a stack of nonlinear layers finds it hard to even approximate the
# identity. (The thesis attributes it to vanishing/exploding gradients; He et al. used BatchNorm, which
# keeps the forward signal well scaled, and still saw it.)
#
# A residual block learns the *difference* from the identity instead:
#
# $$H(X) = F(X) + X,$$
#
# so an unneeded block only has to drive $F$ to 0 (thesis §3.2). We reproduce the experiment at CPU
# scale: He et al.'s CIFAR networks of depth $6n+2$ (`waelib.course.degradation.CifarResNet`: a 3×3 stem, three
# stages of $n$ blocks of two 3×3 convolutions, global pooling, a linear classifier), *plain* and
# *residual* with exactly the same layers and parameter count, on scikit-learn's handwritten digits
# (1,797 8×8 images — embedded, no download), trained with SGD + momentum with identical mini-batches.
# The profile sets the depths, iterations and learning rate.

# %%
data = degradation.load_digits_split(seed=0)
print(f"digits: {len(data[0])} train / {len(data[2])} test images of shape {tuple(data[0].shape[1:])}")
device = str(resolve_device(params.device))
curves = degradation.run_degradation(params.depths, base_width=params.base_width, batch_norm=params.batch_norm,
                                     iterations=params.iterations, batch_size=params.batch_size, lr=params.lr,
                                     eval_every=params.eval_every, seed=params.seed, device=device, data=data)
for c in curves:
    print(f"{c.label:>10s}: {c.n_params:7,d} parameters, {c.seconds:5.1f} s, "
          f"final train error {c.train_error[-1]:.1%}, test error {c.test_error[-1]:.1%}")
plain = [c for c in curves if not c.residual]
assert plain[0].n_params == [c for c in curves if c.residual][0].n_params, "plain and residual must match"

# %%
shallow, deep = min(params.depths), max(params.depths)
fig = degradation.plot_degradation(
    curves, title=f"Figure 2.1 (reproduced small): plain vs residual CNNs of depth {shallow} and {deep} "
                  f"on digits, {params.iterations} SGD iterations")
figures.save_figure(fig, "fig2_1_degradation", params.figures_dir)
plt.show()

err = degradation.final_errors(curves)
rows = [dict(network=k, train_error=v[0], test_error=v[1]) for k, v in err.items()]
figures.save_table(rows, "fig2_1_degradation_errors", params.figures_dir,
                   caption="Final errors (mean of the last 3 evaluations) of the Figure 2.1 run.",
                   meta={k: params[k] for k in ("seed", "depths", "iterations", "batch_size", "lr",
                                          "batch_norm", "base_width", "profile")},
                   provenance=params.profile != "smoke")
tr = lambda name: err[name][0]
degraded = tr(f"plain-{deep}") > tr(f"plain-{shallow}") + 0.05
cured = tr(f"ResNet-{deep}") < tr(f"plain-{deep}") - 0.05
print(f"plain-{deep} vs plain-{shallow} training error: {tr(f'plain-{deep}'):.1%} vs {tr(f'plain-{shallow}'):.1%}"
      f" -> degradation {'VISIBLE' if degraded else 'NOT visible'} at this budget")
print(f"ResNet-{deep} vs plain-{deep} training error: {tr(f'ResNet-{deep}'):.1%} vs {tr(f'plain-{deep}'):.1%}"
      f" -> residual connections {'remove it' if cured else 'do NOT help here'}")
checks.update(final_errors=err, degradation_visible=degraded, residual_cures=cured)

# %% [markdown]
# **What to look for.** With the default profile (depths 20 and 56, 300 iterations, BatchNorm as in He et
# al.) the deep plain network's *training* error stays far above the shallow one's — both solid curves
# start at chance (90 %), but the 56-layer one barely moves — while the 56-layer **residual** network
# (dashed) trains as fast as the 20-layer ones: exactly the shape of the thesis' Figure 2.1, and its
# cure. The cell above prints whether the effect is visible in *this* run, so the text never claims more
# than the numbers show: with the tiny `smoke` profile (a few iterations) it is usually not. The effect
# is about optimisation speed at a fixed budget; He et al. report that the plain 56-layer net stays worse
# even after convergence. The numbers are saved in `fig2_1_degradation_errors.csv`.
#
# ## 4. The residual blocks of the encoder (thesis Figures 3.2 and 3.3)
#
# The encoder uses the *bottleneck* form of the residual block: $F$ is a 1×1 convolution (reduce the
# channels), a 3×3 convolution, and a 1×1 convolution (expand again), each followed by BatchNorm, with
# ReLU in between:
#
# - **identity block** (§3.2.1): input and output shapes agree, $H(X) = \mathrm{ReLU}\big(F(X) + X\big)$;
# - **convolutional block** (§3.2.2): the shape changes (more channels, stride 2), so the shortcut is a
#   1×1 convolution $W_s$ with the block's stride (and BatchNorm): $H(X) = \mathrm{ReLU}\big(F(X) + W_sX\big)$.
#
# The diagrams below are drawn by `waelib.course.diagrams.draw_architecture` from a forward pass through the
# blocks of the *live* encoder (`build_model("wae_resnet").encoder`, stage 3): every label and shape is read
# from the module, and the addition node is verified numerically ($\text{block}(x) = \mathrm{ReLU}(F(x) +
# \text{shortcut}(x))$). We also check the thesis' argument that a block can switch itself off: with the
# last BatchNorm of $F$ set to zero, an identity block is exactly the identity on its (non-negative) inputs.

# %%
model = build_model("wae_resnet", image_size=params.arch_image_size, width=params.arch_width)
encoder = model.encoder
in_shape = (config.IMAGE_CHANNELS, params.arch_image_size, params.arch_image_size)
shapes = diagrams.trace_shapes(encoder, in_shape)
stage3 = encoder.features[6]                       # ZeroPad, Conv, BN, ReLU, MaxPool, stage 2, stage 3, ...
conv_block, id_block = stage3[0], stage3[1]
tag = f"{params.arch_image_size} px, width {params.arch_width:g}"
d33 = diagrams.draw_architecture(conv_block, shapes["features.6.0"][0], "fig3_3_conv_block", params.figures_dir,
                                 title=f"Figure 3.3: convolutional block (encoder stage 3, {tag})")
d32 = diagrams.draw_architecture(id_block, shapes["features.6.1"][0], "fig3_2_identity_block", params.figures_dir,
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

# %% [markdown]
# ## 5. The ResNet encoder (thesis Figure 3.1)
#
# Zero-padding 2, a 7×7/2 convolution with 64 filters, BatchNorm, ReLU and 3×3 max-pooling (stage 1), then
# four stages, each one convolutional block followed by 2, 3, 3 and 3 identity blocks, then 2×2
# average-pooling, flatten, and a dense layer to the 64-dimensional code. At 128 px the spatial sizes are
# 132 → 63 → 61 → 61 → 31 → 16 → 8 → 4, so $4\cdot4\cdot2048 = 32768$ features reach the dense layer. The
# diagram is again drawn from the live module, and we check it against the thesis' numbers in
# `waelib.config`.

# %%
d31 = diagrams.draw_architecture(encoder, in_shape, "fig3_1_encoder", params.figures_dir,
                                 title=f"Figure 3.1: the ResNet encoder of WAE-ResNet ({tag})")
plt.show()

stage_boxes = [b for b in d31.boxes if b.title.startswith("Stage") and any("Block" in r.label for r in b.rows)]
n_identity = [sum(r.count for r in b.rows if r.label.startswith("IdentityBlock")) for b in stage_boxes]
strides = [int(b.rows[0].label.rsplit("stride ", 1)[1]) for b in stage_boxes]
print("identity blocks per stage:", n_identity, " conv-block strides:", strides)
assert tuple(n_identity) == config.RESNET_IDENTITY_BLOCKS and tuple(strides) == config.RESNET_STAGE_STRIDES
sizes = blocks.resnet_spatial_sizes(params.arch_image_size)
traced = [shapes["features.0"][1][-1], shapes["features.1"][1][-1], shapes["features.4"][1][-1]] + \
         [shapes[f"features.{i}"][1][-1] for i in (5, 6, 7, 8)] + [shapes["features.9"][1][-1]]
print("spatial sizes (traced):", traced, " expected:", list(sizes))
assert tuple(traced) == sizes
assert shapes["features"][1][0] == encoder.n_features and shapes["dense"][1] == (model.latent_dim,)
checks.update(identity_blocks=n_identity, spatial_sizes=traced, n_features=encoder.n_features)

# %% [markdown]
# ## Summary
#
# - ReLU and SELU are checked against their definitions; SELU's constants make $\mathcal N(0,1)$ a fixed
#   point, which keeps deep dense stacks normalised.
# - Deep *plain* networks can be harder to train than shallow ones (higher training error); residual
#   connections, which make the identity the default, remove the effect (Figure 2.1, run above).
# - Figures 3.1–3.3 are generated from the same `waelib.blocks` modules that notebook 04 trains, so they
#   always show the network that was actually used.

# %%
atomic_write_json(Path(params.out_dir) / "02b_resnet_degradation.json",
                  {"profile": params.profile, "params": dict(params), "checks": checks,
                   "curves": [c.to_dict() for c in curves]})
print("all checks passed:", ", ".join(checks))
