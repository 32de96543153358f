"""hwdse aggregation by hand: totals, EDP of the model, multiplicities, infeasible configs, Pareto front."""
from __future__ import annotations

import math

import pytest

from dse.hwdse.aggregate import INCOMPLETE, INFEASIBLE, OK, LayerRow, aggregate, multiplicity
from dse.hwdse.aggregate import Totals
from dse.hwdse.results import ConfigResult, mark_pareto


def row(layer, energy_pj, cycles, util, mult, ok=True, reason=None):
    return LayerRow(layer, "gemmini", ok, reason, mult, energy_pj if ok else None, cycles if ok else 0, util, 0)


def test_totals_by_hand_and_the_reference_bugs():
    # FF1 runs once per block; KTQ once per head (16 heads of BERT-large)
    rows = [row("FF1", 2.0e6, 1000, 0.5, 1), row("KTQ", 1.0e5, 200, 1.0, 16)]
    t = aggregate(rows, ["FF1", "KTQ"])
    assert t.status == OK
    assert t.energy_pj == pytest.approx(2.0e6 + 16 * 1.0e5)  # 3.6e6 pJ
    assert t.cycles == 1000 + 16 * 200  # 4200: layers run one after another
    assert t.edp_j_cycles == pytest.approx(3.6e-6 * 4200)  # 0.01512 J*cycle: total energy x total cycles
    assert t.utilization == pytest.approx((0.5 * 1000 + 1.0 * 3200) / 4200)  # cycle-weighted
    # the seed script: sum of per-layer EDPs, the per-head layer's EDP scaled by HEADS
    seed_edp = 2.0e-6 * 1000 + 16 * (1.0e-7 * 200)
    assert seed_edp == pytest.approx(0.00232)
    assert t.edp_j_cycles == pytest.approx(0.01512) and t.edp_j_cycles / seed_edp == pytest.approx(6.517, rel=1e-3)
    # even for the multi-head layer alone, the right factor is HEADS^2, not HEADS
    alone = aggregate([row("KTQ", 1.0e5, 200, 1.0, 16)], ["KTQ"])
    assert alone.edp_j_cycles == pytest.approx(256 * 1.0e-7 * 200)


def test_multiplicities_from_the_model_catalog():
    # bert-base: 12 heads, 12 blocks; two layernorms per block
    assert multiplicity("bert-base", "KTQ", 128) == 12
    assert multiplicity("bert-base", "softmax", 128) == 12
    assert multiplicity("bert-base", "KTQ", 128, ignore_heads=True) == 1
    assert multiplicity("bert-base", "KTQ", 128, blocks=True) == 12 * 12
    assert multiplicity("bert-base", "KTQ", 128, ignore_heads=True, blocks=True) == 12
    assert multiplicity("bert-base", "FF1", 128) == 1
    assert multiplicity("bert-base", "FF1", 128, blocks=True) == 12
    assert multiplicity("bert-large", "VScores", 4096, blocks=True) == 16 * 24
    assert multiplicity("bert-base", "layernorm", 128, ignore_heads=True) == 2


def test_a_layer_without_mapping_makes_the_config_infeasible_not_inf():
    rows = [row("FF1", 2.0e6, 1000, 0.5, 1), row("KTQ", 0, 0, 0, 16, ok=False, reason="accumulator too small")]
    t = aggregate(rows, ["FF1", "KTQ"])
    assert t.status == INFEASIBLE
    assert "KTQ: accumulator too small" in t.reason
    assert t.energy_pj is None and t.cycles is None and t.edp_j_cycles is None
    assert t.as_dict()["edp_j_cycles"] is None  # nothing numeric leaks into files


def test_missing_layer_is_incomplete():
    t = aggregate([row("FF1", 2.0e6, 1000, 0.5, 1)], ["FF1", "KTQ"])
    assert t.status == INCOMPLETE and "KTQ" in t.reason and t.energy_pj is None


def test_pareto_front_energy_vs_cycles():
    def cr(i, e, c):
        return ConfigResult(i, {"x": i}, [], Totals(OK, None, e, c, e * 1e-12 * c, 1.0, 1))

    results = [cr(0, 10.0, 100), cr(1, 5.0, 200), cr(2, 12.0, 120), cr(3, 5.0, 300), cr(4, 1.0, 1000),
               ConfigResult(5, {"x": 5}, [], Totals(INFEASIBLE, "no mapping"))]
    mark_pareto(results)
    assert [r.index for r in results if r.pareto] == [0, 1, 4]
    assert math.isinf(results[5].totals.metric("edp"))


def test_utilization_covers_the_array_not_the_companion_unit():
    # FF1 on the 16x16 array at 6% for 1000 cycles; softmax on gemmini_NOs at 100% for 12 x 500 cycles
    rows = [row("FF1", 2.0e6, 1000, 0.06, 1),
            LayerRow("softmax", "gemmini_NOs", True, None, 12, 1.0e4, 500, 1.0, 0)]
    t = aggregate(rows, ["FF1", "softmax"], array_arch="gemmini")
    assert t.utilization == pytest.approx(0.06)  # not (0.06 * 1000 + 6000) / 7000 = 0.866
    assert t.cycles == 1000 + 12 * 500 and t.energy_pj == pytest.approx(2.0e6 + 12 * 1.0e4)  # totals keep every layer
    # a sweep of the companion's layers alone reports the companion's utilization
    alone = aggregate(rows[1:], ["softmax"], array_arch="gemmini")
    assert alone.utilization == pytest.approx(1.0)
