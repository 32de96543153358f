"""Per-action energies the cost model charges, bound to architecture level names.

Timeloop semantics: storage energies are per *vector* access (``block_size`` words);
scalar counts are turned into vector accesses with a ceiling division.  When
energies come from a Timeloop ``stats.txt`` they are per *scalar* access and per
data space (an average over that data space's reads/fills/updates), kept in
``scalar_pj``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


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

    def level(self, name: str) -> LevelEnergies:
        return self.levels.get(name, LevelEnergies())
