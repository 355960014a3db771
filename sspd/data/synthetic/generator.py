"""``render_video``: one synthetic face video with its ground truth, a pure function of
(preset, subject, seed, duration, output).

Randomness: every module draws from its own ``numpy.random.Generator`` seeded from a SHA-256 of
(preset name, subject, seed, stream name), so changing the clip duration does not change the
subject's face or HR, and nothing depends on global RNG state or thread scheduling.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import cv2

from sspd.data.face import enlarge_box, enlargement_margins
from sspd.data.recording import Recording
from sspd.io import to_jsonable

from . import appearance, camera, illumination, motion, physiology
from .presets import TASKS, Preset, get_preset
from .render import HeadRenderer, add_sensor_noise, face_box, rotation

GENERATOR_VERSION = "1.0.0"
CROP_SIZE = 151
#: Exposure-time headroom: AE gain above this is analogue gain and amplifies sensor noise.
EXPOSURE_MAX = 1.5
#: What ``render_video`` can return: 151x151 face crops or whole camera frames.
OUTPUTS = ("crop", "full")


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
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    sid = str(subject)
    duration = float(preset.duration_s if duration_s is None else duration_s)
    if duration <= 0:
        raise ValueError(f"duration_s must be positive, got {duration}")
    sp = draw_subject(preset, sid, seed)
    task = TASKS[sp["task"]]
    rng = {k: stream_rng(preset.name, sid, seed, k) for k in
           ("time", "phys", "motion", "light", "appearance", "camera", "noise")}
    cam_rng = stream_rng(preset.name, f"camera{preset.camera_seeds[sp['camera_source']]}", seed, "signature")

    phys, tl = _draw_timeline(preset, sp, task, duration, rng)
    light, spec_boost = _draw_lighting(preset, task, tl.t, rng["light"])
    head = _track_head(preset, sp, tl)
    box0 = head.enlarged[0]
    # Without a codec the crop is rendered directly (fast); a codec must see whole camera frames.
    direct_crop = output == "crop" and preset.codec == "none"
    xs, ys = _output_grid(preset, box0, direct_crop)
    u_p, wb, prnu = _camera_response(preset, sp, light, (len(ys), len(xs)), cam_rng, rng["camera"])
    renderer, atlas_info = _build_renderer(preset, sp, light, spec_boost, u_p, xs, ys,
                                           box0 if direct_crop else None, rng["appearance"])
    radiance = _radiance(renderer, head, tl, light, sp["A_G"], xs / preset.frame_size[0], with_masks)
    frames, exposure_gain, masks = _expose(radiance, tl.t, preset, sp, wb, prnu,
                                           None if direct_crop else box0, rng["noise"])
    frames, masks = _encode_and_crop(frames, masks, preset, sp,
                                     box0 if output == "crop" and not direct_crop else None)
    gt = _ground_truth(phys, tl, head, output, light, exposure_gain, preset.fs_hi)
    if with_masks:
        gt["skin_mask"] = masks
    params = to_jsonable({
        "generator_version": GENERATOR_VERSION, "preset": preset.name, "preset_fingerprint": preset.fingerprint(),
        "preset_config": preset.to_dict(), "subject": sid, "seed": int(seed), "duration_s": duration,
        "output": output, "frame_size": list(preset.frame_size),
        "crop_size": CROP_SIZE if output == "crop" else None,
        "subject_params": sp, "u_p": u_p, "u_p_rel": u_p / u_p[1], "wb_gains": wb, "lighting": light.params,
        "head_axes_px": head.axes, "head_centre0": list(head.centre0), "first_box_camera": box0,
        "n_frames": len(tl.t), "atlas_info": atlas_info, "codec": preset.codec,
    })
    return SyntheticVideo(frames=frames, timestamps=tl.t, fps_nominal=sp["fps"], ground_truth=gt, params=params)


# ----------------------------------------------------------------------------- render_video's steps


@dataclass
class _Timeline:
    """What changes frame by frame before any light reaches the camera, at the frame times."""

    t: np.ndarray       # (N,) frame times, s from 0
    pulse: np.ndarray   # (N,) blood-volume pulse p(t), up = more blood
    dpulse: np.ndarray  # (N,) dp/dt, 1/s
    resp: np.ndarray    # (N,) respiration
    pose: dict          # (N,) arrays: yaw, pitch, roll (deg), tx, ty (face heights), scale
    jaw: np.ndarray     # (N,) mouth opening (v units)
    blink: np.ndarray   # (N,) eyelid closure 0..1


@dataclass
class _HeadTrack:
    """Where the head is in every frame, in camera pixels, and its face boxes."""

    axes: np.ndarray            # (3,) ellipsoid semi-axes (px) at pose scale 1
    centre0: tuple              # (cx0, cy0): head centre that puts frame 0's enlarged box in the frame
    cx: np.ndarray              # (N,) head centre, x
    cy: np.ndarray              # (N,) head centre, y (down), with breathing and BCG
    rotations: list             # N (3, 3) head-to-camera rotations
    tight: np.ndarray           # (N, 4) int64 tight face boxes [top, bottom, left, right]
    enlarged: np.ndarray        # (N, 4) int64 SSPD-enlarged boxes


def _draw_timeline(preset: Preset, sp: dict, task: dict, duration: float, rng: dict):
    """Frame times, physiology (pulse, respiration) and motion (pose, jaw, blinks): (phys, _Timeline)."""
    t = camera.frame_times(duration, sp["fps"], rng["time"], jitter_ms=sp["jitter_ms"], drop_rate=sp["drop_rate"])
    phys = physiology.simulate(
        t[-1] + 1.0 / sp["fps"], preset.fs_hi, rng["phys"], hr_kind=sp["hr_kind"], hr_base=sp["hr_base"],
        ramp_bpm_per_min=sp["hr_ramp_bpm_per_min"], ou_sigma=sp["hr_ou_sigma"], hr_peak=sp["exercise_peak"],
        decay_tau=sp["exercise_tau_s"], hr_limits=preset.hr_limits, resp_rate=sp["resp_rate"],
        a_rsa=sp["a_rsa"], a_lf=sp["a_lf"], sigma_j=sp["sigma_j"], morph=tuple(sp["morphology"]),
        lowpass_hz=sp["pulse_lowpass_hz"], m_am=sp["m_am"], m_bw=sp["m_bw"])
    resp = phys.at(t, "resp_hi")
    pose = motion.pose_profile(t, task["motion"], rng["motion"], preset.motion_amplitude)
    jaw = motion.talking_jaw(t, rng["motion"], preset.jaw_amplitude) if task["talking"] else np.zeros(len(t))
    blink = motion.blinks(t, rng["motion"], sp["blink_rate_per_min"])
    pose["pitch"] = pose["pitch"] + sp["breathing_pitch_deg"] * 2 * resp  # breathing nods the head
    return phys, _Timeline(t=t, pulse=phys.at(t, "bvp_hi"), dpulse=phys.at(t, "dbvp_hi"), resp=resp,
                           pose=pose, jaw=jaw, blink=blink)


def _draw_lighting(preset: Preset, task: dict, t: np.ndarray, rng: np.random.Generator):
    """The room's lighting over the clip and the specular boost (task scenarios modify the preset's ranges)."""
    lk = dict(n_lights=preset.n_lights, cct_k=preset.cct_k, ambient=preset.ambient, E0=preset.E0,
              drift=preset.drift, flicker=preset.flicker, mains_hz=preset.mains_hz, screen_amp=preset.screen_amp,
              screen_dc=preset.screen_dc, step_prob=preset.step_prob, shadow_prob=preset.shadow_prob,
              side_light=preset.side_light)
    if task["light"] == "dark":
        lk["E0"] = preset.dark_E0
    elif task["light"] == "bright":
        lk.update(n_lights=(1, 1), ambient=(0.08, 0.2), E0=(1.0, 1.3), side_light=True, shininess=(20, 60))
    return illumination.make_lighting(t, rng, **lk), (2.5 if task["light"] == "bright" else 1.0)


def _track_head(preset: Preset, sp: dict, tl: _Timeline) -> _HeadTrack:
    """Head size, placement (frame 0's enlarged box sits inside the frame), motion, and face boxes."""
    W_cam, H_cam = preset.frame_size
    axes0 = np.array(preset.head_axes) / preset.head_axes[1] * (sp["head_size"] * H_cam)
    pose = tl.pose
    R0 = rotation(pose["yaw"][0], pose["pitch"][0], pose["roll"][0])
    tb = face_box(R0, axes0 * pose["scale"][0], 0.0, 0.0)
    th, tw = tb[1] - tb[0], tb[3] - tb[2]
    # size and centre of enlarge_box's result, before rounding, relative to the head centre
    add_h, add_w = enlargement_margins(th, tw)
    eh, ew = th + 2.4 * add_h, tw + 2 * add_w
    ecy = 0.5 * (tb[0] + tb[1]) - 0.2 * add_h
    ecx = 0.5 * (tb[2] + tb[3])
    want_y = np.clip(H_cam / 2 + sp["offset_y"] * H_cam, eh / 2 + 1, H_cam - eh / 2 - 1)
    want_x = np.clip(W_cam / 2 + sp["offset_x"] * W_cam, ew / 2 + 1, W_cam - ew / 2 - 1)
    cx0, cy0 = want_x - ecx, want_y - ecy
    px151 = eh / CROP_SIZE  # camera px per crop px (for px-at-151 magnitudes)
    cx = cx0 + pose["tx"] * th
    cy = cy0 + pose["ty"] * th + px151 * (sp["breathing_px"] * tl.resp + sp["bcg_px"] * tl.pulse)

    n = len(tl.t)
    tight_boxes, enlarged_boxes, rotations = np.zeros((n, 4), np.int64), np.zeros((n, 4), np.int64), []
    for k in range(n):
        R = rotation(pose["yaw"][k], pose["pitch"][k], pose["roll"][k])
        rotations.append(R)
        fb = face_box(R, axes0 * pose["scale"][k], cx[k], cy[k])
        tight = np.array([np.floor(fb[0]), np.ceil(fb[1]), np.floor(fb[2]), np.ceil(fb[3])])
        tight = np.clip(tight, 0, [H_cam, H_cam, W_cam, W_cam]).astype(np.int64)
        tight_boxes[k] = tight
        enlarged_boxes[k] = enlarge_box(tight, (H_cam, W_cam))
    return _HeadTrack(axes=axes0, centre0=(cx0, cy0), cx=cx, cy=cy, rotations=rotations,
                      tight=tight_boxes, enlarged=enlarged_boxes)


def _output_grid(preset: Preset, box0: np.ndarray, direct_crop: bool) -> tuple[np.ndarray, np.ndarray]:
    """x and y (camera px) of the output pixel centres: the 151×151 crop of ``box0``, or every camera pixel."""
    if direct_crop:
        top, bot, left, right = (float(v) for v in box0)
        xs = left + (np.arange(CROP_SIZE) + 0.5) * (right - left) / CROP_SIZE - 0.5
        ys = top + (np.arange(CROP_SIZE) + 0.5) * (bot - top) / CROP_SIZE - 0.5
        return xs, ys
    W_cam, H_cam = preset.frame_size
    return np.arange(W_cam, dtype=np.float64), np.arange(H_cam, dtype=np.float64)


def _crop(image: np.ndarray, box: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``image`` cut to ``box`` [top, bottom, left, right] and resized to CROP_SIZE×CROP_SIZE."""
    t0, b0, l0, r0 = (int(v) for v in box)
    return cv2.resize(image[t0:b0, l0:r0], (CROP_SIZE, CROP_SIZE), interpolation=interpolation)


def _camera_response(preset: Preset, sp: dict, light, out_hw: tuple[int, int], cam_rng: np.random.Generator,
                     rng: np.random.Generator):
    """The camera's pulse signature u_p, white-balance gains and PRNU gain map (out_hw, 3)."""
    u_p = camera.pulse_signature(cam_rng, preset.up_jitter)
    wb_bias = 1 + cam_rng.uniform(-preset.wb_error, preset.wb_error, 3)  # camera's systematic WB error
    wb = (1.0 / light.e) * wb_bias * (1 + rng.uniform(-0.02, 0.02, 3))
    wb = (wb / wb[1]).astype(np.float32)
    prnu = (1 + sp["prnu"] * rng.standard_normal((*out_hw, 3))).astype(np.float32)
    return u_p, wb, prnu


def _build_renderer(preset: Preset, sp: dict, light, spec_boost: float, u_p: np.ndarray, xs: np.ndarray,
                    ys: np.ndarray, crop_box: np.ndarray | None, rng: np.random.Generator):
    """The subject's appearance (texture atlas, background lit by the room, shirt) as a HeadRenderer.

    crop_box : the camera box the output grid covers (the background is cut to it), None for full frames.
    Returns (renderer, atlas info).
    """
    skin_rgb = np.asarray(sp["skin"]["rgb_linear"], np.float64)
    atlas_a, atlas_b, info = appearance.build_atlas(
        skin_rgb, rng, texture_sigma=sp["texture_sigma"], hair_rgb=np.array(sp["hair_rgb"]),
        hairline=sp["hairline"], fringe=sp["fringe"], makeup=sp["makeup"], beard=sp["beard"],
        glasses=sp["glasses"], tau_max_s=sp["tau_max_s"])
    if spec_boost != 1.0:
        atlas_b[..., 0] *= spec_boost
    W_cam, H_cam = preset.frame_size
    bg = appearance.build_background((H_cam, W_cam), rng, sp["background"])
    bg = bg * light.e.astype(np.float32)  # lit by the room illuminant
    if crop_box is not None:
        bg = _crop(bg, crop_box)
    shirt = rng.uniform(0.03, 0.5) * rng.uniform(0.4, 1.0, 3)
    renderer = HeadRenderer(xs, ys, atlas_a, atlas_b, bg, u_p / u_p[1], skin_rgb * 0.95, info["lip_v"],
                            info["lip_half_width"], skin_rgb=skin_rgb * 0.92, shirt_rgb=shirt)
    return renderer, info


def _radiance(renderer: HeadRenderer, head: _HeadTrack, tl: _Timeline, light, A_G: float, xs_norm: np.ndarray,
              with_masks: bool):
    """Yield (linear scene radiance, skin-pulse mask or None) of every frame, in order.

    xs_norm : output pixel x as a fraction of the camera frame width (where moving shadows fall).
    """
    xs_norm = xs_norm.astype(np.float32)
    for k in range(len(tl.t)):
        out = renderer.render(
            head.rotations[k], head.axes * tl.pose["scale"][k], head.cx[k], head.cy[k],
            E=light.E0 * light.gain[k], e=light.e, ambient=light.ambient, dirs=light.dirs,
            strengths=light.strengths, shininess=light.shininess, screen=light.screen[k], E0=light.E0,
            e_screen=light.e_screen, l_screen=light.l_screen, A_G=A_G, p=tl.pulse[k], dp=tl.dpulse[k],
            jaw=tl.jaw[k], blink=tl.blink[k], shadow_cols=illumination.shadow_profile(xs_norm, tl.t[k], light.shadow),
            return_mask=with_masks)
        yield out if with_masks else (out, None)


def _expose(radiance, t: np.ndarray, preset: Preset, sp: dict, wb: np.ndarray, prnu: np.ndarray,
            meter_box: np.ndarray | None, noise_rng: np.random.Generator):
    """The camera: auto-exposure, sensor noise, white balance and sRGB quantisation of every frame.

    radiance : what :func:`_radiance` yields, one item per frame time in ``t``;
    meter_box : the camera box auto-exposure meters (None: the whole output frame).
    Returns (frames (N, H, W, 3) uint8 BGR, AE gain per frame (N,), skin masks (N, H, W) uint8 or None).
    """
    n = len(t)
    if meter_box is None:
        meter = (slice(None), slice(None))
    else:
        meter = (slice(int(meter_box[0]), int(meter_box[1])), slice(int(meter_box[2]), int(meter_box[3])))
    luma_w = np.array([0.2126, 0.7152, 0.0722], np.float32) * wb
    target_lin = _srgb_decode(sp["ae_target"])
    lut = camera.srgb_lut()

    def metered(L):
        return float(np.mean(L[meter] @ luma_w))

    first = next(radiance)
    L0, mask0 = first
    ae = camera.AutoExposure(target_lin / max(metered(L0), 1e-6), target_lin, sp["ae_tau_s"],
                             enabled=preset.auto_exposure)
    frames = np.empty((n, *L0.shape[:2], 3), np.uint8)
    masks = None if mask0 is None else np.zeros((n, *L0.shape[:2]), np.uint8)
    gains = np.empty(n)
    for k, (L, mask) in enumerate(itertools.chain([first], radiance)):
        if masks is not None:
            masks[k] = mask > 0.5
        g = ae.gain
        gains[k] = g
        g_exp = min(g, EXPOSURE_MAX)
        mean_after = metered(L) * g
        S = L * np.float32(g_exp)
        add_sensor_noise(S, noise_rng, sp["n_sat"], sp["sigma_read"], prnu)
        S *= wb * np.float32(g / g_exp)
        frames[k] = camera.quantise(S, lut)[:, :, ::-1]  # RGB -> BGR
        if k + 1 < n:
            ae.update(mean_after, t[k + 1] - t[k])
    return frames, gains, masks


def _encode_and_crop(frames: np.ndarray, masks: np.ndarray | None, preset: Preset, sp: dict,
                     crop_box: np.ndarray | None):
    """The preset's codec at camera resolution (as a real camera records), then the crop to ``crop_box``
    (None: frames stay as they are). Returns (frames, masks)."""
    if preset.codec != "none":
        frames = camera.compress_roundtrip(frames, sp["fps"], preset.codec, crf=sp["crf"],
                                           quality=sp["mjpeg_quality"])
    if crop_box is not None:
        frames = np.stack([_crop(f, crop_box) for f in frames])
        if masks is not None:
            masks = np.stack([_crop(m, crop_box, cv2.INTER_NEAREST) for m in masks])
    return frames, masks


def _ground_truth(phys, tl: _Timeline, head: _HeadTrack, output: str, light, exposure_gain: np.ndarray,
                  fs_hi: float) -> dict:
    """The labels of the clip (see :func:`render_video`), face boxes in output pixels."""
    box0 = head.enlarged[0]
    if output == "crop":
        sy = CROP_SIZE / float(box0[1] - box0[0])
        sx = CROP_SIZE / float(box0[3] - box0[2])

        def to_out(b, tight):
            y = (b[:, :2] - box0[0]) * sy
            x = (b[:, 2:] - box0[2]) * sx
            y = np.stack([np.floor(y[:, 0]), np.ceil(y[:, 1])], 1) if tight else np.round(y)
            x = np.stack([np.floor(x[:, 0]), np.ceil(x[:, 1])], 1) if tight else np.round(x)
            return np.clip(np.concatenate([y, x], 1), 0, CROP_SIZE).astype(np.int64)

        boxes_tight, boxes_enl = to_out(head.tight, True), to_out(head.enlarged, False)
    else:
        boxes_tight, boxes_enl = head.tight.copy(), head.enlarged.copy()

    t_end = tl.t[-1]
    return {
        "bvp": tl.pulse.astype(np.float64),
        "bvp_hi": phys.bvp_hi[phys.t_hi <= t_end + 1e-9].astype(np.float64),
        "bvp_hi_fs": float(fs_hi),
        "beat_times": phys.beat_times[(phys.beat_times >= 0) & (phys.beat_times <= t_end)],
        "hr": phys.instantaneous_hr(tl.t),
        "hr_mean": phys.mean_hr(0.0, t_end),
        "resp": tl.resp,
        "resp_rate": phys.resp_rate,
        "face_boxes": boxes_enl,
        "face_boxes_enlarged": boxes_enl,
        "face_boxes_tight": boxes_tight,
        "first_box": boxes_enl[0].copy(),
        "face_boxes_camera": head.enlarged,
        "face_boxes_tight_camera": head.tight,
        "pose": {k: np.asarray(v) for k, v in tl.pose.items()},
        "jaw": tl.jaw, "blink": tl.blink,
        "illum_gain": light.gain, "screen": light.screen, "exposure_gain": exposure_gain,
    }
