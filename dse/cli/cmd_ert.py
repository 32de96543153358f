"""``dse ert --arch NAME | --spec FILES... [--ert FILE] [--art FILE]``: print energy per action and area.

Estimates the energy (pJ) of every action of every storage and compute level and
the area (um^2) of one instance, with the source of each number, the way
Accelergy would -- from the shipped ``estimation_tables/`` (plus ``--tables``)
and the spec's compound components.  ``--ert`` / ``--art`` take an Accelergy
``ERT.yaml`` / ``ART.yaml`` whose entries replace the estimates.  ``--write-ert``
/ ``--write-art`` save the result in Accelergy's format.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from tabulate import tabulate

from dse.energy.ert import (
    EnergyAreaTables,
    estimate,
    override,
    read_accelergy_art,
    read_accelergy_ert,
    write_art_yaml,
    write_ert_yaml,
)
from dse.energy.estimators import Estimators
from dse.energy.tables import load_tables
from dse.errors import DseError
from dse.cli.args import check_output_file, parse_assignments


def arch_root() -> Path:
    """The shipped ``arch/`` folder."""
    from dse.spec.library import ARCH_DIR

    return ARCH_DIR


def resolve_arch(name: str, root: Path | None = None) -> list[Path]:
    """``arch/<name>/*.yaml`` (sorted); :class:`DseError` listing the available names otherwise."""
    root = root or arch_root()
    available = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    folder = root / name
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    if not files:
        raise DseError(
            f"no shipped architecture named {name!r}" + ("" if folder.is_dir() else f" (no folder {folder})"),
            where="dse ert --arch",
            accepted=(", ".join(available) if available else "none shipped yet; use --spec FILES...")
            + f" (folders under {root} holding *.yaml)",
        )
    return files


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ert`` subcommand."""
    p = subparsers.add_parser(
        "ert",
        help="estimate energy per action (pJ) and area (um^2) of each level, Accelergy-style",
        description="Estimate the energy reference table (energy per action in pJ: storage read/write/update "
        "per vector access of block_size words, leak per cycle per instance; compute per operation) and "
        "area (um^2 per instance) of every storage and compute level of an architecture, with the source "
        "of each number, from the shipped estimation tables and the spec's compound components.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--arch", metavar="NAME", help="a shipped architecture: loads arch/NAME/*.yaml")
    src.add_argument("--spec", nargs="+", metavar="FILE",
                     help="YAML files, directories or glob patterns (architecture, components, variables)")
    p.add_argument("--ert", metavar="FILE", help="Accelergy ERT.yaml whose entries replace the estimates")
    p.add_argument("--art", metavar="FILE", help="Accelergy ART.yaml whose areas replace the estimates")
    p.add_argument("--tables", nargs="+", default=[], metavar="PATH",
                   help="extra estimation-table folders or *.table.yaml files (searched before the shipped ones)")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="override a spec variable (number or expression); may be repeated")
    p.add_argument("--set", nargs="+", default=[], metavar="KNOB=VALUE",
                   help="architecture knob values for --arch (see `dse archs`)")
    p.add_argument("--no-scales", action="store_true",
                   help="ignore compound energy_scale/area_scale (older Accelergy behaviour)")
    p.add_argument("--sources", action="store_true", help="print where every number came from")
    p.add_argument("--estimator", choices=("tables", "live"), default="tables",
                   help="tables: the shipped estimation_tables (default, pure Python); live: call the hwcomponents "
                   "models (CACTI, Aladdin) directly, cached on disk (needs pip install -e \".[cacti]\", Python >= 3.12)")
    p.add_argument("--write-ert", metavar="FILE", help="write the result as an Accelergy ERT.yaml")
    p.add_argument("--write-art", metavar="FILE", help="write the result as an Accelergy ART.yaml")
    p.set_defaults(func=run)


def energy_rows(tables: EnergyAreaTables, sources: bool) -> tuple[list[str], list[list[object]]]:
    """One row per (component, action): name, class, instances, action, energy, [source]."""
    headers = ["component", "class", "instances", "action", "energy (pJ)"] + (["source"] if sources else [])
    rows: list[list[object]] = []
    for c in tables.components:
        for i, (action, e) in enumerate(c.actions.items()):
            first = i == 0
            row: list[object] = [c.name if first else "", c.component_class if first else "",
                                 c.instances if first else "", action, f"{e.energy_pj:.6g}"]
            if sources:
                row.append(e.source)
            rows.append(row)
    return headers, rows


def area_rows(tables: EnergyAreaTables, sources: bool) -> tuple[list[str], list[list[object]]]:
    """One row per component: area per instance and total."""
    headers = ["component", "instances", "area (um^2)", "total area (um^2)"] + (["source"] if sources else [])
    rows: list[list[object]] = []
    for c in tables.components:
        if c.area is None:
            continue
        row: list[object] = [c.name, c.instances, f"{c.area.area_um2:.6g}", f"{c.area.area_um2 * c.instances:.6g}"]
        if sources:
            row.append(c.area.source)
        rows.append(row)
    return headers, rows


def run(args: argparse.Namespace) -> int:
    """Load, estimate, apply overrides, print (and optionally write) the tables."""
    from dse.spec.loader import load_spec

    for path, flag in ((args.write_ert, "--write-ert"), (args.write_art, "--write-art")):
        if path:
            check_output_file(path, flag, "gemmini.ERT.yaml")
    variables: dict = parse_assignments(args.var, "dse ert --var")
    if args.arch and (Path(args.arch) / "knobs.yaml").exists() or (arch_root() / str(args.arch) / "knobs.yaml").exists():
        # a library architecture: its system, components and constraints for these knob values
        from dse.cli.args import typed
        from dse.spec.library import resolve_architecture

        bundle = resolve_architecture(args.arch, typed(parse_assignments(args.set, "dse ert --set", "pe_rows=32", "knob")),
                                      where="dse ert --set")
        files, variables = list(bundle.files), {**bundle.values, **variables}
    elif args.set:
        raise DseError("--set needs a library architecture (--arch NAME with a knobs.yaml)", "dse ert --set",
                       "--arch NAME --set KNOB=VALUE, or --var NAME=VALUE with --spec")
    else:
        files = resolve_arch(args.arch) if args.arch else args.spec
    spec = load_spec(files, variables=variables)
    estimators = Estimators.default()
    user_sets = load_tables(args.tables) if args.tables else ()
    if args.estimator == "live":
        from dse.energy.live import live_estimators

        estimators = live_estimators(estimators, user_sets)
    if user_sets:
        estimators = estimators.with_tables(*user_sets)
    tables = estimate(spec, estimators=estimators, apply_scales=not args.no_scales)
    if args.ert:
        tables = override(tables, read_accelergy_ert(args.ert), where=args.ert)
    if args.art:
        tables = override(tables, read_accelergy_art(args.art), where=args.art)
    print("Energy per action (storage: per vector access of block_size words; leak: per cycle per instance)")
    headers, rows = energy_rows(tables, args.sources)
    print(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    print()
    print("Area per component")
    headers, rows = area_rows(tables, args.sources)
    print(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    total = sum(c.area.area_um2 * c.instances for c in tables.components if c.area is not None)
    print(f"\nTotal area: {total:.6g} um^2 ({total / 1e6:.4g} mm^2)")
    if args.write_ert:
        write_ert_yaml(args.write_ert, tables)
        print(f"wrote {args.write_ert}")
    if args.write_art:
        write_art_yaml(args.write_art, tables)
        print(f"wrote {args.write_art}")
    return 0
