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
  (no metrics, no silent ``inf``); a layer not yet run makes it *incomplete*.
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

    @property
    def total_energy_pj(self) -> float:
        return (self.energy_pj or 0.0) * self.multiplicity

    @property
    def total_cycles(self) -> int:
        return self.cycles * self.multiplicity

    @classmethod
    def from_record(cls, rec: Mapping[str, Any], mult: int) -> "LayerRow":
        return cls(rec["layer"], rec["arch"], bool(rec["ok"]), rec.get("reason"), mult, rec.get("energy_pj"),
                   int(rec.get("cycles") or 0), float(rec.get("utilization") or 0.0), int(rec.get("macs") or 0))

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

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "energy_pj": self.energy_pj, "cycles": self.cycles,
                "edp_j_cycles": self.edp_j_cycles, "utilization": self.utilization, "macs": self.macs}

    def metric(self, name: str) -> float:
        """``edp``, ``energy`` or ``delay`` (cycles); ``inf`` only for sorting non-ok configs last."""
        if self.status != OK:
            return float("inf")
        return {"edp": self.edp_j_cycles, "energy": self.energy_pj, "delay": self.cycles,
                "cycles": self.cycles}[name]


def aggregate(rows: Iterable[LayerRow], expected: Iterable[str], array_arch: str | None = None) -> Totals:
    """Totals of one config over the ``expected`` layers (see the module docstring).

    ``array_arch``: the swept architecture; utilization covers its layers only (if it has any).
    """
    rows = list(rows)
    have = {r.layer for r in rows}
    missing = [l for l in expected if l not in have]
    failed = [r for r in rows if not r.ok]
    if failed:
        return Totals(INFEASIBLE, "; ".join(f"{r.layer}: {r.reason or 'no valid mapping'}" for r in failed))
    if missing:
        return Totals(INCOMPLETE, f"not yet run: {', '.join(missing)}")
    energy = sum(r.total_energy_pj for r in rows)
    cycles = sum(r.total_cycles for r in rows)
    on_array = [r for r in rows if r.arch == array_arch] or rows
    array_cycles = sum(r.total_cycles for r in on_array)
    util = sum(r.utilization * r.total_cycles for r in on_array) / array_cycles if array_cycles else 0.0
    return Totals(OK, None, energy, cycles, energy * 1e-12 * cycles, util, sum(r.macs * r.multiplicity for r in rows))
