"""S3 landing as solid as the local folder (issue 15, defects 5-7): provenance is the object's bucket/key, one
bad object is rejected (the rest of the range goes through), Hive-style ``date=`` folders are ingested, and the
sensor asks for one range run and skips what was ingested from the same object versions.

Real servers: moto's S3 server on 127.0.0.1 and a real (temporary) Dagster instance; the lake is local Parquet.
"""

import time

import dagster as dg
import pandas as pd
import pytest

from lascopf_assets.defs.ingestion import assets as ingestion
from lascopf_assets.defs.ingestion.sensors import ingestion_sensors
from lascopf_assets.defs.ingestion.topology import grid_topology
from lascopf_assets.defs.resources import ExportsFolder, FeederHeads, S3LandingZone
from lascopf_assets.defs.storage.lake_io_managers import ParquetLakeIOManager
from lascopf_assets.defs.storage.resources import S3LandingBucket
from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone

DAYS = ["2023-01-01", "2023-01-02", "2023-01-03"]
RANGE = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]}
CHAIN = [grid_topology, ingestion.raw_measurements, ingestion.validated_loads, ingestion.rejected_landing_files]
# what a bad upload looks like: a PNG named .csv, random bytes named .csv.gz, a truncated Parquet file
GARBAGE = {
    "garbage.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\xff\xfe\x00",
    "garbage.csv.gz": b"`\xc1\x00\xff\x13\x37" * 40,
    "garbage.parquet": b"PAR1\x00\x01\x02\xff" * 30,
}


@pytest.fixture
def s3_zone(tmp_path, s3_bucket):
    """A 3-day demo zone whose landing files are in the bucket under ``incoming/<day>/`` (the 2nd under
    ``incoming/date=<day>/``, Hive style), one bad reading appended to the 1st, and the resources of an S3 zone."""
    zone = write_demo_zone(tmp_path / "zone", DemoZoneParams(junctions=4, meters_per_junction=(3, 5), days=3, seed=5))
    client, bucket = s3_bucket["client"], s3_bucket["bucket"]
    keys = {}
    for path in zone.paths:
        day = path.stem.rsplit("_", 1)[1]
        folder = f"date={day}" if day == DAYS[1] else day
        body = path.read_bytes()
        if day == DAYS[0]:
            meter = body.decode().splitlines()[1].split(",")[0]
            body += f"{meter},{day}T05:00:00+00:00,n/a\n".encode()  # quarantined: kwh_not_numeric
        keys[day] = f"incoming/{folder}/{path.name}"
        client.put_object(Bucket=bucket, Key=keys[day], Body=body)
    landing = S3LandingBucket(endpoint_url=s3_bucket["endpoint_url"], bucket=bucket, prefix="incoming",
                              access_key=s3_bucket["access_key"], secret_key=s3_bucket["secret_key"], region=s3_bucket["region"])
    lake = ParquetLakeIOManager(base_path=str(tmp_path / "lake"))
    resources = {
        "zone": S3LandingZone(landing_dir=str(tmp_path / "cache"), topology_dir=str(zone.topology_path.parent),
                              state_dir=str(tmp_path / "state"), s3_landing=landing),
        "s3_landing": landing, "io_manager": lake, "timeseries_io_manager": lake,
        "exports": ExportsFolder(path=str(tmp_path / "exports")), "feeder_heads": FeederHeads(),
    }
    return {"bucket": bucket, "client": client, "keys": keys, "resources": resources, "lake": tmp_path / "lake",
            "cache": tmp_path / "cache"}


def _lake(s3_zone, asset: str) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted((s3_zone["lake"] / asset).glob("*.parquet"))], ignore_index=True)


def _materialize(s3_zone, instance, selection, **kw):
    return dg.materialize(CHAIN, selection=selection, resources=s3_zone["resources"], instance=instance, **kw)


def _printable(text: str) -> bool:
    return text.isprintable() and "\\x" not in text and "b'" not in text


def test_provenance_is_the_objects_bucket_and_key(s3_zone):
    """Defect 5: source_file (raw rows, quarantine, validated loads, per-file tables) is ``bucket/key``, never the
    name of the local cache file; and a key under a Hive-style ``date=`` folder is ingested, not rejected."""
    bucket, keys = s3_zone["bucket"], s3_zone["keys"]
    with dg.instance_for_test() as instance:
        assert _materialize(s3_zone, instance, ["grid_topology"]).success
        result = _materialize(s3_zone, instance, ["raw_measurements", "validated_loads", "quarantined_measurements"],
                              tags=RANGE)
        assert result.success
        sources = {f"{bucket}/{keys[day]}" for day in DAYS}
        assert set(_lake(s3_zone, "raw_measurements")["source_file"]) == sources
        assert set(_lake(s3_zone, "validated_loads")["source_file"]) == sources
        quarantine = _lake(s3_zone, "quarantined_measurements")
        assert len(quarantine) > 0 and set(quarantine["source_file"]) == {f"{bucket}/{keys[DAYS[0]]}"}
        [raw] = [m for m in result.asset_materializations_for_node("raw_measurements") if m.partition == DAYS[0]]
        per_file = raw.metadata["per_file"].value
        assert all(f"{bucket}/{keys[day]}" in per_file for day in DAYS) and "__" not in per_file
        [check] = result.get_asset_check_evaluations()[:1]
        assert check.passed  # the date= key is not rejected
        assert _materialize(s3_zone, instance, ["rejected_landing_files"]).output_for_node("rejected_landing_files").empty


