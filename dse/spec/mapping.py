"""Typed mappings and Timeloop mapping-YAML reading/writing.

A :class:`Mapping` gives, for every storage level (outermost first), its temporal
loops in order (outer to inner) and the data spaces it keeps; for every fan-out,
its spatial factors split over X and Y.  Loops of bound 1 may be omitted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any, Mapping as TMapping, Sequence

import yaml

from dse.errors import MappingError
from dse.spec.types import Architecture, SpatialLevel, StorageLevel, Workload
from dse.spec.yaml_io import loads_yaml


@dataclass(frozen=True)
class TemporalMapping:
    """Temporal loops of one storage level, outermost first: ``((dim, bound), ...)``."""

    target: str
    loops: tuple[tuple[str, int], ...]
    keep: frozenset[str]
    # imperfect factorization: ((dim, r), ...) -- that dim's loop here runs only r iterations in its
    # last pass (when every outer loop of the dim is in its last iteration): Timeloop's residual_end
    residuals: tuple[tuple[str, int], ...] = ()

    def factor(self, dim: str) -> int:
        return prod(b for d, b in self.loops if d == dim)

    def residual(self, dim: str) -> int | None:
        return dict(self.residuals).get(dim)


@dataclass(frozen=True)
class SpatialMapping:
    """Spatial factors at one fan-out, split into X and Y (``((dim, factor), ...)``)."""

    target: str
    x: tuple[tuple[str, int], ...] = ()
    y: tuple[tuple[str, int], ...] = ()
    residuals: tuple[tuple[str, int], ...] = ()  # as TemporalMapping.residuals (the dim's one spatial loop)

    def factor(self, dim: str) -> int:
        return prod(b for d, b in self.x + self.y if d == dim)

    def residual(self, dim: str) -> int | None:
        return dict(self.residuals).get(dim)

    @property
    def used_x(self) -> int:
        return prod(b for _, b in self.x)

    @property
    def used_y(self) -> int:
        return prod(b for _, b in self.y)


@dataclass(frozen=True)
class Mapping:
    """A complete mapping: one entry per storage level and per fan-out."""

    temporal: tuple[TemporalMapping, ...]
    spatial: tuple[SpatialMapping, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)

    def level(self, name: str) -> TemporalMapping:
        for t in self.temporal:
            if t.target == name:
                return t
        raise KeyError(name)

    def fanout(self, name: str) -> SpatialMapping:
        for s in self.spatial:
            if s.target == name:
                return s
        return SpatialMapping(name)


# --------------------------------------------------------------------------- validation
def validate_mapping(mapping: Mapping, arch: Architecture, workload: Workload, where: str = "mapping") -> None:
    """Raise :class:`MappingError` if the mapping does not fit the architecture/workload.

    Checks level names, dimension names, that factors multiply to each dimension's
    bound (perfect factorization), fan-out sizes, and that data spaces named in
    ``keep`` exist.  Buffer capacity is checked by the model (it knows tile sizes).
    """
    storage = {s.name: s for s in arch.storage_levels}
    fanouts = {s.name: s for s in arch.spatial_levels}
    dims = set(workload.dimensions)
    ds_names = {d.name for d in workload.data_spaces}
    for t in mapping.temporal:
        if t.target not in storage:
            raise MappingError(f"unknown storage level '{t.target}'", where, f"one of {', '.join(storage)}")
        for d, b in t.loops:
            if d not in dims:
                raise MappingError(f"level '{t.target}' names unknown dimension '{d}'", where, ", ".join(workload.dimensions))
            if b < 1:
                raise MappingError(f"level '{t.target}' has non-positive factor {d}={b}", where, "positive integers")
        bad = set(t.keep) - ds_names
        if bad:
            raise MappingError(f"level '{t.target}' keeps unknown data space(s) {sorted(bad)}", where, ", ".join(sorted(ds_names)))
    missing = set(storage) - {t.target for t in mapping.temporal}
    if missing:
        raise MappingError(f"no entry for storage level(s) {sorted(missing)}", where, "one temporal entry per storage level")
    for s in mapping.spatial:
        if s.target not in fanouts:
            raise MappingError(f"unknown fan-out '{s.target}' for spatial factors", where, f"one of {', '.join(fanouts) or '(none: this architecture has no fan-out)'}")
        f = fanouts[s.target]
        for d, b in s.x + s.y:
            if d not in dims:
                raise MappingError(f"fan-out '{s.target}' names unknown dimension '{d}'", where, ", ".join(workload.dimensions))
        if s.used_x > f.fanout_x or s.used_y > f.fanout_y:
            raise MappingError(
                f"fan-out '{s.target}' uses {s.used_x}x{s.used_y} (X x Y) instances but has only {f.fanout_x}x{f.fanout_y}",
                where, f"X factors multiplying to <= {f.fanout_x} and Y factors to <= {f.fanout_y}")
    check_factor_products(mapping, arch, workload, where)


def dim_loops(mapping: Mapping, arch: Architecture, dim: str) -> list[tuple[str, int, int | None]]:
    """The loops of ``dim`` in nest order, outer to inner: ``(level or fan-out name, factor, residual)``."""
    out = []
    for n in arch.nodes:
        if isinstance(n, StorageLevel):
            t = mapping.level(n.name)
            f, r = t.factor(dim), t.residual(dim)
        elif isinstance(n, SpatialLevel):
            s = mapping.fanout(n.name)
            f, r = s.factor(dim), s.residual(dim)
        else:
            continue
        if f > 1:
            out.append((n.name, f, r if r is not None and r != f else None))
    return out


def covered_extent(loops: Sequence[tuple[str, int, int | None]]) -> int:
    """Timeloop's extent of a dimension: (((r_n - 1) * P_n-1 + (r_n-1 - 1)) ... ) + 1 over loops outer to inner."""
    total = 0
    for _, f, r in loops:
        total = total * f + ((r if r is not None else f) - 1)
    return total + 1


