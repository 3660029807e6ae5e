"""Seed 004's orderings as paired comparisons (``docs/landscape.md``, "The orderings under test").

An ordering is one or more parts ``(metric, A, B, direction)``: over the training seeds, the
paired difference ``d_s = metric(A, s) - metric(B, s)`` of two rows (:data:`ROWS` of
:mod:`waelib.studies.landscape_plan`) must have the sign ``direction`` (-1: A lower, as FCD;
+1: A higher, as precision and recall). The statistics and the verdict rules are the claims
study's (:mod:`waelib.studies.claims`): a 95 % t-interval, Holm's adjustment over every part of
one scale, and a composite verdict (supported only if every part is, contradicted if any part
is). L10 (the interior minimum of FlexAE's capacity sweep) chooses its best capacity from the
data in the pre-registered way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .claims import INCONCLUSIVE, SUPPORTED, composite_verdict, holm, paired_summary, verdict
from .landscape_plan import CAPACITY_ARMS, ROWS

__all__ = ["Ordering", "ORDERINGS", "row_values", "metric_of", "analyse_orderings", "capacity_choice"]

#: The verdict of an ordering none of whose parts has two paired seeds (e.g. a row that diverged).
NOT_TESTABLE = "not testable"

#: Row-level metrics: where each lives in an ``eval.json`` result, for a row's sampler.
METRIC_LABELS = {"sample_fcd": "sample FCD", "recon_fcd": "reconstruction FCD", "precision": "precision",
                 "recall": "recall", "memorisation": "median NN distance, samples − test"}


def metric_of(ev: Optional[Mapping[str, Any]], metric: str, sampler: str) -> Optional[float]:
    """The value of ``metric`` for one evaluation ``ev`` read with ``sampler`` ("prior"/"gmm")."""
    if not ev:
        return None
    try:
        if metric == "sample_fcd":
            return float(ev["samples" if sampler == "prior" else "samples_gmm"]["fid"]["value"])
        if metric == "recon_fcd":
            return float(ev["reconstructions"]["fid"]["value"])
        if metric in ("precision", "recall"):
            return float(ev["pr"][sampler][metric])
        if metric == "memorisation":
            return float(ev["pr"][sampler]["memorisation"]["median_difference"])
    except (KeyError, TypeError):
        return None
    raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(METRIC_LABELS)}")


def row_values(results: Mapping[str, Mapping[str, Any]], scale: str, row: str, metric: str
               ) -> Dict[int, float]:
    """``{seed: value}`` of a row (of :data:`ROWS`, or a capacity arm) at one scale, from the
    results of :func:`waelib.studies.landscape_plan.load_results` (diverged runs are absent)."""
    r = ROWS.get(row)
    arm, sampler = (r.arm, r.sampler) if r is not None else (row, "prior")
    out = {}
    for key, rec in results.items():
        sc, a, seed = key.split("/")
        if sc == scale and a == arm and rec["run"].get("status") == "done":
            v = metric_of(rec["eval"], metric, sampler)
            if v is not None and np.isfinite(v):
                out[int(seed[4:])] = v
    return out


@dataclass(frozen=True)
class Ordering:
    """One of seed 004's orderings: ``parts`` = ((metric, A, B, direction), ...)."""

    id: str
    source: str
    statement: str
    parts: Tuple[Tuple[str, str, str, int], ...]


_OTHERS = tuple(r for r in ROWS if r != "flexae")
ORDERINGS: Tuple[Ordering, ...] = (
    Ordering("L1", "Tables 3, 4", "FlexAE beats every other row on generation",
             tuple(("sample_fcd", "flexae", r, -1) for r in _OTHERS)),
    Ordering("L2", "Table 3", "an ex-post GMM improves a deterministic auto-encoder's samples",
             (("sample_fcd", "injflow_gmm", "injflow", -1), ("sample_fcd", "rae_gmm", "rae", -1))),
    Ordering("L3", "Table 3", "the regularised deterministic AEs with a GMM beat the VAE on samples",
             (("sample_fcd", "rae_gmm", "vae_fixed_var", -1), ("sample_fcd", "ae_gmm", "vae_fixed_var", -1))),
    Ordering("L4", "Tables 1, 3, 4", "the 2-Stage VAE beats the VAE on samples",
             (("sample_fcd", "two_stage_vae", "vae_fixed_var", -1), ("precision", "two_stage_vae", "vae_fixed_var", 1),
              ("recall", "two_stage_vae", "vae_fixed_var", 1))),
    Ordering("L5", "Table 3", "β-VAE beats the VAE on reconstructions and samples",
             (("recon_fcd", "beta_vae", "vae_fixed_var", -1), ("sample_fcd", "beta_vae", "vae_fixed_var", -1))),
    Ordering("L6", "Table 1", "MaskAAE beats WAE-GAN on samples", (("sample_fcd", "mask_aae_paper", "wae_gan", -1),)),
    Ordering("L7", "Table 3", "VAE + Flow beats the VAE on samples",
             (("sample_fcd", "vae_flow", "vae_fixed_var", -1),)),
    Ordering("L8", "Table 1", "the cross-entropy VAE beats the fixed-variance VAE on samples",
             (("sample_fcd", "vae_bce", "vae_fixed_var", -1),)),
    Ordering("L9", "Table 4", "RAE + GMM beats the VAE in precision and in recall",
             (("precision", "rae_gmm", "vae_fixed_var", 1), ("recall", "rae_gmm", "vae_fixed_var", 1))),
)


