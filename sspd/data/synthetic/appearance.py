"""Appearance: skin tone by ITA, colour science, procedural texture atlas and background.

The head texture lives in an *atlas* indexed by (u, v): u = atan2(q_x, q_z) ∈ [−π, π)
(longitude, 0 = facing the camera, + = the subject's left = image right) and v = q_y ∈ [−1, 1]
(up), with q the hit point on the unit sphere after undoing the ellipsoid's semi-axes.
Atlas channels (float32, linear):
  A (H, W, 4): albedo R, G, B (linear sRGB, white-light reflectance) and pulse weight w(x);
  B (H, W, 4): specular strength k_s(x), eye mask (for blinks), region delay τ(x) in s, skin mask.
Features (eyes, brows, lips, nostrils, hair) carry pulse weight 0 (lips weak), book/synthetic_design.md §5.
"""
from __future__ import annotations

import numpy as np
import cv2

#: ITA classes (Chardon 1991; Del Bino 2013) as (name, lower, upper) in degrees.
ITA_CLASSES = (("very_light", 55.0, 70.0), ("light", 41.0, 55.0), ("intermediate", 28.0, 41.0),
               ("tan", 10.0, 28.0), ("brown", -30.0, 10.0), ("dark", -60.0, -30.0))

# XYZ (D65) -> linear sRGB (IEC 61966-2-1)
_XYZ_TO_RGB = np.array([[3.2406, -1.5372, -0.4986],
                        [-0.9689, 1.8758, 0.0415],
                        [0.0557, -0.2040, 1.0570]])
_D65 = np.array([0.95047, 1.0, 1.08883])


def ita_degrees(L: float, b: float) -> float:
    """Individual Typology Angle ITA = atan((L* − 50)/b*) in degrees."""
    return float(np.degrees(np.arctan2(L - 50.0, b)))


def lab_to_linear_rgb(L: float, a: float, b: float) -> np.ndarray:
    """CIE L*a*b* (D65) -> linear sRGB (3,), clipped to [0.002, 1] (a dark floor keeps B > 0)."""
    fy = (L + 16.0) / 116.0
    f = np.array([fy + a / 500.0, fy, fy - b / 200.0])
    eps = 6.0 / 29.0
    xyz = np.where(f > eps, f ** 3, 3 * eps ** 2 * (f - 4.0 / 29.0)) * _D65
    return np.clip(_XYZ_TO_RGB @ xyz, 0.002, 1.0)


