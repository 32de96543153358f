"""Longer mutation-fuzz run over the four entry points; prints counts per outcome (issue 16).

    python tests/fuzz/run_fuzz.py -n 500            # 500 mutants per entry point = 2000 in all
    python tests/fuzz/run_fuzz.py -n 50 --seed 1000 --entries "dse spec" "dse model"

Acceptance: 0 traceback, bug, bad-number, hang (> --timeout s) and memory (> 1 GiB) outcomes.
Failing cases keep their folder under --work (inputs, stdout.txt, stderr.txt); each line
printed for a failure gives entry and seed, which `make_case(entry, seed, folder)` rebuilds.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ENTRY_POINTS, FAILURES, OUTCOMES, fuzz  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=500, help="mutants per entry point (default 500: 2000 in all)")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds before a case counts as a hang")
    p.add_argument("--entries", nargs="+", default=list(ENTRY_POINTS), choices=ENTRY_POINTS)
    p.add_argument("--work", default=None, help="folder for the cases (default: a temporary folder)")
    args = p.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="dse-fuzz-"))
    start = time.monotonic()

    def report(entry, seed, outcome):
        if outcome.kind in FAILURES:
            print(f"{outcome.kind:10s} {entry:16s} seed {seed}: {outcome.detail[:300]}", flush=True)

    def progress(done, counts):
        total = {o: sum(c[o] for c in counts.values()) for o in OUTCOMES}
        print(f"[{time.monotonic() - start:.0f} s] {done * len(counts)} mutants: "
              + ", ".join(f"{o} {n}" for o, n in total.items()), flush=True)

    counts = fuzz(args.n, work, args.seed, args.timeout, tuple(args.entries), report, progress)
    print(f"\n{sum(sum(c.values()) for c in counts.values())} mutants in {time.monotonic() - start:.0f} s "
          f"(seeds {args.seed}..{args.seed + args.n - 1}; failing cases kept in {work})")
    header = f"{'entry point':18s}" + "".join(f"{o:>11s}" for o in OUTCOMES)
    print(header)
    for entry, c in counts.items():
        print(f"{entry:18s}" + "".join(f"{c[o]:>11d}" for o in OUTCOMES))
    total = {o: sum(c[o] for c in counts.values()) for o in OUTCOMES}
    print(f"{'total':18s}" + "".join(f"{total[o]:>11d}" for o in OUTCOMES))
    return 1 if any(total[o] for o in FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
