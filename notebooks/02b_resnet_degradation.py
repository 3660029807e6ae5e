# %% [markdown]
# # 02b · The building blocks: activations, residual blocks, and why skip connections help
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/wae-resnet/wae-resnet/blob/main/notebooks/02b_resnet_degradation.ipynb)
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
# 2. why a stack of ReLU layers shrinks its signal layer after layer unless the weights are scaled
#    by **He's initialisation** ($\operatorname{Var}(w) = 2/\text{fan-in}$), with a numeric check of the
#    closed form;
# 3. the **degradation problem**: a deeper *plain* network can have a higher *training* error than a
#    shallower one — and how residual blocks $H(X) = F(X) + X$ remove it. We reproduce the thesis'
#    Figure 2.1 at CPU scale;
# 4. the identity block, the convolutional block and the ResNet encoder of the thesis, drawn
#    **from the live modules** of `waelib.blocks`, so the figures cannot drift from the code.

# %% [markdown]
# ## Setup
#
# **Prerequisites:** Python ≥ 3.10, and the idea of a convolutional network trained by stochastic gradient
# descent. This notebook does not need notebooks 01 and 02; notebooks 03 and 04 use the blocks it explains.
#
# The first cell installs the course's library `waelib` when it is missing (on Colab, or in a fresh
# environment), then prints what this notebook needs and its measured run times. `profile="smoke"` runs
# in seconds (it is what the tests run), `default` is the CPU course profile, and `thesis` runs the
# degradation experiment for more iterations and is meant for a GPU.

# %% tags=["setup"]
# %matplotlib inline
import importlib.util
import os

if importlib.util.find_spec("waelib") is None:   # Colab or a fresh environment: install the course's library
    get_ipython().run_line_magic("pip", "install --quiet " + os.environ.get("WAELIB_SOURCE", "git+https://github.com/wae-resnet/wae-resnet"))  # noqa: F821
from waelib.course import profiles

_guard = profiles.setup(globals(), "02b_resnet_degradation")   # prints what this notebook needs and its measured run times; checks the parameters cell's names

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
figures_dir = None      # where figures are written (None: the profile's folder)
out_dir = None          # where the error curves are written (a JSON file)

# %%
params = profiles.notebook_params(globals(), _guard, table=profiles.DEGRADATION_PROFILES)

# %%
import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from waelib import blocks, config
from waelib.course import degradation, diagrams, figures, show
from waelib.course.exercises import ch02b
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
# saturating sigmoid does) and zeroes the rest. In the residual blocks of the encoder (section 5) a ReLU
# follows the first two BatchNorms of the residual branch $F$ and the addition; the last BatchNorm of $F$
# and the BatchNorm of the shortcut feed the addition directly, without a ReLU, so that $F(X)$ can be
# negative and a block can lower its input as well as raise it.

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
# The constants are the solution of a fixed-point condition (Klambauer et al., 2017): for $x\sim\mathcal N(0,1)$,
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
# The right panel shows the other side of the story: with the same weights, the **ReLU** stack's
# variance collapses towards 0. The next section explains why, and what fixes it.
#
# ## 3. Why the ReLU signal collapses: He initialisation
#
# Take a stack of dense layers $y_l = W_l h_{l-1}$, $h_l = \mathrm{ReLU}(y_l)$, $h_0 = x \sim \mathcal N(0, I_n)$,
# whose weights are independent with mean 0 and variance $v = c/n$ ($n$ = fan-in). For one unit,
#
# $$q_l := \mathbb E[y_{l,i}^2] = \sum_{j=1}^n \mathbb E[w_{ij}^2]\,\mathbb E[h_{l-1,j}^2] = c\,\mathbb E[h_{l-1,j}^2].$$
#
# Because the weights are symmetric about 0, so is $y_{l-1}$, and a ReLU keeps exactly half of the second
# moment of a symmetric input: $\mathbb E[\mathrm{ReLU}(y)^2] = \mathbb E[y^2\,\mathbb 1[y>0]] = \tfrac12\mathbb E[y^2]$.
# Hence $q_1 = c$ and
#
# $$q_l = \frac{c}{2}\,q_{l-1}\quad\Longrightarrow\quad q_L = 2\left(\frac{c}{2}\right)^{L}.$$
#
# - $c = 1$ (weights $\mathcal N(0, 1/n)$, LeCun's scaling and the one used above): the second moment **halves
#   at every layer**, $q_{32} = 2^{-31}$ — the collapse of the ReLU curve. SELU does not collapse because its
#   constants make the fixed point $\mathbb E[\mathrm{SELU}(x)^2] = 1$ match exactly this $c = 1$.
# - PyTorch's default for `nn.Linear` and `nn.Conv2d` (`kaiming_uniform_(a=√5)`: uniform on
#   $[-1/\sqrt n, 1/\sqrt n]$, variance $1/(3n)$, so $c = 1/3$): a factor **6** smaller at every layer.
# - **He initialisation** (He et al. 2015): $\operatorname{Var}(w) = 2/n$, $c = 2$, makes $c/2 = 1$: the
#   activations keep their second moment through any number of ReLU layers. (The same argument run backwards
#   through $W_l^\top$ gives the gradients' recursion, with the fan-out in place of the fan-in.)
#
# We check the closed form on stacks of 32 layers of width 512 (`waelib.course.exercises.ch02b`), each
# measured value against $2(c/2)^l$.

