"""The decisions of the study of issue 20 (``docs/claims.md``, "Why WAE-ResNet loses at CPU
scale"), from its results, with the claims study's statistics (:mod:`waelib.studies.claims`:
95 % t-interval over paired seeds, Holm's adjustment, smallest detectable difference).

- :func:`budget_rows` -- the paired gap ``WAE-ResNet - WAE`` of each curve metric at each budget;
- :func:`trend_rows` -- per metric the slope of the gap against log2(steps) (one least-squares
  slope per seed, then the interval over seeds), the gap at the longest budget and the
  pre-registered outcome (:func:`curve_outcome`: flip / close / hold / inconclusive);
- :func:`capacity_rows` -- the capacity control at the primary budget: wide ResNet - WAE and wide
  ResNet - ResNet, and its outcome (:func:`capacity_outcome`);
- :func:`code_rows`, :func:`attribute_rows`, :func:`code_comparison_rows` -- what each code keeps,
  per model (mean and 95 % half-width over seeds) and as paired two-sided comparisons.

Results are addressed as ``results[run key] = {"run": run.json, "stages": {steps: result}}``
(:func:`load_results`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from .claims import CONTRADICTED, INCONCLUSIVE, SUPPORTED, holm, mean_interval, paired_summary, verdict
from .runner import RUN_RECORD_NAME
from .why_plan import ARMS, CODE_METRICS, CODE_PAIRS, CURVE_METRICS, METRICS, results_root, stage_steps

__all__ = ["FLIP", "CLOSE", "HOLD", "load_results", "metric_value", "values", "paired",
           "budget_rows", "log2_slope", "curve_outcome", "trend_rows", "capacity_outcome", "capacity_rows",
           "code_rows", "attribute_rows", "code_comparison_rows", "claims_check_rows"]

FLIP, CLOSE, HOLD = "flip", "close", "hold"
#: The curve's and the control's pair: the thesis' model against WAE.
CURVE_PAIR = ("wae_resnet", "wae_gan")
WIDE = "wae_resnet_wide"


def load_results(profile: str, out_dir: Optional[Path] = None, root: Optional[Path] = None
                 ) -> Dict[str, Dict[str, Any]]:
    """``{"<arm>/seed<k>": {"run": run.json, "stages": {steps: evaluation result}}}`` of every run
    of a profile with a ``run.json`` (finished or diverged; a diverged run keeps the stages it
    finished)."""
    root = Path(root) if root is not None else results_root(profile, out_dir)
    out: Dict[str, Dict[str, Any]] = {}
    for run in sorted(root.glob(f"*/seed*/{RUN_RECORD_NAME}")):
        d = run.parent
        st = {s: json.loads(p.read_text())["result"] for p in sorted(d.glob("eval_step*.json"))
              if (s := stage_steps(p.name)) is not None}
        out[str(d.relative_to(root))] = {"run": json.loads(run.read_text()), "stages": dict(sorted(st.items()))}
    return out


def metric_value(result: Optional[Mapping[str, Any]], metric: str) -> Optional[float]:
    """The value of ``metric`` (:data:`METRICS`) in one stage's evaluation, or None."""
    v: Any = result
    for key in METRICS[metric][0]:
        if not isinstance(v, Mapping) or v.get(key) is None:
            return None
        v = v[key]
    v = float(v)
    return v if np.isfinite(v) else None


def values(results: Mapping[str, Mapping[str, Any]], arm: str, steps: int, metric: str) -> Dict[int, float]:
    """``{seed: value}`` of one arm's metric at a budget, over its runs that reached it."""
    out = {}
    for key, rec in results.items():
        a, seed = key.split("/")
        v = metric_value(rec["stages"].get(steps), metric) if a == arm else None
        if v is not None:
            out[int(seed[4:])] = v
    return out


