"""Ingestion sensors: landing files (a folder, or an S3 prefix) -> raw_measurements day runs;
topology files -> grid_topology; the stream consumers' rejects files -> rejected_stream_messages.

The sensors are built by :func:`ingestion_sensors` for a profile, not at import time: on the
local profile the folder sensors start running (a laptop reacts to dropped files without
clicks); in production every sensor starts stopped and an operator turns on the ones wanted.
Listing, cursors and run planning live in ``lib.ingest.landing_runs`` and ``lascopf_assets.storage.s3_landing``;
these are the Dagster wrappers.
"""


import hashlib

import dagster as dg
import pandas as pd

from lascopf_assets.defs.ingestion.assets import raw_measurements, rejected_landing_files
from lascopf_assets.defs.ingestion.stream_rejects import rejected_stream_messages, stream_rejects_sensor
from lascopf_assets.defs.ingestion.topology import TOPOLOGY_FINGERPRINT, grid_topology
from lascopf_assets.defs.partitions import daily_partitions
from lascopf_assets.defs.profile import sensor_interval, sensors_start
from lascopf_assets.defs.resources import FeederHeads, LandingZone, S3LandingZone
from lascopf_assets.lib.ingest.landing_runs import LandingCursor, changed_files, plan_landing_runs
from lascopf_assets.lib.ingest.rejections import UNREADABLE
from lascopf_assets.storage.s3_landing import S3LandingCursor, S3LandingError, plan_s3_landing

LANDING_KEYS_TAG = "lascopf/s3_landing_keys"


def _last_ingestions(instance: dg.DagsterInstance, days: list[str]) -> dict[str, float]:
    """Epoch seconds of the latest raw_measurements materialization of each day that has one."""
    latest: dict[str, float] = {}
    for start in range(0, len(days), 500):
        chunk = days[start : start + 500]
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=raw_measurements.key, asset_partitions=chunk), limit=len(chunk) * 4
        ).records
        for record in records:
            day = record.partition_key
            latest[day] = max(latest.get(day, 0.0), record.timestamp)
    return latest


def _ingested_at(context: dg.SensorEvaluationContext, cursor):
    """On a first tick (no cursor): when each day asked about was last ingested, so days already ingested from
    the same file versions are not asked for again (``landing_runs.range_requests``); None on later ticks."""
    return (lambda days: _last_ingestions(context.instance, days)) if cursor.fresh else None


def _run_request(request, tags: dict[str, str] | None = None) -> dg.RunRequest:
    tags = {"lascopf/landing_files": ",".join(request.files)[:1000], **(tags or {})}
    selection = [raw_measurements.key]
    if request.single_day:
        return dg.RunRequest(run_key=request.run_key, partition_key=request.first, tags=tags, asset_selection=selection)
    # consecutive days run as one single-run backfill over the range
    tags.update({"dagster/asset_partition_range_start": request.first, "dagster/asset_partition_range_end": request.last})
    return dg.RunRequest(run_key=request.run_key, tags=tags, asset_selection=selection)


def _report_rejections(context: dg.SensorEvaluationContext, zone: LandingZone, indexed, refused, cursor: LandingCursor):
    """Log the rejected files this sensor has not reported yet; a request for ``rejected_landing_files`` when the set
    changed (None otherwise); the identities to remember."""
    rejected, _ = zone.record_rejections(indexed, refused, pd.Timestamp.now(tz="UTC"))
    identities = sorted(r.identity for r in rejected)
    for rejection in rejected:
        if rejection.identity not in cursor.rejected:
            log = context.log.error if rejection.kind == UNREADABLE else context.log.warning
            log(rejection.describe() + ("; its day(s) are ingested without it" if rejection.days else ""))
    if identities == sorted(cursor.rejected):
        return None, identities
    digest = hashlib.sha256("\n".join(identities).encode()).hexdigest()[:20]
    return dg.RunRequest(run_key=f"rejections:{digest}", asset_selection=[rejected_landing_files.key]), identities


def landing_file_sensor(context: dg.SensorEvaluationContext, zone: LandingZone) -> dg.SensorResult | dg.SkipReason:
    store = zone.landing_cursor_store()
    cursor, state = store.load(context.cursor)
    files, refused = zone.scan()
    changed = {f.identity for f in changed_files(files, cursor)}
    indexed = zone.landing_index().refresh(files)  # reads only the files it has not seen
    indexed_new = [i for i in indexed if i.file.identity in changed]
    valid_days = set(daily_partitions.get_partition_keys(dynamic_partitions_store=context.instance))
    plan = plan_landing_runs(indexed_new, {f.name for f in files}, cursor, valid_days, _ingested_at(context, cursor))
    rejections_request, plan.cursor.rejected = _report_rejections(context, zone, indexed, refused, cursor)
    for name, day in plan.out_of_range:
        context.log.warning(f"landing file {name!r} has rows on {day}, outside the daily partitions; not requested")
    if plan.already_ingested:
        context.log.info(f"{len(plan.already_ingested)} day(s) already ingested from these file versions; not requested")
    run_requests = [_run_request(r) for r in plan.requests] + ([rejections_request] if rejections_request else [])
    if not run_requests and state is not None and plan.cursor.same_state(cursor):
        return dg.SkipReason(f"no new landing files among {len(files)}")
    new_cursor = store.save(plan.cursor, state)  # the per-file state beside the landing index; the cursor names it
    if not run_requests:  # e.g. a first tick after `make demo`: say why nothing is requested
        done = f"{len(plan.already_ingested)} day(s) already ingested from these file versions" if plan.already_ingested else ""
        return dg.SensorResult(cursor=new_cursor, skip_reason=done or f"no new landing files among {len(files)}")
    return dg.SensorResult(run_requests=run_requests, cursor=new_cursor)


