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
def _parse_factors(value: Any, where: str, residuals: dict | None = None) -> list[tuple[str, int]]:
    """``D=4 E=16`` or ``[D=4, E=16]``; ``L=16,4`` (Timeloop's residual form) puts 4 in ``residuals``."""
    if value is None:
        return []
    items = value.split() if isinstance(value, str) else list(value)
    out = []
    for item in items:
        text = str(item).replace(" ", "")
        if "=" not in text:
            raise MappingError(f"cannot read factor '{item}'", where, "factors like 'D=4 E=16' or [D=4, E=16]")
        d, v = text.split("=", 1)
        if "," in v and residuals is not None:
            v, rv = v.split(",", 1)
            try:
                residuals[d] = int(rv)
            except ValueError:
                raise MappingError(f"residual in '{item}' is not an integer", where, "factors like 'L=16,4'") from None
        try:
            out.append((d, int(v)))
        except ValueError:
            raise MappingError(f"factor '{item}' is not an integer", where, "factors like 'D=4'") from None
    return out


def _parse_permutation(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [c for c in value.replace(",", " ").split()] if " " in value or "," in value else list(value)
    return [str(v) for v in value]


def mapping_from_dict(data: TMapping[str, Any], arch: Architecture, workload: Workload, where: str = "mapping") -> Mapping:
    """Build a :class:`Mapping` from Timeloop's ``mapping:`` list.

    Entries: ``target``, ``type`` (temporal | spatial | datatype/dataspace/bypass),
    ``factors``, ``permutation`` (Timeloop order: innermost first), ``split``
    (spatial: dims in the permutation before ``split`` go to X, the rest to Y),
    ``keep``/``bypass``.  A spatial entry may target a fan-out or the storage
    level directly above it.  Data spaces a level neither keeps nor bypasses are kept.
    """
    entries = data.get("mapping", data) if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise MappingError("expected a list of mapping entries", where, "mapping: [ {target, type, factors, permutation} ... ]")
    storage_names = [s.name for s in arch.storage_levels]
    all_ds = frozenset(d.name for d in workload.data_spaces)
    temporal: dict[str, list[tuple[str, int]]] = {n: [] for n in storage_names}
    t_res: dict[str, dict[str, int]] = {}
    s_res: dict[str, dict[str, int]] = {}
    keep: dict[str, set[str]] = {n: set(all_ds) for n in storage_names}
    spatial: dict[str, tuple[list, list]] = {}
    for i, e in enumerate(entries):
        w = f"{where}: mapping[{i}]"
        if not isinstance(e, dict) or "target" not in e:
            raise MappingError("entry has no 'target'", w, "a dict with target and type")
        target, kind = str(e["target"]), str(e.get("type", "temporal"))
        if kind in ("datatype", "dataspace", "bypass"):
            if target not in keep:
                raise MappingError(f"unknown storage level '{target}'", w, ", ".join(storage_names))
            k = set(e.get("keep", []) or [])
            b = set(e.get("bypass", []) or [])
            unknown = (k | b) - all_ds
            if unknown:
                raise MappingError(f"unknown data space(s) {sorted(unknown)}", w, ", ".join(sorted(all_ds)))
            keep[target] = (keep[target] | k) - b
            continue
        residuals: dict[str, int] = {}
        factors = dict(_parse_factors(e.get("factors"), w, residuals))
        residuals = {d: r for d, r in residuals.items() if factors.get(d, 1) > 1 and r != factors[d]}
        perm = _parse_permutation(e.get("permutation"))
        order = perm + [d for d in workload.dimensions if d not in perm]  # innermost first
        if kind == "temporal":
            if target not in temporal:
                raise MappingError(f"unknown storage level '{target}'", w, ", ".join(storage_names))
            temporal[target] = [(d, factors[d]) for d in reversed(order) if factors.get(d, 1) > 1]
            if residuals:
                t_res[target] = residuals
        elif kind == "spatial":
            fan = _fanout_for(target, arch, w)
            split = int(e.get("split", len(order)))
            xs = [(d, factors[d]) for d in order[:split] if factors.get(d, 1) > 1]
            ys = [(d, factors[d]) for d in order[split:] if factors.get(d, 1) > 1]
            spatial[fan] = (xs, ys)
            if residuals:
                s_res[fan] = residuals
        else:
            raise MappingError(f"unknown entry type '{kind}'", w, "temporal, spatial, datatype")
    m = Mapping(
        temporal=tuple(TemporalMapping(n, tuple(temporal[n]), frozenset(keep[n]), tuple(sorted(t_res.get(n, {}).items())))
                       for n in storage_names),
        spatial=tuple(SpatialMapping(n, tuple(x), tuple(y), tuple(sorted(s_res.get(n, {}).items())))
                      for n, (x, y) in spatial.items()),
    )
    validate_mapping(m, arch, workload, where)
    return m


def _fanout_for(target: str, arch: Architecture, where: str) -> str:
    """A spatial entry's fan-out: the fan-out itself, or the first one below a storage level."""
    nodes = arch.nodes
    for i, n in enumerate(nodes):
        if n.name != target:
            continue
        if isinstance(n, SpatialLevel):
            return n.name
        for m in nodes[i + 1:]:
            if isinstance(m, SpatialLevel):
                return m.name
            if isinstance(m, StorageLevel):
                break
        raise MappingError(f"level '{target}' has no fan-out below it for spatial factors", where,
                           ", ".join(s.name for s in arch.spatial_levels) or "(no fan-outs)")
    raise MappingError(f"unknown level '{target}'", where, ", ".join(arch.node_names))


def load_mapping(path: str | Path, arch: Architecture, workload: Workload) -> Mapping:
    """Read a Timeloop mapping YAML file (``mapping:`` list)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise MappingError("file not found", str(p), "a Timeloop mapping YAML file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        pos = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise MappingError(f"malformed YAML{pos}", str(p), "a Timeloop mapping YAML file") from None
    return mapping_from_dict(data or {}, arch, workload, str(p))


def mapping_to_dict(mapping: Mapping, workload: Workload) -> dict[str, Any]:
    """Timeloop's mapping YAML structure for ``mapping`` (factors for every dimension)."""
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


def dump_mapping_yaml(mapping: Mapping, workload: Workload) -> str:
    return yaml.safe_dump(mapping_to_dict(mapping, workload), sort_keys=False)


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
