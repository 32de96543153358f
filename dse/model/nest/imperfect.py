"""Phase 3 of the analysis for batches with residual loops (Timeloop's ruby ``residual_end``), exact totals.

A dimension with a residual loop Y (factor P, residual r) runs every index tuple of its loops
whose mixed-radix coordinate is below its bound: Y runs r iterations when all the dimension's
loops outside Y are in their last iteration.  Totals over all instances are sums over the
*included* loops (spatial loops above the level, and temporal loops above it from the innermost
loop relevant to the data space outward -- the same reuse rule as perfect mappings,
:func:`~dse.model.nest.counts.reuse_runs` and :func:`~dse.model.nest.counts.levels_above`):

* a dimension irrelevant to the data space contributes the number of distinct index tuples of
  its included loops (the product of their factors, minus ``(P - r) x`` the included factors
  inside Y when Y and every loop of the dimension outside Y are included);
* a relevant dimension with a residual contributes its bound (the tiles of its included loops
  partition it; it is indexed alone, see ``check_factor_products``), other relevant dimensions
  their tile extent times the product of their included factors.

Per-instance counts are these totals / utilized instances (averages, as Timeloop reports them),
so they may be fractional.  Utilized capacity is the largest (full) tile.  Compute cycles count
the padded temporal iteration space (the product of the full temporal factors) and utilized compute
instances the full spatial expansion, as Timeloop prints them; computes are the real operations.
"""
from __future__ import annotations

import numpy as np

from dse.model.nest.batch import MappingBatch
from dse.model.nest.context import ModelContext
from dse.model.nest.counts import (AccessCounts, NetworkDeliveries, clear_backing_fills, keeper_counts,
                                   levels_above, reuse_runs)
from dse.model.nest.tiles import inner_extents, spatial_products, tile_sizes


