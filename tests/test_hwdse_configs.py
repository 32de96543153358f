"""hwdse config files: JSON errors with line/column, mix-up, per-index validation."""
from __future__ import annotations

import json

import pytest

from dse.errors import DseError
from dse.hwdse.configs import load_configs, mixup, validate_configs
from dse.spec.library import knobs_of

REF = "tests/data/reference"


def test_malformed_json_reports_line_and_column(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('[\n  {"pe_rows": 16},\n  {"pe_rows" 8}\n]\n')
    with pytest.raises(DseError) as e:
        load_configs(p)
    assert "line 3, column 14" in e.value.format() and f"{p}:3:14" in e.value.format()


@pytest.mark.parametrize("text,words", [("[]", "empty"), ('{"pe_rows": 16}', "not a list"), ("[1, {}]", "[0]")])
def test_bad_shapes(tmp_path, text, words):
    p = tmp_path / "c.json"
    p.write_text(text)
    with pytest.raises(DseError, match=r".*") as e:
        load_configs(p)
    assert words in e.value.format()


def test_missing_file(tmp_path):
    with pytest.raises(DseError, match="not found"):
        load_configs(tmp_path / "nope.json")


def test_mixup_cross_product_deduplicated():
    configs = [{"pe_rows": 16, "pe_cols": 16, "dataflow": "WS"}, {"pe_rows": 8, "pe_cols": 16, "dataflow": "WS"},
               {"pe_rows": 16, "pe_cols": 32, "dataflow": "WS"}, {"pe_rows": 8, "pe_cols": 32, "dataflow": "WS"}]
    out = mixup(configs)
    assert out == [{"pe_rows": 16, "pe_cols": 16, "dataflow": "WS"}, {"pe_rows": 16, "pe_cols": 32, "dataflow": "WS"},
                   {"pe_rows": 8, "pe_cols": 16, "dataflow": "WS"}, {"pe_rows": 8, "pe_cols": 32, "dataflow": "WS"}]
    # 1, 1.0 and true are different values; repeated values count once
    assert len(mixup([{"a": 1}, {"a": 1.0}, {"a": True}, {"a": 1}])) == 3
    # keys missing in some configs still take every value seen
    assert mixup([{"a": 1}, {"b": 2}, {"a": 3, "b": 4}]) == [{"a": 1, "b": 2}, {"a": 1, "b": 4},
                                                             {"a": 3, "b": 2}, {"a": 3, "b": 4}]


def test_reference_gemmini_mixup_size():
    configs = json.load(open(f"{REF}/transformer_gemmini/hw_configs.json"))
    keys = {k: {json.dumps(c[k]) for c in configs} for k in configs[0]}
    expected = 1
    for vals in keys.values():
        expected *= len(vals)
    assert len(mixup(configs)) == expected == 1 * 6 * 1 * 1 * 6 * 6 * 2 * 1  # acc, rows, cols: 6 values each; WS, OS


def test_validation_reports_every_problem_per_index():
    configs = [{"pe_rows": 16, "pe_colz": 16}, {"pe_rows": 0, "pe_colz": 1}, {"pe_rows": "x"}]
    with pytest.raises(DseError) as e:
        validate_configs(configs, "gemmini", "cfg.json")
    text = e.value.format()
    assert "cfg.json" in text and "nothing was run" in text
    assert "[0]: unknown knob 'pe_colz'" in text and "did you mean pe_cols" in text
    assert "[1]: pe_rows" in text and "out of range" in text
    assert "[2]: pe_rows" in text and "not a number" in text
    assert "[2] missing key(s)" not in text  # pe_colz is unknown, not missing


def test_missing_known_key_is_reported():
    with pytest.raises(DseError, match=r"\[1\] missing key\(s\) pe_cols"):
        validate_configs([{"pe_rows": 16, "pe_cols": 16}, {"pe_rows": 8}], "gemmini", "cfg.json")


def test_reference_configs_validate_once_the_knobs_exist():
    configs = load_configs(f"{REF}/transformer_gemmini/hw_configs.json")
    knobs = knobs_of("gemmini")
    if "rf_size" not in knobs or "OS" not in (knobs["dataflow"].choices or ()):
        pytest.skip("gemmini rf_size knob / OS dataflow not shipped yet")
    validate_configs(configs, "gemmini", "hw_configs.json")


def test_repeated_configs_are_found_with_their_first_occurrence():
    from dse.hwdse.configs import repeated

    cfgs = [{"pe_rows": 16}, {"pe_rows": 8}, {"pe_rows": 16}, {"pe_rows": 16.0}, {"pe_rows": 8}]
    assert repeated(cfgs) == [(0, 2), (1, 4)]  # 16.0 is another JSON value, kept apart
