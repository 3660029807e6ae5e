"""Evaluation metrics: FID (Inception or an offline classifier), sharpness, RMSE, MS-SSIM
diversity, improved precision/recall, KID and latent correlation (NAC).

Thesis map
----------
- **FID** (thesis §2.4, Tables 4.4 and 4.5). The standard feature net is pytorch-fid's
  TF-ported InceptionV3 (:class:`InceptionFeatures`, 2048-d pool3 features). Its weights
  cannot be downloaded here, so the project also ships a small attribute classifier trained
  on the embedded ``synthfaces`` data (:class:`ClassifierFeatures`); the Fréchet distance in
  its feature space is a *Fréchet classifier distance* (FCD). FCD values are **not**
  comparable with Inception FIDs nor across feature nets, so every result
  (:class:`FIDResult`) carries the extractor's name, the reference set and both sample counts.
- **Sharpness** (thesis §2.5, Tables 4.3-4.5): :func:`sharpness` (the thesis' gradient
  magnitude, 0-255 pixel scale by default) and :func:`laplacian_sharpness` (the official WAE
  code's variance of the Laplacian, [0, 1] scale by default). They are different numbers;
  tables must say which one they use.
- **Extra metrics** from the seeds: :func:`rmse` (seed 003), :func:`ms_ssim_diversity`
  (seed 003; SPEC §4), :func:`precision_recall` and :func:`nac` (seed 004), :func:`kid`.

Conventions: images are float tensors ``(N, 3, H, W)`` in ``[0, 1]`` (uint8 tensors are
accepted where noted and divided by 255). Feature statistics are float64.

Run ``python -m waelib.metrics --bench`` for this machine's feature-extraction throughput
and the cost of one 2048-d Fréchet distance next to ``scipy.linalg.sqrtm``.

The package, one concern per module (everything is re-exported here):

- :mod:`~waelib.metrics.frechet` -- the Fréchet distance, feature statistics, FID/FCD,
  cached reference statistics and the real-vs-real floor;
- :mod:`~waelib.metrics.features` -- the feature extractors (Inception, the classifier);
- :mod:`~waelib.metrics.images` -- sharpness (both definitions), RMSE, MS-SSIM, grey and
  float conversion;
- :mod:`~waelib.metrics.distribution` -- precision/recall, KID, NAC;
- :mod:`~waelib.metrics.cli` -- the benchmark behind ``python -m waelib.metrics --bench``.
"""
from __future__ import annotations

from .cli import bench, main
from .distribution import kid, nac, precision_recall
from .features import (
                       ASSETS_DIR,
                       EXTRACTOR_NAMES,
                       INCEPTION_WEIGHTS_FILE,
                       INCEPTION_WEIGHTS_URL,
                       SYNTHFACES_CLASSIFIER_PATH,
                       AttributeCNN,
                       ClassifierFeatures,
                       FeatureExtractor,
                       InceptionFeatures,
                       inception_weights_path,
                       load_feature_extractor,
)
from .frechet import (
                       ArrayLike,
                       FeatureStats,
                       FIDResult,
                       compute_features,
                       compute_statistics,
                       fid,
                       fid_floor,
                       fid_from_stats,
                       frechet_distance,
                       reference_statistics,
)
from .images import (
                       LUMA_WEIGHTS,
                       MSSSIM_WEIGHTS,
                       laplacian_sharpness,
                       ms_ssim,
                       ms_ssim_diversity,
                       msssim_window,
                       rmse,
                       sharpness,
                       to_float_images,
                       to_grey,
)

__all__ = [
    "to_float_images",
    # Fréchet distance and FID
    "frechet_distance", "FeatureStats", "FIDResult", "compute_features", "compute_statistics",
    "fid", "fid_from_stats", "reference_statistics", "fid_floor",
    # feature extractors
    "FeatureExtractor", "InceptionFeatures", "ClassifierFeatures", "AttributeCNN",
    "load_feature_extractor", "EXTRACTOR_NAMES", "INCEPTION_WEIGHTS_FILE", "INCEPTION_WEIGHTS_URL",
    "inception_weights_path", "SYNTHFACES_CLASSIFIER_PATH",
    # image metrics
    "to_grey", "sharpness", "laplacian_sharpness", "rmse", "ms_ssim", "msssim_window",
    "ms_ssim_diversity",
    # feature / latent metrics
    "precision_recall", "kid", "nac",
]
