"""The shipped architecture library (arch/<name>/): acceptance matrix, knobs, bad input.

Acceptance (issue 5): for every shipped architecture and every layer it runs, BERT-base
seq 512 and BERT-large seq 4096 map validly and the results are sane.
"""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

from dse.energy import estimate
from dse.errors import DseError, OutOfRangeError
from dse.pipeline import LayerJob, prepare, run_layer
from dse.spec.library import knobs_of, list_architectures, resolve_architecture
from dse.spec.loader import load_spec
from dse.workloads import layer_variables, make_layer

SHIPPED = ["aimc", "dimc", "eyeriss", "gemmini", "gemmini_NOs", "gemmini_seed", "gemmini_seed_NOs", "pim", "pim_NOs", "simba", "tpu"]
NO_UNITS = ("gemmini_NOs", "gemmini_seed_NOs", "pim_NOs")
MATMULS = ["KQV", "KTQ", "VScores", "Out", "FF1", "FF2"]
# compute instances at the default knobs, from the reference designs (independent of our loader)
PES = {"gemmini": 16 * 16, "gemmini_NOs": 1, "gemmini_seed": 16 * 16, "gemmini_seed_NOs": 1, "pim_NOs": 1, "eyeriss": 14 * 12, "simba": 16 * 4 * 4, "tpu": 256 * 256,
       "pim": 128 * 128, "aimc": 32 * 32, "dimc": 32 * 32}
CASES = [(a, l, m, s) for a in SHIPPED for l in (["softmax", "layernorm"] if a in NO_UNITS else MATMULS)
         for m, s in (("bert-base", 512), ("bert-large", 4096))]


def test_shipped_list():
    assert list_architectures() == SHIPPED
    for a in SHIPPED:
        b = resolve_architecture(a)
        assert b.layers == (("softmax", "layernorm") if a in NO_UNITS else tuple(MATMULS))
        assert (b.directory / "README.md").exists(), f"{a} has no README.md"
        for k in knobs_of(a).values():
            assert k.meaning, f"{a}.{k.name} has no meaning"


def _compute_energy_pj(job: LayerJob) -> tuple[float, int]:
    prep = prepare(job)
    comp = prep.ctx.arch.compute
    return prep.tables.energy_pj(comp.name, "compute"), prep.ctx.compute_instances


@pytest.mark.parametrize("arch,layer,model,seq", CASES, ids=[f"{a}-{l}-{m}" for a, l, m, _ in CASES])
def test_acceptance_matrix(arch, layer, model, seq):
    job = LayerJob(layer, arch=arch, model=model, seq_len=seq)
    out = run_layer(job)
    assert out.ok, out.reason
    macs = make_layer(model, layer, seq, 1).macs_per_instance
    mac_pj, pes = _compute_energy_pj(job)
    assert pes == PES[arch]
    assert out.macs == macs
    assert 0 < out.utilization <= 1.0 + 1e-9
    assert out.energy_pj >= macs * mac_pj * (1 - 1e-9)
    assert out.cycles >= math.ceil(macs / pes)


@pytest.mark.parametrize("dataflow,kept", [("WS", "Weights"), ("OS", "Outputs"), ("IS", "Inputs")])
def test_gemmini_dataflows(dataflow, kept):
    out = run_layer(LayerJob("KQV", arch="gemmini", config={"dataflow": dataflow}))
    assert out.ok, out.reason
    regs = [ln for ln in out.mapping_text.splitlines() if ln.startswith("Registers")][0]
    assert f"keep=['{kept}']" in regs
    spatial = "\n".join(ln for ln in out.mapping_text.splitlines() if "(spatial)" in ln)
    want = {"WS": ("D16", "E16"), "OS": ("D16", "L16"), "IS": ("L16", "E16")}[dataflow]
    assert all(w in spatial for w in want), spatial
    assert out.macs == 768 * 2304 * 512


def test_gemmini_rf_size_lets_os_tile_outputs_in_the_pe():
    small = run_layer(LayerJob("KQV", arch="gemmini", config={"dataflow": "OS", "rf_size": 1}))
    big = run_layer(LayerJob("KQV", arch="gemmini", config={"dataflow": "OS", "rf_size": 64}))
    regs = [ln for ln in big.mapping_text.splitlines() if ln.startswith("Registers")][0]
    assert small.ok and big.ok
    # with one entry per PE only the reduction E runs in the PE; with 64 an output tile fits
    assert [ln for ln in small.mapping_text.splitlines() if ln.startswith("Registers")][0].split()[1] == "E768"
    assert any(t.startswith(("D", "L")) for t in regs.split()[1:-1]), regs


