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
* ``read_partitions`` concatenates partitions in the order given.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

PARQUET_SUFFIX = ".parquet"
TMP_MARKER = ".tmp-"


class PartitionMissingError(FileNotFoundError):
    """A partition that was asked for has never been written."""


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

    # -- reads ---------------------------------------------------------------
    def exists(self, asset_key: Sequence[str], partition_key: str | None = None) -> bool:
        return self._resolve(self.partition_path(asset_key, partition_key)) is not None

    def read_table(self, asset_key: Sequence[str], partition_key: str | None = None,
                   where_equal: tuple[str, str] | None = None) -> pa.Table:
        """One file's table; ``where_equal=(column, value)`` keeps only the rows with that value (pushed down)."""
        path = self.partition_path(asset_key, partition_key)
        physical = self._resolve(path)
        if physical is None:
            what = "/".join(asset_key) + (f" partition {partition_key}" if partition_key else "")
            raise PartitionMissingError(f"{what} has not been materialized (no {path})")
        with self.fs.open_input_file(physical) as source:
            if where_equal is None:
                return pq.read_table(source)
            column, value = where_equal
            parquet = pq.ParquetFile(source)
            if column not in parquet.schema_arrow.names:
                raise ValueError(f"{path} has no column {column!r} to select rows by")
            return pq.read_table(source, filters=[(column, "==", value)], schema=parquet.schema_arrow)

    def read(self, asset_key: Sequence[str], partition_key: str | None = None) -> pd.DataFrame:
        return self.read_table(asset_key, partition_key).to_pandas()

    def read_partitions(self, asset_key: Sequence[str], partition_keys: Sequence[str],
                        where_equal: tuple[str, str] | None = None) -> pd.DataFrame:
        tables = [self.read_table(asset_key, key, where_equal) for key in partition_keys]
        if not tables:
            raise ValueError(f"no partitions of {'/'.join(asset_key)} requested")
        return pa.concat_tables(tables, promote_options="default").to_pandas()

    def partition_keys(self, asset_key: Sequence[str]) -> list[str]:
        """Keys of the partitions present, sorted."""
        selector = pafs.FileSelector(self.asset_dir(asset_key), allow_not_found=True)
        keys = set()
        for info in self.fs.get_file_info(selector):
            name = info.base_name
            if info.type == pafs.FileType.File and name.endswith(PARQUET_SUFFIX) and TMP_MARKER not in name:
                keys.add(name[: -len(PARQUET_SUFFIX)])
        return sorted(keys)
