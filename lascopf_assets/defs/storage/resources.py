"""Storage resources: how to reach an S3-compatible store, and the S3 landing bucket."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lascopf_assets.storage.s3_landing import S3LandingCache, s3_client


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
        return s3_client(self.endpoint_url, self.access_key, self.secret_key, self.region,
                         attempts=self.max_attempts, connect_timeout=5, read_timeout=20)

    def download_day(self, day: str, dest_dir: str | Path) -> list[Path]:
        """Make the cache folder ``dest_dir`` hold exactly the landing objects the bucket holds now for one day
        (``storage.s3_landing.S3LandingCache.download_day``); the paths of its copies."""
        return S3LandingCache(dest_dir).download_day(self.client(), self.bucket, self.prefix, day)
