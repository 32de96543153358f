"""Search algorithms over a :class:`~dse.mapper.mapspace.MapSpace`.

``dse`` (default) and ``linear_pruned``: every factorization that fits (capacity
and fan-out pruning while dimensions are combined) x every loop order that
changes reuse (one order per reuse signature), x every free keep/bypass choice,
evaluated in numpy batches.  Deterministic, no luck involved: it finds the
optimum of the perfect-factorization map-space under the given metrics.
``exhaustive``: the same with every loop order.  ``random`` / ``random_pruned``:
seeded sampling of factorizations (unpruned: each dimension independently; pruned:
dimension by dimension among the choices that still fit buffers and fan-outs, or
uniformly from the listed fitting ones when they are few) with one random loop order
per mapping, until ``search_size`` valid mappings, ``victory_condition`` (consecutive
valid mappings without improvement) or ``timeout`` (consecutive invalid ones).
``hybrid``: seeded pruned factorizations, each with all its loop orders, or 32
(``max_permutations_per_if_visit``) random ones of them when more (Timeloop's hybrid
idea).  The random searches never list the whole map-space: memory is O(batch).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from dse.errors import DseError, NoValidMappingError
from dse.limits import max_processes
from dse.mapper.mapspace import (RES_SHIFT, MapSpace, _fits, _split_xy, batch_row_to_mapping, build_mapspace,
                                 dim_factorizations, enumerate_factors, expand_batches, explain_empty,
                                 factor_layout, imperfect_columns, order_ranks)
from dse.mapper.legality import constraint_violations
from dse.mapper.local import LocalSearch
from dse.model.nest import BatchResult, MappingBatch, ModelContext, ModelResult, evaluate_batch, result_at
from dse.spec.types import Constraint, MapperOptions

ALGORITHMS = ("dse", "exhaustive", "linear_pruned", "random", "random_pruned", "hybrid")
METRICS = ("edp", "delay", "energy", "last_level_accesses")


@dataclass(frozen=True)
class SearchResult:
    """Outcome of a mapper run."""

    best: ModelResult | None
    evaluated: int
    valid: int
    wall_s: float
    algorithm: str
    stopped_by: str  # exhausted | timeout (invalid streak) | search_size | victory_condition | time_limit
    space_size: int  # factorizations that fit, times loop orders (for enumerating algorithms)
    notes: tuple[str, ...] = ()  # constraints adjusted or ignored the way Timeloop does


def _metric_arrays(res: BatchResult, metrics: Sequence[str]) -> list[np.ndarray]:
    out = []
    for m in metrics:
        if m == "edp":
            out.append(res.edp_j_cycles)
        elif m in ("delay", "cycles"):
            out.append(res.cycles.astype(float))
        elif m == "energy":
            out.append(res.energy_pj)
        elif m == "last_level_accesses":
            out.append(res.last_level_accesses.astype(float))
        else:
            raise DseError(f"unknown optimization metric '{m}'", "mapper.optimization_metrics", ", ".join(METRICS))
    return out


class _Best:
    """Lexicographic best-so-far (ties broken by enumeration order, so results are deterministic)."""

    def __init__(self, metrics: Sequence[str], min_util: float):
        self.metrics = tuple(metrics)
        self.min_util = min_util
        self.key: tuple | None = None
        self.batch: MappingBatch | None = None
        self.row = -1
        self.evaluated = 0
        self.valid = 0
        self.since_improvement = 0
        self.invalid_streak = 0  # invalid mappings since the last valid one (Timeloop's timeout counter)

    def offer(self, ctx: ModelContext, batch: MappingBatch, order_key: np.ndarray) -> bool:
        res = evaluate_batch(ctx, batch)
        ok = res.valid & (res.utilization >= self.min_util - 1e-12)
        self.evaluated += batch.size
        n_ok = int(ok.sum())
        self.valid += n_ok
        if not n_ok:
            self.invalid_streak += batch.size
            return False
        self.invalid_streak = batch.size - 1 - int(np.nonzero(ok)[0][-1])
        idx = np.nonzero(ok)[0]
        cols = [a[idx] for a in _metric_arrays(res, self.metrics)]
        # lexsort: last key is primary
        order = np.lexsort([order_key[idx]] + cols[::-1])
        i = idx[order[0]]
        key = tuple(float(c[order[0]]) for c in cols) + (int(order_key[i]),)
        if self.key is None or key < self.key:
            self.key = key
            self.batch = batch.rows(slice(i, i + 1))
            self.since_improvement = 0
            return True
        self.since_improvement += n_ok
        return False


def _stop_reason(best: _Best, options: MapperOptions, deadline: float | None) -> str | None:
    """Timeloop's termination rules: ``search_size`` valid mappings, ``timeout`` consecutive invalid ones;
    plus our wall-clock ``time_limit_s``."""
    if deadline and time.monotonic() > deadline:
        return "time_limit"
    if options.search_size and best.valid >= options.search_size:
        return "search_size"
    if options.timeout and best.invalid_streak >= options.timeout:
        return "timeout"
    return None


def _enumerate_worker(args) -> tuple:
    ctx, space, keep, fac, all_perm, metrics, min_util, offset, deadline = args
    best = _Best(metrics, min_util)
    for batch, r_i, p_i in expand_batches(space, keep, fac, all_perm):
        best.offer(ctx, batch, (offset + r_i) * 1000 + p_i)
        if deadline and time.monotonic() > deadline:
            return best.key, best.batch, best.evaluated, best.valid, True
    return best.key, best.batch, best.evaluated, best.valid, False


def _enumerate_in_parallel(ctx, space: MapSpace, keep, fac: np.ndarray, all_perm: bool, metrics, offset: int,
                           deadline, workers: int, best: "_Best") -> bool:
    """Split factorization rows over worker processes; merge into ``best``. True if a worker timed out."""
    parts = np.array_split(np.arange(len(fac)), workers)
    jobs = [(ctx, space, keep, fac[p], all_perm, metrics, space.min_utilization, offset + p[0], deadline)
            for p in parts if len(p)]
    from concurrent.futures import ProcessPoolExecutor  # only a multi-process run pays for it (subprocess, socket...)

    timed_out_any = False
    with ProcessPoolExecutor(max_workers=workers) as ex:
        for key, b, n_eval, n_valid, timed_out in ex.map(_enumerate_worker, jobs):
            best.evaluated += n_eval
            best.valid += n_valid
            if key is not None and (best.key is None or key < best.key):
                best.key, best.batch = key, b
            timed_out_any |= timed_out
    return timed_out_any


def search(ctx: ModelContext, constraints: Sequence[Constraint], options: MapperOptions,
           progress: Callable[[int, int, float | None], None] | None = None, imperfect: bool = False) -> SearchResult:
    """Find the best mapping; raise :class:`NoValidMappingError` with the reason if none fits.

    ``imperfect`` (ruby map-space, ``-if``): factorizations with one residual loop per dimension too.
    """
    algo = options.algorithm or "dse"
    if algo not in ALGORITHMS:
        raise DseError(f"unknown mapper algorithm '{algo}'", "mapper.algorithm", ", ".join(ALGORITHMS))
    metrics = tuple(options.optimization_metrics or ("edp",))
    _metric_check(metrics)
    start = time.monotonic()
    limit_s = (options.extra or {}).get("time_limit_s")
    deadline = start + float(limit_s) if limit_s else None
    space = build_mapspace(ctx, constraints, imperfect=imperfect)
    best = _Best(metrics, space.min_utilization)
    stopped = "exhausted"
    space_size = 0
    if algo == "dse":
        stopped, space_size = _dse_search(ctx, space, options, best, deadline, progress, metrics)
    elif algo in ("linear_pruned", "exhaustive"):
        all_perm = algo == "exhaustive"
        offset = 0
        for keep in space.keep_options:
            fac = enumerate_factors(space, keep)
            space_size += len(fac)
            if not len(fac):
                continue
            workers = min(max_processes(), max(1, int(options.num_threads or 1)))
            if workers > 1 and len(fac) >= 2048:
                if _enumerate_in_parallel(ctx, space, keep, fac, all_perm, metrics, offset, deadline, workers, best):
                    stopped = "time_limit"
            else:
                for batch, r_i, p_i in expand_batches(space, keep, fac, all_perm):
                    best.offer(ctx, batch, (offset + r_i) * 1000 + p_i)
                    if progress:
                        progress(best.evaluated, best.valid, best.key[0] if best.key else None)
                    why = _stop_reason(best, options, deadline)
                    if why:
                        stopped = why
                        break
            offset += len(fac)
            if stopped != "exhausted":
                break
    else:
        stopped, space_size = _random_search(ctx, space, options, best, deadline, progress, algo)
    wall = time.monotonic() - start
    if best.batch is None:
        if stopped == "exhausted" or best.evaluated == 0 or algo not in ("random",):
            raise NoValidMappingError(f"no valid mapping for {ctx.workload.name} on {ctx.arch.name}: {explain_empty(space)}",
                                      "mapper", "a larger buffer, fewer or looser constraints, or another architecture")
        why = ("valid mappings do exist: the sampling just did not reach one" if _fitting_exists(space)
               else explain_empty(space))
        raise NoValidMappingError(f"the {algo} search evaluated {best.evaluated} mappings and none was valid "
                                  f"(stopped by {stopped}); {why}", "mapper",
                                  "a larger timeout (consecutive invalid mappings allowed) or search_size, "
                                  "random_pruned (samples only mappings that fit), or the default 'dse' algorithm")
    mapping = batch_row_to_mapping(space, best.batch, 0)
    result = result_at(ctx, evaluate_batch(ctx, best.batch), 0, mapping)
    broken = constraint_violations(ctx, mapping, space.constraints, result.utilization)
    if broken:  # the map-space honours every constraint; reaching this is a bug, never a silent result
        raise RuntimeError(f"internal error: the {algo} search returned a mapping that violates the constraints: "
                           + "; ".join(str(v) for v in broken))
    return SearchResult(result, best.evaluated, best.valid, wall, algo, stopped, space_size, space.notes)


EXACT_MAX_ROWS = 12_000  # pruned factorizations up to which 'dse' enumerates exactly (x loop orders)
EXACT_MAX_INTERMEDIATE = 400_000  # give up exact enumeration when a partial combination grows past this


def _key_fn(metrics: Sequence[str]):
    def keys(res: BatchResult, idx: np.ndarray) -> np.ndarray:
        return np.stack([a[idx] for a in _metric_arrays(res, metrics)], axis=1)
    return keys


EXACT_MAX_KEEP_ROWS = 2 * EXACT_MAX_ROWS  # free keep options too are enumerated exactly up to this total


def _exact_rows(space: MapSpace, keep) -> np.ndarray | None:
    """The pruned factorizations of one keep option, or None when too many for exact enumeration."""
    fac = enumerate_factors(space, keep, max_rows=EXACT_MAX_INTERMEDIATE)
    return fac if fac is not None and len(fac) <= EXACT_MAX_ROWS else None


def _state_of(space: MapSpace, batch: MappingBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row 0 of a batch as a local-search state (encoded factors [slot, dim], ranks, keep)."""
    D = len(space.ctx.dims)
    fac = np.ones((len(space.slots), D), dtype=np.int64)
    for i, slot in enumerate(space.slots):
        if slot.kind == "temporal":
            f = batch.temporal[0, slot.index].astype(np.int64)
            r = batch.res_t[0, slot.index] if batch.res_t is not None else 0
        else:
            f = (batch.spatial_x[0, slot.index] * batch.spatial_y[0, slot.index]).astype(np.int64)
            r = batch.res_s[0, slot.index] if batch.res_s is not None else 0
        fac[i] = f + (np.asarray(r, dtype=np.int64) << RES_SHIFT)
    return fac, batch.rank[0].astype(np.int64).copy(), np.array(batch.keep[0], dtype=bool)


