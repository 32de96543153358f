"""Generate ``estimation_tables/hwcomponents/`` from the hwcomponents models.

Run with a Python >= 3.12 that has the hwcomponents family installed (the
default dse install does not need them)::

    python3.12 -m venv /work/venv312
    /work/venv312/bin/pip install hwcomponents hwcomponents-cacti hwcomponents-library hwcomponents-adc
    # Debian 12 (glibc < 2.38): rebuild the CACTI binary shipped in the wheel
    (cd /work/venv312/lib/python3.12/site-packages/hwcomponents_cacti/cacti && make clean && make opt)
    /work/venv312/bin/python estimation_tables/tools/hwcomponents_tables.py            # all tables
    /work/venv312/bin/python estimation_tables/tools/hwcomponents_tables.py --check    # + interpolation check

Every model call is cached in ``--cache`` (JSON lines, default
``~/.cache/dse/hwcomponents_raw.jsonl``), so an interrupted run resumes and a
rerun that only rewrites the CSVs calls no model.  Each CSV row's comment names
the model and the package version that produced it.

Tables (see docs/energy.md, "Shipped tables"):

SRAM.csv
    ``hwcomponents_cacti.SRAM`` (CACTI 7 through the wrapper Accelergy's CACTI
    plug-in became): technology 16/22/32/45/65 nm x width 8..256 bits x depth
    1..2**14-2**21 x n_banks 1..64 (SRAM_FAMILIES*) x n_rw_ports 1 (2 at 22/32/45 nm).
    CACTI runs at 22/32/45/65 nm and the wrapper interpolates linearly between
    them (below 22 nm it scales analytically); below ``64 * n_banks`` rows and
    32 bits it scales analytically too, so those rows cost no CACTI call.
aladdin_*.csv
    ``hwcomponents_library`` Aladdin adder/multiplier/register/comparator/counter
    at their characterised node (40 nm data); dse scales them to other nodes with
    Accelergy's technology rule (dse.energy.techscale).
DRAM.csv
    ``hwcomponents_cacti`` DRAM energy per bit by type.
ADC.csv
    ``hwcomponents_adc`` (Murmann ADC survey regression): resolution x
    throughput x technology.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import os
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

# the repository's dse package: its DiskCache is the one JSON-lines model cache (same file format,
# tolerant of a line cut by a crash) for this generator and `--estimator live`
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dse.energy.live import DiskCache as Cache  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent  # estimation_tables/
OUT = ROOT / "hwcomponents"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dse" / "hwcomponents_raw.jsonl"

#: CACTI nodes of the wrapper (it interpolates linearly between them) and the analytic 16 nm row.
SRAM_TECHS_NM = (32, 45, 22, 65)
LEAK_CYCLE_S = 1e-9      # leak rows are per 1 ns cycle; dse scales them to global_cycle_seconds


def version(package: str) -> str:
    return metadata.version(package)


# --------------------------------------------------------------------------- SRAM
def sram_live(tech_nm: float, width: int, depth: int, banks: int, ports: int) -> dict[str, float]:
    """One call of hwcomponents_cacti.SRAM: energies in pJ, leak power in W, area in um^2."""
    from hwcomponents_cacti import SRAM

    t0 = time.process_time()
    s = SRAM(tech_node=tech_nm * 1e-9, width=width, depth=depth, size=width * depth, n_rw_ports=ports, n_banks=banks)
    return {"read_pj": s.read_energy * 1e12, "write_pj": s.write_energy * 1e12,
            "leak_w": s.cacti_leak_power, "area_um2": s.cacti_area * 1e12,
            "seconds": round(time.process_time() - t0, 3)}


def _pow2(lo: int, hi: int) -> list[int]:
    return [2 ** k for k in range(int(math.log2(lo)), int(math.log2(hi)) + 1)]


#: (CACTI width, banks, largest depth) families: what the shipped knobs reach (arch/*/knobs.yaml,
#: hw_configs.json): 32-bit accumulators (gemmini, tpu; gemmini_NOs: all of them in 2*pe_rows banks),
#: 128-bit scratchpads / global buffers 1 KiB..4 MiB (tpu unified buffer 24 MiB: 4 banks),
#: eyeriss' 64-bit and simba's 256-bit global buffers.  Widths below 32 bits reuse the 32-bit runs.
SRAM_FAMILIES = (
    (32, 1, 2 ** 16), (32, 2, 2 ** 16), (128, 1, 2 ** 18), (128, 4, 2 ** 18), (64, 1, 2 ** 16), (256, 1, 2 ** 14),
)
SRAM_FAMILIES_MORE = (
    (32, 32, 2 ** 18), (128, 4, 2 ** 22), (32, 4, 2 ** 16), (128, 2, 2 ** 18), (32, 8, 2 ** 16), (32, 16, 2 ** 16),
    (64, 2, 2 ** 16), (256, 2, 2 ** 14), (32, 64, 2 ** 16),
)
SMALL_WIDTHS = (8, 16, 24)
#: midpoint depths first where the knobs sweep (scratchpads, accumulators, the TPU unified buffer)
SRAM_FAMILIES_MID = ((128, 4, 2 ** 22), (32, 2, 2 ** 16), (128, 1, 2 ** 18), (32, 1, 2 ** 16), (64, 1, 2 ** 16),
                     (256, 1, 2 ** 14))


def sram_grid() -> list[tuple[float, int, int, int, int]]:
    """(tech, width, depth, banks, ports) in priority order (the most used shapes first).

    Rows below ``64 * banks`` deep, narrower than 32 bits or at 16 nm are the wrapper's
    analytic scalings of a CACTI run that is in the grid anyway, so they cost nothing.
    """
    grid: list[tuple[float, int, int, int, int]] = []
    seen: set[tuple[float, int, int, int, int]] = set()

    def add(t: float, w: int, d: int, b: int, p: int) -> None:
        if (t, w, d, b, p) not in seen:
            seen.add((t, w, d, b, p))
            grid.append((t, w, d, b, p))

    def block(techs: Iterable[float], families: Iterable[tuple[int, int, int]], ports: int,
              mid: bool = False) -> None:
        for t in techs:
            for w, b, dmax in families:
                depths = [3 * d // 2 for d in _pow2(64 * b, dmax // 2)] if mid else _pow2(1, dmax)
                for d in depths:
                    for ww in ((w,) + SMALL_WIDTHS if w == 32 else (w,)):
                        add(t, ww, d, b, ports)
                        if t == 22:  # the analytic 16 nm row reuses the 22 nm CACTI run
                            add(16, ww, d, b, ports)

    block((32, 45, 22, 65), SRAM_FAMILIES, 1)
    # depths 3 * 2**k between the powers of two: CACTI changes its array organisation between
    # them, and log-space interpolation over a factor 2 is then off by up to a few %
    block((32, 22, 45), SRAM_FAMILIES_MID, 1, mid=True)
    block((32, 22, 45, 65), SRAM_FAMILIES_MORE, 1)
    block((32, 45, 22), SRAM_FAMILIES, 2)
    block((65,), SRAM_FAMILIES_MID, 1, mid=True)
    return grid


def sram_rows(cache: Cache, grid: list[tuple[float, int, int, int, int]], budget_s: float | None) -> list[list[Any]]:
    src = f"hwcomponents-cacti {version('hwcomponents-cacti')} SRAM (CACTI 7)"
    rows: list[list[Any]] = []
    t0 = time.time()
    skipped = 0
    for i, (t, w, d, b, p) in enumerate(grid):
        key = ("SRAM", t, w, d, b, p)
        if budget_s is not None and time.time() - t0 > budget_s and json.dumps(key) not in cache.data:
            skipped += 1
            continue
        r = cache.get(key, lambda: sram_live(t, w, d, b, p))
        if i % 200 == 0:
            print(f"  SRAM {i}/{len(grid)} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
        attrs = [f"{t:g}nm", w, d, b, p]
        rows.append(attrs + ["", "read", _g(r["read_pj"]), _g(r["area_um2"]), src])
        rows.append(attrs + ["", "write|update", _g(r["write_pj"]), _g(r["area_um2"]), src])
        rows.append(attrs + [f"{LEAK_CYCLE_S:g}", "leak", _g(r["leak_w"] * LEAK_CYCLE_S * 1e12), _g(r["area_um2"]), src])
    if skipped:
        print(f"  SRAM: {skipped} grid points left out (time budget); rerun to add them", file=sys.stderr)
    return rows



# --------------------------------------------------------------------------- Aladdin (library)
#: Widths tabulated for the width-linear Aladdin parts (the library scales them linearly in width).
ALADDIN_WIDTHS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 128)
ALADDIN_NODE_NM = 40  # the node Aladdin characterised; dse scales it with Accelergy's rule (from 45 nm)


def aladdin_live(kind: str, width: int, width_b: int | None = None) -> dict[str, float]:
    """Energy per action (pJ), leak (W), area (um^2) of one hwcomponents_library Aladdin part at 40 nm."""
    from hwcomponents_library.library import aladdin as al

    cls = {"adder": al.AladdinAdder, "multiplier": al.AladdinMultiplier, "register": al.AladdinRegister,
           "comparator": al.AladdinComparator, "counter": al.AladdinCounter}[kind]
    kwargs: dict[str, Any] = {"tech_node": ALADDIN_NODE_NM * 1e-9}
    if kind == "multiplier":
        kwargs.update(width_a=width, width_b=width_b if width_b is not None else width)
    else:
        kwargs["width"] = width
    m = cls(**kwargs)
    return _measured(m)


def intmac_live(multiplier_width: int, adder_width: int) -> dict[str, float]:
    """hwcomponents_library's AladdinIntMAC (Accelergy's `intmac`: one adder and one multiplier) at 40 nm."""
    from hwcomponents_library.library import aladdin as al

    return _measured(al.AladdinIntMAC(ALADDIN_NODE_NM * 1e-9, adder_width=adder_width,
                                      multiplier_width=multiplier_width))


def _measured(m: Any) -> dict[str, float]:
    out = {"leak_w": float(m.leak_power), "area_um2": float(m.area) * 1e12}
    for action in m.get_action_names():
        out[action + "_pj"] = float(getattr(m, action)().energy) * 1e12
    return out


ALADDIN_HEADER = ["technology", "global_cycle_seconds", "width|datawidth", "action", "energy", "area", "comment"]
MULT_HEADER = ["technology", "global_cycle_seconds", "width_a|datawidth_a", "width_b|datawidth_b", "action",
               "energy", "area", "comment"]
MAC_HEADER = ["technology", "global_cycle_seconds", "multiplier_width", "adder_width", "action",
              "energy", "area", "comment"]
#: (class file, library kind, main action names of the class in Accelergy's tables)
ALADDIN_CLASSES = (
    ("aladdin_adder", "adder", "add|read"),
    ("intadder", "adder", "add|read"),
    ("aladdin_register", "register", "read"),
    ("aladdin_comparator", "comparator", "compare|read"),
    ("aladdin_counter", "counter", "count|read"),
)


def aladdin_tables(cache: Cache) -> dict[str, tuple[list[str], list[list[Any]]]]:
    src = f"hwcomponents-library {version('hwcomponents-library')} Aladdin{{}} (Shao et al. ISCA 2014, 40 nm)"
    node = f"{ALADDIN_NODE_NM}nm"
    tables: dict[str, tuple[list[str], list[list[Any]]]] = {}
    for cls, kind, main in ALADDIN_CLASSES:
        rows: list[list[Any]] = []
        name = src.format(kind.capitalize())
        for w in ALADDIN_WIDTHS:
            r = cache.get(("aladdin", kind, w), lambda: aladdin_live(kind, w))
            main_pj = r.get(main.split("|")[0] + "_pj", r.get("read_pj"))
            area = _g(r["area_um2"])
            rows.append([node, "", w, main, _g(main_pj), area, name])
            if kind == "register":
                # The Aladdin data the library quotes ("Original CSV contents") has register write 0;
                # Accelergy's reference ERTs use it (simba PEWeightRegs write 0.080 pJ).
                rows.append([node, "", w, "write|update", "0", area,
                             name + "; write 0 as in the Aladdin data the library quotes (its write() returns the read energy)"])
            else:
                rows.append([node, "", w, "write|update", _g(r.get("write_pj", 0.0)), area, name])
            rows.append([node, "1e-09", w, "leak", _g(r["leak_w"] * 1e-9 * 1e12), area, name])
        tables[cls] = (ALADDIN_HEADER, rows)
    rows = []
    for wa in ALADDIN_WIDTHS:
        for wb in ALADDIN_WIDTHS:
            r = cache.get(("aladdin", "multiplier", wa, wb), lambda: aladdin_live("multiplier", wa, wb))
            name = src.format("Multiplier")
            area = _g(r["area_um2"])
            rows.append([node, "", wa, wb, "multiply|read", _g(r["multiply_pj"]), area, name])
            rows.append([node, "", wa, wb, "write|update", _g(r.get("write_pj", 0.0)), area, name])
            rows.append([node, "1e-09", wa, wb, "leak", _g(r["leak_w"] * 1e-9 * 1e12), area, name])
    tables["aladdin_multiplier"] = (MULT_HEADER, rows)
    tables["intmultiplier"] = (MULT_HEADER, rows)
    rows = []
    name = src.format("IntMAC")
    for wm in ALADDIN_WIDTHS:
        for wa in ALADDIN_WIDTHS:
            r = cache.get(("aladdin", "intmac", wm, wa), lambda: intmac_live(wm, wa))
            area = _g(r["area_um2"])
            rows.append([node, "", wm, wa, "compute|mac|read", _g(r["mac_pj"]), area, name])
            rows.append([node, "", wm, wa, "write|update", "0", area, name])
            rows.append([node, "1e-09", wm, wa, "leak", _g(r["leak_w"] * 1e-9 * 1e12), area, name])
    tables["intmac"] = (MAC_HEADER, rows)
    return tables


REGFILE_DEPTHS = tuple(2 ** k for k in range(0, 13))
REGFILE_WIDTHS = (1, 8, 16, 24, 32, 64, 128, 256, 512, 1024)


def regfile_table(cache: Cache) -> tuple[list[str], list[list[Any]]]:
    """Accelergy's regfile compound (Timeloop-Experiments regfile.yaml) over the library's Aladdin parts:
    read = width register reads + depth compares, write = width register writes (0) + depth compares,
    leak = depth comparator leaks, area = width*depth registers + depth comparators."""
    reg = cache.get(("aladdin", "register", 1), lambda: aladdin_live("register", 1))
    cmp_ = cache.get(("aladdin", "comparator", 32), lambda: aladdin_live("comparator", 32))
    src = (f"regfile.yaml composition over hwcomponents-library {version('hwcomponents-library')} "
           "AladdinRegister (1 bit) + AladdinComparator (32 bit), 40 nm")
    rows: list[list[Any]] = []
    for d in REGFILE_DEPTHS:
        for w in REGFILE_WIDTHS:
            area = _g(w * d * reg["area_um2"] + d * cmp_["area_um2"])
            rows.append(["40nm", d, w, "", "read", _g(w * reg["read_pj"] + d * cmp_["compare_pj"]), area, src])
            rows.append(["40nm", d, w, "", "write|update", _g(d * cmp_["compare_pj"]), area, src])
            rows.append(["40nm", d, w, "1e-09", "leak", _g(d * cmp_["leak_w"] * 1e-9 * 1e12), area, src])
    return ["technology", "depth", "width", "global_cycle_seconds", "action", "energy", "area", "comment"], rows


# --------------------------------------------------------------------------- DRAM
DRAM_TYPES = ("LPDDR4", "LPDDR", "DDR3", "HBM2", "HBM3", "HBM4")


def dram_table(cache: Cache) -> tuple[list[str], list[list[Any]]]:
    """Energy per access of a 64-bit-wide interface = the model's pJ/bit x width (it is linear in width)."""
    from hwcomponents_cacti import hwcomponents_cacti as hc

    src = f"hwcomponents-cacti {version('hwcomponents-cacti')} DRAM model"
    rows: list[list[Any]] = []
    for t in DRAM_TYPES:
        pj_per_bit, _ = hc._DRAM.type2energylatency[t]
        for w in (64,):
            rows.append([t, w, "read|write|update", _g(pj_per_bit * w), 0, f"{src} ({pj_per_bit:g} pJ/bit)"])
            rows.append([t, w, "leak", 0, 0, f"{src} (leak power 0, area 0)"])
    return ["type", "width", "action", "energy", "area", "comment"], rows


