"""The partitions definitions: the one daily definition every day-partitioned asset uses (and how such assets
backfill), and the feeders (kept in step with the grid by ``grid_topology``)."""

import dagster as dg

from lascopf_assets.defs.storage.contract import PARTITION_TIME_COLUMN

DATA_START_DATE = "2023-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=DATA_START_DATE, timezone="UTC")

# a backfill over a range of days is one run (the writers handle ranges: ingestion)
DAILY_SINGLE_RUN_BACKFILL = dict(partitions_def=daily_partitions, backfill_policy=dg.BackfillPolicy.single_run())
# a backfill runs one day per run (each day is its own problem: the dispatch)
DAILY_RUN_PER_DAY = dict(partitions_def=daily_partitions, backfill_policy=dg.BackfillPolicy.multi_run(1))
# output metadata: the UTC column a range output is split by, one file or table window per day
TIMESTAMP_SPLITS_DAYS = {PARTITION_TIME_COLUMN: "timestamp"}

# one partition per feeder of the latest topology (key = the feeder head's element id)
feeder_partitions = dg.DynamicPartitionsDefinition(name="feeders")
