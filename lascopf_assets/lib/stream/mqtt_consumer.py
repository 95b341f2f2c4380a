"""MQTT (e.g. Mosquitto) -> landing files: QoS 1 on a persistent session, PUBACK only after the file is durable.

MQTT is the common head-end protocol, but its QoS 1 is *at least once*: a message has no stream
sequence (packet ids are reused), so a message whose PUBACK was lost (the process died after the
rename) is sent again with the DUP flag after the reconnect and lands a second time, in a later file.
What keeps the platform exact is its re-delivery rule (``lib/ingest/intervals.py``): a reading equal to
an earlier one (same meter, timestamp, kWh and SCADA values; earlier = files by name) is collapsed
and counted as ``rows_redelivered``, never summed twice; a redelivery carries the same payload, so
its readings are always equal. Compare NATS JetStream (``nats_consumer.py``), whose stream sequence
makes the landing files themselves exactly once.

The session is MQTT 5 with ``clean_start`` off and a session expiry (a week by default), so messages
published while the consumer is down are kept by the broker and delivered on reconnect;
``ReceiveMaximum`` lets up to ``batch`` messages be in flight unacked. Unlike a stream, the broker's
queue for an offline session is bounded (Mosquitto's ``max_queued_messages``, 1000 by default): what
arrives beyond it while the consumer is down is dropped by the broker, so size it for the longest
outage, or put JetStream (whose MQTT gateway stores into a stream) between the head-ends and this. Names, written atomically as
``files.py`` writes them::

    <landing>/mqtt.<client id>.<first received, epoch us:016d>-<messages:06d>.csv
    <rejects>/mqtt.<client id>.<first received, epoch us:016d>-<messages:06d>.rejects.jsonl
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from lascopf_assets.lib.stream.batches import BatchOutcome
from lascopf_assets.lib.stream.files import LANDING_SUFFIX, REJECTS_SUFFIX, check_name_part, fsync_dir, write_atomically
from lascopf_assets.lib.stream.nats_consumer import ConsumeStats, default_rejects_dir
from lascopf_assets.lib.stream.readings import judge_message, landing_csv, payload_text


@dataclass
class MqttSettings:
    topic: str
    client_id: str
    landing_dir: str
    host: str = "127.0.0.1"
    port: int = 1883
    rejects_dir: str | None = None
    batch: int = 1000
    max_wait: float = 2.0
    exit_when_idle: bool = False  # stop after max_wait seconds without a message
    session_expiry_seconds: int = 7 * 24 * 3600
    username: str | None = None  # from the environment (the caller's), never from code
    password: str | None = None

    def __post_init__(self):
        check_name_part("client id", self.client_id)
        if self.batch < 1 or self.max_wait <= 0:
            raise ValueError("batch must be >= 1 and max_wait > 0")
        self.rejects_dir = self.rejects_dir or default_rejects_dir(self.landing_dir)


def _write(settings: MqttSettings, msgs: list) -> BatchOutcome:
    outcome = BatchOutcome(deliveries=len(msgs))
    first_us = time.time_ns() // 1000
    stem = f"mqtt.{settings.client_id}.{first_us:016d}-{len(msgs):06d}"
    received_at = datetime.now(UTC).isoformat()
    rows, lines = [], []
    for i, m in enumerate(msgs):
        readings, rejections = judge_message(m.payload)
        rows.extend(readings)
        for r in rejections:
            lines.append(json.dumps({"client_id": settings.client_id, "topic": m.topic, "message_index": i, "dup": bool(m.dup),
                                     "reading_index": r.index, "rule": r.rule, "reason": r.reason, "received_at": received_at,
                                     **payload_text(m.payload)}, ensure_ascii=False))
    if rows:
        outcome.files.append(write_atomically(settings.landing_dir, stem + LANDING_SUFFIX, landing_csv(rows), sync_dir=False))
        fsync_dir(settings.landing_dir)
        outcome.readings = len(rows)
    if lines:
        data = ("\n".join(lines) + "\n").encode("utf-8")
        outcome.files.append(write_atomically(settings.rejects_dir, stem + REJECTS_SUFFIX, data, sync_dir=False))
        fsync_dir(settings.rejects_dir)
        outcome.rejected = len(lines)
    return outcome


def consume_mqtt(settings: MqttSettings, stop: threading.Event | None = None, on_batch=None) -> ConsumeStats:
    """Consume until ``stop`` is set (after the batch in hand is written and acked) or, with ``exit_when_idle``, until
    no message arrived for ``max_wait`` seconds."""
    stop = stop or threading.Event()
    stats = ConsumeStats()
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
    client.connect(settings.host, settings.port, clean_start=False, properties=props)
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
            outcome = _write(settings, msgs)  # renamed and fsynced ...
            for m in msgs:  # ... before the PUBACKs
                client.ack(m.mid, m.qos)
            stats.add(outcome)
            if on_batch is not None:
                on_batch(outcome)
    finally:
        stats.seconds = time.perf_counter() - started
        client.disconnect()  # the session (and what arrives meanwhile) stays with the broker until it expires
        client.loop_stop()
    return stats
