"""S3 landing sensor against moto's S3 server: ticks, rewrites, restarts, bounded listing."""

import json

import dagster as dg
import pytest

from lascopf_assets.defs.ingestion import assets as ingestion
from lascopf_assets.defs.ingestion.sensors import LANDING_KEYS_TAG, ingestion_sensors
from lascopf_assets.defs.resources import S3LandingZone
from lascopf_assets.defs.storage.resources import S3LandingBucket
from lascopf_assets.storage.s3_landing import (
    S3LandingCache,
    S3LandingCursor,
    S3LandingError,
    fetch_object,
    plan_s3_landing,
)

CSV = "meter_id,timestamp,kwh\nM1,{day}T00:00:00+00:00,{kwh}\n"


def put(b, key, kwh=1.0):
    day = key.split("/")[1].replace("date=", "")
    b["client"].put_object(Bucket=b["bucket"], Key=key, Body=CSV.format(day=day, kwh=kwh).encode())


def plan(b, cursor, **kw):
    return plan_s3_landing(b["client"], b["bucket"], "landing", cursor, **kw)


def spans(result):
    """Each request's (first day, last day, object keys): consecutive days are one range request."""
    return [(r.first, r.last, list(r.names)) for r in result.requests]


def test_ticks_request_each_object_version_once(s3_bucket):
    put(s3_bucket, "landing/2023-01-01/a.csv")
    put(s3_bucket, "landing/2023-01-01/b.parquet")
    put(s3_bucket, "landing/2023-01-02/a.csv")
    put(s3_bucket, "landing/2023-01-02/readme.txt")  # not a landing file
    put(s3_bucket, "landing/notes/x.csv")  # not a day folder
    first = plan(s3_bucket, S3LandingCursor())
    assert spans(first) == [
        ("2023-01-01", "2023-01-02", ["landing/2023-01-01/a.csv", "landing/2023-01-01/b.parquet", "landing/2023-01-02/a.csv"]),
    ]
    # next tick, nothing changed
    cursor = S3LandingCursor.parse(first.cursor.dump())
    assert plan(s3_bucket, cursor).requests == []
    # a rewrite with new content (new ETag) and a brand-new file
    put(s3_bucket, "landing/2023-01-02/a.csv", kwh=2.0)
    put(s3_bucket, "landing/2023-01-03/c.csv")
    third = plan(s3_bucket, cursor)
    assert spans(third) == [("2023-01-02", "2023-01-03", ["landing/2023-01-02/a.csv", "landing/2023-01-03/c.csv"])]
    assert third.requests[0].run_key != first.requests[0].run_key  # same key, new version
    # the same bytes again: same ETag, same version -> nothing
    put(s3_bucket, "landing/2023-01-02/a.csv", kwh=2.0)
    assert plan(s3_bucket, third.cursor).requests == []


def test_first_tick_asks_for_an_object_rewritten_within_the_second_after_an_ingestion(s3_bucket):
    """LastModified has whole seconds: an object rewritten in the same second as the day's last ingestion is newer
    than it, and a first tick (no cursor) must ask for the day again (CI once saw it skipped). An object last
    written more than a second before the ingestion is not asked for again."""
    put(s3_bucket, "landing/2023-01-01/a.csv")
    put(s3_bucket, "landing/2023-01-02/a.csv")
    head = s3_bucket["client"].head_object(Bucket=s3_bucket["bucket"], Key="landing/2023-01-01/a.csv")
    modified = head["LastModified"].timestamp()  # whole seconds; the rewrite happened somewhere in [modified, +1)
    ingested = {"2023-01-01": modified + 0.999, "2023-01-02": modified + 2.5}
    result = plan(s3_bucket, S3LandingCursor(), last_ingested=lambda days: {d: ingested[d] for d in days})
    assert spans(result) == [("2023-01-01", "2023-01-01", ["landing/2023-01-01/a.csv"])]
    assert result.already_ingested == ["2023-01-02"]


def test_run_keys_are_deterministic_when_a_tick_is_replayed(s3_bucket):
    """A tick whose cursor was never stored (daemon killed) asks again with the same run
    keys, and Dagster never launches a run key twice."""
    put(s3_bucket, "landing/2023-01-01/a.csv")
    put(s3_bucket, "landing/2023-01-04/a.csv")
    a = plan(s3_bucket, S3LandingCursor())
    b = plan(s3_bucket, S3LandingCursor())
    assert [r.run_key for r in a.requests] == [r.run_key for r in b.requests]
    assert len({r.run_key for r in a.requests}) == 2


