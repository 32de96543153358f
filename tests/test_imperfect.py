"""Imperfect factorization (Timeloop's ruby residuals): model vs brute-force simulator, mapping I/O, mapper."""
import random

import pytest

from dse.errors import MappingError
from dse.spec.mapping import (Mapping, SpatialMapping, TemporalMapping, dump_mapping_yaml, mapping_from_dict,
                              validate_mapping)

from loopsim import simulate
from test_model_sim import ARCHS, DS, compare, gemm

import yaml


def _slots(arch):
    """Nest order, outer to inner: ('T', level name) / ('S', fan-out name)."""
    out = []
    for n in arch.nodes:
        if n in arch.storage_levels:
            out.append(("T", n.name))
        elif n in arch.spatial_levels:
            out.append(("S", n.name))
    return out


def _split(n, parts, rng):
    out = []
    for _ in range(parts - 1):
        f = rng.choice([d for d in range(1, n + 1) if n % d == 0])
        out.append(f)
        n //= f
    out.append(n)
    rng.shuffle(out)
    return out


def random_imperfect(arch, wl, rng):
    """Every dim with an awkward bound gets a residual loop; factors honour fan-out sizes."""
    slots = _slots(arch)
    fan = {f.name: f for f in arch.spatial_levels}
    while True:
        fac = {}  # (slot index, dim) -> (factor, residual)
        ok = True
        for d in wl.dimensions:
            n = wl.bounds[d]
            y = rng.randrange(1, len(slots))
            kind = slots[y][0]
            inner = list(range(y + 1, len(slots)))
            divs = [i for i in range(1, n + 1) if n % i == 0]
            I = rng.choice(divs) if inner else 1
            Q = n // I
            cands = [(P, -(-Q // P), Q - (-(-Q // P) - 1) * P) for P in range(2, Q)]
            cands = [(P, N, r) for P, N, r in cands if N >= 2 and r < P and r >= (1 if kind == "S" else 2)]
            if not cands or rng.random() < 0.2:
                parts = _split(n, len(slots), rng)
                for i, v in enumerate(parts):
                    fac[(i, d)] = (v, None)
                continue
            P, N, r = rng.choice(cands)
            fac[(y, d)] = (P, r)
            for i, v in zip(inner, _split(I, len(inner), rng) if inner else []):
                fac[(i, d)] = (v, None)
            outer = list(range(y))
            for i, v in zip(outer, _split(N, len(outer), rng)):
                fac[(i, d)] = (v, None)
        temporal, spatial = [], []
        for i, (kind, name) in enumerate(slots):
            items = [(d, *fac.get((i, d), (1, None))) for d in wl.dimensions]
            items = [x for x in items if x[1] > 1]
            res = tuple((d, r) for d, f, r in items if r is not None)
            if kind == "T":
                rng.shuffle(items)
                keep = frozenset(DS) if i == 0 else frozenset(ds for ds in DS if rng.random() < 0.7)
                temporal.append(TemporalMapping(name, tuple((d, f) for d, f, _ in items), keep, res))
            else:
                x, y_, px, py = [], [], 1, 1
                for d, f, _ in items:
                    if px * f <= fan[name].fanout_x:
                        x.append((d, f))
                        px *= f
                    elif py * f <= fan[name].fanout_y:
                        y_.append((d, f))
                        py *= f
                    else:
                        ok = False
                spatial.append(SpatialMapping(name, tuple(x), tuple(y_), res))
        if ok and any(k[1] is not None for k in fac.values()):
            m = Mapping(tuple(temporal), tuple(spatial))
            try:
                validate_mapping(m, arch, wl)
            except MappingError:
                continue
            return m


CASES = []
_rng = random.Random(7)
for _i in range(40):
    _name = ("two", "three", "three2")[_i % 3]
    _bounds = tuple(_rng.choice((5, 6, 7, 9, 10, 11)) for _ in range(3))
    CASES.append((_i, _name, _bounds, random_imperfect(ARCHS[_name], gemm(*_bounds), _rng)))


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}-{'x'.join(map(str, c[2]))}" for c in CASES])
def test_imperfect_model_equals_simulator(case):
    _, name, bounds, mapping = case
    assert any(t.residuals for t in mapping.temporal) or any(s.residuals for s in mapping.spatial)
    mism = compare(ARCHS[name], gemm(*bounds), mapping)
    assert not mism, "\n".join(mism) + f"\nmapping: {mapping}"
