"""Errors raised on bad input.

Every error names the offending file (or folder) and the problem, so a user with
a thousand-video dataset can find the one broken recording without a debugger.
"""
from __future__ import annotations

from pathlib import Path


class SSPDError(Exception):
    """Base class of all errors this package raises on purpose."""


class DataError(SSPDError, ValueError):
    """A file or folder holds data that cannot be used as it is.

    ``str(err)`` reads ``"<path>: <problem>"``; the parts stay available as
    ``err.path`` and ``err.problem`` for programs that collect failures.
    """

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class NoFaceError(DataError):
    """No face was found in a video."""


class ClipTooShortError(DataError):
    """A recording or signal is shorter than the window that was asked for."""
