"""The registry of primitive-component estimators: table sets plus Python plug-ins.

There is no global registry.  An :class:`Estimators` value is immutable; adding a
plug-in or a table folder returns a new one::

    est = Estimators.default().with_plugin("my_adc", lambda cls, attrs, action: 1.5)
    tables = estimate(spec, estimators=est)

A plug-in is either

* a callable ``(class_name, attributes, action) -> energy_pJ | None`` (``None``
  means "not supported", and the tables are tried next; area is then reported as
  0 with a source saying the plug-in gives none), or
* an object with ``energy(class_name, attributes, action) -> float | None`` and
  optionally ``area(class_name, attributes) -> float | None``.

Installed packages may offer plug-ins through the entry-point group
``dse.estimators``: the entry-point *name* is the primitive class, the object it
loads is a plug-in as above.  :meth:`Estimators.with_entry_points` adds them
(``Estimators.default()`` does so unless ``entry_points=False``).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol, Union, runtime_checkable

from dse.errors import EstimationError, OutOfRangeError
from dse.energy.tables import ClassTable, Estimate, TableSet, default_tables_dir, load_tables, lookup

ENTRY_POINT_GROUP = "dse.estimators"


@runtime_checkable
class EstimatorPlugin(Protocol):
    """An object estimating one or more primitive classes."""

    def energy(self, class_name: str, attributes: Mapping[str, Any], action: str) -> float | None: ...


EnergyFunction = Callable[[str, Mapping[str, Any], str], Union[float, None]]
Plugin = Union[EstimatorPlugin, EnergyFunction]


def _plugin_label(plugin: Plugin) -> str:
    return getattr(plugin, "__qualname__", None) or type(plugin).__qualname__


def _zero_size(class_name: str, attributes: Mapping[str, Any]) -> Estimate | None:
    """A memory with ``depth: 0`` or ``width: 0`` holds nothing and costs nothing (Accelergy gives 0 pJ and
    0 um^2: the seed's ``dummy_storage`` relies on it)."""
    for key in ("depth", "width"):
        value = attributes.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
            return Estimate(0.0, f"{class_name} with {key} 0 holds nothing: 0 (as Accelergy)")
    return None


def _plugin_source(plugin: Plugin, label: str, class_name: str, attributes: Mapping[str, Any]) -> str:
    """``plug-in X for C``, plus the plug-in's own description (model, version) when it has one."""
    describe = getattr(plugin, "describe", None)
    text = f"plug-in {label} for {class_name}"
    return f"{text}: {describe(class_name, dict(attributes))}" if callable(describe) else text


@dataclass(frozen=True)
class Estimators:
    """Table sets and plug-ins used to estimate primitive components (immutable)."""

    tables: tuple[TableSet, ...] = ()
    plugins: tuple[tuple[str, Plugin], ...] = ()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_paths(cls, paths: Iterable[str | Path]) -> "Estimators":
        """Estimators reading the table sets found under ``paths``."""
        return cls(tables=load_tables(paths))

    @classmethod
    def default(cls, *, entry_points: bool = True) -> "Estimators":
        """The shipped ``estimation_tables/`` plus installed ``dse.estimators`` plug-ins."""
        est = cls.from_paths([default_tables_dir()])
        return est.with_entry_points() if entry_points else est

    def with_tables(self, *paths_or_sets: str | Path | TableSet) -> "Estimators":
        """A copy whose table sets are searched *before* the existing ones."""
        new: list[TableSet] = []
        for p in paths_or_sets:
            new.extend([p] if isinstance(p, TableSet) else load_tables([p]))
        return replace(self, tables=tuple(new) + self.tables)

    def with_plugin(self, class_name: str, plugin: Plugin) -> "Estimators":
        """A copy in which ``plugin`` is asked first for ``class_name``."""
        if not (callable(plugin) or isinstance(plugin, EstimatorPlugin)):
            raise EstimationError(f"plug-in for {class_name!r} is neither callable nor has an energy() method",
                                  where="Estimators.with_plugin",
                                  accepted="a function (class_name, attributes, action) -> pJ, or an object "
                                  "with energy() and optionally area()")
        return replace(self, plugins=((class_name, plugin),) + self.plugins)

    def with_entry_points(self, group: str = ENTRY_POINT_GROUP) -> "Estimators":
        """A copy with the plug-ins advertised by installed packages under ``group``."""
        est = self
        for ep in sorted(metadata.entry_points(group=group), key=lambda e: e.name):
            try:
                obj = ep.load()
            except Exception as err:  # a broken third-party package must not hide the cause
                raise EstimationError(f"cannot load estimator plug-in {ep.name!r} ({ep.value}): {err}",
                                      where=f"entry point group {group}") from None
            est = est.with_plugin(ep.name, obj)
        return est

    # ------------------------------------------------------------------ queries
    @property
    def class_names(self) -> tuple[str, ...]:
        names = {c for ts in self.tables for c in ts.classes} | {c for c, _ in self.plugins}
        return tuple(sorted(names, key=str.lower))

    def has_class(self, class_name: str) -> bool:
        return any(c == class_name for c, _ in self.plugins) or any(ts.find_class(class_name) for ts in self.tables)

    def class_actions(self, class_name: str) -> tuple[str, ...]:
        """Actions the tables list for ``class_name`` (empty for plug-in-only classes)."""
        seen: dict[str, None] = {}
        for ts in self.tables:
            ct = ts.find_class(class_name)
            if ct is not None:
                seen.update(dict.fromkeys(ct.actions))
        return tuple(seen)

    def _unknown_class(self, class_name: str, where: str) -> EstimationError:
        names = self.class_names
        close = difflib.get_close_matches(class_name, names, n=5, cutoff=0.4)
        hint = f"closest: {', '.join(close)}; " if close else ""
        return EstimationError(
            f"no estimator (table or plug-in) for primitive class {class_name!r}",
            where=where,
            accepted=f"{hint}all known classes: {', '.join(names)}; or define {class_name!r} as a compound component",
        )

    def _plugin_result(self, class_name: str, attributes: Mapping[str, Any], action: str | None,
                       target: str) -> Estimate | None:
        for name, plugin in self.plugins:
            if name != class_name:
                continue
            label = _plugin_label(plugin)
            if target == "energy":
                fn = plugin.energy if isinstance(plugin, EstimatorPlugin) else plugin
                value = fn(class_name, dict(attributes), action)  # type: ignore[operator,arg-type]
                if value is not None:
                    return Estimate(float(value), _plugin_source(plugin, label, class_name, attributes))
            else:
                area_fn = getattr(plugin, "area", None)
                if area_fn is None:
                    return Estimate(0.0, f"plug-in {label} for {class_name} gives no area (0 um^2 assumed)")
                value = area_fn(class_name, dict(attributes))
                if value is not None:
                    return Estimate(float(value), _plugin_source(plugin, label, class_name, attributes))
        return None

    def _tables_result(self, class_name: str, attributes: Mapping[str, Any], action: str | None,
                       target: str, where: str) -> Estimate:
        candidates: list[tuple[tuple[int, float, int], Estimate]] = []
        errors: list[EstimationError] = []
        tables: list[tuple[TableSet, ClassTable]] = [
            (ts, ct) for ts in self.tables if (ct := ts.find_class(class_name)) is not None]
        if not tables:
            raise self._unknown_class(class_name, where)
        for order, (ts, ct) in enumerate(tables):
            try:
                est = lookup(ct, attributes, action, target=target, technology_rule=ts.technology_rule, where=where)
            except EstimationError as err:
                errors.append(err)
                continue
            candidates.append(((est.approximations, -ts.accuracy, order), est))
        if candidates:
            return min(candidates, key=lambda c: c[0])[1]
        if len(errors) == 1:
            raise errors[0]
        out_of_range = [e for e in errors if isinstance(e, OutOfRangeError)]
        if out_of_range:  # the model's own range is the useful message, not "no table can"
            raise out_of_range[0]
        raise EstimationError(
            f"none of {len(errors)} table sets can estimate {class_name} ({target}"
            + (f", action {action}" if action else "") + "): " + "; ".join(e.message for e in errors),
            where=where,
            accepted=" | ".join(e.accepted or e.message for e in errors),
        )

    def energy(self, class_name: str, attributes: Mapping[str, Any], action: str, where: str = "") -> Estimate:
        """Energy in pJ of one ``action`` of a primitive component."""
        where = where or f"class {class_name}"
        zero = _zero_size(class_name, attributes)
        if zero is not None:
            return zero
        est = self._plugin_result(class_name, attributes, action, "energy")
        return est if est is not None else self._tables_result(class_name, attributes, action, "energy", where)

    def area(self, class_name: str, attributes: Mapping[str, Any], where: str = "") -> Estimate:
        """Area in um^2 of one primitive component."""
        where = where or f"class {class_name}"
        zero = _zero_size(class_name, attributes)
        if zero is not None:
            return zero
        est = self._plugin_result(class_name, attributes, None, "area")
        return est if est is not None else self._tables_result(class_name, attributes, None, "area", where)