SRAM_HEADER = ["technology", "width", "depth", "n_banks", "n_rw_ports", "global_cycle_seconds",
               "action", "energy", "area", "comment"]


def _g(x: float) -> str:
    return f"{x:.6g}"


# --------------------------------------------------------------------------- interpolation check
#: (tech nm, width, depth, banks): shapes the shipped knobs reach, on and off the grid -- gemmini
#: scratchpads 64 KiB..4 MiB and accumulators (4 banks / 2 banks), the 40 nm knob value (between
#: CACTI nodes), eyeriss/simba/pim global buffers, the tpu at 28 nm, and depths between grid rows.
CHECK_POINTS = (
    (32, 128, 4096, 4), (32, 128, 12288, 4), (32, 128, 20000, 4), (32, 128, 65536, 4), (32, 128, 100000, 4),
    (32, 128, 262144, 4), (40, 128, 32768, 4), (40, 128, 50000, 4), (45, 128, 24576, 4), (28, 128, 1572864, 4),
    (28, 128, 16384, 4), (32, 32, 1024, 2), (32, 32, 3000, 2), (32, 32, 4096, 2), (40, 32, 2048, 2),
    (32, 32, 6000, 2), (28, 32, 2048, 2), (32, 32, 100, 2), (32, 64, 16384, 1), (32, 64, 10000, 1),
    (45, 256, 2048, 1), (45, 256, 5000, 1), (32, 128, 16384, 4), (40, 64, 16384, 1), (32, 8, 1, 1),
    (28, 8, 2, 1), (32, 8, 700, 1), (32, 32, 65536, 32), (32, 32, 40000, 32),
)


