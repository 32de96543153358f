"""``--plot PATH``: energy-vs-cycles scatter with the Pareto front, and per-layer energy of the best configs."""
from __future__ import annotations

from pathlib import Path

from dse.hwdse.aggregate import OK
from dse.hwdse.results import ConfigResult


FORMATS = ("png", "pdf", "svg")


def check_format(path: str | Path) -> str:
    """The image format named by ``path``'s suffix (no suffix: PNG)."""
    from dse.errors import DseError

    suffix = Path(path).suffix.lower().lstrip(".") or "png"
    if suffix not in FORMATS:
        raise DseError(f"cannot write a '.{suffix}' image", f"--plot {path}",
                       "a file ending in " + ", ".join(f".{f}" for f in FORMATS))
    return suffix


def plot(results: list[ConfigResult], path: str | Path, metric: str = "edp", best_n: int = 6, title: str = "") -> Path:
    """Write the figure (PNG, or PDF/SVG by ``path``'s suffix; matplotlib, Agg backend) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dse.errors import DseError

    feasible = [r for r in results if r.totals.status == OK]
    ok = [r for r in feasible if r.eligible]
    if not ok:
        raise DseError("no feasible config to plot" + (" within the area budget" if feasible else ""), "--plot",
                       "a sweep with at least one feasible config" + (" (raise --max-area)" if feasible else ""))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2))
    rest = [r for r in ok if not r.pareto]
    front = sorted((r for r in ok if r.pareto), key=lambda r: r.totals.cycles)
    over = [r for r in feasible if r.over_area]
    areas = [r.totals.area_mm2 for r in ok]
    if all(a is not None for a in areas):  # colour = area, so the third objective shows on the 2-D plot
        sc = ax1.scatter([r.totals.cycles for r in rest], [r.totals.energy_pj / 1e6 for r in rest], s=22,
                         c=[r.totals.area_mm2 for r in rest], cmap="viridis", vmin=min(areas), vmax=max(areas),
                         alpha=0.8, label="configs")
        fig.colorbar(sc, ax=ax1, label="area (mm^2)")
    else:
        ax1.scatter([r.totals.cycles for r in rest], [r.totals.energy_pj / 1e6 for r in rest], s=22, c="tab:gray",
                    alpha=0.7, label="configs")
    if over:
        ax1.scatter([r.totals.cycles for r in over], [r.totals.energy_pj / 1e6 for r in over], s=22, marker="x",
                    c="tab:gray", alpha=0.6, label="over the area budget")
    ax1.plot([r.totals.cycles for r in front], [r.totals.energy_pj / 1e6 for r in front], "o-", c="tab:red",
             ms=6, lw=1.2, label="Pareto front", mfc="none")
    for r in front:
        ax1.annotate(f"[{r.index}]", (r.totals.cycles, r.totals.energy_pj / 1e6), textcoords="offset points",
                     xytext=(5, 5), fontsize=8, color="tab:red")
    ax1.set_xlabel("cycles")
    ax1.set_ylabel("energy (uJ)")
    ax1.set_title("energy vs cycles")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)

    best = sorted(ok, key=lambda r: (r.totals.metric(metric), r.index))[:best_n]
    layers = list(dict.fromkeys(row.layer for r in best for row in r.rows))
    cmap = plt.get_cmap("tab10")
    bottom = [0.0] * len(best)
    xs = range(len(best))
    for i, layer in enumerate(layers):
        vals = [next((row.total_energy_pj / 1e6 for row in r.rows if row.layer == layer), 0.0) for r in best]
        ax2.bar(xs, vals, bottom=bottom, color=cmap(i % 10), label=layer)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax2.set_xticks(list(xs), [f"[{r.index}]" for r in best])
    ax2.set_xlabel(f"best configs by {metric}")
    ax2.set_ylabel("energy (uJ)")
    ax2.set_title("per-layer energy of the best configs")
    ax2.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    ax2.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fmt = check_format(target)
    tmp = target.with_name(f".{target.name}.dse-{fmt[:8]:_<8}.tmp")  # a name a resume recognises as ours
    fig.savefig(tmp, dpi=110, format=fmt)
    plt.close(fig)
    tmp.replace(target)
    return target
