"""``synthfaces_n8`` / ``synthfaces_n16``: synthfaces with a KNOWN true latent dimension n.

Seed document 004 (MaskAAE) claims that generation quality degrades on both sides of the
data's true latent dimension n, and tests it on synthetic data with n = 8 and 16.  These
two data sets are the same experiment with the embedded face renderer
(:mod:`waelib.data.synthfaces_render`).

How n is counted: **n = the number of continuous renderer inputs that vary; everything
else, including every binary attribute and texture offset, is fixed; the images therefore
lie on an n-dimensional manifold, quantisation to uint8 aside.**  Image ``i`` draws a latent
vector ``z_i`` i.i.d. uniform on [0, 1)^n from a counter-based hash of ``(seed, i)``
(a stream of its own, independent of the ``synthfaces`` one) and maps coordinate ``j``
linearly onto the range of factor ``j`` below; every other renderer input is one constant
(:data:`KNOWN_DIM_TEMPLATE`: a female face, not smiling, mouth closed, no glasses, hat,
beard, bangs, lipstick or make-up, brown hair, every nuisance uniform at 0.5, texture
offset (0, 0)).  The factor ranges keep the face inside the renderer's feature window, make
every factor visible at 32 px, and avoid wrap-around (``bg_hue`` stops at 0.8), so the map
from ``z`` to the image is injective (seed 004's assumption A2).

The factors (:data:`KNOWN_DIM_FACTORS`, ranges :data:`KNOWN_FACTOR_RANGES`):

========================  ====================  ==========================================
n = 8 (and the first 8    range                 meaning
of n = 16)
========================  ====================  ==========================================
``pos_x``                 [-0.08, 0.08]         face centre x (image spans [-1, 1])
``pos_y``                 [0.04, 0.16]          face centre y (y down)
``scale``                 [0.66, 0.78]          face height / image height
``tilt``                  [-0.15, 0.15]         rotation, radians clockwise
``skin_tone``             [0, 1]                skin colour, light .. dark
``bg_hue``                [0, 0.8]              background HSV hue (no wrap-around)
``bg_lightness``          [0.25, 0.97]          background HSV value
``light``                 [-1, 1]               horizontal light direction on the face
------------------------  --------------------  ------------------------------------------
n = 16 adds
------------------------  --------------------  ------------------------------------------
``hair_length``           [0, 1]                short .. long hair behind the head
``face_width``            [0.9, 1.1]            width of face oval and hair
``u_hair_shade``          [0, 1]                hair colour x 0.8 .. 1.2
``u_hair_vol``            [0, 1]                hair volume x 1.0 .. 1.08
``u_hair_part``           [0, 1]                parting -0.25 .. 0.25 face units (hairline)
``u_bg_sat``              [0, 1]                background saturation 0.12 .. 0.62
``u_bg_val2``             [0, 1]                value of the 2nd gradient colour x 0.5 .. 0.95
``u_blob_x``              [0, 1]                x of the soft background light spot -1 .. 1
========================  ====================  ==========================================

The n = 16 factors that are not varied in ``synthfaces_n8`` sit at the midpoint of their
range, and both sets read the same hash stream (coordinate ``j`` of image ``i`` is the same
number for both), so ``synthfaces_n8`` image ``i`` is ``synthfaces_n16`` image ``i`` with
``z[8:] = 0.5``.  The eye, brow, nose and mouth nuisance inputs (``u_eye_size``,
``u_gaze``, ``u_mouth_w``, ...) are NOT used: at 32 px they move edges by a fraction of a
pixel (mean change under 1 grey level over their whole range); categorical inputs
(``u_iris``, ``u_frame``) and invisible ones (hat, lipstick, clothes under the hair) are
excluded too.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from waelib.config import SPLIT_SEED
from waelib.utils import check_choice

from .common import check_image_size, thesis_or_all
from .synthfaces import SYNTHFACES_ATTR_NAMES, SYNTHFACES_SPLITS, SynthFaces, hash_uniforms, synthfaces_params
from .synthfaces_render import (
    POS_X_MAX,
    POS_Y_RANGE,
    SCALE_RANGE,
    TILT_MAX,
    noise_texture,
    render_chunk,
    render_synthfaces_params,
    single_threaded,
    synthfaces_render_inputs,
)

#: Default number of images of a known-dimension set (before the thesis' 80/20 split).
SYNTHFACES_KNOWN_N_IMAGES: int = 20_000

#: The renderer inputs that vary, per true dimension n (``len(KNOWN_DIM_FACTORS[n]) == n``).
KNOWN_DIM_FACTORS: Dict[int, Tuple[str, ...]] = {
    8: ("pos_x", "pos_y", "scale", "tilt", "skin_tone", "bg_hue", "bg_lightness", "light"),
    16: ("pos_x", "pos_y", "scale", "tilt", "skin_tone", "bg_hue", "bg_lightness", "light",
         "hair_length", "face_width", "u_hair_shade", "u_hair_vol", "u_hair_part", "u_bg_sat",
         "u_bg_val2", "u_blob_x"),
}

#: ``(low, high)`` of every factor: latent coordinate ``z`` in [0, 1] gives
#: ``low + (high - low) * z``.  The pose ranges are those of ``synthfaces`` (the renderer's
#: feature window is derived from them); the ``u_*`` inputs span their whole [0, 1].
KNOWN_FACTOR_RANGES: Dict[str, Tuple[float, float]] = {
    "pos_x": (-POS_X_MAX, POS_X_MAX),
    "pos_y": (float(POS_Y_RANGE[0]), float(POS_Y_RANGE[1])),
    "scale": (float(SCALE_RANGE[0]), float(SCALE_RANGE[1])),
    "tilt": (-TILT_MAX, TILT_MAX),
    "skin_tone": (0.0, 1.0),
    "bg_hue": (0.0, 0.8),
    "bg_lightness": (0.25, 0.97),
    "light": (-1.0, 1.0),
    "hair_length": (0.0, 1.0),
    "face_width": (0.9, 1.1),
    "u_hair_shade": (0.0, 1.0),
    "u_hair_vol": (0.0, 1.0),
    "u_hair_part": (0.0, 1.0),
    "u_bg_sat": (0.0, 1.0),
    "u_bg_val2": (0.0, 1.0),
    "u_blob_x": (0.0, 1.0),
}

#: The data set names, by true dimension.
SYNTHFACES_KNOWN_NAMES: Dict[int, str] = {n: f"synthfaces_n{n}" for n in KNOWN_DIM_FACTORS}

# The hash stream of the latent coordinates: ``seed`` XOR this tag ("knowndim"), so that no
# small seed of ``synthfaces`` (which hashes ``seed`` itself) reads the same numbers.
_KNOWN_SEED_TAG = 0x6B6E6F776E64696D


def _template() -> Dict[str, float]:
    """The fixed face: every key of :func:`synthfaces_params` with one constant value."""
    keys = synthfaces_params(np.zeros(1, dtype=np.int64), 0).keys()
    t: Dict[str, float] = {k: 0.5 for k in keys if k.startswith("u_")}
    t.update({a: 0.0 for a in SYNTHFACES_ATTR_NAMES})
    t.update(Brown_Hair=1.0, No_Beard=1.0, noise_x=0.0, noise_y=0.0)
    for k, (lo, hi) in KNOWN_FACTOR_RANGES.items():   # non-varying factors: the midpoint
        t[k] = 0.5 * (lo + hi)
    missing = set(keys) - set(t)
    if missing:  # a parameter added to synthfaces must get a template value here
        raise RuntimeError(f"synthfaces_known template lacks {sorted(missing)}")
    return t


#: The constant renderer inputs (every key of :func:`~waelib.data.synthfaces_params`);
#: the varying factors replace their entries.
KNOWN_DIM_TEMPLATE: Dict[str, float] = _template()


def _check_n_dims(n_dims: int) -> int:
    if isinstance(n_dims, bool) or not isinstance(n_dims, (int, np.integer)) or int(n_dims) not in KNOWN_DIM_FACTORS:
        raise ValueError(f"unknown true dimension n_dims={n_dims!r}; valid choices: "
                         f"{', '.join(map(str, KNOWN_DIM_FACTORS))}")
    return int(n_dims)


def synthfaces_known_latents(ids: Union[Sequence[int], np.ndarray], n_dims: int,
                             seed: int = 0) -> np.ndarray:
    """The true latent coordinates of images ``ids``: float64 ``(B, n_dims)``, i.i.d.
    uniform on [0, 1).  Row ``j`` depends only on ``(seed, ids[j])``; column ``k`` is the
    same number for every ``n_dims`` (so the n = 8 latents are the first 8 of n = 16)."""
    n_dims = _check_n_dims(n_dims)
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    return hash_uniforms(int(seed) ^ _KNOWN_SEED_TAG, ids, n_dims)


def synthfaces_known_params_from_latents(latent: Union[np.ndarray, torch.Tensor],
                                         n_dims: int) -> Dict[str, np.ndarray]:
    """Renderer parameters of latent points ``latent`` (``(B, n_dims)``, values in [0, 1]).

    Returns a dict of float64 ``(B,)`` arrays with every key of
    :func:`~waelib.data.synthfaces_params`: the template constants, except the
    :data:`KNOWN_DIM_FACTORS` ``[n_dims]`` entries, ``low + (high - low) * latent[:, j]``.
    Pass it to :func:`~waelib.data.render_synthfaces_params`."""
    n_dims = _check_n_dims(n_dims)
    if isinstance(latent, torch.Tensor):
        latent = latent.detach().cpu().numpy()
    z = np.asarray(latent, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != n_dims:
        raise ValueError(f"latent must have shape (B, {n_dims}), got {z.shape}")
    p = {k: np.full(len(z), v) for k, v in KNOWN_DIM_TEMPLATE.items()}
    for j, name in enumerate(KNOWN_DIM_FACTORS[n_dims]):
        lo, hi = KNOWN_FACTOR_RANGES[name]
        p[name] = lo + (hi - lo) * z[:, j]
    return p


def synthfaces_known_params(ids: Union[Sequence[int], np.ndarray], n_dims: int,
                            seed: int = 0) -> Dict[str, np.ndarray]:
    """Every renderer parameter of images ``ids`` of ``synthfaces_n{n_dims}``: a dict of
    float64 ``(B,)`` arrays (the keys of :func:`~waelib.data.synthfaces_params`), of which
    exactly the ``n_dims`` entries :data:`KNOWN_DIM_FACTORS` ``[n_dims]`` vary; the latent
    coordinates are :func:`synthfaces_known_latents`."""
    return synthfaces_known_params_from_latents(synthfaces_known_latents(ids, n_dims, seed), n_dims)


def render_params_float(params: Dict[str, np.ndarray], image_size: int = 64,
                        device: Union[str, torch.device] = "cpu") -> torch.Tensor:
    """:func:`~waelib.data.render_synthfaces_params` before the rounding to uint8: float32
    ``(B, 3, S, S)`` in [0, 1] from a parameter dict of ``(B,)`` arrays (piecewise smooth in
    the continuous parameters, for finite differences).  Same chunking, same pixels."""
    H = check_image_size(image_size)
    device = torch.device(device)
    r_all = {k: torch.as_tensor(np.ascontiguousarray(v, dtype=np.float32), device=device)
             for k, v in synthfaces_render_inputs(params).items()}
    B = r_all["cx"].shape[0]
    out = torch.empty((B, 3, H, H), dtype=torch.float32, device=device)
    step = max(1, ((1 << 24) if device.type == "cuda" else (1 << 16)) // (H * H))
    tex = noise_texture(device)
    with single_threaded(device), torch.inference_mode():
        for i in range(0, B, step):
            out[i:i + step] = render_chunk({k: v[i:i + step] for k, v in r_all.items()}, H, tex)
    return out


def render_synthfaces_known(latent: Union[np.ndarray, torch.Tensor], n_dims: int,
                            image_size: int = 64, device: Union[str, torch.device] = "cpu",
                            as_float: bool = False) -> torch.Tensor:
    """Render latent points ``latent`` ``(B, n_dims)`` in [0, 1] of ``synthfaces_n{n_dims}``.

    Returns uint8 ``(B, 3, S, S)`` on ``device`` (exactly what the data set holds), or with
    ``as_float=True`` float32 ``(B, 3, S, S)`` in [0, 1] before the rounding to uint8
    (:func:`render_params_float`)."""
    p = synthfaces_known_params_from_latents(latent, n_dims)
    if as_float:
        return render_params_float(p, image_size, device)
    return render_synthfaces_params(p, image_size, device)


def known_jacobian(z0: Union[np.ndarray, Sequence[float]], n_dims: int, extra: Sequence[str] = (),
                   image_size: int = 32, h: float = 0.01) -> torch.Tensor:
    """Central-difference Jacobian of the float image (before uint8 rounding) with respect to
    the n latent coordinates at ``z0`` (n,) in [0, 1] (plus ``extra`` template inputs, each on
    its range): a (3 * S * S, n + len(extra)) float64 tensor. Its numerical rank is the local
    dimension of the image manifold: n when every factor is visible and no two coincide (seed
    004's assumptions A1/A2); ``torch.linalg.svdvals`` shows it.
    """
    names = list(KNOWN_DIM_FACTORS[_check_n_dims(n_dims)]) + list(extra)
    ranges = [KNOWN_FACTOR_RANGES.get(k, (0.0, 1.0)) for k in names]
    base = synthfaces_known_params_from_latents(np.asarray(z0, dtype=np.float64)[None], n_dims)
    m = len(names)
    p = {k: np.repeat(v, 2 * m) for k, v in base.items()}
    for j, (k, (lo, hi)) in enumerate(zip(names, ranges)):
        p[k][2 * j] += h * (hi - lo)
        p[k][2 * j + 1] -= h * (hi - lo)
    img = render_params_float(p, image_size).double().flatten(1)
    return ((img[0::2] - img[1::2]) / (2 * h)).T


class SynthFacesKnownDim(SynthFaces):
    """``synthfaces_n8`` / ``synthfaces_n16``: faces on a manifold of known dimension n.

    n = ``true_dim`` = the number of continuous renderer inputs that vary; everything else,
    including every binary attribute and texture offset, is fixed; the images therefore lie
    on an n-dimensional manifold, quantisation to uint8 aside.  The varying inputs
    (:attr:`factor_names`) and their ranges are listed in :mod:`waelib.data.synthfaces_known`
    (n = 8: ``pos_x`` [-0.08, 0.08], ``pos_y`` [0.04, 0.16], ``scale`` [0.66, 0.78],
    ``tilt`` [-0.15, 0.15], ``skin_tone`` [0, 1], ``bg_hue`` [0, 0.8], ``bg_lightness``
    [0.25, 0.97], ``light`` [-1, 1]; n = 16 adds ``hair_length`` [0, 1], ``face_width``
    [0.9, 1.1], ``u_hair_shade``, ``u_hair_vol``, ``u_hair_part``, ``u_bg_sat``,
    ``u_bg_val2``, ``u_blob_x`` each [0, 1]).

    ``n`` images (default :data:`SYNTHFACES_KNOWN_N_IMAGES` = 20,000), split like
    ``synthfaces`` by :func:`thesis_split_indices` scaled to ``n``: ``"train"``/
    ``"thesis_train"``, ``"test"``/``"thesis_test"`` or ``"all"``.  Image with global id
    ``g`` depends only on ``(seed, g)``.

    Items are ``(image, target)``: ``image`` float32 ``(3, S, S)`` in [0, 1];
    ``target = {"factors": FloatTensor(n), "latent": FloatTensor(n)}``: the factor values
    (units above, in the order of :attr:`factor_names`) and the latent coordinates in
    [0, 1) they were drawn from.  :meth:`uint8_batch` / :func:`to_uint8_tensor` render in
    vectorised batches (on a GPU too).
    """

    def __init__(self, split: str = "train", image_size: int = 128, *, true_dim: int = 8,
                 n: int = SYNTHFACES_KNOWN_N_IMAGES, seed: int = 0,
                 split_seed: int = SPLIT_SEED) -> None:
        self.true_dim: int = _check_n_dims(true_dim)
        self.name = SYNTHFACES_KNOWN_NAMES[self.true_dim]
        check_choice(split, SYNTHFACES_SPLITS, f"{self.name} split")
        self.image_size = check_image_size(image_size)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{self.name} needs n >= 1 images, got n={n!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"{self.name} needs an integer seed >= 0, got seed={seed!r}")
        self.split, self.n_total, self.seed = split, int(n), int(seed)
        self.indices: np.ndarray = thesis_or_all(split, self.n_total, split_seed)
        self.attr_names: List[str] = []
        self.factor_names: List[str] = list(KNOWN_DIM_FACTORS[self.true_dim])
        self.factor_ranges: Dict[str, Tuple[float, float]] = {
            k: KNOWN_FACTOR_RANGES[k] for k in self.factor_names}

    def latents(self, positions: Union[Sequence[int], np.ndarray]) -> np.ndarray:
        """Latent coordinates of dataset positions: float64 ``(B, true_dim)`` in [0, 1)."""
        return synthfaces_known_latents(self.global_ids(positions), self.true_dim, self.seed)

    def params(self, positions: Union[Sequence[int], np.ndarray]) -> Dict[str, np.ndarray]:
        """All renderer parameters of these positions (see :func:`synthfaces_known_params`)."""
        return synthfaces_known_params_from_latents(self.latents(positions), self.true_dim)

    def labels(self, positions: Union[Sequence[int], np.ndarray]) -> Dict[str, torch.Tensor]:
        """Targets of many positions: ``{"factors": Float (B, n), "latent": Float (B, n)}``."""
        z = self.latents(positions)
        p = synthfaces_known_params_from_latents(z, self.true_dim)
        fac = np.stack([p[k] for k in self.factor_names], axis=1).astype(np.float32)
        return {"factors": torch.from_numpy(fac), "latent": torch.from_numpy(z.astype(np.float32))}

    def render_latents(self, latent: Union[np.ndarray, torch.Tensor],
                       device: Optional[Union[str, torch.device]] = "cpu") -> torch.Tensor:
        """Render arbitrary latent points ``(B, true_dim)`` at this set's image size: uint8
        ``(B, 3, S, S)`` (e.g. a traversal of one true factor)."""
        return render_synthfaces_known(latent, self.true_dim, self.image_size, device or "cpu")

    def __repr__(self) -> str:
        return (f"SynthFacesKnownDim(name={self.name!r}, split={self.split!r}, "
                f"image_size={self.image_size}, n={self.n_total}, seed={self.seed}, len={len(self)})")
