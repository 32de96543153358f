"""`dse archs` and `dse ert --arch` over the shipped library; tpu against its Accelergy ERT."""
from __future__ import annotations

from pathlib import Path

import pytest

from dse.cli.main import main
from dse.energy import estimate, read_accelergy_ert
from dse.spec.library import knobs_of, list_architectures, resolve_architecture
from dse.spec.loader import load_spec


def test_dse_archs_lists_every_knob(capsys):
    assert main(["archs"]) == 0
    out = capsys.readouterr().out
    for arch in list_architectures():
        assert f"{arch}: " in out
        for k in knobs_of(arch):
            assert k in out
    assert "one of WS, OS, IS" in out and "one of false, true" in out


def test_dse_archs_unknown_name(capsys):
    assert main(["archs", "eyeris"]) == 2
    err = capsys.readouterr().err
    assert "eyeriss" in err and "Traceback" not in err


@pytest.mark.parametrize("arch", ["aimc", "dimc", "eyeriss", "gemmini", "gemmini_NOs", "pim", "simba", "tpu"])
def test_dse_ert_arch(arch, capsys):
    assert main(["ert", "--arch", arch]) == 0
    assert "Total area" in capsys.readouterr().out


def test_dse_ert_arch_set(capsys):
    assert main(["ert", "--arch", "pim", "--set", "rf_size=64"]) == 0
    assert main(["ert", "--arch", "pim", "--set", "rf_size=0"]) == 2
    assert "rf_size" in capsys.readouterr().err


def test_tpu_against_accelergy_ert():
    """Our shipped tpu at default knobs vs the reference tpu.ERT.yaml (Accelergy v0.4 + CACTI):
    every read/write within 2 % (tests/test_energy_reference.py checks every action and area).
    The 28 nm MAC is two Aladdin adders scaled from 45 nm by Accelergy's rule (0.367)."""
    b = resolve_architecture("tpu")
    ours = estimate(load_spec(list(b.files), variables=b.values))
    ref = read_accelergy_ert(Path(__file__).parent / "data" / "energy" / "tpu.ERT.yaml")
    checked = 0
    for c in ref.components:
        for action, e in c.actions.items():
            if action in ("read", "write") and e.energy_pj > 0:
                assert ours.energy_pj(c.name, action) == pytest.approx(e.energy_pj, rel=0.02), (c.name, action)
                checked += 1
    assert checked >= 8
    assert ref.energy_pj("MAC", "compute") == pytest.approx(0.154205)
    assert ours.energy_pj("MAC", "compute") == pytest.approx(0.154205, rel=1e-4)
