"""Whole datasets with one generator factor changed: a nuisance switched off, for training or scoring.

A stress-test sweep (:mod:`sspd.evaluate.sweep`) renders a few short clips per level; a *variant*
renders every subject of a preset, at the preset's own duration, with one factor of the sweep's
registry at one level (e.g. ``screen_light`` at 0). The variant keeps the preset's name, hence its
random streams: the same people, heart rates, motion and camera, only the factor's knob differs.

Layout under ``root`` (default ``data/variants/``, git-ignored)::

    <factor>=<level>/synthetic/<preset>/<subject>/   rendered videos
    <factor>=<level>/<preset>/                        clip cache (what training and evaluation read)

The cache folder carries the preset's name, so the preset's split file
(``data/splits/<preset>.json``) applies to it unchanged.
"""
from __future__ import annotations

from pathlib import Path

from sspd.evaluate.sweep import get_factor, level_label, level_preset

__all__ = ["VARIANTS_DIR", "variant_name", "variant_dataset"]

VARIANTS_DIR = Path("data/variants")


def variant_name(factor: str, level) -> str:
    """``<factor>=<level>``, the folder of a variant (the level in its canonical text)."""
    f = get_factor(factor)
    return f"{f.name}={level_label(f.check(level))}"


def variant_dataset(base: str, factor: str, level, root: str | Path = VARIANTS_DIR, subjects=None,
                    seed: int = 0, duration_s: float | None = None, progress: bool = True) -> Path:
    """Render preset ``base`` with ``factor`` at ``level`` and build its clip cache; returns the cache.

    base:       a synthetic preset name (e.g. ``still-full``).
    factor:     a factor of :data:`sspd.evaluate.sweep.FACTORS` rendered as face crops.
    subjects:   None (every subject of the preset), N (the first N) or ids.
    duration_s: clip length in s (None: the preset's).
    Re-running is cheap: complete videos and valid cache entries are reused.
    """
    from sspd.data.cache import PreprocessConfig, build_cache
    from sspd.data.synthetic import generate_dataset

    f = get_factor(factor)
    if f.output != "crop":
        raise ValueError(f"factor {f.name!r} is rendered as full camera frames (face detection on every "
                         f"frame); a whole-dataset variant supports face-crop factors only")
    preset = level_preset(f, f.check(level), base)
    folder = Path(root) / variant_name(f.name, level)
    generate_dataset(preset, folder / "synthetic", subjects=subjects, seed=seed, duration_s=duration_s,
                     progress=progress)
    build_cache(folder / "synthetic" / preset.name, "synthetic", folder / preset.name, PreprocessConfig(),
                progress=progress)
    return folder / preset.name
