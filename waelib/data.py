"""Data sets for the course (thesis §4.2): CelebA, the embedded ``synthfaces`` set, digits.

The thesis trains on CelebA (202,599 aligned face images) with a *random* 80/20 split
of 162,079 training and 40,520 test images (Table 4.2), at 128x128 RGB in [0, 1].
CelebA cannot be downloaded on the machines this course runs on, so this module offers
three data sets behind one function, :func:`load_dataset`:

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

Every item is ``(image, target)``: ``image`` a float32 tensor ``(3, H, W)`` in [0, 1]
and ``target`` a dict of tensors, so :func:`torch.utils.data.default_collate` works.
:func:`to_uint8_tensor` materialises a whole data set as a uint8 ``(N, 3, H, W)``
tensor (fast paths for all three sets), which the trainer keeps resident on the GPU.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from waelib.config import (CELEBA_CROP, CELEBA_N_IMAGES, CELEBA_N_TRAIN, SPLIT_SEED,
                           SUPPORTED_IMAGE_SIZES)
from waelib.utils import atomic_path, atomic_write_json

PathLike = Union[str, os.PathLike]

DATASETS: Tuple[str, ...] = ("synthfaces", "celeba", "digits")

#: Smallest and largest image side accepted by :func:`load_dataset` (the models in this
#: course are built for the sizes in :data:`waelib.config.SUPPORTED_IMAGE_SIZES`).
MIN_IMAGE_SIZE: int = 32
MAX_IMAGE_SIZE: int = 128

#: Fraction of the data used for training by the thesis' split (162,079 / 202,599).
THESIS_TRAIN_FRACTION: float = CELEBA_N_TRAIN / CELEBA_N_IMAGES

SYNTHFACES_SPLITS: Tuple[str, ...] = ("train", "test", "thesis_train", "thesis_test", "all")
CELEBA_SPLITS: Tuple[str, ...] = ("thesis_train", "thesis_test", "train", "valid", "test", "all")
DIGITS_SPLITS: Tuple[str, ...] = ("train", "test", "all")

CELEBA_ATTR_NAMES: Tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young")


# ----------------------------------------------------------------------------------------
# Splits and small helpers
# ----------------------------------------------------------------------------------------
def thesis_split(n: int = CELEBA_N_IMAGES, n_train: int = CELEBA_N_TRAIN,
                 seed: int = SPLIT_SEED) -> Tuple[np.ndarray, np.ndarray]:
    """The thesis' random train/test split (§4.2, Table 4.2: 162,079 / 40,520 of 202,599).

    A permutation of ``range(n)`` from ``np.random.default_rng(seed)``; the first
    ``n_train`` entries (sorted) are the training indices, the rest (sorted) the test
    indices.  Returns ``(train_idx, test_idx)``, int64 arrays of shapes ``(n_train,)``
    and ``(n - n_train,)``, disjoint and together covering ``range(n)``.
    """
    n, n_train = int(n), int(n_train)
    if n < 0 or not 0 <= n_train <= n:
        raise ValueError(f"thesis_split needs 0 <= n_train <= n, got n={n}, n_train={n_train}")
    perm = np.random.default_rng(seed).permutation(n).astype(np.int64)
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])


def thesis_n_train(n: int) -> int:
    """Training-set size of the thesis' 80/20 split scaled to ``n`` images.

    ``round(n * 162079 / 202599)``; equals 162,079 for the full 202,599 (§4.2).
    """
    return int(round(n * CELEBA_N_TRAIN / CELEBA_N_IMAGES))


def _check_choice(value: Any, choices: Sequence[Any], what: str) -> None:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; valid choices: {', '.join(map(repr, choices))}")


def _check_image_size(image_size: Any) -> int:
    ok = (isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool)
          and MIN_IMAGE_SIZE <= int(image_size) <= MAX_IMAGE_SIZE)
    if not ok:
        raise ValueError(
            f"unsupported image_size {image_size!r}; choose one of {SUPPORTED_IMAGE_SIZES} "
            f"(the sizes the models are built for) or any integer in "
            f"[{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}]")
    return int(image_size)


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
    if x.dim() != 4 or x.shape[1] != channels or x.shape[2] != image_size \
            or x.shape[3] != image_size:
        raise ValueError(f"{prefix}expected images of shape {expected}, got {tuple(x.shape)}"
                         " -- check image_size of the data set and of the model")
    if not x.is_floating_point():
        raise ValueError(f"{prefix}expected floating-point images in [0, 1], got dtype "
                         f"{x.dtype} (convert uint8 with x.float() / 255)")
    return x


#: Alias of :func:`validate_images`.
check_image_batch = validate_images
