"""Loading the authors' released SSPD weights (book/method_reference.md §10).

The authors publish ``pretrained/ubfc.pth`` (github.com/LinXi1C/SSPD): a plain
PyTorch state_dict of the inference model, 67 entries, 786,079 parameters,
trained on UBFC-rPPG, expecting **BGR** raw-scale frame differences
(B,3,T,128,128). This package does not ship it; download it yourself and pass
its path to :func:`load_official_checkpoint`.

Key mapping: our module names were chosen so that the released keys load
unchanged (the mapping is the identity). Two harmless variants are accepted:
a ``module.`` prefix (weights saved from ``nn.DataParallel``) is stripped, and
keys listed in ``_KEY_MAP`` (empty today) are renamed, should a future release
rename modules. Anything else missing, unexpected or of the wrong shape is a
:class:`~sspd.errors.DataError` naming the file: unlike the authors' test
script, loading is strict (quirk §13.14).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from sspd.errors import DataError
from sspd.model.network import SSPD, inference_state_dict

__all__ = ["load_official_checkpoint", "load_inference_state", "bgr_to_rgb_state_dict"]

# Old name -> our name. Empty: the released checkpoint already uses our names.
_KEY_MAP: dict[str, str] = {}

# Entries whose axis indexes the input colour channels (axis, key).
_COLOUR_AXES: dict[str, int] = {
    "BN.weight": 0,
    "BN.bias": 0,
    "BN.running_mean": 0,
    "BN.running_var": 0,
    "backbone_step1.Conv_Layer1.weight": 1,  # (8, 3, 3, 5, 5): out, in, t, h, w
}


def bgr_to_rgb_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Reverse the colour axis of the entries that touch the input channels.

    A model loaded with the result gives on RGB input exactly what the original
    gives on BGR input (the permutation is its own inverse, so it also maps RGB
    weights to BGR ones).
    """
    out = dict(state)
    for key, axis in _COLOUR_AXES.items():
        if key in out:
            out[key] = out[key].flip(axis)
    return out


def _rename(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        if key.startswith("module."):
            key = key[len("module."):]
        out[_KEY_MAP.get(key, key)] = value
    return out


def load_official_checkpoint(path: str | Path, model: SSPD | None = None,
                             colour: str = "bgr") -> SSPD:
    """Load the authors' released inference weights into an SSPD model, strictly.

    path:   the .pth file (a plain state_dict; loaded with ``weights_only=True``).
    model:  an existing :class:`SSPD` to fill (its S3M, if any, keeps its own
            weights: the released file has none); default a new ``SSPD(s3m=False)``.
    colour: "bgr" (as released) or "rgb": permute the input-channel axes so the
            model takes RGB frame differences instead.
    Returns the model in eval mode (BatchNorm running statistics), on CPU unless
    ``model`` lives elsewhere. Raises DataError naming the file on a missing or
    unreadable file, a non-state-dict payload, and missing, unexpected or
    mis-shaped entries.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "checkpoint file does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle with code objects, ...
        raise DataError(path, f"cannot read as a PyTorch state_dict ({type(exc).__name__}: {exc})") from exc
    return load_inference_state(state, model, colour, source=path)


def load_inference_state(state: Mapping, model: SSPD | None = None, colour: str = "bgr",
                         source: str | Path | None = None) -> SSPD:
    """Load an inference state_dict (the released layout) into an SSPD model, strictly.

    Same checks and colour handling as :func:`load_official_checkpoint`, for a state already in
    memory (e.g. one network of a training checkpoint). ``source`` names it in errors.
    """
    if colour not in ("bgr", "rgb"):
        raise ValueError(f"colour must be 'bgr' or 'rgb', got {colour!r}")
    where = Path(source) if source is not None else None
    if not isinstance(state, Mapping) or not all(torch.is_tensor(v) for v in state.values()):
        raise DataError(where, "not a plain state_dict (a mapping of names to tensors)")
    state = _rename(state)

    model = SSPD(s3m=False) if model is None else model
    expected = inference_state_dict(model)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} entries: {', '.join(missing[:6])}"
                        + (" ..." if len(missing) > 6 else ""))
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} entries: {', '.join(unexpected[:6])}"
                        + (" ..." if len(unexpected) > 6 else ""))
    wrong = [f"{k} {tuple(state[k].shape)} (model {tuple(v.shape)})"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if wrong:
        problems.append("shape mismatch: " + "; ".join(wrong[:6]))
    if problems:
        raise DataError(where, "does not match the SSPD inference model: " + " | ".join(problems))

    if colour == "rgb":
        state = bgr_to_rgb_state_dict(state)
    # every inference key was checked above; only the S3M (if present) is left out
    result = model.load_state_dict(state, strict=model.s3m is None)
    assert not result.unexpected_keys and all(k.startswith("s3m.") for k in result.missing_keys)
    return model.eval()
