"""Deterministic iterated local search over factorizations and loop orders.

Used by the default ``dse`` algorithm when the pruned map-space is too large to
enumerate within its evaluation budget.  A state is one factor assignment
(``[slot, dim]``, innermost slot first, every column an allowed factorization of
its dimension) plus one loop order per storage level.  One descent step
evaluates, in a single model batch, every neighbour:

* move one prime factor of one dimension from one slot to another (spatial or
  temporal), with every reuse-distinct loop order at the levels whose set of
  active loops changed;
* re-order one level (every reuse-distinct order of its active loops);

and moves to the best one while it strictly improves the lexicographic metric
key.  From a local optimum, a seeded perturbation (a few random valid
neighbour steps) restarts the descent; the best state over all rounds wins.
Everything is counted, never timed (the wall-clock ``timeout`` is only a safety
net), so the same inputs and seed give the same mapping.
"""
from __future__ import annotations

from itertools import product
from typing import Callable, Sequence

import numpy as np

from dse.mapper.mapspace import (FACTOR_MASK, RES_SHIFT, MapSpace, SlotRule, _split_xy, decode, divisors,
                                 imperfect_columns, level_orders, prime_factors)
from dse.model.nest import BatchResult, MappingBatch, evaluate_batch


def column_ok(rules: Sequence[SlotRule], col: Sequence[int], bound: int) -> bool:
    """Whether ``col`` (innermost slot first) is a factorization of ``bound`` the slot rules allow."""
    remaining = bound
    for r, f in zip(rules, col):
        if f < 1 or remaining % f or not r.allows(int(f), remaining):
            return False
        remaining //= f
    return remaining == 1


