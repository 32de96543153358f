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

    def factor(self, dim: str) -> int:
        return prod(b for d, b in self.loops if d == dim)


@dataclass(frozen=True)
class SpatialMapping:
    """Spatial factors at one fan-out, split into X and Y (``((dim, factor), ...)``)."""

    target: str
    x: tuple[tuple[str, int], ...] = ()
    y: tuple[tuple[str, int], ...] = ()

    def factor(self, dim: str) -> int:
        return prod(b for d, b in self.x + self.y if d == dim)

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
    for d in workload.dimensions:
        total = prod(t.factor(d) for t in mapping.temporal) * prod(s.factor(d) for s in mapping.spatial)
        if total != workload.bounds[d]:
            raise MappingError(
                f"factors of dimension {d} multiply to {total} but its size is {workload.bounds[d]}",
                where, f"temporal and spatial factors of {d} whose product is {workload.bounds[d]}")


# --------------------------------------------------------------------------- Timeloop YAML
def _parse_factors(value: Any, where: str) -> list[tuple[str, int]]:
    if value is None:
        return []
    items = value.split() if isinstance(value, str) else list(value)
    out = []
    for item in items:
        text = str(item).replace(" ", "")
        if "=" not in text:
            raise MappingError(f"cannot read factor '{item}'", where, "factors like 'D=4 E=16' or [D=4, E=16]")
        d, v = text.split("=", 1)
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
        factors = dict(_parse_factors(e.get("factors"), w))
        perm = _parse_permutation(e.get("permutation"))
        order = perm + [d for d in workload.dimensions if d not in perm]  # innermost first
        if kind == "temporal":
            if target not in temporal:
                raise MappingError(f"unknown storage level '{target}'", w, ", ".join(storage_names))
            temporal[target] = [(d, factors[d]) for d in reversed(order) if factors.get(d, 1) > 1]
        elif kind == "spatial":
            fan = _fanout_for(target, arch, w)
            split = int(e.get("split", len(order)))
            xs = [(d, factors[d]) for d in order[:split] if factors.get(d, 1) > 1]
            ys = [(d, factors[d]) for d in order[split:] if factors.get(d, 1) > 1]
            spatial[fan] = (xs, ys)
        else:
            raise MappingError(f"unknown entry type '{kind}'", w, "temporal, spatial, datatype")
    m = Mapping(
        temporal=tuple(TemporalMapping(n, tuple(temporal[n]), frozenset(keep[n])) for n in storage_names),
        spatial=tuple(SpatialMapping(n, tuple(x), tuple(y)) for n, (x, y) in spatial.items()),
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
                    "factors": " ".join(f"{d}={t.factor(d)}" for d in workload.dimensions),
                    "permutation": "".join(perm) if all(len(d) == 1 for d in perm) else perm})
        out.append({"target": t.target, "type": "datatype",
                    "keep": [d for d in all_ds if d in t.keep],
                    "bypass": [d for d in all_ds if d not in t.keep]})
    for s in mapping.spatial:
        xd = [d for d, _ in s.x]
        yd = [d for d, _ in s.y]
        perm = xd + yd + [d for d in workload.dimensions if d not in xd and d not in yd]
        out.append({"target": s.target, "type": "spatial",
                    "factors": " ".join(f"{d}={s.factor(d)}" for d in workload.dimensions),
                    "permutation": "".join(perm) if all(len(d) == 1 for d in perm) else perm,
                    "split": len(xd)})
    return {"mapping": out}


def dump_mapping_yaml(mapping: Mapping, workload: Workload) -> str:
    return yaml.safe_dump(mapping_to_dict(mapping, workload), sort_keys=False)


def loops_as_text(mapping: Mapping, arch: Architecture) -> Sequence[str]:
    """One line per level: ``Level: D64 E2 L8 | fanout: X[E16] Y[D16]`` (outer to inner)."""
    lines = []
    for n in arch.nodes:
        if isinstance(n, StorageLevel):
            t = mapping.level(n.name)
            lines.append(f"{n.name}: " + (" ".join(f"{d}{b}" for d, b in t.loops) or "-") + f"  keep={sorted(t.keep)}")
        elif isinstance(n, SpatialLevel):
            s = mapping.fanout(n.name)
            lines.append(f"  {n.name} (spatial): X[" + " ".join(f"{d}{b}" for d, b in s.x) + "] Y[" + " ".join(f"{d}{b}" for d, b in s.y) + "]")
    return lines
