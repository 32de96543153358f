"""A config's area before any mapping: the ART of the hardware that would run the layers.

Area depends on the knob values only, so ``--max-area`` can be checked before a sweep
starts (a budget no config meets is refused with nothing written) and a search can fail an
over-budget trial without mapping it.  The numbers are the ones a mapped layer records
(``area_by_node_um2`` in ``dse-layer.json``), summed by the same rule
(:func:`dse.hwdse.aggregate.config_area_um2`): the swept architecture's nodes plus each
companion's nodes it does not share with the host.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Mapping

from dse.hwdse.aggregate import LayerRow, config_area_um2
from dse.hwdse.plan import Route


@lru_cache(maxsize=4096)
def _node_areas(arch: str, config_json: str) -> tuple[tuple[str, float], ...]:
    """(node, area x instances) of ``arch`` built with the config (estimated tables, no workload)."""
    from dse.energy import estimate
    from dse.model.energies import from_tables
    from dse.spec.library import resolve_architecture
    from dse.spec.loader import load_spec

    bundle = resolve_architecture(arch, json.loads(config_json))
    spec = load_spec(list(bundle.files), variables=dict(bundle.values))
    arch_spec = spec.architecture
    per_instance = from_tables(estimate(spec), arch_spec).area_um2
    nodes = [*arch_spec.storage_levels, arch_spec.compute]
    return tuple((n.name, float(per_instance[n.name]) * n.instances) for n in nodes if n.name in per_instance)


def config_area_mm2(config: Mapping[str, Any], swept_arch: str, routes: list[Route]) -> tuple[float, dict[str, float]]:
    """Total area (mm^2) and the per-node breakdown (um^2) of ``config`` for the layers of ``routes``.

    Raises :class:`dse.errors.DseError` if the config is not valid for an architecture.
    """
    from dse.spec.library import shared_nodes

    rows, shared = [], {}
    for r in routes:
        if r.arch is None or any(x.arch == r.arch for x in rows):
            continue
        sub = dict(config) if r.keys is None else {k: v for k, v in config.items() if k in r.keys}
        nodes = dict(_node_areas(r.arch, json.dumps(sub, sort_keys=True)))
        rows.append(LayerRow(r.layer, r.arch, True, None, 1, 0.0, 0, 0.0, 0, nodes))
        if r.arch != swept_arch:
            shared[r.arch] = shared_nodes(r.arch)
    by_node = config_area_um2(rows, swept_arch, shared) or {}
    return sum(by_node.values()) / 1e6, by_node


def check_budget(configs: list[Mapping[str, Any]], swept_arch: str, routes: list[Route], max_area_mm2: float) -> None:
    """Refuse (:class:`DseError`, before anything is written) an area budget that no config meets.

    Configs are tried in order and the check stops at the first one within the budget, so a
    feasible budget costs one area estimate.
    """
    from dse.errors import DseError

    smallest = float("inf")
    for cfg in configs:
        area, _ = config_area_mm2(cfg, swept_arch, routes)
        if area <= max_area_mm2:
            return
        smallest = min(smallest, area)
    raise DseError(f"no config meets the area budget of {max_area_mm2:g} mm^2 (the smallest is {smallest:.4g} mm^2); "
                   "nothing was run", "--max-area", f"a budget >= {smallest:.4g} mm^2, or smaller configs")
