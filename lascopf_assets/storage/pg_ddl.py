"""Tables of the store in the catalog: introspection, DDL, day partitions, TimescaleDB (no dagster here).

* :func:`ensure_table` creates a table from a :class:`TableSpec` or applies the
  schema-change rule to an existing one: a new column is added as nullable, a
  changed type is refused (:func:`check_types` raises :class:`SchemaChangeError`).
* A table with a time column is created as a TimescaleDB hypertable (1-day
  chunks) or as a plain table range-partitioned by day; :func:`ensure_day_partitions`
  creates the day partitions a write needs (plus ``premake_days`` following days).
  :func:`table_layout` tells the layouts apart; :func:`is_partitioned` and
  :func:`day_partitions` mean the same on both (split by day; the days with storage
  of their own). Neither layout has an index: every DELETE and load names a time
  window, which partition pruning or chunk exclusion serves, and loads sort in the
  client (:mod:`pg_read`); TimescaleDB's default ``(time DESC)`` index would halve
  the write rate for no read.
* DDL runs under a transaction-scoped advisory lock per table, so concurrent
  writers (threads, processes) create a table or partition once.

Every function takes the connection and the schema; the store keeps the caches.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping

import pandas as pd
import psycopg
from psycopg import sql

from lascopf_assets.storage.pg_types import (
    TIMESTAMPTZ,
    SchemaChangeError,
    TableSpec,
    TableStoreError,
    base_type,
    compatible,
)

LOCK_NAMESPACE = 73_100  # advisory-lock class id for the store's DDL


# -- introspection --------------------------------------------------------------


def table_columns(conn: psycopg.Connection, schema: str, table: str) -> dict[str, str]:
    """Column -> type of an existing table ({} when the table does not exist)."""
    rows = conn.execute(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        (schema, table),
    ).fetchall()
    return {name: typ for name, typ in rows}


HYPERTABLE = "hypertable"  # a TimescaleDB hypertable with 1-day chunks
DAY_PARTITIONS = "day_partitions"  # a plain PostgreSQL table range-partitioned by day
PLAIN = "plain"  # a table without time partitions


def table_layout(conn: psycopg.Connection, schema: str, table: str) -> str | None:
    """:data:`HYPERTABLE`, :data:`DAY_PARTITIONS`, :data:`PLAIN`, or None when the table does not exist."""
    row = conn.execute(
        """
        SELECT c.relkind, to_regclass('timescaledb_information.hypertables') IS NOT NULL
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
        """,
        (schema, table),
    ).fetchone()
    if row is None:
        return None
    relkind, timescale = row
    if relkind == "p":
        return DAY_PARTITIONS
    if timescale and conn.execute(
        "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_schema = %s AND hypertable_name = %s",
        (schema, table),
    ).fetchone():
        return HYPERTABLE
    return PLAIN


def is_partitioned(conn: psycopg.Connection, schema: str, table: str) -> bool:
    """Whether the table is split by day on its time column: a hypertable or a day-partitioned table."""
    return table_layout(conn, schema, table) in (HYPERTABLE, DAY_PARTITIONS)


def _partitions(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str | None]]:
    """``(name, bound expression)`` of each partition of a plain partitioned table."""
    return conn.execute(
        """
        SELECT child.relname, pg_get_expr(child.relpartbound, child.oid) FROM pg_inherits i
        JOIN pg_class parent ON parent.oid = i.inhparent
        JOIN pg_class child ON child.oid = i.inhrelid
        JOIN pg_namespace n ON n.oid = parent.relnamespace
        WHERE n.nspname = %s AND parent.relname = %s
        """,
        (schema, table),
    ).fetchall()


def _partition_names(conn: psycopg.Connection, schema: str, table: str) -> set[str]:
    """Names of the partitions of a plain partitioned table."""
    return {name for name, _ in _partitions(conn, schema, table)}


_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


def day_partitions(conn: psycopg.Connection, schema: str, table: str) -> list[pd.Timestamp]:
    """The UTC days (midnight timestamps, ascending) that have storage of their own in the table.

    The same on both layouts: the days of a day-partitioned table's partitions (written days plus
    the premade following ones) or of a hypertable's chunks (TimescaleDB makes a chunk when a row
    of its day is first written, and keeps it when the day's rows are deleted). A partition or
    chunk spanning several days (one made by hand) lists each of its days; [] for any other table.
    """
    layout = table_layout(conn, schema, table)
    if layout == HYPERTABLE:
        ranges = conn.execute(
            """
            SELECT range_start, range_end FROM timescaledb_information.chunks
            WHERE hypertable_schema = %s AND hypertable_name = %s AND range_start IS NOT NULL
            """,
            (schema, table),
        ).fetchall()
    elif layout == DAY_PARTITIONS:
        ranges = [m.groups() for _, expr in _partitions(conn, schema, table)
                  if (m := _BOUNDS.search(expr or ""))]  # DEFAULT: no bounds
    else:
        return []
    days: set[pd.Timestamp] = set()
    for lo, hi in ranges:
        lo_ts, hi_ts = pd.Timestamp(lo).tz_convert("UTC"), pd.Timestamp(hi).tz_convert("UTC")
        days.update(pd.date_range(lo_ts.floor("D"), hi_ts, freq="D", inclusive="left"))
    return sorted(days)


def timescaledb_installed(conn: psycopg.Connection) -> bool:
    """Whether the database has the timescaledb extension, creating it when the server offers it.

    Offered means installed on the server AND preloaded: without ``timescaledb`` in
    ``shared_preload_libraries``, ``CREATE EXTENSION`` is a FATAL error that ends the session (the
    caller's connection would be lost), so it is not tried. The preloaded loader defines the
    setting ``timescaledb.max_background_workers`` in every session; that is the test, since
    ``shared_preload_libraries`` itself is readable by superusers only.
    """
    with conn.transaction():
        installed = conn.execute(
            "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
        available = installed or conn.execute(
            """
            SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'
            AND current_setting('timescaledb.max_background_workers', true) IS NOT NULL
            """
        ).fetchone()
    if not installed and available:
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            installed = True
        except psycopg.Error:  # e.g. not in shared_preload_libraries
            installed = False
    return bool(installed)


# -- DDL --------------------------------------------------------------------------


def lock(conn: psycopg.Connection, schema: str, table: str) -> None:
    """Serialize DDL on ``schema.table`` until the end of the current transaction."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_NAMESPACE, f"{schema}.{table}")
    )


