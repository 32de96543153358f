"""Primitive table lookup: exact rows, interpolation, technology scaling, errors."""
from __future__ import annotations

import csv
import math
import re
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
    # hwcomponents-cacti SRAM rows reproduce Accelergy's CACTI plug-in: reference gemmini.ERT/ART
    # (Accumulator 4096x32, 2 banks; Scratchpad 32768x128, 4 banks; 32 nm).
    acc = {"technology": "32nm", "depth": 4096, "width": 32, "datawidth": 32, "n_banks": 2}
    est = shipped.energy("SRAM", acc, "read")
    assert est.value == pytest.approx(4.54186, rel=1e-5)
    assert est.approximations == 0
    assert "hwcomponents-cacti" in est.source and "CACTI" in est.source
    assert shipped.energy("SRAM", acc, "update").value == pytest.approx(3.49104, rel=1e-5)
    spad = {"technology": "32nm", "depth": 32768, "width": 128, "n_banks": 4}
    assert shipped.area("SRAM", spad).value == pytest.approx(901693.0, rel=1e-5)
    # leak per cycle scales with the cycle: reference 0.027407 pJ per 1.2 ns cycle
    assert shipped.energy("SRAM", {**spad, "global_cycle_seconds": 1.2e-9}, "leak").value == pytest.approx(0.027407, rel=1e-4)
    # DRAM: type selects the row; hwcomponents-cacti: LPDDR4 8 pJ/bit, HBM2 6.25 pJ/bit; DDR4 derived (dse_digital)
    assert shipped.energy("DRAM", {"type": "LPDDR4", "width": 64}, "read").value == 512.0
    assert shipped.energy("DRAM", {"type": "HBM2", "width": 64}, "write").value == pytest.approx(6.25 * 64)
    assert shipped.energy("DRAM", {"type": "HBM2", "width": 256}, "read").value == pytest.approx(6.25 * 256)
    assert shipped.energy("DRAM", {"type": "DDR4", "width": 64}, "read").value == pytest.approx(70 * 0.64 * 64)
    # Aladdin 40 nm (Shao et al. ISCA 2014): 32-bit add 0.21 pJ / 278 um^2, 32x32 multiply 12.68 pJ
    assert shipped.energy("intadder", {"technology": "40nm", "datawidth": 8}, "add").value == pytest.approx(0.21 / 4)
    assert shipped.energy("intmultiplier", {"technology": "40nm", "width_a": 32, "width_b": 32},
                          "multiply").value == pytest.approx(12.68)
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


def test_shipped_sram_depth_interpolation_is_log_space(shipped):
    a = {"technology": "32nm", "width": 32}
    lo = shipped.energy("SRAM", {**a, "depth": 4096}, "read").value
    hi = shipped.energy("SRAM", {**a, "depth": 6144}, "read").value  # 3 * 2**11: the grid has midpoints
    mid = shipped.energy("SRAM", {**a, "depth": 5000}, "read")
    assert min(lo, hi) < mid.value < max(lo, hi)
    assert mid.value == pytest.approx(lo * (hi / lo) ** (math.log(5000 / 4096) / math.log(6144 / 4096)))
    assert "depth loglog-interpolated between 4096 and 6144" in mid.source


