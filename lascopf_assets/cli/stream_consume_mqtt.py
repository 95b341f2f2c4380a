"""``lascopf stream-consume-mqtt``: meter readings from an MQTT broker (QoS 1, persistent session) into landing files."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from urllib.parse import urlparse

from lascopf_assets.cli import CliError
from lascopf_assets.cli.stream_consume import (
    MESSAGE_FORMAT,
    TARGET_HELP,
    add_target_arguments,
    build_sink,
    is_s3_error,
    report,
    s3_error,
)

USERNAME_ENV, PASSWORD_ENV = "LASCOPF_MQTT_USERNAME", "LASCOPF_MQTT_PASSWORD"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stream-consume-mqtt",
        help="consume meter readings from MQTT (QoS 1: at least once from the broker, de-duplicated here) into "
             "landing files, a folder or S3",
        description=(
            "Subscribes with QoS 1 on a persistent MQTT 5 session (clean start off, a session expiry), so the broker "
            "keeps what is published while the consumer is down; each micro-batch becomes a landing file "
            "mqtt.<client id>.<first received, epoch us>-<messages>.csv, durable before its PUBACKs. "
            "Delivery guarantee: MQTT QoS 1 is AT LEAST ONCE from the broker: a message whose PUBACK was lost (the "
            "consumer died after writing it) is sent again, with the DUP flag. The consumer de-duplicates those: it "
            "records a receipt (digest of topic and payload per message, and the files) before each batch, and a DUP "
            "message whose readings a receipt of the last --dedupe-window messages shows written is acked, not "
            "written again. So the landing files hold each reading once across a crash as long as the messages in "
            "flight (at most --batch of the run that died) are within --dedupe-window, and the head-ends do not "
            "publish byte-identical messages twice (a DUP copy of an identical, already written message is taken for "
            "it; its readings are equal, so the platform's re-delivery rule would collapse them anyway). A head-end's own "
            "QoS 1 resend to the broker reaches this consumer as a second, new message (no DUP): both are written "
            "and the platform's re-delivery rule collapses their equal readings. The "
            "broker's queue per session is bounded (Mosquitto max_queued_messages, default 1000, beyond the "
            "in-flight window): what arrives beyond it is dropped by the broker, not seen here. For a stream with "
            f"sequence numbers and no such bound use stream-consume (NATS JetStream). {MESSAGE_FORMAT} {TARGET_HELP} "
            f"Broker credentials only from {USERNAME_ENV} / {PASSWORD_ENV}. SIGTERM/SIGINT stop after the batch in hand."
        ),
    )
    parser.add_argument("--mqtt", default="mqtt://127.0.0.1:1883", metavar="URL", help="broker, mqtt://HOST:PORT")
    parser.add_argument("--topic", required=True, help="topic filter to subscribe to (QoS 1), e.g. meters/+/readings")
    parser.add_argument("--client-id", required=True, metavar="ID",
                        help="MQTT client id: names the broker's session (the resume point) and the files")
    add_target_arguments(parser)
    parser.add_argument("--batch", type=int, default=1000, metavar="N",
                        help="messages per landing file at most, and the broker's in-flight window (ReceiveMaximum)")
    parser.add_argument("--max-wait", type=float, default=2.0, metavar="S",
                        help="seconds a batch waits for more messages after its first (default 2)")
    parser.add_argument("--session-expiry", type=int, default=7 * 24 * 3600, metavar="S",
                        help="seconds the broker keeps the session and its queue while the consumer is down (default a week)")
    parser.add_argument("--dedupe-window", type=int, default=None, metavar="N",
                        help="messages whose receipts are read on start to recognise redeliveries (default max(2 x "
                             "--batch, 2000); must cover the --batch of the run before a restart)")
    parser.add_argument("--exit-when-idle", action="store_true", help="stop after --max-wait s without a message")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lascopf_assets.lib.stream.mqtt_consumer import MqttSettings, consume_mqtt
    from lascopf_assets.lib.stream.sinks import ConsumerBusyError

    url = urlparse(args.mqtt)
    if url.scheme != "mqtt" or not url.hostname:
        raise CliError(f"--mqtt takes mqtt://HOST[:PORT], got {args.mqtt!r}")
    try:
        settings = MqttSettings(
            topic=args.topic, client_id=args.client_id, landing_dir=args.landing, rejects_dir=args.rejects,
            host=url.hostname, port=url.port or 1883, batch=args.batch, max_wait=args.max_wait,
            exit_when_idle=args.exit_when_idle, session_expiry_seconds=args.session_expiry,
            username=os.environ.get(USERNAME_ENV) or None, password=os.environ.get(PASSWORD_ENV) or None,
            dedupe_window=args.dedupe_window,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    sink, target = build_sink(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stats = consume_mqtt(settings, stop, on_batch=report, sink=sink)
    except ConsumerBusyError as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:
        if target is not None and is_s3_error(exc):
            raise s3_error(exc, target) from exc
        if isinstance(exc, OSError):
            raise CliError(f"{args.mqtt}: {exc}") from exc
        raise
    print(json.dumps({"stopped": True, **stats.to_dict()}), file=sys.stderr, flush=True)
    return 0
