"""Argument helpers shared by the command-line tools."""
from __future__ import annotations

from typing import Any, Iterable

from dse.errors import DseError


def parse_assignments(items: Iterable[str], where: str, example: str = "DIM=16", what: str = "variable") -> dict[str, str]:
    """``["DIM=16", "dataflow=WS"]`` -> ``{"DIM": "16", "dataflow": "WS"}`` (values kept as text).

    The spec loader evaluates the text as an expression; :func:`typed` turns it into
    a YAML scalar (number, bool or string) for knob values.
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise DseError(f"bad {what} '{item}'", where=where, accepted=f"NAME=VALUE, e.g. {example}")
        out[name.strip()] = value.strip()
    return out


def typed(values: dict[str, str]) -> dict[str, Any]:
    """Read each value as a YAML scalar: ``"32"`` -> 32, ``"true"`` -> True, ``"WS"`` -> ``"WS"``."""
    import yaml

    return {k: yaml.safe_load(v) for k, v in values.items()}
