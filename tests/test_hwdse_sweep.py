"""hwdse_run.py end to end on a small sweep: outputs, -so/-t, bad input, kill + resume, Dask equivalence."""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dse.cli.hwdse_cmd import main

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [{"pe_rows": 16, "pe_cols": 16, "accumulator_size": 16384, "scratchpad_size": 524288},
           {"pe_rows": 8, "pe_cols": 32, "accumulator_size": 32768, "scratchpad_size": 524288},
           {"pe_rows": 32, "pe_cols": 8, "accumulator_size": 8192, "scratchpad_size": 524288}]
ARGS = ["KTQ", "FF1", "--model", "bert-base", "--seq-len", "128", "-q"]
HEADS = {"KTQ": 12, "FF1": 1}  # bert-base: 12 heads; FF1 once per block


@pytest.fixture(scope="module")
def cfg_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cfg") / "hw_configs.json"
    p.write_text(json.dumps(CONFIGS, indent=1))
    return p


@pytest.fixture(scope="module")
def reference_run(cfg_file, tmp_path_factory) -> Path:
    """An uninterrupted sweep (2 local workers)."""
    out = tmp_path_factory.mktemp("ref") / "out"
    assert main([*ARGS, "-c", str(cfg_file), "--out", str(out), "--workers", "2"]) == 0
    return out


