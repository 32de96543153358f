"""The map-space of one (architecture, workload, constraints): Timeloop uber semantics.

Factor slots are every storage level's temporal loops and every fan-out's spatial
loops.  Each dimension's bound is split over the slots as an ordered
factorization honouring the factor constraints (``=``, ``<=``, ``>=``, ``=0`` for
"all that remains"); dimensions are then combined with pruning on buffer
capacities (a lower bound with the not-yet-placed dimensions at 1) and fan-out
sizes.  Permutations per level honour pinned innermost loops; equivalent orders
(same reuse for every data space) are generated once unless ``all_permutations``.
Keep/bypass: constrained data spaces are fixed, the others may be kept or bypassed.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations, product
from math import prod
from typing import Iterator, Sequence

import numpy as np

from dse.errors import NoValidMappingError, SpecError, UnsatisfiableConstraintError
from dse.model.nest import MappingBatch, ModelContext
from dse.model.nest.tiles import tile_sizes
from dse.spec.mapping import Mapping, SpatialMapping, TemporalMapping
from dse.spec.constraints import container_constraint_holds, with_parallel_bypasses
from dse.spec.types import Constraint, FactorConstraint, SpatialLevel, StorageLevel


def divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(n ** 0.5) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


@dataclass(frozen=True)
class Slot:
    """One place factors can go: a storage level's temporal loops or a fan-out's spatial loops."""

    kind: str  # "temporal" | "spatial"
    name: str
    index: int  # storage level index k, or fan-out index f


@dataclass(frozen=True)
class SlotRule:
    """What one slot allows for one dimension."""

    exact: int | None = None  # '=' value; 0 = all that remains
    at_most: int | None = None
    at_least: int | None = None
    source: str = ""

    def allows(self, f: int, remaining: int) -> bool:
        if self.exact is not None:
            return f == (remaining if self.exact == 0 else self.exact)
        if self.at_most is not None and f > self.at_most:
            return False
        if self.at_least is not None and f < self.at_least:
            return False
        return True


@dataclass(frozen=True)
class MapSpace:
    ctx: ModelContext
    slots: tuple[Slot, ...]  # innermost first
    rules: tuple[tuple[SlotRule, ...], ...]  # [slot][dim]
    pinned: tuple[tuple[str, ...], ...]  # per storage level: pinned innermost-first dims
    keep_options: tuple[np.ndarray, ...]  # each [K, S] bool
    splits: tuple[tuple[frozenset[str] | None, frozenset[str] | None], ...]  # per fan-out: dims forced to X / Y
    constraints: tuple[Constraint, ...]
    min_utilization: float = 0.0
    notes: tuple[str, ...] = ()  # constraints adjusted or ignored the way Timeloop does
    imperfect: bool = False  # ruby: also factorizations with a residual (remainder) loop per dimension
    # (level k, data space s) keep/bypass choices Timeloop leaves to the mapper (the outermost level and
    # constrained data spaces are fixed), and those of them a designer-keeps reading bypasses (a level
    # whose constraints list what it keeps bypasses the unlisted data spaces)
    keep_free: tuple[tuple[int, int], ...] = ()
    designer_bypass: tuple[tuple[int, int], ...] = ()

    def is_designer_keep(self, keep: np.ndarray) -> bool:
        """Whether a keep option is one the designer-keeps reading allows."""
        return not any(keep[k, s] for k, s in self.designer_bypass)


def build_mapspace(ctx: ModelContext, constraints: Sequence[Constraint], designer_keeps: bool = False,
                   imperfect: bool = False) -> MapSpace:
    """Resolve the constraints into per-slot rules; errors name the offending constraint.

    ``designer_keeps``: a level whose constraints list data spaces to keep bypasses the
    others (instead of letting the mapper try keeping them too).
    """
    arch, dims = ctx.arch, ctx.dims
    names = {n.name: n for n in arch.nodes}
    slots: list[Slot] = []
    for k in range(ctx.n_levels - 1, -1, -1):  # innermost first: fan-outs below level k, then level k
        for f, fan in enumerate(ctx.fanouts):
            if ctx.fanout_above_level[f] == k:
                slots.append(Slot("spatial", fan.name, f))
        slots.append(Slot("temporal", ctx.levels[k].name, k))
    rules = {(s.kind, s.name): {d: SlotRule() for d in dims} for s in slots}
    pinned: dict[str, tuple[str, ...]] = {l.name: () for l in ctx.levels}
    splits: dict[str, tuple] = {f.name: (None, None) for f in ctx.fanouts}
    keep_fixed: dict[str, dict[str, bool]] = {l.name: {} for l in ctx.levels}
    min_util = 0.0
    notes: list[str] = []
    constraints = with_parallel_bypasses(arch, ctx.workload, constraints)
    for c in constraints:
        where = c.source or f"constraint on {c.target}"
        if c.target not in names and c.type not in ("utilization",):
            raise SpecError(f"constraint targets unknown level '{c.target}'", where, ", ".join(arch.node_names))
        node = names.get(c.target)
        if isinstance(node, SpatialLevel) and c.type in ("temporal", "dataspace", "datatype", "bypass"):
            # timeloopfe's inter_<container>_spatial level: temporal loops all 1, keeps nothing -- as here
            if not container_constraint_holds(c):
                notes.append(f"{where}: {c.type} constraint on spatial container '{c.target}' cannot hold on the level "
                             f"Timeloop makes from it (inter_{c.target}_spatial: loops of 1, keeps nothing); ignored, "
                             "as timeloopfe ignores it")
            continue
        if c.type in ("temporal", "spatial"):
            kind = c.type
            target = c.target
            if kind == "spatial" and isinstance(node, StorageLevel):
                below = _fanout_below(ctx, c.target)
                if below is None:
                    raise SpecError(f"spatial constraint on '{c.target}' but it has no fan-out below it", where,
                                    ", ".join(f.name for f in ctx.fanouts) or "no spatial constraints")
                target = below
            if kind == "temporal" and not isinstance(node, StorageLevel):
                raise SpecError(f"temporal constraint on '{c.target}', which is not a storage level", where,
                                ", ".join(l.name for l in ctx.levels))
            if (kind, target) not in rules:
                raise SpecError(f"{kind} constraint on '{c.target}' has no matching slot", where,
                                ", ".join(s.name for s in slots if s.kind == kind))
            slot_rules = rules[(kind, target)]
            for fc in c.factors:
                if fc.dim not in slot_rules:
                    raise SpecError(f"factor on unknown dimension '{fc.dim}'", where, ", ".join(dims))
                bound = int(ctx.bounds[dims.index(fc.dim)])
                if fc.op == "=" and fc.value == 0:  # Timeloop: 0 means the full problem dimension
                    fc = FactorConstraint(fc.dim, "=", bound)
                elif fc.op == "=" and fc.value > bound:  # Timeloop ignores it (with a warning)
                    notes.append(f"{where}: constraint {fc.dim}={fc.value} exceeds the dimension {fc.dim}={bound}; "
                                 f"ignored, as Timeloop does")
                    continue
                elif fc.op == ">=" and fc.value > bound:
                    # upstream Timeloop would prune every factorization; the reference runs (e.g. TPU
                    # VScores with PERows D>=128 and D=64) did map, so a minimum above the dimension
                    # is read as "all of it"
                    notes.append(f"{where}: constraint {fc.dim}>={fc.value} exceeds the dimension {fc.dim}={bound}; "
                                 f"read as {fc.dim}>={bound}")
                    fc = FactorConstraint(fc.dim, ">=", bound)
                if fc.op == "=" and not imperfect and bound % fc.value:
                    raise UnsatisfiableConstraintError(f"constraint {fc.dim}={fc.value} does not divide the dimension {fc.dim}={bound}, "
                                    f"so no perfect factorization (uber map-space) satisfies it", where,
                                    f"a divisor of {bound} ({', '.join(map(str, divisors(bound)))}), or imperfect "
                                    f"factorization (-if / mapspace template ruby)")
                slot_rules[fc.dim] = _merge(slot_rules[fc.dim], fc, where)
            if c.permutation and kind == "temporal":
                pinned[target] = tuple(d for d in c.permutation if d in dims)
            if kind == "spatial" and c.split is not None and c.permutation:
                # Timeloop's spatial order is the permutation, then the unlisted dimensions: those before
                # the split go to X, the rest to Y (unlisted ones too when the split is within the list)
                perm = [d for d in c.permutation if d in dims]
                rest = [d for d in dims if d not in perm]
                splits[target] = (frozenset(perm[: c.split]),
                                  frozenset(perm[c.split:] + (rest if c.split <= len(perm) else [])))
        elif c.type in ("dataspace", "datatype", "bypass"):
            for ds in c.keep or ():
                if ds not in ctx.ds_names:
                    raise SpecError(f"keeps unknown data space '{ds}'", where, ", ".join(ctx.ds_names))
                keep_fixed[c.target][ds] = True
            for ds in c.bypass or ():
                if ds not in ctx.ds_names:
                    raise SpecError(f"bypasses unknown data space '{ds}'", where, ", ".join(ctx.ds_names))
                keep_fixed[c.target][ds] = False
        elif c.type == "utilization":
            min_util = max(min_util, c.min_utilization or 0.0)
    for l in ctx.levels:
        if l.min_utilization:
            min_util = max(min_util, l.min_utilization)
    _apply_maximize_dims(ctx, constraints, rules, notes)
    # keep options: the outermost level keeps everything; free choices enumerated.  With
    # ``designer_keeps`` a level that names what it keeps bypasses what it does not name.
    keep_free = [(k, s) for k, l in enumerate(ctx.levels) for s, ds in enumerate(ctx.ds_names)
                 if k > 0 and ds not in keep_fixed[l.name]]
    designer_bypass = [(k, s) for k, s in keep_free if any(keep_fixed[ctx.levels[k].name].values())]
    free = [ks for ks in keep_free if not (designer_keeps and ks in designer_bypass)]
    base = np.zeros((ctx.n_levels, len(ctx.ds_names)), dtype=bool)
    for k, l in enumerate(ctx.levels):
        for s, ds in enumerate(ctx.ds_names):
            default = k == 0 or not (designer_keeps and any(keep_fixed[l.name].values()))
            # Timeloop: the outermost level keeps what no constraint bypasses there (TPU's DRAM bypasses
            # Weights: WeightsDRAM is their backing store); every other unconstrained choice is free
            base[k, s] = keep_fixed[l.name].get(ds, default)
    for s, ds in enumerate(ctx.ds_names):
        if all(keep_fixed[l.name].get(ds) is False for l in ctx.levels):
            raise SpecError(f"data space {ds} is bypassed at every storage level, so nothing holds it",
                            "; ".join(c.source for c in constraints if c.type in ("dataspace", "datatype", "bypass")
                                      and ds in (c.bypass or ())) or "dataspace constraints",
                            f"keep {ds} at some level (the outermost level that keeps it is its backing store)")
    options = []
    for bits in product((True, False), repeat=len(free)):
        opt = base.copy()
        for (k, s), b in zip(free, bits):
            opt[k, s] = b
        options.append(opt)
    return MapSpace(ctx, tuple(slots), tuple(tuple(rules[(s.kind, s.name)][d] for d in dims) for s in slots),
                    tuple(pinned[l.name] for l in ctx.levels), tuple(options),
                    tuple(splits[f.name] for f in ctx.fanouts), tuple(constraints), min_util, tuple(notes), imperfect,
                    tuple(keep_free), tuple(designer_bypass))


def _best_prime_product(primes: list[int], capacity: int) -> list[int]:
    """The sub-multiset of ``primes`` with the largest product <= ``capacity`` (exhaustive, small inputs)."""
    counts: dict[int, int] = {}
    for p in primes:
        counts[p] = counts.get(p, 0) + 1
    best = (1, [])
    distinct = sorted(counts)

    def rec(i: int, prod_so_far: int, chosen: list[int]) -> None:
        nonlocal best
        if prod_so_far > best[0]:
            best = (prod_so_far, list(chosen))
        if i == len(distinct):
            return
        p = distinct[i]
        value, taken = prod_so_far, []
        for _ in range(counts[p] + 1):
            rec(i + 1, value, chosen + taken)
            value *= p
            if value > capacity:
                break
            taken = taken + [p]

    rec(0, 1, [])
    return best[1]


def prime_factors(n: int) -> list[int]:
    """Prime factors of ``n`` with multiplicity, ascending."""
    out, d = [], 2
    while d * d <= n:
        while n % d == 0:
            out.append(d)
            n //= d
        d += 1
    if n > 1:
        out.append(n)
    return out


def _apply_maximize_dims(ctx: ModelContext, constraints: Sequence[Constraint], rules: dict, notes: list[str]) -> None:
    """timeloopfe's ``maximize_dims`` macro: each group of dimensions gets the largest factors that fit.

    Processed like timeloopfe: spatial constraints before temporal ones, innermost level
    first.  A group's capacity is ``maximize_dims_capacity`` (temporal) or the fan-out's
    size (spatial), divided by the ``=`` and ``>=`` factors already at that target; the
    largest product of the group's remaining prime factors within it is given to the
    group's dimensions in order, as ``=`` factors (1 for a dimension that gets none).
    """
    dims = ctx.dims
    bound = {d: int(ctx.bounds[i]) for i, d in enumerate(dims)}

    def resolved(c: Constraint) -> str:
        if c.type == "spatial" and c.target in ctx.arch.node_names and isinstance(ctx.arch.node(c.target), StorageLevel):
            return _fanout_below(ctx, c.target) or c.target
        return c.target

    fanout_names = {f.name for f in ctx.fanouts}  # a container's temporal constraint: timeloopfe drops it
    # like timeloopfe (which runs before Timeloop drops oversized factors), use the factors as written
    raw: dict[tuple[str, str], list[FactorConstraint]] = {}
    remaining = dict(bound)
    for c in constraints:
        if c.type not in ("temporal", "spatial") or (c.type == "temporal" and c.target in fanout_names):
            continue
        raw.setdefault((c.type, resolved(c)), []).extend(c.factors)
        for fc in c.factors:
            if fc.op == "=" and fc.dim in remaining:
                value = fc.value or bound[fc.dim]
                remaining[fc.dim] = -(-remaining[fc.dim] // value)
    order = {n.name: i for i, n in enumerate(ctx.arch.nodes)}
    targets = []
    for c in constraints:
        if not c.maximize_dims or c.type not in ("temporal", "spatial"):
            continue
        target = resolved(c)
        targets.append((0 if c.type == "spatial" else 1, -order.get(target, 0), c, target))
    for _, _, c, target in sorted(targets, key=lambda t: (t[0], t[1])):
        where = c.source or f"constraint on {c.target}"
        slot_rules = rules.get((c.type, target))
        if slot_rules is None:
            continue
        if c.type == "spatial":
            fan = next(f for f in ctx.fanouts if f.name == target)
            start = int((c.extra or {}).get("maximize_dims_capacity", fan.fanout))
        else:
            cap = (c.extra or {}).get("maximize_dims_capacity")
            if cap is None:
                raise SpecError("maximize_dims on a temporal constraint needs maximize_dims_capacity", where,
                                "an integer maximize_dims_capacity next to maximize_dims")
            start = int(cap)
        here = raw.setdefault((c.type, target), [])
        for group in c.maximize_dims:
            capacity = start
            for fc in here:
                if fc.op in ("=", ">=") and fc.dim in bound:
                    capacity //= fc.value or bound[fc.dim]
            for d in group:
                if d not in slot_rules:
                    raise SpecError(f"maximize_dims names unknown dimension '{d}'", where, ", ".join(dims))
                if any(fc.dim == d for fc in here):
                    raise SpecError(f"cannot maximize {d}: it is already constrained at {target}", where,
                                    "maximize_dims over dimensions without factor constraints at that target")
            chosen = _best_prime_product([p for d in group for p in prime_factors(remaining[d])], max(capacity, 1))
            got = {d: 1 for d in group}
            left = {d: remaining[d] for d in group}
            for p in chosen:
                for d in group:
                    if left[d] % p == 0:
                        left[d] //= p
                        got[d] *= p
                        break
            for d in group:
                slot_rules[d] = SlotRule(exact=got[d], source=where)
                remaining[d] = -(-remaining[d] // got[d])
                here.append(FactorConstraint(d, "=", got[d]))
            notes.append(f"{where}: maximize_dims {list(group)} -> " + ", ".join(f"{d}={got[d]}" for d in group)
                         + f" (capacity {capacity})")


def _fanout_below(ctx: ModelContext, level: str) -> str | None:
    k = [l.name for l in ctx.levels].index(level)
    for f, fan in enumerate(ctx.fanouts):
        if ctx.fanout_above_level[f] == k:
            return fan.name
    return None


def _merge(rule: SlotRule, fc: FactorConstraint, where: str) -> SlotRule:
    exact, lo, hi = rule.exact, rule.at_least, rule.at_most
    if fc.op == "=":
        if exact is not None and exact != fc.value:
            raise SpecError(f"conflicting constraints {fc.dim}={exact} and {fc.dim}={fc.value}", where, "one value per dimension")
        exact = fc.value
    elif fc.op == "<=":
        hi = fc.value if hi is None else min(hi, fc.value)
    elif fc.op == ">=":
        lo = fc.value if lo is None else max(lo, fc.value)
    if exact not in (None, 0) and ((lo is not None and exact < lo) or (hi is not None and exact > hi)):
        raise SpecError(f"conflicting constraints on {fc.dim}: ={exact} with bounds [{lo or 1}, {hi or 'inf'}]", where,
                        "constraints that some factor satisfies")
    if lo is not None and hi is not None and lo > hi:
        raise SpecError(f"conflicting constraints {fc.dim}>={lo} and {fc.dim}<={hi}", where, "a non-empty range")
    return SlotRule(exact, hi, lo, where)


# --------------------------------------------------------------------------- factorizations
def dim_factorizations(bound: int, rules: Sequence[SlotRule]) -> list[tuple[int, ...]]:
    """All ordered factorizations of ``bound`` over the slots (innermost first) allowed by ``rules``."""
    out: list[tuple[int, ...]] = []
    n = len(rules)

    def rec(i: int, remaining: int, acc: tuple[int, ...]) -> None:
        if i == n - 1:
            if rules[i].allows(remaining, remaining):
                out.append(acc + (remaining,))
            return
        r = rules[i]
        cands = [remaining] if r.exact == 0 else ([r.exact] if r.exact else divisors(remaining))
        for f in cands:
            if remaining % f == 0 and r.allows(f, remaining):
                rec(i + 1, remaining // f, acc + (f,))

    rec(0, bound, ())
    return out


def count_factorizations(bound: int, rules: Sequence[SlotRule]) -> int:
    """len(dim_factorizations(bound, rules)) without listing them (memoized on (slot, remaining))."""
    n = len(rules)
    memo: dict[tuple[int, int], int] = {}

    def rec(i: int, remaining: int) -> int:
        if (i, remaining) in memo:
            return memo[(i, remaining)]
        r = rules[i]
        if i == n - 1:
            c = 1 if r.allows(remaining, remaining) else 0
        else:
            cands = [remaining] if r.exact == 0 else ([r.exact] if r.exact else divisors(remaining))
            c = sum(rec(i + 1, remaining // f) for f in cands if remaining % f == 0 and r.allows(f, remaining))
        memo[(i, remaining)] = c
        return c

    return rec(0, bound)


# Imperfect factorizations travel through the factor arrays encoded: value = factor + (residual << 32)
# (residual 0 = none), so perfect arrays are unchanged.  ``decode`` splits them.
RES_SHIFT = 32
FACTOR_MASK = (1 << RES_SHIFT) - 1


def decode(fac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encoded factor array -> (factors, residuals)."""
    return fac & FACTOR_MASK, fac >> RES_SHIFT


