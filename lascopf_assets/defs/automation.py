"""Declarative automation for everything downstream of ingestion, built for a profile."""

import dagster as dg

from lascopf_assets.defs.profile import sensor_interval, sensors_start


def automation_sensor(profile: str) -> dg.AutomationConditionSensorDefinition:
    """Downstream assets follow upstream changes; starts running on the local profile."""
    return dg.AutomationConditionSensorDefinition(
        "automation_sensor",
        target=dg.AssetSelection.all(),
        default_status=sensors_start(profile),
        minimum_interval_seconds=sensor_interval(30),
        description="Declarative automation: downstream assets follow upstream changes.",
    )
