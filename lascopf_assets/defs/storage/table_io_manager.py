"""The table IO manager: DataFrames in PostgreSQL/TimescaleDB tables, a thin wrapper of
:mod:`lascopf_assets.storage.pg_tables`.

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

import dagster as dg
import pandas as pd
from psycopg.conninfo import make_conninfo

from lascopf_assets.defs.storage.contract import ALLOW_MISSING_PARTITIONS, PARTITION_TIME_COLUMN, rows_of_partition
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
            try:
                return store.load_window(table, pd.Timestamp(window.start), pd.Timestamp(window.end),
                                         _time_column(context), where_equal=rows_of_partition(context))
            except TableStoreError as exc:
                raise dg.Failure(f"{context.asset_key.to_user_string()}: {exc}") from exc
