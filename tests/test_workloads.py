"""dse.workloads: model catalog, layer problems, MAC counts (checked against numpy), YAML."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from dse.errors import DseError
from dse.spec.types import Workload
from dse.workloads import (
    LAYERS_DIR,
    TransformerModel,
    get_model,
    layer_names,
    layer_variables,
    list_models,
    load_catalog,
    make_layer,
    model_layers,
    problem_document,
    write_problem_yaml,
)
from numpy_encoder import OpCounter, encoder, encoder_block, encoder_block_reference, random_block

TINY = TransformerModel("tiny", embedding=24, heads=3, ff_dim=48, blocks=3, source="test")
SEQ, BATCH = 10, 2
REF_STATS = Path("/work/shared/reference/timeloop-experiments/results_against_ff")


# --------------------------------------------------------------------------- numpy ground truth
@pytest.fixture(scope="module")
def numpy_block_counts() -> dict[bool, OpCounter]:
    """Op counts of one numpy block (post-LN BERT and pre-LN GPT-2 variants), outputs validated."""
    out = {}
    for pre_ln in (False, True):
        rng = np.random.default_rng(0)
        w = random_block(rng, TINY.embedding, TINY.ff_dim)
        x = rng.standard_normal((BATCH, SEQ, TINY.embedding))
        c = OpCounter()
        y = encoder_block(x, w, TINY.heads, c, pre_ln=pre_ln)
        np.testing.assert_allclose(y, encoder_block_reference(x, w, TINY.heads, pre_ln=pre_ln), rtol=1e-9, atol=1e-9)
        out[pre_ln] = c
    return out


def _modelled(c: OpCounter) -> dict[str, int]:
    return {k: v for k, v in c.counts.items() if not k.startswith("unmodelled:")}


@pytest.mark.parametrize("pre_ln", [False, True])
def test_per_layer_counts_match_numpy_block(numpy_block_counts, pre_ln):
    counts = _modelled(numpy_block_counts[pre_ln])
    layers = model_layers(TINY, SEQ, BATCH)
    assert sorted(counts) == sorted(layer_names())
    for lp in layers:
        assert lp.macs_per_instance * lp.multiplicity_per_block == counts[lp.layer], lp.layer
        assert lp.macs_per_block == counts[lp.layer], lp.layer
    assert sum(lp.macs_per_block for lp in layers) == sum(counts.values())


def test_softmax_sweeps_match_numpy_with_and_without_max_subtraction():
    rng = np.random.default_rng(1)
    w = random_block(rng, TINY.embedding, TINY.ff_dim)
    x = rng.standard_normal((BATCH, SEQ, TINY.embedding))
    c2, c3 = OpCounter(), OpCounter()
    encoder_block(x, w, TINY.heads, c2)
    encoder_block(x, w, TINY.heads, c3, max_subtraction=True)
    sm = make_layer(TINY, "softmax", SEQ, BATCH)
    assert sm.bound("D") == 2 and sm.macs_per_block == c2.counts["softmax"]
    # the seed's "use 3 with the max subtraction trick": 3/2 of the default
    assert c3.counts["softmax"] * 2 == sm.macs_per_block * 3


def test_per_model_totals_match_numpy_stack():
    rng = np.random.default_rng(2)
    blocks = [random_block(rng, TINY.embedding, TINY.ff_dim) for _ in range(TINY.blocks)]
    x = rng.standard_normal((BATCH, SEQ, TINY.embedding))
    c = OpCounter()
    encoder(x, blocks, TINY.heads, c)
    counts = _modelled(c)
    layers = model_layers(TINY, SEQ, BATCH)
    for lp in layers:
        assert lp.macs_per_model == counts[lp.layer] == TINY.blocks * lp.macs_per_block
        assert lp.instances_per_model == lp.multiplicity_per_block * TINY.blocks
    assert sum(lp.macs_per_model for lp in layers) == sum(counts.values())


def test_batch_scales_every_layer_linearly():
    one = {lp.layer: lp.macs_per_model for lp in model_layers("bert-base", 128, 1)}
    four = {lp.layer: lp.macs_per_model for lp in model_layers("bert-base", 128, 4)}
    assert four == {k: 4 * v for k, v in one.items()}


# --------------------------------------------------------------------------- known numbers
def test_bert_large_seq4096_matches_real_timeloop_stats():
    kqv = make_layer("bert-large", "KQV", 4096)
    assert kqv.macs_per_instance == 1024 * 3072 * 4096 == 12884901888
    vs = make_layer("bert-large", "VScores", 4096)
    assert vs.macs_per_instance == 4096 * 64 * 4096 == 1073741824
    assert vs.multiplicity_per_block == 16
    if REF_STATS.is_dir():  # the real Timeloop runs, when the reference folder is present
        for layer, lp in (("KQV", kqv), ("VScores", vs)):
            text = (REF_STATS / f"stats_{layer}_gemmini_TLL.txt").read_text()
            assert int(re.search(r"^Computes = (\d+)", text, re.M).group(1)) == lp.macs_per_instance


def test_bert_base_closed_form():
    # with ff = 4 * emb a block has 12 * seq * emb^2 projection/FFN MACs + 2 * seq^2 * emb attention MACs
    seq, emb = 512, 768
    per_block = sum(lp.macs_per_block for lp in model_layers("bert-base", seq) if lp.is_matmul)
    assert per_block == 12 * seq * emb**2 + 2 * seq**2 * emb == 4026531840
    total = sum(lp.macs_per_model for lp in model_layers("bert-base", seq) if lp.is_matmul)
    assert total == 12 * 4026531840


def test_layer_dimensions_follow_seed_naming():
    m = get_model("gpt2-xl")
    dims = {lp.layer: (lp.bound("E"), lp.bound("D"), lp.bound("L")) for lp in model_layers(m, 256)}
    assert dims == {
        "KQV": (1600, 4800, 256), "KTQ": (64, 256, 256), "VScores": (256, 64, 256), "Out": (1600, 1600, 256),
        "FF1": (1600, 6400, 256), "FF2": (6400, 1600, 256), "softmax": (256, 2, 256), "layernorm": (1600, 3, 256),
    }
    mult = {lp.layer: lp.multiplicity_per_block for lp in model_layers(m, 256)}
    assert mult == {"KQV": 1, "KTQ": 25, "VScores": 25, "Out": 1, "FF1": 1, "FF2": 1, "softmax": 25, "layernorm": 2}


def test_batch_goes_to_n_or_groups():
    kqv, ktq, sm = (make_layer("bert-base", name, 64, 3) for name in ("KQV", "KTQ", "softmax"))
    assert (kqv.bound("N"), kqv.bound("G")) == (3, 1)
    # K is per sequence: batch must not be a dimension the "Weights" (K) ignore
    assert (ktq.bound("N"), ktq.bound("G")) == (1, 3)
    assert ktq.workload.data_space_size("Weights") == 3 * 64 * 64
    assert kqv.workload.data_space_size("Weights") == 768 * 2304
    assert sm.bound("N") == 3
    assert isinstance(kqv.workload, Workload)


# --------------------------------------------------------------------------- catalog
def test_catalog_contents():
    expected = {
        "bert-base": (768, 12, 3072, 12), "bert-large": (1024, 16, 4096, 24),
        "gpt2": (768, 12, 3072, 12), "gpt2-medium": (1024, 16, 4096, 24),
        "gpt2-large": (1280, 20, 5120, 36), "gpt2-xl": (1600, 25, 6400, 48),
        "tinybert-4l-312": (312, 12, 1200, 4),
    }
    cat = load_catalog()
    assert list_models() == list(cat) and set(expected) <= set(cat)
    for key, shape in expected.items():
        m = cat[key]
        assert (m.embedding, m.heads, m.ff_dim, m.blocks) == shape
        assert m.source and m.embedding % m.heads == 0
    for key in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"):
        assert cat[key].ff_dim == 4 * cat[key].embedding


def test_lookup_is_case_insensitive_and_knows_aliases():
    assert get_model("BERT-Large").name == "bert-large"
    assert get_model("GPT2-small").name == "gpt2"
    assert get_model(TINY) is TINY


def test_unknown_model_lists_accepted():
    with pytest.raises(DseError) as exc:
        get_model("bert-huge")
    assert "bert-huge" in exc.value.message
    for name in ("bert-base", "gpt2-xl", "tinybert-4l-312"):
        assert name in exc.value.accepted


def test_bad_arguments_name_the_argument():
    with pytest.raises(DseError) as exc:
        make_layer("bert-base", "QKV", 128)
    assert exc.value.where == "layer" and "KTQ" in exc.value.accepted and "layernorm" in exc.value.accepted
    for kwargs, arg in (({"seq_len": 0}, "seq_len"), ({"seq_len": 8, "batch": -1}, "batch"),
                        ({"seq_len": 8, "batch": True}, "batch"), ({"seq_len": 2.5}, "seq_len")):
        with pytest.raises(DseError) as exc:
            make_layer("bert-base", "KQV", **kwargs)
        assert exc.value.where == arg
    with pytest.raises(DseError) as exc:
        TransformerModel("odd", embedding=770, heads=12, ff_dim=3080, blocks=2)
    assert "heads" in exc.value.where and "770" in exc.value.message and "10" in exc.value.accepted.split(", ")
    with pytest.raises(DseError) as exc:
        TransformerModel("zero", embedding=0, heads=1, ff_dim=1, blocks=1)
    assert "embedding" in exc.value.where


def test_catalog_errors_name_file_and_key(tmp_path):
    bad = tmp_path / "models.yaml"
    bad.write_text("models:\n  m1: {embedding: 100, heads: 3, ff_dim: 400, blocks: 2}\n")
    with pytest.raises(DseError) as exc:
        list_models(bad)
    assert exc.value.where == f"{bad}: models.m1.heads"
    bad.write_text("models:\n  m1: {embedding: 96, heads: 3, ff_dim: -4, blocks: 2}\n")
    with pytest.raises(DseError) as exc:
        list_models(bad)
    assert exc.value.where == f"{bad}: models.m1.ff_dim"
    with pytest.raises(DseError):
        list_models(tmp_path / "missing.yaml")
    good = tmp_path / "ok.yaml"
    good.write_text("models:\n  Mini: {embedding: 96, heads: 3, ff_dim: 384, blocks: 2, source: x}\n")
    assert get_model("mini", good).embedding == 96


# --------------------------------------------------------------------------- YAML templates
def _resolve(value, variables):
    if isinstance(value, int):
        return value
    return variables[str(value).strip()]


def _projection(raw) -> tuple:
    return tuple(tuple((t[0], t[1] if len(t) > 1 else None) for t in rank) for rank in raw)


def _shape_of(doc: dict, variables: dict) -> tuple:
    prob = doc["problem"]
    shape = prob["shape"]
    dims = tuple(shape["dimensions"])
    bounds = {d: _resolve(prob["instance"].get(d, 1), variables) for d in dims}
    spaces = tuple((ds["name"], _projection(ds["projection"]), bool(ds.get("read_write", False)))
                   for ds in shape["data_spaces"])
    return prob["version"], shape["name"], dims, bounds, spaces


def _workload_shape(wl: Workload) -> tuple:
    spaces = tuple((ds.name, ds.projection, ds.read_write) for ds in wl.data_spaces)
    return 0.4, wl.name, tuple(wl.dimensions), dict(wl.bounds), spaces


@pytest.mark.parametrize("layer", ["KQV", "KTQ", "VScores", "Out", "FF1", "FF2", "softmax", "layernorm"])
@pytest.mark.parametrize("model,seq,batch", [("bert-large", 4096, 1), ("gpt2-large", 100, 3)])
def test_templates_agree_with_python_workloads(layer, model, seq, batch):
    lp = make_layer(model, layer, seq, batch)
    template = yaml.safe_load((LAYERS_DIR / f"{layer}_layer.yaml").read_text())
    assert lp.template_path == LAYERS_DIR / f"{layer}_layer.yaml"
    assert _shape_of(template, layer_variables(model, seq, batch)) == _workload_shape(lp.workload)


def test_layer_variables_have_seed_names():
    v = layer_variables("bert-large", 4096)
    assert v["EMBEDDING_HEADS"] == v["EMBEDDING//HEADS"] == 64
    assert v["EMBEDDING_3"] == v["EMBEDDING*3"] == 3072
    assert (v["EMBEDDING"], v["SEQ_LENGTH"], v["HEADS"], v["FF_DIM"], v["BATCH"]) == (1024, 4096, 16, 4096, 1)
    # same values as the seed's BERT-large variables files
    seed = Path("/work/shared/reference/timeloop-experiments/transformer_gemmini/mapper/variables.yaml")
    if seed.is_file():
        seed_vars = yaml.safe_load(seed.read_text())["variables"]
        for key in ("EMBEDDING", "SEQ_LENGTH", "HEADS", "FF_DIM", "EMBEDDING_HEADS", "EMBEDDING_3"):
            assert seed_vars[key] == v[key]


@pytest.mark.parametrize("layer", ["KQV", "VScores", "layernorm"])
def test_write_problem_yaml_round_trip(tmp_path, layer):
    lp = make_layer("bert-base", layer, 384, 2)
    path = write_problem_yaml(lp, tmp_path / "sub" / f"{layer}.yaml")
    doc = yaml.safe_load(path.read_text())
    assert doc == problem_document(lp)
    assert _shape_of(doc, {}) == _workload_shape(lp.workload)
    for key, value in doc["problem"]["instance"].items():
        assert isinstance(value, int), key
    assert [p.name for p in path.parent.iterdir()] == [f"{layer}.yaml"]  # no temp file left
    assert "BATCH" not in path.read_text() and "SEQ_LENGTH" not in path.read_text()
