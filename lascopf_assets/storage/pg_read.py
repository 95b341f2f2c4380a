"""Rows out of the store's tables as DataFrames (no dagster here).

Loads use ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` parsed by pyarrow, with
the column types of the table (:mod:`pg_types`) so a loaded frame has the
project's dtypes whatever the row count, and rows in a total order
(:func:`order_columns`, sorted in Arrow), so the same rows always make the same frame.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql

from lascopf_assets.storage.pg_types import arrow_read_type, to_pandas_column


def window_filter(time_column: str, start: pd.Timestamp, end: pd.Timestamp,
                  where_equal: tuple[str, str] | None = None) -> sql.Composed:
    """``WHERE start <= time_column < end [AND column = value]``."""
    equal = sql.SQL("")
    if where_equal is not None:
        equal = sql.SQL(" AND {} = {}").format(sql.Identifier(where_equal[0]), sql.Literal(where_equal[1]))
    return sql.SQL("WHERE {} >= {} AND {} < {}{}").format(
        sql.Identifier(time_column),
        sql.Literal(start.isoformat()),
        sql.Identifier(time_column),
        sql.Literal(end.isoformat()),
        equal,
    )


def order_columns(types: Mapping[str, str], names: Sequence[str], time_column: str | None = None) -> list[str]:
    """The sort keys of a load: the time column, then the loaded columns in the table's order.

    Rows equal on all of them are equal in the frame, so this is a total order of what is returned:
    the same rows give the same frame whatever the plan (a plain table's sequential scan, a
    hypertable's chunk append, a parallel or backward scan) and on both layouts.
    """
    keys = [time_column] if time_column in types else []
    return keys + [c for c in types if c in names and c not in keys]


def copy_out(
    conn: psycopg.Connection, schema: str, table: str, names: Sequence[str], where: sql.Composable
) -> bytes:
    """The CSV text of ``SELECT names FROM schema.table where``."""
    statement = sql.SQL("COPY (SELECT {} FROM {} {}) TO STDOUT (FORMAT csv)").format(
        sql.SQL(", ").join(map(sql.Identifier, names)), sql.Identifier(schema, table), where
    )
    buf = io.BytesIO()
    with conn.cursor().copy(statement) as copy:
        for block in copy:
            buf.write(block)
    return buf.getvalue()


def csv_to_frame(data: bytes, names: Sequence[str], types: Mapping[str, str],
                 order: Sequence[str] = (), keep: Sequence[str] | None = None) -> pd.DataFrame:
    """The frame of a :func:`copy_out` result; ``types`` are the table's column types.

    Rows are sorted by the columns ``order`` (ascending, nulls last, text by its UTF-8 bytes as
    ``COLLATE "C"`` would, NaN after every number as PostgreSQL sorts it) here rather than by the
    server: Arrow sorts a month of rows several times faster than a server sort that spills past
    ``work_mem``, and the database's CPU is left to the writers. ``keep``: the columns of the frame
    (default ``names``; a sort key may be loaded only to sort by).
    """
    arrow_types = {c: arrow_read_type(types[c]) for c in names}
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
    if order and table.num_rows > 1:
        table = table.take(pc.sort_indices(table, sort_keys=[(c, "ascending") for c in order]))  # nulls at the end
    return pd.DataFrame({c: to_pandas_column(table.column(c), types[c]) for c in (names if keep is None else keep)})
