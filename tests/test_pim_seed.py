"""Issue 11 item 2: the seed's PIM normalization unit as pim's companion, PIM's IS dataflow,
and the seed's transformer_pim/hw_configs.json over all 8 layers.

Expected values come from the seed's transformer_pim/hwdse_run.py rules (quoted), by hand.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dse.hwdse.configs import validate_configs
from dse.hwdse.plan import SweepSettings, make_jobs, route_layers, validate_companions
from dse.pipeline import LayerJob, prepare, run_layer
from dse.spec.types import FactorConstraint

SEED_PIM = json.loads((Path(__file__).parent / "data" / "reference" / "transformer_pim" / "hw_configs.json").read_text())
LAYERS = ["KQV", "KTQ", "VScores", "Out", "FF1", "FF2", "softmax", "layernorm"]


def test_seed_pim_configs_route_all_eight_layers():
    routes = route_layers("pim", LAYERS)
    assert {r.layer: r.arch for r in routes} == {**{l: "pim" for l in LAYERS[:6]}, "softmax": "pim_NOs",
                                                  "layernorm": "pim_NOs"}
    validate_configs(SEED_PIM, "pim", "hw_configs.json")
    validate_companions(SEED_PIM, routes, "hw_configs.json")
    assert len(make_jobs(SEED_PIM, SweepSettings(arch="pim"), routes)) == 8 * len(SEED_PIM)


@pytest.mark.parametrize("idx", range(len(SEED_PIM)))
def test_pim_normalization_unit_is_the_seeds(idx):
    cfg = SEED_PIM[idx]
    (job,) = make_jobs([cfg], SweepSettings(arch="pim", model="bert-large", seq_len=4096), route_layers("pim", ["softmax"]))
    prep = prepare(job.layer_job())
    arch, cons = prep.spec.architecture, prep.constraints
    glb = arch.node("shared_glb")
    # buf.attributes["entries"] = shared_glb_size; depth = entries // (width // datawidth)
    assert glb.attributes["entries"] == cfg["shared_glb_size"]
    assert glb.attributes["depth"] == cfg["shared_glb_size"] // (128 // 8)
    assert glb.read_bandwidth == glb.write_bandwidth == cfg["shared_glb_bandwidth"]
    imc = arch.node("IMC_as_buffer")
    assert imc.read_bandwidth == imc.write_bandwidth == cfg["IMC_buffer_bandwidth"]
    for name in ("Registers_Inputs", "Registers_Outputs"):
        lvl = arch.node(name)
        assert lvl.attributes["depth"] == lvl.attributes["entries"] == cfg["rf_size"]
    (ri,) = [c for c in cons if c.target == "Registers_Inputs" and c.type == "temporal"]
    assert set(ri.factors) == {FactorConstraint("E", "=", cfg["rf_size"]), FactorConstraint("L", "=", 1)}
    (mx,) = [c for c in cons if c.target == "shared_glb" and c.maximize_dims]
    assert mx.extra["maximize_dims_capacity"] == cfg["shared_glb_size"] // (cfg["rf_size"] * 2)
    assert arch.compute.component_class == "free_compute"


def test_pim_softmax_and_layernorm_run_on_the_companion():
    for layer in ("softmax", "layernorm"):
        out = run_layer(LayerJob(layer, arch="pim", model="bert-base", seq_len=128))
        assert out.ok, out.reason
        assert any("pim_NOs" in n for n in out.notes)


def test_pim_is_dataflow_keeps_inputs_in_the_cells():
    cfg = {"dataflow": "IS", "pe_rows": 16, "pe_cols": 8}
    prep = prepare(LayerJob("KQV", arch="pim", config=cfg, model="bert-base", seq_len=128))
    (sp,) = [c for c in prep.constraints if c.target == "crossbar" and c.type == "spatial"]
    # IS_row_spatial [L=1, D=1, E>=pe_rows//2], IS_col_spatial [E=1, D=1, L>=pe_cols//2]
    assert {f for f in sp.factors} == {FactorConstraint("D", "=", 1), FactorConstraint("E", ">=", 8),
                                       FactorConstraint("L", ">=", 4)}
    out = run_layer(LayerJob("KQV", arch="pim", config=cfg, model="bert-base", seq_len=128))
    assert out.ok, out.reason
    cell = [ln for ln in out.mapping_text.splitlines() if ln.startswith("cell")][0]
    assert "keep=['Inputs']" in cell


def test_pim_normalization_fusion_bypasses_inputs_above():
    prep = prepare(LayerJob("softmax", arch="pim", fusion_level="scratchpad", model="bert-base", seq_len=128))
    fused = [c for c in prep.constraints if c.source == "fusion at scratchpad"]
    # the seed's NO branch at scratchpad: DRAM (outermost: keeps all) and shared_glb bypass Inputs
    assert [(c.target, c.bypass) for c in fused] == [("shared_glb", ("Inputs",))]
    assert run_layer(LayerJob("softmax", arch="pim", fusion_level="scratchpad", model="bert-base", seq_len=128)).ok
