"""Physically grounded synthetic face videos with known ground truth (book/synthetic_design.md).

Every number produced on these videos is *synthetic* and is never compared in absolute
terms with published results on real datasets.

    >>> from sspd.data.synthetic import render_video
    >>> video = render_video("still", subject=1, seed=0, duration_s=2)   # (60, 151, 151, 3) uint8 BGR
"""
from .generator import GENERATOR_VERSION, SyntheticVideo, render_video
from .presets import DATASET_SIZES, PRESETS, TASKS, Preset, get_preset
from .storage import (discover, export_pure, export_ubfc2, generate_dataset, read_synthetic, write_video)

__all__ = ["GENERATOR_VERSION", "DATASET_SIZES", "PRESETS", "TASKS", "Preset", "SyntheticVideo", "discover", "export_pure",
           "export_ubfc2", "generate_dataset", "get_preset", "read_synthetic", "render_video",
           "write_video"]