# %%
depth_he = 32
moments = {name: ch02b.relu_stack_second_moments(name, width=512, depth=depth_he, batch=1024, seed=params.seed)
           for name in ch02b.INITS}
closed_form = {name: torch.tensor([ch02b.relu_second_moment(c, layer) for layer in range(1, depth_he + 1)],
                                  dtype=torch.float64) for name, c in ch02b.INITS.items()}
for name in ch02b.INITS:
    ratio = torch.log2(moments[name] / closed_form[name])
    print(f"{name:>15s} (c = {ch02b.INITS[name]:.3g}): E[y^2] after {depth_he} layers measured "
          f"{moments[name][-1]:.3g}, closed form {closed_form[name][-1]:.3g}")
    assert (ratio.abs() < 2).all(), f"{name}: measured and closed form differ by more than a factor 4"

fig, ax = plt.subplots(figsize=(6.4, 3.8))
for (name, q), col in zip(moments.items(), ("C0", "C1", "C2")):
    ax.semilogy(range(1, depth_he + 1), q, color=col, label=f"{name}: measured")
    ax.semilogy(range(1, depth_he + 1), closed_form[name], color=col, ls=":", label=r"$2(c/2)^l$")
ax.set_xlabel("layer $l$"); ax.set_ylabel(r"$\mathbb{E}[y_l^2]$")
ax.set_title("32 dense ReLU layers of width 512: only He's factor keeps the scale")
ax.legend(loc="lower left", ncol=1, fontsize=8)
figures.save_figure(fig, "nb02b_he_init", params.figures_dir)
plt.show()
checks.update(relu_second_moments={name: q[-1].item() for name, q in moments.items()})

# %% [markdown]
# **What this shows.** As we can see, the measured second moments follow the closed form on a log scale
# (the cell asserts every layer's value is within a factor 4 of it; a finite width makes each layer's
# value fluctuate by a few per cent, and these fluctuations multiply along the stack). With $c = 1$ and
# PyTorch's default the signal reaching layer 32 is many orders of magnitude smaller than the input; with He's
# $c = 2$ it keeps its scale.
#
# The thesis' networks (`waelib.blocks`) keep PyTorch's default initialisation, but every convolution in them
# is followed by a BatchNorm (directly, or after its activation), which rescales each channel to unit variance
# over the batch in training mode, so the factor $1/6$ does not compound from layer to layer. The degradation
# experiment below uses He's initialisation (`CifarResNet(init="kaiming")`) **and** BatchNorm, as He et al.
# (2016) did: the forward signal is well scaled there from the start, which is why the degradation problem is
# not this collapse.
#
# ## 4. The degradation problem (thesis Figure 2.1)
#
# Deeper networks can represent everything shallower ones can — add layers that compute the identity.
# Yet He et al. (2016) found that a 56-layer *plain* CNN reaches a **higher training error** than a
# 20-layer one on CIFAR-10 (thesis Figure 2.1). This is not over-fitting (the *training* error is worse)
# but an optimisation difficulty: a stack of nonlinear layers finds it hard to even approximate the
# identity. (The thesis attributes it to vanishing/exploding gradients; He et al. used BatchNorm, which
# keeps the forward signal well scaled, and He's initialisation, and still saw it.)
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

