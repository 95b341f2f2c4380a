"""Data side: landing files -> raw_measurements -> validated_loads (+ quarantine) -> junction_aggregates.

``grid_topology`` (and the feeder partitions it keeps in step) is in ``topology.py``.

Thin wrappers over ``lascopf_assets.lib.ingest`` and ``lascopf_assets.lib.zone``.
Every daily asset backfills a range as one run (single-run backfill policy) and streams it:
for one day partition an asset returns that day's DataFrame; for a range it returns
:class:`~lascopf_assets.defs.storage.contract.DailyFrames`, which the IO manager pulls one day
at a time and stores day by day (one atomically written file, or one transaction, per day), and
its inputs of a range arrive the same way (``DAILY_TABLE`` inputs). Each day goes through the
same core function as a one-day run, so a range writes exactly what its days' runs would;
only small per-day statistics accumulate, and they become the range's metadata (added by the
IO manager once the last day is written) and its checks. Memory holds a few days, never the range.

``validated_loads`` validates each day once: the valid rows are written as they are made, the
day's quarantined rows wait on local disk (``QuarantineSpill``) until the quarantine output
writes them, then the checks judge the range from the totals.
"""


import hashlib
import tempfile
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from lascopf_assets.defs.metadata import markdown_table
from lascopf_assets.defs.partitions import DAILY_SINGLE_RUN_BACKFILL, TIMESTAMP_SPLITS_DAYS, daily_partitions
from lascopf_assets.defs.resources import LandingZone
from lascopf_assets.defs.storage.contract import COLUMNS, DAILY_TABLE, DailyFrames
from lascopf_assets.lib.ingest.aggregation import INPUT_COLUMNS, AggregateTotals, aggregate_by_junction
from lascopf_assets.lib.ingest.landing import LandingFileError
from lascopf_assets.lib.ingest.raw_rows import (
    DayWindow,
    RawRowStats,
    UnreadableLandingFiles,
    landing_files_for_days,
    raw_rows_by_day,
)
from lascopf_assets.lib.ingest.schemas import VOLTAGE_BAND_PU, VOLTAGE_MIN_SHARE_IN_BAND
from lascopf_assets.lib.ingest.validation import QuarantineSpill, TopologyValidator, ValidationTotals

# Follow upstream changes on every partition, not only the latest day: late
# landing files for past days are normal for meter data.
FOLLOW_UPSTREAM = dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window())
# time series go to PostgreSQL/TimescaleDB in production (the lake locally)
TIMESERIES = "timeseries_io_manager"


def _md_table(frame: pd.DataFrame, limit: int = 20) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(frame, limit))


def _day_windows(keys: list[str]) -> list[DayWindow]:
    windows = []
    for key in keys:
        window = daily_partitions.time_window_for_partition_key(key)
        windows.append(DayWindow(key, pd.Timestamp(window.start), pd.Timestamp(window.end)))
    return windows


def _daily_output(frames: DailyFrames, metadata: dict, **kwargs) -> dg.Output:
    """One day: its DataFrame with every metadata entry. A range: the stream (its summary follows from the IO manager)."""
    if len(frames) == 1:
        frame = frames.to_frame()
        return dg.Output(frame, metadata={**metadata, **frames.summary()}, **kwargs)
    return dg.Output(frames, metadata=metadata, **kwargs)


def _as_days(value: pd.DataFrame | DailyFrames, keys: list[str]) -> DailyFrames:
    """An input as one frame per day: a stream as it is, a frame split by its timestamps (one day: as it is)."""
    if isinstance(value, DailyFrames):
        return value
    if len(keys) == 1:
        return DailyFrames(keys, lambda: iter([(keys[0], value)]))
    day = value["timestamp"].dt.strftime("%Y-%m-%d")
    return DailyFrames(keys, lambda: ((k, value[day == k].reset_index(drop=True)) for k in keys))


def _landing_failure(exc: LandingFileError) -> dg.Failure:
    """A landing file that cannot be read, named with its line when known (the run fails at that file's first day)."""
    metadata = {"file": exc.path, "reason": exc.reason}
    if exc.line is not None:
        metadata["line"] = exc.line
    return dg.Failure(description=str(exc), metadata=metadata)


