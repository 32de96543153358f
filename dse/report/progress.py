"""Live mapper progress (``-l/--live`` or ``live_status: True`` in mapper.yaml)."""
from __future__ import annotations

import sys


class LiveProgress:
    """A tqdm bar on stderr showing mappings evaluated, valid ones and the best metric so far."""

    def __init__(self, desc: str):
        from tqdm import tqdm

        self._bar = tqdm(desc=desc, unit=" mappings", file=sys.stderr)

    def __call__(self, evaluated: int, valid: int, best: float | None) -> None:
        self._bar.n = evaluated
        self._bar.set_postfix(valid=valid, best=f"{best:.3e}" if best is not None else "-", refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()
