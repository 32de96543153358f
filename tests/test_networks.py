"""Explicit network components (Timeloop SimpleMulticast): transfers and energy.

Hand-built case: every expected number below is derived in the comments.
"""
import re
from dataclasses import replace
from pathlib import Path

import pytest

from dse.energy import ComponentModel, Estimators, NetworkEnergy, estimate
from dse.model.energies import ActionEnergies, LevelEnergies, from_tables
from dse.model.nest import evaluate, make_context
from dse.report.timeloop_files import stats_txt
from dse.spec.mapping import Mapping, SpatialMapping, TemporalMapping
from dse.spec.types import (Architecture, ComputeLevel, DataSpace, NetworkComponent, SpatialLevel, StorageLevel,
                            Workload)

ALL = frozenset({"Weights", "Inputs", "Outputs"})
P = Path(__file__).parent / "data" / "reference" / "transformer_pim"


def gemm(E, D, L):
    return Workload("gemm", ("E", "D", "L"), {"E": E, "D": D, "L": L}, {}, (
        DataSpace("Weights", ((("E", None),), (("D", None),))),
        DataSpace("Inputs", ((("E", None),), (("L", None),))),
        DataSpace("Outputs", ((("D", None),), (("L", None),)), read_write=True)))


def arch(with_networks=True, read_latency=0, update_latency=0, per_datatype=True):
    # DRAM -> GLB (1) -> fan-out X4 -> RF (4) -> MAC (4)
    glb_attrs = {"network_read": "ReadNoC", "network_update": "UpdNoC"} if with_networks else {}
    rf_attrs = {"network_fill": "ReadNoC", "network_drain": "UpdNoC"} if with_networks else {}
    nets = ()
    if with_networks:
        nets = (NetworkComponent("ReadNoC", "SimpleMulticast",
                                 {"action_name": "transfer", "per_datatype_ERT": per_datatype,
                                  "multicast_factor_argument": "num_destinations", "fill_latency": read_latency}, 1,
                                 subclass="TestNoC"),
                NetworkComponent("UpdNoC", "SimpleMulticast",
                                 {"action_name": "transfer", "per_datatype_ERT": True,
                                  "multicast_factor_argument": "num_destinations", "drain_latency": update_latency}, 1,
                                 subclass="TestReduceNoC"))
    return Architecture("net", (
        StorageLevel("DRAM", "DRAM", {}, 1, 1, 1, None, 8),
        StorageLevel("GLB", "SRAM", glb_attrs, 1, 1, 1, 1024, 8),
        SpatialLevel("F", 4, 1),
        StorageLevel("RF", "SRAM", rf_attrs, 4, 4, 1, 64, 8),
        ComputeLevel("MAC", "intmac", {}, 4, 4, 1)), networks=nets)


def mapping(rf_keep=ALL):
    # E=4 D=2 L=3 (24 MACs). Spatial D2 (irrelevant to Inputs: multicast 2) x E2 (irrelevant to
    # Outputs: spatial reduction 2). RF: L3 E2.
    return Mapping((TemporalMapping("DRAM", (), ALL), TemporalMapping("GLB", (), ALL),
                    TemporalMapping("RF", (("L", 3), ("E", 2)), rf_keep)),
                   (SpatialMapping("F", (("D", 2), ("E", 2))),))


def hand_energies():
    # transfer_Weights(m) = 3 + m, transfer_Inputs(m) = 1 + 0.5 m (destinations 1..4),
    # transfer_Outputs = 10 (a single ERT entry, num_destinations 1..1: used whatever the factor)
    read = NetworkEnergy("ReadNoC", "TestNoC", "SimpleMulticast", "transfer", True, "num_destinations",
                         {"transfer_Weights": (1, 4), "transfer_Inputs": (1, 4)},
                         evaluate=lambda a, m: (3.0 + m) if a == "transfer_Weights" else (1.0 + 0.5 * m))
    upd = NetworkEnergy("UpdNoC", "TestReduceNoC", "SimpleMulticast", "transfer", True, "num_destinations",
                        {"transfer_Outputs": (1, 1)}, evaluate=lambda a, m: 10.0)
    levels = {"DRAM": LevelEnergies(100, 100, 100), "GLB": LevelEnergies(10, 10, 10), "RF": LevelEnergies(1, 2, 2)}
    return ActionEnergies(levels, 0.5), {"ReadNoC": read, "UpdNoC": upd}


