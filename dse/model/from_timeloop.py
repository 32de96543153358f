"""Recover a mapping and per-access energies from a Timeloop ``stats.txt``.

Timeloop's stats list each level's temporal loops and kept data spaces but (for
v4 container fan-outs) not the spatial loops; those are the per-dimension residue
``bound / product of temporal factors``, assigned to the fan-outs in the one way
that satisfies the spec's spatial constraints and fan-out sizes and reproduces the
reported utilized instances.
"""
from __future__ import annotations

import math
from itertools import product as iproduct
from math import prod

from dse.errors import DseError
from dse.model.energies import ActionEnergies, LevelEnergies
from dse.spec.mapping import Mapping, SpatialMapping, TemporalMapping, validate_mapping
from dse.spec.timeloop_stats import TimeloopStats, number_in
from dse.spec.types import Architecture, Constraint, SpatialLevel, StorageLevel, Workload


def energies_from_stats(stats: TimeloopStats) -> ActionEnergies:
    """Per-scalar-access energy of every (level, data space), leakage and compute energy.

    Per data space: ``Energy (per-instance) / (reads + fills + updates)`` — exact,
    unlike the 2-decimal ``Energy (per-scalar-access)`` line.
    """
    levels = {}
    for lvl in stats.levels:
        if lvl.is_compute:
            continue
        scalar = {}
        for ds in lvl.data_spaces:
            n = ds.get("Scalar reads (per-instance)") + ds.get("Scalar fills (per-instance)") + ds.get("Scalar updates (per-instance)")
            scalar[ds.name] = ds.get("Energy (per-instance)") / n if n else 0.0
        leak_total = number_in(lvl.specs.get("Leakage energy (total)", "0")) or 0.0
        levels[lvl.name] = LevelEnergies(scalar_pj=scalar, leak_total_pj=leak_total)
    comp = stats.compute
    computes = comp.stats["Computes (total)"]
    compute_pj = comp.stats["Energy (total)"] / computes if computes else 0.0
    area = {}
    for lvl in stats.levels:
        a = lvl.specs.get("Area") if not lvl.is_compute else None
        if a:
            area[lvl.name] = number_in(a) or 0.0
    _check_energies(stats.path, levels, compute_pj, area)
    return ActionEnergies(levels, compute_pj, area, source=f"Timeloop stats {stats.path}")


def _check_energies(path, levels, compute_pj: float, area: dict) -> None:
    """Energies and areas read from a stats file are finite and non-negative (bad input, not a model bug)."""
    values = [(f"{n} {ds} energy per access", v) for n, le in levels.items() for ds, v in le.scalar_pj.items()]
    values += [(f"{n} leakage energy", le.leak_total_pj) for n, le in levels.items()]
    values += [("compute energy per compute", compute_pj)] + [(f"{n} area", v) for n, v in area.items()]
    for what, v in values:
        if not math.isfinite(v) or v < 0:
            raise DseError(f"the stats file gives {what} = {v}", str(path),
                           "a Timeloop stats file with finite, non-negative energies, counts and areas")