def test_listing_is_bounded_to_open_days(s3_bucket):
    for d in range(1, 29):
        put(s3_bucket, f"landing/2023-02-{d:02d}/a.csv")
    calls = []
    s3_bucket["client"].meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: calls.append(1))
    first = plan(s3_bucket, S3LandingCursor(), lookback_days=2)
    assert [(r.first, r.last) for r in first.requests] == [("2023-02-01", "2023-02-28")]  # one range run
    assert first.cursor.watermark == "2023-02-28"
    calls.clear()
    put(s3_bucket, "landing/2023-02-27/late.csv")  # late file, open day
    put(s3_bucket, "landing/2023-02-03/very-late.csv")  # closed day: not seen by design
    put(s3_bucket, "landing/2023-03-01/new.csv")  # a new day
    second = plan(s3_bucket, first.cursor, lookback_days=2)
    assert second.listed_days == ["2023-02-26", "2023-02-27", "2023-02-28", "2023-03-01"]
    assert len(calls) == 1 + 4 == second.list_calls
    assert [list(r.names) for r in second.requests] == [["landing/2023-02-27/late.csv"], ["landing/2023-03-01/new.csv"]]
    # the cursor only remembers open days: it does not grow with the bucket's history
    assert {k.split("/")[1] for k in second.cursor.seen} == {"2023-02-27", "2023-02-28", "2023-03-01"}


def test_pagination_and_date_equals_folders(s3_bucket):
    for i in range(5):
        put(s3_bucket, f"landing/date=2023-01-01/part-{i}.csv")
    for d in (2, 3, 4):
        put(s3_bucket, f"landing/2023-01-0{d}/a.csv")
    result = plan_s3_landing(s3_bucket["client"], s3_bucket["bucket"], "landing/", S3LandingCursor(), max_keys=2)
    assert [(r.first, r.last) for r in result.requests] == [("2023-01-01", "2023-01-04")]
    assert len(result.requests[0].names) == 5 + 3
    assert result.list_calls == 2 + 3 + 3  # folder pages (4 folders / 2) + 3 pages for 5 keys + 3 single days


def test_days_outside_the_partitions_stay_due(s3_bucket):
    put(s3_bucket, "landing/2022-12-31/early.csv")
    put(s3_bucket, "landing/2023-01-01/a.csv")
    result = plan(s3_bucket, S3LandingCursor(), is_valid_day=lambda d: d >= "2023-01-01")
    assert [(r.first, r.last) for r in result.requests] == [("2023-01-01", "2023-01-01")]
    assert result.out_of_range == [("landing/2022-12-31/early.csv", "2022-12-31")]
    assert "landing/2022-12-31/early.csv" not in result.cursor.seen


def test_bad_cursor_and_missing_bucket_are_one_line_errors(s3_bucket):
    with pytest.raises(S3LandingError, match="unreadable S3 landing cursor"):
        S3LandingCursor.parse("{not json")
    with pytest.raises(S3LandingError, match="'nope-bucket' failed: the bucket does not exist"):
        plan_s3_landing(s3_bucket["client"], "nope-bucket", "landing", S3LandingCursor())


[s3_landing_sensor] = [s for s in ingestion_sensors("production") if s.name == "s3_landing_sensor"]


def _resource(b, **over) -> S3LandingBucket:
    settings = dict(endpoint_url=b["endpoint_url"], bucket=b["bucket"], prefix="landing",
                    access_key=b["access_key"], secret_key=b["secret_key"], region=b["region"])
    return S3LandingBucket(**{**settings, **over})


def _tick(instance, resource, cursor, folder):
    zone = S3LandingZone(landing_dir=str(folder / "cache"), topology_dir=str(folder / "topology"),
                         state_dir=str(folder / "state"), s3_landing=resource)
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"zone": zone}) as context:
        return s3_landing_sensor(context)


def _day_runs(result):
    return [r for r in result.run_requests if r.asset_selection == [ingestion.raw_measurements.key]]


def _shown(folder):
    """The cache's copies as users know them (bucket/key)."""
    return [f.shown for f in S3LandingCache(folder).scan()[0]]


