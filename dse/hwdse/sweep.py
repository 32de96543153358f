"""Run a sweep: validate everything, plan jobs, reuse finished results, execute the rest, store."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dse.errors import DseError
from dse.hwdse.aggregate import OK
from dse.hwdse.configs import validate_configs
from dse.hwdse.execution import WorkerLost, run_dask, run_local
from dse.hwdse.plan import SweepJob, SweepSettings, make_jobs, route_layers, validate_companions
from dse.hwdse.reuse import split_twins, with_twins
from dse.hwdse.results import ConfigResult, config_document, csv_table, evaluate, load_results
from dse.hwdse.store import Store


class SweepStopped(Exception):
    """The sweep stopped early (Ctrl-C or a lost worker); finished results are stored."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class SweepRequest:
    settings: SweepSettings
    layers: list[str]
    configs: list[dict[str, Any]]
    config_source: str
    out: Path
    init_idx: int = 0
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    scheduler: str | None = None
    ignore_heads: bool = False
    blocks: bool = False
    metric: str = "edp"
    live: bool = False
    progress: bool = True
    resume_hint: str = "re-run the same command"
    max_area_mm2: float | None = None  # --max-area: refused up front if no config meets it; over-budget marked
    objectives: tuple[str, ...] = ("energy", "cycles")  # of the Pareto front in results.csv


@dataclass
class SweepReport:
    results: list[ConfigResult]
    info: dict[str, Any]
    total_jobs: int
    reused: int
    ran: int
    wall_s: float


def plan(req: SweepRequest) -> tuple[dict[str, Any], list[SweepJob]]:
    """Validate configs (also as seen by companion architectures) and build sweep.json info + jobs."""
    from dse.pipeline import load_mapper_options

    load_mapper_options(req.settings.mapper)  # an unknown or malformed preset stops us before OUT is touched
    validate_configs(req.configs, req.settings.arch, req.config_source)
    routes = route_layers(req.settings.arch, req.layers)
    validate_companions(req.configs, routes, req.config_source)
    jobs = make_jobs(req.configs, req.settings, routes, req.init_idx)
    info = {"settings": req.settings.as_dict(), "layers": list(req.layers),
            "routes": [{"layer": r.layer, "arch": r.arch, "reason": r.reason} for r in routes]}
    return info, jobs


def check_compatible(store: Store, info: dict[str, Any], jobs: list[SweepJob]) -> None:
    """Refuse (before writing anything) to mix this sweep into a folder holding a different one."""
    store.check_usable()
    old = store.sweep_info()
    if old is not None:
        if old.get("settings") != info["settings"]:
            diff = sorted(k for k in info["settings"] if old["settings"].get(k) != info["settings"][k])
            raise DseError("the folder holds a sweep with other settings ("
                           + ", ".join(f"{k}: {old['settings'].get(k)!r} there, {info['settings'][k]!r} now" for k in diff)
                           + ")", f"--out {store.root}", "the same settings to resume, or another --out")
        if sorted(old.get("layers", [])) != sorted(info["layers"]):  # the same set in another order resumes
            raise DseError(f"the folder holds a sweep of layers {' '.join(old.get('layers', []))}, this run asks for "
                           f"{' '.join(info['layers'])}", f"--out {store.root}", "the same layers to resume, or another --out")
    problems = store.conflicts(jobs)
    if problems:
        raise DseError("the folder holds results of other configs at the same indices:\n  " + "\n  ".join(problems[:10]),
                       f"--out {store.root}", "the same config file (and -i) to resume, another --out, or -i N to "
                       "number the new configs after the existing ones")


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="hwdse", unit="job", file=sys.stderr, dynamic_ncols=True)


