"""Compound components: attribute defaults/expressions, subcomponent ranges, scales, merges."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from dse.energy.compound import ComponentModel, load_components, split_name
from dse.energy.estimators import Estimators
from dse.errors import EstimationError

DATA = Path(__file__).parent / "data" / "energy"
REG, CMP, ADD = 0.009, 0.02947, 0.21          # Aladdin 40 nm: 1-bit register read, 32-bit compare, 32-bit add


@pytest.fixture(scope="module")
def model() -> ComponentModel:
    return ComponentModel(load_components([DATA / "components"]), Estimators.default(entry_points=False))


def test_split_name():
    assert split_name("storage[1..width*depth]", {"width": 8, "depth": 4}, "x") == ("storage", 32)
    assert split_name("address_generators[0..1]", {}, "x") == ("address_generators", 2)
    assert split_name("address_generators[1]", {}, "x") == ("address_generators", 1)
    assert split_name("SH[0..nCells-1]", {"nCells": 8}, "x") == ("SH", 8)
    assert split_name("ADC", {}, "x") == ("ADC", 1)


def test_reference_components_load(model):
    assert {"intmac", "regfile", "smartbuffer_RF", "smartbuffer_SRAM", "regfile_metadata"} <= set(model.classes)


def test_regfile_by_hand(model):
    """regfile.yaml: read = width register reads + depth compares; update merges write (<<)."""
    attrs = {"technology": "40nm", "width": 8, "depth": 4, "global_cycle_seconds": 1e-9}
    assert model.energy("regfile", attrs, "read").value == pytest.approx(8 * REG + 4 * CMP)
    assert model.energy("regfile", attrs, "write").value == pytest.approx(4 * CMP)      # register write = 0
    assert model.energy("regfile", attrs, "update").value == pytest.approx(4 * CMP)     # via YAML merge key
    assert model.energy("regfile", attrs, "leak").value == pytest.approx(4 * 2.51e-5)   # comparators only
    assert model.area("regfile", attrs).value == pytest.approx(8 * 4 * 5.98 + 4 * 71)


def test_smartbuffer_rf_scales_by_hand(model):
    """smartbuffer_RF 16 x 16: CACTI-like scaling of a 64 x 32 regfile plus one log2(16)=4-bit address adder."""
    attrs = {"technology": "40nm", "width": 16, "depth": 16, "global_cycle_seconds": 1e-9}
    scale = (16 / 32) * (16 / 64) ** (1.56 / 2)
    expected = scale * (32 * REG + 64 * CMP) + ADD * 4 / 32
    assert model.energy("smartbuffer_RF", attrs, "read").value == pytest.approx(expected)
    area_scale = (16 / 32) * (16 / 64)
    expected_area = area_scale * (64 * 32 * 5.98 + 64 * 71) + 2 * 278 * 4 / 32
    assert model.area("smartbuffer_RF", attrs).value == pytest.approx(expected_area)
    # Older Accelergy semantics: scales ignored.
    legacy = ComponentModel(model.classes, model.estimators, apply_scales=False)
    assert legacy.energy("smartbuffer_RF", attrs, "read").value == pytest.approx(32 * REG + 64 * CMP + ADD * 4 / 32)


def test_intmac_composition_and_technology(model):
    # intmac.yaml: adder (width = adder_width) + "multiplier" modelled as a 32-bit aladdin_adder (no width given)
    attrs = {"technology": "32nm", "multiplier_width": 8, "adder_width": 16, "global_cycle_seconds": 1.2e-9}
    # 45 nm -> 32 nm by Accelergy's rule: 0.659340 = the reference gemmini MAC 0.276923 pJ / (2 x 0.21 pJ)
    k = 0.276923 / (2 * ADD)
    assert model.energy("intmac", attrs, "compute").value == pytest.approx((ADD * 16 / 32 + ADD) * k, rel=1e-5)
    assert model.energy("intmac", attrs, "leak").value == pytest.approx(
        (0.0024 * 16 / 32 + 0.0024) * 1.2 * k, rel=1e-5)


def test_expression_attribute_defaults(model):
    attrs = {"technology": "40nm", "width": 64, "depth": 1, "global_cycle_seconds": 1e-9}
    # depth 1: max(1, ceil(log2(1))) if 1 >= 1 else 1 = 1-bit address adder
    e = model.energy("smartbuffer_SRAM", attrs, "read")
    sram = model.energy("SRAM", {"technology": "40nm", "width": 64, "depth": 1}, "read").value
    assert e.value == pytest.approx(sram + ADD / 32)  # a 1-bit Aladdin adder


def test_must_specify(model):
    with pytest.raises(EstimationError) as info:
        model.energy("regfile", {"technology": "40nm", "width": 8, "global_cycle_seconds": 1e-9}, "read")
    assert "depth" in info.value.message and "must be specified" in info.value.message


def test_unknown_action_and_subcomponent(model):
    with pytest.raises(EstimationError, match="no action 'compute'"):
        model.energy("regfile", {"technology": "40nm", "width": 8, "depth": 4, "global_cycle_seconds": 1e-9}, "compute")
    broken = {"bad": {"name": "bad", "attributes": {}, "subcomponents": [{"name": "a", "class": "aladdin_adder"}],
                      "actions": [{"name": "go", "subcomponents": [{"name": "b", "actions": [{"name": "add"}]}]}]}}
    m = ComponentModel(broken, Estimators.default(entry_points=False))
    with pytest.raises(EstimationError, match="unknown subcomponent 'b'"):
        m.energy("bad", {"technology": "40nm"}, "go")


def test_hand_written_compound_with_literal_merge_key():
    """energy_scale, action_share, ranges, argument pass-through and an unresolved '<<' key."""
    write = {"name": "write", "subcomponents": [{"name": "adder[0..1]", "actions": [{"name": "add", "energy_scale": 0.5}]}]}
    classes = {"pair": {
        "name": "pair",
        "attributes": {"technology": "must_specify", "w": 16, "n": "w // 4"},
        "subcomponents": [{"name": "adder[0..n-1]", "class": "aladdin_adder", "attributes": {"width": "w"}}],
        "actions": [write,
                    {"name": "update", "<<": write},
                    {"name": "burst", "subcomponents": [
                        {"name": "adder[0..n-1]", "actions": [{"name": "add", "action_share": 3}]}]}],
    }}
    m = ComponentModel(classes, Estimators.default(entry_points=False))
    one = ADD * 16 / 32
    assert m.energy("pair", {"technology": "40nm"}, "write").value == pytest.approx(2 * 0.5 * one)
    assert m.energy("pair", {"technology": "40nm"}, "update").value == pytest.approx(2 * 0.5 * one)
    assert m.energy("pair", {"technology": "40nm"}, "burst").value == pytest.approx(4 * 3 * one)
    assert m.area("pair", {"technology": "40nm"}).value == pytest.approx(4 * 278 * 16 / 32)
    assert m.actions("pair") == ("write", "update", "burst")


def test_pim_compounds_by_hand():
    """transformer_pim components over the shipped PIM tables (reference PIM table values)."""
    m = ComponentModel(load_components([DATA / "components_pim"]), Estimators.default(entry_points=False))
    # A2D: nCells = 16/2 = 8 sample-and-holds x 16 DAC cycles + 8*16 = 128 ADC conversions (8-bit SAR, 1.66 pJ)
    a2d = m.energy("A2D_conversion_system", {}, "convert")
    assert a2d.value == pytest.approx(8 * 16 * 8.13e-6 + 128 * 1.66)
    # D2A: nArrays = 8 DACs x 16 cycles (1-bit DAC, 0.0033 pJ)
    assert m.energy("D2A_conversion_system", {}, "convert").value == pytest.approx(8 * 16 * 0.0033)
    # memcell_compute: 8 two-bit memristor cells x 16 input bits (1.83e-3 pJ)
    assert m.energy("memcell_compute", {}, "compute").value == pytest.approx(8 * 16 * 1.83e-3)
    # digital accumulation: 8*16 shift-and-adds (0.0418 pJ) + 14 reads and 14 writes of a 128x16 SRAM
    acc = m.energy("digital_accumulation_system", {}, "accumulate").value
    sram = m.estimators.energy("SRAM", {"technology": "32nm", "width": 16, "depth": 128}, "read").value
    sram_w = m.estimators.energy("SRAM", {"technology": "32nm", "width": 16, "depth": 128}, "write").value
    assert acc == pytest.approx(128 * 0.0418 + 14 * (sram + sram_w))
