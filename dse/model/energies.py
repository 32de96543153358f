"""Per-action energies the cost model charges, bound to architecture level names.

Timeloop semantics: storage energies are per *vector* access (``block_size`` words);
scalar counts are turned into vector accesses with a ceiling division.  When
energies come from a Timeloop ``stats.txt`` they are per *scalar* access and per
data space (an average over that data space's reads/fills/updates), kept in
``scalar_pj``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class LevelEnergies:
    """Energy per action of one storage level (pJ)."""

    read_pj: float = 0.0
    fill_pj: float = 0.0  # Accelergy action "write"
    update_pj: float = 0.0
    leak_pj: float = 0.0  # per instance per cycle
    scalar_pj: Mapping[str, float] | None = None  # per data space, per scalar access (overrides the above)
    leak_total_pj: float | None = None  # fixed leakage (taken from a stats file), overrides leak_pj


@dataclass(frozen=True)
class ActionEnergies:
    """Energies for every storage level plus the compute unit, and areas (um^2 per instance)."""

    levels: Mapping[str, LevelEnergies]
    compute_pj: float
    area_um2: Mapping[str, float] = field(default_factory=dict)
    source: str = ""
    #: explicit networks by name: objects with ``energy_pj(data_space, multicast_factor)`` and
    #: ``network_class`` (:class:`dse.energy.network.NetworkEnergy`); absent = 0 pJ per transfer
    networks: Mapping[str, Any] = field(default_factory=dict)

    def level(self, name: str) -> LevelEnergies:
        return self.levels.get(name, LevelEnergies())


def from_tables(tables, arch) -> ActionEnergies:
    """Bind an ERT/ART (:class:`dse.energy.EnergyAreaTables`) to the architecture's levels.

    A level's ``vector_access_energy`` replaces its ERT entry (read, fill and update cost that
    value, leak 0) and ``cluster_area`` its area (/ cluster_size per instance), as in Timeloop.
    Storage levels use the actions ``read``, ``write`` (fill), ``update`` and ``leak``;
    a missing ``update`` falls back to ``write``; a missing action elsewhere costs 0
    only where the ERT deliberately lists none (e.g. a zero-cost ``free`` table).
    The compute unit uses ``compute`` (or ``mac_random``/``mac``).  Explicit networks
    (``tables.networks``) are passed through by name.
    """
    levels = {}
    area = {}
    for lvl in arch.storage_levels:
        if lvl.cluster_area_um2 is not None:  # Timeloop: the user's cluster area, shared by cluster_size instances
            area[lvl.name] = lvl.cluster_area_um2 / lvl.cluster_size
        if lvl.vector_access_energy_pj is not None:
            # Timeloop ignores the ERT for this level: read/fill/update cost the user's value, all else (leak) 0
            v = lvl.vector_access_energy_pj
            levels[lvl.name] = LevelEnergies(read_pj=v, fill_pj=v, update_pj=v, leak_pj=0.0)
        comp = tables.get(lvl.name)
        if comp is None:
            continue
        if comp.area_um2 is not None and lvl.cluster_area_um2 is None:
            area[lvl.name] = comp.area_um2
        if lvl.vector_access_energy_pj is not None:
            continue
        acts = {a: comp.actions[a].energy_pj for a in comp.actions}
        write = acts.get("write", acts.get("fill", 0.0))
        levels[lvl.name] = LevelEnergies(read_pj=acts.get("read", 0.0), fill_pj=write,
                                         update_pj=acts.get("update", write), leak_pj=acts.get("leak", 0.0))
    for fan in arch.spatial_levels:
        # timeloopfe's dummy level for a container (inter_<C>_spatial): Timeloop charges its ERT entry, which is
        # non-zero where the spec defines a compound class named dummy_storage (the seed's PIM components)
        comp = tables.get(fan.name) or (None if fan.implicit else tables.get(f"inter_{fan.name}_spatial"))
        if comp is not None and comp.actions:
            acts = {a: comp.actions[a].energy_pj for a in comp.actions}
            levels[fan.name] = LevelEnergies(read_pj=acts.get("read", 0.0), fill_pj=acts.get("write", 0.0),
                                             update_pj=acts.get("update", acts.get("write", 0.0)), leak_pj=acts.get("leak", 0.0))
    comp = tables.get(arch.compute.name)
    compute_pj = 0.0
    if comp is not None:
        acts = {a: comp.actions[a].energy_pj for a in comp.actions}
        compute_pj = acts.get("compute", acts.get("mac_random", acts.get("mac", 0.0)))
        if comp.area_um2 is not None:
            area[arch.compute.name] = comp.area_um2
    networks = {n.name: n for n in getattr(tables, "networks", ())}
    return ActionEnergies(levels, compute_pj, area, source="ERT/ART", networks=networks)
