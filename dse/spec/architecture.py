"""Building an :class:`~dse.spec.types.Architecture` from ``architecture:`` YAML.

Two forms are accepted (the form is chosen by the keys present, not by ``version``):

* v0.4 ``nodes:`` lists of ``!Container`` / ``!Component`` / ``!Parallel`` /
  ``!Hierarchical`` (``!Nothing`` placeholders are skipped);
* v0.3 ``subtree:`` / ``local:`` trees with ``name[0..N]`` instance ranges.

Both are first flattened into a sequence of leaves (components) and explicit
fan-outs (containers with a spatial mesh), outermost first; the common
:func:`_assemble` then classifies leaves, computes storage numbers with Timeloop's
rules and inserts implicit fan-outs where the instance count grows.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from dse.errors import SpecError
from dse.spec.common import at, expect_list, expect_mapping, expect_name, normalize_keys, require
from dse.spec.expressions import as_number, evaluate, evaluate_attribute
from dse.spec.types import (
    ArchNode,
    Architecture,
    ComputeLevel,
    DUMMY_CLASS,
    DUMMY_NAME,
    NetworkComponent,
    ParallelBranch,
    ParallelGroup,
    SpatialLevel,
    StorageLevel,
)

#: Substrings that make a class a network (Timeloop's rule), a compute unit or a buffer.
NETWORK_CLASSES = ("XY_NoC", "Legacy", "ReductionTree", "SimpleMulticast")
COMPUTE_CLASSES = ("mac", "intmac", "fpmac", "compute")
BUFFER_CLASSES = ("DRAM", "SRAM", "regfile", "smartbuffer", "storage")

#: Attributes that describe a component's own placement; never inherited.
_PLACEMENT_KEYS = ("instances", "meshX", "meshY")

#: Attributes copied from variables into every component (Accelergy needs them).
INHERITED_VARIABLES = ("technology", "global_cycle_seconds", "latency")

_RANGE = re.compile(r"^(?P<base>.*?)\[(?P<lo>\d+)\.\.(?P<hi>\d+)\]$")

#: Largest value of any numeric attribute: sizes, bandwidths and widths beyond it only
#: overflow the model's 64-bit counts (a petaword buffer is not a design).
MAX_ATTRIBUTE_VALUE = 1e15
#: Most instances of a component, and largest spatial mesh side or fan-out.
MAX_INSTANCES = 2**31

# Numeric attributes the model and the energy estimator read: (lowest, lowest allowed?,
# highest, integer?).  A value outside its range is an error at load time, never a
# silently wrong number (a zero or negative bandwidth used to read as unlimited).
_POS_INT = (1, True, MAX_ATTRIBUTE_VALUE, True)
_NONNEG_INT = (0, True, MAX_ATTRIBUTE_VALUE, True)
_POSITIVE = (0, False, MAX_ATTRIBUTE_VALUE, False)
_NONNEG = (0, True, MAX_ATTRIBUTE_VALUE, False)
NUMERIC_ATTRIBUTES: Mapping[str, tuple[float, bool, float, bool]] = {
    **dict.fromkeys(("datawidth", "word_bits", "word_width", "block_size", "n_words", "cluster_size", "n_banks",
                     "network_word_bits", "multiplier_width", "adder_width"), _POS_INT),
    **dict.fromkeys(("n_rd_ports", "n_wr_ports", "n_rdwr_ports", "fill_latency", "drain_latency",
                     "network_fill_latency", "network_drain_latency"), _NONNEG_INT),
    **dict.fromkeys(("width", "memory_width", "data_storage_width", "read_bandwidth", "write_bandwidth", "bandwidth",
                     "shared_bandwidth", "multiple_buffering"), _POSITIVE),
    **dict.fromkeys(("entries", "depth", "memory_depth", "data_storage_depth", "sizeKB"), _NONNEG),
    # a clock slower than 1 Hz is a typo; 1e300 s made leakage energy infinite
    **dict.fromkeys(("global_cycle_seconds", "cycle_seconds"), (0, False, 1.0, False)),
    "min_utilization": (0, True, 1.0, False),
    "technology": (0, False, 1e6, False),  # nm; may also be a string ("32nm")
    # Timeloop's user energy/area overrides and Legacy network energies
    **dict.fromkeys(("vector_access_energy", "addr_gen_energy", "cluster_area", "router_energy", "wire_energy",
                     "energy_per_hop", "tile_width", "energy-per-ingress"), _NONNEG),
}
#: Numeric attributes that may instead be a string.
_STRING_ALLOWED = frozenset({"technology"})

#: Other attributes Timeloop/Accelergy components commonly carry; with the numeric ones
#: they are what a misspelled key (``read_bandwith``) is compared against.
KNOWN_ATTRIBUTES = frozenset(NUMERIC_ATTRIBUTES) | {
    "technology", "latency", "type", "instances", "meshX", "meshY", "network_read", "network_update",
    "network_fill", "network_drain", "action_name", "per_datatype_ERT", "multicast_factor_argument",
    "metadata_storage_width", "metadata_storage_depth", "metadata_counter_width", "metadata_block_size",
    "metadata_datawidth", "reduction_supported", "allow_overbooking", "action_latency_cycles", "n_instances",
    "concordant_compressed_tile_traversal", "tile_partition_supported", "decompression_supported",
    "compression_supported", "num_ports", "ports", "n_ports",
}


def _range_text(lo: float, lo_ok: bool, hi: float, integer: bool) -> str:
    kind = "an integer" if integer else "a number"
    low = f">= {lo:g}" if lo_ok else f"> {lo:g}"
    return f"{kind} {low} and <= {hi:g}"


def check_numeric_attribute(key: str, value: Any, where: str) -> None:
    """Raise :class:`SpecError` unless ``value`` is a finite number in the range of ``key``
    (:data:`NUMERIC_ATTRIBUTES`; other keys are not checked).  ``None`` means absent."""
    rule = NUMERIC_ATTRIBUTES.get(key)
    if rule is None or value is None:
        return
    lo, lo_ok, hi, integer = rule
    accepted = _range_text(*rule)
    if key in _STRING_ALLOWED and isinstance(value, str):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{key} must be a number, got {value!r}", where=where, accepted=accepted)
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"{key} must be finite, got {value}", where=where, accepted=accepted)
    if value < lo or (value == lo and not lo_ok) or value > hi:
        raise SpecError(f"{key} is out of range: {value:g}", where=where, accepted=accepted)
    if integer and value != int(value):
        raise SpecError(f"{key} must be a whole number, got {value:g}", where=where, accepted=accepted)


def _check_leaf_attributes(leaf: "_Leaf", own: Mapping[str, Any], warnings: list[str]) -> None:
    """Range-check the numeric attributes of one component; warn about likely misspellings."""
    if leaf.instances > MAX_INSTANCES:
        raise SpecError(f"'{leaf.name}' has {leaf.instances:.3g} instances", where=at(leaf.file, leaf.path),
                        accepted=f"at most {MAX_INSTANCES} (2**31) instances: spatial meshes multiply")
    for key, value in leaf.attributes.items():
        where = at(leaf.file, f"{leaf.path}.attributes.{key}")
        if key == "technology" and value == -1 and not isinstance(value, bool):
            continue  # Accelergy's "price me with the dummy table"; timeloopfe writes it on its dummy levels
        if key in NUMERIC_ATTRIBUTES:
            check_numeric_attribute(key, value, where)
        elif key in own and key not in KNOWN_ATTRIBUTES:
            close = difflib.get_close_matches(key, sorted(KNOWN_ATTRIBUTES), n=1, cutoff=0.85)
            if close:
                warnings.append(f"{where}: unknown attribute '{key}' of {leaf.cls} '{leaf.name}' is ignored "
                                f"(did you mean '{close[0]}'?)")


@dataclass(frozen=True)
class RawConstraint:
    """A constraint as written, before parsing: target, type, body and where it came from."""

    target: str
    type: str
    body: Mapping[str, Any]
    source: str
    file: str
    path: str


@dataclass
class _Leaf:
    name: str
    cls: str
    subclass: str | None
    attributes: dict[str, Any]
    instances: int
    mesh_x: int
    mesh_y: int
    file: str
    path: str
    fanout_hint: tuple[str, ...] = ()
    own_attributes: Mapping[str, Any] = field(default_factory=dict)  # as written on the component (not inherited)


@dataclass
class _Fanout:
    level: SpatialLevel
    path: str


@dataclass
class _Scope:
    """What a v0.4 node inherits from the containers enclosing it."""

    attributes: dict[str, Any]
    mesh_x: int = 1
    mesh_y: int = 1

    def copy(self) -> "_Scope":
        return _Scope(dict(self.attributes), self.mesh_x, self.mesh_y)


@dataclass
class _Walk:
    """Accumulates leaves, fan-outs, inline constraints and warnings while walking."""

    file: str
    names: Mapping[str, Any]
    items: list[_Leaf | _Fanout] = field(default_factory=list)
    constraints: list[RawConstraint] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    processed: bool = False  # a timeloopfe-processed spec: every class is a Timeloop buffer/compute/network class
    # !Parallel nodes: (source, enclosing (group, branch) or None, per branch [component names, !Nothing keeps])
    parallel: list[tuple[str, tuple[int, int] | None, list[tuple[list[str], list[str]]]]] = field(default_factory=list)
    branch: tuple[int, int] | None = None  # the !Parallel branch being walked


def is_network_class(cls: str) -> bool:
    """True for Timeloop network classes (substring match, like Timeloop)."""
    return any(s in cls for s in NETWORK_CLASSES)


def is_compute_only_class(cls: str) -> bool:
    """True for compute classes that are not also buffer classes."""
    return any(s in cls for s in COMPUTE_CLASSES) and not any(s in cls for s in BUFFER_CLASSES)


def build_architecture(
    raw: Any, file: str, variables: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
    processed: bool = False,
) -> tuple[Architecture, list[RawConstraint], list[str]]:
    """Build the architecture from the ``architecture:`` value read from ``file``.

    ``variables`` are the evaluated spec variables.  Extra scalar keys directly under
    ``architecture:`` (e.g. ``DIM: 32``) act as architecture-local variables;
    ``overrides`` (variables given by the caller) take precedence over them.
    Returns the architecture, the inline constraints of its nodes, and warnings.
    """
    arch = expect_mapping(raw, file, "architecture")
    local_vars = dict(variables)
    arch_attrs: dict[str, Any] = {k: variables[k] for k in INHERITED_VARIABLES if k in variables}
    structural = {"version", "nodes", "subtree", "local", "name", "attributes"}
    for key, value in arch.items():
        if key in structural or isinstance(value, (dict, list)):
            continue
        if overrides and key in overrides:
            value = overrides[key]
        local_vars[key] = evaluate_attribute(value, local_vars, at(file, f"architecture.{key}"))
        arch_attrs[key] = local_vars[key]
    walk = _Walk(file, local_vars, processed=processed)
    base = {k: variables[k] for k in INHERITED_VARIABLES if k in variables}
    if "nodes" in arch:
        name = _walk_v4(arch, walk, base)
    elif "subtree" in arch or "local" in arch:
        name = _walk_v3(arch, walk, base)
    else:
        raise SpecError(
            "architecture has neither 'nodes' (v0.4) nor 'subtree'/'local' (v0.3)",
            where=at(file, "architecture"),
            accepted="'nodes: [!Container ..., !Component ...]' or 'subtree: [{name, local, subtree}]'",
        )
    for key in INHERITED_VARIABLES:
        if key in arch_attrs:
            check_numeric_attribute(key, arch_attrs[key], f"variable {key}")
    for leaf in walk.items:
        if isinstance(leaf, _Leaf):
            _check_leaf_attributes(leaf, leaf.own_attributes, walk.warnings)
    nodes, networks = _assemble(walk)
    parallel = tuple(ParallelGroup(tuple(ParallelBranch(tuple(names), tuple(keeps)) for names, keeps in branches), source, parent)
                     for source, parent, branches in walk.parallel)
    return (Architecture(name=name, nodes=nodes, attributes=arch_attrs, networks=networks, parallel=parallel),
            walk.constraints, walk.warnings)


# --------------------------------------------------------------------------- v0.4
def _walk_v4(arch: Mapping[str, Any], walk: _Walk, base: dict[str, Any]) -> str:
    nodes = expect_list(arch.get("nodes"), walk.file, "architecture.nodes", "a list of !Container/!Component nodes")
    if not nodes:
        raise SpecError("architecture has no nodes", where=at(walk.file, "architecture.nodes"), accepted="a non-empty list of nodes")
    _walk_nodes(nodes, "architecture.nodes", walk, _Scope(dict(base)))
    first = nodes[0]
    if isinstance(first, dict) and getattr(first, "tag", "") == "!Container" and isinstance(first.get("name"), str):
        return first["name"]
    return arch.get("name") if isinstance(arch.get("name"), str) else "architecture"


def _walk_nodes(nodes: list, path: str, walk: _Walk, scope: _Scope) -> None:
    """Walk a v0.4 node list; containers affect the nodes after them (``scope`` is shared)."""
    for i, node in enumerate(nodes):
        _walk_nodes_single(node, f"{path}[{i}]", walk, scope)


def _walk_nodes_single(node: Any, p: str, walk: _Walk, scope: _Scope) -> None:
    tag = getattr(node, "tag", None)
    if not isinstance(node, dict) or tag is None:
        raise SpecError(
            "architecture node has no tag",
            where=at(walk.file, p),
            accepted="nodes tagged !Container, !Component, !Parallel, !Hierarchical or !Nothing",
        )
    if tag == "!Nothing":
        _nothing(node, p, walk)
        return
    if tag == "!Container":
        _container(node, p, walk, scope)
    elif tag == "!Component":
        _component_v4(node, p, walk, scope)
    else:
        children = expect_list(require(node, "nodes", walk.file, p, "'nodes: [...]'"), walk.file, f"{p}.nodes")
        if tag == "!Parallel":
            group = len(walk.parallel)
            outer = walk.branch
            branches: list[tuple[list[str], list[str]]] = []
            walk.parallel.append((at(walk.file, p), outer, branches))
            for j, child in enumerate(children):
                start = len(walk.items)
                branches.append(([], []))
                walk.branch = (group, j)
                _walk_nodes_single(child, f"{p}.nodes[{j}]", walk, scope.copy())
                branches[j][0].extend(it.name for it in walk.items[start:] if isinstance(it, _Leaf))
            walk.branch = outer
        else:
            inner = scope.copy()
            for j, child in enumerate(children):
                _walk_nodes_single(child, f"{p}.nodes[{j}]", walk, inner)


def _nothing(node: dict, p: str, walk: _Walk) -> None:
    """A ``!Nothing`` placeholder; in a ``!Parallel`` branch its ``constraints: {dataspace: {keep}}`` names
    data spaces that bypass every branch (timeloopfe's idiom, e.g. the reference Simba's Inputs)."""
    constraints = expect_mapping(node.get("constraints"), walk.file, f"{p}.constraints")
    if not constraints:
        return
    dataspace = expect_mapping(constraints.get("dataspace"), walk.file, f"{p}.constraints.dataspace")
    other = sorted(set(constraints) - {"dataspace"}) + sorted(set(dataspace) - {"keep", "bypass"})
    if other:
        walk.warnings.append(f"{at(walk.file, p)}: constraints {', '.join(other)} of a !Nothing node are ignored "
                             "(only dataspace keep has a meaning there: which data spaces skip the !Parallel branches)")
    keep = dataspace.get("keep") or []
    if not isinstance(keep, list) or not all(isinstance(x, str) for x in keep):
        raise SpecError(f"bad keep list {keep!r}", where=at(walk.file, f"{p}.constraints.dataspace.keep"),
                        accepted="a list of data space names, e.g. [Inputs]")
    if walk.branch is None:
        if keep:
            walk.warnings.append(f"{at(walk.file, p)}: a !Nothing node outside a !Parallel keeps nothing; its keep list is ignored")
        return
    group, branch = walk.branch
    walk.parallel[group][2][branch][1].extend(keep)


def _evaluate_attributes(raw: Any, walk: _Walk, path: str, inherited: Mapping[str, Any]) -> dict[str, Any]:
    """Evaluate a node's ``attributes`` in the scope variables + inherited + earlier siblings."""
    attrs = normalize_keys(expect_mapping(raw, walk.file, path))
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        scope = {**walk.names, **inherited, **out}
        out[key] = evaluate_attribute(value, scope, at(walk.file, f"{path}.{key}"))
    return out