def check_types(schema: str, table: str, existing: Mapping[str, str], wanted: Mapping[str, str | None]) -> None:
    """Refuse a column whose wanted type does not fit the table's (:class:`SchemaChangeError`)."""
    for col, typ in wanted.items():
        if col in existing and not compatible(typ and base_type(typ), existing[col]):
            raise SchemaChangeError(
                f"table {schema}.{table} column {col} is {existing[col]} in the database "
                f"but the data is {typ}: type changes are refused (migrate the table explicitly)"
            )


def ensure_table(
    conn: psycopg.Connection, schema: str, spec: TableSpec, use_timescaledb: Callable[[], bool]
) -> dict[str, str]:
    """Create ``spec`` if absent; otherwise apply the schema-change rule. Returns the columns.

    ``use_timescaledb()`` is asked only when a time-partitioned table may be created.
    """
    existing = table_columns(conn, schema, spec.name)
    if existing and all(c in existing for c in spec.columns):
        check_types(schema, spec.name, existing, spec.columns)
        return existing
    timescale = bool(spec.time_column) and use_timescaledb()
    with conn.transaction():
        lock(conn, schema, spec.name)
        existing = table_columns(conn, schema, spec.name)
        if not existing:
            create_table(conn, schema, spec, timescale)
        else:
            check_types(schema, spec.name, existing, spec.columns)
            for col, typ in spec.columns.items():
                if col not in existing:
                    conn.execute(
                        sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                            sql.Identifier(schema, spec.name), sql.Identifier(col), sql.SQL(typ)
                        )
                    )
        return table_columns(conn, schema, spec.name)