# what the prose below quotes about this run: the deep plain net's training-error curve, summarised
curve_of = {c.label: c for c in curves}
deep_plain = curve_of[f"plain-{deep}"]
late = [e for i, e in zip(deep_plain.iterations, deep_plain.train_error) if i >= params.iterations / 2]
summary_path = atomic_write_json(Path(params.figures_dir) / "nb02b_degradation_summary.json", {
    "source": "notebooks/02b_resnet_degradation.ipynb: this run's Figure 2.1 curves "
              "(waelib.course.degradation.run_degradation)",
    "profile": params.profile, "iterations": params.iterations, "shallow": shallow, "deep": deep,
    "deep_plain": {"label": deep_plain.label, "final_train_error": tr(deep_plain.label),
                   "second_half_min": min(late), "second_half_max": max(late),
                   "largest_step_change": max(abs(b - a) for a, b in zip(deep_plain.train_error,
                                                                         deep_plain.train_error[1:]))},
    "shallow_plain": {"label": f"plain-{shallow}", "final_train_error": tr(f"plain-{shallow}")},
    "deep_resnet": {"label": f"ResNet-{deep}", "final_train_error": tr(f"ResNet-{deep}")},
    "degradation": "visible" if degraded else "not visible",
    "residual": "help" if cured else "do not help"})

# %% [markdown]
# **What the committed run shows.** The committed Figure 2.1 (`figures/fig2_1_degradation.png`, the default
# profile: depths 20 and 56, BatchNorm and He's initialisation as in He et al.) has the shape of the thesis'
# figure. All four networks start at chance (an error of $1 - 1/10$ for ten classes); the 20-layer plain
# network and both residual networks fall close to zero training error early in training, while the
# 56-layer plain network leaves chance later and then **swings widely** from one evaluation to the next
# instead of settling. The committed final errors (each the mean of the last three evaluations):

# %%
committed = "figures/fig2_1_degradation_errors.json"
show.say("In the committed run ({iters} iterations), plain-56's training error ends at **{p56}** (test error "
         "{p56t}), against {p20} for plain-20, {r20} for ResNet-20 and {r56} for ResNet-56: the deeper plain "
         "network is much *worse on its own training data*, and the residual network of the same depth and "
         "parameter count is not.",
         iters=show.quote(committed, "meta.iterations"),
         p56=show.quote(committed, "rows[network=plain-56].train_error", "{:.0%}"),
         p56t=show.quote(committed, "rows[network=plain-56].test_error", "{:.0%}"),
         p20=show.quote(committed, "rows[network=plain-20].train_error", "{:.1%}"),
         r20=show.quote(committed, "rows[network=ResNet-20].train_error", "{:.1%}"),
         r56=show.quote(committed, "rows[network=ResNet-56].train_error", "{:.1%}"))
show.say("**In this run** (profile `{profile}`, {iters} iterations): over the second half of training the "
         "training error of {label} ranged from {lo} to {hi}, and its largest change between two consecutive "
         "evaluations was {jump} (as a fraction of the training set). The degradation is **{verdict}** at this "
         "budget, and residual connections **{cure}** at this depth.",
         profile=show.quote(summary_path, "profile"), iters=show.quote(summary_path, "iterations"),
         label=show.quote(summary_path, "deep_plain.label"),
         lo=show.quote(summary_path, "deep_plain.second_half_min", "{:.0%}"),
         hi=show.quote(summary_path, "deep_plain.second_half_max", "{:.0%}"),
         jump=show.quote(summary_path, "deep_plain.largest_step_change", "{:.0%}"),
         verdict=show.quote(summary_path, "degradation"), cure=show.quote(summary_path, "residual"))

