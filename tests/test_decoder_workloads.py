"""Decoder workloads (prefill + KV-cached decode) against an independent numpy GPT-2 with a KV cache."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from dse.errors import DseError
from dse.workloads import (CausalMode, TransformerModel, check_generation, decode_contexts, decode_layers, get_model,
                           kv_words_per_token, prefill_layers, words_to_bytes)
from numpy_decoder import generate, reference_logits

TINY = TransformerModel("tiny-decoder", embedding=24, heads=3, ff_dim=48, blocks=2, decoder=True, max_positions=64)


def _dse_counts(layers):
    macs = Counter()
    for lp in layers:
        if lp.is_matmul:
            macs[lp.layer] += lp.macs_per_model
    pointwise = sum(lp.macs_per_model for lp in layers if not lp.is_matmul)
    return (dict(macs), pointwise, sum(lp.kv_stored_words for lp in layers), sum(lp.kv_loaded_words for lp in layers))


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("causal,tile", [("dense", 64), ("tiled", 4), ("tiled", 3)])
def test_prefill_and_every_decode_step_match_numpy(batch, causal, tile):
    prompt, new = 10, 5
    steps, hidden, fed, blocks = generate(TINY.embedding, TINY.heads, TINY.ff_dim, TINY.blocks, prompt, new, batch,
                                          causal=causal, tile=tile)
    # the cached generation computes exactly what a full causal recompute does
    np.testing.assert_allclose(hidden, reference_logits(fed, blocks, TINY.heads), rtol=1e-9, atol=1e-9)
    assert len(steps) == 1 + len(decode_contexts(prompt, new))
    pre = steps[0]
    assert _dse_counts(prefill_layers(TINY, prompt, batch, causal, tile)) == (
        pre.macs, pre.pointwise, pre.kv_stored, pre.kv_loaded)
    for ctx, st in zip(decode_contexts(prompt, new), steps[1:]):
        assert _dse_counts(decode_layers(TINY, ctx, batch)) == (st.macs, st.pointwise, st.kv_stored, st.kv_loaded)


def test_kv_written_once_per_token_read_every_step():
    m = get_model("gpt2-medium")
    assert kv_words_per_token(m) == 2 * 24 * 1024
    step = decode_layers(m, 600, batch=8)
    assert sum(lp.kv_stored_words for lp in step) == 8 * kv_words_per_token(m)
    assert sum(lp.kv_loaded_words for lp in step) == 8 * 600 * kv_words_per_token(m)
    assert words_to_bytes(kv_words_per_token(m), 16) == 2 * 2 * 24 * 1024
    assert words_to_bytes(3, 4) == 1.5


def test_decode_shapes():
    m = get_model("gpt2")
    by = {lp.layer: lp for lp in decode_layers(m, 700, batch=8)}
    assert by["KQV"].workload.bounds | {} == {"E": 768, "D": 2304, "R": 1, "S": 1, "N": 1, "L": 8, "Q": 1, "G": 1}
    assert (by["KTQ"].workload.bounds["E"], by["KTQ"].workload.bounds["D"], by["KTQ"].workload.bounds["L"],
            by["KTQ"].workload.bounds["G"]) == (64, 700, 1, 8)
    assert (by["VScores"].workload.bounds["E"], by["VScores"].workload.bounds["D"]) == (700, 64)
    assert by["softmax"].workload.bounds == {"L": 8, "E": 700, "D": 2, "N": 1}
    assert by["KTQ"].multiplicity_per_block == 12 and by["layernorm"].multiplicity_per_block == 2
    # tiled prefill skips exactly the tiles above the diagonal
    tiled = [lp for lp in prefill_layers(m, 512, 1, CausalMode.TILED, 128) if lp.layer == "KTQ"]
    assert [(lp.workload.bounds["L"], lp.workload.bounds["D"]) for lp in tiled] == [(128, 128), (128, 256), (128, 384), (128, 512)]
    dense = [lp for lp in prefill_layers(m, 512) if lp.layer == "KTQ"]
    assert sum(lp.macs_per_model for lp in tiled) * 8 == dense[0].macs_per_model * 5  # 10 of 16 tiles


def test_catalog_marks_decoders():
    assert get_model("gpt2-medium").decoder and get_model("gpt2-medium").max_positions == 1024
    assert not get_model("bert-base").decoder


@pytest.mark.parametrize("args,where,needle", [
    (("bert-base", 512, 8, 1), "--model with --generate", "gpt2"),
    (("gpt2", 1000, 26, 1), "--prompt/--generate", "1025"),
    (("gpt2", 0, 8, 1), "--prompt", ">= 1"),
    (("gpt2", 8, 0, 1), "--generate", ">= 1"),
    (("gpt2", 8, 8, 0), "--batch", ">= 1"),
])
def test_bad_generation_requests(args, where, needle):
    with pytest.raises(DseError) as err:
        check_generation(*args)
    assert err.value.where == where and needle in err.value.format()


def test_longest_context_allowed():
    assert check_generation("gpt2", 1000, 25, 1).name == "gpt2"  # last step attends over 1024 tokens
    with pytest.raises(DseError, match="--causal"):
        CausalMode.parse("sparse")


def test_workloads_cli_lists_decode_and_prefill(capsys):
    from dse.cli.main import main

    assert main(["workloads", "--model", "gpt2", "--phase", "decode", "--context", "600", "--batch", "8"]) == 0
    out = capsys.readouterr().out
    total = sum(lp.macs_per_model for lp in decode_layers("gpt2", 600, 8) if lp.is_matmul)
    assert "decode step at context 600" in out and str(total) in out
    assert main(["workloads", "--model", "gpt2", "--phase", "prefill", "--seq-len", "256", "--causal", "tiled",
                 "--causal-tile", "128"]) == 0
    assert "KTQ q128:256" in capsys.readouterr().out
    assert main(["workloads", "--model", "bert-base", "--phase", "decode"]) == 2
    assert "not a decoder" in capsys.readouterr().err
    assert main(["workloads", "--model", "gpt2", "--phase", "decode", "--context", "1025"]) == 2
    assert "1024 positions" in capsys.readouterr().err
