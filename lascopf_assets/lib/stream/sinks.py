"""Where a consumer's files go: a local folder (here) or an object store (``s3_sink.py``), behind one interface.

A consumer writes three kinds of file, each into an *area*:

* ``LANDING`` (readings, landing CSVs), keyed by ``route(row)``: a folder has one area (key ``""``, the
  landing sensor routes a file by its own time columns); the S3 landing zone has one per UTC day,
  ``<prefix>/<day>/``, because the S3 sensor routes an object by its day folder;
* ``REJECTS`` (rejected messages, JSONL), one area;
* ``RECEIPTS`` (the MQTT consumer's record of which message went into which file), one area.

Contract: ``put`` returns once the file is complete under its final name (never a torn file under it);
``commit`` returns once every ``put`` since the last ``commit`` survives a crash (folder: the folders are
fsynced; S3: a PUT that returned is durable, nothing to do). A consumer acks only after ``commit``.
``open`` takes the consumer's lock (one process per consumer) and clears what a crash left half-made.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Protocol

from lascopf_assets.lib.stream.files import fsync_dir, write_atomically

LANDING, REJECTS, RECEIPTS = "landing", "rejects", "receipts"


class ConsumerBusyError(RuntimeError):
    """Another process already writes this consumer's files."""


class LandingSink(Protocol):
    def open(self, prefix: str) -> list[str]: ...  # lock; the stale temporaries removed
    def close(self) -> None: ...
    def route(self, row: dict) -> str: ...
    def list_names(self, kind: str, key: str, prefix: str) -> list[str]: ...
    def put(self, kind: str, key: str, name: str, data: bytes) -> str: ...
    def commit(self) -> None: ...
    def read(self, kind: str, key: str, name: str) -> bytes | None: ...
    def exists(self, kind: str, key: str, name: str) -> bool: ...
    def delete(self, kind: str, key: str, name: str) -> None: ...


def lock_file(path: str, what: str):
    """An exclusive ``flock`` on ``path`` (released by the kernel when the process dies), or ConsumerBusyError."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    handle = open(path, "a")  # noqa: SIM115 (held for the consumer's life)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        raise ConsumerBusyError(f"another process is consuming {what} (lock {path})") from exc
    return handle


class FolderSink:
    """Landing files in ``landing_dir`` (the folder the landing sensor watches), rejects in ``rejects_dir``,
    receipts in ``<rejects_dir>/receipts``. Files are written to a hidden temporary, fsynced and renamed."""

    def __init__(self, landing_dir: str, rejects_dir: str):
        self.landing_dir, self.rejects_dir = os.fspath(landing_dir), os.fspath(rejects_dir)
        if os.path.abspath(self.landing_dir) == os.path.abspath(self.rejects_dir):
            raise ValueError("the rejects folder must not be the landing folder (the landing sensor would refuse its files)")
        self._touched: set[str] = set()
        self._lock = None

    def __repr__(self) -> str:
        return f"FolderSink({self.landing_dir!r}, {self.rejects_dir!r})"

    def folder(self, kind: str, key: str = "") -> str:
        return {LANDING: self.landing_dir, REJECTS: self.rejects_dir,
                RECEIPTS: os.path.join(self.rejects_dir, "receipts")}[kind]

    def open(self, prefix: str) -> list[str]:
        for kind in (LANDING, REJECTS, RECEIPTS):
            os.makedirs(self.folder(kind), exist_ok=True)
        self._lock = lock_file(os.path.join(self.landing_dir, f".{prefix}lock"), f"{prefix.rstrip('.')} into {self.landing_dir}")
        removed = []
        for kind in (LANDING, REJECTS, RECEIPTS):  # only under the lock: another live process's temporaries are its own
            folder = self.folder(kind)
            for name in os.listdir(folder):
                if name.startswith("." + prefix) and name.endswith(".tmp"):
                    os.unlink(os.path.join(folder, name))
                    removed.append(name)
        return removed

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def route(self, row: dict) -> str:
        return ""

    def list_names(self, kind: str, key: str, prefix: str) -> list[str]:
        folder = self.folder(kind, key)
        if not os.path.isdir(folder):
            return []
        with os.scandir(folder) as entries:
            return sorted(e.name for e in entries if e.name.startswith(prefix))

    def put(self, kind: str, key: str, name: str, data: bytes) -> str:
        folder = self.folder(kind, key)
        self._touched.add(folder)
        return write_atomically(folder, name, data, sync_dir=False)

    def commit(self) -> None:
        for folder in sorted(self._touched):  # the renames are durable before anything is acked
            fsync_dir(folder)
        self._touched.clear()

    def read(self, kind: str, key: str, name: str) -> bytes | None:
        try:
            with open(os.path.join(self.folder(kind, key), name), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def exists(self, kind: str, key: str, name: str) -> bool:
        return os.path.isfile(os.path.join(self.folder(kind, key), name))

    def delete(self, kind: str, key: str, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.folder(kind, key), name))
