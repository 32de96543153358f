"""Phase 5 of the analysis: transfers and energy of explicit network components.

A storage level's ``network_read`` / ``network_update`` naming a network component: transfers
per data space over the level's connection to its inner neighbour, with the multicast factor of
its own fan-out, x the network's per-transfer energy (Timeloop SimpleMulticast); see
docs/model.md "Networks".  Architectures without explicit networks take none of this code.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.model.nest.context import ModelContext
from dse.model.nest.counts import NetworkDeliveries


@dataclass(frozen=True)
class NetworkCounts:
    """Per explicit network n (``ctx.networks``): transfers, multicast, fan-out, instances, energy."""

    transfers: np.ndarray  # [B, N, S] per instance of the network's level
    multicast: np.ndarray  # [B, N, S] destinations per transfer
    fanout: np.ndarray  # [B, N] utilized fan-out of the level
    instances: np.ndarray  # [B, N] utilized instances of the level
    energy_pj: np.ndarray  # [B, N, S] all instances


def perfect_deliveries(ctx: ModelContext, own: np.ndarray, sp_between: np.ndarray, utilized_compute: np.ndarray,
                       relevant: np.ndarray) -> NetworkDeliveries:
    """Deliveries of a perfect batch: level k+1's residencies x tile (``own``), or one per operation
    below the innermost level, x fan-out / multicast."""
    B, K, S = own.shape
    fan = np.prod(sp_between, axis=2)  # [B, K]
    pre = np.zeros((B, K, S), dtype=np.int64)
    mcast = np.ones((B, K, S), dtype=np.int64)
    for s in range(S):
        m = np.prod(np.where(~relevant[s][None, None, :], sp_between, 1), axis=2)  # [B, K]
        mcast[:, :, s] = m
        child = np.concatenate([own[:, 1:, s], (ctx.macs // utilized_compute)[:, None]], axis=1)
        pre[:, :, s] = child * fan // m
    return NetworkDeliveries(pre, mcast, fan)


def network_counts(ctx: ModelContext, keep: np.ndarray, instances: np.ndarray, net: NetworkDeliveries) -> NetworkCounts:
    """Transfers over each explicit network (Timeloop SimpleMulticast semantics).

    Timeloop's tile masking: a level's network carries ``pre`` when the inner neighbour keeps s
    (or is the compute unit), otherwise what the neighbour's own network carries x fan-out /
    multicast; levels above the outermost keeper of s carry nothing.
    """
    pre, mcast, fan = net.pre, net.multicast, net.fanout
    B, K, S = keep.shape
    A = np.zeros(pre.shape, dtype=pre.dtype)
    for s in range(S):
        A[:, K - 1, s] = pre[:, K - 1, s]
        for k in range(K - 2, -1, -1):
            through = A[:, k + 1, s] * fan[:, k]
            through = through // mcast[:, k, s] if A.dtype.kind == "i" else through / mcast[:, k, s]
            A[:, k, s] = np.where(keep[:, k + 1, s], pre[:, k, s], through)
        kept = keep[:, :, s]
        first = np.where(kept.any(axis=1), kept.argmax(axis=1), K)
        A[:, :, s] = np.where(np.arange(K)[None, :] < first[:, None], 0, A[:, :, s])
    N = len(ctx.networks)
    ks = np.array([c.level for c in ctx.networks], dtype=np.int64)
    transfers = A[:, ks, :]  # [B, N, S]
    multicast = mcast[:, ks, :]
    inst = instances[:, ks]
    energy = np.zeros((B, N, S))
    for n, c in enumerate(ctx.networks):
        ne = ctx.energies.networks.get(c.name)
        if ne is None:
            continue
        for s, name in enumerate(ctx.ds_names):
            mf = multicast[:, n, s]
            uniq, inv = np.unique(mf, return_inverse=True)
            per = np.array([ne.energy_pj(name, int(u)) for u in uniq], dtype=float)[inv.reshape(-1)]
            energy[:, n, s] = transfers[:, n, s] * per * inst[:, n]
    return NetworkCounts(transfers, multicast, fan[:, ks], inst, energy)
