"""The API's settings, all from the environment (read when the app is built, never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TOKEN_ENV = "LASCOPF_API_TOKEN"
HOST_ENV = "LASCOPF_API_HOST"
PORT_ENV = "LASCOPF_API_PORT"
DAGSTER_HOST_ENV = "LASCOPF_DAGSTER_HOST"
DAGSTER_PORT_ENV = "LASCOPF_DAGSTER_PORT"
DAGSTER_LOCATION_ENV = "LASCOPF_DAGSTER_LOCATION"
# the same names the asset side reads (defs/resources.py, defs/profile.py), repeated here so the
# API does not import the Dagster definitions to find its storage
PROFILE_ENV = "LASCOPF_PROFILE"
DATA_DIR_ENV = "LASCOPF_DATA_DIR"
LAKE_DIR_ENV = "LASCOPF_LAKE_DIR"
LANDING_DIR_ENV = "LASCOPF_LANDING_DIR"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ApiSettings:
    profile: str = "local"
    token: str | None = None  # None: the execute endpoints answer 503
    host: str = "127.0.0.1"
    port: int = 8080
    dagster_host: str = "127.0.0.1"
    dagster_port: int = 3000
    dagster_location: str | None = None  # the code location to launch in (None: the only one)
    lake_dir: str = str(PROJECT_ROOT / "data" / "lake")
    landing_dir: str = str(PROJECT_ROOT / "data" / "landing")

    @classmethod
    def from_env(cls, environ: dict | None = None) -> ApiSettings:
        env = os.environ if environ is None else environ
        data = Path(env.get(DATA_DIR_ENV) or PROJECT_ROOT / "data")
        return cls(
            profile=env.get(PROFILE_ENV) or "local",
            token=env.get(TOKEN_ENV) or None,
            host=env.get(HOST_ENV) or "127.0.0.1",
            port=int(env.get(PORT_ENV) or 8080),
            dagster_host=env.get(DAGSTER_HOST_ENV) or "127.0.0.1",
            dagster_port=int(env.get(DAGSTER_PORT_ENV) or 3000),
            dagster_location=env.get(DAGSTER_LOCATION_ENV) or None,
            lake_dir=env.get(LAKE_DIR_ENV) or str(data / "lake"),
            landing_dir=env.get(LANDING_DIR_ENV) or str(data / "landing"),
        )
