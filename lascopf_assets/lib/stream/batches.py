"""A micro-batch of deliveries -> landing and rejects files, exactly once (source-agnostic, sink-agnostic).

``BatchWriter.write`` takes the deliveries of one fetch, skips each part of a message that a file of
its area already covers (a redelivery after a crash between the write and the ack), cuts the rest
into closed runs (see ``files.py``), and writes per run one landing file per landing area and one
rejects file. A message's parts are its readings of each landing area (the folder: one area; the S3
landing zone: one per UTC day, ``sinks.py``) and its rejections; each area has its own ledger, read
from the names of the consumer's files there (lazily: an S3 day folder is listed the first time a
reading of that day is written). The caller acks every delivery of the batch only after ``write``
returns: then every file is complete under its name and durable (``LandingSink.commit``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lascopf_assets.lib.stream.files import LANDING_SUFFIX, REJECTS_SUFFIX, Namer, RangeLedger
from lascopf_assets.lib.stream.readings import judge_message, landing_csv, payload_text
from lascopf_assets.lib.stream.sinks import LANDING, REJECTS, ConsumerBusyError, FolderSink, LandingSink

__all__ = ["BatchOutcome", "BatchWriter", "ConsumerBusyError", "Delivery", "runs"]


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
    already_written: int = 0  # messages with a part skipped because a file already holds it
    redelivered: int = 0  # deliveries the source marked as possibly seen before
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


class BatchWriter:
    """Writes one consumer's batches into a sink (a folder pair ``landing_dir``/``rejects_dir``, or ``sink``).

    One process per consumer: a second process on the same durable would be handed every other message, so a run
    of "consecutive" first deliveries would claim sequences the other holds. ``sink.open`` takes an exclusive lock
    (``flock``, released by the kernel when the process dies).
    """

    def __init__(self, namer: Namer, landing_dir: str | None = None, rejects_dir: str | None = None,
                 sink: LandingSink | None = None):
        if sink is None:
            if landing_dir is None or rejects_dir is None:
                raise ValueError("give a sink, or a landing and a rejects folder")
            sink = FolderSink(os.fspath(landing_dir), os.fspath(rejects_dir))
        self.namer, self.sink = namer, sink
        self.removed_temporaries = sink.open(namer.prefix)
        self._ledgers: dict[tuple[str, str], RangeLedger] = {}
        self.ledger(REJECTS, "")

    def ledger(self, kind: str, key: str) -> RangeLedger:
        """The ranges this consumer's files of one area claim (from their names only; listed once)."""
        if (kind, key) not in self._ledgers:
            suffix = LANDING_SUFFIX if kind == LANDING else REJECTS_SUFFIX
            found = [self.namer.parse(n, suffix) for n in self.sink.list_names(kind, key, self.namer.prefix)]
            self._ledgers[kind, key] = RangeLedger([r for r in found if r])
        return self._ledgers[kind, key]

    @property
    def landing(self) -> RangeLedger:
        """The landing ledger of a folder sink (its one area)."""
        return self.ledger(LANDING, "")

    @property
    def rejects(self) -> RangeLedger:
        return self.ledger(REJECTS, "")

    def close(self) -> None:
        """Release the consumer's lock (also released when the process ends)."""
        self.sink.close()

    def write(self, deliveries: list[Delivery]) -> BatchOutcome:
        outcome = BatchOutcome(deliveries=len(deliveries))
        unique = sorted({d.seq: d for d in reversed(deliveries)}.values(), key=lambda d: d.seq)  # first of each seq
        outcome.already_written += len(deliveries) - len(unique)
        outcome.redelivered = sum(not d.first_delivery for d in deliveries)
        received_at = datetime.now(UTC).isoformat()
        for run in runs(unique):
            rows: dict[str, tuple[list[dict], list[int]]] = {}  # landing area -> (rows, their messages' seqs)
            lines, reject_seqs = [], []
            for d in run:
                readings, rejections = judge_message(d.payload)
                by_area: dict[str, list[dict]] = {}
                for row in readings:
                    by_area.setdefault(self.sink.route(row), []).append(row)
                skipped = False
                for key, part in by_area.items():
                    if self.ledger(LANDING, key).covers(d.seq):
                        skipped = True
                        continue
                    area_rows, seqs = rows.setdefault(key, ([], []))
                    area_rows.extend(part)
                    seqs.append(d.seq)
                if rejections and self.rejects.covers(d.seq):
                    skipped = True
                elif rejections:
                    payload = payload_text(d.payload)
                    for r in rejections:
                        lines.append(json.dumps({
                            "stream": self.namer.stream, "consumer": self.namer.consumer, "stream_seq": d.seq,
                            "subject": d.subject, "num_delivered": d.num_delivered, "reading_index": r.index,
                            "rule": r.rule, "reason": r.reason, "received_at": received_at, **payload,
                        }, ensure_ascii=False))
                    reject_seqs.append(d.seq)
                outcome.already_written += skipped
            for key, (area_rows, seqs) in sorted(rows.items()):
                name = self.namer.name(seqs[0], seqs[-1], LANDING_SUFFIX)
                outcome.files.append(self.sink.put(LANDING, key, name, landing_csv(area_rows)))
                self.ledger(LANDING, key).add(seqs[0], seqs[-1])
                outcome.readings += len(area_rows)
            if lines:
                name = self.namer.name(reject_seqs[0], reject_seqs[-1], REJECTS_SUFFIX)
                outcome.files.append(self.sink.put(REJECTS, "", name, ("\n".join(lines) + "\n").encode("utf-8")))
                self.rejects.add(reject_seqs[0], reject_seqs[-1])
                outcome.rejected += len(lines)
        self.sink.commit()  # every file durable before anything is acked
        return outcome
