"""Issue 11 item 1: fusion levels are declared per architecture (``architecture_info.fusion``).

gemmini: DRAM / Accumulator / Registers with today's rules (every storage level above the
fusion level constrained); pim: the seed's transformer_pim/run.py levels DRAM / shared_glb /
scratchpad, where only those listed levels above the fusion level are constrained.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from dse.errors import DseError
from dse.pipeline import LayerJob, fusion_constraints, prepare, run_layer
from dse.spec.library import fusion_rules
from dse.spec.types import FactorConstraint

ROOT = Path(__file__).resolve().parents[1]
F = FactorConstraint


def _fusion(prep, level):
    return [c for c in prep.constraints if c.source == f"fusion at {level}"]


def test_declared_levels():
    assert fusion_rules("gemmini").levels == ("DRAM", "Accumulator", "Registers")
    pim = fusion_rules("pim")
    assert pim.levels == ("DRAM", "shared_glb", "scratchpad") and pim.storage_level("scratchpad") == "cell"
    assert fusion_rules("eyeriss") is None


def test_gemmini_rules_as_before():
    prep = prepare(LayerJob("KQV", fusion_level="Accumulator"))
    got = {(c.target, c.type, c.factors, c.bypass, c.permutation) for c in _fusion(prep, "Accumulator")}
    d1e1 = (F("D", "=", 1), F("E", "=", 1))
    assert got == {("DRAM", "temporal", d1e1, None, None),
                   ("Scratchpad", "temporal", d1e1, None, None), ("Scratchpad", "dataspace", (), ("Outputs",), None),
                   ("Accumulator", "temporal", (), None, ("E", "D", "L"))}


def test_pim_shared_glb_constrains_only_the_seeds_levels_above():
    prep = prepare(LayerJob("KQV", arch="pim", fusion_level="shared_glb", no_edge_fusion=False, l_fusion=True))
    got = {(c.target, c.type, c.factors, c.permutation) for c in _fusion(prep, "shared_glb")}
    # DRAM: D=1, E=1 (and L=1 with -lf); DRAM keeps everything (outermost); shared_glb: [E, D, L]
    assert got == {("DRAM", "temporal", (F("D", "=", 1), F("E", "=", 1), F("L", "=", 1)), None),
                   ("shared_glb", "temporal", (), ("E", "D", "L"))}
    out = run_layer(LayerJob("KQV", arch="pim", fusion_level="shared_glb"))
    assert out.ok, out.reason
    dram = [ln for ln in out.mapping_text.splitlines() if ln.startswith("DRAM")][0]
    assert " D" not in dram.split("keep")[0] and " E" not in dram.split("keep")[0], dram


def test_pim_scratchpad_is_the_weight_cells_and_skips_unlisted_levels():
    prep = prepare(LayerJob("KQV", arch="pim", fusion_level="scratchpad", pwim=False))
    cons = _fusion(prep, "scratchpad")
    assert {c.target for c in cons if c.factors} == {"DRAM", "shared_glb"}  # not row_drivers / column_readout
    assert {c.target for c in cons if c.bypass} == {"shared_glb"}
    assert [c.target for c in cons if c.permutation] == ["cell"]


def test_unknown_level_lists_the_architectures_own(tmp_path):
    for args, levels in ((["KQV", "Accumulator", "--arch", "pim"], "DRAM, shared_glb, scratchpad"),
                         (["KQV", "shared_glb"], "DRAM, Accumulator, Registers")):
        r = subprocess.run([sys.executable, str(ROOT / "run.py"), *args, "-o", str(tmp_path / "x")],
                           capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 2 and levels in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not (tmp_path / "x").exists()
    with pytest.raises(DseError) as info:
        run_layer(LayerJob("KQV", arch="eyeriss", fusion_level="DRAM"))
    assert "declares no fusion levels" in str(info.value)


def test_hwdse_parses_the_architectures_levels():
    from dse.cli.hwdse_cmd import parse_targets

    assert parse_targets(["KQV", "FF1", "shared_glb"], False, "pim") == (["KQV", "FF1"], "shared_glb")
    assert parse_targets(["KQV", "Accumulator"], False, "gemmini") == (["KQV"], "Accumulator")
    with pytest.raises(DseError) as info:
        parse_targets(["KQV", "shared_glb"], False, "gemmini")
    assert "Accumulator" in info.value.accepted


def test_user_spec_accepts_its_own_storage_levels():
    ref = Path(__file__).parent / "data" / "reference" / "transformer_gemmini"
    files = tuple(str(f) for f in (ref / "arch" / "system_gemmini.yaml", ref / "arch" / "components",
                                   ref / "constraints" / "constraints.yaml", ref / "mapper" / "variables.yaml"))
    prep = prepare(LayerJob("KQV", spec_files=files, fusion_level="Scratchpad"))  # not a gemmini level, but a storage level
    assert {c.target for c in _fusion(prep, "Scratchpad") if c.factors} == {"DRAM"}
    with pytest.raises(DseError) as info:
        prepare(LayerJob("KQV", spec_files=files, fusion_level="shared_glb"))
    assert info.value.accepted.startswith("DRAM, Scratchpad, Accumulator, Registers")


def test_pim_fused_mapping_counts_match_the_simulator():
    """A small KQV-shaped GEMM on a 4x4 PIM crossbar, fused at shared_glb with pim's declared rules:
    the best mapping obeys them and every read/fill/update count equals the brute-force simulator's."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_model_sim import compare, gemm

    from dse.mapper.search import search
    from dse.model.nest import make_context
    from dse.pipeline import energies_for, load_mapper_options

    prep = prepare(LayerJob("KQV", arch="pim", config={"pe_rows": 4, "pe_cols": 4, "rf_size": 16}))
    wl = gemm(8, 8, 4)
    spec = replace(prep.spec, workload=wl)
    job = LayerJob("KQV", arch="pim", fusion_level="shared_glb")
    cons = tuple(spec.constraints) + fusion_constraints(spec, job, fusion_rules("pim"), "pim")
    energies, _, _ = energies_for(spec, None)
    ctx = make_context(spec.architecture, wl, energies)
    res = search(ctx, cons, load_mapper_options("exhaustive"))
    mapping = res.best.mapping
    dram = mapping.level("DRAM")
    assert all(f == 1 for d, f in dram.loops if d in ("D", "E"))
    assert not compare(spec.architecture, wl, mapping)


