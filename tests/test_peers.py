"""Pretrained peers (sspd.evaluate.peers): discovery, lazy registration, chunking, channel order, one real model.

One real model is loaded (PhysNet.pure: the smallest input, 128 x 32 x 32); everything else uses a stub
network in place of the package's jitted function, or no network at all.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sspd.data.toy import skin_patch_clip
from sspd.evaluate import peers
from sspd.evaluate.methods import METHOD_NAMES, PEER_NAMES, get_method

FAST = "orppg:PhysNet.pure"


def test_every_shipped_model_is_discovered_under_both_training_sets():
    assert peers.PACKAGE_MISSING is None
    assert set(PEER_NAMES) <= set(METHOD_NAMES)
    assert all(n.startswith("orppg:") for n in PEER_NAMES)
    assert set(PEER_NAMES) | set(peers.UNAVAILABLE) == {"orppg:" + m for m in peers.REGISTRY}
    for arch in ("PhysNet", "TSCAN", "EfficientPhys", "PhysFormer", "PhysMamba", "RhythmMamba", "ME-chunk",
                 "ME-flow"):
        assert {f"orppg:{arch}.pure", f"orppg:{arch}.rlap"} <= set(PEER_NAMES), arch
    assert "orppg:FacePhys.rlap" in PEER_NAMES


def test_every_peer_resolves_without_loading_weights():
    code = ("import sys\n"
            "from sspd.evaluate.methods import PEER_NAMES, get_method\n"
            "from sspd.evaluate.sweep import PEER_METHODS, resolve_methods\n"
            "ms = [get_method(n) for n in PEER_NAMES]\n"
            "assert all(not m.loaded for m in ms)\n"
            "assert [m.name for m in ms] == list(PEER_NAMES)\n"
            "assert sorted(PEER_METHODS) == sorted(PEER_NAMES)\n"
            "got, _ = resolve_methods(['ORPPG:physnet.PURE', 'pos'])\n"
            "assert list(got) == ['orppg:PhysNet.pure', 'pos'] and not got['orppg:PhysNet.pure'].loaded\n"
            "assert 'rppg' not in sys.modules and 'jax' not in sys.modules, 'peers must load lazily'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_evaluate_cli_lists_the_peers():
    import argparse

    from sspd.evaluate.cli import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert FAST in parser.format_help()
    assert parser.parse_args(["--method", FAST, "--dataset", "still"]).method == FAST


def test_unknown_peer_name_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"unknown open-rppg model .*available: .*orppg:PhysNet\.pure"):
        get_method("orppg:NoSuchNet.pure")
    with pytest.raises(ValueError, match="only device"):
        get_method(FAST, checkpoint="x.pt")


# ----------------------------------------------------------------------------- the driver, with a stub network


class _StubModel:
    """Stands in for rppg.Model: its "pulse" is each frame's mean red level, so alignment is visible."""

    def __init__(self, length, size=8, stateful=False, cumsum=False):
        self.meta = {"fps": 30.0, "input": (length, size, size, 3), **({"cumsum_output": True} if cumsum else {})}
        self.state = {"n": 0} if stateful else {}
        self.calls = []

    def call(self, x, state):
        assert x.shape[1:] == self.meta["input"][1:] and len(x) == self.meta["input"][0]
        self.calls.append(x.copy())
        y = x[..., 0].mean(axis=(1, 2)).astype(np.float16)
        if self.meta.get("cumsum_output"):
            y = np.diff(np.concatenate([[0.0], y.astype(np.float64)])).astype(np.float16)
        return {"bvp": y}, ({"n": state["n"] + 1} if state else state)


def _stubbed(length, **kw):
    method = peers.OpenRPPGMethod(FAST)
    method._model = _StubModel(length, **kw)
    method._state0 = method._model.state
    return method


def _red_ramp(n, size=8):
    """BGR frames whose red channel is the frame index (mod 256), blue 200, green 0."""
    f = np.zeros((n, size, size, 3), np.uint8)
    f[..., 0] = 200
    f[..., 2] = (np.arange(n) % 256)[:, None, None]
    return f


@pytest.mark.parametrize("n, length, kw", [(100, 32, {}), (96, 32, {}), (20, 32, {}),
                                           (100, 32, {"stateful": True}), (97, 32, {"stateful": True}),
                                           (50, 1, {"stateful": True}), (100, 32, {"cumsum": True})])
def test_chunking_keeps_one_sample_per_frame_in_place(n, length, kw):
    method = _stubbed(length, **kw)
    pulse = method(_red_ramp(n), 30.0)
    assert pulse.shape == (n,)
    np.testing.assert_allclose(pulse, np.arange(n), atol=0.05)  # sample i is frame i (float16 output)
    for x in method._model.calls:  # never a repeated frame (TS-CAN turns those into NaN)
        assert np.all(np.diff(x[:, 0, 0, 0].astype(int)) != 0)


def test_channel_order_reaches_the_model_as_rgb():
    method = _stubbed(32)
    x, t_model = method.model_input(_red_ramp(40), 30.0)
    assert t_model is None and x.shape == (40, 8, 8, 3)
    assert np.all(x[..., 2] == 200) and np.all(x[..., 1] == 0)  # blue (BGR index 0) arrives last
    np.testing.assert_array_equal(x[:, 0, 0, 0], np.arange(40))  # red first


def test_other_frame_rates_are_resampled_and_mapped_back():
    method = _stubbed(32)
    n, fs = 125, 25.0
    x, t_model = method.model_input(_red_ramp(n), fs)
    assert len(x) == 150 and np.allclose(np.diff(t_model), 1 / 30)  # 0 .. >= (n - 1) / 25 s at 30 fps
    assert x.dtype == np.float32 and np.all(np.diff(x[:, 0, 0, 0]) > 0)  # blended, not rounded: no repeats
    pulse = method(_red_ramp(n), fs)
    np.testing.assert_allclose(pulse, np.arange(n), atol=0.6)


def test_nan_output_names_the_cause():
    method = _stubbed(32)
    method.model_id = "TSCAN.pure"
    method._model.call = lambda x, s: ({"bvp": np.full(len(x), np.nan, np.float16)}, s)
    with pytest.raises(ValueError, match="identical"):
        method(_red_ramp(40), 30.0)


# ----------------------------------------------------------------------------- one real model


@pytest.fixture(scope="module")
def physnet():
    return get_method(FAST).load()


def test_real_model_returns_a_finite_pulse_per_frame(physnet):
    frames, bvp = skin_patch_clip(hr_bpm=72.0, duration_s=12.0, fs=30.0, size=151, amp_g=0.02, seed=3)
    pulse = physnet(frames, 30.0)
    assert pulse.shape == (len(frames),) and pulse.dtype == np.float64
    assert np.all(np.isfinite(pulse)) and np.ptp(pulse) > 0
    assert physnet.loaded and physnet.meta["input"] == (128, 32, 32, 3)
    # channel order matters to the network: the same clip in RGB order gives another output
    swapped = physnet(np.ascontiguousarray(frames[..., ::-1]), 30.0)
    assert not np.allclose(swapped, pulse, atol=1e-2)
    # the same input gives the same output (state and chunking are deterministic)
    np.testing.assert_array_equal(physnet(frames, 30.0), pulse)
