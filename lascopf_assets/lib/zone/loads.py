"""Load synthesis for the demo zone: per-meter load profiles and the hourly kWh matrix.

Arrays are indexed by meter *position* (a physical place a meter hangs; a
replacement meter reports from the same position). The hourly matrix is built
with whole-array numpy operations (hours x positions), never with Python loops
over readings. It is built in place, with the hour noise and the missing-reading
draws taken a block of hours at a time (the same numbers, drawn in the same
order, as one whole-matrix draw): a year of 20,000 meters holds one
hours x positions float matrix at a time, not five.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lascopf_assets.lib.zone.params import DemoZoneParams

KWH_DECIMALS = 4
_BLOCK_HOURS = 24 * 31  # hours of noise or missing-reading draws held at once


def _mean_one(shape: list[float], reference: list[float] | None = None) -> np.ndarray:
    """``shape`` divided by the mean of ``reference`` (itself by default)."""
    return np.array(shape) / np.array(shape if reference is None else reference).mean()


# Daily shapes, index = hour of day (UTC). Residential and commercial weekday
# have mean 1; commercial weekend is scaled by the weekday mean, so it stays lower.
_COMMERCIAL_WEEKDAY_HOURS = [
    0.30, 0.30, 0.30, 0.30, 0.30, 0.35, 0.45, 0.75, 1.10, 1.30, 1.35, 1.35,
    1.30, 1.35, 1.35, 1.30, 1.25, 1.20, 0.80, 0.50, 0.40, 0.35, 0.32, 0.30,
]
RESIDENTIAL_SHAPE = _mean_one([
    0.45, 0.38, 0.35, 0.33, 0.34, 0.40, 0.62, 0.95, 0.90, 0.70, 0.62, 0.60,
    0.62, 0.60, 0.58, 0.62, 0.75, 1.00, 1.25, 1.35, 1.25, 1.05, 0.80, 0.58,
])
COMMERCIAL_WEEKDAY_SHAPE = _mean_one(_COMMERCIAL_WEEKDAY_HOURS)
COMMERCIAL_WEEKEND_SHAPE = _mean_one([
    0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.32, 0.36, 0.42, 0.48, 0.52, 0.55,
    0.55, 0.52, 0.50, 0.48, 0.45, 0.42, 0.38, 0.35, 0.33, 0.32, 0.30, 0.30,
], reference=_COMMERCIAL_WEEKDAY_HOURS)


@dataclass(frozen=True)
class MeterProfiles:
    """What each meter position consumes, before noise."""

    is_commercial: np.ndarray  # (positions,) bool
    mean_kwh: np.ndarray  # (positions,) mean kWh per hour
    hour_shift: np.ndarray  # (positions,) hours the daily shape is shifted by (-1, 0 or 1)


def draw_meter_profiles(positions: int, commercial_share: float, rng: np.random.Generator) -> MeterProfiles:
    """Kind, size and timing of each meter position's load."""
    is_commercial = rng.random(positions) < commercial_share
    commercial_kwh = 2.0 * rng.lognormal(0.0, 0.35, positions)
    residential_kwh = 0.45 * rng.lognormal(0.0, 0.35, positions)
    mean_kwh = np.where(is_commercial, commercial_kwh, residential_kwh)
    hour_shift = rng.integers(-1, 2, size=positions)
    return MeterProfiles(is_commercial=is_commercial, mean_kwh=mean_kwh, hour_shift=hour_shift)


@dataclass(frozen=True)
class HourlyLoads:
    """The zone's hourly readings by meter position, before they are assigned to meter ids."""

    kwh: np.ndarray  # (hours, positions), rounded to KWH_DECIMALS
    present: np.ndarray  # (hours, positions) bool: False where the reading is missing
    first_hour: np.datetime64  # datetime64[h] of row 0


_SHIFTS = (-1, 0, 1)  # the hour shifts draw_meter_profiles draws


def daily_shapes(params: DemoZoneParams, profiles: MeterProfiles) -> np.ndarray:
    """Relative load (hours, positions): the daily shape by kind and weekday, times the season.

    A position's column depends only on its kind and hour shift: the six distinct
    columns are computed once and taken into the matrix.
    """
    hours = np.arange(params.hours)
    day = np.datetime64(params.start, "D") + hours // 24
    weekend = ((day.astype(np.int64) + 3) % 7) >= 5  # 1970-01-01 was a Thursday; Monday = 0
    day_of_year = (day - day.astype("datetime64[Y]")).astype(np.int64)
    season = np.cos(2 * np.pi * (day_of_year - 15) / 365.25)  # +1 mid-January, -1 mid-July
    winter, summer = np.maximum(season, 0), np.maximum(-season, 0)
    residential_season = 1.0 + 0.30 * winter + 0.12 * summer
    commercial_season = 1.0 + 0.10 * winter + 0.30 * summer

    columns = np.empty((params.hours, 2 * len(_SHIFTS)))  # residential shifts, then commercial shifts
    for s, shift in enumerate(_SHIFTS):  # six columns, not a loop over positions
        hour_of_day = (hours + shift) % 24
        columns[:, s] = RESIDENTIAL_SHAPE[hour_of_day] * residential_season
        commercial = np.where(weekend, COMMERCIAL_WEEKEND_SHAPE[hour_of_day], COMMERCIAL_WEEKDAY_SHAPE[hour_of_day])
        columns[:, len(_SHIFTS) + s] = commercial * commercial_season
    column_of = profiles.is_commercial.astype(np.int64) * len(_SHIFTS) + (profiles.hour_shift - _SHIFTS[0])
    return np.take(columns, column_of, axis=1)


def _hour_blocks(hours: int) -> list[slice]:
    return [slice(first, min(first + _BLOCK_HOURS, hours)) for first in range(0, hours, _BLOCK_HOURS)]


def missing_readings(params: DemoZoneParams, positions: int, rng: np.random.Generator) -> np.ndarray:
    """``present`` mask (hours, positions): scattered single missing hours plus a few multi-hour outages."""
    present = np.empty((params.hours, positions), dtype=bool)
    for block in _hour_blocks(params.hours):
        present[block] = rng.random((block.stop - block.start, positions)) >= params.missing_rate
    if params.hours >= 2:
        for _ in range(params.outages):  # a handful of blocks, not a loop over readings
            position = int(rng.integers(0, positions))
            start = int(rng.integers(0, params.hours))
            present[start : start + int(rng.integers(4, 49)), position] = False
    return present


def synthesize_hourly_loads(
    params: DemoZoneParams,
    profiles: MeterProfiles,
    noise_rng: np.random.Generator,
    missing_rng: np.random.Generator,
) -> HourlyLoads:
    """Mean load x daily shape x season x lognormal day and hour noise, plus the missing-reading mask.

    The products are taken in place in the order ``((mean * shape) * day) * hour``,
    the order the zone's data has always been computed in.
    """
    positions = len(profiles.mean_kwh)
    day_factor = noise_rng.lognormal(0.0, 0.12, size=(params.days, positions))
    kwh = daily_shapes(params, profiles)
    kwh *= profiles.mean_kwh[None, :]
    by_day = kwh.reshape(params.days, 24, positions, copy=False)  # a view: raises rather than copy
    by_day *= day_factor[:, None, :]
    for block in _hour_blocks(params.hours):
        kwh[block] *= noise_rng.lognormal(0.0, 0.20, size=(block.stop - block.start, positions))
    np.round(kwh, KWH_DECIMALS, out=kwh)
    return HourlyLoads(
        kwh=kwh,
        present=missing_readings(params, positions, missing_rng),
        first_hour=np.datetime64(params.start, "h"),
    )
