"""The table IO manager: DataFrames in PostgreSQL/TimescaleDB tables, a thin wrapper of
:mod:`lascopf_assets.storage.pg_tables`.

Table IO manager contract (the same as the Parquet lake's):

* table name: the asset key path joined with ``__`` (override with definition
  metadata ``pg_table``), in schema ``db_schema``;
* a partitioned output (one day or a single-run range) replaces the rows of the
  output's partition time window in one transaction; the time column is the
  metadata ``partition_time_column`` (default ``timestamp``), rows outside the
  window are refused;
* a range output given as :class:`~lascopf_assets.defs.storage.contract.DailyFrames`
  replaces each day's window in its own transaction as soon as the day is made
  (one writer thread: the next day is computed meanwhile), so a failure on day k
  leaves days before k replaced and day k and later as they were; the stream's
  summary is added to the output metadata;
* a partitioned input loads the window of the requested partitions (a range
  input is one query), or, when its type accepts ``DailyFrames`` (``DAILY_TABLE``)
  and it covers several days, a lazy ``DailyFrames`` loading one day per query;
  input metadata ``columns`` and ``rows_of_partition`` narrow the query;
* an unpartitioned output replaces the whole table.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
from psycopg.conninfo import make_conninfo

from lascopf_assets.defs.storage.contract import (
    ALLOW_MISSING_PARTITIONS,
    PARTITION_TIME_COLUMN,
    DailyFrames,
    input_columns,
    loads_daily_frames,
    rows_of_partition,
)
from lascopf_assets.storage.pg_tables import PgTableStore, TableStoreError

TABLE_NAME = "pg_table"



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

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | DailyFrames | None) -> None:
        if obj is None:
            return
        if isinstance(obj, DailyFrames):
            self._write_daily_frames(context, obj)
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

    def _write_daily_frames(self, context: dg.OutputContext, frames: DailyFrames) -> None:
        name = context.asset_key.to_user_string()
        partitions = context.asset_partitions_def if context.has_asset_partitions else None
        if not isinstance(partitions, dg.TimeWindowPartitionsDefinition):
            raise dg.Failure(f"{name}: DailyFrames are for outputs of time-window (daily) partitions")
        keys = list(context.asset_partition_keys)
        if list(frames.keys) != keys:
            raise dg.Failure(f"{name}: the stream covers {frames.keys[0]}..{frames.keys[-1]}, the step {keys[0]}..{keys[-1]}")
        table = table_name_for(context)

        def days():
            for key, frame in frames:
                window = partitions.time_window_for_partition_key(key)
                yield pd.Timestamp(window.start), pd.Timestamp(window.end), frame

        with self.store() as store:
            try:
                rows = store.write_days(table, days(), _time_column(context))
            except TableStoreError as exc:
                raise dg.Failure(description=f"{name}: {exc}") from exc
            columns = store.table_columns(table)
        first, last = (partitions.time_window_for_partition_key(k) for k in (keys[0], keys[-1]))
        context.add_output_metadata({
            "rows": dg.MetadataValue.int(sum(rows)),
            "stored_at": dg.MetadataValue.text(
                f"{self.db_schema}.{table} [{first.start.isoformat()}, {last.end.isoformat()}), one transaction per day"),
            "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(name=c, type=t) for c, t in columns.items()]),
            **frames.summary(),
        })

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | DailyFrames:
        table = table_name_for(context)
        name = context.asset_key.to_user_string()
        with self.store() as store:
            if not context.has_asset_partitions:
                return store.load_all(table)
            if not store.table_exists(table):
                if (context.definition_metadata or {}).get(ALLOW_MISSING_PARTITIONS):
                    raise dg.Failure(f"no partition of {name} has been materialized yet")
                raise dg.Failure(f"{name}: table {self.db_schema}.{table} does not exist (nothing was written to it)")
            window = context.asset_partitions_time_window
            keys = list(context.asset_partition_keys)
            where_equal, columns, time_column = rows_of_partition(context), input_columns(context), _time_column(context)
            if columns is not None:  # the columns the table has (a reader missing one says so itself)
                stored = store.table_columns(table)
                columns = [c for c in columns if c in stored]
            partitions = context.asset_partitions_def
            if len(keys) > 1 and loads_daily_frames(context) and isinstance(partitions, dg.TimeWindowPartitionsDefinition):
                windows = []
                for key in keys:
                    day = partitions.time_window_for_partition_key(key)
                    windows.append((key, pd.Timestamp(day.start), pd.Timestamp(day.end)))
                return DailyFrames(keys, lambda: self._days(table, windows, time_column, columns, where_equal), reusable=True)
            try:
                return store.load_window(table, pd.Timestamp(window.start), pd.Timestamp(window.end),
                                         time_column, columns, where_equal)
            except TableStoreError as exc:
                raise dg.Failure(f"{name}: {exc}") from exc

    def _days(self, table, windows, time_column, columns, where_equal):
        with self.store() as store:  # the stream's own connections, open while it is read
            yield from store.load_days(table, windows, time_column, columns, where_equal)
