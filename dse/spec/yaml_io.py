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

Malformed YAML is reported with file, line and column.  So is a document beyond the
loader's bounds (:data:`MAX_DOCUMENT_BYTES`, :data:`MAX_DEPTH`, :data:`MAX_EXPANDED_NODES`):
a deeply nested document would overflow the stack, and an alias/anchor "bomb" (each
list holding an alias of the previous one nine times) expands to billions of nodes.
"""
from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import yaml

from dse.errors import SpecError

#: Largest YAML document read (bytes of text).
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
#: Deepest nesting of mappings/sequences, counting what aliases expand to.
MAX_DEPTH = 100
#: Most nodes a document may hold once every alias is expanded.
MAX_EXPANDED_NODES = 500_000
LIMITS = (f"YAML documents of at most {MAX_DOCUMENT_BYTES // 2**20} MiB, {MAX_DEPTH} levels of nesting and "
          f"{MAX_EXPANDED_NODES} nodes with aliases expanded")

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
    """SafeLoader with Timeloop tags, YAML 1.2 number resolution and bounded nesting."""

    filename: str = "<string>"
    _depth: int = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        # The composer recurses once per level: refuse before the interpreter's stack overflows.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise SpecError(f"YAML nested more than {MAX_DEPTH} levels deep",
                                where=f"{self.filename}: line {mark.line + 1}, column {mark.column + 1}", accepted=LIMITS)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


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
    try:
        if text.startswith(("0b", "0x", "0o")):
            return sign * int(text, 0)
        return sign * int(text)
    except ValueError:  # more digits than Python converts (4300)
        raise SpecError(f"integer of {len(text)} digits is too long",
                        where=f"{loader.filename}: line {node.start_mark.line + 1}, column {node.start_mark.column + 1}",
                        accepted="integers below 2**1024") from None


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


try:
    from yaml.cyaml import CParser as _CParser
except ImportError:  # PyYAML built without libyaml
    _CParser = None
if _CParser is not None:
    class _FastSpecLoader(_CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """:class:`SpecLoader`'s tags, resolvers and constructors on libyaml's parser (~10x faster to read)."""

        filename: str = "<string>"
        yaml_implicit_resolvers = SpecLoader.yaml_implicit_resolvers
        yaml_constructors = SpecLoader.yaml_constructors
        yaml_multi_constructors = SpecLoader.yaml_multi_constructors

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
else:
    _FastSpecLoader = None


def _check_expansion(root: yaml.Node | None, filename: str) -> None:
    """Refuse a node graph whose alias expansion is too large, too deep or cyclic.

    Sizes and depths are memoized per node, so the check is linear in the *unexpanded*
    document even when the expansion is exponential.
    """
    if root is None:
        return
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_EXPANDED_NODES or depth[key] > MAX_DEPTH:
                what = (f"expands to more than {MAX_EXPANDED_NODES} nodes" if size[key] > MAX_EXPANDED_NODES
                        else f"is nested more than {MAX_DEPTH} levels deep")
                raise SpecError(f"YAML {what} once its aliases (*name) are expanded",
                                where=f"{filename}: line {node.start_mark.line + 1}, column {node.start_mark.column + 1}",
                                accepted=LIMITS)
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise SpecError("YAML alias refers to a node containing itself",
                            where=f"{filename}: line {node.start_mark.line + 1}, column {node.start_mark.column + 1}",
                            accepted="aliases (*name) of anchors (&name) that do not contain the alias")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


#: libyaml's composer recurses in C (a document nested ~50,000 deep crashes the interpreter): it is used
#: only on texts with fewer collection/nesting marks than this, which cannot nest deeper (5,000 is safe).
C_PARSER_MAX_MARKS = 4000


def _shallow(text: str) -> bool:
    """True if ``text`` cannot nest deeper than :data:`C_PARSER_MAX_MARKS` (each level needs one of ``[{-:?``)."""
    return sum(text.count(c) for c in "[{-:?") < C_PARSER_MAX_MARKS


def safe_load_fast(text: str) -> Any:
    """``yaml.safe_load(text)``, parsed by libyaml when it is installed and the text is shallow.

    Any error is re-raised by the pure-Python parser, so messages are the same as ``yaml.safe_load``'s.
    """
    if hasattr(yaml, "CSafeLoader") and _shallow(text):
        try:
            return yaml.load(text, Loader=yaml.CSafeLoader)  # noqa: S506 - the safe loader
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)


def _loads_yaml_c(text: str, filename: str) -> tuple[bool, Any]:
    """(True, document) parsed with libyaml; (False, None) if it is missing, the text is deep, or anything fails
    (the pure-Python path then reports the error exactly as before)."""
    if _FastSpecLoader is None or not _shallow(text):
        return False, None
    loader = None
    try:
        loader = _FastSpecLoader(text)
        loader.filename = filename
        node = loader.get_single_node()
        _check_expansion(node, filename)
        return True, None if node is None else loader.construct_document(node)
    except Exception:  # noqa: BLE001 - any failure: the pure parser's error is the one reported
        return False, None
    finally:
        if loader is not None:
            loader.dispose()


def loads_yaml(text: str, filename: str = "<string>") -> Any:
    """Parse YAML text; errors name ``filename``, line and column."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise SpecError(f"document is {len(text)} characters long", where=filename, accepted=LIMITS)
    ok, doc = _loads_yaml_c(text, filename)
    if ok:
        return doc
    loader = None
    try:
        loader = SpecLoader(text)  # may already refuse the text (non-printable characters)
        loader.filename = filename
        node = loader.get_single_node()
        _check_expansion(node, filename)
        return None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = filename if mark is None else f"{filename}: line {mark.line + 1}, column {mark.column + 1}"
        problem = " ".join(p for p in (err.context, err.problem) if p)
        raise SpecError(f"malformed YAML: {problem or err}", where=where, accepted="valid YAML (check indentation, colons and quotes)") from None
    except yaml.YAMLError as err:
        raise SpecError(f"malformed YAML: {err}", where=filename, accepted="valid YAML") from None
    finally:
        if loader is not None:
            loader.dispose()


@functools.lru_cache(maxsize=256)
def _parse_cached(text: str, filename: str) -> Any:
    return loads_yaml(text, filename)


def load_yaml(path: str | Path) -> Any:
    """Read and parse one YAML file (see the module docstring for the dialect)."""
    p = Path(path)
    try:
        st = p.stat()
        if st.st_size > MAX_DOCUMENT_BYTES:
            raise SpecError(f"file is {st.st_size} bytes long", where=str(p), accepted=LIMITS)
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(f"cannot read file: {err.strerror or err}", where=str(p), accepted="a readable YAML file") from None
    except UnicodeDecodeError:
        raise SpecError("file is not UTF-8 text", where=str(p), accepted="a YAML text file") from None
    # parsed once per content (keyed by the text itself, so any edit is seen): a sweep loads the
    # same spec files for every config; callers get their own copy to change
    if len(text) > 2**20:  # big files are not kept in memory
        return loads_yaml(text, str(p))
    return copy.deepcopy(_parse_cached(text, str(p)))
