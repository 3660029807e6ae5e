"""The thesis' claims as falsifiable paired comparisons, and their statistics (docs/claims.md).

A claim compares two models A and B on one metric. For every training seed ``s`` both models
were trained with (same initialisation seed, data order and evaluation draws), the paired
difference is ``d_s = metric(A, s) - metric(B, s)``. Over the seeds:

- :func:`paired_summary` -- mean difference, 95 % t-interval, paired t-test p-value and the
  smallest difference the design detects with 80 % power (tested against scipy);
- :func:`holm` -- Holm's step-down adjustment of the p-values of one scale;
- :func:`verdict` -- *supported* / *contradicted* / *inconclusive at this scale*;
- :func:`analyse` -- every claim of :data:`CLAIMS` at one scale, from the ``eval.json`` results;
- :func:`aggregate_table` -- thesis Tables 4.3-4.5 as mean ± 95 % interval over seeds.

Evaluations are addressed as ``results[model][seed] -> result dict`` (the ``"result"`` of an
``eval.json`` written by :func:`waelib.evaluate.save_evaluation`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy import stats

from .. import config, registry

Results = Mapping[str, Mapping[int, Mapping[str, Any]]]

#: Where each metric lives in an evaluation result.
METRICS: Dict[str, Tuple[str, ...]] = {
    "sample_fid": ("samples", "fid", "value"),
    "recon_fid": ("reconstructions", "fid", "value"),
    "interp_fid": ("interpolations", "fid", "value"),
    "sample_sharpness": ("samples", "sharpness"),
    "recon_sharpness": ("reconstructions", "sharpness"),
    "interp_sharpness": ("interpolations", "sharpness"),
    "sample_laplacian": ("samples", "laplacian_sharpness"),
    "recon_laplacian": ("reconstructions", "laplacian_sharpness"),
    "interp_laplacian": ("interpolations", "laplacian_sharpness"),
}

#: The thesis' value of each metric per model (Tables 4.3-4.5), for the "thesis" columns.
THESIS_VALUES: Dict[str, Dict[str, float]] = {
    "sample_fid": {m: v[0] for m, v in config.THESIS_TABLE_4_4.items()},
    "sample_sharpness": {m: v[1] for m, v in config.THESIS_TABLE_4_4.items()},
    "recon_fid": {m: v[0] for m, v in config.THESIS_TABLE_4_5.items()},
    "recon_sharpness": {m: v[1] for m, v in config.THESIS_TABLE_4_5.items()},
    "interp_sharpness": dict(config.THESIS_TABLE_4_3),
}


@dataclass(frozen=True)
class Claim:
    """``metric(a) - metric(b)`` has the sign ``direction`` (-1: A lower, +1: A higher)."""

    id: str
    source: str
    statement: str
    metric: str
    a: str
    b: str
    direction: int


CLAIMS: Tuple[Claim, ...] = (
    Claim("C1", "Table 4.4", "WAE-ResNet has a lower sample FID than WAE", "sample_fid",
          "wae_resnet", "wae_gan", -1),
    Claim("C2", "Table 4.5", "WAE-ResNet has a lower reconstruction FID than WAE", "recon_fid",
          "wae_resnet", "wae_gan", -1),
    Claim("C3a", "Table 4.4", "WAE-ResNet's samples are sharper than WAE's", "sample_sharpness",
          "wae_resnet", "wae_gan", +1),
    Claim("C3b", "Table 4.5", "WAE-ResNet's reconstructions are sharper than WAE's",
          "recon_sharpness", "wae_resnet", "wae_gan", +1),
    Claim("C3c", "Table 4.3", "WAE-ResNet's interpolations are sharper than WAE's",
          "interp_sharpness", "wae_resnet", "wae_gan", +1),
    Claim("C4a", "Table 4.4", "VAE-ResNet has a lower sample FID than VAE", "sample_fid",
          "vae_resnet", "vae", -1),
    Claim("C4b", "Table 4.5", "VAE-ResNet has a lower reconstruction FID than VAE", "recon_fid",
          "vae_resnet", "vae", -1),
    *(Claim(f"C5.{i + 1}", "Table 4.4", f"{registry.THESIS_MODEL_LABELS[w]} has a lower sample FID than "
            f"{registry.THESIS_MODEL_LABELS[v]}", "sample_fid", w, v, -1)
      for i, (w, v) in enumerate((w, v) for w in ("wae_gan", "wae_resnet")
                                 for v in ("vae", "vae_resnet"))),
)

#: C5 ("both WAEs beat both VAEs") is the conjunction of its four pairs.
COMPOSITE = {"C5": ("C5.1", "C5.2", "C5.3", "C5.4")}

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive at this scale"


def metric_value(result: Mapping[str, Any], metric: str) -> Optional[float]:
    """The value of ``metric`` (a key of :data:`METRICS`) in one evaluation, or None."""
    v: Any = result
    for key in METRICS[metric]:
        if not isinstance(v, Mapping) or key not in v or v[key] is None:
            return None
        v = v[key]
    return float(v)


def paired_differences(results: Results, metric: str, a: str, b: str) -> Dict[int, float]:
    """``{seed: metric(a, seed) - metric(b, seed)}`` over the seeds both models have."""
    ra, rb = results.get(a, {}), results.get(b, {})
    out = {}
    for seed in sorted(set(ra) & set(rb)):
        va, vb = metric_value(ra[seed], metric), metric_value(rb[seed], metric)
        if va is not None and vb is not None:
            out[seed] = va - vb
    return out


def paired_summary(d: Sequence[float], level: float = 0.95, power: float = 0.80) -> Dict[str, Any]:
    """Mean of the paired differences ``d`` (n,), its two-sided t-interval, the paired t-test.

    Returns ``n``, ``mean``, ``sd``, ``lo``/``hi`` (``mean ± t(1-α/2, n-1) sd/√n``), ``p`` (the
    two-sided one-sample t-test of mean 0, i.e. scipy's ``ttest_rel``) and ``mde``: the smallest
    true difference detected with probability ``power`` at level ``1 - level``,
    ``(t(1-α/2, n-1) + t(power, n-1)) sd/√n``. With fewer than 2 values only ``n``/``mean``.
    """
    x = np.asarray(list(d), dtype=np.float64)
    n = int(x.size)
    out: Dict[str, Any] = {"n": n, "mean": float(x.mean()) if n else None, "sd": None,
                           "lo": None, "hi": None, "p": None, "mde": None}
    if n < 2:
        return out
    sd = float(x.std(ddof=1))
    se = sd / np.sqrt(n)
    tq = float(stats.t.ppf(0.5 + level / 2, n - 1))
    out.update(sd=sd, lo=out["mean"] - tq * se, hi=out["mean"] + tq * se,
               mde=(tq + float(stats.t.ppf(power, n - 1))) * se)
    if se > 0:
        out["p"] = float(2 * stats.t.sf(abs(out["mean"]) / se, n - 1))
    else:
        out["p"] = 0.0 if out["mean"] != 0 else 1.0
    return out


def holm(pvalues: Sequence[Optional[float]]) -> List[Optional[float]]:
    """Holm's step-down adjusted p-values (None stays None), monotone and capped at 1."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    order = sorted(idx, key=lambda i: pvalues[i])
    m, running = len(order), 0.0
    adjusted: List[Optional[float]] = [None] * len(pvalues)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def verdict(summary: Mapping[str, Any], direction: int) -> str:
    """*supported* if the interval excludes 0 on the claimed side, *contradicted* if on the
    other side, else *inconclusive at this scale* (also with fewer than 2 seeds)."""
    lo, hi = summary.get("lo"), summary.get("hi")
    if lo is None or hi is None:
        return INCONCLUSIVE
    if (direction < 0 and hi < 0) or (direction > 0 and lo > 0):
        return SUPPORTED
    if (direction < 0 and lo > 0) or (direction > 0 and hi < 0):
        return CONTRADICTED
    return INCONCLUSIVE


def composite_verdict(parts: Sequence[str]) -> str:
    """The verdict of a conjunction: contradicted if any part is, supported if every part is,
    else inconclusive."""
    if any(p == CONTRADICTED for p in parts):
        return CONTRADICTED
    if parts and all(p == SUPPORTED for p in parts):
        return SUPPORTED
    return INCONCLUSIVE


def analyse(results: Results, scale: str, claims: Sequence[Claim] = CLAIMS) -> List[Dict[str, Any]]:
    """One row per claim (and per composite claim) at one scale: the thesis' two values, our
    mean difference with its interval, p, Holm-adjusted p, smallest detectable difference and
    the verdict. A verdict that Holm's adjustment would make inconclusive is marked fragile."""
    rows: List[Dict[str, Any]] = []
    for c in claims:
        d = paired_differences(results, c.metric, c.a, c.b)
        s = paired_summary(list(d.values()))
        thesis = THESIS_VALUES.get(c.metric, {})
        ta, tb = thesis.get(c.a), thesis.get(c.b)
        rows.append({"claim": c.id, "scale": scale, "source": c.source, "statement": c.statement,
                     "metric": c.metric, "thesis_a": ta, "thesis_b": tb,
                     "thesis_diff": (ta - tb) if ta is not None and tb is not None else None,
                     "n_seeds": s["n"], "mean_diff": s["mean"], "ci_lo": s["lo"], "ci_hi": s["hi"],
                     "p": s["p"], "mde": s["mde"], "verdict": verdict(s, c.direction),
                     "direction": c.direction, "seeds": sorted(d)})
    for row, p_adj in zip(rows, holm([r["p"] for r in rows])):
        row["p_holm"] = p_adj
        row["fragile"] = bool(row["verdict"] != INCONCLUSIVE and p_adj is not None and p_adj >= 0.05)
    by_id = {r["claim"]: r for r in rows}
    for cid, parts in COMPOSITE.items():
        if all(p in by_id for p in parts):
            sub = [by_id[p]["verdict"] for p in parts]
            rows.append({"claim": cid, "scale": scale, "source": by_id[parts[0]]["source"],
                         "statement": "both WAEs beat both VAEs on sample FID (" + ", ".join(parts) + ")",
                         "metric": "sample_fid", "verdict": composite_verdict(sub),
                         "n_seeds": min(by_id[p]["n_seeds"] for p in parts),
                         "fragile": any(by_id[p]["fragile"] for p in parts)})
    return rows


def mean_interval(values: Sequence[float]) -> Dict[str, Any]:
    """``n``, ``mean`` and the 95 % t-interval half-width ``ci`` of ``values`` (one per seed);
    ``ci`` is None below two values, and ``mean`` too for none."""
    x = np.asarray(list(values), dtype=np.float64)
    if not x.size:
        return {"n": 0, "mean": None, "ci": None}
    ci = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else None
    return {"n": int(x.size), "mean": float(x.mean()), "ci": ci}


def aggregate(results: Results, metric: str, model: str) -> Dict[str, Any]:
    """Mean over seeds of one model's metric with a 95 % t-interval half-width ``ci``."""
    return mean_interval([v for v in (metric_value(r, metric) for r in results.get(model, {}).values())
                          if v is not None])


#: Thesis table -> the metrics of its columns (ours), the thesis' own columns.
TABLE_METRICS = {
    "table4_3_interpolation_sharpness": ("interp_sharpness", "interp_laplacian", "interp_fid"),
    "table4_4_random_samples": ("sample_fid", "sample_sharpness", "sample_laplacian"),
    "table4_5_reconstructions": ("recon_fid", "recon_sharpness", "recon_laplacian"),
}


def aggregate_table(table: str, results: Results, models: Sequence[str] = registry.THESIS_MODEL_NAMES
                    ) -> List[Dict[str, Any]]:
    """Rows of a thesis table over seeds: per model the thesis' numbers, and ours as mean and
    95 % interval half-width (``*_ci``) over the seeds that model has (``n_seeds``)."""
    if table not in TABLE_METRICS:
        raise ValueError(f"unknown table {table!r}; valid: {', '.join(TABLE_METRICS)}")
    rows = []
    for model in models:
        if model not in results:
            continue
        row: Dict[str, Any] = {"model": registry.THESIS_MODEL_LABELS[model]}
        for metric in TABLE_METRICS[table]:
            agg = aggregate(results, metric, model)
            row[f"thesis_{metric}"] = THESIS_VALUES.get(metric, {}).get(model)
            row[metric], row[f"{metric}_ci"] = agg["mean"], agg["ci"]
            row["n_seeds"] = agg["n"]
        rows.append({k: v for k, v in row.items()
                     if not (k.startswith("thesis_") and k[7:] not in THESIS_VALUES)})
    return rows
