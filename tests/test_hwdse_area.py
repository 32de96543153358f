"""Area in sweeps: per config (host + companion's own nodes), --max-area budget, area/edap metrics, 3-D Pareto."""
from __future__ import annotations

import csv
import json
import math

import pytest
import yaml

from dse.cli.hwdse_cmd import main
from dse.hwdse.aggregate import INFEASIBLE, OK, Totals
from dse.hwdse.area import config_area_mm2
from dse.hwdse.plan import route_layers
from dse.hwdse.results import ConfigResult, mark_pareto
from dse.pipeline import LayerJob, run_layer

SMALL = {"pe_rows": 8, "pe_cols": 8, "scratchpad_size": 65536}
BIG = {"pe_rows": 32, "pe_cols": 32, "scratchpad_size": 262144}


def _art_area_um2(path):
    """Sum of area x instances in an Accelergy ART.yaml (names ``...X[1..N]``)."""
    out = {}
    for t in yaml.safe_load(path.read_text())["ART"]["tables"]:
        name = t["name"].split(".", 1)[1]
        base, _, rng = name.partition("[")
        n = int(rng.rstrip("]").split("..")[1]) if rng else 1
        out[base] = t["area"] * n
    return out


def test_config_area_is_the_host_plus_the_companions_own_nodes(tmp_path):
    routes = route_layers("gemmini", ["KQV", "softmax"])
    total_mm2, by_node = config_area_mm2(SMALL, "gemmini", routes)
    # independently: the mapped layers' ART files and the model's own total area of the KQV mapping
    kqv = run_layer(LayerJob("KQV", config=SMALL, seq_len=64), tmp_path / "kqv")
    sm = run_layer(LayerJob("softmax", config={k: v for k, v in SMALL.items() if k != "pe_cols"}, seq_len=64),
                   tmp_path / "sm")
    kqv_art = _art_area_um2(tmp_path / "kqv" / "timeloop-mapper.ART.yaml")
    sm_art = _art_area_um2(tmp_path / "sm" / "timeloop-mapper.ART.yaml")
    assert sum(kqv_art.values()) == pytest.approx(kqv.area_um2, rel=1e-6)
    no_unit = sum(v for k, v in sm_art.items() if k not in ("DRAM", "Scratchpad", "Accumulator"))
    assert no_unit > 0  # the normalization unit's register files and datapath
    assert total_mm2 == pytest.approx((kqv.area_um2 + no_unit) / 1e6, rel=1e-6)
    assert by_node["Scratchpad"] == pytest.approx(kqv_art["Scratchpad"], rel=1e-6)
    assert "gemmini_NOs.Scratchpad" not in by_node and "gemmini_NOs.Registers_Inputs" in by_node
    # a bigger array is bigger
    assert config_area_mm2(BIG, "gemmini", routes)[0] > total_mm2


def _sweep(tmp_path, *extra):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps([SMALL, BIG]))
    out = tmp_path / "out"
    return main(["KQV", "--seq-len", "64", "-q", "-t", "-c", str(cfg), "--out", str(out), "--workers", "1",
                 *extra]), out