# %% [markdown]
# A swinging training error is what an optimisation difficulty looks like at a fixed learning rate: the
# same SGD settings that train the 20-layer network smoothly make the 56-layer plain one jump between poor
# solutions. With the tiny `smoke` profile (a few iterations) none of this is visible; that profile only
# checks that the code runs. The effect shown is about optimisation at a fixed budget; He et al. (2016)
# report that their plain 56-layer CIFAR-10 network stays worse than the 20-layer one after full training,
# which this CPU-sized run does not test.
#
# ## 5. The residual blocks of the encoder (thesis Figures 3.2 and 3.3)
#
# The encoder uses the *bottleneck* form of the residual block: $F$ is a 1×1 convolution (reduce the
# channels), a 3×3 convolution, and a 1×1 convolution (expand again), each followed by BatchNorm, with a
# ReLU after the first two BatchNorms only (`bn1`, `bn2` in `waelib.blocks`); the third (`bn3`) goes
# straight into the addition:
#
# - **identity block** (§3.2.1): input and output shapes agree, $H(X) = \mathrm{ReLU}\big(F(X) + X\big)$;
# - **convolutional block** (§3.2.2): the shape changes (more channels, stride 2), so the shortcut is a
#   1×1 convolution $W_s$ with the block's stride followed by BatchNorm, and no ReLU:
#   $H(X) = \mathrm{ReLU}\big(F(X) + W_sX\big)$.
#
# The diagrams below are drawn by `waelib.course.diagrams.draw_architecture` from a forward pass through the
# blocks of the *live* encoder (`build_model("wae_resnet").encoder`, stage 3): every label and shape is read
# from the module, and the addition node is verified numerically ($\text{block}(x) = \mathrm{ReLU}(F(x) +
# \text{shortcut}(x))$). We also check that $F(X)$ and the shortcut take negative values (no ReLU at their
# ends), and the thesis' argument that a block can switch itself off: with the last BatchNorm of $F$ set to
# zero, an identity block is exactly the identity on its (non-negative) inputs.

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
with torch.no_grad():
    x_conv = torch.rand(2, *shapes["features.6.0"][0])
    f_min, s_min = conv_block.eval().residual(x_conv).min().item(), conv_block.shortcut(x_conv).min().item()
print(f"smallest value of F(x): {f_min:.3f}, of the shortcut W_s x: {s_min:.3f} (negative: no ReLU before the addition)")
assert f_min < 0 and s_min < 0
assert [r.text for r in d32.boxes[1].rows][0].startswith("Conv 1×1")

# %% [markdown]
# ## 6. The ResNet encoder (thesis Figure 3.1)
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
#   point, which keeps deep dense stacks with weights of variance $1/n$ normalised.
# - A ReLU halves the second moment of a symmetric input, so weights of variance $c/n$ scale it by $c/2$ per
#   layer; He's $c = 2$ keeps it, PyTorch's default ($c = 1/3$) shrinks it sixfold per layer unless a
#   BatchNorm rescales it.
# - Deep *plain* networks can be harder to train than shallow ones (higher training error) even with He's
#   initialisation and BatchNorm; in the committed run the 56-layer plain network ends far above the 20-layer
#   one, and the residual networks of the same depths do not (Figure 2.1).
# - Figures 3.1–3.3 are generated from the same `waelib.blocks` modules that notebook 04 trains, so they
#   always show the network that was actually used.

# %%
atomic_write_json(Path(params.out_dir) / "02b_resnet_degradation.json",
                  {"profile": params.profile, "params": dict(params), "checks": checks,
                   "curves": [c.to_dict() for c in curves]})
print("all checks passed:", ", ".join(checks))

# %% [markdown]
# ## Exercises
#
# Each exercise has a starter cell (fill in `answer`; the check runs once it is not `None`) and a hidden
# solution cell below it. The checks (`waelib.course.exercises.ch02b`) compute the expected value themselves.
#
# **Exercise 1 (the closed form).** Using the recursion of section 3, compute $q_L = \mathbb E[y_L^2]$ after
# $L = 20$ dense ReLU layers for $c = 1$ (LeCun), $c = 1/3$ (PyTorch's default) and $c = 2$ (He), as three
# numbers in that order. Then measure them with `ch02b.relu_stack_second_moments(name, depth=20)` and compare.

# %%
answer = None   # three numbers: q_20 for c = 1, 1/3, 2
if answer is not None:
    print(ch02b.check_relu_moments(answer, depth=20))

# %% jupyter={"source_hidden": true} tags=["solution"]
answer = [2 * (c / 2) ** 20 for c in (1.0, 1.0 / 3.0, 2.0)]
measured = [ch02b.relu_stack_second_moments(name, depth=20, seed=0)[-1].item() for name in ch02b.INITS]
print("closed form:", [f"{q:.3g}" for q in answer], " measured:", [f"{q:.3g}" for q in measured])
ch02b.check_relu_moments(answer, depth=20)

# %% [markdown]
# **Exercise 2 (fixing PyTorch's default).** A freshly built `torch.nn.Linear(n, n)` has weights uniform on
# $[-1/\sqrt n, 1/\sqrt n]$. By what factor must you multiply them to obtain He's variance $2/n$? Check your
# factor numerically on a real layer of width 1024 (its weights' variance times $n$ should then be close to 2).

