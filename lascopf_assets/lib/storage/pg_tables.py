"""DataFrames in PostgreSQL/TimescaleDB tables, by time window (no dagster here).

Contract (the same as the Parquet lake's, for a database):

* A table is created on first write from the DataFrame's dtypes. With a time
  column it is a TimescaleDB hypertable (1-day chunks) when the ``timescaledb``
  extension is available, otherwise a plain PostgreSQL table range-partitioned
  by day whose day partitions are created as writes need them (with
  ``premake_days`` following days, so daily runs rarely pay for DDL). Everything else
  (delete, COPY, load) is the same code path for both.
* :meth:`PgTableStore.write_window` replaces the rows of ``[start, end)`` in ONE
  transaction: ``DELETE`` the window, then ``COPY`` the new rows. Readers see the
  old window or the new one, never a half-written day; a failure at any point
  (bad row, dropped connection, an exception in the caller's callback) rolls
  back and leaves the old rows. Rerunning the same write yields the same rows.
* :meth:`PgTableStore.load_window` returns the rows of a window with the
  project's dtypes: timestamps ``datetime64[us, UTC]``, text as pandas strings,
  ``float64``, ``int64`` (``Int64`` only when a value is NULL), ``bool``.
* Schema changes follow one rule: a column new to the table is added as a
  nullable column (``ALTER TABLE ... ADD COLUMN``); a column whose type differs
  from the table's is refused with :class:`SchemaChangeError` naming the table
  and column. Columns of the table absent from the frame are written as NULL.

Rows go in with binary COPY built by numpy (:mod:`pg_binary`) for the column
types the store creates (bigint, double precision, timestamptz, boolean, text,
jsonb); other column types (e.g. integer, numeric in a table created by hand)
go as CSV from pyarrow's writer so the server parses and range-checks them.
Loads use ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` parsed by pyarrow.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from lascopf_assets.lib.storage import pg_binary

Timestamp = pd.Timestamp | str
TimescaleMode = Literal["auto", "never", "require"]

# canonical PostgreSQL type names, as format_type() prints them
TIMESTAMPTZ = "timestamp with time zone"
TEXT = "text"
FLOAT = "double precision"
BIGINT = "bigint"
BOOLEAN = "boolean"
JSONB = "jsonb"

_INT_TYPES = {"bigint", "integer", "smallint"}
_FLOAT_TYPES = {"double precision", "real", "numeric"}
_TEXT_TYPES = {"text", "character varying", "character"}
_LOCK_NAMESPACE = 73_100  # advisory-lock class id for this module's DDL

COPY_CHUNK_ROWS = 250_000


class SchemaChangeError(ValueError):
    """A write would change a column's type: refused."""


class TableStoreError(RuntimeError):
    """A table or window cannot be used as asked (one-line message)."""


@dataclass(frozen=True)
class TableSpec:
    """Declared DDL for a table: column -> PostgreSQL type, optional time column."""

    name: str
    columns: Mapping[str, str]
    time_column: str | None = None
    primary_key: tuple[str, ...] = field(default_factory=tuple)


# -- type mapping -------------------------------------------------------------


def _base_type(pg_type: str) -> str:
    return re.sub(r"\(.*\)", "", pg_type).strip()


def pg_type_for(series: pd.Series, table: str, column: str) -> str | None:
    """PostgreSQL type for a pandas column; None when the column is all-null object."""
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return TIMESTAMPTZ
    if pd.api.types.is_datetime64_dtype(dtype):
        raise TableStoreError(
            f"{table}.{column}: timestamps must be timezone-aware UTC (datetime64[us, UTC]), got {dtype}"
        )
    if pd.api.types.is_bool_dtype(dtype):
        return BOOLEAN
    if pd.api.types.is_integer_dtype(dtype):
        return BIGINT
    if pd.api.types.is_float_dtype(dtype):
        return FLOAT
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        if dtype == object:
            sample = series.dropna()
            if sample.empty:
                return None
            first = sample.iloc[0]
            if isinstance(first, (dict, list)):
                return JSONB
            if not isinstance(first, str):
                raise TableStoreError(
                    f"{table}.{column}: unsupported object values of type {type(first).__name__}"
                )
        return TEXT
    raise TableStoreError(f"{table}.{column}: unsupported dtype {dtype}")


def _compatible(data_type: str | None, table_type: str) -> bool:
    if data_type is None:  # all NULL: fits any column
        return True
    table_type = _base_type(table_type)
    if data_type == table_type:
        return True
    if data_type == BIGINT:
        return table_type in _INT_TYPES | _FLOAT_TYPES
    if data_type == FLOAT:
        return table_type in _FLOAT_TYPES
    if data_type == TEXT:
        return table_type in _TEXT_TYPES | {JSONB}
    return False


