"""Bad input gives a SpecError naming file, key path and what is accepted."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dse.errors import SpecError
from dse.spec import load_spec

ARCH = """\
architecture:
  version: 0.4
  nodes:
  - !Container
    name: System
    attributes: {technology: "32nm"}
  - !Component
    name: DRAM
    class: DRAM
    attributes: {width: 64, datawidth: 8}
  - !Component
    name: Buffer
    class: SRAM
    attributes: {depth: 1024, width: 64, datawidth: 8}
  - !Container
    name: PEs
    spatial: {meshX: 4}
  - !Component
    name: MAC
    class: intmac
"""

PROBLEM = """\
problem:
  shape:
    name: mm
    dimensions: [M, N, K]
    data_spaces:
    - {name: A, projection: [[[M]], [[K]]]}
    - {name: B, projection: [K, N]}
    - {name: Z, projection: [[[M]], [[N]]], read_write: true}
  instance: {M: 64, N: 32, K: SIZE}
variables: {SIZE: 16}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def error_of(paths, **kwargs) -> str:
    with pytest.raises(SpecError) as err:
        load_spec(paths, **kwargs)
    return str(err.value)


def test_good_small_spec(tmp_path):
    spec = load_spec([write(tmp_path, "arch.yaml", ARCH), write(tmp_path, "prob.yaml", PROBLEM)])
    assert spec.architecture.node_names == ("DRAM", "Buffer", "PEs", "MAC")
    assert spec.workload.bounds == {"M": 64, "N": 32, "K": 16} and spec.workload.macs == 64 * 32 * 16
    assert spec.workload.data_space("B").projection == ((("K", None),), (("N", None),))


def test_malformed_yaml(tmp_path):
    p = write(tmp_path, "bad.yaml", "architecture:\n  nodes: [1, 2\n  version: 0.4\n")
    msg = error_of([p])
    assert str(p) in msg and "line 3" in msg and "column" in msg and "malformed YAML" in msg and "Accepted:" in msg


def test_unknown_tag(tmp_path):
    p = write(tmp_path, "arch.yaml", ARCH.replace("!Container\n    name: PEs", "!Box\n    name: PEs"))
    msg = error_of([p])
    assert str(p) in msg and "line 15" in msg and "unknown tag '!Box'" in msg
    assert "!Container, !Component, !Parallel, !Hierarchical" in msg


def test_component_without_class(tmp_path):
    p = write(tmp_path, "arch.yaml", ARCH.replace("    class: SRAM\n", ""))
    msg = error_of([p])
    assert f"{p}: architecture.nodes[2]: missing required key 'class'" in msg
    assert "Accepted:" in msg and "intmac" in msg


def test_problem_without_shape(tmp_path):
    p = write(tmp_path, "prob.yaml", "problem:\n  instance: {M: 4}\n")
    msg = error_of([p])
    assert f"{p}: problem: missing required key 'shape'" in msg and "Accepted:" in msg


def test_undefined_variable_in_bound(tmp_path):
    p = write(tmp_path, "prob.yaml", PROBLEM.replace("K: SIZE", "K: SIZ*2"))
    msg = error_of([p])
    assert f"{p}: problem.instance.K: undefined variable 'SIZ'" in msg and "did you mean SIZE" in msg
    assert "defined variables: SIZE" in msg


def test_undefined_variable_in_variables(tmp_path):
    p = write(tmp_path, "vars.yaml", "variables:\n  A: 4\n  B: A*C\n")
    msg = error_of([p])
    assert f"{p}: variables.B: undefined variable 'C'" in msg and "defined variables: A" in msg


def test_disallowed_expression_in_attribute(tmp_path):
    p = write(tmp_path, "arch.yaml", ARCH.replace("depth: 1024", "depth: \"__import__('os')\""))
    msg = error_of([p])
    assert f"{p}: architecture.nodes[2].attributes.depth" in msg and "__import__" in msg and "Accepted:" in msg


def test_disallowed_expression_in_bound(tmp_path):
    p = write(tmp_path, "prob.yaml", PROBLEM.replace("K: SIZE", "K: ().__class__"))
    msg = error_of([p])
    assert f"{p}: problem.instance.K" in msg and "attribute" in msg and "Accepted:" in msg


