"""Primitive table lookup: exact rows, interpolation, technology scaling, errors."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from dse.energy.estimators import Estimators
from dse.energy.tables import default_tables_dir, load_table_set, load_tables, parse_technology
from dse.errors import EstimationError


@pytest.fixture(scope="module")
def shipped() -> Estimators:
    return Estimators.default(entry_points=False)


def _table(tmp_path: Path, yaml_text: str, csvs: dict[str, str]) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    for name, text in csvs.items():
        (tmp_path / "data" / f"{name}.csv").write_text(text)
    path = tmp_path / "t.table.yaml"
    path.write_text(yaml_text)
    return path


def test_parse_technology():
    assert parse_technology("32nm") == 32.0
    assert parse_technology(" 45 nm ") == 45.0
    assert parse_technology(40) == 40.0
    assert parse_technology("0.18um") == pytest.approx(180.0)
    assert parse_technology("memristor") is None


def test_exact_rows(shipped):
    # Reference CACTI rows (gemmini.ERT.yaml) are shipped verbatim.
    est = shipped.energy("SRAM", {"technology": "32nm", "depth": 4096, "width": 32, "datawidth": 32}, "read")
    assert est.value == pytest.approx(4.54186)
    assert est.approximations == 0
    assert "gemmini" in est.source
    assert shipped.energy("SRAM", {"technology": "32nm", "depth": 4096, "width": 32}, "update").value == pytest.approx(3.49104)
    assert shipped.area("SRAM", {"technology": "32nm", "depth": 32768, "width": 128}).value == pytest.approx(901693.0)
    # DRAM: type selects the row; 8 pJ/bit * 64 bit for LPDDR4, 3.9 pJ/bit for HBM2.
    assert shipped.energy("DRAM", {"type": "LPDDR4", "width": 64}, "read").value == 512.0
    assert shipped.energy("DRAM", {"type": "HBM2", "width": 64}, "write").value == pytest.approx(3.9 * 64)
    assert shipped.energy("DRAM", {"type": "HBM2", "width": 256}, "read").value == pytest.approx(3.9 * 256)
    assert shipped.energy("DRAM", {"type": "DDR4", "width": 64}, "read").value == pytest.approx(70 * 0.64 * 64)
    # Horowitz 45 nm: 8-bit add 0.03 pJ, 32-bit mult 3.1 pJ.
    assert shipped.energy("intadder", {"technology": "45nm", "datawidth": 8}, "add").value == pytest.approx(0.03)
    assert shipped.energy("intmultiplier", {"technology": "45nm", "datawidth": 32}, "multiply").value == pytest.approx(3.1)
    # PIM reference table: 8-bit SAR ADC 1.66 pJ per conversion.
    assert shipped.energy("ADC", {"technology": "32nm", "type": "SAR", "datawidth": 8}, "convert").value == pytest.approx(1.66)


def test_interpolation_linear_and_loglog(tmp_path):
    path = _table(tmp_path, """
name: t
technology: 40nm
accuracy: 50
path_to_data_dir: ./data
dse_scaling:
  lin: {depth: {interpolate: linear}}
  pw: {depth: {interpolate: loglog}}