def srgb_encode(x: np.ndarray) -> np.ndarray:
    """Linear [0, 1] -> sRGB-encoded [0, 1] (IEC 61966-2-1 tone curve)."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def sample_skin(rng: np.random.Generator, class_weights: tuple[float, ...]) -> dict:
    """Draw an ITA class (weights over :data:`ITA_CLASSES`), ITA inside it, b* ∈ [12, 22], a* ∈ [8, 16].

    L* = 50 + b*·tan(ITA). Returns {"ita_class", "ita", "lab", "rgb_linear"}.
    """
    w = np.asarray(class_weights, dtype=np.float64)
    if w.shape != (len(ITA_CLASSES),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"class_weights must be {len(ITA_CLASSES)} non-negative numbers, got {class_weights}")
    k = int(rng.choice(len(ITA_CLASSES), p=w / w.sum()))
    name, lo, hi = ITA_CLASSES[k]
    ita = rng.uniform(lo, hi)
    b = rng.uniform(12, 22)
    a = rng.uniform(8, 16)
    L = float(np.clip(50 + b * np.tan(np.radians(ita)), 15, 85))
    return {"ita_class": name, "ita": ita_degrees(L, b), "lab": [L, a, b], "rgb_linear": lab_to_linear_rgb(L, a, b)}


def _cmf_lobe(lam, mu, s1, s2):
    s = np.where(lam < mu, s1, s2)
    return np.exp(-0.5 * ((lam - mu) / s) ** 2)


def cct_to_rgb(kelvin: float) -> np.ndarray:
    """Linear sRGB colour (G = 1) of a black body at ``kelvin`` K.

    Planck spectrum × CIE 1931 colour matching functions (multi-lobe Gaussian fit of Wyman,
    Sloan & Shirley 2013) -> XYZ -> linear sRGB.
    """
    if not 1000 <= kelvin <= 20000:
        raise ValueError(f"colour temperature {kelvin} K out of range")
    lam = np.arange(380.0, 781.0, 5.0)
    x = (1.056 * _cmf_lobe(lam, 599.8, 37.9, 31.0) + 0.362 * _cmf_lobe(lam, 442.0, 16.0, 26.7)
         - 0.065 * _cmf_lobe(lam, 501.1, 20.4, 26.2))
    y = 0.821 * _cmf_lobe(lam, 568.8, 46.9, 40.5) + 0.286 * _cmf_lobe(lam, 530.9, 16.3, 31.1)
    z = 1.217 * _cmf_lobe(lam, 437.0, 11.8, 36.0) + 0.681 * _cmf_lobe(lam, 459.0, 26.0, 13.8)
    lm = lam * 1e-9
    planck = 1.0 / (lm ** 5 * (np.exp(1.4388e-2 / (lm * kelvin)) - 1.0))
    xyz = np.array([np.sum(planck * x), np.sum(planck * y), np.sum(planck * z)])
    rgb = np.clip(_XYZ_TO_RGB @ xyz, 1e-4, None)
    return rgb / rgb[1]


def fbm(shape: tuple[int, int], corr_px: float, rng: np.random.Generator, octaves: int = 4) -> np.ndarray:
    """Zero-mean unit-std fractal noise of ``shape`` with base correlation length ``corr_px`` pixels."""
    out = np.zeros(shape, np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        sigma = max(corr_px / (2 ** o), 0.6)
        n = rng.standard_normal(shape).astype(np.float32)
        n = cv2.GaussianBlur(n, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        n /= n.std() + 1e-12
        out += amp * n
        total += amp * amp
        amp *= 0.5
    return out / np.sqrt(total)


def _blob(U, V, u0, v0, su, sv):
    """Soft elliptical mask, 1 inside, smooth ~10 % edge."""
    d = np.sqrt(((U - u0) / su) ** 2 + ((V - v0) / sv) ** 2)
    return np.clip((1.0 - d) / 0.25, 0.0, 1.0)


def _smoothstep(e0, e1, x):
    s = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return s * s * (3 - 2 * s)


def build_atlas(skin_rgb: np.ndarray, rng: np.random.Generator, *, size: tuple[int, int] = (256, 512),
                texture_sigma: float = 0.05, redness: float = 0.07, hair_rgb: np.ndarray | None = None,
                hairline: float = 0.55, fringe: float = 0.0, makeup: float = 0.0, beard: float = 0.0,
                glasses: bool = False, tau_max_s: float = 0.02) -> tuple[np.ndarray, np.ndarray, dict]:
    """Procedural head texture atlas (see module docstring) for one subject.

    skin_rgb : (3,) linear mean skin albedo. texture_sigma : multiplicative fBm std (3–8 %).
    redness : relative extra R on cheeks and nose. hairline : v of the frontal hairline.
    fringe : 0..1 hair over the forehead. makeup : 0..1 (albedo shift, pulse ×0.5–0.8 under it).
    beard : 0..1 stubble density (darker lower face, pulse removed). tau_max_s : region delay (s).
    Returns (A, B, info): A, B (H, W, 4) float32 atlases; info with the feature geometry.
    """
    H, W = size
    v = 1.0 - (np.arange(H, dtype=np.float32) + 0.5) / H * 2.0          # +1 (top) .. −1 (bottom)
    u = (np.arange(W, dtype=np.float32) + 0.5) / W * 2 * np.pi - np.pi    # −π .. π
    U, V = np.meshgrid(u, v)
    texel_u = 2 * np.pi / W  # radians per texel; a face ~110 px wide spans ~π rad => ~1.3 texels per px

    # skin albedo with fBm, pores/freckles and a redness field on cheeks and nose
    tex = 1.0 + texture_sigma * fbm((H, W), 2.5, rng)
    freckles = (rng.random((H, W)) < 0.004).astype(np.float32)
    freckles = cv2.GaussianBlur(freckles, (0, 0), 0.8) * rng.uniform(0.0, 3.0)
    red = (_blob(U, V, -0.55, -0.25, 0.35, 0.25) + _blob(U, V, 0.55, -0.25, 0.35, 0.25)
           + _blob(U, V, 0.0, -0.15, 0.12, 0.3))
    albedo = np.empty((H, W, 3), np.float32)
    for c in range(3):
        albedo[..., c] = skin_rgb[c] * tex * (1 - 0.3 * freckles)
    albedo[..., 0] *= 1 + redness * np.clip(red, 0, 1)
    albedo[..., 2] *= 1 - 0.5 * redness * np.clip(red, 0, 1)

    # pulse-weight map w: forehead 1, cheeks 0.8–1, nose 0.6–0.8, chin/jaw 0.4–0.6, × smooth field 0.8–1.2
    w = np.full((H, W), 0.9, np.float32)
    w = np.where(V > 0.25, 1.0, w)  # forehead
    nose = _blob(U, V, 0.0, 0.0, 0.13, 0.35)
    w = w * (1 - nose) + rng.uniform(0.6, 0.8) * nose
    chin_w = rng.uniform(0.4, 0.6)
    jaw = _smoothstep(-0.45, -0.7, V)
    w = w * (1 - jaw) + chin_w * jaw
    w = w * (1 - _smoothstep(1.1, 1.5, np.abs(U)) * 0.5)  # temples/sides: skin but weaker
    field = 1.0 + 0.2 * np.clip(fbm((H, W), 0.075 * W, rng, octaves=1), -1, 1)  # ≈15 % of face width
    w = w * field

    # specular map: T-zone 0.04–0.12, cheeks 0.02–0.05
    ks = np.full((H, W), rng.uniform(0.02, 0.05), np.float32)
    tzone = np.clip(_blob(U, V, 0.0, 0.45, 0.6, 0.2) + nose, 0, 1)
    ks = ks * (1 - tzone) + rng.uniform(0.04, 0.12) * tzone

    skin = np.ones((H, W), np.float32)
    eye_mask = np.zeros((H, W), np.float32)
    info = {}

    def paint(mask, rgb, pulse, spec=None):
        nonlocal albedo, w, ks, skin
        m = mask[..., None]
        albedo = albedo * (1 - m) + np.asarray(rgb, np.float32) * m
        w = w * (1 - mask) + pulse * mask
        skin = skin * (1 - mask)
        if spec is not None:
            ks = ks * (1 - mask) + spec * mask

    # eyes (sclera + iris), brows, nostrils, lips
    eye_u, eye_v = rng.uniform(0.36, 0.44), rng.uniform(0.14, 0.22)
    iris = np.array(rng.choice([[0.05, 0.03, 0.02], [0.08, 0.1, 0.12], [0.1, 0.07, 0.03]]))
    for s in (-1, 1):
        eye = _blob(U, V, s * eye_u, eye_v, 0.14, 0.05)
        eye_mask = np.maximum(eye_mask, _blob(U, V, s * eye_u, eye_v, 0.2, 0.085))
        paint(eye, [0.42, 0.4, 0.38], 0.0, 0.15)
        paint(_blob(U, V, s * eye_u, eye_v, 0.055, 0.05), iris, 0.0, 0.3)
        brow = _blob(U, V, s * (eye_u + 0.02), eye_v + 0.16, 0.22, 0.035)
        paint(brow * 0.85, skin_rgb * 0.35, 0.0)
        paint(_blob(U, V, s * 0.075, -0.3, 0.045, 0.03), skin_rgb * 0.15, 0.0)
    lip_v = rng.uniform(-0.52, -0.45)
    lips = _blob(U, V, 0.0, lip_v, 0.3, 0.075)
    lip_rgb = skin_rgb * np.array([1.15, 0.7, 0.75])
    paint(lips, lip_rgb, 0.15, 0.08)
    info.update(eye_u=eye_u, eye_v=eye_v, lip_v=lip_v, lip_half_width=0.26)

    if makeup > 0:  # foundation + blush: albedo change, pulse attenuated (×0.5–0.8)
        m = makeup * skin * (V > -0.7)
        albedo = albedo * (1 - 0.3 * m[..., None]) + 0.3 * m[..., None] * (skin_rgb * np.array([1.1, 1.0, 0.95]))
        w = w * (1 - m * rng.uniform(0.2, 0.5))
    if beard > 0:  # stubble: lower albedo, pulse removed in the lower face
        bm = beard * _smoothstep(-0.2, -0.45, V) * (np.abs(U) < 1.2) * (1 - lips)
        albedo = albedo * (1 - 0.6 * bm[..., None])
        w = w * (1 - bm)

    # hair cap: frontal hairline, lower at the sides, everything behind |u| > 1.8
    hair_rgb = np.asarray(hair_rgb if hair_rgb is not None else [0.03, 0.02, 0.015], np.float32)
    line = hairline + 0.04 * fbm((1, W), 6.0, rng)[0] - 0.5 * _smoothstep(0.9, 1.7, np.abs(U))
    line = line - fringe * 0.3 * _blob(U, V * 0 + 0.6, rng.uniform(-0.3, 0.3), 0.6, 0.7, 1.0)
    hair = _smoothstep(-0.02, 0.02, V - line) + _smoothstep(1.7, 2.0, np.abs(U))
    hair = np.clip(hair, 0, 1)
    hair_tex = (1.0 + 0.25 * fbm((H, W), 1.5, rng, octaves=2))[..., None]
    paint(hair, hair_rgb * hair_tex, 0.0, 0.03)
    info.update(hairline=hairline)

    if glasses:  # rim occluder (no pulse); lens reflection is left to the specular term
        for s in (-1, 1):
            d = np.sqrt(((U - s * eye_u) / 0.24) ** 2 + ((V - eye_v) / 0.13) ** 2)
            rim = np.clip(1 - np.abs(d - 1.0) / 0.08, 0, 1)
            paint(rim, [0.02, 0.02, 0.02], 0.0, 0.3)

    tau = tau_max_s * np.clip(0.5 + 0.5 * fbm((H, W), 20.0, rng, octaves=1), 0, 1)
    A = np.dstack([albedo, np.clip(w, 0, 1.5)]).astype(np.float32)
    B = np.dstack([ks, eye_mask, tau, skin]).astype(np.float32)
    info["texel_u"] = texel_u
    return A, B, info


def build_background(shape: tuple[int, int], rng: np.random.Generator, kind: str) -> np.ndarray:
    """Linear RGB background (H, W, 3) float32 in [0.02, 0.8]: "fbm", "stripes", "rects" or "gradient"."""
    H, W = shape
    base = rng.uniform(0.08, 0.45) * rng.uniform(0.7, 1.3, 3)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    if kind == "fbm":
        pat = 1 + 0.25 * fbm((H, W), max(H, W) / 12, rng)
    elif kind == "stripes":
        ang = rng.uniform(0, np.pi)
        per = rng.uniform(0.05, 0.2) * max(H, W)
        pat = 1 + 0.25 * np.sin(2 * np.pi * (xx * np.cos(ang) + yy * np.sin(ang)) / per)
    elif kind == "rects":
        pat = np.ones((H, W), np.float32)
        for _ in range(6):
            y0, x0 = rng.integers(0, H), rng.integers(0, W)
            pat[y0:y0 + rng.integers(H // 8, H // 2), x0:x0 + rng.integers(W // 8, W // 2)] *= rng.uniform(0.6, 1.5)
        pat = cv2.GaussianBlur(pat, (0, 0), max(H, W) / 60)
    elif kind == "gradient":
        pat = 0.7 + 0.6 * (xx / W * rng.uniform(-1, 1) + yy / H * rng.uniform(-1, 1) + 0.5)
    else:
        raise ValueError(f"unknown background kind {kind!r}")
    bg = base[None, None, :] * np.clip(pat, 0.2, 3)[..., None]
    bg = bg * (1 + 0.03 * fbm((H, W), 1.5, rng, octaves=1))[..., None]
    return np.clip(bg, 0.02, 0.8).astype(np.float32)