def create_table(conn: psycopg.Connection, schema: str, spec: TableSpec, timescale: bool) -> None:
    """CREATE the table (and its schema): a hypertable, a day-partitioned table or a plain one."""
    if spec.time_column and spec.time_column not in spec.columns:
        raise TableStoreError(f"table {spec.name}: time column {spec.time_column} is not among its columns")
    if spec.time_column and base_type(spec.columns[spec.time_column]) != TIMESTAMPTZ:
        raise TableStoreError(f"table {spec.name}: time column {spec.time_column} must be timestamptz")
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    cols = []
    for col, typ in spec.columns.items():
        not_null = sql.SQL(" NOT NULL") if col == spec.time_column or col in spec.primary_key else sql.SQL("")
        cols.append(sql.SQL("{} {}{}").format(sql.Identifier(col), sql.SQL(typ), not_null))
    if spec.primary_key:
        cols.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, spec.primary_key))))
    body = sql.SQL(", ").join(cols)
    ident = sql.Identifier(schema, spec.name)
    if spec.time_column and not timescale:
        conn.execute(
            sql.SQL("CREATE TABLE {} ({}) PARTITION BY RANGE ({})").format(
                ident, body, sql.Identifier(spec.time_column)
            )
        )
    else:
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, body))
    if spec.time_column and timescale:
        # TimescaleDB's default index on (time DESC) halves the write rate and no read uses it: every
        # DELETE and load names a time window, which chunk exclusion serves as partition pruning
        # serves the plain layout (no index either); a primary key still brings its own index
        conn.execute(
            sql.SQL(
                "SELECT create_hypertable({}::regclass, {}, chunk_time_interval => INTERVAL '1 day',"
                " create_default_indexes => false)"
            ).format(sql.Literal(ident.as_string(conn)), sql.Literal(spec.time_column))
        )


# -- day partitions ---------------------------------------------------------------


def partition_name(table: str, day: pd.Timestamp) -> str:
    """``<table>_pYYYYMMDD``, the table part shortened with a hash to fit 63 characters."""
    suffix = f"_p{day:%Y%m%d}"
    if len(table) + len(suffix) <= 63:
        return table + suffix
    digest = hashlib.sha1(table.encode()).hexdigest()[:8]
    return f"{table[: 63 - len(suffix) - 9]}_{digest}{suffix}"


def ensure_day_partitions(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    known: set[str],
    premake_days: int,
) -> None:
    """Create the missing day partitions of ``[start, end)``; ``known`` caches the names seen."""
    days = pd.date_range(start.floor("D"), end.ceil("D"), freq="D", inclusive="left")
    wanted = {partition_name(table, d): d for d in days}
    if all(name in known for name in wanted):
        return
    present = _partition_names(conn, schema, table)
    if any(name not in present for name in wanted):
        # like pg_partman's premake: the following days too, so daily writes pay
        # one DDL transaction per premake_days + 1 days instead of one per day
        ahead = pd.date_range(days[-1] + pd.Timedelta(days=1), periods=premake_days, freq="D")
        wanted.update({partition_name(table, d): d for d in ahead})
        with conn.transaction():
            lock(conn, schema, table)
            present = _partition_names(conn, schema, table)
            for name, day in wanted.items():
                if name in present:
                    continue
                conn.execute(
                    sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                        sql.Identifier(schema, name),
                        sql.Identifier(schema, table),
                        sql.Literal(day.isoformat()),
                        sql.Literal((day + pd.Timedelta(days=1)).isoformat()),
                    )
                )
    known.update(wanted)