def _dse_search(ctx, space: MapSpace, options: MapperOptions, best: _Best, deadline, progress, metrics) -> tuple[str, int]:
    """Exact enumeration of small pruned spaces, deterministic iterated local search otherwise.

    ``space`` has Timeloop's keep semantics (every unconstrained data space may be kept or
    bypassed).  Per designer keep option (a level that lists what it keeps bypasses the
    rest): exact enumeration when its pruned factorizations are few, else a local search
    that also toggles the free keep choices.  When every designer option was exact, the
    other keep options are enumerated exactly too while the total stays within
    ``EXACT_MAX_KEEP_ROWS``; otherwise a local search from the exact optimum explores them.
    Imperfect factorization (``space.imperfect``): a keep option whose residual columns make
    the space too large is searched as without them (exact or local search), then a local
    search with residual moves continues from that result, so ``-if`` is never worse.

    Options: ``num_threads`` > 1 splits the exact enumeration over worker processes, or
    runs that many local searches (seeds ``seed .. seed+n-1``) in parallel and keeps the
    best (ties: lowest seed) — deterministic for a given ``num_threads``; ``search_size``
    stops after that many evaluated mappings; ``victory_condition`` ends a local search
    after that many consecutive evaluated mappings without improvement.
    """
    run = _DseRun(ctx, space, options, best, deadline, progress, metrics)
    perfect = replace(space, imperfect=False) if space.imperfect else space
    designer = [k for k in space.keep_options if space.is_designer_keep(k)]
    others = [k for k in space.keep_options if not space.is_designer_keep(k)]
    keeps_explored = not others  # every keep option searched (exactly, or by toggling moves)
    residuals_explored = not space.imperfect
    exact_only = True
    for keep in designer:
        fac = _exact_rows(space, keep)
        if fac is not None:
            run.exact(space, keep, fac)
        else:
            exact_only = False
            if space.imperfect:
                residuals_explored = False
            pfac = _exact_rows(perfect, keep) if space.imperfect else None
            if pfac is not None:
                run.exact(perfect, keep, pfac)
            else:
                run.local(perfect, keep)
                keeps_explored = True  # the local search toggles every free keep choice
        if run.halted:
            return run.stopped, run.space_size
    if others and exact_only:
        # all designer options were exact: the others too, while the total work stays small
        rows, total = [], run.space_size
        for keep in others:
            fac = _exact_rows(space, keep)
            if fac is None or total + len(fac) > EXACT_MAX_KEEP_ROWS:
                rows = None
                break
            rows.append((keep, fac))
            total += len(fac)
        if rows is not None:
            for keep, fac in rows:
                run.exact(space, keep, fac)
                if run.halted:
                    return run.stopped, run.space_size
            keeps_explored = True
    if not (keeps_explored and residuals_explored):
        if best.batch is not None:  # continue from the best so far with keep toggles and residual moves
            run.local(space, None, init=_state_of(space, best.batch))
        else:
            for keep in designer:
                run.local(space, keep)
                if run.halted:
                    break
    return run.stopped, run.space_size


