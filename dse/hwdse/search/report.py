"""Text lines about a finished search: trials, failures with their reasons, the best trials, the study."""
from __future__ import annotations

from typing import Any


def search_lines(report: Any, req: Any) -> list[str]:
    """What the search did (the per-config table and plots are the sweep's views of OUT)."""
    from optuna.trial import TrialState

    trials = report.trials
    done = [t for t in trials if t.state is TrialState.COMPLETE]
    failed = [t for t in trials if t.state is TrialState.FAIL]
    db = report.info["search"]["study"]
    lines = [f"SEARCH: {req.kind.value}, seed {req.seed}, {len(trials)} trial(s): {len(done)} complete, "
             f"{len(failed)} failed; {report.ran} (config, layer) jobs mapped, {report.reused} reused; "
             f"{report.wall_s:.1f} s",
             f"objective(s) (minimized): {', '.join(req.objectives)}; study {db} "
             f"(open it with: optuna-dashboard sqlite:///{db})"]
    for t in failed[:10]:
        lines.append(f"trial #{t.number} failed: {t.user_attrs.get('reason', 'interrupted')}"[:300])
    if len(failed) > 10:
        lines.append(f"... and {len(failed) - 10} more failed trial(s) (reasons in the study database)")
    if done and len(req.objectives) == 1:
        best = min(done, key=lambda t: (t.values[0], t.number))
        lines.append(f"best trial #{best.number} (config [{best.number}]): {req.objectives[0]} {best.values[0]:.6g}")
    elif done:
        front = _front(done)
        lines.append(f"Pareto front of the study ({' vs '.join(req.objectives)}): "
                     + ", ".join(f"#{t.number}" for t in front))
    lines.append("")
    return lines


def _front(trials: list[Any]) -> list[Any]:
    return sorted((t for t in trials if not any(all(a <= b for a, b in zip(o.values, t.values)) and o.values != t.values
                                                 for o in trials)), key=lambda t: t.number)
