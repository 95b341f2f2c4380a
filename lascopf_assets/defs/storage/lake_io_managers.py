"""The Parquet lake IO manager: one file per daily partition, ranges split by time or streamed day by day.

Dagster's UPathIOManager refuses an output covering several partitions, so
single-run backfills need this. A range output is either

* a DataFrame, split by the asset's partition time column (output metadata
  ``partition_time_column``, default ``timestamp``) into one atomically written file per day, or
* a :class:`~lascopf_assets.defs.storage.contract.DailyFrames` stream: the days are pulled one at a
  time and each day's file is written atomically as soon as the day is made (on a writer thread,
  overlapping the next day's computation); the stream's summary (the range's metadata) is added to
  the output metadata once the last day is written. A failure on day k leaves days before k
  written, day k and later untouched, no half-written file.

A range input is the concatenation of the days, or, when the input's type accepts ``DailyFrames``
(``DAILY_TABLE``), a lazy ``DailyFrames`` that reads one day at a time (the next one ahead on a
thread), so a year-long range never sits in memory. An input declared with metadata
``{"allow_missing_partitions": True}`` (an asset reading a window of a
partitioned one) reads the partitions that exist and skips the others; with
``{"rows_of_partition": "<column>"}`` it reads only the rows whose column equals
the step's own partition key (a feeder partition reading every day of a table
holding all feeders), filtered inside the Parquet reader; with ``{"columns": [...]}`` only those
columns are read.

A partition of a non-time partitions definition (feeders) is one file named
after its key; an output covering several such keys is refused.

Write-through, in-process: an output is always written to the lake; when the
next step of the same run loads exactly that output in the same process (the
in-process executor, as in a single-run backfill), it gets the frame just
written instead of reading the files back. Other runs and other processes
(the multiprocess executor) always read the lake. A kept frame is dropped on
its first load and when the next run writes anything.
"""


from collections.abc import Sequence

import dagster as dg
import pandas as pd

from lascopf_assets.defs.storage.contract import (
    ALLOW_MISSING_PARTITIONS,
    PARTITION_TIME_COLUMN,
    DailyFrames,
    input_columns,
    loads_daily_frames,
    rows_of_partition,
)
from lascopf_assets.defs.storage.resources import S3Connection
from lascopf_assets.storage.parquet_lake import ParquetLake, PartitionWindow, RowsOutsidePartitionError
from lascopf_assets.storage.s3_lake import S3LakeConfig, S3ParquetLake


def partition_windows(
    partitions_def: dg.TimeWindowPartitionsDefinition, keys: Sequence[str]
) -> list[PartitionWindow]:
    windows = []
    for key in keys:
        window = partitions_def.time_window_for_partition_key(key)
        windows.append(PartitionWindow(key, pd.Timestamp(window.start), pd.Timestamp(window.end)))
    return windows


class WriteThroughCache:
    """The last frame each run wrote per (lake, asset, partitions), in this process.

    Process-wide on purpose: the IO manager object is rebuilt per step, the frames must outlive it
    until the next step of the same run loads them. A frame is handed out once (``take``) and only
    to the run that wrote it; writing in another run forgets every other run's frames.
    """

    def __init__(self) -> None:
        self._frames: dict[tuple, tuple[str, pd.DataFrame]] = {}

    @staticmethod
    def _key(lake: ParquetLake, asset_key: Sequence[str], partition_keys: Sequence[str]) -> tuple:
        return (type(lake.fs).__name__, lake.base, tuple(asset_key), tuple(partition_keys))

    def remember(self, lake: ParquetLake, asset_key: Sequence[str], partition_keys: Sequence[str], run_id: str,
                 frame: pd.DataFrame | None) -> None:
        """Keep ``frame`` for the run's next step (None: keep nothing, a streamed range is read back day by day)."""
        for key in [k for k, (rid, _) in self._frames.items() if rid != run_id]:
            del self._frames[key]
        if frame is None:
            self._frames.pop(self._key(lake, asset_key, partition_keys), None)
            return
        self._frames[self._key(lake, asset_key, partition_keys)] = (run_id, frame)

    def take(self, lake: ParquetLake, asset_key: Sequence[str], partition_keys: Sequence[str],
             run_id: str | None) -> pd.DataFrame | None:
        hit = self._frames.pop(self._key(lake, asset_key, partition_keys), None)
        if hit is None or run_id is None or hit[0] != run_id:
            return None
        return hit[1]


WRITTEN_THIS_RUN = WriteThroughCache()


