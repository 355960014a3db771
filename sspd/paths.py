"""Where the study keeps its data, caches and results.

Everything hangs off the project root (the folder holding ``pyproject.toml``),
or off ``$SSPD_ROOT`` when set, so notebooks executed from ``book/`` and
commands run from the top level find the same files.
"""
from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    env = os.environ.get("SSPD_ROOT")
    if env:
        return Path(env).resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / "pyproject.toml").is_file() and (folder / "sspd").is_dir():
                return folder
    return Path.cwd()


def data_dir() -> Path:
    return project_root() / "data"


def synthetic_dir() -> Path:
    """Generated synthetic datasets (git-ignored, rebuilt from seeds)."""
    return data_dir() / "synthetic"


def cache_dir() -> Path:
    """Preprocessed clip caches (git-ignored)."""
    return data_dir() / "cache"


def splits_dir() -> Path:
    return data_dir() / "splits"


def results_dir() -> Path:
    """Committed artefacts of study runs."""
    return data_dir() / "results"
