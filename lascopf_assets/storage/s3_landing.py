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
open days; an object is due when its key is new or its ETag changed. Requests
are grouped by day; a request's run key is derived from the day and the
``key@etag`` list, so re-evaluating a tick whose cursor was never stored gives
the same run keys, and Dagster does not launch a run key twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

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

from lascopf_assets.lib.ingest.landing import LANDING_SUFFIXES, refusal_reason  # noqa: F401 (LANDING_SUFFIXES: re-exported)

_DAY_FOLDER = re.compile(r"^(?:date=)?(\d{4}-\d{2}-\d{2})$")
CURSOR_VERSION = 1


class S3LandingError(RuntimeError):
    """The landing bucket cannot be listed (one-line message)."""


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


@dataclass(frozen=True)
class DayRequest:
    day: str
    run_key: str
    objects: tuple[LandingObject, ...]

    @property
    def keys(self) -> list[str]:
        return [o.key for o in self.objects]


@dataclass
class S3LandingCursor:
    watermark: str | None = None  # newest day folder seen
    seen: dict[str, str] = field(default_factory=dict)  # key -> etag, open days only

    def dump(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, "watermark": self.watermark, "seen": dict(sorted(self.seen.items()))},
                          separators=(",", ":"))

    @classmethod
    def parse(cls, text: str | None) -> S3LandingCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if data.get("v") != CURSOR_VERSION:
                raise ValueError(f"cursor version {data.get('v')!r}")
            return cls(watermark=data.get("watermark"), seen=dict(data.get("seen", {})))
        except (ValueError, AttributeError, TypeError) as exc:
            raise S3LandingError(f"unreadable S3 landing cursor ({exc}); reset the sensor cursor") from exc


@dataclass
class LandingPlan:
    requests: list[DayRequest]
    cursor: S3LandingCursor
    listed_days: list[str]
    out_of_range: list[tuple[str, str]]  # (key, day) outside the partitions
    list_calls: int
    refused: list[LandingObject] = field(default_factory=list)  # new or changed refused keys of the open days


def day_of_folder(name: str) -> str | None:
    m = _DAY_FOLDER.match(name)
    if not m:
        return None
    try:
        dt.date.fromisoformat(m.group(1))
    except ValueError:
        return None
    return m.group(1)


def run_key_for(day: str, objects: Iterable[LandingObject]) -> str:
    digest = hashlib.sha256("\n".join(sorted(f"{o.key}@{o.etag}" for o in objects)).encode()).hexdigest()[:24]
    return f"s3-landing:{day}:{digest}"


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
) -> LandingPlan:
    """List what a tick must list and say which day partitions to (re)ingest."""
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
    by_day: dict[str, list[LandingObject]] = {}
    for o in due:
        if o.key not in bad:
            by_day.setdefault(o.day, []).append(o)
    requests = [DayRequest(day, run_key_for(day, objs), tuple(sorted(objs, key=lambda o: o.key)))
                for day, objs in sorted(by_day.items())]

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
    return LandingPlan(requests, S3LandingCursor(watermark, seen), listed_days, out_of_range, calls, new_refusals)


def _key_day(key: str, base: str) -> str | None:
    rest = key[len(base):] if key.startswith(base) else key
    return day_of_folder(rest.split("/", 1)[0])
