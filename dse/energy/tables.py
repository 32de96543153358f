"""Primitive-component estimation from CSV tables (Accelergy table plug-in style).

A *table set* is a ``<anything>.table.yaml`` file::

    name: dse_digital
    technology: [32nm, 40nm, 45nm]   # informational (Accelergy: one node per set)
    accuracy: 80                     # prefer sets with higher accuracy on a tie
    path_to_data_dir: ./data         # folder of <primitive class>.csv files
    dse_scaling:                     # optional, dse extension: how to fill gaps
      SRAM:
        depth: {interpolate: loglog, energy_exponent: 0.5266, area_exponent: 0.9903}
        width: {interpolate: linear, energy_exponent: 1.0796, area_exponent: 0.9134}
    technology_scaling: {energy_exponent: 2.0, area_exponent: 2.0}   # optional

Each CSV is named after the primitive class it estimates (``SRAM.csv``).  Its
columns are attribute columns (``technology``, ``width``, ``depth``, ``type``...;
``width|datawidth`` accepts either attribute name), ``action`` (``read|write``
lists several actions; ``idle`` is Timeloop's ``leak``), ``energy`` (pJ per
action), ``area`` (um^2) and a ``comment``/``source`` column.  Lines starting
with ``#`` are comments; an empty cell or ``*`` is a wildcard.

Lookup of ``(class, attributes, action)``
-----------------------------------------
1. rows of the action (``leak`` also matches ``idle``);
2. attribute columns the query does not mention are ignored (as in Accelergy);
   ``latency``, ``action_latency_cycles`` and ``n_instances`` are always ignored;
   ``global_cycle_seconds``/``cycle_seconds`` only matter for ``leak``
   (leakage per cycle is proportional to the cycle time);
3. non-numeric attributes (``type: LPDDR4``, ``technology: memristor``) must
   match exactly (case-insensitive);
4. numeric attributes are resolved one column at a time, technology first:
   an exact value is used as is; a value between two rows is interpolated
   (``linear`` or ``loglog``, per the column's rule); a value outside the rows is
   scaled from the nearest row by ``(requested / row) ** exponent`` (or ``2 **
   (requested - row)`` for ``extrapolate: exp2``).  A numeric column without a
   rule must match exactly.
5. technology (``"32nm"`` -> 32) is never interpolated: the nearest node with
   data is scaled by ``(node / row_node) ** k`` with ``k = 2`` for energy
   (dynamic, leakage) and area by default; see ``docs/energy.md`` for the
   justification.

A query that cannot be answered raises :class:`~dse.errors.EstimationError`
naming the nearest rows; nothing is ever silently zero.
"""
from __future__ import annotations

import csv
import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from dse.energy import techscale
from dse.errors import EstimationError, OutOfRangeError
from dse.paths import data_dir
from dse.spec.yaml_io import safe_load_fast

#: Columns that never select rows.
IGNORED_COLUMNS = frozenset({"latency", "action_latency_cycles", "n_instances"})
#: Columns that only matter for leakage (leak energy per cycle is proportional to them).
CYCLE_COLUMNS = frozenset({"global_cycle_seconds", "cycle_seconds"})
#: Action-name aliases: Accelergy tables call leakage ``idle``.
ACTION_ALIASES: Mapping[str, tuple[str, ...]] = {"leak": ("leak", "idle"), "idle": ("idle", "leak")}