def test_projection_with_unknown_dimension(tmp_path):
    p = write(tmp_path, "prob.yaml", PROBLEM.replace("[[[M]], [[K]]]", "[[[M]], [[X]]]"))
    msg = error_of([p])
    assert f"{p}: problem.shape.data_spaces[0].projection[1][0]" in msg and "unknown dimension 'X'" in msg
    assert "Accepted: dimensions M, N, K" in msg


def test_non_positive_dimension(tmp_path):
    p = write(tmp_path, "prob.yaml", PROBLEM.replace("N: 32", "N: SIZE-16"))
    msg = error_of([p])
    assert f"{p}: problem.instance.N: dimension size must be positive, got 0" in msg and "Accepted: an integer >= 1" in msg


def test_non_integer_dimension(tmp_path):
    p = write(tmp_path, "prob.yaml", PROBLEM.replace("N: 32", "N: SIZE/3"))
    assert "problem.instance.N: expected an integer" in error_of([p])


def constraints_file(tmp_path, body: str) -> Path:
    return write(tmp_path, "cons.yaml", "constraints:\n  targets:\n" + textwrap.indent(textwrap.dedent(body), "  "))


def test_unknown_constraint_target(tmp_path):
    c = constraints_file(tmp_path, "- {target: Bufer, type: temporal, factors: [M=1]}\n")
    msg = error_of([write(tmp_path, "arch.yaml", ARCH), write(tmp_path, "prob.yaml", PROBLEM), c])
    assert f"{c}: constraints.targets[0]: constraint target 'Bufer' is not a level" in msg
    assert "Accepted: targets for temporal constraints: DRAM, Buffer" in msg


def test_constraint_on_compute_level(tmp_path):
    c = constraints_file(tmp_path, "- {target: MAC, type: temporal, factors: [M=1]}\n")
    msg = error_of([write(tmp_path, "arch.yaml", ARCH), c])
    assert "cannot target 'MAC', which is the compute level" in msg and "DRAM, Buffer" in msg


def test_unknown_constraint_dimension(tmp_path):
    c = constraints_file(tmp_path, "- {target: Buffer, type: temporal, factors: 'M=1 Q=2'}\n")
    msg = error_of([write(tmp_path, "arch.yaml", ARCH), write(tmp_path, "prob.yaml", PROBLEM), c])
    assert f"{c}: constraints.targets[0]" in msg and "unknown dimension 'Q'" in msg and "M, N, K" in msg


def test_unknown_data_space_in_keep(tmp_path):
    c = constraints_file(tmp_path, "- {target: Buffer, type: dataspace, keep: [A, Weights]}\n")
    msg = error_of([write(tmp_path, "arch.yaml", ARCH), write(tmp_path, "prob.yaml", PROBLEM), c])
    assert "unknown data space 'Weights'" in msg and "A, B, Z" in msg


def test_conflicting_factors(tmp_path):
    c = constraints_file(tmp_path, "- {target: Buffer, type: temporal, factors: [M=4]}\n- {target: Buffer, type: temporal, factors: [M>=8]}\n")
    msg = error_of([write(tmp_path, "arch.yaml", ARCH), write(tmp_path, "prob.yaml", PROBLEM), c])
    assert "conflicting factor constraints on 'Buffer' (temporal) for dimension M: M=4 and M>=8" in msg
    assert f"{c}: constraints.targets[0] and {c}: constraints.targets[1]" in msg and "Accepted:" in msg


def test_conflicting_factors_inline_and_file(tmp_path):
    arch = ARCH.replace("    spatial: {meshX: 4}\n", "    spatial: {meshX: 4}\n    constraints: {spatial: {factors: [N=4]}}\n")
    c = constraints_file(tmp_path, "- {target: PEs, type: spatial, factors: [N=2]}\n")
    msg = error_of([write(tmp_path, "arch.yaml", arch), write(tmp_path, "prob.yaml", PROBLEM), c])
    assert "architecture.nodes[3].constraints.spatial" in msg and "constraints.targets[0]" in msg and "N=4 and N=2" in msg


