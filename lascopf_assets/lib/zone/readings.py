"""Encoding of the demo zone's readings as pyarrow tables (``meter_id, timestamp, kwh``).

Rows are the present readings of an hour range, sorted by timestamp then meter
position; each position reports under its first meter's id until its
replacement's first hour, then under the new id. Two encodings of the same rows:
typed columns (Parquet, in-memory frames) and text columns formatted exactly
for the CSV landing contract.

Hourly zones write one row per present meter-hour, the hour's kWh as synthesized.
A zone of sub-hourly readings (an :class:`IntervalSplit`) writes each present
meter-hour as ``per_hour`` rows at the interval starts (``hh:00, hh:15, ...``):
the hour's kWh, as a 4-decimal scaled integer, is split by positive weights
(the linear trend between the neighbouring hours' loads, times a bounded noise
that is a pure function of the seed, the hour, the position and the interval,
so any hour range and either encoding give the same intervals), each interval
is floored to 4 decimals and the remainder (0 to ``per_hour - 1`` ten-thousandths)
goes on the interval of largest weight: the written intervals sum exactly to the
hourly value and none is negative. A missing hour stays missing as a whole hour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from lascopf_assets.lib.zone.loads import KWH_DECIMALS, HourlyLoads
from lascopf_assets.lib.zone.params import DemoZoneParams
from lascopf_assets.lib.zone.structure import GridStructure

READING_COLUMNS = ("meter_id", "timestamp", "kwh")

_SCALE = 10**KWH_DECIMALS  # kWh -> integer ten-thousandths of a kWh (the CSV contract's 4 decimals)
_US_PER_MINUTE = 60_000_000
# The interval draws are keyed by the fifth child of the zone's SeedSequence: ZoneRandomStreams
# spawns children 0-3, so this key is independent of every other stream and changes none of them.
_INTERVAL_SPAWN_KEY = (4,)
_INTERVAL_NOISE = 0.25  # each interval's weight is its trend times a uniform factor in [0.75, 1.25)
_TREND_LIMIT = 1.0  # |relative slope| cap: weights stay >= (1 - 0.5) * 0.75 before normalizing


@dataclass(frozen=True)
class IntervalSplit:
    """How each present meter-hour is written as sub-hourly readings: ``minutes`` per interval, ``key`` seeds the noise."""

    minutes: int
    key: int  # 64-bit key of the counter-based noise, from the zone's seed

    @classmethod
    def of_zone(cls, params: DemoZoneParams) -> IntervalSplit | None:
        """The zone's split, or ``None`` for an hourly zone (one reading per meter-hour, as always)."""
        if params.interval_minutes == 60:
            return None
        sequence = np.random.SeedSequence(params.seed, spawn_key=_INTERVAL_SPAWN_KEY)
        return cls(minutes=params.interval_minutes, key=int(sequence.generate_state(1, dtype=np.uint64)[0]))

    @property
    def per_hour(self) -> int:
        return 60 // self.minutes


def reporting_meter(structure: GridStructure, first: int, stop: int) -> np.ndarray:
    """Index into ``structure.meter_ids`` of the meter reporting each (hour, position), hours ``[first, stop)``."""
    positions = len(structure.position_ids)
    meter = np.broadcast_to(np.arange(positions, dtype=np.int64), (stop - first, positions)).copy()
    replaced = structure.replacements
    if len(replaced.positions):
        after = np.arange(first, stop)[:, None] >= replaced.first_hours[None, :]
        new_meter = positions + np.arange(len(replaced.positions))
        meter[:, replaced.positions] = np.where(after, new_meter[None, :], replaced.positions[None, :])
    return meter