def _container(node: dict, p: str, walk: _Walk, scope: _Scope) -> None:
    name = expect_name(require(node, "name", walk.file, p, "a container 'name'"), walk.file, f"{p}.name")
    attrs = _evaluate_attributes(node.get("attributes"), walk, f"{p}.attributes", scope.attributes)
    scope.attributes.update({k: v for k, v in attrs.items() if k not in _PLACEMENT_KEYS})
    constraints = expect_mapping(node.get("constraints"), walk.file, f"{p}.constraints")
    spatial = node.get("spatial")
    if spatial is not None or "spatial" in constraints:
        mesh = normalize_keys(expect_mapping(spatial, walk.file, f"{p}.spatial", "a mapping {meshX, meshY}"))
        bad = set(mesh) - {"meshX", "meshY"}
        if bad:
            raise SpecError(f"unknown key(s) {', '.join(sorted(bad))} in spatial", where=at(walk.file, f"{p}.spatial"), accepted="meshX, meshY")
        fx = _positive_int(mesh.get("meshX", 1), walk, f"{p}.spatial.meshX")
        fy = _positive_int(mesh.get("meshY", 1), walk, f"{p}.spatial.meshY")
        scope.mesh_x *= fx
        scope.mesh_y *= fy
        walk.items.append(_Fanout(SpatialLevel(name=name, fanout_x=fx, fanout_y=fy), p))
    _inline_constraints(name, constraints, walk, f"{p}.constraints")


