"""The study database ``OUT/study.db`` (Optuna, SQLite): checked read-only before use, then opened.

The study (named ``hwdse``) keeps, as its user attribute ``dse``, what its trials' values
mean: architecture, layers, settings, aggregation, space and objectives.  A database made
for something else is refused before anything is written to it.
"""
from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path
from typing import Any, Mapping

from dse.errors import DseError

STUDY_NAME = "hwdse"
DB_FILE = "study.db"
META_KEY = "dse"
#: the parts of the metadata a resumed study must share (the sampler and seed may change)
SAME = ("arch", "layers", "settings", "aggregation", "space", "objectives")


def db_path(out: Path) -> Path:
    return Path(out) / DB_FILE


def read_meta(path: Path) -> dict[str, Any] | None:
    """The ``dse`` metadata of the study in ``path`` (``None`` if there is no database yet), read-only.

    A file that is not an SQLite database, a database without our study, or one another process
    holds locked is a :class:`DseError` (the file is not modified).
    """
    if not path.exists():
        return None
    where = f"study database {path}"
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
    except sqlite3.Error as err:
        raise DseError(f"cannot open the study database ({err})", where, "an Optuna SQLite database made by "
                       "hwdse_run.py --search, or another --out") from None
    try:
        row = con.execute("SELECT s.study_id FROM studies s WHERE s.study_name = ?", (STUDY_NAME,)).fetchone()
        if row is None:
            raise DseError(f"the database holds no '{STUDY_NAME}' study", where,
                           "a study database written by hwdse_run.py --search, or another --out")
        attr = con.execute("SELECT value_json FROM study_user_attributes WHERE study_id = ? AND key = ?",
                           (row[0], META_KEY)).fetchone()
    except sqlite3.OperationalError as err:
        if "locked" in str(err):
            raise DseError("the study database is locked by another process", where,
                           "wait for the other process (another search, a tool writing to it) to finish") from None
        raise DseError(f"not an Optuna study database ({err})", where,
                       "a study database written by hwdse_run.py --search, or another --out") from None
    except sqlite3.DatabaseError as err:
        raise DseError(f"not an SQLite database ({err})", where,
                       "a study database written by hwdse_run.py --search, or another --out") from None
    finally:
        con.close()
    if attr is None:
        raise DseError("the study has no dse description (made by another tool?)", where,
                       "a study database written by hwdse_run.py --search, or another --out")
    return json.loads(attr[0])


def check_meta(old: Mapping[str, Any], new: Mapping[str, Any], path: Path) -> None:
    """Refuse to resume a study with other architecture, layers, settings, aggregation, space or objectives."""
    diff = [k for k in SAME if old.get(k) != new.get(k)]
    if diff:
        parts = [f"{k}: {json.dumps(old.get(k))} there, {json.dumps(new.get(k))} now" for k in diff]
        raise DseError("the study database belongs to another search (" + "; ".join(parts) + ")",
                       f"study database {path}", "the same architecture, layers, settings (-ih/--blocks too), "
                       "space and objectives to resume it, or another --out")


def open_study(path: Path, meta: Mapping[str, Any], metric_names: list[str]) -> Any:
    """Create or load the study (minimized objectives named ``metric_names``)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 30}})
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage, load_if_exists=True,
                                directions=["minimize"] * len(metric_names))
    if META_KEY not in study.user_attrs:
        study.set_user_attr(META_KEY, dict(meta))
        with warnings.catch_warnings():  # metric names (shown by optuna-dashboard) are "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(metric_names))
    return study
