"""Tables and figures of the landscape study from its committed results (no training).

    python -m waelib.studies.landscape --render

Writes into ``figures/`` (the default profile) or the results' sibling ``figures`` folder:

- ``landscape_<scale>`` -- seed 004's Tables 1, 3 and 4 in one: per row the reconstruction and
  sample FCD, precision and recall and the nearest-neighbour difference (mean and 95 % interval
  half-width over seeds), the seed's own numbers beside (Inception FID on other data: compare in
  ordering only);
- ``landscape_orderings`` / ``landscape_ordering_parts`` -- the verdict of each pre-registered
  ordering (L1-L10) per scale, and every part's paired difference;
- ``landscape_table5`` -- FlexAE's prior-generator capacity sweep on 1,024 training images;
- ``landscape_attributes`` -- the attribute manipulation's effects per row and attribute;
- figures ``landscape_fcd_<scale>``, ``landscape_samples_<scale>``, ``landscape_neighbours_<scale>``,
  ``landscape_attributes`` (png, pdf).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch

from .. import registry
from ..course.figures import save_figure, save_table, show_images, use_style
from .claims import mean_interval
from .landscape_claims import METRIC_LABELS, analyse_orderings, capacity_choice, row_values
from .landscape_eval import summarise_attributes
from .landscape_plan import (
    ARMS,
    ATTRIBUTES,
    CAPACITY_ARMS,
    ROWS,
    SEED004,
    check_profile,
    load_results,
    plan,
    results_root,
)
from .readme_blocks import markers, short_hardware, write_block
from .runner import figures_folder, run_provenance

__all__ = ["main_rows", "capacity_rows", "attribute_rows", "render", "table_dir", "readme_block",
           "update_readme", "README_START", "README_END"]

#: The README's landscape block lies between these two lines; :func:`update_readme` rewrites it.
README_BLOCK = "landscape-verdicts"
README_START, README_END = markers(README_BLOCK)

#: Which of the seed's data sets stands beside each of our scales (closest in kind).
SEED_COLUMN = {"primary": ("CelebA", "CELEBA"), "second": ("MNIST", "MNIST")}




def _seed_cells(row: str, scale: str) -> Dict[str, Any]:
    t1_col, t3_col = SEED_COLUMN[scale]
    t1, t3, t4 = SEED004["table1_fid"], SEED004["table3_fid"], SEED004["table4_pr"]
    cells: Dict[str, Any] = {}
    if row in t3:
        rec, gen = t3[row][t3["columns"].index(t3_col)]
        cells.update({f"seed004_rec_{t3_col}": rec, f"seed004_gen_{t3_col}": gen})
    if row in t1:
        cells[f"seed004_table1_{t1_col}"] = t1[row][t1["columns"].index(t1_col)]
    if row in t4:
        cells[f"seed004_pr_{t3_col}"] = "{}/{}".format(*t4[row][t4["columns"].index(t3_col)])
    return cells


def _status(results: Mapping[str, Mapping[str, Any]], scale: str, arm: str) -> Dict[str, int]:
    st = [rec["run"].get("status") for key, rec in results.items() if key.startswith(f"{scale}/{arm}/")]
    return {"done": st.count("done"), "diverged": st.count("diverged")}


def main_rows(results: Mapping[str, Mapping[str, Any]], scale: str) -> List[Dict[str, Any]]:
    """One row per table row of :data:`ROWS` with results at ``scale`` (see the module doc)."""
    out = []
    for key, r in ROWS.items():
        st = _status(results, scale, r.arm)
        if not st["done"] and not st["diverged"]:
            continue
        row: Dict[str, Any] = {"row": r.label, "key": key, "n_seeds": st["done"], "diverged": st["diverged"]}
        for metric in ("recon_fcd", "sample_fcd", "precision", "recall", "memorisation"):
            s = mean_interval(row_values(results, scale, key, metric).values())
            row[metric], row[f"{metric}_ci"] = s["mean"], s["ci"]
        row.update(_seed_cells(key, scale))
        out.append(row)
    return out


def capacity_rows(results: Mapping[str, Mapping[str, Any]], scale: str = "primary") -> List[Dict[str, Any]]:
    """Seed 004's Table 5 at CPU scale: per capacity arm its prior generator's settings and
    parameter count, reconstruction and sample FCD (mean and 95 % half-width), the seed's."""
    out = []
    for i, (key, a) in enumerate(CAPACITY_ARMS.items()):
        rec = mean_interval(row_values(results, scale, key, "recon_fcd").values())
        gen = mean_interval(row_values(results, scale, key, "sample_fcd").values())
        if not rec["n"]:
            continue
        row = {"model": f"FlexAE capacity {i + 1}", "key": key, **dict(a.model_overrides), "n_seeds": gen["n"],
               "recon_fcd": rec["mean"], "recon_fcd_ci": rec["ci"],
               "sample_fcd": gen["mean"], "sample_fcd_ci": gen["ci"]}
        for ds in ("CELEBA", "MNIST"):
            row[f"seed004_rec_{ds}"], row[f"seed004_gen_{ds}"] = SEED004["table5_fid"][ds][i]
        out.append(row)
    return out


