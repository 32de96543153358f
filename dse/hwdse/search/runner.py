"""``hwdse_run.py LAYERS --search KIND --trials N``: ask the study for configs, map their layers, tell it the totals.

Each trial is one config (``OUT/<trial number>/``, the same layout as a sweep, so ``-so``,
``-t``, ``--csv`` and ``--plot`` work), evaluated over the layers with the sweep's jobs,
workers and aggregation.  The study database is the single source of truth: trials are
asked in batches of ``K`` (enough to keep the workers busy), their jobs run concurrently,
and the results are told in trial order, so a seed and a worker count give the same trials.

Failed trials carry their reason (user attribute ``reason``): a cross-knob rule, the area
budget, or a layer without a valid mapping.  A trial left running by a killed search is
evaluated again on resume under its own number (its finished layer results are reused),
so no trial is lost or duplicated.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dse.errors import DseError
from dse.hwdse.aggregate import OK
from dse.hwdse.execution import WorkerLost, run_dask, run_local
from dse.hwdse.plan import Route, SweepJob, SweepSettings, make_jobs, route_layers
from dse.hwdse.results import ConfigResult, config_document, csv_table, evaluate, load_results, objective_values
from dse.hwdse.reuse import ResultIndex, copy_result, split_twins, with_twins
from dse.hwdse.search.samplers import SearchKind, make_sampler
from dse.hwdse.search.space import SearchSpace, build_space
from dse.hwdse.search.study import check_meta, db_path, open_study, read_meta
from dse.hwdse.store import Store
from dse.hwdse.sweep import SweepStopped, check_compatible

OBJECTIVE_LABEL = {"energy": "energy_pj", "cycles": "cycles", "delay": "cycles", "area": "area_mm2",
                   "edp": "edp_j_cycles", "edap": "edap_j_cycles_mm2"}


@dataclass
class SearchRequest:
    settings: SweepSettings
    layers: list[str]
    kind: SearchKind
    trials: int
    objectives: tuple[str, ...]  # one (--metric) or more (--objectives), all minimized
    out: Path
    space_file: str | None = None
    seed: int = 0
    workers: int = 1
    scheduler: str | None = None
    ignore_heads: bool = False
    blocks: bool = False
    max_area_mm2: float | None = None
    reuse: tuple[Path, ...] = ()
    progress: bool = True
    resume_hint: str = "re-run the same command"


@dataclass
class SearchReport:
    results: list[ConfigResult]
    info: dict[str, Any]
    trials: list[Any]  # Optuna FrozenTrials, by number
    ran: int
    reused: int
    wall_s: float
    notes: list[str] = field(default_factory=list)


def prepare(req: SearchRequest) -> tuple[SearchSpace, list[Route], dict[str, Any], dict[str, Any]]:
    """Check everything that can be checked without the study: space, settings, layers, folder."""
    from dse.pipeline import load_mapper_options

    if req.trials <= 0:
        raise DseError(f"{req.trials} trials: nothing to search", "--trials", "a whole number >= 1")
    load_mapper_options(req.settings.mapper)
    space = build_space(req.settings.arch, req.space_file)
    if req.kind is SearchKind.GRID:
        space.grid("--search grid")
    routes = route_layers(req.settings.arch, req.layers)
    if not any(r.arch for r in routes):
        raise DseError("none of the layers runs on this architecture", "LAYER", "layers the architecture runs")
    info = {"settings": req.settings.as_dict(), "layers": list(req.layers),
            "routes": [{"layer": r.layer, "arch": r.arch, "reason": r.reason} for r in routes]}
    meta = {"arch": req.settings.arch, "layers": sorted(req.layers), "settings": req.settings.as_dict(),
            "aggregation": {"ignore_heads": req.ignore_heads, "blocks": req.blocks},
            "space": space.describe(), "objectives": list(req.objectives)}
    return space, routes, info, meta


def _check_folder(store: Store, info: dict[str, Any], meta: dict[str, Any]) -> None:
    path = db_path(store.root)
    old_meta = read_meta(path)
    if old_meta is not None:
        check_meta(old_meta, meta, path)
    check_compatible(store, info, [])
    old = store.sweep_info()
    if old is not None and "search" not in old:
        raise DseError("the folder holds a sweep of config files, not a search", f"--out {store.root}",
                       "another --out for the search (use --reuse DIR to take that sweep's finished results)")
    if old_meta is None and old is not None:
        raise DseError("the folder holds a search whose study database is missing", f"--out {store.root}",
                       "the folder with its study.db, or another --out")


def _check_config(config: dict[str, Any], req: SearchRequest, routes: list[Route]) -> str | None:
    """Why ``config`` cannot be evaluated (a cross-knob rule, the area budget), or ``None``."""
    from dse.hwdse.configs import validate_configs
    from dse.hwdse.plan import validate_companions

    try:
        validate_configs([config], req.settings.arch, "config")
        validate_companions([config], routes, "config")
    except DseError as err:
        return err.message.split("\n  ", 1)[-1]
    if req.max_area_mm2 is not None:
        from dse.hwdse.area import config_area_mm2

        area, _ = config_area_mm2(config, req.settings.arch, routes)
        if area > req.max_area_mm2:
            return f"area {area:.4g} mm^2 is over the budget of {req.max_area_mm2:g} mm^2 (not mapped)"
    return None


def run_search(req: SearchRequest, echo: Callable[[str], None] = print) -> SearchReport:
    """Run or resume the search of ``req``; :class:`SweepStopped` after Ctrl-C or a lost worker."""
    import optuna
    from optuna.trial import TrialState

    start = time.monotonic()
    space, routes, info, meta = prepare(req)
    store = Store(req.out)
    store.check_usable()
    _check_folder(store, info, meta)
    for d in req.reuse:
        if Store(d).sweep_info() is None:
            raise DseError("no sweep results here (no sweep.json)", f"--reuse {d}", "a folder written by hwdse_run.py")
    agg = {"ignore_heads": req.ignore_heads, "blocks": req.blocks}
    search_info = {"sampler": req.kind.value, "trials": req.trials, "seed": req.seed,
                   "objectives": list(req.objectives), "space": space.describe(), "study": str(db_path(store.root))}
    jobs_per_trial = sum(1 for r in routes if r.arch)
    at_once = max(1, math.ceil(req.workers / jobs_per_trial)) if not req.scheduler else max(1, req.workers)
    limit = req.trials
    notes: list[str] = []
    if req.kind is SearchKind.GRID and space.size() < limit:
        limit = int(space.size())
        notes.append(f"the grid has {limit} configs: --trials {req.trials} stops after all of them")
    ran = reused = 0
    with store.locked():
        store.write_sweep_info(info | {"aggregation": agg, "search": search_info})
        study = open_study(db_path(store.root), meta, [OBJECTIVE_LABEL[o] for o in req.objectives])
        index = ResultIndex([store.root, *req.reuse])
        finished = {TrialState.COMPLETE, TrialState.FAIL}
        trials = study.get_trials(deepcopy=False)
        pending = [t for t in trials if t.state is TrialState.RUNNING or t.state is TrialState.WAITING]
        if pending:
            echo(f"resuming: {len(pending)} trial(s) left running by an interrupted search are evaluated again "
                 f"(#{', #'.join(str(t.number) for t in pending)})")
        done = sum(1 for t in trials if t.state in finished)
        if done:
            echo(f"resuming: {done} finished trial(s) in {db_path(store.root)}")
        bar = _progress(limit, done, req.progress)
        best: dict[str, Any] = {}
        try:
            while done < limit:
                batch: list[tuple[Any, dict[str, Any]]] = []
                while pending and len(batch) < at_once:
                    # drawn again through the trial: values already stored are returned as they are, and a
                    # trial killed before all its knobs were drawn gets the rest from its own seeded sampler
                    t = pending.pop(0)
                    study.sampler = make_sampler(req.kind, space, req.seed, t.number, len(req.objectives))
                    trial = optuna.trial.Trial(study, t._trial_id)
                    config = space.suggest(trial)
                    trial.set_user_attr("config", config)
                    batch.append((trial, config))
                while len(batch) < min(at_once, limit - done):
                    number = len(study.get_trials(deepcopy=False))
                    study.sampler = make_sampler(req.kind, space, req.seed, number, len(req.objectives))
                    trial = study.ask()
                    config = space.suggest(trial)
                    trial.set_user_attr("config", config)
                    batch.append((trial, config))
                r, u = _evaluate_batch(batch, req, routes, store, index, info, study, best)
                ran, reused = ran + r, reused + u
                done += len(batch)
                if bar:
                    bar.update(len(batch))
                    if best:
                        bar.set_postfix_str(f"best {req.objectives[0]}: #{best['number']} {best['value']:.4g}")
        except KeyboardInterrupt:
            raise SweepStopped(_stopped("interrupted", done, limit, store, req), 130) from None
        except WorkerLost as err:
            raise SweepStopped(_stopped(str(err), done, limit, store, req), 1) from None
        finally:
            if bar:
                bar.close()
            results = load_results(store, info, req.ignore_heads, req.blocks, max_area_mm2=req.max_area_mm2,
                                   objectives=req.objectives if len(req.objectives) > 1 else ("energy", "cycles"))
            store.write_csv(*csv_table(results))
        trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    return SearchReport(results, info | {"search": search_info}, trials, ran, reused, time.monotonic() - start, notes)


def _evaluate_batch(batch: list[tuple[Any, dict[str, Any]]], req: SearchRequest, routes: list[Route], store: Store,
                    index: ResultIndex, info: dict[str, Any], study: Any, best: dict[str, Any]) -> tuple[int, int]:
    """Map the batch's configs (jobs of all its trials together), then tell the study, in trial order."""
    from optuna.trial import TrialState

    reasons: dict[int, str] = {}
    todo: list[SweepJob] = []
    reused = 0
    for trial, config in batch:
        number = trial.number
        why = _check_config(config, req, routes)
        if why is not None:
            reasons[number] = why
            continue
        for job in make_jobs([config], req.settings, routes, init_idx=number):
            if store.finished(job) is not None:
                reused += 1
            elif (src := index.find(job)) is not None:
                copy_result(store, job, src)
                reused += 1
            else:
                todo.append(job)
    unique, twins = split_twins(todo)  # a config repeated inside the batch is mapped once and copied
    reused += sum(len(v) for v in twins.values())
    backend = with_twins(run_dask(unique, req.scheduler) if req.scheduler else run_local(unique, req.workers), twins)
    try:
        for job, rec in backend:
            if "error" in rec:
                raise DseError(rec["error"])
            store.save(job, rec)
            index.add(store, job)
    finally:
        backend.close()
    for trial, config in batch:
        number = trial.number
        if number in reasons:
            trial.set_user_attr("reason", reasons[number])
            study.tell(trial, state=TrialState.FAIL)
            continue
        res = evaluate(store, number, config, info, req.ignore_heads, req.blocks)
        store.write_config(number, config_document(res, info, req.ignore_heads, req.blocks))
        values = objective_values(res.totals, req.objectives)
        why = (res.totals.reason or res.totals.status) if res.totals.status != OK else (
            "an objective is unknown (no area recorded)" if any(math.isinf(v) for v in values) else None)
        if why is not None:
            trial.set_user_attr("reason", why)
            study.tell(trial, state=TrialState.FAIL)
            continue
        study.tell(trial, list(values))
        if not best or values[0] < best["value"]:
            best.update(number=number, value=values[0])
    return len(unique), reused


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="search", unit="trial", file=sys.stderr, dynamic_ncols=True)


def _stopped(what: str, done: int, total: int, store: Store, req: SearchRequest) -> str:
    return (f"{what}: {done} of {total} trials are finished in {db_path(store.root)} (trials in flight are "
            f"evaluated again on resume, their finished layers reused); resume with: {req.resume_hint}")
