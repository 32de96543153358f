"""``dse ert``."""
from __future__ import annotations

from pathlib import Path

import pytest

from dse.cli.cmd_ert import resolve_arch
from dse.cli.main import main
from dse.energy.ert import read_accelergy_ert
from dse.errors import DseError

DATA = Path(__file__).parent / "data" / "energy"
GEMMINI = [str(DATA / "arch" / "system_gemmini.yaml"), str(DATA / "components"), str(DATA / "arch" / "variables.yaml")]


def test_ert_spec_prints_tables(capsys):
    assert main(["ert", "--spec", *GEMMINI]) == 0
    out = capsys.readouterr().out
    assert "Scratchpad" in out and "57.039" in out and "Total area" in out
    assert "compute" in out


def test_ert_override_and_write(tmp_path, capsys):
    user = tmp_path / "user.ERT.yaml"
    user.write_text("ERT:\n  version: '0.4'\n  tables:\n  - name: System_top_level.MAC[1..256]\n"
                    "    actions:\n    - {name: compute, arguments: {}, energy: 1.25}\n")
    out_file = tmp_path / "out" / "gemmini.ERT.yaml"
    assert main(["ert", "--spec", *GEMMINI, "--ert", str(user), "--write-ert", str(out_file), "--sources"]) == 0
    assert "1.25" in capsys.readouterr().out
    written = read_accelergy_ert(out_file)
    assert written.energy_pj("MAC", "compute") == 1.25
    assert written.energy_pj("Scratchpad", "read") == pytest.approx(57.039)


def test_ert_unknown_arch_lists_available(tmp_path, capsys):
    (tmp_path / "gemmini").mkdir()
    (tmp_path / "gemmini" / "arch.yaml").write_text("architecture: {}\n")
    assert resolve_arch("gemmini", tmp_path) == [tmp_path / "gemmini" / "arch.yaml"]
    with pytest.raises(DseError) as info:
        resolve_arch("eyeris", tmp_path)
    assert "gemmini" in info.value.accepted
    assert main(["ert", "--arch", "surely_not_shipped"]) == 2
    assert "no shipped architecture" in capsys.readouterr().err


def test_ert_bad_table_class_is_a_clean_error(tmp_path, capsys):
    arch = tmp_path / "a.yaml"
    arch.write_text("architecture:\n  version: 0.4\n  nodes:\n  - !Container {name: S, attributes: {technology: 32nm}}\n"
                    "  - !Component {name: M, class: DRAMX, attributes: {width: 64, datawidth: 8}}\n"
                    "  - !Component {name: C, class: intmac, attributes: {multiplier_width: 8, adder_width: 16}}\n"
                    "variables: {version: 0.4, global_cycle_seconds: 1.2e-9}\n")
    assert main(["ert", "--spec", str(arch)]) == 2
    err = capsys.readouterr().err
    assert "DRAMX" in err and "DRAM" in err
