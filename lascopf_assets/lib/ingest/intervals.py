"""Sub-hourly interval readings: interval detection, re-deliveries, and the roll-up to hourly kWh.

A meter feed delivers one reading per interval (AMI: 15 minutes; older meters: the hour). The
validated loads are hourly, so :mod:`~lascopf_assets.lib.ingest.validation` uses this module to

1. find each (meter, file)'s interval (:func:`detect_interval_minutes`, or the
   :class:`IntervalPolicy`'s declared one) so readings off that grid break a row rule;
2. sort out readings of the same meter and timestamp (:func:`resolve_duplicates`): a copy of an
   earlier one is a re-delivery (collapsed, counted), a different value is a conflict (quarantined);
3. sum each (meter, hour)'s interval readings to the hour's kWh (:func:`roll_up_hours`), SCADA
   values as the hour's means; an hour with missing intervals is quarantined whole, or with
   ``gap_fill="linear"`` its missing intervals are estimated.

Everything works on numpy arrays of row positions, integer codes and microseconds (no Python loop
over rows); the only loops are over the few accepted interval lengths and over the distinct
patterns of missing intervals that reasons are written for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US
# the interval lengths a meter may have: those that divide the hour exactly
ACCEPTED_MINUTES = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)
GAP_FILLS = ("none", "linear")
_MISSING_LISTED = 8  # an incomplete hour's reason lists at most this many missing intervals


@dataclass(frozen=True)
class IntervalPolicy:
    """How readings are placed on intervals and rolled up to hours.

    ``interval_minutes``: every meter's interval (one of :data:`ACCEPTED_MINUTES`), or None to
    detect it per (meter, file) from the readings (:func:`detect_interval_minutes`).
    ``gap_fill``: ``"none"`` quarantines an hour with missing intervals; ``"linear"`` estimates the
    missing intervals by linear interpolation within the hour and keeps the hour.
    """

    interval_minutes: int | None = None
    gap_fill: str = "none"

    def __post_init__(self) -> None:
        minutes = self.interval_minutes
        whole = isinstance(minutes, (int, np.integer)) and not isinstance(minutes, bool)
        if minutes is not None and not (whole and int(minutes) in ACCEPTED_MINUTES):
            raise ValueError(
                f"interval_minutes must be None (detect) or one of {ACCEPTED_MINUTES} (it must divide the hour), got {minutes!r}"
            )
        if self.gap_fill not in GAP_FILLS:
            raise ValueError(f"gap_fill must be one of {GAP_FILLS}, got {self.gap_fill!r}")


def order_by(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """Positions sorted by (``major``, ``minor``), ties in the order given (a stable sort).

    One int64 key and one stable argsort when it fits (it does for any day), else a lexsort.
    """
    if not len(major):
        return np.array([], dtype=np.int64)
    low = int(minor.min())
    span = int(minor.max()) - low + 1
    if int(major.min()) >= 0 and (int(major.max()) + 1) * span < (1 << 63):
        return np.argsort(major.astype(np.int64) * span + (minor - low), kind="stable")
    return np.lexsort((minor, major))


_ACCEPTED_US = np.asarray(ACCEPTED_MINUTES, dtype=np.int64) * MINUTE_US


def detect_interval_minutes(pair: np.ndarray, micros: np.ndarray, pairs: int, order: np.ndarray | None = None) -> np.ndarray:
    """The interval (minutes) of each of ``pairs`` (meter, file) pairs from its readings.

    ``pair[i]`` in ``0..pairs-1`` is reading i's (meter, file), ``micros[i]`` its timestamp (UTC
    microseconds). A pair's interval is the most common positive difference between its
    consecutive distinct timestamps among the differences that divide the hour exactly (ties: the
    larger); a pair with a single reading, or with no such difference, has 60 (hourly).
    ``order``: the positions sorted by (pair, timestamp), when the caller has it.
    """
    if len(pair) < 2:
        return np.full(pairs, 60, dtype=np.int64)
    order = order_by(pair, micros) if order is None else order
    p, t = pair[order], micros[order]
    step = np.diff(t)
    which = np.minimum(np.searchsorted(_ACCEPTED_US, step), len(_ACCEPTED_US) - 1)
    accepted = (_ACCEPTED_US[which] == step) & (p[1:] == p[:-1])
    k = len(ACCEPTED_MINUTES)
    counts = np.bincount(p[1:][accepted] * k + which[accepted], minlength=pairs * k).reshape(pairs, k)
    # argmax finds the first maximum: over the lengths reversed, that is the larger one on a tie
    minutes = np.asarray(ACCEPTED_MINUTES, dtype=np.int64)[k - 1 - np.argmax(counts[:, ::-1], axis=1)]
    minutes[counts.max(axis=1) == 0] = 60
    return minutes


def on_interval_grid(micros: np.ndarray, interval_minutes: np.ndarray) -> np.ndarray:
    """Whether each timestamp lies a whole number of intervals after its hour's start."""
    return micros % (np.asarray(interval_minutes, dtype=np.int64) * MINUTE_US) == 0


