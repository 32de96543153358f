"""Where the shipped data folders (``arch/``, ``workloads/``, ``mappers/``, ``estimation_tables/``) are.

They sit next to the ``dse`` package in a checkout (the README's editable install); a
wheel (``pip install .``) carries copies as the package ``dse_data``.  The first of
``$DSE_HOME``, the checkout that holds this package, the installed ``dse_data`` and the
current directory that has the folder wins.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def data_dir(name: str) -> Path:
    """The data folder ``name`` (e.g. ``"arch"``); the package-relative path if none exists."""
    candidates = []
    if os.environ.get("DSE_HOME"):
        candidates.append(Path(os.environ["DSE_HOME"]) / name)
    candidates += [PACKAGE_ROOT / name, PACKAGE_ROOT / "dse_data" / name, Path.cwd() / name]
    for c in candidates:
        if c.is_dir():
            return c
    return PACKAGE_ROOT / name
