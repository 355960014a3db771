"""One entry point over every dataset format.

``discover(root, fmt)`` lists the recordings of a dataset folder and
``read_recording(path, fmt)`` loads one, whatever the on-disk layout:

==========  ==========================================================
fmt         layout
==========  ==========================================================
ubfc        UBFC-rPPG DATASET_2: ``subjectN/vid.avi + ground_truth.txt``
ubfc1       UBFC-rPPG DATASET_1: ``N-gt/*.avi + gtdump.xmp``
pure        PURE: ``SS-TT/SS-TT/Image<ns>.png + SS-TT.json``
vipl        VIPL-HR V1: ``pN/vK/sourceS/video.avi + time.txt + wave.csv``
synthetic   this project's generator (``sspd.data.synthetic``)
==========  ==========================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sspd.data.pure import discover_pure, read_pure
from sspd.data.recording import Recording, RecordingRef
from sspd.data.ubfc import discover_ubfc1, discover_ubfc2, read_ubfc1, read_ubfc2
from sspd.data.vipl import discover_vipl, read_vipl
from sspd.errors import DataError


def _discover_synthetic(root: Path) -> list[RecordingRef]:
    from sspd.data import synthetic  # imported lazily: owned by another module, heavy deps

    return list(synthetic.discover(root))


def _read_synthetic(path: Path) -> Recording:
    from sspd.data import synthetic

    for name in ("read_synthetic", "read_recording", "read"):
        fn = getattr(synthetic, name, None)
        if callable(fn):
            return fn(path)
    # Fall back on discovery: a path naming exactly one synthetic recording.
    refs = [r for r in synthetic.discover(Path(path).parent) if Path(r.path) == Path(path)]
    if len(refs) != 1:
        raise DataError(path, "not a synthetic recording the generator's discover() knows")
    return refs[0].load()


@dataclass(frozen=True)
class Format:
    """A dataset layout: how to list its recordings and how to read one."""

    name: str
    discover: Callable[[Path], list[RecordingRef]]
    read: Callable[[Path], Recording]
    layout: str


FORMATS: dict[str, Format] = {
    "ubfc": Format("ubfc", discover_ubfc2, read_ubfc2, "subjectN/vid.avi + ground_truth.txt"),
    "ubfc1": Format("ubfc1", discover_ubfc1, read_ubfc1, "N-gt/<name>.avi + gtdump.xmp"),
    "pure": Format("pure", discover_pure, read_pure, "SS-TT/SS-TT/Image<ns>.png + SS-TT/SS-TT.json"),
    "vipl": Format("vipl", discover_vipl, read_vipl, "pN/vK/sourceS/video.avi + time.txt + wave.csv"),
    "synthetic": Format("synthetic", _discover_synthetic, _read_synthetic,
                        "the layout written by `python -m sspd generate`"),
}


def _format(fmt: str) -> Format:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown dataset format {fmt!r}; choose one of {sorted(FORMATS)}") from None


def discover(root: str | Path, fmt: str) -> list[RecordingRef]:
    """List the recordings of dataset folder ``root`` in format ``fmt`` (see :data:`FORMATS`).

    Raises :class:`DataError` naming ``root`` if it does not exist or holds no recording
    of that format (the message says which layout was expected).
    """
    f = _format(fmt)
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, f"dataset folder does not exist (expected format {fmt!r}: {f.layout})")
    refs = f.discover(root)
    if not refs:
        raise DataError(root, f"no recordings found for format {fmt!r} (expected {f.layout})")
    return refs


def read_recording(path: str | Path, fmt: str) -> Recording:
    """Read one recording folder ``path`` of format ``fmt`` into a :class:`Recording`."""
    return _format(fmt).read(Path(path))
