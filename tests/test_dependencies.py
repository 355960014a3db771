"""The installed environment: one OpenCV (4.x, with its Haar cascades), open-rppg without its OpenCV.

open-rppg declares ``opencv_python``; installed with its dependencies it would put OpenCV 5.x (no Haar
cascades) beside our opencv-python-headless 4.x, and face detection would break. It is therefore installed
with ``--no-deps`` from requirements-nodeps.txt, its real dependencies pinned in requirements.txt.
"""
from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest


def _installed() -> dict[str, str]:
    return {(d.metadata["Name"] or "").lower().replace("_", "-"): d.version for d in md.distributions()}


def test_exactly_one_opencv_and_it_is_4x():
    opencv = {name: v for name, v in _installed().items() if name.startswith("opencv")}
    assert len(opencv) == 1, f"expected one OpenCV distribution, found {opencv}"
    (name, version), = opencv.items()
    assert version.startswith("4."), f"{name} {version}: OpenCV 5.x ships no Haar cascades"


def test_haar_cascade_present_and_loads():
    import cv2

    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    assert path.is_file(), f"no {path.name} in {cv2.data.haarcascades}"
    assert not cv2.CascadeClassifier(str(path)).empty()


def test_open_rppg_installed_without_its_opencv_requirement():
    assert md.version("open-rppg") == "0.1.1"
    declared = [r.split(";")[0].strip() for r in (md.requires("open-rppg") or [])]
    assert any(r.lower().replace("_", "-").startswith("opencv-python") for r in declared), declared
    with pytest.raises(md.PackageNotFoundError):
        md.version("opencv_python")  # declared by open-rppg, deliberately not installed
    import rppg  # noqa: F401  (imports JAX and Keras; a few seconds)

    assert "PhysNet.pure" in rppg.supported_models


def test_torch_pin_unchanged():
    import torch

    assert md.version("torch").split("+")[0] == "2.13.0"
    assert torch.__version__.split("+")[0] == "2.13.0"
