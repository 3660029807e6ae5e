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

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from waelib.config import (CELEBA_CROP, CELEBA_N_IMAGES, CELEBA_N_TRAIN, SPLIT_SEED,
                           SUPPORTED_IMAGE_SIZES)
from waelib.utils import atomic_path, atomic_write_json

PathLike = Union[str, os.PathLike]

__all__ = [
    "DATASETS", "load_dataset", "thesis_split", "thesis_n_train", "to_uint8_tensor",
    "TensorImageDataset", "thesis_splits", "validate_images", "check_image_batch", "SynthFaces", "CelebA",
    "Digits", "CorruptImageError", "build_celeba_cache", "celeba_cache_path",
    "celeba_instructions", "read_celeba_partition", "read_celeba_attributes",
    "synthfaces_params", "render_synthfaces", "render_synthfaces_params",
    "SYNTHFACES_ATTR_NAMES", "SYNTHFACES_FACTOR_NAMES", "CELEBA_ATTR_NAMES",
]

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


# ----------------------------------------------------------------------------------------
# synthfaces: per-index parameters from a counter-based hash
# ----------------------------------------------------------------------------------------
SYNTHFACES_ATTR_NAMES: Tuple[str, ...] = (
    "Male", "Smiling", "Mouth_Slightly_Open", "Eyeglasses", "Black_Hair", "Blond_Hair",
    "Brown_Hair", "Gray_Hair", "Bangs", "Wearing_Hat", "Wearing_Lipstick", "Heavy_Makeup",
    "Pale_Skin", "No_Beard")
"""The binary attributes of ``synthfaces`` (CelebA names, 1 = present).

``Male`` gives a squarer jaw, short hair, thicker eyebrows and allows a beard;
``No_Beard = 0`` draws a textured beard; the four hair-colour flags are exclusive (none
set = auburn); ``Heavy_Makeup`` is eye shadow and blush; ``Pale_Skin`` lightens the skin.
"""

SYNTHFACES_FACTOR_NAMES: Tuple[str, ...] = (
    "pos_x", "pos_y", "scale", "tilt", "skin_tone", "bg_hue", "bg_lightness", "light",
    "hair_length", "face_width")
"""The continuous factors of ``synthfaces``: face centre ``pos_x``/``pos_y`` (image units,
the image spans [-1, 1], y down), ``scale`` (face height / image height), ``tilt`` (radians,
clockwise), ``skin_tone`` (0 light .. 1 dark), ``bg_hue`` (HSV hue in [0, 1)),
``bg_lightness`` (HSV value), ``light`` (horizontal light direction, -1 .. 1),
``hair_length`` (0 short .. 1 long) and ``face_width`` (relative, ~0.9 .. 1.1)."""

# Named uniform streams: each parameter gets its own slot of the per-index hash, so
# adding a parameter at the end never changes the existing ones.
_SLOTS: Tuple[str, ...] = (
    "male", "smile", "open", "glasses", "hair_col", "bangs", "hat", "lipstick", "makeup",
    "pale", "beard", "pos_x", "pos_y", "scale", "tilt", "skin", "bg_hue", "bg_val", "light",
    "hair_len", "face_w", "eye_size", "eye_open", "gaze", "iris", "brow", "mouth_w", "lips",
    "hair_vol", "hair_part", "hair_shade", "bg_hue2", "bg_dir", "blob_x", "blob_y", "blob_s",
    "cloth_h", "cloth_v", "hat_h", "frame", "noise_x", "noise_y", "strand_f", "strand_p",
    "nose_w", "bg_sat", "eye_sp", "lip_hue", "cloth_s", "hat_v", "bg_val2")

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, vectorised over a uint64 array (wrap-around arithmetic)."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
        return z ^ (z >> np.uint64(31))


def _hash_uniforms(seed: int, ids: np.ndarray, n_slots: int) -> np.ndarray:
    """Uniform [0, 1) numbers of shape ``(len(ids), n_slots)``; row ``j`` depends only on
    ``(seed, ids[j])`` (a counter-based generator, so batches never interact)."""
    ids = np.asarray(ids, dtype=np.int64).astype(np.uint64)
    s = _splitmix64(np.array([int(seed) % (1 << 64)], dtype=np.uint64))
    key = _splitmix64(ids ^ s)
    slots = (np.arange(1, n_slots + 1, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03))
    with np.errstate(over="ignore"):
        h = _splitmix64((key[:, None] + slots[None, :]) & _M64)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def synthfaces_params(ids: Union[Sequence[int], np.ndarray], seed: int = 0) -> Dict[str, np.ndarray]:
    """Every per-image parameter of the ``synthfaces`` images with global ids ``ids``.

    Returns a dict of float64 arrays of shape ``(B,)``: one entry per attribute in
    :data:`SYNTHFACES_ATTR_NAMES` (0.0 / 1.0), one per factor in
    :data:`SYNTHFACES_FACTOR_NAMES`, and the nuisance parameters (eye size, gaze, colours,
    texture offsets, ...).  Edit a copy and pass it to :func:`render_synthfaces_params`
    to draw a counterfactual image (e.g. the same face with ``Eyeglasses`` flipped).
    """
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    U = _hash_uniforms(seed, ids, len(_SLOTS))
    u = {name: U[:, k] for k, name in enumerate(_SLOTS)}
    b = lambda cond: cond.astype(np.float64)  # noqa: E731
    p: Dict[str, np.ndarray] = {}
    male = u["male"] < 0.42
    p["Male"] = b(male)
    p["Smiling"] = b(u["smile"] < 0.48)
    p["Mouth_Slightly_Open"] = b(u["open"] < np.where(p["Smiling"] > 0, 0.62, 0.32))
    p["Eyeglasses"] = b(u["glasses"] < np.where(male, 0.16, 0.09))
    # exclusive hair colours: black, blond, brown, gray, (auburn = no flag)
    cum_f = np.array([0.27, 0.54, 0.82, 0.84])
    cum_m = np.array([0.30, 0.35, 0.65, 0.77])
    cum = np.where(male[:, None], cum_m[None, :], cum_f[None, :])
    cat = (u["hair_col"][:, None] >= cum).sum(1)  # 0..4
    for k, name in enumerate(("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")):
        p[name] = b(cat == k)
    p["Bangs"] = b(u["bangs"] < np.where(male, 0.08, 0.24))
    p["Wearing_Hat"] = b(u["hat"] < 0.07)
    p["Wearing_Lipstick"] = b(u["lipstick"] < np.where(male, 0.01, 0.78))
    p["Heavy_Makeup"] = b(u["makeup"] < np.where(male, 0.01, 0.6))
    p["Pale_Skin"] = b(u["pale"] < 0.08)
    p["No_Beard"] = b(~(male & (u["beard"] < 0.4)))
    # continuous factors
    p["pos_x"] = (2.0 * u["pos_x"] - 1.0) * _POS_X_MAX
    p["pos_y"] = _POS_Y_RANGE[0] + (_POS_Y_RANGE[1] - _POS_Y_RANGE[0]) * u["pos_y"]
    p["scale"] = _SCALE_RANGE[0] + (_SCALE_RANGE[1] - _SCALE_RANGE[0]) * u["scale"]
    p["tilt"] = (2.0 * u["tilt"] - 1.0) * _TILT_MAX
    tone = u["skin"] ** 1.6  # more light than dark skins, as in CelebA
    p["skin_tone"] = np.where(p["Pale_Skin"] > 0, 0.12 * u["skin"], tone)
    p["bg_hue"] = u["bg_hue"]
    p["bg_lightness"] = 0.25 + 0.72 * u["bg_val"]
    p["light"] = (u["light"] - 0.5) * 2.0
    p["hair_length"] = np.where(male, 0.15 * u["hair_len"], 0.45 + 0.55 * u["hair_len"])
    p["face_width"] = 0.92 + 0.16 * u["face_w"] + 0.04 * p["Male"]
    # nuisance parameters (not labels)
    for name in ("eye_size", "eye_open", "gaze", "iris", "brow", "mouth_w", "lips", "hair_vol",
                 "hair_part", "hair_shade", "bg_hue2", "bg_dir", "blob_x", "blob_y", "blob_s",
                 "cloth_h", "cloth_v", "cloth_s", "hat_h", "hat_v", "frame", "strand_f",
                 "strand_p", "nose_w", "bg_sat", "eye_sp", "lip_hue", "bg_val2"):
        p["u_" + name] = u[name]
    p["noise_x"] = np.floor(u["noise_x"] * _NOISE_SIZE)
    p["noise_y"] = np.floor(u["noise_y"] * _NOISE_SIZE)
    return p


