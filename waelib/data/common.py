"""Splits and checks shared by every data set of :mod:`waelib.data` (thesis §4.2).

- the data set names (:data:`DATASET_NAMES`, the one list every module uses) and the
  accepted image sizes;
- the thesis' random 80/20 split as index arrays (:func:`thesis_split_indices`, alias
  :func:`thesis_split`) and its size for any ``n`` (:func:`thesis_n_train`);
- the image-shape rule, once: :func:`check_image_shape` (a whole data set against a
  model, with the fix to apply) and :func:`validate_images` (a batch) share
  :func:`_image_shape_mismatch`; :func:`check_image_range` refuses float images outside
  [0, 1] (e.g. 0..255 values) with the fix.

The progress bar the loaders show is :func:`waelib.utils.progress_bar`.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from waelib.config import CELEBA_N_IMAGES, CELEBA_N_TRAIN, IMAGE_CHANNELS, SPLIT_SEED, SUPPORTED_IMAGE_SIZES

PathLike = Union[str, os.PathLike]

#: The names :func:`load_dataset` accepts -- the one list every module uses.
DATASET_NAMES: Tuple[str, ...] = ("synthfaces", "celeba", "digits", "synthfaces_n8", "synthfaces_n16", "mnist5k")
#: Alias of :data:`DATASET_NAMES`.
DATASETS: Tuple[str, ...] = DATASET_NAMES

#: Smallest and largest image side accepted by :func:`load_dataset` (the models in this
#: course are built for the sizes in :data:`waelib.config.SUPPORTED_IMAGE_SIZES`).
MIN_IMAGE_SIZE: int = 32
MAX_IMAGE_SIZE: int = 128

#: Fraction of the data used for training by the thesis' split (162,079 / 202,599).
THESIS_TRAIN_FRACTION: float = CELEBA_N_TRAIN / CELEBA_N_IMAGES


# ----------------------------------------------------------------------------------------
# The thesis' split (§4.2)
# ----------------------------------------------------------------------------------------
def thesis_split_indices(n: int = CELEBA_N_IMAGES, n_train: int = CELEBA_N_TRAIN,
                         seed: int = SPLIT_SEED) -> Tuple[np.ndarray, np.ndarray]:
    """The thesis' random train/test split (§4.2, Table 4.2: 162,079 / 40,520 of 202,599).

    A permutation of ``range(n)`` from ``np.random.default_rng(seed)``; the first
    ``n_train`` entries (sorted) are the training indices, the rest (sorted) the test
    indices.  Returns ``(train_idx, test_idx)``, int64 arrays of shapes ``(n_train,)``
    and ``(n - n_train,)``, disjoint and together covering ``range(n)``.
    """
    n, n_train = int(n), int(n_train)
    if n < 0 or not 0 <= n_train <= n:
        raise ValueError(f"thesis_split_indices needs 0 <= n_train <= n, got n={n}, n_train={n_train}")
    perm = np.random.default_rng(seed).permutation(n).astype(np.int64)
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])


def thesis_n_train(n: int) -> int:
    """Training-set size of the thesis' 80/20 split scaled to ``n`` images.

    ``round(n * 162079 / 202599)``; equals 162,079 for the full 202,599 (§4.2).
    """
    return int(round(n * CELEBA_N_TRAIN / CELEBA_N_IMAGES))


#: Alias of :func:`thesis_split_indices` (the older name).
thesis_split = thesis_split_indices


# ----------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------
def check_image_size(image_size: Any) -> int:
    ok = (isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool)
          and MIN_IMAGE_SIZE <= int(image_size) <= MAX_IMAGE_SIZE)
    if not ok:
        raise ValueError(
            f"unsupported image_size {image_size!r}; choose one of {SUPPORTED_IMAGE_SIZES} "
            f"(the sizes the models are built for) or any integer in "
            f"[{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}]")
    return int(image_size)


def _image_shape_mismatch(shape: Sequence[int], image_size: int,
                          channels: int = IMAGE_CHANNELS) -> Optional[str]:
    """How one image's ``shape`` differs from ``(channels, image_size, image_size)``:
    ``None`` (it matches), ``"rank"`` (not 3 dimensions), ``"channels"`` or ``"size"``.

    The single rule behind :func:`check_image_shape` (whole data sets, with fix hints) and
    :func:`validate_images` (batches)."""
    shape = tuple(int(s) for s in shape)
    if shape == (channels, image_size, image_size):
        return None
    if len(shape) != 3:
        return "rank"
    return "channels" if shape[0] != channels else "size"


def check_image_shape(shape: Sequence[int], image_size: int, model_name: str,
                      dataset_desc: str = "the data set") -> None:
    """Refuse data whose images are not (3, image_size, image_size), naming the fix.

    ``shape`` is one image's shape (e.g. ``dataset.shape[1:]``); the trainer calls this
    before it builds a model for ``model_name``.  Raises :class:`ValueError`."""
    shape = tuple(int(s) for s in shape)
    expected = (IMAGE_CHANNELS, image_size, image_size)
    problem = _image_shape_mismatch(shape, image_size, IMAGE_CHANNELS)
    if problem is None:
        return
    if problem == "rank":
        raise ValueError(f"{dataset_desc} has images of shape {shape}, but model {model_name!r} "
                         f"expects (channels, height, width) = {expected}.")
    if problem == "channels" and len(shape) == 3 and shape[-1] in (1, 3) and shape[0] not in (1, 3):
        # channels-last (N, H, W, C): a permute, not a channel conversion, is the fix
        fix = "x.permute(0, 3, 1, 2)" + (".repeat(1, 3, 1, 1)" if shape[-1] == 1 else "")
        raise ValueError(
            f"{dataset_desc} has channels-last images of shape {shape} (height, width, channels), "
            f"but model {model_name!r} expects channels-first {expected} (channels, height, "
            f"width). Permute the (N, H, W, C) tensor x to (N, C, H, W): {fix}.")
    if problem == "channels":
        raise ValueError(
            f"{dataset_desc} has {shape[0]}-channel images of shape {shape}, but model "
            f"{model_name!r} expects {IMAGE_CHANNELS}-channel RGB images {expected}. Convert the "
            f"images to RGB (e.g. repeat a grey channel 3 times) or choose an RGB data set.")
    raise ValueError(
        f"{dataset_desc} has images of shape {shape}, but model {model_name!r} was configured "
        f"for {expected}. Either pass image_size={shape[1]} (--image-size {shape[1]}) so the model "
        f"matches the data, or load the data set at image_size={image_size}.")


def validate_images(x: torch.Tensor, *, image_size: int, channels: int = 3,
                    where: str = "") -> torch.Tensor:
    """Check that ``x`` is a float image batch of shape ``(B, channels, image_size, image_size)``.

    Used by the trainer and the metrics before they touch a batch (§4.2: 128x128 RGB in
    [0, 1]).  Raises :class:`ValueError` naming the expected and the actual shape (and
    ``where``, e.g. ``"train batch"``); returns ``x`` unchanged when it is fine.
    """
    prefix = f"{where}: " if where else ""
    expected = f"(B, {channels}, {image_size}, {image_size})"
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{prefix}expected a torch.Tensor of shape {expected}, "
                         f"got {type(x).__name__}")
    if x.dim() != 4 or _image_shape_mismatch(x.shape[1:], image_size, channels) is not None:
        if x.dim() == 4 and x.shape[-1] == channels and x.shape[1] != channels:
            raise ValueError(f"{prefix}expected images of shape {expected}, got {tuple(x.shape)}:"
                             f" channels-last (B, H, W, C); permute with x.permute(0, 3, 1, 2)")
        raise ValueError(f"{prefix}expected images of shape {expected}, got {tuple(x.shape)}"
                         " -- check image_size of the data set and of the model")
    if not x.is_floating_point():
        raise ValueError(f"{prefix}expected floating-point images in [0, 1], got dtype "
                         f"{x.dtype} (convert uint8 with x.float() / 255)")
    return x


#: Tolerance of :func:`check_image_range` (resampling can overshoot [0, 1] by rounding).
IMAGE_RANGE_TOLERANCE: float = 1e-3


def check_image_range(x: torch.Tensor, dataset_desc: str = "the data set",
                      chunk: int = 4096) -> None:
    """Refuse floating-point images outside [0, 1] (uint8 images pass unchecked).

    The models and losses assume float pixels in [0, 1] (§4.2); float images in [0, 255]
    would train "fine" with a reconstruction loss of ~1e7.  NaN pixels are ignored here (the
    NaN guard of the training loop names them).  ``x`` is checked in chunks of ``chunk``
    images along its first dimension.  Raises :class:`ValueError` naming the fix."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.numel() == 0:
        return
    tol = IMAGE_RANGE_TOLERANCE
    flat = x.reshape(x.shape[0], -1) if x.dim() > 1 else x.reshape(1, -1)
    lo, hi = float("inf"), float("-inf")
    for i in range(0, flat.shape[0], chunk):
        c = flat[i:i + chunk]
        finite = torch.isfinite(c)
        if not bool(finite.any()):
            continue
        lo = min(lo, float(torch.where(finite, c, torch.full_like(c, float("inf"))).amin()))
        hi = max(hi, float(torch.where(finite, c, torch.full_like(c, float("-inf"))).amax()))
    if lo >= -tol and hi <= 1 + tol:
        return
    if hi > 2.0 and lo >= -tol:
        fix = ("They look like 0..255 pixel values: divide by 255 (x = x / 255) or pass the "
               "uint8 tensor itself (x.to(torch.uint8)), which is converted on the device.")
    elif lo < -tol and hi <= 1 + tol:
        fix = "They look normalised to [-1, 1]: map them back with x = (x + 1) / 2."
    else:
        fix = ("Rescale them to [0, 1] (e.g. divide 0..255 values by 255) or pass uint8 "
               "images (0..255), which are converted on the device.")
    raise ValueError(f"{dataset_desc} has float images with values in [{lo:g}, {hi:g}], but the "
                     f"models expect float images in [0, 1] (or uint8 in 0..255). {fix}")


#: Alias of :func:`validate_images`.
check_image_batch = validate_images


# ----------------------------------------------------------------------------------------
# Split names -> indices
# ----------------------------------------------------------------------------------------
def thesis_or_all(split: str, n: int, split_seed: int) -> np.ndarray:
    """Indices of ``split`` among ``n`` images: ``"all"``, or the training (``"train"``,
    ``"thesis_train"``) or test part of the thesis' split scaled to ``n`` -- the one rule
    that synthfaces, CelebA's ``thesis_*`` splits and digits share."""
    if split == "all":
        return np.arange(n, dtype=np.int64)
    train, test = thesis_split_indices(n, thesis_n_train(n), seed=split_seed)
    return train if split in ("train", "thesis_train") else test
