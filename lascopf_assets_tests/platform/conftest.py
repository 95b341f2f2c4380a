import os

import pytest

from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone


@pytest.fixture
def zone_env(tmp_path, monkeypatch):
    """A tiny demo zone (4 junctions, 3 days) in a temp data dir, env pointing at it."""
    data = tmp_path / "data"
    summary = write_demo_zone(data, DemoZoneParams(junctions=4, meters_per_junction=(3, 5), days=3, seed=3))
    monkeypatch.setenv("LASCOPF_DATA_DIR", str(data))
    monkeypatch.setenv("LASCOPF_PROFILE", "local")
    for name in ("LASCOPF_LANDING_DIR", "LASCOPF_TOPOLOGY_DIR", "LASCOPF_STATE_DIR", "LASCOPF_LAKE_DIR"):
        monkeypatch.delenv(name, raising=False)
    return summary
