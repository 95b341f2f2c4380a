"""Landing files in an S3 bucket prefix -> day partitions to (re)ingest. No dagster here.

Layout: ``<prefix>/<YYYY-MM-DD>/<name>.csv|.parquet`` (also ``date=YYYY-MM-DD``):
the day folder names the partition the file belongs to.

What a tick lists (never the whole bucket):

* the day folders after ``watermark - lookback_days`` (``ListObjectsV2`` with
  ``Delimiter='/'`` and ``StartAfter``: one page per 1,000 days at most);
* the objects of those open days only.

A key is a landing file when it has no ``..``/``.`` segment, no leading ``/`` and no backslash,
and its last segment passes the local landing name rules (``lib.ingest.landing.refusal_reason``:
``.csv``, ``.csv.gz``, ``.parquet``); other keys are never requested nor downloaded, and the plan
names each refused key version once (``LandingPlan.refused``) for the sensor to log.

Days older than the lookback are closed: a file landing there later is not
seen (use a longer lookback, or S3 event notifications, if that happens).

Exactly once per object version: the JSON cursor keeps ``key -> ETag`` for the
open days; an object is due when its key is new or its ETag changed. Due objects
are planned as the local folder's files are (``lib.ingest.landing_runs.range_requests``):
each goes to its day folder's day, consecutive days are one range request, and a first
tick (no cursor) skips days ingested after every one of their objects was written. A
request's run key is derived from the days and the object versions, so re-evaluating a
tick whose cursor was never stored gives the same run keys, and Dagster does not launch
a run key twice.

Runs read the objects through a local cache (:class:`S3LandingCache`): ``<day>__<digest of
the key>__<last segment>`` (names the local landing rules accept, whatever the folders are
called, e.g. ``date=2023-01-30``), with the object's version as mtime; a manifest per day
says which key each cache file holds, so provenance (``source_file``, rejections, per-file
tables) is ``<bucket>/<key>``, never the cache name. The refused keys of a day are recorded
beside it by whoever lists that day (a sensor tick for the open days, a run for its days),
so ``rejected_landing_files`` lists them with the objects that cannot be read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import urllib3.exceptions
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from lascopf_assets.lib.ingest.landing import LANDING_SUFFIXES, LandingFile, refusal_reason, scan_landing  # noqa: F401 (LANDING_SUFFIXES: re-exported)
from lascopf_assets.lib.ingest.landing_index import IndexedFile, load_json_state, save_json_state
from lascopf_assets.lib.ingest.landing_runs import LastIngested, RangeRequest, range_requests
from lascopf_assets.lib.ingest.rejections import REFUSED_NAME, FileRejection

_DAY_FOLDER = re.compile(r"^(?:date=)?(\d{4}-\d{2}-\d{2})$")
CURSOR_VERSION = 1


class S3LandingError(RuntimeError):
    """The landing bucket cannot be listed (one-line message)."""


# S3LandingBucket field -> the environment variable production reads it from (the sensor and the API's metrics)
S3_LANDING_ENV = {
    "endpoint_url": "LASCOPF_S3_ENDPOINT_URL",
    "bucket": "LASCOPF_S3_LANDING_BUCKET",
    "prefix": "LASCOPF_S3_LANDING_PREFIX",
    "access_key": "LASCOPF_S3_ACCESS_KEY",
    "secret_key": "LASCOPF_S3_SECRET_KEY",
    "region": "LASCOPF_S3_REGION",
}


def s3_client(endpoint_url: str | None, access_key: str | None, secret_key: str | None, region: str, *,
              attempts: int, connect_timeout: float, read_timeout: float):
    """A boto3 S3 client for an S3-compatible store (empty endpoint or keys: boto3's own defaults) with standard
    retries and the given timeouts: the landing bucket's, the stream consumer's and the API's."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=endpoint_url or None, aws_access_key_id=access_key or None,
        aws_secret_access_key=secret_key or None, region_name=region,
        config=Config(retries={"max_attempts": attempts, "mode": "standard"}, connect_timeout=connect_timeout,
                      read_timeout=read_timeout),
    )


