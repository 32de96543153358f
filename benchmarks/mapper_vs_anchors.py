"""Our default mapper vs the best known mappings (Timeloop, FactorFlow) on the reference specs.

Usage: python benchmarks/mapper_vs_anchors.py [--pairs gemmini:KQV,eyeriss:KTQ] [--no-exhaustive]

For every pair of ``benchmarks/data/anchors.yaml`` (a hand copy of
``mapper-anchors.md``: BERT-large, seq 4096) it runs ``search`` with default
``MapperOptions()`` (algorithm ``dse``, one worker) and prints: our EDP,
Timeloop's EDP (from the anchors table: Timeloop's own model and energies),
FactorFlow's mapping re-scored by our model (level names translated, K->E,
M->D, N->L; flagged when it breaks our spec's constraints or capacities), the
ratio ours / best known, and both wall times.  Best known = min(Timeloop's
EDP, FactorFlow's re-scored EDP when that mapping is legal under our spec).

Per-access energies: Accelergy ERTs of the reference specs shipped in
``benchmarks/data/ert/{gemmini,simba,tpu}.ERT.yaml``; eyeriss has no ERT (the
Accelergy setup cannot estimate its 32 nm intadder), so its energies are the
per-(level, data space) per-scalar-access energies, leakage and compute energy
of ``benchmarks/data/ert/stats_KQV_eyeriss_TLD.txt`` (a real Timeloop run), read
exactly as ``run.py --ert stats.txt`` reads them (``dse.pipeline.energies_for``: a
data space that run never stored at a level costs the level's largest per-access
energy there, not 0).

Every mapping -- ours and FactorFlow's re-scored one -- is checked against the
spec's constraints as Timeloop's mapper sees them (``dse.mapper.legality``:
factors, permutations, keep/bypass including timeloopfe's implied ``!Parallel``
bypasses); a FactorFlow mapping that breaks one is flagged and not "best known".
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dse.energy.ert import read_accelergy_ert  # noqa: E402
from dse.errors import NoValidMappingError  # noqa: E402
from dse.mapper.legality import constraint_violations  # noqa: E402
from dse.mapper.mapspace import _split_xy, batch_row_to_mapping, build_mapspace  # noqa: E402
from dse.mapper.search import search  # noqa: E402
from dse.model.energies import from_tables  # noqa: E402
from dse.model.nest import MappingBatch, evaluate, make_context  # noqa: E402
from dse.pipeline import energies_for  # noqa: E402
from dse.spec.loader import load_spec  # noqa: E402
from dse.spec.types import MapperOptions  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
REF = ROOT / "tests" / "data" / "reference" / "transformer_gemmini"
ARCHS = ("gemmini", "eyeriss", "simba", "tpu")
LAYERS = ("KQV", "KTQ", "VScores", "Out", "FF1", "FF2")
SMALL = {"EMBEDDING": 64, "EMBEDDING_3": 128, "SEQ_LENGTH": 64, "HEADS": 1, "FF_DIM": 64, "EMBEDDING_HEADS": 64}


def spec_files(arch: str, layer: str) -> list[Path]:
    files = [REF / f"arch/system_{arch}.yaml", *sorted((REF / "arch/components").glob("*.yaml")),
             REF / f"layers/{layer}_layer.yaml", REF / "mapper/variables.yaml"]
    if arch == "gemmini":  # eyeriss/simba/tpu carry their constraints inline
        files.append(REF / "constraints/constraints.yaml")
    return files


def energies(arch: str, spec):
    if arch == "eyeriss":  # the CLI's reading of a stats file (run.py --ert stats.txt)
        return energies_for(spec, str(DATA / "ert" / "stats_KQV_eyeriss_TLD.txt"))[0]
    return from_tables(read_accelergy_ert(DATA / "ert" / f"{arch}.ERT.yaml"), spec.architecture)


def context(arch: str, layer: str, variables=None):
    spec = load_spec(spec_files(arch, layer), variables=variables)
    return make_context(spec.architecture, spec.workload, energies(arch, spec)), spec


def anchors() -> dict:
    return yaml.safe_load((DATA / "anchors.yaml").read_text())


def factorflow_mapping(ctx, spec, ff_levels: list, level_names: dict, dim_names: dict):
    """Build FactorFlow's mapping in our spec; return (Mapping, list of reasons it breaks our constraints)."""
    space = build_mapspace(ctx, spec.constraints, designer_keeps=True)
    K, F, D = ctx.n_levels, len(ctx.fanouts), len(ctx.dims)
    lvl_idx = {l.name: k for k, l in enumerate(ctx.levels)}
    fan_idx = {f.name: i for i, f in enumerate(ctx.fanouts)}
    didx = {d: i for i, d in enumerate(ctx.dims)}
    t = np.ones((1, K, D), dtype=np.int64)
    r = np.tile(np.arange(D, dtype=np.int64) + D, (1, K, 1))
    spatial = np.ones((1, F, D), dtype=np.int64)
    for entry in ff_levels:
        name = level_names.get(entry["level"], entry["level"])
        if name is None or entry["level"] == "Compute":
            continue
        loops = [(didx[dim_names[d]], int(f)) for d, f in entry["loops"] if int(f) > 1]
        if name in lvl_idx:
            k = lvl_idx[name]
            for pos, (d, f) in enumerate(reversed(loops)):  # listed outer -> inner; rank 0 = innermost
                t[0, k, d] *= f
                r[0, k, d] = pos
        elif name in fan_idx:
            for d, f in loops:
                spatial[0, fan_idx[name], d] *= f
        else:
            raise KeyError(f"FactorFlow level {entry['level']} -> {name} not in the spec")
    sx, sy = _split_xy(space, spatial)
    batch = MappingBatch(t, r, sx, sy, space.keep_options[0][None])
    mapping = batch_row_to_mapping(space, batch, 0)
    res = evaluate(ctx, mapping)
    reasons = ["constraint: " + v.message + f" at {v.target}"
               for v in constraint_violations(ctx, mapping, spec.constraints, res.utilization)]
    reasons += list(res.invalid_reasons)
    return mapping, res, reasons