def test_hand_transfers_multicast_and_energy():
    base, nets = hand_energies()
    wl = gemm(4, 2, 3)
    r = evaluate(make_context(arch(), wl, replace(base, networks=nets)), mapping())
    r0 = evaluate(make_context(arch(False), wl, base), mapping())
    # RF per instance: Weights tile E2 = 2, Inputs E2 x L3 = 6, Outputs L3 = 3, each loaded once.
    # GLB <==> RF connection: fan-out 4; multicast Weights 1, Inputs 2 (D), Outputs 2 (E, reduction).
    # transfers per GLB instance = RF fills x 4 / multicast: Weights 2x4/1 = 8, Inputs 6x4/2 = 12,
    # Outputs 3x4/2 = 6 (the updates arriving) -- equal to GLB's reads / updates.
    rd, up = r.network("ReadNoC"), r.network("UpdNoC")
    assert (rd.level, rd.child, rd.roles) == ("GLB", "RF", ("read",))
    got = {d.name: (d.transfers, d.multicast_factor, d.fanout) for d in rd.data_spaces}
    assert got == {"Weights": (8, 1, 4), "Inputs": (12, 2, 4), "Outputs": (6, 2, 4)}
    glb = {d.name: d for d in r.level("GLB").data_spaces}
    assert (glb["Weights"].reads, glb["Inputs"].reads, glb["Outputs"].updates) == (8, 12, 6)
    # energies: ReadNoC = 8 x (3+1) + 12 x (1+0.5x2) = 32 + 24 = 56 (no transfer_Outputs action: 0);
    # UpdNoC = 6 x 10 = 60 (no transfer_Weights/Inputs: 0)
    e = {d.name: d.energy_pj for d in rd.data_spaces}
    assert e == {"Weights": 32.0, "Inputs": 24.0, "Outputs": 0.0}
    assert rd.energy_pj == 56.0 and up.energy_pj == 60.0 and r.network_energy_pj == 116.0
    assert r.energy_pj == pytest.approx(r0.energy_pj + 116.0)
    # nothing else changes
    assert r.cycles == r0.cycles and [l.energy_pj for l in r.levels] == [l.energy_pj for l in r0.levels]
    text = stats_txt(make_context(arch(), wl, replace(base, networks=nets)), r)
    assert "ReadNoC" in text.split("Summary Stats")[0] and "Ingresses                               : 12" in text
    assert re.search(rf"\n    ReadNoC +=( {56 / 24:.2f})\n", text.split("pJ/Compute")[1])  # pJ/Compute includes networks


def test_hand_bypassed_child_and_not_per_datatype():
    base, nets = hand_energies()
    wl = gemm(4, 2, 3)
    # RF bypasses Inputs: the GLB network still carries them (Timeloop's masked-tile network stats):
    # RF <==> MAC carries 24 MACs / 4 instances = 6 per RF instance; GLB's network 6 x 4 / 2 = 12.
    r = evaluate(make_context(arch(), wl, replace(base, networks=nets)), mapping(frozenset({"Weights", "Outputs"})))
    got = {d.name: d.transfers for d in r.network("ReadNoC").data_spaces}
    assert got == {"Weights": 8, "Inputs": 12, "Outputs": 6}
    assert r.network("ReadNoC").energy_pj == 8 * 4.0 + 12 * 2.0
    # per_datatype_ERT false: one 'transfer' action charged for every data space of the connection
    flat = NetworkEnergy("ReadNoC", "TestNoC", "SimpleMulticast", "transfer", False, "num_destinations",
                         {"transfer": (1, 4)}, evaluate=lambda a, m: 1.0 + m)
    r = evaluate(make_context(arch(per_datatype=False), wl, replace(base, networks={**nets, "ReadNoC": flat})), mapping())
    assert r.network("ReadNoC").energy_pj == 8 * 2.0 + 12 * 3.0 + 6 * 3.0


