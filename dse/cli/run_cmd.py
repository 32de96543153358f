"""``python run.py LAYER [FUSION_LEVEL] [options]``: map one transformer layer (the seed's interface)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dse.cli.errors import run_guarded
from dse.errors import DseError
from dse.cli.args import check_output_folder, check_outputs_spare_inputs, check_positive, invoked_as, parse_assignments, typed


def build_parser(prog: str = "run.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Map one transformer layer on an accelerator; print the best mapping and write "
        "timeloop-mapper.{stats.txt,map.txt,map.yaml,ERT.yaml,ART.yaml}.",
    )
    p.add_argument("layer", metavar="LAYER", nargs="?", default=None,
                   help="KQV, KTQ, VScores, Out, FF1, FF2, softmax or layernorm (optional with --spec files that "
                        "contain a problem: that problem is mapped)")
    p.add_argument("fusion_level", metavar="FUSION_LEVEL", nargs="?", default=None,
                   help="fuse at one of the architecture's fusion levels (gemmini: DRAM, Accumulator, Registers; "
                        "pim: DRAM, shared_glb, scratchpad): outer levels get D=1 and E=1, outputs bypass them, "
                        "[E, D, L] permutation at the fusion level")
    p.add_argument("-l", "--live", action="store_true", help="show live mapper progress")
    p.add_argument("-nef", "--no-edge-fusion", "--no_e_fusion", dest="nef", action="store_true",
                   help="do not force E=1 above the fusion level")
    p.add_argument("-lf", "--l-fusion", "--l_fusion", dest="lf", action="store_true",
                   help="also force L=1 above the fusion level")
    p.add_argument("-pwim", "--pwim", "--pay_wb_in_mm", dest="pwim", action="store_true",
                   help="let outputs stay in levels above the fusion level")
    p.add_argument("-if", "--imperfect_fact", dest="imperfect", action="store_true", help="imperfect factorization (ruby map-space)")
    p.add_argument("--arch", default=None, help="shipped architecture name or folder (default: gemmini, WS 16x16)")
    p.add_argument("--model", default=None, help="transformer model from the catalog (default: bert-base; the seed's is "
                   "bert-large; see `dse workloads`)")
    p.add_argument("--seq-len", type=int, default=None, help="sequence length (default 512; the seed's is 4096)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--spec", nargs="+", metavar="FILE", default=(), help="run on your own Timeloop YAML files instead of --arch")
    p.add_argument("--var", nargs="+", metavar="NAME=VALUE", default=(),
                   help="with --spec: set variables of your files (as `dse spec --var`), e.g. EMBEDDING=768")
    p.add_argument("--set", nargs="+", metavar="KNOB=VALUE", default=(), help="architecture knob values (see `dse archs`)")
    p.add_argument("--mapper", default=None, help="mapper preset (default, exhaustive, random, timeloop_reference) or a mapper YAML file")
    p.add_argument("-vc", "--victory-condition", dest="vc", type=int, default=None, help="victory condition (random/hybrid searches)")
    p.add_argument("--threads", type=int, default=None, help="mapper worker processes")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--ert", default=None, help="Accelergy ERT.yaml or Timeloop stats.txt whose energies override the estimate")
    p.add_argument("-o", "--out", default=None, help="output folder (default outputs/outputs_<layer>[_<level>]; "
                                                      "outputs_spec[_<level>] for a --spec problem without LAYER)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser(invoked_as("dse-run", "run.py")).parse_args(argv)
    return run_guarded(lambda: _run(args))


def _run(args) -> int:
    from dse.cli.args import workload_defaults
    from dse.pipeline import LayerJob, run_layer

    note = workload_defaults(args)

    check_positive(args.seq_len, "--seq-len", "the sequence length")
    check_positive(args.batch, "--batch", "the batch size")
    check_positive(args.threads, "--threads", "the number of mapper processes")
    check_positive(args.vc, "-vc", "the victory condition (valid mappings without improvement)")
    check_positive(args.seed, "--seed", "the random seed", minimum=0, maximum=2**63 - 1)
    if args.spec and (args.arch or args.set):
        raise DseError("--arch/--set choose a shipped architecture, but --spec gives your own", "--arch/--set with --spec",
                       "either --spec FILE... (knobs are the spec's variables) or --arch NAME [--set KNOB=VALUE...]")
    if args.layer is not None and args.fusion_level is None and args.spec:
        from dse.pipeline import FUSION_LEVELS
        from dse.workloads import layer_names

        if args.layer in FUSION_LEVELS and args.layer not in layer_names():  # `run.py Accumulator --spec ...`
            args.layer, args.fusion_level = None, args.layer
    if args.layer is None and not args.spec:
        raise DseError("no LAYER given", "LAYER", "a layer name (KQV, KTQ, VScores, Out, FF1, FF2, softmax, layernorm), "
                       "or --spec FILE... whose files contain a problem")
    if args.var and not args.spec:
        raise DseError("--var sets variables of your own spec files", "--var without --spec",
                       "--var NAME=VALUE with --spec FILE...; knobs of a shipped architecture are --set KNOB=VALUE")
    variables = parse_assignments(args.var, "--var", "EMBEDDING=768")
    out = Path(args.out) if args.out else Path("outputs") / (f"outputs_{args.layer or 'spec'}" + (f"_{args.fusion_level}" if args.fusion_level else ""))
    check_output_folder(out, "-o/--out")
    check_outputs_spare_inputs(out, "timeloop-mapper", {"--spec": args.spec or (), "--ert": (args.ert,),
                                                        "--mapper": (args.mapper,)}, "-o/--out")
    job = LayerJob(layer=args.layer, arch=args.arch or "gemmini", config=typed(parse_assignments(args.set, "--set", "pe_rows=32", "knob setting")), model=args.model, seq_len=args.seq_len,
                   batch=args.batch, fusion_level=args.fusion_level, no_edge_fusion=args.nef, l_fusion=args.lf,
                   pwim=args.pwim, imperfect=args.imperfect, spec_files=tuple(args.spec), variables=variables, mapper=args.mapper,
                   victory_condition=args.vc, threads=args.threads, seed=args.seed, ert=args.ert, live=args.live)
    outcome = run_layer(job, out)
    if not outcome.ok:
        print(f"error: {outcome.reason}", file=sys.stderr)
        return 2 if outcome.bad_input else 3
    if args.spec:  # the problem actually mapped: the files' own, or the catalog layer when they have none
        print(f"Best mapping for {outcome.problem} on your spec ({len(args.spec)} files):")
    else:
        if note:
            print(note)
        print(f"Best mapping for {args.layer} ({args.model}, seq {args.seq_len}) on {args.arch or 'gemmini'}:")
    print(outcome.mapping_text)
    print()
    print(f"Energy:      {outcome.energy_pj / 1e6:.2f} uJ")
    print(f"Cycles:      {outcome.cycles}")
    print(f"Utilization: {100 * outcome.utilization:.2f}%")
    print(f"EDP:         {outcome.edp_j_cycles:.3e} J*cycle")
    from dse.workloads import MATMUL_LAYERS

    # softmax/layernorm do element ops; a spec's own problem: Timeloop's pJ per compute
    per = ("pJ/MAC:    " if args.layer in MATMUL_LAYERS else "pJ/compute:" if args.layer is None else "pJ/op:     ")
    print(f"{per}  {outcome.pj_per_mac:.3f}")
    print(f"({outcome.evaluated} mappings evaluated in {outcome.wall_s:.2f} s; outputs in {out}/)")
    for note in outcome.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
