"""Rows out of the store's tables as DataFrames (no dagster here).

Loads use ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` parsed by pyarrow, with
the column types of the table (:mod:`pg_types`) so a loaded frame has the
project's dtypes whatever the row count, and rows in a total order
(:func:`total_order`), so the same rows always make the same frame.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from lascopf_assets.storage.pg_types import (
    BOOLEAN,
    FLOAT_TYPES,
    INT_TYPES,
    JSONB,
    TEXT_TYPES,
    TIMESTAMPTZ,
    arrow_read_type,
    base_type,
    to_pandas_column,
)

# types with a btree order, besides text: what the store creates, and the common hand-made ones
ORDERABLE_TYPES = INT_TYPES | FLOAT_TYPES | {
    TIMESTAMPTZ, BOOLEAN, JSONB, "timestamp without time zone", "date", "time without time zone", "interval", "uuid",
}


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


def total_order(types: Mapping[str, str], time_column: str | None = None) -> sql.Composed:
    """``ORDER BY`` the time column, then every other column in the table's order: a total order.

    Rows that tie on all of them are identical, so a load gives the same frame whatever the plan
    (a plain table's sequential scan, a hypertable's chunk append, a parallel or backward scan) and
    on both layouts. Text sorts by its bytes (``COLLATE "C"``), so the order does not depend on the
    database's locale either. Columns of types without a btree order (``json``, geometric ones)
    cannot break ties and are left out.
    """
    keys = []
    names = ([time_column] if time_column else []) + [c for c in types if c != time_column]
    for name in names:
        kind = base_type(types[name])
        if kind in TEXT_TYPES:
            keys.append(sql.SQL('{} COLLATE "C"').format(sql.Identifier(name)))
        elif kind in ORDERABLE_TYPES:
            keys.append(sql.Identifier(name))
    if not keys:
        return sql.Composed([])
    return sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(keys))


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


def csv_to_frame(data: bytes, names: Sequence[str], types: Mapping[str, str]) -> pd.DataFrame:
    """The frame of a :func:`copy_out` result; ``types`` are the table's column types."""
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
    return pd.DataFrame({c: to_pandas_column(table.column(c), types[c]) for c in names})
