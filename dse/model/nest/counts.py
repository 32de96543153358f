"""Phase 3 of the analysis: access counts (perfect factorization) and the rules both counting paths share.

Semantics (Timeloop's uber nest analysis, legacy access counting, first-read elision on):

* *Residencies* (how often a level's tile is (re)loaded, per instance) is the product of all
  temporal loops above the level, except the innermost run of loops irrelevant to the data
  space (those give temporal reuse): :func:`reuse_runs` and :func:`levels_above`.  Spatial
  loops above a level are spread over instances and do not count in time.
* Each keeper of a data space serves the next keeper below it (or every operation of the
  compute unit), divided by the multicast / spatial-reduction factor (product of the spatial
  factors of irrelevant dimensions at the fan-outs in between); :func:`keeper_counts` turns
  those deliveries into reads, fills and updates.
* The outermost keeper (backing store) has no parent to fill from: :func:`clear_backing_fills`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from dse.model.nest.context import ModelContext


@dataclass(frozen=True)
class NetworkDeliveries:
    """What the explicit-network phase needs from counting (all per instance of level k).

    ``pre[b, k, s]`` deliveries from level k to its inner neighbour as if that neighbour kept s;
    ``multicast[b, k, s]`` the multicast factor of k's own fan-out for s; ``fanout[b, k]`` its
    utilized fan-out.
    """

    pre: np.ndarray
    multicast: np.ndarray
    fanout: np.ndarray
    # for hop counts (Legacy networks): spatial factors [B, F, D'] and relevance [S, D'] over the same columns
    spatial_x: np.ndarray | None = None
    spatial_y: np.ndarray | None = None
    relevant: np.ndarray | None = None


@dataclass(frozen=True)
class AccessCounts:
    """Per-instance access counts of a batch: the contract between counting and costing.

    Arrays are [B, K, S] unless noted.  ``compute_cycles`` [B] may be fractional only in
    name (float); ``spatial_x/y`` [B, F, D'] are the spatial factors the fan-out check uses.
    """

    keep: np.ndarray
    tile: np.ndarray  # utilized capacity per instance (words)
    partition: np.ndarray
    instances: np.ndarray  # [B, K] utilized instances
    reads: np.ndarray
    fills: np.ndarray
    updates: np.ndarray
    utilized_compute: np.ndarray  # [B]
    compute_cycles: np.ndarray  # [B]
    spatial_x: np.ndarray
    spatial_y: np.ndarray
    network: NetworkDeliveries | None = None


# --------------------------------------------------------------------------- shared rules
def reuse_runs(active: np.ndarray, rank: np.ndarray, relevant: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The temporal-reuse rule for one data space.

    ``active [B, K, D]`` loops with factor > 1, ``rank`` their order (0 = innermost),
    ``relevant [D]``.  Returns ``in_run [B, K, D]``: the loops of the innermost run of irrelevant
    loops of each level (they give reuse), and ``closes [B, K]``: the level has a relevant loop
    (levels above it no longer give reuse).
    """
    rel_active = active & relevant[None, None, :]
    closes = rel_active.any(axis=2)
    rel_min = np.where(rel_active, rank, active.shape[2] + 1).min(axis=2)
    in_run = active & ~relevant[None, None, :] & (rank < rel_min[:, :, None])
    return in_run, closes


def levels_above(closes: np.ndarray, k: int) -> Iterator[tuple[int, np.ndarray]]:
    """Levels j above level k, innermost first, with ``is_open [B]``: whether j's innermost
    irrelevant run still gives reuse (no level between j and k has a relevant loop)."""
    is_open = np.ones(closes.shape[0], dtype=bool)
    for j in range(k - 1, -1, -1):
        yield j, is_open
        is_open = is_open & ~closes[:, j]


def keeper_counts(read_write: bool, kept: np.ndarray, delivered, own, part, per_instance=None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Reads, fills and updates (per instance) of a level for one data space, where it is kept.

    ``delivered``: what the level serves to the keeper below (read-only data) or receives from
    it (outputs); ``own``: its residencies x tile; ``part``: its partition.  Outputs: updates =
    delivered, reads (temporal reductions) = delivered - partition, fills = own - partition
    (the first write of each element is not a read).  Updates are None for read-only data.
    With ``per_instance`` the three are totals over that many instances (divided last).
    """
    def per(x):
        return x if per_instance is None else x / per_instance
    if read_write:
        return (np.where(kept, per(delivered - part), 0), np.where(kept, per(own - part), 0),
                np.where(kept, per(delivered), 0))
    return np.where(kept, per(delivered), 0), np.where(kept, per(own), 0), None


def clear_backing_fills(fills: np.ndarray, outermost: np.ndarray, s: int) -> None:
    """The outermost keeper (``outermost [B]``, -1 = none) has no parent to fill from."""
    rows = np.nonzero(outermost >= 0)[0]
    fills[rows, outermost[rows], s] = 0


# --------------------------------------------------------------------------- perfect factorization
def count_perfect(ctx: ModelContext, t: np.ndarray, rank: np.ndarray, keep: np.ndarray, sp_between: np.ndarray,
                  instances: np.ndarray, tile: np.ndarray, partition: np.ndarray, relevant: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reads, fills, updates [B, K, S] (int64, per instance) and residencies of a perfect batch."""
    B, K, D = t.shape
    S = len(ctx.ds_names)
    resid = np.ones((B, K, S), dtype=np.int64)
    level_total = np.prod(t, axis=2)  # [B, K]
    active = t > 1
    for s in range(S):
        in_run, closes = reuse_runs(active, rank, relevant[s])
        reduced = level_total // np.prod(np.where(in_run, t, 1), axis=2)  # [B, K] without the reuse run
        for k in range(1, K):
            acc = np.ones(B, dtype=np.int64)
            for j, is_open in levels_above(closes, k):
                acc = acc * np.where(is_open, reduced[:, j], level_total[:, j])
            resid[:, k, s] = acc

    reads = np.zeros((B, K, S), dtype=np.int64)
    fills = np.zeros((B, K, S), dtype=np.int64)
    updates = np.zeros((B, K, S), dtype=np.int64)
    for s in range(S):
        irr = ~relevant[s]
        rw = bool(ctx.read_write[s])
        carry = np.full(B, ctx.macs, dtype=np.int64)  # scalar deliveries (or updates) needed below, all instances
        carry_div = np.ones(B, dtype=np.int64)  # multicast / spatial-reduction factor accumulated
        outermost = np.full(B, -1, dtype=np.int64)
        for k in range(K - 1, -1, -1):
            carry_div = carry_div * np.prod(np.where(irr[None, :], sp_between[:, k, :], 1), axis=1)
            kept = keep[:, k, s]
            own = resid[:, k, s] * tile[:, k, s]
            r, f, u = keeper_counts(rw, kept, carry // carry_div // instances[:, k], own, partition[:, k, s])
            reads[:, k, s], fills[:, k, s] = r, f
            if u is not None:
                updates[:, k, s] = u
            carry = np.where(kept, own * instances[:, k], carry)
            carry_div = np.where(kept, 1, carry_div)
            outermost = np.where(kept, k, outermost)
        clear_backing_fills(fills, outermost, s)
    return reads, fills, updates, resid
