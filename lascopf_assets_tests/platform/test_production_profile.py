"""The production profile end to end: landing files in S3, time series in PostgreSQL, Parquet in S3.

Real servers from the fixtures (a PostgreSQL, moto's S3 server on 127.0.0.1); the
resources come from ``build_resources()`` with ``LASCOPF_PROFILE=production``.
"""

import dagster as dg
import pandas as pd
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from lascopf_assets.definitions import defs
from lascopf_assets.defs.ingestion import assets as ingestion
from lascopf_assets.defs.ingestion.topology import grid_topology
from lascopf_assets.lib.ingest.aggregation import aggregate_by_junction
from lascopf_assets.lib.ingest.landing import read_landing_file
from lascopf_assets.lib.ingest.validation import validate_readings
from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone
from lascopf_assets.lib.zone.topology import meters_by_junction, read_topology
from lascopf_assets_tests import dev_servers

DAY = "2023-01-02"


@pytest.fixture
def own_database(pg_admin_dsn):
    """A database of this test's own: the session's shared one may hold a junction_aggregates table another test
    wrote (the table is read whole below)."""
    with dev_servers.scratch_database(pg_admin_dsn) as dsn:
        yield dsn


@pytest.fixture
def production_env(tmp_path, monkeypatch, own_database, s3_bucket):
    postgres_dsn = own_database
    zone = write_demo_zone(tmp_path / "zone", DemoZoneParams(junctions=4, meters_per_junction=(3, 5), days=3, seed=5))
    client = s3_bucket["client"]
    for path in zone.paths:  # the utility drops files into day folders of the landing bucket
        day = path.stem.rsplit("_", 1)[1]
        client.upload_file(str(path), s3_bucket["bucket"], f"incoming/{day}/{path.name}")
    pg = conninfo_to_dict(postgres_dsn)
    env = {
        "LASCOPF_PROFILE": "production",
        "LASCOPF_DATA_DIR": str(tmp_path / "work"),
        "LASCOPF_TOPOLOGY_DIR": str(zone.topology_path.parent),
        "LASCOPF_PG_HOST": pg.get("host", "127.0.0.1"), "LASCOPF_PG_PORT": str(pg.get("port", 5432)),
        "LASCOPF_PG_USER": pg.get("user", "postgres"), "LASCOPF_PG_PASSWORD": pg.get("password", ""),
        "LASCOPF_PG_DB": pg["dbname"],
        "LASCOPF_S3_ENDPOINT_URL": s3_bucket["endpoint_url"], "LASCOPF_S3_BUCKET": s3_bucket["bucket"],
        "LASCOPF_S3_PREFIX": "lake", "LASCOPF_S3_ACCESS_KEY": s3_bucket["access_key"],
        "LASCOPF_S3_SECRET_KEY": s3_bucket["secret_key"], "LASCOPF_S3_REGION": s3_bucket["region"],
        "LASCOPF_S3_LANDING_BUCKET": s3_bucket["bucket"], "LASCOPF_S3_LANDING_PREFIX": "incoming",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("LASCOPF_LANDING_DIR", "LASCOPF_STATE_DIR", "LASCOPF_LAKE_DIR", "LASCOPF_EXPORTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    return zone, postgres_dsn, s3_bucket


def table(dsn, name):
    with psycopg.connect(dsn) as conn:
        return pd.read_sql_query(sql.SQL("SELECT * FROM {}").format(sql.Identifier(name)).as_string(conn), conn)


def test_ingestion_chain_on_postgres_and_s3(production_env):
    zone, dsn, bucket = production_env
    d = defs()
    dg.Definitions.validate_loadable(d)
    assets = [grid_topology, ingestion.raw_measurements, ingestion.validated_loads, ingestion.junction_aggregates]
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize(assets, selection=["grid_topology"], resources=d.resources, instance=instance).success
    # grid_topology (not a time series) went to the S3 lake
    keys = [o["Key"] for o in bucket["client"].list_objects_v2(Bucket=bucket["bucket"], Prefix="lake/")["Contents"]]
    assert "lake/grid_topology.parquet" in keys

    result = dg.materialize(assets, selection=["raw_measurements", "validated_loads", "quarantined_measurements", "junction_aggregates"],
                            resources=d.resources, instance=instance, partition_key=DAY)
    assert result.success

    # the same numbers as the core computes from the same file, now in PostgreSQL tables
    day_file = next(p for p in zone.paths if DAY in p.name)
    meters = meters_by_junction(read_topology(zone.topology_path))
    expected = aggregate_by_junction(validate_readings(read_landing_file(day_file), meters).valid)
    got = table(dsn, "junction_aggregates").sort_values(["timestamp", "junction"], ignore_index=True)
    assert len(got) == len(expected) > 0
    assert got["kwh"].to_numpy() == pytest.approx(expected["kwh"].to_numpy())
    raw = table(dsn, "raw_measurements")
    assert len(raw) == len(read_landing_file(day_file))
    assert set(raw["source_file"]) == {f"{bucket['bucket']}/incoming/{DAY}/{day_file.name}"}  # the object, not its cache file
    assert len(table(dsn, "validated_loads")) == len(raw)
