"""The wheel (non-editable install) carries every package and the data folders."""
import fnmatch
from pathlib import Path

import pytest
from setuptools import find_packages

import dse.paths
from dse.paths import PACKAGE_ROOT

tomllib = pytest.importorskip("tomllib")
CONF = tomllib.loads((PACKAGE_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_source_package_is_listed():
    listed = set(CONF["packages"])
    assert {p for p in listed if p.startswith("dse.") or p == "dse"} == set(find_packages(str(PACKAGE_ROOT), include=["dse*"]))


def test_every_data_file_is_carried():
    for package, folder in CONF["package-dir"].items():
        assert package in CONF["packages"]
        root = PACKAGE_ROOT / folder
        files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        patterns = CONF["package-data"][package]
        missing = [f for f in files if not f.endswith(".py")
                   and not any(fnmatch.fnmatch(f, pat) or fnmatch.fnmatch(f, pat.replace("**/", "")) for pat in patterns)]
        assert files and not missing, (package, missing)


def test_installed_data_package_is_used_when_there_is_no_checkout(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    (site / "dse_data" / "arch").mkdir(parents=True)
    monkeypatch.setattr(dse.paths, "PACKAGE_ROOT", site)
    monkeypatch.delenv("DSE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert dse.paths.data_dir("arch") == site / "dse_data" / "arch"
