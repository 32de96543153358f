"""Loading a specification from several YAML files: :func:`load_spec`.

Files are read in the order given (directories contribute all ``*.yaml`` /
``*.yml`` files below them, sorted; glob patterns are expanded, sorted) and
merged the way timeloopfe merges its inputs:

* ``architecture``, ``problem``, ``mapper`` and ``mapspace.template``: a later
  file replaces an earlier one (a warning notes it);
* ``variables``: merged key by key, later files win; the ``variables`` argument
  of :func:`load_spec` wins over all files (this is how sweeps set knobs);
* constraint ``targets`` (from ``constraints``, ``mapspace`` or
  ``mapspace_constraints``) accumulate, and so do the inline constraints of
  architecture nodes;
* compound component classes (``compound_components`` or ``components``)
  accumulate by class name.

A top-level ``mapping:`` (a fixed mapping) is not part of a :class:`Spec`; read it
with :func:`dse.spec.mapping.load_mapping`.  A file whose top-level keys are all
unknown is an error (a typo such as ``constraint:``); unknown keys next to known
ones (e.g. a holder of YAML anchors) are ignored with a warning.
"""
from __future__ import annotations

import ast
import glob
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from dse.errors import SpecError
from dse.spec.architecture import RawConstraint, build_architecture
from dse.spec.common import at, expect_list, expect_mapping, expect_name
from dse.spec.constraints import build_constraints, targets_list
from dse.spec.expressions import ExpressionTooLarge, evaluate, parse_expression
from dse.spec.mapper_options import build_mapper_options
from dse.spec.problem import build_workload
from dse.spec.types import MapperOptions, Spec
from dse.spec.yaml_io import load_yaml

TOP_LEVEL_KEYS = (
    "architecture",
    "components",
    "compound_components",
    "problem",
    "constraints",
    "mapper",
    "mapspace",
    "mapspace_constraints",
    "variables",
    "mapping",
    "globals",
    "architecture_constraints",  # timeloopfe's processed spec (parsed-processed-input.yaml)
    "dumped_by_timeloop_front_end",
)
MAPSPACE_TEMPLATES = ("uber", "ruby")