def _to_arrow(df: pd.DataFrame, columns: Sequence[str], types: Mapping[str, str]) -> pa.Table:
    arrays = []
    for col in columns:
        s = df[col]
        t = _base_type(types[col])
        if t == JSONB:
            texts = [None if v is None or (isinstance(v, float) and np.isnan(v)) else json.dumps(v) for v in s]
            arrays.append(pa.array(texts, type=pa.string()))
        elif t == TIMESTAMPTZ:
            arrays.append(pa.array(s.dt.tz_convert("UTC").dt.as_unit("us")))
        elif isinstance(s.dtype, pd.CategoricalDtype):
            arrays.append(pa.array(s.astype(object).to_numpy(), type=pa.string()))
        elif s.dtype == object and s.isna().all():
            arrays.append(pa.nulls(len(s), type=pa.string()))
        else:
            arrays.append(pa.array(s, from_pandas=True))
    return pa.Table.from_arrays(arrays, names=list(columns))


def _arrow_read_type(pg_type: str) -> pa.DataType:
    t = _base_type(pg_type)
    if t == TIMESTAMPTZ:
        return pa.timestamp("us", tz="UTC")
    if t in _INT_TYPES:
        return pa.int64()
    if t in _FLOAT_TYPES:
        return pa.float64()
    if t == BOOLEAN:
        return pa.bool_()
    return pa.string()  # text, jsonb, anything else as its text form


def _to_pandas_column(arr: pa.ChunkedArray, pg_type: str) -> pd.Series:
    t = _base_type(pg_type)
    if t == JSONB:
        return pd.Series([None if v is None else json.loads(v) for v in arr.to_pylist()], dtype=object)
    if t in _INT_TYPES:
        return pd.Series(arr.to_pandas(), dtype="Int64" if arr.null_count else "int64")
    if t == BOOLEAN:
        return pd.Series(arr.to_pandas(), dtype="boolean" if arr.null_count else "bool")
    if t == TIMESTAMPTZ:
        return pd.Series(arr.to_pandas(), dtype="datetime64[us, UTC]")
    if t in _FLOAT_TYPES:
        return pd.Series(arr.to_pandas(), dtype="float64")
    return pd.Series(arr.to_pandas(), dtype="str")