def test_hand_latency_and_lookup_rules():
    base, nets = hand_energies()
    wl = gemm(4, 2, 3)
    r0 = evaluate(make_context(arch(False), wl, base), mapping())
    r = evaluate(make_context(arch(read_latency=3, update_latency=2), wl, replace(base, networks=nets)), mapping())
    assert r.cycles == r0.cycles + 5
    # Timeloop's ERT lookup: a factor outside the argument range has no entry (0 pJ); a missing action 0 pJ
    ne = NetworkEnergy("N", "C", "SimpleMulticast", "transfer", True, "num_destinations", {"transfer_Inputs": (2, 4)},
                       evaluate=lambda a, m: float(m))
    assert (ne.energy_pj("Inputs", 1), ne.energy_pj("Inputs", 3), ne.energy_pj("Inputs", 5)) == (0.0, 3.0, 0.0)
    assert ne.energy_pj("Weights", 2) == 0.0


TEST_COMPONENTS = {
    "TestNoC": {"name": "TestNoC", "attributes": {"technology": "32nm", "n_cols": 4},
                "subcomponents": [{"name": "wire[0..n_cols-1]", "class": "wire_seg"}],
                "actions": [{"name": "transfer_Inputs", "arguments": {"num_destinations": "1..n_cols"},
                             "subcomponents": [{"name": "wire[1..num_destinations]", "actions": [{"name": "transfer"}]}]},
                            {"name": "transfer_Weights", "arguments": {"num_destinations": "1..n_cols"},
                             "subcomponents": [{"name": "wire[0]", "actions": [{"name": "transfer", "action_share": 3}]}]}]},
    "TestReduceNoC": {"name": "TestReduceNoC", "attributes": {"technology": "32nm"},
                      "subcomponents": [{"name": "adc", "class": "wire_seg"}],
                      "actions": [{"name": "transfer_Outputs", "arguments": {"num_destinations": "1..1"},
                                   "subcomponents": [{"name": "adc", "actions": [{"name": "transfer", "action_share": 20}]}]}]},
}


def test_estimated_compound_network_energy():
    # wire_seg.transfer = 0.5 pJ; transfer_Inputs(m) = m x 0.5, transfer_Weights = 3 x 0.5, transfer_Outputs = 20 x 0.5
    const = {"transfer": 0.5, "read": 1.0, "write": 1.0, "update": 1.0, "leak": 0.0, "compute": 0.25}
    est = Estimators.default(entry_points=False)
    for cls in ("wire_seg", "DRAM", "SRAM", "intmac"):
        est = est.with_plugin(cls, lambda c, a, action: const.get(action))
    tables = estimate(arch(), components=TEST_COMPONENTS, estimators=est, with_area=False)
    rn = tables.network("ReadNoC")
    assert rn.arguments == {"transfer_Inputs": (1, 4), "transfer_Weights": (1, 4)}
    assert [rn.energy_pj("Inputs", m) for m in (1, 2, 4, 5)] == [0.5, 1.0, 2.0, 0.0]
    assert tables.network("UpdNoC").energy_pj("Outputs", 2) == 10.0
    r = evaluate(make_context(arch(), gemm(4, 2, 3), from_tables(tables, arch())), mapping())
    # ReadNoC: Weights 8 x 1.5 + Inputs 12 x 1.0 (multicast 2); UpdNoC: Outputs 6 x 10
    assert r.network("ReadNoC").energy_pj == 8 * 1.5 + 12 * 1.0
    assert r.network("UpdNoC").energy_pj == 60.0
    # the estimate without networks is unchanged (backward compatible) and has none
    assert estimate(arch(), components=TEST_COMPONENTS, estimators=est, with_area=False,
                    with_networks=False).networks == ()


