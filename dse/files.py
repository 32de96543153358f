"""Writing files so that a reader never sees half of one: temporary file + ``os.replace``."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Part of every temporary file name this tool creates (``.<name>.dse-XXXXXXXX.tmp``): a resume
#: removes only names of that form, never a user's own ``.something.tmp``.
TEMP_MARK = ".dse-"
TEMP_NAME = re.compile(r"^\..+\.dse-[A-Za-z0-9_]{8}\.tmp$")


def is_our_temporary(path: Path) -> bool:
    """Is ``path`` a temporary file :func:`write_atomic` created (and a killed writer left behind)?"""
    return bool(TEMP_NAME.match(path.name))


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file in the same folder and ``os.replace``.

    The file gets the usual permissions (0666 less the umask), not ``mkstemp``'s private 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_MARK}", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
