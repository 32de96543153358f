"""Imperfect factorization edge cases: sequence lengths one past a multiple of Gemmini's Registers L=16.

L = 16 k + 1 needs ``Registers: L16,1`` (the last pass runs one iteration) under an outer L of k + 1:
with the '=16' constraint no other one-residual column covers it.  A residual of 1 is exact on the
innermost temporal slot (no storage level has that loop among its steps, so a one-iteration last pass
cannot create reuse the model misses); the brute-force simulator (tests/loopsim.py) confirms it below.
"""
from dataclasses import replace
from math import prod

import pytest
import yaml

from dse.model.energies import ActionEnergies, LevelEnergies
from dse.model.nest import evaluate, make_context
from dse.pipeline import LayerJob, prepare, run_layer

from dse.spec.mapping import Mapping, TemporalMapping

from loopsim import simulate
from test_model_sim import ARCHS, compare, gemm, random_mapping


def _round16(L):
    return -(-L // 16) * 16


@pytest.mark.parametrize("L", [17, 513, 4097])
def test_ktq_seq_16k_plus_1_maps_with_imperfect_factorization(L):
    job = LayerJob("KTQ", seq_len=L, imperfect=True)
    out = run_layer(job)
    assert out.ok, out.reason
    assert "L16,1" in out.mapping_text  # Registers' L=16 with a last pass of one iteration
    prep = prepare(job)
    assert out.macs == prep.ctx.macs == prod(prep.spec.workload.bounds.values())  # no padded MACs
    # never slower than the perfect mapping of L rounded up to a multiple of 16 (which does more work)
    up = run_layer(LayerJob("KTQ", seq_len=_round16(L)))
    assert up.ok and out.cycles <= up.cycles


def test_ktq_seq513_written_mapping_re_evaluates(tmp_path, monkeypatch):
    from dse.spec import mapping as M

    job = LayerJob("KTQ", seq_len=513, imperfect=True)
    out = run_layer(job, tmp_path)
    assert out.ok and out.utilization > 0.9
    assert "for L in [0:16,1)" in (tmp_path / "timeloop-mapper.map.txt").read_text()
    prep = prepare(job)
    data = yaml.safe_load((tmp_path / "timeloop-mapper.map.yaml").read_text())
    # the loader's validation (dse/spec/mapping.py check_factor_products) is exercised apart, below
    monkeypatch.setattr(M, "validate_mapping", lambda *a, **k: None)
    m = M.mapping_from_dict(data, prep.spec.architecture, prep.spec.workload)
    assert m.level("Registers").residual("L") == 1
    r = evaluate(prep.ctx, m)
    assert r.cycles == out.cycles and r.energy_pj == pytest.approx(out.energy_pj)


def test_ktq_seq513_written_mapping_loads(tmp_path):
    from dse.spec.mapping import load_mapping

    job = LayerJob("KTQ", seq_len=513, imperfect=True)
    assert run_layer(job, tmp_path).ok
    prep = prepare(job)
    load_mapping(tmp_path / "timeloop-mapper.map.yaml", prep.spec.architecture, prep.spec.workload)


@pytest.mark.parametrize("E,D,L", [(2, 3, 17), (3, 2, 33), (2, 17, 17)])
def test_small_gemmini_residual_one_matches_simulator(E, D, L):
    """Search a tiny KTQ on the real Gemmini arch and constraints; counts, cycles, ops and energy of the
    best mapping (which has L16,1) equal the brute-force loop-nest simulator's."""
    from dse.mapper.search import search

    prep = prepare(LayerJob("KTQ", seq_len=L, imperfect=True))
    arch = prep.spec.architecture
    wl = replace(prep.spec.workload, bounds={**prep.spec.workload.bounds, "E": E, "D": D, "L": L})
    ds_names = [ds.name for ds in wl.data_spaces]
    # per-scalar energies (distinct per level and data space), no leakage: energy = sum(counts x pJ)
    pj = {l.name: {ds: 1.0 + 10 * k + s for s, ds in enumerate(ds_names)} for k, l in enumerate(arch.storage_levels)}
    energies = ActionEnergies({n: LevelEnergies(scalar_pj=v) for n, v in pj.items()}, 0.25)
    ctx = make_context(arch, wl, energies)
    res = search(ctx, prep.constraints, prep.options, imperfect=True)
    m = res.best.mapping
    assert m.level("Registers").residual("L") == 1 and m.level("Registers").factor("L") == 16
    assert not compare(arch, wl, m)  # reads/fills/updates/tiles/partitions and compute cycles
    sim = simulate(arch, wl, m)
    assert sim["ops"] == wl.macs == E * D * L
    expect = wl.macs * 0.25 + sum(sum(sim[(n, ds)][a] for a in ("reads", "fills", "updates")) * pj[n][ds]
                                  for n in pj for ds in ds_names if ds in m.level(n).keep)
    r = evaluate(ctx, m)
    assert r.energy_pj == pytest.approx(expect, rel=1e-9)
    assert r.macs == wl.macs


def _innermost_residual_one(arch, rng):
    """A random mapping of gemm(E, D, L = (N-1) P + 1) whose innermost level runs ``L P,1``."""
    E, D, N, P = rng.choice((2, 3, 4, 6)), rng.choice((2, 3, 5, 6)), rng.choice((2, 3, 4, 6)), rng.randrange(2, 7)
    base = random_mapping(arch, gemm(E, D, N), rng)  # the outer loops of L factor N
    t = list(base.temporal)
    inner = t[-1]
    moved = [(d, f) for d, f in inner.loops if d == "L"]
    if moved:  # keep L's loops at the innermost level outside the residual loop: move them to DRAM
        t[0] = replace(t[0], loops=t[0].loops + tuple(moved))
    loops = [(d, f) for d, f in inner.loops if d != "L"]
    loops.insert(rng.randrange(len(loops) + 1), ("L", P))
    t[-1] = TemporalMapping(inner.target, tuple(loops), inner.keep, (("L", 1),))
    return gemm(E, D, (N - 1) * P + 1), Mapping(tuple(t), base.spatial)


@pytest.mark.parametrize("seed", range(24))
def test_residual_one_on_innermost_level_matches_simulator(seed):
    import random

    rng = random.Random(seed)
    name = ("two", "three", "three2")[seed % 3]
    wl, m = _innermost_residual_one(ARCHS[name], rng)
    mism = compare(ARCHS[name], wl, m)
    assert not mism, "\n".join(mism) + f"\nmapping: {m}"
