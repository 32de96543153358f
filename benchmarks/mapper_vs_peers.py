"""Held-out-style pairs: our default mapper as a user runs it, whole process measured.

Usage: python benchmarks/mapper_vs_peers.py [--pairs gemmini:KQV:gpt2-medium:197,...]

A fixed list of (architecture, layer, model, sequence length) pairs the mapper was
never tuned on -- other models (GPT-2 medium/XL, TinyBERT), non-power-of-two
sequence lengths (197 with ``-if``, 384), decode GEMVs (L=1) and L=8, all four shipped reference architectures (Gemmini, Eyeriss, Simba,
TPU).  Each pair is one fresh ``python run.py LAYER --arch A --model M --seq-len S``
process; the table gives its EDP, utilization and the *whole process's* CPU time
(start-up, spec loading, energy estimation, search, writing the outputs), read
with ``resource.getrusage(RUSAGE_CHILDREN)``, so it compares like with like with a
peer tool's whole run.  Every returned mapping is checked against the spec's
constraints inside ``search`` (``dse/mapper/legality.py``).

Peers: FactorFlow published mappings only for the BERT-large seq-4096 pairs of
``benchmarks/mapper_vs_anchors.py`` (re-scored there in our model); none exist for
these pairs, and FactorFlow itself is not installed here, so this table has no
peer column -- run FactorFlow on the same pairs to fill one in.
"""
from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (arch, layer, model, seq_len, extra run.py arguments)
PAIRS = [
    ("gemmini", "KQV", "gpt2-medium", 197, ("-if",)),
    ("gemmini", "FF1", "gpt2-xl", 384, ()),
    ("gemmini", "KTQ", "tinybert-4l-312", 128, ()),
    ("gemmini", "KQV", "gpt2-medium", 1, ()),   # decode GEMV, L=1
    ("gemmini", "FF2", "gpt2-xl", 8, ()),       # small-batch decode, L=8
    ("eyeriss", "KQV", "bert-base", 384, ()),
    ("eyeriss", "VScores", "gpt2-medium", 256, ()),
    ("eyeriss", "Out", "gpt2-xl", 1, ()),
    ("eyeriss", "FF1", "tinybert-4l-312", 8, ()),
    ("simba", "KQV", "gpt2-medium", 384, ()),
    ("simba", "KTQ", "bert-base", 256, ()),
    ("simba", "FF2", "gpt2-xl", 1, ()),
    ("simba", "Out", "tinybert-4l-312", 8, ()),
    ("tpu", "KQV", "gpt2-xl", 512, ()),
    ("tpu", "FF1", "bert-base", 384, ()),
    ("tpu", "Out", "gpt2-medium", 1, ()),
    ("tpu", "FF2", "tinybert-4l-312", 8, ()),
]


def run_pair(arch: str, layer: str, model: str, seq: int, extra: tuple[str, ...]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, str(ROOT / "run.py"), layer, "--arch", arch, "--model", model,
                               "--seq-len", str(seq), *extra, "-o", out], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    row = {"pair": f"{arch} {layer} {model} seq {seq}" + (" " + " ".join(extra) if extra else ""), "cpu": cpu, "wall": wall}
    if proc.returncode != 0:
        row["error"] = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:160]
        return row
    grab = lambda key: re.search(rf"^{key}:\s+([0-9.e+-]+)", proc.stdout, re.M)
    row["edp"] = float(grab("EDP").group(1))
    row["util"] = float(grab("Utilization").group(1))
    row["evaluated"] = int(re.search(r"\((\d+) mappings evaluated", proc.stdout).group(1))
    return row


def main(argv=None) -> int:
    from tabulate import tabulate

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", help="comma-separated arch:layer:model:seq (default: the fixed list)")
    args = ap.parse_args(argv)
    pairs = ([(a, l, m, int(s), ()) for a, l, m, s in (p.split(":") for p in args.pairs.split(","))]
             if args.pairs else PAIRS)
    rows = []
    for p in pairs:
        r = run_pair(*p)
        rows.append([r["pair"], f"{r['edp']:.4g}" if "edp" in r else r["error"],
                     f"{r['util']:.1f}" if "util" in r else "-", r.get("evaluated", "-"),
                     f"{r['cpu']:.2f}", f"{r['wall']:.2f}"])
        print(" | ".join(map(str, rows[-1])), file=sys.stderr, flush=True)
    print(tabulate(rows, headers=["pair", "our EDP (J*cycle)", "util %", "mappings evaluated",
                                  "whole-process CPU s", "wall s"], tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
