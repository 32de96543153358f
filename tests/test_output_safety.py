"""Output safety (issue 16): inputs never overwritten, only our temporaries removed, no half-made
--out, summaries rebuilt from results, reused results verified."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dse.cli.hwdse_cmd import main as hwdse
from dse.files import is_our_temporary, write_atomic

REF = Path(__file__).parent / "data" / "reference" / "transformer_gemmini"


def test_temporary_names_are_recognisable(tmp_path):
    write_atomic(tmp_path / "a.txt", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    assert is_our_temporary(Path(".stats.txt.dse-ab_cd123.tmp"))
    assert not is_our_temporary(Path(".notes.tmp")) and not is_our_temporary(Path(".a.b.tmp"))


def test_csv_or_plot_over_the_config_file_is_refused(tmp_path, capsys):
    cfg = tmp_path / "hw_configs.json"
    text = json.dumps([{"pe_rows": 16, "pe_cols": 16}])
    cfg.write_text(text)
    for flag in ("--csv", "--plot"):
        target = str(cfg) if flag == "--csv" else str(tmp_path / "." / "hw_configs.json")
        assert hwdse(["KTQ", "-c", str(cfg), "--out", str(tmp_path / "out"), flag, target]) == 2
        err = capsys.readouterr().err
        assert "input file of -c/--configs" in err and "refusing to write over it" in err
    assert cfg.read_text() == text and not (tmp_path / "out").exists()


def test_run_and_model_outputs_never_replace_their_inputs(tmp_path, capsys):
    from dse.cli.main import main as dse_main
    from dse.cli.run_cmd import main as run_main

    out = tmp_path / "out"
    out.mkdir()
    stats = out / "timeloop-mapper.stats.txt"
    stats.write_text((Path(__file__).parent / "data" / "timeloop_stats" / "stats_KQV_gemmini_TLL.txt").read_text())
    before = stats.read_text()
    assert run_main(["KQV", "--ert", str(stats), "-o", str(out)]) == 2
    assert "would replace the input file" in capsys.readouterr().err and stats.read_text() == before
    files = [REF / "arch/system_gemmini.yaml", *sorted((REF / "arch/components").glob("*.yaml")),
             REF / "layers/KQV_layer.yaml", REF / "mapper/variables.yaml"]
    mapping = out / "timeloop-model.map.txt"
    mapping.write_text("x")
    assert dse_main(["model", *map(str, files), "--mapping", str(mapping), "-o", str(out)]) == 2
    assert "would replace the input file" in capsys.readouterr().err and mapping.read_text() == "x"


@pytest.fixture(scope="module")
def sweep_out(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    cfg = root / "cfg.json"
    cfg.write_text(json.dumps([{"pe_rows": 16, "pe_cols": 16}, {"pe_rows": 8, "pe_cols": 8}]))
    out = root / "out"
    assert hwdse(["KTQ", "--seq-len", "16", "-c", str(cfg), "--out", str(out), "-q", "--workers", "1"]) == 0
    return cfg, out


def _summary(out, capsys):
    assert hwdse(["-so", "--out", str(out), "-q"]) == 0
    return capsys.readouterr()


def test_lost_or_corrupt_summaries_are_rebuilt_from_results(sweep_out, capsys):
    cfg, out = sweep_out
    capsys.readouterr()
    good = _summary(out, capsys).out
    sweep = (out / "sweep.json").read_text()
    config1 = (out / "1" / "hw_config.json").read_text()
    (out / "sweep.json").write_text("{corrupt")
    (out / "1" / "hw_config.json").unlink()
    res = _summary(out, capsys)
    assert "sweep.json was corrupt; rebuilt" in res.err and "hw_config.json was missing; rebuilt" in res.err
    assert res.out == good
    assert json.loads((out / "sweep.json").read_text()) == json.loads(sweep)
    assert json.loads((out / "1" / "hw_config.json").read_text()) == json.loads(config1)


def test_resume_verifies_reused_files_and_keeps_user_temporaries(sweep_out, capsys):
    cfg, out = sweep_out
    argv = ["KTQ", "--seq-len", "16", "-c", str(cfg), "--out", str(out), "-q", "--workers", "1"]
    stats = out / "0" / "outputs_KTQ" / "timeloop-mapper.stats.txt"
    good = stats.read_text()
    stats.write_text(good.replace("Energy", "Enrgy", 1))  # a corrupt file under an intact dse-layer.json
    mine = out / "0" / ".my-notes.tmp"
    mine.write_text("keep me")
    ours = out / "0" / ".hw_config.json.dse-abc12345.tmp"
    ours.write_text("half")
    capsys.readouterr()
    assert hwdse(argv) == 0
    text = capsys.readouterr().out
    assert "1 run, 1 reused" in text
    assert stats.read_text() == good and mine.read_text() == "keep me" and not ours.exists()