@dg.asset(
    **DAILY_SINGLE_RUN_BACKFILL,
    group_name="ingestion",
    kinds={"pandas", "parquet"},
    metadata=TIMESTAMP_SPLITS_DAYS,
    io_manager_key=TIMESERIES,
    dagster_type=DAILY_TABLE,
    description="Every row of the day's landing files, typed, with provenance (file, line, ingest time) and parse errors.",
)
def raw_measurements(context: dg.AssetExecutionContext, zone: LandingZone) -> dg.Output:
    keys = list(context.partition_keys)
    days = set(keys)
    zone.prepare(days)
    ingested_at = pd.Timestamp.now(tz="UTC").as_unit("us")
    files, _refused = zone.scan()
    try:
        wanted, kept = landing_files_for_days(zone.landing_index(), files, days, ingested_at)
    except UnreadableLandingFiles as exc:
        raise dg.Failure(description=str(exc), metadata={"unreadable_files": [f.file.name for f in exc.files]}) from exc
    if not wanted:
        raise dg.Failure(description=f"no landing file in {zone.landing_dir} has rows for {min(days)}..{max(days)}")
    # the same file versions give the same data: reruns do not look like new data downstream
    identities = "\n".join(sorted(f.file.identity for f in wanted))
    version = hashlib.sha256(f"{min(days)}..{max(days)}\n{identities}".encode()).hexdigest()[:16]
    stats = RawRowStats()

    def rows_by_day() -> Iterator[tuple[str, pd.DataFrame]]:
        try:
            yield from raw_rows_by_day(wanted, _day_windows(keys), ingested_at, stats, kept)
        except LandingFileError as exc:
            raise _landing_failure(exc) from exc

    def summary() -> dict:
        return {
            "rows_ingested": dg.MetadataValue.int(stats.rows),
            "rows_with_parse_errors": dg.MetadataValue.int(stats.rows_with_parse_errors),
            "days_without_rows": dg.MetadataValue.json(sorted(days - set(stats.days))),
            "per_file": _md_table(stats.per_file),
        }

    frames = DailyFrames(keys, rows_by_day, summary)
    return _daily_output(frames, {"files": dg.MetadataValue.int(len(wanted))}, data_version=dg.DataVersion(version))


class ValidationConfig(dg.Config):
    max_quarantine_share: float = 0.05
    """A day whose share of quarantined rows exceeds this fails its blocking check."""


@dg.multi_asset(
    **DAILY_SINGLE_RUN_BACKFILL,
    group_name="ingestion",
    outs={
        "validated_loads": dg.AssetOut(
            metadata=TIMESTAMP_SPLITS_DAYS, kinds={"pandas", "parquet"}, automation_condition=FOLLOW_UPSTREAM, io_manager_key=TIMESERIES,
            dagster_type=DAILY_TABLE, description="Readings that pass every rule, with the meter's junction and phase.",
        ),
        "quarantined_measurements": dg.AssetOut(
            metadata=TIMESTAMP_SPLITS_DAYS, kinds={"pandas", "parquet"}, automation_condition=FOLLOW_UPSTREAM, io_manager_key=TIMESERIES,
            dagster_type=DAILY_TABLE, description="Rejected readings with the rule they broke and a reason; never dropped.",
        ),
    },
    ins={"raw_measurements": dg.AssetIn(dagster_type=DAILY_TABLE), "grid_topology": dg.AssetIn()},
    check_specs=[
        dg.AssetCheckSpec("rows_accounted_for", asset="validated_loads", blocking=True,
                          description="rows in = rows valid + rows quarantined"),
        dg.AssetCheckSpec("quarantine_share_within_limit", asset="validated_loads", blocking=True,
                          description="quarantined share of each day's rows at most max_quarantine_share"),
        dg.AssetCheckSpec("voltage_within_band", asset="validated_loads", blocking=True,
                          description=f"SCADA voltage within {VOLTAGE_BAND_PU} p.u. for >= {VOLTAGE_MIN_SHARE_IN_BAND:.0%} of rows"),
    ],
    can_subset=False,
)
def validated_loads(
    context: dg.AssetExecutionContext, config: ValidationConfig, raw_measurements: pd.DataFrame | DailyFrames,
    grid_topology: pd.DataFrame,
):
    keys = list(context.partition_keys)
    raw = _as_days(raw_measurements, keys)
    validator = TopologyValidator(grid_topology)
    totals = ValidationTotals()
    if len(keys) == 1:
        [(key, frame)] = list(raw)
        result = validator.validate(frame)
        totals.add(key, result)
        yield dg.Output(result.valid, output_name="validated_loads", metadata=_validated_metadata(totals))
        yield dg.Output(result.quarantine, output_name="quarantined_measurements", metadata=_quarantine_metadata(totals))
    else:
        with tempfile.TemporaryDirectory(prefix="lascopf-quarantine-") as folder:
            spill = QuarantineSpill(folder)

            def valid_by_day() -> Iterator[tuple[str, pd.DataFrame]]:
                for key, frame in raw:
                    result = validator.validate(frame)
                    totals.add(key, result)
                    spill.put(key, result.quarantine)
                    yield key, result.valid

            valid = DailyFrames(keys, valid_by_day, lambda: _validated_metadata(totals))
            yield dg.Output(valid, output_name="validated_loads")
            if not valid.complete:
                raise dg.Failure(description="the IO manager of validated_loads did not store the range day by day (DailyFrames)")
            quarantine = DailyFrames(keys, lambda: ((k, spill.take(k)) for k in keys), lambda: _quarantine_metadata(totals))
            yield dg.Output(quarantine, output_name="quarantined_measurements")
    yield from _validation_checks(config, totals)


