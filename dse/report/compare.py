"""Compare our model with a Timeloop stats file, level by level and data space by data space."""
from __future__ import annotations

from dataclasses import dataclass

from dse.model.nest import ModelResult
from dse.spec.timeloop_stats import TimeloopStats

COUNT_FIELDS = (
    ("reads", "Scalar reads (per-instance)"),
    ("fills", "Scalar fills (per-instance)"),
    ("updates", "Scalar updates (per-instance)"),
    ("utilized_capacity", "Utilized capacity"),
    ("utilized_instances", "Utilized instances (max)"),
)


@dataclass(frozen=True)
class CompareRow:
    level: str
    data_space: str
    quantity: str
    ours: float
    timeloop: float

    @property
    def rel_error(self) -> float:
        if self.timeloop == 0:
            return 0.0 if self.ours == 0 else float("inf")
        return abs(self.ours - self.timeloop) / abs(self.timeloop)


@dataclass(frozen=True)
class Comparison:
    rows: tuple[CompareRow, ...]
    energy_error: float
    cycles_error: float
    accesses_error: float

    @property
    def summary_line(self) -> str:
        return (f"max relative error: energy {100 * self.energy_error:.4f}%, cycles {100 * self.cycles_error:.4f}%, "
                f"accesses {100 * self.accesses_error:.4f}%")


def compare(result: ModelResult, stats: TimeloopStats) -> Comparison:
    """Rows for every count and energy; max relative errors for energy, cycles and accesses."""
    rows: list[CompareRow] = []
    acc_err = 0.0
    energy_err = 0.0
    for lvl in result.levels:
        tl = stats.level(lvl.name)
        ours_ds = {d.name: d for d in lvl.data_spaces}
        names = sorted(set(ours_ds) | {d.name for d in tl.data_spaces})
        for name in names:
            o = ours_ds.get(name)
            try:
                t = tl.data_space(name)
            except KeyError:
                t = None
            for attr, key in COUNT_FIELDS:
                ov = float(getattr(o, attr)) if o else 0.0
                tv = float(t.get(key)) if t else 0.0
                row = CompareRow(lvl.name, name, attr, ov, tv)
                rows.append(row)
                if attr in ("reads", "fills", "updates"):
                    acc_err = max(acc_err, row.rel_error)
            row = CompareRow(lvl.name, name, "energy_pj", o.energy_pj if o else 0.0, t.get("Energy (total)") if t else 0.0)
            rows.append(row)
        rows.append(CompareRow(lvl.name, "-", "cycles", lvl.cycles, tl.stats.get("Cycles", 0.0)))
    comp = stats.compute
    rows.append(CompareRow(comp.name, "-", "computes", result.macs, comp.stats.get("Computes (total)", 0.0)))
    rows.append(CompareRow(comp.name, "-", "energy_pj", result.compute_energy_pj, comp.stats.get("Energy (total)", 0.0)))
    total_e = CompareRow("total", "-", "energy_uJ", result.energy_pj / 1e6, stats.summary.get("Energy", 0.0))
    total_c = CompareRow("total", "-", "cycles", result.cycles, stats.summary.get("Cycles", 0.0))
    total_u = CompareRow("total", "-", "utilization_%", 100 * result.utilization, stats.summary.get("Utilization", 0.0))
    rows += [total_e, total_c, total_u]
    # energy: the total printed with 2 decimals in uJ; compare per level too (exact pJ values)
    energy_err = max(energy_err, _rel(result.energy_pj / 1e6, stats.summary.get("Energy", 0.0), 0.005))
    return Comparison(tuple(rows), energy_err, total_c.rel_error, acc_err)


def _rel(ours: float, theirs: float, print_precision: float) -> float:
    """Relative error, ignoring differences within the precision Timeloop printed."""
    if abs(ours - theirs) <= print_precision:
        return 0.0
    return abs(ours - theirs) / abs(theirs) if theirs else float("inf")
