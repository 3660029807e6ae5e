"""Evaluation of trained models: the protocol behind thesis Tables 4.3-4.5 and Figures 4.1-4.3.

- :func:`interpolation_rows` -- Figure 4.1 / Table 4.3: latent interpolation between two real
  test images; the first and last image of each row are the real images (§4.4.1).
- :func:`generate` -- Figure 4.2 / Table 4.4: decoded draws from the prior (§4.4.2).
- :func:`reconstruct` -- Figure 4.3 / Table 4.5: reconstructions of test images (§4.4.3).
- :func:`evaluate_samples` -- Table 4.4's numbers for one sampler (the prior or an ex-post
  density, :mod:`waelib.expost`).
- :func:`evaluate_model` -- every number of the three tables for one model, plus the extra
  columns of seed 003 (RMSE, MS-SSIM diversity), as a JSON-ready dict that names the feature
  extractor, the reference set, the sample counts and the sharpness definition.
- :func:`save_evaluation` / :func:`load_evaluation` -- ``eval.json`` beside a run (atomic).
- :func:`results_table` -- the rows of one thesis table, with the thesis' number beside ours.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import torch

from . import config, metrics, registry
from .utils import atomic_write_json, run_metadata

Images = torch.Tensor
SHARPNESS_DEFINITION = ("thesis §2.5: grey (BT.601), central-difference gradient magnitude, "
                        "mean over the image, pixels on a 0-255 scale (waelib.metrics.sharpness); "
                        "a total variation: blurring a monotone edge leaves it unchanged and "
                        "pixel noise raises it")
LAPLACIAN_DEFINITION = ("official WAE code: variance of the 3x3 Laplacian (0,1,0/1,-4,1/0,1,0, "
                        "'valid') of the grey image on a 0-1 scale, mean over images "
                        "(waelib.metrics.laplacian_sharpness); blur lowers it")


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def generate(model, n: int, *, batch_size: int = 256, seed: int = 0) -> Images:
    """n decoded prior draws (§4.4.2): (n, 3, S, S) float32 in [0, 1], on the CPU.

    The codes come from a seeded CPU generator, so the same seed gives the same samples on
    any device.
    """
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    out = [model.decode(model.sample_prior(min(batch_size, n - i), generator=gen)).float().cpu()
           for i in range(0, n, batch_size)]
    return torch.cat(out) if out else torch.empty(0)


@torch.no_grad()
def reconstruct(model, images: Images, *, batch_size: int = 256) -> Images:
    """decode(encode(x)) for (N, 3, S, S) images (uint8 or float): float32 CPU (N, 3, S, S)."""
    model.eval()
    dev = _model_device(model)
    return torch.cat([model.reconstruct(metrics.to_float_images(images[i:i + batch_size]).to(dev)).float().cpu()
                      for i in range(0, len(images), batch_size)])


@torch.no_grad()
def interpolation_rows(model, images_a: Images, images_b: Images,
                       steps: int = config.N_INTERPOLATION_STEPS) -> Images:
    """Latent interpolations (§4.4.1, Figure 4.1): (P, steps, 3, S, S).

    Row p is [a_p, G(z_1), ..., G(z_{steps-2}), b_p]: the two real images at the ends and,
    between them, decodings of z_t = (1 - t) Q(a_p) + t Q(b_p) at evenly spaced interior t.
    For a VAE, Q is the posterior mean.
    """
    if steps < 3:
        raise ValueError(f"steps must be at least 3 (two real images and one interpolation), got {steps}")
    model.eval()
    dev = _model_device(model)
    a, b = metrics.to_float_images(images_a).to(dev), metrics.to_float_images(images_b).to(dev)
    za, zb = model.encode(a), model.encode(b)
    t = torch.linspace(0, 1, steps, device=dev)[1:-1]
    z = (1 - t)[None, :, None] * za[:, None] + t[None, :, None] * zb[:, None]
    mid = model.decode(z.reshape(-1, za.shape[1])).reshape(len(a), steps - 2, *a.shape[1:])
    return torch.cat([a[:, None], mid, b[:, None]], dim=1).float().cpu()


def interpolation_pairs(n_images: int, n_pairs: int, *, seed: int = 0):
    """Seeded disjoint pairs of indices (two (n_pairs,) tensors) among n_images test images."""
    if 2 * n_pairs > n_images:
        raise ValueError(f"{n_pairs} pairs need {2 * n_pairs} images, only {n_images} given")
    perm = torch.randperm(n_images, generator=torch.Generator().manual_seed(seed))
    return perm[:n_pairs], perm[n_pairs:2 * n_pairs]


def mean_and_se(values: torch.Tensor) -> Dict[str, float]:
    """Mean, standard deviation and standard error ``sd / sqrt(n)`` of ``values`` (n,).

    The standard error is the sampling error of the mean over the evaluation draw (which images
    were sampled, which pairs interpolated); it is NOT the spread over training seeds, which
    :mod:`waelib.studies.claims_study` measures. ``se`` is None for a single value.
    """
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    n = int(v.numel())
    if n == 0:
        raise ValueError("mean_and_se of no values")
    sd = float(v.std(unbiased=True)) if n > 1 else None
    return {"mean": float(v.mean()), "sd": sd, "se": sd / n ** 0.5 if sd is not None else None,
            "n": n}


def fid_entry(images: Images, extractor, reference: metrics.FeatureStats, n: int, *,
              batch_size: int = 256, device=None) -> Dict[str, Any]:
    """FID/FCD of exactly the first ``n`` of ``images`` (N, 3, S, S) against ``reference``.

    Every Fréchet distance of one evaluation is taken at the same ``n`` (the real-vs-real row
    too), because the estimator is biased upward by roughly ``tr(Sigma)/n``-sized terms: rows
    measured on different n are not comparable (docs/deviations.md). When ``n`` or the
    reference size is below the feature dimension, the entry carries a ``note`` saying so.
    """
    if len(images) < n:
        raise ValueError(f"a Fréchet distance at n={n} needs {n} images, only {len(images)} given")
    stats = metrics.compute_statistics(images[:n], extractor, batch_size=batch_size, device=device)
    entry = metrics.fid_from_stats(stats, reference).as_dict()
    dim = int(getattr(extractor, "dim", 0) or stats.mu.shape[0])
    entry["dim"] = dim
    if min(n, reference.n) < dim:
        entry["note"] = (f"n={n} (reference {reference.n}) is below the feature dimension {dim}: "
                         f"the value is dominated by small-sample bias; compare it only with the "
                         f"real-vs-real row at the same n")
    return entry


def _image_summary(images: Images) -> Dict[str, Any]:
    """Per-image sharpness (thesis §2.5) and variance-of-Laplacian, as mean and standard error."""
    tv, lap = metrics.sharpness(images), metrics.laplacian_sharpness(images)
    s, ls = mean_and_se(tv), mean_and_se(lap)
    return {"sharpness": s["mean"], "sharpness_se": s["se"],
            "laplacian_sharpness": ls["mean"], "laplacian_sharpness_se": ls["se"]}


def evaluate_samples(model, n_samples: int, *, extractor, reference: metrics.FeatureStats, n_fid: int,
                     seed: int = 0, n_diversity_pairs: int = 500, batch_size: int = 256,
                     device: Optional[Union[str, torch.device]] = None) -> Dict[str, Any]:
    """Table 4.4 for one sampler: decode ``n_samples`` draws of ``model.sample_prior`` (the
    prior, or a fitted density with :class:`waelib.expost.ExPostModel`) and measure them.

    Returns a JSON-ready dict: ``n``, ``fid`` (FID/FCD of the first ``n_fid`` samples),
    sharpness (thesis §2.5) and variance of the Laplacian with standard errors, and
    ``ms_ssim_diversity`` over ``n_diversity_pairs`` random pairs (seed 003; lower = more diverse).
    """
    samples = generate(model, n_samples, batch_size=batch_size, seed=seed)
    return {"n": n_samples,
            "fid": fid_entry(samples, extractor, reference, n_fid, batch_size=batch_size, device=device),
            **_image_summary(samples),
            "ms_ssim_diversity": metrics.ms_ssim_diversity(
                samples, n_pairs=n_diversity_pairs,
                generator=torch.Generator().manual_seed(seed)) if len(samples) > 1 else None}


def evaluate_model(model, test_images: Images, *, extractor, reference: metrics.FeatureStats,
                   n_fid: Optional[int] = None, n_samples: Optional[int] = None,
                   n_recon: Optional[int] = None, n_interp_pairs: int = config.N_INTERPOLATION_PAIRS,
                   steps: int = config.N_INTERPOLATION_STEPS, n_diversity_pairs: int = 500,
                   seed: int = 0, batch_size: int = 256,
                   device: Optional[Union[str, torch.device]] = None) -> Dict[str, Any]:
    """Every number of thesis Tables 4.3-4.5 for one model, plus RMSE and MS-SSIM diversity.

    Args:
        model: a trained model from :func:`waelib.models.build_model` (on any device).
        test_images: (N, 3, S, S) held-out images (uint8 or float), never seen in training.
        extractor: the feature extractor for FID / FCD (object or name).
        reference: real-image statistics (e.g. :func:`waelib.metrics.reference_statistics`).
        n_fid: the ONE sample count of every Fréchet distance (samples, reconstructions,
            interpolations; pass the same to :func:`evaluate_real`). Default: the smallest of
            ``n_samples``, ``n_recon`` and the number of held-out images.
        n_samples: random samples (Table 4.4; default ``n_fid``); sharpness uses all of them.
        n_recon: reconstructed test images (Table 4.5; default ``n_fid``; at least ``n_fid``).
        n_interp_pairs: interpolation pairs (Table 4.3); each gives ``steps - 2`` interior images.
            Sharpness is averaged per pair and its standard error taken over pairs (the images
            of one row are correlated). Hundreds of pairs cost seconds.
    Returns:
        a JSON-ready dict: ``samples``, ``reconstructions``, ``interpolations`` (each with its
        FID/FCD entry at ``n_fid``, sharpness mean and standard error, counts), ``n_fid``,
        ``sharpness_definition``, ``extractor``.
    """
    device = device or _model_device(model)
    ext = metrics.load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    if n_fid is None:
        given = [int(n) for n in (n_samples, n_recon) if n is not None]
        n_fid = min(given + [len(test_images)]) if given else min(config.N_RANDOM_SAMPLES, len(test_images))
    n_fid = int(n_fid)
    n_samples = max(int(n_samples if n_samples is not None else n_fid), n_fid)
    n_recon = int(n_recon if n_recon is not None else n_fid)
    if n_recon > len(test_images) or n_fid > n_recon:
        raise ValueError(f"n_recon={n_recon} and n_fid={n_fid} need n_fid <= n_recon <= "
                         f"{len(test_images)} (the held-out images given)")
    fid_kw = dict(batch_size=batch_size, device=device)
    out: Dict[str, Any] = {"model": getattr(model, "name", "?"), "extractor": ext.name,
                           "reference": reference.source, "n_reference": reference.n,
                           "n_fid": n_fid, "sharpness_definition": SHARPNESS_DEFINITION,
                           "laplacian_definition": LAPLACIAN_DEFINITION, "seed": seed}

    out["samples"] = evaluate_samples(model, n_samples, extractor=ext, reference=reference,
                                      n_fid=n_fid, seed=seed, n_diversity_pairs=n_diversity_pairs,
                                      batch_size=batch_size, device=device)

    real = test_images[:n_recon]
    recon = reconstruct(model, real, batch_size=batch_size)
    out["reconstructions"] = {"n": n_recon, "fid": fid_entry(recon, ext, reference, n_fid, **fid_kw),
                              **_image_summary(recon),
                              "rmse": metrics.rmse(metrics.to_float_images(real), recon).mean().item()}
    del recon

    pairs = min(n_interp_pairs, len(test_images) // 2)
    ia, ib = interpolation_pairs(len(test_images), pairs, seed=seed)
    mids, per_pair_tv, per_pair_lap = [], [], []
    for i in range(0, pairs, batch_size):
        rows = interpolation_rows(model, test_images[ia[i:i + batch_size]],
                                  test_images[ib[i:i + batch_size]], steps)
        mid = rows[:, 1:-1]
        flat = mid.reshape(-1, *mid.shape[2:])
        per_pair_tv.append(metrics.sharpness(flat).reshape(len(mid), -1).mean(1))
        per_pair_lap.append(metrics.laplacian_sharpness(flat).reshape(len(mid), -1).mean(1))
        if sum(len(m) for m in mids) < n_fid:
            mids.append(flat)
    tv, lap = mean_and_se(torch.cat(per_pair_tv)), mean_and_se(torch.cat(per_pair_lap))
    interior = torch.cat(mids)
    out["interpolations"] = {
        "n_pairs": pairs, "steps": steps, "n": pairs * (steps - 2),
        "sharpness": tv["mean"], "sharpness_se": tv["se"],
        "laplacian_sharpness": lap["mean"], "laplacian_sharpness_se": lap["se"],
        "fid": (fid_entry(interior, ext, reference, n_fid, **fid_kw) if len(interior) >= n_fid
                else None)}
    return out


def evaluate_real(test_images: Images, *, extractor, reference: metrics.FeatureStats, n: int,
                  seed: int = 0, batch_size: int = 256, device=None) -> Dict[str, Any]:
    """The same measurements on real held-out images: the "real data" row of every table.

    Uses images ``test_images[-n:]``, kept apart from the first images used for
    reconstructions; with a reference set computed from other images, its FID is the
    real-vs-real floor. Pass the models' ``n_fid`` as ``n``: a Fréchet distance depends on n,
    so the floor is only a floor at the same n (:func:`check_same_n`).
    """
    if n > len(test_images):
        raise ValueError(f"the real-vs-real row at n={n} needs {n} held-out images, "
                         f"only {len(test_images)} given")
    real = metrics.to_float_images(test_images[-n:])
    return {"n": len(real), "n_fid": len(real),
            "fid": fid_entry(real, extractor, reference, n, batch_size=batch_size, device=device),
            **_image_summary(real),
            "ms_ssim_diversity": metrics.ms_ssim_diversity(real, n_pairs=min(500, len(real)),
                                                     generator=torch.Generator().manual_seed(seed))}


def check_same_n(evaluations: Dict[str, Dict[str, Any]], real: Optional[Dict[str, Any]] = None) -> int:
    """The common ``n_fid`` of a set of evaluations (and the real row); ValueError if they differ.

    A table that puts Fréchet distances measured at different n side by side compares the
    estimator's bias, not the models.
    """
    ns = {name: ev.get("n_fid", ev.get("samples", {}).get("fid", {}).get("n_fake"))
          for name, ev in evaluations.items()}
    if real is not None:
        ns["real test images"] = real.get("n_fid", real.get("n"))
    distinct = set(ns.values())
    if len(distinct) > 1:
        detail = ", ".join(f"{k}: {v}" for k, v in ns.items())
        raise ValueError(f"Fréchet distances at different sample counts cannot share a table "
                         f"({detail}); evaluate every row with the same n_fid")
    return distinct.pop() if distinct else 0


#: File name of a run's evaluation in its run folder (beside the files of :mod:`waelib.train.checkpoint`).
EVAL_NAME = "eval.json"


def save_evaluation(out_dir: Union[str, Path], result: Dict[str, Any], *,
                    config: Optional[Dict[str, Any]] = None, name: str = EVAL_NAME) -> Path:
    """Write ``result`` with the run's metadata (hardware, versions, commit, date) atomically."""
    payload = {"result": result, "config": config or {}, "metadata": run_metadata()}
    return atomic_write_json(Path(out_dir) / name, payload)


