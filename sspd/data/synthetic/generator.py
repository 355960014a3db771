"""``render_video``: one synthetic face video with its ground truth, a pure function of
(preset, subject, seed, duration, output).

Randomness: every module draws from its own ``numpy.random.Generator`` seeded from a SHA-256 of
(preset name, subject, seed, stream name), so changing the clip duration does not change the
subject's face or HR, and nothing depends on global RNG state or thread scheduling.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import cv2

from sspd.data.recording import Recording
from sspd.io import to_jsonable

from . import appearance, camera, illumination, motion, physiology
from .presets import TASKS, Preset, get_preset
from .render import HeadRenderer, add_sensor_noise, enlarge_box, face_box, rotation

GENERATOR_VERSION = "1.0.0"
CROP_SIZE = 151
#: Exposure-time headroom: AE gain above this is analogue gain and amplifies sensor noise.
EXPOSURE_MAX = 1.5


@dataclass
class SyntheticVideo:
    """A rendered clip.

    frames : (N, H, W, 3) uint8 BGR; timestamps : (N,) s from 0; fps_nominal : Hz.
    ground_truth : dict of labels (see :func:`render_video`); params : every drawn parameter, JSON-ready.
    """

    frames: np.ndarray
    timestamps: np.ndarray
    fps_nominal: float
    ground_truth: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)

    def to_recording(self) -> Recording:
        """As a :class:`Recording` (dataset "synthetic-<preset>", face_boxes = SSPD-enlarged boxes)."""
        gt = self.ground_truth
        return Recording(
            frames=self.frames, timestamps=self.timestamps, fps_nominal=self.fps_nominal, bvp=gt["bvp"],
            bvp_raw=gt["bvp_hi"], bvp_raw_timestamps=np.arange(len(gt["bvp_hi"])) / gt["bvp_hi_fs"],
            dataset=f"synthetic-{self.params['preset']}", subject=str(self.params["subject"]), session="",
            source=None, face_boxes=np.asarray(gt["face_boxes"]),
            meta={"hr_mean": gt["hr_mean"], "resp_rate": gt["resp_rate"], "hr": gt["hr"],
                  "beat_times": gt["beat_times"], "first_box": gt["first_box"], "params": self.params})


def stream_rng(preset_name: str, subject: str, seed: int, stream: str) -> np.random.Generator:
    """Independent, reproducible Generator for one (preset, subject, seed, stream)."""
    digest = hashlib.sha256(f"sspd-synthetic|{preset_name}|{subject}|{int(seed)}|{stream}".encode()).digest()
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int.from_bytes(digest[:16], "little"))))


def _u(rng, lohi):
    lo, hi = lohi
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


def _hr_from_quantile(q: float, segments) -> float:
    """Inverse CDF of a piecewise-uniform HR distribution [(lo, hi, weight), ...] at quantile q."""
    w = np.array([s[2] for s in segments], float)
    cdf = np.cumsum(w / w.sum())
    k = int(min(np.searchsorted(cdf, q, side="right"), len(segments) - 1))
    prev = 0.0 if k == 0 else cdf[k - 1]
    frac = (q - prev) / max(cdf[k] - prev, 1e-12)
    lo, hi, _ = segments[k]
    return float(lo + np.clip(frac, 0, 1) * (hi - lo))


def _subject_index(sid: str) -> int | None:
    return int(sid) if sid.isdigit() else None


def draw_subject(preset: Preset, sid: str, seed: int) -> dict:
    """All subject-level scalar parameters (fixed draw order; independent of duration and output)."""
    rng = stream_rng(preset.name, sid, seed, "subject")
    idx = _subject_index(sid)
    task = preset.tasks[((idx - 1) if idx is not None else int(rng.integers(1 << 30))) % len(preset.tasks)]
    # HR base: stratified over the preset's subjects (Latin hypercube), so the share outside
    # 60–100 bpm is guaranteed rather than left to chance.
    u = rng.uniform()
    if idx is not None and 1 <= idx <= preset.n_subjects:
        perm = stream_rng(preset.name, "*", seed, "hr-strata").permutation(preset.n_subjects)
        q = (perm[idx - 1] + u) / preset.n_subjects
    else:
        q = u
    p = {
        "task": task,
        "fps": float(rng.choice(preset.fps_choices)),
        "jitter_ms": _u(rng, preset.jitter_ms),
        "drop_rate": _u(rng, preset.drop_rate),
        "head_size": _u(rng, preset.head_size) * TASKS[task]["scale"],
        "offset_x": rng.uniform(-0.06, 0.06),
        "offset_y": rng.uniform(-0.04, 0.04),
        "texture_sigma": _u(rng, preset.texture_sigma),
        "glasses": bool(rng.random() < preset.glasses_prob),
        "makeup": float(rng.uniform(0.5, 1.0)) if rng.random() < preset.makeup_prob else 0.0,
        "beard": float(rng.uniform(0.4, 1.0)) if rng.random() < preset.beard_prob else 0.0,
        "fringe": float(rng.uniform(0.3, 1.0)) if rng.random() < preset.fringe_prob else 0.0,
        "hairline": float(rng.uniform(0.48, 0.62)),
        "hair_rgb": (np.array([0.03, 0.02, 0.015]) * rng.uniform(0.5, 6.0) * rng.uniform(0.8, 1.2, 3)).tolist(),
        "background": str(rng.choice(preset.backgrounds)),
        "hr_quantile": float(q),
        "hr_base": _hr_from_quantile(q, preset.hr_segments),
        "hr_kind": "exercise" if TASKS[task]["hr"] == "exercise" else preset.hr_kind,
        "hr_ramp_bpm_per_min": _u(rng, preset.hr_ramp_bpm_per_min),
        "hr_ou_sigma": _u(rng, preset.hr_ou_sigma),
        "exercise_peak": _u(rng, preset.exercise_peak),
        "exercise_tau_s": float(rng.uniform(40, 120)),
        "resp_rate": _u(rng, preset.resp_rate),
        "a_rsa": _u(rng, preset.a_rsa), "a_lf": _u(rng, preset.a_lf), "sigma_j": _u(rng, preset.sigma_j),
        "m_am": _u(rng, preset.m_am), "m_bw": _u(rng, preset.m_bw),
        "pulse_lowpass_hz": _u(rng, preset.pulse_lowpass_hz),
        "tau_max_s": _u(rng, preset.tau_max_s),
        "A_G": _u(rng, preset.A_G),
        "n_sat": _u(rng, preset.n_sat), "sigma_read": _u(rng, preset.sigma_read), "prnu": _u(rng, preset.prnu),
        "ae_target": _u(rng, preset.ae_target), "ae_tau_s": _u(rng, preset.ae_tau_s),
        "crf": int(rng.integers(preset.crf[0], preset.crf[1] + 1)),
        "mjpeg_quality": int(rng.integers(preset.mjpeg_quality[0], preset.mjpeg_quality[1] + 1)),
        "blink_rate_per_min": _u(rng, preset.blink_rate_per_min),
        "breathing_px": _u(rng, preset.breathing_px), "breathing_pitch_deg": _u(rng, preset.breathing_pitch_deg),
        "bcg_px": _u(rng, preset.bcg_px),
        "camera_source": int(rng.integers(len(preset.camera_seeds))),
        "morphology": physiology.sample_morphology(rng),
    }
    if p["hr_kind"] == "exercise":  # post-exercise: the base becomes the resting HR, the peak decays to it
        p["hr_base"] = float(np.clip(p["hr_base"], 65, 90))
    p["skin"] = appearance.sample_skin(rng, preset.ita_weights)
    return p


def _srgb_decode(y: float) -> float:
    return y / 12.92 if y <= 0.04045 else ((y + 0.055) / 1.055) ** 2.4


def render_video(preset: str | Preset, subject: int | str, seed: int = 0, output: str = "crop",
                 duration_s: float | None = None, *, with_masks: bool = False) -> SyntheticVideo:
    """Render one synthetic face video.

    preset : a name in ``PRESETS`` or a :class:`Preset`; subject : id (int or digit string, 1-based);
    seed : dataset seed; output : "crop" (151×151 frames of SSPD's enlarged first-frame box, the
    fast path) or "full" (camera frames of ``preset.frame_size``); duration_s : clip length (s),
    default ``preset.duration_s``.

    ground_truth keys: bvp (N,) at frame times (up = more blood; pixels are modulated by −bvp),
    bvp_hi (M,) at bvp_hi_fs Hz from t = 0, beat_times (s), hr (N,) instantaneous bpm, hr_mean
    (mean 60/IBI over beats inside the clip), resp (N,), resp_rate (breaths/min), face_boxes (N, 4)
    SSPD-enlarged [top, bottom, left, right] in output pixels, face_boxes_tight (N, 4),
    face_boxes_enlarged (= face_boxes), first_box, face_boxes_camera / _tight_camera (camera px),
    pose (dict of (N,) arrays), illum_gain (N,) E(t)/E0, exposure_gain (N,).
    with_masks : also return ``skin_mask`` (N, H, W) uint8, 1 where pulsatile face skin is visible
    (for tests of the box ground truth; costs memory).
    """
    preset = get_preset(preset)
    if output not in ("crop", "full"):
        raise ValueError(f"output must be 'crop' or 'full', got {output!r}")
    sid = str(subject)
    duration = float(preset.duration_s if duration_s is None else duration_s)
    if duration <= 0:
        raise ValueError(f"duration_s must be positive, got {duration}")
    sp = draw_subject(preset, sid, seed)
    task = TASKS[sp["task"]]
    rng = {k: stream_rng(preset.name, sid, seed, k) for k in
           ("time", "phys", "motion", "light", "appearance", "camera", "noise")}
    cam_rng = stream_rng(preset.name, f"camera{preset.camera_seeds[sp['camera_source']]}", seed, "signature")

    # --- timing and physiology
    t = camera.frame_times(duration, sp["fps"], rng["time"], jitter_ms=sp["jitter_ms"], drop_rate=sp["drop_rate"])
    n = len(t)
    phys = physiology.simulate(
        t[-1] + 1.0 / sp["fps"], preset.fs_hi, rng["phys"], hr_kind=sp["hr_kind"], hr_base=sp["hr_base"],
        ramp_bpm_per_min=sp["hr_ramp_bpm_per_min"], ou_sigma=sp["hr_ou_sigma"], hr_peak=sp["exercise_peak"],
        decay_tau=sp["exercise_tau_s"], hr_limits=preset.hr_limits, resp_rate=sp["resp_rate"],
        a_rsa=sp["a_rsa"], a_lf=sp["a_lf"], sigma_j=sp["sigma_j"], morph=tuple(sp["morphology"]),
        lowpass_hz=sp["pulse_lowpass_hz"], m_am=sp["m_am"], m_bw=sp["m_bw"])
    p_f = phys.at(t, "bvp_hi")
    dp_f = phys.at(t, "dbvp_hi")
    r_f = phys.at(t, "resp_hi")

    # --- motion
    pose = motion.pose_profile(t, task["motion"], rng["motion"], preset.motion_amplitude)
    jaw = motion.talking_jaw(t, rng["motion"], preset.jaw_amplitude) if task["talking"] else np.zeros(n)
    blink = motion.blinks(t, rng["motion"], sp["blink_rate_per_min"])
    pose["pitch"] = pose["pitch"] + sp["breathing_pitch_deg"] * 2 * r_f

    # --- lighting (task scenarios modify the preset's ranges)
    lk = dict(n_lights=preset.n_lights, cct_k=preset.cct_k, ambient=preset.ambient, E0=preset.E0,
              drift=preset.drift, flicker=preset.flicker, mains_hz=preset.mains_hz, screen_amp=preset.screen_amp,
              screen_dc=preset.screen_dc, step_prob=preset.step_prob, shadow_prob=preset.shadow_prob,
              side_light=preset.side_light)
    if task["light"] == "dark":
        lk["E0"] = preset.dark_E0
    elif task["light"] == "bright":
        lk.update(n_lights=(1, 1), ambient=(0.08, 0.2), E0=(1.0, 1.3), side_light=True, shininess=(20, 60))
    light = illumination.make_lighting(t, rng["light"], **lk)
    spec_boost = 2.5 if task["light"] == "bright" else 1.0

    # --- geometry: head size, placement so that frame 0's enlarged box sits inside the frame
    W_cam, H_cam = preset.frame_size
    b_px = sp["head_size"] * H_cam
    axes0 = np.array(preset.head_axes) / preset.head_axes[1] * b_px
    R0 = rotation(pose["yaw"][0], pose["pitch"][0], pose["roll"][0])
    tb = face_box(R0, axes0 * pose["scale"][0], 0.0, 0.0)
    th, tw = tb[1] - tb[0], tb[3] - tb[2]
    add_h, add_w = max(th / 3, 40.0), max(tw / 3, 40.0)
    eh, ew = th + 2.4 * add_h, tw + 2 * add_w
    ecy = 0.5 * (tb[0] + tb[1]) - 0.2 * add_h  # enlarged-box centre relative to the head centre
    ecx = 0.5 * (tb[2] + tb[3])
    want_y = np.clip(H_cam / 2 + sp["offset_y"] * H_cam, eh / 2 + 1, H_cam - eh / 2 - 1)
    want_x = np.clip(W_cam / 2 + sp["offset_x"] * W_cam, ew / 2 + 1, W_cam - ew / 2 - 1)
    cx0, cy0 = want_x - ecx, want_y - ecy
    face_h = th
    crop_h_cam = eh
    px151 = crop_h_cam / CROP_SIZE  # camera px per crop px (for px-at-151 magnitudes)
    cx = cx0 + pose["tx"] * face_h
    cy = cy0 + pose["ty"] * face_h + px151 * (sp["breathing_px"] * r_f + sp["bcg_px"] * p_f)

    tight_cam = np.zeros((n, 4), np.int64)
    enl_cam = np.zeros((n, 4), np.int64)
    Rs = []
    for k in range(n):
        R = rotation(pose["yaw"][k], pose["pitch"][k], pose["roll"][k])
        Rs.append(R)
        fb = face_box(R, axes0 * pose["scale"][k], cx[k], cy[k])
        tight = np.array([np.floor(fb[0]), np.ceil(fb[1]), np.floor(fb[2]), np.ceil(fb[3])])
        tight = np.clip(tight, 0, [H_cam, H_cam, W_cam, W_cam]).astype(np.int64)
        tight_cam[k] = tight
        enl_cam[k] = enlarge_box(tight, (H_cam, W_cam))
    box0 = enl_cam[0]

    # --- output grid
    direct_crop = output == "crop" and preset.codec == "none"
    if direct_crop:
        top, bot, left, right = (float(v) for v in box0)
        xs = left + (np.arange(CROP_SIZE) + 0.5) * (right - left) / CROP_SIZE - 0.5
        ys = top + (np.arange(CROP_SIZE) + 0.5) * (bot - top) / CROP_SIZE - 0.5
    else:
        xs, ys = np.arange(W_cam, dtype=np.float64), np.arange(H_cam, dtype=np.float64)

    # --- appearance
    skin_rgb = np.asarray(sp["skin"]["rgb_linear"], np.float64)
    atlas_a, atlas_b, info = appearance.build_atlas(
        skin_rgb, rng["appearance"], texture_sigma=sp["texture_sigma"], hair_rgb=np.array(sp["hair_rgb"]),
        hairline=sp["hairline"], fringe=sp["fringe"], makeup=sp["makeup"], beard=sp["beard"],
        glasses=sp["glasses"], tau_max_s=sp["tau_max_s"])
    if spec_boost != 1.0:
        atlas_b[..., 0] *= spec_boost
    bg_cam = appearance.build_background((H_cam, W_cam), rng["appearance"], sp["background"])
    bg_cam = bg_cam * light.e.astype(np.float32)  # lit by the room illuminant
    if direct_crop:
        t0, b0, l0, r0 = (int(v) for v in box0)
        bg = cv2.resize(bg_cam[t0:b0, l0:r0], (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)
    else:
        bg = bg_cam

    # --- camera
    u_p = camera.pulse_signature(cam_rng, preset.up_jitter)
    wb_bias = 1 + cam_rng.uniform(-preset.wb_error, preset.wb_error, 3)  # camera's systematic WB error
    wb = (1.0 / light.e) * wb_bias * (1 + rng["camera"].uniform(-0.02, 0.02, 3))
    wb = (wb / wb[1]).astype(np.float32)
    shirt = rng["appearance"].uniform(0.03, 0.5) * rng["appearance"].uniform(0.4, 1.0, 3)
    renderer = HeadRenderer(xs, ys, atlas_a, atlas_b, bg, u_p / u_p[1], skin_rgb * 0.95, info["lip_v"],
                            info["lip_half_width"], skin_rgb=skin_rgb * 0.92, shirt_rgb=shirt)
    Hout, Wout = len(ys), len(xs)
    prnu = (1 + sp["prnu"] * rng["camera"].standard_normal((Hout, Wout, 3))).astype(np.float32)
    lut = camera.srgb_lut()
    if direct_crop:
        meter = (slice(None), slice(None))
    else:
        meter = (slice(int(box0[0]), int(box0[1])), slice(int(box0[2]), int(box0[3])))
    luma_w = np.array([0.2126, 0.7152, 0.0722], np.float32) * wb
    target_lin = _srgb_decode(sp["ae_target"])
    xs_norm = ((xs - 0) / W_cam).astype(np.float32)

    masks = np.zeros((n, Hout, Wout), np.uint8) if with_masks else None

    def frame_linear(k):
        out = renderer.render(
            Rs[k], axes0 * pose["scale"][k], cx[k], cy[k], E=light.E0 * light.gain[k], e=light.e,
            ambient=light.ambient, dirs=light.dirs, strengths=light.strengths, shininess=light.shininess,
            screen=light.screen[k], E0=light.E0, e_screen=light.e_screen, l_screen=light.l_screen,
            A_G=sp["A_G"], p=p_f[k], dp=dp_f[k], jaw=jaw[k], blink=blink[k],
            shadow_cols=illumination.shadow_profile(xs_norm, t[k], light.shadow), return_mask=with_masks)
        if with_masks:
            out, m = out
            masks[k] = m > 0.5
        return out

    def metered(L):
        return float(np.mean(L[meter] @ luma_w))

    L0 = frame_linear(0)
    ae = camera.AutoExposure(target_lin / max(metered(L0), 1e-6), target_lin, sp["ae_tau_s"],
                             enabled=preset.auto_exposure)
    frames = np.empty((n, Hout, Wout, 3), np.uint8)
    g_hist = np.empty(n)
    for k in range(n):
        L = L0 if k == 0 else frame_linear(k)
        g = ae.gain
        g_hist[k] = g
        g_exp = min(g, EXPOSURE_MAX)
        mean_after = metered(L) * g
        S = L * np.float32(g_exp)
        add_sensor_noise(S, rng["noise"], sp["n_sat"], sp["sigma_read"], prnu)
        S *= wb * np.float32(g / g_exp)
        frames[k] = camera.quantise(S, lut)[:, :, ::-1]  # RGB -> BGR
        if k + 1 < n:
            ae.update(mean_after, t[k + 1] - t[k])

    # --- codec at camera resolution, then the crop
    if preset.codec != "none":
        frames = camera.compress_roundtrip(frames, sp["fps"], preset.codec, crf=sp["crf"],
                                           quality=sp["mjpeg_quality"])
    if output == "crop" and not direct_crop:
        t0, b0, l0, r0 = (int(v) for v in box0)
        frames = np.stack([cv2.resize(f[t0:b0, l0:r0], (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)
                           for f in frames])
        if with_masks:
            masks = np.stack([cv2.resize(m[t0:b0, l0:r0], (CROP_SIZE, CROP_SIZE),
                                         interpolation=cv2.INTER_NEAREST) for m in masks])

    # --- boxes in output pixel coordinates
    if output == "crop":
        sy = CROP_SIZE / float(box0[1] - box0[0])
        sx = CROP_SIZE / float(box0[3] - box0[2])

        def to_out(b, tight):
            y = (b[:, :2] - box0[0]) * sy
            x = (b[:, 2:] - box0[2]) * sx
            y = np.stack([np.floor(y[:, 0]), np.ceil(y[:, 1])], 1) if tight else np.round(y)
            x = np.stack([np.floor(x[:, 0]), np.ceil(x[:, 1])], 1) if tight else np.round(x)
            return np.clip(np.concatenate([y, x], 1), 0, CROP_SIZE).astype(np.int64)

        boxes_tight, boxes_enl = to_out(tight_cam, True), to_out(enl_cam, False)
    else:
        boxes_tight, boxes_enl = tight_cam.copy(), enl_cam.copy()

    t_end = t[-1]
    beats = phys.beat_times[(phys.beat_times >= 0) & (phys.beat_times <= t_end)]
    gt = {
        "bvp": p_f.astype(np.float64),
        "bvp_hi": phys.bvp_hi[phys.t_hi <= t_end + 1e-9].astype(np.float64),
        "bvp_hi_fs": float(preset.fs_hi),
        "beat_times": beats,
        "hr": phys.instantaneous_hr(t),
        "hr_mean": phys.mean_hr(0.0, t_end),
        "resp": r_f,
        "resp_rate": phys.resp_rate,
        "face_boxes": boxes_enl,
        "face_boxes_enlarged": boxes_enl,
        "face_boxes_tight": boxes_tight,
        "first_box": boxes_enl[0].copy(),
        "face_boxes_camera": enl_cam,
        "face_boxes_tight_camera": tight_cam,
        "pose": {k: np.asarray(v) for k, v in pose.items()},
        "jaw": jaw, "blink": blink,
        "illum_gain": light.gain, "screen": light.screen, "exposure_gain": g_hist,
    }
    if with_masks:
        gt["skin_mask"] = masks
    params = to_jsonable({
        "generator_version": GENERATOR_VERSION, "preset": preset.name, "preset_fingerprint": preset.fingerprint(),
        "preset_config": preset.to_dict(), "subject": sid, "seed": int(seed), "duration_s": duration,
        "output": output, "frame_size": [W_cam, H_cam], "crop_size": CROP_SIZE if output == "crop" else None,
        "subject_params": sp, "u_p": u_p, "u_p_rel": u_p / u_p[1], "wb_gains": wb, "lighting": light.params,
        "head_axes_px": axes0, "head_centre0": [cx0, cy0], "first_box_camera": box0, "n_frames": n,
        "atlas_info": info, "codec": preset.codec,
    })
    return SyntheticVideo(frames=frames, timestamps=t, fps_nominal=sp["fps"], ground_truth=gt, params=params)
