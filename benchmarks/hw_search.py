#!/usr/bin/env python3
"""Acceptance benchmark of ``hwdse_run.py --search``: TPE and random search against the exhaustive grid.

The space is the seed's ``-mx`` space: the cross product of the values its Gemmini
``hw_configs.json`` uses per key (432 configs), on ``gemmini_seed`` (the seed's keys with the
seed's meanings, as ``hwdse_run.py`` reads that file).  The grid maps every config over the layers
(BERT-large, seq 4096, all 8 layers by default) once; then, for each of ``--seeds`` seeds,
TPE and random search get a budget of 10% of the grid's evaluations and reuse the grid's
finished layer results (``--reuse``: a trial costs what the grid paid for that config, so
the searches' wall times are reported beside the grid's mapping time per config).  Printed:

* single objective (EDP): per sampler, how many seeds found the grid's best within the
  budget, the median number of evaluations to reach it, the median gap of the best found;
* multi-objective (energy, cycles, area; NSGA-II and TPE, same budget): the hypervolume of
  the search's front relative to the grid's true front (objectives normalized to the grid's
  range, reference point 1.1 in each).

    python benchmarks/hw_search.py [--model bert-large --seq-len 4096 --layers all]
                                   [--seeds 5] [--budget 0.10] [--workers 2] [--out DIR]

``--out DIR`` keeps the runs (re-running resumes them: the grid is mapped once).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SEED_CONFIGS = ROOT / "tests" / "data" / "reference" / "transformer_gemmini" / "hw_configs.json"
OBJECTIVES = ("energy", "cycles", "area")


def mx_space(configs: list[dict]) -> dict:
    """The seed's -mx space as a --space mapping (consecutive powers of two as ordered ranges)."""
    from dse.hwdse.configs import mixup

    values: dict[str, list] = {}
    for cfg in mixup(configs):
        for k, v in cfg.items():
            if v not in values.setdefault(k, []):
                values[k].append(v)
    space = {}
    for k, vals in values.items():
        if len(vals) == 1:
            space[k] = vals[0]
            continue
        ints = sorted(v for v in vals if isinstance(v, int) and not isinstance(v, bool) and v > 0)
        exps = [v.bit_length() - 1 for v in ints]
        if len(ints) == len(vals) and all(v & (v - 1) == 0 for v in ints) and exps == list(range(exps[0], exps[-1] + 1)):
            space[k] = {"low": ints[0], "high": ints[-1], "step": "pow2"}
        else:
            space[k] = vals
    return space


def hwdse(args: list[str]) -> float:
    start = time.monotonic()
    p = subprocess.run([sys.executable, str(ROOT / "hwdse_run.py"), *args, "-q"], cwd=ROOT, capture_output=True,
                       text=True)
    if p.returncode != 0:
        sys.exit(f"hwdse_run.py {' '.join(args)} failed (exit {p.returncode}):\n{p.stderr[-2000:]}")
    return time.monotonic() - start


def trials(out: Path) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="hwdse", storage=f"sqlite:///{out / 'study.db'}")
    return sorted(study.get_trials(), key=lambda t: t.number)


def metrics_of(out: Path) -> dict[str, tuple[float, float, float, float]]:
    """config (JSON) -> (edp, energy, cycles, area) of every feasible config in a results folder."""
    from dse.hwdse.results import load_results
    from dse.hwdse.store import Store

    store = Store(out)
    res = load_results(store, store.sweep_info(), False, False)
    return {json.dumps(r.config, sort_keys=True): (r.totals.edp_j_cycles, r.totals.energy_pj, float(r.totals.cycles),
                                                   r.totals.area_mm2) for r in res if r.totals.status == "ok"}


def front(points: list[tuple[float, ...]]) -> list[tuple[float, ...]]:
    return [p for p in points if not any(all(a <= b for a, b in zip(q, p)) and q != p for q in points)]


