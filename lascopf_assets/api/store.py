"""Where the API reads what the assets wrote: the same storage clients, no Dagster.

* ``local`` profile: every asset is a Parquet file of the lake (``<lake>/<asset>/<partition>.parquet``,
  ``<lake>/<asset>.parquet`` unpartitioned), ``storage.parquet_lake.ParquetLake``.
* ``production``: the assets on ``timeseries_io_manager`` are PostgreSQL/TimescaleDB tables
  (``storage.pg_tables.PgTableStore``, a day = its UTC window), the others Parquet in the S3 lake
  (``storage.s3_lake.S3ParquetLake``) — the split ``defs/resources.build_resources`` makes.

A store answers ``None`` for something never materialized (the API's 404). A table keeps no trace of a
day written with no rows, so in production such a day is ``None`` too; a reader that knows the day was
written (a dispatch's empty ``binding_contingencies``, known by its ``lascopf_dispatch`` row) says so.
Production reads ask the server for what it can answer alone: a table's days (``days_with_rows``, one
probe per day partition) and a day's counts (``day_counts``: count, sum, GROUP BY), never copying rows
to count them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd
from psycopg import sql

from lascopf_assets.storage.parquet_lake import ParquetLake, PartitionMissingError
from lascopf_assets.storage.pg_tables import PG_ENV
from lascopf_assets.storage.results_schema import RESULTS_TABLES
from lascopf_assets.storage.s3_lake import S3_ENV

PRODUCTION_ENV = (*PG_ENV.values(), *S3_ENV.values())
REQUIRED_ENV = (PG_ENV["host"], PG_ENV["user"], PG_ENV["dbname"], S3_ENV["bucket"])


class StoreConfigError(RuntimeError):
    """The production store's environment is incomplete (one line naming the variables)."""


# the assets whose io_manager_key is timeseries_io_manager (PostgreSQL in production)
TABLE_ASSETS = frozenset({
    "raw_measurements", "validated_loads", "quarantined_measurements", "junction_aggregates", "powersystems_system",
    *(spec.name for spec in RESULTS_TABLES), "phase_recommendations",
})