# --------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class AttributeRule:
    """How a numeric attribute column fills gaps between rows.

    ``interpolate``: ``linear``, ``loglog`` (power law between the two bracketing
    rows) or ``none``.  ``extrapolate``: ``power`` (``value * (t / v) ** exponent``),
    ``exp2`` (``value * 2 ** (t - v)``), ``accelergy`` (technology only: Accelergy's
    Stillmaker-Baas rule, :mod:`dse.energy.techscale`, from ``scale_from`` or the
    nearest row node) or ``none`` (a value outside the rows is an error naming the
    range and the nearest valid value).  ``energy_exponent`` may be a number or a
    mapping ``{action: exponent, default: exponent}``.  ``default`` is the value used
    when the query does not give the attribute (the model's default, e.g. a 32-bit adder).
    """

    interpolate: str = "linear"
    extrapolate: str = "power"
    energy_exponent: float | Mapping[str, float] = 1.0
    area_exponent: float = 1.0
    scale_from: float | None = None
    default: Any = None

    def exponent(self, target: str, action: str | None) -> float:
        if target == "area":
            return float(self.area_exponent)
        exp = self.energy_exponent
        if isinstance(exp, Mapping):
            if action is not None and action in exp:
                return float(exp[action])
            return float(exp.get("default", 1.0))
        return float(exp)

    @staticmethod
    def parse(raw: Any, where: str) -> "AttributeRule":
        if isinstance(raw, str):
            raw = {"interpolate": raw}
        if not isinstance(raw, Mapping):
            raise EstimationError("scaling rule must be a mapping", where=where,
                                  accepted="{interpolate: linear|loglog|none, extrapolate: power|exp2|none, "
                                  "energy_exponent: number, area_exponent: number}")
        keys = {"interpolate", "extrapolate", "energy_exponent", "area_exponent", "scale_from", "default"}
        unknown = set(raw) - keys
        if unknown:
            raise EstimationError(f"unknown scaling-rule keys {sorted(unknown)}", where=where,
                                  accepted=", ".join(sorted(keys)))
        scale_from = None
        if raw.get("scale_from") is not None:
            scale_from = parse_technology(raw["scale_from"])
            if scale_from is None:
                raise EstimationError(f"scale_from {raw['scale_from']!r} is not a technology node", where=where,
                                      accepted="a node such as 45nm")
        rule = AttributeRule(
            interpolate=str(raw.get("interpolate", "linear" if raw.get("extrapolate") != "accelergy" else "none")),
            extrapolate=str(raw.get("extrapolate", "power")),
            energy_exponent=raw.get("energy_exponent", 1.0),
            area_exponent=float(raw.get("area_exponent", 1.0)),
            scale_from=scale_from,
            default=raw.get("default"),
        )
        if rule.interpolate not in ("linear", "loglog", "none"):
            raise EstimationError(f"interpolate {rule.interpolate!r} is not known", where=where,
                                  accepted="linear, loglog, none")
        if rule.extrapolate not in ("power", "exp2", "accelergy", "none"):
            raise EstimationError(f"extrapolate {rule.extrapolate!r} is not known", where=where,
                                  accepted="power, exp2, accelergy, none")
        return rule


#: Default technology scaling: Accelergy's rule from the nearest row node (dse.energy.techscale).
DEFAULT_TECHNOLOGY_RULE = AttributeRule(interpolate="none", extrapolate="accelergy")
#: Leakage per cycle is proportional to the cycle time.
CYCLE_RULE = AttributeRule(interpolate="linear", extrapolate="power", energy_exponent=1.0, area_exponent=0.0)


