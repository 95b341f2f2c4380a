"""Storage resources: how to reach an S3-compatible store, and the S3 landing bucket."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import boto3
import dagster as dg
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from lascopf_assets.storage.s3_landing import day_folders, explain, is_transport_error, list_day


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
        """Make ``dest_dir`` hold exactly the landing objects the bucket holds now for one day (for readers of
        local files): each accepted object is fetched to a hidden temporary and renamed over its cache file
        (``<key with / as __>``), so a reader never sees a half-written file; a cache file of this day's folders
        whose object is gone (or whose key is now refused) is removed. Refused keys are never fetched."""
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        client = self.client()
        objects, _refused = list_day(client, self.bucket, self.prefix, day)
        paths = []
        for obj in objects:
            target = dest / cache_name(obj.key)
            if _cached(target, obj) or self._fetch(client, obj.key, target, obj.cache_mtime_ns):
                paths.append(target)
        # prune: only the files of this day's folders, named by this scheme (what download_day wrote)
        owned = tuple(cache_name(folder) for folder in day_folders(self.prefix, day))
        keep = {p.name for p in paths}
        for entry in dest.iterdir():
            if entry.name.startswith(owned) and entry.name not in keep and entry.is_file():
                entry.unlink(missing_ok=True)
        return paths

    def _fetch(self, client, key: str, target: Path, mtime_ns: int | None = None) -> bool:
        """Stream one object to a hidden temporary next to ``target`` and rename it over ``target``; False when the
        object was deleted since it was listed."""
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")  # hidden: scans skip dot files
        try:
            try:
                body = client.get_object(Bucket=self.bucket, Key=key)["Body"]
                with open(tmp, "wb") as out:
                    for chunk in body.iter_chunks(1 << 20):
                        out.write(chunk)
            except Exception as exc:
                if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return False  # gone: the prune removes its cache file
                if is_transport_error(exc):
                    raise explain(exc, self.bucket, key=key, endpoint=client.meta.endpoint_url) from exc
                raise
            if mtime_ns is not None:  # the object's version, not the download time (see LandingObject.cache_mtime_ns)
                os.utime(tmp, ns=(mtime_ns, mtime_ns))
            os.replace(tmp, target)
            return True
        finally:
            tmp.unlink(missing_ok=True)


def _cached(target: Path, obj) -> bool:
    """Whether ``target`` already holds this version of the object (its size and version mtime): not fetched again."""
    try:
        st = target.stat()
    except FileNotFoundError:
        return False
    return st.st_size == obj.size and st.st_mtime_ns == obj.cache_mtime_ns


def cache_name(key: str) -> str:
    """The local cache file name of an object key (or of a folder: the prefix of its files' names)."""
    return key.replace("/", "__")
