"""Property-based fuzzing of the entry points (issue 16), kept fast for the default suite.

Each example mutates a shipped spec, mapping or config file (tests/fuzz/harness.py) and
runs `dse spec`, `run.py --spec`, `dse model` or `hwdse_run.py -c` in a forked child with
a time and memory bound.  The property: exit 0 with finite, non-negative numbers, or exit
2/3 with an `error:` paragraph and no traceback.  The longer run is tests/fuzz/run_fuzz.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "fuzz"))

from harness import make_case, run_case  # noqa: E402

FAST = settings(max_examples=6, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def check(entry: str, seed: int, tmp_path: Path) -> None:
    case = make_case(entry, seed, tmp_path / f"case_{seed}")
    outcome = run_case(case, timeout_s=60.0)  # generous: the suite may share a busy machine
    assert outcome.kind in ("ok", "refused"), f"{entry} seed {seed}: {outcome.kind}: {outcome.detail}"


@FAST
@given(seed=st.integers(0, 10**9))
def test_fuzz_dse_spec(tmp_path_factory, seed):
    check("dse spec", seed, tmp_path_factory.mktemp("fz"))


@FAST
@given(seed=st.integers(0, 10**9))
def test_fuzz_dse_model(tmp_path_factory, seed):
    check("dse model", seed, tmp_path_factory.mktemp("fz"))


@settings(FAST, max_examples=3)
@given(seed=st.integers(0, 10**9))
def test_fuzz_run_spec(tmp_path_factory, seed):
    check("run.py --spec", seed, tmp_path_factory.mktemp("fz"))


@settings(FAST, max_examples=3)
@given(seed=st.integers(0, 10**9))
def test_fuzz_hwdse_configs(tmp_path_factory, seed):
    check("hwdse_run.py -c", seed, tmp_path_factory.mktemp("fz"))


#: (entry point, seed) of every failure the fuzzer found; each was a class of bug, fixed.
#: (They rebuild the same mutant only with this harness and these shipped files: the
#: explicit regression tests below pin each class independently of the harness.)
FOUND = [
    ("run.py --spec", 9),     # a compound class's action entry not a mapping: ValueError in compound.py
    ("dse model", 13),        # a NUL byte in a spec file: yaml ReaderError escaped the loader
    ("dse spec", 2),          # technology: .nan printed as 'nan' with exit 0
    ("hwdse_run.py -c", 1029),  # pe_rows = 2**70: int64 overflow in the model (meshes now bounded)
    ("run.py --spec", 228),   # SEQ_LENGTH: 2**70: int64 overflow (workload size now bounded)
]


@pytest.mark.parametrize("entry,seed", FOUND)
def test_found_failures_stay_fixed(tmp_path, entry, seed):
    check(entry, seed, tmp_path)


def test_nul_byte_in_yaml_is_a_spec_error():
    from dse.errors import SpecError
    from dse.spec.yaml_io import loads_yaml

    with pytest.raises(SpecError, match="x.yaml"):
        loads_yaml("a: 1\x00\n", "x.yaml")


def test_malformed_compound_class_is_an_estimation_error():
    from dse.energy import ComponentModel, Estimators
    from dse.errors import EstimationError

    classes = {"buf": {"name": "buf", "attributes": {"depth": 4},
                       "subcomponents": [{"name": "storage", "class": "SRAM", "attributes": {"depth": "depth"}}],
                       "actions": [{"name": "read", "subcomponents": [{"name": "storage", "actions": ["read"]}]}]}}
    model = ComponentModel(classes, Estimators.default(entry_points=False))
    with pytest.raises(EstimationError, match="malformed compound class 'buf'"):
        model.energy("buf", {}, "read", "arch.yaml: Buffer")


def test_numeric_technology_must_be_finite(tmp_path):
    from dse.errors import SpecError
    from dse.spec.loader import load_spec

    ref = Path(__file__).parent / "data" / "reference" / "transformer_gemmini"
    var = tmp_path / "variables.yaml"
    var.write_text((ref / "mapper/variables.yaml").read_text().replace('technology: "32nm"', "technology: .nan"))
    with pytest.raises(SpecError, match="technology (must be finite|is nan)"):
        load_spec([ref / "arch/system_gemmini.yaml", *sorted((ref / "arch/components").glob("*.yaml")), var])
