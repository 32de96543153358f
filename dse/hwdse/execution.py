"""Run jobs on a local process pool or a Dask distributed cluster; yield records as they finish.

Both back-ends run :func:`dse.hwdse.worker.execute` and yield ``(job, record)`` in
completion order.  Ctrl-C stops the workers (jobs in flight are lost, finished ones were
already handed to the caller); a worker that dies raises :class:`WorkerLost`.
"""
from __future__ import annotations

from typing import Any, Iterator

from dse.hwdse.plan import SweepJob
from dse.hwdse.worker import execute, ignore_sigint


class WorkerLost(RuntimeError):
    """A worker process died (killed, out of memory); the jobs in flight were lost."""


def run_local(jobs: list[SweepJob], workers: int) -> Iterator[tuple[SweepJob, dict[str, Any]]]:
    """A :class:`~concurrent.futures.ProcessPoolExecutor` with ``workers`` processes."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    if not jobs:
        return
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs))), initializer=ignore_sigint)
    pending = {pool.submit(execute, job): job for job in jobs}
    clean = False
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                job = pending.pop(fut)
                try:
                    rec = fut.result()
                except BrokenProcessPool:
                    raise WorkerLost("a worker process died (killed or out of memory)") from None
                yield job, rec
        clean = True
    finally:
        if clean:
            pool.shutdown(wait=True)
        else:  # Ctrl-C, a lost worker or the caller stopped: do not wait for jobs in flight
            for fut in pending:
                fut.cancel()
            procs = list((getattr(pool, "_processes", None) or {}).values())
            for p in procs:
                if p.is_alive():
                    p.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                p.join(timeout=5)


def run_dask(jobs: list[SweepJob], scheduler: Any) -> Iterator[tuple[SweepJob, dict[str, Any]]]:
    """Submit every job to the Dask scheduler at ``scheduler`` (an address such as ``tcp://host:8786``)."""
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - depends on the environment
        from dse.errors import DseError

        raise DseError("Dask distributed is not installed", "--scheduler", "pip install 'dask[distributed]'") from None
    if not jobs:
        return
    from dse.errors import DseError

    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise DseError(f"cannot reach the Dask scheduler ({err})", f"--scheduler {scheduler}",
                       "the address of a running dask scheduler, e.g. tcp://10.0.0.1:8786") from None
    futures = {}
    try:
        for job in jobs:
            futures[client.submit(execute, job, pure=False, key=f"hwdse-{job.index}-{job.dirname}-{id(job)}")] = job
        for fut in as_completed(list(futures)):
            job = futures.pop(fut)
            try:
                rec = fut.result()
            except Exception as err:  # KilledWorker and friends
                raise WorkerLost(f"the Dask cluster lost the job ({type(err).__name__}: {err})") from None
            yield job, rec
    finally:
        if futures:
            client.cancel(list(futures))
        client.close()
