"""Output/input metadata keys every IO manager here honours (see docs/CONVENTIONS.md, IO manager contract)."""

import dagster as dg

# output metadata: the UTC time column a range output is split by, one file or table window per day
PARTITION_TIME_COLUMN = "partition_time_column"
# input metadata: an unpartitioned asset reading a window of a daily one reads the days that exist
ALLOW_MISSING_PARTITIONS = "allow_missing_partitions"
# input metadata: load only the rows whose value in this column equals the step's own partition key
# (a feeder-partitioned asset reading the days of a table that holds every feeder)
ROWS_OF_PARTITION = "rows_of_partition"


def rows_of_partition(context: dg.InputContext) -> tuple[str, str] | None:
    """``(column, the step's partition key)`` when the input asks for its partition's rows only."""
    column = (context.definition_metadata or {}).get(ROWS_OF_PARTITION)
    if not column:
        return None
    if not context.has_partition_key:
        raise dg.Failure(f"input {context.name!r} selects rows by {column!r} = partition key, but the run has no partition")
    return column, context.partition_key