def run_sweep(req: SweepRequest, echo: Callable[[str], None] = print) -> SweepReport:
    """Run (or resume) the sweep of ``req``; raise :class:`SweepStopped` after Ctrl-C or a lost worker."""
    start = time.monotonic()
    info, jobs = plan(req)
    if req.max_area_mm2 is not None:
        from dse.hwdse.area import check_budget

        check_budget(req.configs, req.settings.arch, route_layers(req.settings.arch, req.layers), req.max_area_mm2)
    store = Store(req.out)
    check_compatible(store, info, jobs)
    new_folder = not store.root.exists()
    agg = dict(ignore_heads=req.ignore_heads, blocks=req.blocks)
    by_index: dict[int, dict[str, Any]] = {j.index: j.full_config for j in jobs}
    with store.locked():
        store.write_sweep_info(info | {"aggregation": agg})
        todo = [j for j in jobs if store.finished(j) is None]
        reused = len(jobs) - len(todo)

        def refresh(idx: int) -> ConfigResult:
            res = evaluate(store, idx, by_index[idx], info, req.ignore_heads, req.blocks)
            store.write_config(idx, config_document(res, info, req.ignore_heads, req.blocks))
            return res

        best: dict[str, Any] = {}
        for idx in by_index:
            res = refresh(idx)
            if res.totals.status == OK and res.totals.metric(req.metric) < best.get("value", float("inf")):
                best = {"value": res.totals.metric(req.metric), "index": idx}
        if reused:
            echo(f"resuming: {reused} of {len(jobs)} (config, layer) results already in {store.root}, "
                 f"{len(todo)} to run")
        bar = _progress(len(jobs), reused, req.progress)
        ran = 0
        results: list[ConfigResult] = []
        unique, twins = split_twins(todo)  # a job equal to another one (same fingerprint) is mapped once
        backend = with_twins(run_dask(unique, req.scheduler) if req.scheduler else run_local(unique, req.workers), twins)
        try:
            for job, rec in backend:
                if "error" in rec:
                    if new_folder and not ran and not reused:  # bad input before any result: leave no trace
                        store.discard()
                    raise DseError(rec["error"])
                store.save(job, rec)
                if "copy_of" in rec:  # an equal job's result, copied (not mapped again)
                    reused += 1
                else:
                    ran += 1
                res = refresh(job.index)
                if res.totals.status == OK and res.totals.metric(req.metric) < best.get("value", float("inf")):
                    best = {"value": res.totals.metric(req.metric), "index": job.index}
                if req.live:
                    msg = (f"[{job.index}] {job.layer}: " + (f"{rec['energy_pj'] / 1e6:.2f} uJ, {rec['cycles']} cycles, "
                           f"{100 * rec['utilization']:.1f}% util" if rec["ok"] else f"no valid mapping ({rec['reason']})")
                           + f" [{rec['wall_s']:.2f} s]")
                    (bar.write if bar else echo)(msg)
                if bar:
                    bar.update(1)
                    if best:
                        bar.set_postfix_str(f"best {req.metric}: [{best['index']}] {best['value']:.4g}")
        except DseError:
            if new_folder and not ran and not reused:  # e.g. an unreachable --scheduler: no half-made OUT
                store.discard()
            raise
        except KeyboardInterrupt:
            raise SweepStopped(_stopped("interrupted", reused + ran, len(jobs), store, req), 130) from None
        except WorkerLost as err:
            raise SweepStopped(_stopped(str(err), reused + ran, len(jobs), store, req), 1) from None
        finally:
            if bar:
                bar.close()
            backend.close()
            if store.root.is_dir():
                results = load_results(store, info, req.ignore_heads, req.blocks,  # every config in OUT (-i runs add up)
                                       max_area_mm2=req.max_area_mm2, objectives=req.objectives)
                store.write_csv(*csv_table(results))
    return SweepReport(results, info, len(jobs), reused, ran, time.monotonic() - start)


def _stopped(what: str, done: int, total: int, store: Store, req: SweepRequest) -> str:
    return (f"{what}: {done} of {total} (config, layer) results are saved in {store.root} (jobs in flight were "
            f"lost); resume with: {req.resume_hint}")