def run_pair(arch: str, layer: str, meta: dict, options: MapperOptions) -> dict:
    ctx, spec = context(arch, layer)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        r = search(ctx, spec.constraints, options)
        broken = constraint_violations(ctx, r.best.mapping, spec.constraints, r.best.utilization)
        row = {"ours": r.best.edp_j_cycles, "util": r.best.utilization, "evaluated": r.evaluated,
               "ours_mapping": r.best.mapping, "error": "; ".join(map(str, broken)) or None}
    except NoValidMappingError as e:
        row = {"ours": None, "util": None, "evaluated": 0, "ours_mapping": None, "error": e.format()}
    row.update(pair=f"{arch} {layer}", wall=time.perf_counter() - t0, cpu=time.process_time() - c0)
    tl = meta.get("timeloop")
    # the table's EDP is rounded to 3 digits: energy x cycles is the exact figure
    row["timeloop"] = tl["energy_uj"] * 1e-6 * tl["cycles"] if tl else None
    ff = meta.get("factorflow")
    row["ff"] = row["ff_note"] = row["ff_wall"] = None
    if ff:
        a = anchors()
        names = {"Compute": None, **a["factorflow_levels"][arch]}
        _, res, reasons = factorflow_mapping(ctx, spec, ff["mapping"], names, a["factorflow_dims"])
        row["ff"] = res.edp_j_cycles
        row["ff_note"] = "; ".join(reasons)
        row["ff_wall"] = ff["wall_s"]
    known = [x for x in (row["timeloop"], None if row["ff_note"] else row["ff"]) if x]
    row["best_known"] = min(known) if known else None
    row["ratio"] = row["ours"] / row["best_known"] if row["best_known"] and row["ours"] else None
    row["ratio_ff_any"] = row["ours"] / row["ff"] if row["ff"] and row["ours"] else None
    return row


def exhaustive_check() -> dict:
    """Default vs exhaustive on a small pair (gemmini KQV with 64x128x64)."""
    ctx, spec = context("gemmini", "KQV", SMALL)
    out = {}
    for algo in ("dse", "exhaustive"):
        t0 = time.perf_counter()
        r = search(ctx, spec.constraints, MapperOptions(algorithm=algo))
        out[algo] = (r.best.edp_j_cycles, r.evaluated, time.perf_counter() - t0)
    return out


def main(argv=None) -> int:
    from tabulate import tabulate
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", help="comma-separated arch:layer (default: all 24)")
    ap.add_argument("--no-exhaustive", action="store_true")
    args = ap.parse_args(argv)
    meta = {(p["arch"], p["layer"]): p for p in anchors()["pairs"]}
    pairs = [tuple(x.split(":")) for x in args.pairs.split(",")] if args.pairs else [(a, l) for a in ARCHS for l in LAYERS]
    rows, notes = [], []
    for arch, layer in pairs:
        row = run_pair(arch, layer, meta.get((arch, layer), {}), MapperOptions())
        ff = f"{row['ff']:.4g}" if row["ff"] is not None else "-"
        if row["ff_note"]:
            ff += f" [{len(notes) + 1}]"
            notes.append(f"[{len(notes) + 1}] {row['pair']}: FactorFlow's mapping breaks our spec: {row['ff_note']}")
        ours = f"{row['ours']:.4g}" if row["ours"] else "no valid mapping"
        if row["error"]:
            ours += f" [{len(notes) + 1}]"
            notes.append(f"[{len(notes) + 1}] {row['pair']}: {row['error']}")
        rows.append([row["pair"], ours, f"{row['timeloop']:.4g}" if row["timeloop"] else "-", ff,
                     f"{row['ratio']:.3f}" if row["ratio"] else "-",
                     f"{row['ratio_ff_any']:.3f}" if row["ratio_ff_any"] else "-", f"{row['util']:.2f}" if row["util"] is not None else "-", f"{row['cpu']:.2f}", f"{row['wall']:.2f}",
                     f"{row['ff_wall']:.1f}" if row["ff_wall"] else "-"])
        print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    print(tabulate(rows, headers=["pair", "our EDP", "Timeloop EDP", "FactorFlow EDP (our model)", "ours/best legal", "ours/FF (any)",
                                  "our util", "our search CPU s", "our wall s", "FF wall s"], tablefmt="github"))
    for n in notes:
        print(n)
    if not args.no_exhaustive:
        ex = exhaustive_check()
        print()
        print(tabulate([[algo, f"{e:.6g}", n, f"{w:.2f}"] for algo, (e, n, w) in ex.items()],
                       headers=["gemmini KQV 64x128x64", "best EDP", "mappings evaluated", "wall s"], tablefmt="github"))
        same = ex["dse"][0] == ex["exhaustive"][0]
        print(f"default finds the exhaustive optimum: {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
