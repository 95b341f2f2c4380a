import pytest

from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone
from lascopf_assets_tests.local_zone import use_local_data_dir


@pytest.fixture
def zone_env(tmp_path, monkeypatch):
    """A tiny demo zone (4 junctions, 3 days) in a temp data dir, env pointing at it."""
    data = tmp_path / "data"
    summary = write_demo_zone(data, DemoZoneParams(junctions=4, meters_per_junction=(3, 5), days=3, seed=3))
    use_local_data_dir(monkeypatch, data)
    return summary
