"""The landing sensor across ticks: new files, rewrites, refusals, unreadable files, a fresh instance."""

import os

import dagster as dg

from lascopf_assets.defs.sensors import landing_file_sensor
from lascopf_assets.definitions import defs
from lascopf_assets.lib.ingest.landing_runs import LandingCursor


def tick(instance, cursor=None):
    d = defs()
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"zone": d.resources["zone"]})
    result = landing_file_sensor(context)
    if isinstance(result, dg.SkipReason):
        return [], cursor, result
    return result.run_requests, result.cursor, None


def test_ticks_request_each_day_once_per_file_version(zone_env):
    instance = dg.DagsterInstance.ephemeral()
    requests, cursor, _ = tick(instance)
    assert sorted(r.partition_key for r in requests) == ["2023-01-01", "2023-01-02", "2023-01-03"]
    assert len({r.run_key for r in requests}) == 3
    assert all(r.run_key.startswith(f"landing:{r.partition_key}:") for r in requests)
    assert len(LandingCursor.parse(cursor).seen) == 3

    # nothing new: a skip, and the cursor is unchanged
    requests2, cursor2, skip = tick(instance, cursor)
    assert requests2 == [] and skip is not None

    # a rewrite of one file (new size and mtime) requests its day again under a new run key
    path = zone_env.out_dir / "landing" / "meter_readings_2023-01-02.csv"
    text = path.read_text()
    path.write_text(text + text.splitlines()[1] + "\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    requests3, cursor3, _ = tick(instance, cursor)
    assert [r.partition_key for r in requests3] == ["2023-01-02"]
    old_key = next(r.run_key for r in requests if r.partition_key == "2023-01-02")
    assert requests3[0].run_key != old_key

    # a new file spanning two days, plus a second file for one of them: one request per day (deduplicated)
    landing = zone_env.out_dir / "landing"
    (landing / "late_a.csv").write_text("meter_id,timestamp,kwh\nm,2023-01-03T23:00:00+00:00,1\nm,2023-01-04T00:00:00+00:00,1\n")
    (landing / "late_b.csv").write_text("meter_id,timestamp,kwh\nm,2023-01-04T05:00:00+00:00,1\n")
    requests4, cursor4, _ = tick(instance, cursor3)
    by_day = {r.partition_key: r for r in requests4}
    assert sorted(by_day) == ["2023-01-03", "2023-01-04"]
    assert by_day["2023-01-04"].tags["lascopf/landing_files"].count("late_") == 2


def test_refused_and_unreadable_files(zone_env):
    landing = zone_env.out_dir / "landing"
    (landing / "notes.txt").write_text("hello")
    (landing / "broken_2023-01-02.csv").write_text("not,a,landing\nfile,at,all\n")
    (landing / "broken_nodate.csv").write_text("x\n")
    requests, cursor, _ = tick(dg.DagsterInstance.ephemeral())
    state = LandingCursor.parse(cursor)
    assert "notes.txt" in state.refused
    # the unreadable file that names a day gets that day's run (which fails naming it); the other is logged
    assert "broken_2023-01-02.csv" in next(r for r in requests if r.partition_key == "2023-01-02").tags["lascopf/landing_files"]
    assert not any("broken_nodate" in r.tags["lascopf/landing_files"] for r in requests)


def test_rows_outside_the_partitions_are_not_requested(zone_env):
    (zone_env.out_dir / "landing" / "old.csv").write_text("meter_id,timestamp,kwh\nm,2019-05-01T00:00:00+00:00,1\n")
    requests, _, _ = tick(dg.DagsterInstance.ephemeral())
    assert "2019-05-01" not in {r.partition_key for r in requests}


def test_fresh_instance_without_cursor_requests_everything_again(zone_env):
    first, _, _ = tick(dg.DagsterInstance.ephemeral())
    again, _, _ = tick(dg.DagsterInstance.ephemeral())
    # same file versions -> same run keys (Dagster de-duplicates them on an instance that has seen them)
    assert sorted(r.run_key for r in first) == sorted(r.run_key for r in again)


def test_bad_cursor_version_is_refused():
    import pytest

    with pytest.raises(ValueError, match="cursor has version"):
        LandingCursor.parse('{"v": 99}')
