"""Brute-force loop-nest simulator: a test oracle for ``dse.model.nest`` (test helper, not product code).

It literally runs the whole loop nest of a mapping (every temporal loop of every
storage level, every spatial loop of every fan-out) for a small workload whose
data spaces project each rank on dimensions (GEMM-like, e.g. Weights(E,D),
Inputs(E,L), Outputs(D,L) read-write) and tracks, for every storage level
instance and data space, the set of elements resident (the tile).  Counting
follows Timeloop's conventions (docs/model.md):

* A level's *step* is the tuple of temporal loop indices of the levels above it;
  its *instance* the tuple of spatial loop indices of the fan-outs above it.  The
  tile at (instance, step) is every element touched below that point of the nest.
* Per instance, steps in time order; when the tile changes, the elements not
  already resident (not in the previous tile) are *delta* elements: filled from
  the nearest keeper above (for read-write data, the same deltas are what the
  child later drains to the parent -- Timeloop analyses both directions with the
  same deltas).  The compute unit's deltas are one element per operation.
* Parent reads (read-only) / parent updates (read-write) = distinct (parent
  instance, child step, element) among the children's deltas: one parent access
  serves every child needing the same element at the same step (multicast;
  spatial reduction for outputs).
* Read-write data: first-read elision -- a level's reads are its updates minus the
  first update of each element per instance; its fills are its deltas minus the
  first touch of each element per instance.  The outermost keeper is never filled.

Imperfect factorization: a loop may carry a residual ``r`` (Timeloop's
``residual_end``): the nest runs every index tuple whose mixed-radix coordinate
is below the dimension's bound, so that loop's last pass runs ``r`` iterations.

Results are totals over all instances: ``{(level, ds): {"reads", "fills",
"updates", "tile" (max), "partition" (total elements ever held, summed over
instances)}}`` plus ``"ops"`` and ``"time_steps"``.
"""
from __future__ import annotations

from collections import defaultdict
from itertools import product

from dse.spec.mapping import Mapping
from dse.spec.types import Architecture, SpatialLevel, StorageLevel, Workload


def _loops(arch: Architecture, mapping: Mapping, workload: Workload):
    """Loops outer -> inner: (kind, level/fan-out index, dim, factor, residual)."""
    loops = []
    k = -1
    f = -1
    for node in arch.nodes:
        if isinstance(node, StorageLevel):
            k += 1
            tm = mapping.level(node.name)
            res = dict(getattr(tm, "residuals", ()) or ())
            for d, b in tm.loops:
                if b > 1:
                    loops.append(("T", k, d, b, res.get(d, b)))
        elif isinstance(node, SpatialLevel):
            f += 1
            sm = mapping.fanout(node.name)
            res = dict(getattr(sm, "residuals", ()) or ())
            for d in workload.dimensions:
                b = sm.factor(d)
                if b > 1:
                    loops.append(("S", k, d, b, res.get(d, b)))  # k: the storage level above this fan-out
    return loops


