"""``python hwdse_run.py (all | LAYER...) [FUSION_LEVEL] [options]``: sweep hardware configs over layers.

Argument parsing only; the work is in :mod:`dse.hwdse`.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from dse.cli.errors import run_guarded
from dse.errors import DseError
from dse.limits import cap_processes

DEFAULT_OUT = Path("outputs") / "outputs_hwdse"


def build_parser(prog: str = "hwdse_run.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Sweep hardware configs (a JSON list of knob dicts) over transformer layers; aggregate "
                    "energy, cycles and EDP per config; keep every result in OUT (re-running resumes).",
        epilog="Examples: hwdse_run.py all -c hw_configs.json -t | hwdse_run.py KTQ FF1 -mx -c cfg.json | "
               "hwdse_run.py -so -t --plot sweep.png",
    )
    p.add_argument("targets", nargs="*", metavar="all|LAYER... [FUSION_LEVEL]",
                   help="'all' or layer names (KQV KTQ VScores Out FF1 FF2 softmax layernorm), optionally followed "
                        "by one of --arch's fusion levels (gemmini: DRAM, Accumulator, Registers; pim: DRAM, shared_glb, scratchpad); with -so: defaults to the stored layers")
    p.add_argument("-l", "--live", action="store_true", help="print every finished (config, layer) job")
    p.add_argument("-nef", "--no-edge-fusion", "--no_e_fusion", dest="nef", action="store_true",
                   help="do not force E=1 above the fusion level")
    p.add_argument("-lf", "--l-fusion", "--l_fusion", dest="lf", action="store_true", help="also force L=1 above the fusion level")
    p.add_argument("-pwim", "--pwim", "--pay_wb_in_mm", dest="pwim", action="store_true",
                   help="let outputs stay in levels above the fusion level")
    p.add_argument("-mx", "--mixup", action="store_true",
                   help="sweep the cross product of the values seen per key across the configs (de-duplicated)")
    p.add_argument("-vc", "--victory-condition", "--vict_cond", "-vs", dest="vc", type=int, default=None, metavar="N",
                   help="mapper victory condition (random/hybrid searches)")
    p.add_argument("-so", "--summary_only", action="store_true", help="only read OUT and summarize; run nothing")
    p.add_argument("-t", "--table", action="store_true", help="print the results table sorted by --metric")
    p.add_argument("-i", "--init_idx", type=int, default=0, metavar="N",
                   help="number the configs from N (results go to OUT/N, OUT/N+1, ...; default 0)")
    p.add_argument("-ih", "--ignore_heads", action="store_true",
                   help="count per-head layers (KTQ, VScores, softmax) once instead of once per head")
    p.add_argument("-if", "--imperfect_fact", dest="imperfect", action="store_true",
                   help="imperfect factorization (ruby map-space)")
    p.add_argument("-c", "--configs", default="hw_configs.json", metavar="PATH",
                   help="JSON list of config dicts (default hw_configs.json)")
    p.add_argument("--arch", default="gemmini", help="shipped architecture name or folder (default gemmini)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--seed-configs", dest="config_format", action="store_const", const="seed", default="auto",
                     help="read -c as the seed's hw_configs.json (its key meanings, on gemmini_seed; "
                          "automatic when every config has exactly the seed's keys)")
    fmt.add_argument("--dse-configs", dest="config_format", action="store_const", const="dse",
                     help="read -c as knobs of --arch even if the keys are exactly the seed's")
    p.add_argument("--model", default=None, help="transformer model from the catalog (default bert-base; the seed's "
                   "is bert-large)")
    p.add_argument("--seq-len", type=int, default=None, help="sequence length (default 512; the seed's is 4096)")
    p.add_argument("--blocks", action="store_true", help="multiply by the model's blocks for whole-model totals")
    p.add_argument("--workers", type=int, default=None, help=f"local worker processes (default: cores = {os.cpu_count()})")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the jobs on a Dask distributed cluster (e.g. tcp://10.0.0.1:8786)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"results folder (default {DEFAULT_OUT})")
    p.add_argument("--csv", default=None, metavar="PATH", help="also write the per-config results table as CSV")
    p.add_argument("--plot", default=None, metavar="PATH", help="write a PNG: energy vs cycles + per-layer energy")
    p.add_argument("--metric", choices=("edp", "energy", "delay", "area", "edap", "tokens_per_s", "energy_per_token"),
                   default="edp", help="sort / best-so-far metric (default edp; edap = EDP x area; tokens_per_s and "
                                       "energy_per_token with --phase)")
    p.add_argument("--max-area", type=float, default=None, metavar="MM2",
                   help="area budget in mm^2: configs over it are marked, listed last and left out of the best "
                        "picks and the Pareto front")
    p.add_argument("--objectives", default=None, metavar="LIST",
                   help="comma-separated objectives of the Pareto front (energy, cycles, area, edp, edap; "
                        "default energy,cycles)")
    g = p.add_argument_group("search (Optuna; docs/hwdse.md)")
    g.add_argument("--search", choices=("tpe", "nsga2", "random", "grid"), default=None,
                   help="search the architecture's knob space (knobs.yaml search_space, or --space) instead of "
                        "sweeping -c configs; the study is OUT/study.db (re-running resumes it)")
    g.add_argument("--trials", type=int, default=None, metavar="N", help="finished trials to reach (default 50)")
    g.add_argument("--space", default=None, metavar="SPACE.yaml",
                   help="knob ranges replacing the declared ones ({knob: {low, high, step: pow2|N} | [choices] | value})")
    g.add_argument("--seed", type=int, default=0, help="sampler seed (default 0; same seed and --workers: same trials)")
    g.add_argument("--reuse", action="append", default=[], metavar="DIR",
                   help="take finished layer results of another results folder with the same settings (repeatable)")
    p.add_argument("--mapper", default=None, help="mapper preset or mapper YAML file (default: the default preset)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--phase", choices=("prefill", "decode", "generate"), default=None,
                   help="sweep a generation phase of a decoder model instead of layers (docs/infer.md): every "
                        "config runs `dse infer`; aggregated with the same rules")
    p.add_argument("--prompt", type=int, default=512, metavar="P", help="prompt tokens with --phase (default 512)")
    p.add_argument("--generate", type=int, default=128, metavar="G", help="generated tokens with --phase (default 128)")
    p.add_argument("--batch", type=int, default=1, metavar="B",
                   help="batch size: every layer's N (and the sequences with --phase; default 1)")
    p.add_argument("--yes", action="store_true", help="run more than 10,000 configs (refused without it)")
    return p


def fusion_levels_of(arch: str) -> tuple[str, ...]:
    """The fusion levels ``arch`` (or its companion) declares, for parsing ``LAYER... [LEVEL]``."""
    from dse.spec.library import _read_info, arch_directory, fusion_rules

    levels: list[str] = []
    companion = _read_info(arch_directory(arch)).get("companion")
    for name in (arch, companion) if companion else (arch,):
        rules = fusion_rules(name)
        levels += [l for l in (rules.levels if rules else ()) if l not in levels]
    return tuple(levels)


def parse_targets(targets: list[str], summary_only: bool, arch: str = "gemmini") -> tuple[list[str] | None, str | None]:
    """``(layers or None, fusion_level)`` from the positional arguments."""
    from dse.workloads import layer_names

    from dse.workloads import layer_names as _names

    FUSION_LEVELS = fusion_levels_of(arch)
    tokens = list(targets)
    level = None
    layers_lower = {n.lower() for n in _names()} | {"all"}
    if tokens and (tokens[-1] in FUSION_LEVELS or (summary_only and tokens[-1].lower() not in layers_lower)):
        level = tokens.pop()  # with -so the stored sweep's level is checked later (its architecture may differ)
    elif len(tokens) > 1 and tokens[-1].lower() not in layers_lower:
        from dse.spec.library import arch_directory

        raise DseError(f"unknown fusion level '{tokens[-1]}' for architecture '{arch_directory(arch).name}'",
                       "FUSION_LEVEL", ", ".join(FUSION_LEVELS) + " (outermost first; --arch picks the architecture)")
    if not tokens:
        if summary_only:
            return None, level
        raise DseError("no layers given", "LAYER", "'all' or one or more of " + ", ".join(layer_names()))
    if "all" in [t.lower() for t in tokens]:
        if len(tokens) > 1:
            raise DseError("'all' cannot be combined with layer names", "LAYER", "'all' or a list of layers")
        return layer_names(), level
    names = {n.lower(): n for n in layer_names()}
    bad = [t for t in tokens if t.lower() not in names]
    if bad:
        raise DseError(f"unknown layer(s) {', '.join(bad)}", "LAYER",
                       "'all', " + ", ".join(layer_names()) + " (then optionally " + ", ".join(FUSION_LEVELS) + ")")
    return list(dict.fromkeys(names[t.lower()] for t in tokens)), level


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_prog()).parse_args(argv)
    from dse.cli.args import workload_defaults

    note = workload_defaults(args)
    if note and not args.summary_only:  # -so shows the stored sweep's model in its own header
        print(note)
    return run_guarded(lambda: _run(args, argv))


def _prog() -> str:
    """How the user started us, for help and the resume hint: ``hwdse_run.py`` or ``dse-hwdse``."""
    from dse.cli.args import invoked_as

    return invoked_as("dse-hwdse", "hwdse_run.py")


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    if args.phase and args.search:
        raise DseError("a search over generation phases is not supported", "--search with --phase",
                       "--search over layers, or --phase with a -c sweep")
    if args.phase:
        return _phase_sweep(args)
    if args.metric in ("tokens_per_s", "energy_per_token"):
        raise DseError(f"--metric {args.metric} needs a generation phase", "--metric",
                       "--phase prefill|decode|generate with it, or edp, energy, delay, area, edap for layers")
    layers, level = parse_targets(args.targets, args.summary_only, args.arch)
    if args.summary_only:
        return _summary_only(args, layers, level)
    if args.search:
        return _search(args, layers, level, argv)
    if args.trials is not None or args.space or args.reuse:
        raise DseError("--trials, --space and --reuse belong to a search", "--search",
                       "--search tpe|nsga2|random|grid with them, or a sweep of -c configs without them")
    from dse.hwdse.store import Store

    if "search" in (Store(args.out).sweep_info() or {}):
        raise DseError("the folder holds an Optuna search (study.db); a sweep of -c configs would mix into its "
                       "trials", f"--out {args.out}", "the same --search command to continue it, -so to view it, "
                       "or another --out")
    return _sweep(args, layers, level, argv)


def parse_objectives(text: str | None) -> tuple[str, ...]:
    """``--objectives energy,cycles,area`` -> names of :data:`dse.hwdse.results.OBJECTIVES` (checked)."""
    from dse.hwdse.results import DEFAULT_OBJECTIVES, OBJECTIVES

    if text is None:
        return DEFAULT_OBJECTIVES
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in OBJECTIVES]
    if bad or not names:
        raise DseError(f"unknown objective(s) {', '.join(bad)}" if bad else "no objective given", "--objectives",
                       "a comma-separated list of " + ", ".join(OBJECTIVES) + " (e.g. energy,cycles,area)")
    if len(set(names)) != len(names):
        raise DseError("an objective is given twice", "--objectives", "each objective once")
    return tuple(names)


def _check_view_options(args) -> None:
    """--max-area is a positive number (checked before anything runs)."""
    import math

    if args.max_area is not None and not (math.isfinite(args.max_area) and args.max_area > 0):
        raise DseError(f"the area budget must be a positive number of mm^2, not {args.max_area:g}", "--max-area",
                       "a number > 0, e.g. --max-area 2.5")
    parse_objectives(args.objectives)


def _outputs(args, results, info, aggregation) -> None:
    from dse.hwdse.plot import plot
    from dse.hwdse.results import apply_area_budget, csv_table, mark_pareto
    from dse.hwdse.store import Store
    from dse.hwdse.view import summary

    objectives = parse_objectives(args.objectives)
    apply_area_budget(results, args.max_area)
    mark_pareto(results, objectives)
    print(summary(results, info, args.metric, args.table, aggregation, objectives, args.max_area))
    if args.csv:
        path = Store(args.out).write_csv(*csv_table(results), path=Path(args.csv))
        print(f"CSV written to {path}")
    if args.plot:
        s = info["settings"]
        path = plot(results, args.plot, args.metric, title=f"{s['arch']} - {s['model']} seq {s['seq_len']}")
        print(f"plot written to {path}")


def _check_output_paths(args) -> None:
    """--out, --csv and --plot can be written (checked before anything runs)."""
    from dse.cli.args import check_output_file, check_output_folder

    check_output_folder(args.out, "--out")
    inputs = {"-c/--configs": args.configs,
              "--mapper": args.mapper if args.mapper and Path(args.mapper).is_file() else None}
    if args.csv:
        check_output_file(args.csv, "--csv", "sweep.csv", inputs)
    if args.plot:
        check_output_file(args.plot, "--plot", "sweep.png", inputs | {"--csv": args.csv})
        from dse.hwdse.plot import check_format

        check_format(args.plot)


def _summary_only(args, layers, level) -> int:
    from dse.hwdse.results import load_results
    from dse.hwdse.store import Store

    _check_output_paths(args)
    _check_view_options(args)
    store = Store(args.out)
    from dse.hwdse.recover import recover

    recover(store, lambda msg: print(f"note: {msg}", file=sys.stderr))
    info = store.sweep_info()
    if info is None:
        raise DseError("no sweep results here (no sweep.json)", f"--out {store.root}",
                       "a folder written by hwdse_run.py (run a sweep first, or pass its --out)")
    if layers is not None and sorted(layers) != sorted(info["layers"]):
        raise DseError(f"the folder holds results of layers {' '.join(info['layers'])}, not "
                       f"{' '.join(layers)}", f"--out {store.root}",
                       f"-so without layers, or '{' '.join(info['layers'])}'")
    if level is not None and level != info["settings"].get("fusion_level"):
        raise DseError(f"the folder holds results with fusion level {info['settings'].get('fusion_level')}, not {level}",
                       f"--out {store.root}", "the fusion level of the stored sweep, or none")
    aggregation = {"ignore_heads": args.ignore_heads, "blocks": args.blocks}
    results = load_results(store, info, args.ignore_heads, args.blocks)
    if not results:
        raise DseError("the folder holds no config results", f"--out {store.root}", "a folder of a started sweep")
    from dse.cli.args import SEED_MODEL, SEED_SEQ_LEN

    stored = info.get("settings", {})
    if (stored.get("model"), stored.get("seq_len")) != (SEED_MODEL, SEED_SEQ_LEN):
        print(f"NOTE: these results are {stored.get('model')} at sequence length {stored.get('seq_len')}; tables made by "
              f"the seed's scripts are {SEED_MODEL.upper()} at sequence length {SEED_SEQ_LEN} (docs/seed-compat.md).")
    if args.max_area is not None:
        areas = [r.totals.area_mm2 for r in results if r.totals.area_mm2 is not None]
        if not areas or min(areas) > args.max_area:
            raise DseError(f"no config meets the area budget of {args.max_area:g} mm^2"
                           + (f" (the smallest is {min(areas):.4g} mm^2)" if areas else " (no area recorded)"),
                           "--max-area", f"a budget >= {min(areas):.4g} mm^2" if areas else
                           "results of a sweep made with this version (re-run it to record areas)")
    _outputs(args, results, info, aggregation)
    return 0


def _sweep(args, layers, level, argv) -> int:
    from dse.hwdse.configs import check_config_count, load_configs, mixup, mixup_size, repeated
    from dse.hwdse.plan import SweepSettings
    from dse.hwdse.sweep import SweepRequest, SweepStopped, run_sweep
    from dse.workloads import get_model

    if not 1 <= args.seq_len <= 2**31:
        raise DseError("sequence length must be from 1 to 2**31", "--seq-len", "an integer from 1 to 2147483648")
    if args.workers is not None and args.workers <= 0:
        raise DseError("workers must be positive", "--workers", "an integer >= 1")
    if args.init_idx < 0:
        raise DseError("the initial index must not be negative", "-i/--init_idx", "an integer >= 0")
    if args.vc is not None and args.vc <= 0:
        raise DseError("the victory condition must be positive", "-vc", "an integer >= 1 (valid mappings without improvement)")
    _check_output_paths(args)
    workers, capped = cap_processes(args.workers or os.cpu_count() or 1, "--workers")
    if capped:
        print(f"note: {capped}", file=sys.stderr)
    _check_view_options(args)
    model = get_model(args.model).name
    configs = load_configs(args.configs)
    if args.mixup:  # counted before anything is built: 8 keys x 8 values would be 16.7M dicts
        check_config_count(mixup_size(configs), args.yes, "-mx (the cross product of every key's values) would",
                           f"-mx -c {args.configs}")
        configs = mixup(configs)
    else:
        check_config_count(len(configs), args.yes, "the config file would", f"-c {args.configs}")
    for a, b in repeated(configs):
        print(f"note: config [{b + args.init_idx}] is the same as [{a + args.init_idx}]; both are mapped",
              file=sys.stderr)
    from dse.hwdse.configs import seed_translation
    from dse.spec.library import canonical_arch

    arch, note = seed_translation(args.arch, configs, args.config_format, str(args.configs))
    if note:
        print(f"note: {note}")
    if args.batch <= 0:
        raise DseError("the batch size must be positive", "--batch", "an integer >= 1")
    settings = SweepSettings(arch=canonical_arch(arch), model=model, seq_len=args.seq_len, batch=args.batch,
                             fusion_level=level,
                             no_edge_fusion=args.nef, l_fusion=args.lf, pwim=args.pwim, imperfect=args.imperfect,
                             victory_condition=args.vc, mapper=args.mapper)
    source = str(args.configs) + (" after -mx (indices number the combinations)" if args.mixup else "")
    req = SweepRequest(settings=settings, layers=layers, configs=configs, config_source=source,
                       out=Path(args.out), init_idx=args.init_idx, workers=workers,
                       scheduler=args.scheduler, ignore_heads=args.ignore_heads, blocks=args.blocks,
                       metric=args.metric, live=args.live, progress=not args.quiet, max_area_mm2=args.max_area,
                       objectives=parse_objectives(args.objectives),
                       resume_hint=("" if _prog() == "dse-hwdse" else "python ") + _prog() + " " + shlex.join(argv))
    from dse.hwdse.recover import recover
    from dse.hwdse.store import Store

    recover(Store(req.out), lambda msg: print(f"note: {msg}", file=sys.stderr))  # a lost sweep.json must not strand results
    try:
        report = run_sweep(req)
    except SweepStopped as stop:
        print(str(stop), file=sys.stderr)
        return stop.exit_code
    print(f"{report.total_jobs} (config, layer) jobs: {report.ran} run, {report.reused} reused (from {args.out} "
          f"or an equal job); {report.wall_s:.1f} s")
    aggregation = {"ignore_heads": args.ignore_heads, "blocks": args.blocks}
    _outputs(args, report.results, report.info, aggregation)
    return 0


def _search(args, layers, level, argv) -> int:
    from dse.hwdse.plan import SweepSettings
    from dse.hwdse.search.runner import SearchRequest, run_search
    from dse.hwdse.search.samplers import SearchKind
    from dse.hwdse.sweep import SweepStopped
    from dse.limits import cap_processes
    from dse.spec.library import canonical_arch
    from dse.workloads import get_model

    if not 1 <= args.seq_len <= 2**31:
        raise DseError("sequence length must be from 1 to 2**31", "--seq-len", "an integer from 1 to 2147483648")
    if args.workers is not None and args.workers <= 0:
        raise DseError("workers must be positive", "--workers", "an integer >= 1")
    if args.vc is not None and args.vc <= 0:
        raise DseError("the victory condition must be positive", "-vc", "an integer >= 1")
    if args.mixup or args.init_idx:
        raise DseError("-mx and -i number the configs of a -c file; a search numbers its configs by trial",
                       "--search", "--search without -mx and -i (give the knob ranges with --space)")
    _check_output_paths(args)
    _check_view_options(args)
    objectives = parse_objectives(args.objectives) if args.objectives else (args.metric,)
    workers, capped = cap_processes(args.workers or os.cpu_count() or 1, "--workers")
    if capped:
        print(f"note: {capped}", file=sys.stderr)
    settings = SweepSettings(arch=canonical_arch(args.arch), model=get_model(args.model).name, seq_len=args.seq_len,
                             fusion_level=level, no_edge_fusion=args.nef, l_fusion=args.lf, pwim=args.pwim,
                             imperfect=args.imperfect, victory_condition=args.vc, mapper=args.mapper)
    req = SearchRequest(settings=settings, layers=layers, kind=SearchKind(args.search),
                        trials=50 if args.trials is None else args.trials, objectives=objectives, out=Path(args.out),
                        space_file=args.space, seed=args.seed, workers=workers, scheduler=args.scheduler,
                        ignore_heads=args.ignore_heads, blocks=args.blocks, max_area_mm2=args.max_area,
                        reuse=tuple(Path(d) for d in args.reuse), progress=not args.quiet,
                        resume_hint=("" if _prog() == "dse-hwdse" else "python ") + _prog() + " " + shlex.join(argv))
    try:
        report = run_search(req)
    except SweepStopped as stop:
        print(str(stop), file=sys.stderr)
        return stop.exit_code
    from dse.hwdse.search.report import search_lines

    for note in report.notes:
        print(f"note: {note}")
    print("\n".join(search_lines(report, req)))
    _outputs(args, report.results, report.info, {"ignore_heads": args.ignore_heads, "blocks": args.blocks})
    return 0


def _phase_sweep(args) -> int:
    """--phase: the sweep's configs, each a whole generation (dse.infer.sweep)."""
    from dse.hwdse.configs import check_config_count, load_configs, mixup, mixup_size, validate_configs
    from dse.infer.sweep import check_phase_args, run_phase_sweep
    from dse.spec.library import canonical_arch

    check_phase_args(args)
    if args.csv:
        from dse.cli.args import check_output_file

        check_output_file(args.csv, "--csv", "sweep.csv")
    workers, _ = cap_processes(min(2, args.workers or os.cpu_count() or 1), "--workers")
    configs = load_configs(args.configs)
    if args.mixup:
        check_config_count(mixup_size(configs), args.yes, "-mx (the cross product of every key's values) would",
                           f"-mx -c {args.configs}")
        configs = mixup(configs)
    else:
        check_config_count(len(configs), args.yes, "the config file would", f"-c {args.configs}")
    args.arch = canonical_arch(args.arch)
    validate_configs(configs, args.arch, str(args.configs))
    return run_phase_sweep(args, configs, workers)


if __name__ == "__main__":
    sys.exit(main())
