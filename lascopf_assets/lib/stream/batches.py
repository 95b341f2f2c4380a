"""A micro-batch of deliveries -> landing and rejects files, exactly once (source-agnostic).

``BatchWriter.write`` takes the deliveries of one fetch, skips each part (readings, rejections) of a
message that a file of its kind already covers (a redelivery after a crash between the rename and
the ack), cuts the rest into closed runs (see ``files.py``), and writes one landing file and one
rejects file per run. The caller acks every delivery of the batch only after ``write`` returns:
then every file is renamed into place and its folder fsynced.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lascopf_assets.lib.stream.files import (
    LANDING_SUFFIX,
    REJECTS_SUFFIX,
    Namer,
    fsync_dir,
    remove_stale_temporaries,
    scan_ranges,
    write_atomically,
)
from lascopf_assets.lib.stream.readings import judge_message, landing_csv, payload_text


@dataclass
class Delivery:
    """One delivered message: its stream sequence, whether this is its first delivery, subject and payload."""

    seq: int
    first_delivery: bool
    subject: str
    payload: bytes
    num_delivered: int = 1
    handle: object = None  # the client's message object (to ack)


@dataclass
class BatchOutcome:
    deliveries: int = 0
    already_written: int = 0  # parts skipped because a file already covers their sequence
    readings: int = 0
    rejected: int = 0
    files: list[str] = field(default_factory=list)


def runs(deliveries: list[Delivery]) -> list[list[Delivery]]:
    """Deliveries (one per sequence, ascending) cut into closed runs: consecutive first deliveries stay together
    (the server hands them out in stream order, skipping nothing this consumer would be given), a redelivery only
    with its neighbour ``seq - 1``."""
    out: list[list[Delivery]] = []
    for d in deliveries:
        prev = out[-1][-1] if out else None
        if prev is not None and ((prev.first_delivery and d.first_delivery) or d.seq == prev.seq + 1):
            out[-1].append(d)
        else:
            out.append([d])
    return out


class ConsumerBusyError(RuntimeError):
    """Another process already writes this consumer's files."""


class BatchWriter:
    """Writes one consumer's batches into ``landing_dir`` (readings) and ``rejects_dir`` (rejections).

    One process per consumer: a second process on the same durable would be handed every other message, so a run
    of "consecutive" first deliveries would claim sequences the other holds. The writer takes an exclusive lock
    (``flock``, released by the kernel when the process dies) on a hidden file in the landing folder.
    """

    def __init__(self, namer: Namer, landing_dir: str, rejects_dir: str):
        self.namer, self.landing_dir, self.rejects_dir = namer, os.fspath(landing_dir), os.fspath(rejects_dir)
        if os.path.abspath(self.landing_dir) == os.path.abspath(self.rejects_dir):
            raise ValueError("the rejects folder must not be the landing folder (the landing sensor would refuse its files)")
        os.makedirs(self.landing_dir, exist_ok=True)
        os.makedirs(self.rejects_dir, exist_ok=True)
        lock_path = os.path.join(self.landing_dir, f".{namer.prefix}lock")
        self._lock = open(lock_path, "a")  # noqa: SIM115 (held for the writer's life)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock.close()
            raise ConsumerBusyError(f"another process is consuming {namer.stream}/{namer.consumer} into "
                                    f"{self.landing_dir} (lock {lock_path})") from exc
        self.removed_temporaries = remove_stale_temporaries(self.landing_dir, namer) + remove_stale_temporaries(
            self.rejects_dir, namer)
        self.landing = scan_ranges(self.landing_dir, namer, LANDING_SUFFIX)
        self.rejects = scan_ranges(self.rejects_dir, namer, REJECTS_SUFFIX)

    def close(self) -> None:
        """Release the consumer's lock (also released when the process ends)."""
        self._lock.close()

    @property
    def last_written(self) -> int:
        """The highest stream sequence any file of this consumer claims (0: none)."""
        return max(self.landing.last, self.rejects.last)

    def write(self, deliveries: list[Delivery]) -> BatchOutcome:
        outcome = BatchOutcome(deliveries=len(deliveries))
        unique = sorted({d.seq: d for d in reversed(deliveries)}.values(), key=lambda d: d.seq)  # first of each seq
        outcome.already_written += len(deliveries) - len(unique)
        received_at = datetime.now(UTC).isoformat()
        touched = set()
        for run in runs(unique):
            rows, row_seqs, lines, reject_seqs = [], [], [], []
            for d in run:
                need_rows, need_rejects = not self.landing.covers(d.seq), not self.rejects.covers(d.seq)
                if not (need_rows or need_rejects):
                    outcome.already_written += 1
                    continue
                readings, rejections = judge_message(d.payload)
                if readings and need_rows:
                    rows.extend(readings)
                    row_seqs.append(d.seq)
                if rejections and need_rejects:
                    payload = payload_text(d.payload)
                    for r in rejections:
                        lines.append(json.dumps({
                            "stream": self.namer.stream, "consumer": self.namer.consumer, "stream_seq": d.seq,
                            "subject": d.subject, "num_delivered": d.num_delivered, "reading_index": r.index,
                            "rule": r.rule, "reason": r.reason, "received_at": received_at, **payload,
                        }, ensure_ascii=False))
                    reject_seqs.append(d.seq)
                if (readings and not need_rows) or (rejections and not need_rejects):
                    outcome.already_written += 1
            if rows:
                first, last = row_seqs[0], row_seqs[-1]
                name = self.namer.name(first, last, LANDING_SUFFIX)
                outcome.files.append(write_atomically(self.landing_dir, name, landing_csv(rows), sync_dir=False))
                touched.add(self.landing_dir)
                self.landing.add(first, last)
                outcome.readings += len(rows)
            if lines:
                first, last = reject_seqs[0], reject_seqs[-1]
                name = self.namer.name(first, last, REJECTS_SUFFIX)
                data = ("\n".join(lines) + "\n").encode("utf-8")
                outcome.files.append(write_atomically(self.rejects_dir, name, data, sync_dir=False))
                touched.add(self.rejects_dir)
                self.rejects.add(first, last)
                outcome.rejected += len(lines)
        for folder in sorted(touched):  # the renames are durable before anything is acked
            fsync_dir(folder)
        return outcome
