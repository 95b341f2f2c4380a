"""Entry point: every definition under ``lascopf_assets/defs`` plus the profile's resources and sensors.

``dagster code-server start -m lascopf_assets.definitions`` and ``dagster dev -w workspace.yaml``
load this module. The profile (``LASCOPF_PROFILE``) is read here, when the definitions are built,
never at import time.
"""

from pathlib import Path

import dagster as dg

from lascopf_assets.defs.automation import automation_sensor
from lascopf_assets.defs.executor import executor_from_env
from lascopf_assets.defs.ingestion.sensors import ingestion_sensors
from lascopf_assets.defs.phase_balancing.sensors import phase_drift_sensor
from lascopf_assets.defs.profile import current_profile
from lascopf_assets.defs.resources import build_resources


@dg.definitions
def defs() -> dg.Definitions:
    profile = current_profile()
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(
            resources=build_resources(profile),
            sensors=[*ingestion_sensors(profile), automation_sensor(profile), phase_drift_sensor(profile)],
            executor=executor_from_env(),  # LASCOPF_EXECUTOR, read here like the profile
        ),
    )
