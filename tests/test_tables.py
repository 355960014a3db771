"""Result-table formatting (sspd.evaluate.tables)."""
import numpy as np
import pandas as pd
import pytest

from sspd.evaluate.tables import ci_pivot, with_ci


def _table():
    rows = []
    for protocol in ("toolbox", "windowed"):
        for i, method in enumerate(("pos", "green")):
            for j, preset in enumerate(("still", "motion", "hard")):
                mae = 1.0 + i + 10 * j + (0.5 if protocol == "windowed" else 0.0)
                rows.append({"protocol": protocol, "method": method, "preset": preset,
                             "MAE": mae, "MAE_lo": mae - 0.25, "MAE_hi": mae + 1.125})
    return pd.DataFrame(rows)


def test_with_ci_formats_value_and_interval():
    t = pd.DataFrame({"MAE": [3.914, 0.0, np.nan, 2.0], "MAE_lo": [2.1, 0.0, 1.0, np.nan],
                      "MAE_hi": [6.016, 0.5, 2.0, 3.0]}, index=[5, 6, 7, 8])
    out = with_ci(t, "MAE")
    assert out.tolist() == ["3.91 [2.10, 6.02]", "0.00 [0.00, 0.50]", "n/a", "2.00"]
    assert out.index.tolist() == [5, 6, 7, 8] and out.name == "MAE (95% CI)"
    assert with_ci(t.iloc[:1], "MAE", digits=1).iloc[0] == "3.9 [2.1, 6.0]"


def test_with_ci_rejects_missing_columns():
    with pytest.raises(ValueError, match="MAE_hi"):
        with_ci(pd.DataFrame({"MAE": [1.0], "MAE_lo": [0.5]}), "MAE")
    with pytest.raises(ValueError, match="digits"):
        with_ci(_table(), "MAE", digits=-1)


def test_ci_pivot_wide_layout_and_order():
    wide = ci_pivot(_table(), "MAE", order=["still", "motion", "hard"])
    assert wide.columns.tolist() == ["still", "motion", "hard"]
    assert wide.index.names == ["protocol", "method"]
    assert wide.index.tolist() == [("toolbox", "green"), ("toolbox", "pos"),
                                   ("windowed", "green"), ("windowed", "pos")]
    assert wide.loc[("toolbox", "green"), "motion"] == "12.00 [11.75, 13.12]"
    assert wide.loc[("windowed", "pos"), "hard"] == "21.50 [21.25, 22.62]"
    assert ci_pivot(_table(), order=["hard", "still"]).columns.tolist() == ["hard", "still"]


def test_ci_pivot_errors():
    with pytest.raises(ValueError, match="no preset"):
        ci_pivot(_table(), order=["still", "nope"])
    with pytest.raises(ValueError, match="several rows"):
        ci_pivot(_table(), index=("method",))             # two protocols per (method, preset)
    with pytest.raises(ValueError, match="protocol"):
        ci_pivot(_table().drop(columns="protocol"))
