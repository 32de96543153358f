"""Every mapping the search returns satisfies the spec's constraints as Timeloop's mapper sees them.

Two parts: the checker (``dse.mapper.legality``) on hand-written mappings whose legality is decided
here by reading the constraint, and the search on specs with each constraint kind, whose returned
mapping is inspected directly (not only through the checker).
"""
from pathlib import Path

import pytest

from dse.errors import SpecError
from dse.mapper.legality import constraint_violations
from dse.mapper.search import search
from dse.model.energies import ActionEnergies, LevelEnergies
from dse.model.nest import make_context
from dse.pipeline import LayerJob, fusion_constraints, prepare
from dse.spec.loader import load_spec
from dse.spec.mapping import Mapping, SpatialMapping, TemporalMapping
from dse.spec.types import Constraint, FactorConstraint, MapperOptions

REF = Path(__file__).parent / "data" / "reference" / "transformer_gemmini"
GEMM = """
problem:
  version: 0.4
  shape:
    name: gemm
    dimensions: [D, E, L]
    data_spaces:
    - {name: Weights, projection: [[[E]], [[D]]]}
    - {name: Inputs, projection: [[[E]], [[L]]]}
    - {name: Outputs, projection: [[[D]], [[L]]], read_write: true}
  instance: {D: 8, E: 4, L: 6}
"""
# TPU-like backing stores (DRAM bypasses Weights, WDRAM holds them), a container with a temporal
# constraint, and an Eyeriss-like !Parallel of two spads whose third data space bypasses both
ARCH = """
architecture:
  version: 0.4
  nodes:
  - !Container {name: sys}
  - !Component
    name: DRAM
    class: DRAM
    attributes: {width: 64, datawidth: 8}
    constraints: {dataspace: {keep: [Inputs, Outputs], bypass: [Weights]}}
  - !Component
    name: WDRAM
    class: DRAM
    attributes: {width: 64, datawidth: 8}
    constraints: {dataspace: {keep: [Weights], bypass: [Inputs, Outputs]}}
  - !Component {name: Buffer, class: SRAM, attributes: {depth: 512, width: 64, datawidth: 8}}
  - !Container
    name: PEs
    spatial: {meshX: 4, meshY: 2}
    constraints: {temporal: {factors: [D=1, E=1]}, dataspace: {keep: []}}
  - !Parallel
    nodes:
    - !Component
      name: ispad
      class: regfile
      attributes: {depth: 16, width: 8, datawidth: 8}
      constraints: {dataspace: {keep: [Inputs]}}
    - !Component
      name: wspad
      class: regfile
      attributes: {depth: 16, width: 8, datawidth: 8}
      constraints: {dataspace: {keep: [Weights]}}
    - !Nothing {constraints: {dataspace: {keep: [Outputs]}}}
  - !Component {name: mac, class: intmac, attributes: {meshX: 4, meshY: 2}}
"""
ENERGIES = ActionEnergies({"DRAM": LevelEnergies(100, 100, 100), "WDRAM": LevelEnergies(100, 100, 100),
                           "Buffer": LevelEnergies(5, 5, 5), "ispad": LevelEnergies(0.5, 0.5, 0.5),
                           "wspad": LevelEnergies(0.5, 0.5, 0.5)}, 0.5)


def _spec(tmp_path, arch=ARCH, extra=""):
    (tmp_path / "arch.yaml").write_text(arch)
    (tmp_path / "prob.yaml").write_text(GEMM)
    files = [tmp_path / "arch.yaml", tmp_path / "prob.yaml"]
    if extra:
        (tmp_path / "cons.yaml").write_text(extra)
        files.append(tmp_path / "cons.yaml")
    spec = load_spec(files)
    return spec, make_context(spec.architecture, spec.workload, ENERGIES)


def _mapping(keep=None, dram=(("L", 6),), buffer=(("D", 8), ("E", 4)), ispad=(), wspad=(), x=(), y=()):
    keep = keep or {"DRAM": {"Inputs", "Outputs"}, "WDRAM": {"Weights"}, "Buffer": {"Inputs", "Weights", "Outputs"},
                    "ispad": {"Inputs"}, "wspad": {"Weights"}}
    loops = {"DRAM": dram, "WDRAM": (), "Buffer": buffer, "ispad": ispad, "wspad": wspad}
    return Mapping(tuple(TemporalMapping(n, tuple(loops[n]), frozenset(keep[n])) for n in loops),
                   (SpatialMapping("PEs", tuple(x), tuple(y)),))