class _DseRun:
    """Book-keeping of one ``dse`` search: exact enumerations and local searches into ``best``."""

    def __init__(self, ctx, space, options, best, deadline, progress, metrics):
        self.ctx, self.space, self.options, self.best = ctx, space, options, best
        self.deadline, self.progress, self.metrics = deadline, progress, tuple(metrics)
        self.workers = min(max_processes(), max(1, int(options.num_threads or 1)))
        self.stopped, self.space_size, self.offset = "exhausted", 0, 0

    @property
    def halted(self) -> bool:
        """Stopped for good (a local search ending by victory_condition does not stop the others)."""
        return self.stopped in ("timeout", "search_size", "time_limit")

    def exact(self, space: MapSpace, keep, fac: np.ndarray) -> None:
        ctx, best, options = self.ctx, self.best, self.options
        self.space_size += len(fac)
        if not len(fac):
            return
        if self.workers > 1 and len(fac) >= 2048 and not options.search_size:
            if _enumerate_in_parallel(ctx, space, keep, fac, False, self.metrics, self.offset, self.deadline,
                                      self.workers, best):
                self.stopped = "time_limit"
            self.offset += len(fac)
            return
        for batch, r_i, p_i in expand_batches(space, keep, fac, False):
            best.offer(ctx, batch, (self.offset + r_i) * 1000 + p_i)
            if self.progress:
                self.progress(best.evaluated, best.valid, best.key[0] if best.key else None)
            why = _stop_reason(best, options, self.deadline)
            if why:
                self.stopped = why
                return
        self.offset += len(fac)

    def local(self, space: MapSpace, keep, init=None) -> None:
        """Local search(es) from ``keep``'s start state, or (one search) from ``init``."""
        ctx, best, options = self.ctx, self.best, self.options
        search_size = options.search_size
        if search_size:
            search_size = search_size - best.valid
            if search_size <= 0:
                self.stopped = "search_size"
                return
        n = 1 if init is not None else self.workers
        seeds = [int(options.seed or 0) + i for i in range(n)]
        if keep is None:
            keep = init[2]
        jobs = [(space, keep, self.metrics, seed, self.deadline, search_size, options.victory_condition, init)
                for seed in seeds]
        if n > 1:
            from concurrent.futures import ProcessPoolExecutor  # only a multi-process run pays for it

            with ProcessPoolExecutor(max_workers=n) as ex:
                outs = list(ex.map(_local_worker, jobs))
        else:
            outs = [_local_worker(jobs[0])]
        for i, (out, n_eval, n_valid, why) in enumerate(outs):
            best.evaluated += n_eval
            best.valid += n_valid
            if why != "exhausted":
                self.stopped = why
            if out is not None:
                _, f, r, k = out
                ls = LocalSearch(space, keep, _key_fn(self.metrics), len(self.metrics), space.min_utilization,
                                 seed=seeds[i])
                best.offer(ctx, ls.batch(f[None], r[None], k[None]),
                           np.array([(self.offset + i) * 1000], dtype=np.int64))
                best.evaluated -= 1  # re-scoring a winner is not a new evaluation
                best.valid -= 1
        self.offset += len(seeds)
        if self.progress:
            self.progress(best.evaluated, best.valid, best.key[0] if best.key else None)


