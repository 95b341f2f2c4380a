"""Point the local profile at a test's own data folder (every folder override cleared)."""

from pathlib import Path

import pytest

from lascopf_assets.defs.profile import PROFILE_ENV
from lascopf_assets.defs.resources import DATA_DIR_ENV, PATH_ENV


def use_local_data_dir(monkeypatch: pytest.MonkeyPatch, data: Path) -> None:
    """Local profile, everything under ``data`` (no LASCOPF_*_DIR from the developer's shell leaks in)."""
    monkeypatch.setenv(DATA_DIR_ENV, str(data))
    monkeypatch.setenv(PROFILE_ENV, "local")
    for name in PATH_ENV.values():
        monkeypatch.delenv(name, raising=False)
