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
                       relevant: np.ndarray, spatial_x: np.ndarray, spatial_y: np.ndarray) -> NetworkDeliveries:
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
    return NetworkDeliveries(pre, mcast, fan, spatial_x, spatial_y, relevant)


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
        if c.legacy is not None:
            energy[:, n, :] = legacy_energy(ctx, c, net, transfers[:, n, :]) * inst[:, n, None]
            continue
        ne = ctx.energies.networks.get(c.name)
        if ne is None:
            continue
        for s, name in enumerate(ctx.ds_names):
            mf = multicast[:, n, s]
            uniq, inv = np.unique(mf, return_inverse=True)
            per = np.array([ne.energy_pj(name, int(u)) for u in uniq], dtype=float)[inv.reshape(-1)]
            energy[:, n, s] = transfers[:, n, s] * per * inst[:, n]
    return NetworkCounts(transfers, multicast, fan[:, ks], inst, energy)


def legacy_energy(ctx: ModelContext, c, net: NetworkDeliveries, transfers: np.ndarray) -> np.ndarray:
    """Per-instance energy [B, S] of a Timeloop ``Legacy`` network on connection ``c``.

    Each transfer (ingress) travels ``hops`` wire hops and touches ``1 + floor(hops)`` routers, where
    ``hops`` is the average over multicast groups (children receiving the same data) of the group's
    route: from the injection point at the left edge, mid-height, along X to the farthest member,
    then up/down each column to its extreme members (Timeloop's nest analysis).  Energy = transfers x
    (hops x energy_per_hop + (1 + floor(hops)) x router_energy + energy-per-ingress).
    """
    B, S = transfers.shape
    fans = [f for f in range(len(ctx.fanouts)) if ctx.fanout_above_level[f] == c.level]
    phys_x = int(np.prod([ctx.fanouts[f].fanout_x for f in fans])) if fans else 1
    phys_y = int(np.prod([ctx.fanouts[f].fanout_y for f in fans])) if fans else 1
    D = net.relevant.shape[1]
    if fans:
        xf = np.prod(net.spatial_x[:, fans, :], axis=1)
        yf = np.prod(net.spatial_y[:, fans, :], axis=1)
    else:
        xf = yf = np.ones((B, D), dtype=np.int64)
    hops = np.zeros((B, S))
    cache: dict = {}
    for b in range(B):
        key = (tuple(int(v) for v in xf[b]), tuple(int(v) for v in yf[b]))
        if key not in cache:
            cache[key] = [_group_hops(key[0], key[1], net.relevant[s], phys_x, phys_y) for s in range(S)]
        hops[b] = cache[key]
    lg = c.legacy
    return transfers * (hops * lg.hop_pj + (1 + np.floor(hops)) * lg.router_pj + lg.ingress_pj)


def _digits(i: int, radices: tuple[int, ...]) -> list[int]:
    """Mixed-radix digits of ``i``, the last dimension fastest."""
    out = []
    for r in reversed(radices):
        out.append(i % r)
        i //= r
    return out[::-1]


def _group_hops(xf: tuple[int, ...], yf: tuple[int, ...], relevant: np.ndarray, phys_x: int, phys_y: int) -> float:
    """Average hops of the multicast groups of one fan-out (see :func:`legacy_energy`).

    Children are numbered as Timeloop's spatial loops nest: Y loops outer, X loops inner (the
    split puts X innermost), dimensions in workload order with the last fastest; child ``i`` sits
    at column ``i % h`` and row ``i // h`` of an ``h x v`` grid, h = max(physical, used) X size."""
    used_x, used_y = int(np.prod(xf)), int(np.prod(yf))
    h_size, v_size = max(phys_x, used_x), max(phys_y, used_y)
    center = (v_size - 1) / 2
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for yi in range(used_y):
        dy = _digits(yi, yf)
        for xi in range(used_x):
            dx = _digits(xi, xf)
            key = tuple((dx[d], dy[d]) for d in range(len(xf)) if relevant[d])
            linear = yi * used_x + xi
            groups.setdefault(key, []).append((linear % h_size, linear // h_size))
    total = 0.0
    for members in groups.values():
        cols: dict[int, list[int]] = {}
        for h, v in members:
            cols.setdefault(h, []).append(v)
        hops = float(max(h for h, _ in members))
        for vs in cols.values():
            hops += max(0.0, center - min(vs)) + max(0.0, max(vs) - center)
        total += hops
    return total / len(groups)