def _component_v4(node: dict, p: str, walk: _Walk, scope: _Scope) -> None:
    name = expect_name(require(node, "name", walk.file, p, "a component 'name'"), walk.file, f"{p}.name")
    cls = require(node, "class", walk.file, p, "a component 'class' (e.g. DRAM, SRAM, smartbuffer_SRAM, intmac)")
    cls = expect_name(cls, walk.file, f"{p}.class")
    attrs = _evaluate_attributes(node.get("attributes"), walk, f"{p}.attributes", scope.attributes)
    merged = {**{k: v for k, v in scope.attributes.items()}, **attrs}
    instances = scope.mesh_x * scope.mesh_y
    for key, expected in (("meshX", scope.mesh_x), ("meshY", scope.mesh_y), ("instances", instances)):
        if key in attrs:
            given = _positive_int(attrs[key], walk, f"{p}.attributes.{key}")
            if given != expected:
                raise SpecError(
                    f"{key}: {given} of component '{name}' disagrees with the enclosing containers "
                    f"(spatial meshes give {scope.mesh_x}x{scope.mesh_y} = {instances} instances)",
                    where=at(walk.file, f"{p}.attributes.{key}"),
                    accepted=f"{key}: {expected}, or remove it (it is derived from the containers' spatial meshes)",
                )
    for key in _PLACEMENT_KEYS:
        merged[key] = {"instances": instances, "meshX": scope.mesh_x, "meshY": scope.mesh_y}[key]
    subclass = node.get("subclass")
    walk.items.append(
        _Leaf(name, cls, subclass if isinstance(subclass, str) else None, merged, instances, scope.mesh_x, scope.mesh_y, walk.file, p,
              own_attributes=attrs)
    )
    constraints = expect_mapping(node.get("constraints"), walk.file, f"{p}.constraints")
    _inline_constraints(name, constraints, walk, f"{p}.constraints")


