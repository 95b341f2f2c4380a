"""The partitions definitions: the one daily definition every day-partitioned asset uses (and how such assets
backfill), and the feeders (kept in step with the grid by ``grid_topology``).

The daily partitions span ``LASCOPF_FIRST_DAY`` (default 2023-01-01: utilities backfill years of
history) to ``LASCOPF_LAST_DAY`` (inclusive; unset or empty: open-ended, a new partition each UTC
day). ``make demo`` and ``make dev`` set the last day to the demo year's, so the demo's partitions
are its data's days (see the Makefile); production leaves it open.
"""

import datetime as dt
import os

import dagster as dg

from lascopf_assets.defs.storage.contract import PARTITION_TIME_COLUMN

DEFAULT_FIRST_DAY = "2023-01-01"
FIRST_DAY_VAR = "LASCOPF_FIRST_DAY"
LAST_DAY_VAR = "LASCOPF_LAST_DAY"


class PartitionWindowError(ValueError):
    """``LASCOPF_FIRST_DAY`` / ``LASCOPF_LAST_DAY`` that do not make a window of days."""


def _day_from_env(name: str, default: str | None) -> dt.date | None:
    text = os.environ.get(name, "").strip() or default
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PartitionWindowError(f"{name}={text!r} is not a day (YYYY-MM-DD)") from None


def partition_window() -> tuple[dt.date, dt.date | None]:
    """(first day, last day or None for open-ended) of the daily partitions, from the environment."""
    first = _day_from_env(FIRST_DAY_VAR, DEFAULT_FIRST_DAY)
    last = _day_from_env(LAST_DAY_VAR, None)
    if last is not None and last < first:
        raise PartitionWindowError(f"{LAST_DAY_VAR}={last} is before {FIRST_DAY_VAR}={first}")
    return first, last


def daily_partitions_definition() -> dg.DailyPartitionsDefinition:
    """Daily UTC partitions over :func:`partition_window` (Dagster's ``end_date`` is exclusive)."""
    first, last = partition_window()
    end = None if last is None else (last + dt.timedelta(days=1)).isoformat()
    return dg.DailyPartitionsDefinition(start_date=first.isoformat(), end_date=end, timezone="UTC")


daily_partitions = daily_partitions_definition()
DATA_START_DATE = daily_partitions.start.strftime("%Y-%m-%d")

# a backfill over a range of days is one run (the writers handle ranges: ingestion)
DAILY_SINGLE_RUN_BACKFILL = dict(partitions_def=daily_partitions, backfill_policy=dg.BackfillPolicy.single_run())
# a backfill runs one day per run (each day is its own problem: the dispatch)
DAILY_RUN_PER_DAY = dict(partitions_def=daily_partitions, backfill_policy=dg.BackfillPolicy.multi_run(1))
# output metadata: the UTC column a range output is split by, one file or table window per day
TIMESTAMP_SPLITS_DAYS = {PARTITION_TIME_COLUMN: "timestamp"}

# one partition per feeder of the latest topology (key = the feeder head's element id)
feeder_partitions = dg.DynamicPartitionsDefinition(name="feeders")
