"""The safe expression evaluator and the YAML dialect."""
from __future__ import annotations

import math

import pytest

from dse.errors import SpecError
from dse.spec.expressions import evaluate, evaluate_attribute
from dse.spec.yaml_io import loads_yaml


@pytest.mark.parametrize("text,expected", [
    ("262144*2", 524288),
    ("24*2**20", 25165824),
    ("(262144*8)//(8*32)", 8192),
    ("7 % 4 + -1", 2),
    ("16/2", 8.0),
    ("max(1, ceil(log2(1024))) if 1024 >= 1 else 1", 10),
    ("min(3, 4) == 3 and not False", True),
    ("1 < 2 < 3", True),
    ("1e-9", 1e-9),
    ("sqrt(16) + abs(-2) + floor(2.7) + round(2.4) + int(3.9) + float(1) + pow(2, 3) + log10(100) + sum([1, 2])", 27.0),
])
def test_arithmetic(text, expected):
    assert evaluate(text, {}, "test") == expected


def test_names_and_operator_named_variables():
    names = {"EMBEDDING": 768, "HEADS": 12, "EMBEDDING//HEADS": 64, "EMBEDDING*3": 2304, "depth": 1024}
    assert evaluate("EMBEDDING//HEADS", names, "x") == 64
    assert evaluate("EMBEDDING*3", names, "x") == 2304
    assert evaluate("EMBEDDING * 2", names, "x") == 1536
    assert evaluate("log(depth, 2)", names, "x") == pytest.approx(10)
    assert evaluate(5, names, "x") == 5 and evaluate(2.5, names, "x") == 2.5


@pytest.mark.parametrize("text", ["1ns", "LPDDR4", "32nm", "must_specify", "D2A_NoC", "1:N", "smartbuffer_SRAM"])
def test_attribute_strings_stay_strings(text):
    assert evaluate_attribute(text, {"depth": 4}, "attr") == text


def test_attribute_expressions_are_evaluated():
    names = {"datawidth": 16, "cell_datawidth": 2}
    assert evaluate_attribute("datawidth/cell_datawidth", names, "a") == 8.0
    assert evaluate_attribute("16384*2", {}, "a") == 32768
    assert evaluate_attribute(["2*2", "x"], {}, "a") == [4, "x"]
    assert evaluate_attribute(True, {}, "a") is True


@pytest.mark.parametrize("text,what", [
    ("__import__('os')", "__import__"),
    ("().__class__", "attribute"),
    ("[x for x in [1]]", "comprehension"),
    ("(lambda: 1)()", "lambda"),
    ("open('f')", "open"),
    ("[1][0]", "subscript"),
    ("2**10**10", "exponent"),
])
def test_disallowed_expressions(text, what):
    for fn in (evaluate, evaluate_attribute):
        with pytest.raises(SpecError) as err:
            fn(text, {"x": 1}, "arch.yaml: architecture.nodes[1].attributes.depth")
        msg = str(err.value)
        assert "arch.yaml: architecture.nodes[1].attributes.depth" in msg
        assert what in msg
        assert "Accepted:" in msg and "ceil" in msg


def test_dunder_name_is_refused():
    with pytest.raises(SpecError, match="__builtins__"):
        evaluate("__builtins__", {}, "w")


def test_undefined_name_lists_close_matches_first():
    names = {"EMBEDDING*3": 3072, "EMBEDDING": 1024, "SEQ_LENGTH": 4096, "HEADS": 16}
    with pytest.raises(SpecError) as err:
        evaluate("EMBEDDING_3", names, "KQV_layer.yaml: problem.instance.D")
    msg = str(err.value)
    assert msg.startswith("KQV_layer.yaml: problem.instance.D: undefined variable 'EMBEDDING_3'")
    listing = msg.split("defined variables:")[1]
    assert listing.index("EMBEDDING*3") < listing.index("SEQ_LENGTH")
    assert "HEADS" in listing


def test_division_by_zero_is_a_spec_error():
    with pytest.raises(SpecError, match="cannot evaluate"):
        evaluate("1/0", {}, "w")


def test_yaml_dialect():
    data = loads_yaml("a: 1:1\nb: 1e-9\nc: 010\nd: 16384*2\ne: !Component {name: x, class: SRAM}\n"
                      "base: &b {x: 1}\nm: {<<: *b, y: 2}\n")
    assert data["a"] == "1:1" and data["b"] == 1e-9 and data["c"] == 10 and data["d"] == "16384*2"
    assert data["e"].tag == "!Component" and data["e"]["class"] == "SRAM"
    assert data["m"] == {"x": 1, "y": 2}
    assert math.isinf(loads_yaml("x: .inf")["x"])


@pytest.mark.parametrize("text,what", [
    ("9**9**9", "exponent"),
    ("(2**1000)**2", "integer above"),
    ("pow(9, 9**9)", "exponent"),
    ("10**308*10**308", "integer above"),
    ("round(10**300, -10**6)", "round()"),
    ("'a'*10**9", "repeated"),
    ("[1]*10**9", "repeated"),
    ("'%999999999d' % 1", "string formatting"),
    ("not " * 5000 + "1", "characters long"),
    ("not " * 200 + "1", "nested more than"),
    ("-" * 5000 + "1", "nested too deeply"),
    ("1+" * 3000 + "1", "nested"),
    ("9" * 5000, "integer literal is too long"),
    ("int('9'*4000)", "integer above"),
    ("1e308*10", "non-finite"),
    ("float('nan')", "non-finite"),
    ("sum([1e308, 1e308])", "non-finite"),
], ids=lambda v: v[:20] if isinstance(v, str) else None)
def test_expression_bounds(text, what):
    """Every resource an expression could exhaust is bounded; the error names the key and the expression."""
    for fn in (evaluate, evaluate_attribute):
        with pytest.raises(SpecError) as err:
            fn(text, {}, "arch.yaml: architecture.nodes[1].attributes.depth")
        msg = str(err.value)
        assert msg.startswith("arch.yaml: architecture.nodes[1].attributes.depth: ")
        assert what in msg, msg
        assert len(msg) < 700


def test_bounds_keep_ordinary_large_values():
    assert evaluate("2**64 * 1024", {}, "w") == 2**74
    assert evaluate("round(1234.5678, 2)", {}, "w") == 1234.57
    assert evaluate("1e300 * 10", {}, "w") == 1e301
    assert evaluate("'ab' * 3", {}, "w") == "ababab"


def _laughs(levels: int) -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text,what", [
    ("[" * 5000 + "]" * 5000, "nested more than 100"),
    ("a:\n" + "".join(" " * i + "b:\n" for i in range(1, 300)), "nested more than 100"),
    (_laughs(10), "expands to more than"),
    ("a: &a [1, *a]", "containing itself"),
    ("x: " + "9" * 5000, "5000 digits"),
])
def test_yaml_bounds(text, what):
    """Deep documents, alias bombs and over-long integers are refused with file, line and column."""
    with pytest.raises(SpecError) as err:
        loads_yaml(text, "arch.yaml")
    assert str(err.value).startswith("arch.yaml: line ") and what in str(err.value)


def test_yaml_shared_anchors_within_bounds_load():
    doc = loads_yaml(_laughs(3) + "m: &m {b: 1}\nn: {<<: *m, d: 2}\n", "x.yaml")
    assert len(doc["c"]) == 9 and doc["c"][0][0] == ["lol"] * 9 and doc["n"] == {"b": 1, "d": 2}
