"""Orthographic ellipsoid-head renderer (numpy + cv2.remap, float32).

Per frame and output pixel: intersect the viewing ray (along −z, orthographic) with the rotated,
translated, scaled head ellipsoid; undo the rotation; look the hit point up in the texture atlas
with one ``cv2.remap`` per 4-channel atlas; shade with Lambert + Blinn–Phong from the ellipsoid
normal; blend with the background over a ±1-px antialiased limb. Everything the frame does not
need (the texture, the background, the pixel grid) is prepared once per video.

Image formation (book/synthetic_design.md §8), linear RGB, channel c:
    L_c = E(t)·e_c·[ρ_c·(a_amb + Σ_j s_j·max(0, n·l_j))·(1 − A_G·ũ_p,c·w·p(t − τ))
                    + k_s·Σ_j s_j·max(0, n·h_j)^α]
          + E0·s(t)·e_s,c·ρ_c·max(0, n·l_s)·(1 − A_G·ũ_p,c·w·p)           (screen light)
The pulse term moves pixels along ũ_p only; intensity changes (E, shading) along u_c; specular
along the illuminant colour e.
"""
from __future__ import annotations

import numpy as np
import cv2


def rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Head-to-camera rotation R = R_roll · R_yaw · R_pitch (camera: x right, y up, z to the camera).

    yaw > 0 turns the face to the image right, pitch > 0 nods the face down, roll > 0 tilts
    counter-clockwise in the image.
    """
    y, p, r = np.radians([yaw_deg, pitch_deg, roll_deg])
    Ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    Rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    Rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def ellipsoid_extent(R: np.ndarray, axes: np.ndarray) -> tuple[float, float]:
    """Half-width and half-height (px) of the orthographic silhouette of the rotated ellipsoid."""
    Minv = R @ np.diag(np.asarray(axes) ** 2) @ R.T
    return float(np.sqrt(Minv[0, 0])), float(np.sqrt(Minv[1, 1]))


def face_box(R: np.ndarray, axes: np.ndarray, cx: float, cy: float, v_top: float = 0.4,
             u_max: float = 1.2) -> np.ndarray:
    """Tight face box [top, bottom, left, right] (float px) of the visible face region.

    The face region is the part of the ellipsoid with v ∈ [−1, v_top] (chin to brows) and
    |u| ≤ u_max, i.e. roughly what a face detector boxes; only points facing the camera count.
    """
    u = np.linspace(-u_max, u_max, 33)
    v = np.linspace(-1.0, v_top, 21)
    U, V = np.meshgrid(u, v)
    rho = np.sqrt(np.clip(1 - V ** 2, 0, None))
    q = np.stack([rho * np.sin(U), V, rho * np.cos(U)], -1).reshape(-1, 3)
    P = (q * axes) @ R.T
    nz = ((q / axes) @ R.T)[:, 2]
    vis = nz > 0
    if not np.any(vis):
        vis = np.ones_like(vis)
    x = cx + P[vis, 0]
    y = cy - P[vis, 1]
    return np.array([y.min(), y.max(), x.min(), x.max()])


class HeadRenderer:
    """Renders linear-RGB frames of one head on a fixed pixel grid.

    xs : (W_out,) x coordinates (camera px) of the output pixel centres; ys : (H_out,) likewise.
    atlas_a, atlas_b : (Ha, Wa, 4) float32 atlases (see appearance.build_atlas).
    background : (H_out, W_out, 3) float32 linear background radiance at the output grid
        (already multiplied by the illuminant colour).
    """

    def __init__(self, xs: np.ndarray, ys: np.ndarray, atlas_a: np.ndarray, atlas_b: np.ndarray,
                 background: np.ndarray, u_p_rel: np.ndarray, eyelid_rgb: np.ndarray, lip_v: float,
                 lip_half_width: float, skin_rgb: np.ndarray | None = None, shirt_rgb: np.ndarray | None = None):
        self.xs = np.asarray(xs, np.float32)
        self.ys = np.asarray(ys, np.float32)
        self.A, self.B = atlas_a, atlas_b
        self.bg = background
        self.u_p_rel = np.asarray(u_p_rel, np.float32)  # ũ_p = u_p / u_p,G
        self.eyelid = np.asarray(eyelid_rgb, np.float32)
        self.lip_v, self.lip_hw = float(lip_v), float(lip_half_width)
        self.skin_rgb = None if skin_rgb is None else np.asarray(skin_rgb, np.float32)
        self.shirt_rgb = None if shirt_rgb is None else np.asarray(shirt_rgb, np.float32)
        Ha, Wa = atlas_a.shape[:2]
        self._su = np.float32(Wa / (2 * np.pi))
        self._sv = np.float32(Ha / 2.0)

    def render(self, R: np.ndarray, axes: np.ndarray, cx: float, cy: float, *, E: float, e: np.ndarray,
               ambient: float, dirs: np.ndarray, strengths: np.ndarray, shininess: float,
               screen: float, E0: float, e_screen: np.ndarray, l_screen: np.ndarray, A_G: float,
               p: float, dp: float, jaw: float = 0.0, blink: float = 0.0,
               shadow_cols: np.ndarray | float = 1.0, return_mask: bool = False):
        """One frame of linear radiance (H_out, W_out, 3) float32 RGB (and optionally the skin-pulse mask).

        R : head rotation; axes : (a, b, c) px; cx, cy : head centre (camera px, y down).
        E : white gain E(t) (includes E0); e : illuminant RGB; p, dp : pulse and its derivative (1/s).
        jaw : mouth opening (v units); blink : eyelid closure 0..1; shadow_cols : per-column attenuation.
        """
        H, W = len(self.ys), len(self.xs)
        out = self.bg * np.float32(E)
        if self.skin_rgb is not None:  # neck (skin, weak pulse, shadowed by the chin) and torso (shirt)
            self._body(out, axes, cx, cy, E, e, ambient, A_G * p)
        if not np.isscalar(shadow_cols):
            out = out * shadow_cols[None, :, None]
        hw, hh = ellipsoid_extent(R, axes)
        c0, c1 = np.searchsorted(self.xs, [cx - hw - 2, cx + hw + 2])
        r0, r1 = np.searchsorted(self.ys, [cy - hh - 2, cy + hh + 2])
        mask_full = np.zeros((H, W), np.float32) if return_mask else None
        if c1 <= c0 or r1 <= r0:
            return (out, mask_full) if return_mask else out
        X = (self.xs[c0:c1] - np.float32(cx))[None, :]          # (1, w)
        Y = (np.float32(cy) - self.ys[r0:r1])[:, None]          # (h, 1), y up
        D = np.diag(1.0 / np.asarray(axes, np.float64) ** 2)
        M = (R @ D @ R.T).astype(np.float32)
        Rt = R.T.astype(np.float32)
        # ray (X, Y, z): M33 z² + 2 (M13 X + M23 Y) z + (M11 X² + 2 M12 X Y + M22 Y² − 1) = 0
        bh = M[0, 2] * X + M[1, 2] * Y
        c = M[0, 0] * X * X + (2 * M[0, 1]) * X * Y + M[1, 1] * Y * Y - 1
        disc = bh * bh - M[2, 2] * c                              # (h, w)
        r_px = np.float32(min(axes[0], axes[1]))
        alpha = np.clip(0.5 + disc / M[2, 2] * (r_px / 4), 0, 1)  # ±1 px antialiased limb
        z = (np.sqrt(np.maximum(disc, 0)) - bh) / M[2, 2]
        # hit point in head coordinates, normalised to the unit sphere
        qx = (Rt[0, 0] * X + Rt[0, 1] * Y + Rt[0, 2] * z) / np.float32(axes[0])
        qy = (Rt[1, 0] * X + Rt[1, 1] * Y + Rt[1, 2] * z) / np.float32(axes[1])
        qz = (Rt[2, 0] * X + Rt[2, 1] * Y + Rt[2, 2] * z) / np.float32(axes[2])
        u = np.arctan2(qx, qz)
        v = np.clip(qy, -1, 1)
        mouth = None
        if jaw > 0:  # jaw drop: lower face texture slides down, mouth interior opens under the upper lip
            jw = np.float32(jaw) * np.clip(1 - (u / (2 * self.lip_hw)) ** 2, 0, 1)
            below = np.clip((self.lip_v - v) / (self.lip_v + 1), 0, 1)   # 0 at the lips, 1 at the chin
            v_tex = v + jw * np.where(v < self.lip_v, 1 - below, 0)
            gap = jaw * np.sqrt(np.clip(1 - (u / self.lip_hw) ** 2, 0, 1))
            mouth = np.clip(1 - np.abs(v - (self.lip_v - 0.5 * gap)) / (0.5 * gap + 1e-6), 0, 1) * (gap > 0.005)
            v = v_tex
        mx = (u + np.float32(np.pi)) * self._su - np.float32(0.5)
        my = (np.float32(1) - v) * self._sv - np.float32(0.5)
        ta = cv2.remap(self.A, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # (h, w, 4)
        tb = cv2.remap(self.B, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        rho = ta[..., :3]
        w = ta[..., 3]
        ks, eye, tau = tb[..., 0], tb[..., 1], tb[..., 2]
        if blink > 0:  # eyelid: skin-coloured, pulse weight 0.3 (AU45)
            m = (np.float32(blink) * eye)[..., None]
            rho = rho * (1 - m) + self.eyelid * m
            w = w * (1 - m[..., 0]) + np.float32(0.3) * m[..., 0]
        if mouth is not None:
            m = mouth[..., None].astype(np.float32)
            rho = rho * (1 - m) + np.float32(0.02) * m
            w = w * (1 - m[..., 0])
        # normal (camera frame) from the ellipsoid gradient M·P
        nx = M[0, 0] * X + M[0, 1] * Y + M[0, 2] * z
        ny = M[1, 0] * X + M[1, 1] * Y + M[1, 2] * z
        nz = M[2, 0] * X + M[2, 1] * Y + M[2, 2] * z
        inv = 1 / np.sqrt(nx * nx + ny * ny + nz * nz + np.float32(1e-12))
        nx, ny, nz = nx * inv, ny * inv, nz * inv
        lam = np.full(nx.shape, np.float32(ambient))
        spec = np.zeros_like(nx)
        for l, s in zip(dirs.astype(np.float32), strengths.astype(np.float32)):
            ndl = nx * l[0] + ny * l[1] + nz * l[2]
            lam += s * np.maximum(ndl, 0)
            h = l + np.array([0, 0, 1], np.float32)
            h /= np.linalg.norm(h)
            ndh = np.maximum(nx * h[0] + ny * h[1] + nz * h[2], 0) * (ndl > 0)
            spec += s * np.power(ndh, np.float32(shininess))
        spec *= ks
        pulse = np.float32(A_G) * w * (np.float32(p) - tau * np.float32(dp))   # relative green modulation
        lam_s = np.maximum(nx * l_screen[0] + ny * l_screen[1] + nz * l_screen[2], 0).astype(np.float32)
        region = out[r0:r1, c0:c1]
        if not np.isscalar(shadow_cols):
            att = shadow_cols[c0:c1][None, :]
        else:
            att = np.float32(shadow_cols)
        for ch in range(3):
            diffuse = np.float32(E * e[ch]) * lam + np.float32(E0 * screen * e_screen[ch]) * lam_s
            skin = rho[..., ch] * diffuse * (1 - self.u_p_rel[ch] * pulse) + np.float32(E * e[ch]) * spec
            region[..., ch] = alpha * (skin * att) + (1 - alpha) * region[..., ch]
        if return_mask:
            mask_full[r0:r1, c0:c1] = alpha * (w > 0.05) * tb[..., 3]
            return out, mask_full
        return out


    def _body(self, out, axes, cx, cy, E, e, ambient, pulse):
        """Paint a neck (elliptic cylinder, pulse weight 0.3) and a torso below the head, in place."""
        a, b = float(axes[0]), float(axes[1])
        dx = (self.xs - np.float32(cx)) / np.float32(0.55 * a)
        neck_x = np.clip(1 - dx * dx, 0, None)                     # (W,) cylinder cross-section
        shade_x = np.sqrt(neck_x)
        cov_x = np.clip((1 - np.abs(dx)) * 0.55 * a, 0, 1)         # 1-px antialiased sides
        y_rel = self.ys - np.float32(cy)
        neck_y = np.clip((y_rel - 0.55 * b), 0, 1)[:, None]          # below the jaw
        cov = neck_y * cov_x[None, :]                              # (H, W)
        shade = (np.float32(ambient) + np.float32(0.5) * shade_x)[None, :] * np.float32(E)
        shade = shade * np.clip((y_rel[:, None] - 0.55 * b) / (0.5 * b), 0.4, 1.0)  # chin shadow
        for ch in range(3):
            neck = self.skin_rgb[ch] * e[ch] * shade * (1 - np.float32(0.3 * pulse) * self.u_p_rel[ch])
            out[..., ch] = cov * neck + (1 - cov) * out[..., ch]
        dt = (self.xs - np.float32(cx)) / np.float32(2.2 * a)
        tor_x = np.clip((1 - np.abs(dt)) * 2.2 * a, 0, 1)
        tor_y = np.clip(y_rel[:, None] - np.float32(1.35 * b) - np.float32(0.4 * b) * (dt * dt)[None, :], 0, 1)
        cov = tor_y * tor_x[None, :]                               # shoulders slope down from the neck
        shade_t = np.float32(E) * (np.float32(ambient) + np.float32(0.45))
        for ch in range(3):
            out[..., ch] = cov * (self.shirt_rgb[ch] * e[ch] * shade_t) + (1 - cov) * out[..., ch]


def add_sensor_noise(S: np.ndarray, rng: np.random.Generator, n_sat: float, sigma_read: float,
                     prnu_map: np.ndarray | None) -> np.ndarray:
    """Poisson–Gaussian noise on sensor signal ``S`` (linear, 1 = full well of ``n_sat`` electrons).

    Heteroscedastic Gaussian approximation of Foi et al. (2008): var = S/n_sat + (σ_r/n_sat)².
    ``prnu_map`` (same shape, ~1 ± 1 %) is the static photo-response non-uniformity. In place; float32.
    """
    if prnu_map is not None:
        S *= prnu_map
    var = np.maximum(S, 0) * np.float32(1.0 / n_sat) + np.float32((sigma_read / n_sat) ** 2)
    S += np.sqrt(var) * rng.standard_normal(S.shape, dtype=np.float32)
    return S
