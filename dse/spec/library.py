"""The shipped architecture library (``arch/<name>/``) and its knobs.

Each architecture folder has a ``knobs.yaml`` with an ``architecture_info`` block:
``system`` (the Timeloop v4 architecture file), ``components`` (folder of compound
components), ``constraints`` (a file name, or a list of them, that may use ``{knob}`` placeholders,
e.g. ``constraints/{dataflow}.yaml``; booleans format as ``true``/``false``), ``layers`` it supports, and ``knobs``: each
knob's ``default``, ``unit``, ``meaning`` and its accepted ``min``/``max`` or
``choices``, and optionally ``integer`` (by default a knob with an integer default is
whole-numbered unless its unit is a rate such as ``words/cycle``).  Knob values become
spec variables; no architecture has Python code.
"""
from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Mapping

import yaml

from dse.errors import DseError, SpecError
from dse.paths import data_dir
from dse.spec.yaml_io import safe_load_fast

ARCH_DIR = data_dir("arch")
DEFAULT_ARCH = "gemmini"


@dataclass(frozen=True)
class Knob:
    name: str
    default: Any
    unit: str = ""
    meaning: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    integer: bool | None = None  # None: inferred from the default and the unit

    @property
    def whole(self) -> bool:
        """Does the knob take whole numbers only (sizes, counts) rather than any number (rates, times)?"""
        if self.integer is not None:
            return bool(self.integer)
        return isinstance(self.default, int) and not isinstance(self.default, bool) and "/" not in self.unit

    def accepted(self) -> str:
        if self.choices is not None:
            text = "one of " + ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in self.choices)
            return text + (" (JSON true/false, not a string)" if all(isinstance(c, bool) for c in self.choices) else "")
        lo = "" if self.min is None else f">= {self.min:g}"
        hi = "" if self.max is None else f"<= {self.max:g}"
        kind = "a whole number" if self.whole else "a number"
        return f"{kind} " + " and ".join(x for x in (lo, hi) if x) if (lo or hi) else kind

    def check(self, value: Any, where: str) -> Any:
        if self.choices is not None:
            if value not in self.choices or isinstance(value, bool) != isinstance(self.choices[0], bool):
                raise DseError(f"knob '{self.name}' = {_shown(value)} is not allowed", where, self.accepted())
            return value
        if isinstance(self.default, (int, float)) and not isinstance(self.default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise DseError(f"knob '{self.name}' = {_shown(value)} is not a number", where, self.accepted())
            if isinstance(value, float) and not math.isfinite(value):
                raise DseError(f"knob '{self.name}' = {_shown(value)} is not a finite number", where, self.accepted())
            if abs(value) > 1e300:  # beyond a float's range: every later step would overflow
                raise DseError(f"knob '{self.name}' = {_shown(value)} is too large", where, self.accepted())
            if self.whole and value != int(value):
                raise DseError(f"knob '{self.name}' = {_shown(value)} is not a whole number", where, self.accepted())
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise DseError(f"knob '{self.name}' = {_shown(value)} is out of range", where, self.accepted())
        elif isinstance(self.default, bool) and not isinstance(value, bool):
            raise DseError(f"knob '{self.name}' = {_shown(value)} is not true/false", where, "true or false")
        return value




def _shown(value: Any) -> str:
    """``repr(value)`` clipped for an error message (a 5000-digit number must not fill the screen)."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:30]}...{text[-10:]} ({len(text)} characters)"


@dataclass(frozen=True)
class ArchBundle:
    """An architecture resolved with knob values: the files to load and the variables to pass."""

    name: str
    directory: Path
    description: str
    files: tuple[Path, ...]
    knobs: Mapping[str, Knob]
    values: Mapping[str, Any]  # knob values (defaults overridden by the config)
    layers: tuple[str, ...] = ()
    companion: str | None = None  # architecture that runs the layers this one does not (e.g. softmax)


def list_architectures(root: Path | None = None) -> list[str]:
    root = root or ARCH_DIR
    return sorted(p.parent.name for p in root.glob("*/knobs.yaml"))


def _read_info(directory: Path) -> dict:
    path = directory / "knobs.yaml"
    try:
        stat = path.stat()
        data = copy.deepcopy(_parse_knobs(str(path), stat.st_mtime_ns, stat.st_size))
    except FileNotFoundError:
        raise DseError("no knobs.yaml in the architecture folder", str(directory),
                       "a folder with knobs.yaml (architecture_info: system, components, constraints, knobs)") from None
    except yaml.YAMLError as err:
        raise SpecError(f"malformed YAML: {err}", str(path), "valid YAML") from None
    info = data.get("architecture_info")
    if not isinstance(info, dict) or "system" not in info:
        raise SpecError("missing 'architecture_info.system'", str(path), "architecture_info: {system: FILE, knobs: {...}}")
    return info


@functools.lru_cache(maxsize=64)
def _parse_knobs(path: str, mtime_ns: int, size: int) -> dict:
    """knobs.yaml parsed once per version of the file (validating 10,000 configs re-read it 20,000 times)."""
    return safe_load_fast(Path(path).read_text()) or {}


def knobs_of(name_or_dir: str | Path) -> dict[str, Knob]:
    """Declared knobs of an architecture."""
    directory = arch_directory(name_or_dir)
    info = _read_info(directory)
    out = {}
    for k, d in (info.get("knobs") or {}).items():
        if not isinstance(d, dict) or "default" not in d:
            raise SpecError(f"knob '{k}' has no default", str(directory / "knobs.yaml"), "{default, unit, meaning, min|choices}")
        out[k] = Knob(k, d["default"], str(d.get("unit", "")), str(d.get("meaning", "")), d.get("min"), d.get("max"),
                      tuple(d["choices"]) if "choices" in d else None, d.get("integer"))
    return out


def canonical_arch(name_or_dir: str | Path) -> str:
    """One spelling per architecture: the shipped name (``pim`` for ``./arch/pim``), else the absolute folder."""
    directory = arch_directory(name_or_dir).resolve()
    return directory.name if directory == (ARCH_DIR / directory.name).resolve() else str(directory)


def arch_directory(name_or_dir: str | Path) -> Path:
    p = Path(name_or_dir)
    if p.is_dir() and (p / "knobs.yaml").exists():
        return p
    candidate = ARCH_DIR / str(name_or_dir)
    if candidate.is_dir() and (candidate / "knobs.yaml").exists():
        return candidate
    shipped = list_architectures()
    if not shipped:
        raise DseError(f"no shipped architectures found (looked in {ARCH_DIR})", "--arch",
                       "a folder containing knobs.yaml, or run from a dse checkout / set DSE_HOME to one")
    close = get_close_matches(str(name_or_dir), shipped, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise DseError(f"unknown architecture '{name_or_dir}'{hint}", "--arch",
                   f"a shipped architecture ({', '.join(shipped)}) or a folder containing knobs.yaml")


def resolve_architecture(name_or_dir: str | Path = DEFAULT_ARCH, config: Mapping[str, Any] | None = None,
                         where: str = "config") -> ArchBundle:
    """Resolve an architecture and a knob config (unknown keys and bad values are errors)."""
    directory = arch_directory(name_or_dir)
    info = _read_info(directory)
    knobs = knobs_of(directory)
    values = {k: kn.default for k, kn in knobs.items()}
    for key, value in (config or {}).items():
        if key not in knobs:
            close = get_close_matches(key, list(knobs), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise DseError(f"unknown knob '{key}'{hint} for architecture '{directory.name}'", where,
                           ", ".join(sorted(knobs)))
        values[key] = knobs[key].check(value, f"{where}: {key}")
    check_knob_rules(directory, info.get("checks") or [], values, where)
    files: list[Path] = [directory / info["system"]]
    comp = info.get("components")
    if comp:
        files += sorted((directory / comp).glob("*.yaml"))
    cons = info.get("constraints")
    for pattern in ([cons] if isinstance(cons, str) else list(cons or [])):
        # booleans appear as true/false in file names (constraints/imc_buffer_{use_IMC_as_buffer}.yaml)
        fmt = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in values.items()}
        try:
            cpath = directory / str(pattern).format(**fmt)
        except KeyError as err:
            raise SpecError(f"constraints pattern names unknown knob {err}", str(directory / "knobs.yaml"),
                            ", ".join(sorted(knobs))) from None
        if not cpath.exists():
            raise DseError(f"no constraints file {cpath.name} for these knob values", str(directory),
                           ", ".join(p.name for p in sorted(cpath.parent.glob('*.yaml'))))
        files.append(cpath)
    for extra in info.get("extra_files", []) or []:
        files.append(directory / extra)
    return ArchBundle(directory.name, directory, str(info.get("description", "")), tuple(files), knobs, values,
                      tuple(info.get("layers", []) or []), companion=info.get("companion"))


@dataclass(frozen=True)
class FusionRules:
    """The fusion levels an architecture accepts (``run.py LAYER LEVEL``) and how they constrain.

    Declared in ``knobs.yaml`` as ``architecture_info.fusion`` (see docs/architectures.md):

    - ``levels``: the names a user may give, outermost first (gemmini: DRAM, Accumulator,
      Registers; pim: DRAM, shared_glb, scratchpad);
    - ``level_of``: the storage level a name stands for when it differs (pim's seed name
      ``scratchpad`` is its weight cells, ``cell``);
    - ``above``: which levels above the fusion level get the fusion factors (D=1, E=1...):
      ``storage`` every storage level above it (the seed's gemmini run.py: its listed levels
      plus the Scratchpad), ``listed`` only the listed ones (the seed's transformer_pim/run.py);
    - ``point_wise``: what fusing does to softmax/layernorm: ``factors`` (the matmul rules) or
      ``bypass_inputs`` (the seed's NO branch: the levels above bypass Inputs, also Outputs with
      -pwim, and Weights where the spec says nothing about them).
    """

    levels: tuple[str, ...]
    level_of: Mapping[str, str]
    above: str = "storage"
    point_wise: str = "factors"

    def storage_level(self, name: str) -> str:
        return self.level_of.get(name, name)

    @staticmethod
    def generic(storage_levels: tuple[str, ...]) -> "FusionRules":
        """Rules for a user's own spec (``--spec``): any storage level, every level above constrained,
        softmax/layernorm with the seed's NO rule (both of its run.py scripts use it)."""
        return FusionRules(tuple(storage_levels), {}, "storage", "bypass_inputs")


def fusion_rules(name_or_dir: str | Path) -> FusionRules | None:
    """The declared fusion rules of an architecture (None: it declares none, so it accepts no fusion level)."""
    directory = arch_directory(name_or_dir)
    raw = _read_info(directory).get("fusion")
    if raw is None:
        return None
    where = f"{directory / 'knobs.yaml'}: architecture_info.fusion"
    accepted = "{levels: [LEVEL, ...], level_of: {NAME: LEVEL}, above: storage|listed, point_wise: factors|bypass_inputs}"
    if not isinstance(raw, dict) or not isinstance(raw.get("levels"), list) or not raw["levels"]:
        raise SpecError("fusion needs a non-empty list 'levels'", where, accepted)
    unknown = set(raw) - {"levels", "level_of", "above", "point_wise"}
    if unknown:
        raise SpecError(f"unknown key(s) {', '.join(sorted(unknown))}", where, accepted)
    level_of = raw.get("level_of") or {}
    above, point_wise = raw.get("above", "storage"), raw.get("point_wise", "factors")
    if not isinstance(level_of, dict) or above not in ("storage", "listed") or point_wise not in ("factors", "bypass_inputs"):
        raise SpecError("bad level_of, above or point_wise", where, accepted)
    return FusionRules(tuple(str(l) for l in raw["levels"]), {str(k): str(v) for k, v in level_of.items()},
                       above, point_wise)


def seed_configs_arch(name_or_dir: str | Path) -> str | None:
    """The architecture a seed hardware-config file for ``name_or_dir`` runs on (``architecture_info.seed_configs``).

    gemmini declares ``gemmini_seed``: the seed's ``hw_configs.json`` keys carry the
    seed's meanings there (docs/seed-compat.md); None if the architecture declares none.
    """
    twin = _read_info(arch_directory(name_or_dir)).get("seed_configs")
    return str(twin) if twin else None


def check_knob_rules(directory: Path, rules: list, values: Mapping[str, Any], where: str) -> None:
    """Evaluate the cross-knob rules of ``architecture_info.checks``.

    Each rule is ``{require: EXPRESSION, message: TEXT}``; the expression is evaluated
    over the knob values with the safe evaluator and must be true.  A failing rule is a
    :class:`DseError` naming the knobs it involves, their values and the rule.
    """
    import ast

    from dse.spec.expressions import evaluate

    for i, rule in enumerate(rules):
        src = f"{directory / 'knobs.yaml'}: architecture_info.checks[{i}]"
        if not isinstance(rule, dict) or "require" not in rule:
            raise SpecError("a check needs 'require'", src, "{require: EXPRESSION, message: TEXT}")
        expr = str(rule["require"])
        if not evaluate(expr, values, src):
            try:
                names = sorted({n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)} & set(values))
            except SyntaxError:
                names = []
            got = ", ".join(f"{n}={values[n]!r}" for n in names)
            raise DseError(f"knobs {got} break the rule '{expr}'", f"{where}: {', '.join(names)}",
                           str(rule.get("message", f"values for which {expr} holds")))


def shared_nodes(arch: str | Path) -> tuple[str, ...]:
    """Nodes a companion architecture shares with its host (``architecture_info.shares``), e.g. the memories
    gemmini_NOs reads; a config's area counts them once, in the host."""
    return tuple(str(n) for n in (_read_info(arch_directory(arch)).get("shares") or ()))


def route_layer(arch: str | Path, layer: str) -> tuple[str | None, str | None]:
    """Which architecture runs ``layer``: ``(name, None)``, or ``(None, reason)`` if none does.

    An architecture runs the layers its ``architecture_info.layers`` lists (all, if it
    lists none); the others go to its declared ``companion`` if that runs them.
    """
    directory = arch_directory(arch)
    info = _read_info(directory)
    own = tuple(info.get("layers") or ())
    if not own or layer in own:
        return directory.name, None
    companion = info.get("companion")
    if not companion:
        return None, (f"architecture '{directory.name}' runs only {', '.join(own)} and declares no companion "
                      f"architecture for {layer}")
    try:
        c_info = _read_info(arch_directory(companion))
    except DseError:
        return None, f"companion architecture '{companion}' of '{directory.name}' is not installed"
    c_layers = tuple(c_info.get("layers") or ())
    if c_layers and layer not in c_layers:
        return None, f"neither '{directory.name}' nor its companion '{companion}' runs {layer}"
    return str(companion), None
