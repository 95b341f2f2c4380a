"""DataFrames in PostgreSQL/TimescaleDB tables, by time window (no dagster here).

Contract (the same as the Parquet lake's, for a database):

* A table is created on first write from the DataFrame's dtypes. With a time
  column it is a TimescaleDB hypertable (1-day chunks) when the ``timescaledb``
  extension is available, otherwise a plain PostgreSQL table range-partitioned
  by day whose day partitions are created as writes need them (with
  ``premake_days`` following days, so daily runs rarely pay for DDL). Everything else
  (delete, COPY, load) is the same code path for both, and :meth:`PgTableStore.is_partitioned`
  and :meth:`PgTableStore.day_partitions` mean the same on both (split by day; the days with
  storage of their own); :meth:`PgTableStore.table_layout` tells them apart.
* :meth:`PgTableStore.write_window` replaces the rows of ``[start, end)`` in ONE
  transaction: ``DELETE`` the window, then ``COPY`` the new rows. Readers see the
  old window or the new one, never a half-written day; a failure at any point
  (bad row, dropped connection, an exception in the caller's callback) rolls
  back and leaves the old rows. Rerunning the same write yields the same rows.
* :meth:`PgTableStore.write_days` writes a stream of days, each day with
  :meth:`write_window` (its own transaction) as soon as its frame comes, on one
  writer thread (its own connection), so the next day is computed meanwhile; a
  failure on day k leaves the days before k written and day k and later as they were.
  :meth:`PgTableStore.load_days` reads a range back one day at a time.
* :meth:`PgTableStore.load_window` returns the rows of a window in a total
  order (time, then the loaded columns in table order; :meth:`load_all` the
  loaded columns in table order) with the project's dtypes: timestamps
  ``datetime64[us, UTC]``, text as pandas strings, ``float64``, ``int64``
  (``Int64`` only when a value is NULL), ``bool``.
* Schema changes follow one rule: a column new to the table is added as a
  nullable column (``ALTER TABLE ... ADD COLUMN``); a column whose type differs
  from the table's is refused with :class:`SchemaChangeError` naming the table
  and column. Columns of the table absent from the frame are written as NULL.

This module is the store: its API, its caches and the transactions. The jobs
it orchestrates are modules of their own: :mod:`pg_types` (pandas <-> PostgreSQL
<-> Arrow types, :class:`TableSpec`, the errors, which this module re-exports),
:mod:`pg_sessions` (per-thread connections), :mod:`pg_ddl` (catalog, DDL, day
partitions, TimescaleDB), :mod:`pg_write` (COPY in, binary or CSV) and
:mod:`pg_read` (COPY out to a DataFrame).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

import pandas as pd
import psycopg
from psycopg import sql

from lascopf_assets.storage import pg_ddl, pg_read, pg_write
from lascopf_assets.storage.day_threads import read_ahead, write_behind
from lascopf_assets.storage.pg_sessions import ThreadSessions, connect
from lascopf_assets.storage.pg_types import (
    SchemaChangeError,
    TableSpec,
    TableStoreError,
    frame_spec,
    to_arrow,
)
from lascopf_assets.storage.pg_write import COPY_CHUNK_ROWS, OnChunk

__all__ = ["COPY_CHUNK_ROWS", "PG_ENV", "PgTableStore", "SchemaChangeError", "TableSpec", "TableStoreError", "TimescaleMode"]

# connection field -> the environment variable production reads it from (the IO manager and the API)
PG_ENV = {
    "host": "LASCOPF_PG_HOST",
    "port": "LASCOPF_PG_PORT",
    "user": "LASCOPF_PG_USER",
    "password": "LASCOPF_PG_PASSWORD",
    "dbname": "LASCOPF_PG_DB",
}

Timestamp = pd.Timestamp | str
TimescaleMode = Literal["auto", "never", "require"]


def _utc(value: Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise TableStoreError(f"window bound {value!r} must be timezone-aware (UTC)")
    return ts.tz_convert("UTC")


class PgTableStore:
    """Tables of DataFrames in one PostgreSQL schema.

    ``conninfo`` is a libpq DSN/URL or keyword string; pass extra psycopg
    connection keywords in ``connect_kwargs`` (e.g. ``password``).
    """

    def __init__(
        self,
        conninfo: str = "",
        *,
        schema: str = "public",
        timescaledb: TimescaleMode = "auto",
        connect_timeout: int = 10,
        binary_copy: bool = True,
        premake_days: int = 6,
        **connect_kwargs,
    ):
        if timescaledb not in ("auto", "never", "require"):
            raise TableStoreError(f"timescaledb must be auto, never or require, got {timescaledb!r}")
        self.conninfo = conninfo
        self.schema = schema
        self.binary_copy = binary_copy
        self.premake_days = premake_days
        self.timescaledb_mode = timescaledb
        self.connect_kwargs = {"connect_timeout": connect_timeout, **connect_kwargs}
        self._timescale: bool | None = None
        self._known_days: dict[str, set[str]] = {}
        self._sessions = ThreadSessions(lambda: self.connect())

    # -- connections ----------------------------------------------------------
    def connect(self) -> psycopg.Connection:
        """A new autocommit connection in UTC (the caller closes it)."""
        return connect(self.conninfo, self.connect_kwargs)

    def _session(self, conn: psycopg.Connection | None = None) -> contextlib.AbstractContextManager[psycopg.Connection]:
        return self._sessions.session(conn)

    def __enter__(self) -> PgTableStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections this store opened (all threads)."""
        self._sessions.close()

    # -- capabilities -------------------------------------------------------------
    def uses_timescaledb(self, conn: psycopg.Connection | None = None) -> bool:
        """Whether time-partitioned tables become hypertables (decided once per store)."""
        if self._timescale is not None:
            return self._timescale
        if self.timescaledb_mode == "never":
            self._timescale = False
            return False
        with self._session(conn) as conn:
            self._timescale = pg_ddl.timescaledb_installed(conn)
        if self.timescaledb_mode == "require" and not self._timescale:
            raise TableStoreError("timescaledb=require but the timescaledb extension is not available on the server"
                                  " (not installed, or not in shared_preload_libraries)")
        return self._timescale

    # -- introspection -------------------------------------------------------------
    def table_columns(self, table: str, conn: psycopg.Connection | None = None) -> dict[str, str]:
        """Column -> type of an existing table ({} when the table does not exist)."""
        with self._session(conn) as conn:
            return pg_ddl.table_columns(conn, self.schema, table)

    def table_exists(self, table: str) -> bool:
        return bool(self.table_columns(table))

    def table_layout(self, table: str) -> str | None:
        """``"hypertable"``, ``"day_partitions"`` (plain PostgreSQL), ``"plain"``, or None when absent."""
        with self._session() as conn:
            return pg_ddl.table_layout(conn, self.schema, table)

    def is_partitioned(self, table: str) -> bool:
        """Whether the table is split by day on its time column (either layout)."""
        with self._session() as conn:
            return pg_ddl.is_partitioned(conn, self.schema, table)

    def day_partitions(self, table: str, conn: psycopg.Connection | None = None) -> list[pd.Timestamp]:
        """The UTC days that have a partition (plain layout) or chunk (hypertable) of their own, ascending.

        Written days are always among them; the plain layout also lists the ``premake_days`` made
        ahead, while TimescaleDB makes a day's chunk when the day is first written.
        """
        with self._session(conn) as conn:
            return pg_ddl.day_partitions(conn, self.schema, table)

    # -- DDL ------------------------------------------------------------------------
    def ensure_table(self, spec: TableSpec) -> dict[str, str]:
        """Create ``spec`` if absent; otherwise apply the schema-change rule. Returns the columns."""
        with self._session() as conn:
            return self._ensure(conn, spec)

    def _ensure(self, conn: psycopg.Connection, spec: TableSpec) -> dict[str, str]:
        return pg_ddl.ensure_table(conn, self.schema, spec, lambda: self.uses_timescaledb(conn))

    # -- writes ------------------------------------------------------------------------
    def _prepare(self, conn: psycopg.Connection, table: str, df: pd.DataFrame, time_column: str | None) -> dict[str, str]:
        """Create or extend the table for ``df``; returns the table's column types."""
        if df.columns.duplicated().any():
            raise TableStoreError(f"table {table}: duplicate column names {list(df.columns[df.columns.duplicated()])}")
        spec = frame_spec(table, df, time_column)
        existing = pg_ddl.table_columns(conn, self.schema, table)
        if not existing:
            untyped = [c for c, t in spec.columns.items() if t is None]
            if untyped:
                raise TableStoreError(
                    f"table {table}: cannot create column(s) {untyped} from all-null object data; give them a dtype"
                )
        else:
            pg_ddl.check_types(self.schema, table, existing, spec.columns)
            spec = TableSpec(table, {c: t or existing.get(c) for c, t in spec.columns.items()}, time_column)
            if any(t is None for t in spec.columns.values()):
                new = [c for c, t in spec.columns.items() if t is None]
                raise TableStoreError(f"table {table}: cannot add column(s) {new} from all-null object data")
        return self._ensure(conn, spec)

    def write_window(
        self,
        table: str,
        df: pd.DataFrame,
        start: Timestamp,
        end: Timestamp,
        time_column: str = "timestamp",
        *,
        on_chunk: OnChunk | None = None,
        chunk_rows: int = COPY_CHUNK_ROWS,
    ) -> int:
        """Replace the rows of ``[start, end)`` with ``df`` atomically; returns rows written.

        Every row of ``df`` must lie in the window (checked before anything is
        written). ``on_chunk(rows_sent, conn)`` is called after each COPY chunk
        (progress reporting; an exception there aborts and rolls back).
        """
        start_ts, end_ts = _utc(start), _utc(end)
        if end_ts <= start_ts:
            raise TableStoreError(f"table {table}: empty window [{start_ts}, {end_ts})")
        if time_column not in df.columns:
            raise TableStoreError(f"table {table}: time column {time_column!r} missing from the data")
        times = df[time_column]
        if not isinstance(times.dtype, pd.DatetimeTZDtype):
            raise TableStoreError(f"table {table}: time column {time_column} must be datetime64[us, UTC], got {times.dtype}")
        outside = times.isna() | (times < start_ts) | (times >= end_ts)
        if outside.any():
            first = times[outside].iloc[0]
            raise TableStoreError(
                f"table {table}: {int(outside.sum())} row(s) outside the window [{start_ts}, {end_ts}) (first: {first})"
            )
        with self._session() as conn:
            types = self._prepare(conn, table, df, time_column)
            # the table's own layout, not the store's setting: a day-partitioned table made before
            # the extension was installed (or by a timescaledb="never" store) keeps its day partitions
            by_day = pg_ddl.table_layout(conn, self.schema, table) == pg_ddl.DAY_PARTITIONS
            if by_day:
                pg_ddl.ensure_day_partitions(
                    conn, self.schema, table, start_ts, end_ts, self._known_days.setdefault(table, set()),
                    self.premake_days,
                )
            arrow = to_arrow(df, list(df.columns), types)
            if by_day:  # COPY straight into each day partition: no row routing on the server
                targets = [
                    (pg_ddl.partition_name(table, day), part)
                    for day, part in pg_write.split_by_day(arrow, times)
                ]
            else:
                targets = [(table, arrow)]
            with conn.transaction():
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE {} >= %s AND {} < %s").format(
                        sql.Identifier(self.schema, table), sql.Identifier(time_column), sql.Identifier(time_column)
                    ),
                    (start_ts.to_pydatetime(), end_ts.to_pydatetime()),
                )
                return self._copy_in(conn, targets, types, on_chunk, chunk_rows)

    def write_days(
        self,
        table: str,
        days: Iterable[tuple[Timestamp, Timestamp, pd.DataFrame]],
        time_column: str = "timestamp",
        *,
        depth: int = 2,
    ) -> list[int]:
        """:meth:`write_window` for each ``(start, end, frame)`` of ``days`` as it comes; returns rows per day.

        One transaction per day, on a writer thread, with at most ``depth`` days in flight. On any
        error the days already handed over are finished (each is all or nothing), then it is raised.
        """
        return write_behind(days, lambda day: self.write_window(table, day[2], day[0], day[1], time_column), depth,
                            thread_name="pg-writer")

    def write_all(
        self,
        table: str,
        df: pd.DataFrame,
        *,
        on_chunk: OnChunk | None = None,
        chunk_rows: int = COPY_CHUNK_ROWS,
    ) -> int:
        """Replace the whole content of an unpartitioned table atomically."""
        with self._session() as conn:
            types = self._prepare(conn, table, df, None)
            arrow = to_arrow(df, list(df.columns), types)
            with conn.transaction():
                conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(self.schema, table)))
                return self._copy_in(conn, [(table, arrow)], types, on_chunk, chunk_rows)

    def _copy_in(self, conn, targets, types, on_chunk, chunk_rows) -> int:
        return pg_write.copy_in(
            conn, self.schema, targets, types, binary_copy=self.binary_copy, on_chunk=on_chunk, chunk_rows=chunk_rows
        )

    # -- reads -----------------------------------------------------------------------
    def load_window(
        self,
        table: str,
        start: Timestamp,
        end: Timestamp,
        time_column: str = "timestamp",
        columns: Sequence[str] | None = None,
        where_equal: tuple[str, str] | None = None,
    ) -> pd.DataFrame:
        """Rows with ``start <= time_column < end`` (and ``column = value`` for ``where_equal``).

        Ordered by time, ties by the loaded columns in the table's order (:func:`pg_read.order_columns`):
        the same rows give the same frame on either layout, whatever plan the server picks.
        """
        start_ts, end_ts = _utc(start), _utc(end)
        if where_equal is not None:
            with self._session() as conn:
                types = pg_ddl.table_columns(conn, self.schema, table)
                if types and where_equal[0] not in types:
                    raise TableStoreError(f"table {self.schema}.{table} has no column {where_equal[0]!r} to select rows by")
        return self._load(table, pg_read.window_filter(time_column, start_ts, end_ts, where_equal), columns, time_column)

    def load_days(
        self,
        table: str,
        windows: Sequence[tuple[str, Timestamp, Timestamp]],
        time_column: str = "timestamp",
        columns: Sequence[str] | None = None,
        where_equal: tuple[str, str] | None = None,
        *,
        read_ahead_days: int = 1,
    ) -> Iterator[tuple[str, pd.DataFrame]]:
        """``(key, rows of [start, end))`` for each ``(key, start, end)`` in order; the next day is read ahead."""
        def rows_of(window: tuple[str, Timestamp, Timestamp]) -> pd.DataFrame:
            return self.load_window(table, window[1], window[2], time_column, columns, where_equal)

        return read_ahead(windows, rows_of, key=lambda w: w[0], ahead=read_ahead_days, thread_name="pg-reader")

    def load_all(self, table: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Every row, ordered by the loaded columns in the table's order."""
        return self._load(table, sql.SQL(""), columns)

    def _load(self, table: str, where: sql.Composable, columns: Sequence[str] | None,
              time_column: str | None = None) -> pd.DataFrame:
        with self._session() as conn:
            types = pg_ddl.table_columns(conn, self.schema, table)
            if not types:
                raise TableStoreError(f"table {self.schema}.{table} does not exist (nothing was written to it)")
            names = list(columns) if columns is not None else list(types)
            unknown = [c for c in names if c not in types]
            if unknown:
                raise TableStoreError(f"table {self.schema}.{table} has no column(s) {unknown}")
            order = pg_read.order_columns(types, names, time_column)
            fetched = names + [c for c in order if c not in names]  # the time column, to sort by
            data = pg_read.copy_out(conn, self.schema, table, fetched, where)
        return pg_read.csv_to_frame(data, fetched, types, order, keep=names)
