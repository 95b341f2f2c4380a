"""Combining parsed landing files into the raw rows of a partition window (Arrow, vectorized)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lascopf_assets.lib.ingest.landing import utc_days

@dataclass
class RawRowStats:
    days: list[str]  # days (YYYY-MM-DD) that have at least one row
    rows_with_parse_errors: int
    per_file: pd.DataFrame  # source_file, rows, parse_errors


def rows_in_window(tables: list[pa.Table], start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.DataFrame, RawRowStats]:
    """Rows of ``tables`` with ``start <= timestamp < end``, ordered by timestamp (stable), as pandas."""
    table = pa.concat_tables(tables, promote_options="default")
    ts = pc.cast(table.column("timestamp"), pa.int64()).to_numpy(zero_copy_only=False)
    lo, hi = start.value // 1000, end.value // 1000  # Timestamp.value is in nanoseconds
    keep = (ts >= lo) & (ts < hi)
    if not keep.all():
        table, ts = table.filter(pa.array(keep)), ts[keep]
    if len(ts) > 1 and (np.diff(ts) < 0).any():
        order = np.argsort(ts, kind="stable")
        table, ts = table.take(pa.array(order)), ts[order]
    days = utc_days(ts)
    per_file = (
        table.group_by("source_file")
        .aggregate([("source_row", "count"), ("parse_error", "count")])
        .rename_columns(["source_file", "rows", "parse_errors"])
        .to_pandas()
        .sort_values("source_file", ignore_index=True)
    )
    with_errors = table.num_rows - table.column("parse_error").null_count
    stats = RawRowStats(days=days, rows_with_parse_errors=with_errors, per_file=per_file)
    return table.to_pandas(), stats