def _lone_dims(ctx: ModelContext) -> set[int]:
    """Dimensions every data space indexes alone (rank = that dimension, coefficient 1): residuals allowed."""
    bad = set()
    for ranks in ctx.projections:
        for terms in ranks:
            terms = [(d, c) for d, c in terms if int(ctx.bounds[d]) > 1]  # bound-1 terms add nothing
            if len(terms) > 1 or any(c != 1 for _, c in terms):
                bad |= {d for d, _ in terms}
    return set(range(len(ctx.dims))) - bad


IMPERFECT_TEMPORAL_FACTORS = tuple(range(2, 17)) + (24, 32, 48, 64, 96, 128, 256)


def imperfect_columns(space: MapSpace, d: int) -> list[tuple[int, ...]]:
    """Columns (innermost slot first, encoded) of dimension d with one residual loop.

    Residual slot y with factor P (any value up to the fan-out size on a spatial slot; 2-16 and a few
    larger round values on a temporal slot) over inner slots factoring I (a divisor of the bound) and
    outer slots factoring N = ceil(bound / I / P) >= 2: the last of the N outer passes runs r = bound/I -
    (N-1) P iterations of y.  Only combinations the model covers exactly (``check_factor_products``):
    r >= 2 on a temporal slot, except on slot 0 (the innermost storage level, no fan-out below it),
    where r = 1 is exact too -- no storage level has that loop among its steps, so a one-iteration
    last pass cannot create reuse the model misses (brute-force checked: tests/test_imperfect_edges.py).
    Without it Gemmini's Registers L=16 could not map L = 16 k + 1 at all (``L16,1`` under an outer
    L of k + 1 is the only cover).  The loader's ``check_factor_products`` accepts the same.
    """
    ctx = space.ctx
    n = int(ctx.bounds[d])
    if n < 3 or d not in _lone_dims(ctx):
        return []
    rules = [space.rules[s][d] for s in range(len(space.slots))]
    out: list[tuple[int, ...]] = []
    ns = len(space.slots)
    for y in range(ns - 1):  # the residual loop needs an outer slot
        ry = rules[y]
        if ry.exact == 0:
            continue
        slot = space.slots[y]
        cap = ctx.fanouts[slot.index].fanout if slot.kind == "spatial" else None
        for I in divisors(n):
            inner = dim_factorizations(I, rules[:y]) if y else ([()] if I == 1 else [])
            if not inner:
                continue
            Q = n // I
            if ry.exact:  # an '=' factor that does not divide: Timeloop's ruby gives that loop a residual
                cands = [ry.exact] if ry.exact < Q else []
            else:
                cands = range(2, min(Q, cap + 1)) if cap else [p for p in IMPERFECT_TEMPORAL_FACTORS if p < Q]
            for P in cands:
                if Q % P == 0 or not ry.allows(P, Q):
                    continue
                N = -(-Q // P)
                r = Q - (N - 1) * P
                if N < 2 or r < (1 if cap or y == 0 else 2):
                    continue
                for outer in dim_factorizations(N, rules[y + 1:]):
                    if cap:
                        t_outer = [f for f, sl in zip(outer, space.slots[y + 1:]) if f > 1 and sl.kind == "temporal"]
                        if len(t_outer) > 1 or (t_outer and t_outer[0] < 3):
                            continue
                    for inn in inner:
                        out.append(tuple(inn) + (P + (r << RES_SHIFT),) + tuple(outer))
    return out


def enumerate_factors(space: MapSpace, keep: np.ndarray, max_rows: int | None = None) -> np.ndarray | None:
    """All factor assignments [N, n_slots, D] that fit fan-outs and capacities (for one keep option).

    With ``max_rows``, give up (return None) as soon as an intermediate combination exceeds it.
    """
    ctx = space.ctx
    D = len(ctx.dims)
    n_slots = len(space.slots)
    per_dim = []
    if max_rows is not None and any(
            count_factorizations(int(ctx.bounds[d]), [space.rules[s][d] for s in range(n_slots)]) > max_rows
            for d in range(D)):
        return None
    for d in range(D):
        facts = dim_factorizations(int(ctx.bounds[d]), [space.rules[s][d] for s in range(n_slots)])
        if space.imperfect:
            facts = facts + imperfect_columns(space, d)
        per_dim.append(np.array(facts, dtype=np.int64).reshape(-1, n_slots))
        if max_rows is not None and len(facts) > max_rows:
            return None
        if not facts:
            return np.zeros((0, n_slots, D), dtype=np.int64)
    cur = np.ones((1, n_slots, D), dtype=np.int64)
    order = sorted(range(D), key=lambda d: len(per_dim[d]))
    for d in order:
        f = per_dim[d]
        if len(f) == 1:
            cur[:, :, d] = f[0]
            continue
        if max_rows is not None and len(cur) * len(f) > max_rows:
            return None
        nxt = np.repeat(cur, len(f), axis=0)
        nxt[:, :, d] = np.tile(f, (len(cur), 1))
        cur = nxt[_fits(space, keep, nxt)]
        if len(cur) == 0:
            break
    return cur


def _fits(space: MapSpace, keep: np.ndarray, fac: np.ndarray) -> np.ndarray:
    """Prune on fan-out sizes and capacities (dimensions not yet placed are 1: a lower bound)."""
    ctx = space.ctx
    fac = fac & FACTOR_MASK  # full factors (largest tiles)
    ok = np.ones(len(fac), dtype=bool)
    ext = np.ones((len(fac), len(ctx.dims)), dtype=np.int64)
    for i, slot in enumerate(space.slots):  # innermost first
        ext = ext * fac[:, i, :]
        if slot.kind == "spatial":
            fan = ctx.fanouts[slot.index]
            ok &= np.prod(fac[:, i, :], axis=1) <= fan.fanout
        else:
            lvl = ctx.levels[slot.index]
            if lvl.size_words is None:
                continue
            used = np.where(keep[slot.index][None, :], tile_sizes(ctx.projections, ext), 0).sum(axis=1)
            ok &= used <= lvl.size_words / max(lvl.multiple_buffering, 1e-12)
    return ok


# --------------------------------------------------------------------------- permutations
def level_orders(space: MapSpace, k: int, active: frozenset[str], all_permutations: bool) -> list[tuple[str, ...]]:
    """Candidate loop orders (innermost first) of the active dims of level k."""
    ctx = space.ctx
    pinned = [d for d in space.pinned[k] if d in active]
    free = sorted(active - set(pinned), key=ctx.dims.index)
    if len(free) <= 1:
        return [tuple(pinned + free)]
    if len(free) > 5:
        cands = [tuple([d] + [x for x in free if x != d]) for d in free]
    else:
        cands = list(permutations(free))
    orders = [tuple(pinned) + c for c in cands]
    if all_permutations:
        return orders
    # keep one order per reuse signature: for each data space, the irrelevant loops of the innermost run
    seen, out = set(), []
    rel = {ds: {ctx.dims[i] for i in np.nonzero(ctx.relevant[s])[0]} for s, ds in enumerate(ctx.ds_names)}
    for o in orders:
        sig = []
        for ds in ctx.ds_names:
            run = []
            for d in o:
                if d in rel[ds]:
                    break
                run.append(d)
            sig.append(frozenset(run))
        sig_t = tuple(sig)
        if sig_t not in seen:
            seen.add(sig_t)
            out.append(o)
    return out


def factor_layout(space: MapSpace, fac: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Encoded factor rows [N, slots, D] -> temporal [N, K, D] and spatial [N, F, D] factors, and their
    residuals (``None`` when no row has one)."""
    ctx = space.ctx
    K, D, n = ctx.n_levels, len(ctx.dims), len(fac)
    t_slot = [i for i, s in enumerate(space.slots) if s.kind == "temporal"]
    t_level = [space.slots[i].index for i in t_slot]
    s_slot = [i for i, s in enumerate(space.slots) if s.kind == "spatial"]
    s_fan = [space.slots[i].index for i in s_slot]
    fac, res = decode(fac)
    temporal = np.ones((n, K, D), dtype=np.int64)
    temporal[:, t_level, :] = fac[:, t_slot, :]
    spatial = np.ones((n, len(ctx.fanouts), D), dtype=np.int64)
    if s_slot:
        spatial[:, s_fan, :] = fac[:, s_slot, :]
    if not res.any():
        return temporal, spatial, None, None
    res_t = np.zeros((n, K, D), dtype=np.int64)
    res_t[:, t_level, :] = res[:, t_slot, :]
    res_s = np.zeros((n, len(ctx.fanouts), D), dtype=np.int64)
    if s_slot:
        res_s[:, s_fan, :] = res[:, s_slot, :]
    return temporal, spatial, res_t, res_s


def order_ranks(space: MapSpace, k: int, active: np.ndarray, all_permutations: bool) -> np.ndarray:
    """Level k's loop-order candidates (:func:`level_orders`) for the ``active`` [D] dimensions as rank
    rows [O, D]: 0 = innermost, inactive dimensions outermost."""
    ctx = space.ctx
    D = len(ctx.dims)
    act = frozenset(ctx.dims[d] for d in range(D) if active[d])
    rows = []
    for o in level_orders(space, k, act, all_permutations):
        r = np.arange(D, dtype=np.int64) + D
        for pos, dname in enumerate(o):
            r[ctx.dims.index(dname)] = pos
        rows.append(r)
    return np.array(rows, dtype=np.int64)


def expand_batches(space: MapSpace, keep: np.ndarray, fac: np.ndarray, all_permutations: bool,
                   chunk: int = 65536) -> Iterator[tuple[MappingBatch, np.ndarray, np.ndarray]]:
    """Yield (batch, factor-row index, permutation-choice index) chunks covering every permutation candidate."""
    K = space.ctx.n_levels
    temporal, spatial, res_t, res_s = factor_layout(space, fac)
    imperfect = res_t is not None
    active = temporal > 1  # [N, K, D]
    # group rows by their active pattern; each group shares the permutation candidates
    key = np.packbits(active.reshape(len(fac), -1), axis=1)
    _, group_of, = np.unique(key, axis=0, return_inverse=True)[0:2]
    group_of = group_of.reshape(-1)
    for g in range(group_of.max() + 1 if len(fac) else 0):
        rows = np.nonzero(group_of == g)[0]
        pattern = active[rows[0]]
        per_level = [order_ranks(space, k, pattern[k], all_permutations) for k in range(K)]
        combos = list(product(*[range(len(p)) for p in per_level]))
        combo_ranks = np.stack([np.stack([per_level[k][c[k]] for k in range(K)]) for c in combos])  # [P, K, D]
        P = len(combos)
        total = len(rows) * P
        for start in range(0, total, chunk):
            idx = np.arange(start, min(total, start + chunk))
            r_i, p_i = rows[idx // P], idx % P
            sx, sy = _split_xy(space, spatial[r_i])
            kb = np.broadcast_to(keep, (len(idx),) + keep.shape)
            if imperfect:
                yield MappingBatch(temporal[r_i], combo_ranks[p_i], sx, sy, kb, res_t[r_i], res_s[r_i]), r_i, p_i
            else:
                yield MappingBatch(temporal[r_i], combo_ranks[p_i], sx, sy, kb), r_i, p_i


def _split_xy(space: MapSpace, spatial: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Assign each fan-out's spatial factors to X or Y (forced by ``split`` constraints, else first fit)."""
    ctx = space.ctx
    sx = np.ones_like(spatial)
    sy = np.ones_like(spatial)
    for f, fan in enumerate(ctx.fanouts):
        force_x, force_y = space.splits[f]
        px = np.ones(len(spatial), dtype=np.int64)
        py = np.ones(len(spatial), dtype=np.int64)
        for d, dname in enumerate(ctx.dims):
            v = spatial[:, f, d]
            if force_x is not None and dname in force_x:
                to_x = np.ones(len(v), dtype=bool)
            elif force_y is not None and dname in force_y:
                to_x = np.zeros(len(v), dtype=bool)
            else:
                to_x = (px * v <= fan.fanout_x) & ~((fan.fanout_x == 1) & (v > 1))
            sx[:, f, d] = np.where(to_x, v, 1)
            sy[:, f, d] = np.where(to_x, 1, v)
            px *= sx[:, f, d]
            py *= sy[:, f, d]
    return sx, sy


def batch_row_to_mapping(space: MapSpace, batch: MappingBatch, i: int) -> Mapping:
    """Turn row ``i`` of a batch into a typed :class:`Mapping`."""
    ctx = space.ctx
    temporal = []
    for k, lvl in enumerate(ctx.levels):
        dims = [d for d in range(len(ctx.dims)) if batch.temporal[i, k, d] > 1]
        dims.sort(key=lambda d: -batch.rank[i, k, d])  # outermost first
        loops = tuple((ctx.dims[d], int(batch.temporal[i, k, d])) for d in dims)
        keep = frozenset(ds for s, ds in enumerate(ctx.ds_names) if batch.keep[i, k, s])
        res = () if batch.res_t is None else tuple(
            (ctx.dims[d], int(batch.res_t[i, k, d])) for d in dims if 0 < batch.res_t[i, k, d] < batch.temporal[i, k, d])
        temporal.append(TemporalMapping(lvl.name, loops, keep, res))
    spatial = []
    for f, fan in enumerate(ctx.fanouts):
        x = tuple((ctx.dims[d], int(batch.spatial_x[i, f, d])) for d in range(len(ctx.dims)) if batch.spatial_x[i, f, d] > 1)
        y = tuple((ctx.dims[d], int(batch.spatial_y[i, f, d])) for d in range(len(ctx.dims)) if batch.spatial_y[i, f, d] > 1)
        sp = batch.spatial_x[i, f] * batch.spatial_y[i, f]
        res = () if batch.res_s is None else tuple(
            (ctx.dims[d], int(batch.res_s[i, f, d])) for d in range(len(ctx.dims)) if 0 < batch.res_s[i, f, d] < sp[d])
        spatial.append(SpatialMapping(fan.name, x, y, res))
    return Mapping(tuple(temporal), tuple(spatial))


def explain_empty(space: MapSpace) -> str:
    """Say which constraints, capacities or fan-out limits rule out every mapping."""
    ctx = space.ctx
    reasons = []
    n_slots = len(space.slots)
    for d, dname in enumerate(ctx.dims):
        facts = dim_factorizations(int(ctx.bounds[d]), [space.rules[s][d] for s in range(n_slots)])
        if not facts:
            cons = [f"{space.slots[s].name}: {_rule_text(dname, space.rules[s][d])}" for s in range(n_slots)
                    if space.rules[s][d] != SlotRule()]
            reasons.append(f"dimension {dname}={int(ctx.bounds[d])} cannot be split over the levels under the constraints "
                           f"({'; '.join(cons) or 'none'})")
    if reasons:
        return "; ".join(reasons)
    # smallest factors each slot must take
    min_fac = np.ones((1, n_slots, len(ctx.dims)), dtype=np.int64)
    for s in range(n_slots):
        for d in range(len(ctx.dims)):
            r = space.rules[s][d]
            if r.exact:
                min_fac[0, s, d] = r.exact
            elif r.at_least:
                min_fac[0, s, d] = r.at_least
    # the most each slot can take of a dimension: what slots outside a level cannot take stays inside it
    bounds = [int(b) for b in ctx.bounds]
    max_fac = np.array([[_rule_max(space.rules[s][d], bounds[d], space.slots[s], ctx) for d in range(len(ctx.dims))]
                        for s in range(n_slots)], dtype=np.int64)
    for keep in space.keep_options[:1]:
        ext = np.ones(len(ctx.dims), dtype=np.int64)
        for i, slot in enumerate(space.slots):
            ext = ext * min_fac[0, i]
            outer = np.prod(max_fac[i + 1:], axis=0) if i + 1 < n_slots else np.ones(len(ctx.dims), dtype=np.int64)
            ext = np.maximum(ext, -(-np.array(bounds) // np.maximum(outer, 1)))
            forced = {ctx.dims[d]: int(min_fac[0, i, d]) for d in range(len(ctx.dims)) if min_fac[0, i, d] > 1}
            if slot.kind == "spatial":
                fan = ctx.fanouts[slot.index]
                if prod(forced.values()) > fan.fanout:
                    reasons.append(f"fan-out {fan.name} has {fan.fanout} instances but the constraints force spatial factors "
                                   f"{forced} (product {prod(forced.values())})")
                continue
            lvl = ctx.levels[slot.index]
            if lvl.size_words is None:
                continue
            sizes = tile_sizes(ctx.projections, ext)
            needs = [(ctx.ds_names[s], int(sizes[s])) for s in range(len(ctx.ds_names)) if keep[slot.index, s]]
            total = sum(n for _, n in needs)
            cap = lvl.size_words / max(lvl.multiple_buffering, 1e-12)
            if total > cap:
                cons = ", ".join(f"{k}={v}" for k, v in forced.items()) or "no factor constraint at this level"
                kept_in = [f"{ctx.dims[d]}>={int(ext[d])}" for d in range(len(ctx.dims))
                           if ext[d] > 1 and outer[d] < bounds[d]]
                why = (f"; the constraints above it leave the rest below: {', '.join(kept_in)}" if kept_in else "")
                reasons.append(f"{lvl.name} holds {cap:g} words but every mapping needs >= {total} words there "
                               f"({', '.join(f'{n} {ds}' for ds, n in needs)}) under the constraints ({cons} and those "
                               f"below it{why})")
    if not reasons:
        reasons.append("every combination of factors overflows some buffer or fan-out (no single constraint is "
                       "to blame; try relaxing factor constraints or enlarging the buffers)")
    return "; ".join(reasons)


def _rule_max(r: SlotRule, bound: int, slot: Slot, ctx: ModelContext) -> int:
    """The largest factor a slot may take of a dimension (its constraint, or its fan-out size)."""
    if r.exact:
        return r.exact
    top = r.at_most if r.at_most is not None else bound
    if slot.kind == "spatial":
        top = min(top, ctx.fanouts[slot.index].fanout)
    return max(1, min(top, bound))


def _rule_text(d: str, r: SlotRule) -> str:
    parts = []
    if r.exact is not None:
        parts.append(f"{d}={r.exact}")
    if r.at_most is not None:
        parts.append(f"{d}<={r.at_most}")
    if r.at_least is not None:
        parts.append(f"{d}>={r.at_least}")
    return " ".join(parts)


__all__ = ["MapSpace", "Slot", "SlotRule", "build_mapspace", "dim_factorizations", "enumerate_factors",
           "expand_batches", "count_factorizations", "batch_row_to_mapping", "explain_empty", "level_orders", "divisors", "NoValidMappingError",
           "SpatialLevel"]
