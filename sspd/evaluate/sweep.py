"""Stress tests: error against one generator factor at a time (``python -m sspd sweep``).

Real benchmarks mix every difficulty at once, so a table cannot say why a method fails. The synthetic
generator can change one knob while everything else stays fixed: a sweep renders the *same* subjects (same
subject ids, same seed, same preset name, hence the same random streams) at every level of one factor, each
level a :func:`dataclasses.replace` of a base preset's knobs (default ``still``), and scores the methods under
the ``windowed`` protocol. Videos are rendered in memory and preprocessed exactly as the clip cache would
(:func:`sspd.data.cache.preprocess_recording` with the ground-truth first-frame box, resampling to 30 fps when
the timing is not uniform); nothing is written but the results.

Outputs (``--out``, default ``data/results/sweeps``), each written atomically, one pair per factor:

- ``<factor>.csv``: tidy rows (factor, level, subject, method, unit = "window" | "video", errors, SNR,
  waveform r, status, the realised knob value, measured face size, frame rate, ...);
- ``<factor>.json``: the registry entry, the levels, methods (and those skipped, with the reason), subjects,
  duration, seed, base preset, protocol, render and evaluation times, and a run manifest
  (:func:`sspd.io.manifest`).

Random streams (``sspd/data/synthetic/generator.py``). Every module draws from its own stream seeded by
(preset name, subject, seed, stream), so a level keeps the preset's name. Two traps are avoided here:

- ``generator._u`` skips its draw for a degenerate range ``(v, v)``, which would shift every later draw of the
  subject stream (noise level, blink rate, skin, ...). A level is therefore *pinned* as ``(v, nextafter(v))``
  when the base range is not degenerate (it yields ``v`` to one ulp and consumes the same draw), and as
  ``(v, v)`` when the base range is degenerate too.
- The lighting stream draws the screen-light and drift noise only for a positive amplitude; level 0 of those
  factors is rendered as 1e-9 of E0 so that the later lighting draws (ambient level, shininess) stay put.

What still moves with a knob is listed per factor (``Factor.streams`` and ``Factor.may_change``) and checked by
``tests/test_sweep.py``: frame-timing factors (jitter, and drops when the last frame is dropped) move the clip's
last timestamp, by which the physiology, motion and lighting streams size their time grids, so the pulse
realisation (beat times, HR wander) and micro-motion of a subject can differ between timing levels, while the
subject's drawn parameters (base HR, face, skin, camera, light) stay the same; camera-resolution factors (codec,
face size) render whole frames at every level, including the uncompressed reference, so that the codec or the
face size is the only difference.

All numbers produced here are synthetic.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from sspd.evaluate.peers import peer_factories

__all__ = ["Factor", "FACTORS", "get_factor", "factor_table", "level_preset", "render_level", "param_changes",
           "unexpected_changes", "resolve_methods",
           "run_sweep", "load_sweeps", "load_sweep_meta", "curve_table", "worst_to_best", "fairness_table",
           "breaking_points", "error_kinds", "compare_with_committed", "PEER_METHODS", "DEFAULT_METHODS", "COLUMNS",
           "SWEEP_PROTOCOL", "OFFICIAL_WEIGHTS"]

SWEEP_PROTOCOL = "windowed"
DEFAULT_BASE = "still"
DEFAULT_METHODS = ("pos", "chrom", "green")
#: 12.5 s = 375 frames: three 10-s windows (1-s stride) both for a pulse of N samples and for one of N - 1
#: (frame-difference models such as SSPD), so every method is scored on the same windows.
DEFAULT_DURATION_S = 12.5
MIN_DURATION_S = 11.0
#: The authors' released UBFC-rPPG weights, read in place when present (never copied into the repository).
OFFICIAL_WEIGHTS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "official_ubfc.pth"
OFFICIAL_NAME = "sspd-official"
#: Pretrained peer methods register here as {name: factory(device) -> method}, where a method is
#: ``callable(frames_bgr uint8 (N, H, W, 3), fs) -> pulse`` (see sspd.evaluate.methods): the open-rppg models
#: ("orppg:PhysNet.pure", ...; sspd.evaluate.peers, weights loaded on first use). Names match in any case.
PEER_METHODS: dict[str, Callable[[str], Callable]] = dict(peer_factories())
#: Amplitude rendered for level 0 of factors whose random draws exist only above zero (fraction of E0).
ZERO_FLOOR = 1e-9

#: Columns of a sweep's tidy CSV, in order.
COLUMNS = ["factor", "level", "level_index", "level_value", "subject", "method", "unit", "window", "t_start",
           "t_end", "hr_pred", "hr_gt", "error", "abs_error", "snr_db", "waveform_r", "window_mae", "status",
           "message", "realised", "face_px", "fps", "n_frames", "resampled", "runtime_s"]


# ----------------------------------------------------------------------------- the factor registry


@dataclass(frozen=True)
class Factor:
    """One generator factor a sweep can vary.

    name:       registry key (``--factor``).
    knobs:      the :class:`~sspd.data.synthetic.Preset` fields a level sets (nothing else changes).
    unit:       axis label of the level, with its unit.
    levels:     default levels of a full sweep, from the mildest (the reference, first) to the harshest.
    quick:      the small sweep's levels, a subset of ``levels`` (so a small sweep re-checks a full one).
    to_knobs:   (base preset, checked level) -> {knob: value}.
    realised:   the rendered video's ``params`` -> the value the generator actually used (for checks).
    parse:      a level given as text (the command line) -> level; raises ValueError with the reason.
    output:     "crop" (the fast 151x151 path) or "full" (camera frames, cropped as preprocessing would).
    description: what the factor does, in a sentence.
    streams:    which random draws the knob touches besides its own value.
    may_change: ``params`` paths (dotted) besides ``preset_config.*`` and the fingerprint that may differ
                between two levels for the same subject.
    base_subjects: whether a level's subjects are the base preset's (every other draw as in the base preset);
                False where the factor must pin a knob the base preset draws (the codec factors).
    """

    name: str
    knobs: tuple[str, ...]
    unit: str
    levels: tuple
    quick: tuple
    to_knobs: Callable[[Any, Any], dict]
    realised: Callable[[dict], Any]
    parse: Callable[[str], Any]
    output: str = "crop"
    description: str = ""
    streams: str = "only the knob's own value"
    may_change: tuple[str, ...] = ()
    base_subjects: bool = True

    def check(self, level) -> Any:
        """The canonical form of ``level`` (text or value), or ValueError naming the factor."""
        try:
            return self.parse(level)
        except (TypeError, ValueError) as err:
            raise ValueError(f"invalid level {level!r} for factor {self.name!r}: {err} "
                             f"(default levels: {', '.join(level_label(v) for v in self.levels)})") from None

    def level_list(self, levels: "str | Sequence | None" = None) -> list:
        """``None`` or "full" -> the full levels, "quick" -> the small sweep's, else each level checked."""
        if levels is None or (isinstance(levels, str) and levels == "full"):
            levels = self.levels
        elif isinstance(levels, str) and levels == "quick":
            levels = self.quick
        elif isinstance(levels, str):
            levels = [levels]
        out = [self.check(v) for v in levels]
        if not out:
            raise ValueError(f"factor {self.name!r}: no levels given")
        labels = [level_label(v) for v in out]
        if len(set(labels)) != len(labels):
            raise ValueError(f"factor {self.name!r}: repeated levels {labels}")
        return out


