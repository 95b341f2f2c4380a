"""The data side through Dagster: single partitions, single-run ranges, failures, checks, topology versions."""

import shutil

import dagster as dg
import pandas as pd
import pytest

from lascopf_assets.definitions import defs
from lascopf_assets.defs.ingestion import assets as ingestion
from lascopf_assets.defs.ingestion.topology import grid_topology
from lascopf_assets.storage.parquet_lake import ParquetLake

DAILY = ["raw_measurements", "validated_loads", "quarantined_measurements", "junction_aggregates"]
ASSETS = [grid_topology, ingestion.raw_measurements, ingestion.validated_loads, ingestion.junction_aggregates,
          ingestion.rejected_landing_files]


def run(selection, instance=None, run_config=None, **kwargs):
    d = defs()
    return dg.materialize(
        ASSETS, selection=selection, resources=d.resources, instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False, run_config=run_config, **kwargs,
    )


def lake(summary):
    return ParquetLake.local(summary.out_dir / "lake")


def range_tags(first: str, last: str) -> dict[str, str]:
    """Tags that make one run over the day partitions first..last (a single-run backfill)."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def check_status(instance, asset: str, check: str, run_id: str) -> str:
    """The check's resolved status in ``run_id`` as the UI shows it (a planned check the run never evaluated: SKIPPED)."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    records = [r for r in instance.event_log_storage.get_asset_check_execution_history(key, limit=20) if r.run_id == run_id]
    # a range run plans the check per partition and records its one evaluation for the range
    evaluated = {r.status for r in records} - {AssetCheckExecutionRecordStatus.PLANNED}
    if not evaluated:
        assert records and instance.get_run_by_id(run_id).is_success
        return "SKIPPED"  # what AssetCheckExecutionRecord.resolve_status gives a planned check of a finished, successful run
    [status] = evaluated
    return status.value


def logs_of(instance, run_id: str) -> list[str]:
    return [e.user_message for e in instance.all_logs(run_id)]


def materializations(result, asset):
    return [e.materialization for e in result.get_asset_materialization_events() if e.materialization.asset_key.to_user_string() == asset]


def test_single_run_range_writes_one_file_per_day(zone_env):
    instance = dg.DagsterInstance.ephemeral()
    assert run(["grid_topology"], instance).success
    result = run(DAILY, instance, tags=range_tags("2023-01-01", "2023-01-03"))
    assert result.success
    # one run wrote all three days: the instance holds the topology run and this range run, nothing else
    assert [r.dagster_run.run_id for r in instance.get_run_records()][0] == result.run_id
    assert len(instance.get_run_records()) == 2
    assert sorted(m.partition for m in materializations(result, "junction_aggregates")) == ["2023-01-01", "2023-01-02", "2023-01-03"]
    meta = materializations(result, "validated_loads")[0].metadata
    assert meta["rows_in"].value == meta["rows_valid"].value + meta["rows_quarantined"].value == zone_env.rows
    # every day's materialization carries the run's figures, and says so
    for asset in ("raw_measurements", "validated_loads", "quarantined_measurements", "junction_aggregates"):
        for m in materializations(result, asset):
            assert m.metadata["metadata_scope"].value.startswith("the whole run: 3 days 2023-01-01..2023-01-03")
    store = lake(zone_env)
    assert store.partition_keys(["junction_aggregates"]) == ["2023-01-01", "2023-01-02", "2023-01-03"]
    agg = store.read_partitions(["junction_aggregates"], ["2023-01-01", "2023-01-02", "2023-01-03"])
    # the aggregates carry every valid kWh, and the junction -> phase map is the generator's truth
    valid = store.read_partitions(["validated_loads"], ["2023-01-01", "2023-01-02", "2023-01-03"])
    assert agg["kwh"].sum() == pytest.approx(valid["kwh"].sum())
    assert dict(agg.drop_duplicates("junction")[["junction", "phase"]].values) == zone_env.junction_phase
    assert {c.check_name: c.passed for c in result.get_asset_check_evaluations()} == {
        "landing_files_ingested": True, "rows_accounted_for": True, "quarantine_share_within_limit": True}
    # the demo zone has no SCADA voltage: that check had nothing to judge, so it was not evaluated (skipped, not
    # passed), and the materialization and the log say why
    assert meta["checks_not_judged"].value == {"voltage_within_band": "no SCADA voltage in these readings"}
    assert check_status(instance, "validated_loads", "voltage_within_band", result.run_id) == "SKIPPED"
    assert check_status(instance, "validated_loads", "rows_accounted_for", result.run_id) == "SUCCEEDED"
    assert any("check voltage_within_band not judged: no SCADA voltage" in (m or "") for m in logs_of(instance, result.run_id))


