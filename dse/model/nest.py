"""Timeloop-faithful analytical cost model, vectorized over a batch of mappings.

The semantics follow Timeloop's uber map-space nest analysis (legacy access
counting, first-read elision on, perfect factorization):

* A level's tile of a data space is the projection of the level's own temporal
  loops and every loop below it (inner levels' temporal loops, spatial loops of
  fan-outs below it).
* *Residencies* (how often a level's tile is (re)loaded, per instance) is the
  product of all temporal loops above the level, except the innermost run of
  loops irrelevant to the data space (those give temporal reuse).  Spatial loops
  above a level are spread over instances and do not count in time.
* Read-only data: a keeper's ``fills = residencies x tile`` (0 at the outermost
  keeper); its ``reads`` serve the next keeper below (or every operation of the
  compute unit), divided by the multicast factor (product of the spatial factors
  of irrelevant dimensions at the fan-outs in between).
* Read-write data (outputs): ``updates`` are what the keeper below drains (or one
  per operation), divided by the spatial-reduction factor; ``reads =
  temporal reductions = updates - partition``; ``fills = residencies x tile -
  partition`` (0 at the outermost keeper).  The partition is the part of the
  tensor one instance ever holds.
* Cycles: compute cycles = operations / utilized compute instances; each level
  throttles by ``bandwidth / (accesses per compute cycle)``; total = max over
  levels + every level's ``network_fill_latency + network_drain_latency``.
* Energy: vector accesses (ceil(scalar / block size)) x per-action energy, per
  instance, x utilized instances; leakage = leak x total cycles x utilized
  instances; compute = operations x compute energy.

* Explicit networks (a level's ``network_read`` / ``network_update`` naming a network
  component): transfers per data space over the level's connection to its inner
  neighbour, with the multicast factor of its own fan-out, x the network's per-transfer
  energy (Timeloop SimpleMulticast); see docs/model.md "Networks".  Architectures
  without explicit networks take none of that code path.

All counts are computed for every mapping of a batch at once with numpy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from dse.model.energies import ActionEnergies
from dse.spec.mapping import Mapping
from dse.spec.types import Architecture, SpatialLevel, StorageLevel, Workload


# --------------------------------------------------------------------------- context
@dataclass(frozen=True)
class ModelContext:
    """Everything about (architecture, workload, energies) that is the same for all mappings."""

    arch: Architecture
    workload: Workload
    energies: ActionEnergies
    dims: tuple[str, ...]  # all workload dimensions, in workload order
    bounds: np.ndarray  # [D]
    levels: tuple[StorageLevel, ...]  # outermost first
    fanouts: tuple[SpatialLevel, ...]
    fanout_above_level: np.ndarray  # [F] index k of the storage level directly above fan-out f
    ds_names: tuple[str, ...]
    relevant: np.ndarray  # [DS, D] bool
    read_write: np.ndarray  # [DS] bool
    # per data space: list of ranks, each a list of (dim index, coefficient)
    projections: tuple[tuple[tuple[tuple[int, int], ...], ...], ...]
    macs: int
    compute_instances: int
    network_latency_cycles: int
    # performance helpers: dimensions with bound > 1 (the only ones that can change any count)
    active_dims: tuple[int, ...] = ()
    active_projections: tuple = ()  # projections re-indexed over active_dims, bound-1 terms dropped
    networks: tuple["NetworkConnection", ...] = ()  # explicit network components in use (see docs/model.md)

    @property
    def n_levels(self) -> int:
        return len(self.levels)


@dataclass(frozen=True)
class NetworkConnection:
    """An explicit network component a storage level names as its read or update network.

    Like Timeloop, the network is evaluated once, on the innermost connection naming it:
    the storage level ``level`` (index, outermost 0) and its inner neighbour ``child``
    (the next storage level, or the compute unit).  ``roles`` lists how levels use it
    (``read`` = ``network_read``, ``update`` = ``network_update``).
    """

    name: str
    network_class: str
    level: int
    level_name: str
    child: str
    roles: tuple[str, ...]
    fill_latency: int = 0
    drain_latency: int = 0


def _explicit_networks(arch: Architecture) -> tuple[tuple[NetworkConnection, ...], int]:
    """Explicit network connections and the total network fill/drain latency (Timeloop topology.cpp)."""
    from dse.errors import SpecError

    by_name = {n.name: n for n in arch.networks}
    levels = arch.storage_levels
    latency = 0
    found: dict[str, dict] = {}
    for k, s in enumerate(levels):
        a = s.attributes
        names = {}
        for role, key in (("read", "network_read"), ("update", "network_update")):
            v = a.get(key)
            if v is None or v == "":
                continue
            if str(v) not in by_name:
                raise SpecError(f"storage level {s.name} names {key} '{v}' but the architecture has no such network",
                                f"{s.name}.attributes.{key}",
                                ", ".join(by_name) or "a network component (class SimpleMulticast...) in the architecture")
            names[role] = str(v)
        fill = int(a.get("network_fill_latency", 0) or 0)
        drain = int(a.get("network_drain_latency", 0) or 0)
        if "read" in names:
            fill = int(by_name[names["read"]].attributes.get("fill_latency", 0) or 0)
        if "update" in names:
            drain = int(by_name[names["update"]].attributes.get("drain_latency", 0) or 0)
        latency += fill + drain
        for role, n in names.items():
            rec = found.setdefault(n, {"level": k, "roles": []})
            rec["level"] = max(rec["level"], k)
            if role not in rec["roles"]:
                rec["roles"].append(role)
    conns = []
    for n in arch.networks:  # file order
        if n.name not in found:
            continue
        k = found[n.name]["level"]
        child = levels[k + 1].name if k + 1 < len(levels) else arch.compute.name
        conns.append(NetworkConnection(
            n.name, n.component_class, k, levels[k].name, child, tuple(found[n.name]["roles"]),
            int(n.attributes.get("fill_latency", 0) or 0), int(n.attributes.get("drain_latency", 0) or 0)))
    return tuple(conns), latency


def make_context(arch: Architecture, workload: Workload, energies: ActionEnergies) -> ModelContext:
    """Precompute the mapping-independent part of the model."""
    dims = tuple(workload.dimensions)
    didx = {d: i for i, d in enumerate(dims)}
    levels = arch.storage_levels
    fanouts = arch.spatial_levels
    above = []
    k = -1
    for n in arch.nodes:
        if isinstance(n, StorageLevel):
            k += 1
        elif isinstance(n, SpatialLevel):
            above.append(k)
    rel = np.zeros((len(workload.data_spaces), len(dims)), dtype=bool)
    projs = []
    for i, ds in enumerate(workload.data_spaces):
        ranks = []
        for rank in ds.projection:
            terms = []
            for d, c in rank:
                rel[i, didx[d]] = True
                terms.append((didx[d], int(workload.coefficients.get(c, 1)) if c else 1))
            ranks.append(tuple(terms))
        projs.append(tuple(ranks))
    networks, latency = _explicit_networks(arch)
    bounds = [workload.bounds[d] for d in dims]
    act = tuple(i for i, b in enumerate(bounds) if b > 1)
    apos = {d: j for j, d in enumerate(act)}
    aprojs = tuple(tuple(tuple((apos[d], c) for d, c in terms if d in apos) for terms in ranks) for ranks in projs)
    return ModelContext(
        arch=arch, workload=workload, energies=energies, dims=dims, active_dims=act, active_projections=aprojs,
        bounds=np.array([workload.bounds[d] for d in dims], dtype=np.int64),
        levels=levels, fanouts=fanouts, fanout_above_level=np.array(above, dtype=np.int64),
        ds_names=tuple(d.name for d in workload.data_spaces), relevant=rel,
        read_write=np.array([d.read_write for d in workload.data_spaces], dtype=bool),
        projections=tuple(projs), macs=workload.macs, compute_instances=arch.compute.instances,
        network_latency_cycles=latency, networks=networks,
    )


# --------------------------------------------------------------------------- batches
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
        pick = lambda a: None if a is None else np.ascontiguousarray(a[idx])
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
            n = len(tm.loops)
            used = []
            for pos, (d, f) in enumerate(tm.loops):
                t[b, k, didx[d]] *= f
                if didx[d] not in used:
                    used.append(didx[d])
            order = list(reversed(used)) + [i for i in range(D) if i not in used]
            for rk, i in enumerate(order):
                r[b, k, i] = rk
            del n
            for s, name in enumerate(ctx.ds_names):
                keep[b, k, s] = name in tm.keep
            for d, rv in getattr(tm, "residuals", ()):
                res_t[b, k, didx[d]] = rv
        for f, fan in enumerate(ctx.fanouts):
            sm = m.fanout(fan.name)
            for d, rv in getattr(sm, "residuals", ()):
                res_s[b, f, didx[d]] = rv
            for d, v in sm.x:
                sx[b, f, didx[d]] *= v
            for d, v in sm.y:
                sy[b, f, didx[d]] *= v
    if res_t.any() or res_s.any():
        return MappingBatch(t, r, sx, sy, keep, res_t, res_s)
    return MappingBatch(t, r, sx, sy, keep)


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class BatchResult:
    """Per-mapping results; count arrays are per instance, shaped [B, K, S]."""

    valid: np.ndarray  # [B] bool: fits capacities and fan-outs
    capacity_ok: np.ndarray  # [B, K]
    fanout_ok: np.ndarray  # [B, F]
    energy_pj: np.ndarray  # [B]
    cycles: np.ndarray  # [B] int
    compute_cycles: np.ndarray  # [B]
    utilization: np.ndarray  # [B]
    edp_j_cycles: np.ndarray  # [B]
    level_cycles: np.ndarray  # [B, K]
    slowdown: np.ndarray  # [B, K]
    level_energy_pj: np.ndarray  # [B, K] including leakage
    leak_energy_pj: np.ndarray  # [B, K]
    ds_energy_pj: np.ndarray  # [B, K, S] (all instances)
    compute_energy_pj: np.ndarray  # [B]
    tile: np.ndarray  # [B, K, S] utilized capacity (words per instance)
    partition: np.ndarray  # [B, K, S]
    instances: np.ndarray  # [B, K] utilized instances
    reads: np.ndarray
    fills: np.ndarray
    updates: np.ndarray
    utilized_compute: np.ndarray  # [B]
    last_level_accesses: np.ndarray  # [B] total scalar accesses at the outermost level
    # explicit networks (ctx.networks, N of them); None when the architecture has none
    network_transfers: np.ndarray | None = None  # [B, N, S] transfers per instance of the network's level
    network_multicast: np.ndarray | None = None  # [B, N, S] multicast factor (destinations per transfer)
    network_fanout: np.ndarray | None = None  # [B, N] utilized fan-out of the level
    network_instances: np.ndarray | None = None  # [B, N] utilized instances of the level
    network_energy_pj: np.ndarray | None = None  # [B, N, S] all instances


def _projection_size(ctx: ModelContext, ext: np.ndarray, projections=None) -> np.ndarray:
    """ext [..., D] per-dimension extents -> [..., S] data-space tile sizes."""
    out = []
    for ranks in (ctx.projections if projections is None else projections):
        size = None
        for terms in ranks:
            if not terms:
                continue
            if len(terms) == 1 and terms[0][1] == 1:
                span = ext[..., terms[0][0]]
            else:
                span = 1
                for d, c in terms:
                    span = span + (ext[..., d] - 1) * c
            size = span if size is None else size * span
        out.append(np.ones(ext.shape[:-1], dtype=np.int64) if size is None else np.asarray(size, dtype=np.int64))
    return np.stack(out, axis=-1)


def _active_view(ctx: ModelContext, batch: MappingBatch):
    """Restrict the batch to dimensions with bound > 1 when every other factor is 1 (exact: they change nothing)."""
    act = ctx.active_dims
    D = batch.temporal.shape[2]
    if not act or len(act) == D:
        return None
    inact = [i for i in range(D) if i not in act]
    if (batch.temporal[:, :, inact] != 1).any() or (batch.spatial_x[:, :, inact] != 1).any() \
            or (batch.spatial_y[:, :, inact] != 1).any():
        return None
    a = list(act)
    return a


def evaluate_batch(ctx: ModelContext, batch: MappingBatch) -> BatchResult:
    """Evaluate every mapping of ``batch``; see the module docstring for the semantics."""
    if batch.imperfect:
        return _evaluate_imperfect(ctx, batch)
    a = _active_view(ctx, batch)
    if a is None:
        t = batch.temporal.astype(np.int64)
        rank = batch.rank
        sx_all, sy_all = batch.spatial_x, batch.spatial_y
        rel = ctx.relevant  # [S, D]
        projections = ctx.projections
        bounds = ctx.bounds
    else:
        t = batch.temporal[:, :, a].astype(np.int64)
        rank = batch.rank[:, :, a]
        sx_all, sy_all = batch.spatial_x[:, :, a], batch.spatial_y[:, :, a]
        rel = ctx.relevant[:, a]
        projections = ctx.active_projections
        bounds = ctx.bounds[a]
    B, K, D = t.shape
    F = len(ctx.fanouts)
    S = len(ctx.ds_names)
    sp = sx_all * sy_all  # [B, F, D]
    above = ctx.fanout_above_level  # [F]

    # spatial products per storage level: below[k] = fan-outs under level k, above = over it
    sp_below = np.ones((B, K, D), dtype=np.int64)  # product of spatial factors of fan-outs below level k (all the way down)
    sp_between = np.ones((B, K, D), dtype=np.int64)  # fan-outs directly between level k and level k+1 (or compute)
    for f in range(F):
        k = above[f]
        sp_between[:, k, :] *= sp[:, f, :]
        sp_below[:, : k + 1, :] *= sp[:, f, None, :]
    total_sp = np.prod(sp, axis=1) if F else np.ones((B, D), dtype=np.int64)  # [B, D]
    sp_above = total_sp[:, None, :] // sp_below  # [B, K, D]
    instances = np.prod(sp_above, axis=2)  # [B, K]
    utilized_compute = np.prod(total_sp, axis=1)  # [B]

    # tile extents: own temporal loops and all inner ones, times spatial below
    t_inner = np.flip(np.cumprod(np.flip(t, axis=1), axis=1), axis=1)  # [B, K, D] prod over j >= k
    ext = t_inner * sp_below
    tile = _projection_size(ctx, ext, projections)  # [B, K, S]
    partition = _projection_size(ctx, bounds[None, None, :] // sp_above, projections)  # [B, K, S]

    # residencies[b, k, s]: product of temporal loops above k minus the innermost irrelevant run
    resid = np.ones((B, K, S), dtype=np.int64)
    big = D + 1
    level_total = np.prod(t, axis=2)  # [B, K]
    active = t > 1
    for s in range(S):
        r_s = rel[s]  # [D]
        rel_active = active & r_s[None, None, :]  # [B, K, D]
        closes = rel_active.any(axis=2)  # [B, K]: level has a relevant loop
        rel_min = np.where(rel_active, rank, big).min(axis=2)  # [B, K]
        in_run = active & ~r_s[None, None, :] & (rank < rel_min[:, :, None])
        run_product = np.prod(np.where(in_run, t, 1), axis=2)  # irrelevant loops inside the level's innermost run
        reduced = level_total // run_product  # [B, K]
        # going outward from level k, levels stay "open" (their innermost irrelevant run gives reuse)
        # up to and including the first level that has a relevant loop
        acc = np.ones(B, dtype=np.int64)
        for k in range(1, K):
            acc = np.ones(B, dtype=np.int64)
            is_open = np.ones(B, dtype=bool)
            for j in range(k - 1, -1, -1):  # innermost level above k first
                acc = acc * np.where(is_open, reduced[:, j], level_total[:, j])
                is_open = is_open & ~closes[:, j]
            resid[:, k, s] = acc

    macs = ctx.macs
    keep = batch.keep
    reads = np.zeros((B, K, S), dtype=np.int64)
    fills = np.zeros((B, K, S), dtype=np.int64)
    updates = np.zeros((B, K, S), dtype=np.int64)
    for s in range(S):
        irr = ~rel[s]
        carry = np.full(B, macs, dtype=np.int64)  # scalar deliveries (or updates) needed below, all instances
        carry_div = np.ones(B, dtype=np.int64)  # multicast / spatial-reduction factor accumulated
        outermost_keeper = np.full(B, -1, dtype=np.int64)
        for k in range(K - 1, -1, -1):
            carry_div = carry_div * np.prod(np.where(irr[None, :], sp_between[:, k, :], 1), axis=1)
            kept = keep[:, k, s]
            per_inst = carry // carry_div // instances[:, k]
            if ctx.read_write[s]:
                updates[:, k, s] = np.where(kept, per_inst, 0)
                reads[:, k, s] = np.where(kept, per_inst - partition[:, k, s], 0)
            else:
                reads[:, k, s] = np.where(kept, per_inst, 0)
            own = resid[:, k, s] * tile[:, k, s]
            carry = np.where(kept, own * instances[:, k], carry)
            carry_div = np.where(kept, 1, carry_div)
            fills[:, k, s] = np.where(kept, own - (partition[:, k, s] if ctx.read_write[s] else 0), 0)
            outermost_keeper = np.where(kept, k, outermost_keeper)
        # the outermost keeper (backing store) has no parent to fill from
        rows = np.arange(B)
        has = outermost_keeper >= 0
        fills[rows[has], outermost_keeper[has], s] = 0

    net = None
    if ctx.networks:
        # per-instance deliveries from level k to level k+1 *as if k+1 kept the data space*
        fan = np.prod(sp_between, axis=2)  # [B, K]
        own = resid * tile  # [B, K, S]
        pre = np.zeros((B, K, S), dtype=np.int64)
        mcast = np.ones((B, K, S), dtype=np.int64)
        for s in range(S):
            m = np.prod(np.where(~rel[s][None, None, :], sp_between, 1), axis=2)  # [B, K]
            mcast[:, :, s] = m
            child = np.concatenate([own[:, 1:, s], (macs // utilized_compute)[:, None]], axis=1)
            pre[:, :, s] = child * fan // m
        net = (pre, mcast, fan)
    return _finish(ctx, keep, tile, partition, instances, reads, fills, updates, utilized_compute, sx_all, sy_all,
                   macs / utilized_compute, net)


def _network_counts(ctx: ModelContext, keep, instances, net):
    """Transfers over each explicit network (Timeloop SimpleMulticast semantics).

    ``net = (pre, mcast, fan)``: ``pre[b, k, s]`` per-instance deliveries from level k to its inner
    neighbour as if that neighbour kept s; ``mcast[b, k, s]`` the multicast factor of k's own
    fan-out for s; ``fan[b, k]`` its utilized fan-out.  Timeloop's tile masking: a level's network
    carries ``pre`` when the inner neighbour keeps s (or is the compute unit), otherwise what the
    neighbour's own network carries x fan-out / multicast; levels above the outermost keeper of s
    carry nothing.
    """
    pre, mcast, fan = net
    B, K, S = keep.shape
    A = np.zeros(pre.shape, dtype=pre.dtype)
    for s in range(S):
        A[:, K - 1, s] = pre[:, K - 1, s]
        for k in range(K - 2, -1, -1):
            through = A[:, k + 1, s] * fan[:, k]
            through = through // mcast[:, k, s] if A.dtype.kind == "i" else through / mcast[:, k, s]
            A[:, k, s] = np.where(keep[:, k + 1, s], pre[:, k, s], through)
        kept = keep[:, :, s]
        first = np.where(kept.any(axis=1), kept.argmax(axis=1), K)
        A[:, :, s] = np.where(np.arange(K)[None, :] < first[:, None], 0, A[:, :, s])
    N = len(ctx.networks)
    ks = np.array([c.level for c in ctx.networks], dtype=np.int64)
    transfers = A[:, ks, :]  # [B, N, S]
    multicast = mcast[:, ks, :]
    inst = instances[:, ks]
    energy = np.zeros((B, N, S))
    for n, c in enumerate(ctx.networks):
        ne = ctx.energies.networks.get(c.name)
        if ne is None:
            continue
        for s, name in enumerate(ctx.ds_names):
            mf = multicast[:, n, s]
            uniq, inv = np.unique(mf, return_inverse=True)
            per = np.array([ne.energy_pj(name, int(u)) for u in uniq], dtype=float)[inv.reshape(-1)]
            energy[:, n, s] = transfers[:, n, s] * per * inst[:, n]
    return transfers, multicast, fan[:, ks], inst, energy


def _finish(ctx: ModelContext, keep, tile, partition, instances, reads, fills, updates, utilized_compute,
            sx_all, sy_all, compute_cycles, net=None) -> BatchResult:
    """Capacities, cycles and energy from the per-instance counts (shared by perfect and imperfect batches)."""
    B, K, S = tile.shape
    F = len(ctx.fanouts)
    macs = ctx.macs
    # capacity and fan-out validity
    kept_tile = np.where(keep, tile, 0).sum(axis=2)  # [B, K]
    cap = np.array([np.inf if l.size_words is None else l.size_words / max(l.multiple_buffering, 1e-12) for l in ctx.levels])
    capacity_ok = kept_tile <= cap[None, :]
    fx = np.array([f.fanout_x for f in ctx.fanouts], dtype=np.int64)
    fy = np.array([f.fanout_y for f in ctx.fanouts], dtype=np.int64)
    fanout_ok = (np.prod(sx_all, axis=2) <= fx[None, :]) & (np.prod(sy_all, axis=2) <= fy[None, :]) if F else np.ones((B, 0), dtype=bool)
    valid = capacity_ok.all(axis=1) & fanout_ok.all(axis=1)

    # cycles
    level_cycles = np.zeros((B, K), dtype=np.int64)
    slowdown = np.ones((B, K))
    for k, lvl in enumerate(ctx.levels):
        rd = reads[:, k, :].sum(axis=1) / compute_cycles
        wr = (fills[:, k, :] + updates[:, k, :]).sum(axis=1) / compute_cycles
        sd = np.ones(B)
        if lvl.read_bandwidth is not None:
            sd = np.minimum(sd, np.where(rd > lvl.read_bandwidth, lvl.read_bandwidth / np.maximum(rd, 1e-300), 1.0))
        if lvl.write_bandwidth is not None:
            sd = np.minimum(sd, np.where(wr > lvl.write_bandwidth, lvl.write_bandwidth / np.maximum(wr, 1e-300), 1.0))
        if lvl.shared_bandwidth is not None:
            sd = np.minimum(sd, np.where(rd + wr > lvl.shared_bandwidth, lvl.shared_bandwidth / np.maximum(rd + wr, 1e-300), 1.0))
        slowdown[:, k] = sd
        level_cycles[:, k] = np.ceil(compute_cycles / sd - 1e-9).astype(np.int64)
    cycles = np.maximum(level_cycles.max(axis=1), np.ceil(compute_cycles - 1e-9).astype(np.int64)) + ctx.network_latency_cycles

    # energy
    e = ctx.energies
    ds_energy = np.zeros((B, K, S))
    leak = np.zeros((B, K))
    for k, lvl in enumerate(ctx.levels):
        le = e.level(lvl.name)
        inst = instances[:, k]
        for s, name in enumerate(ctx.ds_names):
            kept = keep[:, k, s]
            if le.scalar_pj is not None:
                per_inst = (reads[:, k, s] + fills[:, k, s] + updates[:, k, s]) * le.scalar_pj.get(name, 0.0)
            else:
                bs = max(int(lvl.block_size), 1)
                per_inst = (-(-reads[:, k, s] // bs) * le.read_pj + -(-fills[:, k, s] // bs) * le.fill_pj
                            + -(-updates[:, k, s] // bs) * le.update_pj)
            ds_energy[:, k, s] = np.where(kept, per_inst * inst, 0.0)
        if le.leak_total_pj is not None:
            leak[:, k] = le.leak_total_pj
        else:
            max_util = np.maximum(1, np.where(keep[:, k, :], inst[:, None], 0).max(axis=1))
            leak[:, k] = le.leak_pj * cycles * max_util
    compute_energy = np.full(B, macs * e.compute_pj)
    level_energy = ds_energy.sum(axis=2) + leak
    energy = level_energy.sum(axis=1) + compute_energy + _fanout_leak(ctx, instances, sx_all, sy_all, cycles)
    nets = (None,) * 5
    if ctx.networks and net is not None:
        nets = _network_counts(ctx, keep, instances, net)
        energy = energy + nets[4].sum(axis=(1, 2))
    utilization = macs / ctx.compute_instances / cycles
    last = (reads[:, 0, :] + fills[:, 0, :] + updates[:, 0, :]).sum(axis=1) * instances[:, 0]
    return BatchResult(
        valid=valid, capacity_ok=capacity_ok, fanout_ok=fanout_ok, energy_pj=energy, cycles=cycles,
        compute_cycles=compute_cycles, utilization=utilization, edp_j_cycles=energy * 1e-12 * cycles,
        level_cycles=level_cycles, slowdown=slowdown, level_energy_pj=level_energy, leak_energy_pj=leak,
        ds_energy_pj=ds_energy, compute_energy_pj=compute_energy, tile=tile, partition=partition,
        instances=instances, reads=reads, fills=fills, updates=updates, utilized_compute=utilized_compute,
        last_level_accesses=last, network_transfers=nets[0], network_multicast=nets[1], network_fanout=nets[2],
        network_instances=nets[3], network_energy_pj=nets[4],
    )


def _fanout_leak(ctx: ModelContext, instances: np.ndarray, sx_all: np.ndarray, sy_all: np.ndarray,
                 cycles: np.ndarray) -> np.ndarray:
    """Leakage of fan-outs the energies price (timeloopfe's dummy ``inter_<C>_spatial`` levels, which Timeloop
    sees as buffers bypassing everything): leak x cycles x the dummy level's utilized instances (those of the
    storage level above it times the spatial factors of the dummy fan-outs between)."""
    out = np.zeros(len(cycles))
    above = ctx.fanout_above_level
    for f, fan in enumerate(ctx.fanouts):
        le = ctx.energies.levels.get(fan.name)
        if le is None or not le.leak_pj:
            continue
        used = instances[:, above[f]].astype(float)
        for g in range(f):
            if above[g] == above[f]:
                used = used * np.prod(sx_all[:, g, :] * sy_all[:, g, :], axis=1)
        out += le.leak_pj * cycles * np.maximum(used, 1.0)
    return out


# --------------------------------------------------------------------------- imperfect factorization
def _evaluate_imperfect(ctx: ModelContext, batch: MappingBatch) -> BatchResult:
    """Counts for batches with residual loops (Timeloop's ruby ``residual_end``), exact totals.

    A dimension with a residual loop Y (factor P, residual r) runs every index tuple of its loops
    whose mixed-radix coordinate is below its bound: Y runs r iterations when all the dimension's
    loops outside Y are in their last iteration.  Totals over all instances are sums over the
    *included* loops (spatial loops above the level, and temporal loops above it from the innermost
    loop relevant to the data space outward -- the same reuse rule as perfect mappings):

    * a dimension irrelevant to the data space contributes the number of distinct index tuples of
      its included loops (the product of their factors, minus ``(P - r) x`` the included factors
      inside Y when Y and every loop of the dimension outside Y are included);
    * a relevant dimension with a residual contributes its bound (the tiles of its included loops
      partition it; it is indexed alone, see ``check_factor_products``), other relevant dimensions
      their tile extent times the product of their included factors.

    Per-instance counts are these totals / utilized instances (averages, as Timeloop reports them),
    so they may be fractional.  Utilized capacity is the largest (full) tile.  Compute cycles are
    the number of distinct temporal index tuples.
    """
    t = batch.temporal.astype(np.int64)
    rank = batch.rank
    sx_all, sy_all = batch.spatial_x, batch.spatial_y
    rel = ctx.relevant
    bounds = ctx.bounds
    B, K, D = t.shape
    F = len(ctx.fanouts)
    S = len(ctx.ds_names)
    above = ctx.fanout_above_level
    sp = sx_all * sy_all
    res_t = batch.res_t if batch.res_t is not None else np.zeros_like(t)
    res_s = batch.res_s if batch.res_s is not None else np.zeros_like(sp)

    # the perfect-path quantities that do not depend on residuals (full factors)
    sp_below = np.ones((B, K, D), dtype=np.int64)
    for f in range(F):
        sp_below[:, : above[f] + 1, :] *= sp[:, f, None, :]
    total_sp = np.prod(sp, axis=1) if F else np.ones((B, D), dtype=np.int64)
    sp_above = total_sp[:, None, :] // sp_below
    instances = np.prod(sp_above, axis=2)
    t_inner = np.flip(np.cumprod(np.flip(t, axis=1), axis=1), axis=1)
    ext = t_inner * sp_below  # [B, K, D] full tile extents
    # largest tile actually held: a dimension's extent is capped by its bound (a residual inside the tile)
    tile = _projection_size(ctx, np.minimum(ext, bounds[None, None, :]))

    # loop slots in nest order, outer to inner: level k's temporal loops, then the fan-outs below k
    slots: list[tuple[str, int]] = []
    for k in range(K):
        slots.append(("T", k))
        slots += [("S", f) for f in range(F) if above[f] == k]
    n = len(slots)
    tpos = {i: j for j, (kind, i) in enumerate(slots) if kind == "T"}
    spos = {i: j for j, (kind, i) in enumerate(slots) if kind == "S"}
    fac = np.stack([t[:, i, :] if kind == "T" else sp[:, i, :] for kind, i in slots], axis=1)  # [B, n, D]
    res = np.stack([res_t[:, i, :] if kind == "T" else res_s[:, i, :] for kind, i in slots], axis=1)
    has = (res > 0) & (res < fac)
    pos = np.arange(n)
    yslot = np.where(has.any(axis=1), has.argmax(axis=1), -1)  # [B, D]
    hasres = yslot >= 0
    ysafe = np.maximum(yslot, 0)
    P_y = np.take_along_axis(fac, ysafe[:, None, :], axis=1)[:, 0, :]
    r_y = np.take_along_axis(res, ysafe[:, None, :], axis=1)[:, 0, :]
    outer_mask = (pos[None, :, None] < yslot[:, None, :]) & (fac > 1)
    inner_mask = pos[None, :, None] > yslot[:, None, :]

    def count(m: np.ndarray) -> np.ndarray:
        """[B, n, D] included-loop mask -> [B, D] distinct index tuples of the included loops."""
        prod_s = np.prod(np.where(m, fac, 1), axis=1)
        inner_s = np.prod(np.where(m & inner_mask, fac, 1), axis=1)
        y_in = np.take_along_axis(m, ysafe[:, None, :], axis=1)[:, 0, :]
        outer_in = ~(outer_mask & ~m).any(axis=1)
        return prod_s - np.where(hasres & y_in & outer_in, (P_y - r_y) * inner_s, 0)

    def total(m: np.ndarray, s: int, extent: np.ndarray) -> np.ndarray:
        rr = hasres & rel[s][None, :]
        mult = np.prod(np.where(rr, 1, count(m)), axis=1)
        return mult * _projection_size(ctx, np.where(rr, bounds[None, :], extent))[:, s]

    all_in = np.ones((B, n, D), dtype=bool)
    t_only = np.zeros((B, n, D), dtype=bool)
    t_only[:, list(tpos.values()), :] = True
    compute_cycles = np.prod(count(t_only), axis=1).astype(float)
    utilized_compute = ctx.macs / compute_cycles

    def spatial_above(k: int) -> np.ndarray:
        m = np.zeros((B, n, D), dtype=bool)
        for f in range(F):
            if above[f] < k:
                m[:, spos[f], :] = True
        return m

    keep = batch.keep
    reads = np.zeros((B, K, S))
    fills = np.zeros((B, K, S))
    updates = np.zeros((B, K, S))
    partition = np.zeros((B, K, S))
    net = None
    if ctx.networks:
        sp_between = np.ones((B, K, D), dtype=np.int64)
        for f in range(F):
            sp_between[:, above[f], :] *= sp[:, f, :]
        net_pre = np.zeros((B, K, S))
        net_mc = np.ones((B, K, S), dtype=np.int64)
        net = (net_pre, net_mc, np.prod(sp_between, axis=2))
    active = t > 1
    big = D + 1
    for s in range(S):
        r_s = rel[s]
        rel_active = active & r_s[None, None, :]
        closes = rel_active.any(axis=2)
        rel_min = np.where(rel_active, rank, big).min(axis=2)
        in_run = active & ~r_s[None, None, :] & (rank < rel_min[:, :, None])
        included = []  # per level k: [B, n, D] loops that count for its residencies
        for k in range(K):
            m = spatial_above(k)
            is_open = np.ones(B, dtype=bool)
            for j in range(k - 1, -1, -1):
                m[:, tpos[j], :] = np.where(is_open[:, None], ~in_run[:, j, :], True)
                is_open = is_open & ~closes[:, j]
            included.append(m)
        if net is not None:
            # deliveries from level k to its inner neighbour as if the neighbour kept s (exact totals)
            for k in range(K):
                cm = (all_in if k == K - 1 else included[k + 1]).copy()
                for f in range(F):
                    if above[f] == k:
                        cm[:, spos[f], :] &= r_s[None, :]
                cext = np.ones((B, D), dtype=np.int64) if k == K - 1 else ext[:, k + 1, :]
                net_pre[:, k, s] = total(cm, s, cext) / instances[:, k]
                net_mc[:, k, s] = np.prod(np.where(~r_s[None, :], sp_between[:, k, :], 1), axis=1)
        child_mask, child_ext = all_in, np.ones((B, D), dtype=np.int64)
        child = np.full(B, K, dtype=np.int64)  # next keeper below (K = the compute unit), per row
        outermost = np.full(B, -1, dtype=np.int64)
        for k in range(K - 1, -1, -1):
            kept = keep[:, k, s]
            if not kept.any():
                continue
            mc = child_mask.copy()
            for f in range(F):  # multicast / spatial reduction: irrelevant spatial loops between k and the child
                between = (k <= above[f]) & (above[f] < child)
                mc[:, spos[f], :] &= np.where(between[:, None], r_s[None, :], True)
            deliv = total(mc, s, child_ext).astype(float)
            inst = instances[:, k].astype(float)
            part = total(spatial_above(k), s, bounds[None, :] // sp_above[:, k, :]).astype(float)
            own = total(included[k], s, ext[:, k, :]).astype(float)
            if ctx.read_write[s]:
                updates[:, k, s] = np.where(kept, deliv / inst, 0)
                reads[:, k, s] = np.where(kept, (deliv - part) / inst, 0)
                fills[:, k, s] = np.where(kept, (own - part) / inst, 0)
            else:
                reads[:, k, s] = np.where(kept, deliv / inst, 0)
                fills[:, k, s] = np.where(kept, own / inst, 0)
            partition[:, k, s] = np.where(kept, part / inst, 0)
            child_mask = np.where(kept[:, None, None], included[k], child_mask)
            child_ext = np.where(kept[:, None], ext[:, k, :], child_ext)
            child = np.where(kept, k, child)
            outermost = np.where(kept, k, outermost)
        rows = np.nonzero(outermost >= 0)[0]
        fills[rows, outermost[rows], s] = 0
    return _finish(ctx, keep, tile, partition, instances, reads, fills, updates, utilized_compute, sx_all, sy_all,
                   compute_cycles, net)


# --------------------------------------------------------------------------- single mapping
@dataclass(frozen=True)
class DataSpaceStats:
    """Per-instance access counts of one data space at one level (Timeloop's stats fields)."""

    name: str
    utilized_capacity: int
    partition_size: int
    utilized_instances: int
    reads: int
    fills: int
    updates: int
    temporal_reductions: int
    address_generations: int
    energy_pj: float  # all instances

    @property
    def accesses(self) -> int:
        return self.reads + self.fills + self.updates


@dataclass(frozen=True)
class LevelStats:
    name: str
    cycles: int
    slowdown: float
    utilized_capacity: int  # sum over kept data spaces
    leak_energy_pj: float
    energy_pj: float  # data spaces + leakage
    data_spaces: tuple[DataSpaceStats, ...]  # kept data spaces only


@dataclass(frozen=True)
class NetworkDataSpaceStats:
    """Transfers of one data space over an explicit network (Timeloop's network stats)."""

    name: str
    transfers: int  # per instance of the network's level ("Ingresses")
    multicast_factor: int
    fanout: int
    utilized_instances: int
    action: str  # the ERT action looked up
    energy_per_transfer_pj: float
    energy_pj: float  # all instances


@dataclass(frozen=True)
class NetworkStats:
    name: str
    network_class: str
    level: str  # outer storage level of the connection it is evaluated on
    child: str  # inner neighbour (storage level or compute unit)
    roles: tuple[str, ...]
    fill_latency: int
    drain_latency: int
    energy_pj: float
    data_spaces: tuple[NetworkDataSpaceStats, ...]  # data spaces with transfers


@dataclass(frozen=True)
class ModelResult:
    """The result of evaluating one mapping (what Timeloop's stats.txt reports)."""

    mapping: Mapping
    valid: bool
    energy_pj: float
    cycles: int
    compute_cycles: float
    utilization: float
    edp_j_cycles: float
    macs: int
    utilized_compute: int
    compute_energy_pj: float
    levels: tuple[LevelStats, ...]  # outermost first
    area_um2: float
    invalid_reasons: tuple[str, ...] = ()
    networks: tuple[NetworkStats, ...] = ()  # explicit networks (their energy is part of energy_pj)

    @property
    def network_energy_pj(self) -> float:
        return sum(n.energy_pj for n in self.networks)

    def network(self, name: str) -> NetworkStats:
        for n in self.networks:
            if n.name == name:
                return n
        raise KeyError(name)

    def level(self, name: str) -> LevelStats:
        for l in self.levels:
            if l.name == name:
                return l
        raise KeyError(name)

    @property
    def pj_per_compute(self) -> float:
        return self.energy_pj / self.macs


def evaluate(ctx: ModelContext, mapping: Mapping) -> ModelResult:
    """Evaluate one mapping (a batch of one) and return Timeloop-style per-level stats."""
    res = evaluate_batch(ctx, batch_from_mappings(ctx, [mapping]))
    return result_at(ctx, res, 0, mapping)


def result_at(ctx: ModelContext, res: BatchResult, b: int, mapping: Mapping) -> ModelResult:
    """Extract mapping ``b`` of a batch result as a :class:`ModelResult`."""
    levels = []
    reasons = []
    for k, lvl in enumerate(ctx.levels):
        tm = mapping.level(lvl.name)
        dss = []
        for s, name in enumerate(ctx.ds_names):
            if name not in tm.keep:
                continue
            # imperfect batches give average per-instance counts (floats): reported rounded
            r, f, u = (int(round(float(a[b, k, s]))) for a in (res.reads, res.fills, res.updates))
            rw = bool(ctx.read_write[s])
            dss.append(DataSpaceStats(
                name=name, utilized_capacity=int(res.tile[b, k, s]), partition_size=int(round(float(res.partition[b, k, s]))),
                utilized_instances=int(res.instances[b, k]), reads=r, fills=f, updates=u,
                temporal_reductions=r if rw else 0, address_generations=(u + f) if rw else (r + f),
                energy_pj=float(res.ds_energy_pj[b, k, s])))
        used = sum(d.utilized_capacity for d in dss)
        if not res.capacity_ok[b, k]:
            reasons.append(f"{lvl.name} holds {lvl.size_words} words (multiple buffering {lvl.multiple_buffering:g}) "
                           f"but the mapping needs {used} ({', '.join(f'{d.name} {d.utilized_capacity}' for d in dss)})")
        levels.append(LevelStats(lvl.name, int(res.level_cycles[b, k]), float(res.slowdown[b, k]), used,
                                 float(res.leak_energy_pj[b, k]), float(res.level_energy_pj[b, k]), tuple(dss)))
    for f, fan in enumerate(ctx.fanouts):
        if not res.fanout_ok[b, f]:
            sm = mapping.fanout(fan.name)
            reasons.append(f"fan-out {fan.name} has {fan.fanout_x}x{fan.fanout_y} instances but the mapping uses {sm.used_x}x{sm.used_y}")
    nets = []
    for n, c in enumerate(ctx.networks):
        if res.network_transfers is None:
            break
        ne = ctx.energies.networks.get(c.name)
        dss = []
        for s, name in enumerate(ctx.ds_names):
            t = int(round(float(res.network_transfers[b, n, s])))
            if t == 0:
                continue
            mf = int(res.network_multicast[b, n, s])
            dss.append(NetworkDataSpaceStats(
                name=name, transfers=t, multicast_factor=mf, fanout=int(res.network_fanout[b, n]),
                utilized_instances=int(res.network_instances[b, n]),
                action=ne.action_for(name) if ne is not None and hasattr(ne, "action_for") else "",
                energy_per_transfer_pj=float(ne.energy_pj(name, mf)) if ne is not None else 0.0,
                energy_pj=float(res.network_energy_pj[b, n, s])))
        nets.append(NetworkStats(c.name, c.network_class, c.level_name, c.child, c.roles, c.fill_latency,
                                 c.drain_latency, float(res.network_energy_pj[b, n].sum()), tuple(dss)))
    area = sum(ctx.energies.area_um2.get(l.name, 0.0) * l.instances for l in ctx.levels)
    area += ctx.energies.area_um2.get(ctx.arch.compute.name, 0.0) * ctx.arch.compute.instances
    return ModelResult(
        mapping=mapping, valid=bool(res.valid[b]), energy_pj=float(res.energy_pj[b]), cycles=int(res.cycles[b]),
        compute_cycles=float(res.compute_cycles[b]), utilization=float(res.utilization[b]),
        edp_j_cycles=float(res.edp_j_cycles[b]), macs=ctx.macs, utilized_compute=int(res.utilized_compute[b]),
        compute_energy_pj=float(res.compute_energy_pj[b]), levels=tuple(levels), area_um2=area,
        invalid_reasons=tuple(reasons), networks=tuple(nets))


__all__ = [
    "ModelContext", "make_context", "MappingBatch", "batch_from_mappings", "BatchResult", "evaluate_batch",
    "ModelResult", "LevelStats", "DataSpaceStats", "NetworkStats", "NetworkDataSpaceStats", "NetworkConnection", "evaluate", "result_at",
]
