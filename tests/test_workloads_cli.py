"""``dse workloads`` subcommand."""
from __future__ import annotations

from dse.cli.main import main


def _table_rows(out: str) -> dict[tuple[str, str], list[str]]:
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        if len(cells) >= 3 and cells[0] not in ("model", "seq_len") and not cells[0].startswith("-"):
            rows[(cells[0], cells[1])] = cells
    return rows


def test_default_lists_all_models_at_seq_512(capsys):
    assert main(["workloads"]) == 0
    out = capsys.readouterr().out
    assert "seq_len 512, batch 1" in out
    rows = _table_rows(out)
    for model in ("bert-base", "bert-large", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "tinybert-4l-312"):
        for layer in ("KQV", "KTQ", "VScores", "Out", "FF1", "FF2", "softmax", "layernorm"):
            assert (model, layer) in rows, (model, layer)
    # bert-base KTQ: E=64, D=L=512, 12 per block, 64*512*512 MACs, x12 heads x12 blocks
    model, layer, e, d, l, n, g, mult, inst, total = rows[("bert-base", "KTQ")]
    assert (e, d, l, mult) == ("64", "512", "512", "12")
    assert int(inst) == 64 * 512 * 512 and int(total) == 64 * 512 * 512 * 12 * 12


def test_one_model_with_seq_and_batch(capsys):
    assert main(["workloads", "--model", "BERT-Large", "--seq-len", "4096", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    rows = _table_rows(out)
    assert {m for m, _ in rows} == {"bert-large"}
    cells = rows[("bert-large", "KQV")]
    assert cells[2:8] == ["1024", "3072", "4096", "2", "1", "1"]
    assert int(cells[8]) == 2 * 12884901888 and int(cells[9]) == 24 * 2 * 12884901888
    matmul_total = int(out.split("total matmul MACs")[1].split()[0])
    per_token = 12 * 1024**2 + 2 * 4096 * 1024  # ff = 4 * emb
    assert matmul_total == 24 * 2 * 4096 * per_token


def test_bad_arguments_exit_2_with_accepted_values(capsys):
    assert main(["workloads", "--model", "bert-xxl"]) == 2
    err = capsys.readouterr().err
    assert "--model" in err and "bert-xxl" in err and "gpt2-medium" in err and "Traceback" not in err
    assert main(["workloads", "--seq-len", "0"]) == 2
    assert "--seq-len" in capsys.readouterr().err
    assert main(["workloads", "--batch", "-3"]) == 2
    assert "--batch" in capsys.readouterr().err
