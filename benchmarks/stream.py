"""Stream ingestion benchmark: messages/s from NATS JetStream into landing files, and the consumer's peak RSS (not a test).

Publishes N reading messages to a fresh stream on the local JetStream server (one reading per message, then
a second run with lists of R readings per message), runs ``lascopf stream-consume --exit-when-idle`` as a
child process (so its peak RSS, ru_maxrss of the child, is the consumer's own), reads the landing files
back with the platform's reader to check every reading landed once, and prints throughput (messages/s
and readings/s while consuming: the child's busy time, without the final idle wait) and peak RSS.
Each stream is deleted afterwards.

    .venv/bin/python benchmarks/stream.py [--messages 100000] [--per-list 10] [--batch 1000] [--nats nats://127.0.0.1:4222]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nats

from lascopf_assets.lib.ingest.landing import read_landing_table, scan_landing

START = datetime(2023, 3, 1, tzinfo=timezone(timedelta(hours=1)))
MAX_WAIT = 0.5


def reading(i: int) -> dict:
    return {"meter_id": f"M{i % 5000:05d}", "timestamp": (START + timedelta(minutes=15 * (i // 5000))).isoformat(),
            "kwh": round(0.001 * (i % 997), 3), "voltage_pu": 1.0}


async def _setup(url: str, stream: str, subject: str, payloads: list[bytes]) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[subject])
    started = time.perf_counter()
    for p in payloads:
        await nc.publish(subject, p)
    await nc.flush()
    while (await js.stream_info(stream)).state.messages < len(payloads):
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    await nc.close()
    return seconds


async def _delete(url: str, stream: str) -> None:
    nc = await nats.connect(url)
    await nc.jetstream().delete_stream(stream)
    await nc.close()


def run_case(url: str, messages: int, per_list: int, batch: int) -> dict:
    tag = uuid.uuid4().hex[:8]
    stream, subject = f"BENCH_{tag}", f"bench.{tag}"
    if per_list == 1:
        payloads = [json.dumps(reading(i)).encode() for i in range(messages)]
    else:
        payloads = [json.dumps([reading(i * per_list + k) for k in range(per_list)]).encode() for i in range(messages)]
    publish_s = asyncio.run(_setup(url, stream, subject, payloads))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            landing = Path(tmp) / "landing"
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            done = subprocess.run(
                [sys.executable, "-m", "lascopf_assets.cli", "stream-consume", "--nats", url, "--stream", stream,
                 "--subject", subject, "--durable", "bench", "--landing", str(landing), "--batch", str(batch),
                 "--max-wait", str(MAX_WAIT), "--exit-when-idle"], capture_output=True, text=True, check=True)
            peak_mb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
            stats = json.loads(done.stderr.strip().splitlines()[-1])
            files, _ = scan_landing(landing)
            landed = sum(read_landing_table(f.path).num_rows for f in files)
    finally:
        asyncio.run(_delete(url, stream))
    assert landed == messages * per_list, (landed, messages * per_list)
    busy = max(stats["seconds"] - MAX_WAIT, 1e-9)  # the last, empty fetch waited MAX_WAIT before the caught-up check
    return {"messages": messages, "per_message": per_list, "files": len(files), "publish_msgs_per_s": messages / publish_s,
            "msgs_per_s": stats["deliveries"] / busy, "readings_per_s": stats["readings"] / busy, "seconds": busy,
            "peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--per-list", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    print(f"NATS {args.nats}, batch {args.batch}")
    for per_list, n in ((1, args.messages), (args.per_list, args.messages // args.per_list)):
        r = run_case(args.nats, n, per_list, args.batch)
        print(f"{r['messages']:>8} messages x {r['per_message']:>3} reading(s): {r['msgs_per_s']:>9,.0f} msg/s, "
              f"{r['readings_per_s']:>9,.0f} readings/s into {r['files']} landing files ({r['seconds']:.1f} s busy; "
              f"published at {r['publish_msgs_per_s']:,.0f} msg/s); consumer peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