def interpolation_check(cache: Cache) -> tuple[list[str], list[list[Any]]]:
    """Table lookup (dse, log-space interpolation) vs the live model at CHECK_POINTS."""
    sys.path.insert(0, str(ROOT.parent))
    from dse.energy.estimators import Estimators

    est = Estimators.from_paths([OUT])
    rows: list[list[Any]] = []
    for t, w, d, b in CHECK_POINTS:
        live = cache.get(("SRAM", t, w, d, b, 1), lambda: sram_live(t, w, d, b, 1))
        attrs = {"technology": f"{t}nm", "width": w, "depth": d, "n_banks": b, "global_cycle_seconds": 1e-9}
        pairs = (("read", est.energy("SRAM", attrs, "read").value, live["read_pj"]),
                 ("write", est.energy("SRAM", attrs, "write").value, live["write_pj"]),
                 ("leak", est.energy("SRAM", attrs, "leak").value, live["leak_w"] * 1e-9 * 1e12),
                 ("area", est.area("SRAM", attrs).value, live["area_um2"]))
        for what, table, model in pairs:
            rows.append([f"{t}nm", w, d, b, what, _g(table), _g(model), f"{(table - model) / model:+.4%}"])
    return ["technology", "width", "depth", "n_banks", "quantity", "table", "live_model", "error"], rows


