"""Shipped hwcomponents tables vs the live models; --estimator live; out-of-range attributes.

The independent reference for the tables is the live hwcomponents-cacti model: the
generator records its outputs at shapes the shipped knobs reach
(estimation_tables/hwcomponents/interpolation_check.csv); where the models are
installed (Python >= 3.12 with the [cacti] extra) the live comparison runs too.
"""
from __future__ import annotations

import csv
import importlib.util
import re
import sys

import pytest

from dse.cli.main import main
from dse.energy import Estimators
from dse.energy.tables import default_tables_dir

CHECK = default_tables_dir() / "hwcomponents" / "interpolation_check.csv"
HAVE_LIVE = sys.version_info >= (3, 12) and importlib.util.find_spec("hwcomponents_cacti") is not None


def _check_rows() -> list[dict[str, str]]:
    lines = [line for line in CHECK.read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


def test_recorded_table_vs_live_model_within_3_percent():
    rows = _check_rows()
    assert len(rows) >= 100
    est = Estimators.default(entry_points=False)
    for r in rows:
        model, table = float(r["live_model"]), float(r["table"])
        d = int(r["depth"])
        on_grid = d & (d - 1) == 0 or (d % 3 == 0 and (d // 3) & (d // 3 - 1) == 0)
        # on the depth grid only the node is interpolated (linearly, as the model does): 3 %;
        # between grid depths CACTI changes its organisation: docs/energy.md states the measured error
        assert abs(table - model) <= (0.03 if on_grid else 0.10) * model, r
        # the recorded table value is what the shipped table gives today
        attrs = {"technology": r["technology"], "width": int(r["width"]), "depth": int(r["depth"]),
                 "n_banks": int(r["n_banks"]), "global_cycle_seconds": 1e-9}
        now = est.area("SRAM", attrs).value if r["quantity"] == "area" else \
            est.energy("SRAM", attrs, r["quantity"]).value
        assert now == pytest.approx(table, rel=1e-5), r


@pytest.mark.skipif(not HAVE_LIVE, reason="live hwcomponents models not installed (pip install -e '.[cacti]')")
def test_live_model_matches_shipped_tables(tmp_path, monkeypatch):
    from dse.energy.live import DiskCache, LiveModels

    cache = DiskCache(tmp_path / "live.jsonl")
    live = LiveModels(cache)
    est = Estimators.default(entry_points=False)
    for attrs in ({"technology": "32nm", "width": 128, "depth": 32768, "n_banks": 4},
                  {"technology": "40nm", "width": 32, "depth": 4096, "n_banks": 2}):
        for action in ("read", "write"):
            assert est.energy("SRAM", attrs, action).value == pytest.approx(live.energy("SRAM", attrs, action), rel=0.03)
        assert est.area("SRAM", attrs).value == pytest.approx(live.area("SRAM", attrs), rel=0.03)
    calls = cache.calls
    live.energy("SRAM", {"technology": "32nm", "width": 128, "depth": 32768, "n_banks": 4}, "read")
    assert cache.calls == calls  # cached: no new model call
    assert DiskCache(tmp_path / "live.jsonl").data.keys() == cache.data.keys()  # on disk


@pytest.mark.skipif(HAVE_LIVE, reason="the live models are installed here")
def test_live_without_models_says_how_to_install(capsys):
    assert main(["ert", "--arch", "gemmini", "--estimator", "live"]) == 2
    err = capsys.readouterr().err
    assert "--estimator live" in err and 'pip install -e ".[cacti]"' in err
    assert "Traceback" not in err


def test_out_of_range_attribute_exits_2_naming_it(capsys):
    # 1 GiB scratchpad: 2**26 rows of 128 bits, beyond the SRAM table (and nothing is extrapolated)
    assert main(["ert", "--arch", "gemmini", "--set", f"scratchpad_size={2 ** 30}"]) == 2
    err = capsys.readouterr().err
    assert "Scratchpad" in err and "depth=67108864" in err
    assert re.search(r"\(1\.\.(\d+)\); nearest valid value \1\.", err)
    assert "Traceback" not in err
    assert main(["ert", "--arch", "gemmini", "--set", "technology=45nm"]) == 0