def _changed(knob) -> object:
    if knob.choices is not None:
        others = [c for c in knob.choices if c != knob.default]
        return others[0] if others else None
    value = knob.default * 2
    if knob.max is not None and value > knob.max:
        value = knob.default // 2
    return value


def _fingerprint(arch: str, config: dict):
    b = resolve_architecture(arch, config)
    spec = load_spec(list(b.files), variables={**layer_variables("bert-base", 512, 1), **b.values})
    energies = estimate(spec)
    return (repr(spec.architecture), repr(spec.constraints),
            tuple((c.name, tuple(sorted((a, round(e.energy_pj, 12)) for a, e in c.actions.items())),
                   None if c.area is None else round(c.area.area_um2, 9)) for c in energies.components))


# gemmini_seed.rf_size sizes only its companion's register files, as in the seed
# (tests/test_seed_configs.py checks it there and checks it leaves the matmul array alone)
COMPANION_ONLY = {("gemmini_seed", "rf_size")}
KNOB_CASES = [(a, k) for a in SHIPPED for k in knobs_of(a) if (a, k) not in COMPANION_ONLY]


@pytest.mark.parametrize("arch,knob", KNOB_CASES, ids=[f"{a}.{k}" for a, k in KNOB_CASES])
def test_every_knob_changes_the_spec(arch, knob):
    kn = knobs_of(arch)[knob]
    value = _changed(kn)
    if value is None:
        assert kn.choices == (kn.default,)  # a one-choice dataflow: nothing to change
        return
    try:
        changed = _fingerprint(arch, {knob: value})
    except OutOfRangeError:
        # doubling left the energy tables' range (e.g. gemmini_seed_NOs' accumulator, 16384 x 16
        # entries, is already the SRAM table's deepest); halving changes the spec as well
        value = kn.default // 2
        changed = _fingerprint(arch, {knob: value})
    assert changed != _fingerprint(arch, {}), f"{arch}.{knob}={value} changes nothing"


def test_defaults_reproduce_the_reference_specs():
    """gemmini/eyeriss/simba/tpu at default knobs estimate exactly as the reference system_*.yaml."""
    from pathlib import Path

    ref = Path(__file__).parent / "data" / "reference" / "transformer_gemmini"
    for arch in ("gemmini", "eyeriss", "simba"):
        ours = estimate(load_spec(list(resolve_architecture(arch).files), variables=resolve_architecture(arch).values))
        theirs = estimate(load_spec([ref / "arch" / f"system_{arch}.yaml", ref / "arch" / "components",
                                     ref / "mapper" / "variables.yaml"]))
        for c in theirs.components:
            for action, e in c.actions.items():
                assert ours.energy_pj(c.name, action) == pytest.approx(e.energy_pj, rel=1e-9), (arch, c.name, action)


# --------------------------------------------------------------------------- bad input
def test_unknown_architecture_lists_shipped():
    with pytest.raises(DseError) as info:
        resolve_architecture("gemini")
    assert "gemmini" in str(info.value) and all(a in info.value.accepted for a in SHIPPED)


@pytest.mark.parametrize("arch,knob,value,accepted", [
    ("gemmini", "scratchpad_size", 0, ">= 16"),
    ("gemmini", "pe_rows", -4, ">= 1"),
    ("gemmini", "dataflow", "RS", "one of WS, OS, IS"),
    ("pim", "shared_glb_size", 0, ">= 16"),
    ("pim", "use_IMC_as_buffer", "maybe", "one of false, true"),
    ("pim", "pe_cols", 8192, "<= 4096"),
    ("tpu", "dram_type", "DDR5", "one of DDR3, LPDDR4, DDR4, HBM2"),
    ("aimc", "adc_bits", 0, ">= 1"),
])
def test_bad_knob_values_name_knob_and_range(arch, knob, value, accepted):
    with pytest.raises(DseError) as info:
        resolve_architecture(arch, {knob: value})
    assert knob in str(info.value) and knob in info.value.where
    assert accepted in info.value.accepted


def test_unknown_knob_lists_the_knobs():
    with pytest.raises(DseError) as info:
        resolve_architecture("pim", {"pe_row": 64})
    assert "pe_rows" in str(info.value) and "rf_size" in info.value.accepted


def test_run_py_bad_knob_is_a_clean_error(capsys):
    from dse.cli.run_cmd import main

    assert main(["KQV", "--arch", "gemmini", "--set", "dataflow=XS"]) == 2
    err = capsys.readouterr().err
    assert "dataflow" in err and "WS, OS, IS" in err and "Traceback" not in err
    assert main(["softmax", "--arch", "eyeriss"]) == 2  # no companion runs point-wise layers for eyeriss
    assert "does not run layer 'softmax'" in capsys.readouterr().err
