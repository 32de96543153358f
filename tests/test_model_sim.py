"""The analytical model against the brute-force loop-nest simulator (tests/loopsim.py).

Seeded random small GEMM mappings on 2- and 3-level architectures with fan-outs:
every read/fill/update total, tile and partition must match exactly.
"""
import random

import pytest

from dse.model.energies import ActionEnergies
from dse.model.nest import batch_from_mappings, evaluate_batch, make_context
from dse.spec.mapping import Mapping, SpatialMapping, TemporalMapping
from dse.spec.types import Architecture, ComputeLevel, DataSpace, SpatialLevel, StorageLevel, Workload

from loopsim import simulate

DS = ("Weights", "Inputs", "Outputs")


def gemm(E, D, L):
    return Workload("gemm", ("E", "D", "L"), {"E": E, "D": D, "L": L}, {}, (
        DataSpace("Weights", ((("E", None),), (("D", None),))),
        DataSpace("Inputs", ((("E", None),), (("L", None),))),
        DataSpace("Outputs", ((("D", None),), (("L", None),)), read_write=True)))


def storage(name, inst, mx=1, my=1):
    return StorageLevel(name, "SRAM", {}, inst, mx, my, None, 8, 1, None)


ARCHS = {
    # DRAM -> 4x2 -> Buffer -> MAC
    "two": Architecture("two", (storage("DRAM", 1), SpatialLevel("F", 4, 2), storage("Buffer", 8, 4, 2),
                                ComputeLevel("MAC", "intmac", {}, 8, 4, 2))),
    # DRAM -> GLB -> 2x2 -> RF -> MAC
    "three": Architecture("three", (storage("DRAM", 1), storage("GLB", 1), SpatialLevel("F", 2, 2),
                                    storage("RF", 4, 2, 2), ComputeLevel("MAC", "intmac", {}, 4, 2, 2))),
    # DRAM -> 2x1 -> GLB -> 2x2 -> RF -> MAC
    "three2": Architecture("three2", (storage("DRAM", 1), SpatialLevel("F0", 2, 1), storage("GLB", 2, 2, 1),
                                      SpatialLevel("F1", 2, 2), storage("RF", 8, 4, 2),
                                      ComputeLevel("MAC", "intmac", {}, 8, 4, 2))),
}


def _split(n, parts, rng):
    """A random ordered factorization of n into `parts` factors."""
    out = []
    for _ in range(parts - 1):
        divs = [d for d in range(1, n + 1) if n % d == 0]
        f = rng.choice(divs)
        out.append(f)
        n //= f
    out.append(n)
    rng.shuffle(out)
    return out


def random_mapping(arch, wl, rng):
    """Spatial factors first (each fan-out gets random divisors that fit), then temporal splits and orders."""
    levels = arch.storage_levels
    remaining = dict(wl.bounds)
    spatial = []
    for f in arch.spatial_levels:
        x, y, px, py = [], [], 1, 1
        dims = list(wl.dimensions)
        rng.shuffle(dims)
        for d in dims:
            for axis in ("x", "y"):
                cap = f.fanout_x // px if axis == "x" else f.fanout_y // py
                cands = [v for v in range(2, remaining[d] + 1) if remaining[d] % v == 0 and v <= cap]
                if cands and rng.random() < 0.5:
                    v = rng.choice(cands)
                    (x if axis == "x" else y).append((d, v))
                    remaining[d] //= v
                    if axis == "x":
                        px *= v
                    else:
                        py *= v
        spatial.append(SpatialMapping(f.name, tuple(x), tuple(y)))
    fac = {d: _split(remaining[d], len(levels), rng) for d in wl.dimensions}
    temporal = []
    for k, lvl in enumerate(levels):
        loops = [(d, fac[d][k]) for d in wl.dimensions if fac[d][k] > 1]
        rng.shuffle(loops)
        keep = frozenset(DS) if k == 0 else frozenset(ds for ds in DS if rng.random() < 0.7)
        temporal.append(TemporalMapping(lvl.name, tuple(loops), keep))
    return Mapping(tuple(temporal), tuple(spatial))


def compare(arch, wl, mapping):
    ctx = make_context(arch, wl, ActionEnergies({}, 0.0))
    res = evaluate_batch(ctx, batch_from_mappings(ctx, [mapping]))
    sim = simulate(arch, wl, mapping)
    mismatches = []
    for k, lvl in enumerate(ctx.levels):
        inst = float(res.instances[0, k])
        for s, ds in enumerate(ctx.ds_names):
            if ds not in mapping.level(lvl.name).keep:
                continue
            got = sim[(lvl.name, ds)]
            model = {"reads": res.reads[0, k, s] * inst, "fills": res.fills[0, k, s] * inst,
                     "updates": res.updates[0, k, s] * inst, "tile": res.tile[0, k, s],
                     "partition": res.partition[0, k, s] * inst}
            for key, v in model.items():
                if round(float(v), 6) != got[key]:
                    mismatches.append(f"{lvl.name}.{ds}.{key}: model {float(v):g} sim {got[key]}")
    macs_per_cycle = float(res.utilized_compute[0])
    # Timeloop counts the padded temporal space (equal to the distinct steps of a perfect mapping)
    steps = sim["padded_time_steps"]
    if batch_from_mappings(ctx, [mapping]).imperfect is False and steps != sim["time_steps"]:
        mismatches.append(f"perfect mapping: padded steps {steps} != distinct steps {sim['time_steps']}")
    if round(float(res.compute_cycles[0]), 6) != steps:
        mismatches.append(f"compute cycles: model {float(res.compute_cycles[0]):g} sim {steps} "
                          f"(utilized compute {macs_per_cycle:g})")
    assert sim["ops"] == ctx.macs
    return mismatches


CASES = []
_rng = random.Random(2024)
for _i in range(30):
    _name = ("two", "three", "three2")[_i % 3]
    _bounds = tuple(_rng.choice((2, 3, 4, 6, 8)) for _ in range(3))
    _wl = gemm(*_bounds)
    CASES.append((_i, _name, _bounds, random_mapping(ARCHS[_name], _wl, _rng)))


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}-{'x'.join(map(str, c[2]))}" for c in CASES])
def test_model_equals_simulator(case):
    _, name, bounds, mapping = case
    mism = compare(ARCHS[name], gemm(*bounds), mapping)
    assert not mism, "\n".join(mism) + f"\nmapping: {mapping}"
