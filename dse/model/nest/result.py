"""Phase 6 of the analysis: results, per batch (arrays) and per mapping (Timeloop's stats fields)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.model.nest.context import ModelContext
from dse.spec.mapping import Mapping


@dataclass(frozen=True)
class BatchResult:
    """Per-mapping results; count arrays are per instance, shaped [B, K, S]."""

    valid: np.ndarray  # [B] bool: fits capacities and fan-outs
    capacity_ok: np.ndarray  # [B, K]
    fanout_ok: np.ndarray  # [B, F]
    energy_pj: np.ndarray  # [B]
    cycles: np.ndarray  # [B] int
    compute_cycles: np.ndarray  # [B]
    utilization: np.ndarray  # [B]
    edp_j_cycles: np.ndarray  # [B]
    level_cycles: np.ndarray  # [B, K]
    slowdown: np.ndarray  # [B, K]
    level_energy_pj: np.ndarray  # [B, K] including leakage
    leak_energy_pj: np.ndarray  # [B, K]
    ds_energy_pj: np.ndarray  # [B, K, S] (all instances)
    compute_energy_pj: np.ndarray  # [B]
    tile: np.ndarray  # [B, K, S] utilized capacity (words per instance)
    partition: np.ndarray  # [B, K, S]
    instances: np.ndarray  # [B, K] utilized instances
    reads: np.ndarray
    fills: np.ndarray
    updates: np.ndarray
    utilized_compute: np.ndarray  # [B]
    last_level_accesses: np.ndarray  # [B] total scalar accesses at the outermost level
    # explicit networks (ctx.networks, N of them); None when the architecture has none
    network_transfers: np.ndarray | None = None  # [B, N, S] transfers per instance of the network's level
    network_multicast: np.ndarray | None = None  # [B, N, S] multicast factor (destinations per transfer)
    network_fanout: np.ndarray | None = None  # [B, N] utilized fan-out of the level
    network_instances: np.ndarray | None = None  # [B, N] utilized instances of the level
    network_energy_pj: np.ndarray | None = None  # [B, N, S] all instances
    addr_gen_energy_pj: np.ndarray | None = None  # [B, K, S] all instances; None when no level sets addr_gen_energy



# --------------------------------------------------------------------------- single mapping
@dataclass(frozen=True)
class DataSpaceStats:
    """Per-instance access counts of one data space at one level (Timeloop's stats fields)."""

    name: str
    utilized_capacity: int
    partition_size: int
    utilized_instances: int
    reads: int
    fills: int
    updates: int
    temporal_reductions: int
    address_generations: int
    energy_pj: float  # all instances (storage accesses; Timeloop's "Energy (total)")
    addr_gen_energy_pj: float = 0.0  # all instances (Timeloop's "Address Generation Energy (total)")
    utilized_clusters: int = 0  # min(utilized instances, instances / cluster_size), Timeloop's

    @property
    def accesses(self) -> int:
        return self.reads + self.fills + self.updates


@dataclass(frozen=True)
class LevelStats:
    name: str
    cycles: int
    slowdown: float
    utilized_capacity: int  # sum over kept data spaces
    leak_energy_pj: float
    energy_pj: float  # data spaces + leakage
    data_spaces: tuple[DataSpaceStats, ...]  # kept data spaces only


@dataclass(frozen=True)
class NetworkDataSpaceStats:
    """Transfers of one data space over an explicit network (Timeloop's network stats)."""

    name: str
    transfers: int  # per instance of the network's level ("Ingresses")
    multicast_factor: int
    fanout: int
    utilized_instances: int
    action: str  # the ERT action looked up
    energy_per_transfer_pj: float
    energy_pj: float  # all instances


@dataclass(frozen=True)
class NetworkStats:
    name: str
    network_class: str
    level: str  # outer storage level of the connection it is evaluated on
    child: str  # inner neighbour (storage level or compute unit)
    roles: tuple[str, ...]
    fill_latency: int
    drain_latency: int
    energy_pj: float
    data_spaces: tuple[NetworkDataSpaceStats, ...]  # data spaces with transfers


@dataclass(frozen=True)
class ModelResult:
    """The result of evaluating one mapping (what Timeloop's stats.txt reports)."""

    mapping: Mapping
    valid: bool
    energy_pj: float
    cycles: int
    compute_cycles: float
    utilization: float
    edp_j_cycles: float
    macs: int
    utilized_compute: int
    compute_energy_pj: float
    levels: tuple[LevelStats, ...]  # outermost first
    area_um2: float
    invalid_reasons: tuple[str, ...] = ()
    networks: tuple[NetworkStats, ...] = ()  # explicit networks (their energy is part of energy_pj)

    @property
    def network_energy_pj(self) -> float:
        return sum(n.energy_pj for n in self.networks)

    def network(self, name: str) -> NetworkStats:
        for n in self.networks:
            if n.name == name:
                return n
        raise KeyError(name)

    def level(self, name: str) -> LevelStats:
        for l in self.levels:
            if l.name == name:
                return l
        raise KeyError(name)

    @property
    def pj_per_compute(self) -> float:
        return self.energy_pj / self.macs



def result_at(ctx: ModelContext, res: BatchResult, b: int, mapping: Mapping) -> ModelResult:
    """Extract mapping ``b`` of a batch result as a :class:`ModelResult`."""
    levels = []
    reasons = []
    for k, lvl in enumerate(ctx.levels):
        tm = mapping.level(lvl.name)
        dss = []
        for s, name in enumerate(ctx.ds_names):
            if name not in tm.keep:
                continue
            # imperfect batches give average per-instance counts (floats): reported rounded
            r, f, u = (int(round(float(a[b, k, s]))) for a in (res.reads, res.fills, res.updates))
            rw = bool(ctx.read_write[s])
            dss.append(DataSpaceStats(
                name=name, utilized_capacity=int(res.tile[b, k, s]), partition_size=int(round(float(res.partition[b, k, s]))),
                utilized_instances=int(res.instances[b, k]), reads=r, fills=f, updates=u,
                temporal_reductions=r if rw else 0, address_generations=(u + f) if rw else (r + f),
                energy_pj=float(res.ds_energy_pj[b, k, s]),
                addr_gen_energy_pj=0.0 if res.addr_gen_energy_pj is None else float(res.addr_gen_energy_pj[b, k, s]),
                utilized_clusters=min(int(res.instances[b, k]), lvl.instances // max(lvl.cluster_size, 1))))
        used = sum(d.utilized_capacity for d in dss)
        if not res.capacity_ok[b, k]:
            reasons.append(f"{lvl.name} holds {lvl.size_words} words (multiple buffering {lvl.multiple_buffering:g}) "
                           f"but the mapping needs {used} ({', '.join(f'{d.name} {d.utilized_capacity}' for d in dss)})")
        levels.append(LevelStats(lvl.name, int(res.level_cycles[b, k]), float(res.slowdown[b, k]), used,
                                 float(res.leak_energy_pj[b, k]), float(res.level_energy_pj[b, k]), tuple(dss)))
    for f, fan in enumerate(ctx.fanouts):
        if not res.fanout_ok[b, f]:
            sm = mapping.fanout(fan.name)
            reasons.append(f"fan-out {fan.name} has {fan.fanout_x}x{fan.fanout_y} instances but the mapping uses {sm.used_x}x{sm.used_y}")
    nets = []
    for n, c in enumerate(ctx.networks):
        if res.network_transfers is None:
            break
        ne = ctx.energies.networks.get(c.name)
        dss = []
        for s, name in enumerate(ctx.ds_names):
            t = int(round(float(res.network_transfers[b, n, s])))
            if t == 0:
                continue
            mf = int(res.network_multicast[b, n, s])
            dss.append(NetworkDataSpaceStats(
                name=name, transfers=t, multicast_factor=mf, fanout=int(res.network_fanout[b, n]),
                utilized_instances=int(res.network_instances[b, n]),
                action=ne.action_for(name) if ne is not None and hasattr(ne, "action_for") else "",
                energy_per_transfer_pj=(float(res.network_energy_pj[b, n, s]) / t / max(int(res.network_instances[b, n]), 1)
                                        if c.legacy is not None else float(ne.energy_pj(name, mf)) if ne is not None else 0.0),
                energy_pj=float(res.network_energy_pj[b, n, s])))
        nets.append(NetworkStats(c.name, c.network_class, c.level_name, c.child, c.roles, c.fill_latency,
                                 c.drain_latency, float(res.network_energy_pj[b, n].sum()), tuple(dss)))
    area = sum(ctx.energies.area_um2.get(l.name, 0.0) * l.instances for l in ctx.levels)
    area += ctx.energies.area_um2.get(ctx.arch.compute.name, 0.0) * ctx.arch.compute.instances
    return ModelResult(
        mapping=mapping, valid=bool(res.valid[b]), energy_pj=float(res.energy_pj[b]), cycles=int(res.cycles[b]),
        compute_cycles=float(res.compute_cycles[b]), utilization=float(res.utilization[b]),
        edp_j_cycles=float(res.edp_j_cycles[b]), macs=ctx.macs, utilized_compute=int(res.utilized_compute[b]),
        compute_energy_pj=float(res.compute_energy_pj[b]), levels=tuple(levels), area_um2=area,
        invalid_reasons=tuple(reasons), networks=tuple(nets))
