"""Caps on the resources one command may take (processes), shared by the mapper and hwdse.

A ``num_threads: 100000`` in a mapper file or ``--workers 5000`` would start that many
processes; more than a few per core only adds memory and scheduling overhead.
"""
from __future__ import annotations

import os

#: Worker processes allowed per core (mapper threads, hwdse workers).
PROCESSES_PER_CORE = 4


def max_processes() -> int:
    """The most worker processes one command starts: :data:`PROCESSES_PER_CORE` x the cores."""
    return PROCESSES_PER_CORE * (os.cpu_count() or 1)


def cap_processes(requested: int, what: str) -> tuple[int, str | None]:
    """``requested`` capped at :func:`max_processes`, and a note saying so (``None`` if not capped)."""
    cap = max_processes()
    if requested <= cap:
        return requested, None
    return cap, (f"{what} {requested} capped at {cap} ({PROCESSES_PER_CORE} per core on this "
                 f"{os.cpu_count() or 1}-core machine)")
