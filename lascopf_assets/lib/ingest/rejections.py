"""Landing files that cannot be ingested, as data: which file version, why, since when, for which days.

A landing file is *rejected* when its name is refused (``scan_landing``: path separators or
``..``, not a landing suffix, unsafe characters, a symbolic link) or when it cannot be read at
all (the landing index's error: undecodable, corrupt, required columns missing, no readable
timestamp). Its days are those its rows could be routed to (the index: from its contents where
they could be read that far, else the day its name carries); a rejection without a day may
belong to any day, so every run hears of it.

:class:`RejectionLedger` remembers when each rejected file version was first seen (a small JSON
file in the ingestion state folder, replaced atomically), so the record is stable across sensor
ticks and runs; a file that is fixed or removed leaves the record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import pandas as pd

from lascopf_assets.lib.ingest.landing_index import IndexedFile, day_named_in, load_json_state, save_json_state

REFUSED_NAME = "refused_name"
UNREADABLE = "unreadable"
REJECTION_COLUMNS = ["file", "identity", "kind", "reason", "day", "first_seen"]


@dataclass(frozen=True)
class FileRejection:
    file: str
    identity: str
    kind: str  # REFUSED_NAME or UNREADABLE
    reason: str
    days: tuple[str, ...]  # empty: the day is unknown
    first_seen: pd.Timestamp | None = None

    def belongs_to(self, days: set[str]) -> bool:
        """Whether a run over ``days`` must hear of this file (it has rows there, or its day is unknown)."""
        return not self.days or bool(days.intersection(self.days))

    def describe(self) -> str:
        where = ", ".join(self.days) if self.days else "no known day"
        return f"landing file {self.file!r} is not ingested ({where}): {self.reason}"


def _refused_identity(folder: str, name: str) -> str:
    """``name:size:mtime_ns`` of a refused entry (of the link itself for a symbolic link)."""
    try:
        st = os.lstat(os.path.join(folder, name))
    except OSError:
        return f"{name}:gone"
    return f"{name}:{st.st_size}:{st.st_mtime_ns}"


def refused_in_folder(refused: list[tuple[str, str]], folder: str | os.PathLike) -> list[FileRejection]:
    """``refused`` (``(name, reason)`` from ``scan_landing`` of ``folder``) as rejections, routed to the day in the name."""
    folder = os.fspath(folder)
    return [FileRejection(name, _refused_identity(folder, name), REFUSED_NAME, reason, (day,) if (day := day_named_in(name)) else ())
            for name, reason in refused]


def current_rejections(indexed: list[IndexedFile], refused: list[FileRejection]) -> list[FileRejection]:
    """The rejected files among ``indexed`` (the landing index's view of the accepted files, named as users know
    them) and the ``refused`` ones (``refused_in_folder``, or an S3 zone's refused keys), by file."""
    out = [FileRejection(f.file.shown, f.file.identity, UNREADABLE, f.error, tuple(f.days)) for f in indexed if f.error]
    return sorted(out + list(refused), key=lambda r: (r.file, r.identity))


class RejectionLedger:
    """``identity -> first seen`` of the rejected file versions, stored at ``path``."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)

    def record(self, rejections: list[FileRejection], now: pd.Timestamp) -> tuple[list[FileRejection], list[FileRejection]]:
        """``(rejections with their first-seen time, those seen for the first time now)``; entries of
        file versions no longer rejected are forgotten."""
        known = load_json_state(self.path)  # a lost ledger only resets first-seen times
        stamp = now.tz_convert("UTC").isoformat()
        entries = {r.identity: known.get(r.identity, stamp) for r in rejections}
        if entries != known:
            save_json_state(self.path, entries)
        dated = [replace(r, first_seen=pd.Timestamp(entries[r.identity])) for r in rejections]
        return dated, [r for r in dated if r.identity not in known]


def rejections_frame(rejections: list[FileRejection]) -> pd.DataFrame:
    """One row per rejected file and day it was routed to (``day`` null where unknown): ``REJECTION_COLUMNS``."""
    rows = [(r, day) for r in rejections for day in (r.days or (None,))]
    text = {
        "file": [r.file for r, _ in rows],
        "identity": [r.identity for r, _ in rows],
        "kind": [r.kind for r, _ in rows],
        "reason": [r.reason for r, _ in rows],
        "day": [day for _, day in rows],
    }
    frame = pd.DataFrame({column: pd.Series(values, dtype="str") for column, values in text.items()})
    frame["first_seen"] = pd.Series(pd.to_datetime([r.first_seen for r, _ in rows], utc=True), dtype="datetime64[us, UTC]")
    return frame[REJECTION_COLUMNS]
