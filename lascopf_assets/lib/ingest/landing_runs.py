"""What a landing-folder sensor tick should request: pure logic, no Dagster.

The sensor's state remembers, per accepted file name, the identity last acted
on, plus the identities of the rejected files last reported (the files
themselves are recorded by ``lib.ingest.rejections``); it lives in files beside
the landing index and the Dagster cursor only names one (``LandingCursorStore``),
so the cursor stays small however many files there are. A tick looks only at files whose
identity is new (new name, or rewritten: other size or mtime); those are
grouped by the day partitions their rows cover. Consecutive days become one
request over the range (one single-run backfill, not one run per day), whose
run key names the days and the file versions behind them. The same file
version therefore never yields a second run, and a rewrite always does.

A sensor without a cursor (first tick, or reset) also receives the time each
day was last ingested, if ever: a day all of whose files are older than its
last ingestion was ingested from these very file versions and is not requested
again (so turning the sensor on after a manual backfill does not redo it).

The S3 landing sensor plans the same way (:func:`range_requests`): its objects are
``IndexedFile`` s routed to their day folder, with the identity and mtime their
cache files get (``lascopf_assets.storage.s3_landing``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from lascopf_assets.lib.ingest.landing import LandingFile
from lascopf_assets.lib.ingest.landing_index import IndexedFile, load_json_state, save_json_state

CURSOR_VERSION = 2  # 1: the per-file state inline in the cursor (still read)


@dataclass
class LandingCursor:
    seen: dict[str, str] = field(default_factory=dict)  # name -> identity
    rejected: list[str] = field(default_factory=list)  # identities of the rejected files last reported (lib.ingest.rejections)
    fresh: bool = True  # no earlier state: a first tick (or a reset cursor)

    def same_state(self, other: LandingCursor) -> bool:
        return self.seen == other.seen and sorted(self.rejected) == sorted(other.rejected)


class LandingCursorStore:
    """The landing sensor's per-file state in files beside the landing index; the Dagster cursor only names one.

    A cursor is ``{"v": 2, "state": "<token>-<n>"}`` (tens of bytes, whatever the number of files): the
    state is ``<folder>/<token>-<n>.json``. Every change is written as the next file ``<token>-<n+1>``,
    and the older ones of the token are removed only once a tick starts from ``n`` (so its cursor was
    stored): a tick whose cursor Dagster never stored leaves the state it started from intact. A reset
    cursor (None) starts a new token, i.e. a first tick. A version-1 cursor (state inline) is read as is.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = os.fspath(folder)

    def _path(self, name: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{16}-\d+", name):
            raise ValueError(f"landing sensor cursor names no state file: {name!r}")
        return os.path.join(self.folder, f"{name}.json")

    def load(self, text: str | None) -> tuple[LandingCursor, str | None]:
        """The state a cursor names, and the name of its file (None for no cursor or a version-1 cursor)."""
        if not text:
            return LandingCursor(), None
        data = json.loads(text)
        if data.get("v") == 1:
            return LandingCursor(dict(data.get("seen", {})), list(data.get("rejected", [])), fresh=False), None
        if data.get("v") != CURSOR_VERSION:
            raise ValueError(f"landing sensor cursor has version {data.get('v')!r}, expected {CURSOR_VERSION}")
        name = str(data.get("state", ""))
        state = load_json_state(self._path(name))
        if not state:  # the state folder was cleared: start over as a first tick
            return LandingCursor(), None
        self._forget_before(name)
        return LandingCursor(dict(state.get("seen", {})), list(state.get("rejected", [])), fresh=False), name

    def save(self, cursor: LandingCursor, previous: str | None) -> str:
        """Write ``cursor``'s state as the file after ``previous`` and return the Dagster cursor naming it."""
        token, n = previous.rsplit("-", 1) if previous else (secrets.token_hex(8), "0")
        name = f"{token}-{int(n) + 1}"
        save_json_state(self._path(name), {"seen": cursor.seen, "rejected": sorted(cursor.rejected)})
        return json.dumps({"v": CURSOR_VERSION, "state": name})

    def _forget_before(self, name: str) -> None:
        token, n = name.rsplit("-", 1)
        for entry in os.listdir(self.folder):
            match = re.fullmatch(re.escape(token) + r"-(\d+)\.json", entry)
            if match and int(match.group(1)) < int(n):
                os.remove(os.path.join(self.folder, entry))


@dataclass(frozen=True)
class RangeRequest:
    first: str
    last: str
    run_key: str
    files: tuple[str, ...]  # identities of the file versions behind it
    names: tuple[str, ...] = ()  # their names (an S3 object's key), sorted

    @property
    def single_day(self) -> bool:
        return self.first == self.last


@dataclass
class LandingPlan:
    requests: list[RangeRequest]
    cursor: LandingCursor
    new_files: list[str]
    out_of_range: list[tuple[str, str]]  # (file, day) outside the partitions
    already_ingested: list[str]  # days skipped on a first tick (see module doc)


def changed_files(files: list[LandingFile], cursor: LandingCursor) -> list[LandingFile]:
    return [f for f in files if cursor.seen.get(f.name) != f.identity]


def _consecutive(days: list[str]) -> list[list[str]]:
    runs: list[list[str]] = []
    for day in days:
        if runs and (date.fromisoformat(day) - date.fromisoformat(runs[-1][-1])).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


LastIngested = Callable[[list[str]], dict[str, float]]


def range_requests(
    indexed_new: list[IndexedFile],
    valid_days: set[str] | None = None,
    last_ingested: LastIngested | None = None,
    run_key_prefix: str = "landing",
) -> tuple[list[RangeRequest], list[tuple[str, str]], list[str]]:
    """``(requests, out_of_range, already_ingested)`` for the new file versions in ``indexed_new``.

    Each file goes to the days it covers; ``valid_days`` limits them to existing partitions (None: no
    limit; the others are ``(name, day)`` out of range). ``last_ingested`` (first tick only) gives the
    epoch seconds of the last ingestion of the days asked about: a day all of whose files are older was
    ingested from these versions and is skipped. Consecutive days are one request.
    """
    by_day: dict[str, list[IndexedFile]] = {}
    out_of_range = []
    for item in indexed_new:
        for day in item.days:
            if valid_days is not None and day not in valid_days:
                out_of_range.append((item.file.name, day))
                continue
            by_day.setdefault(day, []).append(item)
    ingested = last_ingested(sorted(by_day)) if last_ingested is not None and by_day else {}
    already = sorted(day for day, items in by_day.items()
                     if day in ingested and all(i.file.mtime_ns / 1e9 < ingested[day] for i in items))
    for day in already:
        del by_day[day]
    requests = []
    for days in _consecutive(sorted(by_day)):
        files = {i.file.identity: i.file.name for d in days for i in by_day[d]}
        identities = tuple(sorted(files))
        digest = hashlib.sha256("\n".join([*days, *identities]).encode()).hexdigest()[:20]
        span = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
        requests.append(RangeRequest(first=days[0], last=days[-1], run_key=f"{run_key_prefix}:{span}:{digest}",
                                     files=identities, names=tuple(sorted(set(files.values())))))
    return requests, out_of_range, already


def plan_landing_runs(
    indexed_new: list[IndexedFile],
    all_names: set[str],
    cursor: LandingCursor,
    valid_days: set[str] | None = None,
    last_ingested: LastIngested | None = None,
) -> LandingPlan:
    """Requests for the new file versions in ``indexed_new`` (:func:`range_requests`), and the next cursor.

    ``all_names`` are the accepted names present now (forgotten from the cursor
    when gone, so a file that comes back is new again).
    """
    requests, out_of_range, already = range_requests(indexed_new, valid_days, last_ingested)
    seen = {name: ident for name, ident in cursor.seen.items() if name in all_names}
    seen.update({item.file.name: item.file.identity for item in indexed_new})
    return LandingPlan(
        requests=requests,
        cursor=LandingCursor(seen=seen, rejected=list(cursor.rejected), fresh=cursor.fresh),
        new_files=[i.file.name for i in indexed_new],
        out_of_range=out_of_range,
        already_ingested=already,
    )