def mapping_from_stats(stats: TimeloopStats, arch: Architecture, workload: Workload,
                       constraints: tuple[Constraint, ...] = ()) -> Mapping:
    """The mapping a Timeloop stats.txt or map.txt reports.

    Levels the file names that are fan-outs here (timeloopfe's dummy ``inter_<C>_spatial`` levels, by any
    of their names) carry that fan-out's spatial loops; their temporal loops, if any, run innermost at the
    storage level directly above.  Spatial loops printed on a storage level belong to the fan-out below it.
    With printed spatial loops (map.txt) they are the spatial mapping; without (stats.txt prints temporal
    loops only) the spatial factors are inferred and must reproduce the printed utilized instances.
    """
    from dse.spec.mapping_yaml import _below_storage, _resolve_fanout, _spatial_fanout

    names = {s.name for s in arch.storage_levels}
    by_name = {l.name: l for l in stats.storage}
    missing = [l.name for l in stats.storage if l.name not in names and _resolve_fanout(arch, l.name) is None]
    if missing:
        raise DseError(f"stats file names level(s) {missing} that the spec does not have", stats.path,
                       f"a spec with levels {', '.join(s.name for s in arch.storage_levels)}")
    extra_loops: dict[str, list[tuple[str, int]]] = {}
    explicit: dict[str, tuple[list, list]] = {}
    spatial_res: dict[str, dict[str, int]] = {}
    for sl in stats.storage:
        fan = _resolve_fanout(arch, sl.name) if sl.name not in names else None
        if fan is not None and sl.kept:
            raise DseError(f"level '{sl.name}' keeps {list(sl.kept)}, but it is the fan-out '{fan.name}' here", stats.path,
                           "a stats/map file for this spec (timeloopfe's dummy levels keep nothing)")
        for d, b, tag in sl.loops:
            if b <= 1:
                continue
            if tag is not None:
                target = fan if fan is not None else _spatial_fanout(sl.name, arch, stats.path)
                explicit.setdefault(target.name, ([], []))[0 if tag == "Spatial-X" else 1].append((d, b))
                spatial_res.setdefault(target.name, {}).update({rd: r for rd, rt, r in sl.residuals if rd == d and rt == tag})
            elif fan is not None:
                above = _below_storage(arch, fan)
                if above is None:
                    raise DseError(f"temporal loop {d}{b} on '{sl.name}', which is a fan-out with no storage level "
                                   "directly above it here", stats.path, "a stats/map file for this spec")
                extra_loops.setdefault(above, []).append((d, b))
    temporal = []
    for lvl in arch.storage_levels:
        sl = by_name.get(lvl.name)
        if sl is None:
            raise DseError(f"spec level '{lvl.name}' is missing from the stats file", stats.path,
                           "stats produced for this spec")
        loops = tuple((d, b) for d, b, tag in sl.loops if tag is None and b > 1) + tuple(extra_loops.get(lvl.name, ()))
        res = tuple(sorted((d, r) for d, tag, r in getattr(sl, "residuals", ()) if tag is None))
        temporal.append(TemporalMapping(lvl.name, loops, frozenset(sl.kept), res))
    if explicit:
        spatial = tuple(SpatialMapping(f.name, tuple(explicit[f.name][0]), tuple(explicit[f.name][1]),
                                       tuple(sorted(spatial_res.get(f.name, {}).items())))
                        for f in arch.spatial_levels if f.name in explicit)
        m = Mapping(tuple(temporal), spatial)
        validate_mapping(m, arch, workload, stats.path)
        return m
    residue = {d: workload.bounds[d] // prod(t.factor(d) for t in temporal) for d in workload.dimensions}
    for d in workload.dimensions:
        if prod(t.factor(d) for t in temporal) * residue[d] != workload.bounds[d]:
            raise DseError(f"temporal factors of {d} do not divide its size {workload.bounds[d]}", stats.path,
                           "a stats file for this workload; " + _NEST_HINT)
    util = {l.name: int(max((ds.get("Utilized instances (max)") for ds in l.data_spaces), default=0)) for l in stats.storage}
    spatial = _assign_spatial(arch, workload, residue, constraints, util, stats.path)
    m = Mapping(tuple(temporal), spatial)
    validate_mapping(m, arch, workload, stats.path)
    return m


_NEST_HINT = ("Timeloop prints only the first data space's loop nest in stats.txt, so a level above that data "
              "space's outermost keeper shows no loops; give the run's map.txt (compare-timeloop --map, "
              "dse model --mapping)")


def _assign_spatial(arch, workload, residue, constraints, util, where) -> tuple[SpatialMapping, ...]:
    fans = arch.spatial_levels
    if not fans:
        if any(v > 1 for v in residue.values()):
            raise DseError(f"the stats file's temporal loops leave {({d: v for d, v in residue.items() if v > 1})} "
                           "for spatial loops, but the architecture has no fan-out", where, _NEST_HINT)
        return ()
    fixed: dict[str, dict[str, int]] = {f.name: {} for f in fans}
    for c in constraints:
        if c.type == "spatial" and c.target in fixed:
            for fc in c.factors:
                if fc.op == "=" and fc.value > 0:
                    fixed[c.target][fc.dim] = fc.value
    dims = [d for d in workload.dimensions if residue[d] > 1]
    # every way of splitting each residual dimension's factor over the fan-outs
    def splits(n: int, parts: int):
        if parts == 1:
            yield (n,)
            return
        for a in range(1, n + 1):
            if n % a == 0:
                for rest in splits(n // a, parts - 1):
                    yield (a,) + rest
    per_dim = [list(splits(residue[d], len(fans))) for d in dims]
    best = None
    for choice in iproduct(*per_dim):
        ok = True
        for fi, f in enumerate(fans):
            used = prod(choice[di][fi] for di in range(len(dims)))
            if used > f.fanout:
                ok = False
                break
            for di, d in enumerate(dims):
                want = fixed[f.name].get(d)
                if want is not None and choice[di][fi] != want:
                    ok = False
            for d, want in fixed[f.name].items():
                if d not in dims and want != 1:
                    ok = False
        if not ok:
            continue
        xy = _split_xy(fans, dims, choice)
        if xy is None:
            continue
        score = _util_mismatch(arch, fans, dims, choice, util)
        if best is None or score < best[0]:
            best = (score, xy)
            if score == 0:
                break
    if best is None:
        raise DseError(f"cannot place the spatial factors {dict((d, residue[d]) for d in dims)} left by the stats "
                       f"file's temporal loops on the fan-outs "
                       f"{', '.join(f'{f.name} ({f.fanout_x}x{f.fanout_y})' for f in fans)} under the spatial constraints",
                       where, "a stats file produced for this spec and constraints; " + _NEST_HINT)
    if best[0]:
        wrong = _util_report(arch, fans, best[1], util)
        raise DseError(f"no placement of the spatial factors {dict((d, residue[d]) for d in dims)} reproduces the "
                       f"utilized instances Timeloop printed ({wrong}); the reconstructed mapping would contradict "
                       "the stats file", where, _NEST_HINT)
    return best[1]


def _util_report(arch, fans, spatial, util) -> str:
    used = {s.target: s.used_x * s.used_y for s in spatial}
    out, cum = [], 1
    for n in arch.nodes:
        if isinstance(n, SpatialLevel):
            cum *= used.get(n.name, 1)
        elif isinstance(n, StorageLevel) and util.get(n.name) and util[n.name] != cum:
            out.append(f"{n.name}: printed {util[n.name]}, reconstructed {cum}")
    return "; ".join(out)


def _split_xy(fans, dims, choice):
    out = []
    for fi, f in enumerate(fans):
        factors = [(d, choice[di][fi]) for di, d in enumerate(dims) if choice[di][fi] > 1]
        # greedy: fill X first with dims that fit, then Y
        x, y = [], []
        px = py = 1
        for d, v in factors:
            if px * v <= f.fanout_x:
                x.append((d, v))
                px *= v
            elif py * v <= f.fanout_y:
                y.append((d, v))
                py *= v
            else:
                return None
        out.append(SpatialMapping(f.name, tuple(x), tuple(y)))
    return tuple(out)


def _util_mismatch(arch, fans, dims, choice, util) -> int:
    """How many storage levels' utilized instances this placement gets wrong."""
    bad = 0
    cum = 1
    fi = 0
    for n in arch.nodes:
        if isinstance(n, SpatialLevel):
            idx = [f.name for f in fans].index(n.name)
            cum *= prod(choice[di][idx] for di in range(len(dims)))
            fi += 1
        elif isinstance(n, StorageLevel):
            if util.get(n.name) and util[n.name] != cum:
                bad += 1
    return bad