def _inline_constraints(target: str, constraints: Mapping[str, Any], walk: _Walk, path: str) -> None:
    for ctype, body in constraints.items():
        if ctype in ("max_overbooked_proportion",) and not isinstance(body, dict):
            body = {"proportion": body}
        if ctype == "utilization" and not isinstance(body, dict):
            body = {"min": body}
        body = expect_mapping(body, walk.file, f"{path}.{ctype}")
        walk.constraints.append(
            RawConstraint(target, str(ctype), body, at(walk.file, f"{path}.{ctype}"), walk.file, f"{path}.{ctype}")
        )


def _positive_int(value: Any, walk: _Walk, path: str) -> int:
    where = at(walk.file, path)
    number = as_number(evaluate(value, walk.names, where) if isinstance(value, str) else value, where, path.rsplit(".", 1)[-1])
    if not isinstance(number, int) or number < 1:
        raise SpecError(f"expected a positive integer, got {str(value)[:40]!r}", where=where, accepted="an integer >= 1")
    if number > MAX_INSTANCES:
        raise SpecError(f"{number:.3g} is too large", where=where, accepted=f"an integer from 1 to {MAX_INSTANCES} (2**31)")
    return number


# --------------------------------------------------------------------------- v0.3
def _range_size(name: str, walk: _Walk, path: str) -> tuple[str, int]:
    """``PE[0..15]`` -> ``("PE", 16)``; a plain name -> ``(name, 1)``."""
    m = _RANGE.match(name.strip())
    if not m:
        if "[" in name:
            raise SpecError(f"bad instance range in name '{name}'", where=at(walk.file, path), accepted="name[first..last], e.g. PE[0..15]")
        return name.strip(), 1
    lo, hi = int(m["lo"]), int(m["hi"])
    if hi < lo:
        raise SpecError(f"empty instance range in name '{name}'", where=at(walk.file, path), accepted="name[first..last] with last >= first")
    return m["base"], hi - lo + 1