""", {
        "lin": "technology,depth,action,energy,area,comment\n40nm,100,read,1.0,10,a\n40nm,200,read,3.0,30,b\n",
        "pw": "technology,depth,action,energy,area,comment\n40nm,100,read,1.0,10,a\n40nm,400,read,4.0,40,b\n",
    })
    est = Estimators(tables=(load_table_set(path),))
    lin = est.energy("lin", {"technology": "40nm", "depth": 150}, "read")
    assert lin.value == pytest.approx(2.0)          # halfway between 1 and 3
    assert "linear-interpolated" in lin.source
    assert est.area("lin", {"technology": "40nm", "depth": 125}).value == pytest.approx(15.0)
    # log-log: sqrt(100*400) = 200 lies halfway in log space -> sqrt(1*4) = 2
    assert est.energy("pw", {"technology": "40nm", "depth": 200}, "read").value == pytest.approx(2.0)
    # extrapolation with the default exponent 1: 800 -> 4 * 800/400
    assert est.energy("pw", {"technology": "40nm", "depth": 800}, "read").value == pytest.approx(8.0)


def test_shipped_sram_depth_interpolation_is_between_neighbours(shipped):
    a = {"technology": "32nm", "width": 32}
    lo = shipped.energy("SRAM", {**a, "depth": 4096}, "read").value
    hi = shipped.energy("SRAM", {**a, "depth": 16384}, "read").value
    mid = shipped.energy("SRAM", {**a, "depth": 8192}, "read")
    assert lo < mid.value < hi
    assert mid.value == pytest.approx(lo * (hi / lo) ** 0.5)   # log-log halfway (8192 = sqrt(4096*16384))


def test_technology_scaling(shipped):
    # Aladdin 32-bit adder 0.21 pJ at 40 nm; 32 nm = 0.21 * (32/40)^2
    est = shipped.energy("aladdin_adder", {"technology": "32nm", "width": 32}, "add")
    assert est.value == pytest.approx(0.21 * 0.64)
    assert "technology scaled 40nm->32nm" in est.source
    # 20 nm from the nearest node with data (28 nm tpu WeightsFIFO row): 33.97764 * (20/28)^2
    sram = shipped.energy("SRAM", {"technology": "20nm", "depth": 16384, "width": 128}, "read")
    assert sram.value == pytest.approx(33.97764 * (20 / 28) ** 2)
    # above the largest node: 32-bit multiplier 3.1 pJ at 45 nm -> 65 nm
    mult = shipped.energy("intmultiplier", {"technology": "65nm", "datawidth": 32}, "multiply")
    assert mult.value == pytest.approx(3.1 * (65 / 45) ** 2)
    # leakage also scales with the cycle time: 0.0024 pJ per 1 ns -> 1.2 ns, and with the node
    leak = shipped.energy("aladdin_adder", {"technology": "32nm", "width": 32, "global_cycle_seconds": 1.2e-9}, "leak")
    assert leak.value == pytest.approx(0.0024 * 1.2 * 0.64)
    # width scaling of the adder (linear): 16 bits at 40 nm
    assert shipped.energy("aladdin_adder", {"technology": "40nm", "width": 16}, "add").value == pytest.approx(0.105)
    # ADC beyond the tabulated 10 bits doubles per bit
    adc = shipped.energy("ADC", {"technology": "32nm", "type": "SAR", "resolution": 12}, "convert").value
    assert adc == pytest.approx(2.379022742 * 4)


def test_missing_class_lists_nearest(shipped):
    with pytest.raises(EstimationError) as info:
        shipped.energy("SRAMM", {"technology": "32nm"}, "read")
    assert "SRAM" in info.value.accepted
    assert "SRAMM" in info.value.message


def test_missing_categorical_row_lists_nearest(shipped):
    with pytest.raises(EstimationError) as info:
        shipped.energy("DRAM", {"type": "DDR9", "width": 64}, "read")
    assert "type=LPDDR4" in info.value.accepted
    assert "DDR9" in info.value.message


def test_missing_action(shipped):
    with pytest.raises(EstimationError) as info:
        shipped.energy("DRAM", {"type": "LPDDR4", "width": 64}, "compute")
    assert "read" in info.value.accepted


def test_numeric_without_rule_must_match(tmp_path):
    path = _table(tmp_path, "name: t\ntechnology: 40nm\naccuracy: 1\npath_to_data_dir: ./data\n", {
        "ports": "technology,ports,action,energy,area,comment\n40nm,1,read,1.0,1,a\n40nm,2,read,2.0,2,b\n"})
    est = Estimators(tables=(load_table_set(path),))
    assert est.energy("ports", {"technology": "40nm", "ports": 2}, "read").value == 2.0
    with pytest.raises(EstimationError) as info:
        est.energy("ports", {"technology": "40nm", "ports": 3}, "read")
    assert "no scaling rule" in info.value.message
    assert "ports=2" in info.value.accepted and "ports=1" in info.value.accepted


def test_bad_csv_row_is_reported(tmp_path):
    path = _table(tmp_path, "name: t\ntechnology: 40nm\naccuracy: 1\npath_to_data_dir: ./data\n", {
        "x": "technology,action,energy,area,comment\n40nm,read,1.0,1,source, with comma\n"})
    with pytest.raises(EstimationError, match="quote"):
        load_table_set(path)


def test_free_table_is_zero_by_design(shipped):
    est = shipped.energy("free_storage", {"technology": "32nm"}, "read")
    assert est.value == 0.0 and "zero-cost" in est.source
    assert shipped.energy("free_compute", {"technology": "free"}, "compute").value == 0.0


def test_every_shipped_row_names_its_source():
    sets = load_tables([default_tables_dir()])
    assert {s.name for s in sets} >= {"dse_digital", "dse_pim", "dse_free"}
    for ts in sets:
        for ct in ts.classes.values():
            assert ct.rows, ct.path
            for row in ct.rows:
                assert len(row.comment) > 15, f"{row.file}:{row.line} has no source comment"
                assert row.energy_pj is not None and math.isfinite(row.energy_pj), f"{row.file}:{row.line}"
                assert row.area_um2 is not None, f"{row.file}:{row.line}"


def test_shipped_tables_cover_required_classes(shipped):
    for cls in ("SRAM", "regfile", "DRAM", "intadder", "intmultiplier", "intmac", "ADC", "DAC",
                "ReRAMcell_compute", "ReRAMcell_storage", "sample_and_hold", "shift_and_add",
                "free_compute", "free_storage"):
        assert shipped.has_class(cls), cls
    for tech in ("32nm", "40nm", "45nm"):
        for depth, width in ((64, 8), (1024, 64), (65536, 256)):
            e = shipped.energy("SRAM", {"technology": tech, "depth": depth, "width": width}, "read")
            assert e.value > 0 and e.approximations == 0, (tech, depth, width, e.source)
    dram_types = {r.cells["type"] for ts in load_tables([default_tables_dir()]) if "DRAM" in ts.classes
                  for r in ts.classes["DRAM"].rows}
    assert {"LPDDR4", "DDR4", "HBM2"} <= dram_types


def test_regfile_table_matches_its_composition(shipped):
    # regfile read = width * 0.009 + depth * 0.02947 (Aladdin 40 nm), exact on the grid and linear between.
    for depth, width in ((16, 32), (24, 48)):
        e = shipped.energy("regfile", {"technology": "40nm", "depth": depth, "width": width}, "read").value
        assert e == pytest.approx(width * 0.009 + depth * 0.02947)