# %%
answer = None   # one number: the factor on the weights
if answer is not None:
    print(ch02b.check_default_rescale(answer))

# %% jupyter={"source_hidden": true} tags=["solution"]
answer = math.sqrt(2 / (1 / 3))             # Var U(-b, b) = b^2 / 3 = 1 / (3n); He wants 2 / n
layer = torch.nn.Linear(1024, 1024, bias=False)
print(f"variance x n after rescaling: {(answer * layer.weight.detach()).var().item() * 1024:.3f}")
ch02b.check_default_rescale(answer)

# %% [markdown]
# **Exercise 3 (parameters of a bottleneck block).** Count by hand the learned parameters of the identity
# block of the encoder's stage 2 at the thesis' width: 256 input channels, filters $[64, 64, 256]$, a 3×3
# middle convolution, convolutions with biases, a BatchNorm ($\gamma$, $\beta$) after each convolution.
# Compare with `blocks.IdentityBlock(256, (64, 64, 256))`.

# %%
answer = None   # one integer
if answer is not None:
    print(ch02b.check_bottleneck_parameters(answer, 256, (64, 64, 256)))

# %% jupyter={"source_hidden": true} tags=["solution"]
answer = (256 * 64 + 64) + 2 * 64 + (64 * 64 * 9 + 64) + 2 * 64 + (64 * 256 + 256) + 2 * 256
print(answer, "parameters; the live block has", sum(p.numel() for p in blocks.IdentityBlock(256, (64, 64, 256)).parameters()))
ch02b.check_bottleneck_parameters(answer, 256, (64, 64, 256))

# %% [markdown]
# **Exercise 4 (spatial sizes).** Section 6 lists the encoder's spatial sizes at 128 px. Work them out at
# **64 px**: after the zero-padding, the 7×7/2 convolution, the 3×3/1 max-pooling, stages 2–5 (strides 1, 2,
# 2, 2 on a 1×1 convolution) and the 2×2 average pooling — eight integers. How many features reach the dense
# layer at 64 px?

# %%
answer = None   # eight integers
if answer is not None:
    print(ch02b.check_encoder_sizes(answer, image_size=64))

# %% jupyter={"source_hidden": true} tags=["solution"]
side = 64 + 2 * 2
answer = [side]
side = (side - 7) // 2 + 1; answer.append(side)
side = side - 3 + 1; answer.append(side)
for stride in (1, 2, 2, 2):
    side = (side - 1) // stride + 1; answer.append(side)
answer.append(side // 2)
print(answer, "->", answer[-1] ** 2 * 2048, "features at width 1")
ch02b.check_encoder_sizes(answer, image_size=64)

# %% [markdown]
# ## References
#
# - Md Azad Ansari, *Wasserstein Auto-Encoder using Residual Neural Network*, M.Tech thesis, Indian Statistical
#   Institute Kolkata, 2022 (§2.3, §2.6, §3.2).
# - K. He, X. Zhang, S. Ren, J. Sun, *Deep Residual Learning for Image Recognition*, CVPR 2016,
#   [arXiv:1512.03385](https://arxiv.org/abs/1512.03385) — the degradation problem and residual blocks.
# - K. He, X. Zhang, S. Ren, J. Sun, *Delving Deep into Rectifiers: Surpassing Human-Level Performance on
#   ImageNet Classification*, ICCV 2015, [arXiv:1502.01852](https://arxiv.org/abs/1502.01852) — He
#   initialisation.
# - G. Klambauer, T. Unterthiner, A. Mayr, S. Hochreiter, *Self-Normalizing Neural Networks*, NeurIPS 2017,
#   [arXiv:1706.02515](https://arxiv.org/abs/1706.02515) — SELU.
# - S. Ioffe, C. Szegedy, *Batch Normalization: Accelerating Deep Network Training by Reducing Internal
#   Covariate Shift*, ICML 2015, [arXiv:1502.03167](https://arxiv.org/abs/1502.03167).
# - Y. LeCun, L. Bottou, G. Orr, K.-R. Müller, *Efficient BackProp*, in *Neural Networks: Tricks of the
#   Trade*, Springer, 1998 — the $1/\text{fan-in}$ scaling.
