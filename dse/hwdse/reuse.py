"""Finished (config, layer) results found by what they are, not where they are stored.

A job's fingerprint (layer, architecture, the knob values that architecture receives,
settings, spec digest) does not contain its config index, so a job equal to one finished
under another index -- a config repeated by a search, a companion layer of two configs that
differ only in knobs the companion does not take, a result in another results folder
(``--reuse DIR``) -- is copied instead of mapped again.  The copy has the same numbers and
files (its record names the index and where it came from), so results do not depend on
whether a job was reused.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from dse.hwdse.plan import SweepJob
from dse.hwdse.store import LAYER_FILE, Store, read_json


def job_key(fingerprint: dict[str, Any]) -> str:
    return json.dumps(fingerprint, sort_keys=True)


class ResultIndex:
    """Finished job folders by fingerprint, over one or more results folders."""

    def __init__(self, roots: list[Path]):
        self._dirs: dict[str, Path] = {}
        for root in roots:
            store = Store(root)
            for idx in store.indices():
                for d in sorted(store.config_dir(idx).iterdir()):
                    self._add_dir(d)

    def _add_dir(self, d: Path) -> None:
        rec = read_json(d / LAYER_FILE)
        if isinstance(rec, dict) and isinstance(rec.get("fingerprint"), dict):
            if all((d / name).is_file() for name in rec.get("files", [])):
                self._dirs.setdefault(job_key(rec["fingerprint"]), d)

    def add(self, store: Store, job: SweepJob) -> None:
        """Record a job just saved in ``store``."""
        self._add_dir(store.job_dir(job))

    def find(self, job: SweepJob) -> Path | None:
        return self._dirs.get(job_key(job.fingerprint()))

    def __len__(self) -> int:
        return len(self._dirs)


def copy_result(store: Store, job: SweepJob, source: Path) -> dict[str, Any]:
    """Store ``source``'s finished result as ``job``'s (files first, ``dse-layer.json`` last); the stored record."""
    rec = read_json(source / LAYER_FILE)
    files = {name: (source / name).read_text() for name in rec.get("files", [])}
    rec = {k: v for k, v in rec.items() if k != "files"} | {"index": job.index, "files": files,
                                                          "reused_from": str(source)}
    return store.save(job, rec)


def split_twins(jobs: list[SweepJob]) -> tuple[list[SweepJob], dict[str, list[SweepJob]]]:
    """Jobs to run (the first of each fingerprint) and, by fingerprint key, the later equal ones."""
    first: set[str] = set()
    unique: list[SweepJob] = []
    twins: dict[str, list[SweepJob]] = {}
    for job in jobs:
        key = job_key(job.fingerprint())
        if key in first:
            twins.setdefault(key, []).append(job)
        else:
            first.add(key)
            unique.append(job)
    return unique, twins


def with_twins(results: Iterator[tuple[SweepJob, dict[str, Any]]],
               twins: dict[str, list[SweepJob]]) -> Iterator[tuple[SweepJob, dict[str, Any]]]:
    """Pass ``results`` through, each followed by copies of its record for the equal jobs in ``twins``.

    Closing this generator closes ``results`` (the executor stops its workers).
    """
    try:
        for job, rec in results:
            copies = [] if "error" in rec else [
                (t, rec | {"index": t.index, "copy_of": job.index, "files": dict(rec.get("files", {}))}) for t in
                twins.pop(job_key(job.fingerprint()), [])]
            yield job, rec
            yield from copies
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
