from pathlib import Path

from dse.paths import PACKAGE_ROOT, data_dir


def test_data_dirs_come_from_dse_home_then_the_checkout_then_the_cwd(tmp_path, monkeypatch):
    assert data_dir("arch") == PACKAGE_ROOT / "arch" and (PACKAGE_ROOT / "arch" / "gemmini" / "knobs.yaml").exists()
    home = tmp_path / "home"
    (home / "arch").mkdir(parents=True)
    monkeypatch.setenv("DSE_HOME", str(home))
    assert data_dir("arch") == home / "arch"
    monkeypatch.delenv("DSE_HOME")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "extra_tables").mkdir()
    assert data_dir("extra_tables") == Path.cwd() / "extra_tables"  # not in the checkout: the cwd's