def snapshot(root: Path, volatile_records: bool = True) -> dict[str, str]:
    """{relative path: content hash}; ``wall_s`` removed from dse-layer.json (a timing, not a result)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name == ".hwdse.lock":
            continue
        data = p.read_bytes()
        if volatile_records and p.name == "dse-layer.json":
            rec = json.loads(data)
            rec.pop("wall_s")
            data = json.dumps(rec, sort_keys=True).encode()
        out[str(p.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return out


def stats_summary(path: Path) -> tuple[float, int]:
    """(energy in pJ, cycles) from a Timeloop-style stats.txt "Summary Stats" block."""
    text = path.read_text().split("Summary Stats")[1]
    energy_uj = float(re.search(r"^Energy: ([0-9.]+) uJ", text, re.M).group(1))
    cycles = int(re.search(r"^Cycles: (\d+)", text, re.M).group(1))
    return energy_uj * 1e6, cycles


def test_outputs_and_totals_from_the_stats_files(reference_run):
    out = reference_run
    for idx, cfg in enumerate(CONFIGS):
        doc = json.loads((out / str(idx) / "hw_config.json").read_text())
        assert {k: doc[k] for k in cfg} == cfg  # the config keys, as in the seed's hw_config.json
        energy = cycles = 0
        for layer, mult in HEADS.items():
            d = out / str(idx) / f"outputs_{layer}"
            for suffix in ("stats.txt", "map.txt", "map.yaml", "ERT.yaml", "ART.yaml"):
                assert (d / f"timeloop-mapper.{suffix}").stat().st_size > 0
            e, c = stats_summary(d / "timeloop-mapper.stats.txt")
            energy += e * mult
            cycles += c * mult
        m = doc["metrics"]
        assert m["status"] == "ok"
        assert m["cycles"] == cycles
        assert m["energy_pj"] == pytest.approx(energy, rel=5e-3)  # stats.txt prints 3 digits of uJ
        assert m["edp_j_cycles"] == pytest.approx(energy * 1e-12 * cycles, rel=5e-3)
        assert [l["multiplicity"] for l in doc["layers"]] == [12, 1]
    csv = (out / "results.csv").read_text().splitlines()
    assert csv[0].startswith("index,status,pe_rows,pe_cols,accumulator_size,scratchpad_size,energy_pj,cycles")
    assert len(csv) == 4
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["layers"] == ["KTQ", "FF1"]


def test_summary_only_table(reference_run, capsys, tmp_path):
    before = snapshot(reference_run, volatile_records=False)
    assert main(["-so", "-t", "--out", str(reference_run), "--metric", "energy",
                 "--csv", str(tmp_path / "r.csv"), "--plot", str(tmp_path / "r.png")]) == 0
    text = capsys.readouterr().out
    assert snapshot(reference_run, volatile_records=False) == before  # -so runs and writes nothing in OUT
    docs = [json.loads((reference_run / str(i) / "hw_config.json").read_text())["metrics"] for i in range(3)]
    for name, key, pick in (("EDP", "edp_j_cycles", min), ("energy", "energy_pj", min), ("cycles", "cycles", min),
                            ("utilization", "utilization", max)):
        best = pick(range(3), key=lambda i: docs[i][key])
        assert re.search(rf"best {name}\s*: \[{best}\]", text)
    table = text.split("SUMMARY TABLE")[1]
    header = [c.strip() for c in table.splitlines()[2].strip("|").split("|")]
    assert header[:3] == ["idx", "pe_rows", "pe_cols"] and "scratchpad_size" not in header  # only varying keys
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[4:] if line.startswith("|")]
    order = [int(r[0]) for r in rows]
    assert order == sorted(range(3), key=lambda i: docs[i]["energy_pj"])
    # Pareto marks, checked against the definition
    for r in rows:
        i = int(r[0])
        dominated = any(docs[j]["energy_pj"] <= docs[i]["energy_pj"] and docs[j]["cycles"] <= docs[i]["cycles"]
                        and (docs[j]["energy_pj"], docs[j]["cycles"]) != (docs[i]["energy_pj"], docs[i]["cycles"])
                        for j in range(3))
        assert (r[-1] == "*") == (not dominated)
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 4


def test_summary_only_blocks_and_ignore_heads(reference_run, capsys):
    assert main(["-so", "-t", "--out", str(reference_run), "-ih", "--blocks"]) == 0
    text = capsys.readouterr().out
    doc = json.loads((reference_run / "0" / "hw_config.json").read_text())
    rows = {l["layer"]: l for l in doc["layers"]}
    cycles = 12 * (rows["KTQ"]["cycles"] * 1 + rows["FF1"]["cycles"])  # 12 blocks, one head counted
    assert re.search(rf"^\|\s+0\s+\|.*\|\s+{cycles}\s+\|", text, re.M)


@pytest.mark.parametrize("argv,words", [
    (["-so", "KTQ"], "holds results of layers KTQ FF1, not KTQ"),
    (["-so", "all"], "holds results of layers KTQ FF1"),
    (["-so", "KTQ", "FF1", "DRAM"], "fusion level"),
])
def test_summary_only_other_layer_set(reference_run, capsys, argv, words):
    before = snapshot(reference_run, volatile_records=False)
    assert main([*argv, "--out", str(reference_run)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert snapshot(reference_run, volatile_records=False) == before


@pytest.mark.parametrize("content,words", [
    ('[\n {"pe_rows": 16,\n  "pe_cols": }\n]', "line 3, column 14"),
    ("[]", "empty"),
    ('[{"pe_rows": 16, "pe_rows": 8}]', "pe_rows given twice"),
    (None, "not found"),
    ('[{"pe_rows": 16, "pe_cols": 16, "accumulator_size": 16384, "scratchpad_size": 524288}, {"pe_rows": -4}]',
     "out of range"),
    (json.dumps([{**CONFIGS[0], "pe_rows": 64}] + CONFIGS[1:]), "holds config"),
])
def test_bad_input_exit_2_and_out_untouched(reference_run, tmp_path, capsys, content, words):
    cfg = tmp_path / "bad.json"
    if content is not None:
        cfg.write_text(content)
    before = snapshot(reference_run, volatile_records=False)
    assert main([*ARGS, "-c", str(cfg), "--out", str(reference_run), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err
    assert snapshot(reference_run, volatile_records=False) == before


def test_other_settings_refused(reference_run, cfg_file, capsys):
    before = snapshot(reference_run, volatile_records=False)
    assert main(["KTQ", "FF1", "--seq-len", "256", "-q", "-c", str(cfg_file), "--out", str(reference_run)]) == 2
    assert "seq_len: 128 there, 256 now" in capsys.readouterr().err
    assert snapshot(reference_run, volatile_records=False) == before


def test_bad_input_via_the_script_has_no_traceback(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text("[{]")
    p = subprocess.run([sys.executable, "hwdse_run.py", "all", "-c", str(cfg), "--out", str(tmp_path / "o")],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "line 1, column 3" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "o").exists()


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _wait_records(out: Path, more_than: int, proc: subprocess.Popen, timeout: float = 60) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        n = len(list(out.glob("*/*/dse-layer.json")))
        if n > more_than or proc.poll() is not None:
            return n
        time.sleep(0.02)
    raise AssertionError("no progress")


# 12 jobs: enough that the interrupted runs below cannot finish everything before the signal lands
KILL_CONFIGS = CONFIGS + [dict(c, scratchpad_size=262144) for c in CONFIGS]
KILL_TOTAL = len(KILL_CONFIGS) * len(HEADS)


def test_kill_worker_and_ctrl_c_then_resume_identical(tmp_path):
    cfg = tmp_path / "hw_configs.json"
    cfg.write_text(json.dumps(KILL_CONFIGS, indent=1))
    reference = tmp_path / "reference"
    assert main([*ARGS, "-c", str(cfg), "--out", str(reference), "--workers", "2"]) == 0
    out = tmp_path / "out"
    cmd = [sys.executable, "hwdse_run.py", *ARGS, "-c", str(cfg), "--out", str(out), "--workers", "2"]
    # a shell starting pytest in the background leaves SIGINT ignored, and children inherit that
    default_sigint = dict(preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # 1) SIGKILL a worker as soon as the first result is stored
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **default_sigint)
    first = _wait_records(out, 0, p)
    workers = _children(p.pid)
    assert workers, "no worker processes"
    os.kill(workers[0], signal.SIGKILL)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    assert "worker process died" in err and "resume with: python hwdse_run.py" in err and "Traceback" not in err
    kept = {str(r): r.stat().st_mtime_ns for r in out.glob("*/*/dse-layer.json")}
    assert first <= len(kept) < KILL_TOTAL - 2
    # 2) resume, and Ctrl-C (SIGINT to the parent) after one more result
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **default_sigint)
    _wait_records(out, len(kept), p)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err and "resume with: python hwdse_run.py" in err and "Traceback" not in err
    done = len(list(out.glob("*/*/dse-layer.json")))
    assert len(kept) < done < KILL_TOTAL
    # 3) resume to the end: finished results reused (not recomputed), the folder equals an uninterrupted run's
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert f"{KILL_TOTAL - done} run, {done} reused" in p.stdout
    for path, mtime in kept.items():
        assert Path(path).stat().st_mtime_ns == mtime
    assert snapshot(out) == snapshot(reference)
    assert not list(out.rglob("*.tmp"))


def test_dask_local_cluster_gives_identical_results(reference_run, cfg_file, tmp_path):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "dask"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert main([*ARGS, "-c", str(cfg_file), "--out", str(out), "--scheduler", cluster.scheduler_address]) == 0
    assert snapshot(out) == snapshot(reference_run)


def test_editing_the_architecture_files_re_maps_instead_of_reusing(tmp_path, capsys):
    import shutil

    arch = tmp_path / "mygemmini"
    shutil.copytree(ROOT / "arch" / "gemmini", arch)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps([{"pe_rows": 16}]))
    args = ["KTQ", "--seq-len", "128", "-q", "--arch", str(arch), "-c", str(cfg), "--out", str(tmp_path / "o"),
            "--workers", "1"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 0
    assert "0 run, 1 reused" in capsys.readouterr().out
    ws = arch / "constraints" / "WS.yaml"
    ws.write_text(ws.read_text().replace("factors: [E=1, D=1, L=16]", "factors: [E=1, D=1, L=8]"))
    assert main(args) == 0
    assert "1 run, 0 reused" in capsys.readouterr().out


@pytest.mark.parametrize("config,extra,words", [
    ({"pe_rows": 16.5}, [], "'pe_rows' = 16.5 is not a whole number"),
    ({"pe_rows": float("nan")}, [], "is not a finite number"),
    ({"dram_bandwidth": float("inf")}, [], "is not a finite number"),
    ({"pe_rows": 16}, ["--mapper", "nosuch"], "unknown mapper preset or file 'nosuch'"),
    ({"pe_rows": 16}, ["-vc", "-5"], "victory condition must be positive"),
    ({"pe_rows": 16}, ["--plot", "sweep.gif"], "cannot write a '.gif' image"),
])
def test_bad_values_are_caught_before_the_folder_is_created(tmp_path, capsys, config, extra, words):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps([config]))  # NaN/Infinity: Python's json writes and reads them
    out = tmp_path / "out"
    assert main(["KTQ", "--seq-len", "64", "-q", "-c", str(cfg), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not out.exists()


def test_output_paths_under_a_file_or_at_a_folder_are_refused_first(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps([{"pe_rows": 16}]))
    afile = tmp_path / "afile"
    afile.write_text("x")
    for extra, words in [(["--out", str(afile / "sub")], "is a file, so"),
                         (["--out", str(tmp_path / "o"), "--csv", str(tmp_path)], "is a folder"),
                         (["--out", str(tmp_path / "o"), "--plot", str(afile / "p.png")], "is a file, so")]:
        assert main(["KTQ", "--seq-len", "64", "-q", "-c", str(cfg), *extra]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()
    cfg.write_bytes(b"\xff\xfe[")
    assert main(["KTQ", "-q", "-c", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_resume_accepts_the_same_layers_in_another_order_and_the_arch_as_a_folder(reference_run, tmp_path, capsys):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(reference_run, out)
    before = snapshot(out, volatile_records=False)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(CONFIGS))
    assert main(["FF1", "KTQ", *ARGS[2:], "--arch", str(ROOT / "arch" / "gemmini"), "-c", str(cfg),
                 "--out", str(out)]) == 0
    assert "6 (config, layer) jobs: 0 run, 6 reused" in capsys.readouterr().out
    after = snapshot(out, volatile_records=False)
    assert {k: v for k, v in after.items() if "dse-layer" in k or "timeloop" in k} == \
        {k: v for k, v in before.items() if "dse-layer" in k or "timeloop" in k}


def test_killing_the_parent_leaves_no_worker_behind_and_the_folder_unlocked(tmp_path):
    cfg = tmp_path / "hw_configs.json"
    cfg.write_text(json.dumps(KILL_CONFIGS, indent=1))
    out = tmp_path / "out"
    cmd = [sys.executable, "hwdse_run.py", *ARGS, "-c", str(cfg), "--out", str(out), "--workers", "2"]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_records(out, 0, p)
    workers = _children(p.pid)
    assert workers, "no worker processes"
    p.kill()
    p.communicate(timeout=60)
    end = time.monotonic() + 60
    while any(Path(f"/proc/{w}").exists() and "(Z)" not in _state(w) for w in workers) and time.monotonic() < end:
        time.sleep(0.05)
    assert not [w for w in workers if Path(f"/proc/{w}").exists() and "(Z)" not in _state(w)], "orphaned workers"
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr  # not "another hwdse_run.py is writing to this folder"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0].join("()")
    except (FileNotFoundError, IndexError):
        return "(Z)"
