"""Energy and area reference tables (ERT / ART) of an architecture.

:func:`estimate` gives, for every storage and compute node of an
:class:`~dse.spec.types.Architecture`, the energy of each action in pJ and the
area in um^2, each with a ``source`` string saying where the number came from.
Meanings follow Timeloop:

* storage ``read`` / ``write`` / ``update``: energy of one *vector* access, i.e.
  ``block_size`` words (the component's ``width`` bits);
* ``leak``: leakage energy per cycle per instance;
* compute ``compute``: one operation (one MAC for ``intmac``);
* area: one instance.

:func:`read_accelergy_ert` / :func:`read_accelergy_art` read Accelergy's
``ERT.yaml`` / ``ART.yaml`` (names such as ``System_top_level.Scratchpad[1..1]``
become node ``Scratchpad``); :func:`write_ert_yaml` / :func:`write_art_yaml`
write them back atomically; :func:`override` lets a user-supplied ERT/ART replace
estimates.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from dse.files import write_atomic
from dse.errors import EstimationError
from dse.energy.compound import ComponentModel
from dse.energy.estimators import Estimators
from dse.energy.network import NetworkEnergy, connected_networks, estimate_network
from dse.spec.types import Architecture, ComputeLevel, Spec, StorageLevel

STORAGE_ACTIONS = ("read", "write", "update", "leak")
COMPUTE_ACTIONS = ("compute", "leak")
#: Prefix Timeloop/Accelergy put in front of flattened component names.
TOP_PREFIX = "System_top_level"
#: Keys a node inherits from the architecture / spec variables when it lacks them.
CONTEXT_KEYS = ("technology", "global_cycle_seconds")


@dataclass(frozen=True)
class ActionEnergy:
    """Energy of one action in pJ and where it came from."""

    energy_pj: float
    source: str


@dataclass(frozen=True)
class AreaEstimate:
    """Area of one instance in um^2 and where it came from."""

    area_um2: float
    source: str


@dataclass(frozen=True)
class ComponentEnergy:
    """Per-action energies and area of one architecture node."""

    name: str
    component_class: str
    instances: int
    actions: Mapping[str, ActionEnergy]
    area: AreaEstimate | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", MappingProxyType(dict(self.actions)))

    def energy_pj(self, action: str) -> float:
        """Energy of ``action`` in pJ (``KeyError`` if the node has no such action)."""
        return self.actions[action].energy_pj

    @property
    def area_um2(self) -> float | None:
        return None if self.area is None else self.area.area_um2


@dataclass(frozen=True)
class EnergyAreaTables:
    """The ERT and ART of an architecture: one :class:`ComponentEnergy` per node, outermost first."""

    components: tuple[ComponentEnergy, ...]
    version: str = "0.4"
    #: explicit network components (``network_read``/``network_update`` targets), see dse.energy.network
    networks: tuple[NetworkEnergy, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.components]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise EstimationError(f"duplicate component names {sorted(dup)} in energy tables")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.components)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __getitem__(self, name: str) -> ComponentEnergy:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)

    def get(self, name: str) -> ComponentEnergy | None:
        return next((c for c in self.components if c.name == name), None)

    def energy_pj(self, name: str, action: str) -> float:
        """Energy in pJ of ``action`` on node ``name``."""
        comp = self.get(name)
        if comp is None:
            raise EstimationError(f"no energy table for component {name!r}", accepted=", ".join(self.names))
        if action not in comp.actions:
            raise EstimationError(f"component {name!r} has no energy for action {action!r}",
                                  accepted=", ".join(comp.actions))
        return comp.actions[action].energy_pj

    def network(self, name: str) -> NetworkEnergy | None:
        """The :class:`~dse.energy.network.NetworkEnergy` of explicit network ``name`` (None if absent)."""
        return next((n for n in self.networks if n.name == name), None)

    def area_um2(self, name: str) -> float:
        """Area in um^2 of one instance of node ``name``."""
        comp = self.get(name)
        if comp is None or comp.area is None:
            raise EstimationError(f"no area for component {name!r}",
                                  accepted=", ".join(c.name for c in self.components if c.area is not None))
        return comp.area.area_um2

    def to_ert_dict(self) -> dict[str, Any]:
        """Accelergy ``ERT.yaml`` structure."""
        tables = []
        for c in self.components:
            if not c.actions:
                continue
            tables.append({
                "name": f"{TOP_PREFIX}.{c.name}[1..{c.instances}]",
                "actions": [{"name": a, "arguments": {}, "energy": _clean(e.energy_pj)} for a, e in c.actions.items()],
            })
        return {"ERT": {"version": self.version, "tables": tables}}

    def to_art_dict(self) -> dict[str, Any]:
        """Accelergy ``ART.yaml`` structure."""
        tables = [{"name": f"{TOP_PREFIX}.{c.name}[1..{c.instances}]", "area": _clean(c.area.area_um2)}
                  for c in self.components if c.area is not None]
        return {"ART": {"version": self.version, "tables": tables}}


def _clean(x: float) -> float:
    return float(f"{x:.9g}")


# --------------------------------------------------------------------------- estimation
def _node_attributes(node: StorageLevel | ComputeLevel, arch: Architecture,
                     variables: Mapping[str, Any]) -> dict[str, Any]:
    attrs = dict(node.attributes)
    for key in CONTEXT_KEYS:
        if key not in attrs:
            if key in arch.attributes:
                attrs[key] = arch.attributes[key]
            elif key in variables:
                attrs[key] = variables[key]
    if isinstance(node, StorageLevel):
        # v0.3-style specs give word-bits / block-size / size instead of width / depth.
        attrs.setdefault("datawidth", node.word_bits)
        attrs.setdefault("width", node.word_bits * node.block_size)
        if node.size_words is not None and node.block_size:
            attrs.setdefault("depth", node.size_words // node.block_size)
    attrs.setdefault("n_instances", 1)
    return attrs


def node_class(node: StorageLevel | ComputeLevel) -> str:
    """The Accelergy class of a node: its ``subclass`` when given (``class: storage, subclass: X``)."""
    return getattr(node, "subclass", None) or node.component_class


def _node_energy(model: ComponentModel, node: StorageLevel | ComputeLevel, attrs: Mapping[str, Any],
                 required: tuple[str, ...]) -> dict[str, ActionEnergy]:
    cls = node_class(node)
    where = f"architecture node {node.name} (class {cls})"
    defined = model.actions(cls)
    wanted = list(required) + [a for a in defined if a not in required]
    out: dict[str, ActionEnergy] = {}
    for action in wanted:
        if action == "update" and "update" not in defined and defined and "write" in out:
            # Timeloop convention: an update costs what a write costs.
            out[action] = ActionEnergy(out["write"].energy_pj,
                                       f"update = write (class {cls} defines no update); {out['write'].source}")
            continue
        if action == "leak" and "leak" not in defined and defined:
            out[action] = ActionEnergy(0.0, f"class {cls} defines no leak action (Timeloop: 0 pJ/cycle)")
            continue
        if action in ("read", "write") and action not in defined and defined:
            # Timeloop charges a memory action the ERT lacks at the component's largest action energy
            others = []
            for a in defined:
                if a != "leak":
                    try:
                        others.append((model.energy(cls, attrs, a, where).value, a))
                    except EstimationError:
                        pass
            if others:
                value, name = max(others)
                out[action] = ActionEnergy(value, f"class {cls} defines no {action}: its largest action "
                                                  f"'{name}' (Timeloop's vector-access-energy fallback)")
                continue
        try:
            est = model.energy(cls, attrs, action, where)
        except EstimationError:
            if action in required:
                raise
            continue  # an optional action the table has no row for at these attributes
        out[action] = ActionEnergy(est.value, est.source)
    return out


def estimate(spec_or_arch: Spec | Architecture, components: Mapping[str, Mapping[str, Any]] | None = None,
             estimators: Estimators | None = None, *, variables: Mapping[str, Any] | None = None,
             with_area: bool = True, apply_scales: bool = True, with_networks: bool = True) -> EnergyAreaTables:
    """Estimate the ERT/ART of every storage and compute node.

    ``components`` defaults to ``spec.components`` and ``variables`` to
    ``spec.variables`` when a :class:`Spec` is given; ``estimators`` defaults to
    :meth:`Estimators.default` (the shipped tables).  Raises
    :class:`EstimationError` when a class or attribute cannot be estimated.
    ``apply_scales=False`` ignores compound ``energy_scale``/``area_scale`` keys
    (older Accelergy behaviour; see :class:`~dse.energy.compound.ComponentModel`).
    Explicit network components that a storage level names (``network_read`` /
    ``network_update``) get a :class:`~dse.energy.network.NetworkEnergy` in
    ``networks`` (``with_networks=False`` skips them).
    """
    if isinstance(spec_or_arch, Spec):
        arch = spec_or_arch.architecture
        if arch is None:
            raise EstimationError("the specification has no architecture", where=", ".join(spec_or_arch.sources),
                                  accepted="an architecture: section")
        components = spec_or_arch.components if components is None else components
        variables = spec_or_arch.variables if variables is None else variables
    else:
        arch = spec_or_arch
    model = ComponentModel(dict(components or {}), estimators or Estimators.default(), apply_scales)
    out: list[ComponentEnergy] = []
    for node in arch.nodes:
        if not isinstance(node, (StorageLevel, ComputeLevel)):
            continue
        attrs = _node_attributes(node, arch, variables or {})
        required = STORAGE_ACTIONS if isinstance(node, StorageLevel) else COMPUTE_ACTIONS
        actions = _node_energy(model, node, attrs, required)
        area = None
        cls = node_class(node)
        if with_area:
            a = model.area(cls, attrs, f"architecture node {node.name} (class {cls})")
            area = AreaEstimate(a.value, a.source)
        out.append(ComponentEnergy(node.name, cls, node.instances, actions, area))
    nets: list[NetworkEnergy] = []
    if with_networks and arch.networks:
        used = connected_networks(arch)
        for net in arch.networks:
            if net.name in used:
                nets.append(estimate_network(net, model, arch, variables or {}))
    return EnergyAreaTables(tuple(out), networks=tuple(nets))


# --------------------------------------------------------------------------- Accelergy files
_NAME_RE = re.compile(r"^(?P<path>[^\[]+?)(?P<range>\[(?P<lo>\d+)\.\.(?P<hi>\d+)\])?$")


def node_name(accelergy_name: str) -> tuple[str, int]:
    """``'System_top_level.Scratchpad[1..16]'`` -> (``'Scratchpad'``, 16)."""
    m = _NAME_RE.match(str(accelergy_name).strip())
    if not m:
        raise EstimationError(f"cannot read component name {accelergy_name!r}",
                              accepted="names like System_top_level.Buffer[1..16]")
    n = int(m.group("hi")) - int(m.group("lo")) + 1 if m.group("range") else 1
    return m.group("path").rsplit(".", 1)[-1].strip(), n


def _load_yaml(path: str | Path) -> Any:
    from dse.spec.yaml_io import load_yaml  # one-paragraph errors with line and column

    return load_yaml(path)


def _as_list(value: Any, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise EstimationError(f"expected a list, got {type(value).__name__}", where=where, accepted="a YAML list")
    return value


def _non_negative(value: Any, what: str, where: str) -> float:
    """A finite, non-negative number (an ERT energy or ART area); a NaN or negative one is bad input."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise EstimationError(f"{what} {str(value)[:40]!r} is not a number", where=where,
                              accepted="a finite number >= 0") from None
    if not math.isfinite(number) or number < 0:
        raise EstimationError(f"{what} {number} is not a finite non-negative number", where=where,
                              accepted="a finite number >= 0")
    return number


