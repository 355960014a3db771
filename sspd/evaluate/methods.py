"""What can be evaluated: anything that maps a face clip to a pulse signal.

A method is a callable ``method(frames_bgr, fs) -> pulse`` with ``frames_bgr`` a uint8 array
(N, 151, 151, 3) in BGR order and ``fs`` the frame rate in Hz. The pulse has length N (one value
per frame) or N − 1, meaning it is aligned to ``frames[1:]`` (frame-difference models such as
SSPD). Implementations live elsewhere and are imported only when asked for; the pretrained peers
(``orppg:<model>``, :mod:`sspd.evaluate.peers`) are listed without importing JAX.
"""
from __future__ import annotations

from typing import Callable, Protocol as _TypingProtocol, runtime_checkable

import numpy as np

from sspd.evaluate.peers import PEER_NAMES, is_peer_name

__all__ = ["Method", "CLASSIC_NAMES", "MODEL_NAMES", "PEER_NAMES", "METHOD_NAMES", "get_method"]

CLASSIC_NAMES = ("green", "ica", "chrom", "pos", "lgi", "pbv", "omit")  # sspd.baselines
MODEL_NAMES = ("sspd", "sspd-untrained")                                 # sspd.inference
# PEER_NAMES: "orppg:PhysNet.pure", ... (sspd.evaluate.peers; empty when open-rppg is not installed)
METHOD_NAMES = CLASSIC_NAMES + MODEL_NAMES + PEER_NAMES


@runtime_checkable
class Method(_TypingProtocol):
    def __call__(self, frames_bgr: np.ndarray, fs: float) -> np.ndarray:
        """(N, H, W, 3) uint8 BGR frames, fs in Hz → (N,) or (N−1,) pulse."""


def get_method(name: str | Callable, **kwargs) -> Callable:
    """The method called ``name`` (case-insensitive).

    Classic methods ("green", "ica", "chrom", "pos", "lgi", "pbv", "omit") come from
    ``sspd.baselines.CLASSIC_METHODS``; "sspd" (``checkpoint=``, ``device=``) and "sspd-untrained"
    (random weights) from ``sspd.inference.SSPDMethod``; "orppg:<model>" (``device=``, e.g.
    "orppg:PhysNet.pure") from ``sspd.evaluate.peers.OpenRPPGMethod``, which loads its weights on
    the first call. A callable is returned unchanged.
    """
    if callable(name):
        return name
    if is_peer_name(name):
        if set(kwargs) - {"device"}:
            raise ValueError(f"peer method {name!r} takes only device=, got {sorted(kwargs)}")
        from sspd.evaluate.peers import OpenRPPGMethod

        return OpenRPPGMethod(name, **kwargs)  # ValueError listing the available peers
    key = str(name).lower()
    if key in CLASSIC_NAMES:
        if kwargs:
            raise ValueError(f"classic method {key!r} takes no options, got {sorted(kwargs)}")
        from sspd.baselines import CLASSIC_METHODS

        return CLASSIC_METHODS[key]
    if key in MODEL_NAMES:
        from sspd.inference import SSPDMethod

        if key == "sspd-untrained":
            if kwargs.get("checkpoint") is not None:
                raise ValueError("'sspd-untrained' uses random weights; do not pass a checkpoint")
            kwargs["checkpoint"] = None
        return SSPDMethod(**kwargs)
    raise ValueError(f"unknown method {name!r}; available: {', '.join(METHOD_NAMES)}")
