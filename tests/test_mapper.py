import glob
from pathlib import Path

import pytest

from dse.errors import NoValidMappingError, SpecError
from dse.mapper.search import search
from dse.model.energies import ActionEnergies, LevelEnergies
from dse.model.nest import evaluate, make_context
from dse.spec.loader import load_spec
from dse.spec.types import Constraint, FactorConstraint, MapperOptions

REF = Path(__file__).parent / "data" / "reference" / "transformer_gemmini"


def gemmini_spec(layer: str, variables=None):
    files = [REF / "arch/system_gemmini.yaml", *sorted((REF / "arch/components").glob("*.yaml")),
             REF / f"layers/{layer}_layer.yaml", REF / "mapper/variables.yaml", REF / "constraints/constraints.yaml"]
    return load_spec(files, variables=variables)


GEMMINI_ERT = ActionEnergies({"DRAM": LevelEnergies(512, 512, 512, 0), "Scratchpad": LevelEnergies(57.039, 54.0501, 54.0501, 0.027407),
                              "Accumulator": LevelEnergies(4.54186, 3.49104, 3.49104, 0.001003),
                              "Registers": LevelEnergies(0.006491, 0.010904, 0.010904, 0)}, 0.276923)
SMALL = {"EMBEDDING": 64, "EMBEDDING_3": 128, "SEQ_LENGTH": 64, "HEADS": 1, "FF_DIM": 64, "EMBEDDING_HEADS": 64}


def test_default_search_matches_timeloop_best_on_gemmini_kqv():
    # Timeloop's best mapping (stats_KQV_gemmini_TLL.txt): 17464.75 uJ, 51904516 cycles, EDP 9.06e5.
    spec = gemmini_spec("KQV")
    r = search(make_context(spec.architecture, spec.workload, GEMMINI_ERT), spec.constraints, MapperOptions())
    assert r.best.edp_j_cycles <= 9.065e5
    assert r.best.cycles == 51904516


def test_default_search_finds_the_exhaustive_optimum_on_a_small_pair():
    spec = gemmini_spec("KQV", SMALL)
    ctx = make_context(spec.architecture, spec.workload, GEMMINI_ERT)
    default = search(ctx, spec.constraints, MapperOptions())
    exhaustive = search(ctx, spec.constraints, MapperOptions(algorithm="exhaustive"))
    assert exhaustive.evaluated > default.evaluated
    assert default.best.edp_j_cycles == pytest.approx(exhaustive.best.edp_j_cycles, rel=1e-12)
    # the winner re-evaluated on its own gives the same numbers
    again = evaluate(ctx, default.best.mapping)
    assert again.energy_pj == pytest.approx(default.best.energy_pj) and again.cycles == default.best.cycles


def test_search_is_deterministic_and_random_is_seeded():
    spec = gemmini_spec("KQV", SMALL)
    ctx = make_context(spec.architecture, spec.workload, GEMMINI_ERT)
    a = search(ctx, spec.constraints, MapperOptions(algorithm="random_pruned", search_size=300, seed=7))
    b = search(ctx, spec.constraints, MapperOptions(algorithm="random_pruned", search_size=300, seed=7))
    assert a.best.mapping == b.best.mapping
    assert a.evaluated == b.evaluated == 300


def test_no_valid_mapping_names_the_level_and_numbers():
    spec = gemmini_spec("KQV", SMALL)
    ctx = make_context(spec.architecture, spec.workload, GEMMINI_ERT)
    # keeping Inputs in the 1-word Registers: with the constraint L=16 the tile is 16 Inputs + 1 Weight
    extra = Constraint("Registers", "dataspace", keep=("Inputs",), source="test")
    with pytest.raises(NoValidMappingError) as err:
        search(ctx, tuple(spec.constraints) + (extra,), MapperOptions())
    msg = err.value.format()
    assert "Registers holds 1 words but every mapping needs >= 17 words there (1 Weights, 16 Inputs)" in msg
    assert "L=16" in msg


def test_conflicting_constraints_are_rejected():
    spec = gemmini_spec("KQV", SMALL)
    ctx = make_context(spec.architecture, spec.workload, GEMMINI_ERT)
    bad = (Constraint("DRAM", "temporal", (FactorConstraint("D", "=", 4), FactorConstraint("D", ">=", 8)), source="c.yaml: targets[0]"),)
    with pytest.raises(SpecError, match="conflicting constraints on D"):
        search(ctx, tuple(spec.constraints) + bad, MapperOptions())


def test_local_search_path_is_deterministic_and_finds_the_small_optimum(monkeypatch):
    # force the default algorithm's large-space path (iterated local search) on the small pair
    import dse.mapper.search as s
    spec = gemmini_spec("KQV", SMALL)
    ctx = make_context(spec.architecture, spec.workload, GEMMINI_ERT)
    exhaustive = search(ctx, spec.constraints, MapperOptions(algorithm="exhaustive"))
    monkeypatch.setattr(s, "EXACT_MAX_ROWS", 0)
    a = search(ctx, spec.constraints, MapperOptions(seed=3))
    b = search(ctx, spec.constraints, MapperOptions(seed=3))
    assert a.best.mapping == b.best.mapping and a.evaluated == b.evaluated
    assert a.best.edp_j_cycles == pytest.approx(exhaustive.best.edp_j_cycles, rel=1e-12)