def attribute_rows(results: Mapping[str, Mapping[str, Any]], scale: str = "primary") -> List[Dict[str, Any]]:
    """Per arm and attribute: the change of the target attribute's probability along its
    direction ("add": images without it; "remove": with it) and the largest change of any other
    attribute, each mean and 95 % half-width over seeds."""
    out = []
    for arm in ARMS:
        evs = [rec["eval"] for key, rec in results.items()
               if key.startswith(f"{scale}/{arm}/") and rec["eval"] and rec["eval"].get("attributes")]
        if not evs:
            continue
        for name in ATTRIBUTES:
            row: Dict[str, Any] = {"model": ROWS[arm].label if arm in ROWS else arm, "attribute": name}
            for kind in ("add", "remove"):
                t = mean_interval(summarise_attributes([e["attributes"] for e in evs], name, kind))
                o = mean_interval([e["attributes"]["attributes"][name][kind]["other_max_change"] for e in evs
                             if e["attributes"]["attributes"].get(name)])
                row.update({f"{kind}_target": t["mean"], f"{kind}_target_ci": t["ci"],
                            f"{kind}_other_max": o["mean"], f"{kind}_other_max_ci": o["ci"]})
            row["n_seeds"] = len(evs)
            out.append(row)
    return out


def _provenance(results: Mapping[str, Mapping[str, Any]], profile: str, root: Path) -> Dict[str, Any]:
    return {"profile": profile, "settings": check_profile(profile),
            **run_provenance([r["run"] for r in results.values()], root)}


def fcd_figure(rows: Sequence[Mapping[str, Any]], scale: str):
    """Sample and reconstruction FCD per row with 95 % intervals, each row in its model's colour."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.28 * len(rows) + 1.2), sharey=True)
    y = np.arange(len(rows))[::-1]
    for ax, metric in zip(axes, ("sample_fcd", "recon_fcd")):
        for yi, r in zip(y, rows):
            if r[metric] is None:
                continue
            color = registry.MODEL_COLORS[ARMS[ROWS[r["key"]].arm].model]
            gmm = ROWS[r["key"]].sampler == "gmm"
            ax.errorbar(r[metric], yi, xerr=r[f"{metric}_ci"] or 0, fmt="s" if gmm else "o", color=color,
                        mfc="white" if gmm else color, capsize=2, ms=4)
        ax.set_xlabel(METRIC_LABELS[metric] + " (lower is better)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [r["row"] for r in rows], fontsize=7)
    fig.suptitle(f"Landscape, {scale} scale: mean over seeds, 95 % interval", fontsize=9)
    fig.tight_layout()
    return fig


def _npz(root: Path, scale: str, arm: str, name: str) -> Optional[Dict[str, np.ndarray]]:
    path = root / scale / arm / "seed0" / name
    return dict(np.load(path)) if path.is_file() else None


def samples_figure(root: Path, scale: str):
    """Seed-0 samples of every row (its own sampler), one line of 8 per row."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn
    have = [r for r in ROWS.values()
            if _npz(root, scale, r.arm, "images_gmm.npz" if r.sampler == "gmm" else "images.npz")]
    if not have:
        return None
    fig, axes = plt.subplots(len(have), 1, figsize=(6, 0.75 * len(have) + 0.3), squeeze=False)
    for ax, r in zip(axes[:, 0], have):
        d = _npz(root, scale, r.arm, "images_gmm.npz" if r.sampler == "gmm" else "images.npz")
        show_images(ax, torch.from_numpy(d["samples"]).float() / 255, nrow=8)
        ax.set_axis_off()
        ax.text(-0.02, 0.5, r.label, transform=ax.transAxes, ha="right", va="center", fontsize=7,
                color=registry.MODEL_COLORS[ARMS[r.arm].model])
    fig.tight_layout()
    return fig


