"""The Parquet lake on an S3-compatible object store (AWS S3, MinIO, Ceph, moto...).

Same layout and contract as :class:`ParquetLake`
(``<bucket>/<prefix>/<asset key>/<partition>.parquet``); what S3 changes:

* **Atomic per partition.** A partition is one object. A new version is first
  serialized in memory and uploaded under a temporary key
  (``<partition>.parquet.tmp-<uuid>``); its size is checked; then a server-side
  ``CopyObject`` replaces ``<partition>.parquet`` in one step (S3 replaces a
  single object atomically and reads after it are strongly consistent), and the
  temporary object is deleted. A reader sees the old object or the new one;
  an upload that dies half-way (pyarrow completes a multipart upload on close,
  even after an error) only ever leaves a temporary object, never a torn
  partition. Readers need no pointer indirection, and the lake stays plain
  Parquet for other tools (DuckDB, Spark, Athena).
* **Clear errors.** Missing bucket, rejected credentials and an unreachable
  endpoint raise :class:`S3LakeError` with one line naming endpoint and bucket.
* **Retries.** Transient failures (5xx, throttling, dropped connections) are
  retried by the AWS SDK's standard strategy, ``max_attempts`` in all.

No dagster here.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lascopf_assets.storage.parquet_lake import TMP_MARKER, ParquetLake

S3_ENV = {
    "endpoint_url": "LASCOPF_S3_ENDPOINT_URL",
    "bucket": "LASCOPF_S3_BUCKET",
    "prefix": "LASCOPF_S3_PREFIX",
    "access_key": "LASCOPF_S3_ACCESS_KEY",
    "secret_key": "LASCOPF_S3_SECRET_KEY",
    "region": "LASCOPF_S3_REGION",
}


class S3LakeError(OSError):
    """The object store cannot be used as configured (one-line message)."""


@dataclass(frozen=True)
class S3LakeConfig:
    bucket: str
    prefix: str = "lake"
    endpoint_url: str | None = None  # None: AWS S3 itself
    access_key: str | None = None  # None: the AWS SDK's default chain
    secret_key: str | None = None
    region: str = "us-east-1"
    max_attempts: int = 5
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 60.0

    def __post_init__(self):
        if not self.bucket or "/" in self.bucket:
            raise S3LakeError(f"S3 bucket name {self.bucket!r} is empty or contains '/'")
        if self.endpoint_url:
            parsed = urlparse(self.endpoint_url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise S3LakeError(f"S3 endpoint URL {self.endpoint_url!r} must look like http(s)://host:port")
        if (self.access_key is None) != (self.secret_key is None):
            raise S3LakeError("set both the S3 access key and the secret key, or neither")
        if self.max_attempts < 1:
            raise S3LakeError("max_attempts must be at least 1")

    @classmethod
    def from_env(cls, environ: dict | None = None) -> S3LakeConfig:
        env = os.environ if environ is None else environ
        if not env.get(S3_ENV["bucket"]):
            raise S3LakeError(f"{S3_ENV['bucket']} is not set")
        return cls(
            bucket=env[S3_ENV["bucket"]],
            prefix=env.get(S3_ENV["prefix"], "lake"),
            endpoint_url=env.get(S3_ENV["endpoint_url"]) or None,
            access_key=env.get(S3_ENV["access_key"]) or None,
            secret_key=env.get(S3_ENV["secret_key"]) or None,
            region=env.get(S3_ENV["region"]) or "us-east-1",
        )

    @property
    def where(self) -> str:
        return f"bucket {self.bucket!r} at {self.endpoint_url or 'AWS S3'}"


def s3_filesystem(config: S3LakeConfig) -> pafs.S3FileSystem:
    """A pyarrow S3FileSystem for the config (endpoint_override for non-AWS stores)."""
    kwargs: dict = {
        "region": config.region,
        "connect_timeout": config.connect_timeout_s,
        "request_timeout": config.request_timeout_s,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=config.max_attempts),
        "allow_bucket_creation": False,
        "allow_bucket_deletion": False,
    }
    if config.access_key is not None:
        kwargs["access_key"] = config.access_key
        kwargs["secret_key"] = config.secret_key
    if config.endpoint_url:
        parsed = urlparse(config.endpoint_url)
        kwargs["endpoint_override"] = parsed.netloc + parsed.path.rstrip("/")
        kwargs["scheme"] = parsed.scheme
    return pafs.S3FileSystem(**kwargs)


_CREDENTIALS = re.compile(
    r"ACCESS_DENIED|INVALID_ACCESS_KEY_ID|InvalidAccessKeyId|SIGNATURE_DOES_NOT_MATCH|SignatureDoesNotMatch|"
    r"AccessDenied|Forbidden|HTTP response code 403|The AWS Access Key Id you provided|credentials",
    re.IGNORECASE,
)
_UNREACHABLE = re.compile(
    r"curlCode|Couldn't connect|Connection refused|Could not resolve|timed out|Timeout|"
    r"NETWORK_CONNECTION|Failed to connect|Connection reset|No response body",
    re.IGNORECASE,
)
_NO_BUCKET = re.compile(r"NoSuchBucket|NO_SUCH_BUCKET|bucket does not exist|Bucket '[^']*' (does not exist|not found)", re.IGNORECASE)


def explain(exc: BaseException, config: S3LakeConfig, action: str) -> S3LakeError:
    """Translate a pyarrow/AWS SDK error into one line naming endpoint and bucket."""
    text = " ".join(str(exc).split())
    if _CREDENTIALS.search(text):
        reason = "the credentials were rejected (check the access key and secret key)"
    elif _NO_BUCKET.search(text):
        reason = "the bucket does not exist"
    elif _UNREACHABLE.search(text):
        reason = "the endpoint cannot be reached"
    else:
        reason = text[:300]
    return S3LakeError(f"S3 {action} failed for {config.where}: {reason}")


class S3ParquetLake(ParquetLake):
    """ParquetLake on S3: atomic per-partition switch by server-side copy, clear errors."""

    def __init__(self, filesystem: pafs.FileSystem, config: S3LakeConfig, compression: str = "snappy"):
        base = "/".join(p for p in (config.bucket, config.prefix.strip("/")) if p)
        super().__init__(filesystem, base, compression)
        self.config = config

    @classmethod
    def from_config(cls, config: S3LakeConfig) -> S3ParquetLake:
        return cls(s3_filesystem(config), config)

    @classmethod
    def from_env(cls) -> S3ParquetLake:
        return cls.from_config(S3LakeConfig.from_env())

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except S3LakeError:
            raise
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise explain(exc, self.config, action) from exc

    def check(self) -> None:
        """Fail fast with a clear message when the bucket cannot be used."""
        with self._errors("access check"):
            info = self.fs.get_file_info(self.config.bucket)
        if info.type == pafs.FileType.NotFound:
            raise S3LakeError(f"S3 access check failed for {self.config.where}: the bucket does not exist")

    # -- publishing: temp object, verify, server-side copy, delete temp ----------
    def _publish(self, final_path: str, table: pa.Table) -> None:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression=self.compression)
        data = sink.getvalue()
        tmp_path = f"{final_path}{TMP_MARKER}{uuid.uuid4().hex}"
        try:
            with self._errors(f"upload of {final_path}"):
                with self.fs.open_output_stream(tmp_path) as out:
                    out.write(data)
                size = self.fs.get_file_info(tmp_path).size
            if size != data.size:
                raise S3LakeError(
                    f"S3 upload of {final_path} is incomplete ({size} of {data.size} bytes) in {self.config.where}"
                )
            with self._errors(f"switch of {final_path}"):
                self.fs.copy_file(tmp_path, final_path)
        finally:
            with contextlib.suppress(OSError):
                self.fs.delete_file(tmp_path)

    def _resolve(self, final_path: str) -> str | None:
        with self._errors(f"lookup of {final_path}"):
            return super()._resolve(final_path)

    def read_table(self, asset_key: Sequence[str], partition_key: str | None = None,
                   where_equal: tuple[str, str] | None = None, columns: Sequence[str] | None = None) -> pa.Table:
        with self._errors("read"):
            return super().read_table(asset_key, partition_key, where_equal, columns)

    def partition_keys(self, asset_key: Sequence[str]) -> list[str]:
        with self._errors("listing"):
            return super().partition_keys(asset_key)

    def sweep_temporaries(self, asset_key: Sequence[str], older_than_s: float = 3600.0) -> list[str]:
        """Delete temporary objects left by writers killed between upload and cleanup.

        Only objects older than ``older_than_s`` go, so a write in flight keeps its own.
        """
        import time

        selector = pafs.FileSelector(self.asset_dir(asset_key), allow_not_found=True)
        cutoff = time.time() - older_than_s
        removed = []
        with self._errors("sweep"):
            for info in self.fs.get_file_info(selector):
                if info.type != pafs.FileType.File or TMP_MARKER not in info.base_name:
                    continue
                if info.mtime is not None and info.mtime.timestamp() > cutoff:
                    continue
                self.fs.delete_file(info.path)
                removed.append(info.path)
        return removed
