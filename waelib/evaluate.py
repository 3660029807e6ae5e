"""Evaluation of trained models: the protocol behind thesis Tables 4.3-4.5 and Figures 4.1-4.3.

- :func:`interpolation_rows` -- Figure 4.1 / Table 4.3: latent interpolation between two real
  test images; the first and last image of each row are the real images (§4.4.1).
- :func:`generate` -- Figure 4.2 / Table 4.4: decoded draws from the prior (§4.4.2).
- :func:`reconstruct` -- Figure 4.3 / Table 4.5: reconstructions of test images (§4.4.3).
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

from . import config as C
from . import metrics as M
from .utils import atomic_write_json, resolve_device, run_metadata

Images = torch.Tensor
SHARPNESS_DEFINITION = ("thesis §2.5: grey (BT.601), central-difference gradient magnitude, "
                        "mean over the image, pixels on a 0-255 scale (waelib.metrics.sharpness)")


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
    return torch.cat([model.reconstruct(M.to_float_images(images[i:i + batch_size]).to(dev)).float().cpu()
                      for i in range(0, len(images), batch_size)])


@torch.no_grad()
def interpolation_rows(model, images_a: Images, images_b: Images,
                       steps: int = C.N_INTERPOLATION_STEPS) -> Images:
    """Latent interpolations (§4.4.1, Figure 4.1): (P, steps, 3, S, S).

    Row p is [a_p, G(z_1), ..., G(z_{steps-2}), b_p]: the two real images at the ends and,
    between them, decodings of z_t = (1 - t) Q(a_p) + t Q(b_p) at evenly spaced interior t.
    For a VAE, Q is the posterior mean.
    """
    if steps < 3:
        raise ValueError(f"steps must be at least 3 (two real images and one interpolation), got {steps}")
    model.eval()
    dev = _model_device(model)
    a, b = M.to_float_images(images_a).to(dev), M.to_float_images(images_b).to(dev)
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


def _fid_entry(images: Images, extractor, reference: M.FeatureStats, batch_size: int,
               device) -> Dict[str, Any]:
    stats = M.compute_statistics(images, extractor, batch_size=batch_size, device=device)
    return M.fid_from_stats(stats, reference).as_dict()


def evaluate_model(model, test_images: Images, *, extractor, reference: M.FeatureStats,
                   n_samples: int = C.N_RANDOM_SAMPLES, n_recon: int = C.N_RECONSTRUCTIONS,
                   n_interp_pairs: int = 100, steps: int = C.N_INTERPOLATION_STEPS,
                   n_diversity_pairs: int = 500, seed: int = 0, batch_size: int = 256,
                   device: Optional[Union[str, torch.device]] = None) -> Dict[str, Any]:
    """Every number of thesis Tables 4.3-4.5 for one model, plus RMSE and MS-SSIM diversity.

    Args:
        model: a trained model from :func:`waelib.models.build_model` (on any device).
        test_images: (N, 3, S, S) held-out images (uint8 or float), never seen in training.
        extractor: the feature extractor for FID / FCD (object or name).
        reference: real-image statistics (e.g. :func:`waelib.metrics.reference_statistics`).
        n_samples: random samples (Table 4.4: 10,000). n_recon: reconstructions (Table 4.5:
            40,000; capped by len(test_images)). n_interp_pairs x (steps - 2) interpolated
            images enter Table 4.3.
    Returns:
        a JSON-ready dict: ``samples``, ``reconstructions``, ``interpolations`` (each with its
        FID/FCD entry, sharpness mean and counts), ``sharpness_definition``, ``extractor``.
    """
    device = device or _model_device(model)
    ext = M.load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    n_recon = min(n_recon, len(test_images))
    out: Dict[str, Any] = {"model": getattr(model, "name", "?"), "extractor": ext.name,
                           "reference": reference.source, "n_reference": reference.n,
                           "sharpness_definition": SHARPNESS_DEFINITION, "seed": seed}

    samples = generate(model, n_samples, batch_size=batch_size, seed=seed)
    out["samples"] = {"n": n_samples, "fid": _fid_entry(samples, ext, reference, batch_size, device),
                      "sharpness": M.sharpness(samples).mean().item(),
                      "laplacian_sharpness": M.laplacian_sharpness(samples).mean().item(),
                      "ms_ssim_diversity": M.ms_ssim_diversity(
                          samples, n_pairs=n_diversity_pairs,
                          generator=torch.Generator().manual_seed(seed)) if len(samples) > 1 else None}
    del samples

    real = test_images[:n_recon]
    recon = reconstruct(model, real, batch_size=batch_size)
    out["reconstructions"] = {"n": n_recon,
                              "fid": _fid_entry(recon, ext, reference, batch_size, device),
                              "sharpness": M.sharpness(recon).mean().item(),
                              "laplacian_sharpness": M.laplacian_sharpness(recon).mean().item(),
                              "rmse": M.rmse(M.to_float_images(real), recon).mean().item()}
    del recon

    pairs = min(n_interp_pairs, len(test_images) // 2)
    ia, ib = interpolation_pairs(len(test_images), pairs, seed=seed)
    rows = interpolation_rows(model, test_images[ia], test_images[ib], steps)
    mid = rows[:, 1:-1].reshape(-1, *rows.shape[2:])
    out["interpolations"] = {"n_pairs": pairs, "steps": steps, "n": len(mid),
                             "sharpness": M.sharpness(mid).mean().item(),
                             "laplacian_sharpness": M.laplacian_sharpness(mid).mean().item()}
    return out


def evaluate_real(test_images: Images, *, extractor, reference: M.FeatureStats, n: int,
                  seed: int = 0, batch_size: int = 256, device=None) -> Dict[str, Any]:
    """The same measurements on real held-out images: the "real data" row of every table.

    Uses images ``test_images[-n:]``, kept apart from the first images used for
    reconstructions; with a reference set computed from other images, its FID is the
    real-vs-real floor.
    """
    real = M.to_float_images(test_images[-n:])
    return {"n": len(real), "fid": _fid_entry(real, extractor, reference, batch_size, device),
            "sharpness": M.sharpness(real).mean().item(),
            "laplacian_sharpness": M.laplacian_sharpness(real).mean().item(),
            "ms_ssim_diversity": M.ms_ssim_diversity(real, n_pairs=min(500, len(real)),
                                                     generator=torch.Generator().manual_seed(seed))}


def save_evaluation(out_dir: Union[str, Path], result: Dict[str, Any], *,
                    config: Optional[Dict[str, Any]] = None, name: str = "eval.json") -> Path:
    """Write ``result`` with the run's metadata (hardware, versions, commit, date) atomically."""
    payload = {"result": result, "config": config or {}, "metadata": run_metadata()}
    return atomic_write_json(Path(out_dir) / name, payload)


