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
