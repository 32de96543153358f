"""Resource caps and picklability (issue 16): worker processes, network energies in workers."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

from dse.limits import PROCESSES_PER_CORE, cap_processes, max_processes

PIM = Path(__file__).parent / "data" / "reference" / "transformer_pim"


def test_processes_capped_with_a_note():
    cap = PROCESSES_PER_CORE * (os.cpu_count() or 1)
    assert max_processes() == cap
    assert cap_processes(cap, "--workers") == (cap, None)
    n, note = cap_processes(100000, "--workers")
    assert n == cap and "--workers 100000 capped at" in note


def test_network_energies_pickle_into_mapper_workers():
    """--threads > 1 ships the energies to worker processes: the seed's PIM spec (networks with
    estimated per-multicast energies, num_threads: 12) must pickle and evaluate the same."""
    from dse.pipeline import energies_for
    from dse.spec.loader import load_spec

    files = [PIM / "arch/system_PIM.yaml", *sorted((PIM / "arch/components").glob("*.yaml")),
             PIM / "constraints/constraints.yaml", *sorted((PIM / "mapper").glob("*.yaml"))]
    spec = load_spec([str(f) for f in files])
    assert spec.mapper.num_threads == 12 and spec.architecture.networks
    energies, _, _ = energies_for(spec, None)
    assert energies.networks, "the PIM spec's networks carry energies"
    again = pickle.loads(pickle.dumps(energies))
    checked = 0
    for name, net in energies.networks.items():
        for ds in ("Inputs", "Weights", "Outputs"):
            for m in (1, 2, 8, 128):
                assert again.networks[name].energy_pj(ds, m) == net.energy_pj(ds, m)
                checked += net.energy_pj(ds, m) > 0
    assert checked > 0


def _hwdse(argv):
    from dse.cli.hwdse_cmd import main

    return main(argv)


def test_mixup_is_counted_before_it_is_built(tmp_path, capsys):
    import json

    from dse.hwdse.configs import mixup, mixup_size

    keys = ["pe_rows", "pe_cols", "scratchpad_size", "accumulator_size", "rf_size", "dram_bandwidth",
            "scratchpad_bandwidth", "accumulator_bandwidth"]
    small = [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}, {"a": 1.0, "b": "y"}]
    assert mixup_size(small) == len(mixup(small)) == 6  # 1 and 1.0 stay apart, as in mixup
    cfg = tmp_path / "mx.json"
    cfg.write_text(json.dumps([{k: 2 ** (i + 2) for k in keys} for i in range(8)]))
    out = tmp_path / "out"
    for extra in ([], ["--yes"]):  # 8^8 = 16.7M: refused even with --yes, at once, nothing made
        assert _hwdse(["KQV", "-mx", *extra, "-c", str(cfg), "--out", str(out)]) == 2
        assert "16,777,216 configs" in capsys.readouterr().err and not out.exists()
    many = tmp_path / "many.json"
    many.write_text(json.dumps([{"pe_rows": v} for v in range(1, 10_002)]))
    assert _hwdse(["KQV", "-c", str(many), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "10,001 configs" in err and "--yes" in err and not out.exists()


def test_config_json_without_nan_or_deep_nesting(tmp_path, capsys):
    out = tmp_path / "out"
    for text, what in (('[{"pe_rows": NaN}]', "NaN is not a finite number"), ('[{"pe_rows": -Infinity}]', "Infinity"),
                       ("[" * 100_000 + "]" * 100_000, "nested too deeply")):
        cfg = tmp_path / "c.json"
        cfg.write_text(text)
        assert _hwdse(["KQV", "-c", str(cfg), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert what in err and "Traceback" not in err and not out.exists()


def test_memoized_validation_reports_every_config_index():
    import pytest

    from dse.errors import DseError
    from dse.hwdse.configs import validate_configs

    configs = [{"pe_rows": 16}, {"pe_rows": -3}, {"pe_rows": 16}, {"pe_rows": -3}]
    with pytest.raises(DseError) as err:
        validate_configs(configs, "gemmini", "cfg.json")
    msg = str(err.value)
    assert "2 problem(s)" in msg and "[1]" in msg and "[3]" in msg and "[0]" not in msg and "[@]" not in msg


def test_one_validation_path_for_config_values(tmp_path, capsys):
    """A value is judged the same in run.py --set, hwdse -c and the spec: 1e300 is a number everywhere
    (YAML 1.2, as JSON reads it) and an out-of-range attribute it produces stops a sweep before it starts."""
    import json

    from dse.cli.args import typed
    from dse.cli.run_cmd import main as run_main

    assert typed({"a": "1e300", "b": "010", "c": "WS", "d": "true"}) == {"a": 1e300, "b": 10, "c": "WS", "d": True}
    assert run_main(["KTQ", "--seq-len", "16", "--set", "global_cycle_seconds=1e300", "-o", str(tmp_path / "r")]) == 2
    run_err = capsys.readouterr().err
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps([{"pe_rows": 16, "global_cycle_seconds": 1e300}]))
    assert _hwdse(["KTQ", "--seq-len", "16", "-c", str(cfg), "--out", str(tmp_path / "out"), "-q"]) == 2
    sweep_err = capsys.readouterr().err
    for err in (run_err, sweep_err):
        assert "global_cycle_seconds is out of range: 1e+300" in err and "Traceback" not in err
    assert "nothing was run" in sweep_err and not (tmp_path / "out").exists()
