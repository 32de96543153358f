"""Test helper: write a v4 spec the way timeloopfe's v4 -> v3 transpiler writes ``parsed-processed-input.yaml``.

Written from timeloopfe's documented behaviour (not its code): one top-level subtree named
``<first container>_top_level`` whose attributes are the evaluated variables; every component in
``local``, outermost first, as ``name[1..instances]`` with evaluated attributes plus ``meshX``/``meshY``
(networks keep their plain name); before the children of each container with a spatial mesh, a
``dummy_storage`` level ``inter_<C>_spatial`` (width/depth/datawidth 1, technology -1) with the
container's outer mesh; the problem with numeric instance values; the compound classes as given.
Attribute values come from dse's own loader (the test is about reading the *layout* back).
"""
from __future__ import annotations

from typing import Any

from dse.spec.loader import load_spec
from dse.spec.types import ComputeLevel, SpatialLevel, StorageLevel
from dse.spec.yaml_io import load_yaml


def _raw_nodes(files) -> list:
    raw = None
    for f in files:
        data = load_yaml(f)
        if isinstance(data, dict) and "architecture" in data:
            raw = data["architecture"]["nodes"]
    return raw


def _flatten(nodes, out):
    for n in nodes:
        tag = getattr(n, "tag", None)
        if tag in ("!Parallel", "!Hierarchical"):
            _flatten(n["nodes"], out)
        elif tag in ("!Container", "!Component"):
            out.append((tag, n["name"]))
    return out


def processed_spec(files, variables=None) -> dict[str, Any]:
    spec = load_spec(files, variables=variables)
    arch, wl = spec.architecture, spec.workload
    networks = {n.name: n for n in arch.networks}
    local, mesh = [], (1, 1)
    dummy_attrs = {"width": 1, "depth": 1, "datawidth": 1, "technology": -1}
    for tag, name in _flatten(_raw_nodes(files), []):
        if tag == "!Container":
            node = arch.node(name) if name in arch.node_names else None
            if isinstance(node, SpatialLevel):
                local.append({"name": f"inter_{name}_spatial[1..{mesh[0] * mesh[1]}]", "class": "dummy_storage",
                              "attributes": {**dummy_attrs, "meshX": mesh[0], "meshY": mesh[1]}})
                mesh = (mesh[0] * node.fanout_x, mesh[1] * node.fanout_y)
            continue
        if name in networks:
            n = networks[name]
            entry = {"name": name, "class": n.component_class, "attributes": dict(n.attributes)}
            if n.subclass:
                entry["subclass"] = n.subclass
            local.append(entry)
            continue
        n = arch.node(name)
        assert isinstance(n, (StorageLevel, ComputeLevel))
        mesh = (n.mesh_x, n.mesh_y)
        entry = {"name": f"{name}[1..{n.instances}]", "class": n.component_class,
                 "attributes": {**dict(n.attributes), "meshX": n.mesh_x, "meshY": n.mesh_y}}
        if n.subclass:
            entry["subclass"] = n.subclass
        local.append(entry)
    top = next((name for tag, name in _flatten(_raw_nodes(files), []) if tag == "!Container"), "arch")
    problem = {"version": "0.4", "shape": {
        "name": wl.name, "dimensions": list(wl.dimensions),
        "coefficients": [{"name": c, "default": v} for c, v in wl.coefficients.items()],
        "data_spaces": [{"name": ds.name, "projection": [[[d, c] if c else [d] for d, c in rank] for rank in ds.projection],
                         **({"read_write": True} if ds.read_write else {})} for ds in wl.data_spaces]},
        "instance": {**dict(wl.bounds), **dict(wl.coefficients), "densities": {}}}
    return {"dumped_by_timeloop_front_end": True,
            "architecture": {"version": "0.4", "subtree": [{"name": f"{top}_top_level",
                                                            "attributes": dict(spec.variables), "local": local}]},
            "architecture_constraints": {"targets": []},
            "problem": problem,
            "compound_components": {"version": "0.4", "classes": [dict(c) for c in spec.components.values()]},
            "mapping": []}
