"""``dse spec FILES... [--var NAME=VALUE ...]``: load a spec and print what was understood."""
from __future__ import annotations

import argparse

from tabulate import tabulate

from dse.spec import load_spec
from dse.spec.summary import summary_tables
from dse.cli.args import parse_assignments


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


def run(args: argparse.Namespace) -> int:
    """Load the spec and print its tables (errors become exit code 2 via ``run_guarded``)."""
    spec = load_spec(args.files, variables=parse_assignments(args.var, "dse spec --var"))
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
