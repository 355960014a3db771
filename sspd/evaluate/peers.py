"""Pretrained peer methods: the open-rppg models (PURE- and RLAP-trained) beside SSPD.

`open-rppg <https://pypi.org/project/open-rppg/>`_ (MIT, JAX/Keras 3) ships supervised rPPG networks
with weights trained on real videos. :class:`OpenRPPGMethod` wraps one of them in this project's
method interface (:mod:`sspd.evaluate.methods`): 151x151 BGR uint8 face crops (N frames) at ``fs`` Hz
-> a pulse of N samples, one per input frame, which the evaluation runner scores with the same
protocol and heart-rate estimator as every other method (the package's own HR is not used).

Names are ``orppg:<model id>`` with the package's own ids (``orppg:PhysNet.pure``). They are read
from the package's registry (``rppg.main.supported_models``, parsed from the source so that listing
them does not import JAX) and kept only where the weights folder holds the weights file.
:data:`PEER_NAMES` lists them, :data:`UNAVAILABLE` maps any left out to the reason.

What one call does
------------------
1. BGR -> RGB (every model was trained on RGB).
2. Every crop is resized to the model's input size with ``cv2.INTER_AREA``, as the package's
   ``Model.update_face`` does.
3. All models run at 30 fps (``meta['fps']``). A clip at another rate is resampled onto the grid
   k / 30 s by linear blending of neighbouring frames, kept in float32 without rounding (the package
   would pick the nearest frame, which repeats frames; see TS-CAN below), and the pulse is
   interpolated back to the input frame times at the end. A 30-fps clip is passed as it is (uint8).
4. The frames go through the package's jitted per-model function (``Model.call``) in consecutive
   chunks of the model's length T (``meta['input'][0]``), as the package's inference thread does,
   but in the calling thread, deterministically and from the model's initial state for every clip
   (the package carries a stateful model's state over from the previous video):

   - stateless chunk models: chunks [0, T), [T, 2T), ...; the remainder is taken from the last
     full window [N - T, N) (overlapping the previous chunk; only its new samples are kept) instead
     of the package's padding with the last frame repeated;
   - stateful models carry the state from chunk to chunk; a last partial chunk (or a clip shorter
     than T for any model) is padded by time reflection (``np.pad(mode="reflect")``, no frame
     repeated) and cut back.
5. The output ``bvp`` is float16; it is cast to float64. For the models whose ``meta`` sets
   ``cumsum_output`` (TS-CAN, EfficientPhys) ``bvp`` is the first difference of the pulse, and it is
   integrated within each chunk (``np.cumsum``), which gives back exactly the standardised
   integrated pulse the jitted function computed before differencing (the package integrates over
   the whole video and then detrends; the two differ by one constant per chunk, a step the
   protocol's band-pass removes either way). No other filtering: detrending, band-pass and HR are
   the protocol's.

Output per model (every model: input RGB / 255 at 30 fps, output one sample per frame)
------------------------------------------------------------------------------------------
==================  ==============  =========  ==========================================================
model               input T x H x W  state      ``bvp`` as returned by ``Model.call``
==================  ==============  =========  ==========================================================
PhysNet.*           128 x 32 x 32   no         pulse, standardised per chunk (mean 0, sd 1)
PhysFormer.*        160 x 128 x 128 no         pulse, input standardised per chunk, output unscaled
RhythmMamba.*       160 x 128 x 128 no         pulse, standardised per chunk
PhysMamba.*         128 x 128 x 128 no         pulse from normalised frame differences (sample i uses
                                               frames i and i+1; the last difference is repeated),
                                               standardised per chunk
TSCAN.*             160 x 36 x 36   no         first difference of the pulse (``cumsum_output``);
                                               integrated here; motion branch on frame differences
EfficientPhys.*     160 x 72 x 72   no         first difference of the pulse (``cumsum_output``);
                                               integrated here; frame differences inside the network
ME-chunk.*          160 x 36 x 36   yes        pulse, unscaled (recurrent, 160 frames per step)
ME-flow.*           1 x 36 x 36     yes        pulse, unscaled (recurrent, frame by frame); the same
                                               weights file as ME-chunk
FacePhys.rlap       1 x 36 x 36     yes        pulse, unscaled (recurrent, frame by frame, dt = 1/30 s);
                                               no PURE-trained FacePhys is shipped
==================  ==============  =========  ==========================================================

``*`` = ``pure`` (trained on PURE) and ``rlap`` (trained on RLAP). The frame-difference models'
half-frame lead (a difference belongs between two frames) is left as the package has it.

TS-CAN
------
``Model.process_faces_tensor`` returns ``hr: None`` for TS-CAN ("Filtering failure"). The cause: the
package pads the last, partial chunk by repeating the last face crop; TS-CAN's motion branch divides
each frame difference by its spatial (std + 1e-6), computed in float16 (the package sets Keras'
``mixed_float16`` policy); for a repeated frame difference and std are 0, 1e-6 is a float16
subnormal that XLA on CPU flushes to zero, and 0/0 = NaN. The jitted cumsum and standardisation
make the whole chunk NaN, the band-pass (``filtfilt``) spreads it over the whole signal,
``norm_bvp`` raises, and ``Model.hr`` catches the error and returns None. This driver never pads
with repeated frames and resamples by blending, so TS-CAN works here; a clip that itself holds two
identical consecutive crops still gives NaN, and the call then raises a ``DataError`` saying so.

Side effects of loading a model (the first call, never at import): importing ``rppg`` sets
``KERAS_BACKEND=jax`` and Keras' global ``mixed_float16`` policy, and adds a log handler for the
"open-rppg" logger; its global ``warnings`` filter change is undone. JAX picks its platform itself
(``JAX_PLATFORMS``); ``device`` is accepted for the interface and recorded, nothing more.
"""
from __future__ import annotations

