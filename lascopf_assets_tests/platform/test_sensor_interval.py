"""LASCOPF_SENSOR_INTERVAL_SECONDS: one tick interval for the ingestion and automation sensors."""

import pytest

from lascopf_assets.defs.automation import automation_sensor
from lascopf_assets.defs.ingestion.sensors import ingestion_sensors
from lascopf_assets.defs.profile import SENSOR_INTERVAL_ENV


def intervals(profile: str = "production") -> dict[str, int]:
    sensors = [*ingestion_sensors(profile), automation_sensor(profile)]
    return {s.name: s.minimum_interval_seconds for s in sensors}


def test_defaults_when_unset(monkeypatch):
    monkeypatch.delenv(SENSOR_INTERVAL_ENV, raising=False)
    assert intervals() == {"landing_file_sensor": 30, "topology_file_sensor": 60, "s3_landing_sensor": 60,
                           "stream_rejects_sensor": 60, "automation_sensor": 30}


def test_one_value_for_all(monkeypatch):
    monkeypatch.setenv(SENSOR_INTERVAL_ENV, "5")
    assert set(intervals().values()) == {5}
    monkeypatch.setenv(SENSOR_INTERVAL_ENV, " ")
    assert intervals()["s3_landing_sensor"] == 60


@pytest.mark.parametrize("bad", ["0", "-3", "1.5", "fast"])
def test_bad_values_name_the_variable(monkeypatch, bad):
    monkeypatch.setenv(SENSOR_INTERVAL_ENV, bad)
    with pytest.raises(ValueError, match=SENSOR_INTERVAL_ENV):
        intervals()
