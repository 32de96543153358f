"""Cost-model throughput: mappings evaluated per second, batch API and single-mapping path.

Usage: python benchmarks/model_throughput.py [--batch 65536] [--repeat 3]

Workload: BERT-large KQV (E=1024, D=3072, L=4096) on the reference Gemmini and
Eyeriss specs.  The mappings are drawn (seeded) from the map-space: per
dimension an allowed factorization over the slots, loop orders drawn among the
reuse-distinct orders of each level, the designer's keep/bypass.  One core
(numpy single-threaded is not forced, but the model is elementwise numpy work).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mapper_vs_anchors import context  # noqa: E402

from dse.mapper.local import LocalSearch  # noqa: E402
from dse.mapper.mapspace import batch_row_to_mapping, build_mapspace, dim_factorizations  # noqa: E402
from dse.model.nest import MappingBatch, evaluate, evaluate_batch  # noqa: E402


def sample_batch(ctx, spec, n: int, seed: int = 0) -> tuple[MappingBatch, object]:
    space = build_mapspace(ctx, spec.constraints, designer_keeps=True)
    keep = space.keep_options[0]
    rng = np.random.default_rng(seed)
    n_slots = len(space.slots)
    per_dim = [np.array(dim_factorizations(int(ctx.bounds[d]), [space.rules[s][d] for s in range(n_slots)]),
                        dtype=np.int64).reshape(-1, n_slots) for d in range(len(ctx.dims))]
    fac = np.stack([p[rng.integers(0, len(p), size=n)] for p in per_dim], axis=2)  # [n, slots, D]
    ls = LocalSearch(space, keep, lambda r, i: r.edp_j_cycles[i][:, None], 1, 0.0)
    ranks = np.empty((n, ctx.n_levels, len(ctx.dims)), dtype=np.int64)
    for b in range(n):
        for i in ls.t_slot:
            k = ls.level_of_slot[i]
            opts = ls.orders(k, ls.active(fac[b], i))
            ranks[b, k] = opts[int(rng.integers(len(opts)))]
    return ls.batch(fac, ranks), space


def rate(n: int, seconds: float) -> str:
    return f"{n / max(seconds, 1e-12):,.0f}"


def main(argv=None) -> int:
    from tabulate import tabulate
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=65536)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--single", type=int, default=300, help="mappings for the single-mapping path")
    args = ap.parse_args(argv)
    rows = []
    for arch in ("gemmini", "eyeriss"):
        ctx, spec = context(arch, "KQV")
        batch, space = sample_batch(ctx, spec, args.batch)
        evaluate_batch(ctx, MappingBatch(*(a[:64] for a in (batch.temporal, batch.rank, batch.spatial_x,
                                                            batch.spatial_y, batch.keep))))  # warm-up
        best, best_cpu = float("inf"), float("inf")
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            res = evaluate_batch(ctx, batch)
            best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
        valid = int(res.valid.sum())
        rows.append([f"{arch} KQV", f"batch API ({args.batch} per call)", rate(args.batch, best),
                     rate(args.batch, best_cpu), f"{valid}/{args.batch} valid"])
        for size in (4096, 512):
            parts = [MappingBatch(*(a[s:s + size] for a in (batch.temporal, batch.rank, batch.spatial_x, batch.spatial_y,
                                                             batch.keep))) for s in range(0, args.batch, size)]
            t0, c0 = time.perf_counter(), time.process_time()
            for p in parts:
                evaluate_batch(ctx, p)
            rows.append([f"{arch} KQV", f"batch API ({size} per call)", rate(args.batch, time.perf_counter() - t0),
                         rate(args.batch, time.process_time() - c0), ""])
        mappings = [batch_row_to_mapping(space, batch, i) for i in range(args.single)]
        t0, c0 = time.perf_counter(), time.process_time()
        for m in mappings:
            evaluate(ctx, m)
        rows.append([f"{arch} KQV", "single mapping (evaluate)", rate(args.single, time.perf_counter() - t0),
                     rate(args.single, time.process_time() - c0), "typed Mapping -> ModelResult"])
    # CPU time is the figure to compare on a shared machine (wall time includes waiting for a core)
    print(tabulate(rows, headers=["layer", "path", "mappings/s (wall)", "mappings/s (CPU)", "note"],
                   tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