import ast
import functools
import importlib.util
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from sspd.errors import DataError

__all__ = ["PREFIX", "PACKAGE", "PEER_NAMES", "REGISTRY", "UNAVAILABLE", "PACKAGE_MISSING", "OpenRPPGMethod",
           "peer_factories", "canonical_name", "is_peer_name"]

PREFIX = "orppg:"
PACKAGE = "open-rppg"
#: Why no peer exists at all (the package is not installed), else None.
PACKAGE_MISSING: str | None = None


def _package_dir() -> Path | None:
    """The installed ``rppg`` package folder, found without importing it (no JAX start-up)."""
    try:
        spec = importlib.util.find_spec("rppg")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _registry(package_dir: Path) -> list[str]:
    """``supported_models`` of ``rppg/main.py``, read from the source (a literal list)."""
    tree = ast.parse((package_dir / "main.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "supported_models"
                                                for t in node.targets):
            return [str(m) for m in ast.literal_eval(node.value)]
    raise RuntimeError(f"no supported_models list in {package_dir / 'main.py'}")


def _weights_key(model_id: str) -> tuple[str, str]:
    """(architecture, training set) of a model id, lower case: 'ME-chunk.rlap' -> ('me', 'rlap')."""
    arch, _, dataset = model_id.rpartition(".")
    return arch.split("-")[0].lower(), dataset.lower()


def _discover() -> tuple[tuple[str, ...], tuple[str, ...], dict[str, str]]:
    """(registry ids, usable peer names, {left-out name: reason})."""
    global PACKAGE_MISSING
    package_dir = _package_dir()
    if package_dir is None:
        PACKAGE_MISSING = (f"the {PACKAGE} package is not installed "
                           "(pip install --no-deps -r requirements-nodeps.txt)")
        return (), (), {}
    try:
        registry = _registry(package_dir)
    except (OSError, SyntaxError, ValueError, RuntimeError) as err:
        PACKAGE_MISSING = f"cannot read the {PACKAGE} model registry: {err}"
        return (), (), {}
    weights = {}
    for f in sorted((package_dir / "weights").glob("*.weights.h5")):
        arch, dataset = f.name[: -len(".weights.h5")].rsplit(".", 1)
        weights[(arch.lower(), dataset.lower())] = f.name
    names, unavailable = [], {}
    for model_id in sorted(registry, key=lambda m: (_weights_key(m)[0], m.lower())):
        name = PREFIX + model_id
        if _weights_key(model_id) not in weights:
            unavailable[name] = f"no weights file for {model_id} in {package_dir / 'weights'}"
        else:
            names.append(name)
    return tuple(registry), tuple(names), unavailable


#: The package's model ids (its own registry), and the peers made of them.
REGISTRY, PEER_NAMES, UNAVAILABLE = _discover()
_BY_LOWER = {m.lower(): m for m in REGISTRY}


def is_peer_name(name) -> bool:
    return isinstance(name, str) and name.lower().startswith(PREFIX)


def canonical_name(name: str) -> str:
    """``orppg:<model id>`` with the package's spelling, for a name in any case, with or without the
    prefix. ValueError (listing the available peers) for an unknown or unavailable one."""
    if PACKAGE_MISSING is not None:
        raise ValueError(f"peer method {name!r}: {PACKAGE_MISSING}")
    text = str(name)
    bare = text[len(PREFIX):] if is_peer_name(text) else text
    model_id = _BY_LOWER.get(bare.lower())
    if model_id is None:
        raise ValueError(f"unknown open-rppg model {name!r}; available: {', '.join(PEER_NAMES)}")
    full = PREFIX + model_id
    if full in UNAVAILABLE:
        raise ValueError(f"open-rppg model {full!r} is unavailable: {UNAVAILABLE[full]}")
    return full


def _import_rppg():
    """``import rppg`` with its global warnings filter change undone."""
    with warnings.catch_warnings():
        import rppg
    return rppg


def _reflect_pad(x: np.ndarray, length: int) -> np.ndarray:
    """``x`` (n >= 2 frames) extended to ``length`` frames by time reflection (no frame repeated)."""
    if len(x) >= length:
        return x
    return np.pad(x, ((0, length - len(x)),) + ((0, 0),) * (x.ndim - 1), mode="reflect")


class OpenRPPGMethod:
    """One open-rppg model as a method: ``method(frames_bgr uint8 (N, H, W, 3), fs) -> pulse (N,)``.

    ``model_name``: ``"orppg:PhysNet.pure"`` or ``"PhysNet.pure"`` (any case). The weights are loaded
    on the first call (or :meth:`load`) and kept in the object. See the module docstring for what a
    call does and what each model outputs.
    """

    def __init__(self, model_name: str, device: str | None = None):
        self.name = canonical_name(model_name)
        self.model_id = self.name[len(PREFIX):]
        self.device = device
        self._model = None
        self._state0 = None

    def __repr__(self) -> str:
        return f"OpenRPPGMethod({self.name!r}, loaded={self.loaded})"

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> "OpenRPPGMethod":
        """Build the network and read its weights (once; JIT compilation happens on the first chunk)."""
        if self._model is None:
            rppg = _import_rppg()
            model = rppg.Model(self.model_id)
            self._state0 = model.state  # the initial state; every clip starts from it
            self._model = model
        return self

    @property
    def meta(self) -> dict:
        """The package's ``meta`` of the model: ``fps``, ``input`` (T, H, W, 3), ``cumsum_output``."""
        return dict(self.load()._model.meta)

    @property
    def stateful(self) -> bool:
        state = self.load()._state0
        return not (isinstance(state, dict) and not state)

    # -------------------------------------------------------------------------- preprocessing

    def model_input(self, frames_bgr: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray | None]:
        """(RGB frames (K, H, W, 3) at the model's size and rate, model frame times in s or None when no
        resampling was needed). The frames are uint8 as given, or float32 (0..255, not rounded, so that no
        two blended frames become identical) when resampled."""
        import cv2

        frames_bgr = np.asarray(frames_bgr)
        if frames_bgr.dtype != np.uint8 or frames_bgr.ndim != 4 or frames_bgr.shape[-1] != 3:
            raise DataError(None, f"{self.name}: expected uint8 frames (N, H, W, 3), got "
                                  f"{frames_bgr.dtype} {frames_bgr.shape}")
        n = len(frames_bgr)
        if n < 2:
            raise DataError(None, f"{self.name}: need at least 2 frames, got {n}")
        if not (np.isfinite(fs) and fs > 0):
            raise DataError(None, f"{self.name}: frame rate must be positive, got {fs}")
        meta = self._model.meta if self._model is not None else self.meta
        height, width = int(meta["input"][1]), int(meta["input"][2])
        rgb = np.stack([cv2.resize(np.ascontiguousarray(f[..., ::-1]), (width, height),
                                   interpolation=cv2.INTER_AREA) for f in frames_bgr])
        model_fs = float(meta["fps"])
        if abs(fs - model_fs) <= 1e-3 * model_fs:
            return rgb, None
        # linear blending onto the model's time grid k / model_fs, up to the first point at or after the last
        # frame (which holds the last frame), so the pulse can be interpolated back at every input frame
        t_model = np.arange(int(np.ceil((n - 1) / fs * model_fs - 1e-9)) + 1) / model_fs
        pos = np.minimum(t_model * fs, n - 1)
        i0 = np.minimum(np.floor(pos).astype(int), n - 1)
        i1 = np.minimum(i0 + 1, n - 1)
        w = (pos - i0)[:, None, None, None].astype(np.float32)
        blended = (1 - w) * rgb[i0].astype(np.float32) + w * rgb[i1].astype(np.float32)
        if len(t_model) < 2:
            raise DataError(None, f"{self.name}: the clip ({n} frames at {fs} Hz) is shorter than two frames "
                                  f"at the model's {model_fs} fps")
        return blended, t_model

    # -------------------------------------------------------------------------- inference

    def _run_chunk(self, x: np.ndarray, state):
        out, new_state = self._model.call(x, state)
        y = np.asarray(out["bvp"], dtype=np.float64).reshape(-1)[: len(x)]
        if self._model.meta.get("cumsum_output"):
            y = np.cumsum(y)
        return y, new_state

    def _check(self, y: np.ndarray, start: int, stop: int) -> np.ndarray:
        if not np.all(np.isfinite(y)):
            hint = (" (TS-CAN gives NaN where two consecutive face crops are identical: a zero frame "
                    "difference is divided by std + 1e-6 in float16, which flushes to 0)"
                    if self.model_id.startswith("TSCAN") else "")
            raise DataError(None, f"{self.name}: the model returned NaN/inf for model frames "
                                  f"{start}..{stop - 1}{hint}")
        return y

    def pulse_at_model_rate(self, x: np.ndarray) -> np.ndarray:
        """The pulse (K,) for RGB frames ``x`` (K, H, W, 3) already at the model's size and rate."""
        self.load()
        k = len(x)
        length = int(self._model.meta["input"][0])
        out = np.empty(k, dtype=np.float64)
        state = self._state0
        if not self.stateful and k >= length:
            starts = list(range(0, k - length + 1, length))
            for s in starts:
                y, _ = self._run_chunk(x[s:s + length], state)
                out[s:s + length] = self._check(y, s, s + length)
            done = starts[-1] + length
            if done < k:  # the remainder from the last full window, overlapping the previous chunk
                y, _ = self._run_chunk(x[k - length:], state)
                out[done:] = self._check(y, k - length, k)[length - (k - done):]
            return out
        for s in range(0, k, length):
            chunk = x[s:s + length]
            stop = s + len(chunk)
            if len(chunk) < length:
                if len(chunk) < 2:  # a single leftover frame: reflect from the clip, not the chunk
                    chunk = _reflect_pad(x[s - 1:stop], length + 1)[1:]
                else:
                    chunk = _reflect_pad(chunk, length)
            y, state = self._run_chunk(chunk, state)
            out[s:stop] = self._check(y[: stop - s], s, stop)
        return out

    def __call__(self, frames_bgr: np.ndarray, fs: float) -> np.ndarray:
        self.load()
        x, t_model = self.model_input(frames_bgr, float(fs))
        pulse = self.pulse_at_model_rate(x)
        if t_model is None:
            return pulse
        t_in = np.arange(len(frames_bgr)) / float(fs)
        return np.interp(t_in, t_model, pulse)


def _factory(name: str, device: str | None = None) -> OpenRPPGMethod:
    return OpenRPPGMethod(name, device=device)


def peer_factories() -> dict[str, Callable[[str], OpenRPPGMethod]]:
    """{peer name: factory(device) -> method} for :data:`sspd.evaluate.sweep.PEER_METHODS`."""
    return {name: functools.partial(_factory, name) for name in PEER_NAMES}