def neighbours_figure(root: Path, scale: str, rows: Sequence[str] = ("flexae", "rae_gmm", "two_stage_vae",
                                                                      "wae_gan", "wae_resnet")):
    """Seed 004's Figure 17 for a few rows: each sample (left) and its 4 nearest training images."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn
    have = [k for k in rows if k in ROWS and _npz(root, scale, ROWS[k].arm, "neighbours_gmm.npz"
                                                   if ROWS[k].sampler == "gmm" else "neighbours.npz")]
    if not have:
        return None
    fig, axes = plt.subplots(1, len(have), figsize=(2.2 * len(have), 2.6), squeeze=False)
    for ax, k in zip(axes[0], have):
        d = _npz(root, scale, ROWS[k].arm, "neighbours_gmm.npz" if ROWS[k].sampler == "gmm" else "neighbours.npz")
        grid = np.concatenate([d["samples"][:, None], d["neighbours"]], axis=1)
        show_images(ax, torch.from_numpy(grid.reshape(-1, *grid.shape[2:])).float() / 255, nrow=grid.shape[1])
        ax.set_title(ROWS[k].label, fontsize=7)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def attributes_figure(root: Path, scale: str = "primary", arms: Sequence[str] = ("flexae", "wae_gan", "wae_resnet",
                                                                                  "vae_fixed_var")):
    """Seed 004's Figures 12-16: for a few rows, one test image per attribute moved towards it."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn
    have = [a for a in arms if _npz(root, scale, a, "attributes.npz")]
    if not have:
        return None
    fig, axes = plt.subplots(len(have), len(ATTRIBUTES), figsize=(2.0 * len(ATTRIBUTES), 0.55 * len(have) + 0.5),
                             squeeze=False)
    for i, a in enumerate(have):
        d = _npz(root, scale, a, "attributes.npz")
        for j, name in enumerate(ATTRIBUTES):
            ax = axes[i][j]
            if f"{name}_add" in d:
                show_images(ax, torch.from_numpy(d[f"{name}_add"][0]).float() / 255, nrow=d[f"{name}_add"].shape[1])
            ax.set_axis_off()
            if i == 0:
                ax.set_title(f"+ {name}", fontsize=7)
        axes[i][0].text(-0.03, 0.5, ROWS[a].label if a in ROWS else a, transform=axes[i][0].transAxes, ha="right",
                        va="center", fontsize=7, color=registry.MODEL_COLORS[ARMS[a].model])
    fig.tight_layout()
    return fig


def table_dir(profile: str, out_dir: Optional[Path] = None, figures_dir: Optional[Path] = None) -> Path:
    """``figures_dir`` if given; ``figures/`` for the default profile; else beside the results
    (:func:`waelib.studies.runner.figures_folder`)."""
    return figures_folder(profile, results_root(profile, out_dir), out_dir, figures_dir)