_NOISE_SIZE = 256


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB; inputs ``(B,)`` in [0, 1], output ``(B, 3)``."""
    h = (np.asarray(h) % 1.0) * 6.0
    k = np.stack([(5.0 + h) % 6.0, (3.0 + h) % 6.0, (1.0 + h) % 6.0], axis=1)
    return v[:, None] - (v * s)[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _lerp_palette(t: np.ndarray, stops: np.ndarray, colors: np.ndarray) -> np.ndarray:
    return np.stack([np.interp(t, stops, colors[:, c]) for c in range(3)], axis=1)


_SKIN_STOPS = np.array([0.0, 0.2, 0.5, 0.78, 1.0])
_SKIN_COLS = np.array([[0.98, 0.84, 0.76], [0.94, 0.76, 0.63], [0.83, 0.60, 0.45],
                       [0.60, 0.40, 0.27], [0.38, 0.24, 0.16]])
_HAIR_COLS = np.array([[0.09, 0.075, 0.07],   # black
                       [0.86, 0.70, 0.42],   # blond
                       [0.36, 0.22, 0.12],   # brown
                       [0.66, 0.65, 0.65],   # gray
                       [0.55, 0.22, 0.10]])  # auburn
_IRIS_COLS = np.array([[0.30, 0.17, 0.08], [0.25, 0.45, 0.65], [0.30, 0.45, 0.25],
                       [0.45, 0.32, 0.15]])
_FRAME_COLS = np.array([[0.05, 0.05, 0.05], [0.30, 0.18, 0.08], [0.70, 0.58, 0.30],
                        [0.12, 0.12, 0.30]])


def _synthfaces_render_inputs(p: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Turn :func:`synthfaces_params` into what the renderer draws: colours ``(B, 3)``
    and geometry ``(B,)`` (a pure per-row function, so batching cannot change a row)."""
    B = p["Male"].shape[0]
    one = np.ones(B)
    male, smile, mopen = p["Male"], p["Smiling"], p["Mouth_Slightly_Open"]
    r: Dict[str, np.ndarray] = {}
    sc = p["scale"]
    r["cx"], r["cy"] = p["pos_x"], p["pos_y"]
    r["cos_s"], r["sin_s"] = np.cos(p["tilt"]) / sc, np.sin(p["tilt"]) / sc
    r["scale"] = sc
    # background: two-colour gradient plus a soft light blob
    sat = 0.12 + 0.5 * p["u_bg_sat"]
    val = p["bg_lightness"]
    r["bg1"] = _hsv_to_rgb(p["bg_hue"], sat, val)
    r["bg2"] = _hsv_to_rgb(p["bg_hue"] + (p["u_bg_hue2"] - 0.5) * 0.25, sat * 0.8,
                           val * (0.5 + 0.45 * p["u_bg_val2"]))
    ang = p["u_bg_dir"] * 2 * np.pi
    r["bg_gx"], r["bg_gy"] = np.cos(ang) * 0.8, np.sin(ang) * 0.8
    r["blob_x"], r["blob_y"] = (p["u_blob_x"] - 0.5) * 2.0, (p["u_blob_y"] - 0.5) * 1.6 - 0.3
    r["blob_s"] = 0.35 * p["u_blob_s"]
    # skin
    skin = _lerp_palette(p["skin_tone"], _SKIN_STOPS, _SKIN_COLS)
    skin = skin + p["Pale_Skin"][:, None] * (np.array([1.0, 0.95, 0.93]) - skin) * 0.55
    r["skin"] = skin
    r["light"] = p["light"] * 0.14
    r["face_rx"] = 0.74 * p["face_width"]
    r["taper"] = np.where(male > 0, 0.10, 0.26)
    # hair: exclusive flags with a fixed priority (so flipping one flag recolours)
    hair_idx = np.full(B, 4)
    for k in (2, 0, 1, 3):  # brown < black < blond < gray
        name = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")[k]
        hair_idx = np.where(p[name] > 0, k, hair_idx)
    hair = _HAIR_COLS[hair_idx] * (0.8 + 0.4 * p["u_hair_shade"])[:, None]
    r["hair"] = np.clip(hair, 0.0, 1.0)
    L = p["hair_length"]
    vol = 1.0 + 0.08 * p["u_hair_vol"]
    r["hb_rx"] = (0.86 + 0.22 * L) * vol * p["face_width"]
    r["hb_ry"] = 1.04 + 0.62 * L
    r["hb_cy"] = -0.12 + 0.62 * L
    r["ht_rx"] = 0.87 * vol * p["face_width"]
    r["ht_ry"] = 1.0 * vol
    r["ht_cy"] = -0.10 - 0.04 * vol
    r["hairline"] = np.where(p["Bangs"] > 0, -0.40, -0.78 + 0.06 * male)
    r["hair_part"] = (p["u_hair_part"] - 0.5) * 0.5
    r["hair_curve"] = np.where(p["Bangs"] > 0, 0.12, 0.5)
    r["bangs"] = p["Bangs"]
    r["strand_f"] = 22.0 + 18.0 * p["u_strand_f"]
    r["strand_p"] = p["u_strand_p"] * 2 * np.pi
    # eyes and brows
    es = 0.9 + 0.2 * p["u_eye_size"]
    r["eye_x"] = 0.29 + 0.04 * p["u_eye_sp"]
    r["eye_y"] = -0.12 * one
    r["eye_rx"] = 0.125 * es
    r["eye_ry"] = 0.058 * es * (0.8 + 0.35 * p["u_eye_open"]) * (1.0 - 0.15 * smile)
    r["iris_r"] = 0.052 * es
    r["gaze"] = (p["u_gaze"] - 0.5) * 0.05
    r["iris"] = _IRIS_COLS[np.minimum((p["u_iris"] * 4).astype(int), 3)]
    r["brow_y"] = -0.2 - 0.04 * p["u_brow"]
    r["brow_th"] = 0.018 + 0.014 * male
    r["brow"] = r["hair"] * 0.55 + 0.03
    # nose and mouth
    r["nose_w"] = 0.055 + 0.02 * p["u_nose_w"] + 0.01 * male
    r["mouth_y"] = 0.50 * one
    r["mouth_w"] = (0.19 + 0.05 * p["u_mouth_w"]) * (1.0 + 0.12 * smile)
    r["smile"] = smile * 0.07 - (1.0 - smile) * 0.01
    r["open"] = mopen * (0.035 + 0.015 * smile)
    r["teeth"] = smile * mopen
    lips_full = 0.8 + 0.4 * p["u_lips"] - 0.25 * male
    r["lip_u"] = 0.030 * lips_full
    r["lip_l"] = 0.042 * lips_full
    natural = skin * np.array([0.86, 0.62, 0.62])
    lipstick = _hsv_to_rgb(0.96 + 0.06 * p["u_lip_hue"], 0.75 * one, 0.72 * one)
    w = p["Wearing_Lipstick"][:, None]
    r["lip"] = natural * (1 - w) + lipstick * w
    # optional layers
    r["beard"] = 1.0 - p["No_Beard"]
    r["glasses"] = p["Eyeglasses"]
    r["frame"] = _FRAME_COLS[np.minimum((p["u_frame"] * 4).astype(int), 3)]
    r["hat"] = p["Wearing_Hat"]
    r["hat_col"] = _hsv_to_rgb(p["u_hat_h"], 0.55 * one, 0.25 + 0.6 * p["u_hat_v"])
    r["makeup"] = p["Heavy_Makeup"]
    r["shadow_col"] = _hsv_to_rgb(0.75 + 0.2 * p["u_lip_hue"], 0.45 * one, 0.45 * one)
    r["cloth"] = _hsv_to_rgb(p["u_cloth_h"], 0.15 + 0.6 * p["u_cloth_s"], 0.15 + 0.7 * p["u_cloth_v"])
    r["noise_x"], r["noise_y"] = p["noise_x"], p["noise_y"]
    return r