def level_label(level) -> str:
    """The text a level is stored under (``0.25``, ``raw``, ``dark``)."""
    if isinstance(level, (float, np.floating)):
        return f"{float(level):g}"
    return str(level)


def _level_value(level) -> float:
    return float(level) if isinstance(level, (int, float, np.integer, np.floating)) else float("nan")


def _pinned(value: float, base_range) -> tuple[float, float]:
    """A range that makes ``generator._u`` return ``value`` while consuming the draw ``base_range`` consumes."""
    lo, hi = base_range
    value = float(value)
    if lo == hi:
        return (value, value)
    return (value, float(np.nextafter(value, np.inf)))


def _number(lo: float | None = None, hi: float | None = None, *, integer: bool = False):
    def parse(text):
        if isinstance(text, bool):
            raise ValueError("expected a number")
        v = float(text)
        if not np.isfinite(v):
            raise ValueError("expected a finite number")
        if integer:
            if v != round(v):
                raise ValueError("expected a whole number")
            v = int(round(v))
        if lo is not None and v < lo:
            raise ValueError(f"must be >= {lo:g}")
        if hi is not None and v > hi:
            raise ValueError(f"must be <= {hi:g}")
        return v
    return parse


def _raw_or(parse_number):
    def parse(text):
        if isinstance(text, str) and text.strip().lower() in ("raw", "none"):
            return "raw"
        return parse_number(text)
    return parse


def _choice(options: Sequence[str]):
    def parse(text):
        key = str(text).strip()
        if key not in options:
            raise ValueError(f"choose from {', '.join(options)}")
        return key
    return parse


def _sp(key):
    return lambda params: params["subject_params"][key]


def _light(key, scale=1.0):
    return lambda params: params["lighting"][key] * scale


def _ita_classes() -> tuple[str, ...]:
    from sspd.data.synthetic.appearance import ITA_CLASSES

    return tuple(name for name, _, _ in ITA_CLASSES)


def _motion_tasks() -> tuple[str, ...]:
    from sspd.data.synthetic.presets import TASKS

    # tasks that change motion only (no light scenario, HR kind or scale of their own)
    return tuple(k for k, v in TASKS.items()
                 if v["light"] == "normal" and v["hr"] == "preset" and v["scale"] == 1.0 and k != "steady")


def _codec_knobs(codec: str, knob: str):
    """Levels of a codec factor. ``rng.integers`` draws nothing for a one-value range, so pinning only the
    varied knob would shift every later draw of the subject stream; both integer knobs (CRF and MJPEG
    quality) are therefore pinned at every level, the uncompressed reference included."""
    other = "mjpeg_quality" if knob == "crf" else "crf"

    def to_knobs(base, level):
        pins = {knob: (getattr(base, knob)[0],) * 2, other: (getattr(base, other)[0],) * 2}
        if level == "raw":
            return {"codec": "none", **pins}
        return {**pins, "codec": codec, knob: (int(level), int(level))}
    return to_knobs


def _codec_realised(knob: str):
    return lambda params: "raw" if params["codec"] == "none" else params["subject_params"][knob]


def _skin_knobs(base, level):
    names = _ita_classes()
    return {"ita_weights": tuple(1.0 if n == level else 0.0 for n in names)}


def _scaled(knob_scales: dict):
    """Levels that scale knobs drawn from ranges: knob range (lo, hi) -> (lo * k**e, hi * k**e) per knob with
    exponent e. ``generator._u`` draws lo + (hi - lo) u, so every subject keeps its own draw u and the value
    scales exactly; level 0 is rendered as :data:`ZERO_FLOOR` so that the draw is still consumed."""
    def to_knobs(base, level):
        k = max(float(level), ZERO_FLOOR)
        return {knob: tuple(v * k ** e for v in getattr(base, knob)) for knob, e in knob_scales.items()}
    return to_knobs


def _scale_realised(knob: str, exponent: float = 1.0):
    """The scale a rendered video's ``knob`` range has relative to its base preset's range (the level)."""
    def realised(params):
        from sspd.data.synthetic import get_preset

        config = params["preset_config"]
        base = getattr(get_preset(config["name"]), knob)
        k = (config[knob][1] / base[1]) ** (1.0 / exponent)
        return 0.0 if k <= 2 * ZERO_FLOOR else k
    return realised


