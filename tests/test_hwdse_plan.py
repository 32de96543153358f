"""hwdse planning: layers an architecture does not run go to its companion or are skipped with the reason."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from dse.cli.hwdse_cmd import main
from dse.hwdse.plan import SweepSettings, make_jobs, route_layers
from dse.spec.library import ARCH_DIR


def _arch(tmp: Path, name: str, layers: list[str], companion: str | None, drop: tuple[str, ...] = ()) -> Path:
    d = tmp / name
    shutil.copytree(ARCH_DIR / "gemmini", d)
    doc = yaml.safe_load((d / "knobs.yaml").read_text())
    info = doc["architecture_info"]
    info["layers"] = layers
    for k in drop:
        info["knobs"].pop(k)
    if companion:
        info["companion"] = companion
    (d / "knobs.yaml").write_text(yaml.safe_dump(doc))
    return d


def test_companion_and_skipped_layers(tmp_path):
    comp = _arch(tmp_path, "comp", ["KTQ"], None, drop=("pe_cols",))
    main_arch = _arch(tmp_path, "main", ["KQV"], str(comp))
    routes = {r.layer: r for r in route_layers(str(main_arch), ["KQV", "KTQ", "FF1"])}
    assert routes["KQV"].arch == str(main_arch) and routes["KQV"].keys is None
    assert routes["KTQ"].arch == str(comp) and "pe_cols" not in routes["KTQ"].keys
    assert routes["FF1"].arch is None and "neither" in routes["FF1"].reason
    jobs = make_jobs([{"pe_rows": 8, "pe_cols": 32}], SweepSettings(), list(routes.values()), init_idx=5)
    assert [(j.index, j.layer, j.config) for j in jobs] == [(5, "KQV", {"pe_rows": 8, "pe_cols": 32}),
                                                             (5, "KTQ", {"pe_rows": 8})]
    assert all(j.full_config == {"pe_rows": 8, "pe_cols": 32} for j in jobs)


def test_no_companion_reason():
    routes = {r.layer: r for r in route_layers("gemmini", ["KQV", "softmax"])}
    assert routes["KQV"].arch == "gemmini"
    if routes["softmax"].arch is None:  # until gemmini declares a companion for the point-wise layers
        assert "declares no companion" in routes["softmax"].reason


def test_infeasible_config_end_to_end(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    # 16 accumulator words over 16 rows = 1 per bank, but WS streams L=16 outputs through each bank
    cfg.write_text(json.dumps([{"pe_rows": 16, "accumulator_size": 65536}, {"pe_rows": 16, "accumulator_size": 16}]))
    out = tmp_path / "out"
    assert main(["KTQ", "--seq-len", "128", "-q", "-t", "-c", str(cfg), "--out", str(out), "--workers", "1"]) == 0
    text = capsys.readouterr().out
    bad = json.loads((out / "1" / "hw_config.json").read_text())
    assert bad["metrics"]["status"] == "infeasible" and bad["metrics"]["energy_pj"] is None
    assert bad["metrics"]["reason"].startswith("KTQ: ") and "no valid mapping" in bad["metrics"]["reason"]
    assert bad["layers"][0]["ok"] is False
    assert "config [1] infeasible: KTQ:" in text and "inf" not in text.replace("infeasible", "")
    csv = (out / "results.csv").read_text().splitlines()
    # no metrics for an infeasible config, but its area (a property of the hardware) is known
    cells = csv[2].split(",")
    assert cells[:8] == ["1", "infeasible", "16", "16", "", "", "", ""] and float(cells[8]) > 0, csv
    assert cells[9:11] == ["", "0"] and cells[11].startswith('"KTQ:'), csv
    good = json.loads((out / "0" / "hw_config.json").read_text())["metrics"]
    assert good["status"] == "ok" and good["energy_pj"] > 0


def test_editing_an_energy_table_or_the_workloads_changes_the_fingerprint(tmp_path, monkeypatch):
    import shutil

    from dse.hwdse.plan import SweepJob, SweepSettings
    from dse.paths import data_dir

    for folder in ("estimation_tables", "workloads"):
        shutil.copytree(data_dir(folder), tmp_path / folder)
    monkeypatch.setenv("DSE_HOME", str(tmp_path))

    def fingerprint():
        return SweepJob(0, "KTQ", "gemmini", {"pe_rows": 16}, SweepSettings()).fingerprint()

    first = fingerprint()
    assert fingerprint() == first
    dram = next((tmp_path / "estimation_tables").rglob("DRAM.csv"))
    dram.write_text(dram.read_text().replace("512", "5120", 1))
    second = fingerprint()
    assert second["spec_digest"] != first["spec_digest"]
    models = tmp_path / "workloads" / "models.yaml"
    models.write_text(models.read_text() + "\n# edited\n")
    assert fingerprint()["spec_digest"] != second["spec_digest"]
