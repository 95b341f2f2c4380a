"""The one daily partitions definition every day-partitioned asset uses."""

import dagster as dg

DATA_START_DATE = "2023-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=DATA_START_DATE, timezone="UTC")