def test_sensor_across_ticks_rewrites_and_restarts(s3_bucket, tmp_path):
    resource = _resource(s3_bucket)
    with dg.instance_for_test() as instance:
        put(s3_bucket, "landing/2023-01-01/a.csv")
        put(s3_bucket, "landing/2023-01-02/a.csv")
        tick1 = _tick(instance, resource, None, tmp_path)
        assert isinstance(tick1, dg.SensorResult)
        [run] = tick1.run_requests  # consecutive days: one single-run backfill over the range
        assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]) == (
            "2023-01-01", "2023-01-02")
        assert run.tags[LANDING_KEYS_TAG] == "landing/2023-01-01/a.csv,landing/2023-01-02/a.csv"
        assert json.loads(tick1.cursor)["watermark"] == "2023-01-02"

        tick2 = _tick(instance, resource, tick1.cursor, tmp_path)
        assert isinstance(tick2, dg.SkipReason)

        # restart: a new daemon process gets the stored cursor and a fresh resource/client
        put(s3_bucket, "landing/2023-01-02/a.csv", kwh=5.0)
        tick3 = _tick(instance, _resource(s3_bucket), tick1.cursor, tmp_path)
        assert [r.partition_key for r in tick3.run_requests] == ["2023-01-02"]
        assert tick3.run_requests[0].run_key not in {r.run_key for r in tick1.run_requests}
        tick4 = _tick(instance, _resource(s3_bucket), tick3.cursor, tmp_path)
        assert isinstance(tick4, dg.SkipReason)


def test_sensor_reports_a_missing_bucket_clearly(s3_bucket, tmp_path):
    with dg.instance_for_test() as instance, pytest.raises(dg.Failure, match="the bucket does not exist"):
        _tick(instance, _resource(s3_bucket, bucket="missing-bucket"), None, tmp_path)


def test_download_day_fetches_the_objects_of_one_day(s3_bucket, tmp_path):
    put(s3_bucket, "landing/2023-01-01/a.csv", kwh=3.5)
    put(s3_bucket, "landing/2023-01-02/a.csv")
    [path] = _resource(s3_bucket).download_day("2023-01-01", tmp_path)
    assert "3.5" in path.read_text()
    assert _shown(tmp_path) == [f"{s3_bucket['bucket']}/landing/2023-01-01/a.csv"]


def test_production_wiring_loads_before_env_vars_are_resolved(monkeypatch, tmp_path):
    """EnvVar settings are resolved when a run or tick uses them, not when definitions load."""
    from lascopf_assets.definitions import defs as load_defs
    from lascopf_assets.defs.storage.from_env import PG_ENV, S3_ENV, S3_LANDING_ENV

    for env in {*PG_ENV.values(), *S3_ENV.values(), *S3_LANDING_ENV.values()}:
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv("LASCOPF_PROFILE", "production")
    monkeypatch.setenv("LASCOPF_DATA_DIR", str(tmp_path))
    defs = load_defs()  # the real production wiring (resources.build_resources)
    dg.Definitions.validate_loadable(defs)
    assert {"io_manager", "timeseries_io_manager", "s3_landing", "zone"} <= set(defs.resources)


def test_download_day_cache_holds_exactly_what_the_bucket_holds_now(s3_bucket, tmp_path):
    """A deleted object's cache file is removed, so its rows are not ingested again; only files of the day's
    folders named by download_day's own scheme are touched, and no temporary is left behind."""
    put(s3_bucket, "landing/2023-01-05/a.csv")
    put(s3_bucket, "landing/2023-01-05/b.csv", kwh=9.0)
    put(s3_bucket, "landing/date=2023-01-05/c.csv")
    put(s3_bucket, "landing/2023-01-06/a.csv")
    resource = _resource(s3_bucket)
    resource.download_day("2023-01-06", tmp_path)
    (tmp_path / "meter_readings_2023-01-05.csv").write_text("not ours\n")  # a file download_day did not write
    first = resource.download_day("2023-01-05", tmp_path)
    bucket = s3_bucket["bucket"]
    assert len(first) == 3 and _shown(tmp_path) == [f"{bucket}/landing/{k}" for k in (
        "2023-01-05/a.csv", "2023-01-05/b.csv", "2023-01-06/a.csv", "date=2023-01-05/c.csv")]
    s3_bucket["client"].delete_object(Bucket=s3_bucket["bucket"], Key="landing/2023-01-05/b.csv")
    s3_bucket["client"].delete_object(Bucket=s3_bucket["bucket"], Key="landing/date=2023-01-05/c.csv")
    again = resource.download_day("2023-01-05", tmp_path)
    assert len(again) == 1 and _shown(tmp_path) == [f"{bucket}/landing/{k}" for k in ("2023-01-05/a.csv", "2023-01-06/a.csv")]
    visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert len(visible) == 3 and "meter_readings_2023-01-05.csv" in visible
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_an_unchanged_object_keeps_its_local_identity_and_is_not_fetched_again(s3_bucket, tmp_path):
    """Issue 15, defect 3: the cache file's identity (name, size, mtime) follows the object's version, not the
    download time, so reruns over unchanged objects give the same landing identities (data version, index)."""
    from lascopf_assets.lib.ingest.landing import scan_landing

    put(s3_bucket, "landing/2023-01-05/a.csv")
    resource = _resource(s3_bucket)
    resource.download_day("2023-01-05", tmp_path)
    [first], _ = scan_landing(tmp_path)
    inode = (tmp_path / first.name).stat().st_ino
    resource.download_day("2023-01-05", tmp_path)
    [again], _ = scan_landing(tmp_path)
    assert again.identity == first.identity and (tmp_path / again.name).stat().st_ino == inode  # not fetched again
    put(s3_bucket, "landing/2023-01-05/a.csv", kwh=2.0)  # same size, new content and ETag, maybe the same second
    resource.download_day("2023-01-05", tmp_path)
    [rewritten], _ = scan_landing(tmp_path)
    assert rewritten.identity != first.identity and "2.0" in (tmp_path / rewritten.name).read_text()


