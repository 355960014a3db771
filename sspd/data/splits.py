"""One path from a dataset name and a split to cache entries, used by every caller.

Training, evaluation, calibration and the chapters all call :func:`dataset_entries`; nothing else
maps a (dataset, split) pair to recordings, so a split file is either applied everywhere or
nowhere.

Split files live in ``data/splits/<name>.json``::

    {"train": [...], "test": [...], "val": [...]?, "note": "..."}

``train`` and ``test`` are subject-exclusive. ``val`` is optional; when it is absent the
validation fold is carved from ``train`` by :func:`validation_subjects` (every k-th training
subject, deterministic). Split names understood everywhere:

=========  ==================================================================================
``train``  every training subject (validation fold included)
``fit``    the training subjects the network is fitted on: ``train`` minus ``val``
``val``    the validation fold (a subset of ``train``): every choice is made here
``test``   the held-out subjects, read once for the final numbers
``all``    every recording, no split file needed
=========  ==================================================================================

A dataset is named either by a synthetic preset (``still``, ``easy-full`` ...; its videos are in
``data/synthetic/<name>``, its cache in ``data/cache/<name>``) or by a clip-cache folder. For a
folder, the split file is ``data/splits/<folder name>.json`` (or ``split_file=``); when there is
none, a split other than ``all`` is an error that says so.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sspd.errors import DataError
from sspd.paths import cache_dir, splits_dir, synthetic_dir

__all__ = ["SPLITS", "VAL_FRACTION", "load_split", "validation_subjects", "split_subjects",
           "dataset_entries", "DatasetRef", "resolve_dataset"]

SPLITS = ("train", "fit", "val", "test", "all")
VAL_FRACTION = 0.2   # share of the training subjects held out for validation when a file has no "val"


def load_split(name: str, folder: str | Path | None = None) -> dict:
    """The split file ``<folder or data/splits>/<name>.json``, checked.

    Returns the parsed dict with ``train`` and ``test`` lists of subject ids (strings) and, when
    present, ``val`` (a subset of ``train``). Raises DataError naming the file on any problem.
    """
    path = (splits_dir() if folder is None else Path(folder)) / f"{name}.json"
    try:
        split = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(path, "split file missing") from None
    except json.JSONDecodeError as err:
        raise DataError(path, f"split file is not valid JSON ({err})") from None
    for k in ("train", "test"):
        if not isinstance(split.get(k), list):
            raise DataError(path, f"split has no list {k!r}")
        split[k] = [str(s) for s in split[k]]
    if set(split["train"]) & set(split["test"]):
        raise DataError(path, "train and test share subjects")
    if "val" in split:
        if not isinstance(split["val"], list):
            raise DataError(path, "'val' must be a list of subject ids")
        split["val"] = [str(s) for s in split["val"]]
        outside = set(split["val"]) - set(split["train"])
        if outside:
            raise DataError(path, f"validation subjects {sorted(outside)} are not training subjects")
    split["path"] = str(path)
    return split


def validation_subjects(train: list[str], fraction: float = VAL_FRACTION) -> list[str]:
    """A deterministic validation fold: every k-th of the training subjects, k = round(1 / fraction).

    Spreading the fold over the list (rather than taking its tail) keeps it representative when
    subject ids were assigned in some order (recording date, heart-rate strata). Empty for 0.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    if fraction == 0.0 or len(train) < 2:
        return []
    step = max(2, round(1.0 / fraction))
    return [s for i, s in enumerate(train) if i % step == step - 1]


def split_subjects(split_file: dict, split: str, val_fraction: float = VAL_FRACTION) -> list[str]:
    """Subject ids of ``split`` (one of SPLITS except "all") from a loaded split file."""
    if split not in SPLITS or split == "all":
        raise ValueError(f"split must be one of {SPLITS[:-1]} here, got {split!r}")
    if split in ("train", "test"):
        return list(split_file[split])
    val = split_file.get("val")
    if val is None:
        val = validation_subjects(split_file["train"], val_fraction)
    if split == "val":
        return list(val)
    return [s for s in split_file["train"] if s not in set(val)]


