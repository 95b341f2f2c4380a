"""What a landing-folder sensor tick should request: pure logic, no Dagster.

The cursor (JSON) remembers, per accepted file name, the identity last acted
on, plus refused names with their reason. A tick looks only at files whose
identity is new (new name, or rewritten: other size or mtime); those are
grouped by the day partitions their rows cover, giving at most one request per
day, whose run key names the day and the file versions behind it. The same
file version therefore never yields a second run, and a rewrite always does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from lascopf_assets.lib.ingest.landing import LandingFile
from lascopf_assets.lib.ingest.landing_index import IndexedFile

CURSOR_VERSION = 1


@dataclass
class LandingCursor:
    seen: dict[str, str] = field(default_factory=dict)  # name -> identity
    refused: dict[str, str] = field(default_factory=dict)  # name -> reason

    @classmethod
    def parse(cls, text: str | None) -> LandingCursor:
        if not text:
            return cls()
        data = json.loads(text)
        if data.get("v") != CURSOR_VERSION:
            raise ValueError(f"landing sensor cursor has version {data.get('v')!r}, expected {CURSOR_VERSION}")
        return cls(seen=dict(data.get("seen", {})), refused=dict(data.get("refused", {})))

    def dump(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, "seen": self.seen, "refused": self.refused}, sort_keys=True)


@dataclass(frozen=True)
class DayRequest:
    day: str
    run_key: str
    files: tuple[str, ...]


@dataclass
class LandingPlan:
    requests: list[DayRequest]
    cursor: LandingCursor
    new_files: list[str]
    newly_refused: list[tuple[str, str]]
    unroutable: list[tuple[str, str]]  # (file, reason): unreadable and no day in its name
    out_of_range: list[tuple[str, str]]  # (file, day) outside the partitions


def changed_files(files: list[LandingFile], cursor: LandingCursor) -> list[LandingFile]:
    return [f for f in files if cursor.seen.get(f.name) != f.identity]


def plan_landing_runs(
    indexed_new: list[IndexedFile],
    all_names: set[str],
    refused: list[tuple[str, str]],
    cursor: LandingCursor,
    valid_days: set[str] | None = None,
) -> LandingPlan:
    """Requests for the new file versions in ``indexed_new``.

    ``all_names`` are the accepted names present now (forgotten from the cursor
    when gone, so a file that comes back is new again); ``valid_days`` limits
    requests to existing partitions (None: no limit).
    """
    by_day: dict[str, list[str]] = {}
    unroutable, out_of_range = [], []
    for item in indexed_new:
        if item.error and not item.days:
            unroutable.append((item.file.name, item.error))
        for day in item.days:
            if valid_days is not None and day not in valid_days:
                out_of_range.append((item.file.name, day))
                continue
            by_day.setdefault(day, []).append(item.file.identity)
    requests = []
    for day in sorted(by_day):
        identities = tuple(sorted(by_day[day]))
        digest = hashlib.sha256("\n".join(identities).encode()).hexdigest()[:20]
        requests.append(DayRequest(day=day, run_key=f"landing:{day}:{digest}", files=identities))
    seen = {name: ident for name, ident in cursor.seen.items() if name in all_names}
    seen.update({item.file.name: item.file.identity for item in indexed_new})
    refused_now = dict(refused)
    newly_refused = [(n, r) for n, r in refused if cursor.refused.get(n) != r]
    return LandingPlan(
        requests=requests,
        cursor=LandingCursor(seen=seen, refused=refused_now),
        new_files=[i.file.name for i in indexed_new],
        newly_refused=newly_refused,
        unroutable=unroutable,
        out_of_range=out_of_range,
    )
