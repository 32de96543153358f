"""Timeloop's own files, unchanged: timeloopfe-processed specs (dummy ``inter_<C>_spatial`` levels),
Timeloop-written map.yaml (compact factors, residuals, dummy/network targets) and v4 mappings with
container entries (issue 9 items 1, 2, 4).

Expected numbers come from a real Timeloop run (tests/data/timeloop_stats/stats_KQV_gemmini_TLL.txt:
17464.75 uJ, 51904516 cycles) and from the brute-force simulator tests/loopsim.py.
"""
from pathlib import Path

import pytest
import yaml

from dse.cli.main import main
from dse.errors import MappingError
from dse.model.from_timeloop import mapping_from_stats
from dse.spec.loader import load_spec
from dse.spec.mapping import Mapping, SpatialMapping, TemporalMapping, dump_mapping_yaml, load_mapping, mapping_from_dict
from dse.spec.mapping_yaml import parse_factors, parse_permutation
from dse.spec.timeloop_stats import parse_stats
from dse.spec.types import SpatialLevel

from test_model_sim import compare, gemm

DATA = Path(__file__).parent / "data"
TL = DATA / "timeloop_files"
REF = DATA / "reference" / "transformer_gemmini"
STATS = DATA / "timeloop_stats" / "stats_KQV_gemmini_TLL.txt"
ERT = DATA / "ert" / "gemmini.ERT.yaml"
TIMELOOP_LINE = "Energy: 17464.75 uJ  Cycles: 51904516  Utilization: 96.97%"


def v4_files():
    return [REF / "arch/system_gemmini.yaml", *sorted((REF / "arch/components").glob("*.yaml")),
            REF / "layers/KQV_layer.yaml", REF / "mapper/variables.yaml", REF / "constraints/constraints.yaml"]


def test_processed_spec_reads_dummy_levels_as_the_fanouts_they_stand_for():
    arch = load_spec(TL / "gemmini_processed.yaml").architecture
    assert arch.node_names == ("DRAM", "Scratchpad", "inter_PERows_spatial", "Accumulator", "inter_PECols_spatial",
                               "Registers", "MAC")
    rows, cols = arch.spatial_levels
    # mesh of the next component / the dummy's own mesh: 1x16 / 1x1 and 16x16 / 1x16
    assert (rows.fanout_x, rows.fanout_y, rows.dummy, rows.container) == (1, 16, True, "PERows")
    assert (cols.fanout_x, cols.fanout_y, cols.container) == (16, 1, "PECols")
    assert [s.instances for s in arch.storage_levels] == [1, 1, 16, 256]
    # the same architecture as the v4 source it was made from, fan-out names aside
    v4 = load_spec(v4_files()).architecture
    assert [(type(n), getattr(n, "fanout", None)) for n in arch.nodes] == [(type(n), getattr(n, "fanout", None)) for n in v4.nodes]


def test_processed_spec_and_timeloop_map_yaml_reproduce_timeloop(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["model", str(TL / "gemmini_kqv_processed.yaml"), "--mapping", str(TL / "gemmini_kqv.map.yaml"),
                 "--ert", str(ERT), "-o", str(out)]) == 0
    assert TIMELOOP_LINE in capsys.readouterr().out
    written = parse_stats(out / "timeloop-model.stats.txt")
    assert written.summary["Cycles"] == parse_stats(STATS).summary["Cycles"]
    assert written.level("Accumulator").data_space("Outputs").get("Scalar reads (per-instance)") == 49545216
    # map.txt prints the dummy levels as Timeloop does, with their fan-out's spatial loops, and reads back
    from dse.spec.timeloop_stats import parse_map_txt

    levels = parse_map_txt(out / "timeloop-model.map.txt")
    assert [l.name for l in levels] == ["DRAM", "Scratchpad", "inter_PERows_spatial", "Accumulator", "inter_PECols_spatial", "Registers"]
    assert levels[2].loops == (("D", 16, "Spatial-Y"),) and levels[4].loops == (("E", 16, "Spatial-X"),)
    assert main(["model", str(TL / "gemmini_kqv_processed.yaml"), "--mapping", str(out / "timeloop-model.map.txt"),
                 "--ert", str(ERT)]) == 0
    assert TIMELOOP_LINE in capsys.readouterr().out


