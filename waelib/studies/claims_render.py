"""The claims study's tables and figures from its results (no training): the claims table,
the forest plot, thesis Tables 4.3-4.5 over seeds, Figures 4.1-4.3 and the λ-sensitivity table.

    python -m waelib.studies.claims_study --render

The tests re-render them and compare with the committed files.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

import numpy as np
import torch

from .. import config, registry
from ..course import figures
from ..course.figures import show_images
from ..evaluate import EVAL_NAME
from ..losses import recon_scale_for
from ..train.checkpoint import CONFIG_NAME
from . import claims
from .claims_design import FIGURE_SEED, FIGURES, RESULTS, SCALES, SENSITIVITY, SENSITIVITY_RESULTS, result_dir
from .runner import RUN_RECORD_NAME


def render_sensitivity(results: Path = SENSITIVITY_RESULTS, figures_dir: Path = FIGURES) -> List[Path]:
    """``figures/lambda_sensitivity.{md,csv,json}`` from the sensitivity runs."""
    spec, rows = SENSITIVITY, []
    size = SCALES[spec["scale"]]["image_size"]
    for ev in sorted(Path(results).glob(f"{spec['scale']}/*/recon_scale*/{EVAL_NAME}")):
        r = json.loads(ev.read_text())
        res, cfg = r["result"], json.loads((ev.parent / CONFIG_NAME).read_text())
        rs = float(ev.parent.name[len("recon_scale"):])
        rows.append({"model": registry.THESIS_MODEL_LABELS[ev.parent.parent.name], "recon_scale": rs,
                     "penalty_weight_vs_official": recon_scale_for(size) / rs,
                     "sample_fcd": res["samples"]["fid"]["value"],
                     "recon_fcd": res["reconstructions"]["fid"]["value"],
                     "rmse": res["reconstructions"]["rmse"], "sample_sharpness": res["samples"]["sharpness"],
                     "n_fid": res["n_fid"], "steps": cfg.get("config", cfg).get("steps")})
    if not rows:
        return []
    return [Path(p) for p in figures.save_table(
        rows, "lambda_sensitivity", figures_dir, provenance=False,
        caption=f"WAE objectives at {size} px with three reconstruction weights (seed "
                f"{spec['seed']}): penalty_weight_vs_official = 1 is the official code's balance "
                f"(recon_scale_for({size}) = {recon_scale_for(size):g}); 0.05 was used before.",
        meta={"design": {k: v for k, v in SCALES[spec["scale"]].items() if k != "seeds"},
              "results": "results/lambda_sensitivity/"}).values()]


# --------------------------------------------------------------------------------------
# Reading results back
# --------------------------------------------------------------------------------------
def load_results(scale: str, root: Path = RESULTS) -> Dict[str, Dict[int, Dict[str, Any]]]:
    """``{model: {seed: eval result}}`` of the finished runs of one scale."""
    out: Dict[str, Dict[int, Dict[str, Any]]] = {}
    for ev in sorted(Path(root, scale).glob(f"*/seed*/{EVAL_NAME}")):
        model, seed = ev.parent.parent.name, int(ev.parent.name[4:])
        out.setdefault(model, {})[seed] = json.loads(ev.read_text())["result"]
    return out


def run_records(root: Path = RESULTS) -> Iterator[Dict[str, Any]]:
    for p in sorted(Path(root).glob(f"*/*/seed*/{RUN_RECORD_NAME}")):
        yield json.loads(p.read_text())


# --------------------------------------------------------------------------------------
# Rendering: tables and figures from results/claims/ (no training)
# --------------------------------------------------------------------------------------
SCALE_LABELS = {"primary": "64 px", "second": "32 px", "thesis": "thesis scale"}
SCALE_COLORS = {"primary": "#222222", "second": "#888888", "thesis": "#1f77b4"}
VERDICT_MARK = {claims.SUPPORTED: "supported", claims.CONTRADICTED: "CONTRADICTED",
                claims.INCONCLUSIVE: "inconclusive"}


def claims_rows(root: Path = RESULTS, scales: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """:func:`waelib.studies.claims.analyse` of every scale that has results (for the claims table)."""
    rows = []
    for scale in scales or tuple(SCALES):
        res = load_results(scale, root)
        if res:
            rows += claims.analyse(res, scale)
    return rows


def _table_meta(root: Path, scale: str) -> Dict[str, Any]:
    recs = [r for r in run_records(root) if r.get("scale") == scale]
    unknown = {k: "?" for k in ("cpu_name", "cpu_count", "cpu_capability")}
    hardware = sorted({"{cpu_name} ({cpu_count} cores, {cpu_capability})".format(
        **{**unknown, **r.get("metadata", {}).get("hardware", {})}) for r in recs})
    return {"scale": scale, "design": {k: (list(v) if isinstance(v, range) else v)
                                       for k, v in SCALES[scale].items() if k != "seeds"},
            "seeds": {m: list(s) for m, s in SCALES[scale]["seeds"].items()},
            "runs": len(recs), "diverged": [f"{r['model']}/seed{r['seed']}" for r in recs
                                            if r.get("status") == "diverged"],
            "train_seconds_total": round(sum(r.get("train_seconds", 0) for r in recs), 1),
            "hardware": hardware, "pre_registration": "docs/claims.md",
            "results": f"results/claims/{scale}/"}


def forest_plot(rows: Sequence[Mapping[str, Any]]):
    """Paired differences (mean and 95 % interval) of every claim, one panel per metric kind,
    one colour per scale; the shaded side of zero is the side the thesis claims."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn

    rows = [r for r in rows if r.get("ci_lo") is not None]
    kinds = [("fid", "FID / FCD difference (A − B)"), ("sharpness", "sharpness difference (A − B)")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * max(4, len(rows) / 2) + 1.2), squeeze=False)
    for ax, (kind, xlabel) in zip(axes[0], kinds):
        sub = [r for r in rows if r["metric"].endswith(kind)]
        labels = []
        for i, r in enumerate(sub):
            y = len(sub) - 1 - i
            ax.errorbar(r["mean_diff"], y, xerr=[[r["mean_diff"] - r["ci_lo"]], [r["ci_hi"] - r["mean_diff"]]],
                        fmt="o", color=SCALE_COLORS.get(r["scale"], "k"), capsize=3)
            labels.append((y, f"{r['claim']} ({SCALE_LABELS.get(r['scale'], r['scale'])}): "
                              f"{VERDICT_MARK[r['verdict']]}"))
        ax.axvline(0, color="k", lw=0.8)
        lo, hi = ax.get_xlim()
        side = -1 if kind == "fid" else +1
        ax.axvspan(lo if side < 0 else 0, 0 if side < 0 else hi, color="#2ca02c", alpha=0.08, lw=0)
        ax.set_xlim(lo, hi)
        ax.set_yticks([y for y, _ in labels], [t for _, t in labels], fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_title("thesis claims the shaded side", fontsize=9)
    fig.tight_layout()
    return fig


def _image_rows(root: Path, scale: str, key: str) -> Dict[str, np.ndarray]:
    out = {}
    for model in registry.THESIS_MODEL_NAMES:
        p = result_dir(scale, model, FIGURE_SEED, root) / "images.npz"
        if p.is_file():
            with np.load(p) as z:
                out[model] = z[key] if key != "recon_pairs" else np.concatenate(
                    [z["originals"], z["reconstructions"]])
    return out


def figure_grids(root: Path, scale: str, key: str, nrow: int):
    """Figures 4.1-4.3 from the committed images of seed 0: one row of panels per model."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn

    imgs = _image_rows(root, scale, key)
    if not imgs:
        return None
    rows_per_model = 2 if key == "recon_pairs" else 1
    fig, axes = plt.subplots(len(imgs), 1, squeeze=False,
                             figsize=(nrow * 0.9, 1.1 * len(imgs) * rows_per_model + 0.3))
    for ax, (model, x) in zip(axes[:, 0], imgs.items()):
        x = torch.from_numpy(x.reshape(-1, *x.shape[-3:])).float() / 255
        show_images(ax, x, nrow=nrow)
        ax.set_title(registry.THESIS_MODEL_LABELS[model], fontsize=9, color=registry.MODEL_COLORS[model], loc="left")
    fig.tight_layout()
    return fig


def render(root: Path = RESULTS, figures_dir: Path = FIGURES, *, primary: str = "primary") -> List[Path]:
    """Write the claims table, the forest plot, Tables 4.3-4.5 over seeds and Figures 4.1-4.3
    of the ``primary`` scale from ``root`` (no training). Returns the written paths."""
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn

    figures.use_style()
    root, figures_dir = Path(root), Path(figures_dir)
    written: List[Path] = []
    rows = claims_rows(root)
    if not rows:
        return written
    scales = sorted({r["scale"] for r in rows}, key=list(SCALES).index)
    cols = ["claim", "scale", "source", "statement", "thesis_a", "thesis_b", "n_seeds", "mean_diff",
            "ci_lo", "ci_hi", "mde", "p", "p_holm", "verdict", "fragile"]
    meta = {s: _table_meta(root, s) for s in scales}
    written += figures.save_table([{c: r.get(c) for c in cols} for r in rows], "claims", figures_dir,
                            caption="The thesis' claims as paired differences A − B over training "
                                    "seeds: mean, 95 % t-interval, smallest detectable difference "
                                    "(80 % power), paired t-test p (Holm-adjusted over one scale) "
                                    "and the pre-registered verdict (docs/claims.md).",
                            meta=meta, columns=cols, provenance=False,
                            notes=["FID here is the Fréchet classifier distance (FCD) on synthfaces; "
                                   "its values are comparable only within one scale.",
                                   "thesis_a / thesis_b: the thesis' values for A and B (CelebA, "
                                   "128 px, one run each)."]).values()
    fig = forest_plot(rows)
    written += figures.save_figure(fig, "claims_forest", figures_dir, close=True)
    res = load_results(primary, root)
    if res:
        real_path = root / primary / "real.json"
        real = json.loads(real_path.read_text())["result"] if real_path.is_file() else None
        for table in claims.TABLE_METRICS:
            rows = claims.aggregate_table(table, res)
            if real is not None and table != "table4_3_interpolation_sharpness":
                metric = claims.TABLE_METRICS[table]
                rows.append({"model": "real test images", metric[0]: real["fid"]["value"],
                             metric[1]: real["sharpness"], metric[2]: real["laplacian_sharpness"]})
            written += figures.save_table(rows, f"claims_{table}", figures_dir,
                                    caption=f"Thesis {table[5:8].replace('_', '.')} over seeds at the "
                                            f"{SCALE_LABELS[primary]} scale: mean and 95 % interval "
                                            f"half-width (_ci) over n_seeds training seeds; every "
                                            f"Fréchet distance at n = {SCALES[primary]['n_fid']}, "
                                            f"the real row included (its floor).",
                                    meta=meta.get(primary, {}), provenance=False).values()
        for name, key, nrow in (("fig4_1_interpolations", "interpolations", config.N_INTERPOLATION_STEPS),
                                ("fig4_2_random_samples", "samples", 8),
                                ("fig4_3_reconstructions", "recon_pairs", 6)):
            fig = figure_grids(root, primary, key, nrow)
            if fig is not None:
                written += figures.save_figure(fig, f"claims_{name}", figures_dir, formats=("png",))
                plt.close(fig)
    return [Path(p) for p in written]
