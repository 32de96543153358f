"""Compound components (Accelergy ``compound_components`` v0.3/v0.4 semantics).

A compound class has default ``attributes`` (``"must_specify"`` marks required
ones; defaults may be expressions over earlier attributes), ``subcomponents``
(``name[lo..hi]`` = ``hi - lo + 1`` identical copies; a class that is itself
compound is expanded recursively) and ``actions`` made of subcomponent actions::

    actions:
    - name: read
      subcomponents:
      - name: storage[1..width]          # 'width' copies take part
        actions: [{name: read, energy_scale: dynamic_energy_scale}]
      - name: address_generators[1]       # one copy
        actions: [{name: add}]

Energy of a compound action = sum over its sub-actions of
``copies x action_share x repeat x energy_scale (of the sub-action and of the subcomponent) x
energy(subcomponent, action)``.  Area = sum over subcomponents of
``copies x area_scale x area(subcomponent)``.

Attribute rules (as Accelergy v0.4): an instance's attributes override class
defaults; defaults are evaluated in order, each seeing the instance attributes
and the defaults before it.  A subcomponent gets only the attributes written
under it (evaluated over the parent's attributes) plus the parent's
``technology``, ``global_cycle_seconds``, ``cycle_seconds``,
``action_latency_cycles`` and ``n_instances`` when it does not set them.
Action ``arguments`` are passed to the subcomponent as extra attributes; an
argument range ``a..b`` is taken at its upper bound ``b`` (one ERT entry per
action, as Timeloop uses it).  YAML merge keys (``<<: *write_action``) are
honoured whether or not the YAML loader resolved them.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from dse.errors import DseError, EstimationError
from dse.spec.expressions import evaluate_attribute as _spec_evaluate_attribute
from dse.spec.yaml_io import loads_yaml
from dse.energy.estimators import Estimators
from dse.energy.tables import Estimate

#: Attributes a subcomponent inherits from its parent when it does not set them.
PROPAGATED_KEYS = ("technology", "global_cycle_seconds", "cycle_seconds", "action_latency_cycles", "n_instances")

def evaluate_attribute(value: Any, names: Mapping[str, Any], where: str) -> Any:
    """Accelergy attribute evaluation ("strings allowed") via :mod:`dse.spec.expressions`.

    Strings that are not expressions over defined names (``"32nm"``, ``"SAR"``) stay
    strings; errors become :class:`EstimationError` naming ``where``.
    """
    try:
        return _spec_evaluate_attribute(value, names, where)
    except DseError as err:
        raise EstimationError(err.message, where=err.where or where, accepted=err.accepted) from None
    except (ArithmeticError, TypeError, ValueError) as err:
        raise EstimationError(f"cannot evaluate {value!r}: {err}", where=where) from None


_RANGE_RE = re.compile(r"^(?P<base>[^\[]+)\[(?P<inside>[^\]]*)\]\s*$")


# --------------------------------------------------------------------------- loading
class _MergeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader that ignores unknown tags (``!Component``...) so component files load standalone.

    libyaml's parser when present: the text already passed the spec loader's bounds (depth, alias bombs).
    """


def _construct_unknown(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_MergeLoader.add_multi_constructor("!", _construct_unknown)


def load_components(paths: Iterable[str | Path]) -> dict[str, Mapping[str, Any]]:
    """Read ``compound_components`` classes from YAML files or folders (``*.yaml``, ``*.yml``).

    Returns ``{class name: raw class definition}`` -- the shape of ``Spec.components``.
    Files without a ``compound_components`` key are skipped.
    """
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted([*p.rglob("*.yaml"), *p.rglob("*.yml")]))
        elif p.is_file():
            files.append(p)
        else:
            raise EstimationError(f"component path {p} does not exist", where=str(p))
    classes: dict[str, Mapping[str, Any]] = {}
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
            loads_yaml(text, str(f))  # the spec loader's bounds first: depth, alias bombs, size
            doc = yaml.load(text, Loader=_MergeLoader)  # noqa: S506 - SafeLoader subclass
        except UnicodeDecodeError:
            raise EstimationError("file is not UTF-8 text", where=str(f)) from None
        except yaml.YAMLError as err:
            raise EstimationError(f"cannot parse YAML: {err}", where=str(f)) from None
        if not isinstance(doc, Mapping) or "compound_components" not in doc:
            continue
        cc = doc["compound_components"] or {}
        for i, cls in enumerate(cc.get("classes", []) if isinstance(cc, Mapping) else []):
            if not isinstance(cls, Mapping) or "name" not in cls:
                raise EstimationError("compound class without a name", where=f"{f}: compound_components.classes[{i}]")
            classes[str(cls["name"])] = cls
    return classes


