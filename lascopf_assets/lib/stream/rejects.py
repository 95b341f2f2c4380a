"""The consumers' rejects files (``*.rejects.jsonl``, NATS and MQTT) as one table a user can query. No Dagster here.

One row per rejected message, or per rejected reading of a list message (``reading_index``), with the rule and
reason ``readings.py`` gave it, where it came from (source, stream and consumer or MQTT client id, subject or
topic, stream sequence or position in its batch), when it was received, and its payload (text, or base64 when
it was not UTF-8). ``file`` names the rejects file as a user finds it (a path, or ``s3://bucket/key``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pandas as pd

from lascopf_assets.lib.stream.files import REJECTS_SUFFIX

STREAM_REJECT_COLUMNS = ["source", "stream", "consumer", "subject", "stream_seq", "message_index", "reading_index",
                         "delivery_count", "redelivered", "rule", "reason", "received_at", "payload", "payload_base64",
                         "file", "line"]
_INT = ["stream_seq", "message_index", "reading_index", "delivery_count", "line"]


def _row(record: dict, source: str, file: str, line: int) -> dict:
    nats = source == "nats"
    return {
        "source": source,
        "stream": record.get("stream") if nats else None,
        "consumer": record.get("consumer") if nats else record.get("client_id"),
        "subject": record.get("subject") if nats else record.get("topic"),
        "stream_seq": record.get("stream_seq"),
        "message_index": record.get("message_index"),
        "reading_index": record.get("reading_index"),
        "delivery_count": record.get("num_delivered"),
        "redelivered": (record.get("num_delivered", 1) > 1) if nats else bool(record.get("dup")),
        "rule": record.get("rule"), "reason": record.get("reason"), "received_at": record.get("received_at"),
        "payload": record.get("payload"), "payload_base64": record.get("payload_base64"),
        "file": file, "line": line,
    }


def stream_rejects_frame(files: Iterable[tuple[str, bytes]]) -> pd.DataFrame:
    """``(shown name, content)`` of rejects files -> one table (``STREAM_REJECT_COLUMNS``), in file then line order.
    A line that is not a JSON object (a file damaged by hand) becomes a row with rule ``unreadable_reject_line``."""
    rows = []
    for shown, data in sorted(files):
        name = shown.rsplit("/", 1)[-1]
        if not name.endswith(REJECTS_SUFFIX):
            continue
        source = name.split(".", 1)[0]
        for i, text in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                record = {"rule": "unreadable_reject_line", "reason": f"line {i} of the rejects file is not a JSON object"}
            rows.append(_row(record, source, shown, i))
    frame = pd.DataFrame(rows, columns=STREAM_REJECT_COLUMNS)
    for column in _INT:
        frame[column] = pd.array(frame[column].tolist(), dtype="Int64")
    frame["redelivered"] = frame["redelivered"].astype(bool)
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True, errors="coerce").dt.as_unit("us")
    for column in STREAM_REJECT_COLUMNS:
        if column not in _INT and column not in ("redelivered", "received_at"):
            frame[column] = frame[column].astype("string")
    return frame
