"""Timeloop's storage energy rules: vector_access_energy, addr_gen_energy, cluster_area, cluster_size.

Every expected number is derived by hand in the comments (Timeloop buffer.cpp semantics: a
cluster of ``cluster_size`` instances shares one physical array; utilized clusters =
min(utilized instances, instances / cluster_size); each instance pays its vector accesses x
action energy x utilized clusters / utilized instances; leakage unchanged).
"""
from dataclasses import replace
from pathlib import Path

import pytest

from dse.energy.ert import ActionEnergy, AreaEstimate, ComponentEnergy, EnergyAreaTables
from dse.model.energies import from_tables
from dse.model.nest import evaluate, make_context
from dse.spec.mapping import Mapping, SpatialMapping, TemporalMapping
from dse.spec.types import Architecture, ComputeLevel, DataSpace, SpatialLevel, StorageLevel, Workload

ALL = frozenset({"Weights", "Inputs", "Outputs"})
DATA = Path(__file__).parent / "data" / "energy"


def gemm(E, D, L):
    return Workload("gemm", ("E", "D", "L"), {"E": E, "D": D, "L": L}, {}, (
        DataSpace("Weights", ((("E", None),), (("D", None),))),
        DataSpace("Inputs", ((("E", None),), (("L", None),))),
        DataSpace("Outputs", ((("D", None),), (("L", None),)), read_write=True)))


def arch(**rf):
    # DRAM -> GLB -> fan-out 64 -> RF (64 instances) -> MAC (64)
    return Architecture("rules", (
        StorageLevel("DRAM", "DRAM", {}, 1, 1, 1, None, 8),
        StorageLevel("GLB", "SRAM", {}, 1, 1, 1, 4096, 8),
        SpatialLevel("F", 64, 1),
        replace(StorageLevel("RF", "SRAM", {}, 64, 64, 1, 64, 8), **rf),
        ComputeLevel("MAC", "intmac", {}, 64, 64, 1)))


def tables(rf_area=None):
    def comp(name, n, read, write, update, leak, area=None):
        acts = {"read": read, "write": write, "update": update, "leak": leak}
        return ComponentEnergy(name, "SRAM", n, {a: ActionEnergy(v, "test") for a, v in acts.items()},
                               None if area is None else AreaEstimate(area, "test"))
    return EnergyAreaTables((comp("DRAM", 1, 100, 100, 100, 0), comp("GLB", 1, 10, 10, 10, 0),
                             comp("RF", 64, 1.0, 2.0, 3.0, 0.5, rf_area),
                             ComponentEnergy("MAC", "intmac", 64, {"compute": ActionEnergy(0.25, "test")})))


def mapping():
    # E=2 D=64 L=2 (256 MACs): D64 across the 64 RFs; each RF runs L2 E2 (4 MACs).
    return Mapping((TemporalMapping("DRAM", (), ALL), TemporalMapping("GLB", (), ALL),
                    TemporalMapping("RF", (("L", 2), ("E", 2)), ALL)), (SpatialMapping("F", (("D", 64),)),))


def rf(result, ds):
    return next(d for d in result.level("RF").data_spaces if d.name == ds)


def run(a, t=None):
    return evaluate(make_context(a, gemm(2, 64, 2), from_tables(t or tables(), a)), mapping())


def test_rf_counts_by_hand():
    r = run(arch())
    # per RF instance: Weights tile E2 = 2 (filled once), read by each of 4 MACs;
    # Inputs tile E2 x L2 = 4, read 4; Outputs tile L2 = 2, 4 updates, reads 4 - partition 2 = 2, fills 0.
    assert (rf(r, "Weights").reads, rf(r, "Weights").fills) == (4, 2)
    assert (rf(r, "Inputs").reads, rf(r, "Inputs").fills) == (4, 4)
    assert (rf(r, "Outputs").reads, rf(r, "Outputs").fills, rf(r, "Outputs").updates) == (2, 0, 4)
    assert rf(r, "Weights").utilized_instances == 64 and r.cycles == 4


@pytest.mark.parametrize("cluster, clusters", [(1, 64), (4, 16), (64, 1)])
def test_cluster_size_divides_access_energy_over_the_cluster(cluster, clusters):
    r = run(arch(cluster_size=cluster))
    # per instance, read 1 / write 2 / update 3 pJ: Weights 4x1 + 2x2 = 8, Inputs 4x1 + 4x2 = 12,
    # Outputs 2x1 + 4x3 = 14 -> 34 pJ of vector accesses per utilized instance; all 64 utilized;
    # utilized clusters = min(64, 64 / cluster) -> total = 34 x clusters.
    assert sum(d.energy_pj for d in r.level("RF").data_spaces) == pytest.approx(34.0 * clusters)
    assert rf(r, "Outputs").energy_pj == pytest.approx(14.0 * clusters)
    # leakage is per instance, unchanged: 0.5 pJ x 4 cycles x 64 instances
    assert r.level("RF").leak_energy_pj == pytest.approx(0.5 * 4 * 64)


