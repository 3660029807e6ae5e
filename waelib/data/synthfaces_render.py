"""The ``synthfaces`` renderer: vectorised torch drawing of faces from their parameters.

:func:`render_synthfaces_params` turns the parameter dict of
:func:`waelib.data.synthfaces.synthfaces_params` into uint8 images with anti-aliased
signed-distance shapes and soft shading.  Every operation is element-wise per image, so
an image's pixels never depend on the batch or chunk it is drawn in; thousands of images
per second on one CPU core (or on a GPU).

The pose ranges (:data:`POS_X_MAX`, ...) live here because the renderer's feature window
is derived from them; the parameter generator reads them from this module.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .common import check_image_size

NOISE_SIZE = 256


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


def synthfaces_render_inputs(p: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Turn :func:`synthfaces_params` into what the renderer draws: colours ``(B, 3)``
    and geometry ``(B,)`` (a pure per-row function, so batching cannot change a row)."""
    # Long on purpose: one list of renderer inputs; the committed synthfaces images, the classifier
    # trained on them and every committed FCD depend on these exact draws in this order.
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


def noise_texture(device: torch.device) -> torch.Tensor:
    """A fixed 256x256 grain texture in [-1, 1] (flattened), cached per device.

    Each image reads it at its own (hashed) offset, which gives skin, hair and background
    pixel-level texture without any per-image random number generation."""
    key = str(device)
    tex = _NOISE_CACHE.get(key)
    if tex is None:
        w = np.random.default_rng(20220531).standard_normal((NOISE_SIZE, NOISE_SIZE))
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
POS_X_MAX = 0.08                 # |pos_x| <= 0.08
POS_Y_RANGE = (0.04, 0.16)
SCALE_RANGE = (0.66, 0.78)
TILT_MAX = 0.15                  # radians
# Face-local box (u, v) that contains every small feature (eyes, brows, eye shadow,
# blush, nose, mouth, eyeglass rims): they are drawn only inside its image-space bound.
_FEATURE_U_MAX = 0.62
_FEATURE_V_RANGE = (-0.38, 0.67)


def _feature_window(H: int) -> Tuple[int, int, int, int]:
    """Pixel rows ``[r0, r1)`` and columns ``[c0, c1)`` that contain the small facial
    features of every possible face (derived from the pose ranges, plus a 2-pixel
    anti-aliasing margin).  About a third of the image; the renderer draws the features
    there only, which makes it ~1.7x faster and cannot change a pixel."""
    st = math.sin(TILT_MAX)
    smax = SCALE_RANGE[1]
    vmin, vmax = _FEATURE_V_RANGE
    xmax = POS_X_MAX + smax * (_FEATURE_U_MAX + st * max(-vmin, vmax))
    ymin = POS_Y_RANGE[0] + smax * (vmin - st * _FEATURE_U_MAX)
    ymax = POS_Y_RANGE[1] + smax * (vmax + st * _FEATURE_U_MAX)
    pw = 2.0 / H

    def lo(z: float) -> int:
        return max(0, int(math.floor((z + 1.0) / pw - 0.5)) - 2)

    def hi(z: float) -> int:
        return min(H, int(math.ceil((z + 1.0) / pw - 0.5)) + 3)

    return lo(ymin), hi(ymax), lo(-xmax), hi(xmax)


def render_chunk(r: Dict[str, torch.Tensor], H: int, tex: torch.Tensor,
                  window: bool = True) -> torch.Tensor:
    """Draw one chunk of faces; ``r`` holds float32 tensors ``(B,)`` / ``(B, 3)``.

    Every operation is element-wise per image, so a row's pixels never depend on the
    other rows of the chunk.  ``window=False`` draws the small features over the whole
    image instead of :func:`_feature_window` (for tests: the result must be identical).
    Returns float32 ``(B, 3, H, H)`` in [0, 1]."""
    # Long on purpose: the renderer's operations in the order that made the committed synthfaces
    # images (the classifier and every committed FCD depend on them bit for bit); split, they
    # would be easier to reorder by accident than to read.
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
    rows = (ar.view(1, H, 1) + r["noise_y"].long().view(B, 1, 1)) % NOISE_SIZE
    cols = (ar.view(1, 1, H) + r["noise_x"].long().view(B, 1, 1)) % NOISE_SIZE
    nz = tex[rows * NOISE_SIZE + cols]  # (B, H, W)

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
def single_threaded(device: torch.device) -> Iterator[None]:
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
    H = check_image_size(image_size)
    device = torch.device(device)
    r_np = synthfaces_render_inputs(params)
    B = r_np["cx"].shape[0]
    out = torch.empty((B, 3, H, H), dtype=torch.uint8, device=device)
    if B == 0:
        return out
    if chunk_pixels is None:
        chunk_pixels = (1 << 24) if device.type == "cuda" else (1 << 16)
    step = max(1, int(chunk_pixels) // (H * H))
    tex = noise_texture(device)
    r_all = {k: torch.as_tensor(np.ascontiguousarray(v, dtype=np.float32), device=device)
             for k, v in r_np.items()}
    # The chunks are small (cache-sized), where intra-op threads only add overhead -- and
    # on a shared, oversubscribed CPU they make every one of the ~500 small ops per chunk
    # wait for a descheduled thread (measured: 6 instead of 3,000 img/s on 2 busy cores).
    # So the CPU renderer runs single-threaded and restores the thread count afterwards.
    with single_threaded(device), torch.inference_mode():
        for i in range(0, B, step):
            r = {k: v[i:i + step] for k, v in r_all.items()}
            out[i:i + step] = _to_uint8(render_chunk(r, H, tex))
    return out
