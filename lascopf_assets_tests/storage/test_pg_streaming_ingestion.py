"""The ingestion chain's time series in PostgreSQL (the production path): a range run streams one transaction
per day and leaves the tables exactly as its day runs do; a failure on day k keeps day k's old rows."""

import os

import dagster as dg
import pandas as pd
import pytest
from psycopg.conninfo import conninfo_to_dict

from lascopf_assets.defs.ingestion import assets as ingestion
from lascopf_assets.defs.ingestion.topology import grid_topology
from lascopf_assets.defs.resources import FeederHeads, LandingZone
from lascopf_assets.defs.storage.lake_io_managers import ParquetLakeIOManager
from lascopf_assets.defs.storage.table_io_manager import PostgresTableIOManager
from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone
from lascopf_assets.storage.pg_tables import PgTableStore

DAILY = ["raw_measurements", "validated_loads", "quarantined_measurements", "junction_aggregates"]
ASSETS = [grid_topology, ingestion.raw_measurements, ingestion.validated_loads, ingestion.junction_aggregates]
D0 = pd.Timestamp("2023-01-01", tz="UTC")
LENIENT = {"ops": {"validated_loads": {"config": {"max_quarantine_share": 0.5}}}}
RANGE = {"dagster/asset_partition_range_start": "2023-01-01", "dagster/asset_partition_range_end": "2023-01-03"}


@pytest.fixture
def pg_zone(tmp_path, postgres_dsn):
    data = tmp_path / "data"
    write_demo_zone(data, DemoZoneParams(junctions=4, meters_per_junction=(3, 5), days=3, seed=8, glitches=6))
    pg = conninfo_to_dict(postgres_dsn)
    resources = {
        "io_manager": ParquetLakeIOManager(base_path=str(data / "lake")),
        "timeseries_io_manager": PostgresTableIOManager(
            host=pg.get("host", "127.0.0.1"), port=int(pg.get("port", 5432)), user=pg.get("user", "postgres"),
            password=pg.get("password", ""), dbname=pg["dbname"]),
        "zone": LandingZone(landing_dir=str(data / "landing"), topology_dir=str(data / "topology"),
                            state_dir=str(data / "state")),
        "feeder_heads": FeederHeads(),
    }
    return data, resources, PgTableStore(postgres_dsn)


def tables(store: PgTableStore) -> dict[str, pd.DataFrame]:
    out = {}
    for name in DAILY:
        frame = store.load_window(name, D0, D0 + pd.Timedelta(days=3))
        sort = [c for c in ("timestamp", "source_file", "source_row", "junction") if c in frame.columns]
        out[name] = frame.drop(columns=["ingested_at"], errors="ignore").sort_values(sort, ignore_index=True)
    return out


def test_a_range_on_postgres_equals_its_day_runs_and_fails_cleanly_on_day_k(pg_zone):
    data, resources, store = pg_zone
    instance = dg.DagsterInstance.ephemeral()

    def run(selection, **kwargs):
        return dg.materialize(ASSETS, selection=selection, resources=resources, instance=instance, raise_on_error=False,
                              run_config=LENIENT if "validated_loads" in selection else None, **kwargs)

    assert run(["grid_topology"]).success
    for day in ("2023-01-01", "2023-01-02", "2023-01-03"):
        assert run(DAILY, partition_key=day).success
    by_day = tables(store)
    assert run(DAILY, tags=RANGE).success
    by_range = tables(store)
    for name in DAILY:
        pd.testing.assert_frame_equal(by_range[name], by_day[name], obj=name)
    assert len(by_range["quarantined_measurements"]) > 0

    # day 2's file becomes unreadable behind the index's back: day 1 is replaced, days 2 and 3 keep their rows
    raw_before = store.load_window("raw_measurements", D0, D0 + pd.Timedelta(days=3))
    bad = data / "landing" / "meter_readings_2023-01-02.csv"
    st = bad.stat()
    bad.write_text(bad.read_text().replace("meter_id", "meter_xx", 1))
    os.utime(bad, ns=(st.st_atime_ns, st.st_mtime_ns))
    failed = run(DAILY, tags=RANGE)
    assert not failed.success
    assert f"{bad}:1: missing required column(s) meter_id" in failed.get_step_failure_events()[0].step_failure_data.error.message
    raw_after = store.load_window("raw_measurements", D0, D0 + pd.Timedelta(days=3))
    day = raw_after["timestamp"].dt.strftime("%Y-%m-%d")
    old_day = raw_before["timestamp"].dt.strftime("%Y-%m-%d")
    assert (raw_after.loc[day == "2023-01-01", "ingested_at"] > raw_before["ingested_at"].max()).all()
    pd.testing.assert_frame_equal(raw_after[day != "2023-01-01"].reset_index(drop=True),
                                  raw_before[old_day != "2023-01-01"].reset_index(drop=True))
    store.close()
