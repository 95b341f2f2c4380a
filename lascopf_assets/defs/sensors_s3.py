"""The S3 twin of the landing-folder sensor: new or rewritten objects under a bucket
prefix -> one raw_measurements run per day partition they belong to.

Listing, cursor and run keys live in :mod:`lascopf_assets.lib.storage.s3_landing`;
this module is the Dagster wrapper. The ``s3_landing`` resource it needs
(:class:`S3LandingBucket`, settings from env vars through ``dg.EnvVar``) lives in
``io_managers_production`` so ``resources.py`` can import it without a cycle.
"""

from __future__ import annotations

import dagster as dg

from lascopf_assets.defs.ingestion import raw_measurements
from lascopf_assets.defs.io_managers_production import S3_LANDING_ENV, S3LandingBucket, s3_landing_from_env
from lascopf_assets.defs.partitions import daily_partitions
from lascopf_assets.lib.storage.s3_landing import S3LandingCursor, S3LandingError, plan_s3_landing

__all__ = ["LANDING_KEYS_TAG", "S3_LANDING_ENV", "S3LandingBucket", "s3_landing_from_env", "s3_landing_sensor"]

LANDING_KEYS_TAG = "lascopf/s3_landing_keys"


@dg.sensor(
    name="s3_landing_sensor",
    target=[raw_measurements],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="New or rewritten objects under the landing prefix -> one raw_measurements run per day.",
)
def s3_landing_sensor(context: dg.SensorEvaluationContext, s3_landing: S3LandingBucket) -> dg.SensorResult | dg.SkipReason:
    cursor = S3LandingCursor.parse(context.cursor)
    try:
        plan = plan_s3_landing(
            s3_landing.client(), s3_landing.bucket, s3_landing.prefix, cursor,
            lookback_days=s3_landing.lookback_days,
            is_valid_day=daily_partitions.has_partition_key,
        )
    except S3LandingError as exc:
        raise dg.Failure(description=str(exc)) from exc
    for key, day in plan.out_of_range:
        context.log.warning(f"landing object {key!r} is for {day}, outside the daily partitions; not requested")
    run_requests = [
        dg.RunRequest(run_key=r.run_key, partition_key=r.day, tags={LANDING_KEYS_TAG: ",".join(r.keys)[:1000]})
        for r in plan.requests
    ]
    new_cursor = plan.cursor.dump()
    if not run_requests and new_cursor == (context.cursor or S3LandingCursor().dump()):
        return dg.SkipReason(f"nothing new in {len(plan.listed_days)} open day folder(s) ({plan.list_calls} list calls)")
    return dg.SensorResult(run_requests=run_requests, cursor=new_cursor)
