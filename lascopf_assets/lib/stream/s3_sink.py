"""The consumer's files in an S3-compatible bucket: the production landing zone the ``s3_landing_sensor`` watches.

The S3 client is injected (built by the caller from the platform's ``LASCOPF_S3_*`` settings, see
``cli/stream_consume.py``); this module only calls ``put_object``, ``list_objects_v2``, ``get_object``,
``head_object`` and ``delete_object`` on it. Keys (``storage/s3_landing.py``'s layout)::

    <prefix>/<YYYY-MM-DD>/<file>.csv            readings of that UTC day (a batch spanning days: one object per day)
    <rejects prefix>/<file>.rejects.jsonl       rejected messages (outside the landing prefix: never a landing key)
    <rejects prefix>/receipts/<file>.receipt.json   the MQTT consumer's receipts

A PUT replaces one object atomically and is durable once it returns (S3 semantics), so an object is
whole or absent and ``commit`` has nothing left to do: the consumer acks after the PUTs returned.
A PUT that fails raises; nothing of the batch is acked, and the stream delivers it again.

One process per consumer: S3 has no lock, so the lock is a local ``flock`` in ``lock_dir``; it keeps
two consumers on one host apart, not on two hosts (run one consumer service per durable).
"""

from __future__ import annotations

import hashlib
import os
import re

from lascopf_assets.lib.stream.sinks import LANDING, RECEIPTS, REJECTS, lock_file

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class S3Sink:
    def __init__(self, client, bucket: str, prefix: str = "landing", rejects_prefix: str = "stream_rejects",
                 lock_dir: str | None = None):
        self.client, self.bucket = client, bucket
        self.prefix, self.rejects_prefix = prefix.strip("/"), rejects_prefix.strip("/")
        if not bucket or "/" in bucket:
            raise ValueError(f"S3 bucket name {bucket!r} is empty or contains '/'")
        if not self.rejects_prefix:
            raise ValueError("the rejects prefix must not be empty (rejects would sit at the bucket's top)")
        if self.prefix and (self.rejects_prefix == self.prefix or self.rejects_prefix.startswith(self.prefix + "/")):
            raise ValueError(f"the rejects prefix {rejects_prefix!r} must be outside the landing prefix {prefix!r} "
                             "(the S3 landing sensor would refuse its objects)")
        self.lock_dir = lock_dir or os.path.join(os.environ.get("TMPDIR", "/tmp"), "lascopf-stream-locks")
        self._lock = None

    def __repr__(self) -> str:
        return f"S3Sink(s3://{self.bucket}/{self.prefix}, rejects s3://{self.bucket}/{self.rejects_prefix})"

    def area(self, kind: str, key: str = "") -> str:
        """The key prefix of an area, ending in ``/`` (or empty: the bucket's top)."""
        if kind == LANDING:
            if not _DAY.match(key):
                raise ValueError(f"a landing object goes to a day folder, got {key!r}")
            return f"{self.prefix}/{key}/" if self.prefix else f"{key}/"
        return {REJECTS: f"{self.rejects_prefix}/", RECEIPTS: f"{self.rejects_prefix}/receipts/"}[kind]

    def key(self, kind: str, key: str, name: str) -> str:
        return self.area(kind, key) + name

    def open(self, prefix: str) -> list[str]:
        where = hashlib.sha256(f"{self.client.meta.endpoint_url}|{self.bucket}|{self.prefix}".encode()).hexdigest()[:12]
        self._lock = lock_file(os.path.join(self.lock_dir, f"{where}.{prefix}lock"),
                               f"{prefix.rstrip('.')} into s3://{self.bucket}/{self.prefix}")
        return []  # a PUT leaves no temporary behind

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def route(self, row: dict) -> str:
        return row["timestamp"][:10]  # the reading's UTC day (readings.judge_reading writes the instant in UTC)

    def list_names(self, kind: str, key: str, prefix: str) -> list[str]:
        area = self.area(kind, key)
        names, kw = [], {"Bucket": self.bucket, "Prefix": area + prefix}
        while True:
            page = self.client.list_objects_v2(**kw)
            names += [o["Key"][len(area):] for o in page.get("Contents", []) if "/" not in o["Key"][len(area):]]
            if not page.get("IsTruncated"):
                return sorted(names)
            kw["ContinuationToken"] = page["NextContinuationToken"]

    def put(self, kind: str, key: str, name: str, data: bytes) -> str:
        object_key = self.key(kind, key, name)
        content_type = "text/csv" if name.endswith(".csv") else "application/json"
        self.client.put_object(Bucket=self.bucket, Key=object_key, Body=data, ContentType=content_type,
                               ContentMD5=_md5(data))  # the store refuses a body that arrived altered
        return f"s3://{self.bucket}/{object_key}"

    def commit(self) -> None:
        pass  # every PUT that returned is durable

    def read(self, kind: str, key: str, name: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(kind, key, name))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def exists(self, kind: str, key: str, name: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(kind, key, name))
            return True
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def delete(self, kind: str, key: str, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(kind, key, name))


def _md5(data: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")  # noqa: S324 (integrity header, not security)