def _built_from(instance: dg.DagsterInstance) -> str | None:
    """The fingerprint the latest grid_topology materialization was built from, if any."""
    [record] = instance.fetch_materializations(grid_topology.key, limit=1).records or [None]
    if record is None:
        return None
    value = record.asset_materialization.metadata.get(TOPOLOGY_FINGERPRINT)
    return value.value if value is not None else None


def topology_file_sensor(
    context: dg.SensorEvaluationContext, zone: LandingZone, feeder_heads: FeederHeads
) -> dg.SensorResult | dg.SkipReason:
    digest = zone.topology_fingerprint(feeder_heads.element_list())
    if digest == context.cursor:
        return dg.SkipReason("topology files unchanged")
    if not context.cursor and _built_from(context.instance) == digest:  # first tick: e.g. after `make demo`
        return dg.SensorResult(cursor=digest, skip_reason="grid_topology is already built from these topology files")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"topology:{digest}")], cursor=digest)


def s3_landing_sensor(context: dg.SensorEvaluationContext, zone: LandingZone) -> dg.SensorResult | dg.SkipReason:
    """The landing folder sensor's behaviour for the S3 zone's bucket: consecutive days are one range run, a first
    tick skips what was ingested from the same object versions, rejections are logged once and recorded."""
    if not isinstance(zone, S3LandingZone):
        raise dg.Failure(description="s3_landing_sensor needs the S3 landing zone of the production profile")
    bucket = zone.s3_landing
    cursor = S3LandingCursor.parse(context.cursor)
    try:
        plan = plan_s3_landing(
            bucket.client(), bucket.bucket, bucket.prefix, cursor, lookback_days=bucket.lookback_days,
            is_valid_day=daily_partitions.has_partition_key, last_ingested=_ingested_at(context, cursor),
        )
    except S3LandingError as exc:
        raise dg.Failure(description=str(exc)) from exc
    cache = zone.cache()
    for day, refused_keys in plan.refused_by_day.items():  # the open days' refused keys, for rejected_landing_files
        cache.record_refused(bucket.bucket, day, refused_keys)
    files, refused = zone.scan()
    rejections_request, plan.cursor.rejected = _report_rejections(context, zone, zone.landing_index().refresh(files),
                                                                  refused, cursor)
    for key, day in plan.out_of_range:
        context.log.warning(f"landing object {key!r} is for {day}, outside the daily partitions; not requested")
    if plan.already_ingested:
        context.log.info(f"{len(plan.already_ingested)} day(s) already ingested from these object versions; not requested")
    run_requests = [_run_request(r, {LANDING_KEYS_TAG: ",".join(r.names)[:1000]}) for r in plan.requests]
    run_requests += [rejections_request] if rejections_request else []
    new_cursor = plan.cursor.dump()
    if not run_requests and new_cursor == (context.cursor or S3LandingCursor().dump()):
        return dg.SkipReason(f"nothing new in {len(plan.listed_days)} open day folder(s) ({plan.list_calls} list calls)")
    return dg.SensorResult(run_requests=run_requests, cursor=new_cursor)


def ingestion_sensors(profile: str) -> list[dg.SensorDefinition]:
    """The ingestion sensors for ``profile`` (see the module docstring for how they start)."""
    status = sensors_start(profile)
    return [
        dg.sensor(
            target=[raw_measurements, rejected_landing_files], minimum_interval_seconds=sensor_interval(30),
            default_status=status,
            description="New or rewritten landing files -> one raw_measurements run per day partition they cover; "
            "a change in the files that cannot be ingested -> rejected_landing_files.",
        )(landing_file_sensor),
        dg.sensor(
            target=[grid_topology], minimum_interval_seconds=sensor_interval(60), default_status=status,
            description="A new or changed topology file -> rebuild grid_topology (a new version).",
        )(topology_file_sensor),
        dg.sensor(
            target=[raw_measurements, rejected_landing_files], minimum_interval_seconds=sensor_interval(60),
            default_status=dg.DefaultSensorStatus.STOPPED,
            description="New or rewritten objects under the landing prefix -> one raw_measurements run per range of "
            "consecutive days they are for; a change in the objects that cannot be ingested -> rejected_landing_files.",
        )(s3_landing_sensor),
        dg.sensor(
            target=[rejected_stream_messages], minimum_interval_seconds=sensor_interval(60), default_status=status,
            description="A new rejects file of the stream consumers (folder or S3 landing zone) -> "
            "rejected_stream_messages.",
        )(stream_rejects_sensor),
    ]
