"""Stream ingestion benchmark: messages/s from NATS JetStream and from MQTT into landing files, and the consumers'
peak RSS (not a test).

NATS: publishes N reading messages to a fresh stream on the local JetStream server (one reading per message, then
a second run with lists of R readings per message), runs ``lascopf stream-consume --exit-when-idle`` as a
child process (so its peak RSS, ru_maxrss of the child, is the consumer's own), reads the landing files
back with the platform's reader to check every reading landed once, and prints throughput (messages/s
and readings/s while consuming: the child's busy time, without the final idle wait) and peak RSS.
Each stream is deleted afterwards.

MQTT (beside it, the same two shapes): ``lascopf stream-consume-mqtt`` runs as a child on a fresh session of the
local broker while M messages are published with QoS 1. The broker drops what queues beyond
``max_queued_messages`` (Mosquitto: 1000) past the in-flight window, so the publisher is paced to keep at most
1000 messages published but not yet in a landing file (counted from the file names); the figure is end to end,
first publish to last message landed, so it is the slower of publisher and consumer (the publish rate is printed
beside it). Peak RSS as for NATS. ``--mqtt-messages 0`` skips it.

    .venv/bin/python benchmarks/stream.py [--messages 100000] [--per-list 10] [--batch 1000] [--nats nats://127.0.0.1:4222]
                                          [--mqtt mqtt://127.0.0.1:1883] [--mqtt-messages 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlparse

import nats
import paho.mqtt.client as mqtt

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


def _landed_messages(landing: Path) -> int:
    """Messages in the MQTT consumer's landing files so far, from their names (``...-<messages:06d>.csv``)."""
    return sum(int(n.rsplit("-", 1)[1].split(".")[0]) for n in os.listdir(landing) if n.startswith("mqtt.") and n.endswith(".csv"))


def run_mqtt_case(url: str, messages: int, per_list: int, batch: int, queue_bound: int = 1000) -> dict:
    broker = urlparse(url)
    tag = uuid.uuid4().hex[:8]
    topic, client_id = f"bench/{tag}/readings", f"bench-{tag}"
    if per_list == 1:
        payloads = [json.dumps(reading(i)).encode() for i in range(messages)]
    else:
        payloads = [json.dumps([reading(i * per_list + k) for k in range(per_list)]).encode() for i in range(messages)]
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        cmd = [sys.executable, "-m", "lascopf_assets.cli", "stream-consume-mqtt", "--mqtt", url, "--topic", topic,
               "--client-id", client_id, "--landing", str(landing), "--batch", str(batch), "--max-wait", str(MAX_WAIT),
               "--session-expiry", "60"]
        subprocess.run([*cmd, "--exit-when-idle"], capture_output=True, check=True)  # the session, before publishing
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        consumer = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{tag}", protocol=mqtt.MQTTv5)
        pub.max_inflight_messages_set(1000)
        pub.max_queued_messages_set(0)
        pub.connect(broker.hostname, broker.port or 1883)
        pub.loop_start()
        started = time.perf_counter()
        chunk = 100
        for first in range(0, messages, chunk):  # at most queue_bound published and not yet landed (nor acked)
            while first + chunk - _landed_messages(landing) > queue_bound:
                time.sleep(0.001)
            infos = [pub.publish(topic, p, qos=1) for p in payloads[first : first + chunk]]
            infos[-1].wait_for_publish(30)
        publish_s = time.perf_counter() - started
        while _landed_messages(landing) < messages and consumer.poll() is None:
            time.sleep(0.002)
        seconds = time.perf_counter() - started
        pub.disconnect()
        pub.loop_stop()
        consumer.send_signal(signal.SIGTERM)
        _, err = consumer.communicate(timeout=60)
        peak_mb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
        files, _ = scan_landing(landing)
        landed = sum(read_landing_table(f.path).num_rows for f in files)
    assert landed == messages * per_list, (landed, messages * per_list, err[-500:])
    return {"messages": messages, "per_message": per_list, "files": len(files), "publish_msgs_per_s": messages / publish_s,
            "msgs_per_s": messages / seconds, "readings_per_s": messages * per_list / seconds, "seconds": seconds,
            "peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--per-list", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--mqtt", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--mqtt-messages", type=int, default=20_000, help="0: skip MQTT")
    parser.add_argument("--mqtt-batch", type=int, default=250,
                        help="MQTT batch (and in-flight window); below the 1000-message pacing so batches overlap the publisher")
    args = parser.parse_args()

    def line(r: dict, what: str) -> str:
        return (f"{r['messages']:>8} messages x {r['per_message']:>3} reading(s): {r['msgs_per_s']:>9,.0f} msg/s, "
                f"{r['readings_per_s']:>9,.0f} readings/s into {r['files']} landing files ({r['seconds']:.1f} s {what}; "
                f"published at {r['publish_msgs_per_s']:,.0f} msg/s); consumer peak RSS {r['peak_rss_mb']:.0f} MB")

    print(f"NATS {args.nats}, batch {args.batch}")
    for per_list, n in ((1, args.messages), (args.per_list, args.messages // args.per_list)):
        print(line(run_case(args.nats, n, per_list, args.batch), "busy"))
    if args.mqtt_messages:
        print(f"MQTT {args.mqtt} (QoS 1, persistent session, receipts), batch {args.mqtt_batch}, publisher paced to the "
              "broker's 1000-message queue")
        for per_list, n in ((1, args.mqtt_messages), (args.per_list, args.mqtt_messages // args.per_list)):
            print(line(run_mqtt_case(args.mqtt, n, per_list, args.mqtt_batch), "end to end"))


if __name__ == "__main__":
    main()