@dataclass(frozen=True)
class DatasetRef:
    """Where a named dataset lives: its display name, raw synthetic folder (or None), cache folder."""

    name: str
    synthetic_root: Path | None
    cache: Path
    split_name: str


def resolve_dataset(dataset: str | Path) -> DatasetRef:
    """A synthetic preset name, or an existing clip-cache folder, as a :class:`DatasetRef`."""
    from sspd.data.synthetic.presets import PRESETS

    key = str(dataset)
    if key in PRESETS:
        return DatasetRef(key, synthetic_dir() / key, cache_dir() / key, key)
    folder = Path(dataset).expanduser()
    if folder.is_dir():
        return DatasetRef(folder.resolve().name, None, folder, folder.resolve().name)
    if (cache_dir() / key).is_dir():
        return DatasetRef(key, None, cache_dir() / key, key)
    raise DataError(folder, f"neither a synthetic preset ({', '.join(PRESETS)}) nor an existing "
                            f"clip-cache folder (build one with `python -m sspd preprocess`)")


def dataset_entries(dataset: str | Path, split: str = "test", *, split_file: str | Path | None = None,
                    val_fraction: float = VAL_FRACTION, generate: bool = False,
                    progress: bool = True) -> tuple[list, str]:
    """Cache entries of ``split`` of ``dataset``, and the dataset's display name.

    dataset:      synthetic preset name or clip-cache folder (see the module docstring).
    split:        one of SPLITS.
    split_file:   an explicit split file (path to a .json) instead of ``data/splits/<name>.json``.
    val_fraction: validation share of ``train`` when the split file has no ``val`` list.
    generate:     for a synthetic preset, render the requested subjects that are missing or
                  stale (otherwise missing videos are an error naming the folder).
    Synthetic presets are preprocessed into their cache on first use (valid entries are reused).
    """
    from sspd.data.cache import PreprocessConfig, build_cache, load_cache

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
    ref = resolve_dataset(dataset)
    subjects = None
    if split != "all":
        if split_file is not None:
            path = Path(split_file)
            splits = load_split(path.stem, path.parent)
        else:
            try:
                splits = load_split(ref.split_name)
            except DataError as err:
                raise DataError(err.path, f"no split file for dataset {ref.name!r}, so split "
                                f"{split!r} is undefined: add {err.path} (lists 'train' and 'test'), "
                                f"pass a split file, or use split 'all'") from None
        subjects = split_subjects(splits, split, val_fraction)
        if not subjects:
            raise DataError(Path(splits["path"]), f"split {split!r} holds no subjects")

    config = PreprocessConfig()
    if ref.synthetic_root is not None:
        if generate:
            from sspd.data.synthetic import generate_dataset, get_preset

            generate_dataset(get_preset(ref.name), ref.synthetic_root.parent, subjects=subjects,
                             progress=progress)
        if ref.synthetic_root.is_dir():
            entries = build_cache(ref.synthetic_root, "synthetic", ref.cache, config, subjects=subjects,
                                  progress=progress)
        elif ref.cache.is_dir():
            entries = load_cache(ref.cache, subjects=subjects, config=config)
        else:
            raise DataError(ref.synthetic_root, f"synthetic preset {ref.name!r} is not rendered yet: "
                            f"run `python -m sspd generate --preset {ref.name}`")
    else:
        entries = load_cache(ref.cache, subjects=subjects)
    if not entries:
        raise DataError(ref.cache, f"no cached recordings of split {split!r}")
    if subjects is not None:
        missing = sorted(set(subjects) - {str(e.subject) for e in entries}, key=_natural)
        if missing:
            raise DataError(ref.cache, f"split {split!r} lists subjects that are not cached: {missing}")
    return entries, ref.name


def _natural(s: str):
    return (0, int(s), "") if s.isdigit() else (1, 0, s)
