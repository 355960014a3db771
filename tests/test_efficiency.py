"""Efficiency measurement helpers (sspd.evaluate.efficiency): FLOP counting against analytic counts,
latency and memory helpers, the table builder. No peer network is loaded (that takes minutes)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sspd.evaluate import efficiency as eff


class _TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.fc = torch.nn.Linear(8 * 16 * 16, 5)

    def forward(self, x):
        return self.fc(torch.tanh(self.conv(x)).flatten(1))


def test_torch_cost_equals_analytic_count():
    net = _TinyNet()
    cost = eff.torch_cost(net, (2, 3, 16, 16), frames=2)
    conv = 2 * (2 * 8 * 16 * 16) * (3 * 3 * 3)        # 2 FLOPs x outputs x (in channels x kernel)
    linear = 2 * 2 * (8 * 16 * 16) * 5
    assert cost["flops"] == conv + linear
    assert cost["flops_per_frame"] == (conv + linear) / 2
    assert cost["params"] == 3 * 8 * 9 + 8 + 8 * 16 * 16 * 5 + 5
    assert next(net.parameters()).device.type == "cpu"  # the model itself is left alone


def test_table_builder_columns_units_and_ratios():
    base = {"framework": "torch", "precision": "fp32", "input": "160x128x128", "frames_per_call": 160}
    raw = []
    for name, ms, gflop in (("sspd[eager]", 10.0, 0.5), ("Other", 5.0, 1.0)):
        for n in (1, 2):
            r = dict(base, name=name, kind="sspd" if name.startswith("sspd") else "peer", threads=n,
                     latency={"ms_per_frame": ms / n, "ms_per_frame_min": ms / n / 2, "cpu_util": float(n)},
                     peak_mem_mib=100.0, peak_mem_infer_mib=50.0)
            if n == 1:
                r.update(params=1000, cost={"flops": gflop * 160e9, "flops_per_frame": gflop * 1e9})
            raw.append(r)
    raw.append({"name": "Broken", "threads": 1, "error": "timed out"})
    table = eff.efficiency_table(raw)
    assert list(table.columns) == eff.TABLE_COLUMNS
    row = table.set_index("model").loc["Other"]
    assert row["gflop_per_frame"] == pytest.approx(1.0)
    assert row["latency_ms_2t"] == pytest.approx(2.5)
    assert "timed out" in table.set_index("model").loc["Broken", "notes"]
    ratios = eff.ratios_to_sspd(table).set_index("model")
    assert ratios.loc["Other", "gflop_per_frame_x"] == pytest.approx(2.0)
    assert ratios.loc["Other", "latency_ms_1t_x"] == pytest.approx(0.5)
    text = eff.verdict(table)
    assert "does not hold" in text and "Other" in text


def test_measure_latency_divides_by_frames():
    lat = eff.measure_latency(lambda: sum(range(1000)), frames=10, repeats=3)
    assert lat["repeats"] == 3 and lat["ms_per_frame"] == pytest.approx(lat["ms_per_call"] / 10)
    assert lat["ms_per_frame_min"] <= lat["ms_per_frame"]


def test_peak_memory_sees_an_allocation():
    def alloc():
        a = np.ones(64 * 1024 * 1024 // 8)   # 64 MiB, touched
        return float(a[-1])
    _, mib, method = eff.peak_memory(alloc)
    assert method in ("vmhwm", "ru_maxrss")
    if method == "vmhwm":
        assert 60 < mib < 120


def test_peer_architectures_one_per_architecture():
    from sspd.evaluate.peers import PEER_NAMES

    if not PEER_NAMES:
        pytest.skip("open-rppg not installed")
    arch = eff.peer_architectures()
    assert arch["PhysNet"]["model_id"] == "PhysNet.pure"
    assert set(arch["PhysNet"]["peer_names"]) == {"orppg:PhysNet.pure", "orppg:PhysNet.rlap"}
    assert arch["FacePhys"]["model_id"] == "FacePhys.rlap"
    assert {"ME-chunk", "ME-flow"} <= set(arch)
    assert sorted(n for v in arch.values() for n in v["peer_names"]) == sorted(PEER_NAMES)


def test_load_accuracy_tolerates_missing(tmp_path):
    empty = eff.load_accuracy(tmp_path / "nowhere")
    assert list(empty.columns) == ["preset", "method", "protocol", "MAE"] and empty.empty
    (tmp_path / "still").mkdir()
    pd.DataFrame({"preset": ["still"], "method": ["orppg:PhysNet.pure"], "protocol": ["windowed"], "MAE": [3.0]}).to_csv(
        tmp_path / "still" / "table.csv", index=False)
    (tmp_path / "still" / "broken.csv").write_text("")
    (tmp_path / "ablations").mkdir()
    pd.DataFrame({"condition": ["x"], "method": ["pos"], "MAE": [1.0]}).to_csv(tmp_path / "ablations" / "table.csv")
    acc = eff.load_accuracy(tmp_path)
    assert acc["preset"].tolist() == ["still"] and len(acc.attrs["skipped"]) == 2


def test_jax_costs_equal_analytic_counts():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    a, b = jnp.ones((64, 32)), jnp.ones((32, 16))
    cost = eff.jax_cost(lambda x, y: jnp.tanh(x @ y), a, b, frames=4)
    assert cost["flops"] == 2 * 64 * 32 * 16              # conv+matmul rule
    assert cost["xla_flops"] >= 2 * 64 * 32 * 16           # XLA: 2 per multiply-add (+ elementwise)
    assert cost["xla_flops"] < 2 * 64 * 32 * 16 + 64 * 16 * 4
    assert cost["flops_per_frame"] == cost["flops"] / 4

    x, w = jnp.ones((1, 8, 8, 3)), jnp.ones((3, 3, 3, 4))
    conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",  # noqa: E731
                                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    flops, has_while = eff.jaxpr_conv_matmul_flops(conv, x, w)
    assert flops == 2 * (8 * 8 * 4) * (3 * 3 * 3) and not has_while   # full kernel, as torch counts
    # XLA skips the padded taps: 22 valid taps per row/column pair sum instead of 24
    assert eff.jax_cost(conv, x, w)["xla_flops"] == 2 * (22 * 22) * 3 * 4

    def loop(x):
        return jax.lax.scan(lambda c, _: (c @ x, None), x, None, length=5)[0]
    flops, _ = eff.jaxpr_conv_matmul_flops(loop, jnp.ones((4, 4)))
    assert flops == 5 * 2 * 4 * 4 * 4


def test_run_efficiency_manifest_names_the_code_measured_not_later_commits(tmp_path, monkeypatch):
    import json

    import sspd.io

    calls = []
    monkeypatch.setattr(sspd.io, "git_sha", lambda root=None: calls.append(1) or
                        ("start" if len(calls) == 1 else "after-a-commit"))
    raw = [{"name": "Broken", "threads": 1, "error": "timed out"}]

    def fake_measure_all(on_result=None, **kw):
        on_result(raw)                         # a partial write during the run
        return raw

    monkeypatch.setattr(eff, "measure_all", fake_measure_all)
    eff.run_efficiency(tmp_path, quick=True)
    meta = json.loads((tmp_path / "manifest.json").read_text())
    assert meta["git_sha"] == "start" and meta["git_sha_at_write"] == "after-a-commit" and meta["complete"]
