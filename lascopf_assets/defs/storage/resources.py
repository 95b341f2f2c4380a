"""Storage resources: how to reach an S3-compatible store, and the S3 landing bucket."""

from __future__ import annotations

from pathlib import Path

import boto3
import dagster as dg
from botocore.config import Config as BotoConfig

from lascopf_assets.storage.s3_landing import S3LandingCursor, plan_s3_landing


class S3Connection(dg.ConfigurableResource):
    """How to reach an S3-compatible store (AWS, MinIO, SeaweedFS): shared by the lake IO manager and the landing bucket."""

    endpoint_url: str = ""
    access_key: str = ""
    secret_key: str = ""
    region: str = "us-east-1"


class S3LandingBucket(S3Connection):
    """Where utilities drop meter/SCADA files: ``s3://<bucket>/<prefix>/<YYYY-MM-DD>/<file>``."""

    bucket: str
    prefix: str = "landing"
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