def _walk_v3(arch: Mapping[str, Any], walk: _Walk, base: dict[str, Any]) -> str:
    names: list[str] = []
    _walk_tree(arch, "architecture", walk, dict(base), 1, (), names, root=True)
    return names[0] if names else "architecture"


def _walk_tree(
    node: Mapping[str, Any],
    path: str,
    walk: _Walk,
    inherited: dict[str, Any],
    multiplication: int,
    pending_ranges: tuple[str, ...],
    names: list[str],
    root: bool = False,
) -> tuple[str, ...]:
    if not root:
        raw_name = expect_name(require(node, "name", walk.file, path, "a subtree 'name'"), walk.file, f"{path}.name")
        base_name, size = _range_size(raw_name, walk, f"{path}.name")
        names.append(base_name)
        multiplication *= size
        if size > 1:
            pending_ranges = pending_ranges + (base_name,)
        attrs = _evaluate_attributes(node.get("attributes"), walk, f"{path}.attributes", inherited)
        inherited = {**inherited, **{k: v for k, v in attrs.items() if k not in _PLACEMENT_KEYS}}
    for j, local in enumerate(expect_list(node.get("local"), walk.file, f"{path}.local")):
        lp = f"{path}.local[{j}]"
        local = expect_mapping(local, walk.file, lp, "a component mapping {name, class, attributes}")
        raw_name = expect_name(require(local, "name", walk.file, lp, "a component 'name'"), walk.file, f"{lp}.name")
        lname, lsize = _range_size(raw_name, walk, f"{lp}.name")
        if "class" not in local:
            walk.warnings.append(
                f"{at(walk.file, lp)}: component '{lname}' has no 'class' and is ignored, as Timeloop ignores it"
            )
            continue
        cls = expect_name(local["class"], walk.file, f"{lp}.class")
        if walk.processed and not any(c in cls for c in BUFFER_CLASSES + COMPUTE_CLASSES + NETWORK_CLASSES):
            raise SpecError(
                f"component '{lname}' has class '{cls}', which is no Timeloop storage, compute or network class "
                "(timeloopfe writes none such; Timeloop would silently drop the component)",
                where=at(walk.file, f"{lp}.class"),
                accepted="a class containing one of " + ", ".join(BUFFER_CLASSES + COMPUTE_CLASSES + NETWORK_CLASSES))
        attrs = _evaluate_attributes(local.get("attributes"), walk, f"{lp}.attributes", inherited)
        n = multiplication * lsize
        if is_network_class(cls) and lsize == 1 and "instances" not in attrs:
            # timeloopfe writes networks without an instance range but with the mesh where they sit
            n *= _positive_int(attrs.get("meshX", 1), walk, f"{lp}.attributes.meshX") * _positive_int(
                attrs.get("meshY", 1), walk, f"{lp}.attributes.meshY") // multiplication
        instances, mesh_x, mesh_y = _v3_placement(lname, attrs, n, walk, lp)
        merged = {**inherited, **attrs, "instances": instances, "meshX": mesh_x, "meshY": mesh_y}
        subclass = local.get("subclass")
        walk.items.append(
            _Leaf(lname, cls, subclass if isinstance(subclass, str) else None, merged, instances, mesh_x, mesh_y, walk.file, lp, pending_ranges,
                  own_attributes=attrs)
        )
        pending_ranges = ()
    subtrees = expect_list(node.get("subtree"), walk.file, f"{path}.subtree")
    if len(subtrees) > 1:
        raise SpecError(
            f"{len(subtrees)} subtrees at one level", where=at(walk.file, f"{path}.subtree"), accepted="exactly one subtree per level (as in Timeloop)"
        )
    for subtree in subtrees:
        sub = expect_mapping(subtree, walk.file, f"{path}.subtree[0]")
        pending_ranges = _walk_tree(sub, f"{path}.subtree[0]", walk, inherited, multiplication, pending_ranges, names)
    return pending_ranges


