"""dse infer speed: GPT-2 prefill + decode on Gemmini 16x16 and 32x32 (P=512, G=128, batch 1 and 8).

Usage: python benchmarks/infer.py [--jobs 2] [--models gpt2 gpt2-medium] [--batches 1 8]
       [--arrays 'gemmini 16x16' 'gemmini 32x32'] [--exact]

Each row is one ``dse.infer.simulate`` from scratch (fresh worker processes, nothing cached):
TTFT, mean ms per decode step, decode J per token, how many contexts were mapped for the
decode attention layers, the interpolation bound, the wall time and the CPU time (this
process and its workers).  Target: each row < 30 s wall on 2 cores.  ``--exact`` also maps
every decode step and prints the interpolation's actual error next to its bound.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tabulate import tabulate  # noqa: E402

from dse.infer import InferRequest, Target, simulate  # noqa: E402

ARRAYS = {"gemmini 16x16": {}, "gemmini 32x32": {"pe_rows": 32, "pe_cols": 32}}


def _cpu_s() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=["gpt2", "gpt2-medium"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--generate", type=int, default=128)
    ap.add_argument("--arrays", nargs="+", choices=list(ARRAYS), default=list(ARRAYS))
    ap.add_argument("--exact", action="store_true", help="also map every decode step and report the actual error")
    args = ap.parse_args()
    rows = []
    for model in args.models:
        for arch, knobs in ((a, ARRAYS[a]) for a in args.arrays):
            for batch in args.batches:
                req = InferRequest(model, args.prompt, args.generate, batch, Target.make("gemmini", knobs),
                                   workers=args.jobs)
                cpu0, t0 = _cpu_s(), time.monotonic()
                res = simulate(req)
                wall, cpu = time.monotonic() - t0, _cpu_s() - cpu0
                s = res.summary
                row = [model, arch, batch, f"{s.ttft_s * 1e3:.2f}", f"{s.mean_token_s * 1e3:.3f}",
                       f"{s.energy_per_token_pj * 1e-12:.4g}", f"{s.decode_tokens_per_s:.1f}",
                       f"{100 * s.kv_dram_share:.1f}", f"{s.mapped_contexts}/{s.decode_steps}",
                       f"{100 * s.bound_cycles / s.decode_cycles:.2f}/{100 * s.bound_energy_pj / s.decode_energy_pj:.2f}",
                       s.mapper_jobs, f"{wall:.1f}", f"{cpu:.1f}"]
                if args.exact:
                    ex = simulate(InferRequest(model, args.prompt, args.generate, batch, Target.make("gemmini", knobs),
                                               exact_decode=True, workers=args.jobs))
                    row.append(f"{100 * abs(ex.summary.decode_cycles - s.decode_cycles) / ex.summary.decode_cycles:.3f}/"
                               f"{100 * abs(ex.summary.decode_energy_pj - s.decode_energy_pj) / ex.summary.decode_energy_pj:.3f}")
                rows.append(row)
                print(tabulate([row], tablefmt="plain"), flush=True)
    headers = ["model", "array", "batch", "TTFT ms", "ms/token", "J/token", "tokens/s", "KV % DRAM",
               "mapped ctx", "bound % cyc/energy", "shapes", "wall s", "CPU s"]
    if args.exact:
        headers.append("actual err % cyc/energy")
    print()
    print(f"P={args.prompt}, G={args.generate}, {args.jobs} worker processes; ms/token = mean decode step "
          "(one token per sequence); J/token = decode energy per generated token")
    print(tabulate(rows, headers=headers, disable_numparse=True, tablefmt="github"))


if __name__ == "__main__":
    main()