# ----------------------------------------------------------------------------------------
# synthfaces: the vectorised torch renderer
# ----------------------------------------------------------------------------------------
_NOISE_CACHE: Dict[str, torch.Tensor] = {}
_WHITE_EYE = (0.95, 0.93, 0.91)
_MOUTH_INSIDE = (0.24, 0.06, 0.07)
_TEETH = (0.95, 0.93, 0.88)


def _noise_texture(device: torch.device) -> torch.Tensor:
    """A fixed 256x256 grain texture in [-1, 1] (flattened), cached per device.

    Each image reads it at its own (hashed) offset, which gives skin, hair and background
    pixel-level texture without any per-image random number generation."""
    key = str(device)
    tex = _NOISE_CACHE.get(key)
    if tex is None:
        w = np.random.default_rng(20220531).standard_normal((_NOISE_SIZE, _NOISE_SIZE))
        smooth = (w + np.roll(w, 1, 0) + np.roll(w, 1, 1) + np.roll(np.roll(w, 1, 0), 1, 1)) / 2.0
        t = 0.6 * w + 0.4 * smooth
        t = np.clip(t / t.std(), -2.5, 2.5) / 2.5
        tex = torch.tensor(t.reshape(-1), dtype=torch.float32, device=device)
        _NOISE_CACHE[key] = tex
    return tex


def _ellipse_sd(du: torch.Tensor, dv: torch.Tensor, rx: Any, ry: Any) -> torch.Tensor:
    """Approximate signed distance to an axis-aligned ellipse (negative inside).

    ``(sqrt((du/rx)^2 + (dv/ry)^2) - 1) * min(rx, ry)``: exact for circles, a slight
    under-estimate along the long axis (edges there are a little softer)."""
    q = du / rx
    w = dv / ry
    k = q.mul_(q).addcmul_(w, w).sqrt_()
    rmin = torch.minimum(rx, ry) if isinstance(rx, torch.Tensor) else min(rx, ry)
    return k.sub_(1.0).mul_(rmin)


# Ranges of the pose parameters; the feature window below is derived from them.
_POS_X_MAX = 0.08                 # |pos_x| <= 0.08
_POS_Y_RANGE = (0.04, 0.16)
_SCALE_RANGE = (0.66, 0.78)
_TILT_MAX = 0.15                  # radians
# Face-local box (u, v) that contains every small feature (eyes, brows, eye shadow,
# blush, nose, mouth, eyeglass rims): they are drawn only inside its image-space bound.
_FEATURE_U_MAX = 0.62
_FEATURE_V_RANGE = (-0.38, 0.67)


def _feature_window(H: int) -> Tuple[int, int, int, int]:
    """Pixel rows ``[r0, r1)`` and columns ``[c0, c1)`` that contain the small facial
    features of every possible face (derived from the pose ranges, plus a 2-pixel
    anti-aliasing margin).  About a third of the image; the renderer draws the features
    there only, which makes it ~1.7x faster and cannot change a pixel."""
    st = math.sin(_TILT_MAX)
    smax = _SCALE_RANGE[1]
    vmin, vmax = _FEATURE_V_RANGE
    xmax = _POS_X_MAX + smax * (_FEATURE_U_MAX + st * max(-vmin, vmax))
    ymin = _POS_Y_RANGE[0] + smax * (vmin - st * _FEATURE_U_MAX)
    ymax = _POS_Y_RANGE[1] + smax * (vmax + st * _FEATURE_U_MAX)
    pw = 2.0 / H

    def lo(z: float) -> int:
        return max(0, int(math.floor((z + 1.0) / pw - 0.5)) - 2)

    def hi(z: float) -> int:
        return min(H, int(math.ceil((z + 1.0) / pw - 0.5)) + 3)

    return lo(ymin), hi(ymax), lo(-xmax), hi(xmax)