def read_accelergy_ert(path: str | Path) -> EnergyAreaTables:
    """Read an Accelergy ``ERT.yaml``.

    When an action appears several times with different arguments (e.g. v0.3
    ``data_delta``/``address_delta`` variants), the largest energy is kept.
    """
    doc = _load_yaml(path)
    if not isinstance(doc, Mapping) or not isinstance(doc.get("ERT"), Mapping):
        raise EstimationError("not an Accelergy ERT file", where=str(path), accepted="a top-level 'ERT:' mapping")
    comps: list[ComponentEnergy] = []
    for i, table in enumerate(_as_list(doc["ERT"].get("tables"), f"{path}: ERT.tables")):
        where = f"{path}: ERT.tables[{i}]"
        if not isinstance(table, Mapping) or "name" not in table:
            raise EstimationError("table entry without a name", where=where)
        name, n = node_name(table["name"])
        actions: dict[str, ActionEnergy] = {}
        for j, act in enumerate(_as_list(table.get("actions"), f"{where}.actions")):
            if not isinstance(act, Mapping) or "name" not in act or "energy" not in act:
                raise EstimationError("action without name or energy", where=f"{where}.actions[{j}]")
            energy = _non_negative(act["energy"], "energy", f"{where}.actions[{j}].energy")
            a = str(act["name"])
            if a not in actions or energy > actions[a].energy_pj:
                actions[a] = ActionEnergy(energy, f"ERT file {path}")
        comps.append(ComponentEnergy(name, "", n, actions))
    return EnergyAreaTables(tuple(comps), str(doc["ERT"].get("version", "0.4")))


