"""Phase 4 of the analysis: validity, cycles and energy from the access counts (both counting paths).

* Validity: each level's kept tiles fit its capacity (over multiple buffering); spatial
  factors fit each fan-out.
* Cycles: compute cycles = operations / utilized compute instances; each level throttles by
  ``bandwidth / (accesses per compute cycle)``; total = max over levels + every level's
  ``network_fill_latency + network_drain_latency``.
* Energy: vector accesses (ceil(scalar / block size)) x per-action energy, per instance, x
  utilized instances; leakage = leak x total cycles x utilized instances; compute =
  operations x compute energy; plus explicit networks (:mod:`dse.model.nest.networks`).
"""
from __future__ import annotations

import numpy as np

from dse.model.nest.context import ModelContext
from dse.model.nest.counts import AccessCounts
from dse.model.nest.networks import network_counts
from dse.model.nest.result import BatchResult


def validity(ctx: ModelContext, c: AccessCounts) -> tuple[np.ndarray, np.ndarray]:
    """``capacity_ok [B, K]`` and ``fanout_ok [B, F]``."""
    B = c.keep.shape[0]
    kept_tile = np.where(c.keep, c.tile, 0).sum(axis=2)  # [B, K]
    cap = np.array([np.inf if lvl.size_words is None else lvl.size_words / max(lvl.multiple_buffering, 1e-12)
                    for lvl in ctx.levels])
    capacity_ok = kept_tile <= cap[None, :]
    if not ctx.fanouts:
        return capacity_ok, np.ones((B, 0), dtype=bool)
    fx = np.array([f.fanout_x for f in ctx.fanouts], dtype=np.int64)
    fy = np.array([f.fanout_y for f in ctx.fanouts], dtype=np.int64)
    fanout_ok = (np.prod(c.spatial_x, axis=2) <= fx[None, :]) & (np.prod(c.spatial_y, axis=2) <= fy[None, :])
    return capacity_ok, fanout_ok


