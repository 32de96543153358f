"""Phase 2 of the analysis: tiles and projections (shared by the model and the mapper's pruning).

A data space's tile is the projection of per-dimension extents: each rank spans
``1 + sum((extent - 1) x coefficient)`` over its terms (a sliding window when a rank sums
two dimensions), and the tile is the product of the rank spans.  This is the one
implementation of that rule: the cost model, the map-space pruning and the
"no valid mapping" explainer all call :func:`tile_sizes`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.model.nest.context import ModelContext, Projections


def tile_sizes(projections: Projections, ext: np.ndarray) -> np.ndarray:
    """Per-dimension extents ``ext [..., D]`` -> data-space tile sizes ``[..., S]`` (int64)."""
    ext = np.asarray(ext)
    out = []
    for ranks in projections:
        size = None
        for terms in ranks:
            if not terms:
                continue
            if len(terms) == 1 and terms[0][1] == 1:
                span = ext[..., terms[0][0]]
            else:
                span = 1
                for d, c in terms:
                    span = span + (ext[..., d] - 1) * c
            size = span if size is None else size * span
        out.append(np.ones(ext.shape[:-1], dtype=np.int64) if size is None else np.asarray(size, dtype=np.int64))
    return np.stack(out, axis=-1)


@dataclass(frozen=True)
class SpatialProducts:
    """Spatial factors per storage level k, per dimension (all [B, K, D] unless noted).

    ``below``: fan-outs under level k, all the way down; ``between``: fan-outs directly between
    level k and its inner neighbour; ``above``: fan-outs over level k; ``total`` [B, D]: all
    fan-outs; ``instances`` [B, K]: utilized instances of level k.
    """

    below: np.ndarray
    between: np.ndarray
    above: np.ndarray
    total: np.ndarray
    instances: np.ndarray


def spatial_products(ctx: ModelContext, sp: np.ndarray, K: int) -> SpatialProducts:
    """``sp [B, F, D]`` spatial factors per fan-out (x times y) -> :class:`SpatialProducts`."""
    B, F, D = sp.shape
    above = ctx.fanout_above_level
    below = np.ones((B, K, D), dtype=np.int64)
    between = np.ones((B, K, D), dtype=np.int64)
    for f in range(F):
        k = above[f]
        between[:, k, :] *= sp[:, f, :]
        below[:, : k + 1, :] *= sp[:, f, None, :]
    total = np.prod(sp, axis=1) if F else np.ones((B, D), dtype=np.int64)
    over = total[:, None, :] // below
    return SpatialProducts(below, between, over, total, np.prod(over, axis=2))


def inner_extents(t: np.ndarray, sp_below: np.ndarray) -> np.ndarray:
    """Tile extents [B, K, D]: level k's own temporal loops and every inner one, times the spatial ones below."""
    return np.flip(np.cumprod(np.flip(t, axis=1), axis=1), axis=1) * sp_below


def active_columns(ctx: ModelContext, temporal: np.ndarray, spatial_x: np.ndarray,
                   spatial_y: np.ndarray) -> list[int] | None:
    """The dimensions with bound > 1 when every other factor is 1 (exact: they change nothing), else None."""
    act = ctx.active_dims
    D = temporal.shape[2]
    if not act or len(act) == D:
        return None
    inact = [i for i in range(D) if i not in act]
    if (temporal[:, :, inact] != 1).any() or (spatial_x[:, :, inact] != 1).any() \
            or (spatial_y[:, :, inact] != 1).any():
        return None
    return list(act)
