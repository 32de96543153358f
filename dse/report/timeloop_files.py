"""Write results in Timeloop's shapes so existing parsers keep working.

``<prefix>.stats.txt`` (per-level sections, ``Summary Stats`` with ``Utilization``,
``Cycles``, ``Energy``, ``EDP(J*cycle)``, ``Area``, ``Computes`` and the
``pJ/Compute`` block), ``<prefix>.map.txt`` (loop nest), ``<prefix>.map.yaml``.
Every file is written atomically (temp file + rename).
"""
from __future__ import annotations

from pathlib import Path

from dse.errors import MappingError
from dse.files import write_atomic
from dse.model.nest import ModelContext, ModelResult
from dse.spec.mapping import dump_mapping_yaml
from dse.spec.types import SpatialLevel, StorageLevel


def map_txt(ctx: ModelContext, result: ModelResult) -> str:
    """The loop nest, outermost first, in Timeloop's map.txt layout."""
    lines: list[str] = []
    depth = 0
    m = result.mapping
    for node in ctx.arch.nodes:
        if isinstance(node, StorageLevel):
            stats = result.level(node.name)
            kept = " ".join(f"{d.name}:{d.utilized_capacity}" for d in stats.data_spaces)
            header = f"{node.name} [ {kept} ] "
            lines += ["", header, "-" * len(header)]
            tm = m.level(node.name)
            for d, b in tm.loops:
                lines.append("| " + "  " * depth + f"for {d} in [0:{_end(b, tm.residual(d))})")
                depth += 1
        elif isinstance(node, SpatialLevel):
            s = m.fanout(node.name)
            if node.dummy:  # a processed spec's inter_<C>_spatial level: Timeloop prints it as a level of its own
                header = f"{node.name} [ ] "
                lines += ["", header, "-" * len(header)]
            for d, b in s.x:
                lines.append("| " + "  " * depth + f"for {d} in [0:{_end(b, s.residual(d))}) (Spatial-X)")
                depth += 1
            for d, b in s.y:
                lines.append("| " + "  " * depth + f"for {d} in [0:{_end(b, s.residual(d))}) (Spatial-Y)")
                depth += 1
    lines.append("| " + "  " * depth + "<< Compute >>")
    return "\n".join(lines).lstrip("\n") + "\n"