def _v3_placement(name: str, attrs: Mapping[str, Any], n: int, walk: _Walk, lp: str) -> tuple[int, int, int]:
    """Instances and mesh of a v0.3 component (Timeloop's rules), cross-checked."""
    instances = n
    if "instances" in attrs:
        given = _positive_int(attrs["instances"], walk, f"{lp}.attributes.instances")
        if given != n:
            raise SpecError(
                f"instances: {given} of '{name}' disagrees with the enclosing instance ranges ({n})",
                where=at(walk.file, f"{lp}.attributes.instances"),
                accepted=f"instances: {n}, or remove it",
            )
    mx = _positive_int(attrs["meshX"], walk, f"{lp}.attributes.meshX") if "meshX" in attrs else None
    my = _positive_int(attrs["meshY"], walk, f"{lp}.attributes.meshY") if "meshY" in attrs else None
    if mx is None and my is None:
        mx, my = instances, 1
    elif my is None:
        my = instances // mx if instances % mx == 0 else -1
    elif mx is None:
        mx = instances // my if instances % my == 0 else -1
    if mx * my != instances or mx < 1 or my < 1:
        raise SpecError(
            f"mesh of '{name}' does not match its {instances} instances",
            where=at(walk.file, f"{lp}.attributes"),
            accepted=f"meshX * meshY == {instances}",
        )
    return instances, mx, my


# --------------------------------------------------------------------------- common
def _assemble(walk: _Walk) -> tuple[tuple[ArchNode, ...], tuple[NetworkComponent, ...]]:
    networks = tuple(
        NetworkComponent(leaf.name, leaf.cls, leaf.attributes, leaf.instances, leaf.subclass)
        for leaf in walk.items
        if isinstance(leaf, _Leaf) and is_network_class(leaf.cls)
    )
    items = _dummy_fanouts([it for it in walk.items if not (isinstance(it, _Leaf) and is_network_class(it.cls))])
    leaves = [it for it in items if isinstance(it, _Leaf)]
    if not leaves:
        raise SpecError("architecture has no components", where=at(walk.file, "architecture"), accepted="storage components and one compute component")
    if not isinstance(items[-1], _Leaf):
        raise SpecError(
            f"the innermost node is the container '{items[-1].level.name}', not a compute component",
            where=at(walk.file, items[-1].path),
            accepted="a compute component (e.g. class intmac) as the last node",
        )
    compute = leaves[-1]
    for leaf in leaves[:-1]:
        if is_compute_only_class(leaf.cls):
            raise SpecError(
                f"compute component '{leaf.name}' (class {leaf.cls}) is not the innermost component",
                where=at(leaf.file, leaf.path),
                accepted="one compute component, last; storage classes above it",
            )
    taken = {it.name if isinstance(it, _Leaf) else it.level.name for it in items}
    seen: set[str] = set()
    for name in [it.name if isinstance(it, _Leaf) else it.level.name for it in items]:
        if name in seen:
            raise SpecError(f"two architecture nodes are named '{name}'", where=at(walk.file, "architecture"), accepted="unique node names")
        seen.add(name)
    nodes: list[ArchNode] = []
    prev: _Leaf | None = None
    explicit_x = explicit_y = 1
    pending: list[SpatialLevel] = []
    for it in items:
        if isinstance(it, _Fanout):
            pending.append(it.level)
            explicit_x *= it.level.fanout_x
            explicit_y *= it.level.fanout_y
            continue
        if prev is not None:
            implicit = _implicit_fanout(prev, it, explicit_x, explicit_y, taken)
            if implicit is not None:
                pending.append(implicit)
                taken.add(implicit.name)
        nodes.extend(pending)
        pending, explicit_x, explicit_y = [], 1, 1
        nodes.append(_compute_level(it) if it is compute else _storage_level(it))
        prev = it
    return tuple(nodes), networks


