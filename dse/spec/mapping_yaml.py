"""Timeloop's mapping YAML (``mapping: [...]``) in every spelling Timeloop reads and writes.

Read side (:func:`mapping_from_entries`):

* factors: ``D=4 E=16``, ``[D=4, E=16]``, ``E=1,D=1,L=16`` (timeloopfe) and Timeloop's own
  compact ``E1 D1 L16``; a residual ``L16,5`` / ``L=16,5`` is an imperfect factor (``residual_end``);
  ``D0`` / ``D=0`` means the whole dimension.  Names are matched against the problem's
  dimensions, longest first, so ``EMB16`` is ``EMB`` even when ``E`` is a dimension too.
* permutations: ``EDL``, ``E D L``, ``E,D,L`` or a list, innermost first; missing dimensions
  follow in problem order (Timeloop pads the same way).
* targets: a storage level; a fan-out by its name, by its container's name or by timeloopfe's
  ``inter_<C>_spatial`` (the dummy level Timeloop sees); a storage level for ``spatial`` (the fan-out
  just below it); a network component; or Timeloop's numeric storage-level id (0 = innermost,
  counting timeloopfe's dummy levels).  Entries on a fan-out or network other than ``spatial``
  must be trivial (factors 1, keep nothing), except temporal loops on a dummy level directly below a
  storage level: they run at that storage level's innermost position and are moved there.

Write side (:func:`timeloop_entries`): the form ``timeloop-model`` reads back for the spec
timeloopfe makes of this architecture: every Timeloop storage level (dummy levels included)
gets a ``datatype`` and a ``temporal`` entry, fan-outs a ``spatial`` entry on the level above
them, factors in Timeloop's compact spelling.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from dse.errors import MappingError
from dse.spec.types import DUMMY_NAME, Architecture, SpatialLevel, StorageLevel, Workload

ENTRY_TYPES = ("temporal", "spatial", "datatype", "dataspace", "bypass", "bypassing")
_KEYS = {"target", "type", "factors", "permutation", "split", "keep", "bypass"}
#: Timeloop keys that change what is modelled; accepted only when empty
_UNMODELLED = ("no_reuse", "no_temporal_reuse", "no_link_transfer", "rmw_first_update", "no_coalesce")
_SEPARATORS = " \t,;"


def _accepted_factors(dims: Sequence[str]) -> str:
    return (f"factors such as 'D=4 E=16', [D=4, E=16] or Timeloop's 'D4 E16', a residual as 'L16,5'; "
            f"dimensions: {', '.join(dims)}")


def parse_factors(value: Any, dims: Sequence[str], where: str) -> list[tuple[str, int, int | None]]:
    """Factors in any spelling Timeloop reads -> ``[(dim, factor, residual or None), ...]`` in text order."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        text = " ".join(str(v) for v in value)
    elif isinstance(value, (str, int)):
        text = str(value)
    else:
        raise MappingError(f"cannot read factors {value!r}", where, _accepted_factors(dims))
    text = text.split("#", 1)[0]
    names = sorted(dims, key=len, reverse=True)
    out: list[tuple[str, int, int | None]] = []
    i = 0
    while i < len(text):
        if text[i] in _SEPARATORS:
            i += 1
            continue
        m = None
        for d in names:
            if text.startswith(d, i):
                m = re.compile(r"\s*=?\s*(\d+)(?:,(\d+)(?![A-Za-z_=]))?").match(text, i + len(d))
                if m:
                    break
        if not m:
            token = re.split(r"[\s,;]", text[i:], maxsplit=1)[0]
            raise MappingError(f"cannot read factor '{token}' in '{text.strip()}'", where, _accepted_factors(dims))
        out.append((d, int(m.group(1)), int(m.group(2)) if m.group(2) is not None else None))
        i = m.end()
    seen = [d for d, _, _ in out]
    twice = sorted({d for d in seen if seen.count(d) > 1})
    if twice:
        raise MappingError(f"factors name {', '.join(twice)} more than once", where, _accepted_factors(dims))
    return out