def _messages(ctx, mapping, constraints, **kw):
    return [str(v) for v in constraint_violations(ctx, mapping, constraints, **kw)]


def test_parallel_branches_get_timeloopfe_implied_bypasses(tmp_path):
    spec, _ = _spec(tmp_path)
    ds = {c.target: (set(c.keep or ()), set(c.bypass or ())) for c in spec.constraints if c.type == "dataspace"}
    # each spad bypasses what its branch does not keep; Outputs skips both (the !Nothing branch)
    assert ds["ispad"] == ({"Inputs"}, {"Weights", "Outputs"})
    assert ds["wspad"] == ({"Weights"}, {"Inputs", "Outputs"})
    assert "Buffer" not in ds  # outside the !Parallel: free


def test_parallel_data_space_in_no_branch_or_two_is_an_error(tmp_path):
    no_nothing = ARCH.replace("    - !Nothing {constraints: {dataspace: {keep: [Outputs]}}}\n", "")
    with pytest.raises(SpecError, match=r"Outputs kept by no branch.*!Nothing \{constraints: \{dataspace: \{keep: \[Outputs\]"):
        _spec(tmp_path, no_nothing)
    twice = ARCH.replace("keep: [Outputs]}}}", "keep: [Outputs, Weights]}}}")
    with pytest.raises(SpecError, match="Weights kept in two branches"):
        _spec(tmp_path, twice)


def test_checker_keep_bypass_and_implied_bypass(tmp_path):
    spec, ctx = _spec(tmp_path)
    assert _messages(ctx, _mapping(), spec.constraints) == []
    keep = {"DRAM": {"Inputs", "Outputs", "Weights"}, "WDRAM": {"Weights"}, "Buffer": {"Inputs", "Weights", "Outputs"},
            "ispad": {"Inputs", "Weights"}, "wspad": {"Weights"}}
    msgs = _messages(ctx, _mapping(keep=keep), spec.constraints)
    assert len(msgs) == 2
    assert any(m.startswith("DRAM: must bypass Weights") for m in msgs)  # the file's bypass at the outermost level
    assert any(m.startswith("ispad: must bypass Weights") and "!Parallel" in m for m in msgs)


def test_checker_outermost_level_keeps_what_is_not_bypassed(tmp_path):
    spec, ctx = _spec(tmp_path)
    cons = [c for c in spec.constraints if c.target != "DRAM"]  # no constraint at DRAM: it must keep all
    keep = {"DRAM": {"Inputs", "Outputs"}, "WDRAM": {"Weights"}, "Buffer": {"Inputs", "Weights", "Outputs"},
            "ispad": {"Inputs"}, "wspad": {"Weights"}}
    assert [m.split(":")[0] for m in _messages(ctx, _mapping(keep=keep), cons)] == ["DRAM"]


def test_checker_factors(tmp_path):
    spec, ctx = _spec(tmp_path)
    m = _mapping(dram=(("L", 3),), buffer=(("D", 8), ("E", 2)), x=(("L", 2),), y=(("E", 2),))

    def check(*factors, target="Buffer", kind="temporal"):
        c = Constraint(target, kind, tuple(FactorConstraint(*f) for f in factors), source="t")
        return _messages(ctx, m, spec.constraints + (c,))

    assert check(("D", "=", 8), ("E", "=", 2)) == []
    assert check(("E", "=", 4)) == ["Buffer: factor E=2 but the constraint says E=4 (t)"]
    assert check(("D", "=", 0)) == []  # 0: the whole dimension (D=8)
    assert check(("E", "=", 0)) != []  # E is only 2 here, not 4
    assert check(("E", "=", 5)) == []  # above the dimension: Timeloop ignores it
    assert check(("D", "<=", 4)) == ["Buffer: factor D=8 exceeds D<=4 (t)"]
    assert check(("E", ">=", 3)) != [] and check(("E", ">=", 2)) == []
    assert check(("D", ">=", 64)) == []  # a minimum above the dimension: all of it (D=8 is)
    assert check(("L", "=", 2), target="PEs", kind="spatial") == []
    assert check(("L", "=", 1), target="PEs", kind="spatial") != []
    # a spatial constraint on a storage level means the fan-out below it (v0.3)
    assert check(("E", "<=", 1), target="Buffer", kind="spatial") == ["PEs: factor E=2 exceeds E<=1 (t)"]


