"""The function a worker runs for one job; it returns plain data (files as text), never writes ``OUT``.

The parent process is the only writer of the results folder, so local and Dask runs
behave the same and a worker on another machine needs no shared file system.
"""
from __future__ import annotations

import math
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from dse.errors import DseError
from dse.hwdse.plan import SweepJob


def ignore_sigint() -> None:
    """Pool initializer: Ctrl-C is handled by the parent, which stops the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def execute(job: SweepJob) -> dict[str, Any]:
    """Map ``job``; return its record: metrics, reason if no mapping fits, and ``files`` {name: text}.

    Bad input comes back as ``{"error": message}`` (the sweep stops with exit code 2).
    """
    from dse.pipeline import run_layer

    start = time.monotonic()
    record: dict[str, Any] = {"index": job.index, "layer": job.layer, "arch": job.arch,
                              "fingerprint": job.fingerprint()}
    with tempfile.TemporaryDirectory(prefix="dse-hwdse-") as tmp:
        try:
            out = run_layer(job.layer_job(), Path(tmp))
        except DseError as err:
            return record | {"error": f"config [{job.index}], layer {job.layer}: {err.format()}"}
        files = {p.name: p.read_text() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
    record.update(ok=bool(out.ok), reason=out.reason, energy_pj=_num(out.energy_pj), cycles=int(out.cycles),
                  utilization=float(out.utilization), edp_j_cycles=_num(out.edp_j_cycles), macs=int(out.macs),
                  area_um2=float(out.area_um2), area_by_node_um2=dict(out.area_by_node_um2), level_energy_pj={k: float(v) for k, v in out.level_energy_pj.items()},
                  evaluated=int(out.evaluated), wall_s=round(time.monotonic() - start, 3), files=files)
    return record
