"""Every reference spec set loads unmodified into typed objects.

Expected numbers are read by eye from the YAML files and, for gemmini and
eyeriss, from the Timeloop stats in ``results_against_ff`` (independently
produced by Timeloop), not from this code.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from dse.errors import SpecError
from dse.spec import load_spec
from dse.spec.types import ComputeLevel, SpatialLevel, StorageLevel

REF = Path(__file__).parent / "data" / "reference"
G = REF / "transformer_gemmini"
P = REF / "transformer_pim"
A = REF / "transformer_aimc"
D = REF / "transformer_dimc"
GEMMINI_COMMON = [G / "arch" / "components", G / "mapper" / "variables.yaml", G / "mapper" / "mapper.yaml"]
PIM_COMMON = [P / "arch" / "components", P / "mapper" / "variables.yaml", P / "mapper" / "mapper.yaml"]
MATMUL_DIMS = ("E", "D", "R", "S", "N", "L", "Q", "G")


def gemmini_set(system: str, constraints: str, layer: str = "KQV_layer.yaml") -> list[Path]:
    return [G / "arch" / f"system_{system}.yaml", G / "constraints" / constraints, G / "layers" / layer, *GEMMINI_COMMON]


def storage(spec, name: str) -> StorageLevel:
    node = spec.architecture.node(name)
    assert isinstance(node, StorageLevel)
    return node


def numbers(level: StorageLevel) -> tuple:
    return (level.size_words, level.word_bits, level.block_size, level.instances, level.mesh_x, level.mesh_y)


def constraint(spec, target: str, ctype: str):
    found = [c for c in spec.constraints if c.target == target and c.type == ctype]
    assert len(found) == 1, (target, ctype, spec.constraints)
    return found[0]


def factors(c) -> set[str]:
    return {f"{f.dim}{f.op}{f.value}" for f in c.factors}


# --------------------------------------------------------------------------- gemmini
def test_gemmini_matches_timeloop_stats():
    spec = load_spec(gemmini_set("gemmini", "constraints_gemmini.yaml"))
    arch = spec.architecture
    assert arch.node_names == ("DRAM", "Scratchpad", "PERows", "Accumulator", "PECols", "Registers", "MAC")
    # stats_KQV_gemmini_TLL.txt: Size / Word bits / Block size / Instances (AxB)
    assert numbers(storage(spec, "Scratchpad")) == (524288, 8, 16, 1, 1, 1)
    assert numbers(storage(spec, "Accumulator")) == (4096, 32, 1, 16, 1, 16)
    assert numbers(storage(spec, "Registers")) == (1, 8, 1, 256, 16, 16)
    assert numbers(storage(spec, "DRAM")) == (None, 8, 8, 1, 1, 1)
    # Read/write bandwidth 16.00 (Scratchpad), 4.00 (Accumulator, DRAM), '-' (Registers)
    assert (storage(spec, "Scratchpad").read_bandwidth, storage(spec, "Scratchpad").write_bandwidth) == (16, 16)
    assert (storage(spec, "Accumulator").read_bandwidth, storage(spec, "DRAM").write_bandwidth) == (4, 4)
    assert storage(spec, "Registers").read_bandwidth is None and storage(spec, "Registers").shared_bandwidth is None
    assert arch.node("PERows") == SpatialLevel("PERows", 1, 16)
    assert arch.node("PECols") == SpatialLevel("PECols", 16, 1)
    assert isinstance(arch.compute, ComputeLevel) and arch.compute.instances == 256  # "256 (16*16)"
    assert (arch.compute.mesh_x, arch.compute.mesh_y, arch.compute.component_class) == (16, 16, "intmac")
    # inherited attributes: System latency, Chip technology, variables
    attrs = storage(spec, "Scratchpad").attributes
    assert attrs["technology"] == "32nm" and attrs["latency"] == "1ns" and attrs["global_cycle_seconds"] == 1.2e-9
    assert attrs["n_banks"] == 4 and attrs["depth"] == 32768
    assert storage(spec, "DRAM").attributes["type"] == "LPDDR4" and "technology" in storage(spec, "DRAM").attributes


def test_gemmini_workload_and_constraints():
    spec = load_spec(gemmini_set("gemmini", "constraints_gemmini.yaml"))
    wl = spec.workload
    assert wl.name == "KQV_matmul_encoder" and wl.dimensions == MATMUL_DIMS
    assert (wl.bounds["E"], wl.bounds["D"], wl.bounds["L"]) == (1024, 3072, 4096)
    assert all(wl.bounds[d] == 1 for d in ("R", "S", "N", "Q", "G"))
    assert wl.macs == 12884901888  # "Computes (total)" in the Timeloop stats
    assert [ds.name for ds in wl.data_spaces] == ["Weights", "Inputs", "Outputs"]
    inputs = wl.data_space("Inputs")
    assert inputs.projection[2] == (("R", "Wdilation"), ("L", "Wstride"))
    assert wl.data_space("Outputs").read_write and not inputs.read_write
    assert wl.coefficients == {"Wstride": 1, "Hstride": 1, "Wdilation": 1, "Hdilation": 1}
    assert wl.data_space("Weights").dims == frozenset({"E", "D", "R", "S", "G"})
    # inline spatial constraints of the containers
    assert factors(constraint(spec, "PERows", "spatial")) == {"E=1", "L=1", "D=16"}
    assert factors(constraint(spec, "PECols", "spatial")) == {"D=1", "L=1", "E=16"}
    # inline temporal of Registers merged with constraints_gemmini.yaml's
    reg = constraint(spec, "Registers", "temporal")
    assert factors(reg) == {"D=1", "E=1", "L=16"}
    assert "system_gemmini.yaml" in reg.source and "constraints_gemmini.yaml" in reg.source
    assert constraint(spec, "DRAM", "temporal").permutation == ("D", "E", "L")
    sp = constraint(spec, "Scratchpad", "dataspace")
    assert sp.keep == ("Inputs", "Weights") and sp.bypass == ("Outputs",)
    assert spec.mapper.optimization_metrics == ("edp", "delay", "energy")
    assert (spec.mapper.num_threads, spec.mapper.timeout, spec.mapper.victory_condition) == (12, 15000, 7500)
    assert spec.mapper.live_status is False and spec.mapper.extra["sync_interval"] == 2500
    assert "smartbuffer_SRAM" in spec.components and "intmac" in spec.components
    assert spec.variables["EMBEDDING_3"] == 3072


def test_gemmini_nos_with_softmax_and_layernorm():
    for layer, e, d in (("softmax_layer.yaml", 4096, 2), ("layernorm_layer.yaml", 1024, 3)):
        spec = load_spec(gemmini_set("gemmini_NOs", "constraints_NOs.yaml", layer))
        arch = spec.architecture
        assert arch.node_names == ("DRAM", "Scratchpad", "Accumulator", "Registers", "Registers_Outputs", "Registers_Inputs", "MAC")
        assert numbers(storage(spec, "Accumulator")) == (65536, 32, 1, 1, 1, 1)  # entries 16384*4
        assert storage(spec, "Accumulator").read_bandwidth == 64  # 4*16
        assert numbers(storage(spec, "Registers")) == (3, 8, 1, 1, 1, 1)
        assert storage(spec, "Registers_Inputs").size_words == 1024
        assert storage(spec, "DRAM").shared_bandwidth == 8
        assert arch.compute.component_class == "free_compute" and arch.compute.attributes["technology"] == "free"
        wl = spec.workload
        assert wl.dimensions == ("L", "E", "D") and wl.bounds == {"L": 4096, "E": e, "D": d}
        assert wl.data_space("Inputs").projection == ((("E", None),), (("L", None),))
        acc = constraint(spec, "Accumulator", "temporal")
        assert acc.maximize_dims == (("E",), ("L",)) and acc.extra["maximize_dims_capacity"] == 64
        assert acc.permutation == ("E", "D", "L")
        assert factors(constraint(spec, "Registers_Inputs", "temporal")) == {"E=1024", "L=1"}


def test_gemmini_realistic_uses_architecture_level_variables():
    spec = load_spec(gemmini_set("gemmini_realistic", "constraints.yaml", "KTQ_layer.yaml"))
    arch = spec.architecture
    assert arch.node_names == ("DRAM", "Scratchpad", "Accumulator", "PERows", "PECols", "Registers", "MAC")
    # SP_SIZE 262144 entries; width IN_BITWIDTH*DIM = 256 bits of 8-bit words -> block 32
    assert numbers(storage(spec, "Scratchpad")) == (262144, 8, 32, 1, 1, 1)
    assert storage(spec, "Scratchpad").read_bandwidth == 256
    assert storage(spec, "Scratchpad").attributes["depth"] == 8192  # (262144*8)//(8*32)
    assert numbers(storage(spec, "Accumulator")) == (131072, 32, 1, 1, 1, 1)
    assert arch.node("PERows") == SpatialLevel("PERows", 1, 32) and arch.node("PECols") == SpatialLevel("PECols", 32, 1)
    assert storage(spec, "Registers").instances == 1024 and arch.compute.instances == 1024
    assert arch.attributes["DIM"] == 32
    assert spec.workload.bounds["E"] == 64 and spec.workload.bounds["D"] == 4096


def test_variables_argument_overrides_architecture_knobs():
    spec = load_spec(gemmini_set("gemmini_realistic", "constraints.yaml"), variables={"DIM": 16, "SEQ_LENGTH": 512})
    assert spec.architecture.node("PERows") == SpatialLevel("PERows", 1, 16)
    assert spec.architecture.compute.instances == 256
    assert storage(spec, "Scratchpad").block_size == 16
    assert spec.workload.bounds["L"] == 512


def test_eyeriss_matches_timeloop_stats():
    spec = load_spec(gemmini_set("eyeriss", "constraints_eyeriss.yaml"))
    arch = spec.architecture
    # Parallel spads: ifmap outermost (Timeloop level 3), then weights (2), psum (1)
    assert arch.node_names == ("DRAM", "shared_glb", "PE_column", "PE", "ifmap_spad", "weights_spad", "psum_spad", "mac")
    # stats_KQV_eyeriss_TLD.txt
    assert numbers(storage(spec, "psum_spad")) == (16, 16, 1, 168, 14, 12)
    assert numbers(storage(spec, "weights_spad")) == (384, 8, 2, 168, 14, 12)
    assert numbers(storage(spec, "ifmap_spad")) == (24, 8, 2, 168, 14, 12)
    assert numbers(storage(spec, "shared_glb")) == (131072, 8, 8, 1, 1, 1)
    assert numbers(storage(spec, "DRAM")) == (None, 8, 8, 1, 1, 1)
    assert storage(spec, "DRAM").read_bandwidth is None and storage(spec, "shared_glb").read_bandwidth == 16
    assert storage(spec, "psum_spad").write_bandwidth == 2
    assert arch.compute.instances == 168 and (arch.compute.mesh_x, arch.compute.mesh_y) == (14, 12)
    assert arch.node("PE_column") == SpatialLevel("PE_column", 14, 1) and arch.node("PE") == SpatialLevel("PE", 1, 12)
    glb = constraint(spec, "shared_glb", "dataspace")
    assert glb.keep == ("Inputs", "Outputs") and glb.bypass == ("Weights",)
    col = constraint(spec, "PE_column", "spatial")
    assert col.split == 999 and "D=8" in factors(col) and col.permutation == ("N", "E", "L", "R", "S", "Q", "D")
    assert constraint(spec, "PE", "spatial").split == 0
    # inline [N, D, L, Q, S, E, R] and file [N, D, E, L, Q, R, S] agree once factor-1 dims are dropped
    assert factors(constraint(spec, "weights_spad", "temporal")) >= {"E=16", "R=1", "N=1"}
    assert constraint(spec, "ifmap_spad", "dataspace").keep == ("Inputs",)


@pytest.mark.parametrize("system,input_depth,accu_depth", [("simba", 8192, 128), ("simba_right", 1024, 1024)])
def test_simba(system, input_depth, accu_depth):
    spec = load_spec(gemmini_set(system, "constraints_simba.yaml"))
    arch = spec.architecture
    assert arch.node_names == (
        "DRAM", "GlobalBuffer", "PE", "PEInputBuffer", "distributed_buffers",
        "PEWeightBuffer", "PEAccuBuffer", "reg_mac", "PEWeightRegs", "mac",
    )
    # GlobalBuffer: depth 2048, width 256, datawidth 8 -> block 32
    assert numbers(storage(spec, "GlobalBuffer")) == (65536, 8, 32, 1, 1, 1)
    assert numbers(storage(spec, "PEInputBuffer")) == (input_depth * 8, 8, 8, 16, 16, 1)
    assert numbers(storage(spec, "PEWeightBuffer")) == (4096 * 8, 8, 8, 64, 16, 4)
    assert numbers(storage(spec, "PEAccuBuffer")) == (accu_depth, 24, 1, 64, 16, 4)
    # width 512 / cluster_size 64 / datawidth 8 -> block 1; depth 1
    assert numbers(storage(spec, "PEWeightRegs")) == (1, 8, 1, 256, 16, 16)
    assert storage(spec, "PEInputBuffer").component_class == "storage"
    assert storage(spec, "PEInputBuffer").subclass == "smartbuffer_RF"
    assert storage(spec, "PEInputBuffer").attributes["technology"] == "45nm"  # from the System container
    assert arch.compute.instances == 256
    assert factors(constraint(spec, "PE", "spatial")) == {"R=1", "S=1", "L=1", "Q=1", "N=1", "D=8", "E=2"}
    assert constraint(spec, "PEAccuBuffer", "temporal").permutation == ("L", "D", "E")


def test_tpu():
    spec = load_spec(gemmini_set("tpu", "constraints_tpu.yaml"))
    arch = spec.architecture
    assert arch.node_names == (
        "DRAM", "WeightsDRAM", "UnifiedBuffer", "WeightsFIFO", "PERows", "Accumulator", "PECols", "Registers", "MAC",
    )
    assert numbers(storage(spec, "UnifiedBuffer")) == (24 * 2**20, 8, 16, 1, 1, 1)
    assert numbers(storage(spec, "WeightsFIFO")) == (4 * 2**16, 8, 16, 1, 1, 1)
    assert numbers(storage(spec, "Accumulator")) == (2048, 32, 1, 256, 1, 256)
    assert numbers(storage(spec, "Registers")) == (2, 8, 1, 65536, 256, 256)
    assert storage(spec, "WeightsDRAM").size_words is None
    assert storage(spec, "UnifiedBuffer").attributes["technology"] == "28nm"
    assert factors(constraint(spec, "PERows", "spatial")) >= {"D<=256", "D>=128"}
    assert constraint(spec, "WeightsDRAM", "dataspace").keep == ("Weights",)
    assert factors(constraint(spec, "WeightsDRAM", "temporal")) == {"D=1", "E=1", "L=32"}


# --------------------------------------------------------------------------- PIM
def test_pim_v04_subtree_form():
    spec = load_spec([P / "arch" / "system_PIM.yaml", P / "constraints" / "constraints.yaml", P / "layers" / "FF1_layer.yaml", *PIM_COMMON])
    arch = spec.architecture
    assert arch.name == "system_arch"
    assert arch.node_names == ("DRAM", "shared_glb", "dummy_buffer", "PE", "scratchpad", "mac")
    pe = arch.node("PE")
    assert isinstance(pe, SpatialLevel) and pe.implicit and (pe.fanout_x, pe.fanout_y) == (128, 128)
    # DRAM: datawidth 16, block-size 4
    assert numbers(storage(spec, "DRAM")) == (None, 16, 4, 1, 1, 1)
    # shared_glb: entries 262144, word-bits 8, block-size 16
    assert numbers(storage(spec, "shared_glb")) == (262144, 8, 16, 1, 1, 1)
    assert storage(spec, "dummy_buffer").size_words == 0 and storage(spec, "dummy_buffer").component_class == "dummy_storage"
    assert numbers(storage(spec, "scratchpad")) == (1, 16, 1, 16384, 128, 128)
    assert arch.compute.component_class == "memcell_compute" and arch.compute.instances == 16384
    assert [n.name for n in arch.networks] == ["D2A_NoC", "A2D_NoC"]
    assert arch.networks[0].component_class == "SimpleMulticast" and arch.networks[0].subclass == "DAC_SimpleMulticast"
    assert storage(spec, "shared_glb").attributes["latency"] == "1ns"  # from system_arch
    assert storage(spec, "shared_glb").attributes["network_read"] == "D2A_NoC"
    # v0.3 spatial constraint on dummy_buffer is re-targeted to the fan-out below it
    sp = constraint(spec, "PE", "spatial")
    assert factors(sp) == {"L=1"} and sp.permutation == ("D", "E") and sp.split == 1
    byp = constraint(spec, "dummy_buffer", "dataspace")  # type: bypassing
    assert byp.keep == () and set(byp.bypass) == {"Inputs", "Outputs", "Weights"}
    assert spec.workload.bounds["D"] == 4096 and spec.workload.bounds["E"] == 1024
    assert spec.mapper.victory_condition == 8000
    assert "memcell_compute" in spec.components


def test_pim_variables_with_operator_names():
    spec = load_spec([P / "arch" / "system_PIM.yaml", P / "layers" / "FF2_layer.yaml", *PIM_COMMON])
    assert spec.variables["EMBEDDING//HEADS"] == 64 and spec.variables["EMBEDDING*3"] == 3072
    # the PIM KQV layer names EMBEDDING_3, which the PIM variables spell EMBEDDING*3
    with pytest.raises(SpecError) as err:
        load_spec([P / "arch" / "system_PIM.yaml", P / "layers" / "KQV_layer.yaml", *PIM_COMMON])
    text = str(err.value)
    assert "KQV_layer.yaml: problem.instance.D" in text and "EMBEDDING_3" in text and "EMBEDDING*3" in text
    spec = load_spec([P / "arch" / "system_PIM.yaml", P / "layers" / "KQV_layer.yaml", *PIM_COMMON], variables={"EMBEDDING_3": "EMBEDDING*3"})
    assert spec.workload.bounds["D"] == 3072


def test_pim_v03_nos():
    spec = load_spec([P / "arch" / "system_PIM_NOs.yaml", P / "constraints" / "constraints_NOs.yaml", P / "layers" / "softmax_layer.yaml", *PIM_COMMON])
    arch = spec.architecture
    assert arch.node_names == ("DRAM", "shared_glb", "IMC_as_buffer", "dummy_buffer", "PE", "registers", "mac")
    assert arch.node("PE") == SpatialLevel("PE", 1024, 1, implicit=True)
    assert numbers(storage(spec, "IMC_as_buffer")) == (32768, 8, 2, 1, 1, 1)
    assert numbers(storage(spec, "registers")) == (2, 16, 1, 1024, 1024, 1)
    assert storage(spec, "registers").attributes["technology"] == "32nm"
    assert arch.compute.instances == 1024 and arch.compute.attributes["energy"] == 0
    assert factors(constraint(spec, "PE", "spatial")) == {"L=1", "D=1"}
    assert spec.workload.bounds == {"L": 4096, "E": 4096, "D": 2}


# --------------------------------------------------------------------------- AIMC / DIMC (v0.3)
def test_aimc_arch():
    spec = load_spec([A / "arch.yaml", A / "constraints.yaml", A / "problems" / "KQV_layer.yaml", A / "variables.yaml", A / "mapper.yaml"])
    arch = spec.architecture
    assert arch.node_names == ("DRAM", "Scratchpad", "InputBuffer", "OutputBuffer", "IMC_module", "PEs", "MAC")
    assert arch.node("PEs") == SpatialLevel("PEs", 32, 32, implicit=True)
    assert numbers(storage(spec, "DRAM")) == (None, 8, 64, 1, 1, 1)
    assert storage(spec, "DRAM").shared_bandwidth == 8
    assert numbers(storage(spec, "InputBuffer")) == (32, 8, 32, 1, 1, 1)
    assert numbers(storage(spec, "IMC_module")) == (1024, 8, 1, 1, 1, 1)
    assert storage(spec, "IMC_module").attributes["technology"] == "40nm"
    assert [n.name for n in arch.networks] == ["free_network", "simple_network"]
    assert arch.networks[0].attributes["network_type"] == "1:N"
    assert arch.networks[1].attributes["network_type"] == "1:1"  # not YAML 1.1's base-60 61
    assert arch.compute.instances == 1024
    assert spec.workload.bounds == {"L": 512, "E": 768, "D": 2304}  # D: EMBEDDING*3 (a variable name)
    assert spec.variables["global_cycle_seconds"] == 1e-9
    assert constraint(spec, "PEs", "spatial").permutation == ("D", "E")
    assert spec.mapper.optimization_metrics == ("edp", "delay", "energy") and spec.mapper.num_threads == 12
    assert spec.mapper.victory_condition == 800


def test_aimc_arch_v2_retargets_across_buffers_with_a_warning():
    spec = load_spec([A / "arch_v2.yaml", A / "constraints.yaml", A / "problems" / "KTQ_layer.yaml", A / "variables.yaml", A / "mapper.yaml"])
    arch = spec.architecture
    assert arch.node_names == ("DRAM", "Scratchpad", "IMC_module", "InputBuffer", "OutputBuffer", "PEs", "MAC")
    assert [n.name for n in arch.networks] == ["free_network", "simple_network", "ADC_network", "DAC_network"]
    assert factors(constraint(spec, "PEs", "spatial")) == {"L=1"}
    assert any("IMC_module" in w and "PEs" in w for w in spec.warnings)
    assert spec.workload.bounds == {"L": 512, "E": 64, "D": 512}


@pytest.mark.parametrize("layer,bounds", [
    ("KQV_layer.yaml", {"L": 512, "E": 768, "D": 2304}),
    ("KTQ_layer.yaml", {"D": 512, "L": 512, "E": 64}),
    ("VScores_layer.yaml", {"L": 512, "E": 512, "D": 64}),
    ("Out_layer.yaml", {"L": 512, "E": 768, "D": 768}),
    ("FF1_layer.yaml", {"L": 512, "E": 768, "D": 3072}),
    ("FF2_layer.yaml", {"L": 512, "D": 768, "E": 3072}),
])
def test_dimc_layers(layer, bounds):
    spec = load_spec([D / "arch.yaml", D / "constraints.yaml", D / "problems" / layer, D / "variables.yaml", D / "mapper.yaml"])
    assert spec.architecture.node_names == ("DRAM", "Scratchpad", "IMC_module", "PEs", "MAC")
    assert dict(spec.workload.bounds) == bounds
    assert storage(spec, "DRAM").attributes["type"] == "LPDDR4"
    assert spec.mapper.timeout == 750 and spec.mapper.victory_condition == 100


def test_dimc_sequential_ignores_classless_component_like_timeloop():
    spec = load_spec([D / "arch_sequential.yaml", D / "problems" / "FF1_layer.yaml", D / "variables.yaml", D / "mapper.yaml"])
    arch = spec.architecture
    assert arch.node_names == ("DRAM", "Scratchpad", "IMC_module", "MAC")
    assert arch.compute.component_class == "compute" and arch.compute.instances == 1
    assert any("scratchpad" in w and "no 'class'" in w for w in spec.warnings)


def test_every_gemmini_layer_loads():
    expected = {
        "KQV_layer.yaml": (1024, 3072, 4096), "KTQ_layer.yaml": (64, 4096, 4096), "VScores_layer.yaml": (4096, 64, 4096),
        "Out_layer.yaml": (1024, 1024, 4096), "FF1_layer.yaml": (1024, 4096, 4096), "FF2_layer.yaml": (4096, 1024, 4096),
    }
    for layer, (e, d, l) in expected.items():
        spec = load_spec([G / "layers" / layer, G / "mapper" / "variables.yaml"])
        assert spec.architecture is None
        assert (spec.workload.bounds["E"], spec.workload.bounds["D"], spec.workload.bounds["L"]) == (e, d, l)


def test_directory_loading_skips_non_spec_yaml():
    spec = load_spec([G / "arch" / "system_gemmini_NOs.yaml", G / "free_data", G / "arch" / "components"])
    assert "smartbuffer_RF" in spec.components
    assert any("free.table.yaml" in w for w in spec.warnings)
