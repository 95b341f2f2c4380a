"""The Parquet lake IO manager: one file per daily partition, ranges split by time.

Dagster's UPathIOManager refuses an output covering several partitions, so
single-run backfills need this: a range output is split by the asset's
partition time column (output metadata ``partition_time_column``, default
``timestamp``) into one atomically written file per day; a range input is the
concatenation of the days. An input declared with metadata
``{"allow_missing_partitions": True}`` (an unpartitioned asset reading a window
of a partitioned one) reads the partitions that exist and skips the others.

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

from lascopf_assets.lib.storage.parquet_lake import ParquetLake, PartitionWindow

PARTITION_TIME_COLUMN = "partition_time_column"
ALLOW_MISSING_PARTITIONS = "allow_missing_partitions"


def partition_windows(
    partitions_def: dg.TimeWindowPartitionsDefinition, keys: Sequence[str]
) -> list[PartitionWindow]:
    windows = []
    for key in keys:
        window = partitions_def.time_window_for_partition_key(key)
        windows.append(PartitionWindow(key, pd.Timestamp(window.start), pd.Timestamp(window.end)))
    return windows


# (lake, asset key, partition keys) -> (run id, frame written by that run in this process)
_WRITTEN_THIS_RUN: dict[tuple, tuple[str, pd.DataFrame]] = {}


def _written_key(lake: ParquetLake, asset_key: Sequence[str], partition_keys: Sequence[str]) -> tuple:
    return (type(lake.fs).__name__, lake.base, tuple(asset_key), tuple(partition_keys))


class LakeIOManagerBase(dg.ConfigurableIOManager):
    """Shared Dagster plumbing; subclasses say which lake (filesystem + base) to use."""

    def lake(self) -> ParquetLake:
        raise NotImplementedError

    def _keep(self, lake: ParquetLake, context: dg.OutputContext, partition_keys: Sequence[str], obj: pd.DataFrame) -> None:
        run_id = context.run_id
        for key in [k for k, (rid, _) in _WRITTEN_THIS_RUN.items() if rid != run_id]:
            del _WRITTEN_THIS_RUN[key]
        _WRITTEN_THIS_RUN[_written_key(lake, context.asset_key.path, partition_keys)] = (run_id, obj)

    def _kept(self, lake: ParquetLake, context: dg.InputContext, partition_keys: Sequence[str]) -> pd.DataFrame | None:
        hit = _WRITTEN_THIS_RUN.pop(_written_key(lake, context.asset_key.path, partition_keys), None)
        step = getattr(context, "step_context", None)
        if hit is None or step is None or hit[0] != step.run_id:
            return None
        return hit[1]

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        if obj is None:
            return
        lake = self.lake()
        key = context.asset_key.path
        if context.has_asset_partitions:
            time_column = (context.definition_metadata or {}).get(PARTITION_TIME_COLUMN, "timestamp")
            windows = partition_windows(context.asset_partitions_def, context.asset_partition_keys)
            paths = lake.write_range(key, obj, time_column, windows)
            where = paths[0] if len(paths) == 1 else f"{paths[0]} .. {paths[-1]} ({len(paths)} files)"
            self._keep(lake, context, context.asset_partition_keys, obj)
        else:
            where = lake.write(key, obj)
            self._keep(lake, context, (), obj)
        context.add_output_metadata({"rows": dg.MetadataValue.int(len(obj)), "stored_at": dg.MetadataValue.text(where)})

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        lake = self.lake()
        key = context.asset_key.path
        if not context.has_asset_partitions:
            kept = self._kept(lake, context, ())
            return kept if kept is not None else lake.read(key)
        keys = list(context.asset_partition_keys)
        kept = self._kept(lake, context, keys)
        if kept is not None:
            return kept
        if (context.definition_metadata or {}).get(ALLOW_MISSING_PARTITIONS):
            present = set(lake.partition_keys(key))
            keys = [k for k in keys if k in present]
            if not keys:
                raise dg.Failure(f"no partition of {context.asset_key.to_user_string()} has been materialized yet")
        return lake.read_partitions(key, keys)


class ParquetLakeIOManager(LakeIOManagerBase):
    """Parquet files under ``base_path`` on the local filesystem."""

    base_path: str

    def lake(self) -> ParquetLake:
        return ParquetLake.local(self.base_path)
