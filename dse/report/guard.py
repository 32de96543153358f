"""The output guard: no result with a NaN, infinite or negative number is ever reported.

Every input is range-checked at load time, so a non-finite or negative energy, cycle
count or access count means a bug (or an input check we lack).  :func:`check_result`
turns it into a :class:`~dse.errors.ResultGuardError` naming the level and quantity,
before any stats file, map or CSV row is written.
"""
from __future__ import annotations

import dataclasses
import math
from numbers import Real
from typing import Any

from dse.errors import ResultGuardError

_SKIPPED = frozenset({"mapping", "invalid_reasons"})


def _bad_numbers(obj: Any, path: tuple[str, ...]):
    """(path, value) of every NaN, infinite or negative number under ``obj``."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        label = getattr(obj, "name", None)
        here = path + (label,) if isinstance(label, str) and label else path
        for f in dataclasses.fields(obj):
            if f.name not in _SKIPPED:
                value = getattr(obj, f.name)
                nested = dataclasses.is_dataclass(value) or isinstance(value, (tuple, list))
                yield from _bad_numbers(value, here if nested else here + (f.name,))
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _bad_numbers(item, path)
    elif isinstance(obj, Real) and not isinstance(obj, bool):
        value = float(obj)
        if not math.isfinite(value) or value < 0:
            yield " ".join(path), obj


def check_result(result: Any, what: str) -> None:
    """Raise :class:`ResultGuardError` if any number in ``result`` (a model result) is NaN,
    infinite or negative; ``what`` names the run (layer, output folder) in the report."""
    bad = list(_bad_numbers(result, ()))
    if bad:
        shown = "; ".join(f"{p} = {v}" for p, v in bad[:5]) + (f" (and {len(bad) - 5} more)" if len(bad) > 5 else "")
        raise ResultGuardError(
            f"internal error: the model produced impossible numbers ({shown}); nothing was written. "
            "This is a bug: please report it with the input files",
            where=what, accepted="finite, non-negative energies, cycles and counts")
