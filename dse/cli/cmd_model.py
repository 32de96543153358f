"""``dse model`` (evaluate one given mapping, like timeloop-model) and ``dse compare-timeloop``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabulate import tabulate

from dse.errors import DseError
from dse.cli.args import check_output_folder, check_outputs_spare_inputs, parse_assignments
from dse.pipeline import energies_for


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="evaluate one given mapping (like timeloop-model)",
                       description="Evaluate one mapping on a spec and write Timeloop-style outputs.")
    p.add_argument("spec_files", nargs="+", metavar="SPEC_FILE", help="Timeloop YAML files (architecture, components, problem, variables...)")
    p.add_argument("--mapping", default=None, help="Timeloop mapping YAML (mapping: [...]) or a Timeloop map.txt / stats.txt "
                   "(default: the 'mapping:' of the spec files, as timeloop-model reads it from its inputs)")
    p.add_argument("--ert", default=None, help="Accelergy ERT.yaml or Timeloop stats.txt overriding the estimated energies")
    p.add_argument("-o", "--out", default=None, help="output folder for timeloop-model.* files")
    p.add_argument("--var", nargs="+", default=(), metavar="NAME=VALUE", help="variable overrides")
    p.set_defaults(func=_model)

    c = sub.add_parser("compare-timeloop", help="re-evaluate a Timeloop stats.txt mapping and compare counts, energy, cycles",
                       description="Take the mapping and per-access energies from a Timeloop stats file, re-evaluate it "
                                   "with our model on the given spec, and print ours beside Timeloop's.")
    c.add_argument("stats", metavar="STATS.txt")
    c.add_argument("spec_files", nargs="+", metavar="SPEC_FILE")
    c.add_argument("--ert", default=None, help="compute our energy from this Accelergy ERT.yaml (Timeloop's own ERT of the run) "
                   "instead of back-computing per-access energies from the stats file, so energy-rule differences show")
    c.add_argument("--map", default=None, metavar="MAP.txt",
                   help="take the loop nest from the run's map.txt (stats.txt prints only the first data space's nest)")
    c.add_argument("--var", nargs="+", default=(), metavar="NAME=VALUE", help="variable overrides")
    c.add_argument("--all", action="store_true", help="print every row (default: counts and energies of kept data spaces)")
    c.set_defaults(func=_compare)


def _load(spec_files, var_items):
    from dse.spec.loader import load_spec

    spec = load_spec(list(spec_files), variables=parse_assignments(var_items, "--var") or None)
    if spec.architecture is None or spec.workload is None:
        raise DseError("the spec files must define an architecture and a problem", "SPEC_FILE",
                       "Timeloop architecture + problem YAML (and components, variables)")
    return spec


def _model(args) -> int:
    from dse.model.nest import evaluate, make_context
    from dse.report.guard import check_result
    from dse.report.timeloop_files import write_outputs
    from dse.spec.mapping import load_mapping

    if args.mapping is None:
        args.mapping = str(_mapping_in_spec_files(args.spec_files))
    if args.out:
        check_output_folder(args.out, "-o/--out")
        check_outputs_spare_inputs(args.out, "timeloop-model", {"SPEC_FILE": args.spec_files, "--mapping": (args.mapping,),
                                                                "--ert": (args.ert,)}, "-o/--out")
    spec = _load(args.spec_files, args.var)
    for warning in spec.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    path = Path(args.mapping)
    if path.suffix == ".txt":
        from dse.model.from_timeloop import mapping_from_stats
        from dse.spec.timeloop_stats import read_loop_nest

        mapping = mapping_from_stats(read_loop_nest(path), spec.architecture, spec.workload, spec.constraints)
    else:
        mapping = load_mapping(path, spec.architecture, spec.workload)
    energies, tables, notes = energies_for(spec, args.ert)
    notes = notes + dummy_level_notes(spec.architecture, energies)
    ctx = make_context(spec.architecture, spec.workload, energies)
    result = evaluate(ctx, mapping)
    if not result.valid:
        raise DseError("the mapping does not fit: " + "; ".join(result.invalid_reasons), str(path),
                       "a mapping whose tiles fit every buffer and whose spatial factors fit every fan-out")
    check_result(result, f"mapping {path}")
    _check_constraints(ctx, mapping, spec.constraints, result.utilization, str(path))
    if args.out:
        write_outputs(Path(args.out), "timeloop-model", ctx, result, tables, notes)
    print(f"Energy: {result.energy_pj / 1e6:.2f} uJ  Cycles: {result.cycles}  Utilization: {100 * result.utilization:.2f}%  "
          f"EDP(J*cycle): {result.edp_j_cycles:.3e}  pJ/Compute: {result.pj_per_compute:.3f}")
    return 0


def dummy_level_notes(arch, energies) -> tuple[str, ...]:
    """Say where timeloopfe's dummy levels cost energy (their ERT entries, e.g. a spec's own dummy_storage class)."""
    out = []
    for fan in arch.spatial_levels:
        le = energies.levels.get(fan.name)
        if le is not None and (le.leak_pj or le.read_pj or le.fill_pj or le.update_pj):
            out.append(f"{fan.name}: timeloopfe's dummy level for container {fan.container} (class dummy_storage) is priced by "
                       f"its ERT entry (leak {le.leak_pj:g} pJ per instance-cycle), as Timeloop charges it; the spec "
                       "defines a compound class named dummy_storage. This leakage is in the total energy, not in a level's")
    return tuple(out)
def _mapping_in_spec_files(spec_files) -> Path:
    """The last spec file with a non-empty top-level ``mapping:`` list (timeloop-model reads its mapping from
    its merged inputs; a timeloopfe-processed model spec carries it there)."""
    from dse.spec.loader import expand_paths
    from dse.spec.yaml_io import load_yaml

    found = None
    for path, _ in expand_paths(list(spec_files)):
        data = load_yaml(path)
        if isinstance(data, dict) and isinstance(data.get("mapping"), list) and data["mapping"]:
            found = path
    if found is None:
        raise DseError("no mapping given and no spec file has a 'mapping:' list", "--mapping",
                       "--mapping MAP.yaml (Timeloop's map.yaml, a v4 mapping file, map.txt or stats.txt), or spec "
                       "files with a top-level 'mapping: [...]' as timeloop-model reads them")
    return found


def _check_constraints(ctx, mapping, constraints, utilization: float, where: str) -> None:
    """A mapping that breaks the spec's constraints is an error, as timeloopfe makes it (the mapping and the
    constraints are combined; a re-specification fails) and timeloop-model does for architecture
    constraints; v0.3 ``mapspace``/``mapspace_constraints`` constraints only steer timeloop-mapper, which
    timeloop-model does not check: a warning."""
    import sys

    from dse.errors import MappingError
    from dse.mapper.legality import constraint_violations

    found = constraint_violations(ctx, mapping, constraints, utilization)
    mapper_only = [v for v in found if all(_mapspace_source(s) for s in v.source.split(" + "))]
    errors = [v for v in found if v not in mapper_only]
    for v in mapper_only:
        print(f"warning: {where}: the mapping breaks a mapspace constraint (timeloop-model does not check these; "
              f"timeloop-mapper would never return this mapping): {v}", file=sys.stderr)
    if errors:
        raise MappingError("the mapping violates the spec's constraints: " + "; ".join(str(v) for v in errors), where,
                           "a mapping that satisfies every constraint of the spec (factors, permutations, keep/bypass, "
                           "including timeloopfe's implied !Parallel bypasses), or spec files without the constraints "
                           "it is not meant to meet")


def _mapspace_source(source: str) -> bool:
    return "mapspace.targets" in source or "mapspace_constraints" in source


def _compare(args) -> int:
    from dse.model.from_timeloop import mapping_from_stats
    from dse.model.nest import evaluate, make_context
    from dse.report.compare import compare
    from dse.spec.timeloop_stats import parse_stats, stats_from_map_txt

    stats = parse_stats(args.stats)
    spec = _load(args.spec_files, args.var)
    nest = stats_from_map_txt(args.map) if args.map else stats
    mapping = mapping_from_stats(nest, spec.architecture, spec.workload, spec.constraints)
    energies, _, _ = energies_for(spec, args.ert if args.ert else args.stats)
    result = evaluate(make_context(spec.architecture, spec.workload, energies), mapping)
    cmp = compare(result, stats)
    rows = [r for r in cmp.rows if args.all or r.quantity in ("reads", "fills", "updates", "energy_pj", "cycles", "computes",
                                                               "energy_uJ", "utilization_%")]
    rows = [r for r in rows if args.all or r.ours or r.timeloop]
    print(tabulate([(r.level, r.data_space, r.quantity, _fmt(r.ours), _fmt(r.timeloop), f"{100 * r.rel_error:.4f}%")
                    for r in rows], headers=["level", "data space", "quantity", "ours", "Timeloop", "rel. diff"], disable_numparse=True))
    print(cmp.summary_line)
    return 0


def _fmt(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.4f}"