def render(profile: str = "default", *, out_dir: Optional[Path] = None,
           figures_dir: Optional[Path] = None) -> Dict[str, Any]:
    """Write every table and figure of the module docstring for ``profile``; returns the rows."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn
    root, out = results_root(profile, out_dir), table_dir(profile, out_dir, figures_dir)
    results = load_results(profile, out_dir)
    prov = _provenance(results, profile, root)
    params = check_profile(profile)
    use_style()
    done: Dict[str, Any] = {"main": {}, "orderings": [], "parts": [], "scales": list(params)}
    for scale, p in params.items():
        rows = main_rows(results, scale)
        if not rows:
            continue
        done["main"][scale] = rows
        save_table(rows, f"landscape_{scale}", out, meta=prov, provenance=False, caption=(
            f"Seed 004's Tables 1, 3 and 4 at CPU scale ({p['dataset']} {p['image_size']} px, width {p['width']}, "
            f"latent {p['latent_dim']}, {p['steps']} steps): FCD (n = {p['n_fid']}, lower is better) of test "
            f"reconstructions and of samples from each row's sampler, precision/recall (k = 3), and the median "
            f"nearest-training-image distance of samples minus that of test images (memorisation below 0); mean "
            f"and 95 % half-width over seeds. The seed's columns are Inception FIDs on {SEED_COLUMN[scale][0]}: "
            f"compare orderings only."))
        save_figure(fcd_figure(rows, scale), f"landscape_fcd_{scale}", out, close=True)
        for name, fig in ((f"landscape_samples_{scale}", samples_figure(root, scale)),
                          (f"landscape_neighbours_{scale}", neighbours_figure(root, scale))):
            if fig is not None:
                save_figure(fig, name, out, close=True)
        parts, ords = analyse_orderings(results, scale)
        done["orderings"] += ords
        done["parts"] += parts
        if p["capacity"]:
            cap = capacity_rows(results, scale)
            if cap:
                done["table5"] = cap
                best01 = capacity_choice(results, scale, seeds=(0, 1))
                save_table(cap, "landscape_table5", out, meta=prov, provenance=False, notes=(
                    f"c* chosen on seeds 0-1 alone (the descriptive check of docs/landscape.md): {best01}",), caption=(
                    "Seed 004's Table 5 at CPU scale: FlexAE on 1,024 training images with six prior-generator "
                    "capacities (increasing); FCD of reconstructions and samples, mean and 95 % half-width over "
                    "seeds; the seed's Inception FIDs on CelebA and MNIST beside."))
        if p["attributes"]:
            att = attribute_rows(results, scale)
            if att:
                done["attributes"] = att
                save_table(att, "landscape_attributes", out, meta=prov, provenance=False, caption=(
                    "Seed 004's Figures 12-16 as numbers: moving a test code along an attribute's mean-code "
                    "difference, the change of the synthfaces classifier's probability of that attribute ("
                    "add: images without it; remove: with it, towards its absence) and the largest change of "
                    "any other attribute; mean and 95 % half-width over seeds."))
                fig = attributes_figure(root, scale)
                if fig is not None:
                    save_figure(fig, "landscape_attributes", out, close=True)
    if done["orderings"]:
        save_table(done["orderings"], "landscape_orderings", out, meta=prov, provenance=False, caption=(
            "Seed 004's orderings (docs/landscape.md, pre-registered): verdict per scale from the paired "
            "differences over seeds (every part's in landscape_ordering_parts)."))
        save_table(done["parts"], "landscape_ordering_parts", out, meta=prov, provenance=False, caption=(
            "Every part of every ordering: mean paired difference A - B over seeds, 95 % t-interval, p, "
            "Holm's p over the parts of a scale, smallest detectable difference (80 % power), verdict."))
    plt.close("all")
    done["provenance"] = prov
    return done


def readme_block(done: Mapping[str, Any]) -> str:
    """The README's summary of the study from :func:`render`'s output: how many runs, their
    training time and machines, and each ordering's verdict per scale (rendered, never typed)."""
    prov = done["provenance"]
    by_id: Dict[str, Dict[str, str]] = {}
    statements: Dict[str, str] = {}
    for o in done["orderings"]:
        by_id.setdefault(o["ordering"], {})[o["scale"]] = o["verdict"] + (" (fragile)" if o.get("fragile") else "")
        statements.setdefault(o["ordering"], o["statement"])
    scales = list(done.get("scales") or dict.fromkeys(o["scale"] for o in done["orderings"]))
    planned = len(plan(prov["profile"]))
    busy = prov.get("busy_wall_seconds")
    wall = "" if busy is None else f", {busy / 3600:.1f} h of wall time while runs were in flight"
    lines = [f"{prov['n_runs']} of {planned} runs ({prov['train_seconds_total'] / 3600:.1f} h of training and "
             f"{prov['eval_seconds_total'] / 3600:.1f} h of evaluation summed over runs{wall}; "
             f"{', '.join(sorted({short_hardware(h) for h in prov['hardware']}))}); "
             f"rendered from `{prov['results']}` by `make landscape-render`.", "",
             "| ordering | the talk's claim | " + " | ".join(f"{s} scale" for s in scales) + " |",
             "|---|---|" + "---|" * len(scales)]
    for oid, verdicts in by_id.items():
        lines.append(f"| {oid} | {statements[oid]} | " + " | ".join(verdicts.get(s, "no runs yet") for s in scales)
                     + " |")
    return "\n".join(lines)


def update_readme(done: Mapping[str, Any], path: Optional[Path] = None) -> Path:
    """Replace the README's block between :data:`README_START` and :data:`README_END` with
    :func:`readme_block` (``python -m waelib.studies.landscape --render --readme``)."""
    return write_block(README_BLOCK, readme_block(done), path)
