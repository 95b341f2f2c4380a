"""Load synthesis for the demo zone: per-meter load profiles and the hourly kWh matrix.

Arrays are indexed by meter *position* (a physical place a meter hangs; a
replacement meter reports from the same position). The hourly matrix is built
with whole-array numpy operations (hours x positions), never with Python loops
over readings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lascopf_assets.lib.zone.params import DemoZoneParams

KWH_DECIMALS = 4


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


def daily_shapes(params: DemoZoneParams, profiles: MeterProfiles) -> np.ndarray:
    """Relative load (hours, positions): the daily shape by kind and weekday, times the season."""
    hours = np.arange(params.hours)
    day = np.datetime64(params.start, "D") + hours // 24
    weekend = ((day.astype(np.int64) + 3) % 7) >= 5  # 1970-01-01 was a Thursday; Monday = 0
    day_of_year = (day - day.astype("datetime64[Y]")).astype(np.int64)
    season = np.cos(2 * np.pi * (day_of_year - 15) / 365.25)  # +1 mid-January, -1 mid-July
    winter, summer = np.maximum(season, 0), np.maximum(-season, 0)
    residential_season = 1.0 + 0.30 * winter + 0.12 * summer
    commercial_season = 1.0 + 0.10 * winter + 0.30 * summer

    hour_of_day = (hours[:, None] + profiles.hour_shift[None, :]) % 24  # (hours, positions)
    commercial = profiles.is_commercial[None, :]
    shape = np.where(
        commercial,
        np.where(weekend[:, None], COMMERCIAL_WEEKEND_SHAPE[hour_of_day], COMMERCIAL_WEEKDAY_SHAPE[hour_of_day]),
        RESIDENTIAL_SHAPE[hour_of_day],
    )
    shape *= np.where(commercial, commercial_season[:, None], residential_season[:, None])
    return shape


def missing_readings(params: DemoZoneParams, positions: int, rng: np.random.Generator) -> np.ndarray:
    """``present`` mask (hours, positions): scattered single missing hours plus a few multi-hour outages."""
    present = rng.random((params.hours, positions)) >= params.missing_rate
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
    """Mean load x daily shape x season x lognormal day and hour noise, plus the missing-reading mask."""
    positions = len(profiles.mean_kwh)
    day_factor = noise_rng.lognormal(0.0, 0.12, size=(params.days, positions))
    hour_noise = noise_rng.lognormal(0.0, 0.20, size=(params.hours, positions))
    day_of_hour = np.arange(params.hours) // 24
    kwh = np.round(
        profiles.mean_kwh[None, :] * daily_shapes(params, profiles) * day_factor[day_of_hour] * hour_noise,
        KWH_DECIMALS,
    )
    return HourlyLoads(
        kwh=kwh,
        present=missing_readings(params, positions, missing_rng),
        first_hour=np.datetime64(params.start, "h"),
    )
