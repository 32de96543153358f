"""Small helpers shared by the spec readers: error locations and shape checks."""
from __future__ import annotations

from typing import Any, Mapping

from dse.errors import SpecError


def at(file: str, path: str) -> str:
    """Format an error location ``"file: key.path"``."""
    return f"{file}: {path}" if path else file


def normalize_key(key: Any) -> Any:
    """Timeloop reads ``word-bits`` and ``word_bits`` alike: hyphens become underscores."""
    return key.replace("-", "_") if isinstance(key, str) else key


def normalize_keys(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``mapping`` with hyphenated keys spelled with underscores."""
    return {normalize_key(k): v for k, v in mapping.items()}


def expect_mapping(value: Any, file: str, path: str, what: str = "a mapping") -> dict:
    """``value`` if it is a mapping (``None`` counts as empty), else :class:`SpecError`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"expected {what}, got {_kind(value)}", where=at(file, path), accepted=what)
    return value


def expect_list(value: Any, file: str, path: str, what: str = "a list") -> list:
    """``value`` if it is a list (``None`` counts as empty), else :class:`SpecError`."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(f"expected {what}, got {_kind(value)}", where=at(file, path), accepted=what)
    return value


def require(mapping: Mapping[str, Any], key: str, file: str, path: str, accepted: str) -> Any:
    """``mapping[key]``; a :class:`SpecError` naming the missing key otherwise."""
    if key not in mapping or mapping[key] is None:
        present = ", ".join(str(k) for k in mapping) or "nothing"
        raise SpecError(f"missing required key '{key}' (found: {present})", where=at(file, path), accepted=accepted)
    return mapping[key]


def expect_name(value: Any, file: str, path: str) -> str:
    """A non-empty name string."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"expected a name, got {value!r}", where=at(file, path), accepted="a non-empty string")
    return value.strip()


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
