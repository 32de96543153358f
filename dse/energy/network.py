"""Per-transfer energy of explicit network components (Timeloop ``SimpleMulticast``).

A storage level names a network in ``network_read`` / ``network_update`` (see
:class:`~dse.spec.types.NetworkComponent`).  Timeloop's ``SimpleMulticast`` network
charges ``transfers x E(action, multicast factor)`` per data space, where the action
is the network's ``action_name`` (``transfer``), or ``<action_name>_<data space>``
(``transfer_Inputs``) when ``per_datatype_ERT`` is set, and the ERT entry is chosen by
the action argument named ``multicast_factor_argument`` (``num_destinations``).

:class:`NetworkEnergy` reproduces Timeloop's ERT lookup
(``SimpleMulticastNetwork::GetOpEnergyFromERT``) over the entries Accelergy would
generate (one per integer value of an argument range):

* the action does not exist -> 0 pJ (Timeloop's behaviour; with ``per_datatype_ERT``
  this is how a network carries only some data spaces, e.g. a DAC network only Inputs);
* the action has no multicast argument, or its range holds a single value -> that one
  entry, whatever the multicast factor;
* otherwise the entry whose argument equals the multicast factor; none -> 0 pJ.

:func:`estimate_network` evaluates the compound class (``subclass``, else ``class``)
with :class:`~dse.energy.compound.ComponentModel`, lazily per multicast factor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from dse.errors import EstimationError

#: Timeloop network classes whose energy is modelled (others: transfers counted, 0 pJ).
MODELLED_NETWORK_CLASSES = ("SimpleMulticast",)


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v)


@dataclass(frozen=True)
class NetworkEnergy:
    """Per-transfer energies of one network component.

    ``arguments[action]`` is the evaluated ``(low, high)`` range of the multicast-factor
    argument of that action, or ``None`` when the action has no such argument.
    ``fixed[action]`` gives energies that do not depend on the factor (read from a user
    ERT); ``evaluate(action, factor)`` computes the others (``None`` for fixed-only tables).
    """

    name: str
    component_class: str  # the Accelergy class (subclass) evaluated
    network_class: str  # Timeloop class: SimpleMulticast, Legacy...
    action_name: str = "transfer"
    per_datatype_ERT: bool = False
    multicast_factor_argument: str | None = None
    arguments: Mapping[str, tuple[int, int] | None] = field(default_factory=dict)
    fixed: Mapping[str, float] = field(default_factory=dict)
    evaluate: Callable[[str, int | None], float] | None = field(default=None, compare=False, repr=False)
    fill_latency: int = 0
    drain_latency: int = 0
    source: str = ""
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def action_for(self, data_space: str) -> str:
        """The ERT action Timeloop looks up for ``data_space``."""
        return f"{self.action_name}_{data_space}" if self.per_datatype_ERT else self.action_name

    def has_action(self, data_space: str) -> bool:
        a = self.action_for(data_space)
        return a in self.fixed or a in self.arguments

    def energy_pj(self, data_space: str, multicast_factor: int) -> float:
        """Energy of one transfer of ``data_space`` delivered to ``multicast_factor`` destinations."""
        action = self.action_for(data_space)
        key = (action, int(multicast_factor))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if action in self.fixed:
            value = float(self.fixed[action])
        elif action not in self.arguments or self.evaluate is None:
            value = 0.0
        else:
            rng = self.arguments[action]
            if rng is None:
                value = self.evaluate(action, None)
            elif rng[0] == rng[1]:
                value = self.evaluate(action, int(rng[0]))
            elif rng[0] <= multicast_factor <= rng[1]:
                value = self.evaluate(action, int(multicast_factor))
            else:
                value = 0.0  # Timeloop finds no ERT entry with this argument value
        self._cache[key] = value
        return value


def network_attributes(network, arch, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A network's attributes plus ``technology`` / ``global_cycle_seconds`` from the spec when missing."""
    from dse.energy.ert import CONTEXT_KEYS

    attrs = dict(network.attributes)
    for key in CONTEXT_KEYS:
        if key not in attrs:
            if arch is not None and key in arch.attributes:
                attrs[key] = arch.attributes[key]
            elif variables and key in variables:
                attrs[key] = variables[key]
    attrs.setdefault("n_instances", 1)
    return attrs


def estimate_network(network, model, arch=None, variables: Mapping[str, Any] | None = None) -> NetworkEnergy:
    """:class:`NetworkEnergy` of a :class:`~dse.spec.types.NetworkComponent` with a
    :class:`~dse.energy.compound.ComponentModel` ``model``.

    Only ``SimpleMulticast`` networks carry energy; other classes get an empty table
    (Timeloop's legacy-style networks cost 0 without wire/router energies).
    Raises :class:`EstimationError` when the class cannot be estimated.
    """
    attrs = network_attributes(network, arch, variables)
    ncls = network.component_class
    acls = network.subclass or network.component_class
    common = dict(name=network.name, component_class=acls, network_class=ncls,
                  fill_latency=int(attrs.get("fill_latency", 0) or 0),
                  drain_latency=int(attrs.get("drain_latency", 0) or 0))
    if ncls not in MODELLED_NETWORK_CLASSES:
        return NetworkEnergy(**common, source=f"network class {ncls}: energy not modelled (0 pJ)")
    where = f"network {network.name} (class {acls})"
    if "action_name" not in attrs:
        raise EstimationError("a SimpleMulticast network needs an action_name attribute", where=where,
                              accepted="action_name: transfer (the ERT action of one transfer)")
    action_name = str(attrs["action_name"])
    per_dt = _truthy(attrs.get("per_datatype_ERT", False))
    arg = attrs.get("multicast_factor_argument")
    arg = None if arg in (None, "none") else str(arg)
    defined = model.actions(acls)
    if not defined:
        raise EstimationError(f"class {acls!r} defines no actions", where=where,
                              accepted="a compound class with transfer actions, or a table row")
    ranges: dict[str, tuple[int, int] | None] = {}
    for action in defined:
        if action != action_name and not (per_dt and action.startswith(action_name + "_")):
            continue
        declared = model.action_arguments(acls, action, attrs, where) if model.is_compound(acls) else {}
        if arg is not None and arg in declared:
            lo, hi = declared[arg]
            ranges[action] = (int(round(float(lo))), int(round(float(hi))))
        else:
            ranges[action] = None

    return NetworkEnergy(**common, action_name=action_name, per_datatype_ERT=per_dt, multicast_factor_argument=arg,
                         arguments=ranges, evaluate=_ActionEnergy(model, acls, attrs, where, arg),
                         source=f"class {acls} actions {', '.join(ranges) or 'none'} (estimated)")


@dataclass(frozen=True)
class _ActionEnergy:
    """``(action, multicast factor) -> pJ`` of one network class; a module-level class, not a
    closure, so a :class:`NetworkEnergy` pickles into mapper worker processes."""

    model: Any
    component_class: str
    attributes: Mapping[str, Any]
    where: str
    argument: str | None

    def __call__(self, action: str, factor: int | None) -> float:
        args = {self.argument: factor} if (self.argument is not None and factor is not None) else None
        return float(self.model.energy(self.component_class, self.attributes, action, self.where, arguments=args).value)


def connected_networks(arch) -> tuple[str, ...]:
    """Names of the explicit networks some storage level names as its read or update network."""
    names = {n.name for n in arch.networks}
    used = []
    for lvl in arch.storage_levels:
        for key in ("network_read", "network_update"):
            v = lvl.attributes.get(key)
            if isinstance(v, str) and v in names and v not in used:
                used.append(v)
    return tuple(used)