def _build_factors() -> dict[str, Factor]:
    geometry = ("head_centre0", "first_box_camera")  # frame 0's pose places the head
    # the clip's last timestamp sizes the physiology, motion and lighting time grids (see the module docstring)
    timing = geometry + ("lighting.", "n_frames")
    ita, tasks = _ita_classes(), _motion_tasks()
    codec_streams = ("both integer codec knobs are pinned at every level (the raw reference too), so the subject "
                     "stream's later draws (blinks, breathing, skin) differ from the base preset's: the same at "
                     "every level of the factor, not the other factors' subjects; every level renders whole "
                     "camera frames")
    factors = [
        Factor("pulse_amplitude", ("A_G",), "pulse amplitude A_G (% p-p green)",
               (1.0, 0.5, 0.25, 0.12, 0.06), (1.0, 0.25, 0.06),
               lambda b, v: {"A_G": _pinned(v / 100.0, b.A_G)}, lambda p: p["subject_params"]["A_G"] * 100,
               _number(0.0, 10.0), description="relative peak-to-peak green modulation of the pulse where w = 1 "
               "(still: 0.12-0.45 %)", may_change=("subject_params.A_G",)),
        Factor("motion_amplitude", ("motion_amplitude",), "head motion (x base micro-motion)",
               (0.0, 1.0, 2.0, 4.0, 8.0), (0.0, 2.0, 8.0),
               lambda b, v: {"motion_amplitude": float(v)}, lambda p: p["preset_config"]["motion_amplitude"],
               _number(0.0, 50.0), description="scales every rigid head motion of the base task (still: OU "
               "rotation 0.5-1.5 deg, translation 0.5-1 %, posture shifts)",
               streams="none (the motion stream's draws do not depend on the amplitude); frame 0's pose moves "
                       "the head's placement", may_change=geometry),
        Factor("motion_task", ("tasks",), "motion task", ("still", "talking", "fast_translation",
                                                          "medium_rotation", "large_motion"),
               ("still", "talking", "large_motion"),
               lambda b, v: {"tasks": (v,)}, lambda p: p["subject_params"]["task"], _choice(tasks),
               description="every subject performs one task of the PURE/VIPL-like motion profiles "
                           "(talking nods at 0.5-2 Hz, inside the cardiac band)",
               streams="the motion stream draws the task's own profile (and the jaw for talking)",
               may_change=geometry + ("subject_params.task",)),
        Factor("blink_rate", ("blink_rate_per_min",), "blinks per minute", (0.0, 10.0, 20.0, 40.0, 80.0),
               (0.0, 20.0, 80.0), lambda b, v: {"blink_rate_per_min": _pinned(v, b.blink_rate_per_min)},
               _sp("blink_rate_per_min"), _number(0.0, 300.0),
               description="Poisson blinks of 100-400 ms (eyelids carry a weak pulse)",
               streams="blinks are the motion stream's last draws", may_change=("subject_params.blink_rate_per_min",)),
        Factor("screen_light", ("screen_amp",), "screen light (% of E0, std)", (0.0, 0.1, 0.3, 1.0, 3.0),
               (0.0, 0.3, 3.0), lambda b, v: {"screen_amp": (max(v / 100.0, ZERO_FLOOR),) * 2},
               _light("screen_amp", 100.0), _number(0.0, 50.0),
               description="in-band (0.1-3 Hz) fluctuation of a bluish screen light with its own colour; the "
                           "screen's DC light (15 % of E0) stays on at every level",
               streams=f"level 0 is rendered as {ZERO_FLOOR:g} of E0, so the lighting stream draws the same noise",
               may_change=("lighting.screen_amp",)),
        Factor("illumination_drift", ("drift",), "light drift (% of E0)", (0.0, 2.0, 5.0, 10.0, 20.0),
               (0.0, 5.0, 20.0), lambda b, v: {"drift": (max(v / 100.0, ZERO_FLOOR),) * 2},
               _light("drift_amp", 100.0), _number(0.0, 80.0),
               description="slow white-light drift below 0.05 Hz",
               streams=f"level 0 is rendered as {ZERO_FLOOR:g} of E0, so the lighting stream draws the same noise",
               may_change=("lighting.drift_amp",)),
        Factor("flicker", ("flicker",), "mains flicker (% of E0)", (0.0, 1.0, 3.0, 10.0, 30.0), (0.0, 3.0, 30.0),
               lambda b, v: {"flicker": (v / 100.0,) * 2}, _light("flicker_amp", 100.0), _number(0.0, 80.0),
               description="white flicker at twice the mains frequency, sampled at the frame times (aliased)",
               may_change=("lighting.flicker_amp",)),
        Factor("breathing_motion", ("breathing_px", "breathing_pitch_deg", "bcg_px"),
               "breathing + BCG motion (x base)", (0.0, 1.0, 2.0, 4.0), (0.0, 1.0, 4.0),
               _scaled({"breathing_px": 1, "breathing_pitch_deg": 1, "bcg_px": 1}), _scale_realised("bcg_px"),
               _number(0.0, 20.0), description="scales the head's breathing bob and nod and its ballistocardiographic "
               "(BCG) recoil at the heart rate (still: 0.2-1 px and 0.2-0.5 deg per breath, BCG 0.02-0.1 px at 151 px)",
               streams=f"none (each subject keeps its draws; level 0 is rendered as {ZERO_FLOOR:g} x); frame 0's "
                       "pose moves the head's placement",
               may_change=geometry + ("subject_params.breathing_px", "subject_params.breathing_pitch_deg",
                                      "subject_params.bcg_px")),
        Factor("auto_exposure", ("auto_exposure",), "auto-exposure", ("off", "on"), ("off", "on"),
               lambda b, v: {"auto_exposure": v == "on"},
               lambda p: "on" if p["preset_config"]["auto_exposure"] else "off", _choice(("off", "on")),
               description="the camera's auto-exposure loop (a first-order gain control, time constant 0.3-2 s) "
                           "on or off; off holds frame 0's exposure",
               streams="none (the time constant is drawn either way)"),
        Factor("sensor_noise", ("n_sat", "sigma_read", "prnu"), "sensor noise (x base std)", (0.0, 1.0, 2.0, 4.0),
               (0.0, 1.0, 4.0), _scaled({"n_sat": -2, "sigma_read": -1, "prnu": 1}), _scale_realised("prnu"),
               _number(0.0, 20.0), description="scales the standard deviation of the shot, read and fixed-pattern "
               "(PRNU) noise alike: full well n_sat / k^2, read noise sigma_read / k electrons (so sigma_read / n_sat "
               "scales by k), PRNU x k",
               streams=f"none (each subject keeps its draws; level 0 is rendered as {ZERO_FLOOR:g} x)",
               may_change=("subject_params.n_sat", "subject_params.sigma_read", "subject_params.prnu")),
        Factor("mjpeg_quality", ("codec", "mjpeg_quality", "crf"), "MJPEG quality (raw = none)",
               ("raw", 90, 70, 50, 30), ("raw", 70, 30), _codec_knobs("mjpeg", "mjpeg_quality"),
               _codec_realised("mjpeg_quality"), _raw_or(_number(1, 100, integer=True)), output="full",
               description="intra-frame MJPEG at camera resolution before the face crop (VIPL-HR's webcams)",
               streams=codec_streams, may_change=("subject_params.mjpeg_quality", "codec"), base_subjects=False),
        Factor("h264_crf", ("codec", "crf", "mjpeg_quality"), "H.264 CRF (raw = none)", ("raw", 14, 20, 26, 32),
               ("raw", 20, 32), _codec_knobs("h264", "crf"), _codec_realised("crf"),
               _raw_or(_number(0, 51, integer=True)), output="full",
               description="libx264 (PyAV, as the generator) at camera resolution before the crop",
               streams=codec_streams, may_change=("subject_params.crf", "codec"), base_subjects=False),
        Factor("fps_jitter", ("jitter_ms",), "frame-time jitter (ms, std)", (0.0, 1.0, 3.0, 6.0, 10.0),
               (0.0, 3.0, 10.0), lambda b, v: {"jitter_ms": _pinned(v, b.jitter_ms)}, _sp("jitter_ms"),
               _number(0.0, 30.0), description="Gaussian capture-time jitter (timestamps are true; preprocessing "
               "resamples only when a gap exceeds 1.5 frames or the rate is off by 0.5 %)",
               streams="the time stream; the clip's last timestamp moves, so the pulse realisation and "
                       "micro-motion can differ between levels (same subject parameters)",
               may_change=timing + ("subject_params.jitter_ms",)),
        Factor("frame_drops", ("drop_rate",), "dropped frames (%)", (0.0, 1.0, 3.0, 10.0, 20.0), (0.0, 3.0, 20.0),
               lambda b, v: {"drop_rate": _pinned(v / 100.0, b.drop_rate)}, lambda p: p["subject_params"]["drop_rate"]
               * 100, _number(0.0, 90.0), description="frames lost at random (never the first); preprocessing "
               "resamples the gaps linearly to 30 fps",
               streams="the time stream; when the last frame is dropped the clip's last timestamp moves (as for "
                       "jitter)", may_change=timing + ("subject_params.drop_rate",)),
        Factor("face_size", ("head_size",), "head height (camera px)", (150.0, 100.0, 64.0, 40.0, 24.0),
               (150.0, 64.0, 24.0), lambda b, v: {"head_size": _pinned(v / (2.0 * b.frame_size[1]), b.head_size)},
               lambda p: p["subject_params"]["head_size"] * 2 * p["frame_size"][1], _number(12.0, 230.0),
               output="full", description="the head's vertical extent in 320x240 camera frames (still: about "
               "135-155 px); the crop is upsampled to 151x151 as preprocessing would",
               streams="none; every level renders whole camera frames",
               may_change=geometry + ("subject_params.head_size", "head_axes_px")),
        Factor("skin_tone", ("ita_weights",), "skin tone (ITA group)", ita, (ita[0], ita[2], ita[-1]),
               _skin_knobs, lambda p: p["subject_params"]["skin"]["ita_class"], _choice(ita),
               description="every subject rendered in one ITA group (Chardon 1991; Del Bino 2013); within the "
                           "group the same relative ITA, a* and b* draws",
               streams="the class draw consumes one uniform at every level; skin is the subject stream's last draw",
               may_change=("subject_params.skin.",)),
    ]
    for f in factors:
        bad = [v for v in f.quick if level_label(v) not in {level_label(w) for w in f.levels}]
        assert not bad, f"{f.name}: quick levels {bad} are not among its levels"
    return {f.name: f for f in factors}


