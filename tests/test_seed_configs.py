"""Item 0 of issue 11: a seed ``hw_configs.json`` builds exactly the hardware the seed's
``transformer_gemmini/hwdse_run.py`` built.

Every expected value below is computed in the test from the seed script's rules (quoted
next to each check), not read from our architecture files:

- Scratchpad: entries = scratchpad_size, depth = entries // (width // datawidth) = // 16,
  read/write_bandwidth = scratchpad_bandwidth.
- Accumulator, matmul layers: entries = accumulator_size (each of the pe_rows banks:
  meshY = pe_rows), depth = entries // (32 // 32), bandwidth = accumulator_bandwidth.
- Accumulator, softmax/layernorm: entries = accumulator_size * pe_rows (one bank),
  bandwidth = accumulator_bandwidth * pe_rows; maximize_dims_capacity = entries // rf_size.
- rf_size: depth = entries = rf_size of Registers_Inputs/Registers_Outputs only, and
  Registers_Inputs temporal factors E=rf_size, L=1; the matmul PE Registers keep 1 entry.
- OS: PERows [L=1, E=1, D>=pe_rows//2], PECols [E=1, D=1, L>=pe_cols//2], Registers keep
  Outputs; IS: PERows [L=1, D=1, E>=pe_rows//2], PECols [E=1, D=1, L>=pe_cols//2],
  Registers keep Inputs.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dse.errors import DseError
from dse.hwdse.configs import seed_translation
from dse.hwdse.plan import SweepSettings, make_jobs, route_layers
from dse.pipeline import prepare
from dse.spec.types import FactorConstraint

SEED_FILE = Path(__file__).parent / "data" / "reference" / "transformer_gemmini" / "hw_configs.json"
CONFIGS = json.loads(SEED_FILE.read_text())


def _prepared(cfg: dict, layer: str):
    """The prepared job a sweep of ``cfg`` maps ``layer`` with (the sweep's own path)."""
    arch, note = seed_translation("gemmini", [cfg], "auto", "hw_configs.json")
    assert note is not None and arch == "gemmini_seed"
    (job,) = make_jobs([cfg], SweepSettings(arch=arch, model="bert-large", seq_len=4096), route_layers(arch, [layer]))
    return prepare(job.layer_job())


def _built(cfg: dict, layer: str):
    """(architecture, constraints) that a sweep of ``cfg`` maps ``layer`` on."""
    prep = _prepared(cfg, layer)
    return prep.spec.architecture, prep.constraints


def _factors(constraints, target: str, kind: str) -> set[FactorConstraint]:
    return {f for c in constraints if c.target == target and c.type == kind for f in c.factors}


def _keep(constraints, target: str) -> set[str]:
    return {d for c in constraints if c.target == target and c.type == "dataspace" for d in (c.keep or ())}


@pytest.mark.parametrize("idx", range(len(CONFIGS)))
def test_matmul_array_is_the_seeds(idx):
    cfg = CONFIGS[idx]
    arch, cons = _built(cfg, "KQV")
    sp, acc, reg, dram = (arch.node(n) for n in ("Scratchpad", "Accumulator", "Registers", "DRAM"))
    # buf.attributes["entries"] = scratchpad_size; depth = size // (width // datawidth)
    assert sp.attributes["entries"] == cfg["scratchpad_size"]
    assert sp.attributes["depth"] == cfg["scratchpad_size"] // (128 // 8)
    assert (sp.attributes["width"], sp.instances) == (128, 1)
    assert sp.read_bandwidth == sp.write_bandwidth == cfg["scratchpad_bandwidth"]
    # acc.attributes["entries"] = accumulator_size (matmul); meshY = pe_rows banks
    assert acc.attributes["entries"] == cfg["accumulator_size"]
    assert acc.attributes["depth"] == cfg["accumulator_size"] // (32 // 32)
    assert acc.size_words == cfg["accumulator_size"]
    assert (acc.attributes["width"], acc.instances, acc.mesh_y) == (32, cfg["pe_rows"], cfg["pe_rows"])
    assert acc.read_bandwidth == acc.write_bandwidth == cfg["accumulator_bandwidth"]
    # the PE registers are the YAML's: one 8-bit entry (rf_size never touches them)
    assert (reg.attributes["entries"], reg.attributes["depth"], reg.attributes["width"]) == (1, 1, 8)
    assert (reg.mesh_x, reg.mesh_y, reg.instances) == (cfg["pe_cols"], cfg["pe_rows"], cfg["pe_rows"] * cfg["pe_cols"])
    assert arch.compute.instances == cfg["pe_rows"] * cfg["pe_cols"]
    assert arch.node("PERows").fanout_y == cfg["pe_rows"] and arch.node("PECols").fanout_x == cfg["pe_cols"]
    assert dram.read_bandwidth == dram.write_bandwidth == 4
    # dataflow rules of the seed script
    r, c = cfg["pe_rows"] // 2, cfg["pe_cols"] // 2
    F = FactorConstraint
    rows, cols, kept = {
        "WS": ({F("L", "=", 1), F("E", "=", 1), F("D", ">=", r)}, {F("L", "=", 1), F("D", "=", 1), F("E", ">=", c)}, "Weights"),
        "OS": ({F("L", "=", 1), F("E", "=", 1), F("D", ">=", r)}, {F("E", "=", 1), F("D", "=", 1), F("L", ">=", c)}, "Outputs"),
        "IS": ({F("L", "=", 1), F("D", "=", 1), F("E", ">=", r)}, {F("E", "=", 1), F("D", "=", 1), F("L", ">=", c)}, "Inputs"),
    }[cfg["dataflow"]]
    assert _factors(cons, "PERows", "spatial") == rows
    assert _factors(cons, "PECols", "spatial") == cols
    assert _keep(cons, "Registers") == {kept}


@pytest.mark.parametrize("idx", range(len(CONFIGS)))
def test_normalization_unit_is_the_seeds(idx):
    cfg = CONFIGS[idx]
    arch, cons = _built(cfg, "softmax")
    acc = arch.node("Accumulator")
    entries = cfg["accumulator_size"] * cfg["pe_rows"]  # "multipled by pe_rows in NOs mode"
    assert acc.attributes["entries"] == entries and acc.attributes["depth"] == entries // (32 // 32)
    assert acc.instances == 1
    assert acc.read_bandwidth == acc.write_bandwidth == cfg["accumulator_bandwidth"] * cfg["pe_rows"]
    sp = arch.node("Scratchpad")
    assert sp.attributes["entries"] == cfg["scratchpad_size"] and sp.read_bandwidth == cfg["scratchpad_bandwidth"]
    for name in ("Registers_Inputs", "Registers_Outputs"):
        lvl = arch.node(name)
        assert lvl.attributes["depth"] == lvl.attributes["entries"] == cfg["rf_size"] and lvl.attributes["width"] == 8
    assert arch.node("Registers").attributes["entries"] == 3
    assert arch.node("DRAM").shared_bandwidth == 8
    assert _factors(cons, "Registers_Inputs", "temporal") == {FactorConstraint("E", "=", cfg["rf_size"]),
                                                               FactorConstraint("L", "=", 1)}
    (mx,) = [c for c in cons if c.target == "Accumulator" and c.maximize_dims]
    assert mx.extra["maximize_dims_capacity"] == entries // cfg["rf_size"]


def test_each_key_moves_only_what_the_seed_moves():
    """Doubling one key changes exactly the attributes the seed script sets from it."""
    base = dict(CONFIGS[0])
    def attrs(cfg, layer):
        arch, _ = _built(cfg, layer)
        return {(l.name, k): v for l in arch.storage_levels for k, v in
                {**l.attributes, "instances": l.instances, "rbw": l.read_bandwidth, "sbw": l.shared_bandwidth}.items()
                if k in ("entries", "depth", "width", "instances", "rbw", "sbw")}
    ref = {layer: attrs(base, layer) for layer in ("KQV", "softmax")}
    expect = {
        "scratchpad_size": {"KQV": {("Scratchpad", "entries"), ("Scratchpad", "depth")},
                            "softmax": {("Scratchpad", "entries"), ("Scratchpad", "depth")}},
        "accumulator_size": {"KQV": {("Accumulator", "entries"), ("Accumulator", "depth")},
                             "softmax": {("Accumulator", "entries"), ("Accumulator", "depth")}},
        "scratchpad_bandwidth": {"KQV": {("Scratchpad", "rbw")}, "softmax": {("Scratchpad", "rbw")}},
        "accumulator_bandwidth": {"KQV": {("Accumulator", "rbw")}, "softmax": {("Accumulator", "rbw")}},
        "rf_size": {"KQV": set(), "softmax": {(n, a) for n in ("Registers_Inputs", "Registers_Outputs")
                                              for a in ("entries", "depth")}},
        "pe_rows": {"KQV": {("Accumulator", "instances"), ("Registers", "instances")},
                    "softmax": {("Accumulator", "entries"), ("Accumulator", "depth"), ("Accumulator", "rbw")}},
        "pe_cols": {"KQV": {("Registers", "instances")}, "softmax": set()},
    }
    for key, per_layer in expect.items():
        # halved where doubling would take the NO unit's accumulator (accumulator_size x pe_rows) beyond
        # the SRAM energy tables' 262144 entries
        cfg = {**base, key: base[key] // 2 if key in ("accumulator_size", "pe_rows") else base[key] * 2}
        for layer, want in per_layer.items():
            got = attrs(cfg, layer)
            changed = {k for k in ref[layer] if got[k] != ref[layer][k]}
            assert changed == want, (key, layer)


def test_translation_is_recognised_by_keys_or_forced():
    seed = [dict(c) for c in CONFIGS[:2]]
    assert seed_translation("gemmini", seed, "dse", "f")[0] == "gemmini"
    ours = [{**c, "dram_bandwidth": 8} for c in seed]  # a dse knob the seed does not have: dse meanings
    assert seed_translation("gemmini", ours, "auto", "f") == ("gemmini", None)
    partial = [{"pe_rows": 8, "pe_cols": 8}]
    assert seed_translation("gemmini", partial, "auto", "f") == ("gemmini", None)
    assert seed_translation("gemmini", partial, "seed", "f")[0] == "gemmini_seed"
    with pytest.raises(DseError) as info:
        seed_translation("gemmini", ours, "seed", "f")
    assert "dram_bandwidth" in str(info.value)
    with pytest.raises(DseError) as info:
        seed_translation("eyeriss", seed, "seed", "f")
    assert "no translation" in str(info.value)


def test_hwdse_cli_says_it_reads_a_seed_file(tmp_path, capsys):
    from dse.cli.hwdse_cmd import main

    cfg = tmp_path / "hw.json"
    cfg.write_text(json.dumps([{**CONFIGS[0], "pe_rows": 4, "pe_cols": 4}]))
    assert main(["KTQ", "-c", str(cfg), "--out", str(tmp_path / "o"), "-q", "--workers", "1",
                 "--model", "bert-base", "--seq-len", "64"]) == 0
    out = capsys.readouterr().out
    assert "gemmini_seed" in out and "seed's meanings" in out
    stored = json.loads((tmp_path / "o" / "sweep.json").read_text())
    assert stored["settings"]["arch"] == "gemmini_seed"


# --------------------------------------------------------------------------- second implementation
def _seed_yaml_edited(cfg: dict, norm_op: bool, tmp_path: Path) -> Path:
    """The seed's own system_gemmini[_NOs].yaml with its hwdse_run.py edits applied to the YAML
    (a transcription of the script's attribute assignments, independent of arch/gemmini_seed)."""
    import yaml

    from dse.spec.yaml_io import Tagged, load_yaml

    ref = Path(__file__).parent / "data" / "reference" / "transformer_gemmini" / "arch"
    doc = load_yaml(ref / f"system_gemmini{'_NOs' if norm_op else ''}.yaml")

    def find(name):
        stack = list(doc["architecture"]["nodes"])
        while stack:
            n = stack.pop()
            if n.get("name") == name:
                return n
            stack += n.get("nodes", []) or []
        raise KeyError(name)

    buf = find("Scratchpad")["attributes"]
    buf["entries"] = cfg["scratchpad_size"]
    buf["depth"] = cfg["scratchpad_size"] // (buf["width"] // buf["datawidth"])
    buf["read_bandwidth"] = buf["write_bandwidth"] = cfg["scratchpad_bandwidth"]
    acc = find("Accumulator")["attributes"]
    acc["entries"] = cfg["accumulator_size"] * (1 if not norm_op else cfg["pe_rows"])
    acc["depth"] = acc["entries"] // (acc["width"] // acc["datawidth"])
    acc["read_bandwidth"] = acc["write_bandwidth"] = cfg["accumulator_bandwidth"] * (1 if not norm_op else cfg["pe_rows"])
    if not norm_op:
        find("PERows")["spatial"]["meshY"] = cfg["pe_rows"]
        find("PECols")["spatial"]["meshX"] = cfg["pe_cols"]
        acc["meshY"] = cfg["pe_rows"]
        for name in ("Registers", "MAC"):
            find(name)["attributes"].update(meshY=cfg["pe_rows"], meshX=cfg["pe_cols"])
        for name in ("PERows", "PECols", "Registers"):  # constraints are compared separately
            find(name).pop("constraints", None)
    else:
        for name in ("Registers_Outputs", "Registers_Inputs"):
            find(name)["attributes"].update(depth=cfg["rf_size"], entries=cfg["rf_size"])

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(Tagged, lambda d, data: d.represent_mapping(data.tag, dict(data)))
    out = tmp_path / f"seed_{'NO' if norm_op else 'mm'}.yaml"
    out.write_text(yaml.dump(doc, Dumper=Dumper, sort_keys=False))
    return out


@pytest.mark.parametrize("idx", [0, 1, 2, 8, 9, 19])
def test_same_levels_and_energies_as_the_seed_yaml_edited_by_the_seed_rules(idx, tmp_path):
    from dse.energy import estimate
    from dse.spec.loader import load_spec

    cfg = CONFIGS[idx]
    ref = Path(__file__).parent / "data" / "reference" / "transformer_gemmini"
    for layer, norm_op in (("KQV", False), ("softmax", True)):
        prep = _prepared(cfg, layer)
        ours = prep.spec.architecture
        their_spec = load_spec([_seed_yaml_edited(cfg, norm_op, tmp_path), ref / "arch" / "components",
                                ref / "mapper" / "variables.yaml"])
        theirs = their_spec.architecture
        assert [l.name for l in ours.nodes] == [l.name for l in theirs.nodes]
        for a, b in zip(ours.storage_levels, theirs.storage_levels):
            assert (a.component_class, a.instances, a.mesh_x, a.mesh_y, a.size_words, a.word_bits, a.block_size,
                    a.read_bandwidth, a.write_bandwidth, a.shared_bandwidth) == \
                   (b.component_class, b.instances, b.mesh_x, b.mesh_y, b.size_words, b.word_bits, b.block_size,
                    b.read_bandwidth, b.write_bandwidth, b.shared_bandwidth), (layer, a.name)
            assert dict(a.attributes) == dict(b.attributes), (layer, a.name)
        assert (ours.compute.component_class, ours.compute.instances) == (theirs.compute.component_class,
                                                                          theirs.compute.instances)
        for c in estimate(their_spec).components:
            for action, e in c.actions.items():
                assert prep.tables.energy_pj(c.name, action) == pytest.approx(e.energy_pj, rel=1e-12), (layer, c.name)
