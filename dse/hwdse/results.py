"""A config's result as read back from the store: config, per-layer rows, totals, Pareto flag."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dse.hwdse.aggregate import OK, LayerRow, Totals, aggregate, multiplicity
from dse.hwdse.store import Store

METRIC_COLUMNS = ["energy_pj", "cycles", "edp_j_cycles", "utilization"]


@dataclass
class ConfigResult:
    index: int
    config: dict[str, Any]
    rows: list[LayerRow]
    totals: Totals
    pareto: bool = False
    layer_dirs: dict[str, str] = field(default_factory=dict)


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
    return ConfigResult(index, config, rows, aggregate(rows, run_layers, s.get("arch")), layer_dirs=dirs)


def mark_pareto(results: list[ConfigResult]) -> None:
    """Flag the configs no other feasible config beats in both energy and cycles."""
    ok = [r for r in results if r.totals.status == OK]
    for r in results:
        r.pareto = r.totals.status == OK and not any(
            (o.totals.energy_pj <= r.totals.energy_pj and o.totals.cycles <= r.totals.cycles)
            and (o.totals.energy_pj < r.totals.energy_pj or o.totals.cycles < r.totals.cycles) for o in ok)


def load_results(store: Store, info: dict[str, Any], ignore_heads: bool, blocks: bool,
                 indices: list[int] | None = None) -> list[ConfigResult]:
    """Every config of the folder (or of ``indices``), aggregated, with the Pareto front marked."""
    out = []
    for idx in (store.indices() if indices is None else indices):
        doc = store.read_config(idx)
        if doc is None:
            continue
        out.append(evaluate(store, idx, doc["dse"]["config"], info, ignore_heads, blocks))
    mark_pareto(out)
    return out


def varying_keys(results: list[ConfigResult]) -> list[str]:
    """Config keys whose value differs between configs (first-seen order)."""
    keys = list(dict.fromkeys(k for r in results for k in r.config))
    return [k for k in keys if len({repr(r.config.get(k)) for r in results}) > 1]


def csv_table(results: list[ConfigResult]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of results.csv: index, status, every config key, metrics, pareto, reason."""
    keys = list(dict.fromkeys(k for r in results for k in r.config))
    header = ["index", "status", *keys, *METRIC_COLUMNS, "pareto", "reason"]
    rows = []
    for r in results:
        t = r.totals
        rows.append([r.index, t.status, *(r.config.get(k, "") for k in keys),
                     *("" if getattr(t, m) is None else getattr(t, m) for m in METRIC_COLUMNS),
                     int(r.pareto), t.reason or ""])
    return header, rows


def config_document(result: ConfigResult, info: dict[str, Any], ignore_heads: bool, blocks: bool) -> dict[str, Any]:
    """The content of ``OUT/<idx>/hw_config.json``: config keys, ``metrics``, ``layers`` and ``dse`` meta."""
    return {**result.config,
            "metrics": result.totals.as_dict(),
            "layers": [r.as_dict() | {"outputs": result.layer_dirs.get(r.layer)} for r in result.rows],
            "skipped_layers": [{"layer": r["layer"], "reason": r["reason"]} for r in info["routes"] if not r.get("arch")],
            "dse": {"index": result.index, "config": result.config, "settings": info["settings"],
                    "layers": info["layers"], "aggregation": {"ignore_heads": ignore_heads, "blocks": blocks}}}
