"""Which day partitions each landing file covers, cached by file identity.

The sensor and the ``raw_measurements`` asset both need to know which days a
file's rows fall on. Working that out means reading the file's timestamps, so
the answer is cached in a small JSON file keyed by the file's identity
(name + size + mtime): a rewritten file is read again, an unchanged one never.

A file that cannot be read at all is recorded with its error and the days its
rows would go to: those of its time columns where they can be read (a file
missing only ``kwh``), else the day named in its file name
(``..._YYYY-MM-DD.csv``), if any; so that day's runs name the file
(``lib.ingest.rejections``) instead of the file being silently ignored.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from lascopf_assets.lib.ingest.landing import LandingFile, LandingFileError, covered_days, printable_reason, utc_days

_DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
READ_THREADS = max(2, min(8, os.cpu_count() or 2))


@dataclass(frozen=True)
class IndexedFile:
    file: LandingFile
    days: tuple[str, ...]
    error: str | None = None


def day_named_in(name: str) -> str | None:
    match = _DAY_IN_NAME.search(name)
    return match.group(1) if match else None


def _days_of_unreadable(f: LandingFile) -> list[str]:
    """Where an unreadable file's rows would go: the days of its time columns where those can be read
    (e.g. a file missing only ``kwh``), else the day named in its file name, else none."""
    try:
        return covered_days(f.path)
    except (LandingFileError, pa.ArrowException, OSError, ValueError):
        named = day_named_in(f.name)
        return [named] if named else []


def days_of_table(table: pa.Table) -> list[str]:
    """Days covered by parsed landing rows (``read_landing_table``)."""
    return utc_days(pc.cast(table.column("timestamp"), pa.int64()).to_numpy(zero_copy_only=False))


def load_json_state(path: str) -> dict:
    """A small JSON state file as a dict; {} when absent or damaged (state that can be rebuilt, never data)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def save_json_state(path: str, entries: dict) -> None:
    """Write ``entries`` to ``path`` atomically (a temporary file in the same folder, renamed over it)."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + "-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(entries, handle, sort_keys=True)
    os.replace(tmp, path)


class LandingIndex:
    """A JSON cache ``identity -> days`` stored at ``path`` (written atomically; a damaged one only costs
    re-reading the files)."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)

    def _load(self) -> dict[str, dict]:
        return load_json_state(self.path)

    def _save(self, entries: dict[str, dict]) -> None:
        save_json_state(self.path, entries)

    def refresh(self, files: list[LandingFile], read_rows=None) -> list[IndexedFile]:
        """Days of every file, reading only files whose identity is not cached yet.

        With ``read_rows`` (a function ``LandingFile -> pyarrow.Table`` of parsed
        rows, e.g. a caller that needs the rows anyway), a file that has to be
        read is read through it, so it is read once, not twice; where it returns
        None, the file's timestamps alone are read.
        """
        cached = self._load()
        unknown = [f for f in files if f.identity not in cached]

        def days_of(f: LandingFile) -> dict:
            try:
                table = read_rows(f) if read_rows else None
                # a file missing a required column (say kwh) is unreadable now, when it is indexed, not later when its
                # day's rows are read
                days = days_of_table(table) if table is not None else covered_days(f.path, require_all=True)
                return {"days": days, "error": None}
            except LandingFileError as exc:  # named as users know the file, without raw bytes or the local path
                return {"days": _days_of_unreadable(f), "error": printable_reason(exc.reason, f.path, f.shown)}

        # files are independent and pyarrow parses without holding the GIL
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            found = dict(zip((f.identity for f in unknown), pool.map(days_of, unknown)))
        fresh = {f.identity: cached.get(f.identity) or found[f.identity] for f in files}
        out = [IndexedFile(f, tuple(fresh[f.identity]["days"]), fresh[f.identity]["error"]) for f in files]
        if fresh.keys() != cached.keys():
            self._save(fresh)
        return out


def files_for_days(indexed: list[IndexedFile], days: set[str]) -> list[IndexedFile]:
    """The indexed files with at least one row on one of ``days``, by name (as users know them: ``LandingFile.shown``)."""
    return sorted((i for i in indexed if days.intersection(i.days)), key=lambda i: i.file.shown)