def test_unknown_network_name_is_an_error():
    from dse.errors import DseError

    a = arch()
    bad = replace(a, networks=a.networks[:1])
    with pytest.raises(DseError) as err:
        make_context(bad, gemm(4, 2, 3), ActionEnergies({}, 0.0))
    assert "UpdNoC" in str(err.value) and "GLB" in str(err.value)


# --------------------------------------------------------------------------- reference PIM spec
def _pim_spec():
    from dse.spec.loader import load_spec

    # BERT-base FF1 (E=768, D=3072, L=512); the PIM KQV layer also needs EMBEDDING_3 (docs/spec.md)
    return load_spec([P / "arch" / "system_PIM.yaml", P / "constraints" / "constraints.yaml",
                      P / "layers" / "FF1_layer.yaml", P / "arch" / "components", P / "mapper" / "variables.yaml",
                      P / "mapper" / "mapper.yaml"],
                     variables={"EMBEDDING": 768, "SEQ_LENGTH": 512, "FF_DIM": 3072, "EMBEDDING_3": 2304,
                                "EMBEDDING_HEADS": 64})


def _pim_components(spec):
    # components/storage.yaml's dummy_storage defines only 'access'; give it read/write/update as its idle action
    comps = dict(spec.components)
    d = dict(comps["dummy_storage"])
    idle = {"subcomponents": [{"name": "storage", "actions": [{"name": "idle"}]}]}
    d["actions"] = [{"name": a, **idle} for a in ("read", "write", "update", "leak")]
    comps["dummy_storage"] = d
    return comps


def test_reference_pim_networks_after_mapping():
    from dse.mapper.search import search
    from dse.spec.types import MapperOptions

    spec = _pim_spec()
    comps = _pim_components(spec)
    tables = estimate(spec, components=comps)
    ctx = make_context(spec.architecture, spec.workload, from_tables(tables, spec.architecture))
    assert [(c.name, c.level_name, c.child, c.roles) for c in ctx.networks] == [
        ("D2A_NoC", "shared_glb", "dummy_buffer", ("read",)), ("A2D_NoC", "shared_glb", "dummy_buffer", ("update",))]
    best = search(ctx, spec.constraints, MapperOptions()).best
    assert best is not None and best.valid

    # per-transfer energies computed independently from the component classes
    model = ComponentModel(comps, Estimators.default())
    tech = {"technology": spec.variables["technology"], "latency": "1ns"}
    dac = model.energy("D2A_conversion_system", {**tech, "datawidth": 16, "DAC_datawidth": 1, "cell_datawidth": 2},
                       "convert").value
    e_in = 16 * dac  # DAC_SimpleMulticast.transfer_Inputs: convert x action_share n_PE_cols (16)
    a_attrs = {**tech, "datawidth": 16, "ADC_datawidth": 8, "cell_datawidth": 2, "n_DAC_cycles": 16}
    e_out = (model.energy("A2D_conversion_system", a_attrs, "convert").value
             + model.energy("digital_accumulation_system", {k: v for k, v in a_attrs.items() if k != "ADC_datawidth"},
                            "accumulate").value)
    assert e_in > 0 and e_out > 0

    # transfers: the shared_glb reads of Inputs / updates of Outputs (dummy_buffer has one instance:
    # multicast factor 1); both networks are evaluated on the shared_glb <==> dummy_buffer connection
    glb = {d.name: d for d in best.level("shared_glb").data_spaces}
    d2a, a2d = best.network("D2A_NoC"), best.network("A2D_NoC")
    din = next(d for d in d2a.data_spaces if d.name == "Inputs")
    dout = next(d for d in a2d.data_spaces if d.name == "Outputs")
    assert din.transfers == glb["Inputs"].reads > 0 and din.multicast_factor == 1
    assert dout.transfers == glb["Outputs"].updates > 0
    assert d2a.energy_pj == pytest.approx(din.transfers * e_in, rel=1e-12)
    assert a2d.energy_pj == pytest.approx(dout.transfers * e_out, rel=1e-12)
    levels = sum(l.energy_pj for l in best.levels) + best.compute_energy_pj
    assert best.network_energy_pj > 0
    assert best.energy_pj == pytest.approx(levels + din.transfers * e_in + dout.transfers * e_out, rel=1e-12)


