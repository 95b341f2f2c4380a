"""``lascopf stream-consume``: meter readings from a NATS JetStream stream into landing files (a folder or the S3
landing zone), exactly once. The landing-target options and their S3 client are shared with ``stream-consume-mqtt``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from lascopf_assets.cli import CliError

MESSAGE_FORMAT = ('Messages are JSON: one reading {"meter_id": ..., "timestamp": "2023-03-01T00:15:00+01:00", "kwh": 0.12} '
                  "(optionally voltage_pu, power_factor, frequency_hz, active_power_kw) or a list of them.")
TARGET_HELP = (
    "Target: --landing DIR (the folder the landing sensor watches; each file written to a hidden temporary, fsynced, "
    "renamed, the folder fsynced) or --s3-landing (the S3 landing zone the s3_landing_sensor watches: one object per "
    "UTC day of the batch's readings, s3://BUCKET/PREFIX/<YYYY-MM-DD>/<file>, acked only after its PUT returned; "
    "bucket, prefix and endpoint from LASCOPF_S3_LANDING_BUCKET, LASCOPF_S3_LANDING_PREFIX, LASCOPF_S3_ENDPOINT_URL "
    "unless given as options, credentials only from LASCOPF_S3_ACCESS_KEY / LASCOPF_S3_SECRET_KEY (else the AWS "
    "SDK's default chain), region LASCOPF_S3_REGION). Rejected messages go to --rejects DIR (default stream_rejects "
    "beside the landing folder) or, with --s3-landing, to s3://BUCKET/<--s3-rejects-prefix>/; the rejected_stream_"
    "messages asset reads them."
)


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--landing", metavar="DIR", help="landing folder the landing sensor watches")
    target.add_argument("--s3-landing", action="store_true",
                        help="write to the S3 landing zone (settings from the LASCOPF_S3_* environment, see above)")
    parser.add_argument("--rejects", default=None, metavar="DIR",
                        help="rejects folder with --landing (default: stream_rejects beside the landing folder)")
    parser.add_argument("--s3-bucket", default=None, metavar="B", help="landing bucket (default $LASCOPF_S3_LANDING_BUCKET)")
    parser.add_argument("--s3-prefix", default=None, metavar="P",
                        help="landing prefix (default $LASCOPF_S3_LANDING_PREFIX, else landing)")
    parser.add_argument("--s3-endpoint-url", default=None, metavar="URL",
                        help="S3 endpoint (default $LASCOPF_S3_ENDPOINT_URL; unset: AWS S3)")
    parser.add_argument("--s3-rejects-prefix", default="stream_rejects", metavar="P",
                        help="prefix of the rejects objects in the landing bucket, outside the landing prefix "
                             "(default stream_rejects)")
    parser.add_argument("--lock-dir", default=None, metavar="DIR",
                        help="with --s3-landing: the local folder of the one-process-per-consumer lock (default: "
                             "lascopf-stream-locks in the temporary folder)")


def s3_landing_env() -> dict[str, str]:
    """The platform's S3 landing settings -> environment names (the one copy, in the storage layer; imported only
    when --s3-landing is used, so other subcommands start without the S3 stack)."""
    from lascopf_assets.storage.s3_landing import S3_LANDING_ENV

    return S3_LANDING_ENV


def s3_target(args: argparse.Namespace, environ=None) -> dict:
    """The S3 landing settings: the options, else the platform's environment names."""
    env = os.environ if environ is None else environ
    names = s3_landing_env()
    bucket = args.s3_bucket or env.get(names["bucket"])
    if not bucket:
        raise CliError(f"--s3-landing needs a bucket: set {names['bucket']} or pass --s3-bucket")
    access, secret = env.get(names["access_key"]) or None, env.get(names["secret_key"]) or None
    if (access is None) != (secret is None):
        raise CliError(f"set both {names['access_key']} and {names['secret_key']}, or neither")
    return {"bucket": bucket, "prefix": args.s3_prefix if args.s3_prefix is not None else env.get(names["prefix"], "landing"),
            "endpoint_url": args.s3_endpoint_url or env.get(names["endpoint_url"]) or None,
            "access_key": access, "secret_key": secret, "region": env.get(names["region"]) or "us-east-1"}


def s3_error(exc: BaseException, target: dict, when: str = "nothing of the batch in hand was acked") -> CliError:
    where = f"s3://{target['bucket']}/{target['prefix'].strip('/')} at {target['endpoint_url'] or 'AWS S3'}"
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        error = response["Error"]
        detail = f"{error.get('Code', '')}: {' '.join(str(error.get('Message', '')).split())[:200]}"
    else:
        detail = " ".join(str(exc).split())[:300]
    return CliError(f"S3 landing {where}: {detail} ({when})")


