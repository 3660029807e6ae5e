"""Tables and figures of notebook 06 from the results of :mod:`waelib.studies.beyond`, without training.

- :func:`models_rows` -- seed 003's Table 1 and MS-SSIM diversity (RMSE train / test).
- :func:`sampler_rows` -- seed 004's Table 3 form: reconstruction FCD, sample FCD with the
  prior and with the ex-post GMM (and their paired difference), interpolation FCD.
- :func:`latent_rows` / :func:`nac_rows` -- seed 004's Figures 2/5 (FCD against latent size m)
  and Table 2 (m_A, NAC) on the data sets of known dimension n.
- :func:`answers` -- the two questions of issue 10 in words, from the numbers.
- :func:`render` -- all of it into ``figures/beyond_*`` with provenance.

Every mean comes with a 95 % t-interval over training seeds (:func:`waelib.studies.claims.paired_summary`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch

from .. import config, registry
from ..course.figures import save_figure, save_table, show_images, use_style
from ..utils import repo_root
from .beyond_plan import PROFILES, load_results, results_root
from .claims import paired_summary
from .runner import run_provenance

Results = Mapping[str, Mapping[str, Any]]
FIGURES = repo_root() / "figures"


def _get(ev: Optional[Mapping[str, Any]], path: str) -> Optional[float]:
    """``ev["a"]["b"]...`` for ``path`` "a.b..." (None when missing)."""
    cur: Any = ev
    for k in path.split("."):
        if not isinstance(cur, Mapping) or cur.get(k) is None:
            return None
        cur = cur[k]
    return float(cur)


def _runs(results: Results, dataset: str, model: str, latent: Optional[int] = None) -> Dict[int, Mapping]:
    """``{seed: eval result}`` of the finished runs of one (data set, model, latent size)."""
    stem = f"{dataset}/{model}" + ("" if latent is None else f"_m{latent}")
    out = {}
    for key, r in results.items():
        head, seed = key.rsplit("/seed", 1)
        if head == stem and r["eval"] is not None:
            out[int(seed)] = r["eval"]
    return out


def _summary(runs: Mapping[int, Mapping], path: str) -> Dict[str, Any]:
    """Mean, 95 % interval and n over seeds of the metric at ``path``."""
    s = paired_summary([v for v in (_get(e, path) for e in runs.values()) if v is not None])
    return {"mean": s["mean"], "lo": s["lo"], "hi": s["hi"], "n": s["n"]}


def _cells(prefix: str, s: Mapping[str, Any]) -> Dict[str, Any]:
    half = None if s["hi"] is None else (s["hi"] - s["lo"]) / 2
    return {prefix: s["mean"], f"{prefix}_ci95": half}


def models_rows(results: Results, params: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Seed 003 Table 1 form: RMSE (0-255) of train and test reconstructions and the MS-SSIM
    diversity of prior samples, mean over seeds with the 95 % half-width, beside seed 003."""
    rows = []
    for m in params["models"]:
        runs = _runs(results, params["models_dataset"], m)
        if not runs:
            continue
        t = config.SEED003_RMSE.get(m, (None, None))
        rows.append({"model": registry.MODEL_LABELS[m], "seeds": len(runs),
                     **_cells("rmse_train", _summary(runs, "reconstructions_train.rmse")),
                     **_cells("rmse_test", _summary(runs, "reconstructions.rmse")),
                     **_cells("ms_ssim", _summary(runs, "samples.ms_ssim_diversity")),
                     "seed003_rmse_train": t[0], "seed003_rmse_test": t[1],
                     "seed003_ms_ssim": config.SEED003_MS_SSIM.get(m)})
    return rows