FACTORS: dict[str, Factor] = _build_factors()


def get_factor(name: "str | Factor") -> Factor:
    """A registry entry by name; ValueError listing the names otherwise."""
    if isinstance(name, Factor):
        return name
    try:
        return FACTORS[name]
    except KeyError:
        raise ValueError(f"unknown factor {name!r}; choose from {', '.join(FACTORS)}") from None


def factor_table(factors: Iterable[str] | None = None) -> pd.DataFrame:
    """The registry as a table: factor, knobs, unit, levels (full), quick levels, output, what it does."""
    rows = []
    for name in factors or FACTORS:
        f = get_factor(name)
        rows.append({"factor": f.name, "knobs": ", ".join(f.knobs), "level (unit)": f.unit,
                     "levels": ", ".join(level_label(v) for v in f.levels),
                     "quick": ", ".join(level_label(v) for v in f.quick), "render": f.output,
                     "what it does": f.description, "other draws it touches": f.streams})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- rendering one level


def sweep_base(base=DEFAULT_BASE, n_subjects: int | None = None):
    """The base preset, widened to ``n_subjects`` when it has fewer (the same for every level)."""
    from sspd.data.synthetic import get_preset

    preset = get_preset(base)
    if n_subjects is not None and n_subjects > preset.n_subjects:
        preset = dataclasses.replace(preset, n_subjects=int(n_subjects))
    return preset


def level_preset(factor: "str | Factor", level, base=DEFAULT_BASE, n_subjects: int | None = None):
    """The base preset with one factor at ``level``: same name (hence the same random streams), one knob changed."""
    f = get_factor(factor)
    preset = sweep_base(base, n_subjects)
    changes = f.to_knobs(preset, f.check(level))
    stray = set(changes) - set(f.knobs)
    if stray:  # pragma: no cover - a registry bug
        raise AssertionError(f"factor {f.name} sets {sorted(stray)} beyond its knobs {f.knobs}")
    return dataclasses.replace(preset, **changes)


def render_level(factor: "str | Factor", level, subject, *, base=DEFAULT_BASE, seed: int = 0,
                 duration_s: float = DEFAULT_DURATION_S, n_subjects: int | None = None):
    """Render one subject at one level (in memory): a :class:`~sspd.data.synthetic.SyntheticVideo`."""
    from sspd.data.synthetic import render_video

    f = get_factor(factor)
    return render_video(level_preset(f, level, base, n_subjects), str(subject), seed=seed, output=f.output,
                        duration_s=duration_s)


