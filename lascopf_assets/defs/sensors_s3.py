"""The S3 twin of the landing-folder sensor: new or rewritten objects under a bucket
prefix -> one raw_measurements run per day partition they belong to.

Listing, cursor and run keys live in :mod:`lascopf_assets.lib.storage.s3_landing`;
this module is the Dagster wrapper and the ``s3_landing`` resource (settings from
env vars through ``dg.EnvVar``, see ``s3_landing_from_env``).
"""

from __future__ import annotations

from pathlib import Path

import boto3
import dagster as dg
from botocore.config import Config as BotoConfig

from lascopf_assets.defs.ingestion import raw_measurements
from lascopf_assets.defs.partitions import daily_partitions
from lascopf_assets.lib.storage.s3_landing import S3LandingCursor, S3LandingError, plan_s3_landing

S3_LANDING_ENV = {
    "endpoint_url": "LASCOPF_S3_ENDPOINT_URL",
    "bucket": "LASCOPF_S3_LANDING_BUCKET",
    "prefix": "LASCOPF_S3_LANDING_PREFIX",
    "access_key": "LASCOPF_S3_ACCESS_KEY",
    "secret_key": "LASCOPF_S3_SECRET_KEY",
    "region": "LASCOPF_S3_REGION",
}
LANDING_KEYS_TAG = "lascopf/s3_landing_keys"


class S3LandingBucket(dg.ConfigurableResource):
    """Where utilities drop meter/SCADA files: ``s3://<bucket>/<prefix>/<YYYY-MM-DD>/<file>``."""

    endpoint_url: str = ""
    bucket: str
    prefix: str = "landing"
    access_key: str = ""
    secret_key: str = ""
    region: str = "us-east-1"
    lookback_days: int = 2
    max_attempts: int = 5

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url or None,
            aws_access_key_id=self.access_key or None,
            aws_secret_access_key=self.secret_key or None,
            region_name=self.region,
            config=BotoConfig(
                retries={"max_attempts": self.max_attempts, "mode": "standard"},
                connect_timeout=5,
                read_timeout=20,
            ),
        )

    def download_day(self, day: str, dest_dir: str | Path) -> list[Path]:
        """Copy the landing objects of one day folder to ``dest_dir`` (for readers of local files)."""
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        client = self.client()
        paths = []
        plan = plan_s3_landing(client, self.bucket, self.prefix, S3LandingCursor(watermark=day), lookback_days=0)
        for request in plan.requests:
            if request.day != day:
                continue
            for obj in request.objects:
                target = dest / obj.key.replace("/", "__")
                client.download_file(self.bucket, obj.key, str(target))
                paths.append(target)
        return paths


def s3_landing_from_env() -> S3LandingBucket:
    return S3LandingBucket(**{field: dg.EnvVar(env) for field, env in S3_LANDING_ENV.items()})


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
