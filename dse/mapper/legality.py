"""Does a mapping satisfy the spec's constraints as Timeloop's mapper sees them?

One checker for every mapping the search returns and every mapping a user loads
(``dse model --mapping``).  It reads the :class:`~dse.spec.types.Constraint` list
itself (not the map-space's pruning rules), with Timeloop's / timeloopfe's meaning:

* factors at a storage level (temporal) or fan-out (spatial): ``D=n`` the loop's factor
  is n (``D=0``: the whole dimension; ``n`` above the dimension is ignored, as Timeloop
  does), ``D<=n``, ``D>=n`` (``n`` above the dimension: all of it, see docs/mapper.md);
  with imperfect factorization an ``=`` factor may carry a residual;
* ``permutation`` (innermost first): the listed dimensions with a loop there are the
  innermost loops, in that order; a spatial ``split`` sends the first ``split`` listed
  dimensions to X, the other listed ones (and, when the split falls within the list, the
  unlisted ones) to Y;
* ``keep`` / ``bypass``, including timeloopfe's implied ``!Parallel`` bypasses; the
  outermost level keeps every data space no constraint bypasses there (Timeloop's default);
* ``maximize_dims`` (expanded as timeloopfe does, into ``=`` factors);
* ``utilization`` (``min``), when the caller gives the mapping's utilization;
* temporal/dataspace constraints on a spatial container hold on timeloopfe's
  ``inter_<name>_spatial`` level (loops of 1, keeps nothing); ones that cannot are ignored
  there, as timeloopfe ignores them.

Fusion constraints (``run.py LAYER LEVEL``) are ordinary constraints in the list.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from dse.errors import MappingError
from dse.model.nest import ModelContext
from dse.spec.constraints import with_parallel_bypasses
from dse.spec.mapping import Mapping
from dse.spec.types import Constraint, FactorConstraint, SpatialLevel, StorageLevel

_DATASPACE = ("dataspace", "datatype", "bypass")


@dataclass(frozen=True)
class Violation:
    """One constraint a mapping breaks: where the constraint came from and what is wrong."""

    source: str
    target: str
    message: str

    def __str__(self) -> str:
        return f"{self.target}: {self.message} ({self.source})"


def constraint_violations(ctx: ModelContext, mapping: Mapping, constraints: Sequence[Constraint],
                          utilization: float | None = None) -> list[Violation]:
    """Every way ``mapping`` breaks ``constraints`` (empty when it satisfies them all)."""
    arch, workload = ctx.arch, ctx.workload
    constraints = with_parallel_bypasses(arch, workload, constraints)
    bounds = {d: int(workload.bounds[d]) for d in workload.dimensions}
    nodes = {n.name: n for n in arch.nodes}
    out: list[Violation] = []

    def bad(c: Constraint, target: str, message: str) -> None:
        out.append(Violation(c.source or f"{c.type} constraint on {c.target}", target, message))

    bypassed_at_top: set[str] = set()
    top = arch.storage_levels[0].name
    for c in constraints:
        node = nodes.get(c.target)
        if c.type == "utilization":
            if utilization is not None and c.min_utilization and utilization < c.min_utilization - 1e-12:
                bad(c, c.target, f"utilization {utilization:.4f} is below the minimum {c.min_utilization}")
            continue
        if isinstance(node, SpatialLevel) and c.type != "spatial":
            continue  # inter_<container>_spatial: holds when it can (loops of 1, keeps nothing), else ignored
        if c.type in _DATASPACE and isinstance(node, StorageLevel):
            kept = mapping.level(c.target).keep
            for ds in c.keep or ():
                if ds not in kept:
                    bad(c, c.target, f"must keep {ds} but bypasses it")
            for ds in c.bypass or ():
                if ds in kept:
                    bad(c, c.target, f"must bypass {ds} but keeps it")
            if c.target == top:
                bypassed_at_top |= set(c.bypass or ())
        elif c.type == "temporal" and isinstance(node, StorageLevel):
            tm = mapping.level(c.target)
            for fc in c.factors:
                _check_factor(c, c.target, fc, tm.factor(fc.dim), bounds, bad)
            if c.permutation:
                inner_first = [d for d, f in reversed(tm.loops) if f > 1]
                pinned = [d for d in c.permutation if tm.factor(d) > 1]
                if inner_first[: len(pinned)] != pinned:
                    bad(c, c.target, f"loop order (innermost first) {inner_first} does not start with the "
                                     f"permutation's {pinned}")
        elif c.type == "spatial":
            target = _fanout_for(arch, c.target)
            if target is None:
                continue
            sm = mapping.fanout(target)
            for fc in c.factors:
                _check_factor(c, target, fc, sm.factor(fc.dim), bounds, bad)
            if c.split is not None and c.permutation:
                perm = [d for d in c.permutation if d in bounds]
                to_x = perm[: c.split]
                to_y = perm[c.split:] + ([d for d in bounds if d not in perm] if c.split <= len(perm) else [])
                xs, ys = {d for d, f in sm.x if f > 1}, {d for d, f in sm.y if f > 1}
                for d in to_x:
                    if d in ys:
                        bad(c, target, f"{d} must be spread over X (split {c.split} of {perm}) but is on Y")
                for d in to_y:
                    if d in xs:
                        bad(c, target, f"{d} must be spread over Y (split {c.split} of {perm}) but is on X")
    top_keep = mapping.level(top).keep
    for ds in workload.data_spaces:
        if ds.name not in bypassed_at_top and ds.name not in top_keep:
            out.append(Violation("Timeloop's default", top, f"the outermost level keeps every data space no "
                                                            f"constraint bypasses there, but {ds.name} is bypassed"))
    for (kind, target), fc, source in _maximized(ctx, constraints):
        f = mapping.level(target).factor(fc.dim) if kind == "temporal" else mapping.fanout(target).factor(fc.dim)
        if f != fc.value:
            out.append(Violation(source, target, f"maximize_dims gives {fc.dim}={fc.value} here, but the factor is {f}"))
    return out


def check_mapping(ctx: ModelContext, mapping: Mapping, constraints: Sequence[Constraint], where: str,
                  utilization: float | None = None) -> None:
    """Raise :class:`MappingError` listing every constraint ``mapping`` breaks."""
    found = constraint_violations(ctx, mapping, constraints, utilization)
    if found:
        raise MappingError("the mapping violates the constraints: " + "; ".join(str(v) for v in found), where,
                           "a mapping that satisfies every constraint of the spec (factors, permutations, keep/bypass, "
                           "including timeloopfe's implied !Parallel bypasses)")


def _check_factor(c: Constraint, target: str, fc: FactorConstraint, f: int, bounds: dict[str, int], bad) -> None:
    bound = bounds.get(fc.dim)
    if bound is None:
        return
    if fc.op == "=":
        want = bound if fc.value == 0 else fc.value
        if want > bound:
            return  # Timeloop ignores an '=' factor above the dimension (with a warning)
        if f != want:
            bad(c, target, f"factor {fc.dim}={f} but the constraint says {fc.dim}={fc.value}")
    elif fc.op == "<=":
        if f > fc.value:
            bad(c, target, f"factor {fc.dim}={f} exceeds {fc.dim}<={fc.value}")
    elif fc.op == ">=":
        if f < min(fc.value, bound):
            bad(c, target, f"factor {fc.dim}={f} is below {fc.dim}>={fc.value}")


def _fanout_for(arch, name: str) -> str | None:
    """A spatial constraint's fan-out: itself, or the first fan-out below a storage level."""
    names = arch.node_names
    if name not in names:
        return None
    i = names.index(name)
    if isinstance(arch.nodes[i], SpatialLevel):
        return name
    for n in arch.nodes[i + 1:]:
        if isinstance(n, SpatialLevel):
            return n.name
    return None


def _maximized(ctx: ModelContext, constraints: Sequence[Constraint]):
    """timeloopfe's maximize_dims expanded into '=' factors: ((kind, target), factor, source) triples."""
    if not any(c.maximize_dims for c in constraints):
        return []
    from dse.mapper.mapspace import SlotRule, _apply_maximize_dims

    rules = {("temporal", l.name): {d: SlotRule() for d in ctx.dims} for l in ctx.levels}
    rules |= {("spatial", f.name): {d: SlotRule() for d in ctx.dims} for f in ctx.fanouts}
    _apply_maximize_dims(ctx, constraints, rules, [])
    return [((kind, target), FactorConstraint(d, "=", r.exact), r.source)
            for (kind, target), per_dim in rules.items() for d, r in per_dim.items() if r.exact is not None]


__all__ = ["Violation", "constraint_violations", "check_mapping"]
