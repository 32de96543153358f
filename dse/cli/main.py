"""The ``dse`` console script.

Subcommands live in ``dse/cli/cmd_*.py`` modules; each exposes
``register(subparsers) -> None`` which adds its parser and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit code).
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from dse.cli.errors import run_guarded


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dse",
        description="Design-space exploration of transformer layers on spatial accelerators "
        "(Timeloop v4 / Accelergy formats, no Timeloop needed).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import dse.cli as cli_pkg

    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"dse.cli.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run_guarded(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