def parse_permutation(value: Any, dims: Sequence[str], where: str) -> list[str]:
    """A permutation, innermost first, in any spelling Timeloop reads."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        perm = [str(v).strip() for v in value]
    elif isinstance(value, str):
        parts = [p for p in re.split(r"[\s,]+", value.strip()) if p]
        perm = []
        names = sorted(dims, key=len, reverse=True)
        for part in parts:
            i = 0
            while i < len(part):
                d = next((n for n in names if part.startswith(n, i)), None)
                if d is None:
                    raise MappingError(f"permutation '{value}' names an unknown dimension at '{part[i:]}'", where,
                                       f"dimensions of the problem, innermost first: {', '.join(dims)}")
                perm.append(d)
                i += len(d)
    else:
        raise MappingError(f"cannot read permutation {value!r}", where, "a string like 'EDL' or a list like [E, D, L]")
    bad = [d for d in perm if d not in dims]
    if bad:
        raise MappingError(f"permutation names unknown dimension(s) {bad}", where, ", ".join(dims))
    twice = sorted({d for d in perm if perm.count(d) > 1})
    if twice:
        raise MappingError(f"permutation names {', '.join(twice)} more than once", where, "each dimension at most once")
    return perm


# --------------------------------------------------------------------------- targets
def timeloop_levels(arch: Architecture) -> list[str]:
    """Names of the storage levels Timeloop sees for ``arch``, outermost first: storage levels and a
    dummy level per container fan-out (timeloopfe's ``inter_<C>_spatial``), not v0.3 implicit fan-outs."""
    out = []
    for n in arch.nodes:
        if isinstance(n, StorageLevel):
            out.append(n.name)
        elif isinstance(n, SpatialLevel) and not n.implicit:
            out.append(dummy_name(n))
    return out


def dummy_name(fanout: SpatialLevel) -> str:
    """The name Timeloop knows a container fan-out by."""
    return fanout.name if fanout.dummy else f"inter_{fanout.name}_spatial"


def _resolve_fanout(arch: Architecture, name: str) -> SpatialLevel | None:
    for n in arch.spatial_levels:
        if name in (n.name, n.container, dummy_name(n)):
            return n
    m = DUMMY_NAME.match(name)
    if m:
        for n in arch.spatial_levels:
            if m.group(1) in (n.name, n.container):
                return n
    return None


def _target_name(raw: Any, arch: Architecture, where: str) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise MappingError(f"target {raw!r} is not a level name", where, "a level name or Timeloop's storage-level id")
    if isinstance(raw, int):
        levels = timeloop_levels(arch)
        if not 0 <= raw < len(levels):
            raise MappingError(f"storage-level id {raw} is out of range", where,
                               f"0 (innermost, {levels[-1]}) to {len(levels) - 1} ({levels[0]})")
        return levels[len(levels) - 1 - raw]
    return raw


def _below_storage(arch: Architecture, fanout: SpatialLevel) -> str | None:
    """The storage level directly above ``fanout`` (no other fan-out between), else None."""
    nodes = list(arch.nodes)
    i = nodes.index(fanout)
    if i > 0 and isinstance(nodes[i - 1], StorageLevel):
        return nodes[i - 1].name
    return None


def _spatial_fanout(target: str, arch: Architecture, where: str) -> SpatialLevel:
    fan = _resolve_fanout(arch, target)
    if fan is not None:
        return fan
    nodes = list(arch.nodes)
    for i, n in enumerate(nodes):
        if n.name == target and isinstance(n, StorageLevel):
            for m in nodes[i + 1:]:
                if isinstance(m, SpatialLevel):
                    return m
                if isinstance(m, StorageLevel):
                    break
            raise MappingError(f"storage level '{target}' has no fan-out below it for spatial factors", where,
                               "spatial entries on " + (", ".join(timeloop_levels(arch)) or "(no fan-outs)"))
    raise MappingError(f"unknown level '{target}' for a spatial entry", where, _accepted_targets(arch))


def _accepted_targets(arch: Architecture) -> str:
    parts = [f"storage levels {', '.join(s.name for s in arch.storage_levels)}"]
    fans = [f.name + (f" (or {dummy_name(f) if not f.dummy else f.container})" if not f.implicit else "")
            for f in arch.spatial_levels]
    if fans:
        parts.append("fan-outs " + ", ".join(fans))
    if arch.networks:
        parts.append("networks " + ", ".join(n.name for n in arch.networks) + " (trivial entries only)")
    return "; ".join(parts)


# --------------------------------------------------------------------------- reading
def mapping_from_entries(entries: Any, arch: Architecture, workload: Workload, where: str = "mapping"):
    """Build and validate a :class:`~dse.spec.mapping.Mapping` from Timeloop's ``mapping:`` list."""
    from dse.spec.mapping import Mapping, SpatialMapping, TemporalMapping, validate_mapping

    if not isinstance(entries, list):
        raise MappingError("expected a list of mapping entries", where, "mapping: [ {target, type, factors, permutation} ... ]")
    dims = list(workload.dimensions)
    storage_names = [s.name for s in arch.storage_levels]
    networks = {n.name for n in arch.networks}
    all_ds = [d.name for d in workload.data_spaces]
    temporal: dict[str, list[tuple[str, int]]] = {n: [] for n in storage_names}
    t_res: dict[str, dict[str, int]] = {n: {} for n in storage_names}
    keep: dict[str, set[str]] = {n: set(all_ds) for n in storage_names}
    spatial: dict[str, tuple[list, list, dict]] = {}
    seen: dict[tuple[str, str], int] = {}
    moved: dict[str, list[tuple[list, dict]]] = {}  # storage level -> temporal loops of dummy levels below it
    for i, e in enumerate(entries):
        w = f"{where}: mapping[{i}]"
        if not isinstance(e, dict) or "target" not in e:
            raise MappingError("entry has no 'target'", w, "a mapping {target, type, factors, permutation}")
        unknown = set(e) - _KEYS - set(_UNMODELLED) - {"name"}
        if unknown:
            raise MappingError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}", w,
                               "target, type, factors, permutation, split, keep, bypass")
        for key in _UNMODELLED:
            if e.get(key):
                raise MappingError(f"'{key}' is not modelled", f"{w}.{key}", f"no '{key}' (or an empty list)")
        target = _target_name(e["target"], arch, f"{w}.target")
        kind = str(e.get("type", "temporal"))
        if kind not in ENTRY_TYPES:
            raise MappingError(f"unknown entry type '{kind}'", f"{w}.type", ", ".join(ENTRY_TYPES))
        if kind in ("datatype", "dataspace", "bypass", "bypassing"):
            k = _ds_list(e.get("keep"), all_ds, f"{w}.keep")
            b = _ds_list(e.get("bypass"), all_ds, f"{w}.bypass")
            if target in keep:
                keep[target] = (keep[target] | k) - b
            elif k and (_resolve_fanout(arch, target) is not None or target in networks):
                raise MappingError(f"'{target}' keeps {sorted(k)}, but it is a fan-out or network that holds no data",
                                   f"{w}.keep", "keep: [] (bypass everything) on fan-out and network levels")
            elif _resolve_fanout(arch, target) is None and target not in networks:
                raise MappingError(f"unknown level '{target}'", f"{w}.target", _accepted_targets(arch))
            continue
        factors = parse_factors(e.get("factors"), dims, f"{w}.factors")
        fac = {d: (workload.bounds[d] if f == 0 else f) for d, f, _ in factors}
        res = {d: r for d, f, r in factors if r is not None and fac[d] > 1 and r != fac[d]}
        perm = parse_permutation(e.get("permutation"), dims, f"{w}.permutation")
        order = perm + [d for d in dims if d not in perm]  # innermost first
        if kind == "spatial":
            fan = _spatial_fanout(target, arch, f"{w}.target")
            _once(seen, ("spatial", fan.name), i, w)
            split = e.get("split", len(order))
            if isinstance(split, bool) or not isinstance(split, int) or split < 0:
                raise MappingError(f"split {split!r} is not a non-negative integer", f"{w}.split",
                                   "the number of permutation entries (innermost first) that go to X")
            xs = [(d, fac[d]) for d in order[:split] if fac.get(d, 1) > 1]
            ys = [(d, fac[d]) for d in order[split:] if fac.get(d, 1) > 1]
            spatial[fan.name] = (xs, ys, res)
            continue
        loops = [(d, fac[d]) for d in reversed(order) if fac.get(d, 1) > 1]
        if target in temporal:
            _once(seen, ("temporal", target), i, w)
            temporal[target] = loops
            t_res[target] = res
            continue
        fan = _resolve_fanout(arch, target)
        if fan is None and target not in networks:
            raise MappingError(f"unknown level '{target}'", f"{w}.target", _accepted_targets(arch))
        if not loops:
            continue
        above = _below_storage(arch, fan) if fan is not None else None
        if above is None:
            raise MappingError(f"temporal factors {' '.join(f'{d}{f}' for d, f in loops)} on '{target}', which is a "
                               f"{'network' if fan is None else 'fan-out with no storage level directly above it'}",
                               f"{w}.factors", "factors of 1 on fan-out and network levels")
        _once(seen, ("temporal", fan.name), i, w)
        moved.setdefault(above, []).append((loops, res))
    for level, extra in moved.items():
        # a dummy level's loops run between its parent's loops and the fan-out: innermost at the parent
        for loops, res in extra:
            dup = {d for d, _ in loops} & {d for d, _ in temporal[level]}
            if dup or set(res) & set(t_res[level]):
                raise MappingError(f"dimension(s) {sorted(dup)} have loops both on '{level}' and on the dummy level "
                                   f"below it", where, "one temporal loop per dimension and storage level")
            temporal[level] = temporal[level] + loops
            t_res[level] = {**t_res[level], **res}
    m = Mapping(
        temporal=tuple(TemporalMapping(n, tuple(temporal[n]), frozenset(keep[n]), tuple(sorted(t_res[n].items())))
                       for n in storage_names),
        spatial=tuple(SpatialMapping(f.name, tuple(spatial[f.name][0]), tuple(spatial[f.name][1]),
                                     tuple(sorted(spatial[f.name][2].items())))
                      for f in arch.spatial_levels if f.name in spatial),
    )
    validate_mapping(m, arch, workload, where)
    return m


