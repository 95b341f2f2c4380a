"""The raw rows of a range of days, one day at a time: which landing files, each read once, per day (Arrow).

:func:`landing_files_for_days` says which files have rows on the days (from the landing index,
which reads only the timestamps of a file it has not seen) and which of them cannot be read at
all (those are the caller's to report, see ``lib.ingest.rejections``; the others are ingested).
:func:`raw_rows_by_day` then yields each day's rows in day order: the files covering the day,
read on a thread pool while the previous day is being used, their rows of that day ordered by
timestamp (stable: files by name, then line order). A file covering several days is read once
and kept only until its last day, so memory holds the files of about two days, never the range.
:class:`RawRowStats` accumulates what the range's metadata reports.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lascopf_assets.lib.ingest.landing import LandingFile, file_format, landing_schema, read_landing_table
from lascopf_assets.lib.ingest.landing_index import READ_THREADS, IndexedFile, LandingIndex, days_of_table, files_for_days


@dataclass(frozen=True)
class DayWindow:
    """A day partition: its key and its half-open UTC window ``[start, end)``."""

    key: str
    start: pd.Timestamp
    end: pd.Timestamp


# parsed tables kept from indexing new files, for the days they cover (beyond it, new files are
# indexed by their timestamps alone and parsed again when their day comes)
KEEP_BYTES = 32 << 20


@dataclass
class DayFiles:
    """What the landing index says about the files of some days."""

    readable: list[IndexedFile]  # files with rows on the days that can be read, by name
    unreadable: list[IndexedFile]  # files routed to the days that cannot be read at all, by name
    indexed: list[IndexedFile]  # every accepted landing file, with its days and error
    kept: dict[str, pa.Table]  # parsed rows of some readable files, by identity (read once, not twice)


def landing_files_for_days(
    index: LandingIndex, files: list[LandingFile], days: set[str], ingested_at: pd.Timestamp, keep_bytes: int = KEEP_BYTES,
) -> DayFiles:
    """The files with rows on ``days``, split into readable and unreadable ones.

    Files the index has not seen yet are parsed in full while ``keep_bytes`` lasts, and the
    tables of those with rows on ``days`` are kept (so they are read once, not twice); after
    that, new files are indexed from their timestamps only.
    """
    kept: dict[str, pa.Table] = {}
    room = [keep_bytes]
    lock = threading.Lock()

    def read_rows(f: LandingFile) -> pa.Table | None:
        with lock:
            if room[0] <= 0:
                return None
        table = read_landing_table(f.path, ingested_at, f.source)
        if days.intersection(days_of_table(table)):
            with lock:
                if room[0] > 0:
                    kept[f.identity] = table
                    room[0] -= table.nbytes
        return table

    indexed = index.refresh(files, read_rows)
    wanted = files_for_days(indexed, days)
    readable = [f for f in wanted if not f.error]
    names = {f.file.identity for f in readable}
    return DayFiles(
        readable=readable,
        unreadable=[f for f in wanted if f.error],
        indexed=indexed,
        kept={identity: table for identity, table in kept.items() if identity in names},
    )


@dataclass
class RawRowStats:
    """What the rows of a range came to, added up day by day."""

    days: list[str] = field(default_factory=list)  # days (YYYY-MM-DD) that have at least one row
    rows: int = 0
    rows_with_parse_errors: int = 0
    _per_file: dict[str, list[int]] = field(default_factory=dict)  # source_file -> [rows, parse_errors]
    formats: dict[str, dict] = field(default_factory=dict)  # source_file -> its detected format (landing.file_format)

    def add(self, key: str, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self.days.append(key)
        self.rows += table.num_rows
        self.rows_with_parse_errors += table.num_rows - table.column("parse_error").null_count
        counts = table.group_by("source_file").aggregate([("source_row", "count"), ("parse_error", "count")])
        for name, rows, errors in zip(*(counts.column(i).to_pylist() for i in range(3)), strict=True):
            entry = self._per_file.setdefault(name, [0, 0])
            entry[0] += rows
            entry[1] += errors

    def add_format(self, name: str, table: pa.Table) -> None:
        if name not in self.formats:
            self.formats[name] = file_format(table)

    @property
    def per_file(self) -> pd.DataFrame:
        """``source_file, rows, parse_errors, layout, encoding, delimiter, interval_minutes`` over the days
        added so far, by file name (the format as detected when the file was read)."""
        names = sorted(self._per_file)

        def detected(key: str) -> pd.Series:
            return pd.Series([_shown(self.formats.get(n, {}).get(key)) for n in names], dtype="str")

        return pd.DataFrame({
            "source_file": pd.array(names, dtype="str"),
            "rows": np.array([self._per_file[n][0] for n in names], dtype=np.int64),
            "parse_errors": np.array([self._per_file[n][1] for n in names], dtype=np.int64),
            **{key: detected(key) for key in FORMAT_SHOWN},
        })


FORMAT_SHOWN = ("layout", "compression", "encoding", "delimiter", "decimal", "interval_minutes")


def _shown(value) -> str:
    """A format field as a person reads it in a metadata table (a tab as \\t; nothing as an empty cell)."""
    return "" if value is None else {"\t": "\\t"}.get(str(value), str(value))


def rows_of_day(tables: list[pa.Table], day: DayWindow) -> pa.Table:
    """Rows of ``tables`` with ``start <= timestamp < end``, ordered by timestamp (stable)."""
    if not tables:
        return landing_schema([]).empty_table()
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
    ts = pc.cast(table.column("timestamp"), pa.int64()).to_numpy(zero_copy_only=False)
    lo, hi = day.start.value // 1000, day.end.value // 1000  # Timestamp.value is in nanoseconds
    keep = (ts >= lo) & (ts < hi)
    if not keep.all():
        table, ts = table.filter(pa.array(keep)), ts[keep]
    if len(ts) > 1 and (np.diff(ts) < 0).any():
        order = np.argsort(ts, kind="stable")
        table = table.take(pa.array(order))
    return table


def raw_rows_by_day(
    wanted: Sequence[IndexedFile], days: Sequence[DayWindow], ingested_at: pd.Timestamp, stats: RawRowStats | None = None,
    kept: Mapping[str, pa.Table] | None = None,
) -> Iterator[tuple[str, pd.DataFrame]]:
    """``(day key, that day's raw rows)`` for each of ``days`` in order (see the module doc).

    ``kept``: tables already parsed (by file identity, from :func:`landing_files_for_days`), used
    instead of reading those files again.

    A file that cannot be read any more (rewritten since it was indexed) raises ``LandingFileError``
    naming it when its first day comes: the days before it have been yielded, no later one is.
    """
    cover = [[f for f in wanted if d.key in f.days] for d in days]  # by name, as ``wanted`` is
    last_use = {f.file.identity: i for i, files in enumerate(cover) for f in files}
    reads: dict[str, Future] = {}
    kept = dict(kept or {})
    with ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="landing-reader") as pool:

        def start_reads(i: int) -> None:
            if i < len(cover):
                for f in cover[i]:
                    if f.file.identity not in reads:
                        table = kept.pop(f.file.identity, None)
                        if table is not None:
                            reads[f.file.identity] = done = Future()
                            done.set_result(table)
                        else:
                            reads[f.file.identity] = pool.submit(read_landing_table, f.file.path, ingested_at, f.file.source)

        start_reads(0)
        for i, day in enumerate(days):
            start_reads(i + 1)  # the next day's files are parsed while this day is used downstream
            tables = [reads[f.file.identity].result() for f in cover[i]]
            if stats is not None:
                for f, whole in zip(cover[i], tables, strict=True):
                    stats.add_format(f.file.shown, whole)
            table = rows_of_day(tables, day)
            del tables
            for f in cover[i]:
                if last_use[f.file.identity] == i:
                    del reads[f.file.identity]
            if stats is not None:
                stats.add(day.key, table)
            frame = table.to_pandas()
            del table
            yield day.key, frame
