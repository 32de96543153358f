"""Parsing, re-targeting, merging and validating mapping constraints.

Constraints come from ``constraints: {targets: [...]}`` (v0.4),
``mapspace: {targets: [...]}`` / ``mapspace_constraints`` (v0.3) and the inline
``constraints:`` of architecture nodes.  All constraints with the same target and
type are merged into one :class:`~dse.spec.types.Constraint` (like timeloopfe):
factor lists are combined and must not conflict (``D=4`` with ``D>=8``),
keep/bypass lists are united and must be disjoint, and two permutations must
order the same loops the same way once the dimensions fixed to 1 are dropped.

A ``spatial`` constraint whose target is a storage level (the v0.3 way of
constraining the fan-out below a buffer) is re-targeted to the first
:class:`~dse.spec.types.SpatialLevel` below that level.

Like timeloopfe, a ``temporal`` or ``dataspace`` constraint may target a spatial
container: it applies to the level timeloopfe makes from the container
(``inter_<name>_spatial``), whose temporal loops are all 1 and which keeps nothing,
so it is met when 1 satisfies its factors and it keeps nothing (otherwise a warning
says it cannot hold and is ignored, as timeloopfe ignores it).  With a workload,
every component of a ``!Parallel`` branch gets timeloopfe's implied ``bypass`` of the
data spaces no component of its branch keeps (:func:`with_parallel_bypasses`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

from dse.errors import SpecError
from dse.spec.architecture import RawConstraint
from dse.spec.common import at, expect_list, expect_mapping, normalize_key
from dse.spec.expressions import as_number, evaluate
from dse.spec.types import Architecture, ComputeLevel, Constraint, FactorConstraint, SpatialLevel, StorageLevel, Workload

TYPE_ALIASES = {"bypassing": "dataspace", "bypass": "dataspace", "datatype": "dataspace", "min_utilization": "utilization"}
TYPES = ("temporal", "spatial", "dataspace", "utilization", "max_overbooked_proportion")
_LOOP_EXTRAS = ("maximize_dims_capacity", "no_reuse", "default_max_factor", "default_min_factor", "remainders")
KEYS: Mapping[str, frozenset[str]] = {
    "temporal": frozenset({"factors", "permutation", "maximize_dims", "rmw_first_update", *_LOOP_EXTRAS}),
    "spatial": frozenset({"factors", "permutation", "split", "maximize_dims", "no_link_transfer", *_LOOP_EXTRAS}),
    "dataspace": frozenset({"keep", "bypass", "no_coalesce"}),
    "utilization": frozenset({"min", "min_utilization"}),
    "max_overbooked_proportion": frozenset({"proportion", "max_overbooked_proportion"}),
}
#: Extra keys naming data spaces (validated against the workload).
_DATASPACE_LISTS = ("no_reuse", "no_link_transfer", "rmw_first_update", "no_coalesce")
_OPS = ("<=", ">=", "=")


@dataclass
class _Parsed:
    target: str
    type: str
    factors: list[tuple[FactorConstraint, str]] = field(default_factory=list)
    permutation: tuple[str, ...] | None = None
    permutation_source: str = ""
    split: int | None = None
    keep: list[str] | None = None
    bypass: list[str] | None = None
    min_utilization: float | None = None
    max_overbooked_proportion: float | None = None
    maximize_dims: tuple[tuple[str, ...], ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


def targets_list(raw: Any, file: str, path: str) -> list[RawConstraint]:
    """The entries of a ``targets:`` list as :class:`RawConstraint` objects."""
    out = []
    for i, entry in enumerate(expect_list(raw, file, path, "a list of constraints")):
        p = f"{path}[{i}]"
        entry = expect_mapping(entry, file, p, "a constraint mapping {target, type, ...}")
        for key in ("target", "type"):
            if key not in entry:
                raise SpecError(
                    f"constraint has no '{key}'",
                    where=at(file, p),
                    accepted=f"'target: <level name>' and 'type: {' | '.join(TYPES)}'",
                )
        body = {k: v for k, v in entry.items() if k not in ("target", "type")}
        out.append(RawConstraint(str(entry["target"]), str(entry["type"]), body, at(file, p), file, p))
    return out


def build_constraints(
    raw: Sequence[RawConstraint],
    arch: Architecture | None,
    workload: Workload | None,
    variables: Mapping[str, Any],
) -> tuple[tuple[Constraint, ...], list[str]]:
    """Parse, re-target, merge and validate constraints; returns them and warnings."""
    warnings: list[str] = []
    parsed = []
    for rc in raw:
        p = _parse(rc, workload, variables)
        if arch is not None:
            p = _retarget(p, rc, arch, warnings)
            if p is None:
                continue
            _check_target(p, rc, arch)
        if workload is not None:
            _check_names(p, rc, workload)
        parsed.append(p)
    merged: dict[tuple[str, str], _Parsed] = {}
    for p in parsed:
        key = (p.target, p.type)
        merged[key] = _merge(merged[key], p) if key in merged else p
    out = []
    for p in merged.values():
        _check_factor_conflicts(p)
        out.append(
            Constraint(
                target=p.target,
                type=p.type,
                factors=tuple(f for f, _ in p.factors),
                permutation=p.permutation,
                split=p.split,
                keep=None if p.keep is None else tuple(p.keep),
                bypass=None if p.bypass is None else tuple(p.bypass),
                min_utilization=p.min_utilization,
                max_overbooked_proportion=p.max_overbooked_proportion,
                maximize_dims=p.maximize_dims,
                source=" + ".join(p.sources),
                extra=p.extra,
            )
        )
    constraints = tuple(out)
    if arch is not None and workload is not None:
        constraints = with_parallel_bypasses(arch, workload, constraints)
    return constraints, warnings


def _one_satisfies(f: FactorConstraint) -> bool:
    return not ((f.op == ">=" and f.value > 1) or (f.op == "=" and f.value != 1))


def container_constraint_holds(c: Constraint) -> bool:
    """Whether a temporal/dataspace constraint on a spatial container holds on its inter_*_spatial level
    (all temporal factors 1, nothing kept).  The loader drops such constraints (with a warning when they
    cannot hold); this serves constraint lists built by hand."""
    if c.type == "temporal":
        return all(_one_satisfies(f) for f in c.factors)
    return not c.keep


def with_parallel_bypasses(arch: Architecture, workload: Workload, constraints: Sequence[Constraint]) -> tuple[Constraint, ...]:
    """``constraints`` plus timeloopfe's implied bypasses of ``!Parallel`` branches (idempotent).

    Each branch keeps the data spaces its components' ``dataspace`` constraints keep (and its
    ``!Nothing`` placeholders' keep lists); every component of the branch bypasses the other data
    spaces of the problem.  A data space kept in two branches, or (of those the enclosing branch
    keeps -- all, at the top) in none, is an error, as in timeloopfe.
    """
    if not arch.parallel:
        return tuple(constraints)
    all_ds = [ds.name for ds in workload.data_spaces]
    storage = {l.name for l in arch.storage_levels}
    out = list(constraints)
    index = {(c.target, c.type): i for i, c in enumerate(out)}
    kept_at = {c.target: set(c.keep or ()) for c in out if c.type == "dataspace"}
    branch_keeps: dict[tuple[int, int], set[str]] = {}
    for gi, group in enumerate(arch.parallel):
        keeps = []
        for b in group.branches:
            unknown = sorted(set(b.nothing_keeps) - set(all_ds))
            if unknown:
                raise SpecError(f"a !Nothing branch keeps unknown data space(s) {', '.join(unknown)}", where=group.source,
                                accepted=f"data spaces of problem '{workload.name}': {', '.join(all_ds)}")
            keeps.append(set().union(*(kept_at.get(n, set()) for n in b.components)) | set(b.nothing_keeps))
        names = [" / ".join(b.components) or "!Nothing" for b in group.branches]
        for i in range(len(keeps)):
            for j in range(i + 1, len(keeps)):
                shared = sorted(keeps[i] & keeps[j])
                if shared:
                    raise SpecError(f"data space(s) {', '.join(shared)} kept in two branches of a !Parallel node "
                                    f"({names[i]} and {names[j]})", where=group.source,
                                    accepted="each data space kept in at most one branch (timeloopfe's rule)")
        required = set(all_ds) if group.parent is None else branch_keeps.get(group.parent, set(all_ds))
        missing = [d for d in all_ds if d in required and not any(d in k for k in keeps)]
        if missing:
            listed = "[" + ", ".join(missing) + "]"
            raise SpecError(f"data space(s) {', '.join(missing)} kept by no branch of a !Parallel node ({', '.join(names)})",
                            where=group.source,
                            accepted=f"a dataspace keep constraint on a component of one branch, or a branch "
                                     f"'- !Nothing {{constraints: {{dataspace: {{keep: {listed}}}}}}}' to bypass every "
                                     "branch (timeloopfe's rule)")
        for j, b in enumerate(group.branches):
            branch_keeps[(gi, j)] = keeps[j]
            bypass = tuple(d for d in all_ds if d not in keeps[j])
            if not bypass:
                continue
            why = f"implied by the !Parallel node at {group.source} (its branch keeps {sorted(keeps[j]) or 'nothing'})"
            for n in b.components:
                if n not in storage:
                    continue
                i = index.get((n, "dataspace"))
                if i is None:
                    index[(n, "dataspace")] = len(out)
                    out.append(Constraint(n, "dataspace", bypass=bypass, source=why))
                    continue
                c = out[i]
                have = tuple(c.bypass or ())
                add = tuple(d for d in bypass if d not in have)
                if add:
                    out[i] = replace(c, bypass=have + add, source=f"{c.source} + {why}")
    return tuple(out)


# --------------------------------------------------------------------------- parsing
def _parse(rc: RawConstraint, workload: Workload | None, variables: Mapping[str, Any]) -> _Parsed:
    ctype = TYPE_ALIASES.get(rc.type, rc.type)
    if ctype not in TYPES:
        raise SpecError(
            f"unknown constraint type '{rc.type}'",
            where=rc.source,
            accepted=", ".join(TYPES) + " (v0.3 aliases: " + ", ".join(TYPE_ALIASES) + ")",
        )
    p = _Parsed(target=rc.target, type=ctype, sources=[rc.source])
    dims = workload.dimensions if workload is not None else ()
    for raw_key, value in rc.body.items():
        key = normalize_key(raw_key)
        where = at(rc.file, f"{rc.path}.{raw_key}")
        if key not in KEYS[ctype]:
            raise SpecError(
                f"unknown key '{raw_key}' in a {ctype} constraint",
                where=where,
                accepted="target, type, " + ", ".join(sorted(KEYS[ctype])),
            )
        if key == "factors":
            p.factors = [(f, rc.source) for f in parse_factors(value, where, variables)]
        elif key == "permutation":
            p.permutation = parse_permutation(value, dims, where)
            p.permutation_source = rc.source
        elif key == "split":
            p.split = _int(value, variables, where)
        elif key in ("keep", "bypass"):
            setattr(p, key, _names(value, where))
        elif key in ("min", "min_utilization"):
            p.min_utilization = float(as_number(evaluate(value, variables, where), where, key))
        elif key in ("proportion", "max_overbooked_proportion"):
            p.max_overbooked_proportion = float(as_number(evaluate(value, variables, where), where, key))
        elif key == "maximize_dims":
            p.maximize_dims = _maximize_dims(value, where)
        elif key in _DATASPACE_LISTS:
            p.extra[key] = tuple(_names(value, where))
        else:
            p.extra[key] = as_number(evaluate(value, variables, where), where, key)
    return p


def parse_factors(value: Any, where: str, variables: Mapping[str, Any] | None = None) -> list[FactorConstraint]:
    """``[D=1, E<=16]`` or ``"D=1 E<=16"`` (spaces or commas) -> factor constraints.

    With ``variables``, the value may be an integer expression over them (``D=pe_rows``).
    """
    if value is None:
        return []
    if isinstance(value, str):
        items = [x for x in value.replace(",", " ").split() if x]
    elif isinstance(value, list):
        items = value
    else:
        raise SpecError(f"bad factors {value!r}", where=where, accepted="a list like [D=1, E<=16] or a string 'D=1 E<=16'")
    out = []
    for item in items:
        text = str(item).replace(" ", "")
        for op in _OPS:
            if op in text:
                dim, _, number = text.partition(op)
                break
        else:
            dim, op, number = "", "", ""
        if dim and variables is not None and not number.lstrip("-").isdigit():
            try:
                val = evaluate(number, variables, where)
            except SpecError:
                val = None
            if isinstance(val, (int, float)) and not isinstance(val, bool) and float(val).is_integer():
                number = str(int(val))
        if not dim or not number.lstrip("-").isdigit() or not dim.replace("_", "a").isalnum():
            raise SpecError(
                f"bad factor '{item}'",
                where=where,
                accepted="DIM=N, DIM<=N or DIM>=N with an integer N or an integer expression over variables (DIM=0 means 'all that remains')",
            )
        n = int(number)
        if n < 0:
            raise SpecError(f"negative factor '{item}'", where=where, accepted="factors >= 0")
        out.append(FactorConstraint(dim, op, n))
    return out


def parse_permutation(value: Any, dims: Sequence[str], where: str) -> tuple[str, ...]:
    """``[E, D, L]``, ``"E D L"``, ``"E,D,L"`` or ``"EDL"`` -> ``("E", "D", "L")`` (inner to outer);
    a dimension named twice is an error."""
    perm = _permutation_names(value, dims, where)
    twice = sorted({d for d in perm if perm.count(d) > 1})
    if twice:
        raise SpecError(f"permutation {list(perm)} names {', '.join(twice)} more than once", where=where,
                        accepted="each dimension at most once, e.g. [E, D, L]")
    return perm


def _permutation_names(value: Any, dims: Sequence[str], where: str) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(x).strip() for x in value)
    if isinstance(value, str):
        text = value.strip()
        if "," in text:
            return tuple(x.strip() for x in text.split(",") if x.strip())
        if any(c.isspace() for c in text):
            return tuple(text.split())
        if text in dims:
            return (text,)
        return tuple(text)
    raise SpecError(f"bad permutation {value!r}", where=where, accepted="a list like [E, D, L] or a string 'EDL'")


def _names(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return list(value)
    raise SpecError(f"bad data space list {value!r}", where=where, accepted="a list of data space names, e.g. [Inputs, Outputs]")


def _maximize_dims(value: Any, where: str) -> tuple[tuple[str, ...], ...]:
    groups = expect_list(value, where, "", "a list of dimension groups, e.g. [[D, E], [L]]")
    out = []
    for g in groups:
        if isinstance(g, str):
            out.append((g,))
        elif isinstance(g, list) and all(isinstance(x, str) for x in g):
            out.append(tuple(g))
        else:
            raise SpecError(f"bad maximize_dims group {g!r}", where=where, accepted="a list of dimension groups, e.g. [[D, E], [L]]")
    return tuple(out)


def _int(value: Any, variables: Mapping[str, Any], where: str) -> int:
    n = as_number(evaluate(value, variables, where), where, "value")
    if not isinstance(n, int):
        raise SpecError(f"expected an integer, got {n!r}", where=where, accepted="an integer")
    return n


# --------------------------------------------------------------------------- targets
def _retarget(p: _Parsed, rc: RawConstraint, arch: Architecture, warnings: list[str]) -> _Parsed | None:
    if p.type in ("temporal", "dataspace") and p.target in arch.node_names and isinstance(arch.node(p.target), SpatialLevel):
        # a container's (or timeloopfe's dummy level's) temporal/dataspace constraints: timeloopfe drops the
        # container's and gives its dummy level "factors all 1, bypass everything", which a fan-out meets anyway
        # it holds there when 1 satisfies its factors and it keeps nothing (the seed PIM's PERows D=1 E=1)
        holds = not p.keep if p.type == "dataspace" else all(_one_satisfies(f) for f, _ in p.factors)
        if not holds:
            warnings.append(f"{rc.source}: {p.type} constraint on fan-out '{p.target}' cannot hold on the level "
                            f"timeloopfe makes from it (inter_{p.target}_spatial: temporal loops of 1, keeps nothing); "
                            "ignored, as timeloopfe ignores it")
        return None
    if p.type != "spatial" or p.target not in arch.node_names:
        return p
    nodes = arch.nodes
    index = arch.node_names.index(p.target)
    if not isinstance(nodes[index], StorageLevel):
        return p
    skipped = []
    for node in nodes[index + 1 :]:
        if isinstance(node, SpatialLevel):
            if skipped:
                warnings.append(
                    f"{rc.source}: spatial constraint on storage level '{p.target}' applied to fan-out "
                    f"'{node.name}', below {', '.join(skipped)} (the fan-out directly below '{p.target}' is 1)"
                )
            p.target = node.name
            return p
        skipped.append(node.name)
    warnings.append(f"{rc.source}: spatial constraint on '{p.target}' ignored: there is no fan-out below it")
    return None


def _check_target(p: _Parsed, rc: RawConstraint, arch: Architecture) -> None:
    storage = [n.name for n in arch.storage_levels]
    spatial = [n.name for n in arch.spatial_levels]
    containers = [n.name for n in arch.spatial_levels if not n.implicit]
    # like timeloopfe, temporal/dataspace constraints may target a spatial container (its inter_*_spatial level)
    accepted = (spatial + storage if p.type == "spatial" else
                storage + containers if p.type in ("temporal", "dataspace") else storage)
    if p.target in accepted:
        return
    if p.target in arch.node_names:
        node = arch.node(p.target)
        what = "the compute level" if isinstance(node, ComputeLevel) else "a fan-out (container)"
        raise SpecError(
            f"a {p.type} constraint cannot target '{p.target}', which is {what}",
            where=rc.source,
            accepted=f"targets for {p.type} constraints: {', '.join(accepted)}",
        )
    raise SpecError(
        f"constraint target '{p.target}' is not a level of the architecture",
        where=rc.source,
        accepted=f"targets for {p.type} constraints: {', '.join(accepted)}",
    )


def _check_names(p: _Parsed, rc: RawConstraint, workload: Workload) -> None:
    dims = workload.dimensions
    used_dims = [f.dim for f, _ in p.factors] + list(p.permutation or ()) + [d for g in p.maximize_dims or () for d in g]
    for d in used_dims:
        if d not in dims:
            raise SpecError(
                f"{p.type} constraint on '{p.target}' names unknown dimension '{d}'",
                where=rc.source,
                accepted=f"dimensions of problem '{workload.name}': {', '.join(dims)}",
            )
    spaces = [ds.name for ds in workload.data_spaces]
    used_spaces = list(p.keep or ()) + list(p.bypass or ()) + [s for k in _DATASPACE_LISTS for s in p.extra.get(k, ())]
    for s in used_spaces:
        if s not in spaces:
            raise SpecError(
                f"{p.type} constraint on '{p.target}' names unknown data space '{s}'",
                where=rc.source,
                accepted=f"data spaces of problem '{workload.name}': {', '.join(spaces)}",
            )


# --------------------------------------------------------------------------- merging
def _merge(a: _Parsed, b: _Parsed) -> _Parsed:
    where = " and ".join(a.sources + b.sources)
    out = _Parsed(target=a.target, type=a.type, sources=a.sources + b.sources)
    out.factors = a.factors + [f for f in b.factors if f[0] not in [x for x, _ in a.factors]]
    fixed_one = {f.dim for f, _ in out.factors if f.op == "=" and f.value == 1}
    if a.permutation is not None and b.permutation is not None:
        pa = [d for d in a.permutation if d not in fixed_one]
        pb = [d for d in b.permutation if d not in fixed_one]
        common = [d for d in pa if d in pb]
        if common != [d for d in pb if d in pa]:
            raise SpecError(
                f"conflicting permutations for {a.type} constraint on '{a.target}': "
                f"{list(a.permutation)} ({a.permutation_source}) and {list(b.permutation)} ({b.permutation_source})",
                where=where,
                accepted="one permutation, or permutations that agree on the order of dimensions not fixed to 1",
            )
        out.permutation, out.permutation_source = (a.permutation, a.permutation_source) if len(pa) >= len(pb) else (b.permutation, b.permutation_source)
    else:
        out.permutation = a.permutation if a.permutation is not None else b.permutation
        out.permutation_source = a.permutation_source or b.permutation_source
    for attr in ("split", "min_utilization", "max_overbooked_proportion", "maximize_dims"):
        va, vb = getattr(a, attr), getattr(b, attr)
        if va is not None and vb is not None and va != vb:
            raise SpecError(
                f"conflicting {attr} for {a.type} constraint on '{a.target}': {va} and {vb}",
                where=where,
                accepted=f"one value of {attr}",
            )
        setattr(out, attr, va if va is not None else vb)
    out.keep = _union(a.keep, b.keep)
    out.bypass = _union(a.bypass, b.bypass)
    both = set(out.keep or ()) & set(out.bypass or ())
    if both:
        raise SpecError(
            f"data space(s) {', '.join(sorted(both))} both kept and bypassed at '{a.target}'",
            where=where,
            accepted="each data space either in keep or in bypass",
        )
    for key in set(a.extra) | set(b.extra):
        if key in a.extra and key in b.extra and a.extra[key] != b.extra[key]:
            raise SpecError(f"conflicting {key} for '{a.target}': {a.extra[key]} and {b.extra[key]}", where=where, accepted=f"one value of {key}")
        out.extra[key] = a.extra.get(key, b.extra.get(key))
    return out


def _union(a: Iterable[str] | None, b: Iterable[str] | None) -> list[str] | None:
    if a is None and b is None:
        return None
    out: list[str] = []
    for x in list(a or ()) + list(b or ()):
        if x not in out:
            out.append(x)
    return out


def _show(f: FactorConstraint) -> str:
    return f"{f.dim}{f.op}{f.value}"


def _check_factor_conflicts(p: _Parsed) -> None:
    by_dim: dict[str, list[tuple[FactorConstraint, str]]] = {}
    for f, src in p.factors:
        by_dim.setdefault(f.dim, []).append((f, src))
    for dim, items in by_dim.items():
        eqs = [(f, s) for f, s in items if f.op == "="]
        les = [(f, s) for f, s in items if f.op == "<="]
        ges = [(f, s) for f, s in items if f.op == ">="]
        pairs = []
        for i, (f, s) in enumerate(eqs):
            pairs += [((f, s), g) for g in eqs[i + 1 :] if g[0].value != f.value]
        for f, s in eqs:
            if f.value == 0:
                continue
            pairs += [((f, s), g) for g in les if f.value > g[0].value]
            pairs += [((f, s), g) for g in ges if f.value < g[0].value]
        pairs += [((f, s), g) for f, s in ges for g in les if f.value > g[0].value]
        if pairs:
            (f1, s1), (f2, s2) = pairs[0]
            where = s1 if s1 == s2 else f"{s1} and {s2}"
            raise SpecError(
                f"conflicting factor constraints on '{p.target}' ({p.type}) for dimension {dim}: {_show(f1)} and {_show(f2)}",
                where=where,
                accepted=f"factors of {dim} that can hold together (one value for '=', compatible '<=' / '>=' bounds)",
            )