def parse_technology(value: Any) -> float | None:
    """``"32nm"``, ``"32 nm"``, ``32``, ``"0.032um"`` -> 32.0 (nanometres); ``None`` if not a node."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(nm|um)?\s*", value)
    if not m:
        return None
    number = float(m.group(1))
    return number * 1000.0 if m.group(2) == "um" else number


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class TableRow:
    """One CSV row.  ``cells`` maps attribute column -> raw text (``""`` = wildcard)."""

    cells: Mapping[str, str]
    actions: tuple[str, ...]
    energy_pj: float | None
    area_um2: float | None
    comment: str
    file: str
    line: int
    #: numeric value of each attribute cell (None: wildcard or not a number), parsed once at load
    numbers: Mapping[str, float | None] = field(default_factory=dict)

    def describe(self, columns: Sequence[str] = ()) -> str:
        cols = columns or tuple(self.cells)
        attrs = ", ".join(f"{c}={self.cells[c]}" for c in cols if self.cells.get(c, "") != "")
        energy = "-" if self.energy_pj is None else f"{self.energy_pj:g} pJ"
        area = "-" if self.area_um2 is None else f"{self.area_um2:g} um^2"
        return f"[{attrs}] {'|'.join(self.actions)}: {energy}, area {area} ({Path(self.file).name}:{self.line})"


@dataclass(frozen=True)
class ClassTable:
    """All rows of one primitive class in one table set."""

    class_name: str
    columns: tuple[str, ...]
    rows: tuple[TableRow, ...]
    rules: Mapping[str, AttributeRule]
    table_set: str
    path: str
    #: lookups already answered (a table is immutable, so its answers are too)
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def actions(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for r in self.rows:
            for a in r.actions:
                seen["leak" if a == "idle" else a] = None
        return tuple(seen)


@dataclass(frozen=True)
class TableSet:
    """A ``*.table.yaml`` and its CSV files."""

    name: str
    path: str
    accuracy: float
    technology: tuple[str, ...]
    classes: Mapping[str, ClassTable]
    technology_rule: AttributeRule = DEFAULT_TECHNOLOGY_RULE

    def find_class(self, class_name: str) -> ClassTable | None:
        if class_name in self.classes:
            return self.classes[class_name]
        lowered = {k.lower(): v for k, v in self.classes.items()}
        return lowered.get(class_name.lower())


@dataclass(frozen=True)
class Estimate:
    """A looked-up value with a human-readable ``source`` and the number of approximation steps."""

    value: float
    source: str
    approximations: int = 0


# --------------------------------------------------------------------------- loading
_ENERGY_RE = re.compile(r"^(dynamic\s+)?energy(\s*\(pj\))?$", re.I)
_AREA_RE = re.compile(r"^area(\s*\(um\^?2\))?$", re.I)


def _read_csv(path: Path, class_name: str, rules: Mapping[str, AttributeRule], set_name: str) -> ClassTable:
    with path.open(newline="") as fh:
        lines = [(i + 1, line) for i, line in enumerate(fh.read().splitlines())]
    content = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not content:
        raise EstimationError("table file is empty", where=str(path), accepted="a CSV header and rows")
    header = [h.strip() for h in next(csv.reader([content[0][1]]))]
    energy_col = next((h for h in header if _ENERGY_RE.match(h)), None)
    area_col = next((h for h in header if _AREA_RE.match(h)), None)
    comment_col = next((h for h in header if h.lower() in ("comment", "comments", "source")), None)
    if "action" not in header or energy_col is None:
        raise EstimationError("table header lacks an 'action' or 'energy' column", where=f"{path}: header",
                              accepted="attribute columns, action, energy, area, comment")
    data_cols = {energy_col, area_col, comment_col, "action"}
    attr_cols = tuple(h for h in header if h not in data_cols and "(" not in h and h)
    rows = []
    for line_no, line in content[1:]:
        cells = [c.strip() for c in next(csv.reader([line]))]
        if len(cells) > len(header):
            raise EstimationError(f"row has {len(cells)} cells but the header has {len(header)} columns",
                                  where=f"{path}:{line_no}", accepted="quote cells that contain commas")
        cells += [""] * (len(header) - len(cells))
        record = dict(zip(header, cells))
        actions = tuple(a.strip() for a in record["action"].split("|") if a.strip())
        if not actions:
            raise EstimationError("row has no action", where=f"{path}:{line_no}")

        def number(col: str | None) -> float | None:
            if col is None or record.get(col, "") in ("", "*"):
                return None
            try:
                return float(record[col])
            except ValueError:
                raise EstimationError(f"{col} {record[col]!r} is not a number", where=f"{path}:{line_no}") from None

        rows.append(TableRow(
            cells={c: ("" if record.get(c, "") == "*" else record.get(c, "")) for c in attr_cols},
            actions=actions,
            energy_pj=number(energy_col),
            area_um2=number(area_col),
            comment=record.get(comment_col, "") if comment_col else "",
            file=str(path),
            line=line_no,
            numbers={c: _cell_number(c, record.get(c, '')) for c in attr_cols},
        ))
    return ClassTable(class_name, attr_cols, tuple(rows), rules, set_name, str(path))


_LOADED: dict[tuple[str, tuple[float, ...]], "TableSet"] = {}


def load_table_set(yaml_path: str | Path) -> TableSet:
    """Load one ``*.table.yaml`` and every ``*.csv`` in its ``path_to_data_dir``.

    A set already loaded from unchanged files (same modification times) is reused.
    """
    yaml_path = Path(yaml_path)
    try:
        stamp = (yaml_path.stat().st_mtime,) + tuple(
            p.stat().st_mtime for p in sorted(yaml_path.parent.rglob("*.csv")))
    except OSError:
        stamp = ()
    key = (str(yaml_path.resolve()), stamp)
    if stamp and key in _LOADED:
        return _LOADED[key]
    loaded = _load_table_set(yaml_path)
    if stamp:
        _LOADED[key] = loaded
    return loaded


def _load_table_set(yaml_path: Path) -> TableSet:
    try:
        meta = safe_load_fast(yaml_path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise EstimationError(f"cannot read table set: {err}", where=str(yaml_path)) from None
    if not isinstance(meta, Mapping) or "path_to_data_dir" not in meta:
        raise EstimationError("not a table-set file", where=str(yaml_path),
                              accepted="a mapping with name, technology, accuracy, path_to_data_dir")
    name = str(meta.get("name", yaml_path.name.replace(".table.yaml", "")))
    data_dir = (yaml_path.parent / str(meta["path_to_data_dir"])).resolve()
    if not data_dir.is_dir():
        raise EstimationError(f"data folder {data_dir} does not exist", where=f"{yaml_path}: path_to_data_dir")
    scaling = meta.get("dse_scaling") or {}
    tech = meta.get("technology", ())
    tech_tuple = tuple(str(t) for t in (tech if isinstance(tech, list) else [tech]))
    tech_rule = DEFAULT_TECHNOLOGY_RULE
    if "technology_scaling" in meta:
        raw = dict(meta["technology_scaling"] or {})
        raw.setdefault("interpolate", "none")
        tech_rule = AttributeRule.parse(raw, f"{yaml_path}: technology_scaling")
    classes = {}
    for csv_path in sorted(data_dir.glob("*.csv")):
        cls = csv_path.stem
        raw_rules = scaling.get(cls, {}) or {}
        rules = {col: AttributeRule.parse(r, f"{yaml_path}: dse_scaling.{cls}.{col}") for col, r in raw_rules.items()}
        classes[cls] = _read_csv(csv_path, cls, rules, name)
    for cls in scaling:
        if cls not in classes:
            raise EstimationError(f"dse_scaling names class {cls!r} that has no CSV", where=f"{yaml_path}: dse_scaling",
                                  accepted=", ".join(sorted(classes)))
    return TableSet(name=name, path=str(yaml_path), accuracy=float(meta.get("accuracy", 0)),
                    technology=tech_tuple, classes=classes, technology_rule=tech_rule)


def find_table_files(paths: Iterable[str | Path]) -> tuple[Path, ...]:
    """``*.table.yaml`` files given directly or found recursively under folders, sorted."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend(sorted(p.rglob("*.table.yaml")))
        elif p.is_file():
            found.append(p)
        else:
            raise EstimationError(f"estimation-table path {p} does not exist", where=str(p),
                                  accepted="a folder containing *.table.yaml files, or such a file")
    return tuple(found)