def test_checker_permutation_and_split(tmp_path):
    spec, ctx = _spec(tmp_path)
    m = _mapping(dram=(("L", 3),), buffer=(("D", 8), ("E", 2)), x=(("L", 2),), y=(("E", 2),))
    perm = lambda p, target="Buffer", kind="temporal", split=None: _messages(
        ctx, m, spec.constraints + (Constraint(target, kind, permutation=p, split=split, source="t"),))
    # Buffer loops outer to inner: D8 E2 -> innermost first [E, D]
    assert perm(("E", "D", "L")) == [] and perm(("E",)) == [] and perm(("L", "E")) == []  # L has no loop here
    assert perm(("D", "E")) != [] and perm(("D",)) != []
    assert perm(("L", "E"), "PEs", "spatial", 1) == []  # L on X, E on Y
    assert perm(("E", "L"), "PEs", "spatial", 1) != []
    assert perm(("L",), "PEs", "spatial", 1) == []  # unlisted E goes to Y when the split is within the list
    assert perm(("L",), "PEs", "spatial", 0) != []  # split 0: L must be on Y
    assert perm(("L",), "PEs", "spatial", 5) == []  # split past the list: unlisted E may go anywhere


def test_checker_container_temporal_constraint_and_utilization(tmp_path):
    spec, ctx = _spec(tmp_path)
    assert not [w for w in spec.warnings if "PEs" in w]  # D=1 E=1 hold on inter_PEs_spatial
    cons = (Constraint("PEs", "temporal", (FactorConstraint("D", "=", 4),), source="t"),
            Constraint("Buffer", "utilization", min_utilization=0.9, source="u"))
    msgs = _messages(ctx, _mapping(), spec.constraints + cons, utilization=0.5)
    assert msgs == ["Buffer: utilization 0.5000 is below the minimum 0.9 (u)"]  # the container's D=4 is ignored
    spec2, _ = _spec(tmp_path, ARCH.replace("factors: [D=1, E=1]", "factors: [D=4]"))
    assert any("cannot hold" in w and "inter_PEs_spatial" in w for w in spec2.warnings)


def test_checker_maximize_dims(tmp_path):
    spec, ctx = _spec(tmp_path)
    c = spec.constraints + (Constraint("PEs", "spatial", maximize_dims=(("L", "E"),), source="t"),)
    # fan-out 8: the largest product of L=6 and E=4's primes (2,3,2,2) within 8 is 8 = 2*2*2 -> L=2, E=4
    # (primes are given to the group's dimensions in order, each taking those that divide what it has left)
    ok = _mapping(buffer=(("D", 8),), dram=(("L", 3),), x=(("L", 2), ("E", 4)))
    assert _messages(ctx, ok, c) == []
    assert _messages(ctx, _mapping(dram=(("L", 3),), buffer=(("D", 8), ("E", 2)), x=(("L", 2), ("E", 2))), c) != []


@pytest.mark.parametrize("algorithm", ["dse", "exhaustive", "random_pruned", "hybrid"])
def test_search_honours_outermost_bypass_parallel_bypass_and_container_constraints(tmp_path, algorithm):
    spec, ctx = _spec(tmp_path)
    best = search(ctx, spec.constraints, MapperOptions(algorithm=algorithm, search_size=400, seed=3)).best.mapping
    assert best.level("DRAM").keep == {"Inputs", "Outputs"}
    assert best.level("WDRAM").keep == {"Weights"}
    assert best.level("ispad").keep == {"Inputs"} and best.level("wspad").keep == {"Weights"}
    assert constraint_violations(ctx, best, spec.constraints) == []


def test_search_honours_each_factor_permutation_and_split_kind(tmp_path):
    extra = """
constraints:
  targets:
  - {target: Buffer, type: temporal, factors: [E=2, D<=4], permutation: [D, E]}
  - {target: PEs, type: spatial, factors: [L>=2], permutation: [L, D], split: 1}
  - {target: DRAM, type: temporal, factors: [D=0]}
"""
    spec, ctx = _spec(tmp_path, extra=extra)
    for algorithm in ("dse", "exhaustive"):
        m = search(ctx, spec.constraints, MapperOptions(algorithm=algorithm)).best.mapping
        buf, pes = m.level("Buffer"), m.fanout("PEs")
        assert buf.factor("E") == 2 and buf.factor("D") <= 4
        inner_first = [d for d, f in reversed(buf.loops) if f > 1]
        assert inner_first[: len([d for d in ("D", "E") if buf.factor(d) > 1])] == [d for d in ("D", "E") if buf.factor(d) > 1]
        assert pes.factor("L") >= 2 and all(d == "L" for d, _ in pes.x) and all(d != "L" for d, _ in pes.y)
        assert m.level("DRAM").factor("D") == 8


