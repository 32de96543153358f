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


REF = ROOT / "tests" / "data" / "reference" / "transformer_gemmini"
GEMMINI_SPEC = [REF / "arch" / "system_gemmini.yaml", *sorted((REF / "arch" / "components").glob("*.yaml")),
                REF / "constraints" / "constraints.yaml"]


def test_spec_with_a_problem_file_keeps_the_users_variables(tmp_path, capsys):
    # the user's variables.yaml sets BERT-large at seq 4096: KQV is E=1024, D=3*1024, L=4096 (not bert-base 768/512)
    out = tmp_path / "o"
    files = [*GEMMINI_SPEC, REF / "layers" / "KQV_layer.yaml", REF / "mapper" / "variables.yaml"]
    assert main(["FF1", "--spec", *map(str, files), "--mapper", "default", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert parse_stats(out / "timeloop-mapper.stats.txt").summary["Computes"] == 1024 * 3072 * 4096
    assert "the problem comes from the spec files" in text


def test_spec_without_a_problem_maps_the_catalog_layer(tmp_path):
    out = tmp_path / "o"
    files = [*GEMMINI_SPEC, REF / "mapper" / "variables.yaml"]
    assert main(["KTQ", "--spec", *map(str, files), "--seq-len", "256", "-o", str(out)]) == 0
    assert parse_stats(out / "timeloop-mapper.stats.txt").summary["Computes"] == 64 * 256 * 256  # bert-base head


def test_more_bad_input_is_caught_before_mapping(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for args, needle in ((["KTQ", "--seed", "-1"], "random seed must be >= 0"),
                         (["KTQ", "--threads", "0"], "mapper processes must be >= 1"),
                         (["KTQ", "-vc", "-5"], "victory condition"),
                         (["KTQ", "--set", "pe_rows=32", "pe_rows=8"], "pe_rows is set twice"),
                         (["KTQ", "--arch", "eyeriss", "--spec", str(GEMMINI_SPEC[0])], "--spec gives your own"),
                         (["KTQ", "--set", "pe_rows=16.5"], "not a whole number"),
                         (["KTQ", "-o", str(afile)], "is a file"),
                         (["KTQ", "-o", str(afile / "sub")], "is a file"),
                         (["KTQ", "--ert", str(ROOT / "tests/data/timeloop_stats/stats_KQV_eyeriss_TLD.txt"),
                           "-o", str(tmp_path / "never")], "has no level(s) Scratchpad, Accumulator, Registers")):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "never").exists()


def test_outputs_are_readable_by_others_and_a_stats_ert_leaves_no_stale_ert(tmp_path):
    import os
    import stat

    out = tmp_path / "o"
    old = os.umask(0o022)
    try:
        assert main(["KTQ", "-o", str(out)]) == 0
    finally:
        os.umask(old)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in out.iterdir())
    assert (out / "timeloop-mapper.ERT.yaml").exists()
    assert main(["KTQ", "--ert", str(ROOT / "tests/data/timeloop_stats/stats_KQV_gemmini_TLD.txt"), "-o", str(out)]) == 0
    assert not (out / "timeloop-mapper.ERT.yaml").exists() and not (out / "timeloop-mapper.ART.yaml").exists()


def test_dse_model_reads_a_map_txt_and_reproduces_the_run(tmp_path):
    from dse.cli.main import main as dse_main

    files = [str(p) for p in (*GEMMINI_SPEC, REF / "layers" / "KTQ_layer.yaml", REF / "mapper" / "variables.yaml")]
    run_out, model_out = tmp_path / "run", tmp_path / "model"
    assert main(["KTQ", "--spec", *files, "--mapper", "default", "-o", str(run_out)]) == 0
    assert dse_main(["model", *files, "--mapping", str(run_out / "timeloop-mapper.map.txt"), "-o", str(model_out)]) == 0
    ran = parse_stats(run_out / "timeloop-mapper.stats.txt").summary
    modelled = parse_stats(model_out / "timeloop-model.stats.txt").summary
    assert (ran["Energy"], ran["Cycles"], ran["Computes"]) == (modelled["Energy"], modelled["Cycles"], modelled["Computes"])


def test_a_malformed_ert_is_one_line_with_its_position(tmp_path, capsys):
    bad = tmp_path / "bad.ERT.yaml"
    bad.write_text("ERT:\n  tables: [\n   - a: b\n")
    assert main(["KTQ", "--ert", str(bad), "-o", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert "line 3, column 4: malformed YAML" in err and err.count("\n") == 1
    assert not (tmp_path / "never").exists()


def test_spec_problem_needs_no_layer_and_the_header_names_it(tmp_path, capsys):
    out = tmp_path / "o"
    files = [*GEMMINI_SPEC, REF / "layers" / "KTQ_layer.yaml", REF / "mapper" / "variables.yaml"]
    assert main(["--spec", *map(str, files), "--var", "SEQ_LENGTH=256", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    # the files' KTQ problem at the --var sequence length: E = 1024 // 16 heads, D = L = 256
    assert text.splitlines()[0] == f"Best mapping for KTQ_matmul_encoder (E=64 D=256 L=256) on your spec ({len(files)} files):"
    assert "bert-base" not in text and "seq 512" not in text
    assert parse_stats(out / "timeloop-mapper.stats.txt").summary["Computes"] == 64 * 256 * 256


def test_spec_undefined_variable_is_dse_specs_error_and_var_fills_it(tmp_path, capsys):
    from dse.cli.main import main as dse_main

    files = [str(p) for p in (*GEMMINI_SPEC, REF / "layers" / "KQV_layer.yaml")]  # no variables.yaml
    assert dse_main(["spec", *files]) == 2
    spec_err = capsys.readouterr().err
    assert "undefined variable 'EMBEDDING'" in spec_err
    assert main(["KQV", "--spec", *files, "-o", str(tmp_path / "never")]) == 2
    assert capsys.readouterr().err == spec_err  # never filled from the catalog's default model
    assert not (tmp_path / "never").exists()
    out = tmp_path / "o"
    assert main(["--spec", *files, "--var", "EMBEDDING=64", "EMBEDDING_3=128", "SEQ_LENGTH=64", "global_cycle_seconds=1e-9",
                 "technology=32nm", "-o", str(out)]) == 0
    assert parse_stats(out / "timeloop-mapper.stats.txt").summary["Computes"] == 64 * 128 * 64


def test_layer_is_needed_without_a_spec_problem_and_var_needs_spec(tmp_path, capsys):
    files = [str(p) for p in (*GEMMINI_SPEC, REF / "mapper" / "variables.yaml")]
    for args, needle in ((["--spec", *files], "the spec files define no problem, so a LAYER is needed"),
                         ([], "no LAYER given"),
                         (["KTQ", "--var", "X=1"], "--var without --spec")):
        assert main([*args, "-o", str(tmp_path / "never")]) == 2, args
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "never").exists()
