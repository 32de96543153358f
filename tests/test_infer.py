"""dse infer: per-step counts against the numpy GPT-2 with a KV cache, the interpolation bound, the CLI."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from dse.cli.main import main
from dse.infer import InferRequest, Target, infer, simulate
from dse.workloads import TransformerModel
from numpy_decoder import generate

FAST = str(Path(__file__).parent / "data" / "infer_fast_mapper.yaml")
TINY = TransformerModel("tiny-decoder", embedding=32, heads=2, ff_dim=64, blocks=2, decoder=True, max_positions=64)


@pytest.mark.parametrize("batch", [1, 8])
def test_every_step_counts_equal_numpy(batch):
    prompt, new = 16, 5
    steps = infer(TINY, prompt, new, batch, mapper=FAST)
    ref, *_ = generate(TINY.embedding, TINY.heads, TINY.ff_dim, TINY.blocks, prompt, new, batch)
    assert list(steps["phase"]) == ["prefill"] + ["decode"] * (new - 1)
    assert list(steps["context"]) == [prompt] + list(range(prompt + 1, prompt + new))
    assert list(steps["tokens"]) == [batch * prompt] + [batch] * (new - 1)
    for (_, row), st in zip(steps.iterrows(), ref):
        assert row["macs"] == sum(st.macs.values())
        assert row["pointwise_ops"] == st.pointwise
        # gemmini's DRAM holds 8-bit words: one byte per K/V element
        assert row["kv_bytes_stored"] == st.kv_stored and row["kv_bytes_loaded"] == st.kv_loaded
        assert row["seconds"] == pytest.approx(row["cycles"] * 1.2e-9)
        assert row["cycles"] > 0 and row["energy_pj"] > 0


def test_tiled_prefill_counts_and_summary():
    res = simulate(InferRequest(TINY, 16, 3, 2, Target.make(mapper=FAST), causal="tiled", causal_tile=6))
    ref, *_ = generate(TINY.embedding, TINY.heads, TINY.ff_dim, TINY.blocks, 16, 3, 2, causal="tiled", tile=6)
    assert res.steps["macs"].tolist() == [sum(s.macs.values()) for s in ref]
    s = res.summary
    dec = res.steps[res.steps["phase"] == "decode"]
    assert s.ttft_cycles == res.steps["cycles"].iloc[0]
    assert s.mean_token_cycles == pytest.approx(dec["cycles"].mean())
    assert s.last_token_cycles == dec["cycles"].iloc[-1]
    assert s.decode_tokens_per_s == pytest.approx(2 * 2 / (dec["cycles"].sum() * 1.2e-9))
    assert s.energy_per_token_pj == pytest.approx(dec["energy_pj"].sum() / 4)
    assert s.kv_bytes_stored == 2 * 2 * 32 * 2 * 18  # K+V x blocks x emb x batch x tokens fed (16 + 2)
    # per-layer rows add up to the steps
    assert res.layers.groupby("step")["cycles"].sum().tolist() == res.steps["cycles"].tolist()
    assert 0 < s.kv_dram_share < 1


@pytest.mark.slow
def test_interpolation_stays_within_its_stated_bound():
    """Map every decode step, then interpolate from two anchors: the error at every step is within the bound."""
    cache: dict = {}
    base = dict(model=TINY, prompt=8, generate=5, batch=2)
    exact = simulate(InferRequest(**base, exact_decode=True), cache=cache)
    ctx_rows = exact.layers[exact.layers["layer"].isin(["KTQ", "VScores", "softmax"]) & (exact.layers["phase"] == "decode")]
    for _, g in ctx_rows.groupby("layer"):  # the assumption the bound rests on: cost non-decreasing in context
        assert g["cycles"].is_monotonic_increasing and g["energy_pj"].is_monotonic_increasing
    approx = simulate(InferRequest(**base, tolerance=0.5), cache=cache)
    assert approx.summary.mapped_contexts == 2 and approx.steps["interpolated"].sum() == 2
    for (_, e), (_, a) in zip(exact.steps.iterrows(), approx.steps.iterrows()):
        assert abs(a["cycles"] - e["cycles"]) <= a["bound_cycles"] + 1e-6
        assert abs(a["energy_pj"] - e["energy_pj"]) <= a["bound_energy_pj"] + 1e-6 * e["energy_pj"]
        assert a["macs"] == e["macs"] and a["kv_bytes_loaded"] == e["kv_bytes_loaded"]
    assert approx.summary.bound_cycles > 0
    assert abs(approx.summary.decode_cycles - exact.summary.decode_cycles) <= approx.summary.bound_cycles


def test_cli_prints_summary_csv_and_plot(tmp_path, capsys):
    csv, png = tmp_path / "steps.csv", tmp_path / "p.png"
    rc = main(["infer", "--model", "gpt2", "--prompt", "32", "--generate", "3", "--batch", "1", "--mapper", FAST,
               "--jobs", "1", "--csv", str(csv), "--plot", str(png)])
    out = capsys.readouterr().out
    assert rc == 0
    for needle in ("time to first token", "per-token latency (mean)", "tokens/s", "energy per token",
                   "total energy", "KV share of DRAM traffic", "decode (per step)", "prefill"):
        assert needle in out
    df = pd.read_csv(csv)
    assert list(df["step"]) == [0, 1, 2] and list(df["context"]) == [32, 33, 34]
    assert png.stat().st_size > 1000


@pytest.mark.parametrize("argv,needle", [
    (["--model", "bert-base", "--generate", "4"], "--model with --generate"),
    (["--model", "gpt2", "--prompt", "1000", "--generate", "30"], "prompt + generate <= 1025"),
    (["--prompt", "0"], "--prompt"),
    (["--generate", "0"], "--generate"),
    (["--batch", "24", "--prompt", "32", "--generate", "2"], "--batch: no mapping of decode KQV (L = batch = 24 tokens)"),
    (["--tolerance", "0"], "--tolerance"),
    (["--csv", "."], "--csv"),
])
def test_cli_bad_input(argv, needle, capsys):
    rc = main(["infer", "--mapper", FAST, "--jobs", "1"] + argv)
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err


def test_hwdse_phase_sweep_aggregates_like_infer(tmp_path, capsys):
    from dse.cli.hwdse_cmd import main as hwdse_main

    cfg = tmp_path / "cfg.json"
    cfg.write_text('[{"pe_rows": 16, "pe_cols": 16}, {"pe_rows": 8, "pe_cols": 8}]')
    csv = tmp_path / "phase.csv"
    common = ["--model", "gpt2", "--prompt", "32", "--generate", "3", "--batch", "2", "--mapper", FAST, "-q"]
    rc = hwdse_main(["--phase", "generate", "-c", str(cfg), "--blocks", "--metric", "energy_per_token", "-t",
                     "--csv", str(csv), *common])
    assert rc == 0 and "best (energy_per_token)" in capsys.readouterr().out
    df = pd.read_csv(csv).set_index("idx")
    res = simulate(InferRequest("gpt2", 32, 3, 2, Target.make("gemmini", {"pe_rows": 8, "pe_cols": 8}, mapper=FAST)))
    s = res.summary
    row = df.loc[1]
    assert row["energy uJ"] == pytest.approx(s.total_energy_pj / 1e6, rel=1e-5)
    assert row["cycles"] == pytest.approx(s.total_cycles, abs=2)
    assert row["EDP J*cycle"] == pytest.approx(s.total_energy_pj * 1e-12 * s.total_cycles, rel=1e-3)
    assert row["tokens/s"] == pytest.approx(s.tokens_per_s, rel=1e-3)
    assert row["uJ/token"] == pytest.approx(s.total_energy_pj / 1e6 / 6, rel=1e-3)
    assert df["uJ/token"].is_monotonic_increasing  # sorted by the metric


@pytest.mark.parametrize("argv,needle", [
    (["--phase", "decode", "--model", "bert-base"], "--model with --generate"),
    (["--phase", "decode", "KTQ"], "LAYER KTQ with --phase"),
    (["--phase", "decode", "--generate", "1"], "--generate with --phase decode"),
    (["--phase", "prefill", "--metric", "area"], "--metric"),
])
def test_hwdse_phase_bad_input(argv, needle, capsys):
    from dse.cli.hwdse_cmd import main as hwdse_main

    rc = hwdse_main(argv + ["--model", "gpt2"] * ("--model" not in argv))
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err


def test_layers_an_architecture_does_not_run_are_left_out_and_said_so():
    res = simulate(InferRequest(TINY, 16, 2, 1, Target.make("eyeriss", mapper=FAST)))
    assert set(res.layers["layer"]) == {"KQV", "KTQ", "VScores", "Out", "FF1", "FF2"}
    assert (res.steps["pointwise_ops"] == 0).all()
    assert any(n.startswith("softmax left out of every total") for n in res.notes)


def test_bad_knob_is_reported_as_such_from_a_worker(capsys):
    rc = main(["infer", "--set", "pe_rows=0", "--prompt", "16", "--generate", "2", "--jobs", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and "pe_rows" in err and "--batch" not in err