def capacity_choice(results: Mapping[str, Mapping[str, Any]], scale: str,
                    seeds: Optional[Sequence[int]] = None) -> Optional[str]:
    """L10's c*: the capacity arm with the lowest mean sample FCD over ``seeds`` (default all)."""
    best, best_v = None, np.inf
    for a in CAPACITY_ARMS:
        vals = [v for s, v in row_values(results, scale, a, "sample_fcd").items() if seeds is None or s in seeds]
        if vals and float(np.mean(vals)) < best_v:
            best, best_v = a, float(np.mean(vals))
    return best


def _l10(results: Mapping[str, Mapping[str, Any]], scale: str) -> Ordering:
    """L10 with its c* (no parts, hence "not testable", while the sweep has no results)."""
    caps = tuple(CAPACITY_ARMS)
    best = capacity_choice(results, scale)
    if best is None:
        return Ordering("L10", "Table 5", "FlexAE's sample FCD has an interior minimum over the prior generator's "
                        "capacity (no results of the capacity sweep at this scale: it runs at the primary scale)", ())
    return Ordering("L10", "Table 5", f"FlexAE's sample FCD has an interior minimum over the prior "
                    f"generator's capacity (c* = {best})",
                    (("sample_fcd", best, caps[0], -1), ("sample_fcd", best, caps[-1], -1)))


def _part_row(scale: str, o: Ordering, part: Tuple[str, str, str, int],
              results: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
    metric, a, b, direction = part
    va, vb = row_values(results, scale, a, metric), row_values(results, scale, b, metric)
    seeds = sorted(set(va) & set(vb))
    s = paired_summary([va[k] - vb[k] for k in seeds])
    same = a == b
    return {"ordering": o.id, "scale": scale, "source": o.source, "metric": metric, "a": a, "b": b,
            "direction": direction, "n_seeds": s["n"], "mean_diff": s["mean"], "ci_lo": s["lo"], "ci_hi": s["hi"],
            "p": None if same else s["p"], "mde": s["mde"], "verdict": INCONCLUSIVE if same else verdict(s, direction),
            "seeds": seeds}


def analyse_orderings(results: Mapping[str, Mapping[str, Any]], scale: str) -> Tuple[List[Dict[str, Any]],
                                                                                     List[Dict[str, Any]]]:
    """Every ordering's parts and verdicts at one scale: ``(parts, orderings)``. Parts carry
    the mean paired difference, its 95 % interval, p, Holm's p over all parts of the scale, the
    smallest detectable difference and the verdict; an ordering's verdict is the composite of its
    parts', marked fragile where a part's verdict would not survive Holm's adjustment."""
    ords = list(ORDERINGS) + [_l10(results, scale)]
    parts = [_part_row(scale, o, part, results) for o in ords for part in o.parts]
    for row, p_adj in zip(parts, holm([r["p"] for r in parts])):
        row["p_holm"] = p_adj
        row["fragile"] = bool(row["verdict"] != INCONCLUSIVE and p_adj is not None and p_adj >= 0.05)
    summary = []
    for o in ords:
        mine = [p for p in parts if p["ordering"] == o.id]
        tested = [p for p in mine if p["n_seeds"] >= 2]
        v = composite_verdict([p["verdict"] for p in tested]) if tested else NOT_TESTABLE
        if len(tested) < len(mine) and v == SUPPORTED:      # an untested part: "every part" unknown
            v = INCONCLUSIVE
        summary.append({"ordering": o.id, "scale": scale, "source": o.source, "statement": o.statement,
                        "n_parts": len(mine), "n_tested": len(tested), "verdict": v,
                        "fragile": any(p["fragile"] for p in mine),
                        "n_seeds": min((p["n_seeds"] for p in mine), default=0)})
    return parts, summary
