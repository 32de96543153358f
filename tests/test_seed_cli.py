"""Issue 11 items 3 (aliases) and 7: the seed's command lines, spelled its way, and its defaults.

Every long spelling the seed's run.py / hwdse_run.py accept (transformer_gemmini and
transformer_pim) parses to the same options as dse's short flag.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dse.cli.hwdse_cmd import build_parser as hwdse_parser
from dse.cli.run_cmd import build_parser as run_parser

ROOT = Path(__file__).resolve().parents[1]

RUN_ALIASES = [(["-nef"], ["--no_e_fusion"]), (["-lf"], ["--l_fusion"]), (["-pwim"], ["--pay_wb_in_mm"]),
               (["-l"], ["--live"]), (["-if"], ["--imperfect_fact"])]
HWDSE_ALIASES = RUN_ALIASES + [
    (["-mx"], ["--mixup"]), (["-vc", "3200"], ["--vict_cond", "3200"]), (["-vc", "3200"], ["-vs", "3200"]),
    (["-so"], ["--summary_only"]), (["-t"], ["--table"]), (["-i", "4"], ["--init_idx", "4"]),
    (["-ih"], ["--ignore_heads"]), (["-c", "x.json"], ["--configs", "x.json"])]


@pytest.mark.parametrize("short,long", RUN_ALIASES, ids=[a[1][0] for a in RUN_ALIASES])
def test_run_py_alias(short, long):
    p = run_parser()
    base = vars(p.parse_args(["KTQ", "Accumulator"]))
    want, got = vars(p.parse_args(["KTQ", "Accumulator", *short])), vars(p.parse_args(["KTQ", "Accumulator", *long]))
    assert got == want and got != base


@pytest.mark.parametrize("short,long", HWDSE_ALIASES, ids=[" ".join(a[1]) for a in HWDSE_ALIASES])
def test_hwdse_run_py_alias(short, long):
    p = hwdse_parser()
    base = vars(p.parse_args(["all"]))
    want, got = vars(p.parse_args(["all", *short])), vars(p.parse_args(["all", *long]))
    assert got == want and got != base


def test_seed_readme_hwdse_line_runs(tmp_path):
    """The seed README's example: hwdse_run.py KTQ VScores softmax -c hw_configs.json -vc 3200 -t (small layer)."""
    cfg = json.loads((ROOT / "tests" / "data" / "reference" / "transformer_gemmini" / "hw_configs.json").read_text())[:1]
    (tmp_path / "hw_configs.json").write_text(json.dumps(cfg))
    r = subprocess.run([sys.executable, str(ROOT / "hwdse_run.py"), "KTQ", "VScores", "softmax", "-c", "hw_configs.json",
                        "--vict_cond", "3200", "-t", "--no_e_fusion", "-q", "--workers", "1", "--model", "bert-base",
                        "--seq-len", "128"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "gemmini_seed" in r.stdout and "SUMMARY TABLE" in r.stdout


def test_defaults_differ_from_the_seed_loudly(capsys, tmp_path):
    from dse.cli.run_cmd import main

    assert main(["KTQ", "-o", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    head = out.splitlines()[0]
    assert head.startswith("NOTE:") and "BERT-LARGE" in head and "4096" in head and "bert-base" in head
    assert main(["KTQ", "--model", "bert-large", "--seq-len", "4096", "-o", str(tmp_path / "b")]) == 0
    assert "NOTE:" not in capsys.readouterr().out  # the seed's layer: nothing to say
    assert main(["KTQ", "--model", "bert-base", "--seq-len", "512", "-o", str(tmp_path / "c")]) == 0
    assert "NOTE:" not in capsys.readouterr().out  # chosen explicitly


def test_hwdse_batch_scales_the_layers(tmp_path, capsys):
    from dse.cli.hwdse_cmd import main

    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps([{"pe_rows": 8, "pe_cols": 8}]))
    for b in (1, 2):
        assert main(["KTQ", "-c", str(cfg), "--out", str(tmp_path / f"o{b}"), "-q", "--workers", "1",
                     "--model", "bert-base", "--seq-len", "64", "--batch", str(b)]) == 0
    docs = [json.loads((tmp_path / f"o{b}" / "0" / "hw_config.json").read_text()) for b in (1, 2)]
    stored = [json.loads((tmp_path / f"o{b}" / "sweep.json").read_text())["settings"]["batch"] for b in (1, 2)]
    assert stored == [1, 2]
    # BERT-base KTQ per head at seq 64: E=64, D=L=64, times the batch
    assert [d["layers"][0]["macs"] for d in docs] == [64 * 64 * 64, 2 * 64 * 64 * 64]
    assert main(["KTQ", "-c", str(cfg), "--out", str(tmp_path / "o3"), "--batch", "0"]) == 2


def test_summary_only_says_when_stored_results_are_not_the_seeds_layer(tmp_path, capsys):
    from dse.cli.hwdse_cmd import main

    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps([{"pe_rows": 8, "pe_cols": 8}]))
    assert main(["KTQ", "-c", str(cfg), "--out", str(tmp_path / "o"), "-q", "--workers", "1",
                 "--model", "bert-base", "--seq-len", "64"]) == 0
    capsys.readouterr()
    assert main(["-so", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("NOTE: these results are bert-base at sequence length 64") and "BERT-LARGE" in out
