"""NATS JetStream -> landing files: a durable pull consumer with explicit acks, exactly once into the landing folder.

The consumer (``ack_policy`` explicit, ``deliver_policy`` all, ``max_deliver`` unlimited) is created on
first use and remembered by the server under its durable name, so a restart resumes after the last
acked message; messages delivered but not acked (the process died) come again after ``ack_wait``.
Each micro-batch (up to ``batch`` messages, or what arrived within ``max_wait`` seconds of the first
one) is written by :class:`~lascopf_assets.lib.stream.batches.BatchWriter` into a sink (the landing
folder, or the S3 landing zone: ``sinks.py``, ``s3_sink.py``) and only then acked.

Crash windows, and why none writes a message twice or loses one:

- before a file's rename (S3: before its PUT returned): only a hidden temporary file exists (removed
  on restart; S3 keeps no partial object); nothing acked, so everything is redelivered and written then;
- after the renames, before the acks reach the server: the messages are redelivered; their
  sequences are covered by the files' names, so they are acked without being written again;
- between one file's rename and the next (the rejects file, or another day's object): each area has
  its own ledger, so the redelivery writes only the missing parts.

``ack_wait`` must exceed ``max_wait`` plus the time to write a batch, or messages are redelivered
while their batch is still being written (harmless: they are then skipped as already written).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

import nats
import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from lascopf_assets.lib.stream.batches import BatchOutcome, BatchWriter, Delivery
from lascopf_assets.lib.stream.files import Namer, check_name_part
from lascopf_assets.lib.stream.sinks import FolderSink, LandingSink

SOURCE = "nats"


def default_rejects_dir(landing_dir: str) -> str:
    """Beside the landing folder (never inside it: the landing sensor refuses what is not a landing file)."""
    landing = os.path.abspath(landing_dir)
    return os.path.join(os.path.dirname(landing), "stream_rejects")


@dataclass
class NatsSettings:
    servers: str
    stream: str
    subject: str
    durable: str
    landing_dir: str | None = None  # the folder sink's; None when ``consume`` is given a sink (e.g. ``S3Sink``)
    rejects_dir: str | None = None
    batch: int = 1000
    max_wait: float = 2.0
    ack_wait: float = 30.0
    create_stream: bool = False
    exit_when_idle: bool = False  # stop once caught up: nothing arrived for max_wait s and nothing pending or unacked

    def __post_init__(self):
        check_name_part("stream", self.stream)
        check_name_part("durable", self.durable)
        if self.batch < 1 or self.max_wait <= 0 or self.ack_wait <= self.max_wait:
            raise ValueError("batch must be >= 1, max_wait > 0 and ack_wait > max_wait")
        if self.landing_dir is not None:
            self.rejects_dir = self.rejects_dir or default_rejects_dir(self.landing_dir)


def folder_sink(settings) -> FolderSink:
    if settings.landing_dir is None:
        raise ValueError("no landing folder and no sink: give one")
    return FolderSink(settings.landing_dir, settings.rejects_dir)


@dataclass
class ConsumeStats:
    batches: int = 0
    deliveries: int = 0
    already_written: int = 0
    redelivered: int = 0  # deliveries the source marked as possibly seen before (NATS: num_delivered > 1; MQTT: DUP)
    readings: int = 0
    rejected: int = 0
    files: int = 0
    seconds: float = 0.0
    removed_temporaries: list[str] = field(default_factory=list)

    def add(self, outcome: BatchOutcome) -> None:
        self.batches += 1
        self.deliveries += outcome.deliveries
        self.already_written += outcome.already_written
        self.redelivered += outcome.redelivered
        self.readings += outcome.readings
        self.rejected += outcome.rejected
        self.files += len(outcome.files)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def consumer_config(settings: NatsSettings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=settings.durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=settings.ack_wait,
        max_deliver=-1,
        max_ack_pending=max(2 * settings.batch, 1000),
        filter_subject=settings.subject,
    )


async def ensure_stream(js, settings: NatsSettings) -> None:
    try:
        await js.stream_info(settings.stream)
    except nats.js.errors.NotFoundError:
        if not settings.create_stream:
            raise
        await js.add_stream(StreamConfig(name=settings.stream, subjects=[settings.subject], storage=StorageType.FILE))


async def _collect(sub, settings: NatsSettings) -> list:
    """Up to ``batch`` messages: waits up to ``max_wait`` for the first, then up to ``max_wait`` more for the rest."""
    msgs: list = []
    deadline = None
    while len(msgs) < settings.batch:
        timeout = settings.max_wait if deadline is None else deadline - time.monotonic()
        if timeout <= 0.001:
            break
        try:
            got = await sub.fetch(settings.batch - len(msgs), timeout=timeout)
        except (TimeoutError, nats.errors.TimeoutError):
            break
        msgs.extend(got)
        if deadline is None and msgs:
            deadline = time.monotonic() + settings.max_wait
    return msgs


async def _caught_up(sub) -> bool:
    """Nothing left for this consumer: no undelivered message and none delivered but unacked (those of a process
    that died are redelivered after ack_wait, so an idle fetch alone does not mean done)."""
    info = await sub.consumer_info()
    return info.num_pending == 0 and info.num_ack_pending == 0


def _delivery(msg) -> Delivery:
    meta = msg.metadata
    return Delivery(seq=meta.sequence.stream, first_delivery=meta.num_delivered == 1, subject=msg.subject,
                    payload=msg.data, num_delivered=meta.num_delivered, handle=msg)


async def consume(settings: NatsSettings, stop: asyncio.Event | None = None, on_batch=None,
                  sink: LandingSink | None = None) -> ConsumeStats:
    """Consume until ``stop`` is set (after the batch in hand is written and acked) or, with ``exit_when_idle``,
    until caught up (no message for ``max_wait`` seconds, none pending, none awaiting an ack). Files go to ``sink``
    (default: the folders of ``settings``)."""
    stop = stop or asyncio.Event()
    stats = ConsumeStats()
    writer = BatchWriter(Namer(SOURCE, settings.stream, settings.durable), sink=sink or folder_sink(settings))
    stats.removed_temporaries = writer.removed_temporaries
    nc = await nats.connect(settings.servers, name=f"lascopf-stream-{settings.durable}", max_reconnect_attempts=-1)
    started = time.perf_counter()
    try:
        js = nc.jetstream()
        await ensure_stream(js, settings)
        sub = await js.pull_subscribe(settings.subject, durable=settings.durable, stream=settings.stream,
                                      config=consumer_config(settings))
        while not stop.is_set():
            msgs = await _collect(sub, settings)
            if not msgs:
                if settings.exit_when_idle and await _caught_up(sub):
                    break
                continue
            outcome = writer.write([_delivery(m) for m in msgs])  # files renamed and fsynced ...
            for m in msgs:  # ... before anything is acked
                await m.ack()
            await nc.flush()
            stats.add(outcome)
            if on_batch is not None:
                on_batch(outcome)
    finally:
        stats.seconds = time.perf_counter() - started
        await nc.close()
        writer.close()
    return stats
