"""Tables and figures of the study of issue 20 ("Why WAE-ResNet loses at CPU scale",
``docs/claims.md``) from its results (no training).

    python -m waelib.studies.why --render

Writes into ``figures/`` (the default profile) or ``<out_dir>/figures``:

- ``why_budget`` -- the paired gap WAE-ResNet - WAE of sample FCD, reconstruction FCD and RMSE at
  every budget, with its 95 % interval, p, Holm's p, smallest detectable difference, verdict;
- ``why_trend`` -- the gap's slope per doubling of the steps, the gaps at 2,000 and 8,000 steps,
  and the pre-registered outcome (flip / close / hold);
- ``why_capacity`` -- the capacity control: the wide-encoder WAE-ResNet against WAE and against
  WAE-ResNet at the primary budget, and its outcome;
- ``why_codes`` / ``why_attributes`` / ``why_code_comparisons`` -- what each code keeps: per model
  the code metrics, per model and attribute the classifier's accuracy on reconstructions, and the
  paired comparisons;
- ``why_claims_check`` -- the 2,000-step stages beside the claims study's second-scale runs of the
  same seeds (the default profile only; a consistency check that decides nothing);
- figures ``why_gap_steps`` (gap against steps with intervals), ``why_attributes`` (attribute
  accuracy per model) and ``why_blob`` (faces without teeth and each model's reconstructions).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np
import torch

from .. import registry
from ..course.figures import save_figure, save_table, show_images, use_style
from ..utils import repo_root
from .readme_blocks import interval, short_hardware, write_block
from .runner import figures_folder, run_provenance
from .why_analysis import (
    attribute_rows,
    budget_rows,
    capacity_rows,
    claims_check_rows,
    code_comparison_rows,
    code_rows,
    load_results,
    paired,
    trend_rows,
)
from .why_plan import (
    ARMS,
    CURVE_METRICS,
    METRICS,
    check_profile,
    matching_encoder_width,
    plan,
    results_root,
    settings,
)

__all__ = ["provenance", "gap_figure", "attributes_figure", "blob_figure", "table_dir", "render", "readme_block",
           "update_readme", "README_BLOCK"]

#: The README's block of this study (between its markers; :func:`update_readme` rewrites it).
README_BLOCK = "why-summary"


def provenance(results: Mapping[str, Mapping[str, Any]], profile: str, root: Path) -> Dict[str, Any]:
    """What the tables come from: the settings and :func:`waelib.studies.runner.run_provenance`
    (results folder, runs, dates, hardware, commits, wall times)."""
    return {"profile": profile, "settings": settings(profile),
            **run_provenance([r["run"] for r in results.values()], root)}


def _color(arm: str) -> str:
    return registry.MODEL_COLORS[ARMS[arm].model]


def gap_figure(results, params: Mapping[str, Any]):
    """Per curve metric, the mean paired gap WAE-ResNet - WAE against the steps (log2 axis) with
    its 95 % interval; the control's gap (wide ResNet - WAE) at the primary budget beside."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn
    fig, axes = plt.subplots(1, len(CURVE_METRICS), figsize=(3.3 * len(CURVE_METRICS), 2.8))
    for ax, metric in zip(np.atleast_1d(axes), CURVE_METRICS):
        pts = [(b, paired(results, "wae_resnet", "wae_gan", b, metric)) for b in params["budgets"]]
        pts = [(b, s) for b, s in pts if s["n"]]
        x = np.array([b for b, _ in pts], dtype=float)
        y = np.array([s["mean"] for _, s in pts], dtype=float)
        err = np.array([[s["mean"] - s["lo"], s["hi"] - s["mean"]] if s["lo"] is not None else [0, 0]
                        for _, s in pts]).T.reshape(2, -1)
        ax.errorbar(x, y, yerr=err, fmt="o-", color=_color("wae_resnet"), capsize=3, ms=4, label="WAE-ResNet − WAE")
        w = paired(results, "wae_resnet_wide", "wae_gan", params["primary"], metric)
        if w["n"]:
            we = [[w["mean"] - w["lo"]], [w["hi"] - w["mean"]]] if w["lo"] is not None else None
            ax.errorbar([params["primary"] * 1.15], [w["mean"]], yerr=we, fmt="s", mfc="white",
                        color=_color("wae_resnet_wide"), capsize=3, ms=5, label="wide encoder − WAE")
        ax.axhline(0.0, color="0.4", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("training steps")
        ax.set_title(f"{METRICS[metric][1]}: paired gap", fontsize=8)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.suptitle("Gap against training steps: mean over seeds, 95 % interval (below 0: WAE-ResNet better)",
                 fontsize=8)
    fig.tight_layout()
    return fig


def attributes_figure(rows: Sequence[Mapping[str, Any]]):
    """Accuracy of the classifier on each model's reconstructions per attribute (mean and 95 %
    interval over seeds), the originals' accuracy (its ceiling) as black bars."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn
    names = list(dict.fromkeys(r["attribute"] for r in rows))
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    fig, ax = plt.subplots(figsize=(0.62 * len(names) + 1.5, 3.4))
    x = np.arange(len(names))
    ceiling = {r["attribute"]: r["original_accuracy"] for r in rows}
    ax.scatter(x, [ceiling[n] for n in names], marker="_", s=300, color="k", label="originals", zorder=3)
    for i, a in enumerate(arms):
        rr = {r["attribute"]: r for r in rows if r["arm"] == a}
        off = (i - (len(arms) - 1) / 2) * 0.1
        ax.errorbar(x + off, [rr[n]["recon_accuracy"] for n in names],
                    yerr=[rr[n]["recon_accuracy_ci"] or 0 for n in names], fmt="o", ms=3, capsize=1.5,
                    color=_color(a), mfc="white" if ARMS[a].role == "control" else _color(a), label=ARMS[a].label)
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("accuracy on reconstructions")
    ax.set_ylim(0.0, 1.05)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def _npz(root: Path, arm: str, steps: int, seed: int) -> Optional[Dict[str, np.ndarray]]:
    path = root / arm / f"seed{seed}" / f"codes_step{steps:04d}.npz"
    return dict(np.load(path)) if path.is_file() else None


def _num(v: Optional[float], digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def blob_figure(root: Path, params: Mapping[str, Any], code: Sequence[Mapping[str, Any]]):
    """The white blob: faces without teeth (top row) and each model's reconstructions at the
    primary budget (figure seed), each row with its attribute accuracy and teeth-seen share."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn
    steps, seed = params["primary"], params["figure_seed"]
    have = [a for a in ARMS if _npz(root, a, steps, seed) is not None]
    if not have:
        return None
    by_arm = {r["arm"]: r for r in code if r["steps"] == steps}
    fig, axes = plt.subplots(len(have) + 1, 1, figsize=(6.5, 0.8 * (len(have) + 1) + 0.3), squeeze=False)
    first = _npz(root, have[0], steps, seed)
    rows = [("originals (no teeth)", first["originals"], "k")] + [
        (f"{ARMS[a].label}\nattr. {_num(by_arm.get(a, {}).get('attr_acc'), 3)}, teeth "
         f"{_num(by_arm.get(a, {}).get('teeth_fp'), 2)}", _npz(root, a, steps, seed)["reconstructions"], _color(a))
        for a in have]
    for ax, (label, imgs, color) in zip(axes[:, 0], rows):
        show_images(ax, torch.from_numpy(imgs).float() / 255, nrow=len(imgs))
        ax.set_axis_off()
        ax.text(-0.02, 0.5, label, transform=ax.transAxes, ha="right", va="center", fontsize=6, color=color)
    fig.suptitle(f"Faces without teeth and their reconstructions ({steps} steps, seed {seed}); mean attribute "
                 "accuracy and the share of no-teeth faces seen with teeth, over seeds", fontsize=7)
    fig.tight_layout()
    return fig


def table_dir(profile: str, out_dir: Optional[Path] = None, figures_dir: Optional[Path] = None) -> Path:
    """``figures_dir`` if given; ``figures/`` for the default profile; else beside the results
    (:func:`waelib.studies.runner.figures_folder`)."""
    return figures_folder(profile, results_root(profile, out_dir), out_dir, figures_dir)


def _captions(params: Mapping[str, Any]) -> Dict[str, str]:
    scale = (f"synthfaces {params['image_size']} px, width {params['width']}, batch {params['batch_size']}, "
             f"FCD n = {params['n_fid']}")
    return {
        "why_budget": f"Issue 20, the budget curve ({scale}): WAE-ResNet - WAE per seed at each budget of the same "
                      "runs; mean, 95 % t-interval, p, Holm's p over the rows, smallest detectable difference "
                      "(80 % power); verdict as the claims study's (supported: WAE-ResNet lower).",
        "why_trend": "Issue 20: slope of the paired gap per doubling of the steps (least squares per seed, interval "
                     "over seeds), the gaps at the primary and the longest budget, and the pre-registered outcome.",
        "why_capacity": f"Issue 20, the capacity control at {params['primary']} steps: the WAE-ResNet with its "
                        "encoder widened to the DCGAN encoder's parameter count (decoder unchanged) against WAE "
                        "and against WAE-ResNet; share of the gap closed (descriptive) and the outcome.",
        "why_codes": "Issue 20, what each code keeps: per model the FCDs, the classifier's mean attribute accuracy "
                     "on reconstructions, teeth seen on faces without teeth, background hue error and saturation "
                     "ratio, MMD(Q_Z, P_Z) (IMQ), code SD and the discriminator's accuracy; mean and 95 % "
                     "half-width over seeds.",
        "why_attributes": f"Issue 20: the classifier's accuracy per attribute on reconstructions at "
                          f"{params['primary']} steps (mean, 95 % half-width over seeds), on the originals (its "
                          "ceiling), the agreement with the originals' predictions and the base rate.",
        "why_code_comparisons": "Issue 20: the code analysis' paired comparisons A - B at the primary budget, "
                                "two-sided (95 % t-interval), Holm's p over the rows.",
        "why_claims_check": "Issue 20's consistency check (decides nothing): the 2,000-step stage of each WAE and "
                            "WAE-ResNet seed beside the claims study's second-scale run of the same seed.",
    }


def _write_tables(results, params: Mapping[str, Any], out: Path, prov: Mapping[str, Any], profile: str
                  ) -> Dict[str, Any]:
    caps = _captions(params)
    latent = int(params.get("latent_dim") or registry.model_spec("wae_resnet").latent_dim)
    match = matching_encoder_width(params["width"], params["image_size"], latent)
    tables = {"why_budget": budget_rows(results, params), "why_trend": trend_rows(results, params),
              "why_capacity": capacity_rows(results, params), "why_codes": code_rows(results, params),
              "why_attributes": attribute_rows(results, params),
              "why_code_comparisons": code_comparison_rows(results, params),
              "why_claims_check": claims_check_rows(results, repo_root() / "results" / "claims" / "second",
                                                    params["primary"]) if profile == "default" else []}
    notes = {"why_capacity": (f"encoder width {match['encoder_width']} (base {match['width']}): "
                              f"{match['resnet_parameters']} parameters against the DCGAN encoder's "
                              f"{match['dcgan_parameters']} ({match['relative_difference']:+.2%})",)}
    written = []
    for name, rows in tables.items():
        if rows:
            for p in save_table(rows, name, out, meta=prov, provenance=False, caption=caps[name],
                                notes=notes.get(name, ())).values():
                written.append(p)
    return {"tables": tables, "written": written}


def render(profile: str = "default", *, out_dir: Optional[Path] = None,
           figures_dir: Optional[Path] = None) -> Dict[str, Any]:
    """Write every table and figure of the module docstring for ``profile`` (those it has data
    for); returns ``{"tables": {name: rows}, "written": [paths], "provenance": ...}``."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn
    root, out = results_root(profile, out_dir), table_dir(profile, out_dir, figures_dir)
    params = check_profile(profile)
    results = load_results(profile, out_dir)
    prov = provenance(results, profile, root)
    done = _write_tables(results, params, out, prov, profile)
    use_style()
    figs = {}
    if done["tables"]["why_budget"]:
        figs["why_gap_steps"] = gap_figure(results, params)
    if done["tables"]["why_attributes"]:
        figs["why_attributes"] = attributes_figure(done["tables"]["why_attributes"])
    figs["why_blob"] = blob_figure(root, params, done["tables"]["why_codes"])
    for name, fig in figs.items():
        if fig is not None:
            done["written"] += save_figure(fig, name, out, close=True)
    plt.close("all")
    done["provenance"] = prov
    return done


# ---------------------------------------------------------------- the README's three sentences

def _gap(row: Mapping[str, Any], prefix: str) -> str:
    base = prefix.replace("_per_doubling", "")        # slope_per_doubling's bounds are slope_ci_lo/hi
    return interval(row[prefix], row[f"{base}_ci_lo"], row[f"{base}_ci_hi"])


def _outcomes(rows: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(f"{METRICS[r['metric']][1]}: **{r['outcome']}**" for r in rows)


def _lost(attrs: Sequence[Mapping[str, Any]], arm: str, k: int = 2) -> str:
    """The ``k`` attributes whose accuracy on ``arm``'s reconstructions falls furthest below the
    classifier's accuracy on the originals, as "name (reconstructions vs originals)"."""
    rows = sorted((r for r in attrs if r["arm"] == arm),
                  key=lambda r: r["recon_accuracy"] - r["original_accuracy"])
    return ", ".join(f"{r['attribute']} ({r['recon_accuracy']:.2f} vs {r['original_accuracy']:.2f})" for r in rows[:k])


def _ci(row: Mapping[str, Any], metric: str, digits: int, unit: str = "") -> str:
    """``0.829 (0.797 to 0.861)``: the mean over seeds and its 95 % t-interval (``metric_ci`` is
    the half-width), or ``0.857 (1 seed)``; ``unit`` follows every number, "−" is the minus sign."""
    mean, half = row[metric], row.get(f"{metric}_ci")

    def num(x: float) -> str:
        return f"{x:.{digits}f}{unit}".replace("-", "−")

    if mean is None:
        return "n/a"
    if half is None:
        return f"{num(mean)} ({row['n_seeds']} seed{'s' * (row['n_seeds'] != 1)})"
    return f"{num(mean)} ({num(mean - half)} to {num(mean + half)})"


def _codes_sentence(t: Mapping[str, Any], primary: Mapping[str, Mapping[str, Any]],
                    last: Mapping[str, Mapping[str, Any]]) -> str:
    """The README's third sentence: at the primary budget, the mean attribute accuracy of each
    WAE's reconstructions against the classifier's ceiling, the attributes the GAN-penalty WAEs
    lose most, teeth on faces without them, the background hue error (also at the longest budget),
    and how far the codes lie
    from the prior (MMD) and how well the discriminator still tells them apart."""
    have = [a for a in ("wae_gan", "wae_resnet", "wae_mmd") if a in primary and primary[a]["attr_acc"] is not None]
    if not (have and t["why_attributes"]):
        return "**What the codes lose:** no code analysis yet."
    steps = primary[have[0]]["steps"]
    ceiling = np.mean([r["original_accuracy"] for r in t["why_attributes"] if r["arm"] == have[0]])
    accs = ", ".join(f"{ARMS[a].label} {_ci(primary[a], 'attr_acc', 3)}" for a in have)
    lost = "; ".join(f"{ARMS[a].label}: {_lost(t['why_attributes'], a)}" for a in have if a != "wae_mmd")
    hue = ", ".join(f"{ARMS[a].label} {_ci(primary[a], 'bg_hue_err', 0, '°')}" for a in have)
    gan = [a for a in ("wae_gan", "wae_resnet") if a in have]
    later = [a for a in gan if a in last and last[a]["steps"] > steps and last[a]["bg_hue_err"] is not None]
    hue_later = (f" (at {last[later[0]]['steps']:,} steps: " + ", ".join(
        f"{ARMS[a].label} {_ci(last[a], 'bg_hue_err', 0, '°')}" for a in later) + ")") if later else ""
    teeth = ", ".join(f"{ARMS[a].label} {_ci(primary[a], 'teeth_fp', 2)}" for a in have
                      if primary[a]["teeth_fp"] is not None)
    mmd = ", ".join(f"{ARMS[a].label} {_ci(primary[a], 'mmd', 2)}" for a in have if primary[a]["mmd"] is not None)
    disc = ", ".join(f"{ARMS[a].label} {_ci(primary[a], 'disc_acc', 2)}" for a in gan
                     if primary[a]["disc_acc"] is not None)
    return (f"**What the codes lose:** at {steps:,} steps the classifier reads the true attributes from the "
            f"reconstructions with mean accuracy {accs} (originals: {ceiling:.3f}); the attributes lost most are "
            f"{lost}; teeth (the white blob) appear on this share of the faces without them: {teeth}; the "
            f"background's hue comes back off by a median {hue}{hue_later}; the codes' MMD to the prior "
            f"is {mmd}, and the discriminator tells codes from prior draws with accuracy {disc} (0.5: it cannot).")


def readme_block(done: Mapping[str, Any]) -> str:
    """The README's summary of the study from :func:`render`'s output (rendered, never typed):
    the budget (the gap's interval at the primary and the longest budget, its slope per doubling
    and the pre-registered outcome), the capacity control (the wide encoder's gap and outcome) and
    what the codes lose (:func:`_codes_sentence`), then the runs, their machines and wall time."""
    t, prov = done["tables"], done["provenance"]
    trend = {r["metric"]: r for r in t["why_trend"]}
    cap = {r["metric"]: r for r in t["why_capacity"]}
    codes = {r["arm"]: r for r in t["why_codes"] if r["steps"] == prov["settings"]["primary"]}
    lines = []
    if "sample_fcd" in trend:
        r = trend["sample_fcd"]
        lines.append(f"**The budget:** over {r['n_seeds']} paired seeds, WAE-ResNet − WAE in sample FCD is "
                     f"{_gap(r, 'gap_primary')} at {prov['settings']['primary']:,} steps and {_gap(r, 'gap_last')} at "
                     f"{r['last_steps']:,} steps, changing by {_gap(r, 'slope_per_doubling')} "
                     f"per doubling of the steps ({_outcomes(t['why_trend'])}).")
    else:
        lines.append("**The budget:** no seed has all its stages yet.")
    if "sample_fcd" in cap:
        r = cap["sample_fcd"]
        wide = interval(r["wide_wae_mean_diff"], r["wide_wae_ci_lo"], r["wide_wae_ci_hi"])
        plain = interval(r["gap_resnet_wae"], r["gap_ci_lo"], r["gap_ci_hi"])
        lines.append(f"**The capacity:** with its encoder widened to the DCGAN encoder's parameter count, "
                     f"WAE-ResNet − WAE in sample FCD is {wide} "
                     f"at {r['steps']:,} steps, against {plain} with the plain "
                     f"encoder ({_outcomes(t['why_capacity'])}).")
    else:
        lines.append("**The capacity:** the control has no runs yet.")
    longest = {r["arm"]: r for r in sorted(t["why_codes"], key=lambda r: r["steps"])}   # each arm's last stage
    lines.append(_codes_sentence(t, codes, longest))
    busy = prov.get("busy_wall_seconds")
    hours = (busy if busy is not None else prov["train_seconds_total"] + prov["eval_seconds_total"]) / 3600
    machines = ", ".join(sorted({short_hardware(h) for h in prov["hardware"]}))
    when = (f"one run at a time on {machines}; the runs finished between {prov['first_run_utc'][:16]} and "
            f"{prov['last_run_utc'][:16]} UTC" if prov["n_runs"] and prov["first_run_utc"] else "no runs yet")
    planned = len(plan(prov["profile"]))
    if prov["n_runs"] < planned:
        lines.insert(0, f"**Interim: {prov['n_runs']} of the {planned} planned runs.** The pre-registered "
                        "outcomes need every seed; until then the lines below describe the runs so far.")
    lines += ["", f"{prov['n_runs']} of {planned} runs ({prov['n_diverged']} diverged), {hours:.1f} h of wall time for "
                  f"training and evaluation {when}; intervals are 95 % t-intervals over seeds; rendered from "
                  f"`{prov['results']}` by `make why-render`."]
    return "\n".join(lines)


def update_readme(done: Mapping[str, Any], path: Optional[Path] = None) -> Path:
    """Rewrite the README's ``why-summary`` block with :func:`readme_block`."""
    return write_block(README_BLOCK, readme_block(done), path)
