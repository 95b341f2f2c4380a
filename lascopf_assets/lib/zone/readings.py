"""Encoding of the demo zone's readings as pyarrow tables (``meter_id, timestamp, kwh``).

Rows are the present readings of an hour range, sorted by hour then meter
position; each position reports under its first meter's id until its
replacement's first hour, then under the new id. Two encodings of the same rows:
typed columns (Parquet, in-memory frames) and text columns formatted exactly
for the CSV landing contract.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lascopf_assets.lib.zone.loads import KWH_DECIMALS, HourlyLoads
from lascopf_assets.lib.zone.structure import GridStructure

READING_COLUMNS = ("meter_id", "timestamp", "kwh")


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


def _readings_table(structure: GridStructure, meter: np.ndarray, timestamp: pa.Array, kwh: pa.Array) -> pa.Table:
    ids = pa.array(structure.meter_ids, type=pa.string())
    return pa.table(dict(zip(READING_COLUMNS, (ids.take(pa.array(meter)), timestamp, kwh))))


def typed_readings(structure: GridStructure, hourly: HourlyLoads, first: int, stop: int) -> pa.Table:
    """Readings of hours ``[first, stop)``: ``meter_id`` string, ``timestamp`` us UTC, ``kwh`` float64."""
    meter, hour, kwh = present_rows(structure, hourly, first, stop)
    start_us = (hourly.first_hour + first).astype("datetime64[us]").astype(np.int64)
    timestamp = pa.array(start_us + hour * 3_600_000_000, type=pa.timestamp("us", tz="UTC"))
    return _readings_table(structure, meter, timestamp, pa.array(kwh, type=pa.float64()))


def csv_readings(structure: GridStructure, hourly: HourlyLoads, first: int, stop: int) -> pa.Table:
    """The rows of :func:`typed_readings` with ISO 8601 ``+00:00`` timestamps and fixed 4-decimal kWh text."""
    meter, hour, kwh = present_rows(structure, hourly, first, stop)
    stamps = np.datetime_as_string(hourly.first_hour + np.arange(first, stop), unit="s")
    labels = pa.array([f"{s}+00:00" for s in stamps], type=pa.string())  # 24 labels per day
    # Fixed 4-decimal text: the scaled integer viewed as decimal128(18, 4).
    scaled = np.rint(kwh * 10**KWH_DECIMALS).astype(np.int64)
    words = np.stack([scaled, scaled >> 63], axis=1)  # little-endian 128-bit two's complement
    decimals = pa.Array.from_buffers(
        pa.decimal128(18, KWH_DECIMALS), len(scaled), [None, pa.py_buffer(words.tobytes())]
    )
    return _readings_table(structure, meter, labels.take(pa.array(hour)), decimals)
