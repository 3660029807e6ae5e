# %% [markdown]
# # 05 · The thesis' results, regenerated
#
# *Thesis chapter 4: Tables 4.1–4.5 and Figures 4.1–4.3.*
#
# This notebook trains nothing. It reads the runs that notebooks 03 and 04 saved under `<out_dir>/<model>`
# (with the **same profile**), evaluates nothing it has not already measured, and writes every table and
# figure of chapter 4 into `figures/` — each table as CSV, Markdown and a JSON file recording which runs,
# configuration, hardware, date and commit produced it, with the thesis' own numbers in a column beside
# ours.
#
# **Read the numbers with their context.** With the default profile our models are small (width 0.125) and
# trained for minutes at 32×32 on the synthetic `synthfaces` data, and the Fréchet distance uses an offline
# attribute classifier (FCD) rather than Inception. The thesis trained full-size models for 100 epochs on
# CelebA at 128×128. The *ranking* of the models is the comparable quantity, not the values; the thesis
# profile on a GPU is what reproduces the thesis' setting.

# %%
# %matplotlib inline
from waelib.course import profiles

_guard = profiles.ParameterGuard(globals())   # records which names the parameters cell defines

# %% tags=["parameters"]
profile = "default"   # smoke | default | thesis (see waelib.course.profiles)
models = ["vae", "vae_resnet", "wae_gan", "wae_mmd", "wae_resnet"]   # waelib.registry.THESIS_MODEL_NAMES
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

# %%
params = profiles.notebook_params(globals(), _guard, table=profiles.PROFILES)

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torchvision.transforms.functional import gaussian_blur

from waelib import config, evaluate, metrics, registry
from waelib.course import experiment, figures
from waelib.studies import claims_render
from waelib.utils import atomic_write_json, atomic_write_text, display_path, run_metadata

figures.use_style()
found = experiment.collect_evaluations(params, params.models)
missing = experiment.missing_runs(params, params.models)
for m, nb in missing.items():
    print(f"missing: {registry.THESIS_MODEL_LABELS[m]} has no evaluated run in {experiment.run_dir(params, m)}; "
          f"produce it with `papermill {nb} out.ipynb -p profile {params.profile}` (or `make figures`).")
if not found:
    raise FileNotFoundError(f"no evaluated runs under {params.out_dir}: run notebooks/03_vae.ipynb and "
                            f"notebooks/04_wae_resnet.ipynb with profile {params.profile!r} first (or `make figures`).")
models = [m for m in params.models if m in found]
evals = {m: found[m]["result"] for m in models}
# The runs' own records (training config.json + eval.json: configuration, seed, hardware, versions,
# commit, date) are copied beside the tables, because the run folders themselves are not in git.
records_path = Path(params.figures_dir) / "runs.json"
atomic_write_json(records_path, experiment.run_records(params, models))
run_links = {registry.THESIS_MODEL_LABELS[m]: f"{display_path(experiment.run_dir(params, m))} (record: {display_path(records_path)}#{m})"
             for m in models}
print("runs:", json.dumps(run_links, indent=1))

# %% [markdown]
# ## Table 4.1 — hardware
#
# The thesis trained on a Tesla P100 with 16 GB. Each of our runs records the machine it ran on in its
# `config.json` and `eval.json`.

# %%
rows = []
for m in models:
    meta = found[m]["metadata"]
    rows.append({"model": registry.THESIS_MODEL_LABELS[m], "thesis": "Tesla P100 16 GB", "ours": experiment.machine_name(meta),
                 "torch": meta["versions"]["torch"], "date (UTC)": meta["date_utc"], "commit": meta["git_commit"]})
figures.save_table(rows, "table4_1_hardware", params.figures_dir, caption="Table 4.1: hardware of each run",
                   meta={"runs": run_links, "profile": params.profile})
print(experiment.markdown_rows(rows))

# %% [markdown]
# ## Table 4.2 — the data set
#
# The thesis splits CelebA's 202,599 images at random into 162,079 training and 40,520 test images (not the
# official partition). `waelib.data.thesis_split` reproduces that split (seeded); the embedded `synthfaces`
# data set has 202,599 images by default so that the split applies verbatim, and smaller profiles use the same
# 80/20 proportions.

# %%
data = experiment.load_data(params)
cfg = found[models[0]]["config"]
rows = [{"quantity": "data set", "thesis": "CelebA (aligned & cropped)", "ours": data.name},
        {"quantity": "images", "thesis": config.CELEBA_N_IMAGES, "ours": len(data.train) + len(data.test)},
        {"quantity": "train", "thesis": config.CELEBA_N_TRAIN, "ours": len(data.train)},
        {"quantity": "test", "thesis": config.CELEBA_N_TEST, "ours": len(data.test)},
        {"quantity": "FID reference (first half of test)", "thesis": "not stated", "ours": len(data.reference_images)},
        {"quantity": "image size", "thesis": "128 x 128", "ours": f"{data.image_size} x {data.image_size}"}]
