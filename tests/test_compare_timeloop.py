"""Acceptance: our model reproduces real Timeloop stats (BERT-large, seq 4096) on the reference specs.

The stats files (tests/data/timeloop_stats) are real Timeloop outputs; the mapping and the
per-access energies are read from them, the counts are recomputed by our model.
"""
from pathlib import Path

import pytest

from dse.cli.main import main
from dse.energy import read_accelergy_ert
from dse.model.energies import from_tables
from dse.model.from_timeloop import energies_from_stats, mapping_from_stats
from dse.model.nest import evaluate, make_context
from dse.report.compare import compare
from dse.spec.loader import load_spec
from dse.spec.mapping import dump_mapping_yaml, load_mapping
from dse.spec.timeloop_stats import parse_map_txt, parse_stats

DATA = Path(__file__).parent / "data"
REF = DATA / "reference" / "transformer_gemmini"
STATS = sorted((DATA / "timeloop_stats").glob("stats_*.txt"))


def spec_files(stats_path: Path) -> list[Path]:
    _, layer, arch, _ = stats_path.stem.split("_")
    files = [REF / f"arch/system_{arch}.yaml", *sorted((REF / "arch/components").glob("*.yaml")),
             REF / f"layers/{layer}_layer.yaml", REF / "mapper/variables.yaml"]
    if arch == "gemmini":
        files.append(REF / "constraints/constraints.yaml")
    return files


def test_all_eight_reference_files_are_covered():
    assert len(STATS) == 8


@pytest.mark.parametrize("stats_path", STATS, ids=lambda p: p.stem)
def test_counts_exact_and_energy_cycles_within_1_percent(stats_path):
    stats = parse_stats(stats_path)
    spec = load_spec(spec_files(stats_path))
    mapping = mapping_from_stats(stats, spec.architecture, spec.workload, spec.constraints)
    result = evaluate(make_context(spec.architecture, spec.workload, energies_from_stats(stats)), mapping)
    cmp = compare(result, stats)
    for row in cmp.rows:
        if row.quantity in ("reads", "fills", "updates", "utilized_capacity", "utilized_instances", "computes"):
            assert row.ours == row.timeloop, row
    assert cmp.accesses_error == 0.0
    assert cmp.energy_error <= 0.01 and cmp.cycles_error <= 0.01
    assert result.cycles == stats.summary["Cycles"]


@pytest.mark.parametrize("stats_path", [p for p in STATS if "gemmini" in p.name], ids=lambda p: p.stem)
def test_gemmini_energy_from_the_real_accelergy_ert(stats_path):
    # Per-action energies from Accelergy's ERT (not from the stats file): Timeloop's vector-access
    # accounting (ceil(scalar / block size) x action energy) must give its energy per data space.
    stats = parse_stats(stats_path)
    spec = load_spec(spec_files(stats_path))
    mapping = mapping_from_stats(stats, spec.architecture, spec.workload, spec.constraints)
    energies = from_tables(read_accelergy_ert(DATA / "ert" / "gemmini.ERT.yaml"), spec.architecture)
    result = evaluate(make_context(spec.architecture, spec.workload, energies), mapping)
    for lvl in result.levels:
        for ds in lvl.data_spaces:
            assert ds.energy_pj == pytest.approx(stats.level(lvl.name).data_space(ds.name).get("Energy (total)"), rel=1e-6, abs=0.02)
    assert result.energy_pj / 1e6 == pytest.approx(stats.summary["Energy"], abs=0.006)


def test_cli_compare_prints_the_max_error_line(capsys):
    path = DATA / "timeloop_stats" / "stats_KQV_eyeriss_TLL.txt"
    assert main(["compare-timeloop", str(path), *map(str, spec_files(path))]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "max relative error: energy 0.0000%, cycles 0.0000%, accesses 0.0000%"
    assert "psum_spad" in out and "134086656" in out  # Timeloop's psum reads per instance (TLL)


def test_mapping_yaml_round_trip_and_dse_model(tmp_path, capsys):
    path = DATA / "timeloop_stats" / "stats_KQV_gemmini_TLL.txt"
    stats = parse_stats(path)
    files = spec_files(path)
    spec = load_spec(files)
    mapping = mapping_from_stats(stats, spec.architecture, spec.workload, spec.constraints)
    yaml_path = tmp_path / "map.yaml"
    yaml_path.write_text(dump_mapping_yaml(mapping, spec.workload))
    assert load_mapping(yaml_path, spec.architecture, spec.workload) == mapping
    out_dir = tmp_path / "out"
    assert main(["model", *map(str, files), "--mapping", str(yaml_path), "--ert", str(DATA / "ert" / "gemmini.ERT.yaml"),
                 "-o", str(out_dir)]) == 0
    assert "Energy: 17464.75 uJ  Cycles: 51904516  Utilization: 96.97%" in capsys.readouterr().out
    written = parse_stats(out_dir / "timeloop-model.stats.txt")
    assert written.summary["Cycles"] == 51904516
    assert written.level("Accumulator").data_space("Outputs").get("Scalar reads (per-instance)") == 49545216
    levels = parse_map_txt(out_dir / "timeloop-model.map.txt")
    assert [l.name for l in levels] == ["DRAM", "Scratchpad", "Accumulator", "Registers"]
    assert ("D", 16, "Spatial-Y") in levels[1].loops and ("E", 16, "Spatial-X") in levels[2].loops


def test_bad_mappings_are_rejected_with_numbers(tmp_path, capsys):
    files = spec_files(DATA / "timeloop_stats" / "stats_KQV_gemmini_TLL.txt")
    bad = tmp_path / "bad.yaml"
    bad.write_text("mapping:\n- {target: DRAM, type: temporal, factors: D=3 E=1 L=1}\n")
    assert main(["model", *map(str, files), "--mapping", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "factors of dimension" in err and "Accepted:" in err
    nowhere = tmp_path / "nowhere.yaml"
    nowhere.write_text("mapping:\n- {target: L2, type: temporal, factors: D=3}\n")
    assert main(["model", *map(str, files), "--mapping", str(nowhere)]) == 2
    assert "unknown level 'L2'" in capsys.readouterr().err


def test_mapping_that_overflows_a_buffer_names_level_data_space_and_numbers(tmp_path, capsys):
    from dataclasses import replace

    path = DATA / "timeloop_stats" / "stats_KQV_gemmini_TLL.txt"
    files = spec_files(path)
    spec = load_spec(files)
    m = mapping_from_stats(parse_stats(path), spec.architecture, spec.workload, spec.constraints)
    # move a factor 2 of E from the Accumulator (E8 -> E4) into the 1-word Registers: 2 Weights there
    temporal = tuple(
        replace(t, loops=tuple((d, 4 if d == "E" else b) for d, b in t.loops)) if t.target == "Accumulator"
        else replace(t, loops=(("E", 2),) + t.loops) if t.target == "Registers" else t
        for t in m.temporal)
    bad = tmp_path / "overflow.yaml"
    bad.write_text(dump_mapping_yaml(replace(m, temporal=temporal), spec.workload))
    assert main(["model", *map(str, files), "--mapping", str(bad), "--ert", str(DATA / "ert" / "gemmini.ERT.yaml")]) == 2
    err = capsys.readouterr().err
    assert "Registers holds 1 words" in err and "needs 2 (Weights 2)" in err