def test_timeloop_factor_semantics_zero_is_full_dimension_and_oversize_is_ignored():
    from dse.mapper.mapspace import build_mapspace

    spec = gemmini_spec("KQV", SMALL)  # E=64, D=128, L=64
    ctx = make_context(spec.architecture, spec.workload, GEMMINI_ERT)
    extra = (Constraint("DRAM", "temporal", (FactorConstraint("L", "=", 0),), source="t0"),
             Constraint("Scratchpad", "temporal", (FactorConstraint("E", "=", 4096),), source="t1"))
    space = build_mapspace(ctx, tuple(spec.constraints) + extra)
    dram = [s.name for s in space.slots].index("DRAM")
    scratch = [s.name for s in space.slots].index("Scratchpad")
    L, E = ctx.dims.index("L"), ctx.dims.index("E")
    assert space.rules[dram][L].exact == 64  # L=0 -> the whole L (Timeloop: "full problem dimension")
    assert space.rules[scratch][E].exact is None  # E=4096 > 64: ignored
    assert any("E=4096 exceeds the dimension E=64" in n for n in space.notes)
    # a minimum above the dimension is read as "all of it" (the reference TPU runs mapped D>=128 with D=64)
    big_min = (Constraint("Scratchpad", "temporal", (FactorConstraint("L", ">=", 1000),), source="t2"),)
    space2 = build_mapspace(ctx, tuple(spec.constraints) + big_min)
    assert space2.rules[scratch][L].at_least == 64
    assert any("L>=1000 exceeds the dimension L=64; read as L>=64" in n for n in space2.notes)
    # L=0 at DRAM conflicts with the Registers' L=16: no mapping, and the message says so
    with pytest.raises(NoValidMappingError, match="dimension L=64 cannot be split"):
        search(ctx, tuple(spec.constraints) + extra, MapperOptions())


def _eyeriss_ctx():
    from dse.model.from_timeloop import energies_from_stats
    from dse.spec.timeloop_stats import parse_stats

    files = [REF / "arch/system_eyeriss.yaml", *sorted((REF / "arch/components").glob("*.yaml")),
             REF / "layers/KQV_layer.yaml", REF / "mapper/variables.yaml"]
    spec = load_spec(files)
    stats = parse_stats(Path(__file__).parent / "data/timeloop_stats/stats_KQV_eyeriss_TLD.txt")
    return spec, make_context(spec.architecture, spec.workload, energies_from_stats(stats))


def test_default_search_honours_search_size_victory_condition_and_threads():
    spec, ctx = _eyeriss_ctx()  # a large space: the default runs its local search
    full = search(ctx, spec.constraints, MapperOptions())
    capped = search(ctx, spec.constraints, MapperOptions(search_size=2000))
    assert capped.stopped_by == "search_size" and capped.evaluated < full.evaluated
    vc = search(ctx, spec.constraints, MapperOptions(victory_condition=500))
    assert vc.stopped_by == "victory_condition" and vc.evaluated < full.evaluated
    two = search(ctx, spec.constraints, MapperOptions(num_threads=2))
    again = search(ctx, spec.constraints, MapperOptions(num_threads=2))
    assert two.best.mapping == again.best.mapping  # deterministic for a given thread count
    assert two.best.edp_j_cycles <= full.best.edp_j_cycles  # seed 0's search is one of the two


def test_parallel_exact_enumeration_gives_the_same_optimum():
    spec = gemmini_spec("KQV")
    ctx = make_context(spec.architecture, spec.workload, GEMMINI_ERT)
    one = search(ctx, spec.constraints, MapperOptions())
    two = search(ctx, spec.constraints, MapperOptions(num_threads=2))
    assert two.best.mapping == one.best.mapping and two.evaluated == one.evaluated


def test_maximize_dims_follows_timeloopfe_macro():
    # constraints_NOs.yaml: Accumulator temporal maximize_dims [[E], [L]] with capacity (16384*4)//1024 = 64;
    # Registers_Inputs E=1024. BERT-large seq 4096: E=4096 -> 4 left for the Accumulator, which takes
    # E=4 (all there is), then L gets 64 // 4 = 16.
    from dse.mapper.mapspace import build_mapspace

    files = [REF / "arch/system_gemmini_NOs.yaml", *sorted((REF / "arch/components").glob("*.yaml")),
             REF / "layers/softmax_layer.yaml", REF / "mapper/variables.yaml", REF / "constraints/constraints_NOs.yaml"]
    spec = load_spec(files)
    ctx = make_context(spec.architecture, spec.workload, ActionEnergies({}, 0.0))
    space = build_mapspace(ctx, spec.constraints)
    acc = [(s.kind, s.name) for s in space.slots].index(("temporal", "Accumulator"))
    assert space.rules[acc][ctx.dims.index("E")].exact == 4
    assert space.rules[acc][ctx.dims.index("L")].exact == 16
    best = search(ctx, spec.constraints, MapperOptions()).best.mapping
    assert best.level("Accumulator").factor("E") == 4 and best.level("Accumulator").factor("L") == 16


