"""Streamed readings take the platform's path, and the re-optimization trigger reacts to them: a tiny two-feeder
zone ingested on a real instance, both feeders' phase_assignment materialized, the next day published to JetStream
(one feeder's phase-A load five times heavier), consumed into the landing folder, picked up by the landing
sensor and ingested; the drift sensor then requests phase_assignment for that feeder and not for the other."""

from __future__ import annotations

import asyncio

import dagster as dg
import pandas as pd
import pytest

from lascopf_assets.defs.ingestion.sensors import ingestion_sensors
from lascopf_assets.defs.phase_balancing.sensors import DRIFT_TAG, THRESHOLD_ENV, phase_drift_sensor, threshold_from_env
from lascopf_assets.lib.stream.nats_consumer import NatsSettings, consume
from lascopf_assets.lib.zone.demo import DemoZoneParams
from lascopf_assets.storage.parquet_lake import ParquetLake
from lascopf_assets_tests.local_zone import INGEST, ingested_demo_zone
from lascopf_assets_tests.stream.conftest import NATS_URL

DAYS = ["2023-01-01", "2023-01-02"]
NEXT = "2023-01-03"
THRESHOLD = 0.1
[landing_file_sensor] = [s for s in ingestion_sensors("local") if s.name == "landing_file_sensor"]


def drift_tick(zone, cursor=None, threshold=THRESHOLD):
    sensor = phase_drift_sensor("local", threshold=threshold)
    context = dg.build_sensor_context(instance=zone.instance, cursor=cursor,
                                      resources={"timeseries_io_manager": zone.defs.resources["timeseries_io_manager"]})
    result = sensor(context)
    if isinstance(result, dg.SkipReason):
        return [], cursor, result.skip_message
    return result.run_requests or [], result.cursor, result.skip_reason.skip_message if result.skip_reason else None


def next_day_messages(data) -> list[list[dict]]:
    """Day 2's readings one day later, one message per meter; TR1's phase-A meters use five times the energy."""
    day2 = pd.read_csv(data / "landing" / f"meter_readings_{DAYS[1]}.csv")
    topology = ParquetLake.local(data / "lake").read(["grid_topology"])
    meters = topology[topology["type"] == "meter"].set_index("grid_element_id")
    heavy = set(meters.index[(meters["feeder"] == "TR1") & (meters["junction_phase"] == "A")])
    assert heavy
    day2["timestamp"] = (pd.to_datetime(day2["timestamp"], utc=True) + pd.Timedelta(days=1)).map(lambda t: t.isoformat())
    day2.loc[day2["meter_id"].isin(heavy), "kwh"] *= 5
    return [group.drop(columns=[c for c in group.columns if c not in ("meter_id", "timestamp", "kwh")]).to_dict("records")
            for _, group in day2.groupby("meter_id")]


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    data = tmp_path_factory.mktemp("drift") / "data"
    params = DemoZoneParams(feeders=2, feeder_junctions=(6, 5), meters_per_junction=(2, 3), days=2)
    with ingested_demo_zone(data, params, DAYS) as zone:
        for feeder in ("TR1", "TR2"):
            config = {"max_changes": 1, "curve_max_changes": 1, "time_limit_seconds": 30}
            assert zone.run(["phase_assignment"], partition_key=feeder,
                            run_config={"ops": {"phase_assignment": {"config": config}}}).success
        yield zone


def test_threshold_from_the_environment(monkeypatch):
    monkeypatch.delenv(THRESHOLD_ENV, raising=False)
    assert threshold_from_env() is None
    monkeypatch.setenv(THRESHOLD_ENV, "0.05")
    assert threshold_from_env() == 0.05
    monkeypatch.setenv(THRESHOLD_ENV, "lots")
    with pytest.raises(ValueError, match=THRESHOLD_ENV):
        threshold_from_env()
    assert phase_drift_sensor("production", threshold=0.1).default_status == dg.DefaultSensorStatus.STOPPED


def test_streamed_day_that_drifted_requests_that_feeders_phase_assignment_only(zone, stream):
    # off without a threshold; nothing new since the recommendations were made
    requests, _, skip = drift_tick(zone, threshold=None)
    assert requests == [] and "off" in skip
    requests, cursor, skip = drift_tick(zone)
    assert requests == [] and "no feeder has a recommendation older" in skip

    stream.publish(next_day_messages(zone.data))
    settings = NatsSettings(servers=NATS_URL, stream=stream.name, subject=stream.subject, durable="zone",
                            landing_dir=str(zone.data / "landing"), rejects_dir=str(zone.data / "stream_rejects"),
                            max_wait=0.3, ack_wait=2.0, exit_when_idle=True)
    stats = asyncio.run(consume(settings))
    assert stats.rejected == 0 and stats.readings > 0

    # the landing sensor takes the streamed file like any other: a run of its day
    context = dg.build_sensor_context(instance=zone.instance, resources={"zone": zone.defs.resources["zone"]})
    result = landing_file_sensor(context)
    assert [r.partition_key for r in result.run_requests] == [NEXT]
    assert zone.run(INGEST, partition_key=NEXT).success

    requests, cursor2, _ = drift_tick(zone, cursor)
    assert [r.partition_key for r in requests] == ["TR1"]
    [request] = requests
    assert request.asset_selection == [dg.AssetKey("phase_assignment")]
    assert float(request.tags[DRIFT_TAG]) > THRESHOLD and request.run_key.startswith(f"phase_drift:TR1:{NEXT}:")
    # TR2 (day 2 again, drift ~0.05) stays below 0.1; it is the threshold that decides: below its drift both are asked
    below, _, _ = drift_tick(zone, cursor, threshold=1e-9)
    assert {r.partition_key for r in below} == {"TR1", "TR2"}
    # the same aggregates are looked at once
    again, _, skip = drift_tick(zone, cursor2)
    assert again == [] and "no new junction_aggregates" in skip
