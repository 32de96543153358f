"""Map one layer problem of a generation on the target hardware: cycles, energy, DRAM words.

A :class:`Target` names the hardware the way ``run.py`` does (shipped architecture and
knobs, or the user's own Timeloop files, plus mapper preset and energy override).  The
spec, constraints and per-action energies are prepared once per process and layer route
(:func:`_prepared`) and reused for every problem shape: they do not depend on the shape.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from dse.errors import DseError, NoValidMappingError, UnsatisfiableConstraintError
from dse.spec.types import Workload


@dataclass(frozen=True)
class Target:
    """The hardware and mapper every layer of a generation is mapped with."""

    arch: str = "gemmini"
    config: tuple[tuple[str, Any], ...] = ()  # knob values, sorted (hashable)
    spec_files: tuple[str, ...] = ()
    mapper: str | None = None
    ert: str | None = None
    imperfect: bool = False  # ruby map-space for every layer (context layers of decode always use it)

    @staticmethod
    def make(arch: str = "gemmini", config: Mapping[str, Any] | None = None, spec_files=(), mapper: str | None = None,
             ert: str | None = None, imperfect: bool = False) -> "Target":
        return Target(arch, tuple(sorted((config or {}).items())), tuple(str(f) for f in spec_files), mapper, ert,
                      imperfect)


@dataclass(frozen=True)
class LayerCost:
    """One instance of a layer problem (one head for per-head layers), as mapped."""

    cycles: int
    energy_pj: float
    utilization: float
    arch: str  # the architecture that ran it (gemmini's softmax/layernorm: gemmini_NOs)
    dram_word_bits: int
    dram_words: Mapping[str, int] = field(default_factory=dict)  # per data space: reads + fills + updates at the outermost level
    dram_writes: Mapping[str, int] = field(default_factory=dict)  # per data space: updates at the outermost level
    clock_s: float | None = None  # global_cycle_seconds of that architecture, if it gives one
    notes: tuple[str, ...] = ()
    wall_s: float = 0.0


#: Local-search patience (mappings evaluated without improvement) for the decode context layers when the
#: mapper options set none: their ruby map-spaces are searched by local search, which otherwise runs ~10x
#: longer for the same result on the GPT-2 contexts checked (docs/infer.md).
CONTEXT_VICTORY = 300


def _route(target: Target, layer: str) -> str:
    """The architecture that runs ``layer`` (gemmini's softmax/layernorm: its companion)."""
    if target.spec_files:
        return ""
    from dse.spec.library import route_layer

    routed, _ = route_layer(target.arch, layer)
    return routed or ""


def unrouted(target: Target, layers) -> dict[str, str]:
    """``{layer: reason}`` for the layers no architecture of ``target`` runs (e.g. eyeriss's softmax): the
    sweep's rule — left out of the totals, and said so."""
    if target.spec_files:
        return {}
    from dse.spec.library import route_layer

    out = {}
    for layer in layers:
        routed, reason = route_layer(target.arch, layer)
        if routed is None:
            out[layer] = reason or "not run by this architecture"
    return out


def _prepared(target: Target, layer: str):
    """``PreparedJob`` of ``layer`` on ``target`` (spec, energies, constraints, options; any shape)."""
    return _prepared_route(target, _route(target, layer), layer)


def _cached(fn):
    cache: dict = {}

    def get(target: Target, route: str, layer: str):
        key = (target, route)
        if key not in cache:
            cache[key] = fn(target, route, layer)
        return cache[key]

    get.cache_clear = cache.clear
    return get


@_cached
def _prepared_route(target: Target, route: str, layer: str):
    # one per architecture the layers are routed to: ``layer`` is the first layer seen on ``route``
    from dse.pipeline import LayerJob, prepare

    job = LayerJob(layer=layer, arch=target.arch, config=dict(target.config), model="gpt2", seq_len=16,
                   spec_files=target.spec_files, mapper=target.mapper, threads=1, ert=target.ert,
                   imperfect=target.imperfect)
    return prepare(job)


def _clock_s(spec) -> float | None:
    value = spec.variables.get("global_cycle_seconds")
    if value is None:
        for level in spec.architecture.storage_levels:
            value = level.attributes.get("global_cycle_seconds")
            if value is not None:
                break
    try:
        return float(value) if value is not None and float(value) > 0 else None
    except (TypeError, ValueError):
        return None


def map_layer(target: Target, layer: str, workload: Workload, context_layer: bool = False) -> LayerCost:
    """Best mapping of ``workload`` (a problem of ``layer``) on ``target``.

    ``context_layer``: a decode attention layer, mapped in the imperfect (ruby) map-space with a local-search
    patience of :data:`CONTEXT_VICTORY` unless the mapper options give one.
    Raises :class:`DseError` when no mapping fits (the caller names the argument).
    """
    from dse.mapper.search import search
    from dse.model.nest import make_context

    start = time.monotonic()
    prep = _prepared(target, layer)
    ctx = make_context(prep.spec.architecture, workload, prep.ctx.energies)
    options = prep.options
    if context_layer and options.victory_condition is None:
        options = replace(options, victory_condition=CONTEXT_VICTORY)
    res = search(ctx, prep.constraints, options,
                 imperfect=context_layer or target.imperfect or prep.spec.mapspace_template == "ruby")
    best = res.best
    outer = best.levels[0]
    words = {d.name: (d.reads + d.fills + d.updates) * d.utilized_instances for d in outer.data_spaces}
    writes = {d.name: d.updates * d.utilized_instances for d in outer.data_spaces}
    return LayerCost(int(best.cycles), float(best.energy_pj), float(best.utilization), prep.spec.architecture.name,
                     int(prep.spec.architecture.storage_levels[0].word_bits), words, writes,
                     _clock_s(prep.spec), tuple(prep.notes) + tuple(res.notes), time.monotonic() - start)


@dataclass(frozen=True)
class MapFailure:
    """Why a problem could not be mapped (returned, not raised, so it crosses process boundaries intact)."""

    message: str
    where: str | None
    accepted: str | None
    no_mapping: bool  # True: the problem does not fit the hardware; False: the input itself is wrong


def map_job(args: tuple) -> LayerCost | MapFailure:
    """Entry point for worker processes: ``map_layer(*args)``, bad input returned as a :class:`MapFailure`."""
    try:
        return map_layer(*args)
    except (NoValidMappingError, UnsatisfiableConstraintError) as err:
        return MapFailure(err.message, err.where, err.accepted, True)
    except DseError as err:
        return MapFailure(err.message, err.where, err.accepted, False)


def clear_cache() -> None:
    """Forget prepared specs (tests that edit architecture files)."""
    _prepared_route.cache_clear()


__all__ = ["Target", "LayerCost", "MapFailure", "map_layer", "map_job", "clear_cache", "unrouted"]
