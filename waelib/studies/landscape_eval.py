"""The landscape study's measures beyond the thesis' tables (seed 004, ``docs/landscape.md``):

- **precision and recall** (seed 004 Table 4; Kynkäänniemi et al. 2019, k = 3) of a sampler's
  images against the held-out reference images, in the feature space of the FCD
  (:func:`waelib.metrics.precision_recall`);
- **nearest training neighbours** (Figure 17): each sample's distance to its nearest training
  image against each held-out image's, in the same features (:func:`memorisation`);
- **attribute manipulation** (Figures 12-16): the images along the mean-code difference of an
  attribute, and whether the synthfaces classifier sees the target attribute change while the
  others stay (:func:`attribute_effects`).

Every function takes tensors and returns JSON-ready numbers; :mod:`waelib.studies.landscape`
calls them for each trained model.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np
import torch

from .. import metrics
from ..evaluate import generate

__all__ = ["nearest_distances", "nearest_indices", "memorisation", "sampler_measures", "attribute_direction",
           "attribute_paths", "attribute_effects", "evaluate_attributes"]


def nearest_distances(queries: torch.Tensor, refs: torch.Tensor, *, chunk: int = 1024) -> torch.Tensor:
    """Euclidean distance of each query (N, d) to its nearest reference (M, d): (N,) float64."""
    q, r = queries.double(), refs.double()
    return torch.cat([torch.cdist(q[i:i + chunk], r).min(1).values for i in range(0, len(q), chunk)])


def nearest_indices(queries: torch.Tensor, refs: torch.Tensor, k: int = 4) -> torch.Tensor:
    """The indices (N, k) of each query's k nearest references (nearest first)."""
    return torch.cdist(queries.double(), refs.double()).topk(k, dim=1, largest=False).indices


def memorisation(sample_feats: torch.Tensor, test_feats: torch.Tensor, train_feats: torch.Tensor
                 ) -> Dict[str, float]:
    """Seed 004 Figure 17 as numbers: the median distance of the samples (N, d) to their nearest
    training image (M, d), the same for held-out test images (N', d), and their difference
    (``sample - test``; below zero the samples sit closer to the training set than new data
    does, a sign of memorisation). Medians are ``torch.median``'s: the lower of the two middle
    values for an even count."""
    ds = nearest_distances(sample_feats, train_feats)
    dt = nearest_distances(test_feats, train_feats)
    ms, mt = float(ds.median()), float(dt.median())
    return {"median_sample_to_train": ms, "median_test_to_train": mt, "median_difference": ms - mt,
            "n_samples": len(ds), "n_test": len(dt), "n_train": len(train_feats)}


@torch.no_grad()
def sampler_measures(sampler, n: int, *, extractor, ref_feats: torch.Tensor, test_feats: torch.Tensor,
                     train_feats: torch.Tensor, seed: int, k: int = 3) -> Dict[str, Any]:
    """Precision/recall (k) against ``ref_feats`` and :func:`memorisation` of ``n`` samples of
    ``sampler`` (a model or an ex-post model; the same draws as its FCD: seed ``seed``)."""
    samples = generate(sampler, n, seed=seed)
    feats = metrics.compute_features(samples, extractor, batch_size=256, device="cpu")
    precision, recall = metrics.precision_recall(ref_feats, feats, k=k)
    return {"precision": precision, "recall": recall, "k": k, "n": n,
            "memorisation": memorisation(feats, test_feats, train_feats)}


def attribute_direction(codes: torch.Tensor, has: torch.Tensor) -> torch.Tensor:
    """Mean code of the images with an attribute minus that of those without (seed 004 §
    "attribute manipulation"): codes (N, d), has (N,) bool -> (d,)."""
    has = has.bool()
    if has.all() or not has.any():
        raise ValueError("an attribute direction needs images with and without the attribute")
    return codes[has].mean(0) - codes[~has].mean(0)