def clock_labels(micros: np.ndarray) -> pd.Series:
    """``HH:MM`` of each UTC timestamp (``HH:MM:SS`` when it has seconds), for reasons."""
    stamps = pd.Series(pd.to_datetime(np.asarray(micros, dtype=np.int64), unit="us", utc=True))
    return stamps.dt.strftime("%H:%M:%S").str.replace(r":00$", "", regex=True)


def _values_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


def number_text(values: np.ndarray) -> pd.Series:
    """Shortest round-trip text of each float (0.61, not 0.6100000000000001; 2, not 2.0)."""
    return pd.Series(values, dtype=np.float64).astype(str).str.replace(r"\.0$", "", regex=True)


@dataclass
class Duplicates:
    """Readings of a meter and timestamp that came before (positions into the arrays given)."""

    redelivered: np.ndarray  # identical to an earlier reading: collapsed
    conflicting: np.ndarray  # differing from every earlier reading: quarantined
    kept: np.ndarray  # per conflicting reading, the first reading of its meter and timestamp (it stays)
    column: np.ndarray  # per conflicting reading, which of ``values`` differs first from the kept one


def _sorted(meter: np.ndarray, micros: np.ndarray, positions: np.ndarray | None) -> np.ndarray:
    return order_by(meter, micros) if positions is None else positions


def resolve_duplicates(meter: np.ndarray, micros: np.ndarray, values: list[np.ndarray],
                       positions: np.ndarray | None = None) -> Duplicates:
    """Sort out readings of the same meter and timestamp; earlier = smaller position (the order given).

    ``values`` are each reading's values (kwh, then the SCADA columns), compared with NaN equal to
    NaN. A reading identical to an earlier one is a re-delivery; one that differs from every
    earlier one conflicts with the first one (which stays). ``positions``: the readings to judge,
    sorted by (meter, timestamp, position) (:func:`order_by`); default all.
    """
    positions = _sorted(meter, micros, positions)
    empty = np.array([], dtype=np.int64)
    if len(positions) < 2:
        return Duplicates(empty, empty, empty, empty)
    m, t = meter[positions], micros[positions]
    repeat = (t[1:] == t[:-1]) & (m[1:] == m[:-1])
    if not repeat.any():
        return Duplicates(empty, empty, empty, empty)
    in_dup = np.zeros(len(positions), dtype=bool)
    in_dup[1:] |= repeat
    in_dup[:-1] |= repeat
    chosen = positions[in_dup]  # every reading of a repeated (meter, timestamp), grouped, in order
    first = ~np.concatenate(([False], repeat))[in_dup]
    group = np.cumsum(first) - 1
    frame = pd.DataFrame({"g": group, **{f"v{i}": v[chosen] for i, v in enumerate(values)}})
    copy = frame.duplicated(keep="first").to_numpy()  # identical to an earlier reading of its group
    kept_of = chosen[first][group]
    conflict = ~copy & ~first
    conflicting, kept = chosen[conflict], kept_of[conflict]
    differs = np.stack([~_values_equal(v[conflicting], v[kept]) for v in values], axis=1)
    return Duplicates(chosen[copy], conflicting, kept, np.argmax(differs, axis=1))


def duplicate_reasons(duplicates: Duplicates, names: list[str], values: list[np.ndarray],
                      source_file: pd.Series, source_row: np.ndarray) -> pd.Series:
    """``"kwh 0.61 differs from 0.52 in f.csv line 17, which was kept"`` per conflicting reading."""
    if not len(duplicates.conflicting):
        return pd.Series([], dtype="str")
    pick = duplicates.column
    mine = np.choose(pick, [v[duplicates.conflicting] for v in values])
    theirs = np.choose(pick, [v[duplicates.kept] for v in values])
    name = pd.Series(np.asarray(names, dtype=object)[pick], dtype="str")
    where = pd.Series(source_file.iloc[duplicates.kept].to_numpy(dtype=object), dtype="str")
    line = pd.Series(source_row[duplicates.kept], dtype=np.int64).astype(str)
    return (name + " " + number_text(mine) + " differs from " + number_text(theirs) + " in " + where
            + " line " + line + ", which was kept")