def count_imperfect(ctx: ModelContext, batch: MappingBatch) -> AccessCounts:
    """Access counts of a batch with residual loops (see the module docstring)."""
    t = batch.temporal.astype(np.int64)
    rank = batch.rank
    sx_all, sy_all = batch.spatial_x, batch.spatial_y
    rel = ctx.relevant
    bounds = ctx.bounds
    B, K, D = t.shape
    F = len(ctx.fanouts)
    S = len(ctx.ds_names)
    above = ctx.fanout_above_level
    sp = sx_all * sy_all
    res_t = batch.res_t if batch.res_t is not None else np.zeros_like(t)
    res_s = batch.res_s if batch.res_s is not None else np.zeros_like(sp)

    # the perfect-path quantities that do not depend on residuals (full factors)
    geo = spatial_products(ctx, sp, K)
    instances = geo.instances
    ext = inner_extents(t, geo.below)  # [B, K, D] full tile extents
    # largest tile actually held: a dimension's extent is capped by its bound (a residual inside the tile)
    tile = tile_sizes(ctx.projections, np.minimum(ext, bounds[None, None, :]))

    # loop slots in nest order, outer to inner: level k's temporal loops, then the fan-outs below k
    slots: list[tuple[str, int]] = []
    for k in range(K):
        slots.append(("T", k))
        slots += [("S", f) for f in range(F) if above[f] == k]
    n = len(slots)
    tpos = {i: j for j, (kind, i) in enumerate(slots) if kind == "T"}
    spos = {i: j for j, (kind, i) in enumerate(slots) if kind == "S"}
    fac = np.stack([t[:, i, :] if kind == "T" else sp[:, i, :] for kind, i in slots], axis=1)  # [B, n, D]
    res = np.stack([res_t[:, i, :] if kind == "T" else res_s[:, i, :] for kind, i in slots], axis=1)
    has = (res > 0) & (res < fac)
    pos = np.arange(n)
    yslot = np.where(has.any(axis=1), has.argmax(axis=1), -1)  # [B, D]
    hasres = yslot >= 0
    ysafe = np.maximum(yslot, 0)
    P_y = np.take_along_axis(fac, ysafe[:, None, :], axis=1)[:, 0, :]
    r_y = np.take_along_axis(res, ysafe[:, None, :], axis=1)[:, 0, :]
    outer_mask = (pos[None, :, None] < yslot[:, None, :]) & (fac > 1)
    inner_mask = pos[None, :, None] > yslot[:, None, :]

    def count(m: np.ndarray) -> np.ndarray:
        """[B, n, D] included-loop mask -> [B, D] distinct index tuples of the included loops."""
        prod_s = np.prod(np.where(m, fac, 1), axis=1)
        inner_s = np.prod(np.where(m & inner_mask, fac, 1), axis=1)
        y_in = np.take_along_axis(m, ysafe[:, None, :], axis=1)[:, 0, :]
        outer_in = ~(outer_mask & ~m).any(axis=1)
        return prod_s - np.where(hasres & y_in & outer_in, (P_y - r_y) * inner_s, 0)

    def total(m: np.ndarray, s: int, extent: np.ndarray) -> np.ndarray:
        rr = hasres & rel[s][None, :]
        mult = np.prod(np.where(rr, 1, count(m)), axis=1)
        return mult * tile_sizes(ctx.projections, np.where(rr, bounds[None, :], extent))[:, s]

    all_in = np.ones((B, n, D), dtype=bool)
    # Timeloop's imperfect cycle count: every temporal loop runs its full factor (the padded iteration
    # space; the residual's idle steps still take a cycle) and the compute array's utilized instances are
    # the full spatial expansion, while computes count only the real operations
    compute_cycles = np.prod(t, axis=(1, 2)).astype(float)
    utilized_compute = np.prod(geo.total, axis=1)

    def spatial_above(k: int) -> np.ndarray:
        m = np.zeros((B, n, D), dtype=bool)
        for f in range(F):
            if above[f] < k:
                m[:, spos[f], :] = True
        return m

    keep = batch.keep
    reads = np.zeros((B, K, S))
    fills = np.zeros((B, K, S))
    updates = np.zeros((B, K, S))
    partition = np.zeros((B, K, S))
    net = None
    if ctx.networks:
        net = NetworkDeliveries(np.zeros((B, K, S)), np.ones((B, K, S), dtype=np.int64), np.prod(geo.between, axis=2),
                                sx_all, sy_all, rel)
    active = t > 1
    for s in range(S):
        r_s = rel[s]
        in_run, closes = reuse_runs(active, rank, r_s)
        included = []  # per level k: [B, n, D] loops that count for its residencies
        for k in range(K):
            m = spatial_above(k)
            for j, is_open in levels_above(closes, k):
                m[:, tpos[j], :] = np.where(is_open[:, None], ~in_run[:, j, :], True)
            included.append(m)
        if net is not None:
            # deliveries from level k to its inner neighbour as if the neighbour kept s (exact totals)
            for k in range(K):
                cm = (all_in if k == K - 1 else included[k + 1]).copy()
                for f in range(F):
                    if above[f] == k:
                        cm[:, spos[f], :] &= r_s[None, :]
                cext = np.ones((B, D), dtype=np.int64) if k == K - 1 else ext[:, k + 1, :]
                net.pre[:, k, s] = total(cm, s, cext) / instances[:, k]
                net.multicast[:, k, s] = np.prod(np.where(~r_s[None, :], geo.between[:, k, :], 1), axis=1)
        child_mask, child_ext = all_in, np.ones((B, D), dtype=np.int64)
        child = np.full(B, K, dtype=np.int64)  # next keeper below (K = the compute unit), per row
        outermost = np.full(B, -1, dtype=np.int64)
        for k in range(K - 1, -1, -1):
            kept = keep[:, k, s]
            if not kept.any():
                continue
            mc = child_mask.copy()
            for f in range(F):  # multicast / spatial reduction: irrelevant spatial loops between k and the child
                between = (k <= above[f]) & (above[f] < child)
                mc[:, spos[f], :] &= np.where(between[:, None], r_s[None, :], True)
            deliv = total(mc, s, child_ext).astype(float)
            inst = instances[:, k].astype(float)
            part = total(spatial_above(k), s, bounds[None, :] // geo.above[:, k, :]).astype(float)
            own = total(included[k], s, ext[:, k, :]).astype(float)
            r, f_, u = keeper_counts(bool(ctx.read_write[s]), kept, deliv, own, part, per_instance=inst)
            reads[:, k, s], fills[:, k, s] = r, f_
            if u is not None:
                updates[:, k, s] = u
            partition[:, k, s] = np.where(kept, part / inst, 0)
            child_mask = np.where(kept[:, None, None], included[k], child_mask)
            child_ext = np.where(kept[:, None], ext[:, k, :], child_ext)
            child = np.where(kept, k, child)
            outermost = np.where(kept, k, outermost)
        clear_backing_fills(fills, outermost, s)
    return AccessCounts(keep, tile, partition, instances, reads, fills, updates, utilized_compute, compute_cycles,
                        sx_all, sy_all, net)