def test_timeloop_map_yaml_reads_on_the_v4_source_spec_too():
    spec = load_spec(v4_files())
    expected = mapping_from_stats(parse_stats(STATS), spec.architecture, spec.workload, spec.constraints)
    assert load_mapping(TL / "gemmini_kqv.map.yaml", spec.architecture, spec.workload) == expected


def test_written_map_yaml_reads_back_with_the_same_numbers(tmp_path, capsys):
    # write (dse model -o on the v4 source spec), read back on the processed spec: same mapping, same numbers
    first = tmp_path / "a"
    assert main(["model", *map(str, v4_files()), "--mapping", str(TL / "gemmini_kqv.map.yaml"), "--ert", str(ERT),
                 "-o", str(first)]) == 0
    assert TIMELOOP_LINE in capsys.readouterr().out
    written = yaml.safe_load((first / "timeloop-model.map.yaml").read_text())["mapping"]
    targets = [e["target"] for e in written if e["type"] == "temporal"]
    assert targets == ["Registers", "inter_PECols_spatial", "Accumulator", "inter_PERows_spatial", "Scratchpad", "DRAM"]
    assert {"target": "inter_PERows_spatial", "type": "spatial", "factors": "E1 D16 R1 S1 N1 L1 Q1 G1",
            "permutation": "DERSNLQG", "split": 0} in written
    second = tmp_path / "b"
    assert main(["model", str(TL / "gemmini_kqv_processed.yaml"), "--mapping", str(first / "timeloop-model.map.yaml"),
                 "--ert", str(ERT), "-o", str(second)]) == 0
    assert TIMELOOP_LINE in capsys.readouterr().out
    assert (second / "timeloop-model.map.yaml").read_text() == (first / "timeloop-model.map.yaml").read_text()


def test_factor_and_permutation_spellings():
    dims = ("E", "EMB", "D", "L")
    assert parse_factors("E1 D1 L16", dims, "w") == [("E", 1, None), ("D", 1, None), ("L", 16, None)]
    assert parse_factors("L16,5 E=2", dims, "w") == [("L", 16, 5), ("E", 2, None)]
    assert parse_factors("E=1,D=1,L=16", dims, "w") == [("E", 1, None), ("D", 1, None), ("L", 16, None)]
    assert parse_factors(["L=16,5", "D = 4"], dims, "w") == [("L", 16, 5), ("D", 4, None)]
    assert parse_factors("EMB16 E2", dims, "w") == [("EMB", 16, None), ("E", 2, None)]  # longest name first
    assert parse_permutation("LEMBD", dims, "w") == ["L", "EMB", "D"]
    assert parse_permutation("L E D", dims, "w") == ["L", "E", "D"]
    with pytest.raises(MappingError, match="cannot read factor 'X4'"):
        parse_factors("E1 X4", dims, "w")
    with pytest.raises(MappingError, match="more than once"):
        parse_factors("E1 E4", dims, "w")


