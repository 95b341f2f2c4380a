"""Rows into the store's tables with COPY (no dagster here).

Rows go in with binary COPY built by numpy (:mod:`pg_binary`) for the column
types the store creates (bigint, double precision, timestamptz, boolean, text,
jsonb); other column types (e.g. integer, numeric in a table created by hand)
go as CSV from pyarrow's writer so the server parses and range-checks them.
A write to a day-partitioned table is split by UTC day (:func:`split_by_day`)
and COPYed straight into each day partition, so the server routes no rows.
The caller owns the transaction.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from lascopf_assets.storage import pg_binary
from lascopf_assets.storage.pg_types import base_type

# rows per COPY chunk: a writer thread sends chunk k while chunk k+1 is encoded, so a chunk well
# below a day's rows (48 k for 2,000 meters) keeps the server busy from the first chunk on; 250 k
# (one chunk a day, encoded before anything is sent) wrote a day ~10-15 % slower
COPY_CHUNK_ROWS = 16_384

OnChunk = Callable[[int, psycopg.Connection], None]


def copy_in(
    conn: psycopg.Connection,
    schema: str,
    targets: Sequence[tuple[str, pa.Table]],
    types: Mapping[str, str],
    *,
    binary_copy: bool,
    on_chunk: OnChunk | None,
    chunk_rows: int,
) -> int:
    """COPY each ``(table, arrow rows)`` target; returns the rows sent.

    ``on_chunk(rows_sent, conn)`` is called after each chunk of ``chunk_rows``.
    """
    sent = 0
    for target, arrow in targets:
        if not arrow.num_rows:
            continue
        columns = arrow.column_names
        col_types = [base_type(types[c]) for c in columns]
        binary = binary_copy and pg_binary.supported(col_types)
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
            sql.Identifier(schema, target),
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


def split_by_day(arrow: pa.Table, times: pd.Series) -> list[tuple[pd.Timestamp, pa.Table]]:
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