def test_imperfect_factorization_transfers_equal_keeper_counts():
    # L=5 as GLB L2 over RF L3 with residual 2 (3 + 2): GLB reads Weights 8, Inputs 20 (5 x 4 / 2), updates Outputs 10
    base, nets = hand_energies()
    m = Mapping((TemporalMapping("DRAM", (), ALL), TemporalMapping("GLB", (("L", 2),), ALL),
                 TemporalMapping("RF", (("L", 3), ("E", 2)), ALL, residuals=(("L", 2),))),
                (SpatialMapping("F", (("D", 2), ("E", 2))),))
    r = evaluate(make_context(arch(), gemm(4, 2, 5), replace(base, networks=nets)), m)
    glb = {d.name: d for d in r.level("GLB").data_spaces}
    got = {d.name: d.transfers for d in r.network("ReadNoC").data_spaces}
    assert got == {"Weights": glb["Weights"].reads, "Inputs": glb["Inputs"].reads, "Outputs": glb["Outputs"].updates}
    assert got == {"Weights": 8, "Inputs": 20, "Outputs": 10}
    assert r.network("ReadNoC").energy_pj == 8 * 4.0 + 20 * 2.0 and r.network("UpdNoC").energy_pj == 100.0


def test_reference_pim_spec_runs_end_to_end_with_timeloops_missing_action_fallback(tmp_path):
    # dummy_storage defines only 'access': Timeloop charges missing memory actions at the
    # component's largest action energy, so the reference spec estimates and maps unmodified.
    from dse.cli.run_cmd import main as run_main
    from dse.spec.timeloop_stats import parse_stats

    root = Path(__file__).parent / "data" / "reference" / "transformer_pim"
    files = [root / "arch/system_PIM.yaml", *sorted((root / "arch/components").glob("*.yaml")),
             root / "constraints/constraints.yaml", root / "mapper/variables.yaml"]
    out = tmp_path / "pim"
    assert run_main(["KTQ", "--spec", *map(str, files), "-o", str(out)]) == 0
    text = (out / "timeloop-mapper.stats.txt").read_text()
    assert "D2A_NoC" in text and "A2D_NoC" in text
    assert parse_stats(out / "timeloop-mapper.stats.txt").summary["Computes"] == 64 * 512 * 512


def test_stats_output_documents_the_drain_latency_deviation():
    from dse.model.nest import make_context as mk
    from dse.report.timeloop_files import stats_txt

    base, nets = hand_energies()
    ctx = mk(arch(read_latency=3, update_latency=2), gemm(4, 2, 3), replace(base, networks=nets))
    text = stats_txt(ctx, evaluate(ctx, mapping()))
    assert "drain latency 2 cycles used; Timeloop's SimpleMulticast DrainLatency() returns the fill latency" in text
    ctx_same = mk(arch(read_latency=0, update_latency=0), gemm(4, 2, 3), replace(base, networks=nets))
    assert "DrainLatency()" not in stats_txt(ctx_same, evaluate(ctx_same, mapping()))


