"""``rejected_stream_messages``: the stream consumers' rejected messages as a table, beside ``rejected_landing_files``.

A message the consumer cannot turn into a landing row (not UTF-8, not JSON, no reading, a required field missing
or of the wrong kind) never reaches a landing file, so neither ``raw_measurements`` nor the quarantine sees it;
the consumer writes it, with a rule and a reason, to its rejects (``lib/stream/readings.py``). This asset reads
every rejects file where the consumers write them, for the profile's landing zone:

* local folder: ``stream_rejects`` beside the landing folder (``lascopf stream-consume --landing DIR``'s default),
  or ``StreamRejectsConfig.rejects_dir``;
* S3 landing zone: ``s3://<landing bucket>/stream_rejects/`` (``--s3-landing``'s default,
  ``--s3-rejects-prefix``), or ``StreamRejectsConfig.s3_rejects_prefix``.

Readings that are well-formed but wrong (unknown meter, negative kWh, duplicates...) are landed and reach
``quarantined_measurements`` with their rule, as for files.
"""


import hashlib
from pathlib import Path

import dagster as dg
import pandas as pd

from lascopf_assets.defs.metadata import markdown_table
from lascopf_assets.defs.resources import LandingZone, S3LandingZone
from lascopf_assets.lib.stream.files import REJECTS_SUFFIX
from lascopf_assets.lib.stream.nats_consumer import default_rejects_dir
from lascopf_assets.lib.stream.rejects import STREAM_REJECT_COLUMNS, stream_rejects_frame
from lascopf_assets.lib.stream.s3_sink import S3Sink
from lascopf_assets.lib.stream.sinks import REJECTS, FolderSink


class StreamRejectsConfig(dg.Config):
    rejects_dir: str | None = None
    """Local profile: the consumers' rejects folder (default: stream_rejects beside the landing folder)."""
    s3_rejects_prefix: str = "stream_rejects"
    """S3 landing zone: the rejects prefix in the landing bucket (the consumers' --s3-rejects-prefix)."""


def _rejects_sink(zone: LandingZone, config: StreamRejectsConfig):
    """``(where, sink, names)``: the consumers' rejects location, a sink over it and its rejects files' names."""
    if isinstance(zone, S3LandingZone):
        s3 = zone.s3_landing
        sink = S3Sink(s3.client(), s3.bucket, s3.prefix, config.s3_rejects_prefix)
        where = f"s3://{s3.bucket}/{sink.area(REJECTS)}"
    else:
        folder = config.rejects_dir or default_rejects_dir(zone.landing_dir)
        sink = FolderSink(zone.landing_dir, folder)
        where = str(Path(folder))
    return where, sink, sorted(n for n in sink.list_names(REJECTS, "", "") if n.endswith(REJECTS_SUFFIX))


def _rejects_files(zone: LandingZone, config: StreamRejectsConfig) -> tuple[str, list[tuple[str, bytes]]]:
    where, sink, names = _rejects_sink(zone, config)
    files = []
    for name in names:
        data = sink.read(REJECTS, "", name)
        if data is not None:  # removed between the listing and the read
            files.append((f"{where.rstrip('/')}/{name}", data))
    return where, files


@dg.asset(
    group_name="ingestion",
    kinds={"pandas", "parquet"},
    description="Stream messages the consumers could not turn into landing rows (not UTF-8, not JSON, no reading, a "
    "required field missing or malformed): source, stream/consumer or MQTT client, subject/topic, sequence, rule, "
    "reason, received at, payload, rejects file. Well-formed but invalid readings go to quarantined_measurements.",
)
def rejected_stream_messages(context: dg.AssetExecutionContext, config: StreamRejectsConfig, zone: LandingZone) -> dg.Output:
    where, files = _rejects_files(zone, config)
    frame = stream_rejects_frame(files)
    if frame.empty:
        context.log.info(f"no rejected stream messages in {where}")
    by_rule = frame["rule"].value_counts()
    by_source = frame["source"].value_counts()
    return dg.Output(frame[STREAM_REJECT_COLUMNS], metadata={
        "rejected_messages": dg.MetadataValue.int(len(frame)),
        "rejects_files": dg.MetadataValue.int(len(files)),
        "location": dg.MetadataValue.text(where),
        "by_rule": dg.MetadataValue.json({str(k): int(v) for k, v in by_rule.items()}),
        "by_source": dg.MetadataValue.json({str(k): int(v) for k, v in by_source.items()}),
        "latest": dg.MetadataValue.md(markdown_table(
            frame.sort_values("received_at", ascending=False)[["source", "consumer", "stream_seq", "rule", "reason",
                                                              "received_at"]] if len(frame) else pd.DataFrame())),
    })


def stream_rejects_sensor(context: dg.SensorEvaluationContext, zone: LandingZone) -> dg.SensorResult | dg.SkipReason:
    """A new rejects file in the consumers' default rejects location -> rejected_stream_messages. A consumer names
    each rejects file by its batch and never rewrites it, so the set of names is the state (the cursor: its digest)."""
    where, _, names = _rejects_sink(zone, StreamRejectsConfig())
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:20]
    if digest == context.cursor or (context.cursor is None and not names):
        return dg.SkipReason(f"no new rejects file in {where} ({len(names)} in all)")
    context.log.info(f"{len(names)} rejects file(s) in {where}: refreshing rejected_stream_messages")
    return dg.SensorResult(cursor=digest, run_requests=[
        dg.RunRequest(run_key=f"stream-rejects:{digest}", asset_selection=[rejected_stream_messages.key])])