def sampler_rows(results: Results, params: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Seed 004 Table 3 form on synthfaces: reconstruction, prior-sample, GMM-sample and
    interpolation FCD (one n), the paired GMM - prior difference, and the real-vs-real floor."""
    rows = []
    real = None
    for m in params["models"]:
        runs = _runs(results, params["models_dataset"], m)
        if not runs:
            continue
        real = real or next(iter(runs.values())).get("real")
        diff = paired_summary([_get(e, "samples_gmm.fid.value") - _get(e, "samples.fid.value")
                               for e in runs.values()])
        t = config.SEED004_TABLE3.get(m, (None, None))
        rows.append({"model": registry.MODEL_LABELS[m], "seeds": len(runs),
                     **_cells("recon_fcd", _summary(runs, "reconstructions.fid.value")),
                     **_cells("prior_fcd", _summary(runs, "samples.fid.value")),
                     **_cells("gmm_fcd", _summary(runs, "samples_gmm.fid.value")),
                     "gmm_minus_prior": diff["mean"], "diff_lo": diff["lo"], "diff_hi": diff["hi"],
                     **_cells("interp_fcd", _summary(runs, "interpolations.fid.value")),
                     "gmm_ms_ssim": _summary(runs, "samples_gmm.ms_ssim_diversity")["mean"],
                     "seed004_celeba_rec_fid": t[0], "seed004_celeba_gen_fid": t[1]})
    if real is not None:
        rows.append({"model": "real test images", "seeds": None, "recon_fcd": None,
                     "prior_fcd": real["fid"]["value"], "gmm_fcd": real["fid"]["value"]})
    return rows


def latent_rows(results: Results, params: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Seed 004 Figures 2/5: per data set of true dimension n and latent size m, the WAE-GAN's
    sample FCD (prior and GMM), reconstruction FCD, m_A and NAC; MaskAAE at the largest m."""
    rows = []
    for ds in params["latent_datasets"]:
        n = int(ds.rsplit("_n", 1)[1])
        entries = [("wae_gan", m) for m in params["latent_sizes"]] + [("mask_aae", params["mask_latent"])]
        for model, m in entries:
            runs = _runs(results, ds, model, m)
            if not runs:
                continue
            rows.append({"dataset": ds, "n": n, "model": registry.MODEL_LABELS[model], "m": m,
                         "seeds": len(runs),
                         **_cells("prior_fcd", _summary(runs, "samples.fid.value")),
                         **_cells("gmm_fcd", _summary(runs, "samples_gmm.fid.value")),
                         "recon_fcd": _summary(runs, "reconstructions.fid.value")["mean"],
                         "m_active": _summary(runs, "latent.m_active")["mean"],
                         "m_active_per_seed": [int(_get(e, "latent.m_active")) for e in runs.values()],
                         "nac": _summary(runs, "latent.nac")["mean"],
                         "real_fcd": _get(next(iter(runs.values())), "real.fid.value")})
    return rows


def nac_rows(results: Results, params: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Seed 004 Table 2 form: WAE at capacity 2n (the seed's) and at the largest m, MaskAAE at
    the largest m; m_A and NAC beside the seed's synthetic-data values."""
    rows = []
    for ds in params["latent_datasets"]:
        n = int(ds.rsplit("_n", 1)[1])
        seed = config.SEED004_TABLE2.get(ds, (None,) * 5)
        for model, m in (("wae_gan", 2 * n), ("wae_gan", params["mask_latent"]), ("mask_aae", params["mask_latent"])):
            runs = _runs(results, ds, model, m)
            if not runs:
                continue
            is_mask = model == "mask_aae"
            # the seed's row of the same model: its WAE at capacity 2n, its MAAE (capacity 2n)
            same = is_mask or m == seed[0]
            rows.append({"dataset": ds, "model": registry.MODEL_LABELS[model], "capacity_m": m,
                         "m_active": _summary(runs, "latent.m_active")["mean"],
                         **_cells("nac", _summary(runs, "latent.nac")),
                         "seed004_capacity": seed[0] if same else None,
                         "seed004_m_active": (seed[3] if is_mask else seed[1]) if same else None,
                         "seed004_nac": (seed[4] if is_mask else seed[2]) if same else None})
    return rows


def answers(lat: Sequence[Mapping[str, Any]]) -> List[str]:
    """Issue 10's two questions, answered from :func:`latent_rows`: where is the WAE's sample
    FCD lowest against m, and how many dimensions does MaskAAE keep, for each n."""
    out = []
    for ds in dict.fromkeys(r["dataset"] for r in lat):
        rs = [r for r in lat if r["dataset"] == ds and r["model"] == "WAE" and r["prior_fcd"] is not None]
        if not rs:
            continue
        n = rs[0]["n"]
        best = min(rs, key=lambda r: r["prior_fcd"])
        overlap = [r["m"] for r in rs if r["prior_fcd_ci95"] is not None and best["prior_fcd_ci95"] is not None
                   and r["prior_fcd"] - r["prior_fcd_ci95"] <= best["prior_fcd"] + best["prior_fcd_ci95"]]
        line = (f"{ds} (n = {n}): the WAE's prior-sample FCD is lowest at m = {best['m']} "
                f"({best['prior_fcd']:.1f}); m with intervals overlapping the best: "
                f"{overlap or [best['m']]}.")
        mask = [r for r in lat if r["dataset"] == ds and r["model"] == "MaskAAE"]
        if mask:
            line += (f" MaskAAE at m = {mask[0]['m']} keeps m_A = {mask[0]['m_active_per_seed']} "
                     f"dimensions (per seed) of n = {n}.")
        out.append(line)
    return out


def _provenance(results: Results, profile: str, root: Path) -> Dict[str, Any]:
    return {"profile": profile, "settings": dict(PROFILES[profile]),
            **run_provenance([r["run"] for r in results.values()], root)}


def latent_figure(lat: Sequence[Mapping[str, Any]]):
    """FCD against latent size m (log scale), one panel per data set, true n marked."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn
    dss = list(dict.fromkeys(r["dataset"] for r in lat))
    fig, axes = plt.subplots(1, max(1, len(dss)), figsize=(4.2 * max(1, len(dss)), 3.2), squeeze=False)
    for ax, ds in zip(axes[0], dss):
        w = [r for r in lat if r["dataset"] == ds and r["model"] == "WAE"]
        n = w[0]["n"] if w else None
        for key, style, label in (("prior_fcd", "-o", "WAE, prior samples"),
                                  ("gmm_fcd", "--s", "WAE, GMM samples")):
            ms = [r["m"] for r in w if r[key] is not None]
            ys = [r[key] for r in w if r[key] is not None]
            err = [r[f"{key}_ci95"] or 0 for r in w if r[key] is not None]
            ax.errorbar(ms, ys, yerr=err, fmt=style, color=registry.MODEL_COLORS["wae_gan"],
                        alpha=1.0 if key == "prior_fcd" else 0.6, capsize=3, label=label, ms=4)
        for r in lat:
            if r["dataset"] == ds and r["model"] == "MaskAAE" and r["prior_fcd"] is not None:
                ax.errorbar([r["m"]], [r["prior_fcd"]], yerr=[r["prior_fcd_ci95"] or 0], fmt="D",
                            color=registry.MODEL_COLORS["mask_aae"], capsize=3,
                            label=f"MaskAAE (m_A = {r['m_active']:.1f})")
        if w and w[0].get("real_fcd") is not None:
            ax.axhline(w[0]["real_fcd"], color="0.5", lw=0.8, ls=":", label="real vs real")
        if n:
            ax.axvline(n, color="0.3", lw=0.8, ls="--")
            ax.text(n, ax.get_ylim()[1], f" n = {n}", va="top", fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("latent size m")
        ax.set_ylabel("sample FCD (lower is better)")
        ax.set_title(ds, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def samples_figure(root: Path, models: Sequence[str], dataset: str):
    """Seed-0 samples of each model from the prior and from the GMM (from images*.npz under
    the results folder ``root``)."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn

    have = [m for m in models if (root / dataset / m / "seed0" / "images.npz").is_file()]
    if not have:
        return None
    fig, axes = plt.subplots(len(have), 2, figsize=(10, 0.72 * len(have) + 0.5), squeeze=False)
    for i, m in enumerate(have):
        for j, name in enumerate(("images.npz", "images_gmm.npz")):
            path = root / dataset / m / "seed0" / name
            ax = axes[i][j]
            if path.is_file():
                s = torch.from_numpy(np.load(path)["samples"]).float() / 255
                show_images(ax, s, nrow=8)
            ax.set_axis_off()
            if i == 0:
                ax.set_title(("prior samples", "GMM samples (ex post)")[j], fontsize=9)
        axes[i][0].text(-0.02, 0.5, registry.MODEL_LABELS[m], transform=axes[i][0].transAxes,
                        ha="right", va="center", fontsize=8, color=registry.MODEL_COLORS[m])
    fig.tight_layout()
    return fig


def table_dir(profile: str, out_dir: Optional[Path] = None, figures_dir: Optional[Path] = None) -> Path:
    """Where :func:`render` writes: ``figures_dir`` if given; else ``figures/`` for the default
    profile's committed results, and the results' sibling ``figures`` folder otherwise."""
    if figures_dir is not None:
        return Path(figures_dir)
    if profile == "default" and out_dir is None:
        return FIGURES
    return results_root(profile, out_dir).parent / "figures"


def render(profile: str = "default", *, out_dir: Optional[Path] = None,
           figures_dir: Optional[Path] = None) -> Dict[str, Any]:
    """Write ``beyond_models``, ``beyond_samplers``, ``beyond_latent``, ``beyond_nac`` (md, csv,
    json with provenance) and the figures ``beyond_latent`` / ``beyond_samples`` (png, pdf)
    for ``profile`` from the results of :func:`waelib.studies.beyond_plan.results_root` ``(profile, out_dir)``
    into ``figures_dir`` (default: ``figures/`` for ``default``, else the results' sibling
    ``figures`` folder). Returns the rows, the answers and the provenance."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn

    params = PROFILES[profile]
    root = results_root(profile, out_dir)
    out = table_dir(profile, out_dir, figures_dir)
    results = load_results(profile, out_dir)
    prov = _provenance(results, profile, root)
    n_fid = params["n_fid"]
    tables = {
        "beyond_models": (models_rows(results, params),
                          f"Seed 003's Table 1 at CPU scale (synthfaces {params['image_size']} px): RMSE "
                          f"(0-255) of train and test reconstructions and MS-SSIM diversity of "
                          f"prior samples ({params['n_div']} pairs, lower = more diverse); mean over "
                          f"seeds and 95 % half-width; seed 003's CelebA 128-px numbers beside."),
        "beyond_samplers": (sampler_rows(results, params),
                            f"Seed 004's Table 3 form at CPU scale: FCD (n = {n_fid} for every "
                            f"entry) of reconstructions, prior samples, ex-post GMM samples "
                            f"({params['gmm_components']} components, full covariance) and "
                            f"interpolations; gmm_minus_prior is the paired difference over seeds "
                            f"with its 95 % interval. Seed 004's CelebA FIDs beside (other data, "
                            f"other features: compare within a column only)."),
        "beyond_latent": (latent_rows(results, params),
                          f"Seed 004's Figures 2/5 at CPU scale: sample FCD (n = {n_fid}) of a "
                          f"WAE-GAN against latent size m on data of known dimension n, and "
                          f"MaskAAE at the largest m; m_A = active dimensions; NAC on test codes."),
        "beyond_nac": (nac_rows(results, params),
                       "Seed 004's Table 2 form: active dimensions m_A and NAC (mean |off-diagonal "
                       "correlation| of the codes), mean over seeds, beside the seed's synthetic-"
                       "data values."),
    }
    lines = answers(tables["beyond_latent"][0])
    for name, (rows, caption) in tables.items():
        if rows:
            save_table(rows, name, out, caption=caption, meta=prov,
                       notes=lines if name == "beyond_latent" else (), provenance=False)
    use_style()
    if tables["beyond_latent"][0]:
        save_figure(latent_figure(tables["beyond_latent"][0]), "beyond_latent", out, close=True)
    fig = samples_figure(root, params["models"], params["models_dataset"])
    if fig is not None:
        save_figure(fig, "beyond_samples", out, close=True)
    plt.close("all")
    return {"tables": {k: v[0] for k, v in tables.items()}, "answers": lines, "provenance": prov}


__all__ = ["models_rows", "sampler_rows", "latent_rows", "nac_rows", "answers", "render", "table_dir",
           "latent_figure", "samples_figure"]