def load_evaluation(out_dir: Union[str, Path], name: str = "eval.json") -> Dict[str, Any]:
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
                  models: Sequence[str] = C.MODEL_NAMES,
                  real: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """Rows of one thesis table: the thesis' number beside ours, per model.

    Args:
        table: one of :data:`TABLES`.
        evaluations: model name -> the ``result`` dict of :func:`evaluate_model`.
        real: optional :func:`evaluate_real` result, added as a "real test images" row.
    Returns:
        a list of dicts (one per model that has an evaluation), ready for
        :func:`waelib.figures.save_table`. Models without a thesis number (WAE-MMD) get None.
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; valid: {', '.join(TABLES)}")
    rows: List[Dict[str, Any]] = []
    for name in models:
        if name not in evaluations:
            continue
        ev, label = evaluations[name], C.THESIS_MODEL_LABELS[name]
        if table == TABLES[0]:
            rows.append({"model": label, "thesis_sharpness": C.THESIS_TABLE_4_3.get(name),
                         "our_sharpness": ev["interpolations"]["sharpness"],
                         "n_images": ev["interpolations"]["n"]})
            continue
        part, thesis = ((ev["samples"], C.THESIS_TABLE_4_4) if table == TABLES[1]
                        else (ev["reconstructions"], C.THESIS_TABLE_4_5))
        t = thesis.get(name, (None, None))
        row = {"model": label, "thesis_fid": t[0], f"our_{part['fid']['metric'].lower()}": part["fid"]["value"],
               "thesis_sharpness": t[1], "our_sharpness": part["sharpness"], "n_images": part["n"]}
        if table == TABLES[1]:
            row["ms_ssim_diversity"] = part.get("ms_ssim_diversity")
        else:
            row["rmse"] = part.get("rmse")
        rows.append(row)
    if real is not None and table != TABLES[0]:
        key = next((k for k in rows[0] if k.startswith("our_f")), "our_fcd") if rows else "our_fcd"
        row = {"model": "real test images", "thesis_fid": None, key: real["fid"]["value"],
               "thesis_sharpness": None, "our_sharpness": real["sharpness"], "n_images": real["n"]}
        if table == TABLES[1]:
            row["ms_ssim_diversity"] = real.get("ms_ssim_diversity")
        else:
            row["rmse"] = 0.0
        rows.append(row)
    return rows