def outermost_column(rules: Sequence[SlotRule], bound: int) -> tuple[int, ...] | None:
    """The allowed factorization with the smallest inner factors (everything as far out as allowed)."""
    n = len(rules)

    def divs(m: int) -> list[int]:
        return [d for d in range(1, m + 1) if m % d == 0] if m < 5000 else \
            sorted({x for d in range(1, int(m ** 0.5) + 1) if m % d == 0 for x in (d, m // d)})

    def rec(i: int, remaining: int) -> tuple[int, ...] | None:
        r = rules[i]
        if i == n - 1:
            return (remaining,) if r.allows(remaining, remaining) else None
        cands = [remaining] if r.exact == 0 else ([r.exact] if r.exact else divs(remaining))
        for f in cands:
            if remaining % f == 0 and r.allows(f, remaining):
                rest = rec(i + 1, remaining // f)
                if rest is not None:
                    return (f,) + rest
        return None

    return rec(0, bound)


class LocalSearch:
    """Iterated local search from one keep option (``free_keeps``: the choices it may toggle)."""

    def __init__(self, space: MapSpace, keep: np.ndarray, key_fn: Callable[[BatchResult, np.ndarray], np.ndarray],
                 n_keys: int, min_util: float, seed: int = 0, free_keeps: Sequence[tuple[int, int]] = ()):
        self.space = space
        self.ctx = ctx = space.ctx
        self.keep = keep
        self.key_fn = key_fn  # (result, rows) -> [len(rows), n_keys] float keys, smaller is better
        self.n_keys = n_keys
        self.min_util = min_util
        self.rng = np.random.default_rng(seed)
        self.K, self.D = ctx.n_levels, len(ctx.dims)
        self.n_slots = len(space.slots)
        self.t_slot = [i for i, s in enumerate(space.slots) if s.kind == "temporal"]
        self.t_level = [space.slots[i].index for i in self.t_slot]
        self.s_slot = [i for i, s in enumerate(space.slots) if s.kind == "spatial"]
        self.s_fan = [space.slots[i].index for i in self.s_slot]
        self.level_of_slot = {i: space.slots[i].index for i in self.t_slot}
        self.dims = [d for d in range(self.D) if int(ctx.bounds[d]) > 1]
        self.primes = {d: sorted(set(prime_factors(int(ctx.bounds[d])))) for d in self.dims}
        self.rules = [[space.rules[s][d] for s in range(self.n_slots)] for d in range(self.D)]
        self._orders: dict = {}
        self.all_divisors = True
        self._div_cache: dict[int, list[int]] = {}
        self._move_cache: dict = {}
        self.evaluated = 0
        self.valid = 0
        # keep/bypass moves: toggle one of these (level, data space) choices
        self.free_keeps = tuple(free_keeps)
        # imperfect factorization: per dimension, every column with one residual loop that the exact
        # path's generator allows (encoded factor + residual << RES_SHIFT), as an array [M, n_slots]
        self.imp_cols: dict[int, np.ndarray] = {}
        if space.imperfect:
            for d in self.dims:
                cols = imperfect_columns(space, d)
                if cols:
                    self.imp_cols[d] = np.array(cols, dtype=np.int64).reshape(-1, self.n_slots)

    # ------------------------------------------------------------------ helpers
    def orders(self, k: int, active: frozenset) -> list[np.ndarray]:
        key = (k, active)
        if key not in self._orders:
            names = frozenset(self.ctx.dims[d] for d in active)
            ranks = []
            for o in level_orders(self.space, k, names, False):
                r = np.arange(self.D, dtype=np.int64) + self.D
                for pos, dname in enumerate(o):
                    r[self.ctx.dims.index(dname)] = pos
                ranks.append(r)
            self._orders[key] = ranks
        return self._orders[key]

    def _divs(self, n: int) -> list[int]:
        if n not in self._div_cache:
            self._div_cache[n] = [f for f in range(2, n + 1) if n % f == 0]
        return self._div_cache[n]

    def active(self, fac: np.ndarray, slot: int) -> frozenset:
        return frozenset(int(d) for d in np.nonzero((fac[slot] & FACTOR_MASK) > 1)[0])

    def batch(self, facs: np.ndarray, ranks: np.ndarray, keeps: np.ndarray | None = None) -> MappingBatch:
        """Model batch of states (``keeps`` [N, K, S]; None: the start keep option for every row)."""
        n = len(facs)
        facs, res = decode(facs)
        temporal = np.ones((n, self.K, self.D), dtype=np.int64)
        temporal[:, self.t_level, :] = facs[:, self.t_slot, :]
        spatial = np.ones((n, len(self.ctx.fanouts), self.D), dtype=np.int64)
        if self.s_slot:
            spatial[:, self.s_fan, :] = facs[:, self.s_slot, :]
        sx, sy = _split_xy(self.space, spatial)
        kb = np.broadcast_to(self.keep, (n,) + self.keep.shape) if keeps is None else keeps
        if not res.any():
            return MappingBatch(temporal, ranks, sx, sy, kb)
        res_t = np.zeros((n, self.K, self.D), dtype=np.int64)
        res_t[:, self.t_level, :] = res[:, self.t_slot, :]
        res_s = np.zeros((n, len(self.ctx.fanouts), self.D), dtype=np.int64)
        if self.s_slot:
            res_s[:, self.s_fan, :] = res[:, self.s_slot, :]
        return MappingBatch(temporal, ranks, sx, sy, kb, res_t, res_s)

    def score(self, facs: np.ndarray, ranks: np.ndarray, keeps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ok mask, keys [N, n_keys]) for candidate states.

        States with a residual loop are evaluated apart from perfect ones, so perfect states get
        exactly the numbers of the perfect model path.
        """
        n = len(facs)
        ok = np.zeros(n, dtype=bool)
        keys = np.full((n, self.n_keys), np.inf)
        has_res = (facs >> RES_SHIFT).any(axis=(1, 2)) if self.imp_cols else np.zeros(n, dtype=bool)
        for rows in (np.nonzero(~has_res)[0], np.nonzero(has_res)[0]):
            if not len(rows):
                continue
            whole = len(rows) == n
            b = self.batch(facs if whole else facs[rows], ranks if whole else ranks[rows],
                           None if keeps is None else (keeps if whole else keeps[rows]))
            res = evaluate_batch(self.ctx, b)
            good = res.valid & (res.utilization >= self.min_util - 1e-12)
            idx = np.nonzero(good)[0]
            ok[rows[idx]] = True
            if len(idx):
                keys[rows[idx]] = self.key_fn(res, idx)
        self.evaluated += n
        self.valid += int(ok.sum())
        return ok, keys

    def start(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Every factor as far out as the constraints allow (a residual column if no perfect one exists)."""
        fac = np.ones((self.n_slots, self.D), dtype=np.int64)
        for d in range(self.D):
            col = outermost_column(self.rules[d], int(self.ctx.bounds[d]))
            if col is None and d in self.imp_cols:
                cols = self.imp_cols[d]
                f = cols & FACTOR_MASK
                col = tuple(cols[np.lexsort([f[:, s] for s in range(self.n_slots - 1, -1, -1)])[0]])
            if col is None:
                return None
            fac[:, d] = col
        return fac, self.default_ranks(fac)

    def default_ranks(self, fac: np.ndarray) -> np.ndarray:
        ranks = np.tile(np.arange(self.D, dtype=np.int64), (self.K, 1))
        for i in self.t_slot:
            k = self.level_of_slot[i]
            ranks[k] = self.orders(k, self.active(fac, i))[0]
        return ranks

    # ------------------------------------------------------------------ neighbourhood
    def _col_moves(self, d: int, col: tuple) -> list:
        """Allowed (changed slots, new column) moves of dimension d's column (cached).

        Perfect moves: one divisor of one slot's factor to another slot.  With imperfect
        factorization also: switch to any residual column of the generator differing in at
        most two slots (sets, moves or re-sizes a residual loop), and from a residual column
        back to any perfect column differing in at most two slots (clears it).
        """
        key = (d, col)
        hit = self._move_cache.get(key)
        if hit is not None:
            return hit
        out = []
        bound = int(self.ctx.bounds[d])
        imperfect = any(v >> RES_SHIFT for v in col)
        if not imperfect:
            for i in range(self.n_slots):
                if col[i] == 1:
                    continue
                for p in (self._divs(col[i]) if self.all_divisors else self.primes[d]):
                    if col[i] % p:
                        continue
                    for j in range(self.n_slots):
                        if j == i:
                            continue
                        new = list(col)
                        new[i] //= p
                        new[j] *= p
                        if column_ok(self.rules[d], new, bound):
                            out.append(((i, j), tuple(new)))
        else:  # clear the residual: perfect columns that differ in the residual slot and at most one other
            y = next(s for s, v in enumerate(col) if v >> RES_SHIFT)
            plain = [v & FACTOR_MASK for v in col]
            seen = set()
            for j in range(self.n_slots):
                if j == y:
                    continue
                rest = 1
                for s_, v in enumerate(plain):
                    if s_ not in (y, j):
                        rest *= v
                if bound % rest:
                    continue
                m = bound // rest
                for g in divisors(m):
                    new = list(plain)
                    new[y], new[j] = g, m // g
                    t = tuple(new)
                    if t not in seen and column_ok(self.rules[d], new, bound):
                        seen.add(t)
                        out.append((tuple(s_ for s_ in range(self.n_slots) if t[s_] != col[s_]), t))
        cols = self.imp_cols.get(d)
        if cols is not None:
            cur = np.array(col, dtype=np.int64)
            diff = cols != cur
            dist = diff.sum(axis=1)
            for r in np.nonzero((dist >= 1) & (dist <= 2))[0]:
                out.append((tuple(int(s_) for s_ in np.nonzero(diff[r])[0]), tuple(int(v) for v in cols[r])))
        self._move_cache[key] = out
        return out

    def neighbours(self, fac: np.ndarray, ranks: np.ndarray, keep: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keep = self.keep if keep is None else keep
        fl = fac.tolist()
        n = self.n_slots
        act = [frozenset(d for d in self.dims if (fl[s][d] & FACTOR_MASK) > 1) for s in range(n)]
        rows_d: dict[int, tuple[list, list]] = {}  # dim -> (row ids, new columns)
        rank_rows, rank_k, rank_v = [], [], []
        m = 0
        for d in self.dims:
            col = tuple(fl[s][d] for s in range(n))
            ids, cols = rows_d.setdefault(d, ([], []))
            for changed, new in self._col_moves(d, col):
                per = []
                for s in changed:
                    if s not in self.level_of_slot:
                        continue
                    was, now = (col[s] & FACTOR_MASK) > 1, (new[s] & FACTOR_MASK) > 1
                    if was and not now:  # d leaves level s
                        k = self.level_of_slot[s]
                        per.append([(k, r) for r in self.orders(k, act[s] - {d})])
                    elif now and not was:  # d enters level s
                        k = self.level_of_slot[s]
                        per.append([(k, r) for r in self.orders(k, act[s] | {d})])
                for combo in (product(*per) if per else ((),)):
                    ids.append(m)
                    cols.append(new)
                    for k, r in combo:
                        rank_rows.append(m)
                        rank_k.append(k)
                        rank_v.append(r)
                    m += 1
        reorder = []
        for i in self.t_slot:
            k = self.level_of_slot[i]
            for r in self.orders(k, act[i]):
                if not np.array_equal(r, ranks[k]):
                    reorder.append((k, r))
        total = m + len(reorder) + len(self.free_keeps)
        facs = np.repeat(fac[None], total, axis=0)
        rks = np.repeat(ranks[None], total, axis=0)
        kps = np.repeat(keep[None], total, axis=0)
        for d, (ids, cols) in rows_d.items():
            if ids:
                facs[np.array(ids), :, d] = np.array(cols, dtype=np.int64)
        if rank_rows:
            rks[np.array(rank_rows), np.array(rank_k)] = np.array(rank_v)
        for x, (k, r) in enumerate(reorder):
            rks[m + x, k] = r
        base = m + len(reorder)
        for x, (k, s) in enumerate(self.free_keeps):  # keep <-> bypass of one free data space
            kps[base + x, k, s] = not keep[k, s]
        return facs, rks, kps

    # ------------------------------------------------------------------ search
    def descend(self, fac, ranks, keep, key, max_steps: int = 10_000):
        for _ in range(max_steps):
            nf, nr, nk = self.neighbours(fac, ranks, keep)
            if not len(nf):
                break
            ok, keys = self.score(nf, nr, nk)
            if not ok.any():
                break
            order = np.lexsort([np.arange(len(nf))] + [keys[:, c] for c in range(self.n_keys - 1, -1, -1)])
            b = order[0]
            cand = tuple(keys[b])
            if key is not None and not cand < key:
                break
            fac, ranks, keep, key = nf[b], nr[b], nk[b], cand
        return fac, ranks, keep, key

    def perturb(self, fac, ranks, keep, steps: int):
        for _ in range(steps):
            nf, nr, nk = self.neighbours(fac, ranks, keep)
            if not len(nf):
                break
            ok, _ = self.score(nf, nr, nk)
            idx = np.nonzero(ok)[0]
            if not len(idx):
                break
            b = idx[int(self.rng.integers(len(idx)))]
            fac, ranks, keep = nf[b], nr[b], nk[b]
        return fac, ranks, keep

    def run(self, rounds: int = 100, patience: int = 30, kick: int = 3,
            stop: Callable[[], bool] | None = None, victory: int | None = None, init=None):
        """Return (best key, best fac, best ranks, best keep) or None when no valid state was found.

        ``victory``: also stop once that many mappings were evaluated since the best last improved.
        ``init``: (fac, ranks, keep) to start from instead of the everything-outermost state.
        """
        self.stopped_by_victory = False
        if init is not None:
            fac, ranks, keep = init
        else:
            st = self.start()
            if st is None:
                return None
            (fac, ranks), keep = st, self.keep
        ok, keys = self.score(fac[None], ranks[None], keep[None])
        key = tuple(keys[0]) if ok[0] else None
        fac, ranks, keep, key = self.descend(fac, ranks, keep, key)
        if key is None:
            return None
        best = (key, fac, ranks, keep)
        since = 0
        improved_at = self.evaluated
        for _ in range(rounds):
            if since >= patience or (stop and stop()):
                break
            if victory and self.evaluated - improved_at >= victory:
                self.stopped_by_victory = True
                break
            f2, r2, kp2 = self.perturb(best[1], best[2], best[3], kick)
            ok, keys = self.score(f2[None], r2[None], kp2[None])
            k2 = tuple(keys[0]) if ok[0] else None
            f2, r2, kp2, k2 = self.descend(f2, r2, kp2, k2)
            if k2 is not None and k2 < best[0]:
                best = (k2, f2, r2, kp2)
                since = 0
                improved_at = self.evaluated
            else:
                since += 1
        return best


__all__ = ["LocalSearch", "prime_factors", "column_ok", "outermost_column"]