def hv2(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Area dominated by ``points`` (minimized) up to ``ref``."""
    pts = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    area, best_y = 0.0, ref[1]
    for x, y in pts:
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return area


def hv3(points: list[tuple[float, float, float]], ref: tuple[float, float, float]) -> float:
    """Exact 3-D hypervolume by slicing along the first objective."""
    pts = sorted(p for p in points if all(a < r for a, r in zip(p, ref)))
    vol = 0.0
    for i, p in enumerate(pts):
        nxt = pts[i + 1][0] if i + 1 < len(pts) else ref[0]
        if nxt > p[0]:
            vol += (nxt - p[0]) * hv2([(q[1], q[2]) for q in pts[:i + 1]], (ref[1], ref[2]))
    return vol


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="gemmini_seed", help="default gemmini_seed: the seed's keys with its meanings")
    ap.add_argument("--model", default="bert-large")
    ap.add_argument("--seq-len", default="4096")
    ap.add_argument("--layers", nargs="+", default=["all"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=0.10, help="fraction of the grid's evaluations (default 0.10)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=None, help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--space", default=None, help="another --space file (a quick smoke run; default: the seed's -mx)")
    args = ap.parse_args()
    import optuna  # noqa: F401 - fail early without it
    from tabulate import tabulate

    base = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="hw-search-"))
    base.mkdir(parents=True, exist_ok=True)
    space = base / "space.yaml"
    import yaml

    space.write_text(Path(args.space).read_text() if args.space else
                     yaml.safe_dump(mx_space(json.loads(SEED_CONFIGS.read_text())), sort_keys=False))
    common = [*args.layers, "--arch", args.arch, "--model", args.model, "--seq-len", args.seq_len,
              "--space", str(space), "--workers", str(args.workers)]
    grid = base / "grid"
    grid_wall = hwdse([*common, "--search", "grid", "--trials", "100000", "--out", str(grid)])
    gt = trials(grid)
    n_grid = len(gt)
    ok = [t for t in gt if t.state.name == "COMPLETE"]
    best = min(t.values[0] for t in ok)
    budget = max(1, int(args.budget * n_grid))
    layer_s = sum(json.loads(p.read_text()).get("wall_s", 0.0) for p in grid.glob("*/outputs_*/dse-layer.json"))
    print(f"space: {space} ({n_grid} configs, {len(ok)} feasible); layers {' '.join(args.layers)}, {args.model} "
          f"seq {args.seq_len}; grid best EDP {best:.6g} J*cycle")
    print(f"grid: {grid_wall:.1f} s wall on {args.workers} worker(s) (mapping CPU {layer_s:.0f} s, "
          f"{layer_s / max(1, n_grid):.2f} s per config); searches: budget {budget} trials "
          f"({100 * budget / n_grid:.0f}% of the grid), layer results reused from the grid\n")

    rows = [["grid (exhaustive)", 1, n_grid, "1/1", n_grid, "0.00", f"{grid_wall:.1f}"]]
    for kind in ("tpe", "random"):
        hits, evals, gaps, walls = 0, [], [], []
        for seed in range(args.seeds):
            out = base / f"{kind}-{seed}"
            walls.append(hwdse([*common, "--search", kind, "--trials", str(budget), "--seed", str(seed),
                                "--reuse", str(grid), "--out", str(out)]))
            vals = [(t.number, t.values[0]) for t in trials(out) if t.state.name == "COMPLETE"]
            found = min(v for _, v in vals)
            first = next((n + 1 for n, v in vals if v <= best * (1 + 1e-9)), None)
            hits += first is not None
            evals.append(first if first is not None else float("inf"))
            gaps.append(100 * (found / best - 1))
        med = statistics.median(evals)
        rows.append([kind, args.seeds, budget, f"{hits}/{args.seeds}", "not reached" if med == float("inf") else
                     f"{med:g}", f"{statistics.median(gaps):.2f}", f"{statistics.median(walls):.1f}"])
    print(tabulate(rows, headers=["search (EDP)", "seeds", "budget (trials)", "found grid best",
                                  "median evals to best", "median gap of best (%)", "median wall (s)"]))

    # multi-objective: hypervolume of energy-cycles-area fronts against the grid's true front
    truth = metrics_of(grid)
    pts = {k: v[1:] for k, v in truth.items()}
    lo = [min(p[i] for p in pts.values()) for i in range(3)]
    hi = [max(p[i] for p in pts.values()) for i in range(3)]

    def norm(p):
        return tuple((p[i] - lo[i]) / ((hi[i] - lo[i]) or 1.0) for i in range(3))

    ref = (1.1, 1.1, 1.1)
    true_front = front([norm(p) for p in pts.values()])
    hv_true = hv3(true_front, ref)
    mo_rows = []
    for kind in ("nsga2", "tpe", "random"):
        ratios, sizes, walls = [], [], []
        for seed in range(args.seeds):
            out = base / f"mo-{kind}-{seed}"
            walls.append(hwdse([*common, "--search", kind, "--trials", str(budget), "--seed", str(seed),
                                "--objectives", ",".join(OBJECTIVES), "--reuse", str(grid), "--out", str(out)]))
            got = [norm(t.values) for t in trials(out) if t.state.name == "COMPLETE"]
            f = front(got)
            sizes.append(len(f))
            ratios.append(hv3(f, ref) / hv_true)
        mo_rows.append([kind, args.seeds, budget, f"{statistics.median(ratios):.3f}", f"{min(ratios):.3f}",
                        f"{statistics.median(sizes):g}", f"{statistics.median(walls):.1f}"])
    print(f"\ntrue front (grid, {n_grid} configs): {len(true_front)} configs, hypervolume {hv_true:.4f} "
          f"(energy, cycles, area normalized to the grid's range; reference point 1.1)")
    print(tabulate(mo_rows, headers=["search (energy,cycles,area)", "seeds", "budget (trials)",
                                     "median HV / true HV", "worst HV / true HV", "median front size",
                                     "median wall (s)"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