def build_sink(args: argparse.Namespace):
    """The folder sink, or an S3 sink with a client from the environment (the bucket checked first)."""
    from lascopf_assets.lib.stream.nats_consumer import default_rejects_dir
    from lascopf_assets.lib.stream.sinks import FolderSink

    try:
        if args.landing is not None:
            return FolderSink(args.landing, args.rejects or default_rejects_dir(args.landing)), None
        if args.rejects is not None:
            raise CliError("--rejects is a folder for --landing; with --s3-landing use --s3-rejects-prefix")
        target = s3_target(args)
        return _s3_sink(args, target), target
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def _s3_sink(args, target: dict):
    from lascopf_assets.lib.stream.s3_sink import S3Sink
    from lascopf_assets.storage.s3_landing import s3_client

    client = s3_client(target["endpoint_url"], target["access_key"], target["secret_key"], target["region"],
                       attempts=5, connect_timeout=5, read_timeout=30)
    sink = S3Sink(client, target["bucket"], target["prefix"], args.s3_rejects_prefix, lock_dir=args.lock_dir)
    try:
        client.head_bucket(Bucket=target["bucket"])
    except Exception as exc:
        if is_s3_error(exc):
            raise s3_error(exc, target, "checking the bucket before consuming") from exc
        raise
    return sink


def is_s3_error(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, BotoCoreError | ClientError)


def report(outcome) -> None:
    if outcome.readings or outcome.rejected or outcome.already_written:
        print(json.dumps({"readings": outcome.readings, "rejected": outcome.rejected,
                          "already_written": outcome.already_written, "redelivered": outcome.redelivered,
                          "files": outcome.files}), flush=True)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stream-consume",
        help="consume meter readings from NATS JetStream into landing files, a folder or S3 (exactly once)",
        description=(
            "A durable pull consumer with explicit acks. Each micro-batch becomes a landing file "
            "nats.<stream>.<durable>.<first seq>-<last seq>.csv (long layout), durable before its messages are "
            "acked; messages that cannot become a landing row go to nats.<stream>.<durable>.<first>-<last>.rejects.jsonl "
            "with a rule and a reason. Exactly once: a restart resumes after the last acked message, and a message "
            "redelivered after a crash between the write and the ack is recognised by the sequence range in the "
            "file names and acked without a second write. One process per durable (a lock enforces it on one host). "
            f"{MESSAGE_FORMAT} {TARGET_HELP} SIGTERM/SIGINT stop after the batch in hand. For MQTT see "
            "stream-consume-mqtt."
        ),
    )
    parser.add_argument("--nats", default="nats://127.0.0.1:4222", metavar="URL", help="NATS server(s), comma-separated")
    parser.add_argument("--stream", required=True, metavar="S", help="JetStream stream name")
    parser.add_argument("--subject", required=True, help="subject (filter) to consume, e.g. meters.readings.>")
    parser.add_argument("--durable", required=True, metavar="NAME", help="durable consumer name (the resume point)")
    add_target_arguments(parser)
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
    import nats.errors
    import nats.js.errors

    from lascopf_assets.lib.stream.nats_consumer import NatsSettings, consume
    from lascopf_assets.lib.stream.sinks import ConsumerBusyError

    try:
        settings = NatsSettings(
            servers=args.nats, stream=args.stream, subject=args.subject, durable=args.durable,
            landing_dir=args.landing, rejects_dir=args.rejects, batch=args.batch, max_wait=args.max_wait,
            ack_wait=args.ack_wait, create_stream=args.create_stream, exit_when_idle=args.exit_when_idle,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    sink, target = build_sink(args)

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await consume(settings, stop, on_batch=report, sink=sink)

    try:
        stats = asyncio.run(main())
    except nats.js.errors.NotFoundError as exc:
        raise CliError(f"stream {args.stream!r} not found on {args.nats} (pass --create-stream to create it): {exc}") from exc
    except ConsumerBusyError as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:
        if target is not None and is_s3_error(exc):
            raise s3_error(exc, target) from exc
        if isinstance(exc, OSError | nats.errors.NoServersError):
            raise CliError(f"{args.nats}: {exc}") from exc
        raise
    print(json.dumps({"stopped": True, **stats.to_dict()}), file=sys.stderr, flush=True)
    return 0