def test_residual_factor_and_whole_dimension_zero():
    spec = load_spec(TL / "gemmini_processed.yaml", variables={})
    wl = spec.workload  # E 64, D 192, L 32
    entries = [{"target": "Registers", "type": "temporal", "factors": "L16"},
               {"target": "inter_PECols_spatial", "type": "spatial", "factors": "E16", "permutation": "E", "split": 1},
               {"target": "inter_PERows_spatial", "type": "spatial", "factors": "D16", "permutation": "D", "split": 0},
               {"target": "Accumulator", "type": "temporal", "factors": "D12"},
               {"target": "DRAM", "type": "temporal", "factors": "E4 L2 D1"}]
    m = mapping_from_dict({"mapping": entries}, spec.architecture, wl)
    assert m.level("DRAM").loops == (("L", 2), ("E", 4)) and m.fanout("inter_PERows_spatial").y == (("D", 16),)
    # D0 is the whole dimension (Timeloop's reading of 0)
    zero = entries[:2] + [{"target": "DRAM", "type": "temporal", "factors": "E4 L2 D0"}]
    m0 = mapping_from_dict({"mapping": zero}, spec.architecture, wl)
    assert m0.level("DRAM").factor("D") == 192 and m0.level("Accumulator").loops == ()
    # Timeloop's residual L12,8 under L3: (3 - 1) * 12 + 8 = 32
    imperfect = [{"target": "Registers", "type": "temporal", "factors": "L12,8"}] + entries[1:4] + [
        {"target": "DRAM", "type": "temporal", "factors": "E4 L3 D1"}]
    mi = mapping_from_dict({"mapping": imperfect}, spec.architecture, wl)
    assert mi.level("Registers").loops == (("L", 12),) and mi.level("Registers").residual("L") == 8
    bad = [{"target": "Registers", "type": "temporal", "factors": "L16,5"}] + imperfect[1:]
    with pytest.raises(MappingError, match="cover 37 but its size is 32"):
        mapping_from_dict({"mapping": bad}, spec.architecture, wl, "m.yaml")


def test_temporal_loops_on_a_dummy_level_run_innermost_at_the_storage_level_above():
    spec = load_spec(TL / "gemmini_processed.yaml")
    base = [{"target": "Registers", "type": "temporal", "factors": "L16"},
            {"target": "inter_PECols_spatial", "type": "spatial", "factors": "E16", "permutation": "E", "split": 1},
            {"target": "inter_PERows_spatial", "type": "spatial", "factors": "D16", "permutation": "D", "split": 0},
            {"target": "DRAM", "type": "temporal", "factors": "L2 D12 E1"}]
    on_dummy = base + [{"target": "inter_PERows_spatial", "type": "temporal", "factors": "E4"},
                       {"target": "Scratchpad", "type": "temporal", "factors": "L1"}]
    on_parent = base + [{"target": "Scratchpad", "type": "temporal", "factors": "E4"}]
    a = mapping_from_dict(on_dummy, spec.architecture, spec.workload)
    assert a == mapping_from_dict(on_parent, spec.architecture, spec.workload)
    assert a.level("Scratchpad").loops == (("E", 4),)


def test_seed_v4_mapping_with_container_entries_loads():
    # the seed's own transformer_gemmini/mapper/mapping.yaml: dataspace/temporal entries for PECols/PERows
    spec = load_spec([*v4_files()[:-1]])
    m = load_mapping(REF / "mapper" / "mapping.yaml", spec.architecture, spec.workload)
    assert m.fanout("PECols").x == (("E", 16),) and m.fanout("PERows").y == (("D", 16),)
    assert m.level("Registers").keep == frozenset({"Weights"}) and m.level("Registers").loops == (("L", 16),)
    assert m.level("Scratchpad").loops == (("D", 32), ("L", 256))