# --------------------------------------------------------------------------- Timeloop Legacy networks
def legacy_arch(fanout=True, **attrs):
    # DRAM -> GLB (network_read/update: Mesh, class Legacy) -> [fan-out X4] -> RF (4) -> MAC (4)
    mesh = NetworkComponent("Mesh", "Legacy", {"network_type": "1:N", "datawidth": 8, **attrs}, 1)
    glb = {"network_read": "Mesh", "network_update": "Mesh"}
    inner = (SpatialLevel("F", 4, 1), StorageLevel("RF", "SRAM", {}, 4, 4, 1, 64, 8),
             ComputeLevel("MAC", "intmac", {}, 4, 4, 1)) if fanout else (
        StorageLevel("RF", "SRAM", {}, 1, 1, 1, 64, 8), ComputeLevel("MAC", "intmac", {}, 1, 1, 1))
    return Architecture("legacy", (StorageLevel("DRAM", "DRAM", {}, 1, 1, 1, None, 8),
                                   StorageLevel("GLB", "SRAM", glb, 1, 1, 1, 1024, 8)) + inner, networks=(mesh,))


def test_legacy_network_hops_routers_and_ingresses():
    r = evaluate(make_context(legacy_arch(energy_per_hop=1, router_energy=2, **{"energy-per-ingress": 0.5}),
                              gemm(4, 2, 3), ActionEnergies({}, 0.0)), mapping())
    # transfers per GLB instance as for SimpleMulticast: Weights 8, Inputs 12, Outputs 6.
    # Children on a 4x1 row, numbered E-major, D fastest (x = 2e + d), injected at column 0:
    # Weights (E, D relevant): one child per group, hops 0,1,2,3 -> 1.5;
    # Inputs (D irrelevant): groups {0,1}, {2,3} -> farthest 1, 3 -> 2;
    # Outputs (E irrelevant): groups {0,2}, {1,3} -> 2, 3 -> 2.5.
    # energy = transfers x (hops x 1 + (1 + floor(hops)) x 2 + 0.5)
    n = r.network("Mesh")
    by = {d.name: d for d in n.data_spaces}
    assert (by["Weights"].transfers, by["Inputs"].transfers, by["Outputs"].transfers) == (8, 12, 6)
    assert by["Weights"].energy_pj == pytest.approx(8 * (1.5 + 2 * 2 + 0.5))
    assert by["Inputs"].energy_pj == pytest.approx(12 * (2 + 3 * 2 + 0.5))
    assert by["Outputs"].energy_pj == pytest.approx(6 * (2.5 + 3 * 2 + 0.5))
    assert n.energy_pj == pytest.approx(48 + 102 + 54)
    r0 = evaluate(make_context(legacy_arch(), gemm(4, 2, 3), ActionEnergies({}, 0.0)), mapping())
    assert r.energy_pj - r0.energy_pj == pytest.approx(204)  # no energies given: the network costs 0


def test_legacy_network_without_fanout_touches_one_router_per_ingress():
    # the seed's AIMC shape: buffer -> buffer with no fan-out; hops 0, one router per ingress
    wl = gemm(4, 2, 3)
    m = Mapping((TemporalMapping("DRAM", (), ALL), TemporalMapping("GLB", (), ALL),
                 TemporalMapping("RF", (("L", 3), ("E", 4), ("D", 2)), ALL)), ())
    r = evaluate(make_context(legacy_arch(False, router_energy=1, energy_per_hop=1), wl, ActionEnergies({}, 0.0)), m)
    rf = {d.name: d for d in r.level("RF").data_spaces}
    n = {d.name: d for d in r.network("Mesh").data_spaces}
    # the RF's fills (Weights 8, Inputs 12) and the Outputs it drains (updates at GLB = 6) cross once each
    assert n["Weights"].transfers == rf["Weights"].fills == 8
    assert n["Inputs"].transfers == rf["Inputs"].fills == 12
    assert r.network("Mesh").energy_pj == pytest.approx(sum(d.transfers for d in n.values()) * 1.0)
