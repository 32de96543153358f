"""Map one transformer layer on one architecture: spec -> energy -> mapper -> report.

``run_layer`` is what ``run.py`` and ``hwdse_run.py`` (one job per config x layer) call.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from dse.errors import DseError, EstimationError, NoValidMappingError, UnsatisfiableConstraintError
from dse.limits import cap_processes
from dse.model.energies import ActionEnergies, from_tables
from dse.model.nest import ModelContext, ModelResult, make_context
from dse.spec.problem import check_workload_size
from dse.spec.types import Constraint, FactorConstraint, MapperOptions, Spec
from dse.paths import data_dir

POINT_WISE_LAYERS = ("softmax", "layernorm")  # the seed's normalization ops (its run.py's NO fusion branch)
FUSION_LEVELS = ("DRAM", "Accumulator", "Registers")  # gemmini's; each architecture declares its own (FusionRules)
MAPPERS_DIR = data_dir("mappers")
DEFAULT_SEQ_LEN = 512


@dataclass(frozen=True)
class LayerJob:
    """Everything that defines one mapping job."""

    layer: str | None  # None: the problem of the spec files (--spec) is mapped
    arch: str = "gemmini"
    config: Mapping[str, Any] = field(default_factory=dict)  # architecture knob values
    model: str = "bert-base"
    seq_len: int = DEFAULT_SEQ_LEN
    batch: int = 1
    fusion_level: str | None = None
    no_edge_fusion: bool = False  # -nef: do not force E=1 above the fusion level
    l_fusion: bool = False  # -lf: also force L=1 above the fusion level
    pwim: bool = False  # -pwim: outputs may stay above the fusion level
    imperfect: bool = False  # -if: ruby map-space (imperfect factorization)
    spec_files: tuple[str, ...] = ()  # a user's own Timeloop YAML instead of --arch
    variables: Mapping[str, str] = field(default_factory=dict)  # --var overrides of the spec files' variables
    mapper: str | None = None  # preset name (mappers/<name>.yaml) or a mapper YAML file
    victory_condition: int | None = None
    threads: int | None = None
    seed: int | None = None
    ert: str | None = None  # Accelergy ERT YAML or Timeloop stats.txt overriding the estimate
    live: bool = False


@dataclass(frozen=True)
class LayerOutcome:
    """The result of a job (``ok`` False when no mapping fits; ``reason`` says why)."""

    job: LayerJob
    ok: bool
    reason: str | None = None
    energy_pj: float = float("nan")
    cycles: int = 0
    utilization: float = 0.0
    edp_j_cycles: float = float("nan")
    macs: int = 0
    area_um2: float = 0.0
    area_by_node_um2: Mapping[str, float] = field(default_factory=dict)  # area x instances per node (ART)
    level_energy_pj: Mapping[str, float] = field(default_factory=dict)
    mapping_text: str = ""
    evaluated: int = 0
    wall_s: float = 0.0
    out_dir: str | None = None
    notes: tuple[str, ...] = ()  # e.g. the companion architecture used, constraints ignored as Timeloop does
    bad_input: bool = False  # not ok because a constraint cannot be met at all (exit 2 for run.py)
    problem: str = ""  # the problem mapped: its name and dimensions (problem_text)

    @property
    def pj_per_mac(self) -> float:
        return self.energy_pj / self.macs if self.macs else float("nan")


@dataclass(frozen=True)
class PreparedJob:
    spec: Spec
    ctx: ModelContext
    constraints: tuple[Constraint, ...]
    options: MapperOptions
    tables: Any  # EnergyAreaTables or None (energies from a stats file)
    notes: tuple[str, ...]


def load_mapper_options(name_or_file: str | None) -> MapperOptions:
    """A mapper preset (``mappers/<name>.yaml``) or a mapper YAML file."""
    from dse.spec.loader import load_spec

    if name_or_file is None:
        name_or_file = "default"
    path = Path(name_or_file)
    if not path.exists():
        path = MAPPERS_DIR / f"{name_or_file}.yaml"
    if not path.exists():
        presets = sorted(p.stem for p in MAPPERS_DIR.glob("*.yaml"))
        raise DseError(f"unknown mapper preset or file '{name_or_file}'", "--mapper",
                       f"a preset ({', '.join(presets)}) or a mapper YAML file")
    return load_spec([path]).mapper


def fusion_constraints(spec: Spec, job: LayerJob, rules=None, arch_name: str = "") -> tuple[Constraint, ...]:
    """The seed run.py's fusion constraints for ``job.fusion_level`` under the architecture's ``rules``.

    Levels above the fusion level (all storage levels, or only the declared ones: ``rules.above``)
    get D=1, E=1 (not with -nef) and L=1 (with -lf) and, but for the outermost level (which backs
    the results), bypass Outputs (not with -pwim); the fusion level gets the permutation [E, D, L].  softmax/layernorm under ``point_wise: bypass_inputs`` instead get the
    seed's NO rules: the levels above bypass Inputs (and Outputs with -pwim), and Weights where the
    spec has no keep/bypass of its own there.
    """
    from dse.spec.library import FusionRules

    if job.fusion_level is None:
        return ()
    names = [l.name for l in spec.architecture.storage_levels]
    rules = rules or FusionRules.generic(tuple(names))
    who = f"architecture '{arch_name}'" if arch_name else "your spec"
    if job.fusion_level not in rules.levels:
        raise DseError(f"unknown fusion level '{job.fusion_level}' for {who}", "FUSION_LEVEL",
                       ", ".join(rules.levels) + " (outermost first)")
    target = rules.storage_level(job.fusion_level)
    listed = [rules.storage_level(l) for l in rules.levels[: rules.levels.index(job.fusion_level)]]
    src = f"fusion at {job.fusion_level}"
    if job.layer in POINT_WISE_LAYERS and rules.point_wise == "bypass_inputs":
        # the seed's NO branch: only the listed levels above matter (the fusion level itself, e.g. pim's
        # crossbar, need not exist in the NO unit); the outermost level keeps everything regardless
        told = {c.target for c in spec.constraints if c.type in ("dataspace", "bypass")}
        out = []
        for name in [n for n in names[1:] if n in listed]:
            bypass = ("Inputs",) + (("Outputs",) if job.pwim else ()) + (() if name in told else ("Weights",))
            out.append(Constraint(name, "dataspace", bypass=bypass, source=src))
        return tuple(out)
    if target not in names:
        raise DseError(f"fusion level '{job.fusion_level}' is not a storage level of {who}", "FUSION_LEVEL",
                       ", ".join(l for l in rules.levels if rules.storage_level(l) in names) or ", ".join(names))
    k = names.index(target)
    above = [n for n in names[:k] if n in listed] if rules.above == "listed" else names[:k]
    dims = set(spec.workload.dimensions)
    out = []
    for j, name in enumerate(above):
        factors = [FactorConstraint("D", "=", 1)] if "D" in dims else []
        if not job.no_edge_fusion and "E" in dims:
            factors.append(FactorConstraint("E", "=", 1))
        if job.l_fusion and "L" in dims:
            factors.append(FactorConstraint("L", "=", 1))
        if factors:
            out.append(Constraint(name, "temporal", tuple(factors), source=src))
        if not job.pwim and names.index(name) > 0:
            out.append(Constraint(name, "dataspace", bypass=("Outputs",), source=src))
    perm = tuple(d for d in ("E", "D", "L") if d in dims)
    out.append(Constraint(target, "temporal", (), permutation=perm, source=src))
    return tuple(out)


def _without_fused_keeps(constraints: tuple[Constraint, ...], fused: tuple[Constraint, ...]) -> tuple[Constraint, ...]:
    """The spec's keep/bypass constraints with what fusion bypasses moved from keep to bypass, as the seed's
    run.py edits them (a spec that keeps Inputs where fusion bypasses them would otherwise contradict it)."""
    gone: dict[str, set[str]] = {}
    for c in fused:
        if c.type == "dataspace":
            gone.setdefault(c.target, set()).update(c.bypass or ())
    out = []
    for c in constraints:
        drop = gone.get(c.target, set()) & set(c.keep or ()) if c.type in ("dataspace", "bypass") else set()
        if drop:
            c = replace(c, keep=tuple(d for d in c.keep if d not in drop),
                        bypass=tuple(c.bypass or ()) + tuple(sorted(drop - set(c.bypass or ()))))
        out.append(c)
    return tuple(out)


def energies_for(spec: Spec, ert: str | None) -> tuple[ActionEnergies, Any, tuple[str, ...]]:
    """Per-action energies for ``spec``: estimated, overridden by an Accelergy ERT (and its ART), or taken
    from a Timeloop stats.txt.  Returns (energies, ERT/ART tables or None, notes for the stats output)."""
    from dse.energy import override, read_accelergy_art, read_accelergy_ert

    notes: list[str] = []
    if ert and Path(ert).suffix == ".txt":
        from dse.model.from_timeloop import energies_from_stats
        from dse.spec.timeloop_stats import parse_stats

        notes.append(f"per-access energies from Timeloop stats {ert}")
        energies, more = _fit_stats_energies(energies_from_stats(parse_stats(ert)), spec, ert)
        return energies, None, tuple(notes + more)
    if not ert:
        tables = _estimate_once(spec)
    else:
        if not Path(ert).exists():
            raise DseError("ERT file not found", "--ert", "an Accelergy ERT.yaml or a Timeloop stats.txt")
        user = read_accelergy_ert(ert)
        art = Path(str(ert).replace("ERT", "ART"))
        if art != Path(ert) and art.exists():
            from dse.energy import merge_ert_art

            user = merge_ert_art(user, read_accelergy_art(art))
        try:
            tables = _estimate_once(spec)
        except EstimationError as err:
            tables = _ert_covers_all(spec, user, err)
            notes.append(f"not estimated here ({err.message}); every level's energy is the ERT's")
        tables = override(tables, user, where=str(ert))
        notes.append(f"per-action energies from {ert}")
    return from_tables(tables, spec.architecture), tables, tuple(notes)


_ESTIMATES: dict[str, Any] = {}  # per process: a sweep worker maps the layers of one config one after another


def _estimate_once(spec: Spec):
    """``estimate(spec)``, computed once per process for the same inputs.

    The estimate depends on the architecture, the compound components and the context
    variables (technology, clock) only, not on the layer: the layers of one config share it.
    """
    import hashlib

    from dse.energy import estimate
    from dse.energy.ert import CONTEXT_KEYS

    key = hashlib.sha256(repr((spec.architecture, sorted(spec.components.items()),
                               [(k, spec.variables.get(k)) for k in CONTEXT_KEYS])).encode()).hexdigest()
    tables = _ESTIMATES.get(key)
    if tables is None:
        if len(_ESTIMATES) >= 64:
            _ESTIMATES.clear()
        tables = _ESTIMATES[key] = estimate(spec)
    return tables


def _ert_covers_all(spec: Spec, user, err: Exception):
    """Empty tables for every storage and compute node when the user's ERT prices them all (a component class the
    estimator cannot price does not matter then; explicit networks stay unpriced), else ``err``."""
    from dse.energy.ert import ComponentEnergy, EnergyAreaTables, node_class
    from dse.spec.types import ComputeLevel, StorageLevel

    nodes = [n for n in spec.architecture.nodes if isinstance(n, (StorageLevel, ComputeLevel))]
    if any(n.name not in user for n in nodes):
        raise err
    return EnergyAreaTables(tuple(ComponentEnergy(n.name, node_class(n), n.instances, {}) for n in nodes))


def _fit_stats_energies(energies: ActionEnergies, spec: Spec, ert: str) -> tuple[ActionEnergies, list[str]]:
    """Check a stats file's per-access energies cover ``spec``'s levels; fill data spaces it bypassed.

    A level missing from the stats file is bad input (its energy would silently be 0). A data
    space the stats' mapping bypassed at a level gets that level's largest per-access energy
    (Timeloop's fallback for a missing action), with a note.
    """
    names = [l.name for l in spec.architecture.storage_levels]
    missing = [n for n in names if n not in energies.levels]
    if missing:
        raise DseError(f"the stats file has no level(s) {', '.join(missing)} of this architecture, so their energy "
                       "per access is unknown", f"--ert {ert}",
                       f"a stats.txt from a spec with the levels {', '.join(names)} (or an Accelergy ERT.yaml)")
    notes, levels = [], dict(energies.levels)
    spaces = [ds.name for ds in spec.workload.data_spaces] if spec.workload else []
    for n in names:
        scalar = dict(levels[n].scalar_pj or {})
        absent = [d for d in spaces if d not in scalar]
        if absent and scalar:
            fill = max(scalar.values())
            scalar.update({d: fill for d in absent})
            levels[n] = replace(levels[n], scalar_pj=scalar)
            notes.append(f"{n}: the stats file has no {', '.join(absent)} accesses; if a mapping keeps them there, each costs {fill:.4g} pJ "
                         "(the level's largest)")
        elif absent:
            raise DseError(f"level {n} keeps no data space in the stats file, so its energy per access is unknown",
                           f"--ert {ert}", "a stats.txt whose mapping keeps data at every level, or an Accelergy ERT.yaml")
    return replace(energies, levels=levels), notes


def prepare(job: LayerJob) -> PreparedJob:
    """Load the spec, workload, constraints, energies and mapper options of a job."""
    from dse.spec.library import fusion_rules, knobs_of, resolve_architecture, route_layer
    from dse.spec.loader import load_spec
    from dse.workloads import layer_names, layer_variables, make_layer

    def catalog_layer():
        if job.layer is None:
            raise DseError("the spec files define no problem, so a LAYER is needed", "LAYER",
                           f"a layer name ({', '.join(layer_names())}) or a problem YAML among the --spec files")
        if job.layer not in layer_names():
            raise DseError(f"unknown layer '{job.layer}'", "LAYER", ", ".join(layer_names()))
        return make_layer(job.model, job.layer, job.seq_len, job.batch)

    if job.variables and not job.spec_files:
        raise DseError("--var sets variables of your own spec files", "--var without --spec",
                       "--var NAME=VALUE with --spec FILE...; knobs of a shipped architecture are --set KNOB=VALUE")
    extra_notes: tuple[str, ...] = ()
    rules, arch_name = None, ""
    if job.spec_files:
        # the user's files alone, as `dse spec` reads them (with --var): an undefined variable is the same
        # error, never filled from the catalog; without a problem among them, the catalog layer is mapped
        spec = load_spec(list(job.spec_files), variables=dict(job.variables) or None)
        if spec.architecture is None:
            raise DseError("the spec files define no architecture", "--spec", "Timeloop architecture YAML")
        if spec.workload is None:
            spec = replace(spec, workload=catalog_layer().workload)
        elif job.layer is not None:
            extra_notes = (f"the problem comes from the spec files ({problem_text(spec.workload)}); LAYER {job.layer}, "
                           "--model and --seq-len only name the run",)
    else:
        lp = catalog_layer()
        variables = dict(layer_variables(job.model, job.seq_len, job.batch))
        bundle = resolve_architecture(job.arch, job.config)
        target, reason = route_layer(job.arch, job.layer)
        if target is None:
            raise DseError(f"architecture '{bundle.name}' does not run layer '{job.layer}': {reason}", "--arch",
                           f"layers {', '.join(bundle.layers)} (or another architecture)")
        if target != bundle.name:  # e.g. gemmini's softmax/layernorm run on its normalization unit gemmini_NOs
            extra_notes = (f"layer {job.layer} runs on '{target}', the companion of '{bundle.name}'",)
            bundle = resolve_architecture(target, {k: v for k, v in job.config.items() if k in knobs_of(target)})
        spec = load_spec(list(bundle.files), variables={**variables, **bundle.values})
        rules, arch_name = fusion_rules(bundle.directory), bundle.name
        if rules is None and job.fusion_level is not None:
            raise DseError(f"architecture '{bundle.name}' declares no fusion levels", "FUSION_LEVEL",
                           "no fusion level, or an architecture whose knobs.yaml declares architecture_info.fusion")
        spec = replace(spec, workload=lp.workload)
    check_workload_size(spec.workload, f"layer {job.layer} (--seq-len {job.seq_len}, --batch {job.batch})")
    # --mapper wins; else a user spec's own mapper section; else the default preset
    if job.mapper or not (job.spec_files and spec.mapper != MapperOptions()):
        options = load_mapper_options(job.mapper)
    else:
        options = spec.mapper
    overrides = {"victory_condition": job.victory_condition, "num_threads": job.threads, "seed": job.seed}
    options = replace(options, **{k: v for k, v in overrides.items() if v is not None})
    threads, capped = cap_processes(max(1, int(options.num_threads or 1)), "mapper threads (num_threads/--threads)")
    options = replace(options, num_threads=threads)
    energies, tables, notes = energies_for(spec, job.ert)
    notes += (capped,) if capped else ()
    ctx = make_context(spec.architecture, spec.workload, energies)
    fused = fusion_constraints(spec, job, rules, arch_name)
    constraints = _without_fused_keeps(tuple(spec.constraints), fused) + fused
    if job.imperfect or spec.mapspace_template == "ruby":
        notes += ("imperfect factorization (ruby map-space): one residual (remainder) loop per dimension allowed",)
    typos = tuple(w for w in spec.warnings if "unknown attribute" in w)  # a misspelled key changes the numbers
    return PreparedJob(spec, ctx, constraints, options, tables, extra_notes + typos + notes)


def problem_text(workload) -> str:
    """``KQV_matmul_encoder (E=1024 D=3072 L=4096)``: a problem's name and its dimensions above 1."""
    dims = " ".join(f"{d}={n}" for d, n in workload.bounds.items() if n > 1) or "all dimensions 1"
    return f"{workload.name or 'problem'} ({dims})"


def area_by_node(ctx: ModelContext) -> dict[str, float]:
    """Area (um^2) of every storage level and the compute unit: the ART's per-instance area x instances.

    The same numbers as the mapping's total ``area_um2``, known even when no mapping fits.
    """
    nodes = [*ctx.levels, ctx.arch.compute]
    return {n.name: float(ctx.energies.area_um2[n.name]) * n.instances for n in nodes if n.name in ctx.energies.area_um2}


def run_layer(job: LayerJob, out_dir: str | Path | None = None,
              progress: Callable[[int, int, float | None], None] | None = None) -> LayerOutcome:
    """Map ``job``; write Timeloop-style outputs to ``out_dir`` (if given) and return the outcome.

    Bad input raises :class:`DseError`; "no valid mapping" returns ``ok=False`` with the reason.
    """
    from dse.mapper.search import search
    from dse.report.guard import check_result
    from dse.report.timeloop_files import write_outputs
    from dse.spec.mapping import loops_as_text

    start = time.monotonic()
    prep = prepare(job)
    live = None
    if progress is None and (job.live or prep.options.live_status):
        from dse.report.progress import LiveProgress

        progress = live = LiveProgress(f"mapping {job.layer or prep.spec.workload.name}")
    try:
        res = search(prep.ctx, prep.constraints, prep.options, progress=progress,
                     imperfect=job.imperfect or prep.spec.mapspace_template == "ruby")
    except (NoValidMappingError, UnsatisfiableConstraintError) as err:
        return LayerOutcome(job, False, reason=err.format(), macs=prep.ctx.macs, wall_s=time.monotonic() - start,
                            area_by_node_um2=area_by_node(prep.ctx), notes=prep.notes, bad_input=isinstance(err, UnsatisfiableConstraintError),
                            problem=problem_text(prep.spec.workload))
    finally:
        if live is not None:
            live.close()
    best: ModelResult = res.best
    check_result(best, f"layer {job.layer or prep.spec.workload.name}")
    if out_dir is not None:
        write_outputs(Path(out_dir), "timeloop-mapper", prep.ctx, best, prep.tables, prep.notes + res.notes)
    return LayerOutcome(
        job, True, None, best.energy_pj, best.cycles, best.utilization, best.edp_j_cycles, best.macs, best.area_um2,
        area_by_node(prep.ctx), {l.name: l.energy_pj for l in best.levels} | {prep.ctx.arch.compute.name: best.compute_energy_pj},
        "\n".join(loops_as_text(best.mapping, prep.ctx.arch)), res.evaluated, time.monotonic() - start,
        None if out_dir is None else str(out_dir), prep.notes + res.notes, problem=problem_text(prep.spec.workload))
