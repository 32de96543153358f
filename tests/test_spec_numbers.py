"""Numeric attributes are finite and in range at load time (issue 16); misspelled attributes warn;
the output guard refuses impossible results."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dse.errors import ResultGuardError, SpecError
from dse.spec.loader import load_spec

REF = Path(__file__).parent / "data" / "reference" / "transformer_gemmini"
ARCH = (REF / "arch/system_gemmini.yaml").read_text()


def load_mutated(tmp_path, old: str, new: str):
    text = ARCH.replace(old, new, 1)
    assert text != ARCH
    arch = tmp_path / "system_gemmini.yaml"
    arch.write_text(text)
    return load_spec([arch, *sorted((REF / "arch/components").glob("*.yaml")), REF / "mapper/variables.yaml"])


@pytest.mark.parametrize("old,new,key,what", [
    ("width: 64", "width: .nan", "nodes[1].attributes.width", "must be finite"),
    ("width: 128", "width: -128", "nodes[3].attributes.width", "out of range"),
    ("depth: 16384*2", "depth: -5", "nodes[3].attributes.depth", "out of range"),
    ("depth: 16384*2", "depth: 1e300", "nodes[3].attributes.depth", "out of range"),
    ("read_bandwidth: 4", "read_bandwidth: 0", "nodes[1].attributes.read_bandwidth", "out of range"),
    ("read_bandwidth: 4", "read_bandwidth: -4", "nodes[1].attributes.read_bandwidth", "out of range"),
    ("network_fill_latency: 1", "network_fill_latency: .inf", "nodes[3].attributes.network_fill_latency", "finite"),
    ("network_fill_latency: 1", "network_fill_latency: -100", "nodes[3].attributes.network_fill_latency", "out of range"),
    ("network_fill_latency: 1", "network_fill_latency: 1.5", "nodes[3].attributes.network_fill_latency", "whole number"),
    ("n_banks: 4", "n_banks: abc", "nodes[3].attributes.n_banks", "must be a number"),
    ('latency: "1ns"', "global_cycle_seconds: .inf", "attributes.global_cycle_seconds", "finite"),
    ('latency: "1ns"', "global_cycle_seconds: 1e300", "attributes.global_cycle_seconds", "out of range"),
])
def test_bad_numbers_are_refused_with_file_and_key(tmp_path, old, new, key, what):
    with pytest.raises(SpecError) as err:
        load_mutated(tmp_path, old, new)
    msg = str(err.value)
    assert msg.startswith(str(tmp_path / "system_gemmini.yaml") + ": architecture.") and key in msg and what in msg
    assert "Accepted:" in msg


def test_misspelled_attribute_warns_with_the_closest_known_one(tmp_path):
    spec = load_mutated(tmp_path, "read_bandwidth: 16", "read_bandwith: 16")
    [w] = [w for w in spec.warnings if "read_bandwith" in w]
    assert "architecture.nodes[3].attributes.read_bandwith" in w and "did you mean 'read_bandwidth'" in w
    assert str(tmp_path) in w
    # a user's own attribute far from every known one is not flagged
    spec = load_mutated(tmp_path, "n_banks: 4", "n_banks: 4\n      my_custom_knob: 3")
    assert not [w for w in spec.warnings if "my_custom_knob" in w]


def test_output_guard_refuses_nan_and_negative_results(tmp_path):
    from dse.cli.main import main
    from dse.model.from_timeloop import mapping_from_stats
    from dse.model.nest import evaluate, make_context
    from dse.pipeline import energies_for
    from dse.report.guard import check_result
    from dse.report.timeloop_files import write_outputs
    from dse.spec.timeloop_stats import parse_stats

    stats = parse_stats(Path(__file__).parent / "data" / "timeloop_stats" / "stats_KQV_gemmini_TLL.txt")
    files = [REF / "arch/system_gemmini.yaml", *sorted((REF / "arch/components").glob("*.yaml")),
             REF / "layers/KQV_layer.yaml", REF / "mapper/variables.yaml", REF / "constraints/constraints.yaml"]
    spec = load_spec(files)
    energies, tables, _ = energies_for(spec, None)
    ctx = make_context(spec.architecture, spec.workload, energies)
    result = evaluate(ctx, mapping_from_stats(stats, spec.architecture, spec.workload, spec.constraints))
    check_result(result, "ok")  # a real result passes
    lvl = result.levels[1]
    broken = replace(result, levels=(result.levels[0], replace(lvl, energy_pj=float("nan")), *result.levels[2:]))
    with pytest.raises(ResultGuardError) as err:
        write_outputs(tmp_path / "out", "timeloop-model", ctx, broken, tables)
    assert f"{lvl.name} energy_pj = nan" in str(err.value) and err.value.exit_code == 4
    assert not (tmp_path / "out" / "timeloop-model.stats.txt").exists()
    negative = replace(result, cycles=-5)
    with pytest.raises(ResultGuardError, match="cycles = -5"):
        check_result(negative, "x")
    assert main(["model", *map(str, files), "--mapping", str(Path(__file__).parent / "data" / "timeloop_stats" / "stats_KQV_gemmini_TLL.txt")]) == 0


@pytest.mark.parametrize("value", [".nan", "-3.5", ".inf", "'abc'"])
def test_ert_energies_are_finite_and_non_negative(tmp_path, value):
    from dse.energy.ert import read_accelergy_ert
    from dse.errors import EstimationError

    ert = tmp_path / "x.ERT.yaml"
    ert.write_text(f"ERT:\n  version: 0.4\n  tables:\n  - name: system.DRAM\n    actions:\n    - name: read\n      energy: {value}\n")
    with pytest.raises(EstimationError) as err:
        read_accelergy_ert(ert)
    assert "ERT.tables[0].actions[0].energy" in str(err.value)
    ert.write_text("ERT:\n  tables:\n  - name: system.DRAM\n    actions: [read, write]\n")
    with pytest.raises(EstimationError, match="action without name or energy"):
        read_accelergy_ert(ert)


def test_stats_file_energies_are_checked(tmp_path):
    from dse.errors import DseError
    from dse.model.from_timeloop import energies_from_stats
    from dse.spec.timeloop_stats import parse_stats

    src = (Path(__file__).parent / "data" / "timeloop_stats" / "stats_KQV_gemmini_TLL.txt").read_text()
    bad = tmp_path / "stats.txt"
    marker = "Energy (per-instance)                    : "
    assert marker in src
    bad.write_text(src.replace(marker, marker + "-", 1))
    with pytest.raises(DseError, match="finite, non-negative"):
        energies_from_stats(parse_stats(bad))


def test_workload_size_bounds(tmp_path, capsys):
    from dse.cli.run_cmd import main as run_main

    var = tmp_path / "variables.yaml"
    text = (REF / "mapper/variables.yaml").read_text()
    cases = [({"SEQ_LENGTH: 4096": "SEQ_LENGTH: 2**70"}, "2**70"),
             ({"SEQ_LENGTH: 4096": "SEQ_LENGTH: 65536*65536*65536"}, "too large"),
             ({"SEQ_LENGTH: 4096": "SEQ_LENGTH: 2**30", "EMBEDDING_3: 3072": "EMBEDDING_3: 2**30"}, "multiply to"),
             ({"MB_D: 1": "MB_D: .inf"}, "variable MB_D is inf")]
    for edits, what in cases:
        mutated = text
        for old, new in edits.items():
            mutated = mutated.replace(old, new)
        var.write_text(mutated)
        with pytest.raises(SpecError) as err:
            load_spec([REF / "layers/KQV_layer.yaml", var])
        assert what in str(err.value) or "too large" in str(err.value), str(err.value)
    assert run_main(["KQV", "--seq-len", "99999999999999999999", "-o", str(tmp_path / "o")]) == 2
    assert "--seq-len: the sequence length must be from 1 to 2147483648" in capsys.readouterr().err


def test_huge_meshes_are_refused(capsys, tmp_path):
    """Seed 1029 of the fuzzer: pe_rows = 2**70 reached numpy as an int64 overflow."""
    from dse.cli.run_cmd import main as run_main

    big = str(2**70)
    assert run_main(["KTQ", "--seq-len", "16", "--set", f"pe_rows={big}", f"accumulator_size={big}",
                     f"scratchpad_size={big}", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "spatial.meshY: 1.18e+21 is too large" in err and "Traceback" not in err