def check_factor_products(mapping: Mapping, arch: Architecture, workload: Workload, where: str = "mapping") -> None:
    """Factors must cover each dimension exactly; residuals: at most one per dimension, on a loop that has an
    outer loop of the same dimension, 2 <= r < factor on temporal loops (1 <= r on the innermost storage
    level when no fan-out is below it; 1 <= r < factor on spatial loops,
    with at most one temporal loop of the dimension outside, of factor >= 3), and only on dimensions that
    every data space indexes directly (a rank of that dimension alone).  These keep the model exact
    (docs/model.md, *Imperfect factorization*)."""
    for d in workload.dimensions:
        loops = dim_loops(mapping, arch, d)
        res = [(i, l) for i, l in enumerate(loops) if l[2] is not None]
        if not res:
            total = prod(f for _, f, _ in loops)
            if total != workload.bounds[d]:
                raise MappingError(
                    f"factors of dimension {d} multiply to {total} but its size is {workload.bounds[d]}",
                    where, f"temporal and spatial factors of {d} whose product is {workload.bounds[d]}")
            continue
        if len(res) > 1:
            raise MappingError(f"dimension {d} has residuals on {len(res)} loops", where,
                               "a residual (imperfect factor) on at most one loop per dimension")
        i, (name, f, r) = res[0]
        spatial = name in {s.name for s in arch.spatial_levels}
        # r = 1 is exact on spatial loops and on the innermost storage level when no fan-out is below it:
        # no level has that loop among its steps, so a one-iteration last pass hides no reuse
        nodes = list(arch.nodes)
        innermost = arch.storage_levels[-1]
        bottom = name == innermost.name and not any(isinstance(n, SpatialLevel) for n in nodes[nodes.index(innermost):])
        lowest = 1 if spatial or bottom else 2
        if i == 0 or not lowest <= r < f:
            raise MappingError(f"residual {d}={f},{r} at {name} is not supported", where,
                               f"an outer loop of {d} above it and {lowest} <= residual < factor")
        if spatial:
            # an instance past the residual skips the last outer iteration; with a single temporal outer loop
            # of factor 2 (or several temporal outer loops) that loop can degenerate to one iteration and
            # Timeloop's delta analysis then finds extra reuse, which the model does not count
            t_outer = [f0 for name0, f0, _ in loops[:i] if name0 not in {s.name for s in arch.spatial_levels}]
            if len(t_outer) > 1 or (t_outer and t_outer[0] < 3):
                raise MappingError(f"spatial residual {d}={f},{r} at {name} needs at most one temporal loop of {d} "
                                   f"outside it, with factor >= 3", where, "a supported imperfect factorization")
        for ds in workload.data_spaces:
            for rank in ds.projection:
                rank = [(t, c) for t, c in rank if workload.bounds[t] > 1]  # bound-1 terms add nothing
                if any(t == d for t, _ in rank) and (len(rank) > 1 or int(workload.coefficients.get(rank[0][1], 1)
                                                                         if rank[0][1] else 1) != 1):
                    raise MappingError(f"imperfect factor on {d}, which {ds.name} indexes in a compound rank", where,
                                       "imperfect factors only on dimensions indexed alone")
        ext = covered_extent(loops)
        if ext != workload.bounds[d]:
            raise MappingError(f"factors of dimension {d} (with residual) cover {ext} but its size is {workload.bounds[d]}",
                               where, f"Timeloop's residual rule: ((N_outer - 1) * factor + residual) * inner = {workload.bounds[d]}")


