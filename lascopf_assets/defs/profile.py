"""The deployment profile switch, read in this one place.

``LASCOPF_PROFILE`` is ``local`` (the default: SQLite instance, Parquet on
disk) or ``production`` (PostgreSQL instance, S3 and TimescaleDB storage).
Only resource construction branches on it.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

PROFILE_ENV = "LASCOPF_PROFILE"
SENSOR_INTERVAL_ENV = "LASCOPF_SENSOR_INTERVAL_SECONDS"
PROFILES = ("local", "production")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def current_profile() -> str:
    profile = os.environ.get(PROFILE_ENV, "local").strip().lower() or "local"
    if profile not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}={profile!r}: expected one of {', '.join(PROFILES)}")
    return profile


def sensors_start(profile: str) -> dg.DefaultSensorStatus:
    """How the profile's sensors start: running on a laptop (``local``), stopped in production."""
    return dg.DefaultSensorStatus.RUNNING if profile == "local" else dg.DefaultSensorStatus.STOPPED


def sensor_interval(default: int) -> int:
    """Seconds between a sensor's ticks: ``default``, unless ``LASCOPF_SENSOR_INTERVAL_SECONDS`` sets one for all.

    The landing, topology, S3 landing and automation sensors read it when the definitions load; a
    small deployment (or a test driving the daemon) can tick faster than the defaults tuned for a
    utility's bucket listing costs.
    """
    text = os.environ.get(SENSOR_INTERVAL_ENV, "").strip()
    if not text:
        return default
    try:
        seconds = int(text)
    except ValueError:
        raise ValueError(f"{SENSOR_INTERVAL_ENV}={text!r}: expected whole seconds, e.g. 30") from None
    if seconds < 1:
        raise ValueError(f"{SENSOR_INTERVAL_ENV}={text!r}: expected at least 1 second")
    return seconds
