"""The Parquet lake IO manager: one file per daily partition, ranges split by time.

Dagster's UPathIOManager refuses an output covering several partitions, so
single-run backfills need this: a range output is split by the asset's
partition time column (output metadata ``partition_time_column``, default
``timestamp``) into one atomically written file per day; a range input is the
concatenation of the days. An input declared with metadata
``{"allow_missing_partitions": True}`` (an unpartitioned asset reading a window
of a partitioned one) reads the partitions that exist and skips the others.
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


class LakeIOManagerBase(dg.ConfigurableIOManager):
    """Shared Dagster plumbing; subclasses say which lake (filesystem + base) to use."""

    def lake(self) -> ParquetLake:
        raise NotImplementedError

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
        else:
            where = lake.write(key, obj)
        context.add_output_metadata({"rows": dg.MetadataValue.int(len(obj)), "stored_at": dg.MetadataValue.text(where)})

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        lake = self.lake()
        key = context.asset_key.path
        if not context.has_asset_partitions:
            return lake.read(key)
        keys = list(context.asset_partition_keys)
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