def day_window(day: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(day, tz="UTC")
    return start, start + pd.Timedelta(days=1)


@dataclass(frozen=True)
class DayCounts:
    """A day's rows of an asset counted where they are stored (``ResultStore.day_counts``)."""

    rows: int
    total: float | None = None  # the sum of ``sum_column``; None: the column is absent or null in some row
    groups: dict[str, int] = field(default_factory=dict)  # rows per value of ``group_column``


class ResultStore(Protocol):
    def day(self, asset: str, day: str, columns: Sequence[str] | None = None) -> pd.DataFrame | None: ...
    def day_counts(self, asset: str, day: str, sum_column: str | None = None,
                   group_column: str | None = None) -> DayCounts | None: ...
    def partition(self, asset: str, key: str) -> pd.DataFrame | None: ...
    def table(self, asset: str) -> pd.DataFrame | None: ...
    def days(self, asset: str) -> list[str]: ...
    def partitions(self, asset: str) -> list[str]: ...


class LakeStore:
    """Everything from one Parquet lake (the local profile)."""

    def __init__(self, lake: ParquetLake):
        self.lake = lake

    @classmethod
    def local(cls, lake_dir: str) -> LakeStore:
        return cls(ParquetLake.local(lake_dir))

    def partition(self, asset: str, key: str, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
        try:
            return self.lake.read_table([asset], key, columns=columns).to_pandas()
        except PartitionMissingError:
            return None

    def day(self, asset: str, day: str, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
        return self.partition(asset, day, columns)

    def day_counts(self, asset: str, day: str, sum_column: str | None = None,
                   group_column: str | None = None) -> DayCounts | None:
        wanted = ["timestamp", *(c for c in (sum_column, group_column) if c)]
        frame = self.day(asset, day, columns=wanted)
        return None if frame is None else counts_of(frame, sum_column, group_column)

    def table(self, asset: str) -> pd.DataFrame | None:
        try:
            return self.lake.read_table([asset]).to_pandas()
        except PartitionMissingError:
            return None

    def partitions(self, asset: str) -> list[str]:
        return self.lake.partition_keys([asset])

    def days(self, asset: str) -> list[str]:
        return self.partitions(asset)


class ProductionStore:
    """PostgreSQL tables for the ``timeseries_io_manager`` assets, the S3 lake for the rest."""

    def __init__(self, tables, lake: ParquetLake):
        self.tables = tables  # storage.pg_tables.PgTableStore
        self.lake = LakeStore(lake)

    @classmethod
    def from_env(cls, environ: dict | None = None) -> ProductionStore:
        from psycopg.conninfo import make_conninfo

        from lascopf_assets.storage.pg_tables import PgTableStore
        from lascopf_assets.storage.s3_lake import S3LakeConfig, S3ParquetLake

        env = os.environ if environ is None else environ
        missing = [name for name in REQUIRED_ENV if not env.get(name)]
        if missing:
            raise StoreConfigError(f"the production results store needs {', '.join(missing)} (the same values the "
                                   "assets' timeseries_io_manager and io_manager read; see .env.example)")
        params = {"host": env[PG_ENV["host"]], "port": env.get(PG_ENV["port"]) or "5432",
                  "user": env[PG_ENV["user"]], "dbname": env[PG_ENV["dbname"]]}
        if env.get(PG_ENV["password"]):  # as PostgresTableIOManager.store(): no password key when empty
            params["password"] = env[PG_ENV["password"]]
        return cls(PgTableStore(make_conninfo(**params)), S3ParquetLake.from_config(S3LakeConfig.from_env(env)))

    def _exists(self, asset: str) -> bool:
        return self.tables.table_exists(asset)

    def day(self, asset: str, day: str, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
        if asset not in TABLE_ASSETS:
            return self.lake.day(asset, day, columns)
        if not self._exists(asset):
            return None
        start, end = day_window(day)
        frame = self.tables.load_window(asset, start, end, columns=columns)
        # a table keeps no trace of a day written empty: the lake's "missing" is the table's "no rows" (a reader
        # that knows the day was written, e.g. by its lascopf_dispatch row, answers the empty table itself)
        return frame if len(frame) else None

    def day_counts(self, asset: str, day: str, sum_column: str | None = None,
                   group_column: str | None = None) -> DayCounts | None:
        """Counted by the server (one day of readings can be millions of rows): ``count(*)``, the sum, ``GROUP BY``."""
        if asset not in TABLE_ASSETS:
            return self.lake.day_counts(asset, day, sum_column, group_column)
        columns = self.tables.table_columns(asset)
        if not columns:
            return None
        start, end = day_window(day)
        ident, ts = sql.Identifier(self.tables.schema, asset), sql.Identifier("timestamp")
        where = sql.SQL("WHERE {} >= %s AND {} < %s").format(ts, ts)
        window = (start.to_pydatetime(), end.to_pydatetime())
        summed = sum_column is not None and sum_column in columns
        total = sql.SQL("sum({c}), count({c})").format(c=sql.Identifier(sum_column)) if summed else sql.SQL("NULL, 0")
        with contextlib.closing(self.tables.connect()) as conn:
            rows, value, counted = conn.execute(
                sql.SQL("SELECT count(*), {} FROM {} {}").format(total, ident, where), window).fetchone()
            groups = {}
            if rows and group_column is not None and group_column in columns:
                group = sql.Identifier(group_column)
                groups = {str(k): int(n) for k, n in conn.execute(
                    sql.SQL("SELECT {}, count(*) FROM {} {} GROUP BY 1").format(group, ident, where), window)}
        if not rows:
            return None  # as day(): no row is not materialized
        return DayCounts(int(rows), float(value) if summed and counted == rows else None, dict(sorted(groups.items())))

    def partition(self, asset: str, key: str) -> pd.DataFrame | None:
        return self.lake.partition(asset, key)

    def table(self, asset: str) -> pd.DataFrame | None:
        if asset not in TABLE_ASSETS:
            return self.lake.table(asset)
        return self.tables.load_all(asset) if self._exists(asset) else None

    def partitions(self, asset: str) -> list[str]:
        return self.lake.partitions(asset)

    def days(self, asset: str) -> list[str]:
        if asset not in TABLE_ASSETS:
            return self.lake.days(asset)
        if not self._exists(asset):
            return []
        return days_with_rows(self.tables, asset)


def counts_of(frame: pd.DataFrame, sum_column: str | None, group_column: str | None) -> DayCounts:
    total = None
    if sum_column is not None and sum_column in frame.columns and frame[sum_column].notna().all():
        total = float(frame[sum_column].sum())
    groups = {}
    if group_column is not None and group_column in frame.columns:
        groups = {str(k): int(v) for k, v in frame[group_column].value_counts().items()}
    return DayCounts(len(frame), total, dict(sorted(groups.items())))


def days_with_rows(tables, table: str, time_column: str = "timestamp") -> list[str]:
    """The UTC days (YYYY-MM-DD, ascending) on which ``table`` has a row, answered by the server.

    A day-partitioned table or hypertable: its partitions' (chunks') days, each kept when one row of it
    exists (the scan stops at the first row, in that day's partition alone); any other table: the distinct
    days of its time column. Never the rows themselves: a year of readings is not copied to list its days.
    """
    ident = sql.Identifier(tables.schema, table)
    column = sql.Identifier(time_column)
    with contextlib.closing(tables.connect()) as conn:
        candidates = tables.day_partitions(table, conn)
        if candidates:
            # one EXISTS per day with literal bounds: the planner prunes to that day's partition (or chunk), where
            # a bound taken from an array would be a nested loop over every partition
            probes = [sql.SQL("SELECT {lo}::timestamptz WHERE EXISTS (SELECT 1 FROM {t} WHERE {c} >= {lo} AND {c} < {hi})")
                      .format(lo=sql.Literal(day.isoformat()), hi=sql.Literal((day + pd.Timedelta(days=1)).isoformat()),
                              t=ident, c=column) for day in candidates]
            rows = conn.execute(sql.SQL(" UNION ALL ").join(probes) + sql.SQL(" ORDER BY 1")).fetchall()
        else:
            query = sql.SQL(
                "SELECT DISTINCT date_trunc('day', {} AT TIME ZONE 'UTC') AS d FROM {} WHERE {} IS NOT NULL ORDER BY d"
            ).format(column, ident, column)
            rows = conn.execute(query).fetchall()
    return [pd.Timestamp(d).strftime("%Y-%m-%d") for (d,) in rows]


def store_from_settings(settings) -> ResultStore:
    if settings.profile == "production":
        return ProductionStore.from_env()
    return LakeStore.local(settings.lake_dir)