@dataclass
class _Collected:
    """Raw sections gathered from all files, before evaluation."""

    sections: dict[str, tuple[str, Any]] = field(default_factory=dict)
    variables: dict[str, tuple[str, Any]] = field(default_factory=dict)
    constraints: list[RawConstraint] = field(default_factory=list)
    components: dict[str, dict] = field(default_factory=dict)
    template: tuple[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    processed_files: set[str] = field(default_factory=set)  # files marked dumped_by_timeloop_front_end


def expand_paths(paths: Sequence[str | Path]) -> list[tuple[Path, bool]]:
    """Files named by ``paths``: ``(path, came_from_a_directory)``, in order, without repeats."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[tuple[Path, bool]] = []
    seen: set[Path] = set()

    def add(p: Path, from_dir: bool) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append((p, from_dir))

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml") and x.is_file())
            if not found:
                raise SpecError("directory holds no .yaml files", where=str(p), accepted="a directory with YAML spec files")
            for x in found:
                add(x, True)
        elif p.is_file():
            add(p, False)
        elif glob.has_magic(str(raw)):
            matches = sorted(Path(x) for x in glob.glob(str(raw), recursive=True) if Path(x).is_file())
            if not matches:
                raise SpecError("pattern matches no file", where=str(raw), accepted="a file, directory or glob pattern that matches YAML files")
            for x in matches:
                add(x, False)
        else:
            raise SpecError("no such file or directory", where=str(raw), accepted="existing YAML files, directories or glob patterns")
    if not out:
        raise SpecError("no spec files given", where="load_spec(paths)", accepted="one or more YAML files")
    return out


def load_spec(paths: Sequence[str | Path] | str | Path, variables: Mapping[str, Any] | None = None,
              defaults: Mapping[str, Any] | None = None) -> Spec:
    """Load and merge Timeloop v0.3/v0.4 YAML files into a typed, immutable :class:`Spec`.

    ``variables`` override the files' ``variables``; ``defaults`` only supply the ones the
    files do not define (values may be numbers or expression strings).  Any problem in the input raises
    :class:`~dse.errors.SpecError` naming the file, key path and what is accepted.
    """
    overrides = dict(variables or {})
    files = expand_paths(paths)
    col = _Collected()
    for path, from_dir in files:
        _collect(col, str(path), load_yaml(path), from_dir)

    values = evaluate_variables(col.variables, overrides, defaults or {})
    warnings = list(col.warnings)

    architecture = None
    inline: list[RawConstraint] = []
    if "architecture" in col.sections:
        file, raw = col.sections["architecture"]
        architecture, inline, arch_warnings = build_architecture(raw, file, values, overrides,
                                                                 processed=file in col.processed_files)
        warnings += arch_warnings
    workload = None
    if "problem" in col.sections:
        file, raw = col.sections["problem"]
        workload, problem_warnings = build_workload(raw, file, values)
        warnings += problem_warnings
    constraints, constraint_warnings = build_constraints(inline + col.constraints, architecture, workload, values)
    warnings += constraint_warnings
    mapper = MapperOptions()
    if "mapper" in col.sections:
        file, raw = col.sections["mapper"]
        mapper = build_mapper_options(raw, file, values)
    template = "uber"
    if col.template is not None:
        file, raw = col.template
        if raw not in MAPSPACE_TEMPLATES:
            raise SpecError(f"unknown mapspace template {raw!r}", where=at(file, "mapspace.template"), accepted=", ".join(MAPSPACE_TEMPLATES))
        template = raw
    return Spec(
        architecture=architecture,
        workload=workload,
        constraints=constraints,
        mapper=mapper,
        variables=values,
        components=col.components,
        mapspace_template=template,
        sources=tuple(str(p) for p, _ in files),
        warnings=tuple(warnings),
    )


def _collect(col: _Collected, file: str, data: Any, from_dir: bool) -> None:
    """Add one file's top-level sections to ``col``."""
    if data is None:
        col.warnings.append(f"{file}: empty file")
        return
    if not isinstance(data, dict) or not any(k in TOP_LEVEL_KEYS for k in data):
        if from_dir:
            col.warnings.append(f"{file}: not a spec file (no {', '.join(TOP_LEVEL_KEYS[:5])}...); skipped")
            return
    data = expect_mapping(data, file, "", "a mapping with top-level keys such as architecture, problem, constraints")
    known = any(k in TOP_LEVEL_KEYS for k in data)
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            if not known:
                raise SpecError(f"unknown top-level key '{key}'", where=at(file, str(key)), accepted=", ".join(TOP_LEVEL_KEYS))
            col.warnings.append(f"{file}: unknown top-level key '{key}' ignored (accepted: {', '.join(TOP_LEVEL_KEYS)})")
    if data.get("dumped_by_timeloop_front_end"):
        col.processed_files.add(file)
    for key in ("architecture", "problem", "mapper"):
        if key in data:
            if key in col.sections:
                col.warnings.append(f"{file}: '{key}' replaces the one from {col.sections[key][0]}")
            col.sections[key] = (file, data[key])
    if "variables" in data:
        for name, value in expect_mapping(data["variables"], file, "variables").items():
            if name != "version":
                col.variables[str(name)] = (file, value)
    for key in ("compound_components", "components"):
        if key in data:
            _collect_components(col, file, key, data[key])
    if "constraints" in data:
        section = expect_mapping(data["constraints"], file, "constraints", "a mapping with 'targets: [...]'")
        col.constraints += targets_list(section.get("targets"), file, "constraints.targets")
    if "architecture_constraints" in data:
        # timeloopfe moves every constraint (the inline ones of the v4 nodes included) here for timeloop-mapper
        section = expect_mapping(data["architecture_constraints"], file, "architecture_constraints", "a mapping with 'targets: [...]'")
        col.constraints += targets_list(section.get("targets"), file, "architecture_constraints.targets")
    if "mapspace" in data:
        section = expect_mapping(data["mapspace"], file, "mapspace", "a mapping with 'template' and/or 'targets'")
        col.constraints += targets_list(section.get("targets"), file, "mapspace.targets")
        if "template" in section:
            col.template = (file, section["template"])
    if "mapspace_constraints" in data:
        section = data["mapspace_constraints"]
        if isinstance(section, dict):
            col.constraints += targets_list(section.get("targets"), file, "mapspace_constraints.targets")
        else:
            col.constraints += targets_list(section, file, "mapspace_constraints")
    if "mapping" in data and "dumped_by_timeloop_front_end" in data:
        col.warnings.append(f"{file}: 'mapping' (timeloopfe's mapping for timeloop-model) is not part of the spec; "
                            "dse model reads it when no --mapping is given")
    elif "mapping" in data:
        col.warnings.append(f"{file}: 'mapping' is a fixed mapping, not part of the spec; load it with dse.spec.mapping.load_mapping")
    if "globals" in data:
        col.warnings.append(f"{file}: 'globals' is not used; ignored")


def _collect_components(col: _Collected, file: str, key: str, raw: Any) -> None:
    if isinstance(raw, dict):
        classes = expect_list(raw.get("classes"), file, f"{key}.classes", "a list of component classes")
        path = f"{key}.classes"
    else:
        classes = expect_list(raw, file, key, "a mapping with 'classes: [...]' or a list of classes")
        path = key
    for i, cls in enumerate(classes):
        cls = expect_mapping(cls, file, f"{path}[{i}]", "a component class {name, attributes, subcomponents, actions}")
        if "name" not in cls:
            raise SpecError("component class has no 'name'", where=at(file, f"{path}[{i}]"), accepted="'name', 'attributes', 'subcomponents', 'actions'")
        name = expect_name(cls["name"], file, f"{path}[{i}].name")
        col.components[name] = _plain(cls)


def _plain(value: Any) -> Any:
    """Deep copy with plain dicts/lists (drops YAML tag wrappers)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def evaluate_variables(raw: Mapping[str, tuple[str, Any]], overrides: Mapping[str, Any],
                       defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate variables in file order; each may use earlier ones; ``overrides`` replace values in place;
    ``defaults`` not defined by the files come first (the files' variables may use them).

    A string value that is not an expression (``"32nm"``) or is a single unknown
    name (``LPDDR4``) stays a string; an expression with operators over unknown
    names is an error.
    """
    out: dict[str, Any] = {}
    items = [(name, "", value) for name, value in (defaults or {}).items() if name not in raw and name not in overrides]
    items += [(name, file, value) for name, (file, value) in raw.items()]
    items += [(name, "", value) for name, value in overrides.items() if name not in raw]
    for name, file, value in items:
        if name in overrides:
            value, where = overrides[name], f"variable override {name}={overrides[name]!r}"
        elif not file:
            where = f"default variable {name}={value!r}"
        else:
            where = at(file, f"variables.{name}")
        out[name] = _variable_value(value, out, where)
        number = out[name]
        if isinstance(number, float) and not math.isfinite(number):
            raise SpecError(f"variable {name} is {number}", where=where, accepted="a finite number (or a string)")
    return out


def _variable_value(value: Any, known: Mapping[str, Any], where: str) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text in known:
        return known[text]
    try:
        tree = parse_expression(text)
    except ExpressionTooLarge:
        return evaluate(text, known, where)  # raises the bounded evaluator's SpecError
    if tree is None:
        return value
    if isinstance(tree, ast.Name):  # a single unknown name: a symbolic string such as LPDDR4
        return value
    if isinstance(tree, ast.Constant) and not isinstance(tree.value, (int, float)):
        return value
    return evaluate(text, known, where)