def stats_txt(ctx: ModelContext, result: ModelResult, notes: tuple[str, ...] = ()) -> str:
    """A Timeloop-shaped stats report."""
    e = ctx.energies
    out = ["Buffer and Arithmetic Levels", "----------------------------"]
    comp = ctx.arch.compute
    out += ["Level 0", "-------", f"=== {comp.name} ===", "", "    SPECS", "    -----",
            f"    Instances             : {comp.instances} ({comp.mesh_x}*{comp.mesh_y})",
            f"    Compute energy        : {e.compute_pj:.2f} pJ", "", "    STATS", "    -----",
            f"    Utilized instances      : {result.utilized_compute}",
            f"    Computes (total)        : {result.macs}",
            f"    Cycles                  : {int(result.compute_cycles)}",
            f"    Energy (total)          : {result.compute_energy_pj:.2f} pJ",
            f"    Area (total)            : {e.area_um2.get(comp.name, 0.0) * comp.instances:.2f} um^2", ""]
    for idx, lvl in enumerate(reversed(ctx.levels), start=1):
        st = result.level(lvl.name)
        le = e.level(lvl.name)
        tm = result.mapping.level(lvl.name)
        loops = [(d, _end(b, tm.residual(d))) for d, b in tm.loops]
        out += [f"Level {idx}", "-------", f"=== {lvl.name} ===", "", "    SPECS", "    -----",
                f"        Size                            : {lvl.size_words if lvl.size_words is not None else '-'}",
                f"        Word bits                       : {lvl.word_bits}",
                f"        Block size                      : {lvl.block_size}",
                f"        Instances                       : {lvl.instances} ({lvl.mesh_x}*{lvl.mesh_y})",
                f"        Shared bandwidth                : {_bw(lvl.shared_bandwidth)}",
                f"        Read bandwidth                  : {_bw(lvl.read_bandwidth)}",
                f"        Write bandwidth                 : {_bw(lvl.write_bandwidth)}",
                f"        Multiple buffering              : {lvl.multiple_buffering:.2f}",
                f"        Vector access energy            : {max(le.read_pj, le.fill_pj, le.update_pj):.2f} pJ",
                f"        Per-instance-cycle leakage      : {le.leak_pj:.2f} pJ",
                f"        Leakage energy (total)          : {st.leak_energy_pj:.2f} pJ",
                f"        Area                            : {e.area_um2.get(lvl.name, 0.0):.2f} um^2", "",
                "    MAPPING", "    -------", "    Loop nest:"]
        for depth, (d, b) in enumerate(loops):
            out.append("      " + "  " * depth + f"for {d} in [0:{b})")
        out += ["", "    STATS", "    -----", f"    Cycles               : {st.cycles}",
                f"    Bandwidth throttling : {st.slowdown:.2f}"]
        for ds in st.data_spaces:
            accesses = ds.accesses
            out += [f"    {ds.name}:",
                    f"        Partition size                           : {ds.partition_size}",
                    f"        Utilized capacity                        : {ds.utilized_capacity}",
                    f"        Utilized instances (max)                 : {ds.utilized_instances}",
                    f"        Scalar reads (per-instance)              : {ds.reads}",
                    f"        Scalar fills (per-instance)              : {ds.fills}",
                    f"        Scalar updates (per-instance)            : {ds.updates}",
                    f"        Temporal reductions (per-instance)       : {ds.temporal_reductions}",
                    f"        Address generations (per-cluster)        : {ds.address_generations}",
                    f"        Energy (per-scalar-access)               : {ds.energy_pj / ds.utilized_instances / accesses if accesses else 0:.2f} pJ",
                    f"        Energy (per-instance)                    : {ds.energy_pj / ds.utilized_instances:.2f} pJ",
                    f"        Energy (total)                           : {ds.energy_pj:.2f} pJ"]
        out.append("")
    out += ["Networks", "--------"]
    for i, net in enumerate(result.networks):
        out += network_section(i, net, ctx)
    out += ["", "Summary Stats", "-------------",
            f"GFLOPs (@1GHz): {result.macs / result.cycles:.2f}",
            f"Utilization: {100 * result.utilization:.2f}%",
            f"Cycles: {result.cycles}",
            f"Energy: {result.energy_pj / 1e6:.2f} uJ",
            f"EDP(J*cycle): {result.edp_j_cycles:.2e}",
            f"Area: {result.area_um2 / 1e6:.2f} mm^2", "",
            f"Computes = {result.macs}", "pJ/Compute"]
    rows = [(comp.name, result.compute_energy_pj)] + [(l.name, result.level(l.name).energy_pj) for l in reversed(ctx.levels)]
    rows += [(n.name, n.energy_pj) for n in result.networks]
    width = max(len(n) for n, _ in rows) + 38
    for n, v in rows:
        out.append(f"    {n:<{width - 4}}= {v / result.macs:.2f}")
    out.append(f"    {'Total':<{width - 4}}= {result.pj_per_compute:.2f}")
    notes = tuple(notes) + tuple(
        f"{n.name}: drain latency {n.drain_latency} cycles used; Timeloop's SimpleMulticast DrainLatency() returns "
        f"the fill latency ({n.fill_latency}) instead (a Timeloop bug we do not reproduce, see docs/model.md)"
        for n in result.networks if n.drain_latency != n.fill_latency)
    if notes:
        out += ["", "Notes", "-----"] + [f"    {n}" for n in notes]
    return "\n".join(out) + "\n"


