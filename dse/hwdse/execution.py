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


def _serve(conn: Any, parent_ends: list[Any]) -> None:
    """Worker loop: receive a job, send back ``("ok", record)`` or ``("raised", exception)``; ``None`` stops.

    ``parent_ends`` are the parent's pipe ends this process inherited (its own and earlier
    workers'); closing them lets every worker see EOF, and exit, when the parent dies.
    """
    ignore_sigint()
    for end in parent_ends:
        end.close()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            reply: tuple[str, Any] = ("ok", execute(job))
        except Exception as err:  # a bug, not bad input: the parent re-raises it
            reply = ("raised", err)
        try:
            conn.send(reply)
        except OSError:  # the parent is gone
            return
        except Exception:  # the exception itself did not pickle
            conn.send(("raised", RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))


def run_local(jobs: list[SweepJob], workers: int) -> Iterator[tuple[SweepJob, dict[str, Any]]]:
    """Up to ``workers`` processes, each fed one job at a time over its own pipe.

    A plain pipe per worker (rather than ``concurrent.futures``) keeps stopping simple and safe:
    there are no shared queues or helper threads, so terminating a worker mid-job, or mid-reply,
    can never leave the parent blocked on a half-written message or a queue lock.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    if not jobs:
        return
    ctx = multiprocessing.get_context()
    todo = list(reversed(jobs))
    running: dict[Any, tuple[Any, SweepJob | None]] = {}  # parent end of the pipe -> (process, job in flight)
    clean = False

    def feed(conn: Any) -> None:
        proc = running[conn][0]
        job = todo.pop() if todo else None
        running[conn] = (proc, job)
        if job is not None:
            try:
                conn.send(job)
            except OSError:
                raise WorkerLost("a worker process died (killed or out of memory)") from None

    try:
        for _ in range(max(1, min(workers, len(jobs)))):
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child_end, [*running, parent_end]), daemon=True)
            proc.start()
            child_end.close()  # so the parent sees EOF if the worker dies
            running[parent_end] = (proc, None)
            feed(parent_end)
        while True:
            busy = [conn for conn, (_, job) in running.items() if job is not None]
            if not busy:
                break
            ready = wait(busy + [running[conn][0].sentinel for conn in busy])
            for conn in busy:
                proc, job = running[conn]
                if conn not in ready and proc.sentinel not in ready:
                    continue
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    raise WorkerLost("a worker process died (killed or out of memory)") from None
                if kind == "raised":
                    raise payload
                feed(conn)  # keep the worker busy while the caller stores this result
                yield job, payload
        clean = True
    finally:
        for conn, (proc, _) in running.items():
            if clean:
                try:
                    conn.send(None)
                except OSError:
                    pass
            else:  # Ctrl-C, a lost worker or the caller stopped: jobs in flight are abandoned
                proc.terminate()
        for conn, (proc, _) in running.items():
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
            conn.close()


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
