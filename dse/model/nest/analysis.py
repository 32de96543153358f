"""The analysis, phase by phase: context -> tiles -> access counts -> networks -> costs -> result."""
from __future__ import annotations

import numpy as np

from dse.model.nest.batch import MappingBatch, batch_from_mappings
from dse.model.nest.context import ModelContext
from dse.model.nest.costs import finish
from dse.model.nest.counts import AccessCounts, count_perfect
from dse.model.nest.imperfect import count_imperfect
from dse.model.nest.networks import perfect_deliveries
from dse.model.nest.result import BatchResult, ModelResult, result_at
from dse.model.nest.tiles import active_columns, inner_extents, spatial_products, tile_sizes
from dse.spec.mapping import Mapping


def access_counts(ctx: ModelContext, batch: MappingBatch) -> AccessCounts:
    """Per-instance access counts of every mapping of ``batch`` (see :mod:`dse.model.nest.counts`)."""
    if batch.imperfect:
        return count_imperfect(ctx, batch)
    # dimensions of bound 1 change no count: drop them when every mapping leaves them at 1 (speed)
    a = active_columns(ctx, batch.temporal, batch.spatial_x, batch.spatial_y)
    if a is None:
        t, rank = batch.temporal.astype(np.int64), batch.rank
        sx, sy = batch.spatial_x, batch.spatial_y
        rel, projections, bounds = ctx.relevant, ctx.projections, ctx.bounds
    else:
        t, rank = batch.temporal[:, :, a].astype(np.int64), batch.rank[:, :, a]
        sx, sy = batch.spatial_x[:, :, a], batch.spatial_y[:, :, a]
        rel, projections, bounds = ctx.relevant[:, a], ctx.active_projections, ctx.bounds[a]
    K = t.shape[1]
    geo = spatial_products(ctx, sx * sy, K)
    utilized_compute = np.prod(geo.total, axis=1)
    tile = tile_sizes(projections, inner_extents(t, geo.below))
    partition = tile_sizes(projections, bounds[None, None, :] // geo.above)
    reads, fills, updates, resid = count_perfect(ctx, t, rank, batch.keep, geo.between, geo.instances, tile,
                                                 partition, rel)
    net = perfect_deliveries(ctx, resid * tile, geo.between, utilized_compute, rel, sx, sy) if ctx.networks else None
    return AccessCounts(batch.keep, tile, partition, geo.instances, reads, fills, updates, utilized_compute,
                        ctx.macs / utilized_compute, sx, sy, net)


def evaluate_batch(ctx: ModelContext, batch: MappingBatch) -> BatchResult:
    """Evaluate every mapping of ``batch``; see :mod:`dse.model.nest` for the semantics."""
    return finish(ctx, access_counts(ctx, batch))


def evaluate(ctx: ModelContext, mapping: Mapping) -> ModelResult:
    """Evaluate one mapping (a batch of one) and return Timeloop-style per-level stats."""
    res = evaluate_batch(ctx, batch_from_mappings(ctx, [mapping]))
    return result_at(ctx, res, 0, mapping)