def read_accelergy_art(path: str | Path) -> EnergyAreaTables:
    """Read an Accelergy ``ART.yaml`` (areas only; components have no actions)."""
    doc = _load_yaml(path)
    if not isinstance(doc, Mapping) or not isinstance(doc.get("ART"), Mapping):
        raise EstimationError("not an Accelergy ART file", where=str(path), accepted="a top-level 'ART:' mapping")
    comps: list[ComponentEnergy] = []
    for i, table in enumerate(_as_list(doc["ART"].get("tables"), f"{path}: ART.tables")):
        where = f"{path}: ART.tables[{i}]"
        if not isinstance(table, Mapping) or "name" not in table or "area" not in table:
            raise EstimationError("table entry needs name and area", where=where)
        name, n = node_name(table["name"])
        area = _non_negative(table["area"], "area", f"{where}.area")
        comps.append(ComponentEnergy(name, "", n, {}, AreaEstimate(area, f"ART file {path}")))
    return EnergyAreaTables(tuple(comps), str(doc["ART"].get("version", "0.4")))


def _atomic_write_yaml(path: str | Path, data: Mapping[str, Any]) -> None:
    write_atomic(path, yaml.safe_dump(data, sort_keys=False, default_flow_style=False))


def write_ert_yaml(path: str | Path, tables: EnergyAreaTables) -> None:
    """Write ``tables`` as an Accelergy ``ERT.yaml`` (temp file + ``os.replace``)."""
    _atomic_write_yaml(path, tables.to_ert_dict())