def _two_dummy_spec(tmp_path):
    """Containers A (meshX 2) and B (meshY 4) in a row, as timeloopfe writes them: two dummy levels."""
    def comp(name, cls, n, mx, my, **attrs):
        return {"name": f"{name}[1..{n}]", "class": cls, "attributes": {**attrs, "meshX": mx, "meshY": my}}
    dummy = dict(width=1, depth=1, datawidth=1, technology=-1)
    spec = {"dumped_by_timeloop_front_end": True,
            "architecture": {"version": "0.4", "subtree": [{"name": "S_top_level", "attributes": {"technology": "32nm"}, "local": [
                comp("DRAM", "DRAM", 1, 1, 1, width=8, datawidth=8),
                comp("inter_A_spatial", "dummy_storage", 1, 1, 1, **dummy),
                comp("inter_B_spatial", "dummy_storage", 2, 2, 1, **dummy),
                comp("Buf", "SRAM", 8, 2, 4, depth=64, width=8, datawidth=8),
                comp("MAC", "intmac", 8, 2, 4, datawidth=8)]}]},
            "problem": {"shape": {"name": "gemm", "dimensions": ["E", "D", "L"], "data_spaces": [
                {"name": "Weights", "projection": [[["E"]], [["D"]]]},
                {"name": "Inputs", "projection": [[["E"]], [["L"]]]},
                {"name": "Outputs", "projection": [[["D"]], [["L"]]], "read_write": True}]},
                "instance": {"E": 4, "D": 8, "L": 3}}}
    path = tmp_path / "parsed-processed-input.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_two_consecutive_dummy_fanouts_split_one_dimension(tmp_path):
    spec = load_spec(_two_dummy_spec(tmp_path))
    arch = spec.architecture
    assert [(f.name, f.fanout_x, f.fanout_y) for f in arch.spatial_levels] == [("inter_A_spatial", 2, 1), ("inter_B_spatial", 1, 4)]
    m = mapping_from_dict([{"target": "inter_A_spatial", "type": "spatial", "factors": "D2", "permutation": "D", "split": 1},
                           {"target": "inter_B_spatial", "type": "spatial", "factors": "D4", "permutation": "DEL", "split": 0},
                           {"target": "Buf", "type": "temporal", "factors": "E2 L3", "permutation": "EL"},
                           {"target": "DRAM", "type": "temporal", "factors": "E2"}], arch, spec.workload)
    assert m.fanout("inter_A_spatial").x == (("D", 2),) and m.fanout("inter_B_spatial").y == (("D", 4),)
    assert compare(arch, gemm(4, 8, 3), m) == []
    # the written map.yaml keeps the two fan-outs apart and reads back the same
    assert mapping_from_dict(yaml.safe_load(dump_mapping_yaml(m, spec.workload, arch)), arch, spec.workload) == m


