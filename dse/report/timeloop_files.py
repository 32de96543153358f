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


def timeloop_levels(arch) -> list[tuple[int, StorageLevel | SpatialLevel]]:
    """Timeloop's level numbers, innermost first: the compute unit is 0, then every storage level and every
    timeloopfe dummy level (``inter_<C>_spatial``, one per spatial container) counts, e.g. 1, 3, 5, 6 for
    Gemmini's Registers, Accumulator, Scratchpad, DRAM.  A v0.3 implicit fan-out is no level."""
    out: list[tuple[int, StorageLevel | SpatialLevel]] = []
    n = 0
    for node in reversed(arch.nodes):
        if isinstance(node, StorageLevel) or (isinstance(node, SpatialLevel) and not node.implicit):
            n += 1
            out.append((n, node))
    return out


def _pj_align(ctx: ModelContext) -> int:
    """Timeloop's pJ/Compute name column: the longest level or network name + 1, where the networks
    include the implicit ``<outer> <==> <inner>`` ones between levels without a named read network."""
    names = [ctx.arch.compute.name] + [n.name for n in ctx.arch.networks]
    inner = ctx.arch.compute.name
    for _, node in timeloop_levels(ctx.arch):
        name = node.name if isinstance(node, StorageLevel) else _dummy_name(node)
        names.append(name)
        if not (isinstance(node, StorageLevel) and node.network_read):
            names.append(f"{name} <==> {inner}")
        inner = name
    return max(len(n) for n in names) + 1


def _dummy_name(fan: SpatialLevel) -> str:
    return fan.name if fan.dummy else f"inter_{fan.name}_spatial"


def _technology(lvl: StorageLevel) -> str:
    return "DRAM" if "DRAM" in lvl.component_class or lvl.attributes.get("technology") == "DRAM" else "SRAM"