def test_compatible_bounds_are_accepted(tmp_path):
    c = constraints_file(tmp_path, "- {target: PEs, type: spatial, factors: [N<=4, N>=2, M=1]}\n")
    spec = load_spec([write(tmp_path, "arch.yaml", ARCH), write(tmp_path, "prob.yaml", PROBLEM), c])
    assert {(f.dim, f.op, f.value) for f in spec.constraints[0].factors} == {("N", "<=", 4), ("N", ">=", 2), ("M", "=", 1)}


def test_conflicting_permutations(tmp_path):
    c = constraints_file(tmp_path, "- {target: Buffer, type: temporal, permutation: MNK}\n- {target: Buffer, type: temporal, permutation: [N, M, K]}\n")
    msg = error_of([write(tmp_path, "arch.yaml", ARCH), write(tmp_path, "prob.yaml", PROBLEM), c])
    assert "conflicting permutations" in msg and "constraints.targets[1]" in msg


def test_keep_and_bypass_overlap(tmp_path):
    c = constraints_file(tmp_path, "- {target: Buffer, type: dataspace, keep: [A]}\n- {target: Buffer, type: bypassing, bypass: [A]}\n")
    msg = error_of([write(tmp_path, "arch.yaml", ARCH), write(tmp_path, "prob.yaml", PROBLEM), c])
    assert "both kept and bypassed" in msg


def test_unknown_constraint_key_and_type(tmp_path):
    c = constraints_file(tmp_path, "- {target: Buffer, type: temporal, factor: [M=1]}\n")
    msg = error_of([write(tmp_path, "arch.yaml", ARCH), c])
    assert f"{c}: constraints.targets[0].factor: unknown key 'factor'" in msg and "factors" in msg
    c = constraints_file(tmp_path, "- {target: Buffer, type: temporl}\n")
    assert "unknown constraint type 'temporl'" in error_of([write(tmp_path, "arch.yaml", ARCH), c])


def test_bad_factor_syntax(tmp_path):
    c = constraints_file(tmp_path, "- {target: Buffer, type: temporal, factors: [M:4]}\n")
    msg = error_of([write(tmp_path, "arch.yaml", ARCH), c])
    assert "bad factor" in msg and "DIM=N" in msg


def test_mesh_inconsistent_with_containers(tmp_path):
    p = write(tmp_path, "arch.yaml", ARCH + "    attributes: {meshX: 8}\n")
    msg = error_of([p])
    assert f"{p}: architecture.nodes[4].attributes.meshX" in msg and "meshX: 4" in msg


def test_unknown_top_level_key(tmp_path):
    p = write(tmp_path, "x.yaml", "constraint:\n  targets: []\n")
    msg = error_of([p])
    assert f"{p}: constraint: unknown top-level key" in msg and "constraints" in msg


def test_missing_file():
    msg = error_of(["/nonexistent/arch.yaml"])
    assert "/nonexistent/arch.yaml: no such file" in msg


def test_v03_bad_range_and_mesh(tmp_path):
    arch = """\
    architecture:
      version: 0.3
      subtree:
      - name: sys
        local:
        - {name: DRAM, class: DRAM, attributes: {width: 64, datawidth: 8}}
        subtree:
        - name: PE[0..15]
          local:
          - {name: mac, class: intmac, attributes: {meshX: 3}}
    """
    msg = error_of([write(tmp_path, "a.yaml", arch)])
    assert "architecture.subtree[0].subtree[0].local[0].attributes" in msg and "meshX * meshY == 16" in msg


def test_a_permutation_naming_a_dimension_twice_is_refused():
    import pytest

    from dse.errors import SpecError
    from dse.spec.constraints import parse_permutation

    assert parse_permutation(["E", "D", "L"], ("E", "D", "L"), "here") == ("E", "D", "L")
    with pytest.raises(SpecError, match="names E more than once"):
        parse_permutation(["E", "E", "L"], ("E", "D", "L"), "constraints.yaml: targets[0].permutation")
    with pytest.raises(SpecError, match="more than once"):
        parse_permutation("EEL", ("E", "D", "L"), "here")