def test_maximize_dims_on_a_temporal_target_needs_a_capacity():
    spec = gemmini_spec("KQV", SMALL)
    ctx = make_context(spec.architecture, spec.workload, GEMMINI_ERT)
    bad = Constraint("DRAM", "temporal", maximize_dims=(("L",),), source="c.yaml: targets[7]")
    with pytest.raises(SpecError, match="needs maximize_dims_capacity"):
        search(ctx, tuple(spec.constraints) + (bad,), MapperOptions())


def _keeps_pair():
    """DRAM -> GLB (256 words) -> 2x2 -> RF (16 words) -> MAC, GEMM 4x8x4.  The RF lists only Weights and
    the GLB only Inputs and Weights to keep: a designer-keeps reading bypasses the rest, while keeping
    Inputs and Outputs in the RF too (Timeloop's mapper may) cuts the EDP by ~1.7x."""
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from test_model_sim import gemm
    from dse.spec.types import Architecture, ComputeLevel, SpatialLevel, StorageLevel

    def st(name, inst, mx, my, size):
        return StorageLevel(name, "SRAM", {}, inst, mx, my, size, 8, 1, None)

    arch = Architecture("keeps", (st("DRAM", 1, 1, 1, None), st("GLB", 1, 1, 1, 256), SpatialLevel("F", 2, 2),
                                  st("RF", 4, 2, 2, 16), ComputeLevel("MAC", "intmac", {}, 4, 2, 2)))
    ctx = make_context(arch, gemm(4, 8, 4), ActionEnergies({"DRAM": LevelEnergies(100, 100, 100),
                                                            "GLB": LevelEnergies(5, 5, 5),
                                                            "RF": LevelEnergies(0.5, 0.5, 0.5)}, 0.5))
    cons = (Constraint("RF", "dataspace", keep=("Weights",), source="t"),
            Constraint("GLB", "dataspace", keep=("Inputs", "Weights"), source="t"))
    designer = (Constraint("RF", "dataspace", keep=("Weights",), bypass=("Inputs", "Outputs"), source="t"),
                Constraint("GLB", "dataspace", keep=("Inputs", "Weights"), bypass=("Outputs",), source="t"))
    return ctx, cons, designer


def test_default_search_explores_free_keep_choices_like_exhaustive():
    ctx, cons, designer = _keeps_pair()
    default = search(ctx, cons, MapperOptions())
    exhaustive = search(ctx, cons, MapperOptions(algorithm="exhaustive"))
    designer_only = search(ctx, designer, MapperOptions())
    assert default.best.edp_j_cycles == pytest.approx(exhaustive.best.edp_j_cycles, rel=1e-12)
    assert default.best.edp_j_cycles < 0.7 * designer_only.best.edp_j_cycles
    rf = default.best.mapping.level("RF").keep
    assert rf - {"Weights"}, "the optimum keeps a data space the RF's constraint does not list"
    again = search(ctx, cons, MapperOptions())
    assert again.best.mapping == default.best.mapping


def test_local_search_toggles_free_keep_choices(monkeypatch):
    import dse.mapper.search as s
    ctx, cons, _ = _keeps_pair()
    exhaustive = search(ctx, cons, MapperOptions(algorithm="exhaustive"))
    monkeypatch.setattr(s, "EXACT_MAX_ROWS", 0)  # force the local search (it starts from the designer keeps)
    ls = search(ctx, cons, MapperOptions())
    assert ls.best.edp_j_cycles == pytest.approx(exhaustive.best.edp_j_cycles, rel=1e-12)
    monkeypatch.setattr(s, "EXACT_MAX_ROWS", 12_000)
    monkeypatch.setattr(s, "EXACT_MAX_KEEP_ROWS", 0)  # designer keeps exact, the others by local search
    polish = search(ctx, cons, MapperOptions())
    assert polish.best.edp_j_cycles == pytest.approx(exhaustive.best.edp_j_cycles, rel=1e-12)


def test_random_pruned_search_size_counts_valid_mappings():
    # (timeout = consecutive invalid mappings: tests/test_mapper_random_memory.py, with a utilization
    # floor no mapping reaches, so every sample is invalid whatever the sampler)
    spec = gemmini_spec("KQV")
    ctx = make_context(spec.architecture, spec.workload, GEMMINI_ERT)
    # random_pruned samples only mappings that fit: search_size counts valid mappings
    r = search(ctx, spec.constraints, MapperOptions(algorithm="random_pruned", search_size=300, timeout=50, seed=1))
    assert r.stopped_by == "search_size" and r.valid == 300