def test_area_everywhere_and_the_budget(tmp_path, capsys):
    small = config_area_mm2(SMALL, "gemmini", route_layers("gemmini", ["KQV"]))[0]
    big = config_area_mm2(BIG, "gemmini", route_layers("gemmini", ["KQV"]))[0]
    budget = (small + big) / 2
    rc, out = _sweep(tmp_path, "--max-area", f"{budget}", "--csv", str(tmp_path / "s.csv"),
                     "--plot", str(tmp_path / "s.png"))
    assert rc == 0
    text = capsys.readouterr().out
    doc = [json.loads((out / str(i) / "hw_config.json").read_text()) for i in (0, 1)]
    assert [d["metrics"]["area_mm2"] for d in doc] == [pytest.approx(small), pytest.approx(big)]
    m = doc[1]["metrics"]
    assert m["edap"] == pytest.approx(m["edp_j_cycles"] * m["area_mm2"])
    assert sum(doc[0]["area_um2_by_node"].values()) / 1e6 == pytest.approx(small)
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert [r["over_area"] for r in rows] == ["0", "1"] and float(rows[1]["area_mm2"]) == pytest.approx(big)
    assert rows[1]["pareto"] == "0"  # over budget: never on the front, whatever its energy and cycles
    assert "1 config(s) over the area budget" in text and "[1]" in text.split("over the area budget")[1]
    assert (tmp_path / "s.png").stat().st_size > 0
    # -so with --metric area sorts by area and shows it; a budget nobody meets: exit 2, nothing written
    assert main(["-so", "-t", "--out", str(out), "--metric", "area"]) == 0
    table = capsys.readouterr().out.split("SUMMARY TABLE")[1]
    assert "area (mm2)" in table and table.index(f"{small:.4g}") < table.index(f"{big:.4g}")
    assert main(["-so", "--out", str(out), "--max-area", f"{small / 2}", "--csv", str(tmp_path / "n.csv")]) == 2
    assert "no config meets the area budget" in capsys.readouterr().err and not (tmp_path / "n.csv").exists()


def test_budget_nobody_meets_refused_before_anything_runs(tmp_path, capsys):
    rc, out = _sweep(tmp_path, "--max-area", "0.01")
    assert rc == 2 and not out.exists()
    assert "no config meets the area budget of 0.01 mm^2" in capsys.readouterr().err


@pytest.mark.parametrize("extra, words", [(["--max-area", "-1"], "positive"),
                                          (["--objectives", "energy,power"], "unknown objective(s) power")])
def test_bad_view_options(tmp_path, capsys, extra, words):
    rc, out = _sweep(tmp_path, *extra)
    assert rc == 2 and not out.exists() and words in capsys.readouterr().err


def test_three_objective_pareto_by_hand():
    def cr(i, e, c, a):
        return ConfigResult(i, {}, [], Totals(OK, None, e, c, e * 1e-12 * c, 1.0, 1, a))

    # [2] is beaten in energy and cycles by [0] but is the smallest: on the energy-cycles-area front only
    results = [cr(0, 1.0, 100, 5.0), cr(1, 2.0, 50, 5.0), cr(2, 3.0, 200, 1.0), cr(3, 3.0, 200, 6.0),
               ConfigResult(4, {}, [], Totals(INFEASIBLE, "x", area_mm2=0.1))]
    mark_pareto(results)
    assert [r.index for r in results if r.pareto] == [0, 1]
    mark_pareto(results, ("energy", "cycles", "area"))
    assert [r.index for r in results if r.pareto] == [0, 1, 2]
    assert results[2].totals.metric("edap") == pytest.approx(3e-12 * 200 * 1.0)
    assert math.isinf(results[4].totals.metric("area"))  # infeasible sorts last even with a known area


def test_equal_jobs_are_mapped_once_and_copied(tmp_path, capsys):
    # the two configs differ only in pe_cols, which gemmini_NOs does not take: softmax is the same job
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps([{"pe_rows": 8, "pe_cols": 8}, {"pe_rows": 8, "pe_cols": 16}]))
    out = tmp_path / "out"
    assert main(["KTQ", "softmax", "--seq-len", "16", "-q", "-c", str(cfg), "--out", str(out), "--workers", "1"]) == 0
    assert "4 (config, layer) jobs: 3 run, 1 reused" in capsys.readouterr().out
    a, b = (json.loads((out / str(i) / "outputs_softmax" / "dse-layer.json").read_text()) for i in (0, 1))
    assert b["copy_of"] == 0 and "copy_of" not in a and b["index"] == 1
    assert {k: v for k, v in a.items() if k not in ("index", "copy_of")} == \
        {k: v for k, v in b.items() if k not in ("index", "copy_of")}
    for name in a["files"]:
        assert (out / "0" / "outputs_softmax" / name).read_text() == (out / "1" / "outputs_softmax" / name).read_text()
    ka, kb = (json.loads((out / str(i) / "outputs_KTQ" / "dse-layer.json").read_text()) for i in (0, 1))
    assert "copy_of" not in kb and ka["fingerprint"] != kb["fingerprint"]