def test_one_bad_object_is_rejected_and_the_range_goes_through(s3_zone):
    """Defect 6: garbage objects and a refused key on the last day are rejected, each with a printable one-line
    reason naming bucket/key (no raw bytes, no cache path); every day is ingested, and rejected_landing_files
    lists them, the refused key included (as the sensor log names it)."""
    bucket, client = s3_zone["bucket"], s3_zone["client"]
    bad = {f"incoming/{DAYS[2]}/{name}": body for name, body in GARBAGE.items()}
    for key, body in bad.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    refused = f"incoming/{DAYS[2]}/readme.txt"
    client.put_object(Bucket=bucket, Key=refused, Body=b"see the wiki")
    with dg.instance_for_test() as instance:
        assert _materialize(s3_zone, instance, ["grid_topology"]).success
        result = _materialize(s3_zone, instance, ["raw_measurements", "validated_loads", "quarantined_measurements"],
                              tags=RANGE)
        assert result.success
        [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "landing_files_ingested"]
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        described = check.description
        for key in [*bad, refused]:
            assert f"'{bucket}/{key}'" in described
        assert _printable(described) and str(s3_zone["cache"]) not in described
        assert "__" not in described  # no cache file name
        raw = _lake(s3_zone, "raw_measurements")
        assert sorted(raw["timestamp"].dt.strftime("%Y-%m-%d").unique()) == DAYS  # every day went through

        table = _materialize(s3_zone, instance, ["rejected_landing_files"]).output_for_node("rejected_landing_files")
        kinds = dict(zip(table["file"], table["kind"], strict=True))
        assert kinds == {**{f"{bucket}/{k}": "unreadable" for k in bad}, f"{bucket}/{refused}": "refused_name"}
        assert set(table["day"]) == {DAYS[2]}
        for reason in table["reason"]:
            assert _printable(reason) and "\n" not in reason and str(s3_zone["cache"]) not in reason
            assert "__" not in reason


[s3_landing_sensor] = [s for s in ingestion_sensors("production") if s.name == "s3_landing_sensor"]


def _tick(instance, s3_zone, cursor=None):
    resources = {k: s3_zone["resources"][k] for k in ("zone", "s3_landing")}
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return s3_landing_sensor(context)


def _span(request):
    if request.partition_key:
        return (request.partition_key, request.partition_key)
    return (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"])


def _day_runs(result):
    return [r for r in result.run_requests if r.asset_selection in (None, [ingestion.raw_measurements.key])]


def test_sensor_first_tick_asks_one_range_run_and_skips_what_is_done(s3_zone):
    """Defect 7: consecutive days are one range run, as for the local folder; a first tick (no cursor) does not
    ask again for days already ingested from the same object versions; a rewritten object is asked for again."""
    client, bucket = s3_zone["client"], s3_zone["bucket"]
    for n in range(4, 31):  # 30 days in all
        day = f"2023-01-{n:02d}"
        client.put_object(Bucket=bucket, Key=f"incoming/{day}/m_{day}.csv",
                          Body=f"meter_id,timestamp,kwh\nM1,{day}T00:00:00+00:00,1\n".encode())
    with dg.instance_for_test() as instance:
        first = _tick(instance, s3_zone)
        assert [_span(r) for r in _day_runs(first)] == [("2023-01-01", "2023-01-30")]
        assert [_span(r) for r in _day_runs(_tick(instance, s3_zone))] == [("2023-01-01", "2023-01-30")]  # replayed
        assert _materialize(s3_zone, instance, ["grid_topology"]).success
        # An object written within about two seconds before an ingestion is asked for again (S3 versions carry
        # whole seconds; s3_landing._before_by_a_second): the fixture's day objects must be older than that,
        # or day 3 came back in about one run of three.
        time.sleep(2.5)
        assert _materialize(s3_zone, instance, ["raw_measurements"], tags=RANGE).success
        again = _tick(instance, s3_zone)  # e.g. a reset cursor, or the sensor turned on after a manual backfill
        assert [_span(r) for r in _day_runs(again)] == [("2023-01-04", "2023-01-30")]
        client.put_object(Bucket=bucket, Key=s3_zone["keys"][DAYS[1]], Body=b"meter_id,timestamp,kwh\nM1,2023-01-02T00:00:00+00:00,2\n")
        later = _tick(instance, s3_zone)
        assert [_span(r) for r in _day_runs(later)] == [("2023-01-02", "2023-01-02"), ("2023-01-04", "2023-01-30")]


def test_sensor_reports_refused_keys_to_rejected_landing_files(s3_zone):
    """Defect 6 (sensor side): a refused key is logged on the tick and the tick asks for rejected_landing_files,
    once per key version; that run lists it."""
    client, bucket = s3_zone["client"], s3_zone["bucket"]
    client.put_object(Bucket=bucket, Key=f"incoming/{DAYS[2]}/notes.txt", Body=b"hello")
    with dg.instance_for_test() as instance:
        first = _tick(instance, s3_zone)
        records = [r for r in first.run_requests if r.asset_selection == [ingestion.rejected_landing_files.key]]
        assert len(records) == 1
        second = _tick(instance, s3_zone, first.cursor)
        assert isinstance(second, dg.SkipReason)
        table = _materialize(s3_zone, instance, ["rejected_landing_files"]).output_for_node("rejected_landing_files")
        assert list(zip(table["file"], table["kind"], table["day"], strict=True)) == [
            (f"{bucket}/incoming/{DAYS[2]}/notes.txt", "refused_name", DAYS[2])]
