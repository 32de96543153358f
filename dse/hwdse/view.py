"""Text views of a sweep: best configs, the results table (tabulate), the Pareto front."""
from __future__ import annotations

from typing import Any

from dse.hwdse.aggregate import OK
from dse.hwdse.results import ConfigResult, varying_keys

METRIC_LABEL = {"edp": "EDP", "energy": "energy", "delay": "cycles", "area": "area", "edap": "EDAP"}


def _area_text(t) -> str:
    return "-" if t.area_mm2 is None else f"{t.area_mm2:.4g}"


def _fmt_totals(r: ConfigResult) -> str:
    t = r.totals
    return (f"energy {t.energy_pj / 1e6:.4g} uJ, {t.cycles} cycles, EDP {t.edp_j_cycles:.4g} J*cycle, "
            f"utilization {100 * t.utilization:.2f}%, area {_area_text(t)} mm^2")


def _config_text(r: ConfigResult, keys: list[str]) -> str:
    shown = keys or list(r.config)
    return ", ".join(f"{k}={r.config.get(k)}" for k in shown)


def _short_reason(r: ConfigResult, limit: int = 240) -> str:
    """One line: the failed layers and the first reason (full reasons are in hw_config.json)."""
    failed = [row for row in r.rows if not row.ok]
    if not failed:
        return r.totals.reason or ""
    first = (failed[0].reason or "no valid mapping").replace("\n", " ")
    first = first if len(first) <= limit else first[:limit - 3] + "..."
    more = f" (and {len(failed) - 1} more layer(s): {', '.join(x.layer for x in failed[1:])})" if len(failed) > 1 else ""
    return f"{failed[0].layer}: {first}{more}"


def best_lines(results: list[ConfigResult]) -> list[str]:
    """Best config by EDP, energy, cycles, area (lowest) and utilization (highest), within the area budget."""
    ok = [r for r in results if r.eligible]
    if not ok:
        return ["no feasible config within the area budget" if any(r.over_area for r in results)
                else "no feasible config yet"]
    keys = varying_keys(results)
    picks = [("EDP", min(ok, key=lambda r: (r.totals.edp_j_cycles, r.index))),
             ("energy", min(ok, key=lambda r: (r.totals.energy_pj, r.index))),
             ("cycles", min(ok, key=lambda r: (r.totals.cycles, r.index))),
             *([("area", min(ok, key=lambda r: (r.totals.area_mm2, r.index)))]
               if all(r.totals.area_mm2 is not None for r in ok) else []),
             ("utilization", max(ok, key=lambda r: (r.totals.utilization, -r.index)))]
    return [f"best {name:<11}: [{r.index}] {_config_text(r, keys)}  ->  {_fmt_totals(r)}" for name, r in picks]


def table(results: list[ConfigResult], metric: str = "edp") -> str:
    """Configs sorted by ``metric`` (infeasible/incomplete last), varying keys + metrics, Pareto marked ``*``."""
    from tabulate import tabulate

    keys = varying_keys(results)
    ordered = sorted(results, key=lambda r: (bool(r.over_area), r.totals.metric(metric), r.index))
    budget = any(r.over_area is not None for r in results)
    rows: list[list[Any]] = []
    for r in ordered:
        t = r.totals
        if t.status == OK:
            metrics = [f"{t.energy_pj / 1e6:.4f}", t.cycles, f"{t.edp_j_cycles:.5g}", f"{100 * t.utilization:.2f}",
                       _area_text(t), "*" if r.pareto else ""]
        else:
            metrics = [t.status, "-", "-", "-", _area_text(t), ""]
        rows.append([r.index, *(r.config.get(k) for k in keys), *metrics,
                     *((["over" if r.over_area else ""]) if budget else [])])
    header = ["idx", *keys, "energy (uJ)", "cycles", "EDP (J*cycle)", "util (%)", "area (mm2)", "pareto",
              *(["area budget"] if budget else [])]
    return tabulate(rows, headers=header, tablefmt="pretty", disable_numparse=True)


def summary(results: list[ConfigResult], info: dict[str, Any], metric: str = "edp", with_table: bool = False,
            aggregation: dict[str, bool] | None = None, objectives: tuple[str, ...] = ("energy", "cycles"),
            max_area_mm2: float | None = None) -> str:
    """The full -so / end-of-sweep text."""
    s = info["settings"]
    agg = aggregation or {}
    lines = [f"RESULTS SUMMARY: {len(results)} config(s), architecture {s['arch']}, model {s['model']}, "
             f"seq_len {s['seq_len']}, layers {' '.join(info['layers'])}"
             + (f", fusion at {s['fusion_level']}" if s.get("fusion_level") else ""),
             "totals: per-layer energy and cycles x " + ("1 for per-head layers (-ih)" if agg.get("ignore_heads")
                                                          else "heads for per-head layers")
             + (" x blocks (whole model)" if agg.get("blocks") else " (one block)")
             + "; EDP = total energy x total cycles"]
    for r in info["routes"]:
        if not r.get("arch"):
            lines.append(f"skipped layer {r['layer']}: {r['reason']} (not in the totals)")
        elif r["arch"] != s["arch"]:
            lines.append(f"layer {r['layer']} runs on companion architecture {r['arch']}")
    lines.append("")
    lines += best_lines(results)
    front = sorted((r for r in results if r.pareto), key=lambda r: r.totals.energy_pj)
    if front:
        lines.append(f"Pareto front ({' vs '.join(objectives)}"
                     + (f", within {max_area_mm2:g} mm^2" if max_area_mm2 is not None else "") + "): "
                     + ", ".join(f"[{r.index}]" for r in front))
    over = [r for r in results if r.over_area]
    if over:
        lines.append(f"{len(over)} config(s) over the area budget of {max_area_mm2:g} mm^2 (not in the best picks "
                     "or the front): " + ", ".join(f"[{r.index}] {_area_text(r.totals)} mm^2" for r in over[:12])
                     + (" ..." if len(over) > 12 else ""))
    bad = [r for r in results if r.totals.status != OK]
    for r in bad:
        lines.append(f"config [{r.index}] {r.totals.status}: {_short_reason(r)}")
    if with_table:
        lines += ["", f"SUMMARY TABLE (sorted by {METRIC_LABEL[metric]}"
                  + ("; over the area budget last" if over else "") + "; * = Pareto front):", table(results, metric)]
    return "\n".join(lines)
