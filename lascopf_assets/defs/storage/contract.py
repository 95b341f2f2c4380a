"""The IO manager contract every IO manager here honours (see docs/CONVENTIONS.md, IO manager contract).

Metadata keys (output and input definition metadata) and the value a daily asset passes for a
range of days: :class:`DailyFrames`, one DataFrame per day partition made on demand, so that a
single-run backfill over a year holds one day in memory, never the year.

* An output covering one partition is a DataFrame (as before). An output covering several day
  partitions may be a DataFrame (split by ``partition_time_column``) or a :class:`DailyFrames`:
  the IO manager then pulls the days one at a time, writes each atomically (its own file, or its
  own transaction) as soon as it is made, and adds the stream's :meth:`DailyFrames.summary` (the
  range's metadata, known only once every day has been made) to the output's metadata.
* An input typed :data:`DAILY_TABLE` (DataFrame or DailyFrames) covering several day partitions is
  loaded as a lazy :class:`DailyFrames` that reads one day at a time; covering one partition, it
  is that day's DataFrame. An input typed DataFrame (the default) is one frame of the whole range.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd

# output metadata: the UTC time column a range output is split by, one file or table window per day
PARTITION_TIME_COLUMN = "partition_time_column"
# input metadata: an unpartitioned asset reading a window of a daily one reads the days that exist
ALLOW_MISSING_PARTITIONS = "allow_missing_partitions"
# input metadata: load only the rows whose value in this column equals the step's own partition key
# (a feeder-partitioned asset reading the days of a table that holds every feeder)
ROWS_OF_PARTITION = "rows_of_partition"
# input metadata: load only these columns (in this order), as Dagster's database IO managers do
COLUMNS = "columns"
# output metadata: says that a range step's figures are the run's, not one day's
METADATA_SCOPE = "metadata_scope"


class DailyFrames:
    """The frames of a range of day partitions, one per day, in day order, made on demand.

    ``produce()`` returns an iterator of ``(partition key, DataFrame)`` pairs, exactly one per key
    of ``keys`` and in that order (checked while iterating). A stream built from a computation is
    iterated once (``reusable=False``: its per-day statistics would otherwise count twice); one
    that reads stored days (an IO manager's input) may be iterated again. ``summary()`` is the
    metadata of the whole range, available once a pass has gone through every day.
    """

    def __init__(
        self,
        keys: Sequence[str],
        produce: Callable[[], Iterable[tuple[str, pd.DataFrame]]],
        summary: Callable[[], Mapping[str, Any]] | None = None,
        *,
        reusable: bool = False,
    ):
        if not keys:
            raise ValueError("DailyFrames needs at least one partition key")
        self.keys: tuple[str, ...] = tuple(keys)
        self._produce = produce
        self._summary = summary
        self._reusable = reusable
        self._started = False
        self.complete = False  # a pass went through every day

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return f"DailyFrames({self.keys[0]}..{self.keys[-1]}, {len(self.keys)} days)"

    def __iter__(self) -> Iterator[tuple[str, pd.DataFrame]]:
        if self._started and not self._reusable:
            raise RuntimeError(f"{self!r} is made on demand and can be iterated once")
        self._started = True
        return self._checked()

    def _checked(self) -> Iterator[tuple[str, pd.DataFrame]]:
        expected = iter(self.keys)
        for key, frame in self._produce():
            want = next(expected, None)
            if key != want:
                raise ValueError(f"{self!r} produced day {key!r} where {want!r} was due")
            if not isinstance(frame, pd.DataFrame):
                raise TypeError(f"{self!r} produced a {type(frame).__name__} for {key}, not a DataFrame")
            yield key, frame
        missing = list(expected)
        if missing:
            raise ValueError(f"{self!r} ended before day(s) {missing[0]}..{missing[-1]}")
        self.complete = True

    def frames(self) -> Iterator[pd.DataFrame]:
        """The frames alone, in day order."""
        return (frame for _key, frame in self)

    def summary(self) -> dict[str, Any]:
        """The range's metadata (empty without a summary function); only after a complete pass.

        Dagster gives every day of a range step the same output metadata, so over several days it
        says so in ``metadata_scope``: the figures are the run's, not the day's."""
        if not self.complete:
            raise RuntimeError(f"{self!r}: the summary of a range is known once every day has been made")
        summary = dict(self._summary()) if self._summary else {}
        if len(self.keys) > 1:
            summary[METADATA_SCOPE] = (
                f"the whole run: {len(self.keys)} days {self.keys[0]}..{self.keys[-1]} (one single-run backfill), "
                "not this day alone"
            )
        return summary

    def map(self, fn: Callable[[str, pd.DataFrame], pd.DataFrame],
            summary: Callable[[], Mapping[str, Any]] | None = None) -> DailyFrames:
        """A stream of ``fn(key, frame)`` for each day of this one, made on demand (iterated once)."""
        return DailyFrames(self.keys, lambda: ((key, fn(key, frame)) for key, frame in self), summary)

    def to_frame(self) -> pd.DataFrame:
        """Every day in one frame: for small ranges and tests (the point of the stream is not to do this)."""
        frames = list(self.frames())
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


# the Dagster type of a daily asset that streams ranges: one day's DataFrame, or a range as DailyFrames
DAILY_TABLE = dg.PythonObjectDagsterType(
    python_type=(pd.DataFrame, DailyFrames), name="DailyTable",
    description="One day partition as a DataFrame, or a range of days as DailyFrames (one DataFrame per day, on demand).",
)


def loads_daily_frames(context: dg.InputContext) -> bool:
    """Whether the input's type accepts :class:`DailyFrames` (a range is then loaded lazily, day by day)."""
    try:
        typing_type = context.dagster_type.typing_type
    except dg.DagsterInvariantViolationError:  # a context built without a type
        return False
    return typing_type is DailyFrames or DailyFrames in typing.get_args(typing_type)


def input_columns(context: dg.InputContext) -> list[str] | None:
    """The columns an input asks for (metadata ``columns``), or None for every column."""
    columns = (context.definition_metadata or {}).get(COLUMNS)
    return list(columns) if columns else None


def rows_of_partition(context: dg.InputContext) -> tuple[str, str] | None:
    """``(column, the step's partition key)`` when the input asks for its partition's rows only."""
    column = (context.definition_metadata or {}).get(ROWS_OF_PARTITION)
    if not column:
        return None
    if not context.has_partition_key:
        raise dg.Failure(f"input {context.name!r} selects rows by {column!r} = partition key, but the run has no partition")
    return column, context.partition_key
