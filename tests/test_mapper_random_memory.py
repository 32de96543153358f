"""The random mappers (presets ``random`` = random_pruned, ``timeloop_reference`` = hybrid) in bounded memory.

They used to list the whole pruned factor space (``enumerate_factors``: 9.7 GiB for eyeriss KQV,
54 GiB for simba FF1 at bert-base seq 512) and every loop-order combination of a batch before
sampling.  They now draw factorizations dimension by dimension (capacity/fan-out pruned) and
loop orders per mapping, so memory is O(batch) whatever the size of the map-space.

The heavy cases run in one child process with a 4 GiB address-space limit, so a regression fails
fast with a MemoryError instead of swapping the machine; inside it the tracemalloc peak of each
search (numpy buffers included) is measured.  Bound: 256 MiB.  By construction the largest
arrays are the per-dimension factorization lists (simba FF1 D: 50k x 9 slots), the listed
small pools (<= 131072 rows x slots x dims x 8 B, 75 MiB for simba) and a candidate block of
256 rows x 32 candidates x slots x dims x 8 B (5 MiB); measured peaks are 11-50 MiB.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dse.errors import NoValidMappingError
from dse.mapper.search import search
from dse.model.nest import make_context
from dse.spec.types import Constraint, MapperOptions

ROOT = Path(__file__).resolve().parent.parent
PEAK_BOUND_MIB = 256
SEARCH_SIZE = 300
CASES = [(arch, layer, mapper) for arch, layer in (("eyeriss", "KQV"), ("simba", "FF1"), ("tpu", "FF1"))
         for mapper in ("random", "timeloop_reference")]
TWICE = {("eyeriss", "KQV", "random"), ("simba", "FF1", "timeloop_reference")}  # determinism: run again

CHILD = r"""
import json, resource, sys, tracemalloc
from dataclasses import replace
try:
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
except (ValueError, OSError):
    pass
from dse.pipeline import LayerJob, prepare
from dse.mapper.search import search
from dse.model.nest import evaluate
cases, twice, size = json.loads(sys.argv[1])
for arch, layer, mapper in cases:
    prep = prepare(LayerJob(layer=layer, arch=arch, mapper=mapper))
    opts = replace(prep.options, search_size=size)
    runs = []
    for _ in range(2 if [arch, layer, mapper] in twice else 1):
        tracemalloc.start()
        try:
            res = search(prep.ctx, prep.constraints, opts)
        except MemoryError as err:
            print(json.dumps({"case": [arch, layer, mapper], "error": str(err)[:200]}), flush=True)
            raise SystemExit(0)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        again = evaluate(prep.ctx, res.best.mapping)  # independent re-evaluation of the winner
        runs.append({"peak_mib": peak / 2 ** 20, "algorithm": res.algorithm, "valid": res.valid,
                     "evaluated": res.evaluated, "stopped_by": res.stopped_by, "edp": res.best.edp_j_cycles,
                     "macs": int(res.best.macs), "layer_macs": int(prep.ctx.macs), "best_valid": bool(res.best.valid),
                     "again_valid": bool(again.valid), "again_edp": again.edp_j_cycles,
                     "mapping": repr(res.best.mapping)})
    print(json.dumps({"case": [arch, layer, mapper], "runs": runs}), flush=True)
"""


@pytest.fixture(scope="module")
def results():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    arg = json.dumps([CASES, [list(t) for t in TWICE], SEARCH_SIZE])
    out = subprocess.run([sys.executable, "-c", CHILD, arg], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            got[tuple(rec["case"])] = rec
    return got


@pytest.mark.parametrize("case", CASES, ids=["-".join(c) for c in CASES])
def test_random_presets_bounded_memory_and_valid(results, case):
    rec = results.get(case)
    assert rec is not None, f"{case} did not finish"
    assert "error" not in rec, f"{case}: {rec.get('error')}"
    for run in rec["runs"]:
        assert run["peak_mib"] < PEAK_BOUND_MIB, f"{case}: tracemalloc peak {run['peak_mib']:.0f} MiB"
        assert run["algorithm"] == ("hybrid" if case[2] == "timeloop_reference" else "random_pruned")
        # search_size counts valid mappings; the pruned samples all fit, so none was invalid
        assert run["stopped_by"] == "search_size" and run["valid"] == SEARCH_SIZE
        assert run["best_valid"] and run["again_valid"]
        assert run["macs"] == run["layer_macs"]
        assert run["again_edp"] == pytest.approx(run["edp"], rel=1e-12)


@pytest.mark.parametrize("case", sorted(TWICE), ids=["-".join(c) for c in sorted(TWICE)])
def test_random_presets_are_deterministic(results, case):
    first, second = results[case]["runs"]
    assert first["mapping"] == second["mapping"]
    assert first["edp"] == second["edp"] and first["evaluated"] == second["evaluated"]


def _tpu_ff1():
    from dse.pipeline import LayerJob, prepare

    return prepare(LayerJob(layer="FF1", arch="tpu", mapper="random"))


@pytest.mark.parametrize("algorithm", ["random", "random_pruned", "hybrid"])
def test_timeout_counts_consecutive_invalid_mappings(algorithm):
    # an unreachable utilization floor makes every mapping invalid: each algorithm stops after
    # exactly `timeout` evaluated (invalid) mappings, never evaluating past it
    prep = _tpu_ff1()
    cons = tuple(prep.constraints) + (Constraint(target="", type="utilization", min_utilization=1.5),)
    seen = []
    with pytest.raises(NoValidMappingError) as err:
        search(prep.ctx, cons, MapperOptions(algorithm=algorithm, search_size=1000, timeout=70, seed=3),
               progress=lambda evaluated, valid, best: seen.append((evaluated, valid)))
    assert seen[-1] == (70, 0)
    if algorithm == "random":
        assert "evaluated 70 mappings and none was valid (stopped by timeout)" in err.value.format()


@pytest.mark.parametrize("algorithm", ["random", "random_pruned", "hybrid"])
def test_search_size_and_victory_condition(algorithm):
    prep = _tpu_ff1()
    r = search(prep.ctx, prep.constraints, MapperOptions(algorithm=algorithm, search_size=257, timeout=100000, seed=5))
    assert r.valid == 257 and r.stopped_by == "search_size"
    v = search(prep.ctx, prep.constraints, MapperOptions(algorithm=algorithm, victory_condition=40, timeout=100000,
                                                         seed=5))
    assert v.stopped_by == "victory_condition"
    w = search(prep.ctx, prep.constraints, MapperOptions(algorithm=algorithm, victory_condition=40, timeout=100000,
                                                         seed=6))
    assert (w.best.mapping, w.evaluated) != (v.best.mapping, v.evaluated)  # the seed matters