def load_tables(paths: Iterable[str | Path]) -> tuple[TableSet, ...]:
    """Load every table set under ``paths`` (folders are searched recursively)."""
    return tuple(load_table_set(f) for f in find_table_files(paths))


def default_tables_dir() -> Path:
    """The shipped ``estimation_tables/`` folder (next to the ``dse`` package)."""
    return data_dir("estimation_tables")


# --------------------------------------------------------------------------- lookup
def _bind_columns(table: ClassTable, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Map each table column to the requested value (columns the query lacks are dropped)."""
    lower = {str(k).lower(): v for k, v in attributes.items()}
    bound: dict[str, Any] = {}
    for col in table.columns:
        for alias in col.split("|"):
            alias = alias.strip()
            if alias in attributes:
                bound[col] = attributes[alias]
                break
            if alias.lower() in lower:
                bound[col] = lower[alias.lower()]
                break
    return bound


def _column_base(col: str) -> str:
    return col.split("|")[0].strip().lower()


@functools.lru_cache(maxsize=4096)  # a lookup re-reads the same CSV cells for every query (21,000 calls per run)
def _cell_number(col: str, cell: str) -> float | None:
    if _column_base(col) == "technology":
        return parse_technology(cell)
    return _as_number(cell)


def _query_number(col: str, value: Any) -> float | None:
    if _column_base(col) == "technology":
        return parse_technology(value)
    return _as_number(value)


def _distance(table: ClassTable, row: TableRow, bound: Mapping[str, Any]) -> float:
    d = 0.0
    for col, value in bound.items():
        cell = row.cells.get(col, "")
        if cell == "":
            continue
        q, c = _query_number(col, value), _cell_number(col, cell)
        if q is not None and c is not None:
            d += abs(math.log(q / c)) if q > 0 and c > 0 else (0.0 if q == c else 5.0)
        elif str(value).strip().lower() != cell.lower():
            d += 10.0
    return d


def nearest_rows(table: ClassTable, attributes: Mapping[str, Any], action: str | None, n: int = 5) -> list[TableRow]:
    """The ``n`` rows closest to the query (categorical mismatch counts most)."""
    bound = _bind_columns(table, attributes)
    rows = list(table.rows)
    if action is not None:
        names = ACTION_ALIASES.get(action, (action,))
        with_action = [r for r in rows if any(a in names for a in r.actions)]
        rows = with_action or rows
    return sorted(rows, key=lambda r: _distance(table, r, bound))[:n]


def _query_text(attributes: Mapping[str, Any], bound: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in bound.items()) or "(no matching attribute columns)"


def class_rule(table: ClassTable, col: str) -> AttributeRule | None:
    """The class's own ``dse_scaling`` rule for column ``col`` (any of its ``a|b`` aliases)."""
    for alias in col.split("|"):
        if alias.strip() in table.rules:
            return table.rules[alias.strip()]
    return table.rules.get(col)


class _Resolver:
    """Resolve one lookup, recursively over numeric columns."""

    def __init__(self, table: ClassTable, tech_rule: AttributeRule, target: str, action: str | None,
                 attributes: Mapping[str, Any], where: str):
        self.table, self.tech_rule, self.target, self.action = table, tech_rule, target, action
        self.attributes, self.where = attributes, where

    def fail(self, message: str) -> EstimationError:
        near = nearest_rows(self.table, self.attributes, self.action)
        return EstimationError(
            f"{message}; table {self.table.path} (class {self.table.class_name}) has no row for "
            f"{_query_text(self.attributes, _bind_columns(self.table, self.attributes))}"
            + (f", action {self.action}" if self.action else ""),
            where=self.where,
            accepted="nearest rows: " + "; ".join(r.describe(self.table.columns) for r in near),
        )

    def rule_for(self, col: str) -> AttributeRule | None:
        base = _column_base(col)
        rule = class_rule(self.table, col)
        if rule is not None:
            return rule
        if base == "technology":
            return self.tech_rule
        if base in CYCLE_COLUMNS:
            return CYCLE_RULE
        return None

    def value_of(self, row: TableRow) -> float | None:
        return row.energy_pj if self.target == "energy" else row.area_um2

    def resolve(self, rows: list[TableRow], numeric: list[tuple[str, float]]) -> tuple[float, list[str], TableRow]:
        if not numeric:
            usable = [r for r in rows if self.value_of(r) is not None]
            if not usable:
                raise self.fail(f"no {self.target} value in the matching rows")
            row = usable[0]
            return float(self.value_of(row)), [], row  # type: ignore[arg-type]
        (col, t), rest = numeric[0], numeric[1:]
        values = sorted({v for r in rows if (v := r.numbers.get(col)) is not None})
        if not values:
            return self.resolve(rows, rest)

        def subset(v: float) -> list[TableRow]:
            return [r for r in rows if r.cells.get(col, "") == "" or r.numbers.get(col) == v]

        for v in values:
            if math.isclose(v, t, rel_tol=1e-9, abs_tol=1e-12):
                return self.resolve(subset(v), rest)
        rule = self.rule_for(col)
        name = _column_base(col)
        if rule is None:
            raise self.fail(f"{name}={t:g} has no exact row and the table declares no scaling rule for {name}")
        lo = max((v for v in values if v < t), default=None)
        hi = min((v for v in values if v > t), default=None)
        if lo is not None and hi is not None and rule.interpolate != "none":
            v_lo, notes_lo, row = self.resolve(subset(lo), rest)
            v_hi, notes_hi, _ = self.resolve(subset(hi), rest)
            if rule.interpolate == "loglog" and v_lo > 0 and v_hi > 0 and lo > 0:
                frac = math.log(t / lo) / math.log(hi / lo)
                value = v_lo * (v_hi / v_lo) ** frac
            else:
                value = v_lo + (t - lo) / (hi - lo) * (v_hi - v_lo)
            note = f"{name} {rule.interpolate}-interpolated between {lo:g} and {hi:g}"
            return value, notes_lo + [note], row
        unit = "nm" if name == "technology" else ""
        if rule.extrapolate == "none":
            nearest_valid = values[0] if t < values[0] else values[-1]
            if values[0] < t < values[-1]:
                nearest_valid = min(values, key=lambda v: abs(t - v))
            f = "{:.10g}".format
            raise OutOfRangeError(
                f"attribute {name}={f(t)}{unit} is outside the range of {self.table.table_set} {self.table.class_name} "
                f"({f(values[0])}{unit}..{f(values[-1])}{unit}"
                + (", not interpolated" if values[0] < t < values[-1] else "")
                + f"); nearest valid value {f(nearest_valid)}{unit}",
                where=self.where,
                accepted=f"{name} in {f(values[0])}..{f(values[-1])}{unit} (tabulated: "
                         + ", ".join(f(v) for v in values[:12]) + (", ..." if len(values) > 12 else "") + ")")
        candidates = [v for v in (lo, hi) if v is not None]
        if t > 0 and all(c > 0 for c in candidates):
            nearest = min(candidates, key=lambda c: (abs(math.log(t / c)), -c))
        else:
            nearest = min(candidates, key=lambda c: (abs(t - c), -c))
        base_value, notes, row = self.resolve(subset(nearest), rest)
        if rule.extrapolate == "accelergy":
            if name != "technology":
                raise self.fail(f"extrapolate: accelergy applies to technology only, not {name}")
            origin = rule.scale_from if rule.scale_from is not None else nearest
            if self.target == "area":
                factor = techscale.area_factor(origin, t, self.where)
            else:
                factor = techscale.energy_factor(origin, t, self.where)
            via = f" (the {nearest:g}nm data is Accelergy's {origin:g}nm point)" if origin != nearest else ""
            return base_value * factor, notes + [
                f"technology scaled {origin:g}nm->{t:g}nm by Accelergy's rule (Stillmaker-Baas) x{factor:.4g}{via}"], row
        if rule.extrapolate == "exp2":
            factor = 2.0 ** (t - nearest)
            how = f"x2^({t:g}-{nearest:g})"
        else:
            k = rule.exponent(self.target, self.action)
            if nearest <= 0:
                raise self.fail(f"cannot scale {name} from a row with {name}={nearest:g}")
            factor = (t / nearest) ** k if t > 0 else 0.0
            how = f"x({t:g}/{nearest:g})^{k:g}"
        return base_value * factor, notes + [f"{name} scaled {nearest:g}{unit}->{t:g}{unit} {how}={factor:.4g}"], row


def lookup(table: ClassTable, attributes: Mapping[str, Any], action: str | None, *,
           target: str = "energy", technology_rule: AttributeRule = DEFAULT_TECHNOLOGY_RULE,
           where: str = "") -> Estimate:
    """Energy (pJ) of ``action`` or area (um^2, ``action=None``, ``target='area'``) of one primitive.

    Raises :class:`EstimationError` listing the nearest rows if the table cannot answer.
    """
    where = where or f"class {table.class_name}"
    bound = _bind_columns(table, attributes)
    for col in table.columns:
        rule = class_rule(table, col)
        if col not in bound and rule is not None and rule.default is not None:
            bound[col] = rule.default  # the model's default (Accelergy passes it the same way)
    memo_key = (target, action, id(technology_rule), tuple(sorted((c, repr(v)) for c, v in bound.items())))
    if memo_key in table.memo:
        return table.memo[memo_key]
    resolver = _Resolver(table, technology_rule, target, action, attributes, where)
    if target == "energy":
        if action is None:
            raise ValueError("energy lookup needs an action")
        if ("rows", action) not in table.memo:
            names = ACTION_ALIASES.get(action, (action,))
            table.memo[("rows", action)] = [r for r in table.rows if any(a in names for a in r.actions)]
        rows = list(table.memo[("rows", action)])
        if not rows:
            raise EstimationError(
                f"table {table.path} (class {table.class_name}) has no action {action!r}",
                where=where, accepted="actions " + ", ".join(table.actions))
    else:
        rows = list(table.rows)
    result = _lookup(table, bound, action, target, resolver, rows)
    table.memo[memo_key] = result
    return result


def _exact_row(table: ClassTable, rows: list[TableRow], numeric: list[tuple[str, float]], target: str,
               signature: tuple) -> tuple[float, TableRow] | None:
    """The row matching every numeric query value exactly, from an index built once per row subset
    (a sweep asks for the tabulated shapes over and over; the general resolver scans the rows)."""
    cols = tuple(c for c, _ in numeric)
    key = ("index", target, cols, signature)
    index = table.memo.get(key)
    if index is None:
        index = {}
        for r in rows:
            k = tuple(r.numbers.get(c) for c in cols)
            v = r.energy_pj if target == "energy" else r.area_um2
            if None not in k and v is not None:
                index.setdefault(k, r)
        table.memo[key] = index
    found = index.get(tuple(v for _, v in numeric))
    if found is None:
        return None
    return (found.energy_pj if target == "energy" else found.area_um2), found


def _lookup(table: ClassTable, bound: dict[str, Any], action: str | None, target: str, resolver: "_Resolver",
            rows: list[TableRow]) -> Estimate:
    numeric: list[tuple[str, float]] = []
    cat_sig: list[tuple[str, str]] = []  # the categorical filters applied so far: names the row subset
    for col, value in bound.items():
        base = _column_base(col)
        if base in IGNORED_COLUMNS:
            continue
        if base in CYCLE_COLUMNS and not (target == "energy" and action in ("leak", "idle")):
            continue
        q = _query_number(col, value)
        all_numeric_key = ("all_numeric", action, target, col, tuple(cat_sig))
        if all_numeric_key not in table.memo:
            table.memo[all_numeric_key] = all(r.numbers.get(col) is not None
                                              for r in rows if r.cells.get(col, "") != "")
        if q is not None and table.memo[all_numeric_key]:
            numeric.append((col, q))
            continue
        wanted = str(value).strip().lower()
        cat_sig.append((col, wanted))
        rows = [r for r in rows if r.cells.get(col, "") == "" or r.cells[col].strip().lower() == wanted]
        if not rows:
            raise resolver.fail(f"no row has {_column_base(col)}={value}")
    # technology first, then the coarsest columns (fewest distinct values: ports, banks, width before
    # depth), so that an interpolation bracket is looked for among rows that share the coarser values
    def coarseness(cv: tuple[str, float]) -> tuple[int, int]:
        col = cv[0]
        key = ("distinct", action, target, col, tuple(cat_sig))
        if key not in table.memo:
            table.memo[key] = len({r.cells.get(col, "") for r in rows})
        return (0 if _column_base(col) == "technology" else 1, table.memo[key])

    numeric.sort(key=coarseness)
    exact = _exact_row(table, rows, numeric, target, (action, tuple(sorted(
        (c, str(v)) for c, v in bound.items() if c not in {n for n, _ in numeric}))))
    if exact is not None:
        (value, row), notes = exact, []
    else:
        value, notes, row = resolver.resolve(rows, numeric)
    where_row = f"{table.table_set}:{Path(row.file).name}:{row.line}"
    source = f"{where_row} ({row.comment})" if row.comment else where_row
    if notes:
        source += "; " + "; ".join(notes)
    return Estimate(value=value, source=source, approximations=len(notes))