def paired(results, a: str, b: str, steps: int, metric: str) -> Dict[str, Any]:
    """:func:`waelib.studies.claims.paired_summary` of ``metric(a) - metric(b)`` at ``steps`` over
    the seeds both arms have, with those ``seeds``."""
    va, vb = values(results, a, steps, metric), values(results, b, steps, metric)
    seeds = sorted(set(va) & set(vb))
    return dict(paired_summary([va[s] - vb[s] for s in seeds]), seeds=seeds)




def _diff_cells(s: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    return {f"{prefix}n_seeds": s["n"], f"{prefix}mean_diff": s["mean"], f"{prefix}ci_lo": s["lo"],
            f"{prefix}ci_hi": s["hi"], f"{prefix}p": s["p"], f"{prefix}mde": s["mde"]}


def budget_rows(results, params: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """One row per curve metric and budget: each model's mean, the paired gap WAE-ResNet - WAE
    with its interval, p, Holm's p over every row (fragile: a verdict Holm would undo), the
    smallest detectable difference and the claims study's verdict (thesis: the gap is < 0)."""
    rows = []
    for metric in CURVE_METRICS:
        for steps in params["budgets"]:
            s = paired(results, *CURVE_PAIR, steps, metric)
            if not s["n"]:
                continue
            ra, rb = (mean_interval(values(results, k, steps, metric).values()) for k in CURVE_PAIR)
            rows.append({"metric": metric, "steps": steps, "wae_resnet": ra["mean"], "wae_resnet_ci": ra["ci"],
                         "wae_gan": rb["mean"], "wae_gan_ci": rb["ci"], **_diff_cells(s),
                         "verdict": verdict(s, -1)})
    for row, p_adj in zip(rows, holm([r["p"] for r in rows])):
        row["p_holm"] = p_adj
        row["fragile"] = bool(row["verdict"] != INCONCLUSIVE and p_adj is not None and p_adj >= 0.05)
    return rows


def log2_slope(steps: Sequence[int], gaps: Sequence[float]) -> float:
    """Least-squares slope of ``gaps`` against log2(``steps``): the change of the gap per
    doubling of the budget."""
    x = np.log2(np.asarray(steps, dtype=np.float64))
    y = np.asarray(gaps, dtype=np.float64)
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def curve_outcome(gap: Mapping[str, Any], slope: Mapping[str, Any]) -> str:
    """The pre-registered outcome of the curve from the gap's interval at the longest budget and
    the slope's interval: **flip** if the gap is below 0 (WAE-ResNet better), **hold** if above
    (WAE still better; "narrowing"/"widening" when the slope's interval excludes 0), **close** if
    the gap's interval holds 0 while the slope's lies below 0, else *inconclusive at this scale*."""
    lo, hi, s_lo, s_hi = gap.get("lo"), gap.get("hi"), slope.get("lo"), slope.get("hi")
    if lo is None or hi is None:
        return INCONCLUSIVE
    trend = "" if s_lo is None or s_hi is None else (" (narrowing)" if s_hi < 0 else " (widening)" if s_lo > 0 else "")
    if hi < 0:
        return FLIP
    if lo > 0:
        return HOLD + trend
    if s_hi is not None and s_hi < 0:
        return CLOSE
    return INCONCLUSIVE


def trend_rows(results, params: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """One row per curve metric: the slope of the paired gap against log2(steps) (per seed over
    every budget, then its mean and interval over the seeds that have all budgets), the gap at
    the primary and at the longest budget, the outcome, and where the mean gap's line would
    cross 0 (``zero_crossing_steps``; an extrapolation that decides nothing)."""
    budgets, rows = list(params["budgets"]), []
    for metric in CURVE_METRICS:
        per_budget = {b: paired(results, *CURVE_PAIR, b, metric) for b in budgets}
        va = {b: values(results, CURVE_PAIR[0], b, metric) for b in budgets}
        vb = {b: values(results, CURVE_PAIR[1], b, metric) for b in budgets}
        if not any(s["n"] for s in per_budget.values()):
            continue
        full = sorted(set.intersection(*(set(va[b]) & set(vb[b]) for b in budgets)))
        slopes = [log2_slope(budgets, [va[b][s] - vb[b][s] for b in budgets]) for s in full]
        sl = paired_summary(slopes)
        last, first = per_budget[budgets[-1]], per_budget[params["primary"]]
        cross = None
        if sl["mean"] is not None and sl["mean"] < 0 and last["mean"] is not None and last["mean"] > 0:
            cross = float(2.0 ** (np.log2(budgets[-1]) - last["mean"] / sl["mean"]))
        rows.append({"metric": metric, "n_seeds": sl["n"], "slope_per_doubling": sl["mean"], "slope_ci_lo": sl["lo"],
                     "slope_ci_hi": sl["hi"], "slope_p": sl["p"], "gap_primary": first["mean"],
                     "gap_primary_ci_lo": first["lo"], "gap_primary_ci_hi": first["hi"], "gap_last": last["mean"],
                     "gap_last_ci_lo": last["lo"], "gap_last_ci_hi": last["hi"], "last_steps": budgets[-1],
                     "outcome": curve_outcome(last, sl), "zero_crossing_steps": cross, "seeds": full})
    for row, p_adj in zip(rows, holm([r["slope_p"] for r in rows])):
        row["slope_p_holm"] = p_adj
    return rows


def capacity_outcome(wide_vs_wae: Mapping[str, Any], wide_vs_resnet: Mapping[str, Any]) -> str:
    """The control's outcome: **flip** if wide ResNet - WAE is below 0, **hold** if above (the gap
    stays at equal parameters), **close** if its interval holds 0 while wide ResNet - ResNet lies
    below 0 (widening helped, and WAE's lead is gone), else *inconclusive at this scale*."""
    lo, hi, r_hi = wide_vs_wae.get("lo"), wide_vs_wae.get("hi"), wide_vs_resnet.get("hi")
    if lo is None or hi is None:
        return INCONCLUSIVE
    if hi < 0:
        return FLIP
    if lo > 0:
        return HOLD
    if r_hi is not None and r_hi < 0:
        return CLOSE
    return INCONCLUSIVE


def capacity_rows(results, params: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """One row per curve metric at the primary budget: the gap ResNet - WAE, the control's gaps
    wide - WAE and wide - ResNet (intervals, p, smallest detectable difference), the share of
    the gap the wider encoder closed (descriptive) and the outcome."""
    steps, rows = params["primary"], []
    for metric in CURVE_METRICS:
        g = paired(results, *CURVE_PAIR, steps, metric)
        w = paired(results, WIDE, CURVE_PAIR[1], steps, metric)
        r = paired(results, WIDE, CURVE_PAIR[0], steps, metric)
        if not w["n"]:
            continue
        share = (1.0 - w["mean"] / g["mean"]) if g["mean"] not in (None, 0.0) else None
        rows.append({"metric": metric, "steps": steps, "gap_resnet_wae": g["mean"], "gap_ci_lo": g["lo"],
                     "gap_ci_hi": g["hi"], **_diff_cells(w, "wide_wae_"), **_diff_cells(r, "wide_resnet_"),
                     "share_closed": share, "outcome": capacity_outcome(w, r)})
    adjusted = holm([r[k] for r in rows for k in ("wide_wae_p", "wide_resnet_p")])
    for i, row in enumerate(rows):
        row["wide_wae_p_holm"], row["wide_resnet_p_holm"] = adjusted[2 * i], adjusted[2 * i + 1]
    return rows


def _stages_of(results, arm: str) -> List[int]:
    return sorted({s for key, rec in results.items() if key.split("/")[0] == arm for s in rec["stages"]})


def code_rows(results, params: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Per arm at the primary budget (and, for the curve, at the longest): the FCDs, RMSE and
    every code metric, mean and 95 % half-width over seeds."""
    rows = []
    for key, a in ARMS.items():
        have = _stages_of(results, key)
        for steps in dict.fromkeys(s for s in (params["primary"], max(have, default=None)) if s in have):
            n = sum(1 for k, rec in results.items() if k.split("/")[0] == key and steps in rec["stages"])
            row: Dict[str, Any] = {"model": a.label, "arm": key, "steps": steps, "n_seeds": n}
            for metric in CURVE_METRICS + CODE_METRICS:
                s = mean_interval(values(results, key, steps, metric).values())
                row[metric], row[f"{metric}_ci"] = s["mean"], s["ci"]
            rows.append(row)
    return rows


def attribute_rows(results, params: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Per arm and attribute at the primary budget: the classifier's accuracy on reconstructions
    against the true attribute (mean and 95 % half-width over seeds), on the originals (its
    ceiling), the reconstructions' agreement with the originals' predictions and the base rate."""
    steps, rows = params["primary"], []
    for key, a in ARMS.items():
        codes = [rec["stages"][steps]["codes"] for k, rec in results.items()
                 if k.split("/")[0] == key and steps in rec["stages"]]
        if not codes:
            continue
        for j, name in enumerate(codes[0]["attr_names"]):
            acc = mean_interval([c["attributes"]["recon"][j] for c in codes])
            rows.append({"model": a.label, "arm": key, "attribute": name, "recon_accuracy": acc["mean"],
                         "recon_accuracy_ci": acc["ci"],
                         "original_accuracy": float(np.mean([c["attributes"]["original"][j] for c in codes])),
                         "agreement": float(np.mean([c["attributes"]["agreement"][j] for c in codes])),
                         "base_rate": float(np.mean([c["attributes"]["base_rate"][j] for c in codes])),
                         "n_seeds": acc["n"]})
    return rows


def two_sided(s: Mapping[str, Any]) -> str:
    """"A higher" / "A lower" when the interval of A - B excludes 0, else "cannot tell"."""
    v = verdict(s, +1)
    return {SUPPORTED: "A higher", CONTRADICTED: "A lower"}.get(v, "cannot tell")


def code_comparison_rows(results, params: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The code analysis' paired comparisons (:data:`CODE_PAIRS`, A - B) at the primary budget on
    every code metric and the reconstruction FCD, two-sided, with Holm's p over all rows."""
    steps, rows = params["primary"], []
    for a, b in CODE_PAIRS:
        for metric in ("recon_fcd",) + CODE_METRICS:
            s = paired(results, a, b, steps, metric)
            if s["n"]:
                rows.append({"a": ARMS[a].label, "b": ARMS[b].label, "metric": metric, "steps": steps,
                             **_diff_cells(s), "verdict": two_sided(s)})
    for row, p_adj in zip(rows, holm([r["p"] for r in rows])):
        row["p_holm"] = p_adj
    return rows


def claims_check_rows(results, claims_second: Path, steps: int = 2000) -> List[Dict[str, Any]]:
    """The consistency check of docs/claims.md: per WAE/WAE-ResNet seed of the claims study's second
    scale (``claims_second`` = ``results/claims/second``), its sample and reconstruction FCD
    beside this study's stage at ``steps`` of the same seed, and whether they are identical."""
    rows = []
    for arm in CURVE_PAIR:
        for ev in sorted(Path(claims_second).glob(f"{arm}/seed*/eval.json")):
            seed = int(ev.parent.name[4:])
            ours = results.get(f"{arm}/seed{seed}", {}).get("stages", {}).get(steps)
            if ours is None:
                continue
            theirs = json.loads(ev.read_text())["result"]
            row: Dict[str, Any] = {"arm": arm, "seed": seed, "steps": steps}
            for metric in ("sample_fcd", "recon_fcd"):
                row[f"{metric}_claims"], row[metric] = metric_value(theirs, metric), metric_value(ours, metric)
            row["identical"] = all(row[f"{m}_claims"] == row[m] for m in ("sample_fcd", "recon_fcd"))
            rows.append(row)
    return rows
