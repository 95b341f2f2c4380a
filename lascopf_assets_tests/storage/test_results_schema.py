"""The results schema (lascopf_assets/storage/results_schema.py) is what the transmission assets write."""

import uuid

import dagster as dg
import pandas as pd
import pytest

from lascopf_assets.lib.lascopf.result import SUMMARY_COLUMNS
from lascopf_assets.lib.zone.demo import DemoZoneParams
from lascopf_assets.storage.parquet_lake import ParquetLake
from lascopf_assets.storage.pg_tables import PgTableStore
from lascopf_assets.storage.pg_types import pg_type_for
from lascopf_assets.storage.results_schema import LASCOPF_DISPATCH, RESULTS_TABLES, create_reference_tables
from lascopf_assets_tests.local_zone import ingested_demo_zone

DAY = "2023-01-02"


def test_lascopf_dispatch_is_the_summary_with_its_day_and_case():
    assert list(LASCOPF_DISPATCH.columns) == ["timestamp", "case", *SUMMARY_COLUMNS]


@pytest.fixture
def dispatched_day(tmp_path):
    """A demo zone's DAY through ingestion and the transmission assets (local profile); the defs and lake. Corrective
    security with 40 MW ratings, so every results table has rows (the trajectories too)."""
    corrective = {"rating_mw": 40.0, "security": "corrective", "restore_intervals": 2}
    with ingested_demo_zone(tmp_path / "data", DemoZoneParams(junctions=4, meters_per_junction=(3, 5), days=2), [DAY]) as zone:
        assert zone.run(["powersystems_system", *[spec.name for spec in RESULTS_TABLES]], partition_key=DAY,
                        run_config={"ops": {"lascopf_dispatch": {"config": corrective}}}).success
        yield zone, ParquetLake.local(zone.data / "lake")


def test_results_tables_are_exactly_what_the_dispatch_asset_writes(dispatched_day, postgres_dsn):
    zone, lake = dispatched_day
    [dispatch] = [a for a in zone.defs.assets if dg.AssetKey("lascopf_dispatch") in a.keys]
    assert {k.to_user_string() for k in dispatch.keys} == {spec.name for spec in RESULTS_TABLES}

    store = PgTableStore(postgres_dsn, schema=f"results_{uuid.uuid4().hex[:8]}")
    create_reference_tables(store)
    for spec in RESULTS_TABLES:
        frame = lake.read([spec.name], DAY)
        assert len(frame) > 0, spec.name
        assert list(frame.columns) == list(spec.columns), spec.name
        created = {c: pg_type_for(frame[c], spec.name, c) for c in frame.columns}  # None: all NULL
        assert {c: t for c, t in created.items() if t not in (None, spec.columns[c])} == {}, spec.name
        # written into the reference table: no column added, no type refused
        store.write_window(spec.name, frame, pd.Timestamp(DAY, tz="UTC"), pd.Timestamp(DAY, tz="UTC") + pd.Timedelta(days=1))
        assert store.table_columns(spec.name) == dict(spec.columns), spec.name
    store.close()


def test_an_empty_database_takes_optimal_and_infeasible_days_in_any_order(dispatched_day, postgres_dsn):
    """A day without a solution has empty tables and an optimal day has NULL cause/reason: neither may type a column."""
    zone, _ = dispatched_day
    outputs = {}
    for label, config in (("optimal", {}), ("infeasible", {"rating_mw": 20.0})):
        result = zone.run(["powersystems_system", *[spec.name for spec in RESULTS_TABLES]], partition_key=DAY,
                          run_config={"ops": {"lascopf_dispatch": {"config": config}}})
        assert result.success
        outputs[label] = {spec.name: result.output_for_node("lascopf_dispatch", spec.name) for spec in RESULTS_TABLES}
    assert outputs["infeasible"]["lascopf_dispatch"]["status"].item() == "infeasible"
    assert outputs["infeasible"]["generator_dispatch"].empty and outputs["optimal"]["lascopf_dispatch"]["cause"].isna().all()
    start = pd.Timestamp(DAY, tz="UTC")
    for order in (("optimal", "infeasible", "optimal"), ("infeasible", "optimal")):
        store = PgTableStore(postgres_dsn, schema=f"empty_{uuid.uuid4().hex[:8]}")  # nothing created beforehand
        for label in order:
            for spec in RESULTS_TABLES:
                store.write_window(spec.name, outputs[label][spec.name], start, start + pd.Timedelta(days=1))
        for spec in RESULTS_TABLES:
            assert store.table_columns(spec.name) == dict(spec.columns), (order, spec.name)
        assert len(store.load_window("generator_dispatch", start, start + pd.Timedelta(days=1))) == (
            len(outputs[order[-1]]["generator_dispatch"]))
        store.close()
