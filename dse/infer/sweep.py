"""``hwdse_run.py --phase prefill|decode|generate``: a hardware sweep whose objective is a generation phase.

Every config is one :func:`dse.infer.engine.simulate` of the model (prompt, generate, batch);
the phase's per-layer totals become the sweep's layer rows and are aggregated by
:func:`dse.hwdse.aggregate.aggregate`, the rules of every sweep: energy and cycles summed
(layers run one after another), EDP = total energy x total cycles, utilization weighted by
cycles over the array's own layers, a layer without a mapping makes the config infeasible
with its reason.  Without ``--blocks`` the totals are per block, like a layer sweep.  Added
per phase: tokens/s and energy per token (prefill: prompt tokens; decode: generated tokens
of the decode steps; generate: all generated tokens over the whole run).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from dse.errors import DseError
from dse.hwdse.aggregate import OK, LayerRow, Totals, aggregate
from dse.infer.costs import Target
from dse.infer.engine import InferRequest, simulate

PHASES = ("prefill", "decode", "generate")
#: --metric values a phase sweep sorts by (tokens_per_s: highest first)
PHASE_METRICS = ("edp", "energy", "delay", "tokens_per_s", "energy_per_token")


@dataclass(frozen=True)
class PhaseResult:
    index: int
    config: dict[str, Any]
    totals: Totals
    tokens: int  # tokens the phase produces or consumes (see the module docstring)
    seconds: float | None  # whole model
    model_energy_pj: float | None = None  # whole model

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens / self.seconds if self.seconds else None

    @property
    def energy_per_token_pj(self) -> float | None:
        return self.model_energy_pj / self.tokens if self.totals.status == OK else None

    def sort_key(self, metric: str) -> float:
        if self.totals.status != OK:
            return math.inf
        if metric == "tokens_per_s":
            return -(self.tokens_per_s or 0.0)
        if metric == "energy_per_token":
            return self.energy_per_token_pj
        return self.totals.metric(metric)


def phase_rows(layers, phase: str, blocks: int, per_block: bool) -> list[LayerRow]:
    """One :class:`LayerRow` per layer: its totals over the phase's steps (divided by ``blocks`` if per block)."""
    df = layers if phase == "generate" else layers[layers["phase"] == phase]
    div = blocks if per_block else 1
    rows = []
    for (layer, arch), g in df.groupby(["layer", "arch"], sort=False):
        cycles = float(g["cycles"].sum())
        util = float((g["utilization"] * g["cycles"]).sum() / cycles) if cycles else 0.0
        rows.append(LayerRow(layer, arch, True, None, 1, float(g["energy_pj"].sum()) / div,
                             int(round(cycles / div)), util, int((g["macs"] + g["pointwise_ops"]).sum()) // div))
    return rows


def run_phase(index: int, config: dict[str, Any], args, phase: str, workers: int) -> PhaseResult:
    """Simulate one config and aggregate its ``phase``; a mapping failure makes it infeasible."""
    from dse.workloads import get_model

    req = InferRequest(args.model, args.prompt, args.generate, args.batch,
                       Target.make(args.arch, config, (), args.mapper, None, args.imperfect), workers=workers)
    tokens = {"prefill": args.batch * args.prompt, "decode": args.batch * (args.generate - 1),
              "generate": args.batch * args.generate}[phase]
    try:
        res = simulate(req)
    except DseError as err:
        return PhaseResult(index, config, Totals("infeasible", err.format()), tokens, None)
    m = get_model(args.model)
    rows = phase_rows(res.layers, phase, m.blocks, not args.blocks)
    if not rows:
        return PhaseResult(index, config, Totals("infeasible", f"no {phase} step (--generate 1 has no decode step)"),
                           tokens, None)
    totals = aggregate(rows, [r.layer for r in rows], res.layers[res.layers["layer"] == "KQV"]["arch"].iloc[0])
    scale = 1 if args.blocks else m.blocks
    return PhaseResult(index, config, totals, tokens, totals.cycles * res.summary.clock_s * scale,
                       totals.energy_pj * scale)


def check_phase_args(args) -> None:
    """Refuse what a phase sweep does not do, before anything runs."""
    from dse.workloads import check_generation

    if args.phase not in PHASES:
        raise DseError(f"unknown phase '{args.phase}'", "--phase", ", ".join(PHASES))
    if args.targets and [t.lower() for t in args.targets] != ["all"]:
        raise DseError("a phase sweep maps every layer of the phase", f"LAYER {' '.join(args.targets)} with --phase",
                       "'all' or no layer")
    for flag, on in (("-so", args.summary_only), ("--search", getattr(args, "search", None)), ("-ih", args.ignore_heads), ("-nef", args.nef), ("-lf", args.lf),
                     ("-pwim", args.pwim), ("--scheduler", args.scheduler), ("--plot", args.plot),
                     ("--max-area", args.max_area is not None), ("--objectives", args.objectives)):
        if on:
            raise DseError(f"{flag} is not available with --phase", f"{flag} with --phase",
                           "a layer sweep (no --phase) for it; --phase takes -c, -mx, --arch, --model, --prompt, "
                           "--generate, --batch, --blocks, --mapper, -if, --workers, --metric, -t, --csv")
    if args.metric not in PHASE_METRICS:
        raise DseError(f"--metric {args.metric} is not available with --phase", "--metric", ", ".join(PHASE_METRICS))
    check_generation(args.model, args.prompt, args.generate, args.batch)
    if args.phase == "decode" and args.generate < 2:
        raise DseError("--generate 1 has no decode step (the prefill yields the first token)", "--generate with "
                       "--phase decode", "--generate >= 2")


def run_phase_sweep(args, configs: list[dict[str, Any]], workers: int) -> int:
    """Run the phase sweep over ``configs``, print the table (sorted by ``args.metric``), write ``args.csv``."""
    results = []
    for i, cfg in enumerate(configs):
        r = run_phase(args.init_idx + i, cfg, args, args.phase, workers)
        results.append(r)
        if not args.quiet:
            state = "ok" if r.totals.status == OK else "infeasible"
            print(f"[{i + 1}/{len(configs)}] config {r.index}: {state}", file=sys.stderr, flush=True)
    results.sort(key=lambda r: (r.sort_key(args.metric), r.index))
    keys = sorted({k for r in results for k in r.config if len({str(x.config.get(k)) for x in results}) > 1}) or \
        sorted({k for r in results for k in r.config})
    headers = ["idx", *keys, "status", "energy uJ", "cycles", "EDP J*cycle", "util %", "tokens/s", "uJ/token"]
    table = []
    for r in results:
        t = r.totals
        ok = t.status == OK
        table.append([r.index, *(r.config.get(k, "") for k in keys), t.status,
                      f"{t.energy_pj / 1e6:.6g}" if ok else "", t.cycles if ok else "",
                      f"{t.edp_j_cycles:.4g}" if ok else "", f"{100 * t.utilization:.1f}" if ok else "",
                      f"{r.tokens_per_s:.4g}" if ok else "", f"{r.energy_per_token_pj / 1e6:.4g}" if ok else ""])
    scope = "whole model" if args.blocks else "per block"
    print(f"{args.phase} of {args.model}: prompt {args.prompt}, generate {args.generate}, batch {args.batch} on "
          f"{args.arch}; energy/cycles/EDP {scope}; tokens/s and uJ/token for the whole model; sorted by {args.metric}")
    best = [r for r in results if r.totals.status == OK]
    if best:
        b = best[0]
        print(f"best ({args.metric}): config {b.index} {b.config}: {b.tokens_per_s:.4g} tokens/s, "
              f"{b.energy_per_token_pj / 1e6:.4g} uJ/token")
    if args.table or not best:
        print(tabulate(table, headers=headers, disable_numparse=True))
    for r in results:
        if r.totals.status != OK:
            print(f"config {r.index} infeasible: {r.totals.reason}")
    if args.csv:
        import csv
        import io

        from dse.files import write_atomic

        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(headers)
        w.writerows(table)
        write_atomic(Path(args.csv), buf.getvalue())
        print(f"CSV written to {args.csv}")
    return 0 if best else 3
