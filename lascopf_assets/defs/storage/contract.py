"""Output/input metadata keys every IO manager here honours (see docs/CONVENTIONS.md, IO manager contract)."""

# output metadata: the UTC time column a range output is split by, one file or table window per day
PARTITION_TIME_COLUMN = "partition_time_column"
# input metadata: an unpartitioned asset reading a window of a daily one reads the days that exist
ALLOW_MISSING_PARTITIONS = "allow_missing_partitions"
