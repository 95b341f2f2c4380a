"""Re-optimization trigger: a feeder whose latest day drifted from its last recommendation gets a new phase_assignment.

Built by :func:`phase_drift_sensor` for a profile (never at import time, so ``load_from_defs_folder``
does not pick it up on its own): it starts running on the local profile and stopped in production,
and it is off (each tick a skip) until a threshold is set, from ``LASCOPF_PHASE_DRIFT_THRESHOLD``
(read when the definitions are built) or the factory's ``threshold``. Each new ``junction_aggregates``
materialization is looked at once (the cursor holds the newest storage id seen): for the most recent
day that has one, every feeder whose latest ``phase_assignment`` is older than that day's aggregates
and whose drift (``lib.stream.drift``: the day's mean hourly imbalance with the recommended moves
against the recommendation's) exceeds the threshold is requested, one run per feeder, with a run key
naming the feeder, the day and the aggregates' storage id (so a tick re-run requests nothing twice).
"""

from __future__ import annotations

import json
import os

import dagster as dg
import pandas as pd

from lascopf_assets.defs.ingestion.assets import junction_aggregates
from lascopf_assets.defs.partitions import daily_partitions, feeder_partitions
from lascopf_assets.defs.phase_balancing.assets import latest_feeder_materializations, phase_assignment
from lascopf_assets.defs.profile import sensors_start
from lascopf_assets.defs.storage.lake_io_managers import LakeIOManagerBase
from lascopf_assets.defs.storage.table_io_manager import TABLE_NAME, PostgresTableIOManager
from lascopf_assets.lib.stream.drift import feeder_drift

THRESHOLD_ENV = "LASCOPF_PHASE_DRIFT_THRESHOLD"
DRIFT_TAG = "lascopf/phase_drift"


def threshold_from_env() -> float | None:
    """The drift threshold (mean hourly imbalance points, e.g. 0.05) from the environment; None (off) when unset."""
    text = os.environ.get(THRESHOLD_ENV, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise ValueError(f"{THRESHOLD_ENV}={text!r}: expected a number (mean hourly imbalance points, e.g. 0.05)") from exc
    if not value > 0:
        raise ValueError(f"{THRESHOLD_ENV}={text!r}: expected a positive number")
    return value


def _latest_day(context: dg.SensorEvaluationContext) -> tuple[str, dg.EventLogRecord] | None:
    """The most recent day of junction_aggregates that has a materialization, with its latest record."""
    days = sorted(context.instance.get_materialized_partitions(junction_aggregates.key))
    if not days:
        return None
    day = days[-1]
    [record] = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=junction_aggregates.key, asset_partitions=[day]), limit=1).records
    return day, record


def _day_rows(io_manager, day: str) -> pd.DataFrame:
    """The day's junction_aggregates (every feeder) from the storage its IO manager writes: the Parquet lake
    (local or S3) or the PostgreSQL table (read through the storage clients, as the IO managers do)."""
    if isinstance(io_manager, LakeIOManagerBase):
        return io_manager.lake().read_partitions(junction_aggregates.key.path, [day])
    if isinstance(io_manager, PostgresTableIOManager):
        spec = junction_aggregates.specs_by_key[junction_aggregates.key]
        table = (spec.metadata or {}).get(TABLE_NAME) or "__".join(junction_aggregates.key.path)
        window = daily_partitions.time_window_for_partition_key(day)
        with io_manager.store() as store:
            if not store.table_exists(table):
                return pd.DataFrame(columns=["timestamp", "feeder", "junction", "phase", "kwh"])
            return store.load_window(table, pd.Timestamp(window.start), pd.Timestamp(window.end))
    raise TypeError(f"phase_drift_sensor cannot read junction_aggregates through a {type(io_manager).__name__}")


def evaluate_drift(context: dg.SensorEvaluationContext, io_manager, threshold: float | None):
    if threshold is None:
        return dg.SkipReason(f"off: set {THRESHOLD_ENV} (mean hourly imbalance points, e.g. 0.05) to turn it on")
    newest = context.instance.fetch_materializations(junction_aggregates.key, limit=1).records
    if not newest:
        return dg.SkipReason("no junction_aggregates yet")
    seen = json.loads(context.cursor)["storage_id"] if context.cursor else None
    newest_id = newest[0].storage_id
    cursor = json.dumps({"storage_id": newest_id})
    if seen == newest_id:
        return dg.SkipReason("no new junction_aggregates since the last tick")
    day, record = _latest_day(context)
    feeders = sorted(context.instance.get_dynamic_partitions(feeder_partitions.name))
    latest = {f: m for f, m in latest_feeder_materializations(context.instance, feeders).items()
              if m.timestamp < record.timestamp}  # a recommendation made after the day's aggregates already saw it
    if not latest:
        return dg.SensorResult(cursor=cursor, skip_reason=f"no feeder has a recommendation older than {day}'s aggregates")
    rows = _day_rows(io_manager, day)
    requests = []
    for feeder, materialization in latest.items():
        drift = feeder_drift(feeder, day, rows[rows["feeder"] == feeder], materialization.metadata)
        if drift is None:
            continue
        context.log.info(drift.describe())
        if drift.drift > threshold:
            requests.append(dg.RunRequest(
                run_key=f"phase_drift:{feeder}:{day}:{record.storage_id}", partition_key=feeder,
                asset_selection=[phase_assignment.key], tags={DRIFT_TAG: f"{drift.drift:.6f}", "lascopf/drift_day": day},
            ))
    if not requests:
        return dg.SensorResult(cursor=cursor, skip_reason=f"no feeder drifted beyond {threshold} on {day}")
    return dg.SensorResult(run_requests=requests, cursor=cursor)


def phase_drift_sensor(profile: str, threshold: float | None = None, minimum_interval_seconds: int = 300
                       ) -> dg.SensorDefinition:
    """The trigger for ``profile``; ``threshold`` defaults to :data:`THRESHOLD_ENV` (unset: off)."""
    threshold = threshold if threshold is not None else threshold_from_env()

    @dg.sensor(
        name="phase_drift_sensor",
        asset_selection=[phase_assignment.key],
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=sensors_start(profile),
        description=(
            "Requests a feeder's phase_assignment when its most recent day of junction_aggregates drifts beyond "
            f"{THRESHOLD_ENV} (mean hourly imbalance points) over its last recommendation; off while unset."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, timeseries_io_manager: dg.ConfigurableIOManager):
        return evaluate_drift(context, timeseries_io_manager, threshold)

    return _sensor