def network_section(index: int, net, ctx: ModelContext | None = None) -> list[str]:
    """One explicit network in Timeloop's ``Network N`` layout (SimpleMulticast stats)."""
    ne = ctx.energies.networks.get(net.name) if ctx is not None else None
    action = getattr(ne, "action_name", "") if ne is not None else ""
    lines = [f"Network {index}", "---------", net.name, "", "    SPECS", "    -----",
             f"        Type            : {net.network_class}",
             f"        ConnectionType  : {'/'.join(net.roles)} ({net.level} <==> {net.child})",
             f"        Action Name     : {action or '-'}",
             f"        Fill latency    : {net.fill_latency}",
             f"        Drain latency   : {net.drain_latency}",
             "", "    STATS", "    -----"]
    for d in net.data_spaces:
        per_inst = d.energy_pj / d.utilized_instances if d.utilized_instances else 0.0
        lines += [f"    {d.name}:",
                  f"        Fanout                                  : {d.fanout}",
                  f"        Multicast factor                        : {d.multicast_factor}",
                  f"        Ingresses                               : {d.transfers}",
                  f"        Utilized instances                      : {d.utilized_instances}",
                  f"        Action                                  : {d.action or '-'}",
                  f"        Energy (per-transfer)                   : {d.energy_per_transfer_pj:.4f} pJ",
                  f"        Energy (per-instance)                   : {per_inst:.2f} pJ",
                  f"        Energy (total)                          : {d.energy_pj:.2f} pJ"]
    lines += [f"    Energy (total)                              : {net.energy_pj:.2f} pJ", ""]
    return lines


def _end(b: int, r: int | None) -> str:
    """A loop end as Timeloop prints it: ``16`` or, with a residual, ``16,4``."""
    return f"{b}" if r is None or r == b else f"{b},{r}"


def _bw(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def map_yaml(ctx: ModelContext, result: ModelResult) -> str:
    """The mapping as Timeloop writes ``map.yaml`` (``timeloop-model`` reads it with the timeloopfe-processed
    spec); a mapping Timeloop's YAML cannot say (one dimension on X and Y of one fan-out) in dse's spelling."""
    try:
        return dump_mapping_yaml(result.mapping, ctx.workload, ctx.arch)
    except MappingError as err:
        return f"# dse's spelling: {err.message}\n" + dump_mapping_yaml(result.mapping, ctx.workload)


def write_outputs(out_dir: Path, prefix: str, ctx: ModelContext, result: ModelResult, tables=None,
                  notes: tuple[str, ...] = ()) -> list[Path]:
    """Write ``<prefix>.stats.txt``, ``.map.txt``, ``.map.yaml`` (+ ``.ERT.yaml``/``.ART.yaml``).

    A result with a NaN, infinite or negative number is refused before anything is written
    (:func:`dse.report.guard.check_result`)."""
    from dse.report.guard import check_result

    out_dir = Path(out_dir)
    check_result(result, str(out_dir / f"{prefix}.stats.txt"))
    written = []
    for suffix, text in ((".stats.txt", stats_txt(ctx, result, notes)), (".map.txt", map_txt(ctx, result)),
                         (".map.yaml", map_yaml(ctx, result))):
        p = out_dir / f"{prefix}{suffix}"
        write_atomic(p, text)
        written.append(p)
    if tables is not None:
        from dse.energy import write_art_yaml, write_ert_yaml

        for suffix, fn in ((".ERT.yaml", write_ert_yaml), (".ART.yaml", write_art_yaml)):
            p = out_dir / f"{prefix}{suffix}"
            fn(p, tables)
            written.append(p)
    else:  # energies came from elsewhere (a stats file): an ERT/ART of an earlier run would be stale
        for suffix in (".ERT.yaml", ".ART.yaml"):
            (out_dir / f"{prefix}{suffix}").unlink(missing_ok=True)
    return written
