#!/usr/bin/env python3
"""Acceptance benchmark of ``hwdse_run.py``: the seed's Gemmini sweep.

Runs the reference ``transformer_gemmini/hw_configs.json`` (20 configs) over all layers
of BERT-large at sequence length 4096 on 2 local workers into a fresh folder and prints a
table with the wall and CPU time (target: under 60 s wall; the seed flow with Timeloop
takes hours).  The file is a seed file, so it runs on ``gemmini_seed`` (the seed's
meanings, docs/seed-compat.md); a second row runs the same file with ``--dse-configs``
(read as dse's own gemmini knobs) for comparison.

If the shipped gemmini architecture cannot take the reference configs yet (e.g. the
``rf_size`` knob or the OS dataflow are missing), the benchmark says so and also times the
largest compatible part: the configs whose values the architecture accepts, with the keys
it does not declare removed.  Layers the architecture does not run and that have no
companion architecture are reported as skipped by the sweep itself.

    python benchmarks/hwdse_seed.py [--workers 2] [--out DIR] [--keep]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REFERENCE = ROOT / "tests" / "data" / "reference" / "transformer_gemmini" / "hw_configs.json"
TARGET_S = 60.0


def compatible_subset(configs: list[dict], arch: str) -> tuple[list[dict], list[str]]:
    """Configs the architecture accepts, unknown keys dropped; and what was dropped."""
    from dse.errors import DseError
    from dse.spec.library import knobs_of, resolve_architecture

    knobs = knobs_of(arch)
    dropped_keys = sorted({k for c in configs for k in c if k not in knobs})
    out, notes = [], []
    for i, c in enumerate(configs):
        sub = {k: v for k, v in c.items() if k in knobs}
        try:
            resolve_architecture(arch, sub, where=f"[{i}]")
            out.append(sub)
        except DseError as err:
            notes.append(f"config [{i}] left out: {err.message}")
    if dropped_keys:
        notes.insert(0, f"keys not declared by '{arch}' removed: {', '.join(dropped_keys)}")
    return out, notes


def run(cfg: Path, out: Path, workers: int, extra: tuple[str, ...] = ()) -> tuple[int, float, float, str, str]:
    """(exit code, wall s, CPU s of the sweep and its workers, stdout, stderr)."""
    import resource

    cmd = [sys.executable, str(ROOT / "hwdse_run.py"), "all", "-c", str(cfg), "--model", "bert-large",
           "--seq-len", "4096", "--workers", str(workers), "--out", str(out), "-t", "-q", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p.returncode, wall, cpu, p.stdout, p.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=None, help="results folder (default: a fresh temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary results folder")
    ap.add_argument("--show", action="store_true", help="print the sweep's own summary and table")
    args = ap.parse_args()
    from tabulate import tabulate

    base = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="hwdse-seed-"))
    rows, notes = [], []
    configs = json.loads(REFERENCE.read_text())
    rc, wall, cpu, stdout, stderr = run(REFERENCE, base / "reference", args.workers)
    jobs = next((l.split()[0] for l in stdout.splitlines() if "(config, layer) jobs" in l), "-")
    rows.append(["reference hw_configs.json (seed meanings: gemmini_seed)", len(configs), jobs, args.workers,
                 f"{wall:.1f}" if rc == 0 else "-", f"{cpu:.1f}" if rc == 0 else "-",
                 "ok" if rc == 0 and wall < TARGET_S else ("slow" if rc == 0 else f"refused (exit {rc})")])
    rc_d, wall_d, cpu_d, stdout_d, _ = run(REFERENCE, base / "as_dse_knobs", args.workers, ("--dse-configs",))
    jobs_d = next((l.split()[0] for l in stdout_d.splitlines() if "(config, layer) jobs" in l), "-")
    rows.append(["same file, --dse-configs (gemmini knobs)", len(configs), jobs_d, args.workers,
                 f"{wall_d:.1f}" if rc_d == 0 else "-", f"{cpu_d:.1f}" if rc_d == 0 else "-",
                 "ok" if rc_d == 0 and wall_d < TARGET_S else ("slow" if rc_d == 0 else f"refused (exit {rc_d})")])
    shown = stdout
    if rc != 0:
        notes.append("reference configs refused: " + stderr.strip().splitlines()[0][:300])
        subset, why = compatible_subset(configs, "gemmini")
        notes += why
        if subset:
            cfg = base / "compatible_hw_configs.json"
            cfg.write_text(json.dumps(subset, indent=1))
            rc2, wall2, cpu2, stdout2, stderr2 = run(cfg, base / "compatible", args.workers)
            jobs2 = next((l.split()[0] for l in stdout2.splitlines() if "(config, layer) jobs" in l), "-")
            rows.append(["compatible part of the reference", len(subset), jobs2, args.workers,
                         f"{wall2:.1f}" if rc2 == 0 else "-", f"{cpu2:.1f}" if rc2 == 0 else "-",
                         ("ok" if wall2 < TARGET_S else "slow") if rc2 == 0 else f"failed (exit {rc2})"])
            if rc2 != 0:
                notes.append(stderr2.strip()[:500])
            shown = stdout2
    for line in shown.splitlines():
        if line.startswith("skipped layer") or "companion architecture" in line:
            notes.append(line)
    print(f"hwdse seed benchmark: bert-large, seq 4096, all layers, {args.workers} workers "
          f"({os.cpu_count()} cores visible); target < {TARGET_S:.0f} s")
    print(tabulate(rows, headers=["sweep", "configs", "jobs", "workers", "wall (s)", "CPU (s)", "status"], tablefmt="github"))
    for n in notes:
        print(f"- {n}")
    if args.show:
        print(shown)
    if not args.out and not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    elif args.keep:
        print(f"results kept in {base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
