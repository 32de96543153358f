"""``dse archs [NAME ...]``: the shipped architectures (``arch/<name>/``), their layers and knobs.

For every architecture: its description, the layers it runs, and one row per knob
with the default, unit, accepted values and meaning -- everything a ``--set`` or a
hardware-sweep config may change.
"""
from __future__ import annotations

import argparse

from tabulate import tabulate


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``archs`` subcommand."""
    p = subparsers.add_parser(
        "archs",
        help="list the shipped architectures with their knobs, defaults, units and accepted values",
        description="List the shipped architectures (arch/<name>/knobs.yaml): description, supported layers "
        "and every knob a config may set (run.py --set KNOB=VALUE, hardware-sweep config keys).",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="only these architectures (default: all)")
    p.add_argument("--brief", action="store_true", help="one line per architecture, no knob tables")
    p.set_defaults(func=run)


def knob_rows(name: str) -> list[list[str]]:
    """One row per knob: name, default, unit, accepted values, meaning."""
    from dse.spec.library import knobs_of

    rows = []
    for k in knobs_of(name).values():
        default = str(k.default).lower() if isinstance(k.default, bool) else f"{k.default}"
        rows.append([k.name, default, k.unit or "-", k.accepted(), k.meaning])
    return rows


def run(args: argparse.Namespace) -> int:
    from dse.spec.library import list_architectures, resolve_architecture

    names = args.names or list_architectures()
    if not names:
        from dse.errors import DseError
        from dse.spec.library import ARCH_DIR

        raise DseError(f"no shipped architectures found (looked in {ARCH_DIR})", "dse archs",
                       "run from a dse checkout, or set DSE_HOME to one")
    bundles = [resolve_architecture(n) for n in names]  # unknown names: DseError listing the shipped ones
    if args.brief:
        print(tabulate([[b.name, ", ".join(b.layers) or "all", b.description] for b in bundles],
                       headers=["architecture", "layers", "description"], tablefmt="simple"))
        return 0
    for i, b in enumerate(bundles):
        if i:
            print()
        print(f"{b.name}: {b.description}")
        print(f"  layers: {', '.join(b.layers) or 'all'}    folder: {b.directory}")
        print(tabulate(knob_rows(b.name), headers=["knob", "default", "unit", "accepted", "meaning"],
                       tablefmt="simple", disable_numparse=True, maxcolwidths=[None, None, None, 28, 60]))
    print("\nSet knobs with: python run.py LAYER --arch NAME --set KNOB=VALUE ...")
    return 0
