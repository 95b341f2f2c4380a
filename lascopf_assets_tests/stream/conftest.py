"""The real NATS JetStream server of this machine (and of CI): 127.0.0.1:4222, or LASCOPF_TEST_NATS_URL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone

import nats
import pytest

NATS_URL = os.environ.get("LASCOPF_TEST_NATS_URL", "nats://127.0.0.1:4222")


START = datetime(2023, 3, 1, tzinfo=timezone(timedelta(hours=1)))


def kill_after(command: list[str], written, at_least: int = 5, env: dict | None = None, timeout: float = 30.0) -> int:
    """Start the consumer ``command``, SIGKILL it once ``written()`` (files or objects it has landed) reaches
    ``at_least`` (or after ``timeout`` s, or when it exits by itself), and return ``written()`` after the kill."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while written() < at_least and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return written()


def reading(i: int) -> dict:
    """The i-th reading of a test stream: 8 meters, 15-minute intervals from 2023-03-01 00:00+01:00 (one per i)."""
    at = START + timedelta(minutes=15 * (i // 8))
    return {"meter_id": f"M{i % 8}", "timestamp": at.isoformat(), "kwh": round(0.01 * (i % 97), 4), "voltage_pu": 1.0}


async def _publish(subject: str, payloads: list[bytes]) -> None:
    nc = await nats.connect(NATS_URL)
    try:
        for p in payloads:
            await nc.publish(subject, p)  # core publish into the stream's subject: stored by JetStream
        await nc.flush()
    finally:
        await nc.close()


async def _stream(name: str, subject: str, create: bool) -> None:
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    try:
        if create:
            await js.add_stream(name=name, subjects=[subject])
        else:
            await js.delete_stream(name)
    finally:
        await nc.close()


async def stream_state(name: str, durable: str | None = None):
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    try:
        info = await js.stream_info(name)
        consumer = await js.consumer_info(name, durable) if durable else None
        return info.state, consumer
    finally:
        await nc.close()


class Stream:
    def __init__(self, name: str, subject: str):
        self.name, self.subject = name, subject

    def publish(self, payloads: list) -> None:
        raw = [p if isinstance(p, bytes) else json.dumps(p).encode() for p in payloads]
        asyncio.run(_publish(self.subject, raw))

    def state(self, durable: str | None = None):
        return asyncio.run(stream_state(self.name, durable))


@pytest.fixture
def stream():
    """A fresh stream with a unique name and subject, deleted afterwards."""
    tag = uuid.uuid4().hex[:10]
    s = Stream(f"T_{tag}", f"test.{tag}.readings")
    try:
        asyncio.run(_stream(s.name, s.subject, create=True))
    except (OSError, nats.errors.NoServersError) as exc:
        pytest.fail(f"no NATS JetStream server at {NATS_URL} ({exc}); CI machines run one")
    yield s
    asyncio.run(_stream(s.name, s.subject, create=False))