@dataclass
class HourlyRollUp:
    """The readings of each (meter, hour), summed: the valid hours and the readings set aside.

    Per valid hour (in order of hour, then position of its first reading): ``meter``, ``hour``
    (UTC microseconds of its start), ``kwh`` (sum, estimated intervals included), ``scada`` (hours x
    columns: the mean of the hour's readings present, NaN ignored), ``first`` (position of its
    earliest reading), ``intervals`` (readings present), ``estimated`` (intervals gap-filled).
    Readings (positions): ``in_valid_hour``; ``incomplete`` (in hours with missing intervals, not
    filled) with ``incomplete_reason``; ``mismatched`` (interval other than their hour's) with
    ``mismatched_kept`` (the hour's earliest reading, whose interval the hour has).
    """

    meter: np.ndarray
    hour: np.ndarray
    kwh: np.ndarray
    scada: np.ndarray
    first: np.ndarray
    intervals: np.ndarray
    estimated: np.ndarray
    in_valid_hour: np.ndarray
    incomplete: np.ndarray
    incomplete_reason: pd.Series
    mismatched: np.ndarray
    mismatched_kept: np.ndarray


def _missing_text(interval: np.ndarray, mask: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per incomplete hour, e.g. ``"3 of 4 15-minute intervals present; missing :30"``."""
    if not len(interval):
        return np.array([], dtype=object)
    patterns, inverse = np.unique(np.stack([interval, mask, present]), axis=1, return_inverse=True)
    texts = []
    for minutes, bits, count in patterns.T.tolist():  # one text per distinct pattern, not per hour
        k = 60 // minutes
        missing = [f":{s * minutes:02d}" for s in range(k) if not (bits >> s) & 1]
        listed = ", ".join(missing[:_MISSING_LISTED])
        if len(missing) > _MISSING_LISTED:
            listed += f" and {len(missing) - _MISSING_LISTED} more"
        texts.append(f"{count} of {k} {minutes}-minute intervals present; missing {listed}")
    return np.asarray(texts, dtype=object)[inverse.ravel()]


def _linear_fill_sums(hour_interval: np.ndarray, selected: np.ndarray, group: np.ndarray, slot: np.ndarray,
                      kwh: np.ndarray) -> np.ndarray:
    """Per hour (group), the sum of the estimates of its missing intervals (0 for hours not
    ``selected``): linear between the present neighbours within the hour; an edge interval takes
    the nearest present value. ``group``, ``slot``, ``kwh`` are per reading."""
    filled = np.zeros(len(hour_interval), dtype=np.float64)
    for minutes in np.unique(hour_interval[selected]).tolist():  # at most 12: one dense block each
        k = 60 // minutes
        hours = np.flatnonzero(selected & (hour_interval == minutes))
        local = np.full(len(hour_interval), -1, dtype=np.int64)
        local[hours] = np.arange(len(hours))
        mine = local[group] >= 0
        dense = np.full((len(hours), k), np.nan)
        dense[local[group[mine]], slot[mine]] = kwh[mine]
        present = ~np.isnan(dense)
        index = np.broadcast_to(np.arange(k), dense.shape)
        before = np.maximum.accumulate(np.where(present, index, -1), axis=1)
        after = np.minimum.accumulate(np.where(present, index, k)[:, ::-1], axis=1)[:, ::-1]
        left = np.take_along_axis(dense, np.clip(before, 0, k - 1), axis=1)
        right = np.take_along_axis(dense, np.clip(after, 0, k - 1), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            between = left + (right - left) * (index - before) / (after - before)
        estimate = np.where(before < 0, right, np.where(after >= k, left, between))
        filled[hours] = np.where(present, 0.0, estimate).sum(axis=1)
    return filled


def _hour_starts(meter: np.ndarray, hour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(whether each reading starts a group, where each group starts) among readings sorted by (meter, hour)."""
    new = np.ones(len(meter), dtype=bool)
    new[1:] = (hour[1:] != hour[:-1]) | (meter[1:] != meter[:-1])
    return new, np.flatnonzero(new)


def _group_of(starts: np.ndarray, n: int) -> np.ndarray:
    """The group of each of ``n`` sorted readings, from the groups' starts."""
    new = np.zeros(n, dtype=np.int64)
    new[starts] = 1
    return np.cumsum(new) - 1


def _by_hour_then_position(hour: np.ndarray, first: np.ndarray, rows: int) -> np.ndarray:
    """The order of groups by (hour, position of their first reading), without a comparison sort
    of positions: positions are marked in a table of ``rows`` (read back in order), then a stable
    sort by hour (a radix sort for small integers)."""
    if not len(first):
        return np.array([], dtype=np.int64)
    group_at = np.full(rows, -1, dtype=np.int64)
    group_at[first] = np.arange(len(first))
    by_position = group_at[group_at >= 0]
    hours = hour[by_position] - hour.min()
    key = hours.astype(np.uint16) if hours.max() < (1 << 16) else hours
    return by_position[np.argsort(key, kind="stable")]


def roll_up_hours(meter: np.ndarray, micros: np.ndarray, interval: np.ndarray, kwh: np.ndarray,
                  scada: list[np.ndarray], gap_fill: str = "none", positions: np.ndarray | None = None) -> HourlyRollUp:
    """Sum each (meter, hour)'s readings (unique per meter and timestamp, on their interval grid).

    ``scada``: one array per SCADA column. ``positions``: the readings to roll up, sorted by
    (meter, timestamp) (:func:`order_by`); default all. An hour's interval is that of its earliest
    reading; a reading of the hour with another interval (the meter delivered at two resolutions)
    is set aside as mismatched. An hour is complete when all ``60 / interval`` intervals are
    present; an incomplete hour is set aside whole, or with ``gap_fill="linear"`` kept with its
    missing intervals estimated (its SCADA means are those of the readings present).
    """
    pos = _sorted(meter, micros, positions)
    rows = max(len(meter), int(pos.max()) + 1 if len(pos) else 0)
    hour = micros[pos] // HOUR_US
    new, starts = _hour_starts(meter[pos], hour)
    step = interval[pos]
    empty = np.array([], dtype=np.int64)
    mismatched = mismatched_kept = empty
    if len(starts) < len(pos) and np.any((step[1:] != step[:-1]) & ~new[1:]):  # an hour at two intervals
        group = _group_of(starts, len(pos))
        mismatch = step != step[starts][group]
        mismatched, mismatched_kept = pos[mismatch], pos[starts[group[mismatch]]]
        pos, hour, step = pos[~mismatch], hour[~mismatch], step[~mismatch]  # set aside; the rest stays sorted
        _, starts = _hour_starts(meter[pos], hour)
    groups = len(starts)
    one_each = groups == len(pos)  # one reading per hour (hourly meters): nothing to add up
    present = np.ones(groups, dtype=np.int64) if one_each else np.diff(np.append(starts, len(pos)))
    hour_interval = step[starts]
    slots = 60 // hour_interval
    complete = present == slots
    if one_each:
        kwh_sum = kwh[pos]
        means = np.stack([column[pos] for column in scada], axis=1) if scada else np.empty((groups, 0))
    else:
        kwh_sum = np.add.reduceat(kwh[pos], starts) if groups else np.array([], dtype=np.float64)
        means = np.empty((groups, len(scada)))
        for j, column in enumerate(scada):
            if groups:
                values = column[pos]
                known = ~np.isnan(values)
                with np.errstate(invalid="ignore", divide="ignore"):
                    means[:, j] = np.add.reduceat(np.where(known, values, 0.0), starts) / np.add.reduceat(known.astype(np.int64), starts)
    estimated = np.zeros(groups, dtype=np.int64)
    keep = complete
    incomplete, incomplete_reason, in_valid_hour = empty, pd.Series([], dtype="str"), pos
    if not complete.all():
        gaps = ~complete
        group = _group_of(starts, len(pos))
        at_gap = gaps[group]  # the readings of incomplete hours: their slots, and which are missing
        slot = np.zeros(len(pos), dtype=np.int64)
        slot[at_gap] = (micros[pos[at_gap]] - hour[at_gap] * HOUR_US) // (step[at_gap] * MINUTE_US)
        if gap_fill == "linear":
            kwh_sum = kwh_sum + _linear_fill_sums(hour_interval, gaps, group, slot, kwh[pos])
            estimated[gaps] = slots[gaps] - present[gaps]
            keep = np.ones(groups, dtype=bool)
        else:
            mask = np.bitwise_or.reduceat(np.left_shift(np.int64(1), slot) * at_gap, starts)
            reasons = _missing_text(hour_interval[gaps], mask[gaps], present[gaps])
            incomplete = pos[at_gap]
            incomplete_reason = pd.Series(reasons[(np.cumsum(gaps) - 1)[group[at_gap]]], dtype="str")
            in_valid_hour = pos[~at_gap]
    if not keep.all():
        starts, kwh_sum, means, present, estimated = starts[keep], kwh_sum[keep], means[keep], present[keep], estimated[keep]
    first = pos[starts]
    kept_hours = hour[starts]
    # output order: hour, then the position of the hour's first reading (the row order of the input)
    by_hour = _by_hour_then_position(kept_hours, first, rows)
    return HourlyRollUp(
        meter=meter[first][by_hour], hour=kept_hours[by_hour] * HOUR_US, kwh=kwh_sum[by_hour],
        scada=means[by_hour], first=first[by_hour], intervals=present[by_hour],
        estimated=estimated[by_hour], in_valid_hour=in_valid_hour, incomplete=incomplete,
        incomplete_reason=incomplete_reason, mismatched=mismatched, mismatched_kept=mismatched_kept,
    )
