"""MQTT (e.g. Mosquitto) -> landing files: QoS 1 on a persistent session, PUBACK only after the files are durable.

**What MQTT guarantees, and what this consumer adds.** QoS 1 is *at least once* from the broker: a
message has no stream sequence (packet ids are reused), and one whose PUBACK did not reach the broker
(the process died after writing it, before or while acking) is sent again after the reconnect, with
the DUP flag set (the broker sets DUP on every resend, never on a first send). This consumer removes
those duplicates itself: before it writes a batch it records a *receipt* (``<rejects>/receipts/``):
for every message, a digest (SHA-256 of topic and payload) and the parts it contributes (its readings
of each landing area, its rejections), and the names of the batch's files. On start it reads the
receipts of the newest ``dedupe_window`` messages and keeps, for each digest, the parts whose file
exists. A message delivered with DUP set whose part is recorded as written is not written again
(``already_written``); a message without DUP is always written. So across a crash at any point the
landing files hold every reading exactly once, on two conditions:

- the unacked window of the process that died (at most its ``batch`` messages, MQTT's
  ``ReceiveMaximum``) is within ``dedupe_window`` (default ``max(2 * batch, 2000)``: keep it when
  lowering ``--batch`` across a restart);
- a DUP message equal (same topic and payload) to one written recently is taken for that one. A
  head-end that publishes the very same payload twice as two messages, and whose second copy is
  redelivered after a crash, loses that copy; its readings equal the first copy's, which the
  platform's re-delivery rule (``lib/ingest/intervals.py``) would have collapsed anyway.

Upstream of the broker nothing is de-duplicated: a head-end's own QoS 1 resend (its PUBACK from the broker
was lost) is a second message to the broker, delivered here without DUP, and written; its readings equal
the first copy's, so the platform's re-delivery rule collapses them (``rows_redelivered``).

Compare NATS JetStream (``nats_consumer.py``), whose stream sequence names the files themselves.

The session is MQTT 5 with ``clean_start`` off and a session expiry (a week by default), so messages
published while the consumer is down are kept by the broker and delivered on reconnect;
``ReceiveMaximum`` lets up to ``batch`` messages be in flight unacked. Unlike a stream, the broker's
queue for a session is bounded (Mosquitto's ``max_queued_messages``, 1000 by default, counts what
waits beyond the in-flight window, online or offline): what arrives beyond it is dropped by the
broker, so size it for the longest outage, or put JetStream (whose MQTT gateway stores into a
stream) between the head-ends and this. Names, written through a sink (``sinks.py``: the landing
folder, or the S3 landing zone with one object per UTC day)::

    <landing>/mqtt.<client id>.<first received, epoch us:016d>-<messages:06d>.csv
    <rejects>/mqtt.<client id>.<first received, epoch us:016d>-<messages:06d>.rejects.jsonl
    <rejects>/receipts/mqtt.<client id>.<first received, epoch us:016d>-<messages:06d>.receipt.json

The receipt is made durable before the files it names, and the files before the PUBACKs; a receipt
whose file is missing (the crash came between them) does not count that file's parts as written.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from lascopf_assets.lib.stream.batches import BatchOutcome
from lascopf_assets.lib.stream.files import LANDING_SUFFIX, REJECTS_SUFFIX, check_name_part
from lascopf_assets.lib.stream.nats_consumer import ConsumeStats, default_rejects_dir, folder_sink
from lascopf_assets.lib.stream.readings import judge_message, landing_csv, payload_text
from lascopf_assets.lib.stream.sinks import LANDING, RECEIPTS, REJECTS, LandingSink

RECEIPT_SUFFIX = ".receipt.json"
_STEM = re.compile(r"^mqtt\.[A-Za-z0-9_-]+\.(\d{16})-(\d{6})$")


@dataclass
class MqttSettings:
    topic: str
    client_id: str
    landing_dir: str | None = None  # the folder sink's; None when ``consume_mqtt`` is given a sink
    host: str = "127.0.0.1"
    port: int = 1883
    rejects_dir: str | None = None
    batch: int = 1000
    max_wait: float = 2.0
    exit_when_idle: bool = False  # stop after max_wait seconds without a message
    session_expiry_seconds: int = 7 * 24 * 3600
    username: str | None = None  # from the environment (the caller's), never from code
    password: str | None = None
    dedupe_window: int | None = None  # messages whose receipts are read on start; default max(2 * batch, 2000)

    def __post_init__(self):
        check_name_part("client id", self.client_id)
        if self.batch < 1 or self.max_wait <= 0:
            raise ValueError("batch must be >= 1 and max_wait > 0")
        self.dedupe_window = self.dedupe_window or max(2 * self.batch, 2000)
        if self.dedupe_window < min(self.batch, 65535):
            raise ValueError("dedupe_window must cover at least one batch (the messages in flight unacked)")
        if self.landing_dir is not None:
            self.rejects_dir = self.rejects_dir or default_rejects_dir(self.landing_dir)


def message_digest(topic: str, payload: bytes) -> str:
    return hashlib.sha256(topic.encode("utf-8") + b"\0" + payload).hexdigest()[:32]


def _stem_parts(name: str) -> tuple[int, int] | None:
    """``(first received us, messages)`` of a receipt name, else None."""
    m = _STEM.match(name.removesuffix(RECEIPT_SUFFIX))
    return (int(m.group(1)), int(m.group(2))) if m and name.endswith(RECEIPT_SUFFIX) else None


class MqttWriter:
    """One MQTT consumer's batches into a sink, with receipts that let a DUP redelivery be recognised."""

    def __init__(self, client_id: str, sink: LandingSink, dedupe_window: int):
        self.client_id, self.sink, self.window = check_name_part("client id", client_id), sink, dedupe_window
        self.prefix = f"mqtt.{client_id}."
        self.removed_temporaries = sink.open(self.prefix)
        self.written: OrderedDict[str, frozenset[str]] = OrderedDict()  # digest -> parts written (newest last)
        self._receipts: deque[tuple[str, int]] = deque()  # (name, messages), oldest first
        self._last_us = 0
        try:
            self._load_receipts()
        except BaseException:
            sink.close()
            raise

    def _remember(self, digest: str, parts) -> None:
        self.written[digest] = self.written.get(digest, frozenset()) | frozenset(parts)
        self.written.move_to_end(digest)
        while len(self.written) > self.window:
            self.written.popitem(last=False)

    def _load_receipts(self) -> None:
        names = [(n, p) for n in self.sink.list_names(RECEIPTS, "", self.prefix) if (p := _stem_parts(n))]
        keep, count = [], 0
        for name, (_, n) in reversed(names):
            if count >= self.window:
                break
            keep.append((name, n))
            count += n
        keep.reverse()
        for name, _ in names[: len(names) - len(keep)]:
            self.sink.delete(RECEIPTS, "", name)  # beyond the window: no redelivery can need them
        for name, n in keep:
            data = self.sink.read(RECEIPTS, "", name)
            if data is None:
                continue
            receipt = json.loads(data)
            present = {part: self.sink.exists(kind, key, file) for part, (kind, key, file) in receipt["files"].items()}
            for digest, parts in receipt["messages"]:
                self._remember(digest, [p for p in parts if present.get(p)])
            self._receipts.append((name, n))
        if names:
            self._last_us = names[-1][1][0]

    def close(self) -> None:
        self.sink.close()

    def write(self, msgs: list) -> BatchOutcome:
        outcome = BatchOutcome(deliveries=len(msgs), redelivered=sum(bool(m.dup) for m in msgs))
        first_us = self._last_us = max(time.time_ns() // 1000, self._last_us + 1)  # names never repeat, even if the clock steps back
        stem = f"{self.prefix}{first_us:016d}-{len(msgs):06d}"
        received_at = datetime.now(UTC).isoformat()
        rows: dict[str, list[dict]] = {}
        lines, messages = [], []
        in_batch: dict[str, set[str]] = {}  # a resend after a reconnect can arrive in the same batch as the original
        for i, m in enumerate(msgs):
            digest = message_digest(m.topic, m.payload)
            done = self.written.get(digest, frozenset()) | in_batch.get(digest, set()) if m.dup else frozenset()
            readings, rejections = judge_message(m.payload)
            by_area: dict[str, list[dict]] = {}
            for row in readings:
                by_area.setdefault(self.sink.route(row), []).append(row)
            mine, skipped = [], False
            for key, part in by_area.items():
                if f"{LANDING}:{key}" in done:
                    skipped = True
                    continue
                rows.setdefault(key, []).extend(part)
                mine.append(f"{LANDING}:{key}")
            if rejections and REJECTS in done:
                skipped = True
            elif rejections:
                for r in rejections:
                    lines.append(json.dumps({"client_id": self.client_id, "topic": m.topic, "message_index": i,
                                             "dup": bool(m.dup), "reading_index": r.index, "rule": r.rule,
                                             "reason": r.reason, "received_at": received_at, "message_digest": digest,
                                             **payload_text(m.payload)}, ensure_ascii=False))
                mine.append(REJECTS)
            outcome.already_written += skipped
            if mine:
                messages.append([digest, mine])
                in_batch.setdefault(digest, set()).update(mine)
        files = {f"{LANDING}:{key}": [LANDING, key, stem + LANDING_SUFFIX] for key in sorted(rows)}
        if lines:
            files[REJECTS] = [REJECTS, "", stem + REJECTS_SUFFIX]
        if files:
            receipt = {"client_id": self.client_id, "stem": stem, "files": files, "messages": messages}
            self.sink.put(RECEIPTS, "", stem + RECEIPT_SUFFIX, json.dumps(receipt).encode("utf-8"))
            self.sink.commit()  # the receipt is durable before the files it names
            for key in sorted(rows):
                outcome.files.append(self.sink.put(LANDING, key, stem + LANDING_SUFFIX, landing_csv(rows[key])))
                outcome.readings += len(rows[key])
            if lines:
                data = ("\n".join(lines) + "\n").encode("utf-8")
                outcome.files.append(self.sink.put(REJECTS, "", stem + REJECTS_SUFFIX, data))
                outcome.rejected = len(lines)
            self.sink.commit()  # ... and the files before the PUBACKs
            self._receipts.append((stem + RECEIPT_SUFFIX, len(msgs)))
            for digest, mine in messages:
                self._remember(digest, mine)
            self._prune()
        return outcome

    def _prune(self) -> None:
        total = sum(n for _, n in self._receipts)
        while len(self._receipts) > 1 and total - self._receipts[0][1] >= self.window:
            name, n = self._receipts.popleft()
            total -= n
            self.sink.delete(RECEIPTS, "", name)


def consume_mqtt(settings: MqttSettings, stop: threading.Event | None = None, on_batch=None,
                 sink: LandingSink | None = None) -> ConsumeStats:
    """Consume until ``stop`` is set (after the batch in hand is written and acked) or, with ``exit_when_idle``, until
    no message arrived for ``max_wait`` seconds. Files go to ``sink`` (default: the folders of ``settings``)."""
    stop = stop or threading.Event()
    stats = ConsumeStats()
    writer = MqttWriter(settings.client_id, sink or folder_sink(settings), settings.dedupe_window)
    stats.removed_temporaries = writer.removed_temporaries
    inbox: queue.Queue = queue.Queue()
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=mqtt.MQTTv5,
                         manual_ack=True)
    if settings.username:
        client.username_pw_set(settings.username, settings.password)

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe(settings.topic, qos=1)

    client.on_connect = on_connect
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_message = lambda client, userdata, msg: inbox.put(msg)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = settings.session_expiry_seconds
    props.ReceiveMaximum = min(settings.batch, 65535)
    started = time.perf_counter()
    try:
        client.connect(settings.host, settings.port, clean_start=False, properties=props)
    except BaseException:
        writer.close()
        raise
    client.loop_start()
    try:
        subscribed.wait(10)
        while not stop.is_set():
            try:
                msgs = [inbox.get(timeout=settings.max_wait)]
            except queue.Empty:
                if settings.exit_when_idle:
                    break
                continue
            deadline = time.monotonic() + settings.max_wait
            while len(msgs) < settings.batch and (left := deadline - time.monotonic()) > 0:
                try:
                    msgs.append(inbox.get(timeout=left))
                except queue.Empty:
                    break
            outcome = writer.write(msgs)  # durable ...
            for m in msgs:  # ... before the PUBACKs
                client.ack(m.mid, m.qos)
            stats.add(outcome)
            if on_batch is not None:
                on_batch(outcome)
    finally:
        stats.seconds = time.perf_counter() - started
        client.disconnect()  # the session (and what arrives meanwhile) stays with the broker until it expires
        client.loop_stop()
        writer.close()
    return stats
