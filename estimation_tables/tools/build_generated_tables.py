"""Regenerate the derived tables ``digital/data/SRAM.csv`` and ``digital/data/regfile.csv``.

Run from the repository root:  ``python estimation_tables/tools/build_generated_tables.py``

SRAM.csv
    * "reference" rows: the SRAM energies/areas Accelergy v0.4 (CACTI plug-in)
      computed for the reference specs, read from their ERT/ART files
      (gemmini, tpu, simba; see REFERENCE_SRAM below);
    * "fit" rows: a grid (depth x width at 32/40/45 nm) from a least-squares
      power-law fit to those reference rows,
      ``E = a * (tech/32nm)**2 * depth**b * width**c`` (per action, technology
      exponent fixed to the shipped technology-scaling rule k = 2), leakage
      ``= p * depth * width`` (p = geometric mean leakage per bit).
      The fitted exponents are printed; they are the ``dse_scaling`` exponents
      in ``digital/digital.table.yaml``.
regfile.csv
    The composition the reference ``regfile.yaml`` compound uses
    (``width`` aladdin_register reads + ``depth`` aladdin_comparator compares
    per read; ``depth`` compares per write), from the Aladdin 40 nm rows in
    ``aladdin_register.csv`` / ``aladdin_comparator.csv``.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent.parent / "digital" / "data"

# (technology nm, depth, width, read pJ, write pJ, leak pJ/cycle @1.2 ns, area um^2, source)
REFERENCE_SRAM = [
    (32, 32768, 128, 57.039, 54.0501, 0.027407, 901693.0, "gemmini Scratchpad"),
    (32, 4096, 32, 4.54186, 3.49104, 0.001003, 29675.5, "gemmini Accumulator"),
    (28, 1572864, 128, 315.8668, 298.6326, 2.315092, 29897460.0, "tpu UnifiedBuffer"),
    (28, 16384, 128, 33.97764, 31.63854, 0.027242, 350627.4, "tpu WeightsFIFO"),
    (28, 2048, 32, 2.037072, 1.830017, 0.001165, 12366.768, "tpu Accumulator"),
    # smartbuffer_SRAM: includes its two 11-bit address adders (< 0.1 % of the total)
    (45, 2048, 256, 51.870888, 66.310888, 0.003889, 199065.0625, "simba GlobalBuffer (smartbuffer_SRAM incl. address adders)"),
]
# Tiny SRAMs that Accelergy did not route to CACTI (depth 1-2 "Registers" of class SRAM).
REFERENCE_SMALL = [
    (32, 1, 8, 0.006491, 0.010904, 0.0, 2.095375, "gemmini Registers"),
    (28, 2, 8, 0.008512, 0.014282, 0.0, 3.300522, "tpu Registers"),
]
TECH_K = 2.0
GRID_TECH = (32, 40, 45)
GRID_DEPTH = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)
GRID_WIDTH = (8, 16, 32, 64, 128, 256, 512)
CYCLE = "1.2e-09"


def fit(column: int) -> tuple[float, float, float]:
    """Least squares of ln E - k ln(t/32) = ln a + b ln depth + c ln width."""
    X = np.array([[1.0, math.log(d), math.log(w)] for t, d, w, *_ in REFERENCE_SRAM])
    y = np.array([math.log(p[column]) - TECH_K * math.log(p[0] / 32) for p in REFERENCE_SRAM])
    (ln_a, b, c), *_ = np.linalg.lstsq(X, y, rcond=None)
    return math.exp(ln_a), float(b), float(c)


def g(x: float) -> str:
    return f"{x:.6g}"


def build_sram() -> None:
    src = "Accelergy v0.4 + CACTI/Aladdin plug-ins, reference spec"
    rows = []
    for t, d, w, rd, wr, lk, ar, name in REFERENCE_SRAM + REFERENCE_SMALL:
        cite = f"{src} {name.split()[0]} ({name}; ERT/ART in reference/ert)"
        rows += [
            [f"{t}nm", d, w, "", "read", repr(rd), repr(ar), cite],
            [f"{t}nm", d, w, "", "write|update", repr(wr), repr(ar), cite],
            [f"{t}nm", d, w, CYCLE, "leak", repr(lk), repr(ar), cite],
        ]
    fits = {name: fit(col) for name, col in (("read", 3), ("write", 4), ("area", 6))}
    per_bit = [p[5] / (p[1] * p[2]) for p in REFERENCE_SRAM]
    leak_per_bit = math.exp(sum(map(math.log, per_bit)) / len(per_bit))
    for name, (a, b, c) in fits.items():
        print(f"SRAM {name}: a={a:.6g} depth^{b:.4f} width^{c:.4f} (tech/32)^{TECH_K}")
    print(f"SRAM leak: {leak_per_bit:.4g} pJ/bit/cycle at 1.2 ns")
    taken = {(t, d, w) for t, d, w, *_ in REFERENCE_SRAM + REFERENCE_SMALL}
    cite_fit = ("power-law fit to Accelergy v0.4 + CACTI plug-in SRAM outputs of reference specs "
                "gemmini/tpu/simba (estimation_tables/tools/build_generated_tables.py; docs/energy.md)")
    for t in GRID_TECH:
        s = (t / 32) ** TECH_K
        for d in GRID_DEPTH:
            for w in GRID_WIDTH:
                if (t, d, w) in taken:
                    continue
                area = fits["area"][0] * s * d ** fits["area"][1] * w ** fits["area"][2]
                rd = fits["read"][0] * s * d ** fits["read"][1] * w ** fits["read"][2]
                wr = fits["write"][0] * s * d ** fits["write"][1] * w ** fits["write"][2]
                rows += [
                    [f"{t}nm", d, w, "", "read", g(rd), g(area), cite_fit],
                    [f"{t}nm", d, w, "", "write|update", g(wr), g(area), cite_fit],
                    [f"{t}nm", d, w, CYCLE, "leak", g(leak_per_bit * d * w), g(area), cite_fit],
                ]
    with (HERE / "SRAM.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["technology", "depth", "width", "global_cycle_seconds", "action", "energy", "area", "comment"])
        out.writerows(rows)


def build_regfile() -> None:
    reg = {r["action"]: r for r in csv.DictReader((HERE / "aladdin_register.csv").open()) if r["technology"] == "40nm"}
    cmp_ = {r["action"]: r for r in csv.DictReader((HERE / "aladdin_comparator.csv").open()) if r["technology"] == "40nm"}
    reg_read, reg_write = float(reg["read"]["energy"]), float(reg["write|update"]["energy"])
    reg_area = float(reg["read"]["area"])
    cmp_read = float(cmp_["compare|read"]["energy"])
    cmp_leak = float(cmp_["leak"]["energy"])
    cmp_area = float(cmp_["compare|read"]["area"])
    cite = ("composition of Timeloop-Experiments transformer_gemmini regfile.yaml over Aladdin 40nm data "
            "(Shao et al. ISCA 2014) in aladdin_register.csv/aladdin_comparator.csv")
    rows = []
    for tech in ("40nm", "45nm"):
      for d in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096):
        for w in (1, 8, 16, 32, 64, 128, 256, 512, 1024):
            area = w * d * reg_area + d * cmp_area
            note = cite if tech == "40nm" else cite + "; 40 nm data applied unchanged at 45 nm as Accelergy's Aladdin plug-in does"
            rows += [
                [tech, d, w, "", "read", g(w * reg_read + d * cmp_read), g(area), note],
                [tech, d, w, "", "write|update", g(w * reg_write + d * cmp_read), g(area), note],
                [tech, d, w, "1e-09", "leak", g(d * cmp_leak), g(area), note],
            ]
    with (HERE / "regfile.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["technology", "depth", "width", "global_cycle_seconds", "action", "energy", "area", "comment"])
        out.writerows(rows)


if __name__ == "__main__":
    build_sram()
    build_regfile()