@dataclass(frozen=True)
class LandingObject:
    key: str
    etag: str
    size: int
    day: str
    refused: str | None = None  # why the key is not a landing file (never downloaded), None when accepted
    last_modified: float = 0.0  # epoch seconds, as listed

    @property
    def cache_mtime_ns(self) -> int:
        """The mtime its cache file gets: the object's LastModified (whole seconds in S3) plus, in the nanoseconds
        S3 does not use, a fingerprint of its ETag. So the local identity (name, size, mtime) of an unchanged
        object is the same on every download, and a rewrite within the same second still changes it."""
        return int(self.last_modified) * 1_000_000_000 + zlib.crc32(self.etag.encode()) % 1_000_000_000

    @property
    def cache_name(self) -> str:
        """Its cache file's name: ``<day>__<digest of the key>__<last segment>``. The last segment passed the
        landing name rules (``key_refusal``) and the rest is digits, ``_`` and ``-``, so the name does too,
        whatever the folders are called (``date=2023-01-30``); the digest keeps apart keys that share a last
        segment (``<day>/a.csv``, ``date=<day>/a.csv``, ``<day>/sub/a.csv``)."""
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:12]
        tail = self.key.rsplit("/", 1)[-1]
        room = 200 - len(self.day) - len(digest) - 4
        if len(tail) > room:  # keep the suffix; a cut stem must not end in "." (no "..")
            suffix = next(x for x in sorted(LANDING_SUFFIXES, key=len, reverse=True) if tail.lower().endswith(x))
            tail = tail[: room - len(suffix)].rstrip(".") + tail[len(tail) - len(suffix):]
        return f"{self.day}__{digest}__{tail}"

    def landing_file(self, bucket: str, name: str | None = None, path: str = "") -> LandingFile:
        """As a landing file (default name: the key): shown as ``bucket/key``, with the identity its cache file has."""
        return LandingFile(name or self.key, path, self.size, self.cache_mtime_ns, source=f"{bucket}/{self.key}")

    def rejection(self, bucket: str) -> FileRejection:
        """A refused key as a rejected landing file of its day folder's day."""
        return FileRejection(f"{bucket}/{self.key}", self.landing_file(bucket).identity, REFUSED_NAME, self.refused or "",
                             (self.day,))


@dataclass
class S3LandingCursor:
    watermark: str | None = None  # newest day folder seen
    seen: dict[str, str] = field(default_factory=dict)  # key -> etag, open days only
    rejected: list[str] = field(default_factory=list)  # identities of the rejected files last reported (as LandingCursor)
    fresh: bool = True  # no earlier cursor: a first tick (or a reset cursor)

    def dump(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, "watermark": self.watermark, "seen": dict(sorted(self.seen.items())),
                           **({"rejected": sorted(self.rejected)} if self.rejected else {})}, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str | None) -> S3LandingCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if data.get("v") != CURSOR_VERSION:
                raise ValueError(f"cursor version {data.get('v')!r}")
            return cls(watermark=data.get("watermark"), seen=dict(data.get("seen", {})),
                       rejected=list(data.get("rejected", [])), fresh=False)
        except (ValueError, AttributeError, TypeError) as exc:
            raise S3LandingError(f"unreadable S3 landing cursor ({exc}); reset the sensor cursor") from exc


@dataclass
class LandingPlan:
    requests: list[RangeRequest]  # one per run of consecutive days (lib.ingest.landing_runs)
    cursor: S3LandingCursor
    listed_days: list[str]
    out_of_range: list[tuple[str, str]]  # (key, day) outside the partitions
    list_calls: int
    refused: list[LandingObject] = field(default_factory=list)  # new or changed refused keys of the open days
    refused_by_day: dict[str, list[LandingObject]] = field(default_factory=dict)  # every listed day's refused keys
    already_ingested: list[str] = field(default_factory=list)  # days skipped on a first tick (landing_runs)