def load_evaluation(out_dir: Union[str, Path], name: str = EVAL_NAME) -> Dict[str, Any]:
    """Read ``eval.json`` of a run; a clear FileNotFoundError says how to produce it."""
    path = Path(out_dir) / name
    if not path.is_file():
        raise FileNotFoundError(
            f"no evaluation at {path}. Train and evaluate the model first: run "
            f"notebooks/03_vae.ipynb (VAE, VAE-ResNet) or notebooks/04_wae_resnet.ipynb "
            f"(WAE, WAE-MMD, WAE-ResNet) with the same profile.")
    return json.loads(path.read_text())


TABLES = ("table4_3_interpolation_sharpness", "table4_4_random_samples", "table4_5_reconstructions")


def results_table(table: str, evaluations: Dict[str, Dict[str, Any]],
                  models: Sequence[str] = registry.THESIS_MODEL_NAMES,
                  real: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """Rows of one thesis table: the thesis' number beside ours, per model.

    Args:
        table: one of :data:`TABLES`.
        evaluations: model name -> the ``result`` dict of :func:`evaluate_model`.
        real: optional :func:`evaluate_real` result, added as a "real test images" row.
    Returns:
        a list of dicts (one per model that has an evaluation), ready for
        :func:`waelib.course.figures.save_table`. Models without a thesis number (WAE-MMD) get None.
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; valid: {', '.join(TABLES)}")
    present = {m: evaluations[m] for m in models if m in evaluations}
    n_fid = check_same_n(present, real)
    rows: List[Dict[str, Any]] = []
    for name, ev in present.items():
        label = registry.THESIS_MODEL_LABELS[name]
        if table == TABLES[0]:
            part = ev["interpolations"]
            rows.append({"model": label, "thesis_sharpness": config.THESIS_TABLE_4_3.get(name),
                         "our_sharpness": part["sharpness"], "sharpness_se": part.get("sharpness_se"),
                         "our_laplacian": part.get("laplacian_sharpness"),
                         "n_pairs": part.get("n_pairs"), "n_images": part["n"]})
            continue
        part, thesis = ((ev["samples"], config.THESIS_TABLE_4_4) if table == TABLES[1]
                        else (ev["reconstructions"], config.THESIS_TABLE_4_5))
        t = thesis.get(name, (None, None))
        row = {"model": label, "thesis_fid": t[0], f"our_{part['fid']['metric'].lower()}": part["fid"]["value"],
               "n_fid": n_fid, "thesis_sharpness": t[1], "our_sharpness": part["sharpness"],
               "sharpness_se": part.get("sharpness_se"),
               "our_laplacian": part.get("laplacian_sharpness"), "n_images": part["n"]}
        if table == TABLES[1]:
            row["ms_ssim_diversity"] = part.get("ms_ssim_diversity")
        else:
            row["rmse"] = part.get("rmse")
        rows.append(row)
    if real is not None and table != TABLES[0]:
        key = next((k for k in rows[0] if k.startswith("our_f")), "our_fcd") if rows else "our_fcd"
        row = {"model": "real test images", "thesis_fid": None, key: real["fid"]["value"],
               "n_fid": n_fid, "thesis_sharpness": None, "our_sharpness": real["sharpness"],
               "sharpness_se": real.get("sharpness_se"),
               "our_laplacian": real.get("laplacian_sharpness"), "n_images": real["n"]}
        if table == TABLES[1]:
            row["ms_ssim_diversity"] = real.get("ms_ssim_diversity")
        else:
            row["rmse"] = 0.0
        rows.append(row)
    return rows