def simulate(arch: Architecture, workload: Workload, mapping: Mapping) -> dict:
    dims = list(workload.dimensions)
    loops = _loops(arch, mapping, workload)
    K = len(arch.storage_levels)
    # mixed-radix strides per loop (product of same-dim factors inner to it)
    strides = []
    for i, (_, _, d, _, _) in enumerate(loops):
        s = 1
        for (_, _, d2, b2, _) in loops[i + 1:]:
            if d2 == d:
                s *= b2
        strides.append(s)
    # residual r on loop j is realised by truncation: coordinate < bound (checked below)
    for i, (_, _, d, b, r) in enumerate(loops):
        outer = [j for j in range(i) if loops[j][2] == d]
        total_full = strides[i] * b
        for j in outer:
            total_full *= loops[j][3]
        if r != b:
            # bound must equal ((N_outer - 1) * b + r) * stride
            n_outer = total_full // (strides[i] * b)
            assert ((n_outer - 1) * b + r) * strides[i] == workload.bounds[d], (d, loops)
    # per level: which loops are "above" (define instance and step)
    def above(k: int):
        inst = [j for j, l in enumerate(loops) if l[0] == "S" and l[1] < k]
        step = [j for j, l in enumerate(loops) if l[0] == "T" and l[1] < k]
        return inst, step

    ds_list = list(workload.data_spaces)
    coeff = {c: int(v) for c, v in workload.coefficients.items()}

    def element(ds, coord):
        out = []
        for rank in ds.projection:
            v = 0
            for d, c in rank:
                v += coord[d] * (coeff.get(c, 1) if c else 1)
            out.append(v)
        return tuple(out)

    # all valid points in nest (time-major lexicographic over all loops; order irrelevant here)
    points = []
    for idx in product(*[range(l[3]) for l in loops]):
        coord = {d: 0 for d in dims}
        for j, i in enumerate(idx):
            coord[loops[j][2]] += i * strides[j]
        if all(coord[d] < workload.bounds[d] for d in dims):
            points.append((idx, coord))
    ops = len(points)
    t_all = [j for j, l in enumerate(loops) if l[0] == "T"]
    s_all = [j for j, l in enumerate(loops) if l[0] == "S"]
    time_steps = len({tuple(idx[j] for j in t_all) for idx, _ in points})
    # Timeloop's cycle count for imperfect factorization: every temporal loop's full range (padded space)
    padded_time_steps = 1
    for j in t_all:
        padded_time_steps *= loops[j][3]

    # tiles[k][(inst, step)][s] = set of elements
    tiles = []
    for k in range(K):
        inst_j, step_j = above(k)
        tk = defaultdict(lambda: [set() for _ in ds_list])
        for idx, coord in points:
            key = (tuple(idx[j] for j in inst_j), tuple(idx[j] for j in step_j))
            entry = tk[key]
            for s, ds in enumerate(ds_list):
                entry[s].add(element(ds, coord))
        tiles.append(tk)

    def deltas(k: int, s: int):
        """Delta events (inst, step, element) of level k, plus per-instance first touches, max tile."""
        by_inst = defaultdict(list)
        for (inst, step), entry in tiles[k].items():
            by_inst[inst].append((step, entry[s]))
        events = []
        first = 0
        max_tile = 0
        for inst, seq in by_inst.items():
            seq.sort(key=lambda x: x[0])
            prev: set = set()
            held: set = set()
            for step, tile in seq:
                for e in tile - prev:
                    events.append((inst, step, e))
                prev = tile
                held |= tile
                max_tile = max(max_tile, len(tile))
            first += len(held)
        return events, first, max_tile

    def compute_events(s: int):
        ds = ds_list[s]
        return [(tuple(idx[j] for j in s_all), tuple(idx[j] for j in t_all), element(ds, coord)) for idx, coord in points]

    out: dict = {"ops": ops, "time_steps": time_steps, "padded_time_steps": padded_time_steps}
    for s, ds in enumerate(ds_list):
        keepers = [k for k, lvl in enumerate(arch.storage_levels) if ds.name in mapping.level(lvl.name).keep]
        info = {}
        for k in keepers:
            ev, first, mt = deltas(k, s)
            info[k] = (ev, first, mt)
        for pos, k in enumerate(keepers):
            ev, first, mt = info[k]
            n_inst_above_k = len(above(k)[0])
            # child deliveries: next keeper below, or the compute unit
            if pos + 1 < len(keepers):
                c = keepers[pos + 1]
                child_ev = info[c][0]
                n_sp_parent = n_inst_above_k
            else:
                child_ev = compute_events(s)
                n_sp_parent = n_inst_above_k
            # child instance tuples start with the parent's spatial indices (same loop order)
            served = {(inst[:n_sp_parent], step, e) for inst, step, e in child_ev}
            n_served = len(served)
            outermost = pos == 0
            rec = {"tile": mt, "partition": first}
            if ds.read_write:
                rec["updates"] = n_served
                rec["reads"] = n_served - first
                rec["fills"] = 0 if outermost else len(ev) - first
            else:
                rec["updates"] = 0
                rec["reads"] = n_served
                rec["fills"] = 0 if outermost else len(ev)
            out[(arch.storage_levels[k].name, ds.name)] = rec
    return out


__all__ = ["simulate"]