@torch.no_grad()
def attribute_paths(model, codes: torch.Tensor, direction: torch.Tensor, steps: int) -> torch.Tensor:
    """Decoded codes ``z + t * direction`` for t in linspace(0, 1, steps): codes (n, d) ->
    images (n, steps, 3, S, S) float in [0, 1] (the first column is the plain reconstruction)."""
    t = torch.linspace(0.0, 1.0, steps)
    z = codes[:, None, :] + t[None, :, None] * direction[None, None, :]
    dev = next(model.parameters()).device
    out = model.decode(z.reshape(-1, z.shape[-1]).to(dev)).float().cpu()
    return out.reshape(len(codes), steps, *out.shape[1:])


def attribute_effects(probs: torch.Tensor, target: int) -> Dict[str, Any]:
    """What moving along an attribute's direction changes: probs (n, steps, A), the classifier's
    attribute probabilities along each path. Returns the mean change from the first to the last
    step of the target attribute (``target_change``), of every attribute (``changes``), and the
    largest absolute mean change of any other attribute (``other_max_change``, ``other_max``)."""
    change = (probs[:, -1] - probs[:, 0]).double().mean(0)
    others = [i for i in range(probs.shape[-1]) if i != target]
    worst = max(others, key=lambda i: abs(float(change[i])))
    return {"target_change": float(change[target]), "changes": [float(c) for c in change],
            "other_max_change": abs(float(change[worst])), "other_max": worst,
            "target_start": float(probs[:, 0, target].double().mean()),
            "target_end": float(probs[:, -1, target].double().mean())}


@torch.no_grad()
def evaluate_attributes(model, images: torch.Tensor, labels: torch.Tensor, attr_names: Sequence[str],
                        extractor, attributes: Sequence[str], *, n_paths: int, steps: int,
                        n_keep: int = 2) -> Dict[str, Any]:
    """Seed 004 Figures 12-16 for one model: for each attribute of ``attributes``, the direction
    from the codes of ``images`` (N, 3, S, S) with true ``labels`` (N, A) 0/1 (columns named
    ``attr_names``), then ``n_paths`` images without it moved towards it ("add") and ``n_paths``
    with it moved away ("remove"), scored by ``extractor.predict_attributes``. Returns per
    attribute the two effects (:func:`attribute_effects`) and, under ``"images"``, uint8 paths
    (n_keep, steps, 3, S, S) of each kind for the figure."""
    codes = torch.cat([model.encode(metrics.to_float_images(images[i:i + 256]).to(next(model.parameters()).device))
                       .float().cpu() for i in range(0, len(images), 256)])
    out: Dict[str, Any] = {"attributes": {}, "images": {}, "steps": steps, "attr_names": list(attr_names)}
    for name in attributes:
        j = list(attr_names).index(name)
        has = labels[:, j].bool()
        if has.all() or not has.any():
            out["attributes"][name] = None
            continue
        v = attribute_direction(codes, has)
        entry: Dict[str, Any] = {"n_with": int(has.sum()), "n_without": int((~has).sum()),
                                 "direction_norm": float(v.norm())}
        for kind, sign, pool in (("add", 1.0, ~has), ("remove", -1.0, has)):
            idx = torch.nonzero(pool).flatten()[:n_paths]
            paths = attribute_paths(model, codes[idx], sign * v, steps)
            probs = extractor.predict_attributes(paths.reshape(-1, *paths.shape[2:])).reshape(
                len(idx), steps, -1)
            effect = attribute_effects(probs, j)
            if kind == "remove":         # report the change as "towards the attribute's absence"
                effect["target_change"] = -effect["target_change"]
            entry[kind] = dict(effect, n=len(idx))
            out["images"][f"{name}_{kind}"] = _uint8(paths[:n_keep])
        out["attributes"][name] = entry
    return out


def _uint8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def summarise_attributes(runs: Sequence[Dict[str, Any]], attribute: str, kind: str) -> List[float]:
    """The ``target_change`` of one attribute and kind over runs' attribute results (seeds)."""
    vals = []
    for r in runs:
        e = (r or {}).get("attributes", {}).get(attribute)
        if e and kind in e:
            vals.append(float(e[kind]["target_change"]))
    return vals