def test_technology_scaling(shipped):
    # Aladdin 32-bit adder 0.21 pJ / 278 um^2 (40 nm data, Accelergy's 45 nm point); Accelergy's rule
    # gives the reference MACs (two adders): gemmini 32 nm 0.276923 pJ / 255.76 um^2, tpu 28 nm 0.154205 / 163.093333
    for tech, energy, area in (("32nm", 0.276923, 255.76), ("28nm", 0.154205, 163.093333)):
        est = shipped.energy("aladdin_adder", {"technology": tech, "width": 32}, "add")
        assert 2 * est.value == pytest.approx(energy, rel=1e-5)
        assert "Accelergy's rule" in est.source
        assert 2 * shipped.area("aladdin_adder", {"technology": tech, "width": 32}).value == pytest.approx(area, rel=1e-5)
    # 40 and 45 nm: the data unchanged (simba's 45 nm mac = 0.21 + 0.105 = 0.315 pJ)
    assert shipped.energy("aladdin_adder", {"technology": "45nm", "width": 16}, "add").value == pytest.approx(0.105)
    assert shipped.energy("aladdin_adder", {"technology": "40nm"}, "add").value == pytest.approx(0.21)  # default 32 bits
    # leakage scales with the cycle time and like energy with the node (gemmini MAC leak 0.003798 pJ per 1.2 ns)
    leak = shipped.energy("aladdin_adder", {"technology": "32nm", "width": 32, "global_cycle_seconds": 1.2e-9}, "leak")
    assert 2 * leak.value == pytest.approx(0.003798, rel=1e-3)
    # SRAM between CACTI nodes: linear in the node, as the hwcomponents-cacti wrapper interpolates
    a = {"depth": 4096, "width": 128, "n_banks": 1}
    e32, e22 = (shipped.energy("SRAM", {**a, "technology": t}, "read").value for t in ("32nm", "22nm"))
    assert shipped.energy("SRAM", {**a, "technology": "28nm"}, "read").value == pytest.approx(e22 + 0.6 * (e32 - e22))
    # ADC beyond the tabulated 10 bits doubles per bit
    adc = shipped.energy("ADC", {"technology": "32nm", "type": "SAR", "resolution": 12}, "convert").value
    assert adc == pytest.approx(2.379022742 * 4)


def test_out_of_range_names_attribute_range_and_nearest(shipped):
    from dse.errors import OutOfRangeError

    with pytest.raises(OutOfRangeError) as info:
        shipped.energy("SRAM", {"technology": "7nm", "depth": 1024, "width": 128}, "read", where="node Buf")
    msg = info.value.format()
    assert "node Buf" in msg and "technology=7nm" in msg and "16nm..65nm" in msg and "nearest valid value 16nm" in msg
    with pytest.raises(OutOfRangeError) as info:
        shipped.energy("SRAM", {"technology": "32nm", "depth": 2 ** 30, "width": 32}, "read")
    # the range is the tabulated one at these attributes; the nearest valid value is its upper end
    assert re.search(r"depth=1073741824 is outside .*\(1\.\.(\d+)\); nearest valid value \1$", info.value.message)
    with pytest.raises(OutOfRangeError, match="technology=3nm .*nearest valid value 7nm"):
        shipped.energy("aladdin_adder", {"technology": "3nm"}, "add")


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
    assert {s.name for s in sets} >= {"hwcomponents", "dse_digital", "dse_pim", "dse_free"}
    for ts in sets:
        for ct in ts.classes.values():
            assert ct.rows, ct.path
            for row in ct.rows:
                assert len(row.comment) > 15, f"{row.file}:{row.line} has no source comment"
                assert row.energy_pj is not None and math.isfinite(row.energy_pj), f"{row.file}:{row.line}"
                assert row.area_um2 is not None, f"{row.file}:{row.line}"


def test_shipped_tables_cover_required_classes(shipped):
    for cls in ("SRAM", "regfile", "DRAM", "intadder", "intmultiplier", "ADC", "DAC",
                "ReRAMcell_compute", "ReRAMcell_storage", "sample_and_hold", "shift_and_add",
                "free_compute", "free_storage"):
        assert shipped.has_class(cls), cls
    for tech in ("32nm", "45nm", "22nm"):  # CACTI nodes: exact rows
        for depth, width, banks in ((64, 8, 1), (1024, 64, 1), (16384, 256, 1), (4096, 32, 2), (32768, 128, 4)):
            e = shipped.energy("SRAM", {"technology": tech, "depth": depth, "width": width, "n_banks": banks}, "read")
            assert e.value > 0 and e.approximations == 0, (tech, depth, width, e.source)
    dram_types = {r.cells["type"] for ts in load_tables([default_tables_dir()]) if "DRAM" in ts.classes
                  for r in ts.classes["DRAM"].rows}
    assert {"LPDDR4", "DDR3", "DDR4", "HBM2"} <= dram_types


def test_regfile_table_matches_its_composition(shipped):
    # regfile read = width * 0.009 + depth * 0.02947 (Aladdin 40 nm register bit / 32-bit comparator)
    for depth, width in ((16, 32), (64, 16)):
        e = shipped.energy("regfile", {"technology": "40nm", "depth": depth, "width": width}, "read").value
        assert e == pytest.approx(width * 0.009 + depth * 0.02947)
