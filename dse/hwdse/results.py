"""A config's result as read back from the store: config, per-layer rows, totals, Pareto flag."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

from dse.hwdse.aggregate import OK, LayerRow, Totals, aggregate, multiplicity
from dse.hwdse.store import Store

METRIC_COLUMNS = ["energy_pj", "cycles", "edp_j_cycles", "utilization", "area_mm2", "edap"]
#: what a Pareto front (``--objectives``) may be built from: name -> Totals attribute (all minimized)
OBJECTIVES = {"energy": "energy_pj", "cycles": "cycles", "delay": "cycles", "area": "area_mm2",
              "edp": "edp_j_cycles", "edap": "edap"}
DEFAULT_OBJECTIVES = ("energy", "cycles")


@dataclass
class ConfigResult:
    index: int
    config: dict[str, Any]
    rows: list[LayerRow]
    totals: Totals
    pareto: bool = False
    layer_dirs: dict[str, str] = field(default_factory=dict)
    over_area: bool | None = None  # None: no --max-area budget given

    @property
    def eligible(self) -> bool:
        """Feasible and within the area budget (what best-config picks and the Pareto front consider)."""
        return self.totals.status == OK and not self.over_area


@lru_cache(maxsize=None)
def _shared(arch: str) -> tuple[str, ...]:
    from dse.spec.library import shared_nodes

    return shared_nodes(arch)


def dirname(layer: str, fusion_level: str | None) -> str:
    return f"outputs_{layer}" + (f"_{fusion_level}" if fusion_level else "")


def evaluate(store: Store, index: int, config: dict[str, Any], info: dict[str, Any],
             ignore_heads: bool, blocks: bool) -> ConfigResult:
    """Aggregate the stored per-layer records of config ``index`` (``info`` is the sweep.json content)."""
    s = info["settings"]
    run_layers = [r["layer"] for r in info["routes"] if r.get("arch")]
    rows, dirs = [], {}
    for layer in run_layers:
        d = dirname(layer, s.get("fusion_level"))
        rec = store.load_record(index, d)
        if rec is None:
            continue
        rows.append(LayerRow.from_record(rec, multiplicity(s["model"], layer, s["seq_len"], ignore_heads, blocks)))
        dirs[layer] = d
    shared = {r["arch"]: _shared(r["arch"]) for r in info["routes"] if r.get("arch") and r["arch"] != s.get("arch")}
    return ConfigResult(index, config, rows, aggregate(rows, run_layers, s.get("arch"), shared), layer_dirs=dirs)


def objective_values(totals: Totals, objectives: Sequence[str]) -> tuple[float, ...]:
    """The totals' values of ``objectives`` (names of :data:`OBJECTIVES`); ``inf`` where unknown."""
    vals = (getattr(totals, OBJECTIVES[o]) for o in objectives)
    return tuple(float("inf") if v is None else float(v) for v in vals)


def mark_pareto(results: list[ConfigResult], objectives: Sequence[str] = DEFAULT_OBJECTIVES) -> None:
    """Flag the eligible configs (feasible, within the area budget) no other eligible config dominates
    in ``objectives`` (default energy and cycles; e.g. energy, cycles, area)."""
    ok = [(r, objective_values(r.totals, objectives)) for r in results if r.eligible]
    for r in results:
        if not r.eligible:
            r.pareto = False
            continue
        mine = objective_values(r.totals, objectives)
        r.pareto = all(v != float("inf") for v in mine) and not any(
            all(a <= b for a, b in zip(other, mine)) and other != mine for _, other in ok)


def apply_area_budget(results: list[ConfigResult], max_area_mm2: float | None) -> None:
    """Mark configs whose area exceeds ``max_area_mm2`` (an unknown area counts as over the budget)."""
    for r in results:
        r.over_area = None if max_area_mm2 is None else (r.totals.area_mm2 is None
                                                         or r.totals.area_mm2 > max_area_mm2)


def load_results(store: Store, info: dict[str, Any], ignore_heads: bool, blocks: bool,
                 indices: list[int] | None = None, max_area_mm2: float | None = None,
                 objectives: Sequence[str] = DEFAULT_OBJECTIVES) -> list[ConfigResult]:
    """Every config of the folder (or of ``indices``), aggregated, area budget applied, Pareto front marked."""
    out = []
    for idx in (store.indices() if indices is None else indices):
        doc = store.read_config(idx)
        if doc is None:
            continue
        out.append(evaluate(store, idx, doc["dse"]["config"], info, ignore_heads, blocks))
    apply_area_budget(out, max_area_mm2)
    mark_pareto(out, objectives)
    return out


def varying_keys(results: list[ConfigResult]) -> list[str]:
    """Config keys whose value differs between configs (first-seen order)."""
    keys = list(dict.fromkeys(k for r in results for k in r.config))
    return [k for k in keys if len({repr(r.config.get(k)) for r in results}) > 1]


def csv_table(results: list[ConfigResult]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of results.csv: index, status, every config key, metrics, pareto, reason."""
    keys = list(dict.fromkeys(k for r in results for k in r.config))
    budget = any(r.over_area is not None for r in results)
    header = ["index", "status", *keys, *METRIC_COLUMNS, "pareto", *(["over_area"] if budget else []), "reason"]
    rows = []
    for r in results:
        t = r.totals
        rows.append([r.index, t.status, *(r.config.get(k, "") for k in keys),
                     *("" if getattr(t, m) is None else getattr(t, m) for m in METRIC_COLUMNS),
                     int(r.pareto), *([int(bool(r.over_area))] if budget else []), t.reason or ""])
    return header, rows


def config_document(result: ConfigResult, info: dict[str, Any], ignore_heads: bool, blocks: bool) -> dict[str, Any]:
    """The content of ``OUT/<idx>/hw_config.json``: config keys, ``metrics``, ``layers`` and ``dse`` meta."""
    by_node = _area_breakdown(result, info)
    return {**result.config,
            "metrics": result.totals.as_dict(),
            "area_um2_by_node": by_node,
            "layers": [r.as_dict() | {"outputs": result.layer_dirs.get(r.layer)} for r in result.rows],
            "skipped_layers": [{"layer": r["layer"], "reason": r["reason"]} for r in info["routes"] if not r.get("arch")],
            "dse": {"index": result.index, "config": result.config, "settings": info["settings"],
                    "layers": info["layers"], "aggregation": {"ignore_heads": ignore_heads, "blocks": blocks}}}


def _area_breakdown(result: ConfigResult, info: dict[str, Any]) -> dict[str, float] | None:
    from dse.hwdse.aggregate import config_area_um2

    s = info["settings"]
    shared = {r["arch"]: _shared(r["arch"]) for r in info["routes"] if r.get("arch") and r["arch"] != s.get("arch")}
    return config_area_um2(result.rows, s.get("arch"), shared)
