"""What a stream message may hold, and how it becomes landing rows or rejections.

A message is UTF-8 JSON: one reading object or a list of them. A reading has the landing
contract's long columns (``lib/ingest/landing.py``): ``meter_id`` (a non-empty string),
``timestamp`` (ISO 8601 with a UTC offset: the interval start) and ``kwh`` (a JSON number), and
optionally the SCADA columns ``voltage_pu, power_factor, frequency_hz, active_power_kw`` (numbers or
null). Other keys are ignored.

Only what cannot become a well-formed landing row is rejected here (the message is not UTF-8 or not
JSON, holds no reading object, a required field is missing or of the wrong kind, a timestamp without
an instant): those rows could not be routed to a day, so they would make a landing file unreadable.
Everything else (unknown meter, negative kWh, off the interval grid, duplicates, incomplete hours)
is judged by the platform's own validation and reaches ``quarantined_measurements`` with its rule.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from lascopf_assets.lib.ingest.landing import REQUIRED_COLUMNS, SCADA_COLUMNS

# rule code -> reason (a rejected message or reading carries both)
NOT_UTF8 = "not_utf8"
NOT_JSON = "not_json"
NOT_A_READING = "not_a_reading"
FIELD_MISSING = "field_missing"
METER_ID_INVALID = "meter_id_invalid"
TIMESTAMP_INVALID = "timestamp_invalid"
KWH_NOT_NUMERIC = "kwh_not_numeric"
SCADA_NOT_NUMERIC = "scada_value_not_numeric"
REJECT_RULES = {
    NOT_UTF8: "the message is not UTF-8 text",
    NOT_JSON: "the message is not JSON",
    NOT_A_READING: "the message is neither a reading object nor a non-empty list of reading objects",
    FIELD_MISSING: "a required field (meter_id, timestamp, kwh) is missing or null",
    METER_ID_INVALID: "meter_id is not a non-empty string",
    TIMESTAMP_INVALID: "timestamp is not an ISO 8601 date and time with a UTC offset",
    KWH_NOT_NUMERIC: "kwh is not a JSON number",
    SCADA_NOT_NUMERIC: "a SCADA value is not a JSON number or null",
}


@dataclass(frozen=True)
class Rejection:
    """A message (``index`` None) or one reading of a list message (``index``: its position) that was rejected."""

    rule: str
    detail: str
    index: int | None = None

    @property
    def reason(self) -> str:
        return f"{REJECT_RULES[self.rule]}: {self.detail}" if self.detail else REJECT_RULES[self.rule]


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _utc_text(value) -> str | None:
    """The instant as ``YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00``, or None when it has no UTC offset or does not parse."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    return parsed.astimezone(UTC).isoformat()


def judge_reading(obj, index: int | None) -> tuple[dict | None, Rejection | None]:
    """One reading object -> a landing row (column -> text) or a rejection."""
    if not isinstance(obj, dict):
        return None, Rejection(NOT_A_READING, f"got a JSON {type(obj).__name__}", index)
    missing = [c for c in REQUIRED_COLUMNS if obj.get(c) is None]
    if missing:
        return None, Rejection(FIELD_MISSING, ", ".join(missing), index)
    meter = obj["meter_id"]
    if not isinstance(meter, str) or not meter.strip():
        return None, Rejection(METER_ID_INVALID, f"meter_id={meter!r}", index)
    timestamp = _utc_text(obj["timestamp"])
    if timestamp is None:
        return None, Rejection(TIMESTAMP_INVALID, f"timestamp={obj['timestamp']!r}", index)
    if not _number(obj["kwh"]):
        return None, Rejection(KWH_NOT_NUMERIC, f"kwh={obj['kwh']!r}", index)
    row = {"meter_id": meter.strip(), "timestamp": timestamp, "kwh": repr(float(obj["kwh"]))}
    for column in SCADA_COLUMNS:
        value = obj.get(column)
        if value is None:
            continue
        if not _number(value):
            return None, Rejection(SCADA_NOT_NUMERIC, f"{column}={value!r}", index)
        row[column] = repr(float(value))
    return row, None


def judge_message(payload: bytes) -> tuple[list[dict], list[Rejection]]:
    """A message's landing rows and rejections (a list message may have both)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [Rejection(NOT_UTF8, str(exc))]
    try:
        data = json.loads(text)
    except ValueError as exc:
        return [], [Rejection(NOT_JSON, str(exc))]
    if isinstance(data, dict):
        row, rejection = judge_reading(data, None)
        return ([row], []) if row else ([], [rejection])
    if not isinstance(data, list) or not data:
        return [], [Rejection(NOT_A_READING, f"got {text[:80]!r}")]
    rows, rejections = [], []
    for i, obj in enumerate(data):
        row, rejection = judge_reading(obj, i)
        if row:
            rows.append(row)
        else:
            rejections.append(rejection)
    return rows, rejections


def payload_text(payload: bytes) -> dict:
    """The payload as stored in a rejects line: ``{"payload": text}`` or, when not UTF-8, ``{"payload_base64": ...}``."""
    try:
        return {"payload": payload.decode("utf-8")}
    except UnicodeDecodeError:
        return {"payload_base64": base64.b64encode(payload).decode("ascii")}


def landing_csv(rows: list[dict]) -> bytes:
    """Rows as a long landing CSV (``meter_id,timestamp,kwh`` then the SCADA columns any row has)."""
    present = {c for row in rows for c in row}
    columns = [*REQUIRED_COLUMNS, *(c for c in SCADA_COLUMNS if c in present)]
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
