"""``dse infer``: time to first token, per-token latency and energy of generating with a decoder model."""
from __future__ import annotations

import argparse
import math
import os
import sys

from tabulate import tabulate

from dse.cli.args import check_output_file, parse_assignments, typed
from dse.errors import DseError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``infer`` subcommand."""
    p = subparsers.add_parser(
        "infer",
        help="LLM inference: prefill + KV-cached decode of a decoder model (TTFT, per-token latency, energy)",
        description="Map the causal prefill of PROMPT tokens and the decode steps generating GENERATE tokens "
        "(batch BATCH) of a decoder model on an accelerator; print the time to first token, per-token latency, "
        "tokens/s, energy per token, a per-phase/per-layer breakdown and the KV-cache traffic. "
        "See docs/infer.md.",
    )
    p.add_argument("--model", default="gpt2", help="decoder model from the catalog (default gpt2; see `dse workloads`)")
    p.add_argument("--prompt", type=int, default=512, metavar="P", help="prompt tokens (default 512)")
    p.add_argument("--generate", type=int, default=128, metavar="G",
                   help="tokens to generate (default 128): the prefill yields the first, G-1 decode steps the rest")
    p.add_argument("--batch", type=int, default=1, metavar="B", help="sequences generated at once (default 1)")
    p.add_argument("--arch", default=None, help="shipped architecture (default gemmini; see `dse archs`)")
    p.add_argument("--set", nargs="+", metavar="KNOB=VALUE", default=(), help="architecture knob values")
    p.add_argument("--spec", nargs="+", metavar="FILE", default=(), help="your own Timeloop YAML instead of --arch")
    p.add_argument("--mapper", default=None, help="mapper preset or mapper YAML file")
    p.add_argument("--ert", default=None, help="Accelergy ERT.yaml or Timeloop stats.txt overriding the energy estimate")
    p.add_argument("-if", "--imperfect_fact", dest="imperfect", action="store_true",
                   help="imperfect factorization for every layer (the decode attention layers always use it)")
    p.add_argument("--causal", default="dense", choices=("dense", "tiled"),
                   help="prefill's masked half: dense = computed and discarded (default), tiled = tiles above "
                        "the diagonal skipped")
    p.add_argument("--causal-tile", type=int, default=64, metavar="T", help="query tile rows of --causal tiled (default 64)")
    p.add_argument("--exact-decode", action="store_true", help="map every decode step (no interpolation)")
    p.add_argument("--tolerance", type=float, default=0.01, metavar="F",
                   help="bound on the interpolation error, fraction of decode cycles and energy (default 0.01)")
    p.add_argument("--jobs", type=int, default=None, metavar="N", help="mapper processes (default: up to 2 cores)")
    p.add_argument("--clock-ghz", type=float, default=None, metavar="F",
                   help="clock for seconds (default: the architecture's global_cycle_seconds)")
    p.add_argument("--csv", default=None, metavar="FILE", help="write one row per phase step (prefill, each decode step)")
    p.add_argument("--plot", default=None, metavar="FILE",
                   help="latency and energy per token vs context, per-layer stacked bars (.png/.pdf/.svg)")
    p.set_defaults(func=run)


def _fmt_s(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.4g} {unit}"
    return f"{seconds / 1e-9:.4g} ns"


def _fmt_j(pj: float) -> str:
    if not math.isfinite(pj):
        return "n/a"
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if pj >= scale:
            return f"{pj / scale:.4g} {unit}"
    return f"{pj:.4g} pJ"


def _fmt_b(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return f"{n:.4g} B"


def breakdown(layers, decode_steps: int) -> list[list]:
    """Per-phase, per-layer rows: prefill totals, decode means per step."""
    out = []
    for phase, df in layers.groupby("phase", sort=False):
        div = decode_steps if phase == "decode" else 1
        g = df.groupby("layer", sort=False)[["cycles", "energy_pj", "macs", "pointwise_ops", "dram_bytes"]].sum() / div
        tc, te = g["cycles"].sum(), g["energy_pj"].sum()
        for layer, r in g.iterrows():
            out.append([phase if phase == "prefill" else "decode (per step)", layer, f"{r['cycles']:.4g}",
                        f"{100 * r['cycles'] / tc:.1f}", _fmt_j(r["energy_pj"]), f"{100 * r['energy_pj'] / te:.1f}",
                        f"{r['macs'] + r['pointwise_ops']:.4g}", _fmt_b(r["dram_bytes"])])
    return out


def run(args: argparse.Namespace) -> int:
    from dse.infer import InferRequest, Target, simulate
    from dse.workloads import CausalMode

    if args.spec and (args.arch or args.set):
        raise DseError("--arch/--set choose a shipped architecture, but --spec gives your own", "--arch/--set with --spec",
                       "either --spec FILE... or --arch NAME [--set KNOB=VALUE...]")
    if args.csv:
        check_output_file(args.csv, "--csv", "infer.csv")
    if args.plot:
        from dse.hwdse.plot import check_format

        check_output_file(args.plot, "--plot", "infer.png")
        check_format(args.plot)
    if args.clock_ghz is not None and not (args.clock_ghz > 0 and math.isfinite(args.clock_ghz)):
        raise DseError(f"must be positive, got {args.clock_ghz}", "--clock-ghz", "a frequency in GHz > 0, e.g. 1.0")
    jobs = args.jobs if args.jobs is not None else max(1, min(2, os.cpu_count() or 1))
    target = Target.make(args.arch or "gemmini", typed(parse_assignments(args.set, "--set", "pe_rows=32", "knob setting")),
                         tuple(args.spec), args.mapper, args.ert, args.imperfect)
    req = InferRequest(args.model, args.prompt, args.generate, args.batch, target, CausalMode.parse(args.causal),
                       args.causal_tile, args.tolerance, args.exact_decode, jobs,
                       None if args.clock_ghz is None else 1e-9 / args.clock_ghz)
    live = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if live:
            print(f"\rmapping layer shapes: {done}/{total}", end="", file=sys.stderr, flush=True)

    res = simulate(req, progress)
    if live:
        print("\r" + " " * 40 + "\r", end="", file=sys.stderr, flush=True)
    s, m = res.summary, res.model
    where = f"your spec ({len(args.spec)} files)" if args.spec else (args.arch or "gemmini")
    if args.set:
        where += " " + " ".join(args.set)
    print(f"{m.name}: prompt {args.prompt}, generate {args.generate}, batch {args.batch} on {where}; "
          f"clock {1e-9 / s.clock_s:.4g} GHz ({s.clock_s * 1e9:.4g} ns/cycle)")
    print("causal prefill: " + ("dense (masked half computed and discarded)" if req.causal is CausalMode.DENSE else
                                f"tiled (tiles of {req.causal_tile} query rows; tiles above the diagonal skipped)"))
    rows = [
        ["time to first token", f"{s.ttft_cycles:.6g} cycles", _fmt_s(s.ttft_s)],
        ["per-token latency (mean)", f"{s.mean_token_cycles:.6g} cycles" if s.decode_steps else "n/a (no decode step)",
         _fmt_s(s.mean_token_s)],
        ["per-token latency (last step)", f"{s.last_token_cycles:.6g} cycles" if s.decode_steps else "n/a",
         _fmt_s(s.last_token_s)],
        ["tokens/s (decode)", f"{s.decode_tokens_per_s:.4g}" if s.decode_steps else "n/a", f"batch {args.batch}"],
        ["tokens/s (end to end)", f"{s.tokens_per_s:.4g}", f"{s.tokens_generated} tokens in {_fmt_s(s.total_cycles * s.clock_s)}"],
        ["energy per token (decode)", _fmt_j(s.energy_per_token_pj), ""],
        ["total energy", _fmt_j(s.total_energy_pj), f"prefill {_fmt_j(s.prefill_energy_pj)}, decode {_fmt_j(s.decode_energy_pj)}"],
        ["KV cache stored / loaded", f"{_fmt_b(s.kv_bytes_stored)} / {_fmt_b(s.kv_bytes_loaded)}",
         "each K/V element written once, read once per step"],
        ["KV share of DRAM traffic", f"{100 * s.kv_dram_share:.2f}%",
         f"{_fmt_b(s.kv_dram_bytes)} of {_fmt_b(s.dram_bytes)} (modelled)"],
    ]
    if s.decode_steps:
        how = "every step mapped" if req.exact_decode or s.mapped_contexts >= s.decode_steps else (
            f"{s.mapped_contexts} of {s.decode_steps} contexts mapped, the rest interpolated")
        rows.append(["decode interpolation", how,
                     f"bound {100 * s.bound_cycles / s.decode_cycles:.2f}% cycles, "
                     f"{100 * s.bound_energy_pj / s.decode_energy_pj:.2f}% energy (cost non-decreasing in context)"])
    print(tabulate(rows, tablefmt="plain"))
    print()
    print(tabulate(breakdown(res.layers, s.decode_steps),
                   headers=["phase", "layer", "cycles", "% cycles", "energy", "% energy", "MACs/ops", "DRAM"],
                   disable_numparse=True))
    print(f"({s.mapper_jobs} layer shapes mapped in {res.wall_s:.1f} s)")
    for note in res.notes:
        print(f"note: {note}")
    if args.csv:
        from dse.files import write_atomic

        write_atomic(args.csv, res.steps.to_csv(index=False))
        print(f"steps written to {args.csv}")
    if args.plot:
        from dse.infer.plot import plot

        plot(res, args.plot)
        print(f"plot written to {args.plot}")
    return 0
