"""``rejected_stream_messages``: what the consumers rejected (NATS and MQTT writers, folder and S3 sinks) becomes a
table in the lake, one row per rejected message or reading, with its rule, reason, origin and payload."""

from __future__ import annotations

import json
from types import SimpleNamespace

import dagster as dg
import pandas as pd

from lascopf_assets.defs.ingestion.stream_rejects import rejected_stream_messages
from lascopf_assets.defs.resources import LandingZone, S3LandingZone
from lascopf_assets.defs.storage.lake_io_managers import ParquetLakeIOManager
from lascopf_assets.defs.storage.resources import S3LandingBucket
from lascopf_assets.lib.stream.batches import BatchWriter, Delivery
from lascopf_assets.lib.stream.files import Namer
from lascopf_assets.lib.stream.mqtt_consumer import MqttWriter
from lascopf_assets.lib.stream.s3_sink import S3Sink
from lascopf_assets.lib.stream.sinks import FolderSink
from lascopf_assets.storage.parquet_lake import ParquetLake
from lascopf_assets_tests.stream.conftest import reading
from lascopf_assets_tests.stream.test_nats_consumer import BAD


def write_rejects(sink_factory) -> None:
    """The real writers: a NATS batch (good readings around the bad messages, one list with a bad reading) and an
    MQTT batch with one bad message."""
    nats = BatchWriter(Namer("nats", "METERS", "lake"), sink=sink_factory())
    deliveries = [Delivery(i + 1, True, "meters.readings", json.dumps(reading(i)).encode()) for i in range(3)]
    deliveries += [Delivery(4 + j, True, "meters.readings", payload) for j, (payload, _) in enumerate(BAD)]
    deliveries.append(Delivery(4 + len(BAD), True, "meters.readings", json.dumps([reading(3), {"meter_id": "M9"}]).encode()))
    assert nats.write(deliveries).rejected == len(BAD) + 1
    nats.close()
    mqtt = MqttWriter("headend", sink_factory(), 2000)
    assert mqtt.write([SimpleNamespace(topic="meters/a", payload=b"{oops", dup=False, mid=1, qos=1)]).rejected == 1
    mqtt.close()


def materialize(zone, lake_dir) -> tuple[dg.ExecuteInProcessResult, pd.DataFrame]:
    result = dg.materialize([rejected_stream_messages], resources={
        "zone": zone, "io_manager": ParquetLakeIOManager(base_path=str(lake_dir))})
    assert result.success
    return result, ParquetLake.local(str(lake_dir)).read(["rejected_stream_messages"])


def check_table(table: pd.DataFrame) -> None:
    assert len(table) == len(BAD) + 2
    nats = table[table["source"] == "nats"]
    assert sorted(nats["rule"]) == sorted([rule for _, rule in BAD] + ["field_missing"])
    assert set(nats["stream"]) == {"METERS"} and set(nats["consumer"]) == {"lake"}
    assert nats.loc[nats["rule"] == "not_json", "stream_seq"].tolist() == [5]  # after the 3 readings and the non-UTF-8
    assert nats["payload_base64"].notna().sum() == 1 and nats.loc[nats["rule"] == "not_utf8", "payload"].isna().all()
    [partial] = nats[nats["reading_index"].notna()].itertuples()
    assert (partial.reading_index, partial.rule) == (1, "field_missing") and "timestamp, kwh" in partial.reason
    [mqtt] = table[table["source"] == "mqtt"].itertuples()
    assert (mqtt.consumer, mqtt.subject, mqtt.rule, mqtt.payload) == ("headend", "meters/a", "not_json", "{oops")
    assert str(table["received_at"].dtype) == "datetime64[us, UTC]" and table["received_at"].notna().all()
    assert table["reason"].str.len().min() > 10


