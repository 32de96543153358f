"""``dse workloads``: print the transformer catalog as per-layer problem sizes and MAC counts."""
from __future__ import annotations

import argparse

from tabulate import tabulate

from dse.errors import DseError
from dse.workloads import get_model, list_models, model_layers

HEADERS = ("model", "layer", "E", "D", "L", "N", "G", "per block", "MACs per instance", "MACs per model")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``workloads`` subcommand."""
    p = subparsers.add_parser(
        "workloads",
        help="list transformer models and their layers' problem sizes and MAC counts",
        description="Print, for each model, every layer of one block as a Timeloop problem "
        "(E = reduction dim, D = weight/output rows, L = sequence, N = batch, G = groups), how many "
        "times it runs per block, and its MACs per instance and over the whole model. "
        "Point-wise layers (softmax, layernorm) count one operation per element per sweep.",
    )
    p.add_argument("--model", default="all", metavar="NAME|all",
                   help="catalog model name (case-insensitive) or 'all' (default: all)")
    p.add_argument("--seq-len", type=int, default=512, metavar="N", help="sequence length (default: 512)")
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size (default: 1)")
    p.set_defaults(func=run)


def rows(model_names: list[str], seq_len: int, batch: int) -> list[tuple]:
    """Table rows: one per layer, then per model the total matmul MACs and point-wise operations."""
    out: list[tuple] = []
    for name in model_names:
        layers = model_layers(name, seq_len, batch)
        for lp in layers:
            out.append((lp.model.name, lp.layer, lp.bound("E"), lp.bound("D"), lp.bound("L"),
                        lp.bound("N"), lp.bound("G") if "G" in lp.workload.bounds else 1,
                        lp.multiplicity_per_block, lp.macs_per_instance, lp.macs_per_model))
        model_name = layers[0].model.name
        matmul = sum(lp.macs_per_model for lp in layers if lp.is_matmul)
        pointwise = sum(lp.macs_per_model for lp in layers if not lp.is_matmul)
        out.append((model_name, "total matmul MACs", "", "", "", "", "", "", "", matmul))
        out.append((model_name, "total point-wise ops", "", "", "", "", "", "", "", pointwise))
    return out


def run(args: argparse.Namespace) -> int:
    """Validate the arguments and print the table."""
    for flag, value in (("--seq-len", args.seq_len), ("--batch", args.batch)):
        if value < 1:
            raise DseError(f"must be a positive integer, got {value}", where=f"dse workloads {flag}",
                           accepted="an integer >= 1")
    if args.model.strip().lower() == "all":
        names = list_models()
    else:
        try:
            names = [get_model(args.model).name]
        except DseError as err:
            raise DseError(err.message, where="dse workloads --model",
                           accepted=f"all, {err.accepted}" if err.accepted else None) from None
    print(f"seq_len {args.seq_len}, batch {args.batch}; softmax/layernorm: element operations (one per element per sweep)")
    print(tabulate(rows(names, args.seq_len, args.batch), headers=HEADERS, disable_numparse=True))
    return 0
