"""ERT/ART files, overrides and the plug-in registry."""
from __future__ import annotations

from pathlib import Path

import pytest

from dse.energy.ert import (ActionEnergy, AreaEstimate, ComponentEnergy, EnergyAreaTables, estimate, merge_ert_art,
                            node_name, override, read_accelergy_art, read_accelergy_ert, write_art_yaml, write_ert_yaml)
from dse.energy.estimators import Estimators
from dse.errors import EstimationError
from dse.spec.types import Architecture, ComputeLevel, StorageLevel

DATA = Path(__file__).parent / "data" / "energy"


def test_node_name():
    assert node_name("System_top_level.Scratchpad[1..1]") == ("Scratchpad", 1)
    assert node_name("System_top_level.Registers[1..256]") == ("Registers", 256)
    assert node_name("MAC") == ("MAC", 1)


def test_read_real_gemmini_ert_and_art():
    ert = read_accelergy_ert(DATA / "gemmini.ERT.yaml")
    assert ert.names == ("DRAM", "Scratchpad", "Accumulator", "Registers", "MAC")
    assert ert.energy_pj("Scratchpad", "read") == pytest.approx(57.039)
    assert ert.energy_pj("Scratchpad", "write") == pytest.approx(54.0501)
    assert ert.energy_pj("Accumulator", "leak") == pytest.approx(0.001003)
    assert ert.energy_pj("MAC", "compute") == pytest.approx(0.276923)
    assert ert["Accumulator"].instances == 16 and ert["Registers"].instances == 256
    art = read_accelergy_art(DATA / "gemmini.ART.yaml")
    assert art.area_um2("Scratchpad") == pytest.approx(901693.0)
    assert art.area_um2("MAC") == pytest.approx(255.76)
    both = merge_ert_art(ert, art)
    assert both.area_um2("Registers") == pytest.approx(2.095375)
    assert "inter_PERows_spatial" not in both


def test_round_trip(tmp_path):
    ert = merge_ert_art(read_accelergy_ert(DATA / "simba.ERT.yaml"), read_accelergy_art(DATA / "simba.ART.yaml"))
    write_ert_yaml(tmp_path / "out.ERT.yaml", ert)
    write_art_yaml(tmp_path / "out.ART.yaml", ert)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ART.yaml", "out.ERT.yaml"]   # no temp files left
    back = merge_ert_art(read_accelergy_ert(tmp_path / "out.ERT.yaml"), read_accelergy_art(tmp_path / "out.ART.yaml"))
    assert back.names == ert.names
    for c in ert.components:
        assert back[c.name].instances == c.instances
        assert back[c.name].area_um2 == pytest.approx(c.area_um2)
        assert {a: e.energy_pj for a, e in back[c.name].actions.items()} == pytest.approx(
            {a: e.energy_pj for a, e in c.actions.items()})


def test_bad_files(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("foo: 1\n")
    with pytest.raises(EstimationError, match="not an Accelergy ERT"):
        read_accelergy_ert(bad)
    with pytest.raises(EstimationError, match="not an Accelergy ART"):
        read_accelergy_art(bad)


def _tiny_arch() -> Architecture:
    return Architecture("tiny", (
        StorageLevel("DRAM", "DRAM", {"type": "LPDDR4", "width": 64}, 1, 1, 1, None, 8, 8),
        StorageLevel("Buf", "SRAM", {"technology": "32nm", "depth": 4096, "width": 32, "n_banks": 2}, 1, 1, 1, 4096, 32, 1),
        ComputeLevel("MAC", "my_mac", {"technology": "32nm"}, 1, 1, 1),
    ))


class _Mac:
    """An estimator object with energy and area."""

    def energy(self, class_name, attributes, action):
        return {"compute": 0.5, "leak": 0.01}.get(action)

    def area(self, class_name, attributes):
        return 100.0


def test_plugin_registry_is_immutable_and_used():
    base = Estimators.default(entry_points=False)
    est = base.with_plugin("my_mac", _Mac())
    assert not base.has_class("my_mac") and est.has_class("my_mac")
    t = estimate(_tiny_arch(), {}, est)
    assert t.energy_pj("MAC", "compute") == 0.5
    assert t.energy_pj("MAC", "leak") == 0.01
    assert t.area_um2("MAC") == 100.0
    assert "plug-in" in t["MAC"].actions["compute"].source
    fn = base.with_plugin("my_mac", lambda cls, attrs, action: 2.0 if action == "compute" else 0.0)
    t2 = estimate(_tiny_arch(), {}, fn)
    assert t2.energy_pj("MAC", "compute") == 2.0
    assert t2.area_um2("MAC") == 0.0 and "gives no area" in t2["MAC"].area.source
    with pytest.raises(EstimationError, match="no estimator"):
        estimate(_tiny_arch(), {}, base)
    with pytest.raises(EstimationError):
        base.with_plugin("x", 42)  # type: ignore[arg-type]


def test_estimate_and_override():
    est = Estimators.default(entry_points=False).with_plugin("my_mac", _Mac())
    t = estimate(_tiny_arch(), {}, est)
    assert t.names == ("DRAM", "Buf", "MAC")
    assert t.energy_pj("Buf", "read") == pytest.approx(4.54186)
    assert t.energy_pj("DRAM", "update") == 512.0
    user = EnergyAreaTables((
        ComponentEnergy("Buf", "", 1, {"read": ActionEnergy(9.0, "user")}, AreaEstimate(1.0, "user")),
        ComponentEnergy("inter_X_spatial", "", 1, {}, AreaEstimate(1.0, "user")),
    ))
    o = override(t, user)
    assert o.energy_pj("Buf", "read") == 9.0
    assert o.energy_pj("Buf", "write") == pytest.approx(3.49104)     # not overridden
    assert o.area_um2("Buf") == 1.0
    assert t.energy_pj("Buf", "read") == pytest.approx(4.54186)      # original untouched
    with pytest.raises(EstimationError, match="not storage or compute nodes"):
        override(t, EnergyAreaTables((ComponentEnergy("Nope", "", 1, {}),)))




def test_entry_point_plugins(monkeypatch):
    from importlib import metadata

    class _EP:
        name, value = "ep_mac", "pkg:obj"

        def load(self):
            return _Mac()

    monkeypatch.setattr(metadata, "entry_points", lambda group: [_EP()] if group == "dse.estimators" else [])
    est = Estimators.default(entry_points=False).with_entry_points()
    assert est.has_class("ep_mac")
    assert est.energy("ep_mac", {}, "compute").value == 0.5
    assert Estimators.default().has_class("ep_mac")
