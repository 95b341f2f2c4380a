"""Which hours to balance over: the last days of a long load table that have data."""

from __future__ import annotations

import pandas as pd


def select_window(aggregates: pd.DataFrame, window_days: int, end_date: str | None) -> tuple[pd.DataFrame, str, str]:
    """Rows of the ``window_days`` days ending at ``end_date`` (or the last day present), with the first and last day."""
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, got {window_days}")
    if aggregates.empty:
        raise ValueError("junction_aggregates holds no rows")
    stamps = pd.to_datetime(aggregates["timestamp"], utc=True)
    days = stamps.dt.floor("D")
    last = pd.Timestamp(end_date, tz="UTC") if end_date else days.max()
    first = last - pd.Timedelta(days=window_days - 1)
    keep = (days >= first) & (days <= last)
    if not keep.any():
        raise ValueError(f"no junction_aggregates rows between {first.date()} and {last.date()}")
    kept = days[keep]  # report the days that have data, not just the configured window
    return aggregates.loc[keep.to_numpy()], str(kept.min().date()), str(kept.max().date())
