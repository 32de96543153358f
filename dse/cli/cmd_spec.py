"""``dse spec FILES... [--var NAME=VALUE ...]``: load a spec and print what was understood."""
from __future__ import annotations

import argparse

from tabulate import tabulate

from dse.errors import DseError
from dse.spec import load_spec
from dse.spec.summary import summary_tables


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``spec`` subcommand."""
    p = subparsers.add_parser(
        "spec",
        help="load Timeloop v0.3/v0.4 YAML files and print the levels, workload, constraints and mapper options",
        description="Load and merge Timeloop/Accelergy YAML files (files, directories or glob patterns; "
        "later files override earlier ones, constraints accumulate) and print what was understood: "
        "levels outermost first with instances, meshes, fan-outs, sizes and bandwidths, the data spaces "
        "each level keeps or bypasses, dimension sizes and MACs, constraints per target and mapper options.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="YAML files, directories or glob patterns")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="override a variable (number or expression); may be repeated")
    p.set_defaults(func=run)


def parse_vars(items: list[str]) -> dict[str, str]:
    """``["DIM=16", "SEQ_LENGTH=512"]`` -> ``{"DIM": "16", "SEQ_LENGTH": "512"}``."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise DseError(f"bad variable '{item}'", where="dse spec --var", accepted="NAME=VALUE, e.g. --var DIM=16")
        out[name.strip()] = value.strip()
    return out


def run(args: argparse.Namespace) -> int:
    """Load the spec and print its tables (errors become exit code 2 via ``run_guarded``)."""
    spec = load_spec(args.files, variables=parse_vars(args.var))
    print("Loaded: " + ", ".join(spec.sources))
    for title, headers, rows in summary_tables(spec):
        print()
        print(title)
        print("-" * len(title))
        print(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True) if rows else "(none)")
    if spec.warnings:
        print()
        print("Warnings")
        print("--------")
        for w in spec.warnings:
            print(f"- {w}")
    return 0