def _differing_paths(a, b, path: str = ""):
    """Yield the dotted paths at which two nested parameter dicts differ (a key on one side only counts)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in set(a) | set(b):
            sub = f"{path}{key}"
            if key in a and key in b:
                yield from _differing_paths(a[key], b[key], sub + ".")
            else:
                yield sub
    elif not np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)):
        yield path.rstrip(".")


def param_changes(a, b) -> list[str]:
    """Dotted paths of the drawn parameters (``video.params``) that differ between two renders."""
    return sorted(_differing_paths(a.params, b.params))


def unexpected_changes(factor: "str | Factor", a, b) -> list[str]:
    """The :func:`param_changes` of two levels of ``factor`` that the registry does not allow: anything but
    the factor's own knobs in ``preset_config``, the preset fingerprint and ``Factor.may_change`` (an entry
    ending in "." allows every path under it)."""
    f = get_factor(factor)
    allowed = {"preset_fingerprint", *(f"preset_config.{k}" for k in f.knobs)}
    return [k for k in param_changes(a, b) if k not in allowed
            and not any(k == m or (m.endswith(".") and k.startswith(m)) for m in f.may_change)]


@dataclass
class _Clip:
    """A preprocessed sweep video in the shape the evaluation runner reads (as a clip-cache entry)."""

    frames: np.ndarray
    timestamps: np.ndarray
    bvp: np.ndarray
    fps: float
    dataset: str
    subject: str
    key: str
    resampled: bool


def _clip(video, key: str, dataset: str) -> _Clip:
    """Face crops as the clip cache builds them: ground-truth first-frame box, resampled to 30 fps if needed."""
    from sspd.data.cache import PreprocessConfig, preprocess_recording

    rec = video.to_recording()
    crops, info = preprocess_recording(rec, PreprocessConfig(box_mode="gt-first"))
    t = info["timestamps"]
    fps = float((len(t) - 1) / (t[-1] - t[0])) if len(t) > 1 else float(rec.fps_nominal)
    return _Clip(frames=crops, timestamps=t, bvp=np.asarray(info["bvp"], np.float64), fps=fps, dataset=dataset,
                 subject=str(rec.subject), key=key, resampled=bool(info["resampling"]["applied"]))


# ----------------------------------------------------------------------------- methods


def resolve_methods(names: Sequence[str], checkpoint: str | Path | None = None,
                    official: str | Path | None = OFFICIAL_WEIGHTS,
                    device: str = "cpu") -> tuple[dict[str, Callable], dict[str, str]]:
    """Methods by name: classic ones (``sspd.evaluate.methods``), ``sspd`` (needs ``checkpoint``),
    ``sspd-official`` (the authors' weights at ``official``; skipped when the file is absent) and any
    :data:`PEER_METHODS`. Returns ({name: method}, {skipped name: reason})."""
    from sspd.evaluate.methods import get_method

    methods, skipped = {}, {}
    peers = {k.lower(): k for k in PEER_METHODS}
    for name in names:
        key = str(name).lower()
        key = peers.get(key, key)  # a peer keeps its registered spelling
        if key in methods or key in skipped:
            continue
        if key == "sspd":
            if checkpoint is None:
                raise ValueError("method 'sspd' needs a checkpoint (--checkpoint runs/<run>/model_best.pt)")
            methods[key] = get_method("sspd", checkpoint=str(checkpoint), device=device)
        elif key == OFFICIAL_NAME:
            if official is None or not Path(official).is_file():
                skipped[key] = f"the authors' weights are absent ({official})"
                continue
            methods[key] = get_method("sspd", checkpoint=str(official), device=device)
        elif key in PEER_METHODS:
            methods[key] = PEER_METHODS[key](device)
        else:
            methods[key] = get_method(key)  # ValueError listing the known methods
    return methods, skipped


# ----------------------------------------------------------------------------- running a sweep


def _video_rows(factor: Factor, level, index: int, subject: str, method: str, clip: _Clip | None, video_params,
                face_px: float, result=None, error: str | None = None) -> list[dict]:
    common = {"factor": factor.name, "level": level_label(level), "level_index": index,
              "level_value": _level_value(level), "subject": str(subject), "method": method,
              "realised": None if video_params is None else level_label(factor.realised(video_params)),
              "face_px": face_px, "fps": None if clip is None else clip.fps,
              "n_frames": None if clip is None else len(clip.frames),
              "resampled": None if clip is None else clip.resampled}
    if error is not None:
        return [{**common, "unit": "video", "status": "failed", "message": error}]
    video, windows = result
    rows = [{**common, "unit": "video", **{k: video[k] for k in ("hr_pred", "hr_gt", "error", "abs_error", "snr_db",
                                                                   "waveform_r", "window_mae", "status", "message",
                                                                   "runtime_s")}}]
    for w in windows:
        rows.append({**common, "unit": "window", "window": w["window"], "t_start": w["t_start"], "t_end": w["t_end"],
                     **{k: w[k] for k in ("hr_pred", "hr_gt", "error", "abs_error", "snr_db", "waveform_r")},
                     "status": "ok" if np.isfinite(w["error"]) else "nan", "message": ""})
    return rows


def run_sweep(factor: "str | Factor", levels: "str | Sequence | None" = None, methods=DEFAULT_METHODS,
              subjects: "int | Sequence[str]" = 6, duration_s: float = DEFAULT_DURATION_S, seed: int = 0,
              base: str = DEFAULT_BASE, out: str | Path | None = None, checkpoint: str | Path | None = None,
              official: str | Path | None = OFFICIAL_WEIGHTS, device: str = "cpu",
              progress: bool = True, merge: bool = False) -> pd.DataFrame:
    """Render ``subjects`` at every level of ``factor``, score ``methods`` under the windowed protocol.

    levels:   None / "full" (the registry's levels), "quick" (the small sweep's) or a list (text or values).
    subjects: N (subject ids 1..N) or a list of ids; the same ids at every level.
    out:      folder for ``<factor>.csv`` and ``<factor>.json`` (None: nothing written).
    merge:    add ``methods`` to the sweep already in ``out`` instead of replacing it: its rows of other methods
              are kept (their rows come first) and the JSON records the earlier run. The earlier sweep must have
              the same levels, subjects, clip length, seed and base preset (fingerprint), else ValueError; the
              videos are rendered again, from the same seeds.
    Returns the tidy rows (:data:`COLUMNS`); ``.attrs`` holds the run's description (``meta``), as written to
    the JSON file. A failure to render or score one video is recorded in its rows and the sweep goes on.
    """
    from tqdm import tqdm

    from sspd.evaluate.protocol import get_protocol
    from sspd.evaluate.runner import evaluate_recording
    from sspd.io import atomic_path, atomic_write_json, manifest

    f = get_factor(factor)
    level_list = f.level_list(levels)
    ids = [str(i) for i in range(1, int(subjects) + 1)] if isinstance(subjects, (int, np.integer)) \
        else [str(s) for s in subjects]
    if not ids:
        raise ValueError("no subjects to sweep")
    if duration_s < MIN_DURATION_S:
        raise ValueError(f"duration_s must be at least {MIN_DURATION_S:g} s for the {SWEEP_PROTOCOL} protocol's "
                         f"10-s windows (frame drops shorten clips), got {duration_s}")
    n_subjects = max(int(i) for i in ids if i.isdigit()) if any(i.isdigit() for i in ids) else None
    base_preset = sweep_base(base, n_subjects)
    protocol = get_protocol(SWEEP_PROTOCOL)
    method_fns, skipped = resolve_methods(methods, checkpoint, official, device)
    if not method_fns:
        raise ValueError(f"no method to run (skipped: {skipped})")
    earlier = _earlier_sweep(out, f, level_list, ids, duration_s, seed, base_preset) if merge else None

    rows, render_s, eval_s, n_videos, n_evals = [], 0.0, 0.0, 0, 0
    jobs = [(i, lv, sid) for i, lv in enumerate(level_list) for sid in ids]
    for index, level, sid in tqdm(jobs, desc=f"sweep {f.name}", unit="video", disable=not progress):
        t0 = time.perf_counter()
        try:
            video = render_level(f, level, sid, base=base_preset, seed=seed, duration_s=duration_s)
            clip = _clip(video, key=f"{f.name}={level_label(level)}/{sid}", dataset=f"sweep-{f.name}")
            face_px = float(np.diff(video.ground_truth["face_boxes_tight_camera"][0][:2])[0])
        except Exception as err:  # noqa: BLE001 — one bad render must not end the sweep
            message = f"render: {type(err).__name__}: {err}"
            for name in method_fns:
                rows += _video_rows(f, level, index, sid, name, None, None, float("nan"), error=message)
            continue
        finally:
            render_s += time.perf_counter() - t0
        n_videos += 1
        for name, method in method_fns.items():
            t1 = time.perf_counter()
            try:
                result = evaluate_recording(method, clip, protocol)
                rows += _video_rows(f, level, index, sid, name, clip, video.params, face_px, result)
            except Exception as err:  # noqa: BLE001 — recorded, never dropped
                rows += _video_rows(f, level, index, sid, name, clip, video.params, face_px,
                                    error=f"{type(err).__name__}: {err}")
            eval_s += time.perf_counter() - t1
            n_evals += 1

    df = pd.DataFrame(rows).reindex(columns=COLUMNS)
    if earlier is not None:
        kept = earlier["rows"][~earlier["rows"]["method"].isin(list(method_fns))]
        df = pd.concat([kept, df], ignore_index=True).reindex(columns=COLUMNS)
    timings = {"n_videos": n_videos, "n_evaluations": n_evals, "render_s": render_s, "eval_s": eval_s,
               "videos_per_min_render": 60.0 * n_videos / render_s if render_s > 0 else None,
               "videos_per_min_eval": 60.0 * n_evals / eval_s if eval_s > 0 else None}
    all_methods = list(dict.fromkeys(([m for m in earlier["meta"]["config"]["methods"]] if earlier else [])
                                     + list(method_fns)))
    config = {"factor": f.name, "levels": [level_label(v) for v in level_list], "methods": all_methods,
              "skipped_methods": skipped, "subjects": ids, "duration_s": float(duration_s), "seed": int(seed),
              "base": base_preset.name, "base_fingerprint": base_preset.fingerprint(),
              "base_n_subjects": base_preset.n_subjects, "protocol": protocol.name,
              "checkpoint": str(checkpoint) if checkpoint is not None
              else (earlier["meta"]["config"].get("checkpoint") if earlier else None)}
    meta = {"config": config, "factor": {"name": f.name, "knobs": list(f.knobs), "unit": f.unit,
                                         "output": f.output, "description": f.description,
                                         "streams": f.streams},
            "protocol": protocol.to_dict(), "timings": timings,
            "note": "All numbers are computed on synthetic data; they are not results on real datasets.",
            "manifest": manifest(config, seed)}
    if earlier is not None:
        before = earlier["meta"]
        meta["merged"] = {"methods_added": list(method_fns), "earlier": {
            "methods": before["config"]["methods"], "timings": before.get("timings"),
            "manifest": before.get("manifest"), "merged": before.get("merged")}}
    df.attrs["meta"] = meta
    if out is not None:
        out = Path(out)
        with atomic_path(out / f"{f.name}.csv") as tmp:
            df.to_csv(tmp, index=False)
        atomic_write_json(out / f"{f.name}.json", meta)
    return df


def _earlier_sweep(out, factor: Factor, level_list, ids, duration_s, seed, base_preset) -> dict:
    """The sweep of ``factor`` already in ``out`` ({"rows", "meta"}), checked to be the same design."""
    import json

    if out is None:
        raise ValueError("merge needs the folder of the earlier sweep (out)")
    csv, js = Path(out) / f"{factor.name}.csv", Path(out) / f"{factor.name}.json"
    if not (csv.is_file() and js.is_file()):
        raise ValueError(f"merge: no earlier sweep of {factor.name} in {out} ({csv.name} and {js.name})")
    meta = json.loads(js.read_text())
    cfg = meta["config"]
    wanted = {"levels": [level_label(v) for v in level_list], "subjects": list(ids), "duration_s": float(duration_s),
              "seed": int(seed), "base_fingerprint": base_preset.fingerprint()}
    differ = [k for k, v in wanted.items() if cfg.get(k) != v]
    if differ:
        raise ValueError(f"merge: {js} was run with other {', '.join(differ)} "
                         f"({', '.join(f'{k}={cfg.get(k)!r}' for k in differ)}); run the same design or a new --out")
    return {"rows": load_sweeps(out, [factor.name]), "meta": meta}


# ----------------------------------------------------------------------------- reading and summarising


def load_sweeps(folder: str | Path, factors: Iterable[str] | None = None) -> pd.DataFrame:
    """Every ``<factor>.csv`` of a sweep folder as one table (empty, with :data:`COLUMNS`, if none)."""
    folder = Path(folder)
    names = list(factors) if factors is not None else sorted(p.stem for p in folder.glob("*.csv"))
    frames = [pd.read_csv(folder / f"{n}.csv", dtype={"subject": str, "level": str, "realised": str,
                                                      "message": str}, keep_default_na=True)
              for n in names if (folder / f"{n}.csv").is_file()]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    df["message"] = df["message"].fillna("")
    return df


def load_sweep_meta(folder: str | Path) -> dict[str, dict]:
    """{factor: the JSON written beside its CSV} for a sweep folder."""
    import json

    return {p.stem: json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))}


def _scored(df: pd.DataFrame, unit: str) -> pd.DataFrame:
    d = df[df["unit"] == unit]
    ok = np.isfinite(d["hr_pred"].to_numpy(float)) & np.isfinite(d["hr_gt"].to_numpy(float))
    return d[ok]


def _level_order(df: pd.DataFrame) -> list[str]:
    return list(df.sort_values("level_index").drop_duplicates("level")["level"])


def curve_table(df: pd.DataFrame, unit: str = "window", n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """MAE (bpm) per factor, level and method with a 95 % bootstrap CI that resamples **subjects**.

    df: tidy sweep rows; unit: "window" (the windowed protocol's unit) or "video".
    Returns factor, level, level_index, method, n, n_subjects, n_unscored (NaN or failed units), MAE, MAE_lo,
    MAE_hi, SNR (mean dB) and waveform_r (mean), ordered as the sweep.
    """
    from sspd.evaluate import metrics

    rows = []
    keys = ["factor", "level_index", "level", "method"]
    for (factor, index, level, method), g in df[df["unit"].isin([unit, "video"])].groupby(keys, sort=False):
        units = g[g["unit"] == unit]
        scored = _scored(g, unit)
        # a failed video has no window rows: count it once whichever the unit
        failed = int(((g["unit"] == "video") & (g["status"] == "failed")).sum()) if unit != "video" else 0
        row = {"factor": factor, "level": level, "level_index": int(index), "method": method, "n": len(scored),
               "n_subjects": int(scored["subject"].nunique()), "n_unscored": len(units) - len(scored) + failed,
               "MAE": np.nan, "MAE_lo": np.nan, "MAE_hi": np.nan, "SNR": np.nan, "waveform_r": np.nan}
        if len(scored):
            p, t = scored["hr_pred"].to_numpy(float), scored["hr_gt"].to_numpy(float)
            row["MAE"] = metrics.mae(p, t)
            row["MAE_lo"], row["MAE_hi"] = metrics.bootstrap_ci(metrics.mae, p, t,
                                                                groups=scored["subject"].astype(str).to_numpy(),
                                                                n_boot=n_boot, seed=seed)
            row["SNR"] = float(np.nanmean(scored["snr_db"])) if scored["snr_db"].notna().any() else np.nan
            row["waveform_r"] = (float(np.nanmean(scored["waveform_r"])) if scored["waveform_r"].notna().any()
                                 else np.nan)
        rows.append(row)
    cols = ["factor", "level", "level_index", "method", "n", "n_subjects", "n_unscored", "MAE", "MAE_lo",
            "MAE_hi", "SNR", "waveform_r"]
    out = pd.DataFrame(rows, columns=cols)
    factor_rank = {f: i for i, f in enumerate(dict.fromkeys(df["factor"]))}
    method_rank = {m: i for i, m in enumerate(dict.fromkeys(df["method"]))}
    order = np.lexsort((out["method"].map(method_rank), out["level_index"], out["factor"].map(factor_rank)))
    return out.iloc[order].reset_index(drop=True)


def worst_to_best(df: pd.DataFrame, factor: str = "skin_tone", unit: str = "window", n_boot: int = 1000,
                  seed: int = 0) -> pd.DataFrame:
    """Per method: the worst and best level of ``factor`` by MAE, and the ratio of their MAEs with a 95 % CI.

    The two levels are picked on the whole sample and then held fixed; the interval comes from a paired
    bootstrap over subjects (every level renders the same subjects, so one resample of subjects serves all
    levels). Re-picking the extremes in every resample would make the ratio >= 1 by construction, so its
    interval could never include 1; holding them fixed lets it, but does not account for the choice itself,
    so an interval that only just excludes 1 is weak evidence. Resamples in which either level has no unit
    or the best level a zero MAE are left out. Because a few subjects can carry a whole group's error, the
    subjects are also counted one by one: ``n_higher`` / ``n_equal`` / ``n_lower`` subjects whose own MAE in
    the worst level is higher than / equal to (within 1e-9 bpm) / lower than in the best level.
    Returns method, worst, best, MAE_worst, MAE_best, ratio, ratio_lo, ratio_hi, n_subjects, n_higher,
    n_equal, n_lower."""
    d = _scored(df[df["factor"] == factor], unit)
    if d.empty:
        raise ValueError(f"no scored {unit}s of factor {factor!r}")
    levels = _level_order(d)
    rows = []
    for method, g in d.groupby("method", sort=False):
        a = g.assign(abs_err=np.abs(g["hr_pred"].to_numpy(float) - g["hr_gt"].to_numpy(float)))
        table = a.pivot_table(index="subject", columns="level", values="abs_err", aggfunc=["sum", "count"],
                              fill_value=0)
        S = table["sum"].reindex(columns=levels, fill_value=0).to_numpy(float)    # (subjects, levels)
        C = table["count"].reindex(columns=levels, fill_value=0).to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            mae = S.sum(0) / C.sum(0)
            worst, best = int(np.nanargmax(mae)), int(np.nanargmin(mae))
            draws = np.random.default_rng(seed).integers(0, len(S), size=(n_boot, len(S)))
            s_b, c_b = S[draws].sum(1), C[draws].sum(1)                       # (n_boot, levels)
            ratio_b = (s_b[:, worst] / c_b[:, worst]) / (s_b[:, best] / c_b[:, best])
            own = S[:, [worst, best]] / C[:, [worst, best]]                    # each subject's two MAEs
        ratio_b = ratio_b[np.isfinite(ratio_b)]
        ratio = mae[worst] / mae[best] if mae[best] > 0 else float("inf")
        both = np.all(np.isfinite(own), 1)
        equal = both & np.isclose(own[:, 0], own[:, 1], rtol=0.0, atol=1e-9)
        lo, hi = np.quantile(ratio_b, [0.025, 0.975]) if len(ratio_b) else (np.nan, np.nan)
        rows.append({"method": method, "worst": levels[worst], "best": levels[best], "MAE_worst": mae[worst],
                     "MAE_best": mae[best], "ratio": ratio, "ratio_lo": float(lo), "ratio_hi": float(hi),
                     "n_subjects": len(S), "n_higher": int((both & ~equal & (own[:, 0] > own[:, 1])).sum()),
                     "n_equal": int(equal.sum()), "n_lower": int((both & ~equal & (own[:, 0] < own[:, 1])).sum())})
    return pd.DataFrame(rows)


def fairness_table(df: pd.DataFrame, factor: str = "skin_tone", unit: str = "window", n_boot: int = 1000,
                   seed: int = 0, digits: int = 2) -> pd.DataFrame:
    """MAE [95 % CI] (bpm) per method (rows) and group of ``factor`` (columns, in sweep order), and the
    worst-to-best MAE ratio [95 % CI] (:func:`worst_to_best`); CIs resample subjects."""
    from sspd.evaluate.tables import ci_pivot, with_ci

    curves = curve_table(df[df["factor"] == factor], unit, n_boot, seed)
    if curves.empty:
        raise ValueError(f"no rows of factor {factor!r}")
    wide = ci_pivot(curves, "MAE", index=["method"], columns="level", order=_level_order(curves), digits=digits)
    ratio = worst_to_best(df, factor, unit, n_boot, seed).set_index("method")
    wide["worst / best"] = with_ci(ratio, "ratio", digits).reindex(wide.index)
    wide.columns.name = None
    return wide


def breaking_points(curves: pd.DataFrame) -> pd.DataFrame:
    """Per factor and method: the reference (first) level's MAE, the harshest (last) level's MAE, and the first
    level whose whole CI lies above the reference's CI ("none" when no level is clearly worse)."""
    rows = []
    for (factor, method), g in curves.groupby(["factor", "method"], sort=False):
        g = g.sort_values("level_index")
        ref, last = g.iloc[0], g.iloc[-1]
        worse = g[g["MAE_lo"] > ref["MAE_hi"]]
        rows.append({"factor": factor, "method": method, "reference": ref["level"], "MAE_reference": ref["MAE"],
                     "harshest": last["level"], "MAE_harshest": last["MAE"],
                     "first_clearly_worse": worse.iloc[0]["level"] if len(worse) else "none"})
    return pd.DataFrame(rows)


def error_kinds(df: pd.DataFrame, by: Sequence[str] = ("method",), unit: str = "window", within_bpm: float = 5.0,
                harmonic_tol: float = 0.1) -> pd.DataFrame:
    """How the scored units of a sweep miss: the share (0-1) per group ``by`` whose predicted HR is within
    ``within_bpm`` of the truth, near twice it (ratio within 2 ± 2·``harmonic_tol``: the second harmonic),
    near half of it (0.5 ± 0.5·``harmonic_tol``: a subharmonic), or elsewhere; ``n`` counts the units."""
    d = _scored(df, unit)
    pred, true = d["hr_pred"].to_numpy(float), d["hr_gt"].to_numpy(float)
    ratio = pred / true
    kind = np.select([np.abs(pred - true) <= within_bpm, np.abs(ratio - 2.0) <= 2.0 * harmonic_tol,
                      np.abs(ratio - 0.5) <= 0.5 * harmonic_tol], ["within", "double", "half"], "other")
    shares = pd.crosstab([d[c] for c in by], kind, normalize="index")
    shares = shares.reindex(columns=["within", "double", "half", "other"], fill_value=0.0)
    shares["n"] = d.groupby(list(by)).size()
    shares.columns.name = None
    return shares


def compare_with_committed(live: pd.DataFrame, committed: pd.DataFrame, atol: float = 1e-6) -> pd.DataFrame:
    """Match live rows with committed ones (factor, level, subject, method, unit, window) and compare the
    errors (bpm). Returns the matched rows with ``error (live)``, ``error (committed)`` and ``same`` (equal to
    ``atol``, or both NaN). Only rows present in both are compared."""
    keys = ["factor", "level", "subject", "method", "unit", "window"]

    def prep(d):
        d = d.copy()
        d["window"] = d["window"].fillna(-1).astype(int)
        d["subject"], d["level"] = d["subject"].astype(str), d["level"].astype(str)
        return d[keys + ["error"]]

    m = prep(live).merge(prep(committed), on=keys, suffixes=(" (live)", " (committed)"))
    a, b = m["error (live)"].to_numpy(float), m["error (committed)"].to_numpy(float)
    m["same"] = np.isclose(a, b, rtol=0.0, atol=atol) | (np.isnan(a) & np.isnan(b))
    return m


# ----------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sspd.data.synthetic.presets import PRESETS

    parser.add_argument("--factor", nargs="+", required=True, metavar="NAME",
                        help=f"one or more of: {', '.join(FACTORS)}; or 'all'")
    parser.add_argument("--levels", nargs="+", default=None,
                        help="levels of a single factor (text, e.g. 1.0 0.25 or raw 70 30), or 'quick' / 'full' "
                             "(default full: the registry's levels)")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                        help="classic methods (pos chrom green ...), 'sspd' (with --checkpoint), "
                             f"'{OFFICIAL_NAME}' (the authors' weights, skipped when absent), "
                             "open-rppg peers (orppg:PhysNet.pure ...; see python -m sspd evaluate --help)")
    parser.add_argument("--subjects", type=int, default=6, help="subjects 1..N at every level (default 6)")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S,
                        help=f"clip length in s (>= 11; default {DEFAULT_DURATION_S:g})")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--base", default=DEFAULT_BASE, choices=sorted(PRESETS), metavar="PRESET",
                        help="base preset whose knobs every level keeps but one (default still)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="weights for --methods sspd")
    parser.add_argument("--official", type=Path, default=OFFICIAL_WEIGHTS,
                        help=f"the authors' weights for {OFFICIAL_NAME} (default ../shared/reference)")
    parser.add_argument("--device", default="cpu", help="torch device for model methods (default cpu)")
    parser.add_argument("--out", type=Path, default=None, help="result folder (default data/results/sweeps)")
    parser.add_argument("--merge", action="store_true",
                        help="add --methods to the sweep already in --out (same levels, subjects, clip length, "
                             "seed and base), keeping its other methods' rows")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import sys

    from sspd.paths import results_dir

    names = list(FACTORS) if args.factor == ["all"] else args.factor
    levels = args.levels
    if levels is not None and len(levels) == 1 and levels[0] in ("quick", "full"):
        levels = levels[0]
    try:  # every argument checked before any work
        if levels is not None and not isinstance(levels, str) and len(names) > 1:
            raise ValueError("--levels applies to a single --factor (or give 'quick' / 'full')")
        for name in names:
            get_factor(name).level_list(levels)
        if args.duration < MIN_DURATION_S:
            raise ValueError(f"--duration must be at least {MIN_DURATION_S:g} s, got {args.duration:g}")
        resolve_methods(args.methods, args.checkpoint, args.official, args.device)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or results_dir() / "sweeps"
    for name in names:
        df = run_sweep(name, levels, args.methods, args.subjects, args.duration, args.seed, args.base, out,
                       args.checkpoint, args.official, args.device, progress=not args.no_progress,
                       merge=args.merge)
        meta = df.attrs["meta"]
        for method, reason in meta["config"]["skipped_methods"].items():
            print(f"skipped {method}: {reason}")
        curves = curve_table(df, n_boot=200)
        with pd.option_context("display.width", 140):
            print(curves[["factor", "level", "method", "n", "MAE", "MAE_lo", "MAE_hi", "SNR"]].round(2)
                  .to_string(index=False))
        t = meta["timings"]
        print(f"{name}: {t['n_videos']} videos rendered in {t['render_s']:.1f} s, {t['n_evaluations']} evaluations "
              f"in {t['eval_s']:.1f} s; results in {out / (name + '.csv')}\n")
    return 0