def _render_chunk(r: Dict[str, torch.Tensor], H: int, tex: torch.Tensor,
                  window: bool = True) -> torch.Tensor:
    """Draw one chunk of faces; ``r`` holds float32 tensors ``(B,)`` / ``(B, 3)``.

    Every operation is element-wise per image, so a row's pixels never depend on the
    other rows of the chunk.  ``window=False`` draws the small features over the whole
    image instead of :func:`_feature_window` (for tests: the result must be identical).
    Returns float32 ``(B, 3, H, H)`` in [0, 1]."""
    dev = tex.device
    B = r["cx"].shape[0]
    f32 = torch.float32

    def s(k: str) -> torch.Tensor:
        return r[k].view(B, 1, 1)

    def c(k: str) -> torch.Tensor:
        return r[k].view(B, 3, 1, 1)

    def const(rgb: Sequence[float]) -> torch.Tensor:
        return torch.tensor(rgb, dtype=f32, device=dev).view(1, 3, 1, 1)

    def has(k: str) -> bool:
        return bool((r[k] > 0).any())

    pw = 2.0 / H
    t = torch.arange(H, device=dev, dtype=f32).add_(0.5).mul_(pw).sub_(1.0)
    X, Y = t.view(1, 1, H), t.view(1, H, 1)
    ipw = s("scale") * (1.0 / pw)  # 1 / (pixel width in face units)

    def aa(d: torch.Tensor) -> torch.Tensor:
        """Anti-aliased coverage ``clamp(0.5 - d / pixel_width, 0, 1)`` (in place on d)."""
        return d.mul_(-ipw).add_(0.5).clamp_(0.0, 1.0)

    def over(img: torch.Tensor, color: torch.Tensor, alpha: torch.Tensor) -> None:
        img.lerp_(color.expand_as(img) if color.shape != img.shape else color, alpha.unsqueeze(1))

    # per-pixel grain from the shared texture at a per-image offset
    ar = torch.arange(H, device=dev)
    rows = (ar.view(1, H, 1) + r["noise_y"].long().view(B, 1, 1)) % _NOISE_SIZE
    cols = (ar.view(1, 1, H) + r["noise_x"].long().view(B, 1, 1)) % _NOISE_SIZE
    nz = tex[rows * _NOISE_SIZE + cols]  # (B, H, W)

    # background: gradient, soft light blob, vignette, grain
    g = (s("bg_gx") * X + s("bg_gy") * Y).mul_(0.5).add_(0.5).clamp_(0.0, 1.0)
    img = torch.lerp(c("bg1"), c("bg2"), g.unsqueeze(1)).contiguous()
    blob = torch.exp((X - s("blob_x")).square_().mul_(-2.0)) * \
        torch.exp((Y - s("blob_y")).square_().mul_(-2.0))
    bright = blob.mul_(s("blob_s")).add_(1.0 - 0.2 * (X * X + Y * Y)).add_(nz, alpha=0.03)
    img.mul_(bright.unsqueeze(1))

    # face-local coordinates: u right, v down, face oval ~ [-0.74, 0.74] x [-1, 1]
    dx, dy = X - s("cx"), Y - s("cy")
    U = s("cos_s") * dx + s("sin_s") * dy
    V = s("cos_s") * dy - s("sin_s") * dx
    UA = U.abs()

    # hair colour field: strands radiating from the crown (faded out where their period
    # would be under ~3 pixels, i.e. anti-aliased) and grain
    period_px = (2 * math.pi) * ipw / s("strand_f")
    amp = period_px.sub(2.5).mul_(0.4).clamp_(0.0, 1.0).mul_(0.14)
    ang = (U - s("hair_part")).div_((V + 1.35).clamp_(min=0.2))
    hs = ang.mul_(s("strand_f")).add_(s("strand_p")).sin_().mul_(amp).add_(1.0)
    hs.add_(nz, alpha=0.12)
    hair = c("hair") * hs.unsqueeze(1)

    # shoulders / clothes
    a = aa(_ellipse_sd(U.clone(), V - 2.0, 1.8, 0.85))
    over(img, c("cloth") * (1.0 + 0.06 * nz).unsqueeze(1), a)
    # hair behind the head (long or short), darker deep inside
    d_hb = _ellipse_sd(U.clone(), V - s("hb_cy"), s("hb_rx"), s("hb_ry"))
    shade_hb = (d_hb * 2.5).clamp_(-0.35, 0.0).add_(1.0)
    over(img, hair * shade_hb.unsqueeze(1), aa(d_hb))
    # neck, darker under the chin
    a = aa(torch.maximum(UA - 0.34 * s("face_rx") / 0.74, 0.4 - V))
    neck_shade = (V - 0.85).clamp_(0.0, 0.6).mul_(0.25).add_(0.72)
    over(img, c("skin") * neck_shade.unsqueeze(1), a)
    # ears
    a = aa(_ellipse_sd(UA - 0.97 * s("face_rx"), V + 0.03, 0.09, 0.17))
    over(img, c("skin") * 0.88, a)
    # face oval, narrower towards the chin (less for Male); shaded and lit from the side
    rx = s("face_rx")
    den = V.clamp(min=0.0).square_().mul_(-s("taper") * rx).add_(rx)
    q = U / den
    k2 = q * q + V * V
    a_face = aa(k2.sqrt().sub_(1.0).mul_(0.8))
    shade = k2.mul_(-0.22).add_(1.06).addcmul_(q, s("light")).add_(nz, alpha=0.025)
    over(img, c("skin") * shade.unsqueeze(1), a_face)
    # beard (No_Beard = 0): textured, from the sideburns down over the jaw
    if has("beard"):
        d = (q * q).mul_(-0.26).add_(0.40).sub_(V)
        a = aa(d).mul_(a_face).mul_(nz.mul(0.3).add_(0.7)).mul_(s("beard") * 0.8)
        over(img, hair * 0.7, a)

    # ---- small features, drawn inside the feature window only --------------------------
    r0, r1, c0, c1 = _feature_window(H) if window else (0, H, 0, H)
    sub = img[:, :, r0:r1, c0:c1].contiguous()
    Uw = U[:, r0:r1, c0:c1].contiguous()
    Vw = V[:, r0:r1, c0:c1].contiguous()
    UAw = Uw.abs()
    sgn = torch.sign(Uw)
    a_fw = a_face[:, r0:r1, c0:c1]
    # nose: soft side shadows and nostrils
    nsd = (UAw - s("nose_w") - 0.01).mul_(18.0).square_().neg_().add_(1.0).clamp_(0.0, 1.0)
    nsd.mul_((Vw + 0.12).mul_(6.0).clamp_(0.0, 1.0)).mul_((0.33 - Vw).mul_(12.0).clamp_(0.0, 1.0))
    sub.mul_(nsd.mul_(a_fw).mul_(-0.10).add_(1.0).unsqueeze(1))
    a = aa(_ellipse_sd(UAw - 0.7 * s("nose_w"), Vw - 0.30, 0.032, 0.018))
    sub.mul_(a.mul_(-0.45).add_(1.0).unsqueeze(1))
    # mouth: lips between two parabolas around a (smiling) centre line; dark inside, teeth
    mu2 = (UAw / s("mouth_w")).square_()
    tt = mu2.neg().add_(1.0)
    W = (mu2 - 0.3).mul_(s("smile")).add_(Vw).sub_(s("mouth_y"))
    o = tt * s("open")
    a_m = aa((W + o).addcmul_(tt, s("lip_u")).neg_()) * \
        aa((W - o).addcmul_(tt, s("lip_l"), value=-1.0))
    lip = c("lip") * (W.clamp(0.0, 0.05).mul_(3.0).add_(0.92)).unsqueeze(1)
    over(sub, lip, a_m)
    a_in = aa(W.abs().sub_(o)).mul_(a_m)
    a_t = aa(W - 0.25 * o).mul_(a_in).mul_(s("teeth")) if has("teeth") else None
    over(sub, const(_MOUTH_INSIDE), a_in.mul_(0.92))
    if a_t is not None:
        over(sub, const(_TEETH), a_t)
    # eyes (mirrored: both from |u|): white, shaded iris, pupil, highlight, lash line
    EU, EV = UAw - s("eye_x"), Vw - s("eye_y")
    d_e = _ellipse_sd(EU.clone(), EV.clone(), s("eye_rx"), s("eye_ry"))
    a_e = aa(d_e.clone())
    if has("makeup"):
        sh = ((EU / 0.16).square_().addcmul_(EV + 0.06, EV + 0.06, value=1.0 / 0.07 ** 2)
              .neg_().add_(1.0).clamp_(0.0, 1.0).mul_(0.55).mul_(s("makeup")))
        over(sub, c("shadow_col"), sh)
        blush = ((UAw - 0.42).square_().add_((Vw - 0.22).square_()).mul_(-1 / 0.028).add_(1.0)
                 .clamp_(0.0, 1.0).mul_(0.3).mul_(s("makeup")))
        over(sub, const((0.85, 0.3, 0.35)), blush)
    over(sub, const(_WHITE_EYE), a_e)
    IU = EU - s("gaze") * sgn
    R = torch.sqrt(IU * IU + EV * EV)
    ir = s("iris_r")
    a_i = aa(R - ir).mul_(a_e)
    over(sub, c("iris") * (R / ir).mul_(0.8).add_(0.5).unsqueeze(1), a_i)
    a_p = aa(R - 0.45 * ir).mul_(a_e)
    sub.mul_(a_p.mul_(-0.92).add_(1.0).unsqueeze(1))
    hx = IU.addcmul_(sgn, ir, value=0.35)
    hy = EV + 0.35 * ir
    a_h = aa(torch.sqrt(hx.square_().addcmul_(hy, hy)).sub_(0.22 * ir)).mul_(a_e)
    over(sub, const((1.0, 1.0, 1.0)), a_h.mul_(0.85))
    a_l = aa(d_e.abs_().sub_(0.011)).mul_(aa(EV.clone()))
    sub.mul_(a_l.mul_(-0.75).add_(1.0).unsqueeze(1))
    # eyebrows: the upper half of an elliptic ring
    by = s("brow_y")
    d = _ellipse_sd(UAw - 0.30, Vw - by, 0.17, 0.085).abs_().sub_(s("brow_th"))
    over(sub, c("brow"), aa(d).mul_(aa(Vw - by)).mul_(0.92))
    # eyeglasses: slightly tinted lenses, two rims and a bridge (temples below)
    if has("glasses"):
        g_on = s("glasses")
        d_g = _ellipse_sd(EU.clone(), EV + 0.01, 0.19, 0.14)
        lens = aa(d_g.clone()).mul_(0.12).mul_(g_on)
        sub.mul_(lens.neg_().add_(1.0).unsqueeze(1))
        ring = d_g.abs_().sub_(0.018)
        bridge = torch.maximum(UAw - s("eye_x") + 0.175, (EV + 0.04).abs_().sub_(0.013))
        over(sub, c("frame"), aa(torch.minimum(ring, bridge)).mul_(g_on))
    img[:, :, r0:r1, c0:c1] = sub
    # ---- back to the whole image --------------------------------------------------------
    if has("glasses"):
        EVf = V - s("eye_y")
        temple = torch.maximum(torch.maximum(s("eye_x") + 0.18 - UA, UA - 0.97 * s("face_rx")),
                               (EVf + 0.02).abs_().sub_(0.012))
        over(img, c("frame"), aa(temple).mul_(s("glasses")))
    # hair in front: the top of the head above a hairline (lower and jagged with Bangs)
    a1 = aa(_ellipse_sd(U.clone(), V - s("ht_cy"), s("ht_rx"), s("ht_ry")))
    hl = (U - s("hair_part")).square_().mul_(s("hair_curve")).add_(s("hairline"))
    if has("bangs"):
        hl.add_(torch.sin(U * 40.0).mul_(0.025).mul_(s("bangs")))
    over(img, hair, a1.mul_(aa(V - hl)))
    # hat: a dome over the head, a band and a brim
    if has("hat"):
        line = U.square().mul_(0.06).sub_(0.55)
        dome = torch.maximum(_ellipse_sd(U.clone(), V + 0.15, 0.98, 1.0), V - line)
        brim = torch.maximum((V - line).abs_().sub_(0.06), UA - 1.08)
        a = aa(torch.minimum(dome, brim)).mul_(s("hat"))
        band = aa((V - line + 0.13).abs_().sub_(0.035))
        hat = c("hat_col") * band.mul_(-0.35).add_(1.0).addcmul_(q, s("light")).unsqueeze(1)
        over(img, hat, a)
    return img.clamp_(0.0, 1.0)

