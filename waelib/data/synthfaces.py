"""``synthfaces``: the embedded, procedurally generated CelebA-like face data set (§4.2).

Per-index parameters from a counter-based hash (:func:`synthfaces_params`: image ``i``
depends only on ``(seed, i)``), drawn by the renderer in
:mod:`waelib.data.synthfaces_render` (:func:`render_synthfaces`), behind the
:class:`SynthFaces` data set with the thesis' 80/20 split.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from waelib.config import CELEBA_N_IMAGES, SPLIT_SEED
from waelib.utils import check_choice

from .common import check_image_size, thesis_or_all
from .synthfaces_render import NOISE_SIZE, POS_X_MAX, POS_Y_RANGE, SCALE_RANGE, TILT_MAX, render_synthfaces_params

SYNTHFACES_SPLITS: Tuple[str, ...] = ("train", "test", "thesis_train", "thesis_test", "all")

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


def hash_uniforms(seed: int, ids: np.ndarray, n_slots: int) -> np.ndarray:
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
    U = hash_uniforms(seed, ids, len(_SLOTS))
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
    p["pos_x"] = (2.0 * u["pos_x"] - 1.0) * POS_X_MAX
    p["pos_y"] = POS_Y_RANGE[0] + (POS_Y_RANGE[1] - POS_Y_RANGE[0]) * u["pos_y"]
    p["scale"] = SCALE_RANGE[0] + (SCALE_RANGE[1] - SCALE_RANGE[0]) * u["scale"]
    p["tilt"] = (2.0 * u["tilt"] - 1.0) * TILT_MAX
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
    p["noise_x"] = np.floor(u["noise_x"] * NOISE_SIZE)
    p["noise_y"] = np.floor(u["noise_y"] * NOISE_SIZE)
    return p


def render_synthfaces(ids: Union[Sequence[int], np.ndarray], image_size: int = 128, seed: int = 0,
                      device: Union[str, torch.device] = "cpu") -> torch.Tensor:
    """Render the ``synthfaces`` images with global ids ``ids`` (§4.2 stand-in for CelebA).

    Image ``i`` depends only on ``(seed, i)``.  Returns uint8 ``(len(ids), 3, S, S)``."""
    return render_synthfaces_params(synthfaces_params(ids, seed), image_size, device)


# ----------------------------------------------------------------------------------------
# Datasets
# ----------------------------------------------------------------------------------------
class SynthFaces(Dataset):
    """The embedded, procedurally generated CelebA-like face data set (stand-in for §4.2).

    ``n`` images (default 202,599, CelebA's size, so the thesis' 162,079 / 40,520 split
    applies verbatim), split by :func:`thesis_split_indices` scaled to ``n``:
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
        check_choice(split, SYNTHFACES_SPLITS, "synthfaces split")
        self.image_size = check_image_size(image_size)
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"synthfaces needs n >= 1 images, got n={n!r}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"synthfaces needs an integer seed >= 0, got seed={seed!r}")
        self.split, self.n_total, self.seed = split, int(n), int(seed)
        self.indices: np.ndarray = thesis_or_all(split, self.n_total, split_seed)
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
