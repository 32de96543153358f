"""Reading the ``mapper:`` section into :class:`~dse.spec.types.MapperOptions`.

Hyphenated keys (``num-threads``, ``victory-condition``) are read like their
underscored forms, as Timeloop does; ``optimization_metric`` (one metric or a
list) is accepted for ``optimization_metrics``.  Keys we do not model
(``diagnostics``, ``sync_interval``...) are kept verbatim in ``extra``.
"""
from __future__ import annotations

from typing import Any, Mapping

from dse.errors import SpecError
from dse.spec.common import at, expect_mapping, normalize_keys
from dse.spec.expressions import as_number, evaluate
from dse.spec.types import MapperOptions

_INT_KEYS = ("num_threads", "victory_condition", "timeout", "search_size", "seed")


def build_mapper_options(raw: Any, file: str, variables: Mapping[str, Any]) -> MapperOptions:
    """Build :class:`MapperOptions` from the ``mapper:`` value read from ``file``."""
    mapper = normalize_keys(expect_mapping(raw, file, "mapper"))
    mapper.pop("version", None)
    kwargs: dict[str, Any] = {}
    if "algorithm" in mapper:
        algorithm = mapper.pop("algorithm")
        if not isinstance(algorithm, str) or not algorithm:
            raise SpecError(f"bad algorithm {algorithm!r}", where=at(file, "mapper.algorithm"), accepted="a search algorithm name, e.g. dse, random_pruned, linear_pruned, hybrid")
        kwargs["algorithm"] = algorithm
    metrics = mapper.pop("optimization_metrics", None)
    single = mapper.pop("optimization_metric", None)
    metrics = metrics if metrics is not None else single
    if metrics is not None:
        if isinstance(metrics, str):
            metrics = [metrics]
        if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
            raise SpecError(
                f"bad optimization metrics {metrics!r}",
                where=at(file, "mapper.optimization_metrics"),
                accepted="a list of metrics, e.g. [edp, delay, energy]",
            )
        kwargs["optimization_metrics"] = tuple(metrics)
    for key in _INT_KEYS:
        if key in mapper:
            where = at(file, f"mapper.{key}")
            value = as_number(evaluate(mapper.pop(key), variables, where), where, key)
            if not isinstance(value, int) or value < 0:
                raise SpecError(f"{key} must be a non-negative integer, got {value!r}", where=where, accepted="an integer >= 0")
            kwargs[key] = value
    if "live_status" in mapper:
        live = mapper.pop("live_status")
        if not isinstance(live, bool):
            raise SpecError(f"live_status must be true or false, got {live!r}", where=at(file, "mapper.live_status"), accepted="true or false")
        kwargs["live_status"] = live
    return MapperOptions(**kwargs, extra=mapper)