def _to_uint8(img: torch.Tensor) -> torch.Tensor:
    return img.mul(255.0).add_(0.5).clamp_(0.0, 255.0).to(torch.uint8)


@contextlib.contextmanager
def _single_threaded(device: torch.device) -> Iterator[None]:
    """Run torch CPU ops single-threaded inside the block; restore the count after."""
    threads = torch.get_num_threads()
    single = device.type == "cpu" and threads != 1
    if single:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if single:
            torch.set_num_threads(threads)


def render_synthfaces_params(params: Dict[str, np.ndarray], image_size: int = 128,
                             device: Union[str, torch.device] = "cpu",
                             chunk_pixels: Optional[int] = None) -> torch.Tensor:
    """Render faces from explicit parameters (see :func:`synthfaces_params`).

    Returns a uint8 tensor ``(B, 3, image_size, image_size)`` on ``device``.  The batch is
    drawn in chunks of about ``chunk_pixels`` pixels (64k on CPU, so the working set
    stays in cache; 16M on a GPU); chunking never changes the result.
    """
    H = _check_image_size(image_size)
    device = torch.device(device)
    r_np = _synthfaces_render_inputs(params)
    B = r_np["cx"].shape[0]
    out = torch.empty((B, 3, H, H), dtype=torch.uint8, device=device)
    if B == 0:
        return out
    if chunk_pixels is None:
        chunk_pixels = (1 << 24) if device.type == "cuda" else (1 << 16)
    step = max(1, int(chunk_pixels) // (H * H))
    tex = _noise_texture(device)
    r_all = {k: torch.as_tensor(np.ascontiguousarray(v, dtype=np.float32), device=device)
             for k, v in r_np.items()}
    # The chunks are small (cache-sized), where intra-op threads only add overhead -- and
    # on a shared, oversubscribed CPU they make every one of the ~500 small ops per chunk
    # wait for a descheduled thread (measured: 6 instead of 3,000 img/s on 2 busy cores).
    # So the CPU renderer runs single-threaded and restores the thread count afterwards.
    with _single_threaded(device), torch.inference_mode():
        for i in range(0, B, step):
            r = {k: v[i:i + step] for k, v in r_all.items()}
            out[i:i + step] = _to_uint8(_render_chunk(r, H, tex))
    return out


def render_synthfaces(ids: Union[Sequence[int], np.ndarray], image_size: int = 128, seed: int = 0,
                      device: Union[str, torch.device] = "cpu") -> torch.Tensor:
    """Render the ``synthfaces`` images with global ids ``ids`` (§4.2 stand-in for CelebA).

    Image ``i`` depends only on ``(seed, i)``.  Returns uint8 ``(len(ids), 3, S, S)``."""
    return render_synthfaces_params(synthfaces_params(ids, seed), image_size, device)


# ----------------------------------------------------------------------------------------
# Datasets
# ----------------------------------------------------------------------------------------
def _thesis_or_all(split: str, n: int, split_seed: int) -> np.ndarray:
    if split == "all":
        return np.arange(n, dtype=np.int64)
    train, test = thesis_split(n, thesis_n_train(n), seed=split_seed)
    return train if split in ("train", "thesis_train") else test


class SynthFaces(Dataset):
    """The embedded, procedurally generated CelebA-like face data set (stand-in for §4.2).

    ``n`` images (default 202,599, CelebA's size, so the thesis' 162,079 / 40,520 split
    applies verbatim), split by :func:`thesis_split` scaled to ``n``:
    ``"train"``/``"thesis_train"``, ``"test"``/``"thesis_test"`` or ``"all"``.  Image
    with global id ``g`` depends only on ``(seed, g)`` -- not on ``n``, the split or
    the batch it is drawn in.

    Items are ``(image, target)``: ``image`` float32 ``(3, S, S)`` in [0, 1];
    ``target = {"attr": LongTensor(14) of 0/1, "factors": FloatTensor(10)}`` in the
    order of :attr:`attr_names` / :attr:`factor_names`.  ``__getitem__`` renders one
    image; use :meth:`render_batch` or :func:`to_uint8_tensor` for speed.
    """

    name = "synthfaces"

    def __init__(self, split: str = "train", image_size: int = 128, *,
                 n: int = CELEBA_N_IMAGES, seed: int = 0, split_seed: int = SPLIT_SEED) -> None:
        _check_choice(split, SYNTHFACES_SPLITS, "synthfaces split")
        self.image_size = _check_image_size(image_size)
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"synthfaces needs n >= 1 images, got n={n!r}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"synthfaces needs an integer seed >= 0, got seed={seed!r}")
        self.split, self.n_total, self.seed = split, int(n), int(seed)
        self.indices: np.ndarray = _thesis_or_all(split, self.n_total, split_seed)
        self.attr_names: List[str] = list(SYNTHFACES_ATTR_NAMES)
        self.factor_names: List[str] = list(SYNTHFACES_FACTOR_NAMES)

    def __len__(self) -> int:
        return len(self.indices)

    def global_ids(self, positions: Union[int, Sequence[int], np.ndarray]) -> np.ndarray:
        """Global image ids (into ``range(n)``) of dataset positions ``positions``."""
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        if pos.size and (pos.min() < -len(self) or pos.max() >= len(self)):
            raise IndexError(f"position out of range for a data set of {len(self)} images")
        return self.indices[pos]

    def params(self, positions: Union[Sequence[int], np.ndarray]) -> Dict[str, np.ndarray]:
        """All drawing parameters of these positions (see :func:`synthfaces_params`)."""
        return synthfaces_params(self.global_ids(positions), self.seed)

    def render_batch(self, positions: Union[Sequence[int], np.ndarray],
                     device: Union[str, torch.device] = "cpu") -> torch.Tensor:
        """Render dataset positions ``positions`` in one vectorised pass.

        Returns uint8 ``(B, 3, S, S)`` on ``device`` (a CUDA device works too)."""
        return render_synthfaces_params(self.params(positions), self.image_size, device)

    def uint8_batch(self, positions: np.ndarray,
                    device: Union[str, torch.device] = "cpu") -> torch.Tensor:
        """Fast path used by :func:`to_uint8_tensor`: uint8 ``(B, 3, S, S)`` on ``device``."""
        return self.render_batch(positions, device=device)

    def labels(self, positions: Union[Sequence[int], np.ndarray]) -> Dict[str, torch.Tensor]:
        """Targets of many positions: ``{"attr": Long (B, 14), "factors": Float (B, 10)}``."""
        p = self.params(positions)
        attr = np.stack([p[k] for k in SYNTHFACES_ATTR_NAMES], axis=1).astype(np.int64)
        fac = np.stack([p[k] for k in SYNTHFACES_FACTOR_NAMES], axis=1).astype(np.float32)
        return {"attr": torch.from_numpy(attr), "factors": torch.from_numpy(fac)}

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        pos = np.array([int(index)])
        img = self.render_batch(pos)[0].float().div_(255.0)
        lab = self.labels(pos)
        return img, {k: v[0] for k, v in lab.items()}

    def __repr__(self) -> str:
        return (f"SynthFaces(split={self.split!r}, image_size={self.image_size}, "
                f"n={self.n_total}, seed={self.seed}, len={len(self)})")


class TensorImageDataset(Dataset):
    """A data set over a resident uint8 image tensor ``(N, 3, S, S)``.

    Items are ``(float32 (3, S, S) in [0, 1], {name: targets[name][i]})`` (an empty dict
    without targets).  This is what :func:`to_uint8_tensor` output is wrapped in."""

    def __init__(self, images_uint8: torch.Tensor,
                 targets: Optional[Dict[str, torch.Tensor]] = None, *, name: str = "tensor",
                 attr_names: Optional[List[str]] = None,
                 factor_names: Optional[List[str]] = None) -> None:
        if not isinstance(images_uint8, torch.Tensor) or images_uint8.dtype != torch.uint8:
            raise ValueError("TensorImageDataset needs a torch.uint8 tensor of shape (N, 3, S, S), "
                             f"got {getattr(images_uint8, 'dtype', type(images_uint8))}")
        if images_uint8.dim() != 4 or images_uint8.shape[1] != 3 \
                or images_uint8.shape[2] != images_uint8.shape[3]:
            raise ValueError("TensorImageDataset needs images of shape (N, 3, S, S), "
                             f"got {tuple(images_uint8.shape)}")
        targets = dict(targets or {})
        for k, v in targets.items():
            if not isinstance(v, torch.Tensor) or len(v) != len(images_uint8):
                raise ValueError(f"target {k!r} must be a tensor with {len(images_uint8)} rows")
        self.images, self.targets = images_uint8, targets
        self.name, self.image_size = name, int(images_uint8.shape[-1])
        self.attr_names, self.factor_names = attr_names, factor_names

    def __len__(self) -> int:
        return len(self.images)

    def uint8_batch(self, positions: np.ndarray) -> torch.Tensor:
        return self.images[torch.as_tensor(positions, dtype=torch.long, device=self.images.device)]

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        return self.images[index].float().div_(255.0), {k: v[index] for k, v in self.targets.items()}


class Digits(Dataset):
    """scikit-learn's bundled handwritten digits (1,797 grey 8x8 images, ink = bright).

    Upscaled bilinearly to ``(3, S, S)`` in [0, 1] (grey repeated over RGB); split 80/20
    by :func:`thesis_split` with ``split_seed`` (``"train"``: 1,438, ``"test"``: 359).
    Target: ``{"label": LongTensor scalar}``.  A tiny *real* data set for quick checks;
    it is not part of the thesis."""

    name = "digits"
    _CACHE: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}

    def __init__(self, split: str = "train", image_size: int = 128, *,
                 split_seed: int = SPLIT_SEED) -> None:
        _check_choice(split, DIGITS_SPLITS, "digits split")
        self.split, self.image_size = split, _check_image_size(image_size)
        self.attr_names, self.factor_names = None, None
        images, labels = self._all(self.image_size)
        n = len(labels)
        if split == "all":
            self.indices = np.arange(n, dtype=np.int64)
        else:
            tr, te = thesis_split(n, int(round(0.8 * n)), seed=split_seed)
            self.indices = tr if split == "train" else te
        self._images, self._labels = images, labels

    @classmethod
    def _all(cls, size: int) -> Tuple[torch.Tensor, torch.Tensor]:
        if size not in cls._CACHE:
            from sklearn.datasets import load_digits
            d = load_digits()
            x = torch.tensor(d.images, dtype=torch.float32).div_(16.0).unsqueeze(1)
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                                align_corners=False)
            x = x.clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8).expand(-1, 3, -1, -1)
            cls._CACHE[size] = (x.contiguous(), torch.tensor(d.target, dtype=torch.long))
        return cls._CACHE[size]

    def __len__(self) -> int:
        return len(self.indices)

    def uint8_batch(self, positions: np.ndarray) -> torch.Tensor:
        return self._images[torch.as_tensor(self.indices[np.asarray(positions)], dtype=torch.long)]

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        g = int(self.indices[index])
        return self._images[g].float().div_(255.0), {"label": self._labels[g].clone()}


