"""``dse spec`` prints what it understood, or a clear error with exit code 2."""
from __future__ import annotations

from pathlib import Path

from dse.cli.main import main

G = Path(__file__).parent / "data" / "reference" / "transformer_gemmini"
P = Path(__file__).parent / "data" / "reference" / "transformer_pim"


def gemmini_args(*extra: str) -> list[str]:
    return ["spec", str(G / "arch" / "system_gemmini.yaml"), str(G / "arch" / "components"),
            str(G / "constraints" / "constraints_gemmini.yaml"), str(G / "layers" / "KQV_layer.yaml"),
            str(G / "mapper" / "variables.yaml"), str(G / "mapper" / "mapper.yaml"), *extra]


def line_of(out: str, first_word: str) -> list[str]:
    for line in out.splitlines():
        cells = line.split()
        if cells and cells[0] == first_word:
            return cells
    raise AssertionError(f"no line starting with {first_word}:\n{out}")


def test_spec_prints_levels_workload_constraints_and_mapper(capsys):
    assert main(gemmini_args()) == 0
    out = capsys.readouterr().out
    # level, kind, class, instances, mesh, (fan-out) size, block, word bits, read bw, write bw, shared bw, keeps, bypasses
    assert line_of(out, "Scratchpad")[:11] == ["Scratchpad", "storage", "SRAM", "1", "1x1", "524288", "16", "8", "16", "16", "-"]
    assert line_of(out, "Accumulator")[:8] == ["Accumulator", "storage", "SRAM", "16", "1x16", "4096", "1", "32"]
    assert line_of(out, "PERows")[:5] == ["PERows", "fan-out", "1x16", "=", "16"]
    assert line_of(out, "MAC")[:5] == ["MAC", "compute", "intmac", "256", "16x16"]
    assert line_of(out, "Registers")[-3:] == ["Weights", "Inputs,", "Outputs"]  # keeps / bypasses
    assert line_of(out, "MACs") == ["MACs", "12884901888"]
    assert line_of(out, "D")[:2] == ["D", "3072"]
    assert "Constraints" in out and "D=6 E=2 L=8" in out
    assert line_of(out, "victory_condition") == ["victory_condition", "7500"]
    assert line_of(out, "optimization_metrics") == ["optimization_metrics", "edp,", "delay,", "energy"]


def test_spec_var_overrides_variables(capsys):
    assert main(gemmini_args("--var", "SEQ_LENGTH=512", "--var", "EMBEDDING_3=EMBEDDING*3")) == 0
    out = capsys.readouterr().out
    assert line_of(out, "L")[:2] == ["L", "512"]
    assert line_of(out, "MACs") == ["MACs", str(1024 * 3072 * 512)]


def test_spec_shows_implicit_fanouts_and_networks(capsys):
    assert main(["spec", str(P / "arch" / "system_PIM.yaml"), str(P / "constraints" / "constraints.yaml"),
                 str(P / "layers" / "Out_layer.yaml"), str(P / "mapper" / "variables.yaml")]) == 0
    out = capsys.readouterr().out
    assert line_of(out, "PE")[:6] == ["PE", "fan-out", "(implicit)", "128x128", "=", "16384"]
    assert line_of(out, "D2A_NoC")[:2] == ["D2A_NoC", "SimpleMulticast"]
    assert line_of(out, "dummy_buffer")[:3] == ["dummy_buffer", "storage", "dummy_storage"]


def test_spec_error_exit_code_and_message(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("problem:\n  shape: {name: x, dimensions: [A], data_spaces: [{name: T, projection: [[[B]]]}]}\n")
    assert main(["spec", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(bad) in err and "unknown dimension 'B'" in err and "Accepted: dimensions A" in err
    assert "Traceback" not in err


def test_spec_bad_var_argument(capsys):
    assert main(gemmini_args("--var", "DIM")) == 2
    assert "dse spec --var: bad variable 'DIM'. Accepted: NAME=VALUE" in capsys.readouterr().err
