"""A batch of mappings as arrays (the model's input)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from dse.model.nest.context import ModelContext
from dse.spec.mapping import Mapping


@dataclass(frozen=True)
class MappingBatch:
    """B mappings of one (architecture, workload) as arrays.

    ``temporal[b, k, d]`` factor of dim d at storage level k (outermost k=0);
    ``rank[b, k, d]`` position of that loop in its level, 0 = innermost;
    ``spatial_x/spatial_y[b, f, d]`` spatial factors at fan-out f;
    ``keep[b, k, s]`` whether level k keeps data space s;
    ``res_t[b, k, d]`` / ``res_s[b, f, d]`` (optional, imperfect factorization): the residual of
    that loop (its last pass runs only that many iterations), 0 = none.  ``None`` = perfect batch.
    """

    temporal: np.ndarray
    rank: np.ndarray
    spatial_x: np.ndarray
    spatial_y: np.ndarray
    keep: np.ndarray
    res_t: np.ndarray | None = None
    res_s: np.ndarray | None = None

    @property
    def size(self) -> int:
        return self.temporal.shape[0]

    @property
    def imperfect(self) -> bool:
        return (self.res_t is not None and bool(self.res_t.any())) or (self.res_s is not None and bool(self.res_s.any()))

    def rows(self, idx) -> "MappingBatch":
        """A batch of the given rows (residuals included)."""
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else np.ascontiguousarray(a[idx])
        return MappingBatch(pick(self.temporal), pick(self.rank), pick(self.spatial_x), pick(self.spatial_y),
                            pick(self.keep), pick(self.res_t), pick(self.res_s))


def batch_from_mappings(ctx: ModelContext, mappings: Sequence[Mapping]) -> MappingBatch:
    """Convert typed mappings into a :class:`MappingBatch`."""
    B, K, F, D, S = len(mappings), ctx.n_levels, len(ctx.fanouts), len(ctx.dims), len(ctx.ds_names)
    didx = {d: i for i, d in enumerate(ctx.dims)}
    t = np.ones((B, K, D), dtype=np.int64)
    r = np.tile(np.arange(D, dtype=np.int64), (B, K, 1))
    sx = np.ones((B, F, D), dtype=np.int64)
    sy = np.ones((B, F, D), dtype=np.int64)
    keep = np.zeros((B, K, S), dtype=bool)
    res_t = np.zeros((B, K, D), dtype=np.int64)
    res_s = np.zeros((B, F, D), dtype=np.int64)
    for b, m in enumerate(mappings):
        for k, lvl in enumerate(ctx.levels):
            tm = m.level(lvl.name)
            # loops are listed outer->inner; rank 0 = innermost
            used: list[int] = []
            for d, f in tm.loops:
                t[b, k, didx[d]] *= f
                if didx[d] not in used:
                    used.append(didx[d])
            order = list(reversed(used)) + [i for i in range(D) if i not in used]
            for rk, i in enumerate(order):
                r[b, k, i] = rk
            for s, name in enumerate(ctx.ds_names):
                keep[b, k, s] = name in tm.keep
            for d, rv in tm.residuals:
                res_t[b, k, didx[d]] = rv
        for f, fan in enumerate(ctx.fanouts):
            sm = m.fanout(fan.name)
            for d, rv in sm.residuals:
                res_s[b, f, didx[d]] = rv
            for d, v in sm.x:
                sx[b, f, didx[d]] *= v
            for d, v in sm.y:
                sy[b, f, didx[d]] *= v
    if res_t.any() or res_s.any():
        return MappingBatch(t, r, sx, sy, keep, res_t, res_s)
    return MappingBatch(t, r, sx, sy, keep)