def test_fusion_constraints_hold_on_the_returned_mapping():
    # run.py KTQ Accumulator on the shipped Gemmini: D=1 and E=1 above the Accumulator, outputs bypass the
    # Scratchpad, [E, D, L] at the Accumulator
    small = LayerJob("KTQ", model="bert-base", seq_len=128, fusion_level="Accumulator")
    prep = prepare(small)
    assert any(c.source.startswith("fusion") for c in prep.constraints)
    m = search(prep.ctx, prep.constraints, prep.options).best.mapping
    for level in ("DRAM", "Scratchpad"):
        assert m.level(level).factor("D") == 1 and m.level(level).factor("E") == 1
    assert "Outputs" not in m.level("Scratchpad").keep
    acc = [d for d, f in reversed(m.level("Accumulator").loops) if f > 1]
    assert acc == [d for d in ("E", "D", "L") if d in acc]


def test_reference_tpu_and_eyeriss_keep_as_timeloop_sees_them():
    from dse.model.from_timeloop import energies_from_stats
    from dse.spec.timeloop_stats import parse_stats

    comps = sorted((REF / "arch/components").glob("*.yaml"))
    small = {"EMBEDDING": 128, "EMBEDDING_3": 384, "SEQ_LENGTH": 64, "HEADS": 2, "FF_DIM": 256, "EMBEDDING_HEADS": 64}
    tpu = load_spec([REF / "arch/system_tpu.yaml", *comps, REF / "layers/KQV_layer.yaml", REF / "mapper/variables.yaml"],
                    variables=small)
    ctx = make_context(tpu.architecture, tpu.workload, ActionEnergies({}, 0.0))
    best = search(ctx, tpu.constraints, MapperOptions()).best.mapping
    assert "Weights" not in best.level("DRAM").keep and "Weights" in best.level("WeightsDRAM").keep
    eye = load_spec([REF / "arch/system_eyeriss.yaml", *comps, REF / "layers/KQV_layer.yaml",
                     REF / "mapper/variables.yaml"], variables=small)
    stats = parse_stats(Path(__file__).parent / "data/timeloop_stats/stats_KQV_eyeriss_TLD.txt")
    ctx = make_context(eye.architecture, eye.workload, energies_from_stats(stats))
    best = search(ctx, eye.constraints, MapperOptions()).best.mapping
    assert [best.level(n).keep for n in ("ifmap_spad", "weights_spad", "psum_spad")] == [
        {"Inputs"}, {"Weights"}, {"Outputs"}]


def test_model_command_refuses_a_mapping_that_breaks_a_constraint(tmp_path, capsys):
    from dse.cli.main import main
    from dse.spec.mapping import dump_mapping_yaml

    spec, _ = _spec(tmp_path)
    bad = _mapping(keep={"DRAM": {"Inputs", "Outputs"}, "WDRAM": {"Weights"}, "Buffer": {"Inputs", "Weights", "Outputs"},
                         "ispad": {"Inputs", "Weights"}, "wspad": {"Weights"}})
    (tmp_path / "map.yaml").write_text(dump_mapping_yaml(bad, spec.workload))
    files = [str(tmp_path / "arch.yaml"), str(tmp_path / "prob.yaml")]
    assert main(["model", *files, "--mapping", str(tmp_path / "map.yaml"), "--ert", str(_ert(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert "ispad: must bypass Weights" in err and "Traceback" not in err
    (tmp_path / "map.yaml").write_text(dump_mapping_yaml(_mapping(), spec.workload))
    assert main(["model", *files, "--mapping", str(tmp_path / "map.yaml"), "--ert", str(_ert(tmp_path))]) in (0, None)


def _ert(tmp_path):
    """An Accelergy ERT for the test architecture (the estimator has no 'regfile' data at every node)."""
    text = "ERT:\n  version: 0.4\n  tables:\n"
    for name in ("DRAM", "WDRAM", "Buffer", "ispad", "wspad"):
        text += (f"  - name: sys.{name}\n    actions:\n    - {{name: read, energy: 1.0}}\n"
                 f"    - {{name: write, energy: 1.0}}\n    - {{name: update, energy: 1.0}}\n    - {{name: leak, energy: 0.0}}\n")
    text += "  - name: sys.mac\n    actions:\n    - {name: compute, energy: 0.5}\n"
    p = tmp_path / "ERT.yaml"
    p.write_text(text)
    return p
