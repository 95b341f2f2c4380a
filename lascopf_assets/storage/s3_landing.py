"""Landing files in an S3 bucket prefix -> day partitions to (re)ingest. No dagster here.

Layout: ``<prefix>/<YYYY-MM-DD>/<name>.csv|.parquet`` (also ``date=YYYY-MM-DD``):
the day folder names the partition the file belongs to.

What a tick lists (never the whole bucket):

* the day folders after ``watermark - lookback_days`` (``ListObjectsV2`` with
  ``Delimiter='/'`` and ``StartAfter``: one page per 1,000 days at most);
* the objects of those open days only.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lascopf_assets.lib.ingest.landing import LANDING_SUFFIXES

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


def _explain(exc: Exception, bucket: str) -> S3LandingError:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "") if hasattr(exc, "response") else ""
    if code in ("NoSuchBucket",):
        reason = "the bucket does not exist"
    elif code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
        reason = "the credentials were rejected"
    elif type(exc).__name__ in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"):
        reason = "the endpoint cannot be reached"
    else:
        reason = " ".join(str(exc).split())[:300]
    return S3LandingError(f"listing landing bucket {bucket!r} failed: {reason}")


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
        listed: list[LandingObject] = []
        for folder, day in sorted(days.items(), key=lambda kv: kv[1]):
            kw = {"Bucket": bucket, "Prefix": folder, "MaxKeys": max_keys}
            while True:
                page = client.list_objects_v2(**kw)
                calls += 1
                for obj in page.get("Contents", []):
                    if obj["Key"].lower().endswith(LANDING_SUFFIXES):
                        listed.append(LandingObject(obj["Key"], obj["ETag"].strip('"'), int(obj["Size"]), day))
                if not page.get("IsTruncated"):
                    break
                kw["ContinuationToken"] = page["NextContinuationToken"]
    except Exception as exc:
        if type(exc).__module__.startswith("botocore"):
            raise _explain(exc, bucket) from exc
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
    listed_keys = {o.key for o in listed}
    open_days = set(listed_days)
    # forget keys of closed days, and keys deleted from an open day
    seen = {k: e for k, e in seen.items() if _key_day(k, base) is None or (
        (keep_from is None or _key_day(k, base) >= keep_from)
        and (_key_day(k, base) not in open_days or k in listed_keys))}
    return LandingPlan(requests, S3LandingCursor(watermark, seen), listed_days, out_of_range, calls)


def _key_day(key: str, base: str) -> str | None:
    rest = key[len(base):] if key.startswith(base) else key
    return day_of_folder(rest.split("/", 1)[0])