@pytest.mark.parametrize("entry, words", [
    ({"target": "inter_PECols_spatial", "type": "datatype", "keep": ["Weights"]}, ["holds no data", "keep: []"]),
    ({"target": "Nowhere", "type": "temporal", "factors": "L1"}, ["unknown level 'Nowhere'", "inter_PECols_spatial"]),
    ({"target": "Registers", "type": "temporal", "factors": "L16", "no_reuse": ["Weights"]}, ["'no_reuse' is not modelled"]),
    ({"target": "Registers", "type": "skew", "factors": "L16"}, ["unknown entry type 'skew'"]),
    ({"target": 9, "type": "temporal", "factors": "L16"}, ["storage-level id 9 is out of range", "0 (innermost, Registers)"]),
])
def test_bad_mapping_entries_are_one_paragraph_exit_2_nothing_written(tmp_path, capsys, entry, words):
    bad = tmp_path / "map.yaml"
    bad.write_text(yaml.safe_dump({"mapping": [entry]}))
    out = tmp_path / "out"
    assert main(["model", str(TL / "gemmini_processed.yaml"), "--mapping", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    errors = [l for l in err.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {bad}: mapping[0]") and "Accepted:" in err and "Traceback" not in err
    for w in words:
        assert w in err
    assert not out.exists() or not any(out.iterdir())


def test_numeric_storage_level_ids_count_dummy_levels():
    spec = load_spec(TL / "gemmini_processed.yaml")
    entries = [{"target": 0, "type": "temporal", "factors": "L16"},  # Registers
               {"target": 1, "type": "spatial", "factors": "E16", "permutation": "E", "split": 1},  # inter_PECols
               {"target": 3, "type": "spatial", "factors": "D16", "permutation": "D", "split": 0},  # inter_PERows
               {"target": 5, "type": "temporal", "factors": "E4 L2 D12"}]  # DRAM
    m = mapping_from_dict(entries, spec.architecture, spec.workload)
    assert m.level("Registers").loops == (("L", 16),) and m.level("DRAM").factor("D") == 12
    assert isinstance(spec.architecture.node("inter_PECols_spatial"), SpatialLevel)
    assert m == Mapping(tuple(TemporalMapping(t.target, t.loops, t.keep) for t in m.temporal),
                        (SpatialMapping("inter_PERows_spatial", (), (("D", 16),)), SpatialMapping("inter_PECols_spatial", (("E", 16),))))


def test_dummy_levels_priced_by_their_ert_entry_leak_as_timeloop_charges(tmp_path, capsys):
    # A spec defining a compound class named dummy_storage (the seed's PIM components) gives timeloopfe's
    # dummy levels ERT entries (1 pJ per action in the real PIM ERT); Timeloop charges their leakage:
    # leak x cycles x utilized instances of the dummy level. inter_PERows_spatial: 1 instance;
    # inter_PECols_spatial: the 16 instances the D16 fan-out above it uses.  They bypass everything: no accesses.
    ert = yaml.safe_load(ERT.read_text())
    for name in ("System_top_level.inter_PERows_spatial[1..1]", "System_top_level.inter_PECols_spatial[1..16]"):
        ert["ERT"]["tables"].append({"name": name, "actions": [{"name": a, "arguments": {}, "energy": 1.0}
                                                              for a in ("write", "update", "read", "leak")]})
    priced = tmp_path / "with_dummies.ERT.yaml"
    priced.write_text(yaml.safe_dump(ert, sort_keys=False))
    out = tmp_path / "out"
    args = [str(TL / "gemmini_kqv_processed.yaml"), "--mapping", str(TL / "gemmini_kqv.map.yaml")]
    assert main(["model", *args, "--ert", str(priced), "-o", str(out)]) == 0
    cycles = 51904516
    expected_uj = 17464.75 + (1 + 16) * cycles * 1e-6
    line = capsys.readouterr().out
    assert f"Cycles: {cycles}" in line
    assert float(line.split("Energy: ")[1].split()[0]) == pytest.approx(expected_uj, abs=0.011)
    stats = (out / "timeloop-model.stats.txt").read_text()
    assert "inter_PECols_spatial: timeloopfe's dummy level for container PECols (class dummy_storage)" in stats
    # the same on the v4 source spec (its PECols container is what timeloopfe turns into inter_PECols_spatial)
    assert main(["model", *map(str, v4_files()), "--mapping", str(TL / "gemmini_kqv.map.yaml"), "--ert", str(priced)]) == 0
    assert float(capsys.readouterr().out.split("Energy: ")[1].split()[0]) == pytest.approx(expected_uj, abs=0.011)


# --------------------------------------------------------------------------- compare-timeloop (item 6)
def _cmp(capsys, *args):
    rc = main(["compare-timeloop", *map(str, args)])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_compare_takes_the_nest_from_map_txt_with_dummy_levels(capsys):
    # no constraints file: only the map.txt's printed spatial loops say D16 is on PERows (Y) and E16 on PECols (X)
    files = v4_files()[:-1]
    rc, out, _ = _cmp(capsys, STATS, *files, "--map", TL / "gemmini_kqv.map.txt")
    assert rc == 0 and out.strip().splitlines()[-1] == "max relative error: energy 0.0000%, cycles 0.0000%, accesses 0.0000%"
    # the processed spec: the stats file has no section for its dummy levels, which is fine
    rc, out, _ = _cmp(capsys, STATS, TL / "gemmini_kqv_processed.yaml")
    assert rc == 0 and out.strip().endswith("accesses 0.0000%")


def test_compare_refuses_a_reconstruction_that_contradicts_utilized_instances(tmp_path, capsys):
    text = STATS.read_text().splitlines(keepends=True)
    assert "Utilized instances (max)                 : 16" in text[120]
    text[120] = text[120].replace(": 16", ": 8")
    bad = tmp_path / "stats.txt"
    bad.write_text("".join(text))
    rc, out, err = _cmp(capsys, bad, *v4_files())
    assert rc == 2 and "max relative error" not in out
    assert "Accumulator: printed 8, reconstructed 16" in err and "--map" in err and "first data space" in err


def test_compare_refuses_a_stats_nest_missing_outer_loops(tmp_path, capsys):
    # what stats.txt shows when the first data space is not kept at DRAM: no DRAM loops
    lines = STATS.read_text().splitlines(keepends=True)
    start = next(i for i, l in enumerate(lines) if "=== DRAM ===" in l)
    kept = [l for i, l in enumerate(lines) if not (i > start and l.strip().startswith("for "))]
    bad = tmp_path / "stats.txt"
    bad.write_text("".join(kept))
    rc, out, err = _cmp(capsys, bad, *v4_files())
    assert rc == 2 and "max relative error" not in out and "map.txt" in err


def test_compare_with_ert_computes_our_energy_from_that_ert(tmp_path, capsys):
    rc, out, _ = _cmp(capsys, STATS, *v4_files(), "--ert", ERT)
    assert rc == 0 and out.strip().splitlines()[-1] == "max relative error: energy 0.0000%, cycles 0.0000%, accesses 0.0000%"
    # an energy-rule error (here: the Scratchpad read energy doubled) shows in --ert mode ...
    ert = yaml.safe_load(ERT.read_text())
    for t in ert["ERT"]["tables"]:
        if "Scratchpad" in t["name"]:
            for a in t["actions"]:
                if a["name"] == "read":
                    a["energy"] *= 2
    doubled = tmp_path / "doubled.ERT.yaml"
    doubled.write_text(yaml.safe_dump(ert))
    rc, out, _ = _cmp(capsys, STATS, *v4_files(), "--ert", doubled)
    energy_pct = float(out.strip().splitlines()[-1].split("energy ")[1].split("%")[0])
    assert rc == 0 and energy_pct > 1.0
    # ... which the default mode (per-access energies back-computed from the stats) cannot see
    rc, out, _ = _cmp(capsys, STATS, *v4_files())
    assert out.strip().endswith("energy 0.0000%, cycles 0.0000%, accesses 0.0000%")


# --------------------------------------------------------------------------- every seed v4 architecture, processed
PIM = DATA / "reference" / "transformer_pim"
BERT_LARGE = {"EMBEDDING": 1024, "SEQ_LENGTH": 4096, "EMBEDDING_3": 3072}


def _gemmini_family(arch, constraints, layer="KQV"):
    files = [REF / f"arch/system_{arch}.yaml", *sorted((REF / "arch/components").glob("*.yaml")),
             REF / f"layers/{layer}_layer.yaml", REF / "mapper/variables.yaml"]
    return files + ([REF / "constraints" / constraints] if constraints else [])


SEED_V4 = {
    "gemmini": _gemmini_family("gemmini", "constraints.yaml"),
    # with its constraints: timeloopfe refuses the !Parallel registers unless each data space is kept by one
    "gemmini_NOs": _gemmini_family("gemmini_NOs", "constraints_NOs.yaml", "softmax"),
    "eyeriss": _gemmini_family("eyeriss", "constraints_eyeriss.yaml"),
    "simba": _gemmini_family("simba", "constraints_simba.yaml"),
    "tpu": _gemmini_family("tpu", None),
    "pim": [PIM / "arch_v0.4/system_PIM.yaml", *sorted((PIM / "arch_v0.4/components").glob("*.yaml")),
            PIM / "layers/KQV_layer.yaml", PIM / "mapper/variables.yaml", PIM / "constraints_v0.4/constraints.yaml"],
}


@pytest.mark.parametrize("name", sorted(SEED_V4))
def test_every_seed_v4_arch_processed_reads_back_the_same(name, tmp_path):
    # the processed form (written as timeloopfe writes it) has the same levels and fan-outs; a mapping found on
    # the v4 source, written as Timeloop's map.yaml and read on the processed spec, gives the same counts and cycles
    from dse.mapper.search import search
    from dse.model.energies import ActionEnergies
    from dse.model.nest import evaluate, make_context
    from dse.spec.types import MapperOptions

    from timeloopfe_like import processed_spec

    files = SEED_V4[name]
    variables = {**BERT_LARGE, "EMBEDDING_3": "EMBEDDING*3"} if name == "pim" else BERT_LARGE
    spec = load_spec(files, variables=variables)
    path = tmp_path / "parsed-processed-input.yaml"
    path.write_text(yaml.safe_dump(processed_spec(files, variables), sort_keys=False))
    proc = load_spec(path)
    a, b = spec.architecture, proc.architecture
    assert [(type(n).__name__, getattr(n, "fanout_x", 0), getattr(n, "fanout_y", 0)) for n in a.nodes] == \
           [(type(n).__name__, getattr(n, "fanout_x", 0), getattr(n, "fanout_y", 0)) for n in b.nodes]
    assert [f.name for f in b.spatial_levels if not f.implicit] == [f"inter_{f.name}_spatial" for f in a.spatial_levels if not f.implicit]
    none = ActionEnergies({}, 0.0)
    ctx = make_context(a, spec.workload, none)
    found = search(ctx, spec.constraints, MapperOptions(algorithm="random_pruned", timeout=100, victory_condition=10,
                                                        search_size=200)).best.mapping
    (tmp_path / "map.yaml").write_text(dump_mapping_yaml(found, spec.workload, a))
    back = load_mapping(tmp_path / "map.yaml", b, proc.workload)
    r1, r2 = evaluate(ctx, found), evaluate(make_context(b, proc.workload, none), back)
    assert r1.cycles == r2.cycles and r1.macs == r2.macs
    for l1, l2 in zip(r1.levels, r2.levels):
        assert l1.name == l2.name
        assert [(d.name, d.reads, d.fills, d.updates) for d in l1.data_spaces] == [(d.name, d.reads, d.fills, d.updates) for d in l2.data_spaces]


def test_bad_processed_specs_are_one_paragraph_exit_2(tmp_path, capsys):
    path = _two_dummy_spec(tmp_path)
    good = yaml.safe_load(path.read_text())
    local = good["architecture"]["subtree"][0]["local"]
    cases = []
    unknown = yaml.safe_load(path.read_text())
    unknown["architecture"]["subtree"][0]["local"][3]["class"] = "adder_tree"
    cases.append((unknown, ["architecture.subtree[0].local[3].class", "'adder_tree'", "DRAM, SRAM"]))
    mesh = yaml.safe_load(path.read_text())
    mesh["architecture"]["subtree"][0]["local"][2]["attributes"]["meshX"] = 3
    mesh["architecture"]["subtree"][0]["local"][2]["name"] = "inter_B_spatial[1..3]"
    cases.append((mesh, ["inter_B_spatial", "3x1", "does not divide"]))
    assert local[3]["class"] == "SRAM"
    for i, (spec, words) in enumerate(cases):
        bad = tmp_path / f"bad{i}.yaml"
        bad.write_text(yaml.safe_dump(spec, sort_keys=False))
        assert main(["spec", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {bad}") and "Accepted:" in err, err
        for w in words:
            assert w in err, err


def test_map_txt_residual_loops_read_back(tmp_path, capsys):
    # Timeloop prints an imperfect loop as "for L in [0:12,8)"; dse writes it so and reads it back
    entries = [{"target": "Registers", "type": "temporal", "factors": "L12,8"},
               {"target": "inter_PECols_spatial", "type": "spatial", "factors": "E16", "permutation": "E", "split": 1},
               {"target": "inter_PERows_spatial", "type": "spatial", "factors": "D16", "permutation": "D", "split": 0},
               {"target": "Accumulator", "type": "temporal", "factors": "D12"},
               {"target": "DRAM", "type": "temporal", "factors": "E4 L3 D1"},
               {"target": "Registers", "type": "datatype", "keep": ["Weights"], "bypass": ["Inputs", "Outputs"]},
               {"target": "Accumulator", "type": "datatype", "keep": ["Outputs"], "bypass": ["Inputs", "Weights"]},
               {"target": "Scratchpad", "type": "datatype", "keep": ["Weights", "Inputs"], "bypass": ["Outputs"]}]
    mapping = tmp_path / "in.map.yaml"
    mapping.write_text(yaml.safe_dump({"mapping": entries}))
    spec = TL / "gemmini_processed.yaml"
    assert main(["model", str(spec), "--mapping", str(mapping), "-o", str(tmp_path / "a")]) == 0
    first = capsys.readouterr().out
    text = (tmp_path / "a" / "timeloop-model.map.txt").read_text()
    assert "for L in [0:12,8)" in text and "L12,8" in (tmp_path / "a" / "timeloop-model.map.yaml").read_text()
    assert main(["model", str(spec), "--mapping", str(tmp_path / "a" / "timeloop-model.map.txt")]) == 0
    assert capsys.readouterr().out.split("Energy")[1] == first.split("Energy")[1]


def test_an_ert_pricing_every_level_makes_estimation_unnecessary(tmp_path, capsys):
    # a component class our estimator cannot price (Timeloop's run had Accelergy plug-ins we may not have):
    # with an ERT that prices every level, the run loads and reproduces Timeloop; without one it is refused
    spec = yaml.safe_load((TL / "gemmini_kqv_processed.yaml").read_text())
    spec["architecture"]["subtree"][0]["local"][3]["class"] = "exotic_SRAM"
    path = tmp_path / "model-input.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    args = ["model", str(path), "--mapping", str(TL / "gemmini_kqv.map.yaml")]
    assert main(args + ["--ert", str(ERT)]) == 0
    assert TIMELOOP_LINE in capsys.readouterr().out
    assert main(args) == 2
    assert "exotic_SRAM" in capsys.readouterr().err


def test_container_temporal_and_dataspace_constraints_are_met_by_the_fanout(tmp_path):
    # the seed's v4 PIM containers carry temporal [D=1, E=1] and dataspace keep: [] constraints (met by a fan-out,
    # dropped); a non-trivial one is ignored with a warning, as timeloopfe ignores a container's own constraints
    files = SEED_V4["pim"]
    spec = load_spec(files, variables={"EMBEDDING_3": "EMBEDDING*3"})
    on_fanouts = [(c.target, c.type) for c in spec.constraints if c.target in ("PERows", "PECols")]
    assert sorted(on_fanouts) == [("PECols", "spatial"), ("PERows", "spatial")]
    assert not [w for w in spec.warnings if "fan-out" in w]
    extra = tmp_path / "more.yaml"
    extra.write_text("constraints:\n  targets:\n  - {target: PECols, type: temporal, factors: [D=4]}\n")
    spec = load_spec([*files, extra], variables={"EMBEDDING_3": "EMBEDDING*3"})
    assert any("temporal constraint on fan-out 'PECols'" in w and "ignored, as timeloopfe ignores it" in w for w in spec.warnings)


def test_dse_model_reads_the_mapping_from_the_spec_files_like_timeloop_model(tmp_path, capsys):
    # timeloop-model reads 'mapping:' from its merged inputs; timeloopfe's model-input.yaml carries it there
    spec = yaml.safe_load((TL / "gemmini_kqv_processed.yaml").read_text())
    spec["mapping"] = yaml.safe_load((TL / "gemmini_kqv.map.yaml").read_text())["mapping"]
    path = tmp_path / "model-input.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert main(["model", str(path), "--ert", str(ERT)]) == 0
    assert TIMELOOP_LINE in capsys.readouterr().out
    assert main(["model", *map(str, v4_files()), "--ert", str(ERT)]) == 2
    err = capsys.readouterr().err
    assert "no mapping given and no spec file has a 'mapping:' list" in err and "Accepted:" in err