def test_bad_rows_are_quarantined_and_the_check_blocks(zone_env):
    landing = zone_env.out_dir / "landing"
    day = landing / "meter_readings_2023-01-02.csv"
    lines = day.read_text().splitlines()
    meter = lines[1].split(",")[0]
    lines += [f"{meter},2023-01-02T05:00:00+00:00,-3", f"{meter},2023-01-02T06:30:00+00:00,1", "ghost,2023-01-02T01:00:00+00:00,1",
              f"{meter},2023-01-02T07:00:00+00:00,lots", f"{meter},2023-01-02T08:00:00,1", lines[1].rsplit(",", 1)[0] + ",9.5"]
    day.write_text("\n".join(lines) + "\n")
    instance = dg.DagsterInstance.ephemeral()
    assert run(["grid_topology"], instance).success
    result = run(DAILY, instance, partition_key="2023-01-02")
    assert result.success
    q = lake(zone_env).read(["quarantined_measurements"], "2023-01-02")
    n = len(lines) - 1
    assert sorted(q["rule"]) == sorted(["kwh_negative", "timestamp_off_interval", "meter_unknown", "kwh_not_numeric",
                                         "timestamp_without_utc_offset", "duplicate_reading"])
    assert sorted(q["source_row"]) == list(range(n - 4, n + 2))  # the appended lines, by line number
    # a strict limit makes the blocking check fail the run, and aggregates are not produced
    strict = {"ops": {"validated_loads": {"config": {"max_quarantine_share": 0.0001}}}}
    shutil.rmtree(zone_env.out_dir / "lake" / "junction_aggregates")
    result = run(DAILY, instance, run_config=strict, partition_key="2023-01-02")
    assert not result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["quarantine_share_within_limit"] is False and checks["rows_accounted_for"] is True
    assert not lake(zone_env).exists(["junction_aggregates"], "2023-01-02")


def check_evaluation(result, name):
    [evaluation] = [c for c in result.get_asset_check_evaluations() if c.check_name == name]
    return evaluation