def _local_worker(args) -> tuple:
    """One deterministic local search; returns (best or None, evaluated, valid, why it stopped)."""
    space, keep, metrics, seed, deadline, search_size, victory, init = args
    ls = LocalSearch(space, keep, _key_fn(metrics), len(metrics), space.min_utilization, seed=seed,
                     free_keeps=space.keep_free)
    why: list[str] = []

    def stop() -> bool:
        if deadline and time.monotonic() > deadline:
            why.append("time_limit")
            return True
        if search_size and ls.valid >= search_size:
            why.append("search_size")
            return True
        return False

    out = ls.run(stop=stop, victory=victory, init=init)
    if victory and ls.stopped_by_victory:
        why.append("victory_condition")
    return out, ls.evaluated, ls.valid, (why[0] if why else "exhausted")


def _metric_check(metrics: Sequence[str]) -> None:
    for m in metrics:
        if m not in METRICS and m != "cycles":
            raise DseError(f"unknown optimization metric '{m}'", "mapper.optimization_metrics", ", ".join(METRICS))


RANDOM_BATCH = 256  # mappings per evaluated batch in the random searches
PRUNED_CANDIDATES = 32  # candidate factorizations of one dimension tried at once per sampled row
PRUNED_ROUNDS = 4  # rounds of candidates before a sampled row is given up (counted as an invalid mapping)
POOL_MAX_ROWS = 16_384  # a keep option's pruned factorizations are listed (exact uniform sampling) up to this
POOL_BUDGET_ROWS = 131_072  # ... while all listed keep options together stay within this many rows
EMPTY_AFTER = 4_096  # sampled rows of a keep option without a single fit: treated as empty
HYBRID_ORDERS = 32  # loop orders per factorization in hybrid (max_permutations_per_if_visit overrides)


