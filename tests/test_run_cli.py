"""run.py as a new user meets it: defaults, outputs, and bad input."""
import subprocess
import sys
from pathlib import Path

from dse.cli.run_cmd import main
from dse.spec.timeloop_stats import parse_map_txt, parse_stats
from dse.workloads import make_layer

ROOT = Path(__file__).resolve().parents[1]


def test_run_ktq_defaults_write_timeloop_outputs(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["KTQ", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Utilization:" in text and "pJ/MAC:" in text
    names = sorted(p.name for p in out.iterdir())
    assert names == ["timeloop-mapper.ART.yaml", "timeloop-mapper.ERT.yaml", "timeloop-mapper.map.txt",
                     "timeloop-mapper.map.yaml", "timeloop-mapper.stats.txt"]
    stats = parse_stats(out / "timeloop-mapper.stats.txt")
    # BERT-base KTQ per head: E=64, D=L=512
    assert stats.summary["Computes"] == make_layer("bert-base", "KTQ", 512).macs_per_instance == 64 * 512 * 512
    assert 0 < stats.summary["Utilization"] <= 100
    assert [l.name for l in parse_map_txt(out / "timeloop-mapper.map.txt")] == ["DRAM", "Scratchpad", "Accumulator", "Registers"]


def test_bad_input_exits_2_without_traceback_or_output(tmp_path):
    for args, needle in ((["NOT_A_LAYER"], "unknown layer 'NOT_A_LAYER'"),
                         (["KTQ", "L2"], "unknown fusion level 'L2'"),
                         (["KTQ", "--arch", "nope"], "unknown architecture 'nope'"),
                         (["KTQ", "--set", "pe_rows=0"], "knob 'pe_rows' = 0 is out of range"),
                         (["KTQ", "--model", "bert-huge"], "bert-huge"),
                         (["KTQ", "--mapper", "fastest"], "unknown mapper preset or file 'fastest'")):
        out = tmp_path / "never"
        r = subprocess.run([sys.executable, str(ROOT / "run.py"), *args, "-o", str(out)], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert needle in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not out.exists()


def test_no_valid_mapping_exits_nonzero_with_reason(tmp_path, capsys):
    # Fusing KQV at the 1-word Registers forces all of D and E below them: impossible.
    out = tmp_path / "o"
    assert main(["KQV", "Registers", "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert "no valid mapping" in err and "cannot be split over the levels" in err
    assert not out.exists()


def test_live_status_from_mapper_yaml_and_flag(tmp_path, capsys):
    mapper = tmp_path / "mapper.yaml"
    mapper.write_text("mapper:\n  version: 0.4\n  algorithm: dse\n  live_status: True\n")
    assert main(["KTQ", "--mapper", str(mapper), "-o", str(tmp_path / "a")]) == 0
    assert "mapping KTQ:" in capsys.readouterr().err
    assert main(["KTQ", "-o", str(tmp_path / "b")]) == 0
    assert "mapping KTQ:" not in capsys.readouterr().err
    assert main(["KTQ", "-l", "-o", str(tmp_path / "c")]) == 0
    assert "valid=" in capsys.readouterr().err


def test_softmax_runs_on_the_default_archs_companion(tmp_path, capsys):
    assert main(["softmax", "-o", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "note: layer softmax runs on 'gemmini_NOs', the companion of 'gemmini'" in out
    stats = parse_stats(tmp_path / "s" / "timeloop-mapper.stats.txt")
    assert stats.summary["Computes"] == make_layer("bert-base", "softmax", 512).macs_per_instance


def test_constraint_that_cannot_divide_the_dimension_is_bad_input_for_run_but_infeasible_in_a_sweep(tmp_path, capsys):
    import json

    from dse.cli.hwdse_cmd import main as hwdse_main

    # pim pins D=pe_cols=128 on the crossbar; seq_len 200 gives KTQ D=200, which 128 does not divide
    assert main(["KTQ", "--arch", "pim", "--seq-len", "200", "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "constraint D=128 does not divide the dimension D=200" in err and "Accepted: a divisor of 200" in err
    assert not (tmp_path / "r").exists()
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps([{"pe_cols": 128}, {"pe_cols": 8}]))
    out = tmp_path / "sweep"
    assert hwdse_main(["KTQ", "--arch", "pim", "--seq-len", "200", "-q", "-c", str(cfg), "--out", str(out),
                       "--workers", "1"]) == 0
    bad = json.loads((out / "0" / "hw_config.json").read_text())["metrics"]
    good = json.loads((out / "1" / "hw_config.json").read_text())["metrics"]
    assert bad["status"] == "infeasible" and "does not divide the dimension D=200" in bad["reason"]
    assert good["status"] == "ok"


def test_fusion_that_cannot_fit_names_the_buffer_and_what_the_constraints_force(tmp_path, capsys):
    # Fusing BERT-base KQV at the Accumulator forces D=1 and E=1 above it, so the Scratchpad must hold
    # the whole 768 x 2304 weight matrix (1769472 words) next to a 768 x 16 input tile: > 512 KiB.
    assert main(["KQV", "Accumulator", "-o", str(tmp_path / "o")]) == 3
    err = capsys.readouterr().err
    assert "Scratchpad holds 524288 words but every mapping needs >= 1781760 words there (1769472 Weights, 12288 Inputs)" in err
    assert "E>=768, D>=2304" in err
