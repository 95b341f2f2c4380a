"""Landing and rejects files named by stream sequence range, written atomically; the ledger of what is written.

Names (``<source>`` is ``nats``; stream and consumer names cannot hold a ``.``, so the name parses back)::

    <landing>/<source>.<stream>.<consumer>.<first seq:012d>-<last seq:012d>.csv            readings
    <rejects>/<source>.<stream>.<consumer>.<first seq:012d>-<last seq:012d>.rejects.jsonl  rejected messages

(``<landing>`` is the landing folder, or a day folder ``<prefix>/<YYYY-MM-DD>/`` of the S3 landing zone:
see ``sinks.py``; the claim below is then per day folder.)

The landing name is an ordinary landing file name (``landing.refusal_reason`` accepts it), so the
landing sensor picks it up; zero-padded sequences sort the files in stream order, which is the order
the platform's re-delivery rule reads them in. A file is written to a hidden temporary file in the
same folder (``scan_landing`` skips names starting with ``.``), flushed and fsynced, renamed into
place, and the folder fsynced: it is there whole or not at all.

**The claim a name makes.** A file ``first-last`` holds its kind's part (readings, or rejections) of
*every* message this consumer can be delivered with a stream sequence in ``first..last``. So the
ledger, rebuilt from the names alone, answers "is this message's part already written?" for any
redelivered message, and a redelivery whose sequence is covered is acked without writing it again.
The consumer keeps the claim true by how it cuts runs (``batches.runs``): first deliveries
arrive in stream order with nothing skipped between them, so a run of them is closed; a redelivery
joins a run only with its sequence neighbours (``seq + 1``).
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import dataclass, field

LANDING_SUFFIX = ".csv"
REJECTS_SUFFIX = ".rejects.jsonl"
_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SEQ_DIGITS = 12


def check_name_part(kind: str, value: str) -> str:
    """A stream, consumer or source name usable in a landing file name (letters, digits, ``_``, ``-``)."""
    if not _NAME_PART.match(value):
        raise ValueError(f"{kind} {value!r}: use 1-64 letters, digits, '_' or '-', starting with a letter or digit")
    return value


@dataclass(frozen=True)
class Namer:
    source: str
    stream: str
    consumer: str

    def __post_init__(self):
        for kind, value in (("source", self.source), ("stream", self.stream), ("consumer", self.consumer)):
            check_name_part(kind, value)

    @property
    def prefix(self) -> str:
        return f"{self.source}.{self.stream}.{self.consumer}."

    def name(self, first: int, last: int, suffix: str) -> str:
        return f"{self.prefix}{first:0{SEQ_DIGITS}d}-{last:0{SEQ_DIGITS}d}{suffix}"

    def parse(self, name: str, suffix: str) -> tuple[int, int] | None:
        """``(first, last)`` of one of this consumer's file names of that kind, else None."""
        if not (name.startswith(self.prefix) and name.endswith(suffix)):
            return None
        middle = name[len(self.prefix) : len(name) - len(suffix)]
        match = re.fullmatch(r"(\d+)-(\d+)", middle)
        return (int(match.group(1)), int(match.group(2))) if match else None

    def temp_prefix(self) -> str:
        return "." + self.prefix


@dataclass
class RangeLedger:
    """Sorted, possibly overlapping ``(first, last)`` ranges; ``covers(seq)`` by bisection over merged ranges."""

    ranges: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self):
        self._merge()

    def _merge(self):
        merged: list[list[int]] = []
        for first, last in sorted(self.ranges):
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        self.ranges = [(a, b) for a, b in merged]
        self._firsts = [a for a, _ in self.ranges]

    def add(self, first: int, last: int) -> None:
        self.ranges.append((first, last))
        self._merge()

    def covers(self, seq: int) -> bool:
        i = bisect.bisect_right(self._firsts, seq) - 1
        return i >= 0 and self.ranges[i][1] >= seq

    @property
    def last(self) -> int:
        return self.ranges[-1][1] if self.ranges else 0


def fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(folder: str, name: str, data: bytes, sync_dir: bool = True) -> str:
    """``data`` at ``folder/name``: a hidden temporary file, fsynced, renamed into place (folder fsynced)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if sync_dir:
        fsync_dir(folder)
    return path
