"""A partitioned Parquet lake on any pyarrow filesystem.

Layout: ``<base>/<asset key path>/<partition key>.parquet`` for a partitioned
asset and ``<base>/<asset key path>.parquet`` for an unpartitioned one.

Contract (shared by every backend, local disk or S3):

* ``write_partition`` replaces one partition atomically: a reader sees the old
  file or the new one, never a mix and never a truncated file. Locally the new
  file is written beside the target under a temporary name and renamed over it
  (rename is atomic on POSIX). Backends whose rename is not atomic override
  :meth:`ParquetLake._publish` / :meth:`ParquetLake._resolve`.
* ``write_range`` splits a DataFrame covering several partitions by a time
  column into one file per partition (a day with no rows gets an empty file
  with the schema, so the partition exists), each written as above.
* ``write_days`` writes a stream of ``(window, frame)`` days, each day's file as soon as its frame
  comes (on one writer thread, so the next day is computed while this one is encoded), each
  written as above: a failure on day k leaves days before k written, day k and later as they
  were, and never a half-written file. Memory: the frames in flight (at most ``depth``).
* ``read_partitions`` concatenates partitions in the order given; ``read_days`` yields them one at a
  time (reading the next day ahead on a thread).
* Reads may select columns (``columns``) and rows (``where_equal``), both pushed into the Parquet reader.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lascopf_assets.storage.day_threads import read_ahead, write_behind

PARQUET_SUFFIX = ".parquet"
TMP_MARKER = ".tmp-"


class PartitionMissingError(FileNotFoundError):
    """A partition that was asked for has never been written."""


class RowsOutsidePartitionError(ValueError):
    """Rows of an output fall outside the partition(s) it is written to (nothing of that day is written)."""


@dataclass(frozen=True)
class PartitionWindow:
    """A partition key with its half-open time window ``[start, end)`` in UTC."""

    key: str
    start: pd.Timestamp
    end: pd.Timestamp


def _as_table(df: pd.DataFrame | pa.Table) -> pa.Table:
    if isinstance(df, pa.Table):
        return df
    return pa.Table.from_pandas(df, preserve_index=False)


def _utc_micros(values: pd.Series | pd.DatetimeIndex | Sequence[pd.Timestamp]) -> np.ndarray:
    """Timestamps as int64 microseconds since the epoch, UTC (vectorized)."""
    index = pd.DatetimeIndex(values)
    if index.tz is None:
        raise ValueError("partition time column must be timezone-aware (UTC)")
    return index.tz_convert("UTC").as_unit("us").asi8


class ParquetLake:
    """Partitioned Parquet files under ``base`` on a pyarrow filesystem."""

    def __init__(self, filesystem: pafs.FileSystem, base: str, compression: str = "snappy", write_threads: int | None = None):
        self.fs = filesystem
        self.base = base.rstrip("/")
        self.compression = compression
        self.write_threads = write_threads or max(2, min(8, os.cpu_count() or 2))

    @classmethod
    def local(cls, base: str) -> ParquetLake:
        return cls(pafs.LocalFileSystem(), os.path.abspath(base))

    # -- paths -------------------------------------------------------------
    def asset_dir(self, asset_key: Sequence[str]) -> str:
        return "/".join([self.base, *asset_key])

    def partition_path(self, asset_key: Sequence[str], partition_key: str | None) -> str:
        if partition_key is None:
            return self.asset_dir(asset_key) + PARQUET_SUFFIX
        if "/" in partition_key or partition_key.startswith("."):
            raise ValueError(f"partition key {partition_key!r} cannot be a file name")
        return f"{self.asset_dir(asset_key)}/{partition_key}{PARQUET_SUFFIX}"

    # -- publishing hooks (overridden where rename is not atomic) ------------
    def _publish(self, final_path: str, table: pa.Table) -> None:
        parent = final_path.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp_path = f"{final_path}{TMP_MARKER}{uuid.uuid4().hex}"
        try:
            with self.fs.open_output_stream(tmp_path) as sink:
                pq.write_table(table, sink, compression=self.compression)
            self.fs.move(tmp_path, final_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError, OSError):  # nothing was written yet
                self.fs.delete_file(tmp_path)
            raise

    def _resolve(self, final_path: str) -> str | None:
        """The physical file holding ``final_path``'s current content, or None."""
        info = self.fs.get_file_info(final_path)
        return final_path if info.type == pafs.FileType.File else None

    # -- writes --------------------------------------------------------------
    def write(self, asset_key: Sequence[str], df: pd.DataFrame | pa.Table, partition_key: str | None = None) -> str:
        path = self.partition_path(asset_key, partition_key)
        self._publish(path, _as_table(df))
        return path

    def write_range(
        self,
        asset_key: Sequence[str],
        df: pd.DataFrame,
        time_column: str,
        windows: Sequence[PartitionWindow],
    ) -> list[str]:
        """Split ``df`` by ``time_column`` into the given partition windows.

        Every row must fall into one of the windows; a row outside them is an
        error in the producing asset, reported before anything is written.
        """
        if not windows:
            raise ValueError("write_range needs at least one partition window")
        windows = sorted(windows, key=lambda w: w.start)
        starts = _utc_micros([w.start for w in windows])
        ends = _utc_micros([w.end for w in windows])
        times = _utc_micros(df[time_column]) if len(df) else np.empty(0, dtype=np.int64)
        slot = np.searchsorted(starts, times, side="right") - 1
        outside = (slot < 0) | (times >= ends[np.clip(slot, 0, None)])
        if outside.any():
            first = pd.Timestamp(int(times[outside][0]), unit="us", tz="UTC")
            raise ValueError(
                f"{int(outside.sum())} row(s) of {'/'.join(asset_key)} fall outside the partitions "
                f"{windows[0].key}..{windows[-1].key} (first: {time_column}={first})"
            )
        table = _as_table(df)
        order = np.argsort(slot, kind="stable")
        sorted_slots = slot[order]
        bounds = np.searchsorted(sorted_slots, np.arange(len(windows) + 1))
        already_sorted = bool(np.all(order == np.arange(len(order))))

        def write_one(i: int) -> str:
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            part = table.slice(lo, hi - lo) if already_sorted else table.take(order[lo:hi])
            return self.write(asset_key, part, windows[i].key)

        if len(windows) == 1:
            return [write_one(0)]
        # each partition file is independent and pyarrow releases the GIL while encoding
        with ThreadPoolExecutor(max_workers=self.write_threads) as pool:
            return list(pool.map(write_one, range(len(windows))))

    def write_days(
        self,
        asset_key: Sequence[str],
        days: Iterable[tuple[PartitionWindow, pd.DataFrame | pa.Table]],
        time_column: str,
        *,
        depth: int = 2,
    ) -> list[tuple[str, int]]:
        """Write each ``(window, rows)`` of ``days`` as that partition's file; returns ``(path, rows)`` per day.

        ``days`` is consumed lazily: a day is handed to one writer thread as soon as it comes, and at most
        ``depth`` days are in flight, so producing day k+1 overlaps writing day k and memory stays at a
        few days. Each day's rows must lie in its window (checked before its file is written). On any
        error (producer or writer), the days already handed over are finished (whole files), then the
        error is raised: nothing is half written, and later days keep their old files.
        """
        return write_behind(days, lambda day: self._write_day(asset_key, day[1], time_column, day[0]), depth,
                            thread_name="lake-writer")

    def _write_day(self, asset_key: Sequence[str], rows: pd.DataFrame | pa.Table, time_column: str,
                   window: PartitionWindow) -> tuple[str, int]:
        times = rows.column(time_column) if isinstance(rows, pa.Table) else rows[time_column]
        if len(rows):
            micros = _utc_micros(times.to_pandas() if isinstance(times, pa.ChunkedArray) else times)
            lo, hi = _utc_micros([window.start, window.end])
            outside = (micros < lo) | (micros >= hi)
            if outside.any():
                first = pd.Timestamp(int(micros[outside][0]), unit="us", tz="UTC")
                raise RowsOutsidePartitionError(
                    f"{int(outside.sum())} row(s) of {'/'.join(asset_key)} fall outside the partition {window.key} "
                    f"(first: {time_column}={first}); nothing of that day was written"
                )
        return self.write(asset_key, rows, window.key), len(rows)

    # -- reads ---------------------------------------------------------------
    def exists(self, asset_key: Sequence[str], partition_key: str | None = None) -> bool:
        return self._resolve(self.partition_path(asset_key, partition_key)) is not None

    def read_table(self, asset_key: Sequence[str], partition_key: str | None = None,
                   where_equal: tuple[str, str] | None = None, columns: Sequence[str] | None = None) -> pa.Table:
        """One file's table; ``where_equal=(column, value)`` keeps only the rows with that value and
        ``columns`` only those of the file's columns (both pushed down into the reader; a column the
        file does not have is left out, so the reader's caller says what it misses)."""
        path = self.partition_path(asset_key, partition_key)
        physical = self._resolve(path)
        if physical is None:
            what = "/".join(asset_key) + (f" partition {partition_key}" if partition_key else "")
            raise PartitionMissingError(f"{what} has not been materialized (no {path})")
        with self.fs.open_input_file(physical) as source:
            if where_equal is None and columns is None:
                return pq.read_table(source)
            parquet = pq.ParquetFile(source)
            names = parquet.schema_arrow.names
            present = None if columns is None else [c for c in columns if c in names]
            if where_equal is None:
                return parquet.read(columns=present)
            column, value = where_equal
            if column not in names:
                raise ValueError(f"{path} has no column {column!r} to select rows by")
            table = pq.read_table(source, filters=[(column, "==", value)], schema=parquet.schema_arrow)
            return table.select(present) if present is not None else table

    def read(self, asset_key: Sequence[str], partition_key: str | None = None) -> pd.DataFrame:
        return self.read_table(asset_key, partition_key).to_pandas()

    def read_partitions(self, asset_key: Sequence[str], partition_keys: Sequence[str],
                        where_equal: tuple[str, str] | None = None, columns: Sequence[str] | None = None) -> pd.DataFrame:
        tables = [self.read_table(asset_key, key, where_equal, columns) for key in partition_keys]
        if not tables:
            raise ValueError(f"no partitions of {'/'.join(asset_key)} requested")
        return pa.concat_tables(tables, promote_options="default").to_pandas()

    def read_days(self, asset_key: Sequence[str], partition_keys: Sequence[str],
                  where_equal: tuple[str, str] | None = None, columns: Sequence[str] | None = None,
                  *, read_ahead_days: int = 1) -> Iterator[tuple[str, pd.DataFrame]]:
        """``(key, frame)`` for each partition in order, one at a time; the next ``read_ahead_days`` are read on a thread."""

        def frame_of(key: str) -> pd.DataFrame:
            return self.read_table(asset_key, key, where_equal, columns).to_pandas()

        return read_ahead(partition_keys, frame_of, key=lambda k: k, ahead=read_ahead_days, thread_name="lake-reader")

    def partition_keys(self, asset_key: Sequence[str]) -> list[str]:
        """Keys of the partitions present, sorted."""
        selector = pafs.FileSelector(self.asset_dir(asset_key), allow_not_found=True)
        keys = set()
        for info in self.fs.get_file_info(selector):
            name = info.base_name
            if info.type == pafs.FileType.File and name.endswith(PARQUET_SUFFIX) and TMP_MARKER not in name:
                keys.add(name[: -len(PARQUET_SUFFIX)])
        return sorted(keys)
