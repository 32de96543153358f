"""Plain-data summaries of a loaded :class:`~dse.spec.types.Spec` (what ``dse spec`` prints).

:func:`summary_tables` returns ``(title, headers, rows)`` triples; formatting is
left to the caller.
"""
from __future__ import annotations

from typing import Any, Sequence

from dse.spec.types import Constraint, SpatialLevel, Spec, StorageLevel

Table = tuple[str, Sequence[str], list[tuple[Any, ...]]]


def _num(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def dataspace_decisions(spec: Spec) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Per storage level: (kept, bypassed) data spaces as fixed by ``dataspace`` constraints."""
    out: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for c in spec.constraints:
        if c.type == "dataspace":
            out[c.target] = (c.keep or (), c.bypass or ())
    return out


def architecture_table(spec: Spec) -> Table:
    """Levels outermost first with class, instances, mesh, fan-out, storage numbers, keep/bypass."""
    arch = spec.architecture
    assert arch is not None
    decisions = dataspace_decisions(spec)
    spaces = [ds.name for ds in spec.workload.data_spaces] if spec.workload else []
    rows: list[tuple[Any, ...]] = []
    for node in arch.nodes:
        if isinstance(node, SpatialLevel):
            kind = "fan-out (implicit)" if node.implicit else "fan-out"
            rows.append((node.name, kind, "", "", "", f"{node.fanout_x}x{node.fanout_y} = {node.fanout}",
                         "", "", "", "", "", "", "", ""))
            continue
        cls = node.component_class + (f" ({node.subclass})" if node.subclass else "")
        mesh = f"{node.mesh_x}x{node.mesh_y}"
        if isinstance(node, StorageLevel):
            keep, bypass = decisions.get(node.name, ((), ()))
            free = [s for s in spaces if s not in keep and s not in bypass]
            keeps = ", ".join(keep) + (f" (mapper: {', '.join(free)})" if free and keep else "")
            if not keep:
                keeps = f"mapper: {', '.join(free)}" if free else "-"
            rows.append((node.name, "storage", cls, node.instances, mesh, "",
                         "unbounded" if node.size_words is None else node.size_words,
                         node.block_size, node.word_bits, _num(node.read_bandwidth), _num(node.write_bandwidth),
                         _num(node.shared_bandwidth), keeps, ", ".join(bypass) or "-"))
        else:
            rows.append((node.name, "compute", cls, node.instances, mesh, "", "", "", "", "", "", "", "", ""))
    headers = ("level", "kind", "class", "instances", "mesh", "fan-out", "size (words)", "block", "word bits",
               "read bw", "write bw", "shared bw", "keeps", "bypasses")
    return (f"Architecture '{arch.name}' (outermost first)", headers, rows)


def networks_table(spec: Spec) -> Table:
    """Network components (not levels)."""
    assert spec.architecture is not None
    rows = [(n.name, n.component_class + (f" ({n.subclass})" if n.subclass else ""), n.instances)
            for n in spec.architecture.networks]
    return ("Networks", ("network", "class", "instances"), rows)


def workload_tables(spec: Spec) -> list[Table]:
    """Dimension sizes with MACs, and data spaces with projections and sizes."""
    wl = spec.workload
    assert wl is not None
    dims = [(d, wl.bounds[d]) for d in wl.dimensions] + [("MACs", wl.macs)]
    spaces = []
    for ds in wl.data_spaces:
        proj = " x ".join(
            "(" + " + ".join(d if c is None else f"{c}*{d}" for d, c in rank) + ")" if len(rank) > 1
            else (rank[0][0] if rank[0][1] is None else f"{rank[0][1]}*{rank[0][0]}")
            for rank in ds.projection
        )
        spaces.append((ds.name, proj, "read-write" if ds.read_write else "read", wl.data_space_size(ds.name)))
    return [
        (f"Workload '{wl.name}'", ("dimension", "size"), dims),
        ("Data spaces", ("data space", "projection", "access", "elements"), spaces),
    ]


def _constraint_details(c: Constraint) -> str:
    parts = []
    if c.split is not None:
        parts.append(f"split={c.split}")
    if c.keep is not None:
        parts.append(f"keep=[{', '.join(c.keep)}]")
    if c.bypass is not None:
        parts.append(f"bypass=[{', '.join(c.bypass)}]")
    if c.min_utilization is not None:
        parts.append(f"min_utilization={c.min_utilization}")
    if c.max_overbooked_proportion is not None:
        parts.append(f"max_overbooked_proportion={c.max_overbooked_proportion}")
    if c.maximize_dims is not None:
        parts.append("maximize_dims=" + str([list(g) for g in c.maximize_dims]))
    parts += [f"{k}={v}" for k, v in c.extra.items()]
    return "; ".join(parts)


def constraints_table(spec: Spec) -> Table:
    """One row per (target, type), in architecture order."""
    order = {name: i for i, name in enumerate(spec.architecture.node_names)} if spec.architecture else {}
    rows = []
    for c in sorted(spec.constraints, key=lambda c: order.get(c.target, len(order))):
        rows.append((c.target, c.type, " ".join(f"{f.dim}{f.op}{f.value}" for f in c.factors),
                     "".join(c.permutation) if c.permutation and all(len(d) == 1 for d in c.permutation)
                     else " ".join(c.permutation or ()), _constraint_details(c), c.source))
    return ("Constraints", ("target", "type", "factors", "permutation (inner->outer)", "other", "source"), rows)


def mapper_table(spec: Spec) -> Table:
    """Mapper options and the map-space template."""
    m = spec.mapper
    rows: list[tuple[Any, ...]] = [
        ("algorithm", m.algorithm),
        ("optimization_metrics", ", ".join(m.optimization_metrics)),
        ("num_threads", m.num_threads),
        ("victory_condition", _num(m.victory_condition)),
        ("timeout", _num(m.timeout)),
        ("search_size", _num(m.search_size)),
        ("live_status", m.live_status),
        ("seed", m.seed),
        ("mapspace template", spec.mapspace_template),
    ]
    rows += [(k, v) for k, v in m.extra.items()]
    return ("Mapper", ("option", "value"), rows)


def variables_table(spec: Spec) -> Table:
    """Evaluated variables."""
    return ("Variables", ("variable", "value"), [(k, v) for k, v in spec.variables.items()])


def summary_tables(spec: Spec) -> list[Table]:
    """All tables ``dse spec`` prints, in order; empty sections are left out."""
    tables: list[Table] = []
    if spec.architecture is not None:
        tables.append(architecture_table(spec))
        if spec.architecture.networks:
            tables.append(networks_table(spec))
    if spec.workload is not None:
        tables += workload_tables(spec)
    if spec.constraints:
        tables.append(constraints_table(spec))
    tables.append(mapper_table(spec))
    if spec.variables:
        tables.append(variables_table(spec))
    return tables