def day_of_folder(name: str) -> str | None:
    m = _DAY_FOLDER.match(name)
    if not m:
        return None
    try:
        dt.date.fromisoformat(m.group(1))
    except ValueError:
        return None
    return m.group(1)


_THROTTLING = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
               "TooManyRequestsException", "RequestThrottled", "RequestThrottledException", "ServiceUnavailable", "503"}


def is_transport_error(exc: BaseException) -> bool:
    """An error of the S3 client or its HTTP stack (explained by :func:`_explain`), not a bug of ours."""
    return isinstance(exc, (BotoCoreError, ClientError, urllib3.exceptions.HTTPError))


def _reason(exc: BaseException, bucket: str, key: str | None, endpoint: str | None) -> str:
    where = f"the endpoint {endpoint}" if endpoint else "the endpoint"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {}) if isinstance(exc.response, dict) else {}
        code = str(error.get("Code", "") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        message = " ".join(str(error.get("Message", "") or "").split())[:200]
        if code == "NoSuchBucket":
            return f"the bucket does not exist on {where}"
        if code in ("NoSuchKey", "404") and key is not None:
            return "the object does not exist (deleted after it was listed?)"
        if code == "404":
            return f"the bucket does not exist on {where}"
        if code == "InvalidAccessKeyId":
            return f"the credentials were rejected: {where} does not know the access key (InvalidAccessKeyId)"
        if code == "SignatureDoesNotMatch":
            return "the credentials were rejected: the secret key does not match the access key (SignatureDoesNotMatch)"
        if code in ("AccessDenied", "403"):
            action = "s3:GetObject" if key is not None else "s3:ListBucket"
            return f"access denied: the credentials lack {action} on this bucket (AccessDenied: {message or 'Forbidden'})"
        if code in _THROTTLING:
            return f"{where} is throttling requests ({code}) and the retries ran out; retry later or slow the sensor down"
        return f"{code or type(exc).__name__}: {message or ' '.join(str(exc).split())[:200]}"
    if isinstance(exc, NoCredentialsError):
        return "no credentials were found (set the access key and secret key, or the AWS environment)"
    if isinstance(exc, PartialCredentialsError):
        return f"the credentials are incomplete ({' '.join(str(exc).split())})"
    if isinstance(exc, (ReadTimeoutError, urllib3.exceptions.ReadTimeoutError)):
        return f"{where} cannot be reached: it accepted the connection but did not answer within the read timeout"
    if isinstance(exc, (ConnectTimeoutError, urllib3.exceptions.ConnectTimeoutError)):
        return f"{where} cannot be reached: connecting timed out"
    if isinstance(exc, (EndpointConnectionError, urllib3.exceptions.NewConnectionError)):
        return f"{where} cannot be reached: the connection was refused or the host is unknown"
    if isinstance(exc, (ConnectionClosedError, ResponseStreamingError, urllib3.exceptions.ProtocolError)):
        return f"{where} closed the connection before the answer was complete"
    if isinstance(exc, BotoCoreError | urllib3.exceptions.HTTPError):
        return f"{where} cannot be reached: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    return " ".join(str(exc).split())[:300]


def explain(exc: BaseException, bucket: str, key: str | None = None, endpoint: str | None = None) -> S3LandingError:
    """One line naming what was tried (bucket, key, endpoint) and why it failed, for any S3 client error."""
    if endpoint is None:
        endpoint = (getattr(exc, "kwargs", None) or {}).get("endpoint_url")
    what = f"listing landing bucket {bucket!r}" if key is None else f"downloading landing object {key!r} of bucket {bucket!r}"
    return S3LandingError(f"{what} failed: {_reason(exc, bucket, key, endpoint)}")


_explain = explain


def key_refusal(key: str) -> str | None:
    """Why an object key is not a landing file, or None: no '..' or '.' segment, no absolute path, no
    backslash, and its last segment must pass the local landing name rules (``refusal_reason``)."""
    if "\\" in key:
        return "backslashes are not allowed in landing object keys"
    if key.startswith("/"):
        return "absolute paths are not allowed in landing object keys"
    if any(part in ("..", ".") for part in key.split("/")):
        return "'..' or '.' path segments are not allowed in landing object keys"
    return refusal_reason(key.rsplit("/", 1)[-1])


def _list_folder(client, bucket: str, folder: str, day: str, max_keys: int) -> tuple[list[LandingObject], list[LandingObject], int]:
    """The objects of one day folder: (accepted, refused with ``LandingObject.refused`` set, list calls)."""
    accepted: list[LandingObject] = []
    refused: list[LandingObject] = []
    calls = 0
    kw = {"Bucket": bucket, "Prefix": folder, "MaxKeys": max_keys}
    while True:
        page = client.list_objects_v2(**kw)
        calls += 1
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith("/"):
                continue  # a folder marker, not a file
            o = LandingObject(key, obj["ETag"].strip('"'), int(obj["Size"]), day, refused=key_refusal(key),
                              last_modified=obj["LastModified"].timestamp())
            (refused if o.refused else accepted).append(o)
        if not page.get("IsTruncated"):
            break
        kw["ContinuationToken"] = page["NextContinuationToken"]
    return accepted, refused, calls


def day_folders(prefix: str, day: str) -> list[str]:
    """The two folders a day's objects may be under: ``<prefix>/<day>/`` and ``<prefix>/date=<day>/``."""
    base = prefix.strip("/") + "/" if prefix.strip("/") else ""
    return [f"{base}{day}/", f"{base}date={day}/"]


def _list_folders(client, bucket: str, folders: list[tuple[str, str]], max_keys: int
                  ) -> tuple[list[LandingObject], list[LandingObject], int]:
    """The accepted and refused objects of ``(folder, day)`` pairs, and the list calls it took."""
    accepted: list[LandingObject] = []
    refused: list[LandingObject] = []
    calls = 0
    for folder, day in folders:
        a, r, n = _list_folder(client, bucket, folder, day, max_keys)
        accepted += a
        refused += r
        calls += n
    return accepted, refused, calls


def list_day(client, bucket: str, prefix: str, day: str, *, max_keys: int = 1000) -> tuple[list[LandingObject], list[LandingObject]]:
    """The accepted and refused objects of one day (both day folder spellings), sorted by key."""
    try:
        accepted, refused, _ = _list_folders(client, bucket, [(folder, day) for folder in day_folders(prefix, day)], max_keys)
    except Exception as exc:
        if is_transport_error(exc):
            raise _explain(exc, bucket, endpoint=client.meta.endpoint_url) from exc
        raise
    return sorted(accepted, key=lambda o: o.key), sorted(refused, key=lambda o: o.key)


def plan_s3_landing(
    client,
    bucket: str,
    prefix: str,
    cursor: S3LandingCursor,
    *,
    lookback_days: int = 2,
    is_valid_day: Callable[[str], bool] | None = None,
    max_keys: int = 1000,
    last_ingested: LastIngested | None = None,
) -> LandingPlan:
    """List what a tick must list and say which day partitions to (re)ingest (``last_ingested``: see
    ``landing_runs.range_requests``; give it on a first tick)."""
    if lookback_days < 0:
        raise S3LandingError("lookback_days must be >= 0")
    base = prefix.strip("/") + "/" if prefix.strip("/") else ""
    calls = 0
    oldest_open = None
    if cursor.watermark:
        oldest_open = (dt.date.fromisoformat(cursor.watermark) - dt.timedelta(days=lookback_days)).isoformat()
    try:
        # 1. day folders from the oldest open day on
        days: dict[str, str] = {}
        kwargs = {"Bucket": bucket, "Prefix": base, "Delimiter": "/", "MaxKeys": max_keys}
        if oldest_open:
            kwargs["StartAfter"] = base + oldest_open  # every folder of that day or later sorts after this
        # "date=" folders sort after digits; list them all when present (same day rule applies below)
        while True:
            page = client.list_objects_v2(**kwargs)
            calls += 1
            for cp in page.get("CommonPrefixes", []):
                name = cp["Prefix"][len(base):].rstrip("/")
                day = day_of_folder(name)
                if day and (oldest_open is None or day >= oldest_open):
                    days[cp["Prefix"]] = day
            if not page.get("IsTruncated"):
                break
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
        # 2. objects of the open days
        listed, refused, n = _list_folders(client, bucket, sorted(days.items(), key=lambda kv: kv[1]), max_keys)
        calls += n
    except Exception as exc:
        if is_transport_error(exc):
            raise _explain(exc, bucket, endpoint=client.meta.endpoint_url) from exc
        raise

    due = [o for o in listed if cursor.seen.get(o.key) != o.etag]
    out_of_range = [(o.key, o.day) for o in due if is_valid_day is not None and not is_valid_day(o.day)]
    bad = {k for k, _ in out_of_range}
    wanted = [IndexedFile(o.landing_file(bucket), (o.day,)) for o in due if o.key not in bad]
    requests, _, already = range_requests(wanted, None, _before_by_a_second(last_ingested), run_key_prefix="s3-landing")

    listed_days = sorted(set(days.values()))
    watermark = max([d for d in [cursor.watermark, *listed_days] if d], default=None)
    keep_from = None
    if watermark:
        keep_from = (dt.date.fromisoformat(watermark) - dt.timedelta(days=lookback_days)).isoformat()
    seen = {k: e for k, e in cursor.seen.items()}
    for o in listed:
        if o.key not in bad:  # a day outside the partitions (e.g. tomorrow) stays due until it is valid
            seen[o.key] = o.etag
    new_refusals = [o for o in refused if cursor.seen.get(o.key) != o.etag]  # reported once per version
    for o in refused:
        seen[o.key] = o.etag
    listed_keys = {o.key for o in listed} | {o.key for o in refused}
    open_days = set(listed_days)
    # forget keys of closed days, and keys deleted from an open day
    seen = {k: e for k, e in seen.items() if _key_day(k, base) is None or (
        (keep_from is None or _key_day(k, base) >= keep_from)
        and (_key_day(k, base) not in open_days or k in listed_keys))}
    refused_by_day = {day: [o for o in refused if o.day == day] for day in listed_days}
    return LandingPlan(requests, S3LandingCursor(watermark, seen, list(cursor.rejected), fresh=False), listed_days,
                       out_of_range, calls, new_refusals, refused_by_day, already)


def _before_by_a_second(last_ingested: LastIngested | None) -> LastIngested | None:
    """``last_ingested`` one second earlier. An object's version time (``LandingObject.cache_mtime_ns``) is its
    LastModified second plus up to a second of ETag fingerprint, so an object rewritten within the second after
    an ingestion can look older than it; against ingestion times one second earlier it never does (an object
    written within the second before an ingestion is asked for again: a harmless re-ingestion)."""
    if last_ingested is None:
        return None
    return lambda days: {day: at - 1.0 for day, at in last_ingested(days).items()}


def _key_day(key: str, base: str) -> str | None:
    rest = key[len(base):] if key.startswith(base) else key
    return day_of_folder(rest.split("/", 1)[0])


# --- the local cache runs read the objects through ------------------------------------------------------------------


def legacy_cache_prefixes(prefix: str, day: str) -> tuple[str, ...]:
    """The name prefixes of a day's cache files as older versions wrote them (the key with ``/`` as ``__``)."""
    return tuple(folder.replace("/", "__") for folder in day_folders(prefix, day))


def _cached(target: Path, obj: LandingObject) -> bool:
    """Whether ``target`` already holds this version of the object (its size and version mtime): not fetched again."""
    try:
        st = target.stat()
    except FileNotFoundError:
        return False
    return st.st_size == obj.size and st.st_mtime_ns == obj.cache_mtime_ns


def fetch_object(client, bucket: str, key: str, target: Path, mtime_ns: int | None = None) -> bool:
    """Stream one object to a hidden temporary next to ``target`` and rename it over ``target`` (a reader never
    sees a half-written file); False when the object was deleted since it was listed."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")  # hidden: scans skip dot files
    try:
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
            with open(tmp, "wb") as out:
                for chunk in body.iter_chunks(1 << 20):
                    out.write(chunk)
        except Exception as exc:
            if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return False  # gone: the prune removes its cache file
            if is_transport_error(exc):
                raise explain(exc, bucket, key=key, endpoint=client.meta.endpoint_url) from exc
            raise
        if mtime_ns is not None:  # the object's version, not the download time (see LandingObject.cache_mtime_ns)
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
        os.replace(tmp, target)
        return True
    finally:
        tmp.unlink(missing_ok=True)


class S3LandingCache:
    """A folder of local copies of landing objects, and what they are (see the module doc).

    ``<folder>/<cache name>`` are the copies; ``<folder>/.s3-landing/<day>.json`` names the key of each copy of
    that day (written by :meth:`download_day` only) and ``<day>.refused.json`` the day's refused keys as last
    listed (by :meth:`download_day` or a sensor tick, :meth:`record_refused`). Each is replaced atomically and
    belongs to one day, so runs of different days never write the same file.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.state = self.folder / ".s3-landing"  # hidden: landing scans skip it

    def download_day(self, client, bucket: str, prefix: str, day: str) -> list[Path]:
        """Make the folder hold exactly the landing objects the bucket holds now for one day: each accepted object
        not cached in this version is fetched; a cache file of this day whose object is gone (or whose key is now
        refused), or one named as older versions named them, is removed. Refused keys are recorded, never fetched."""
        self.folder.mkdir(parents=True, exist_ok=True)
        objects, refused = list_day(client, bucket, prefix, day)
        keys: dict[str, str] = {}
        for obj in objects:
            target = self.folder / obj.cache_name
            if _cached(target, obj) or fetch_object(client, bucket, obj.key, target, obj.cache_mtime_ns):
                keys[target.name] = obj.key
        owned = (f"{day}__", *legacy_cache_prefixes(prefix, day))
        for entry in self.folder.iterdir():
            if entry.name.startswith(owned) and entry.name not in keys and entry.is_file():
                entry.unlink(missing_ok=True)
        self._save(f"{day}.json", {"bucket": bucket, "files": keys})
        self.record_refused(bucket, day, refused)
        return [self.folder / name for name in sorted(keys)]

    def record_refused(self, bucket: str, day: str, refused: list[LandingObject]) -> None:
        """The refused keys of ``day`` as just listed (none: the record is removed)."""
        entries = [{"key": o.key, "etag": o.etag, "size": o.size, "last_modified": o.last_modified, "reason": o.refused}
                   for o in sorted(refused, key=lambda o: o.key)]
        path = self.state / f"{day}.refused.json"
        if not entries:
            path.unlink(missing_ok=True)
        elif load_json_state(str(path)) != (record := {"bucket": bucket, "refused": entries}):
            save_json_state(str(path), record)

    def scan(self) -> tuple[list[LandingFile], list[FileRejection]]:
        """The cached copies named in a manifest, shown as ``bucket/key`` (by that name), and the refused keys
        recorded, as rejections. Files of the folder no manifest names (an interrupted download, older versions'
        names) are not landing files."""
        files, _refused_names = scan_landing(self.folder)
        shown: dict[str, str] = {}
        refused: list[FileRejection] = []
        for path in sorted(self.state.glob("*.json")) if self.state.is_dir() else []:
            record = load_json_state(str(path))
            bucket = record.get("bucket", "")
            shown.update({name: f"{bucket}/{key}" for name, key in record.get("files", {}).items()})
            day = path.name.split(".", 1)[0]
            refused += [LandingObject(e["key"], e["etag"], int(e["size"]), day, e["reason"], float(e["last_modified"]))
                        .rejection(bucket) for e in record.get("refused", [])]
        copies = sorted((replace(f, source=shown[f.name]) for f in files if f.name in shown), key=lambda f: f.shown)
        return copies, refused

    def _save(self, name: str, record: dict) -> None:
        if load_json_state(str(self.state / name)) != record:
            save_json_state(str(self.state / name), record)
