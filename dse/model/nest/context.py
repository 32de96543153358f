"""Phase 1 of the analysis: what is the same for every mapping of (architecture, workload, energies)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.errors import SpecError
from dse.model.energies import ActionEnergies
from dse.spec.types import Architecture, SpatialLevel, StorageLevel, Workload

#: per data space: its ranks, each a tuple of (dimension index, coefficient) terms
Projections = tuple[tuple[tuple[tuple[int, int], ...], ...], ...]


@dataclass(frozen=True)
class NetworkConnection:
    """An explicit network component a storage level names as its read or update network.

    Like Timeloop, the network is evaluated once, on the innermost connection naming it:
    the storage level ``level`` (index, outermost 0) and its inner neighbour ``child``
    (the next storage level, or the compute unit).  ``roles`` lists how levels use it
    (``read`` = ``network_read``, ``update`` = ``network_update``).
    """

    name: str
    network_class: str
    level: int
    level_name: str
    child: str
    roles: tuple[str, ...]
    fill_latency: int = 0
    drain_latency: int = 0
    legacy: "LegacyEnergies | None" = None  # class Legacy: energies from its attributes (no ERT)


@dataclass(frozen=True)
class LegacyEnergies:
    """A Timeloop ``Legacy`` network's energies: per hop (wire), per router touched, per ingress (pJ)."""

    hop_pj: float
    router_pj: float
    ingress_pj: float


@dataclass(frozen=True)
class ModelContext:
    """Everything about (architecture, workload, energies) that is the same for all mappings."""

    arch: Architecture
    workload: Workload
    energies: ActionEnergies
    dims: tuple[str, ...]  # all workload dimensions, in workload order
    bounds: np.ndarray  # [D]
    levels: tuple[StorageLevel, ...]  # outermost first
    fanouts: tuple[SpatialLevel, ...]
    fanout_above_level: np.ndarray  # [F] index k of the storage level directly above fan-out f
    ds_names: tuple[str, ...]
    relevant: np.ndarray  # [DS, D] bool
    read_write: np.ndarray  # [DS] bool
    projections: Projections
    macs: int
    compute_instances: int
    network_latency_cycles: int
    # performance helpers: dimensions with bound > 1 (the only ones that can change any count)
    active_dims: tuple[int, ...] = ()
    active_projections: Projections = ()  # projections re-indexed over active_dims, bound-1 terms dropped
    networks: tuple[NetworkConnection, ...] = ()  # explicit network components in use (see docs/model.md)

    @property
    def n_levels(self) -> int:
        return len(self.levels)


def explicit_networks(arch: Architecture) -> tuple[tuple[NetworkConnection, ...], int]:
    """Explicit network connections and the total network fill/drain latency (Timeloop topology.cpp)."""
    by_name = {n.name: n for n in arch.networks}
    levels = arch.storage_levels
    latency = 0
    found: dict[str, tuple[int, list[str]]] = {}
    for k, s in enumerate(levels):
        names = {}
        for role, key, v in (("read", "network_read", s.network_read), ("update", "network_update", s.network_update)):
            if v is None:
                continue
            if v not in by_name:
                raise SpecError(f"storage level {s.name} names {key} '{v}' but the architecture has no such network",
                                f"{s.name}.attributes.{key}",
                                ", ".join(by_name) or "a network component (class SimpleMulticast...) in the architecture")
            names[role] = v
        # a named network's latency replaces the level's own network_*_latency
        fill = by_name[names["read"]].fill_latency if "read" in names else s.network_fill_latency
        drain = by_name[names["update"]].drain_latency if "update" in names else s.network_drain_latency
        latency += fill + drain
        for role, n in names.items():
            level, roles = found.get(n, (k, []))
            if role not in roles:
                roles.append(role)
            found[n] = (max(level, k), roles)
    conns = []
    for n in arch.networks:  # file order
        if n.name not in found:
            continue
        k, roles = found[n.name]
        child = levels[k + 1].name if k + 1 < len(levels) else arch.compute.name
        legacy = (LegacyEnergies(n.energy_per_hop_pj, n.router_energy_pj, n.ingress_energy_pj)
                  if n.component_class == "Legacy" else None)
        conns.append(NetworkConnection(n.name, n.component_class, k, levels[k].name, child, tuple(roles),
                                       n.fill_latency, n.drain_latency, legacy))
    return tuple(conns), latency


def index_projections(workload: Workload, dims: tuple[str, ...]) -> tuple[Projections, np.ndarray]:
    """The workload's projections over dimension indices, and the [DS, D] relevance matrix."""
    didx = {d: i for i, d in enumerate(dims)}
    rel = np.zeros((len(workload.data_spaces), len(dims)), dtype=bool)
    projs = []
    for i, ds in enumerate(workload.data_spaces):
        ranks = []
        for rank in ds.projection:
            terms = []
            for d, c in rank:
                rel[i, didx[d]] = True
                terms.append((didx[d], int(workload.coefficients.get(c, 1)) if c else 1))
            ranks.append(tuple(terms))
        projs.append(tuple(ranks))
    return tuple(projs), rel


def make_context(arch: Architecture, workload: Workload, energies: ActionEnergies) -> ModelContext:
    """Precompute the mapping-independent part of the model."""
    dims = tuple(workload.dimensions)
    above = []
    k = -1
    for n in arch.nodes:
        if isinstance(n, StorageLevel):
            k += 1
        elif isinstance(n, SpatialLevel):
            above.append(k)
    projs, rel = index_projections(workload, dims)
    networks, latency = explicit_networks(arch)
    bounds = [workload.bounds[d] for d in dims]
    act = tuple(i for i, b in enumerate(bounds) if b > 1)
    apos = {d: j for j, d in enumerate(act)}
    aprojs = tuple(tuple(tuple((apos[d], c) for d, c in terms if d in apos) for terms in ranks) for ranks in projs)
    return ModelContext(
        arch=arch, workload=workload, energies=energies, dims=dims, active_dims=act, active_projections=aprojs,
        bounds=np.array(bounds, dtype=np.int64),
        levels=arch.storage_levels, fanouts=arch.spatial_levels, fanout_above_level=np.array(above, dtype=np.int64),
        ds_names=tuple(d.name for d in workload.data_spaces), relevant=rel,
        read_write=np.array([d.read_write for d in workload.data_spaces], dtype=bool),
        projections=projs, macs=workload.macs, compute_instances=arch.compute.instances,
        network_latency_cycles=latency, networks=networks,
    )
