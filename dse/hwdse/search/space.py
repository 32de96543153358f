"""The knob space a search explores: declared per architecture (``architecture_info.search_space`` in
``knobs.yaml``) or given with ``--space SPACE.yaml`` instead (e.g. a smaller space).

One entry per knob::

    pe_rows: {low: 4, high: 256, step: pow2}     # powers of two 4, 8, ..., 256
    scratchpad_bandwidth: {low: 4, high: 32, step: 4}   # 4, 8, ..., 32
    global_cycle_seconds: {low: 1.0e-9, high: 2.0e-9, log: true}   # continuous (not for --search grid)
    dataflow: [WS, OS]                            # choices (or {choices: [WS, OS]})
    rf_size: 1024                                 # fixed

Every bound and choice is checked against the knob's own declaration (range, choices,
whole numbers); cross-knob rules (``architecture_info.checks``) are checked per trial, a
config that breaks one being a failed trial with the rule as its reason.  Knobs the space
does not name keep their defaults.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Mapping

from dse.errors import DseError


class Kind(enum.Enum):
    CHOICE = "choice"
    POW2 = "pow2"
    INT = "int"
    FLOAT = "float"
    FIXED = "fixed"


@dataclass(frozen=True)
class Param:
    """One knob's range in the search; ``name`` is the knob, :attr:`key` the Optuna parameter."""

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    step: int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    value: Any = None  # FIXED

    @property
    def key(self) -> str:
        """Optuna parameter name: powers of two are searched by their exponent (ordered, like the values)."""
        return f"log2_{self.name}" if self.kind is Kind.POW2 else self.name

    def values(self) -> list[Any] | None:
        """Every value (in Optuna's parameter space), or ``None`` for a continuous range."""
        if self.kind is Kind.CHOICE:
            return list(self.choices)
        if self.kind is Kind.POW2:
            return list(range(int(math.log2(self.low)), int(math.log2(self.high)) + 1))
        if self.kind is Kind.INT:
            return list(range(int(self.low), int(self.high) + 1, self.step))
        return None

    def suggest(self, trial: Any) -> Any:
        """Draw this knob's value for an Optuna trial (the knob's value, decoded)."""
        if self.kind is Kind.FIXED:
            return self.value
        if self.kind is Kind.CHOICE:
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind is Kind.POW2:
            vals = self.values()
            return 2 ** trial.suggest_int(self.key, vals[0], vals[-1])
        if self.kind is Kind.INT:
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=self.step)
        return trial.suggest_float(self.key, self.low, self.high, log=self.log)

    def decode(self, params: Mapping[str, Any]) -> Any:
        """The knob's value from a finished trial's ``params``."""
        if self.kind is Kind.FIXED:
            return self.value
        v = params[self.key]
        return 2 ** int(v) if self.kind is Kind.POW2 else v

    def describe(self) -> Any:
        """JSON form (stored with the study: a resumed study must search the same space)."""
        if self.kind is Kind.FIXED:
            return self.value
        if self.kind is Kind.CHOICE:
            return list(self.choices)
        d: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.kind is Kind.POW2:
            d["step"] = "pow2"
        elif self.kind is Kind.INT:
            d["step"] = self.step
        elif self.log:
            d["log"] = True
        return d


@dataclass(frozen=True)
class SearchSpace:
    arch: str
    params: tuple[Param, ...]

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {p.name: p.suggest(trial) for p in self.params}

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {p.name: p.decode(params) for p in self.params}

    def grid(self, where: str) -> dict[str, list[Any]]:
        """Optuna ``GridSampler`` space (every searched knob must have finitely many values)."""
        cont = [p.name for p in self.params if p.kind is Kind.FLOAT]
        if cont:
            raise DseError(f"knob(s) {', '.join(cont)} have a continuous range, which a grid cannot list", where,
                           "choices, {low, high, step: pow2} or {low, high, step: N} for every searched knob")
        return {p.key: p.values() for p in self.params if p.kind is not Kind.FIXED}

    def size(self) -> float:
        """Number of configs (``inf`` with a continuous knob)."""
        n = 1.0
        for p in self.params:
            vals = p.values() if p.kind is not Kind.FIXED else [p.value]
            n *= float("inf") if vals is None else len(vals)
        return n

    def describe(self) -> dict[str, Any]:
        return {p.name: p.describe() for p in self.params}


def declared_space(arch: str) -> dict[str, Any]:
    """The ``architecture_info.search_space`` block of the architecture's ``knobs.yaml`` (``{}`` if none)."""
    import yaml

    from dse.spec.library import arch_directory

    path = arch_directory(arch) / "knobs.yaml"
    info = (yaml.safe_load(path.read_text()) or {}).get("architecture_info") or {}
    block = info.get("search_space") or {}
    if not isinstance(block, dict):
        raise DseError("search_space is not a mapping", f"{path}: architecture_info.search_space",
                       "{knob: {low, high, step} | [choices] | value}")
    return block