# ----------------------------------------------------------------------------------------
# CelebA (the real data, §4.2)
# ----------------------------------------------------------------------------------------
class CorruptImageError(ValueError):
    """An image file exists but cannot be decoded (truncated download, bad unzip, ...)."""


CELEBA_IMAGE_DIR = "img_align_celeba"
CELEBA_PARTITION_FILE = "list_eval_partition.txt"
CELEBA_ATTR_FILE = "list_attr_celeba.txt"
CELEBA_CACHE_FORMAT = 1


def celeba_instructions(root: PathLike) -> str:
    """How to obtain CelebA and where to put it (used in every 'not found' message)."""
    base = Path(root) / "celeba"
    return (
        "How to get CelebA: download 'Align&Cropped Images' (img_align_celeba.zip) and the "
        f"annotation files '{CELEBA_PARTITION_FILE}' (Eval) and '{CELEBA_ATTR_FILE}' (Anno) "
        "from the official site https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (its Google "
        f"Drive folder), unzip so that '{base / CELEBA_IMAGE_DIR / '000001.jpg'}' exists and "
        f"put the two txt files beside the folder, in '{base}'. Alternatively pass "
        "download=True (torchvision's downloader; needs internet and the gdown package, and "
        "Google Drive often refuses with a quota error). Without CelebA, use the embedded "
        "data set: load_dataset('synthfaces', ...).")


def _celeba_paths(root: PathLike) -> Dict[str, Path]:
    base = Path(root) / "celeba"
    return {"base": base, "images": base / CELEBA_IMAGE_DIR,
            "partition": base / CELEBA_PARTITION_FILE, "attr": base / CELEBA_ATTR_FILE}


def _check_celeba_files(root: PathLike) -> Dict[str, Path]:
    paths = _celeba_paths(root)
    missing = []
    if not paths["images"].is_dir():
        missing.append(f"the image folder '{paths['images']}'")
    for key in ("partition", "attr"):
        if not paths[key].is_file():
            missing.append(f"the file '{paths[key]}'")
    if missing:
        raise FileNotFoundError(f"CelebA not found: missing {' and '.join(missing)}. "
                                + celeba_instructions(root))
    return paths


def read_celeba_partition(path: PathLike) -> Tuple[List[str], np.ndarray]:
    """Parse ``list_eval_partition.txt`` (lines ``000001.jpg 0``; 0 train, 1 valid, 2 test).

    Returns ``(filenames, partition)`` with ``partition`` int64 ``(N,)``."""
    names, parts = [], []
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise ValueError(f"{path}:{lineno}: expected '<image>.jpg <0|1|2>', got {line.strip()!r}")
            names.append(fields[0])
            parts.append(int(fields[1]))
    return names, np.asarray(parts, dtype=np.int64)


def read_celeba_attributes(path: PathLike) -> Tuple[List[str], List[str], np.ndarray]:
    """Parse ``list_attr_celeba.txt``: a count line, a line of 40 attribute names, then
    ``000001.jpg -1 1 ...`` rows.  Returns ``(attr_names, filenames, attr)`` with ``attr``
    int64 ``(N, 40)`` mapped from {-1, 1} to {0, 1} (as torchvision does)."""
    with open(path) as fh:
        lines = [ln for ln in fh.read().splitlines() if ln.strip()]
    if len(lines) < 2:
        raise ValueError(f"{path}: expected a count line and a header line of attribute names")
    attr_names = lines[1].split()
    names, rows = [], []
    for lineno, line in enumerate(lines[2:], 3):
        fields = line.split()
        if len(fields) != len(attr_names) + 1:
            raise ValueError(f"{path}:{lineno}: expected a file name and {len(attr_names)} values "
                             f"of -1/1, got {len(fields) - 1} values")
        names.append(fields[0])
        rows.append([int(v) for v in fields[1:]])
    attr = np.asarray(rows, dtype=np.int64).reshape(-1, len(attr_names))
    if not np.isin(attr, (-1, 1)).all():
        raise ValueError(f"{path}: attribute values must be -1 or 1")
    try:
        declared = int(lines[0].split()[0])
    except (ValueError, IndexError):
        raise ValueError(f"{path}: the first line must be the number of images") from None
    if declared != len(names):
        raise ValueError(f"{path}: the first line says {declared} images but {len(names)} rows follow")
    return attr_names, names, (attr + 1) // 2


