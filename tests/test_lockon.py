"""Lock-on diagnostic: which recorded source a method's pulse follows (sspd.evaluate.lockon)."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sspd.evaluate.lockon import lock_on, lock_on_summary, source_rates

FS = 30.0


def _truth(n, pulse_hz=1.2, screen_hz=1.9, screen_on=True):
    t = np.arange(n) / FS
    return {"bvp": np.sin(2 * np.pi * pulse_hz * t),
            "screen": 0.1 + (0.01 * np.sin(2 * np.pi * screen_hz * t) if screen_on else 0.0 * t),
            "resp": np.sin(2 * np.pi * 0.25 * t)}


def test_a_pulse_that_is_the_screen_light_follows_the_screen_light():
    n = int(20 * FS)
    entry = SimpleNamespace(subject="1", fps=FS, frames=np.zeros((n, 4, 4, 3), np.uint8))
    truth = _truth(n)
    t = np.arange(n - 1) / FS
    follows_screen = lambda frames, fs: np.sin(2 * np.pi * 1.9 * t)    # noqa: E731 (N-1 samples)
    follows_pulse = lambda frames, fs: np.sin(2 * np.pi * 1.2 * np.arange(n) / FS)   # noqa: E731
    table = lock_on(follows_screen, [entry], lambda e: truth, method_name="screen")
    table = pd.concat([table, lock_on(follows_pulse, [entry], lambda e: truth, method_name="pulse")])
    summary = lock_on_summary(table)
    assert summary.loc["screen", "screen light"] == 100 and summary.loc["screen", "pulse"] == 0
    assert summary.loc["pulse", "pulse"] == 100 and summary.loc["pulse", "screen light"] == 0
    assert summary.loc["pulse", "none"] == 0 and summary.loc["screen", "windows"] == 10   # 599 samples: starts 0..9 s
    assert abs(table["pulse 2nd harmonic"].iloc[0] - 144.0) < 2.0      # 2 x 72 bpm


def test_flat_sources_have_no_rate_and_length_mismatch_is_an_error():
    n = int(12 * FS)
    rates = source_rates(_truth(n, screen_on=False), FS)
    assert rates["screen light"].isna().all() and rates["pulse"].notna().all()
    entry = SimpleNamespace(subject="7", fps=FS, frames=np.zeros((n + 5, 4, 4, 3), np.uint8))
    with pytest.raises(Exception, match="subject 7"):
        lock_on(lambda f, fs: np.zeros(len(f)), [entry], lambda e: _truth(n))