def _malformed_is_an_error(method):
    """A compound class whose YAML has the wrong shape (a string where a mapping belongs, a number
    where a list belongs) is an :class:`EstimationError` naming the class, not a Python crash."""

    @functools.wraps(method)
    def checked(self, class_name, *args, **kwargs):
        try:
            return method(self, class_name, *args, **kwargs)
        except (TypeError, AttributeError, ValueError, KeyError, IndexError) as err:
            where = next((a for a in args if isinstance(a, str) and a), "") or kwargs.get("where") or ""
            raise EstimationError(f"malformed compound class {class_name!r} ({type(err).__name__}: {str(err)[:200]})",
                                  where=where or f"class {class_name}",
                                  accepted="compound_components classes in Accelergy's form: attributes, subcomponents "
                                           "and actions as mappings/lists of mappings") from None

    return checked


def _merged(d: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve a literal ``<<`` merge key left by a loader that does not apply it."""
    if not isinstance(d, Mapping):
        raise TypeError(f"expected a mapping, got {type(d).__name__} {str(d)[:60]!r}")
    if "<<" not in d:
        return dict(d)
    base = d["<<"]
    out: dict[str, Any] = {}
    for b in base if isinstance(base, list) else [base]:
        if isinstance(b, Mapping):
            out.update(_merged(b))
    out.update({k: v for k, v in d.items() if k != "<<"})
    return out


# --------------------------------------------------------------------------- helpers
def split_name(name: str, names: Mapping[str, Any], where: str) -> tuple[str, int]:
    """``'storage[1..width*depth]'`` -> (``'storage'``, width*depth); ``'x[3]'`` -> (``'x'``, 1)."""
    m = _RANGE_RE.match(str(name).strip())
    if not m:
        return str(name).strip(), 1
    base, inside = m.group("base").strip(), m.group("inside")
    if ".." not in inside:
        return base, 1
    lo_text, hi_text = inside.split("..", 1)
    lo = evaluate_attribute(lo_text, names, f"{where}: {name}")
    hi = evaluate_attribute(hi_text, names, f"{where}: {name}")
    if not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)):
        raise EstimationError(f"range bounds of {name!r} are not numbers ({lo!r}..{hi!r})", where=where,
                              accepted="numeric expressions over the component's attributes")
    return base, max(0, int(round(hi)) - int(round(lo)) + 1)


def _number(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EstimationError(f"{what} evaluates to {value!r}, not a number", where=where)
    return float(value)


def _range_upper(value: Any) -> Any:
    """Action-argument ranges ``'0..1'`` are taken at their upper bound."""
    if isinstance(value, str) and ".." in value:
        return value.split("..", 1)[1].strip()
    return value


def _scale(raw: Mapping[str, Any], key: str, names: Mapping[str, Any], where: str) -> float:
    if raw.get(key) is None:
        return 1.0
    return _number(evaluate_attribute(raw[key], names, f"{where}.{key}"), key, where)


@dataclass(frozen=True)
class _Sub:
    """One evaluated subcomponent of a compound instance."""

    base: str
    class_name: str
    copies: int
    attributes: Mapping[str, Any]
    area_scale: float
    energy_scale: float


# --------------------------------------------------------------------------- evaluator
@dataclass(frozen=True)
class ComponentModel:
    """Estimates energy and area of (compound or primitive) component classes.

    ``classes`` are raw compound class definitions (``Spec.components``);
    everything else is a primitive answered by ``estimators``.
    ``apply_scales=False`` ignores ``energy_scale`` and ``area_scale`` (sub-action and
    subcomponent keys), reproducing Accelergy setups that predate them -- the one
    behind the reference Eyeriss statistics (see docs/energy.md); ``action_share``
    and ``repeat`` are always applied.
    """

    classes: Mapping[str, Mapping[str, Any]]
    estimators: Estimators
    apply_scales: bool = True

    def is_compound(self, class_name: str) -> bool:
        return class_name in self.classes

    # ------------------------------------------------------------------ attributes
    @_malformed_is_an_error
    def resolve_attributes(self, class_name: str, given: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Instance attributes over class defaults, expressions evaluated; checks ``must_specify``."""
        cls = self.classes[class_name]
        resolved: dict[str, Any] = {}
        for k, v in given.items():
            resolved[k] = evaluate_attribute(v, {**given, **resolved}, f"{where}.attributes.{k}") if isinstance(v, str) else v
        defaults = cls.get("attributes") or {}
        for k, v in defaults.items():
            if k in given:
                continue
            if isinstance(v, str) and v.strip() == "must_specify":
                raise EstimationError(
                    f"attribute {k!r} of compound class {class_name!r} must be specified",
                    where=where,
                    accepted=f"set {k} in the component's attributes (or its container/variables); "
                    f"given: {', '.join(sorted(map(str, given))) or 'none'}",
                )
            resolved[k] = evaluate_attribute(v, resolved, f"{where}.attributes.{k} (class {class_name} default)")
        return resolved

    def _subcomponents(self, class_name: str, attrs: Mapping[str, Any], where: str) -> dict[str, _Sub]:
        cls = self.classes[class_name]
        subs: dict[str, _Sub] = {}
        for i, raw in enumerate(cls.get("subcomponents") or []):
            raw = _merged(raw)
            swhere = f"{where} > {class_name}.subcomponents[{i}]"
            if "name" not in raw or "class" not in raw:
                raise EstimationError("subcomponent needs a name and a class", where=swhere)
            base, copies = split_name(raw["name"], attrs, swhere)
            sub_attrs: dict[str, Any] = {}
            raw_attrs = dict(raw.get("attributes") or {})
            for k, v in raw_attrs.items():
                if k in ("area_scale", "energy_scale"):
                    continue
                sub_attrs[k] = evaluate_attribute(v, {**attrs, **sub_attrs}, f"{swhere}.attributes.{k}")
            for key in PROPAGATED_KEYS:
                if key not in sub_attrs and key in attrs:
                    sub_attrs[key] = attrs[key]
            names = {**attrs, **sub_attrs}
            area_scale = energy_scale = 1.0
            if self.apply_scales:
                area_scale = _scale(raw, "area_scale", names, swhere) * _scale(raw_attrs, "area_scale", names, swhere)
                energy_scale = (_scale(raw, "energy_scale", names, swhere)
                                * _scale(raw_attrs, "energy_scale", names, swhere))
            subs[base] = _Sub(base, str(raw["class"]), copies, sub_attrs, area_scale, energy_scale)
        return subs

    def _action_defs(self, class_name: str) -> dict[str, Mapping[str, Any]]:
        defs: dict[str, Mapping[str, Any]] = {}
        for raw in self.classes[class_name].get("actions") or []:
            raw = _merged(raw)
            if "name" in raw:
                defs[str(raw["name"])] = raw
        return defs

    # ------------------------------------------------------------------ public
    @_malformed_is_an_error
    def action_arguments(self, class_name: str, action: str, attributes: Mapping[str, Any],
                         where: str = "") -> dict[str, tuple[Any, Any]]:
        """Declared top-level arguments of a compound ``action``: ``{name: (low, high)}``, evaluated.

        A single value ``v`` gives ``(v, v)``; a range ``a..b`` gives ``(a, b)``.
        """
        where = where or f"class {class_name}"
        if not self.is_compound(class_name):
            return {}
        attrs = self.resolve_attributes(class_name, attributes, where)
        act = self._action_defs(class_name).get(action)
        out: dict[str, tuple[Any, Any]] = {}
        for k, v in ((act or {}).get("arguments") or {}).items():
            awhere = f"{where} > {class_name}.actions.{action}.arguments.{k}"
            if isinstance(v, str) and ".." in v:
                lo, hi = v.split("..", 1)
                out[k] = (evaluate_attribute(lo.strip(), attrs, awhere), evaluate_attribute(hi.strip(), attrs, awhere))
            else:
                x = evaluate_attribute(v, attrs, awhere)
                out[k] = (x, x)
        return out

    @_malformed_is_an_error
    def actions(self, class_name: str) -> tuple[str, ...]:
        """Actions a class defines (compound: its ``actions``; primitive: its table rows)."""
        if self.is_compound(class_name):
            return tuple(self._action_defs(class_name))
        return self.estimators.class_actions(class_name)

    @_malformed_is_an_error
    def energy(self, class_name: str, attributes: Mapping[str, Any], action: str, where: str = "",
               arguments: Mapping[str, Any] | None = None) -> Estimate:
        """Energy (pJ) of one ``action`` of one instance of ``class_name`` with ``attributes``.

        ``arguments`` override the action's declared top-level arguments (e.g. a network's
        ``num_destinations``); by default a declared range ``a..b`` is taken at ``b``.
        """
        where = where or f"class {class_name}"
        if not self.is_compound(class_name):
            return self.estimators.energy(class_name, attributes, action, where)
        attrs = self.resolve_attributes(class_name, attributes, where)
        defs = self._action_defs(class_name)
        if action not in defs:
            raise EstimationError(f"compound class {class_name!r} has no action {action!r}", where=where,
                                  accepted="actions " + ", ".join(defs))
        act = defs[action]
        awhere = f"{where} > {class_name}.actions.{action}"
        # Top-level action arguments: declared defaults (ranges -> upper bound), overridden by the caller.
        args = {k: evaluate_attribute(_range_upper(v), attrs, f"{awhere}.arguments.{k}")
                for k, v in (act.get("arguments") or {}).items()}
        if arguments:
            args.update(arguments)
        context = {**attrs, **args}
        subs = self._subcomponents(class_name, attrs, where)
        total = 0.0
        parts: list[str] = []
        for j, sub_ref in enumerate(act.get("subcomponents") or []):
            sub_ref = _merged(sub_ref)
            rwhere = f"{awhere}.subcomponents[{j}]"
            base, copies = split_name(sub_ref.get("name", ""), context, rwhere)
            if base not in subs:
                raise EstimationError(f"action refers to unknown subcomponent {base!r}", where=rwhere,
                                      accepted="subcomponents " + ", ".join(subs))
            sub = subs[base]
            for k, sub_act in enumerate(sub_ref.get("actions") or []):
                sub_act = _merged(sub_act)
                kwhere = f"{rwhere}.actions[{k}]"
                sub_args = {a: evaluate_attribute(_range_upper(v), context, f"{kwhere}.arguments.{a}")
                            for a, v in (sub_act.get("arguments") or {}).items()}
                escale = _scale(sub_act, "energy_scale", context, kwhere) if self.apply_scales else 1.0
                factor = (copies * escale * _scale(sub_act, "action_share", context, kwhere)
                          * _scale(sub_act, "repeat", context, kwhere) * sub.energy_scale)
                if factor == 0:
                    continue
                est = self.energy(sub.class_name, {**sub.attributes, **sub_args}, str(sub_act["name"]),
                                  f"{where} > {base}")
                total += factor * est.value
                parts.append(f"{factor:g} x {base}.{sub_act['name']} [{est.source}]")
        return Estimate(total, f"{class_name}.{action} = " + (" + ".join(parts) if parts else "no subcomponent actions (0 pJ)"),
                        sum(1 for _ in parts))

    @_malformed_is_an_error
    def area(self, class_name: str, attributes: Mapping[str, Any], where: str = "") -> Estimate:
        """Area (um^2) of one instance of ``class_name`` with ``attributes``."""
        where = where or f"class {class_name}"
        if not self.is_compound(class_name):
            return self.estimators.area(class_name, attributes, where)
        attrs = self.resolve_attributes(class_name, attributes, where)
        total = 0.0
        parts: list[str] = []
        for sub in self._subcomponents(class_name, attrs, where).values():
            factor = sub.copies * sub.area_scale
            if factor == 0:
                continue
            est = self.area(sub.class_name, sub.attributes, f"{where} > {sub.base}")
            total += factor * est.value
            parts.append(f"{factor:g} x {sub.base} [{est.source}]")
        return Estimate(total, f"{class_name} area = " + (" + ".join(parts) if parts else "no subcomponents (0 um^2)"))
