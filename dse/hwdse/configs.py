"""Hardware-config files: a JSON list of ``{knob: value}`` dicts, mix-up, validation.

Every problem is reported before anything runs, naming the file and the config index
(``hw_configs.json [3]``), and for malformed JSON the line and column.
"""
from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

from dse.errors import DseError

Config = dict[str, Any]


def load_configs(path: str | Path) -> list[Config]:
    """Read a JSON list of config dicts; :class:`DseError` for a missing file, bad JSON or shape."""
    p = Path(path)
    accepted = 'a JSON list of objects, e.g. [{"pe_rows": 16, "pe_cols": 16}]'
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DseError("config file not found", f"-c/--configs {p}", "an existing JSON file") from None
    except (IsADirectoryError, PermissionError, NotADirectoryError) as err:
        raise DseError(f"cannot read the config file ({err.strerror})", f"-c/--configs {p}", "a readable JSON file") from None
    except UnicodeDecodeError as err:
        raise DseError(f"the config file is not UTF-8 text (byte {err.start})", f"-c/--configs {p}", accepted) from None
    def no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise DseError(f"key(s) {', '.join(twice)} given twice in one config", f"-c/--configs {p}",
                           "each key once per config")
        return dict(pairs)

    def no_constants(name: str) -> Any:  # Python's json reads NaN/Infinity, which JSON does not have
        raise DseError(f"{name} is not a finite number (JSON has no NaN or Infinity)", f"-c/--configs {p}", "finite numbers")

    try:
        data = json.loads(text, object_pairs_hook=no_repeated_keys, parse_constant=no_constants)
    except json.JSONDecodeError as err:
        raise DseError(f"malformed JSON: {err.msg} at line {err.lineno}, column {err.colno}",
                       f"{p}:{err.lineno}:{err.colno}", accepted) from None
    except RecursionError:
        raise DseError("JSON nested too deeply", f"-c/--configs {p}", accepted) from None
    except ValueError as err:  # an integer of more than 4300 digits
        raise DseError(f"malformed JSON: {err}", f"-c/--configs {p}", accepted) from None
    if not isinstance(data, list):
        raise DseError(f"the top level is a JSON {type(data).__name__.replace('dict', 'object')}, not a list", str(p), accepted)
    if not data:
        raise DseError("the config list is empty: nothing to sweep", str(p), accepted)
    bad = [i for i, c in enumerate(data) if not isinstance(c, dict)]
    if bad:
        raise DseError(f"config(s) {', '.join(f'[{i}]' for i in bad)} are not JSON objects", str(p), accepted)
    return [dict(c) for c in data]


def _value_key(value: Any) -> str:
    """A hashable identity that keeps 1, 1.0 and true apart."""
    return f"{type(value).__name__}:{json.dumps(value, sort_keys=True)}"


#: Configs a sweep runs without ``--yes`` (each is a full mapping of every layer).
CONFIRM_ABOVE = 10_000
#: Configs a sweep never exceeds, even with ``--yes`` (the plan alone would take gigabytes).
MAX_CONFIGS = 100_000


def mixup_size(configs: list[Config]) -> int:
    """How many configs :func:`mixup` would make, computed without making them."""
    values: dict[str, set[str]] = {}
    for cfg in configs:
        for key, value in cfg.items():
            values.setdefault(key, set()).add(_value_key(value))
    return math.prod(len(v) for v in values.values())


def check_config_count(n: int, confirmed: bool, what: str, where: str) -> None:
    """Refuse ``n`` configs above :data:`MAX_CONFIGS`, or above :data:`CONFIRM_ABOVE` unless ``confirmed``."""
    if n > MAX_CONFIGS:
        raise DseError(f"{what} make {n:,} configs, more than the {MAX_CONFIGS:,} a sweep can hold", where,
                       f"at most {MAX_CONFIGS:,} configs (fewer values per key)")
    if n > CONFIRM_ABOVE and not confirmed:
        raise DseError(f"{what} make {n:,} configs; nothing was started", where,
                       f"--yes to run more than {CONFIRM_ABOVE:,} configs, or fewer values per key")


def mixup(configs: list[Config]) -> list[Config]:
    """Cross product of the values seen per key across ``configs`` (keys and values in first-seen order).

    Duplicate values of a key are dropped, so the product has no duplicate configs.
    """
    values: dict[str, list[Any]] = {}
    seen: dict[str, set[str]] = {}
    for cfg in configs:
        for key, value in cfg.items():
            if _value_key(value) not in seen.setdefault(key, set()):
                seen[key].add(_value_key(value))
                values.setdefault(key, []).append(value)
    keys = list(values)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(values[k] for k in keys))]


