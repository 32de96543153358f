"""Reading Timeloop / Accelergy YAML files.

:func:`load_yaml` uses a :class:`yaml.SafeLoader` subclass that

* accepts the architecture tags ``!Container``, ``!Component``, ``!Parallel``,
  ``!Hierarchical`` and ``!Nothing`` (a placeholder inside ``!Parallel``) and
  returns their mappings as :class:`Tagged` dicts;
* reports any other tag as a :class:`~dse.errors.SpecError` with file and line;
* keeps YAML merge keys (``<<: *anchor``);
* resolves plain scalars the YAML 1.2 way, like Timeloop's yaml-cpp: ``1:1`` stays
  a string (YAML 1.1 would read it as the base-60 number 61), ``1e-9`` is a float
  and ``010`` is ten (not octal eight).

Malformed YAML is reported with file, line and column.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from dse.errors import SpecError

#: Tags accepted in architecture files.
ACCEPTED_TAGS = ("!Container", "!Component", "!Parallel", "!Hierarchical", "!Nothing")


class Tagged(dict):
    """A mapping that carried a YAML tag such as ``!Component`` (``tag`` holds it)."""

    tag: str = ""

    def __reduce__(self):  # keep the tag when pickled
        return (_make_tagged, (self.tag, dict(self)))


def _make_tagged(tag: str, items: dict) -> Tagged:
    out = Tagged(items)
    out.tag = tag
    return out


class SpecLoader(yaml.SafeLoader):
    """SafeLoader with Timeloop tags and YAML 1.2 number resolution."""

    filename: str = "<string>"


# YAML 1.2-style implicit resolvers: copy SafeLoader's table without its int/float
# rules (which include base-60 numbers and refuse "1e-9"), then add our own.
SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in rules if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, rules in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[01_]+|[-+]?0o[0-7_]+|[-+]?[0-9][0-9_]*|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: SpecLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    if text.startswith(("0b", "0x", "0o")):
        return sign * int(text, 0)
    return sign * int(text)


SpecLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _construct_tagged(loader: SpecLoader, node: yaml.Node) -> Tagged:
    if not isinstance(node, yaml.MappingNode):
        raise SpecError(
            f"tag {node.tag} must be applied to a mapping (name, class, attributes...)",
            where=f"{loader.filename}: line {node.start_mark.line + 1}",
            accepted="'!Component {name: ..., class: ...}' or a block mapping under the tag",
        )
    out = Tagged()
    out.tag = node.tag
    yield out
    out.update(loader.construct_mapping(node, deep=True))


def _construct_unknown(loader: SpecLoader, suffix_or_node: Any, node: yaml.Node | None = None) -> Any:
    node = node if node is not None else suffix_or_node
    raise SpecError(
        f"unknown tag '{node.tag}'",
        where=f"{loader.filename}: line {node.start_mark.line + 1}, column {node.start_mark.column + 1}",
        accepted="tags " + ", ".join(ACCEPTED_TAGS),
    )


for _tag in ACCEPTED_TAGS:
    SpecLoader.add_constructor(_tag, _construct_tagged)
SpecLoader.add_constructor(None, _construct_unknown)


def loads_yaml(text: str, filename: str = "<string>") -> Any:
    """Parse YAML text; errors name ``filename``, line and column."""
    loader = SpecLoader(text)
    loader.filename = filename
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = filename if mark is None else f"{filename}: line {mark.line + 1}, column {mark.column + 1}"
        problem = " ".join(p for p in (err.context, err.problem) if p)
        raise SpecError(f"malformed YAML: {problem or err}", where=where, accepted="valid YAML (check indentation, colons and quotes)") from None
    except yaml.YAMLError as err:
        raise SpecError(f"malformed YAML: {err}", where=filename, accepted="valid YAML") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> Any:
    """Read and parse one YAML file (see the module docstring for the dialect)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(f"cannot read file: {err.strerror or err}", where=str(p), accepted="a readable YAML file") from None
    except UnicodeDecodeError:
        raise SpecError("file is not UTF-8 text", where=str(p), accepted="a YAML text file") from None
    return loads_yaml(text, str(p))
