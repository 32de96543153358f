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
    p.add_argument("--phase", choices=("encoder", "prefill", "decode"), default="encoder",
                   help="encoder layers (default), or a decoder's causal prefill of --seq-len tokens, or one decode "
                        "step at --context (decoder models only; docs/workloads.md)")
    p.add_argument("--context", type=int, default=None, metavar="N",
                   help="decode step context: cached tokens + the new one (default: --seq-len + 1)")
    p.add_argument("--causal", choices=("dense", "tiled"), default="dense", help="prefill's masked half (default dense)")
    p.add_argument("--causal-tile", type=int, default=64, metavar="T", help="query tile rows of --causal tiled")
    p.set_defaults(func=run)


def _layers(name: str, seq_len: int, batch: int, phase: str, context: int | None, causal: str, tile: int):
    from dse.workloads import decode_layers, prefill_layers

    if phase == "prefill":
        return prefill_layers(name, seq_len, batch, causal, tile)
    if phase == "decode":
        return decode_layers(name, context or seq_len + 1, batch)
    return model_layers(name, seq_len, batch)


def rows(model_names: list[str], seq_len: int, batch: int, phase: str = "encoder", context: int | None = None,
         causal: str = "dense", tile: int = 64) -> list[tuple]:
    """Table rows: one per layer, then per model the total matmul MACs and point-wise operations."""
    out: list[tuple] = []
    for name in model_names:
        layers = _layers(name, seq_len, batch, phase, context, causal, tile)
        for lp in layers:
            b = lp.workload.bounds
            out.append((lp.model.name, lp.layer + (f" {lp.part}" if getattr(lp, "part", "") else ""), b["E"], b["D"],
                        b["L"], b["N"], b.get("G", 1), lp.multiplicity_per_block, lp.macs_per_instance,
                        lp.macs_per_model))
        model_name = layers[0].model.name
        matmul = sum(lp.macs_per_model for lp in layers if lp.is_matmul)
        pointwise = sum(lp.macs_per_model for lp in layers if not lp.is_matmul)
        out.append((model_name, "total matmul MACs", "", "", "", "", "", "", "", matmul))
        out.append((model_name, "total point-wise ops", "", "", "", "", "", "", "", pointwise))
    return out


def run(args: argparse.Namespace) -> int:
    """Validate the arguments and print the table."""
    for flag, value in (("--seq-len", args.seq_len), ("--batch", args.batch), ("--context", args.context or 1),
                        ("--causal-tile", args.causal_tile)):
        if value < 1:
            raise DseError(f"must be a positive integer, got {value}", where=f"dse workloads {flag}",
                           accepted="an integer >= 1")
    decoder_only = args.phase != "encoder"
    if args.model.strip().lower() == "all":
        names = [n for n in list_models() if not decoder_only or get_model(n).decoder]
    else:
        try:
            names = [get_model(args.model).name]
        except DseError as err:
            raise DseError(err.message, where="dse workloads --model",
                           accepted=f"all, {err.accepted}" if err.accepted else None) from None
    if decoder_only:
        for n in names:  # a decoder, and the context within its positions
            m = get_model(n)
            if not m.decoder:
                raise DseError(f"model {m.name!r} is not a decoder", f"dse workloads --model with --phase {args.phase}",
                               "a decoder model: " + ", ".join(x for x in list_models() if get_model(x).decoder))
            ctx = (args.context or args.seq_len + 1) if args.phase == "decode" else args.seq_len
            if m.max_positions is not None and ctx > m.max_positions:
                raise DseError(f"a context of {ctx} tokens is beyond {m.name}'s {m.max_positions} positions",
                               "dse workloads --context" if args.phase == "decode" else "dse workloads --seq-len",
                               f"at most {m.max_positions}")
        what = (f"decode step at context {args.context or args.seq_len + 1}" if args.phase == "decode" else
                f"causal prefill of {args.seq_len} tokens ({args.causal})")
        print(f"{what}, batch {args.batch}; softmax/layernorm: element operations (one per element per sweep)")
    else:
        print(f"seq_len {args.seq_len}, batch {args.batch}; softmax/layernorm: element operations (one per element per sweep)")
    print(tabulate(rows(names, args.seq_len, args.batch, args.phase, args.context, args.causal, args.causal_tile),
                   headers=HEADERS, disable_numparse=True))
    return 0