def _once(seen: dict[tuple[str, str], int], key: tuple[str, str], i: int, where: str) -> None:
    if key in seen:
        raise MappingError(f"a second {key[0]} entry for '{key[1]}' (the first is mapping[{seen[key]}])", where,
                           f"one {key[0]} entry per level")
    seen[key] = i


def _ds_list(value: Any, all_ds: Sequence[str], where: str) -> set[str]:
    if value is None:
        return set()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise MappingError(f"cannot read data space list {value!r}", where, "a list of data space names")
    bad = sorted(set(items) - set(all_ds))
    if bad:
        raise MappingError(f"unknown data space(s) {bad}", where, ", ".join(all_ds))
    return set(items)


# --------------------------------------------------------------------------- writing
def _compact(dims: Sequence[str], factor, residual) -> str:
    parts = []
    for d in dims:
        f, r = factor(d), residual(d)
        parts.append(f"{d}{f}" + (f",{r}" if r is not None and r != f and f > 1 else ""))
    return " ".join(parts)


def _perm_text(perm: Sequence[str]) -> str:
    return "".join(perm) if all(len(d) == 1 for d in perm) else " ".join(perm)


def timeloop_entries(mapping, arch: Architecture, workload: Workload) -> list[dict[str, Any]]:
    """``mapping`` as Timeloop writes a ``map.yaml`` for the spec timeloopfe makes of ``arch``."""
    dims = list(workload.dimensions)
    all_ds = [d.name for d in workload.data_spaces]
    datatype, loops = [], []
    fanout_of: dict[str, SpatialLevel] = {}  # Timeloop level -> the fan-out directly below it
    last = None
    for n in arch.nodes:
        if isinstance(n, StorageLevel):
            last = n.name
        elif isinstance(n, SpatialLevel):
            owner = last if n.implicit else dummy_name(n)
            if owner is None or owner in fanout_of:
                raise MappingError(f"fan-out '{n.name}' has no level of its own in Timeloop's view of this architecture",
                                   "map.yaml", "an architecture whose fan-outs are containers or sit right below a storage level")
            fanout_of[owner] = n
            last = owner
    for n in reversed(arch.nodes):  # Timeloop writes the innermost level first
        if isinstance(n, StorageLevel):
            t = mapping.level(n.name)
            datatype.append({"target": n.name, "type": "datatype", "keep": [d for d in all_ds if d in t.keep],
                             "bypass": [d for d in all_ds if d not in t.keep]})
            _spatial_entry(loops, n.name, fanout_of.get(n.name), mapping, dims)
            inner = [d for d, _ in reversed(t.loops)]
            loops.append({"target": n.name, "type": "temporal",
                          "factors": _compact(dims, t.factor, t.residual),
                          "permutation": _perm_text(inner + [d for d in dims if d not in inner])})
        elif isinstance(n, SpatialLevel) and not n.implicit:
            name = dummy_name(n)
            datatype.append({"target": name, "type": "datatype", "keep": [], "bypass": list(all_ds)})
            _spatial_entry(loops, name, n, mapping, dims)
            loops.append({"target": name, "type": "temporal", "factors": " ".join(f"{d}1" for d in dims),
                          "permutation": _perm_text(dims)})
    return datatype + loops


def _spatial_entry(out: list, target: str, fan: SpatialLevel | None, mapping, dims: Sequence[str]) -> None:
    if fan is None:
        return
    s = mapping.fanout(fan.name)
    xd = [d for d, _ in s.x]
    yd = [d for d, _ in s.y]
    if len(set(xd)) != len(xd) or len(set(yd)) != len(yd) or set(xd) & set(yd):
        raise MappingError(f"fan-out '{fan.name}' splits one dimension over several spatial loops, which Timeloop's "
                           "mapping YAML cannot say", "map.yaml", "one spatial factor per dimension and fan-out")
    if not xd and not yd:
        return
    out.append({"target": target, "type": "spatial", "factors": _compact(dims, s.factor, s.residual),
                "permutation": _perm_text(xd + yd + [d for d in dims if d not in xd and d not in yd]),
                "split": len(xd)})