def _level_specs(ctx: ModelContext, lvl: StorageLevel, st) -> list[str]:
    e = ctx.energies
    le = e.level(lvl.name)
    user = lvl.vector_access_energy_pj is not None
    if user:
        vector = lvl.vector_access_energy_pj
    elif le.scalar_pj is not None:  # per-scalar energies from a stats file
        vector = max(le.scalar_pj.values(), default=0.0) * lvl.block_size
    else:  # Timeloop: the largest ERT action energy / cluster size
        vector = max(le.read_pj, le.fill_pj, le.update_pj, le.leak_pj) / max(lvl.cluster_size, 1)
    size = "-" if lvl.size_words is None else str(lvl.size_words)
    effective = "-" if lvl.size_words is None else str(int(lvl.size_words // max(lvl.multiple_buffering, 1e-12)))
    return ["    SPECS", "    -----",
            f"        Technology                      : {_technology(lvl)}",
            f"        Size                            : {size}",
            f"        Word bits                       : {lvl.word_bits}",
            f"        Block size                      : {lvl.block_size}",
            f"        Cluster size                    : {lvl.cluster_size}",
            f"        Instances                       : {lvl.instances} ({lvl.mesh_x}*{lvl.mesh_y})",
            f"        Shared bandwidth                : {_bw(lvl.shared_bandwidth)}",
            f"        Read bandwidth                  : {_bw(lvl.read_bandwidth)}",
            f"        Write bandwidth                 : {_bw(lvl.write_bandwidth)}",
            f"        Multiple buffering              : {lvl.multiple_buffering:.2f}",
            f"        Effective size                  : {effective}",
            f"        Min utilization                 : {lvl.min_utilization:.2f}",
            f"        Vector access energy            : {vector:.2f} pJ",
            f"        Vector access energy source     : {'user' if user else 'ERT'}",
            f"        Per-instance-cycle leakage      : {le.leak_pj:.2f} pJ",
            "        Instances sharing power gating  : 1.00",
            "        Non-power-gated utilization     : 100.00%",
            f"        Leakage energy (total)          : {st.leak_energy_pj:.2f} pJ",
            f"        Area                            : {e.area_um2.get(lvl.name, 0.0):.2f} um^2", ""]


def _data_space_stats(ds, slowdown: float, compute_cycles: float) -> list[str]:
    accesses = ds.accesses
    inst = max(ds.utilized_instances, 1)
    clusters = max(ds.utilized_clusters, 1)
    # Timeloop's bandwidths: per-instance accesses per compute cycle, scaled by the level's throttling
    rd = slowdown * ds.reads / compute_cycles if compute_cycles else 0.0
    wr = slowdown * (ds.fills + ds.updates) / compute_cycles if compute_cycles else 0.0
    return [f"    {ds.name}:",
            f"        Partition size                           : {ds.partition_size}",
            f"        Utilized capacity                        : {ds.utilized_capacity}",
            f"        Utilized instances (max)                 : {ds.utilized_instances}",
            f"        Utilized clusters (max)                  : {ds.utilized_clusters}",
            f"        Scalar reads (per-instance)              : {ds.reads}",
            f"        Scalar fills (per-instance)              : {ds.fills}",
            f"        Scalar updates (per-instance)            : {ds.updates}",
            f"        Temporal reductions (per-instance)       : {ds.temporal_reductions}",
            f"        Address generations (per-cluster)        : {ds.address_generations}",
            f"        Energy (per-scalar-access)               : {ds.energy_pj / inst / accesses if accesses else 0:.2f} pJ",
            f"        Energy (per-instance)                    : {ds.energy_pj / inst:.2f} pJ",
            f"        Energy (total)                           : {ds.energy_pj:.2f} pJ",
            # Timeloop's adder model (PAT) costs 0 pJ: temporal reductions are free
            "        Temporal Reduction Energy (per-instance) : 0.00 pJ",
            "        Temporal Reduction Energy (total)        : 0.00 pJ",
            f"        Address Generation Energy (per-cluster)  : {ds.addr_gen_energy_pj / clusters:.2f} pJ",
            f"        Address Generation Energy (total)        : {ds.addr_gen_energy_pj:.2f} pJ",
            "        Bandwidth Consumption Scale              : 1.00",
            f"        Shared Bandwidth (per-instance)          : {rd + wr:.2f} words/cycle",
            f"        Shared Bandwidth (total)                 : {(rd + wr) * ds.utilized_instances:.2f} words/cycle",
            f"        Read Bandwidth (per-instance)            : {rd:.2f} words/cycle",
            f"        Read Bandwidth (total)                   : {rd * ds.utilized_instances:.2f} words/cycle",
            f"        Write Bandwidth (per-instance)           : {wr:.2f} words/cycle",
            f"        Write Bandwidth (total)                  : {wr * ds.utilized_instances:.2f} words/cycle"]


def total_ops(ctx: ModelContext, result: ModelResult) -> tuple[int, int, int]:
    """Timeloop's ``(elementwise ops, reduction ops, memory accesses required)``: every compute is one
    elementwise op and, with first-read elision, one reduction op except the first into each output;
    the accesses required are each data space's footprint at its outermost keeper."""
    footprint, outputs = 0, 0
    for s, name in enumerate(ctx.ds_names):
        for lvl in ctx.levels:  # outermost first
            held = next((d.utilized_capacity for d in result.level(lvl.name).data_spaces if d.name == name), 0)
            if held > 0:
                footprint += held
                outputs += held if ctx.read_write[s] else 0
                break
    return result.macs, result.macs - outputs, footprint


def _operational_intensity(ctx: ModelContext, result: ModelResult) -> tuple[list[str], int]:
    elementwise, reduction, footprint = total_ops(ctx, result)
    ops = elementwise + reduction
    outer_bits = ctx.levels[0].word_bits
    out = ["", "Operational Intensity Stats", "---------------------------",
           f"    {'Total elementwise ops':<40}: {elementwise}",
           f"    {'Total reduction ops':<40}: {reduction}",
           f"    {'Total ops':<40}: {ops}",
           f"    {'Total memory accesses required':<40}: {footprint}",
           f"    {'Optimal Op per Byte':<40}: {ops / max(outer_bits * footprint // 8, 1):.2f}", ""]
    for _, node in timeloop_levels(ctx.arch):
        if isinstance(node, SpatialLevel):
            out.append(f"=== {_dummy_name(node)} ===")
            continue
        out.append(f"=== {node.name} ===")
        accesses = sum(d.utilized_instances * d.accesses for d in result.level(node.name).data_spaces)
        if accesses > 0:
            out += [f"    {'Total scalar accesses':<40}: {accesses}",
                    f"    {'Op per Byte':<40}: {ops / max(node.word_bits * accesses // 8, 1):.2f}"]
    return out + ["", ""], ops


def stats_txt(ctx: ModelContext, result: ModelResult, notes: tuple[str, ...] = ()) -> str:
    """A Timeloop-shaped stats report (the fields and layout Timeloop's parsers read)."""
    e = ctx.energies
    out = ["Buffer and Arithmetic Levels", "----------------------------"]
    comp = ctx.arch.compute
    out += ["Level 0", "-------", f"=== {comp.name} ===", "", "    SPECS", "    -----",
            f"    Word bits             : {comp.word_bits}",
            f"    Instances             : {comp.instances} ({comp.mesh_x}*{comp.mesh_y})",
            f"    Compute energy        : {e.compute_pj:.2f} pJ", "", "    STATS", "    -----",
            f"    Utilized instances      : {result.utilized_compute}",
            f"    Computes (total)        : {result.macs}",
            f"    Cycles                  : {int(result.compute_cycles)}",
            f"    Energy (total)          : {result.compute_energy_pj:.2f} pJ",
            f"    Area (total)            : {e.area_um2.get(comp.name, 0.0) * comp.instances:.2f} um^2", ""]
    for idx, lvl in timeloop_levels(ctx.arch):
        if not isinstance(lvl, StorageLevel):
            continue  # a dummy level: no accesses, no section (Timeloop hides inconsequential levels)
        st = result.level(lvl.name)
        tm = result.mapping.level(lvl.name)
        loops = [(d, _end(b, tm.residual(d))) for d, b in tm.loops]
        out += [f"Level {idx}", "-------", f"=== {lvl.name} ===", ""] + _level_specs(ctx, lvl, st)
        out += ["    MAPPING", "    -------", "    Loop nest:"]
        for depth, (d, b) in enumerate(loops):
            out.append("      " + "  " * depth + f"for {d} in [0:{b})")
        out += ["", "    STATS", "    -----", f"    Cycles               : {st.cycles}",
                f"    Bandwidth throttling : {st.slowdown:.2f}"]
        for ds in st.data_spaces:
            out += _data_space_stats(ds, st.slowdown, result.compute_cycles)
        out.append("")
    out += ["Networks", "--------"]
    # Timeloop keeps networks in a map by name and hides those that cost nothing
    for i, net in enumerate(n for n in sorted(result.networks, key=lambda n: n.name) if n.energy_pj):
        out += network_section(i, net, ctx)
    intensity, ops = _operational_intensity(ctx, result)
    out += intensity
    out += ["Summary Stats", "-------------",
            f"GFLOPs (@1GHz): {ops / result.cycles:.2f}",
            f"Utilization: {100 * result.utilization:.2f}%",
            f"Cycles: {result.cycles}",
            f"Energy: {result.energy_pj / 1e6:.2f} uJ",
            f"EDP(J*cycle): {result.edp_j_cycles:.2e}",
            f"Area: {result.area_um2 / 1e6:.2f} mm^2", "",
            f"Computes = {result.macs}", "pJ/Compute"]
    rows = [(comp.name, result.compute_energy_pj)] + [(l.name, result.level(l.name).energy_pj) for l in reversed(ctx.levels)]
    rows += [(n.name, n.energy_pj) for n in sorted(result.networks, key=lambda n: n.name) if n.energy_pj]
    align = _pj_align(ctx)
    for n, v in rows:
        out.append(f"    {n:<{align}}= {v / result.macs:.2f}")
    out.append(f"    {'Total':<{align}}= {result.pj_per_compute:.2f}")
    notes = tuple(notes) + tuple(
        f"{n.name}: drain latency {n.drain_latency} cycles used; Timeloop's SimpleMulticast DrainLatency() returns "
        f"the fill latency ({n.fill_latency}) instead (a Timeloop bug we do not reproduce, see docs/model.md)"
        for n in result.networks if n.drain_latency != n.fill_latency)
    if notes:
        out += ["", "Notes", "-----"] + [f"    {n}" for n in notes]
    return "\n".join(out) + "\n\n"


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