figures.save_table(rows, "table4_2_dataset", params.figures_dir, caption="Table 4.2: data set and split",
                   meta={"runs": run_links, "profile": params.profile, "params": dict(params)})
print(experiment.markdown_rows(rows))

# %% [markdown]
# ## Tables 4.3–4.5 — sharpness and Fréchet distances
#
# - **Table 4.3**: sharpness of the interpolated images (the real endpoints excluded).
# - **Table 4.4**: Fréchet distance and sharpness of random samples.
# - **Table 4.5**: Fréchet distance and sharpness of reconstructed held-out images, plus their RMSE (seed 003).
#
# Sharpness follows the thesis' definition (§2.5) on a 0–255 pixel scale; a sharper image has a larger value,
# and the "real test images" row shows the value of the data itself. The variance-of-Laplacian sharpness of the
# official WAE code (`our_laplacian`) stands beside it, for the reason the next section shows. Table 4.3 averages
# each interpolation pair's interior images and gives the standard error over pairs (`sharpness_se`).
#
# Every Fréchet distance in a table — samples, reconstructions and the real row — is measured on the same
# number of images `n_fid`: the estimator is biased upward by an amount that shrinks with n, so rows at
# different n would compare sample sizes, not models. At equal n the real row is the floor. MS-SSIM diversity (seed 003) is the mean
# MS-SSIM of random pairs of samples: lower is more diverse. The WAE-MMD row has no thesis number: the thesis
# did not train it.

# %%
extractor = experiment.feature_extractor(params)
reference = experiment.reference_stats(data, extractor)
n_fid = experiment.fid_sample_count(params, data)      # ONE n for every Fréchet distance, the real row included
real = evaluate.evaluate_real(data.eval_images, extractor=extractor, reference=reference, n=n_fid, seed=params.seed)
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
         f"Profile '{params.profile}': {data.name}, {data.image_size} px, width {params.width}; runs: {run_links}."]
tables = {}
for table in evaluate.TABLES:
    rows = evaluate.results_table(table, evals, models=models, real=real)
    tables[table] = rows
    figures.save_table(rows, table, params.figures_dir, caption=captions[table], notes=notes,
                       meta={"runs": run_links, "profile": params.profile, "params": dict(params),
                             "extractor": fid["extractor"], "reference": fid["reference"]})
    print(captions[table])
    print(experiment.markdown_rows(rows), "\n")

# %% [markdown]
# ## What "sharper" means in Tables 4.3–4.5
#
# The thesis' sharpness (§2.5) is the mean gradient magnitude of the grey image,
# $S(x)=\frac{1}{HW}\sum_{i,j}\lVert\nabla x_{ij}\rVert$ — a **total variation**. Two consequences:
#
# 1. Along one row, a monotone edge from $a$ to $b$ contributes $\sum_j |x_{j+1}-x_j| = |b-a|$ however
#    gradually it rises: **blurring a monotone edge does not change $S$.**
# 2. Noise adds gradient everywhere: **pixel noise raises $S$**, so a noisy blurred image can score as
#    "sharper" than the clean original.
#
# The variance of the Laplacian (the official WAE code's measure) falls with blur. Both checks on the
# live metrics:

# %%
edge = torch.full((1, 3, 64, 64), 0.2)
edge[..., 32:] = 0.8                                               # a vertical step edge, flat at the borders
soft = gaussian_blur(edge, [13, 1], [2.0, 1e-6])                   # blurred across the edge
faces = data.eval_images[:16].float() / 255
blurred = gaussian_blur(faces, [5, 5], [1.5, 1.5])
noisy = (blurred + 5 / 255 * torch.randn(blurred.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
demo = {"step edge": edge, "blurred edge": soft, "faces": faces, "blurred faces": blurred,
        "blurred faces + N(0, 5/255) noise": noisy}
rows = [{"images": k, "thesis sharpness": metrics.sharpness(v).mean().item(),
         "Laplacian variance": metrics.laplacian_sharpness(v).mean().item()} for k, v in demo.items()]
print(experiment.markdown_rows(rows))
assert abs(rows[1]["thesis sharpness"] / rows[0]["thesis sharpness"] - 1) < 1e-4   # blur: unchanged
assert rows[1]["Laplacian variance"] < rows[0]["Laplacian variance"]               # ... but not for the Laplacian
assert rows[4]["thesis sharpness"] > rows[3]["thesis sharpness"]                   # noise: "sharper"

# %% [markdown]
# ## Figures 4.1–4.3
#
# Each figure is drawn from the trained models of the runs: interpolations between pairs of real held-out
# images (first and last column real, as in the thesis), random samples, and reconstructions.

# %%
trained = {m: experiment.load_trained(params, m) for m in models}
labels = [registry.THESIS_MODEL_LABELS[m] for m in models]
ia, ib = evaluate.interpolation_pairs(len(data.eval_images), 2, seed=params.seed)

fig, axes = plt.subplots(len(models), 1, figsize=(1.1 * params.interp_steps, 2.3 * len(models)), squeeze=False)
for ax, m, label in zip(axes[:, 0], models, labels):
    rows = evaluate.interpolation_rows(trained[m], data.eval_images[ia], data.eval_images[ib], params.interp_steps)
    figures.show_images(ax, rows.flatten(0, 1), nrow=params.interp_steps, title=label)
fig.suptitle("Figure 4.1: interpolations (first and last image of each row are real)")
fig.tight_layout(); figures.save_figure(fig, "fig4_1_interpolations", params.figures_dir); plt.show()

fig, axes = plt.subplots(1, len(models), figsize=(3.3 * len(models), 3.6), squeeze=False)
for ax, m, label in zip(axes[0], models, labels):
    figures.show_images(ax, evaluate.generate(trained[m], 36, seed=params.seed), nrow=6, title=label)
fig.suptitle("Figure 4.2: random samples")
fig.tight_layout(); figures.save_figure(fig, "fig4_2_random_samples", params.figures_dir); plt.show()

originals = data.eval_images[:10]
grid = [originals.float() / 255] + [evaluate.reconstruct(trained[m], originals) for m in models]
fig, ax = plt.subplots(figsize=(11, 0.98 * len(grid) + 0.7))
figures.show_images(ax, torch.cat(grid), nrow=len(originals))
ax.set_yticks([(i + 0.5) * (data.image_size + 2) for i in range(len(grid))], ["original"] + labels)
ax.tick_params(left=False)
fig.suptitle("Figure 4.3: originals and reconstructions")
fig.tight_layout(); figures.save_figure(fig, "fig4_3_reconstructions", params.figures_dir); plt.show()

# %% [markdown]
# ## Where the figures came from
#
# `figures/README.md` is rewritten here from the runs' own records: which notebook made each file, with which
# profile, on which machine, at which commit and date.

# %%
text = experiment.figures_readme(params, experiment.run_records(params, models), data, run_metadata())
atomic_write_text(Path(params.figures_dir) / "README.md", text)
print(text)

# %% [markdown]
# ## Do the thesis' claims hold? The multi-seed study
#
# The tables above come from **one** training run per model, like the thesis' own. One run is an
# anecdote: a second seed can reorder models whose scores differ by less than the seed-to-seed spread.
# The claims study (`make claims`, pre-registered in `docs/claims.md` before its first run) trains every
# model on several seeds at two CPU scales and compares the models **paired by seed**: for claim "A beats
# B", $d_s = \mathrm{metric}(A, s) - \mathrm{metric}(B, s)$, with the 95 % interval
# $\bar d \pm t_{0.975,\,n-1}\, s_d/\sqrt n$. The verdict is *supported* when the interval lies on the side
# the thesis claims, *contradicted* when it lies on the other side, and *inconclusive at this scale*
# otherwise. `mde` is the smallest true difference the design detects with 80 % power.
#
# The table and the forest plot below are read from the committed `results/claims/` (nothing is trained
# here); `python -m waelib.studies.claims_study --render` writes them to `figures/claims*`.

# %%
claim_rows = claims_render.claims_rows()
if claim_rows:
    cols = ["claim", "scale", "statement", "n_seeds", "mean_diff", "ci_lo", "ci_hi", "mde", "verdict"]
    print(experiment.markdown_rows([{c: r.get(c) for c in cols} for r in claim_rows]))
    if any(r.get("ci_lo") is not None for r in claim_rows):
        fig = claims_render.forest_plot(claim_rows)
        plt.show()
    # The verdicts in words, straight from the table (A − B; negative favours A on an FID).
    for r in claim_rows:
        if r.get("ci_lo") is not None:
            print(f"{r['claim']:>5} ({r['scale']}, {r['n_seeds']} seeds) {r['statement']}: "
                  f"{r['mean_diff']:+.3g} [{r['ci_lo']:+.3g}, {r['ci_hi']:+.3g}] -> {r['verdict']}"
                  + (" (fragile under Holm)" if r.get("fragile") else ""))
else:
    print("no study results yet: run `make claims` (resumable; about 4 hours on 2 CPU cores)")

# %% [markdown]
# ## Summary
#
# Every table and figure of the thesis' chapter 4 is regenerated from saved runs, with the thesis' numbers
# beside ours and the configuration, hardware and commit of each run recorded next to it. To reproduce the
# thesis' own setting, run notebooks 03, 04 and 05 with `-p profile thesis` on a GPU, with CelebA in
# `data/celeba/` and the Inception weights in torch.hub's cache (see the README).