def _utc(value: Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise TableStoreError(f"window bound {value!r} must be timezone-aware (UTC)")
    return ts.tz_convert("UTC")


# -- the store -------------------------------------------------------------------


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
        self._local = threading.local()
        self._open_lock = threading.Lock()
        self._open: list[psycopg.Connection] = []

    # -- connections ----------------------------------------------------------
    def connect(self) -> psycopg.Connection:
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, **self.connect_kwargs)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TableStoreError(f"cannot connect to PostgreSQL: {first}") from exc
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    @contextlib.contextmanager
    def _session(self, conn: psycopg.Connection | None = None) -> Iterator[psycopg.Connection]:
        """The caller's connection, or this thread's cached one (reopened when broken).

        A nested use (e.g. a load from an ``on_chunk`` callback during a COPY)
        gets its own short-lived connection, like any other session would.
        """
        if conn is not None:
            yield conn
            return
        if getattr(self._local, "busy", False):
            with self.connect() as temporary:
                yield temporary
            return
        cached = getattr(self._local, "conn", None)
        if cached is None or cached.closed or cached.broken:
            cached = self.connect()
            self._local.conn = cached
            with self._open_lock:
                self._open.append(cached)
        self._local.busy = True
        try:
            yield cached
        except BaseException:
            if cached.broken or cached.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                self._local.conn = None
                with contextlib.suppress(Exception):
                    cached.close()
            raise
        finally:
            self._local.busy = False

    def __enter__(self) -> PgTableStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections this store opened (all threads)."""
        with self._open_lock:
            conns, self._open = self._open, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()

    def _ident(self, table: str) -> sql.Composed:
        return sql.Identifier(self.schema, table)

    # -- capabilities -------------------------------------------------------------
    def uses_timescaledb(self, conn: psycopg.Connection | None = None) -> bool:
        """Whether time-partitioned tables become hypertables (decided once per store)."""
        if self._timescale is not None:
            return self._timescale
        if self.timescaledb_mode == "never":
            self._timescale = False
            return False
        with self._session(conn) as conn:
            with conn.transaction():
                installed = conn.execute(
                    "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
                ).fetchone()
                available = installed or conn.execute(
                    "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
                ).fetchone()
            if not installed and available:
                try:
                    with conn.transaction():
                        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                    installed = True
                except psycopg.Error:  # e.g. not in shared_preload_libraries
                    installed = False
            self._timescale = bool(installed)
        if self.timescaledb_mode == "require" and not self._timescale:
            raise TableStoreError("timescaledb=require but the timescaledb extension is not available on the server")
        return self._timescale

    # -- introspection -------------------------------------------------------------
    def table_columns(self, table: str, conn: psycopg.Connection | None = None) -> dict[str, str]:
        """Column -> type of an existing table ({} when the table does not exist)."""
        with self._session(conn) as conn:
            rows = conn.execute(
                """
                SELECT a.attname, format_type(a.atttypid, a.atttypmod)
                FROM pg_attribute a
                JOIN pg_class c ON c.oid = a.attrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY a.attnum
                """,
                (self.schema, table),
            ).fetchall()
        return {name: typ for name, typ in rows}

    def table_exists(self, table: str) -> bool:
        return bool(self.table_columns(table))

    def is_partitioned(self, table: str) -> bool:
        with self._session() as conn:
            return self._is_partitioned(conn, table)

    def day_partitions(self, table: str, conn: psycopg.Connection | None = None) -> list[str]:
        """Names of the day partitions of a plain partitioned table."""
        with self._session(conn) as conn:
            rows = conn.execute(
                """
                SELECT child.relname FROM pg_inherits i
                JOIN pg_class parent ON parent.oid = i.inhparent
                JOIN pg_class child ON child.oid = i.inhrelid
                JOIN pg_namespace n ON n.oid = parent.relnamespace
                WHERE n.nspname = %s AND parent.relname = %s
                ORDER BY child.relname
                """,
                (self.schema, table),
            ).fetchall()
        return [r[0] for r in rows]

    # -- DDL ------------------------------------------------------------------------
    def _lock(self, conn: psycopg.Connection, table: str) -> None:
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_NAMESPACE, f"{self.schema}.{table}")
        )

    def ensure_table(self, spec: TableSpec) -> dict[str, str]:
        """Create ``spec`` if absent; otherwise apply the schema-change rule. Returns the columns."""
        with self._session() as conn:
            return self._ensure(conn, spec)

    def _ensure(self, conn: psycopg.Connection, spec: TableSpec) -> dict[str, str]:
        existing = self.table_columns(spec.name, conn)
        if existing and all(c in existing for c in spec.columns):
            self._check_types(spec.name, existing, spec.columns)
            return existing
        timescale = bool(spec.time_column) and self.uses_timescaledb(conn)
        with conn.transaction():
            self._lock(conn, spec.name)
            existing = self.table_columns(spec.name, conn)
            if not existing:
                self._create(conn, spec, timescale)
            else:
                self._check_types(spec.name, existing, spec.columns)
                for col, typ in spec.columns.items():
                    if col not in existing:
                        conn.execute(
                            sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                                self._ident(spec.name), sql.Identifier(col), sql.SQL(typ)
                            )
                        )
            return self.table_columns(spec.name, conn)

    def _check_types(self, table: str, existing: Mapping[str, str], wanted: Mapping[str, str | None]) -> None:
        for col, typ in wanted.items():
            if col in existing and not _compatible(typ and _base_type(typ), existing[col]):
                raise SchemaChangeError(
                    f"table {self.schema}.{table} column {col} is {existing[col]} in the database "
                    f"but the data is {typ}: type changes are refused (migrate the table explicitly)"
                )

    def _create(self, conn: psycopg.Connection, spec: TableSpec, timescale: bool) -> None:
        if spec.time_column and spec.time_column not in spec.columns:
            raise TableStoreError(f"table {spec.name}: time column {spec.time_column} is not among its columns")
        if spec.time_column and _base_type(spec.columns[spec.time_column]) != TIMESTAMPTZ:
            raise TableStoreError(f"table {spec.name}: time column {spec.time_column} must be timestamptz")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
        cols = []
        for col, typ in spec.columns.items():
            not_null = sql.SQL(" NOT NULL") if col == spec.time_column or col in spec.primary_key else sql.SQL("")
            cols.append(sql.SQL("{} {}{}").format(sql.Identifier(col), sql.SQL(typ), not_null))
        if spec.primary_key:
            cols.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, spec.primary_key))))
        body = sql.SQL(", ").join(cols)
        if spec.time_column and not timescale:
            conn.execute(
                sql.SQL("CREATE TABLE {} ({}) PARTITION BY RANGE ({})").format(
                    self._ident(spec.name), body, sql.Identifier(spec.time_column)
                )
            )
        else:
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(self._ident(spec.name), body))
        if spec.time_column and timescale:
            conn.execute(
                "SELECT create_hypertable(%s::regclass, %s, chunk_time_interval => INTERVAL '1 day')",
                (f'"{self.schema}"."{spec.name}"', spec.time_column),
            )

    def _partition_name(self, table: str, day: pd.Timestamp) -> str:
        suffix = f"_p{day:%Y%m%d}"
        if len(table) + len(suffix) <= 63:
            return table + suffix
        import hashlib

        digest = hashlib.sha1(table.encode()).hexdigest()[:8]
        return f"{table[: 63 - len(suffix) - 9]}_{digest}{suffix}"

    def _ensure_day_partitions(self, conn: psycopg.Connection, table: str, start: pd.Timestamp, end: pd.Timestamp) -> None:
        days = pd.date_range(start.floor("D"), end.ceil("D"), freq="D", inclusive="left")
        known = self._known_days.setdefault(table, set())
        wanted = {self._partition_name(table, d): d for d in days}
        if all(name in known for name in wanted):
            return
        present = set(self.day_partitions(table, conn))
        if any(name not in present for name in wanted):
            # like pg_partman's premake: the following days too, so daily writes pay
            # one DDL transaction per premake_days + 1 days instead of one per day
            ahead = pd.date_range(days[-1] + pd.Timedelta(days=1), periods=self.premake_days, freq="D")
            wanted.update({self._partition_name(table, d): d for d in ahead})
            with conn.transaction():
                self._lock(conn, table)
                present = set(self.day_partitions(table, conn))
                for name, day in wanted.items():
                    if name in present:
                        continue
                    conn.execute(
                        sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                            sql.Identifier(self.schema, name),
                            self._ident(table),
                            sql.Literal(day.isoformat()),
                            sql.Literal((day + pd.Timedelta(days=1)).isoformat()),
                        )
                    )
        known.update(wanted)

    # -- writes ------------------------------------------------------------------------
    def _spec_for(self, table: str, df: pd.DataFrame, time_column: str | None) -> TableSpec:
        cols: dict[str, str | None] = {c: pg_type_for(df[c], table, c) for c in df.columns}
        return TableSpec(table, cols, time_column)  # type: ignore[arg-type]

    def _prepare(self, conn: psycopg.Connection, table: str, df: pd.DataFrame, time_column: str | None) -> dict[str, str]:
        if df.columns.duplicated().any():
            raise TableStoreError(f"table {table}: duplicate column names {list(df.columns[df.columns.duplicated()])}")
        spec = self._spec_for(table, df, time_column)
        existing = self.table_columns(table, conn)
        if not existing:
            untyped = [c for c, t in spec.columns.items() if t is None]
            if untyped:
                raise TableStoreError(
                    f"table {table}: cannot create column(s) {untyped} from all-null object data; give them a dtype"
                )
        else:
            self._check_types(table, existing, spec.columns)
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
        on_chunk: Callable[[int, psycopg.Connection], None] | None = None,
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
            by_day = not self.uses_timescaledb(conn) and self._is_partitioned(conn, table)
            if by_day:
                self._ensure_day_partitions(conn, table, start_ts, end_ts)
            arrow = _to_arrow(df, list(df.columns), types)
            if by_day:  # COPY straight into each day partition: no row routing on the server
                targets = [
                    (self._partition_name(table, day), part)
                    for day, part in _split_by_day(arrow, times)
                ]
            else:
                targets = [(table, arrow)]
            with conn.transaction():
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE {} >= %s AND {} < %s").format(
                        self._ident(table), sql.Identifier(time_column), sql.Identifier(time_column)
                    ),
                    (start_ts.to_pydatetime(), end_ts.to_pydatetime()),
                )
                return self._copy_in(conn, targets, types, on_chunk, chunk_rows)

    def write_all(
        self,
        table: str,
        df: pd.DataFrame,
        *,
        on_chunk: Callable[[int, psycopg.Connection], None] | None = None,
        chunk_rows: int = COPY_CHUNK_ROWS,
    ) -> int:
        """Replace the whole content of an unpartitioned table atomically."""
        with self._session() as conn:
            types = self._prepare(conn, table, df, None)
            arrow = _to_arrow(df, list(df.columns), types)
            with conn.transaction():
                conn.execute(sql.SQL("DELETE FROM {}").format(self._ident(table)))
                return self._copy_in(conn, [(table, arrow)], types, on_chunk, chunk_rows)

    def _is_partitioned(self, conn: psycopg.Connection, table: str) -> bool:
        row = conn.execute(
            """
            SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relname = %s
            """,
            (self.schema, table),
        ).fetchone()
        return bool(row) and row[0] == "p"

    def _copy_in(self, conn, targets, types, on_chunk, chunk_rows) -> int:
        """COPY each ``(table, arrow rows)`` target; returns the rows sent."""
        sent = 0
        for target, arrow in targets:
            if not arrow.num_rows:
                continue
            columns = arrow.column_names
            col_types = [_base_type(types[c]) for c in columns]
            binary = self.binary_copy and pg_binary.supported(col_types)
            statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
                self._ident(target),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL("binary" if binary else "csv"),
            )
            options = pacsv.WriteOptions(include_header=False, batch_size=64 * 1024)
            cursor = conn.cursor()
            # a writer thread sends chunk k while this thread encodes chunk k+1
            with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
                if binary:
                    copy.write(pg_binary.HEADER)
                for offset in range(0, arrow.num_rows, chunk_rows):
                    part = arrow.slice(offset, chunk_rows)
                    if binary:
                        copy.write(pg_binary.encode(part, col_types))
                    else:
                        buf = io.BytesIO()
                        pacsv.write_csv(part, buf, options)
                        copy.write(buf.getbuffer())
                    sent += part.num_rows
                    if on_chunk is not None:
                        on_chunk(sent, conn)
                if binary:
                    copy.write(pg_binary.TRAILER)
        return sent

    # -- reads -----------------------------------------------------------------------
    def load_window(
        self,
        table: str,
        start: Timestamp,
        end: Timestamp,
        time_column: str = "timestamp",
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows with ``start <= time_column < end``, ordered by time."""
        start_ts, end_ts = _utc(start), _utc(end)
        where = sql.SQL("WHERE {} >= {} AND {} < {} ORDER BY {}").format(
            sql.Identifier(time_column),
            sql.Literal(start_ts.isoformat()),
            sql.Identifier(time_column),
            sql.Literal(end_ts.isoformat()),
            sql.Identifier(time_column),
        )
        return self._load(table, where, columns)

    def load_all(self, table: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        return self._load(table, sql.SQL(""), columns)

    def _load(self, table: str, where: sql.Composable, columns: Sequence[str] | None) -> pd.DataFrame:
        with self._session() as conn:
            types = self.table_columns(table, conn)
            if not types:
                raise TableStoreError(f"table {self.schema}.{table} does not exist (nothing was written to it)")
            names = list(columns) if columns is not None else list(types)
            unknown = [c for c in names if c not in types]
            if unknown:
                raise TableStoreError(f"table {self.schema}.{table} has no column(s) {unknown}")
            statement = sql.SQL("COPY (SELECT {} FROM {} {}) TO STDOUT (FORMAT csv)").format(
                sql.SQL(", ").join(map(sql.Identifier, names)), self._ident(table), where
            )
            buf = io.BytesIO()
            with conn.cursor().copy(statement) as copy:
                for block in copy:
                    buf.write(block)
        return _csv_to_frame(buf.getvalue(), names, types)


def _split_by_day(arrow: pa.Table, times: pd.Series) -> list[tuple[pd.Timestamp, pa.Table]]:
    """Rows grouped by UTC day (in time order when the input is sorted)."""
    micros = pd.DatetimeIndex(times).tz_convert("UTC").as_unit("us").asi8
    day = np.floor_divide(micros, 86_400_000_000)
    if len(day) == 0:
        return []
    if np.all(day[1:] >= day[:-1]):
        order = None
        sorted_days = day
    else:
        order = np.argsort(day, kind="stable")
        sorted_days = day[order]
    uniq, first = np.unique(sorted_days, return_index=True)
    bounds = list(first) + [len(sorted_days)]
    out = []
    for i, d in enumerate(uniq):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        part = arrow.slice(lo, hi - lo) if order is None else arrow.take(order[lo:hi])
        out.append((pd.Timestamp(int(d) * 86_400_000_000, unit="us", tz="UTC"), part))
    return out


def _csv_to_frame(data: bytes, names: Sequence[str], types: Mapping[str, str]) -> pd.DataFrame:
    arrow_types = {c: _arrow_read_type(types[c]) for c in names}
    if data:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=list(names), block_size=16 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=arrow_types,
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                null_values=[""],
                true_values=["t"],
                false_values=["f"],
            ),
        )
    else:
        table = pa.table({c: pa.array([], type=t) for c, t in arrow_types.items()})
    return pd.DataFrame({c: _to_pandas_column(table.column(c), types[c]) for c in names})


def ensure_tables(store: PgTableStore, specs: Iterable[TableSpec]) -> None:
    for spec in specs:
        store.ensure_table(spec)