def write_art_yaml(path: str | Path, tables: EnergyAreaTables) -> None:
    """Write ``tables`` as an Accelergy ``ART.yaml`` (temp file + ``os.replace``)."""
    _atomic_write_yaml(path, tables.to_art_dict())


_NETWORK_RE = re.compile(r"^inter_.*_spatial$")


def override(estimated: EnergyAreaTables, user: EnergyAreaTables, *, where: str = "user ERT/ART") -> EnergyAreaTables:
    """Replace estimated action energies / areas by the user's, action by action.

    Actions the user gives for a node are taken from ``user``; the others keep
    their estimates.  A user area replaces the estimated area.  Timeloop network
    placeholders (``inter_*_spatial``) are skipped; an explicit network of ``estimated``
    gets the user's action energies as fixed per-transfer energies; any other name that is not a
    node of ``estimated`` raises :class:`EstimationError`.
    """
    by_name = {c.name: c for c in user.components}
    net_names = {n.name for n in estimated.networks}
    unknown = [n for n in by_name if n not in estimated and n not in net_names and not _NETWORK_RE.match(n)]
    if unknown:
        raise EstimationError(f"names {unknown} are not storage or compute nodes of the architecture", where=where,
                              accepted=", ".join(estimated.names))
    out = []
    for comp in estimated.components:
        u = by_name.get(comp.name)
        if u is None:
            out.append(comp)
            continue
        actions = {**comp.actions, **u.actions}
        out.append(replace(comp, actions=actions, area=u.area if u.area is not None else comp.area))
    # timeloopfe's dummy levels are not estimated here; their ERT entries are kept for the fan-outs they stand for
    out += [u for n, u in by_name.items() if n not in estimated and n not in net_names and _NETWORK_RE.match(n) and u.actions]
    nets = []
    for net in estimated.networks:
        u = by_name.get(net.name)
        if u is None or not u.actions:
            nets.append(net)
            continue
        # a user ERT fixes the network's action energies (argument variants collapsed to the largest,
        # as read_accelergy_ert does)
        fixed = {**net.fixed, **{a: e.energy_pj for a, e in u.actions.items()}}
        nets.append(replace(net, fixed=fixed, _cache={}, source=f"{where} (fixed per action)"))
    return EnergyAreaTables(tuple(out), estimated.version, tuple(nets))


def merge_ert_art(ert: EnergyAreaTables, art: EnergyAreaTables) -> EnergyAreaTables:
    """Combine an ERT-only and an ART-only table (as read from two files) into one."""
    areas = {c.name: c.area for c in art.components}
    comps = [replace(c, area=areas.get(c.name, c.area)) for c in ert.components]
    comps += [c for c in art.components if c.name not in ert and not _NETWORK_RE.match(c.name)]
    return EnergyAreaTables(tuple(comps), ert.version, ert.networks or art.networks)