def present_rows(
    structure: GridStructure, hourly: HourlyLoads, first: int, stop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(meter index, hour offset from ``first``, kwh) of the present readings in hours ``[first, stop)``, sorted."""
    present = hourly.present[first:stop]
    flat = np.flatnonzero(present.ravel())
    positions = present.shape[1]
    meter = reporting_meter(structure, first, stop).ravel()[flat]
    kwh = hourly.kwh[first:stop].ravel()[flat]
    return meter, flat // positions, kwh


def _uniform(key: int, hour: np.ndarray, position: np.ndarray, intervals: int) -> np.ndarray:
    """Uniforms in [0, 1), shape (rows, intervals): splitmix64 of (key, hour, position, interval).

    Counter-based, so a value depends on its reading alone, never on which range or
    encoding asked for it. ``hour < 2**32``, ``position < 2**28``, ``intervals <= 16``.
    """
    counter = (hour.astype(np.uint64) << np.uint64(28)) | position.astype(np.uint64)
    counter = (counter << np.uint64(4))[:, None] | np.arange(intervals, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):  # the mixing multiplies modulo 2**64 on purpose
        z = np.uint64(key) + (counter + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def interval_weights(split: IntervalSplit, hourly: HourlyLoads, hour: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Positive weights (rows, per_hour), each row summing to 1, for the meter-hours (zone hour, position).

    The trend is the hour's relative slope from the previous to the next hour's load
    (the zone's first and last hours use themselves as the missing neighbour).
    """
    k, hours = split.per_hour, hourly.kwh.shape[0]
    load = hourly.kwh[hour, position]
    rise = hourly.kwh[np.minimum(hour + 1, hours - 1), position] - hourly.kwh[np.maximum(hour - 1, 0), position]
    slope = np.divide(rise, 2 * load, out=np.zeros_like(load), where=load > 0)
    np.clip(slope, -_TREND_LIMIT, _TREND_LIMIT, out=slope)
    offset_in_hour = (np.arange(k) + 0.5) / k - 0.5  # interval centres, -0.5 .. 0.5 around the hour's middle
    weights = 1.0 + slope[:, None] * offset_in_hour[None, :]
    weights *= 1.0 + _INTERVAL_NOISE * (2.0 * _uniform(split.key, hour, position, k) - 1.0)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights


def split_scaled_kwh(hour_scaled: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Integer intervals (rows, k) summing exactly to ``hour_scaled`` (rows,): floors, remainder on the largest weight.

    Each floor is >= 0 and their sum is at most the hour's (the weights sum to 1 up to
    rounding, which cannot reach a whole unit), so the remainder is 0 .. k - 1 and no
    interval is negative.
    """
    intervals = np.floor(hour_scaled[:, None] * weights).astype(np.int64)
    remainder = hour_scaled - intervals.sum(axis=1)
    intervals[np.arange(len(hour_scaled)), np.argmax(weights, axis=1)] += remainder
    return intervals


def _interval_rows(
    structure: GridStructure, hourly: HourlyLoads, first: int, stop: int, split: IntervalSplit
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(meter index, interval slot from ``first``'s start, scaled kWh) of the interval readings, sorted by slot then position."""
    present = hourly.present[first:stop]
    flat = np.flatnonzero(present.ravel())
    positions, k = present.shape[1], split.per_hour
    hour, position = flat // positions, flat % positions  # offset from first; sorted by hour then position
    meter = reporting_meter(structure, first, stop).ravel()[flat]
    hour_scaled = np.rint(hourly.kwh[first:stop].ravel()[flat] * _SCALE).astype(np.int64)
    scaled = split_scaled_kwh(hour_scaled, interval_weights(split, hourly, hour + first, position))
    # Scatter (reading, interval) to its row: an hour's k blocks of its present positions, interval by interval.
    per_hour_rows = np.bincount(hour, minlength=stop - first)
    hour_start = np.cumsum(per_hour_rows) - per_hour_rows
    within_hour = np.arange(len(flat)) - hour_start[hour]
    row = (hour_start[hour] * k + within_hour)[:, None] + np.arange(k)[None, :] * per_hour_rows[hour][:, None]
    slot = np.empty(row.size, dtype=np.int64)
    slot[row.ravel()] = (hour[:, None] * k + np.arange(k)[None, :]).ravel()
    meter_of_row = np.empty(row.size, dtype=np.int64)
    meter_of_row[row.ravel()] = np.repeat(meter, k)
    kwh_of_row = np.empty(row.size, dtype=np.int64)
    kwh_of_row[row.ravel()] = scaled.ravel()
    return meter_of_row, slot, kwh_of_row


def _readings_table(structure: GridStructure, meter: np.ndarray, timestamp: pa.Array, kwh: pa.Array) -> pa.Table:
    ids = pa.array(structure.meter_ids, type=pa.string())
    return pa.table(dict(zip(READING_COLUMNS, (ids.take(pa.array(meter)), timestamp, kwh))))


def _fixed_decimals(scaled: np.ndarray) -> pa.Array:
    """Fixed 4-decimal text: the scaled integers viewed as decimal128(18, 4)."""
    words = np.stack([scaled, scaled >> 63], axis=1)  # little-endian 128-bit two's complement
    return pa.Array.from_buffers(pa.decimal128(18, KWH_DECIMALS), len(scaled), [None, pa.py_buffer(words.tobytes())])


def typed_readings(
    structure: GridStructure, hourly: HourlyLoads, first: int, stop: int, split: IntervalSplit | None = None
) -> pa.Table:
    """Readings of hours ``[first, stop)``: ``meter_id`` string, ``timestamp`` us UTC, ``kwh`` float64.

    ``split=None``: one row per present meter-hour; else ``split.per_hour`` rows per meter-hour.
    """
    start_us = (hourly.first_hour + first).astype("datetime64[us]").astype(np.int64)
    if split is None:
        meter, hour, kwh = present_rows(structure, hourly, first, stop)
        timestamp = pa.array(start_us + hour * 3_600_000_000, type=pa.timestamp("us", tz="UTC"))
        return _readings_table(structure, meter, timestamp, pa.array(kwh, type=pa.float64()))
    meter, slot, scaled = _interval_rows(structure, hourly, first, stop, split)
    timestamp = pa.array(start_us + slot * (split.minutes * _US_PER_MINUTE), type=pa.timestamp("us", tz="UTC"))
    return _readings_table(structure, meter, timestamp, pa.array(scaled / _SCALE, type=pa.float64()))


def csv_readings(
    structure: GridStructure, hourly: HourlyLoads, first: int, stop: int, split: IntervalSplit | None = None
) -> pa.Table:
    """The rows of :func:`typed_readings` with ISO 8601 ``+00:00`` timestamps and fixed 4-decimal kWh text."""
    if split is None:
        meter, slot, kwh = present_rows(structure, hourly, first, stop)
        scaled = np.rint(kwh * _SCALE).astype(np.int64)
        stamps = np.datetime_as_string(hourly.first_hour + np.arange(first, stop), unit="s")
    else:
        meter, slot, scaled = _interval_rows(structure, hourly, first, stop, split)
        slots = np.arange((stop - first) * split.per_hour) * split.minutes
        stamps = np.datetime_as_string((hourly.first_hour + first).astype("datetime64[m]") + slots, unit="s")
    labels = pa.array([f"{s}+00:00" for s in stamps], type=pa.string())  # 24 labels per day per interval of the hour
    return _readings_table(structure, meter, labels.take(pa.array(slot)), _fixed_decimals(scaled))