def _validated_metadata(totals: ValidationTotals) -> dict:
    return {
        "rows_in": dg.MetadataValue.int(totals.rows_in),
        "rows_valid": dg.MetadataValue.int(totals.rows_valid),
        "rows_quarantined": dg.MetadataValue.int(totals.rows_quarantined),
        "quarantined_by_rule": dg.MetadataValue.json(totals.counts_by_rule()),
    }


def _quarantine_metadata(totals: ValidationTotals) -> dict:
    return {
        "rows_quarantined": dg.MetadataValue.int(totals.rows_quarantined),
        "by_rule": dg.MetadataValue.json(totals.counts_by_rule()),
        "sample": _md_table(totals.sample),
    }


def _validation_checks(config: ValidationConfig, totals: ValidationTotals) -> Iterator[dg.AssetCheckResult]:
    accounted = totals.rows_valid + totals.rows_quarantined
    by_rule = totals.counts_by_rule()
    yield dg.AssetCheckResult(
        check_name="rows_accounted_for", asset_key="validated_loads", passed=accounted == totals.rows_in,
        metadata={"rows_in": totals.rows_in, "rows_valid": totals.rows_valid, "rows_quarantined": totals.rows_quarantined},
    )
    over = totals.days_over(config.max_quarantine_share)
    worst = totals.worst_day()
    yield dg.AssetCheckResult(
        check_name="quarantine_share_within_limit", asset_key="validated_loads", passed=not over,
        metadata={
            "share_quarantined": float(totals.share_quarantined), "limit": config.max_quarantine_share, "by_rule": by_rule,
            "worst_day": worst.day if worst else "", "worst_day_share": float(worst.share) if worst else 0.0,
            "days_over_limit": dg.MetadataValue.json([{"day": d.day, "share": d.share} for d in over[:50]]),
        },
    )
    share = totals.voltage_share_in_band()
    if share is None:  # nothing to judge: said as a warning, never a pass (and it blocks nothing)
        yield dg.AssetCheckResult(
            check_name="voltage_within_band", asset_key="validated_loads", passed=False,
            severity=dg.AssetCheckSeverity.WARN, description="no SCADA voltage in these readings: nothing to judge",
            metadata={"share_in_band": "no voltage data", "required": VOLTAGE_MIN_SHARE_IN_BAND},
        )
        return
    yield dg.AssetCheckResult(
        check_name="voltage_within_band", asset_key="validated_loads", passed=share >= VOLTAGE_MIN_SHARE_IN_BAND,
        metadata={"share_in_band": share, "required": VOLTAGE_MIN_SHARE_IN_BAND},
    )


@dg.asset(
    **DAILY_SINGLE_RUN_BACKFILL,
    group_name="ingestion",
    kinds={"pandas", "parquet"},
    metadata=TIMESTAMP_SPLITS_DAYS,
    automation_condition=FOLLOW_UPSTREAM,
    io_manager_key=TIMESERIES,
    dagster_type=DAILY_TABLE,
    ins={"validated_loads": dg.AssetIn(dagster_type=DAILY_TABLE, metadata={COLUMNS: INPUT_COLUMNS})},
    description="kWh per junction, phase and hour, with the number of meters that reported.",
)
def junction_aggregates(validated_loads: pd.DataFrame | DailyFrames) -> dg.Output:
    totals = AggregateTotals()

    def summary() -> dict:
        return {
            "rows": dg.MetadataValue.int(totals.rows),
            "junctions": dg.MetadataValue.int(totals.junctions),
            "kwh_total": dg.MetadataValue.float(totals.kwh_total),
        }

    if isinstance(validated_loads, DailyFrames):
        return dg.Output(validated_loads.map(lambda _day, valid: totals.add(aggregate_by_junction(valid)), summary))
    aggregates = totals.add(aggregate_by_junction(validated_loads))
    return dg.Output(aggregates, metadata=summary())