# --------------------------------------------------------------------------- Timeloop YAML
def mapping_from_dict(data: TMapping[str, Any], arch: Architecture, workload: Workload, where: str = "mapping") -> Mapping:
    """Build a :class:`Mapping` from Timeloop's ``mapping:`` list (or a file's dict holding one).

    Every spelling Timeloop reads and writes is accepted (:mod:`dse.spec.mapping_yaml`): ``D=4`` or
    compact ``D4`` factors, residuals ``L16,5``, targets that are storage levels, fan-outs (by name,
    container name or timeloopfe's ``inter_<C>_spatial``), networks or numeric storage-level ids.
    Data spaces a level neither keeps nor bypasses are kept.
    """
    from dse.spec.mapping_yaml import mapping_from_entries

    entries = data.get("mapping", data) if isinstance(data, dict) else data
    return mapping_from_entries(entries, arch, workload, where)


def load_mapping(path: str | Path, arch: Architecture, workload: Workload) -> Mapping:
    """Read a Timeloop mapping YAML file (``mapping:`` list)."""
    p = Path(path)
    try:
        data = loads_yaml(p.read_text(encoding="utf-8"), str(p))  # bounded: depth, alias bombs, size
    except FileNotFoundError:
        raise MappingError("file not found", str(p), "a Timeloop mapping YAML file") from None
    except UnicodeDecodeError:
        raise MappingError("file is not UTF-8 text", str(p), "a Timeloop mapping YAML file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        pos = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise MappingError(f"malformed YAML{pos}", str(p), "a Timeloop mapping YAML file") from None
    return mapping_from_dict(data or {}, arch, workload, str(p))


def mapping_to_dict(mapping: Mapping, workload: Workload, arch: Architecture | None = None) -> dict[str, Any]:
    """Timeloop's mapping YAML structure for ``mapping``.

    With ``arch``: the form ``timeloop-model`` reads back for the spec timeloopfe makes of ``arch``
    (targets are Timeloop's storage levels, timeloopfe's ``inter_<C>_spatial`` dummy levels included;
    factors in Timeloop's compact spelling).  Without: dse's own spelling (spatial entries target
    fan-outs by name), which dse reads too.
    """
    if arch is not None:
        from dse.spec.mapping_yaml import timeloop_entries

        return {"mapping": timeloop_entries(mapping, arch, workload)}
    out: list[dict[str, Any]] = []
    all_ds = [d.name for d in workload.data_spaces]
    for t in mapping.temporal:
        inner_first = [d for d, _ in reversed(t.loops)]
        perm = inner_first + [d for d in workload.dimensions if d not in inner_first]
        out.append({"target": t.target, "type": "temporal",
                    "factors": " ".join(f"{d}={_fr(t.factor(d), t.residual(d))}" for d in workload.dimensions),
                    "permutation": "".join(perm) if all(len(d) == 1 for d in perm) else perm})
        out.append({"target": t.target, "type": "datatype",
                    "keep": [d for d in all_ds if d in t.keep],
                    "bypass": [d for d in all_ds if d not in t.keep]})
    for s in mapping.spatial:
        xd = [d for d, _ in s.x]
        yd = [d for d, _ in s.y]
        perm = xd + yd + [d for d in workload.dimensions if d not in xd and d not in yd]
        out.append({"target": s.target, "type": "spatial",
                    "factors": " ".join(f"{d}={_fr(s.factor(d), s.residual(d))}" for d in workload.dimensions),
                    "permutation": "".join(perm) if all(len(d) == 1 for d in perm) else perm,
                    "split": len(xd)})
    return {"mapping": out}


def _fr(f: int, r: int | None) -> str:
    """A factor in Timeloop's syntax: ``16`` or, with a residual, ``16,4``."""
    return f"{f}" if r is None or r == f else f"{f},{r}"


def dump_mapping_yaml(mapping: Mapping, workload: Workload, arch: Architecture | None = None) -> str:
    """YAML text of :func:`mapping_to_dict`."""
    return yaml.safe_dump(mapping_to_dict(mapping, workload, arch), sort_keys=False)


def loops_as_text(mapping: Mapping, arch: Architecture) -> Sequence[str]:
    """One line per level: ``Level: D64 E2 L8 | fanout: X[E16] Y[D16]`` (outer to inner)."""
    lines = []
    for n in arch.nodes:
        if isinstance(n, StorageLevel):
            t = mapping.level(n.name)
            lines.append(f"{n.name}: " + (" ".join(f"{d}{_fr(b, t.residual(d))}" for d, b in t.loops) or "-")
                         + f"  keep={sorted(t.keep)}")
        elif isinstance(n, SpatialLevel):
            s = mapping.fanout(n.name)
            lines.append(f"  {n.name} (spatial): X[" + " ".join(f"{d}{_fr(b, s.residual(d))}" for d, b in s.x) + "] Y["
                         + " ".join(f"{d}{_fr(b, s.residual(d))}" for d, b in s.y) + "]")
    return lines
