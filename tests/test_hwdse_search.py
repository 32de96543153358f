"""hwdse --search: Optuna study in OUT/study.db, determinism, resume (also after SIGKILL), reuse, bad input."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from dse.cli.hwdse_cmd import main  # noqa: E402
from dse.hwdse.search.space import Kind, build_space  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPACE = "pe_rows: {low: 4, high: 16, step: pow2}\npe_cols: {low: 4, high: 16, step: pow2}\ndataflow: [WS, OS]\n"
BASE = ["KTQ", "--seq-len", "16", "-q", "--workers", "1"]  # a small layer: the tests are about the search


@pytest.fixture()
def space(tmp_path) -> Path:
    p = tmp_path / "space.yaml"
    p.write_text(SPACE)
    return p


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory) -> tuple[Path, Path]:
    """A 2-trial random search (copied by the tests that must not change it)."""
    d = tmp_path_factory.mktemp("study")
    sp = d / "space.yaml"
    sp.write_text(SPACE)
    assert main([*BASE, "--search", "random", "--trials", "2", "--space", str(sp), "--out", str(d / "o")]) == 0
    return d / "o", sp


def _trials(out: Path) -> list:
    study = optuna.load_study(study_name="hwdse", storage=f"sqlite:///{out / 'study.db'}")
    return sorted(study.get_trials(), key=lambda t: t.number)


def _configs(out: Path) -> list[tuple[int, str, dict]]:
    return [(t.number, t.state.name, t.user_attrs.get("config")) for t in _trials(out)]


def test_space_from_knobs_yaml_and_file(space):
    declared = build_space("gemmini")
    kinds = {p.name: p.kind for p in declared.params}
    assert kinds["pe_rows"] is Kind.POW2 and kinds["dataflow"] is Kind.CHOICE
    small = build_space("gemmini", space)
    assert {p.name: p.values() for p in small.params}["pe_rows"] == [2, 3, 4]  # searched as exponents
    assert small.decode({"log2_pe_rows": 3, "log2_pe_cols": 2, "dataflow": "OS"})["pe_rows"] == 8
    assert small.size() == 3 * 3 * 2 and declared.size() > 10000  # the file is the space; other knobs keep defaults


@pytest.mark.slow
def test_search_end_to_end_deterministic_resumable_and_viewable(tmp_path, space, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*BASE, "--search", "tpe", "--trials", "2", "--space", str(space), "--out", str(a)]) == 0
    text = capsys.readouterr().out
    assert "SEARCH: tpe, seed 0, 2 trial(s): 2 complete" in text and f"optuna-dashboard sqlite:///{a}/study.db" in text
    # resume to 4 trials; a fresh search with the same seed to 4 trials gives the same trials
    assert main([*BASE, "--search", "tpe", "--trials", "4", "--space", str(space), "--out", str(a)]) == 0
    assert "resuming: 2 finished trial(s)" in capsys.readouterr().out
    assert main([*BASE, "--search", "tpe", "--trials", "4", "--space", str(space), "--out", str(b)]) == 0
    ca, cb = _configs(a), _configs(b)
    assert len(ca) == 4 and ca == cb
    # every trial's value is the config's EDP as the sweep views aggregate it from OUT
    for t in _trials(a):
        doc = json.loads((a / str(t.number) / "hw_config.json").read_text())
        assert doc["dse"]["config"] == t.user_attrs["config"]
        assert t.values[0] == pytest.approx(doc["metrics"]["edp_j_cycles"])
    capsys.readouterr()
    assert main(["-so", "-t", "--out", str(a), "--csv", str(tmp_path / "s.csv")]) == 0
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 5
    # another seed gives other trials
    c = tmp_path / "c"
    assert main([*BASE, "--search", "tpe", "--seed", "7", "--trials", "3", "--space", str(space),
                 "--out", str(c)]) == 0
    assert [x[2] for x in _configs(c)] != [x[2] for x in ca[:3]]


@pytest.mark.slow
def test_multi_objective_grid_with_area_budget_and_reuse(tmp_path, capsys):
    space = tmp_path / "grid.yaml"
    space.write_text("pe_rows: [4, 8]\npe_cols: {low: 4, high: 8, step: pow2}\ndataflow: [WS, OS]\n")
    grid = tmp_path / "grid"
    assert main([*BASE, "--search", "grid", "--trials", "100", "--space", str(space), "--out", str(grid),
                 "--objectives", "energy,cycles,area"]) == 0
    text = capsys.readouterr().out
    trials = _trials(grid)
    assert len(trials) == 8 and "the grid has 8 configs" in text
    assert len({json.dumps(t.user_attrs["config"], sort_keys=True) for t in trials}) == 8  # each config once
    assert all(len(t.values) == 3 for t in trials)
    # a search over the same space reusing the grid's results maps nothing; an area budget fails big configs
    areas = sorted(t.values[2] for t in trials)
    budget = areas[len(areas) // 2]
    nsga = tmp_path / "nsga"
    assert main([*BASE, "--search", "nsga2", "--trials", "5", "--space", str(space), "--out", str(nsga),
                 "--objectives", "energy,cycles,area", "--max-area", str(budget), "--reuse", str(grid)]) == 0
    text = capsys.readouterr().out
    assert " 0 (config, layer) jobs mapped" in text
    for t in _trials(nsga):
        over = next(g.values[2] for g in trials if g.user_attrs["config"] == t.user_attrs["config"]) > budget
        assert (t.state.name == "FAIL") == over
        if over:
            assert "over the budget" in t.user_attrs["reason"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("extra, words", [
    (["--trials", "0"], "--trials: 0 trials"),
    (["--objectives", "energy,watts"], "unknown objective(s) watts"),
    (["--space", "SPACE_BAD_RANGE"], "is out of range"),
    (["--space", "SPACE_BAD_KNOB"], "unknown knob 'pe_rowz' (did you mean pe_rows"),
    (["KQV"], "belongs to another search (layers"),
    (["--blocks"], "belongs to another search (aggregation"),
    (["--objectives", "energy,cycles"], "belongs to another search (objectives"),
])
def test_bad_input_exit_2_study_untouched(tmp_path, finished_study, capsys, extra, words):
    out = tmp_path / "o"
    shutil.copytree(finished_study[0], out)
    space = finished_study[1]
    before = _digest(out / "study.db")
    (tmp_path / "bad_range.yaml").write_text("pe_rows: {low: 0, high: 16, step: pow2}\n")
    (tmp_path / "bad_knob.yaml").write_text("pe_rowz: [4, 8]\n")
    args = [*BASE, "--search", "random", "--trials", "3", "--space", str(space), "--out", str(out)]
    extra = [str(tmp_path / "bad_range.yaml") if e == "SPACE_BAD_RANGE" else
             str(tmp_path / "bad_knob.yaml") if e == "SPACE_BAD_KNOB" else e for e in extra]
    if extra and extra[0] == "KQV":
        args[0] = "KQV"
    elif extra[0] == "--space":
        args[args.index("--space") + 1] = extra[1]
    else:
        args += extra
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert _digest(out / "study.db") == before and len(_trials(out)) == 2


def test_locked_and_foreign_databases_refused(tmp_path, finished_study, capsys):
    out = tmp_path / "o"
    shutil.copytree(finished_study[0], out)
    space = finished_study[1]
    args = [*BASE, "--search", "random", "--trials", "1", "--space", str(space), "--out", str(out)]
    before = _digest(out / "study.db")
    con = sqlite3.connect(out / "study.db", isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    try:
        assert main([*args[:-4], "--trials", "3", "--space", str(space), "--out", str(out)]) == 2
    finally:
        con.execute("ROLLBACK")
        con.close()
    assert "locked by another process" in capsys.readouterr().err and _digest(out / "study.db") == before
    junk = tmp_path / "j"
    junk.mkdir()
    (junk / "study.db").write_bytes(b"not a database at all" * 100)
    (junk / "sweep.json").write_text((out / "sweep.json").read_text())
    assert main([*args[:-2], "--out", str(junk)]) == 2
    assert "not an SQLite database" in capsys.readouterr().err and sorted(p.name for p in junk.iterdir()) == [
        "study.db", "sweep.json"] and (junk / "study.db").read_bytes() == b"not a database at all" * 100


@pytest.mark.slow
def test_sigkill_mid_search_then_resume_loses_and_duplicates_nothing(tmp_path, space):
    out, ref = tmp_path / "killed", tmp_path / "ref"
    cmd = [sys.executable, str(ROOT / "hwdse_run.py"), *BASE, "--search", "tpe", "--trials", "3",
           "--space", str(space)]
    proc = subprocess.Popen([*cmd, "--out", str(out)], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = out / "study.db"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:  # kill once a trial finished and the next one is in flight
            time.sleep(0.2)
            if proc.poll() is not None:
                break
            if db.exists():
                try:
                    states = [t.state.name for t in _trials(out)]
                except Exception:  # the database is being created
                    continue
                if states.count("COMPLETE") >= 1 and "RUNNING" in states:
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    states = [t.state.name for t in _trials(out)]
    assert "RUNNING" in states and len(states) < 3, states  # killed mid-search, a trial in flight
    assert subprocess.run([*cmd, "--out", str(out)], cwd=ROOT, capture_output=True).returncode == 0
    assert subprocess.run([*cmd, "--out", str(ref)], cwd=ROOT, capture_output=True).returncode == 0
    got, want = _configs(out), _configs(ref)
    assert [n for n, _, _ in got] == [0, 1, 2] and all(s == "COMPLETE" for _, s, _ in got)
    assert got == want  # the same trials as an uninterrupted search with the same seed
    assert [t.values for t in _trials(out)] == [t.values for t in _trials(ref)]


def test_a_plain_sweep_or_a_phase_search_is_refused_in_a_search_folder(tmp_path, finished_study, capsys):
    out, _ = finished_study
    before = _digest(out / "study.db")
    cfg = tmp_path / "c.json"
    cfg.write_text('[{"pe_rows": 8}]')
    assert main([*BASE, "-c", str(cfg), "--out", str(out)]) == 2
    assert "holds an Optuna search" in capsys.readouterr().err and _digest(out / "study.db") == before
    assert main([*BASE, "--search", "tpe", "--phase", "decode", "--out", str(tmp_path / "x")]) == 2
    assert "not supported" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_a_trial_killed_while_its_knobs_were_drawn_is_completed_on_resume(tmp_path, finished_study, capsys):
    out = tmp_path / "o"
    shutil.copytree(finished_study[0], out)
    study = optuna.load_study(study_name="hwdse", storage=f"sqlite:///{out / 'study.db'}")
    half = study.ask()
    half.suggest_int("log2_pe_rows", 2, 4)  # the process died here: one knob drawn, no config yet
    assert main([*BASE, "--search", "random", "--trials", "3", "--space", str(finished_study[1]),
                 "--out", str(out)]) == 0
    assert "evaluated again (#2)" in capsys.readouterr().out
    got = _trials(out)
    assert [(t.number, t.state.name) for t in got] == [(0, "COMPLETE"), (1, "COMPLETE"), (2, "COMPLETE")]
    assert got[2].params["log2_pe_rows"] == half.params["log2_pe_rows"]  # what was drawn is kept
    assert set(got[2].user_attrs["config"]) == {"pe_rows", "pe_cols", "dataflow"}
