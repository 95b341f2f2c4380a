"""The landing sensor across ticks: new files, rewrites, refusals, unreadable files, a fresh instance."""

import os

import dagster as dg

from lascopf_assets.definitions import defs
from lascopf_assets.defs.ingestion import assets as ingestion
from lascopf_assets.defs.ingestion.sensors import ingestion_sensors
from lascopf_assets.defs.ingestion.topology import grid_topology

[landing_file_sensor] = [s for s in ingestion_sensors("local") if s.name == "landing_file_sensor"]
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def tick(instance, cursor=None):
    d = defs()
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"zone": d.resources["zone"]})
    result = landing_file_sensor(context)
    if isinstance(result, dg.SkipReason):
        return [], cursor, result
    return result.run_requests, result.cursor, None


def state_of(cursor):
    """The sensor state a cursor names (kept beside the landing index)."""
    return defs().resources["zone"].landing_cursor_store().load(cursor)[0]


def days_of(request):
    if request.partition_key:
        return (request.partition_key, request.partition_key)
    return (request.tags[RANGE_START], request.tags[RANGE_END])


def test_ticks_request_each_file_version_once(zone_env):
    instance = dg.DagsterInstance.ephemeral()
    requests, cursor, _ = tick(instance)
    # three consecutive days of files: one single-run request over the range
    assert [days_of(r) for r in requests] == [("2023-01-01", "2023-01-03")]
    assert requests[0].run_key.startswith("landing:2023-01-01..2023-01-03:")
    assert len(state_of(cursor).seen) == 3

    # nothing new: a skip, and the cursor is unchanged (a SkipReason carries no new cursor)
    requests2, cursor2, skip = tick(instance, cursor)
    assert requests2 == [] and skip is not None and cursor2 == cursor
    assert skip.skip_message == "no new landing files among 3"

    # a rewrite of one file (new size and mtime) requests its day again, as a single partition
    path = zone_env.out_dir / "landing" / "meter_readings_2023-01-02.csv"
    text = path.read_text()
    path.write_text(text + text.splitlines()[1] + "\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    requests3, cursor3, _ = tick(instance, cursor)
    assert [r.partition_key for r in requests3] == ["2023-01-02"]
    assert requests3[0].run_key.startswith("landing:2023-01-02:")

    # new files on the 3rd and 4th and the 6th: one range request for 3..4, one for the 6th
    landing = zone_env.out_dir / "landing"
    (landing / "late_a.csv").write_text("meter_id,timestamp,kwh\nm,2023-01-03T23:00:00+00:00,1\nm,2023-01-04T00:00:00+00:00,1\n")
    (landing / "late_b.csv").write_text("meter_id,timestamp,kwh\nm,2023-01-04T05:00:00+00:00,1\nm,2023-01-06T05:00:00+00:00,1\n")
    requests4, _, _ = tick(instance, cursor3)
    assert sorted(days_of(r) for r in requests4) == [("2023-01-03", "2023-01-04"), ("2023-01-06", "2023-01-06")]
    span = next(r for r in requests4 if not r.partition_key)
    assert span.tags["lascopf/landing_files"].count("late_") == 2


def test_refused_and_unreadable_files_are_reported_once(zone_env):
    landing = zone_env.out_dir / "landing"
    (landing / "notes.txt").write_text("hello")
    (landing / "broken_2023-01-05.csv").write_text("not,a,landing\nfile,at,all\n")
    (landing / "broken_nodate.csv").write_text("x\n")
    instance = dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(instance=instance, resources={"zone": defs().resources["zone"]})
    result = landing_file_sensor(context)
    days = [r for r in result.run_requests if r.asset_selection == [ingestion.raw_measurements.key]]
    # the unreadable file that names a day gets that day's run (which names it and ingests the rest); the other is logged
    assert [days_of(r) for r in days] == [("2023-01-01", "2023-01-03"), ("2023-01-05", "2023-01-05")]
    assert "broken_2023-01-05.csv" in days[1].tags["lascopf/landing_files"]
    assert not any("broken_nodate" in r.tags["lascopf/landing_files"] for r in days)
    # every rejection is recorded: one request for the rejected_landing_files record
    [record] = [r for r in result.run_requests if r.asset_selection == [ingestion.rejected_landing_files.key]]
    assert record.run_key.startswith("rejections:")
    state = state_of(result.cursor)
    assert sorted(i.split(":")[0] for i in state.rejected) == ["broken_2023-01-05.csv", "broken_nodate.csv", "notes.txt"]
    # the next tick has nothing new to report and requests nothing
    again, cursor2, skip = tick(instance, result.cursor)
    assert again == [] and skip is not None
    # a removed rejected file changes the record: a new request for it, and nothing else
    (landing / "notes.txt").unlink()
    later, _, _ = tick(instance, cursor2)
    assert [r.asset_selection for r in later] == [[ingestion.rejected_landing_files.key]]


def test_rejections_are_named_on_the_sensor_tick(zone_env, capfd):
    (zone_env.out_dir / "landing" / "broken_2023-01-05.csv").write_text("not,a,landing\nfile,at,all\n")
    (zone_env.out_dir / "landing" / "notes.txt").write_text("hello")
    capfd.readouterr()
    _, cursor, _ = tick(dg.DagsterInstance.ephemeral())
    lines = capfd.readouterr().err.splitlines()  # the tick's log, as the sensor page shows it
    assert any(" ERROR - " in line and "'broken_2023-01-05.csv' is not ingested (2023-01-05): missing required column(s)" in line
               and "ingested without it" in line for line in lines)
    assert any(" WARNING - " in line and "'notes.txt' is not ingested (no known day)" in line for line in lines)
    tick(dg.DagsterInstance.ephemeral(), cursor)
    assert "broken_2023-01-05.csv" not in capfd.readouterr().err  # reported once


def test_rows_outside_the_partitions_are_not_requested(zone_env):
    (zone_env.out_dir / "landing" / "old.csv").write_text("meter_id,timestamp,kwh\nm,2019-05-01T00:00:00+00:00,1\n")
    requests, _, _ = tick(dg.DagsterInstance.ephemeral())
    assert [days_of(r) for r in requests] == [("2023-01-01", "2023-01-03")]


def test_fresh_instance_without_cursor_requests_everything_again(zone_env):
    first, _, _ = tick(dg.DagsterInstance.ephemeral())
    again, _, _ = tick(dg.DagsterInstance.ephemeral())
    # same file versions -> same run keys (Dagster de-duplicates them on an instance that has seen them)
    assert [r.run_key for r in first] == [r.run_key for r in again]


def test_first_tick_skips_days_already_ingested_from_the_same_files(zone_env):
    instance = dg.DagsterInstance.ephemeral()
    resources = defs().resources
    assets = [grid_topology, ingestion.raw_measurements]
    assert dg.materialize(assets, selection=["grid_topology"], resources=resources, instance=instance).success
    assert dg.materialize(assets, selection=["raw_measurements"], resources=resources, instance=instance,
                          partition_key="2023-01-02").success
    requests, cursor, _ = tick(instance)
    assert sorted(days_of(r) for r in requests) == [("2023-01-01", "2023-01-01"), ("2023-01-03", "2023-01-03")]
    # a file rewritten after that ingestion is new again on a later tick
    path = zone_env.out_dir / "landing" / "meter_readings_2023-01-02.csv"
    path.write_text(path.read_text())
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    later, _, _ = tick(instance, cursor)
    assert [r.partition_key for r in later] == ["2023-01-02"]


def test_bad_cursor_version_is_refused(zone_env):
    import pytest

    with pytest.raises(ValueError, match="cursor has version"):
        state_of('{"v": 99}')


def test_the_cursor_stays_small_and_an_unstored_tick_loses_nothing(zone_env):
    landing = zone_env.out_dir / "landing"
    for i in range(200):  # many files: the cursor does not grow with them
        (landing / f"extra_{i:03d}_2023-01-02.csv").write_text(f"meter_id,timestamp,kwh\nm{i},2023-01-02T05:00:00+00:00,1\n")
    instance = dg.DagsterInstance.ephemeral()
    requests, cursor, _ = tick(instance)
    assert requests and len(cursor) < 100 and len(state_of(cursor).seen) == 203
    # a new file: the tick's cursor is never stored (say the daemon died before committing it) ...
    (landing / "late_2023-01-03.csv").write_text("meter_id,timestamp,kwh\nm,2023-01-03T05:00:00+00:00,1\n")
    lost, _lost_cursor, _ = tick(instance, cursor)
    assert [days_of(r) for r in lost] == [("2023-01-03", "2023-01-03")]
    # ... so the next tick starts again from the stored cursor and requests the file again
    again, cursor2, _ = tick(instance, cursor)
    assert [r.run_key for r in again] == [r.run_key for r in lost]
    assert tick(instance, cursor2)[0] == []
    # a v1 cursor (the state inline) is read, and replaced by a small one on the next tick
    inline = '{"v": 1, "seen": {}}'
    assert len(tick(instance, inline)[1]) < 100


def test_topology_sensor_first_tick_recognises_a_built_topology(zone_env):
    [topology_sensor] = [s for s in ingestion_sensors("local") if s.name == "topology_file_sensor"]
    d = defs()
    resources = {"zone": d.resources["zone"], "feeder_heads": d.resources["feeder_heads"]}

    def topology_tick(instance, cursor=None):
        return topology_sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources))

    # nothing built yet: the first tick builds it
    assert len(topology_tick(dg.DagsterInstance.ephemeral()).run_requests) == 1
    # built (as by `make demo`) from these very files: the first tick only remembers them
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([grid_topology], resources=d.resources, instance=instance).success
    first = topology_tick(instance)
    assert first.run_requests == [] and first.cursor and "already built" in first.skip_reason.skip_message
    # a changed topology file is a new version: the next tick requests it
    path = zone_env.out_dir / "topology" / "grid_topology.csv"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert len(topology_tick(instance, first.cursor).run_requests) == 1
