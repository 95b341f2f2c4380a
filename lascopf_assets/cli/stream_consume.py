"""``lascopf stream-consume``: meter readings from a NATS JetStream stream into landing files, exactly once."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from lascopf_assets.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stream-consume",
        help="consume meter readings from NATS JetStream into landing files (exactly once)",
        description=(
            "A durable pull consumer with explicit acks. Each micro-batch becomes a landing file "
            "<landing>/nats.<stream>.<durable>.<first seq>-<last seq>.csv (long layout), written atomically and "
            "fsynced before its messages are acked; messages that cannot become a landing row go to "
            "<rejects>/nats.<stream>.<durable>.<first>-<last>.rejects.jsonl with a rule and a reason. A restart "
            "resumes after the last acked message and never writes a message twice. Messages are JSON: one reading "
            '{"meter_id": ..., "timestamp": "2023-03-01T00:15:00+01:00", "kwh": 0.12} or a list of them. '
            "SIGTERM/SIGINT stop after the batch in hand."
        ),
    )
    parser.add_argument("--nats", default="nats://127.0.0.1:4222", metavar="URL", help="NATS server(s), comma-separated")
    parser.add_argument("--stream", required=True, metavar="S", help="JetStream stream name")
    parser.add_argument("--subject", required=True, help="subject (filter) to consume, e.g. meters.readings.>")
    parser.add_argument("--durable", required=True, metavar="NAME", help="durable consumer name (the resume point)")
    parser.add_argument("--landing", required=True, metavar="DIR", help="landing folder the landing sensor watches")
    parser.add_argument("--rejects", default=None, metavar="DIR",
                        help="rejects folder (default: stream_rejects beside the landing folder)")
    parser.add_argument("--batch", type=int, default=1000, metavar="N", help="messages per landing file at most")
    parser.add_argument("--max-wait", type=float, default=2.0, metavar="S",
                        help="seconds a batch waits for more messages after its first (default 2)")
    parser.add_argument("--ack-wait", type=float, default=30.0, metavar="S",
                        help="server redelivers a message not acked within S seconds (set when the consumer is created)")
    parser.add_argument("--create-stream", action="store_true", help="create the stream (file storage) if it is absent")
    parser.add_argument("--exit-when-idle", action="store_true",
                        help="stop once caught up (idle for --max-wait s, nothing pending or awaiting an ack)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import nats.js.errors

    from lascopf_assets.lib.stream.batches import ConsumerBusyError
    from lascopf_assets.lib.stream.nats_consumer import NatsSettings, consume

    try:
        settings = NatsSettings(
            servers=args.nats, stream=args.stream, subject=args.subject, durable=args.durable,
            landing_dir=args.landing, rejects_dir=args.rejects, batch=args.batch, max_wait=args.max_wait,
            ack_wait=args.ack_wait, create_stream=args.create_stream, exit_when_idle=args.exit_when_idle,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc

    def report(outcome):
        if outcome.readings or outcome.rejected:
            print(json.dumps({"readings": outcome.readings, "rejected": outcome.rejected,
                              "already_written": outcome.already_written, "files": outcome.files}), flush=True)

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await consume(settings, stop, on_batch=report)

    try:
        stats = asyncio.run(main())
    except nats.js.errors.NotFoundError as exc:
        raise CliError(f"stream {args.stream!r} not found on {args.nats} (pass --create-stream to create it): {exc}") from exc
    except ConsumerBusyError as exc:
        raise CliError(str(exc)) from exc
    except (OSError, nats.errors.NoServersError) as exc:
        raise CliError(f"{args.nats}: {exc}") from exc
    print(json.dumps({"stopped": True, **stats.to_dict()}), file=sys.stderr, flush=True)
    return 0