def test_download_day_skips_an_object_deleted_after_listing(s3_bucket, tmp_path):
    target = tmp_path / "2023-01-05__0__gone.csv"
    assert fetch_object(s3_bucket["client"], s3_bucket["bucket"], "landing/2023-01-05/gone.csv", target) is False
    assert list(tmp_path.iterdir()) == []


REFUSED = {
    "landing/2023-01-05/../evil.csv": "'..' or '.' path segments",
    "landing/2023-01-05/notes.txt": "not a .csv, .csv.gz or .parquet file",
    "landing/2023-01-05/a\\b.csv": "backslashes are not allowed",
    "landing/2023-01-05/-dash.csv": "name must start with a letter or digit",
}


def test_refused_keys_are_neither_requested_nor_downloaded_and_are_logged_once(s3_bucket, tmp_path, capfd):
    put(s3_bucket, "landing/2023-01-05/good.csv")
    for key in REFUSED:
        put(s3_bucket, key)
    result = plan(s3_bucket, S3LandingCursor())
    assert spans(result) == [("2023-01-05", "2023-01-05", ["landing/2023-01-05/good.csv"])]
    assert {o.key: o.refused for o in result.refused}.keys() == REFUSED.keys()
    for o in result.refused:
        assert REFUSED[o.key] in o.refused
    assert plan(s3_bucket, result.cursor).refused == []  # reported once per key version

    cache = tmp_path / "cache"
    cache.mkdir()
    stale = cache / "landing__2023-01-05__..__evil.csv"  # fetched by an older version of download_day
    stale.write_text(CSV.format(day="2023-01-05", kwh=666))
    paths = _resource(s3_bucket).download_day("2023-01-05", cache)
    assert len(paths) == 1 and _shown(cache) == [f"{s3_bucket['bucket']}/landing/2023-01-05/good.csv"]
    assert [p for p in cache.iterdir() if not p.name.startswith(".")] == paths

    with dg.instance_for_test() as instance:
        capfd.readouterr()
        tick1 = _tick(instance, _resource(s3_bucket), None, tmp_path)
        lines = capfd.readouterr().err.splitlines()  # the tick's log, as the sensor page shows it
        assert [r.tags[LANDING_KEYS_TAG] for r in _day_runs(tick1)] == ["landing/2023-01-05/good.csv"]
        for key, reason in REFUSED.items():
            shown = f"{s3_bucket['bucket']}/{key}"
            assert any(" WARNING - " in line and f"landing file {shown!r} is not ingested (2023-01-05)" in line
                       and reason in line for line in lines), key
        tick2 = _tick(instance, _resource(s3_bucket), tick1.cursor, tmp_path)
        assert isinstance(tick2, dg.SkipReason)
        assert "evil.csv" not in capfd.readouterr().err  # once per key version
        put(s3_bucket, "landing/2023-01-05/notes.txt", kwh=2.0)  # a new version is named again
        _tick(instance, _resource(s3_bucket), tick1.cursor, tmp_path)
        err = capfd.readouterr().err
        assert "notes.txt" in err and "evil.csv" not in err