def _celeba_transform(image_size: int, crop: Optional[int]):
    from torchvision import transforms as T
    steps = [] if crop is None else [T.CenterCrop(crop)]
    steps += [T.Resize((image_size, image_size), interpolation=T.InterpolationMode.BILINEAR,
                       antialias=True), T.PILToTensor()]
    return T.Compose(steps)


def _load_celeba_uint8(path: Path, transform) -> torch.Tensor:
    """Decode, crop and resize one image to uint8 ``(3, S, S)``; errors name the file."""
    from PIL import Image, UnidentifiedImageError
    if not path.is_file():
        raise FileNotFoundError(f"CelebA image '{path}' is listed in {CELEBA_PARTITION_FILE} but "
                                "missing (incomplete unzip?). " + celeba_instructions(path.parent.parent.parent))
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.load()
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as exc:
        raise CorruptImageError(f"cannot decode CelebA image '{path}': {exc}. Re-extract it from "
                                "img_align_celeba.zip.") from exc
    return transform(im)


def _check_crop(crop: Optional[int]) -> Optional[int]:
    if crop is None:
        return None
    if not isinstance(crop, (int, np.integer)) or not 1 <= int(crop) <= 178:
        raise ValueError(f"crop must be None or an integer in [1, 178] (aligned CelebA images "
                         f"are 178x218), got {crop!r}")
    return int(crop)


def celeba_cache_path(root: PathLike, image_size: int, crop: Optional[int]) -> Path:
    """``<root>/cache/celeba_{size}_crop{crop}.npy`` (``cropnone`` without a crop)."""
    return Path(root) / "cache" / f"celeba_{int(image_size)}_crop{crop if crop is not None else 'none'}.npy"


def _cache_meta(image_size: int, crop: Optional[int], filenames: List[str]) -> Dict[str, Any]:
    import hashlib
    digest = hashlib.sha1("\n".join(filenames).encode()).hexdigest()
    return {"format": CELEBA_CACHE_FORMAT, "dataset": "celeba", "image_size": int(image_size),
            "crop": crop, "n_images": len(filenames), "filenames_sha1": digest,
            "order": CELEBA_PARTITION_FILE, "dtype": "uint8",
            "shape": [len(filenames), 3, int(image_size), int(image_size)],
            "preprocessing": "PIL RGB, centre crop, antialiased bilinear resize (torchvision)"}


def _cache_is_valid(npy: Path, meta: Dict[str, Any]) -> bool:
    side = npy.with_suffix(".json")
    if not (npy.is_file() and side.is_file()):
        return False
    try:
        if json.loads(side.read_text()) != json.loads(json.dumps(meta)):
            return False
        arr = np.load(npy, mmap_mode="r")
        return arr.dtype == np.uint8 and list(arr.shape) == meta["shape"]
    except (OSError, ValueError):
        return False


class _CelebAFiles(Dataset):
    """Decode helper for the cache builder: returns ``(index, uint8 or None, error)``."""

    def __init__(self, folder: Path, filenames: List[str], transform) -> None:
        self.folder, self.filenames, self.transform = folder, filenames, transform

    def __len__(self) -> int:
        return len(self.filenames)

    def __getitem__(self, i: int):
        try:
            return i, _load_celeba_uint8(self.folder / self.filenames[i], self.transform), None
        except CorruptImageError as exc:
            return i, None, ("corrupt", str(exc))
        except FileNotFoundError as exc:
            return i, None, ("missing", str(exc))


def build_celeba_cache(root: PathLike = "data", image_size: int = 128, crop: Optional[int] = CELEBA_CROP,
                       *, force: bool = False, progress: bool = True, num_workers: int = 0,
                       batch_size: int = 256) -> Path:
    """Decode, crop and resize every CelebA image once into a uint8 ``.npy`` (§4.2).

    Writes ``<root>/cache/celeba_{image_size}_crop{crop}.npy``, shape
    ``(N, 3, image_size, image_size)`` in the order of ``list_eval_partition.txt``, plus a
    JSON sidecar with the settings.  Both are written atomically; an existing cache is
    reused when its sidecar matches (size, crop, file list, format) and rebuilt otherwise
    (or with ``force=True``).  A corrupt or missing image does not stop the run: all of
    them are collected and reported at the end in one :class:`CorruptImageError` (or
    :class:`FileNotFoundError` if files are only missing), and no cache is written.
    ``num_workers > 0`` decodes in parallel worker processes.  Returns the ``.npy`` path.
    """
    image_size, crop = _check_image_size(image_size), _check_crop(crop)
    paths = _check_celeba_files(root)
    filenames, _ = read_celeba_partition(paths["partition"])
    npy = celeba_cache_path(root, image_size, crop)
    meta = _cache_meta(image_size, crop, filenames)
    if not force and _cache_is_valid(npy, meta):
        return npy
    from tqdm.auto import tqdm
    files = _CelebAFiles(paths["images"], filenames, _celeba_transform(image_size, crop))
    loader = torch.utils.data.DataLoader(files, batch_size=batch_size, num_workers=num_workers,
                                         collate_fn=list, shuffle=False)
    problems: Dict[str, List[str]] = {"corrupt": [], "missing": []}
    side = npy.with_suffix(".json")
    if side.exists():
        side.unlink()  # a half-finished rebuild must never look valid
    with atomic_path(npy) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=tuple(meta["shape"]))
        bar = tqdm(total=len(files), desc=f"CelebA cache {image_size}px crop {crop}",
                   unit="img", disable=not progress)
        for batch in loader:
            for i, img, err in batch:
                if err is None:
                    arr[i] = img.numpy()
                else:
                    problems[err[0]].append(filenames[i])
            bar.update(len(batch))
        bar.close()
        arr.flush()
        del arr
        if problems["corrupt"] or problems["missing"]:
            msg = []
            if problems["corrupt"]:
                msg.append(f"{len(problems['corrupt'])} corrupt image(s) that cannot be decoded: "
                           + ", ".join(problems["corrupt"]))
            if problems["missing"]:
                msg.append(f"{len(problems['missing'])} image(s) listed in {CELEBA_PARTITION_FILE} "
                           "but missing: " + ", ".join(problems["missing"]))
            text = (f"CelebA cache not written ({npy}); in '{paths['images']}' there are "
                    + "; and ".join(msg) + ". Re-extract them from img_align_celeba.zip and run again.")
            raise (CorruptImageError(text) if problems["corrupt"] else FileNotFoundError(text))
    atomic_write_json(side, meta)
    return npy