def level_cycles(ctx: ModelContext, c: AccessCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(level_cycles [B, K], slowdown [B, K], cycles [B])`` under each level's bandwidths."""
    B, K, _ = c.reads.shape
    cc = c.compute_cycles
    lc = np.zeros((B, K), dtype=np.int64)
    slowdown = np.ones((B, K))
    for k, lvl in enumerate(ctx.levels):
        rd = c.reads[:, k, :].sum(axis=1) / cc
        wr = (c.fills[:, k, :] + c.updates[:, k, :]).sum(axis=1) / cc
        sd = np.ones(B)
        for bw, demand in ((lvl.read_bandwidth, rd), (lvl.write_bandwidth, wr), (lvl.shared_bandwidth, None)):
            if bw is None:
                continue
            d = rd + wr if demand is None else demand
            sd = np.minimum(sd, np.where(d > bw, bw / np.maximum(d, 1e-300), 1.0))
        slowdown[:, k] = sd
        lc[:, k] = np.ceil(cc / sd - 1e-9).astype(np.int64)
    cycles = np.maximum(lc.max(axis=1), np.ceil(cc - 1e-9).astype(np.int64)) + ctx.network_latency_cycles
    return lc, slowdown, cycles


def storage_energy(ctx: ModelContext, c: AccessCounts, cycles: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(ds_energy_pj [B, K, S], leak_energy_pj [B, K], addr_gen_energy_pj [B, K, S] or None)``, all instances.

    Timeloop's clusters: ``cluster_size`` instances share one physical array, so utilized clusters =
    min(utilized instances, instances / cluster_size) and each instance pays its vector accesses x
    utilized clusters / utilized instances.  A user ``addr_gen_energy`` is charged per address
    generation (writes + fills of outputs, reads + fills otherwise) per utilized cluster.
    """
    B, K, S = c.reads.shape
    e = ctx.energies
    ds_energy = np.zeros((B, K, S))
    leak = np.zeros((B, K))
    addr = np.zeros((B, K, S)) if any(lvl.addr_gen_energy_pj for lvl in ctx.levels) else None
    for k, lvl in enumerate(ctx.levels):
        le = e.level(lvl.name)
        inst = c.instances[:, k]
        clusters = np.minimum(inst, lvl.instances // max(lvl.cluster_size, 1))  # utilized clusters
        share = clusters / inst if lvl.cluster_size > 1 and le.scalar_pj is None else 1.0
        for s, name in enumerate(ctx.ds_names):
            r, f, u = c.reads[:, k, s], c.fills[:, k, s], c.updates[:, k, s]
            if le.scalar_pj is not None:  # per-scalar energies from a stats file already include the cluster share
                per_inst = (r + f + u) * le.scalar_pj.get(name, 0.0)
            else:
                bs = max(int(lvl.block_size), 1)
                per_inst = -(-r // bs) * le.read_pj + -(-f // bs) * le.fill_pj + -(-u // bs) * le.update_pj
            ds_energy[:, k, s] = np.where(c.keep[:, k, s], per_inst * share * inst, 0.0)
            if addr is not None and lvl.addr_gen_energy_pj:
                generations = (u if ctx.read_write[s] else r) + f
                addr[:, k, s] = np.where(c.keep[:, k, s], generations * lvl.addr_gen_energy_pj * clusters, 0.0)
        if le.leak_total_pj is not None:
            leak[:, k] = le.leak_total_pj
        else:
            max_util = np.maximum(1, np.where(c.keep[:, k, :], inst[:, None], 0).max(axis=1))
            leak[:, k] = le.leak_pj * cycles * max_util
    return ds_energy, leak, addr


def fanout_leak(ctx: ModelContext, c: AccessCounts, cycles: np.ndarray) -> np.ndarray:
    """Leakage of fan-outs the energies price (timeloopfe's dummy ``inter_<C>_spatial`` levels, which Timeloop
    sees as buffers bypassing everything): leak x cycles x the dummy level's utilized instances (those of the
    storage level above it times the spatial factors of the dummy fan-outs between)."""
    out = np.zeros(len(cycles))
    above = ctx.fanout_above_level
    for f, fan in enumerate(ctx.fanouts):
        le = ctx.energies.levels.get(fan.name)
        if le is None or not le.leak_pj:
            continue
        used = c.instances[:, above[f]].astype(float)
        for g in range(f):
            if above[g] == above[f]:
                used = used * np.prod(c.spatial_x[:, g, :] * c.spatial_y[:, g, :], axis=1)
        out += le.leak_pj * cycles * np.maximum(used, 1.0)
    return out


def finish(ctx: ModelContext, c: AccessCounts) -> BatchResult:
    """Capacities, cycles and energy from the per-instance counts."""
    capacity_ok, fanout_ok = validity(ctx, c)
    lc, slowdown, cycles = level_cycles(ctx, c)
    ds_energy, leak, addr = storage_energy(ctx, c, cycles)
    macs = ctx.macs
    compute_energy = np.full(len(cycles), macs * ctx.energies.compute_pj)
    level_energy = ds_energy.sum(axis=2) + leak
    if addr is not None:
        level_energy = level_energy + addr.sum(axis=2)
    energy = level_energy.sum(axis=1) + compute_energy + fanout_leak(ctx, c, cycles)
    nets = None
    if ctx.networks and c.network is not None:
        nets = network_counts(ctx, c.keep, c.instances, c.network)
        energy = energy + nets.energy_pj.sum(axis=(1, 2))
    last = (c.reads[:, 0, :] + c.fills[:, 0, :] + c.updates[:, 0, :]).sum(axis=1) * c.instances[:, 0]
    return BatchResult(
        valid=capacity_ok.all(axis=1) & fanout_ok.all(axis=1), capacity_ok=capacity_ok, fanout_ok=fanout_ok,
        energy_pj=energy, cycles=cycles, compute_cycles=c.compute_cycles,
        utilization=macs / ctx.compute_instances / cycles, edp_j_cycles=energy * 1e-12 * cycles,
        level_cycles=lc, slowdown=slowdown, level_energy_pj=level_energy, leak_energy_pj=leak,
        ds_energy_pj=ds_energy, compute_energy_pj=compute_energy, tile=c.tile, partition=c.partition,
        instances=c.instances, reads=c.reads, fills=c.fills, updates=c.updates,
        utilized_compute=c.utilized_compute, last_level_accesses=last,
        network_transfers=None if nets is None else nets.transfers,
        network_multicast=None if nets is None else nets.multicast,
        network_fanout=None if nets is None else nets.fanout,
        network_instances=None if nets is None else nets.instances,
        network_energy_pj=None if nets is None else nets.energy_pj, addr_gen_energy_pj=addr,
    )
