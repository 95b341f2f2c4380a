"""The raw rows of a partition window: which landing files, read once, combined (Arrow, vectorized)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lascopf_assets.lib.ingest.landing import LandingFile, read_landing_table, utc_days
from lascopf_assets.lib.ingest.landing_index import (
    READ_THREADS,
    IndexedFile,
    LandingIndex,
    days_of_table,
    files_for_days,
)


class UnreadableLandingFiles(ValueError):
    """Landing files with rows for the requested days cannot be read at all."""

    def __init__(self, files: list[IndexedFile]):
        self.files = files
        super().__init__("; ".join(f"{f.file.path}: {f.error}" for f in files))


def landing_tables_for_days(
    index: LandingIndex, files: list[LandingFile], days: set[str], ingested_at: pd.Timestamp
) -> tuple[list[IndexedFile], list[pa.Table]]:
    """The files with rows on ``days`` and their parsed rows, each file read once.

    Files the index has to read for the first time are parsed in full and
    kept when they matter for ``days``; the other files are read on a thread
    pool (pyarrow parses without holding the GIL). Raises
    ``UnreadableLandingFiles`` naming every unreadable file of those days, and
    ``LandingFileError`` for a file that became unreadable since it was indexed.
    """
    already_read: dict[str, pa.Table] = {}

    def read_rows(f: LandingFile) -> pa.Table:
        table = read_landing_table(f.path, ingested_at)
        if days.intersection(days_of_table(table)):
            already_read[f.identity] = table
        return table

    wanted = files_for_days(index.refresh(files, read_rows), days)
    unreadable = [f for f in wanted if f.error]
    if unreadable:
        raise UnreadableLandingFiles(unreadable)

    def rows_of(f: IndexedFile) -> pa.Table:
        kept = already_read.get(f.file.identity)
        return kept if kept is not None else read_landing_table(f.file.path, ingested_at)

    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        return wanted, list(pool.map(rows_of, wanted))

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
