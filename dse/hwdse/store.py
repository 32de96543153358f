"""The results folder ``OUT`` of a sweep; this process is its only writer, every write is atomic.

Layout::

    OUT/sweep.json                       settings, layer set, skipped layers, aggregation
    OUT/results.csv                      one row per config (status, varying keys, metrics, Pareto)
    OUT/<idx>/hw_config.json             the config + "metrics" + per-layer "layers" + "dse" meta
    OUT/<idx>/outputs_<layer>[_<lvl>]/   timeloop-mapper.{stats.txt,map.txt,map.yaml,ERT.yaml,ART.yaml}
                                         and dse-layer.json, written last: the job is finished

A finished job is reused when its ``dse-layer.json`` fingerprint (layer, architecture,
knob values, model, sequence length, fusion flags, mapper) equals the new job's.
"""
from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from dse.errors import DseError
from dse.hwdse.plan import RESULT_FORMAT, SweepJob
from dse.files import is_our_temporary, write_atomic

SWEEP_FILE = "sweep.json"
LAYER_FILE = "dse-layer.json"
CONFIG_FILE = "hw_config.json"
CSV_FILE = "results.csv"


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def read_json(path: Path) -> Any | None:
    """Parsed JSON, or ``None`` if the file is missing or unreadable (treated as not written)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class Store:
    """Read and write one results folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # ---- paths -------------------------------------------------------------------------------
    def config_dir(self, index: int) -> Path:
        return self.root / str(index)

    def job_dir(self, job: SweepJob) -> Path:
        return self.config_dir(job.index) / job.dirname

    def indices(self) -> list[int]:
        if not self.root.is_dir():
            return []
        return sorted(int(p.name) for p in self.root.iterdir() if p.is_dir() and p.name.isdigit())

    # ---- sweep-level ---------------------------------------------------------------------------
    def sweep_info(self) -> dict[str, Any] | None:
        info = read_json(self.root / SWEEP_FILE)
        return info if isinstance(info, dict) and info.get("format") == RESULT_FORMAT else None

    def check_usable(self) -> None:
        """A folder that exists, is not empty and is not a dse sweep folder is refused (nothing overwritten)."""
        if self.root.exists() and not self.root.is_dir():
            raise DseError("the output path is a file", f"--out {self.root}", "a folder (new or from an earlier sweep)")
        if self.root.is_dir() and any(self.root.iterdir()) and self.sweep_info() is None:
            raise DseError("the output folder is not empty and holds no dse sweep (sweep.json); refusing to write "
                           "into it", f"--out {self.root}", "a new folder or one written by hwdse_run.py")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use of ``OUT`` by this process (released by the OS even if it is killed).

        A POSIX record lock (``lockf``), not ``flock``: worker processes forked while it is
        held do not inherit it, so a worker outliving a killed parent cannot keep ``OUT`` locked.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / ".hwdse.lock", "w")
        try:
            try:
                fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise DseError("another hwdse_run.py is writing to this folder", f"--out {self.root}",
                               "wait for it to finish, or use another --out") from None
            self._remove_stale_temporaries()
            yield
        finally:
            fh.close()

    def discard(self) -> None:
        """Remove what this sweep wrote into a folder it created (bad input stopped it before any result)."""
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)

    def _remove_stale_temporaries(self) -> None:
        """Temporary files of a writer that was killed mid-write: only names :func:`write_atomic` makes
        (``.<name>.dse-XXXXXXXX.tmp``), only where the sweep writes (OUT, OUT/<idx>, OUT/<idx>/outputs_*)."""
        folders = [self.root]
        for idx in self.indices():
            d = self.config_dir(idx)
            folders += [d, *(c for c in d.glob("outputs_*") if c.is_dir())]
        for folder in folders:
            for p in folder.glob(".*.tmp"):
                if is_our_temporary(p) and p.is_file():
                    p.unlink(missing_ok=True)

    def write_sweep_info(self, info: dict[str, Any]) -> None:
        write_atomic(self.root / SWEEP_FILE, dumps({"format": RESULT_FORMAT} | info))

    # ---- per job ---------------------------------------------------------------------------------
    def finished(self, job: SweepJob) -> dict[str, Any] | None:
        """The stored record of ``job`` if it is finished with the same fingerprint and all its files exist."""
        d = self.job_dir(job)
        rec = read_json(d / LAYER_FILE)
        if not isinstance(rec, dict) or rec.get("fingerprint") != job.fingerprint():
            return None
        if not all((d / name).is_file() for name in rec.get("files", [])):
            return None
        sums = rec.get("sha256")
        if isinstance(sums, dict) and any(_sha256(d / name) != digest for name, digest in sums.items()):
            return None  # a stats/map file changed or was corrupted since it was written: map again
        return rec

    def conflicts(self, jobs: list[SweepJob]) -> list[str]:
        """Jobs whose slot holds a *different* finished result (another config or other settings)."""
        out: list[str] = []
        seen_idx: set[int] = set()
        for job in jobs:
            if job.index not in seen_idx:
                seen_idx.add(job.index)
                meta = (read_json(self.config_dir(job.index) / CONFIG_FILE) or {}).get("dse", {})
                if meta and meta.get("config") != job.full_config:
                    out.append(f"{self.config_dir(job.index)} holds config {json.dumps(meta.get('config'))}, "
                               f"this run's config [{job.index}] is {json.dumps(job.full_config)}")
            rec = read_json(self.job_dir(job) / LAYER_FILE)
            if isinstance(rec, dict) and rec.get("fingerprint") != job.fingerprint():
                old, new = rec.get("fingerprint") or {}, job.fingerprint()
                diff = sorted(k for k in set(old.get("settings", {})) | set(new["settings"])
                              if old.get("settings", {}).get(k) != new["settings"].get(k))
                if diff:
                    out.append(f"{self.job_dir(job)} was mapped with other settings ("
                               + ", ".join(f"{k} {old.get('settings', {}).get(k)!r} vs {new['settings'].get(k)!r}"
                                           for k in diff) + ")")
        return out

    def save(self, job: SweepJob, record: dict[str, Any]) -> dict[str, Any]:
        """Write the job's Timeloop files, then its ``dse-layer.json`` (the commit point); return the stored record."""
        d = self.job_dir(job)
        files = record.pop("files", {})
        for name, text in files.items():
            write_atomic(d / name, text)
        sums = {name: hashlib.sha256(text.encode("utf-8")).hexdigest() for name, text in sorted(files.items())}
        stored = record | {"files": sorted(files), "sha256": sums}
        write_atomic(d / LAYER_FILE, dumps(stored))
        return stored

    def load_record(self, index: int, dirname: str) -> dict[str, Any] | None:
        rec = read_json(self.config_dir(index) / dirname / LAYER_FILE)
        return rec if isinstance(rec, dict) else None

    # ---- per config and summary ---------------------------------------------------------------
    def write_config(self, index: int, doc: dict[str, Any]) -> None:
        write_atomic(self.config_dir(index) / CONFIG_FILE, dumps(doc))

    def read_config(self, index: int) -> dict[str, Any] | None:
        doc = read_json(self.config_dir(index) / CONFIG_FILE)
        return doc if isinstance(doc, dict) and isinstance(doc.get("dse"), dict) else None

    def write_csv(self, header: list[str], rows: list[list[Any]], path: Path | None = None) -> Path:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        target = path or self.root / CSV_FILE
        write_atomic(Path(target), buf.getvalue())
        return Path(target)


__all__ = ["Store", "SWEEP_FILE", "LAYER_FILE", "CONFIG_FILE", "CSV_FILE", "read_json", "dumps"]