def write_csv(path: Path, header: list[str], rows: list[list[Any]], preamble: str) -> None:
    buf = io.StringIO()
    for line in preamble.strip().splitlines():
        buf.write(f"# {line}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(buf.getvalue())
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--only", default="sram,aladdin,dram", help="comma list of: sram, aladdin, dram")
    ap.add_argument("--check", action="store_true",
                    help="also compare the SRAM table with the live model at CHECK_POINTS (interpolation_check.csv)")
    ap.add_argument("--budget-s", type=float, default=None, help="stop calling CACTI after this many seconds")
    args = ap.parse_args(argv)
    logging.disable(logging.CRITICAL)
    cache = Cache(args.cache)
    (OUT / "data").mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    if "sram" in only:
        rows = sram_rows(cache, sram_grid(), args.budget_s)
        write_csv(OUT / "data" / "SRAM.csv", SRAM_HEADER, rows,
                  "Generated by estimation_tables/tools/hwcomponents_tables.py -- do not edit.\n"
                  "energy: pJ per action (one width-bit access); leak: pJ per 1 ns cycle; area: um^2.")
    head = "Generated by estimation_tables/tools/hwcomponents_tables.py -- do not edit."
    if "aladdin" in only:
        for cls, (header, rows) in aladdin_tables(cache).items():
            write_csv(OUT / "data" / f"{cls}.csv", header, rows, head)
        header, rows = regfile_table(cache)
        write_csv(OUT / "data" / "regfile.csv", header, rows, head)
    if "dram" in only:
        header, rows = dram_table(cache)
        write_csv(OUT / "data" / "DRAM.csv", header, rows, head)
    if args.check:
        header, rows = interpolation_check(cache)
        write_csv(OUT / "interpolation_check.csv", header, rows,
                  head + f"\nSRAM table (dse lookup, log-space interpolation) vs live hwcomponents-cacti "
                  f"{version('hwcomponents-cacti')} at shapes the shipped knobs reach.")
        worst = max(rows, key=lambda r: abs(float(r[-1].rstrip("%"))))
        print(f"interpolation check: {len(rows)} values, worst {worst}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