def test_an_unreadable_file_is_named_and_its_day_is_ingested_without_it(zone_env):
    instance = dg.DagsterInstance.ephemeral()
    assert run(["grid_topology"], instance).success
    assert run(DAILY, instance, partition_key="2023-01-01").success
    before = lake(zone_env).read(["raw_measurements"], "2023-01-01")
    (zone_env.out_dir / "landing" / "late_2023-01-01.csv").write_text("meter,when,value\nx,y,z\n")
    result = run(DAILY, instance, partition_key="2023-01-01")
    # default policy "warn": the day's good file is ingested, the run is green, the rejected file is named
    assert result.success
    check = check_evaluation(result, "landing_files_ingested")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "late_2023-01-01.csv" in check.description and "missing required column(s)" in check.description
    meta = materializations(result, "raw_measurements")[0].metadata
    assert meta["rejected_files"].value == 1 and "late_2023-01-01.csv" in meta["rejected_files_table"].value
    errors = [e.user_message for e in instance.all_logs(result.run_id) if e.level >= 40]
    assert any("late_2023-01-01.csv" in m and "missing required column(s)" in m for m in errors)
    after = lake(zone_env).read(["raw_measurements"], "2023-01-01")
    pd.testing.assert_frame_equal(before.drop(columns="ingested_at"), after.drop(columns="ingested_at"))
    assert {m.partition for m in materializations(result, "junction_aggregates")} == {"2023-01-01"}

    # policy "fail": the check fails with ERROR severity and blocks the rest of the run
    strict = run(DAILY, instance, partition_key="2023-01-01",
                 run_config={"ops": {"raw_measurements": {"config": {"rejected_files": "fail"}}}})
    assert not strict.success
    assert check_evaluation(strict, "landing_files_ingested").severity == dg.AssetCheckSeverity.ERROR
    assert materializations(strict, "validated_loads") == []

    # a day whose only file cannot be read has nothing to ingest: its run fails naming the file, the lake keeps the day
    (zone_env.out_dir / "landing" / "meter_readings_2023-01-02.csv").write_text("meter;when\n1;2\n")
    day2 = run(DAILY, instance, partition_key="2023-01-02")
    assert not day2.success
    failure = [e for e in day2.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "meter_readings_2023-01-02.csv" in failure.step_failure_data.error.message
    assert not lake(zone_env).exists(["raw_measurements"], "2023-01-02")


def test_rejected_landing_files_is_a_queryable_record(zone_env):
    landing = zone_env.out_dir / "landing"
    (landing / "late_2023-01-01.csv").write_text("meter,when,value\nx,y,z\n")
    (landing / "notes.txt").write_text("hello")
    (landing / "garbage.csv").write_bytes(b"\x00\x01")
    (landing / "corrupt_2023-01-02.csv.gz").write_bytes(b"\x1f\x8b\x08\x00not gzip at all")
    (landing / "linked.csv").symlink_to(landing / "meter_readings_2023-01-01.csv")
    instance = dg.DagsterInstance.ephemeral()
    first = run(["rejected_landing_files"], instance)
    assert first.success
    table = lake(zone_env).read(["rejected_landing_files"])
    assert list(table.columns) == ["file", "identity", "kind", "reason", "day", "first_seen"]
    rows = {r.file: r for r in table.itertuples()}
    assert set(rows) == {"corrupt_2023-01-02.csv.gz", "garbage.csv", "late_2023-01-01.csv", "linked.csv", "notes.txt"}
    assert rows["linked.csv"].kind == "refused_name" and "symbolic links" in rows["linked.csv"].reason
    assert "gzip" in rows["corrupt_2023-01-02.csv.gz"].reason and rows["corrupt_2023-01-02.csv.gz"].day == "2023-01-02"
    assert rows["garbage.csv"].kind == "unreadable" and pd.isna(rows["garbage.csv"].day)
    assert rows["late_2023-01-01.csv"].kind == "unreadable" and rows["late_2023-01-01.csv"].day == "2023-01-01"
    assert "missing required column(s)" in rows["late_2023-01-01.csv"].reason
    assert rows["notes.txt"].kind == "refused_name" and pd.isna(rows["notes.txt"].day)
    assert rows["late_2023-01-01.csv"].identity.startswith("late_2023-01-01.csv:")
    # first seen is kept across materializations; a removed file leaves the record
    (landing / "notes.txt").unlink()
    (landing / "linked.csv").unlink()
    (landing / "corrupt_2023-01-02.csv.gz").unlink()
    assert run(["rejected_landing_files"], instance).success
    again = lake(zone_env).read(["rejected_landing_files"])
    assert set(again["file"]) == {"garbage.csv", "late_2023-01-01.csv"}
    kept = table[table.file.isin(["garbage.csv", "late_2023-01-01.csv"])]
    assert again.set_index("file")["first_seen"].to_dict() == kept.set_index("file")["first_seen"].to_dict()


def test_new_topology_version_applies_from_its_date(zone_env):
    topo_dir = zone_env.out_dir / "topology"
    original = (topo_dir / "grid_topology.csv").read_text().splitlines()
    # from 2023-01-02 every meter of one junction hangs under another junction's node: a new version
    meters = {m: j for m, j in zone_env.meter_junction.items()}
    moved_junction = sorted(zone_env.junction_phase)[0]
    phase_of = zone_env.junction_phase
    target_junction = next(j for j in sorted(phase_of) if phase_of[j] != phase_of[moved_junction])
    header, rows = original[0], [r.split(",") for r in original[1:]]
    cols = header.split(",")
    t1 = cols.index("terminal1_cn")
    node_of = {r[0]: r for r in rows}
    target_node = next(r[t1] for r in rows if r[0] in meters and meters[r[0]] == target_junction)
    for r in rows:
        if r[0] in meters and meters[r[0]] == moved_junction:
            r[t1] = target_node
            r[cols.index("phases")] = node_of[target_junction][cols.index("phases")]
    (topo_dir / "grid_topology_2023-01-02.csv").write_text("\n".join([header, *(",".join(r) for r in rows)]) + "\n")
    instance = dg.DagsterInstance.ephemeral()
    topo = run(["grid_topology"], instance)
    assert materializations(topo, "grid_topology")[0].metadata["versions"].value == 2
    assert run(DAILY, instance, tags=range_tags("2023-01-01", "2023-01-02")).success
    store = lake(zone_env)
    day1 = store.read(["junction_aggregates"], "2023-01-01")
    day2 = store.read(["junction_aggregates"], "2023-01-02")
    assert moved_junction in set(day1["junction"]) and moved_junction not in set(day2["junction"])


def test_definitions_load_for_the_local_profile(zone_env):
    d = defs()
    dg.Definitions.validate_loadable(d)
    keys = {k.to_user_string() for k in d.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw_measurements", "grid_topology", "validated_loads", "quarantined_measurements", "junction_aggregates"} <= keys
    assert {"landing_file_sensor", "topology_file_sensor", "automation_sensor"} <= {s.name for s in d.sensors}
    assert d.get_sensor_def("automation_sensor").default_status == dg.DefaultSensorStatus.RUNNING