def test_partly_used_clusters():
    # cluster_size 4 of 64 instances = 16 clusters; a mapping using 8 RFs (D8 spatially, D8 at DRAM)
    # touches min(8, 16) = 8 clusters: energy as with no clusters
    m = Mapping((TemporalMapping("DRAM", (("D", 8),), ALL), TemporalMapping("GLB", (), ALL),
                 TemporalMapping("RF", (("L", 2), ("E", 2)), ALL)), (SpatialMapping("F", (("D", 8),)),))
    a = arch(cluster_size=4)
    r1 = evaluate(make_context(a, gemm(2, 64, 2), from_tables(tables(), a)), m)
    r0 = evaluate(make_context(arch(), gemm(2, 64, 2), from_tables(tables(), arch())), m)
    assert r1.level("RF").energy_pj == pytest.approx(r0.level("RF").energy_pj)
    # cluster_size 16: 4 clusters, all touched by the full mapping -> 34 pJ x 4
    full = run(arch(cluster_size=16))
    assert sum(d.energy_pj for d in full.level("RF").data_spaces) == pytest.approx(34.0 * 4)


def test_vector_access_energy_replaces_the_ert():
    r = run(arch(vector_access_energy_pj=0.25))
    # read/fill/update all 0.25 per vector access (block 1): per instance Weights 6, Inputs 8,
    # Outputs 2 + 0 + 4 = 6 accesses -> 20 x 0.25 = 5 pJ x 64 instances; leak 0 (not the ERT's 0.5)
    assert sum(d.energy_pj for d in r.level("RF").data_spaces) == pytest.approx(5.0 * 64)
    assert r.level("RF").leak_energy_pj == 0.0
    # with block size 2: vector accesses ceil(4/2)+ceil(2/2) = 3, 2+2 = 4, 1+0+2 = 3 -> 10 x 0.25 x 64
    r2 = run(arch(vector_access_energy_pj=0.25, block_size=2))
    assert sum(d.energy_pj for d in r2.level("RF").data_spaces) == pytest.approx(2.5 * 64)


def test_addr_gen_energy_per_utilized_cluster():
    r = run(arch(addr_gen_energy_pj=0.1, cluster_size=4))
    # address generations per instance: Weights reads + fills 6, Inputs 8, Outputs updates + fills 4;
    # charged per utilized cluster (16), not per instance: 18 x 0.1 x 16 = 28.8 pJ
    assert sum(d.addr_gen_energy_pj for d in r.level("RF").data_spaces) == pytest.approx(28.8)
    assert rf(r, "Outputs").addr_gen_energy_pj == pytest.approx(4 * 0.1 * 16)
    plain = run(arch(cluster_size=4))
    assert r.energy_pj - plain.energy_pj == pytest.approx(28.8)


def test_cluster_area():
    a = arch(cluster_area_um2=1000.0, cluster_size=4)
    e = from_tables(tables(rf_area=7.0), a)
    assert e.area_um2["RF"] == 250.0  # 1000 um^2 per cluster of 4
    assert from_tables(tables(rf_area=7.0), arch()).area_um2["RF"] == 7.0


# --------------------------------------------------------------------------- loaded from YAML, both energy paths
def _spec(tmp_path, extra):
    from dse.spec.loader import load_spec

    text = (DATA / "arch" / "system_gemmini.yaml").read_text()
    anchor = "      depth: 2048*2 #1024\n"
    assert anchor in text
    p = tmp_path / "arch.yaml"
    p.write_text(text.replace(anchor, anchor + "".join(f"      {k}: {v}\n" for k, v in extra.items())))
    return load_spec([p, DATA / "components", DATA / "arch" / "variables.yaml"])


def test_loaded_overrides_in_estimator_and_ert_paths(tmp_path):
    from dse.pipeline import energies_for

    spec = _spec(tmp_path, {"vector_access_energy": 0.75, "addr_gen_energy": 0.01, "cluster_area": 300})
    acc = next(l for l in spec.architecture.storage_levels if l.name == "Accumulator")
    assert (acc.vector_access_energy_pj, acc.addr_gen_energy_pj, acc.cluster_area_um2) == (0.75, 0.01, 300.0)
    est, _, _ = energies_for(spec, None)
    ert = tmp_path / "user.ERT.yaml"
    ert.write_text("ERT:\n  version: '0.4'\n  tables:\n  - name: System_top_level.Accumulator[1..16]\n"
                   "    actions:\n    - {name: read, arguments: {}, energy: 9.0}\n"
                   "    - {name: leak, arguments: {}, energy: 9.0}\n")
    usr, _, _ = energies_for(spec, str(ert))
    for e in (est, usr):
        le = e.level("Accumulator")
        assert (le.read_pj, le.fill_pj, le.update_pj, le.leak_pj) == (0.75, 0.75, 0.75, 0.0)
        assert e.area_um2["Accumulator"] == 300.0


def test_cluster_size_from_width_and_block_size(tmp_path):
    # Timeloop: block_size given, cluster_size not -> cluster_size = width / (word bits x block size)
    spec = _spec(tmp_path, {"block_size": 1})  # Accumulator width 32, datawidth 32 -> cluster 1
    acc = next(l for l in spec.architecture.storage_levels if l.name == "Accumulator")
    assert acc.cluster_size == 1
    from dse.spec.loader import load_spec

    simba = load_spec([DATA / "arch" / "system_simba.yaml", DATA / "components", DATA / "arch" / "variables.yaml"])
    regs = next(l for l in simba.architecture.storage_levels if l.name == "PEWeightRegs")
    # width 512, cluster_size 64, datawidth 8 -> block size 1
    assert (regs.cluster_size, regs.block_size) == (64, 1)


def test_bad_cluster_size_is_a_clean_error(tmp_path):
    from dse.errors import SpecError

    with pytest.raises(SpecError) as err:
        _spec(tmp_path, {"cluster_size": 3})
    msg = str(err.value)
    assert "Accumulator" in msg and "cluster_size" in msg