def load_space_file(path: str | Path) -> dict[str, Any]:
    """A ``--space`` YAML file: a mapping of knob entries (one paragraph for a missing or malformed file)."""
    import yaml

    p = Path(path)
    accepted = "a YAML mapping {knob: {low: A, high: B, step: pow2|N} | [choices] | value}"
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DseError("space file not found", f"--space {p}", accepted) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DseError(f"cannot read the space file ({err})", f"--space {p}", accepted) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark else str(p)
        raise DseError(f"malformed YAML: {getattr(err, 'problem', err)}", where, accepted) from None
    if not isinstance(data, dict) or not data:
        raise DseError("the space file is not a non-empty mapping", f"--space {p}", accepted)
    return data


def build_space(arch: str, space_file: str | Path | None = None) -> SearchSpace:
    """The checked space: ``space_file``'s entries, or else the architecture's declared ones."""
    from dse.spec.library import arch_directory, knobs_of

    knobs = knobs_of(arch)
    if space_file is not None:
        entries = {str(k): (v, f"--space {space_file}: {k}") for k, v in load_space_file(space_file).items()}
    else:
        entries = {k: (v, f"{arch_directory(arch) / 'knobs.yaml'}: architecture_info.search_space.{k}")
                   for k, v in declared_space(arch).items()}
    if not entries:
        raise DseError(f"architecture '{arch}' declares no search space", "--search",
                       "--space SPACE.yaml naming the knobs to search, or an architecture whose knobs.yaml has "
                       "architecture_info.search_space")
    params, problems = [], []
    for name, (spec, where) in entries.items():
        try:
            params.append(_param(name, spec, knobs, where))
        except DseError as err:
            problems.append(err)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise DseError(f"{len(problems)} problems in the search space:\n  "
                       + "\n  ".join(f"{e.where}: {e.message} (accepted: {e.accepted})" for e in problems),
                       str(space_file or arch), "knobs of the architecture with values it accepts")
    if all(p.kind is Kind.FIXED for p in params):
        raise DseError("every knob of the space is fixed: nothing to search", str(space_file or arch),
                       "at least one knob with a range or choices")
    return SearchSpace(arch, tuple(params))


def _param(name: str, spec: Any, knobs: Mapping[str, Any], where: str) -> Param:
    if name not in knobs:
        close = get_close_matches(name, list(knobs), n=3)
        raise DseError(f"unknown knob '{name}'" + (f" (did you mean {', '.join(close)}?)" if close else ""), where,
                       ", ".join(sorted(knobs)))
    knob = knobs[name]
    if isinstance(spec, dict) and set(spec) == {"choices"}:
        spec = spec["choices"]
    if isinstance(spec, list):
        if not spec:
            raise DseError("an empty list of choices", where, "one or more values")
        for v in spec:
            knob.check(v, where)
        if len({repr(v) for v in spec}) != len(spec):
            raise DseError("a choice is listed twice", where, "distinct values")
        return Param(name, Kind.CHOICE, choices=tuple(spec))
    if not isinstance(spec, dict):
        return Param(name, Kind.FIXED, value=knob.check(spec, where))
    unknown = sorted(set(spec) - {"low", "high", "step", "log"})
    if unknown or "low" not in spec or "high" not in spec:
        raise DseError(f"a range needs low and high (got {', '.join(map(str, spec)) or 'nothing'})", where,
                       "{low: A, high: B} with optional step: pow2 | N, or log: true")
    low, high = knob.check(spec["low"], f"{where}.low"), knob.check(spec["high"], f"{where}.high")
    if isinstance(low, (str, bool)) or isinstance(high, (str, bool)) or knob.choices is not None:
        raise DseError("a range of a knob with choices", where, f"a list of choices ({knob.accepted()})")
    if low > high:
        raise DseError(f"low {low} is above high {high}", where, "low <= high")
    step = spec.get("step")
    if step == "pow2":
        for v in (low, high):
            if v <= 0 or v != int(v) or int(v) & (int(v) - 1):
                raise DseError(f"{v} is not a power of two", where, "powers of two for low and high with step: pow2")
        return Param(name, Kind.POW2, int(low), int(high))
    if step is not None or knob.whole:
        step = 1 if step is None else step
        if isinstance(step, bool) or not isinstance(step, int) or step <= 0:
            raise DseError(f"step {step!r} is not a positive whole number", where, "step: pow2 or a whole number >= 1")
        if low != int(low) or high != int(high):
            raise DseError("a stepped range needs whole-number bounds", where, "whole numbers for low and high")
        if (int(high) - int(low)) % step:
            raise DseError(f"high {high} is not low {low} plus a multiple of step {step}", where,
                           f"e.g. high: {int(low) + (int(high) - int(low)) // step * step}")
        return Param(name, Kind.INT, int(low), int(high), step)
    log = bool(spec.get("log", False))
    if log and low <= 0:
        raise DseError("a log range must be positive", where, "low > 0 with log: true")
    return Param(name, Kind.FLOAT, float(low), float(high), log=log)