class LakeIOManagerBase(dg.ConfigurableIOManager):
    """Shared Dagster plumbing; subclasses say which lake (filesystem + base) to use."""

    def lake(self) -> ParquetLake:
        raise NotImplementedError

    def _remember(self, lake: ParquetLake, context: dg.OutputContext, partition_keys: Sequence[str],
                  obj: pd.DataFrame | None) -> None:
        WRITTEN_THIS_RUN.remember(lake, context.asset_key.path, partition_keys, context.run_id, obj)

    def _written_this_run(self, lake: ParquetLake, context: dg.InputContext,
                          partition_keys: Sequence[str]) -> pd.DataFrame | None:
        step = getattr(context, "step_context", None)
        return WRITTEN_THIS_RUN.take(lake, context.asset_key.path, partition_keys, step.run_id if step else None)

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | DailyFrames) -> None:
        if obj is None:
            return
        lake = self.lake()
        key = context.asset_key.path
        if isinstance(obj, DailyFrames):
            self._write_daily_frames(lake, context, obj)
            return
        if context.has_asset_partitions and not isinstance(context.asset_partitions_def, dg.TimeWindowPartitionsDefinition):
            keys = list(context.asset_partition_keys)
            if len(keys) != 1:
                raise dg.Failure(f"{context.asset_key.to_user_string()}: one output per partition of "
                                 f"{type(context.asset_partitions_def).__name__}, got {len(keys)} keys")
            where = lake.write(key, obj, keys[0])
            self._remember(lake, context, keys, obj)
        elif context.has_asset_partitions:
            time_column = (context.definition_metadata or {}).get(PARTITION_TIME_COLUMN, "timestamp")
            windows = partition_windows(context.asset_partitions_def, context.asset_partition_keys)
            paths = lake.write_range(key, obj, time_column, windows)
            where = paths[0] if len(paths) == 1 else f"{paths[0]} .. {paths[-1]} ({len(paths)} files)"
            self._remember(lake, context, context.asset_partition_keys, obj)
        else:
            where = lake.write(key, obj)
            self._remember(lake, context, (), obj)
        context.add_output_metadata({"rows": dg.MetadataValue.int(len(obj)), "stored_at": dg.MetadataValue.text(where)})

    def _write_daily_frames(self, lake: ParquetLake, context: dg.OutputContext, frames: DailyFrames) -> None:
        name = context.asset_key.to_user_string()
        if not (context.has_asset_partitions and isinstance(context.asset_partitions_def, dg.TimeWindowPartitionsDefinition)):
            raise dg.Failure(f"{name}: DailyFrames are for outputs of time-window (daily) partitions")
        keys = list(context.asset_partition_keys)
        if list(frames.keys) != keys:
            raise dg.Failure(f"{name}: the stream covers {frames.keys[0]}..{frames.keys[-1]}, the step {keys[0]}..{keys[-1]}")
        time_column = (context.definition_metadata or {}).get(PARTITION_TIME_COLUMN, "timestamp")
        window_of = {w.key: w for w in partition_windows(context.asset_partitions_def, keys)}
        self._remember(lake, context, keys, None)  # nothing kept in memory: the next step reads the days back
        try:
            written = lake.write_days(context.asset_key.path, ((window_of[k], frame) for k, frame in frames), time_column)
        except (RowsOutsidePartitionError, OSError) as exc:
            raise dg.Failure(description=f"{name}: {exc}") from exc
        paths = [path for path, _rows in written]
        where = paths[0] if len(paths) == 1 else f"{paths[0]} .. {paths[-1]} ({len(paths)} files)"
        context.add_output_metadata({
            "rows": dg.MetadataValue.int(sum(rows for _path, rows in written)),
            "stored_at": dg.MetadataValue.text(where),
            **frames.summary(),
        })

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | DailyFrames:
        lake = self.lake()
        key = context.asset_key.path
        if not context.has_asset_partitions:
            kept = self._written_this_run(lake, context, ())
            return kept if kept is not None else lake.read(key)
        keys = list(context.asset_partition_keys)
        metadata = context.definition_metadata or {}
        where_equal = rows_of_partition(context)
        columns = input_columns(context)
        kept = None if where_equal else self._written_this_run(lake, context, keys)
        if kept is not None:
            return kept if columns is None else kept[columns]
        name = context.asset_key.to_user_string()
        streamed = (len(keys) > 1 and loads_daily_frames(context)
                    and isinstance(context.asset_partitions_def, dg.TimeWindowPartitionsDefinition))
        if metadata.get(ALLOW_MISSING_PARTITIONS) or streamed:
            present = set(lake.partition_keys(key))
            if metadata.get(ALLOW_MISSING_PARTITIONS):
                keys = [k for k in keys if k in present]
                if not keys:
                    raise dg.Failure(f"no partition of {name} has been materialized yet")
            else:
                missing = [k for k in keys if k not in present]
                if missing:
                    raise dg.Failure(f"{name}: {len(missing)} partition(s) not materialized ({', '.join(missing[:5])}"
                                     f"{', ...' if len(missing) > 5 else ''})")
        if streamed and len(keys) > 1:  # read lazily, one day at a time
            return DailyFrames(keys, lambda: lake.read_days(key, keys, where_equal, columns), reusable=True)
        try:
            return lake.read_partitions(key, keys, where_equal, columns)
        except ValueError as exc:
            raise dg.Failure(f"{name}: {exc}") from exc


class ParquetLakeIOManager(LakeIOManagerBase):
    """Parquet files under ``base_path`` on the local filesystem."""

    base_path: str

    def lake(self) -> ParquetLake:
        return ParquetLake.local(self.base_path)


class S3ParquetLakeIOManager(LakeIOManagerBase, S3Connection):
    """The Parquet lake contract on an S3-compatible object store (AWS, MinIO, others)."""

    bucket: str
    prefix: str = "lake"
    max_attempts: int = 5
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 60.0

    def config(self) -> S3LakeConfig:
        return S3LakeConfig(
            bucket=self.bucket,
            prefix=self.prefix,
            endpoint_url=self.endpoint_url or None,
            access_key=self.access_key or None,
            secret_key=self.secret_key or None,
            region=self.region,
            max_attempts=self.max_attempts,
            connect_timeout_s=self.connect_timeout_s,
            request_timeout_s=self.request_timeout_s,
        )

    def lake(self) -> S3ParquetLake:
        return S3ParquetLake.from_config(self.config())