def test_user_spec_point_wise_layers_get_the_seeds_no_rule():
    """softmax on the seed's own gemmini NO spec fused at Accumulator: the levels above bypass Inputs (the seed's
    run.py NO branch, its Scratchpad special case included); no factor constraints."""
    ref = Path(__file__).parent / "data" / "reference" / "transformer_gemmini"
    files = tuple(str(f) for f in (ref / "arch" / "system_gemmini_NOs.yaml", ref / "arch" / "components",
                                   ref / "constraints" / "constraints_NOs.yaml", ref / "mapper" / "variables.yaml"))
    prep = prepare(LayerJob("softmax", spec_files=files, fusion_level="Accumulator"))
    fused = _fusion(prep, "Accumulator")
    assert [(c.target, c.bypass, c.factors) for c in fused] == [("Scratchpad", ("Inputs",), ())]
    (sp,) = [c for c in prep.constraints if c.target == "Scratchpad" and c.type == "dataspace" and not c.source.startswith("fusion")]
    assert "Inputs" not in sp.keep and "Inputs" in sp.bypass  # the spec's own keep, edited as the seed's script does


@pytest.mark.parametrize("nef", [False, True], ids=["E=1", "nef"])
def test_seed_pim_spec_fused_at_shared_glb_counts_match_the_simulator(nef):
    """The seed's own transformer_pim spec (its YAML and constraints, loaded with --spec rules), fused at
    shared_glb as its run.py does, on a small GEMM: the best mapping obeys the fusion factors and every
    read/fill/update count of the model equals the brute-force simulator's."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_model_sim import compare, gemm

    from dse.mapper.search import search
    from dse.model.nest import make_context
    from dse.pipeline import energies_for, load_mapper_options
    from dse.spec.loader import load_spec

    ref = Path(__file__).parent / "data" / "reference" / "transformer_pim"
    spec = load_spec([ref / "arch" / "system_PIM.yaml", ref / "arch" / "components",
                      ref / "constraints" / "constraints.yaml", ref / "mapper" / "variables.yaml"])
    wl = gemm(32, 64, 4)  # E, D, L
    spec = replace(spec, workload=wl)
    job = LayerJob("KQV", fusion_level="shared_glb", no_edge_fusion=nef)
    cons = tuple(spec.constraints) + fusion_constraints(spec, job)
    energies, _, _ = energies_for(spec, None)
    res = search(make_context(spec.architecture, wl, energies), cons, load_mapper_options("default"))
    dram = res.best.mapping.level("DRAM")
    assert dram.factor("D") == 1 and (nef or dram.factor("E") == 1)
    assert not compare(spec.architecture, wl, res.best.mapping)