def test_local_rejects_folder_becomes_a_table(tmp_path):
    data = tmp_path / "data"
    zone = LandingZone(landing_dir=str(data / "landing"), topology_dir=str(data / "topology"), state_dir=str(data / "state"))
    _, empty = materialize(zone, tmp_path / "lake")  # nothing streamed yet: an empty table, not a failure
    assert empty.empty and "rule" in empty.columns
    write_rejects(lambda: FolderSink(str(data / "landing"), str(data / "stream_rejects")))  # the CLI's default place
    result, table = materialize(zone, tmp_path / "lake")
    check_table(table)
    assert all(f.startswith(str(data / "stream_rejects")) for f in table["file"])
    meta = result.asset_materializations_for_node("rejected_stream_messages")[0].metadata
    assert meta["rejected_messages"].value == len(BAD) + 2 and meta["by_source"].data == {"nats": len(BAD) + 1, "mqtt": 1}


def test_s3_rejects_prefix_becomes_a_table(s3_bucket, tmp_path):
    sink = lambda: S3Sink(s3_bucket["client"], s3_bucket["bucket"], "landing", "stream_rejects", lock_dir=str(tmp_path))
    write_rejects(sink)
    bucket = S3LandingBucket(endpoint_url=s3_bucket["endpoint_url"], access_key=s3_bucket["access_key"],
                             secret_key=s3_bucket["secret_key"], region=s3_bucket["region"], bucket=s3_bucket["bucket"],
                             prefix="landing")
    zone = S3LandingZone(landing_dir=str(tmp_path / "cache"), topology_dir=str(tmp_path / "topology"),
                         state_dir=str(tmp_path / "state"), s3_landing=bucket)
    _, table = materialize(zone, tmp_path / "lake")
    check_table(table)  # the MQTT receipt under stream_rejects/receipts/ is not a reject
    assert all(f.startswith(f"s3://{s3_bucket['bucket']}/stream_rejects/") for f in table["file"])


def test_the_asset_is_in_the_definitions_beside_rejected_landing_files():
    from lascopf_assets.definitions import defs

    graph = defs().resolve_asset_graph()
    node = graph.get(dg.AssetKey("rejected_stream_messages"))
    assert node.group_name == graph.get(dg.AssetKey("rejected_landing_files")).group_name == "ingestion"
    assert not node.is_partitioned  # so `lascopf demo` materializes it with the other ingestion roots


def _tick(zone, cursor=None):
    from lascopf_assets.defs.ingestion.sensors import ingestion_sensors

    [sensor] = [s for s in ingestion_sensors("local") if s.name == "stream_rejects_sensor"]
    with dg.build_sensor_context(cursor=cursor, resources={"zone": zone}) as context:
        return sensor(context)


def test_sensor_asks_for_the_table_once_per_new_rejects_file(tmp_path):
    """Nothing rejected yet: skip. New rejects files: one request for rejected_stream_messages, then nothing until
    another file appears (a consumer never rewrites one)."""
    data = tmp_path / "data"
    zone = LandingZone(landing_dir=str(data / "landing"), topology_dir=str(data / "topology"), state_dir=str(data / "state"))
    assert isinstance(_tick(zone), dg.SkipReason)
    write_rejects(lambda: FolderSink(str(data / "landing"), str(data / "stream_rejects")))
    first = _tick(zone)
    [request] = first.run_requests
    assert request.asset_selection == [rejected_stream_messages.key]
    assert isinstance(_tick(zone, first.cursor), dg.SkipReason)
    mqtt = MqttWriter("headend2", FolderSink(str(data / "landing"), str(data / "stream_rejects")), 2000)
    assert mqtt.write([SimpleNamespace(topic="meters/b", payload=b"[", dup=False, mid=1, qos=1)]).rejected == 1
    mqtt.close()
    later = _tick(zone, first.cursor)
    assert [r.run_key for r in later.run_requests] != [request.run_key] and len(later.run_requests) == 1


def test_the_sensor_is_built_for_both_profiles():
    from lascopf_assets.defs.ingestion.sensors import ingestion_sensors

    for profile, status in (("local", dg.DefaultSensorStatus.RUNNING), ("production", dg.DefaultSensorStatus.STOPPED)):
        [sensor] = [s for s in ingestion_sensors(profile) if s.name == "stream_rejects_sensor"]
        assert sensor.default_status == status