def repeated(configs: list[Config]) -> list[tuple[int, int]]:
    """(first index, later index) of every config that repeats an earlier one."""
    first: dict[str, int] = {}
    out = []
    for i, cfg in enumerate(configs):
        key = _value_key(cfg)
        if key in first:
            out.append((first[key], i))
        else:
            first[key] = i
    return out


def _short(err: DseError) -> str:
    text = f"{err.where}: {err.message}" if err.where else err.message
    return text + (f" (accepted: {err.accepted})" if err.accepted else "")


def validate_configs(configs: list[Config], arch: str, source: str) -> None:
    """Check every config against the architecture's knobs; one :class:`DseError` listing all problems.

    Reported per config index: unknown keys, keys other configs set but this one misses,
    wrong types and out-of-range values.
    """
    from dse.spec.library import knobs_of, resolve_architecture
    from dse.spec.loader import load_spec

    knobs = knobs_of(arch)
    all_keys = list(dict.fromkeys(k for c in configs for k in c if k in knobs))
    problems: list[str] = []
    single: dict[tuple[str, str], str | None] = {}
    for idx, cfg in enumerate(configs):
        before = len(problems)
        missing = [k for k in all_keys if k not in cfg]
        if missing:
            problems.append(f"[{idx}] missing key(s) {', '.join(missing)} that other configs set")
        for key, value in cfg.items():  # every bad key of this config, not only the first one
            memo = (key, _value_key(value))  # -mx repeats each value in thousands of configs: check it once
            if memo not in single:
                try:
                    bundle = resolve_architecture(arch, {key: value}, where="[@]")
                    # the spec built with this value: its attributes are range-checked at load time
                    # (e.g. global_cycle_seconds 1e300), so a bad value stops the sweep before it starts
                    load_spec(list(bundle.files), variables=bundle.values)
                    single[memo] = None
                except DseError as err:
                    single[memo] = f"[@] {key}={value!r}: {_short(err)}" if not _short(err).startswith("[@]") else _short(err)
            if single[memo] is not None:
                problems.append(single[memo].replace("[@]", f"[{idx}]"))
        if len(problems) == before:
            try:  # the combination (e.g. a constraints file chosen by the knob values)
                resolve_architecture(arch, cfg, where=f"[{idx}]")
            except DseError as err:
                text = _short(err)
                problems.append(text if text.startswith(f"[{idx}]") else f"[{idx}] {text}")
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise DseError(f"{len(problems)} problem(s) in the configs, nothing was run:\n  " + "\n  ".join(shown),
                       source, "keys that are knobs of the architecture (see `dse archs`), with valid values, "
                       "and the same keys in every config")


def seed_translation(arch: str, configs: list[Config], mode: str, source: str) -> tuple[str, str | None]:
    """Which architecture reads ``configs``: ``(arch, None)``, or the seed twin and a note saying so.

    The seed's ``hwdse_run.py`` gives its config keys other meanings than dse's knobs of the
    same name (``accumulator_size`` per bank, ``rf_size`` for the normalization unit only, its
    own dataflow rules).  An architecture that declares ``seed_configs: TWIN`` in its
    ``knobs.yaml`` (gemmini: ``gemmini_seed``) runs a seed file on TWIN, whose knobs are the
    seed's keys with the seed's meanings.  ``mode``: ``auto`` (a file whose every config has
    exactly TWIN's keys is a seed file), ``seed`` (``--seed-configs``: always; other keys are an
    error) or ``dse`` (``--dse-configs``: never).
    """
    from dse.spec.library import arch_directory, knobs_of, seed_configs_arch

    if mode == "dse":
        return arch, None
    twin = seed_configs_arch(arch)
    name = arch_directory(arch).name
    if twin is None:
        if mode == "seed":
            raise DseError(f"architecture '{name}' has no translation of seed config files", "--seed-configs",
                           "an architecture whose knobs.yaml declares seed_configs (gemmini), or no --seed-configs")
        return arch, None
    keys = set(knobs_of(twin))
    if mode == "seed":
        bad = [f"[{i}] {', '.join(sorted(set(c) - keys))}" for i, c in enumerate(configs) if set(c) - keys]
        if bad:
            raise DseError("--seed-configs, but config(s) have keys the seed's hwdse_run.py does not know: "
                           + "; ".join(bad[:10]), source, "the seed's keys: " + ", ".join(sorted(keys)))
    elif any(set(c) != keys for c in configs):
        return arch, None
    note = (f"{source}: seed hardware configs (keys {', '.join(sorted(keys))}" + (")" if mode == "seed" else
            ", exactly the seed's)") + f"; read with the seed's meanings on '{twin}' (accumulator_size per bank, "
            f"rf_size sizes the normalization unit only, the seed's dataflow rules; docs/seed-compat.md)"
            + ("; --dse-configs reads them as gemmini's own knobs" if mode == "auto" else ""))
    return twin, note
