"""Production IO managers: PostgreSQL/TimescaleDB tables and the Parquet lake on S3.

Thin Dagster wrappers around :mod:`lascopf_assets.lib.storage.pg_tables` and
:mod:`lascopf_assets.lib.storage.s3_lake`, plus the ``s3_landing`` resource the
S3 landing sensor (``sensors_s3.py``) uses. Connection settings come from the
environment through ``dg.EnvVar`` (see ``.env.example``); the ``*_from_env``
helpers build the configured IO managers for ``resources.py``.

Table IO manager contract (the same as the Parquet lake's):

* table name: the asset key path joined with ``__`` (override with definition
  metadata ``pg_table``), in schema ``db_schema``;
* a partitioned output (one day or a single-run range) replaces the rows of the
  output's partition time window in one transaction; the time column is the
  metadata ``partition_time_column`` (default ``timestamp``), rows outside the
  window are refused;
* a partitioned input loads the window of the requested partitions (a range
  input is one query); an unpartitioned output replaces the whole table.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import dagster as dg
import pandas as pd
from botocore.config import Config as BotoConfig
from psycopg.conninfo import make_conninfo

from lascopf_assets.defs.io_managers import (
    ALLOW_MISSING_PARTITIONS,
    PARTITION_TIME_COLUMN,
    LakeIOManagerBase,
)
from lascopf_assets.lib.storage.pg_tables import PgTableStore
from lascopf_assets.lib.storage.s3_lake import S3_ENV, S3LakeConfig, S3ParquetLake
from lascopf_assets.lib.storage.s3_landing import S3LandingCursor, plan_s3_landing

TABLE_NAME = "pg_table"

PG_ENV = {
    "host": "LASCOPF_PG_HOST",
    "port": "LASCOPF_PG_PORT",
    "user": "LASCOPF_PG_USER",
    "password": "LASCOPF_PG_PASSWORD",
    "dbname": "LASCOPF_PG_DB",
}


def table_name_for(context: dg.OutputContext | dg.InputContext) -> str:
    metadata = context.definition_metadata or {}
    if isinstance(context, dg.InputContext) and context.upstream_output is not None:
        metadata = {**(context.upstream_output.definition_metadata or {}), **metadata}
    name = metadata.get(TABLE_NAME) or "__".join(context.asset_key.path)
    if len(name) > 50:  # leaves room for the day-partition suffix within PostgreSQL's 63
        raise dg.Failure(f"table name {name!r} is longer than 50 characters: set metadata {TABLE_NAME!r}")
    return name


def _time_column(context: dg.OutputContext | dg.InputContext) -> str:
    metadata = context.definition_metadata or {}
    if isinstance(context, dg.InputContext) and context.upstream_output is not None:
        metadata = context.upstream_output.definition_metadata or {}
    return metadata.get(PARTITION_TIME_COLUMN, "timestamp")


class PostgresTableIOManager(dg.ConfigurableIOManager):
    """DataFrames in PostgreSQL/TimescaleDB tables, by partition time window."""

    host: str
    port: int = 5432
    user: str
    password: str = ""
    dbname: str
    db_schema: str = "public"
    timescaledb: str = "auto"  # auto | never | require

    def store(self) -> PgTableStore:
        params = {"host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname}
        if self.password:
            params["password"] = self.password
        return PgTableStore(make_conninfo(**params), schema=self.db_schema, timescaledb=self.timescaledb)

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | None) -> None:
        if obj is None:
            return
        if not isinstance(obj, pd.DataFrame):
            raise dg.Failure(f"{context.asset_key.to_user_string()}: the table IO manager stores DataFrames, got {type(obj).__name__}")
        table = table_name_for(context)
        with self.store() as store:
            if context.has_asset_partitions:
                window = context.asset_partitions_time_window
                rows = store.write_window(table, obj, pd.Timestamp(window.start), pd.Timestamp(window.end),
                                          _time_column(context))
                where = f"{self.db_schema}.{table} [{window.start.isoformat()}, {window.end.isoformat()})"
            else:
                rows = store.write_all(table, obj)
                where = f"{self.db_schema}.{table}"
            columns = store.table_columns(table)
        context.add_output_metadata({
            "rows": dg.MetadataValue.int(rows),
            "stored_at": dg.MetadataValue.text(where),
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name=c, type=t) for c, t in columns.items()]
            ),
        })

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = table_name_for(context)
        with self.store() as store:
            if not context.has_asset_partitions:
                return store.load_all(table)
            window = context.asset_partitions_time_window
            if (context.definition_metadata or {}).get(ALLOW_MISSING_PARTITIONS) and not store.table_exists(table):
                raise dg.Failure(f"no partition of {context.asset_key.to_user_string()} has been materialized yet")
            return store.load_window(table, pd.Timestamp(window.start), pd.Timestamp(window.end),
                                     _time_column(context))


class S3ParquetLakeIOManager(LakeIOManagerBase):
    """The Parquet lake contract on an S3-compatible object store (AWS, MinIO, others)."""

    endpoint_url: str = ""
    bucket: str
    prefix: str = "lake"
    access_key: str = ""
    secret_key: str = ""
    region: str = "us-east-1"
    max_attempts: int = 5
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 60.0

    def config(self) -> S3LakeConfig:
        return S3LakeConfig(
            bucket=self.bucket,
            prefix=self.prefix,
            endpoint_url=self.endpoint_url or None,
            access_key=self.access_key or None,
            secret_key=self.secret_key or None,
            region=self.region,
            max_attempts=self.max_attempts,
            connect_timeout_s=self.connect_timeout_s,
            request_timeout_s=self.request_timeout_s,
        )

    def lake(self) -> S3ParquetLake:
        return S3ParquetLake.from_config(self.config())


S3_LANDING_ENV = {
    "endpoint_url": "LASCOPF_S3_ENDPOINT_URL",
    "bucket": "LASCOPF_S3_LANDING_BUCKET",
    "prefix": "LASCOPF_S3_LANDING_PREFIX",
    "access_key": "LASCOPF_S3_ACCESS_KEY",
    "secret_key": "LASCOPF_S3_SECRET_KEY",
    "region": "LASCOPF_S3_REGION",
}


class S3LandingBucket(dg.ConfigurableResource):
    """Where utilities drop meter/SCADA files: ``s3://<bucket>/<prefix>/<YYYY-MM-DD>/<file>``."""

    endpoint_url: str = ""
    bucket: str
    prefix: str = "landing"
    access_key: str = ""
    secret_key: str = ""
    region: str = "us-east-1"
    lookback_days: int = 2
    max_attempts: int = 5

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url or None,
            aws_access_key_id=self.access_key or None,
            aws_secret_access_key=self.secret_key or None,
            region_name=self.region,
            config=BotoConfig(
                retries={"max_attempts": self.max_attempts, "mode": "standard"},
                connect_timeout=5,
                read_timeout=20,
            ),
        )

    def download_day(self, day: str, dest_dir: str | Path) -> list[Path]:
        """Copy the landing objects of one day folder to ``dest_dir`` (for readers of local files)."""
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        client = self.client()
        paths = []
        plan = plan_s3_landing(client, self.bucket, self.prefix, S3LandingCursor(watermark=day), lookback_days=0)
        for request in plan.requests:
            if request.day != day:
                continue
            for obj in request.objects:
                target = dest / obj.key.replace("/", "__")
                client.download_file(self.bucket, obj.key, str(target))
                paths.append(target)
        return paths


def s3_landing_from_env() -> S3LandingBucket:
    return S3LandingBucket(**{field: dg.EnvVar(env) for field, env in S3_LANDING_ENV.items()})


def postgres_io_manager_from_env() -> PostgresTableIOManager:
    return PostgresTableIOManager(**{field: dg.EnvVar(env) for field, env in PG_ENV.items() if field != "port"},
                                  port=dg.EnvVar.int(PG_ENV["port"]))


def s3_lake_io_manager_from_env() -> S3ParquetLakeIOManager:
    return S3ParquetLakeIOManager(**{field: dg.EnvVar(env) for field, env in S3_ENV.items()})