class CelebA(Dataset):
    """CelebA aligned faces (thesis §4.2), read from ``<root>/celeba/``.

    Needs ``img_align_celeba/*.jpg``, ``list_eval_partition.txt`` and
    ``list_attr_celeba.txt`` (:func:`celeba_instructions`); a missing one raises
    :class:`FileNotFoundError` naming the exact path.  Splits: ``"thesis_train"`` /
    ``"thesis_test"`` (the thesis' random 80/20 split, :func:`thesis_split` over every
    listed image: 162,079 / 40,520), or the official partitions ``"train"``, ``"valid"``,
    ``"test"`` and ``"all"``.  Preprocessing: centre crop ``crop`` (default
    :data:`~waelib.config.CELEBA_CROP` = 140, the official WAE code's choice; ``None``
    for none) then antialiased bilinear resize to ``image_size``.  With ``cache=True``
    the images come from :func:`build_celeba_cache` (built on first use).

    Items: ``(float32 (3, S, S) in [0, 1], {"attr": LongTensor(40) of 0/1})``.
    """

    name = "celeba"

    def __init__(self, root: PathLike = "data", split: str = "thesis_train", image_size: int = 128, *,
                 crop: Optional[int] = CELEBA_CROP, cache: bool = False, download: bool = False,
                 split_seed: int = SPLIT_SEED, progress: bool = True) -> None:
        _check_choice(split, CELEBA_SPLITS, "celeba split")
        self.root, self.split = Path(root), split
        self.image_size, self.crop = _check_image_size(image_size), _check_crop(crop)
        if download:
            self._download()
        paths = _check_celeba_files(root)
        self.image_dir = paths["images"]
        self.filenames, self.partition = read_celeba_partition(paths["partition"])
        names, attr_files, attr = read_celeba_attributes(paths["attr"])
        self.attr_names: List[str] = names
        self.factor_names = None
        row = {f: i for i, f in enumerate(attr_files)}
        missing = [f for f in self.filenames if f not in row]
        if missing:
            raise ValueError(f"{paths['attr']} has no attributes for {len(missing)} image(s) listed "
                             f"in {paths['partition']}, e.g. {missing[:3]}")
        self.attr = torch.from_numpy(attr[[row[f] for f in self.filenames]])
        n = len(self.filenames)
        if split in ("thesis_train", "thesis_test"):
            tr, te = thesis_split(n, thesis_n_train(n), seed=split_seed)
            self.indices = tr if split == "thesis_train" else te
        elif split == "all":
            self.indices = np.arange(n, dtype=np.int64)
        else:
            code = {"train": 0, "valid": 1, "test": 2}[split]
            self.indices = np.flatnonzero(self.partition == code).astype(np.int64)
        self.transform = _celeba_transform(self.image_size, self.crop)
        self._cache: Optional[np.ndarray] = None
        self.cache_path: Optional[Path] = None
        if cache:
            self.cache_path = build_celeba_cache(root, self.image_size, self.crop, progress=progress)
            self._cache = np.load(self.cache_path, mmap_mode="r")

    def _download(self) -> None:
        import torchvision
        try:
            torchvision.datasets.CelebA(str(self.root), split="all", target_type=[], download=True)
        except Exception as exc:  # network, quota, missing gdown: explain what to do instead
            raise RuntimeError(f"CelebA download failed ({type(exc).__name__}: {exc}). "
                               + celeba_instructions(self.root)) from exc

    def __len__(self) -> int:
        return len(self.indices)

    def uint8_batch(self, positions: np.ndarray) -> torch.Tensor:
        """uint8 ``(B, 3, S, S)`` of these positions (from the cache when there is one)."""
        g = self.indices[np.asarray(positions, dtype=np.int64)]
        if self._cache is not None:
            return torch.from_numpy(np.ascontiguousarray(self._cache[np.sort(g)][np.argsort(np.argsort(g))]))
        return torch.stack([self._load(int(i)) for i in g]) if len(g) else \
            torch.empty((0, 3, self.image_size, self.image_size), dtype=torch.uint8)

    def _load(self, g: int) -> torch.Tensor:
        if self._cache is not None:
            return torch.from_numpy(np.array(self._cache[g]))
        return _load_celeba_uint8(self.image_dir / self.filenames[g], self.transform)

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        g = int(self.indices[index])
        return self._load(g).float().div_(255.0), {"attr": self.attr[g].clone()}

    def __repr__(self) -> str:
        return (f"CelebA(root={str(self.root)!r}, split={self.split!r}, image_size={self.image_size}, "
                f"crop={self.crop}, cached={self._cache is not None}, len={len(self)})")


# ----------------------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------------------
_OPTIONS = {"synthfaces": ("n", "seed", "split_seed"),
            "celeba": ("crop", "cache", "download", "split_seed", "progress"),
            "digits": ("split_seed",)}
_SPLITS = {"synthfaces": SYNTHFACES_SPLITS, "celeba": CELEBA_SPLITS, "digits": DIGITS_SPLITS}


def thesis_splits(name: str) -> Tuple[str, str]:
    """The (train, test) split names that follow the thesis for data set ``name`` (§4.2).

    CelebA's ``"train"``/``"test"`` are its official partitions, so the thesis' random 80/20
    split is ``"thesis_train"``/``"thesis_test"``; for synthfaces ``"train"``/``"test"`` already
    are that split, and digits has its own seeded 80/20 split.
    """
    _check_choice(name, DATASETS, "data set")
    return ("thesis_train", "thesis_test") if name == "celeba" else ("train", "test")


def load_dataset(name: str, *, root: PathLike = "data", split: str = "train",
                 image_size: int = 128, **options: Any) -> Dataset:
    """Build one of :data:`DATASETS` (thesis §4.2).  Items are ``(image, target)`` with
    ``image`` float32 ``(3, image_size, image_size)`` in [0, 1] and ``target`` a dict.

    - ``"synthfaces"`` (embedded): splits ``train``/``thesis_train``, ``test``/
      ``thesis_test``, ``all``; options ``n`` (default 202,599), ``seed``, ``split_seed``.
    - ``"celeba"`` (files under ``<root>/celeba``): splits ``thesis_train``/``thesis_test``
      (the thesis' random 80/20 split) and the official ``train``/``valid``/``test``/``all``;
      options ``crop`` (default 140), ``cache`` (build/reuse the uint8 cache),
      ``download`` (needs internet), ``split_seed``, ``progress``.
    - ``"digits"`` (scikit-learn): splits ``train``/``test``/``all``; option ``split_seed``.

    Unknown names, splits or image sizes raise :class:`ValueError` listing the choices;
    unknown options raise :class:`TypeError` listing the accepted ones.
    """
    _check_choice(name, DATASETS, "dataset name")
    image_size = _check_image_size(image_size)
    _check_choice(split, _SPLITS[name], f"{name} split")
    bad = sorted(set(options) - set(_OPTIONS[name]))
    if bad:
        raise TypeError(f"load_dataset({name!r}) got unexpected option(s) {bad}; "
                        f"accepted: {list(_OPTIONS[name])}")
    if name == "synthfaces":
        return SynthFaces(split, image_size, **options)
    if name == "celeba":
        return CelebA(root, split, image_size, **options)
    return Digits(split, image_size, **options)


def _fast_source(dataset: Dataset) -> Tuple[Optional[Dataset], Optional[np.ndarray]]:
    """``(base, positions)`` if ``dataset`` (possibly nested Subsets) has ``uint8_batch``."""
    positions: Optional[np.ndarray] = None
    while isinstance(dataset, Subset):
        idx = np.asarray(dataset.indices, dtype=np.int64)
        positions = idx if positions is None else idx[positions]
        dataset = dataset.dataset
    if hasattr(dataset, "uint8_batch"):
        if positions is None:
            positions = np.arange(len(dataset), dtype=np.int64)
        return dataset, positions
    return None, None


def to_uint8_tensor(dataset: Dataset, *, batch_size: int = 512, progress: bool = False,
                    device: Optional[Union[str, torch.device]] = None) -> torch.Tensor:
    """Materialise a whole data set as uint8 ``(N, 3, S, S)`` (on the CPU, or ``device``).

    The trainer keeps the result resident on the GPU (2.5 GB for 202,599 images at
    64 px).  Uses the data set's batch fast path when it has one (``uint8_batch``:
    synthfaces batch rendering, the CelebA cache, the digits array), also through
    :class:`torch.utils.data.Subset`; otherwise it converts item by item,
    ``round(255 * image)``.  With ``device="cuda"`` synthfaces is rendered on the GPU
    directly (seconds for the full set) and the result stays there."""
    from tqdm.auto import tqdm
    base, positions = _fast_source(dataset)
    n = len(dataset)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if base is not None:
        size = int(base.image_size)
        out = torch.empty((n, 3, size, size), dtype=torch.uint8, device=dev)
        on_device = isinstance(base, SynthFaces)
        for i in tqdm(range(0, n, batch_size), disable=not progress, desc="to_uint8", unit="batch"):
            pos = positions[i:i + batch_size]
            batch = base.uint8_batch(pos, device=dev) if on_device else base.uint8_batch(pos)
            out[i:i + batch_size] = batch.to(dev)
        return out
    first = dataset[0][0] if n else None
    if first is None:
        raise ValueError("to_uint8_tensor needs a non-empty data set")
    out = torch.empty((n,) + tuple(first.shape), dtype=torch.uint8)
    for i in tqdm(range(n), disable=not progress, desc="to_uint8", unit="img"):
        img = dataset[i][0]
        out[i] = img.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
    return out.to(dev)
