"""Per-config totals from per-layer results.

Rules (docs/hwdse.md):

* a layer's result is for one instance (one head of KTQ/VScores/softmax, one of the two
  layernorms); it counts ``multiplicity`` times: ``multiplicity_per_block`` of the layer
  (heads for the per-head layers unless ``ignore_heads``), times the model's blocks when
  ``blocks`` is set;
* energy = sum over layers of energy x multiplicity, cycles = sum of cycles x multiplicity
  (the layers run one after another), EDP = total energy [J] x total cycles — never a
  sum of per-layer EDPs, never a per-layer EDP scaled by the heads;
* utilization = cycle-weighted mean of the utilizations of the layers the swept
  architecture runs itself (its array); layers handed to a companion unit (gemmini's
  softmax/layernorm on gemmini_NOs) are other hardware and would hide how busy the
  array is, so they count only when no layer runs on the array;
* a layer without a valid mapping makes the config *infeasible* with that layer's reason
  (no metrics, no silent ``inf``); a layer not yet run makes it *incomplete*;
* area = the swept architecture's nodes (ART area x instances) plus the nodes of each
  companion unit that it does not share with the host (``architecture_info.shares`` in the
  companion's ``knobs.yaml``: gemmini_NOs reads gemmini's DRAM, scratchpad and accumulator).
  Area depends on the config only, so it is known for infeasible configs too;
  EDAP = EDP x area [mm^2].
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping

OK, INFEASIBLE, INCOMPLETE = "ok", "infeasible", "incomplete"


@lru_cache(maxsize=None)
def multiplicity(model: str, layer: str, seq_len: int, ignore_heads: bool = False, blocks: bool = False) -> int:
    """How many times one instance of ``layer`` runs in what the totals cover."""
    from dse.workloads import PER_HEAD_LAYERS, make_layer

    lp = make_layer(model, layer, seq_len)
    m = 1 if (ignore_heads and lp.layer in PER_HEAD_LAYERS) else lp.multiplicity_per_block
    return m * (lp.blocks if blocks else 1)


@dataclass(frozen=True)
class LayerRow:
    """One layer of one config: per-instance numbers and how often they count."""

    layer: str
    arch: str
    ok: bool
    reason: str | None
    multiplicity: int
    energy_pj: float | None
    cycles: int
    utilization: float
    macs: int
    area_by_node_um2: Mapping[str, float] | None = None  # area x instances per node (None: not recorded)

    @property
    def total_energy_pj(self) -> float:
        return (self.energy_pj or 0.0) * self.multiplicity

    @property
    def total_cycles(self) -> int:
        return self.cycles * self.multiplicity

    @classmethod
    def from_record(cls, rec: Mapping[str, Any], mult: int) -> "LayerRow":
        return cls(rec["layer"], rec["arch"], bool(rec["ok"]), rec.get("reason"), mult, rec.get("energy_pj"),
                   int(rec.get("cycles") or 0), float(rec.get("utilization") or 0.0), int(rec.get("macs") or 0),
                   rec.get("area_by_node_um2") or None)

    def as_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "arch": self.arch, "ok": self.ok, "reason": self.reason,
                "multiplicity": self.multiplicity, "energy_pj": self.energy_pj, "cycles": self.cycles,
                "utilization": self.utilization, "macs": self.macs,
                "total_energy_pj": self.total_energy_pj if self.ok else None,
                "total_cycles": self.total_cycles if self.ok else None}


@dataclass(frozen=True)
class Totals:
    """A config's aggregate; the numbers are ``None`` unless ``status`` is ``ok``."""

    status: str
    reason: str | None = None
    energy_pj: float | None = None
    cycles: int | None = None
    edp_j_cycles: float | None = None
    utilization: float | None = None
    macs: int | None = None
    area_mm2: float | None = None  # known whatever the status (None: records without area)

    @property
    def edap(self) -> float | None:
        """EDP [J*cycle] x area [mm^2]."""
        return None if self.edp_j_cycles is None or self.area_mm2 is None else self.edp_j_cycles * self.area_mm2

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "energy_pj": self.energy_pj, "cycles": self.cycles,
                "edp_j_cycles": self.edp_j_cycles, "utilization": self.utilization, "macs": self.macs,
                "area_mm2": self.area_mm2, "edap": self.edap}

    def metric(self, name: str) -> float:
        """``edp``, ``energy``, ``delay`` (cycles), ``area`` or ``edap``; ``inf`` only to sort non-ok configs last."""
        if self.status != OK:
            return float("inf")
        value = {"edp": self.edp_j_cycles, "energy": self.energy_pj, "delay": self.cycles, "cycles": self.cycles,
                 "area": self.area_mm2, "edap": self.edap}[name]
        return float("inf") if value is None else value


def config_area_um2(rows: Iterable[LayerRow], array_arch: str | None,
                    shared: Mapping[str, Iterable[str]] | None = None) -> dict[str, float] | None:
    """Area per node of the hardware that ran ``rows`` (see the module docstring); ``None`` if not recorded.

    Keys are node names for the swept architecture and ``arch.node`` for a companion's own nodes.
    """
    per_arch: dict[str, Mapping[str, float]] = {}
    for r in rows:
        if r.area_by_node_um2 is None:
            return None
        per_arch.setdefault(r.arch, r.area_by_node_um2)
    if not per_arch:
        return None
    host = array_arch if array_arch in per_arch else None
    out: dict[str, float] = {}
    for arch, nodes in per_arch.items():
        skip = set() if arch == host or host is None else set((shared or {}).get(arch, ()))
        for node, um2 in nodes.items():
            if node not in skip:
                out[node if arch == host else f"{arch}.{node}"] = float(um2)
    return out


def aggregate(rows: Iterable[LayerRow], expected: Iterable[str], array_arch: str | None = None,
              shared: Mapping[str, Iterable[str]] | None = None) -> Totals:
    """Totals of one config over the ``expected`` layers (see the module docstring).

    ``array_arch``: the swept architecture; utilization covers its layers only (if it has any).
    ``shared``: per companion architecture, the nodes it shares with ``array_arch`` (not counted twice).
    """
    rows = list(rows)
    by_node = config_area_um2(rows, array_arch, shared)
    area = None if by_node is None else sum(by_node.values()) / 1e6
    have = {r.layer for r in rows}
    missing = [l for l in expected if l not in have]
    failed = [r for r in rows if not r.ok]
    if failed:
        return Totals(INFEASIBLE, "; ".join(f"{r.layer}: {r.reason or 'no valid mapping'}" for r in failed),
                      area_mm2=area)
    if missing:
        return Totals(INCOMPLETE, f"not yet run: {', '.join(missing)}", area_mm2=area)
    energy = sum(r.total_energy_pj for r in rows)
    cycles = sum(r.total_cycles for r in rows)
    on_array = [r for r in rows if r.arch == array_arch] or rows
    array_cycles = sum(r.total_cycles for r in on_array)
    util = sum(r.utilization * r.total_cycles for r in on_array) / array_cycles if array_cycles else 0.0
    return Totals(OK, None, energy, cycles, energy * 1e-12 * cycles, util, sum(r.macs * r.multiplicity for r in rows),
                  area)