def is_dummy_leaf(leaf: _Leaf) -> bool:
    """timeloopfe's stand-in for a spatial container: ``inter_<C>_spatial`` of class ``dummy_storage``.

    A user's own ``dummy_storage`` level under another name (the PIM spec's ``dummy_buffer``) is a real
    Timeloop buffer level and stays one."""
    return leaf.cls == DUMMY_CLASS and DUMMY_NAME.match(leaf.name) is not None


def _dummy_fanouts(items: list[_Leaf | _Fanout]) -> list[_Leaf | _Fanout]:
    """Read each timeloopfe dummy level as the fan-out it stands for.

    timeloopfe places the dummy with the container's *outer* mesh, before the container's children, so
    its fan-out is the next component's mesh divided by its own (the next component may be another
    dummy: two containers in a row stay two fan-outs, e.g. one dimension split X on one, Y on the other).
    """
    out: list[_Leaf | _Fanout] = []
    for i, it in enumerate(items):
        if not (isinstance(it, _Leaf) and is_dummy_leaf(it)):
            out.append(it)
            continue
        nxt = next((n for n in items[i + 1:] if isinstance(n, _Leaf)), None)
        if nxt is None:
            raise SpecError(
                f"'{it.name}' (class {DUMMY_CLASS}, timeloopfe's stand-in for a spatial container) is the innermost component",
                where=at(it.file, it.path), accepted="a compute component as the last component")
        if nxt.mesh_x % it.mesh_x or nxt.mesh_y % it.mesh_y:
            raise SpecError(
                f"'{it.name}' (a timeloopfe fan-out placeholder) has mesh {it.mesh_x}x{it.mesh_y}, which does not divide "
                f"the mesh {nxt.mesh_x}x{nxt.mesh_y} of the next component '{nxt.name}'",
                where=at(it.file, f"{it.path}.attributes"),
                accepted="meshX/meshY of the inter_<container>_spatial level dividing those of the component after it")
        fanout = SpatialLevel(name=it.name, fanout_x=nxt.mesh_x // it.mesh_x, fanout_y=nxt.mesh_y // it.mesh_y, dummy=True)
        out.append(_Fanout(fanout, it.path))
    return out


def _implicit_fanout(prev: _Leaf, leaf: _Leaf, ex: int, ey: int, taken: set[str]) -> SpatialLevel | None:
    outer_x, outer_y = prev.mesh_x * ex, prev.mesh_y * ey
    if leaf.instances == outer_x * outer_y:
        return None
    if leaf.mesh_x % outer_x or leaf.mesh_y % outer_y:
        raise SpecError(
            f"'{leaf.name}' has {leaf.instances} instances ({leaf.mesh_x}x{leaf.mesh_y}), which cannot be fed by "
            f"'{prev.name}' with {prev.instances} instances ({prev.mesh_x}x{prev.mesh_y})"
            + (f" through fan-outs of {ex}x{ey}" if ex * ey > 1 else ""),
            where=at(leaf.file, leaf.path),
            accepted="instance meshes that are multiples of the mesh of the level above",
        )
    fx, fy = leaf.mesh_x // outer_x, leaf.mesh_y // outer_y
    hint = leaf.fanout_hint
    name = hint[0] if len(hint) == 1 and hint[0] not in taken else f"{leaf.name}_fanout"
    return SpatialLevel(name=name, fanout_x=fx, fanout_y=fy, implicit=True)


def _attr_number(leaf: _Leaf, keys: tuple[str, ...]) -> int | float | None:
    for key in keys:
        if key in leaf.attributes and leaf.attributes[key] is not None:
            return as_number(leaf.attributes[key], at(leaf.file, f"{leaf.path}.attributes.{key}"), key)
    return None


def _storage_level(leaf: _Leaf) -> StorageLevel:
    where = at(leaf.file, f"{leaf.path}.attributes")
    word_bits = _attr_number(leaf, ("word_bits", "word_width", "datawidth"))
    word_bits = 16 if word_bits is None else word_bits
    block = _attr_number(leaf, ("block_size", "n_words"))
    cluster = _attr_number(leaf, ("cluster_size",))
    width = _attr_number(leaf, ("width", "memory_width", "data_storage_width"))
    if not isinstance(word_bits, int) or word_bits < 1:
        raise SpecError(f"word bits of '{leaf.name}' must be a positive integer, got {word_bits!r}", where=where, accepted="datawidth / word_bits >= 1")
    if block is None:
        if width is not None and cluster:
            block = int(width // cluster // word_bits)
        elif width is not None:
            block = int(width // word_bits)
        else:
            block = 1
    elif width is not None and cluster and block * word_bits * cluster != width:
        raise SpecError(
            f"'{leaf.name}': block_size {block} * word bits {word_bits} * cluster_size {cluster} != width {width}",
            where=where,
            accepted="consistent width, block_size, cluster_size and datawidth",
        )
    block = max(1, int(block))
    if cluster is None and width is not None and _attr_number(leaf, ("block_size", "n_words")) is not None:
        cluster = width // (word_bits * block)  # Timeloop derives the cluster size from width and block size
    cluster = 1 if not cluster else cluster
    if not isinstance(cluster, int) and not float(cluster).is_integer() or cluster < 1:
        raise SpecError(f"cluster_size of '{leaf.name}' must be a positive integer, got {cluster!r}", where=where,
                        accepted="cluster_size >= 1 (instances sharing one physical array)")
    if leaf.instances % int(cluster):
        raise SpecError(f"'{leaf.name}' has {leaf.instances} instances, not a multiple of cluster_size {int(cluster)}",
                        where=where, accepted=f"a cluster_size dividing {leaf.instances}")
    overrides = {key: _attr_number(leaf, (key,)) for key in ("vector_access_energy", "addr_gen_energy", "cluster_area")}
    is_dram = "DRAM" in leaf.cls or leaf.attributes.get("technology") == "DRAM"
    size: int | None = None
    entries = _attr_number(leaf, ("entries",))
    depth = _attr_number(leaf, ("depth", "memory_depth", "data_storage_depth"))
    size_kb = _attr_number(leaf, ("sizeKB",))
    if is_dram:
        size = None
    elif entries is not None:
        size = int(entries)
    elif depth is not None:
        size = int(depth) * block
    elif size_kb is not None:
        size = int(size_kb * 1024 * 8 // word_bits)
    if size is not None and size < 0:
        raise SpecError(f"size of '{leaf.name}' is negative ({size})", where=where, accepted="entries / depth >= 0")
    read_bw = _attr_number(leaf, ("read_bandwidth",))
    write_bw = _attr_number(leaf, ("write_bandwidth",))
    bandwidth = _attr_number(leaf, ("bandwidth",))
    if bandwidth is not None:
        read_bw = bandwidth / 2 if read_bw is None else read_bw
        write_bw = bandwidth / 2 if write_bw is None else write_bw
    shared_bw = _attr_number(leaf, ("shared_bandwidth",))
    multiple_buffering = _attr_number(leaf, ("multiple_buffering",))
    min_util = _attr_number(leaf, ("min_utilization",))
    return StorageLevel(
        name=leaf.name,
        component_class=leaf.cls,
        attributes=leaf.attributes,
        instances=leaf.instances,
        mesh_x=leaf.mesh_x,
        mesh_y=leaf.mesh_y,
        size_words=size,
        word_bits=word_bits,
        block_size=block,
        read_bandwidth=None if read_bw is None else float(read_bw),
        write_bandwidth=None if write_bw is None else float(write_bw),
        shared_bandwidth=None if shared_bw is None else float(shared_bw),
        multiple_buffering=1.0 if multiple_buffering is None else float(multiple_buffering),
        min_utilization=0.0 if min_util is None else float(min_util),
        subclass=leaf.subclass,
        cluster_size=int(cluster),
        vector_access_energy_pj=_float_or_none(overrides["vector_access_energy"]),
        addr_gen_energy_pj=_float_or_none(overrides["addr_gen_energy"]),
        cluster_area_um2=_float_or_none(overrides["cluster_area"]),
    )


def _float_or_none(v: int | float | None) -> float | None:
    return None if v is None else float(v)


def _compute_level(leaf: _Leaf) -> ComputeLevel:
    return ComputeLevel(
        name=leaf.name,
        component_class=leaf.cls,
        attributes=leaf.attributes,
        instances=leaf.instances,
        mesh_x=leaf.mesh_x,
        mesh_y=leaf.mesh_y,
        subclass=leaf.subclass,
    )
