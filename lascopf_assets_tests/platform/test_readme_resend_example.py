"""The README's "drop a file" example, run as written: a re-sent copy of a day's file ends green.

README.md: with the sensors running, ``cp data/landing/meter_readings_<day>.csv
data/landing/meter_readings_<day>_resend.csv``; the landing sensor requests a raw_measurements run
for that day and automation then materializes the rest. Here the same steps run one after the
other: the zone is ingested (as by ``make demo``), the sensor's first tick skips what is already
ingested, the copy is made, the next tick's request is run, then the downstream day.
"""

import shutil

import dagster as dg

from lascopf_assets.definitions import defs
from lascopf_assets.defs.ingestion.sensors import ingestion_sensors
from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone
from lascopf_assets_tests.local_zone import INGEST, use_local_data_dir

DAY = "2023-01-02"
DOWNSTREAM = [k for k in INGEST if k != "raw_measurements"]


def _metadata(result, asset):
    [event] = [e for e in result.get_asset_materialization_events() if e.materialization.asset_key.to_user_string() == asset]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_a_resent_copy_of_a_days_file_ends_green(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_demo_zone(data, DemoZoneParams(junctions=4, meters_per_junction=(3, 5), days=3, seed=5, glitches=6))
    use_local_data_dir(monkeypatch, data)
    d = defs()
    instance = dg.DagsterInstance.ephemeral()
    [sensor] = [s for s in ingestion_sensors("local") if s.name == "landing_file_sensor"]

    def materialize(selection, **kwargs):
        return dg.materialize(list(d.assets), selection=selection, resources=d.resources, instance=instance,
                              raise_on_error=False, **kwargs)

    assert materialize(["grid_topology"]).success
    before = materialize(INGEST, partition_key=DAY)
    assert before.success
    first = sensor(dg.build_sensor_context(instance=instance, resources={"zone": d.resources["zone"]}))
    assert not [r for r in first.run_requests if r.partition_key == DAY]  # already ingested from this file

    landing = data / "landing"
    shutil.copy(landing / f"meter_readings_{DAY}.csv", landing / f"meter_readings_{DAY}_resend.csv")  # the README's cp
    tick = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor, resources={"zone": d.resources["zone"]}))
    [request] = [r for r in tick.run_requests if r.partition_key == DAY]
    raw = materialize(["raw_measurements"], partition_key=request.partition_key, tags=request.tags)
    rest = materialize(DOWNSTREAM, partition_key=DAY)

    assert raw.success and rest.success
    checks = [*raw.get_asset_check_evaluations(), *rest.get_asset_check_evaluations()]
    assert {c.check_name: c.passed for c in checks} == {
        "landing_files_ingested": True, "rows_accounted_for": True, "quarantine_share_within_limit": True}
    old, new = _metadata(before, "validated_loads"), _metadata(rest, "validated_loads")
    copied_rows = _metadata(raw, "raw_measurements")["rows_ingested"] - _metadata(before, "raw_measurements")["rows_ingested"]
    # every good reading of the copy is a re-delivery: collapsed and counted, nothing more valid; the copy's bad
    # lines (the generator's glitches) are quarantined again under the copy's own name and line
    assert copied_rows == old["rows_in"] > 0 and old["rows_quarantined"] > 0
    assert new["rows_in"] == 2 * old["rows_in"]
    assert new["rows_valid"] == old["rows_valid"]
    assert new["rows_quarantined"] == 2 * old["rows_quarantined"]
    assert new["rows_redelivered"] == copied_rows - old["rows_quarantined"]
    assert new["rows_in"] == new["rows_valid"] + new["rows_quarantined"] + new["rows_redelivered"]