class _Orders:
    """Loop-order candidates of a level (:func:`level_orders`, one order per reuse signature) as rank
    rows, cached per (level, active dimensions); sampled per mapping instead of expanding every combination."""

    def __init__(self, space: MapSpace):
        self.space = space
        self.cache: dict[tuple[int, bytes], np.ndarray] = {}

    def ranks(self, k: int, active: np.ndarray) -> np.ndarray:
        """[O, D] rank rows (0 = innermost, inactive dims outermost) of level k with ``active`` [D] dims."""
        key = (k, np.asarray(active, dtype=bool).tobytes())
        got = self.cache.get(key)
        if got is None:
            got = self.cache[key] = order_ranks(self.space, k, active, False)
        return got

    def sample(self, active: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One random loop order per level for each row of ``active`` [N, K, D] -> ranks [N, K, D]."""
        n, K, D = active.shape
        rank = np.empty((n, K, D), dtype=np.int64)
        for k in range(K):
            pats, inv = np.unique(active[:, k, :], axis=0, return_inverse=True)
            inv = inv.reshape(-1)
            for u in range(len(pats)):
                rows = np.nonzero(inv == u)[0]
                opts = self.ranks(k, pats[u])
                rank[rows, k, :] = opts[rng.integers(0, len(opts), size=len(rows))] if len(opts) > 1 else opts[0]
        return rank

    def combos(self, active: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
        """Every combination of level orders of one factorization (``active`` [K, D]), or ``cap`` distinct
        random ones when there are more -> ranks [P, K, D]."""
        per_level = [self.ranks(k, active[k]) for k in range(active.shape[0])]
        counts = [len(p) for p in per_level]
        total = 1
        for c in counts:
            total *= c
        if total <= cap:
            idx = np.array(np.unravel_index(np.arange(total), counts)).T  # [P, K]
        else:
            idx = np.unique(np.stack([rng.integers(0, c, size=cap) for c in counts], axis=1), axis=0)
        return np.stack([per_level[k][idx[:, k]] for k in range(len(per_level))], axis=1)


class _FactorSampler:
    """Random factorizations [N, n_slots, D] (encoded, see :func:`decode`) without listing the map-space.

    Unpruned: every dimension's factorization drawn independently.  Pruned: a keep option whose
    fitting factorizations are few is listed once (``enumerate_factors``, capped) and sampled
    uniformly; otherwise the dimensions are drawn one after the other (most constrained first),
    each among ``PRUNED_CANDIDATES`` random factorizations that still fit the buffers and fan-outs
    with the dimensions placed so far (the pruning ``enumerate_factors`` does), so memory stays
    O(batch) whatever the size of the space.
    """

    def __init__(self, space: MapSpace):
        ctx = space.ctx
        n_slots = len(space.slots)
        self.space = space
        self.per_dim = [np.array(dim_factorizations(int(ctx.bounds[d]), [space.rules[s][d] for s in range(n_slots)])
                                 + (imperfect_columns(space, d) if space.imperfect else []),
                                 dtype=np.int64).reshape(-1, n_slots) for d in range(len(ctx.dims))]
        self.empty = any(len(p) == 0 for p in self.per_dim)
        self.size = int(np.prod([len(p) for p in self.per_dim], dtype=float))
        self.base = np.ones((n_slots, len(ctx.dims)), dtype=np.int64)
        for d, p in enumerate(self.per_dim):
            if len(p) == 1:
                self.base[:, d] = p[0]
        self.order = [d for d in sorted(range(len(ctx.dims)), key=lambda d: len(self.per_dim[d]))
                      if len(self.per_dim[d]) > 1]
        # per keep option: None (not looked at yet), an array (listed pool) or "sample"
        self.pools: list[np.ndarray | str | None] = [None] * len(space.keep_options)
        self.pooled = 0
        self.tried = [0] * len(space.keep_options)
        self.fitted = [0] * len(space.keep_options)

    def unpruned(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([p[rng.integers(0, len(p), size=n)] for p in self.per_dim], axis=2)

    def live_keeps(self) -> list[int]:
        """Keep options not known to be empty."""
        out = []
        for i, pool in enumerate(self.pools):
            if isinstance(pool, np.ndarray) and not len(pool):
                continue
            if isinstance(pool, str) and self.fitted[i] == 0 and self.tried[i] >= EMPTY_AFTER:
                continue
            out.append(i)
        return out

    def pruned(self, ki: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """Up to ``n`` fitting factorizations for keep option ``ki`` (fewer when sampled rows find no fit)."""
        keep = self.space.keep_options[ki]
        if self.pools[ki] is None:
            fac = enumerate_factors(self.space, keep, max_rows=POOL_MAX_ROWS)
            if fac is not None and self.pooled + len(fac) <= POOL_BUDGET_ROWS:
                self.pools[ki] = fac
                self.pooled += len(fac)
            else:
                self.pools[ki] = "sample"
        pool = self.pools[ki]
        if isinstance(pool, np.ndarray):
            return pool[rng.integers(0, len(pool), size=n)] if len(pool) else pool
        cur = np.broadcast_to(self.base, (n,) + self.base.shape).copy()
        alive = np.ones(n, dtype=bool)
        for d in self.order:
            f = self.per_dim[d]
            pending = np.nonzero(alive)[0]
            exact = len(f) <= PRUNED_CANDIDATES  # few candidates: try them all, once
            for _ in range(1 if exact else PRUNED_ROUNDS):
                if not len(pending):
                    break
                if exact:
                    pick = np.broadcast_to(np.arange(len(f)), (len(pending), len(f)))
                else:
                    pick = rng.integers(0, len(f), size=(len(pending), PRUNED_CANDIDATES))
                cand = np.repeat(cur[pending], pick.shape[1], axis=0)
                cand[:, :, d] = f[pick.reshape(-1)]
                ok = _fits(self.space, keep, cand).reshape(pick.shape)
                got = ok.any(axis=1)
                j = np.where(ok, rng.random(ok.shape), -1.0).argmax(axis=1)  # uniform among the fitting ones
                rows = pending[got]
                cur[rows, :, d] = f[pick[got, j[got]]]
                pending = pending[~got]
            alive[pending] = False
        self.tried[ki] += n
        self.fitted[ki] += int(alive.sum())
        return cur[alive]


def _layout(space: MapSpace, fac: np.ndarray):
    """Encoded factor rows -> (temporal, spatial_x, spatial_y, res_t, res_s) arrays of a batch."""
    temporal, spatial, res_t, res_s = factor_layout(space, fac)
    sx, sy = _split_xy(space, spatial)
    return temporal, sx, sy, res_t, res_s


def _random_batch(space: MapSpace, keep: np.ndarray, fac: np.ndarray, orders: _Orders, rng: np.random.Generator,
                  per_factorization: int, limit: int) -> MappingBatch:
    """A batch of the factorizations ``fac`` with sampled loop orders: one random order each, or
    (``per_factorization`` > 1, hybrid) up to that many of each one's orders; at most ``limit`` rows."""
    temporal, sx, sy, res_t, res_s = _layout(space, fac)
    if per_factorization > 1:
        parts = [orders.combos(temporal[i] > 1, per_factorization, rng) for i in range(len(fac))]
        rows = np.repeat(np.arange(len(fac)), [len(p) for p in parts])[:limit]
        rank = np.concatenate(parts)[:limit]
    else:
        rows = np.arange(min(len(fac), limit))
        rank = orders.sample(temporal[rows] > 1, rng)
    pick = lambda a: None if a is None else a[rows]
    kb = np.broadcast_to(keep, (len(rows),) + keep.shape)
    return MappingBatch(temporal[rows], rank, sx[rows], sy[rows], kb, pick(res_t), pick(res_s))


def _random_search(ctx, space: MapSpace, options: MapperOptions, best: _Best, deadline, progress, algo) -> tuple[str, int]:
    """Seeded sampling, Timeloop's stopping rules: ``search_size`` valid mappings, ``timeout`` consecutive
    invalid ones (a pruned sample that finds no fitting factorization counts as one), ``victory_condition``
    consecutive valid ones without improvement.  Memory is O(batch): factorizations are drawn dimension
    by dimension and loop orders per mapping, never listed for the whole space."""
    rng = np.random.default_rng(options.seed)
    limit = options.search_size or 20000
    vc = options.victory_condition
    timeout = options.timeout if options.timeout is not None else 1000  # Timeloop's default
    pruned = algo in ("random_pruned", "hybrid")
    extra = options.extra or {}
    per_fac = 1
    if algo == "hybrid":
        per_fac = int(extra.get("max_permutations_per_if_visit", extra.get("max-permutations-per-if-visit",
                                                                            HYBRID_ORDERS)) or HYBRID_ORDERS)
    keep_opts = space.keep_options
    sampler = _FactorSampler(space)
    if sampler.empty:
        return "exhausted", 0
    orders = _Orders(space)
    size = sampler.size
    drawn = 0
    while best.valid < limit:
        n = min(RANDOM_BATCH, limit - best.valid)
        if timeout:
            n = max(1, min(n, timeout - best.invalid_streak))  # stop exactly after `timeout` invalid ones
        if pruned:
            live = sampler.live_keeps()
            if not live:
                return "exhausted", size
            ki = live[int(rng.integers(len(live)))]
            keep = keep_opts[ki]
            want = n if per_fac == 1 else max(1, n // per_fac)
            fac = sampler.pruned(ki, want, rng)
            best.invalid_streak += want - len(fac)  # samples that fit nowhere: invalid mappings
        else:
            keep = keep_opts[int(rng.integers(len(keep_opts)))]
            fac = sampler.unpruned(n, rng)
        if len(fac):
            batch = _random_batch(space, keep, fac, orders, rng, per_fac, n)
            best.offer(ctx, batch, drawn + np.arange(batch.size))
            drawn += batch.size
        if progress:
            progress(best.evaluated, best.valid, best.key[0] if best.key else None)
        if deadline and time.monotonic() > deadline:
            return "time_limit", size
        if timeout and best.invalid_streak >= timeout:
            return "timeout", size
        if vc and best.key is not None and best.since_improvement >= vc:
            return "victory_condition", size
    return "search_size", size


def _fitting_exists(space: MapSpace) -> bool:
    """Whether some factorization fits (bounded work: pruned sampling, then a capped listing; unknown = True)."""
    sampler = _FactorSampler(space)
    if sampler.empty:
        return False
    rng = np.random.default_rng(0)
    for ki in range(min(4, len(space.keep_options))):
        if len(sampler.pruned(ki, RANDOM_BATCH, rng)):
            return True
        fac = enumerate_factors(space, space.keep_options[ki], max_rows=POOL_MAX_ROWS)
        if fac is None or len(fac):
            return True
    return False


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


__all__ = ["search", "SearchResult", "ALGORITHMS", "METRICS", "build_mapspace", "default_workers"]
