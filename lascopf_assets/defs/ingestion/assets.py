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
from typing import Literal

import dagster as dg
import pandas as pd

from lascopf_assets.defs.metadata import markdown_table
from lascopf_assets.defs.partitions import DAILY_SINGLE_RUN_BACKFILL, TIMESTAMP_SPLITS_DAYS, daily_partitions
from lascopf_assets.defs.resources import LandingZone
from lascopf_assets.defs.storage.contract import COLUMNS, DAILY_TABLE, DailyFrames
from lascopf_assets.lib.ingest.aggregation import INPUT_COLUMNS, AggregateTotals, aggregate_by_junction
from lascopf_assets.lib.ingest.intervals import IntervalPolicy
from lascopf_assets.lib.ingest.landing import LandingFileError
from lascopf_assets.lib.ingest.raw_rows import DayWindow, RawRowStats, landing_files_for_days, raw_rows_by_day
from lascopf_assets.lib.ingest.rejections import REJECTION_COLUMNS, FileRejection, rejections_frame
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
    """A landing file that cannot be read any more (rewritten since it was indexed), named with its line when
    known: the run fails at that file's first day."""
    metadata = {"file": exc.path, "reason": exc.reason}
    if exc.line is not None:
        metadata["line"] = exc.line
    return dg.Failure(description=str(exc), metadata=metadata)


class LandingConfig(dg.Config):
    rejected_files: Literal["warn", "fail"] = "warn"
    """A landing file of the run's days that cannot be ingested (refused name, unreadable): "warn" ingests the
    day's other files and the check ``landing_files_ingested`` warns; "fail" makes that check fail with ERROR
    severity, which keeps the run's downstream assets from materializing."""


def _rejections_metadata(rejections: list[FileRejection]) -> dict:
    frame = rejections_frame(rejections)
    return {
        "rejected_files": dg.MetadataValue.int(len(rejections)),
        "rejected_files_table": _md_table(frame[["file", "kind", "reason", "day", "first_seen"]]),
    }


def _landing_files_check(config: LandingConfig, rejections: list[FileRejection], files: int) -> dg.AssetCheckResult:
    severity = dg.AssetCheckSeverity.ERROR if config.rejected_files == "fail" else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        check_name="landing_files_ingested", asset_key="raw_measurements", passed=not rejections, severity=severity,
        description="; ".join(r.describe() for r in rejections[:20]) or f"all {files} landing file(s) of these days were read",
        metadata={"files_ingested": files, **_rejections_metadata(rejections), "policy": config.rejected_files},
    )


@dg.asset(
    **DAILY_SINGLE_RUN_BACKFILL,
    group_name="ingestion",
    kinds={"pandas", "parquet"},
    metadata=TIMESTAMP_SPLITS_DAYS,
    io_manager_key=TIMESERIES,
    dagster_type=DAILY_TABLE,
    check_specs=[
        dg.AssetCheckSpec("landing_files_ingested", asset="raw_measurements", blocking=True,
                          description="every landing file routed to these days was ingested (none refused or unreadable)"),
    ],
    description="Every row of the day's landing files, typed, with provenance (file, line, ingest time) and parse errors.",
)
def raw_measurements(context: dg.AssetExecutionContext, config: LandingConfig, zone: LandingZone) -> Iterator:
    keys = list(context.partition_keys)
    days = set(keys)
    zone.prepare(days)
    ingested_at = pd.Timestamp.now(tz="UTC").as_unit("us")
    files, refused = zone.scan()
    found = landing_files_for_days(zone.landing_index(), files, days, ingested_at)
    rejected, _new = zone.record_rejections(found.indexed, refused, ingested_at)
    rejected = [r for r in rejected if r.belongs_to(days)]
    for rejection in rejected:  # named in the run the user is looking at, not only on a sensor tick
        context.log.error(rejection.describe())
    wanted = found.readable
    if not wanted:
        named = "; ".join(r.describe() for r in rejected[:20])
        raise dg.Failure(
            description=f"no readable landing file in {zone.location()} has rows for {min(days)}..{max(days)}"
            + (f" ({named})" if named else ""),
            metadata=_rejections_metadata(rejected),
        )
    # the same file versions give the same data: reruns do not look like new data downstream
    identities = "\n".join(sorted(f.file.identity for f in wanted))
    version = hashlib.sha256(f"{min(days)}..{max(days)}\n{identities}".encode()).hexdigest()[:16]
    stats = RawRowStats()

    def rows_by_day() -> Iterator[tuple[str, pd.DataFrame]]:
        try:
            yield from raw_rows_by_day(wanted, _day_windows(keys), ingested_at, stats, found.kept)
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
    metadata = {"files": dg.MetadataValue.int(len(wanted)), **_rejections_metadata(rejected)}
    yield _daily_output(frames, metadata, data_version=dg.DataVersion(version))
    yield _landing_files_check(config, rejected, len(wanted))


@dg.asset(
    group_name="ingestion",
    kinds={"pandas", "parquet"},
    description="Landing files that cannot be ingested (refused name or link, unreadable, undecodable, required columns "
    "missing): file, identity, kind, reason, the day(s) they were routed to (null: unknown), first seen.",
)
def rejected_landing_files(context: dg.AssetExecutionContext, zone: LandingZone) -> dg.Output:
    files, refused = zone.scan()
    rejected, new = zone.record_rejections(zone.landing_index().refresh(files), refused, pd.Timestamp.now(tz="UTC"))
    for rejection in new:
        context.log.warning(rejection.describe())
    frame = rejections_frame(rejected)
    by_kind = frame.drop_duplicates("identity")["kind"].value_counts()
    return dg.Output(frame[REJECTION_COLUMNS], metadata={
        "rejected_files": dg.MetadataValue.int(len(rejected)),
        "by_kind": dg.MetadataValue.json({k: int(v) for k, v in by_kind.items()}),
        "files": _md_table(frame),
    })


class ValidationConfig(dg.Config):
    max_quarantine_share: float = 0.05
    """A day whose share of quarantined readings exceeds this fails its blocking check (re-delivered readings,
    identical to one already ingested, are not quarantined)."""
    interval_minutes: int | None = None
    """Every meter's reading interval in minutes (a divisor of 60); None: detected per meter and file."""
    gap_fill: Literal["none", "linear"] = "none"
    """An hour missing some of its intervals: "none" quarantines its readings (rule hour_incomplete), "linear"
    estimates the missing intervals within the hour and keeps it (its intervals_estimated says how many)."""

    def policy(self) -> IntervalPolicy:
        try:
            return IntervalPolicy(interval_minutes=self.interval_minutes, gap_fill=self.gap_fill)
        except ValueError as exc:
            raise dg.Failure(description=f"validated_loads config: {exc}") from exc


@dg.multi_asset(
    **DAILY_SINGLE_RUN_BACKFILL,
    group_name="ingestion",
    outs={
        "validated_loads": dg.AssetOut(
            metadata=TIMESTAMP_SPLITS_DAYS, kinds={"pandas", "parquet"}, automation_condition=FOLLOW_UPSTREAM, io_manager_key=TIMESERIES,
            dagster_type=DAILY_TABLE, description="Hourly kWh per meter from the readings that pass every rule (sub-hourly "
            "intervals rolled up, complete hours only unless gap-filled), with the meter's feeder, junction and phase.",
        ),
        "quarantined_measurements": dg.AssetOut(
            metadata=TIMESTAMP_SPLITS_DAYS, kinds={"pandas", "parquet"}, automation_condition=FOLLOW_UPSTREAM, io_manager_key=TIMESERIES,
            dagster_type=DAILY_TABLE, description="Rejected readings with the rule they broke and a reason; never dropped.",
        ),
    },
    ins={"raw_measurements": dg.AssetIn(dagster_type=DAILY_TABLE), "grid_topology": dg.AssetIn()},
    check_specs=[
        dg.AssetCheckSpec("rows_accounted_for", asset="validated_loads", blocking=True,
                          description="readings in = readings in valid hours + quarantined + re-delivered, for every file"),
        dg.AssetCheckSpec("quarantine_share_within_limit", asset="validated_loads", blocking=True,
                          description="quarantined share of each day's rows at most max_quarantine_share"),
        dg.AssetCheckSpec("voltage_within_band", asset="validated_loads", blocking=True,
                          description=f"SCADA voltage within {VOLTAGE_BAND_PU} p.u. for >= {VOLTAGE_MIN_SHARE_IN_BAND:.0%} of rows"),
    ],
    # subsettable only so that a check with nothing to judge can be left unevaluated (Dagster requires every check
    # output of a non-subsettable op); the two assets are still made together, see _require_both_outputs
    can_subset=True,
)
def validated_loads(
    context: dg.AssetExecutionContext, config: ValidationConfig, raw_measurements: pd.DataFrame | DailyFrames,
    grid_topology: pd.DataFrame,
):
    _require_both_outputs(context)
    keys = list(context.partition_keys)
    raw = _as_days(raw_measurements, keys)
    validator = TopologyValidator(grid_topology, policy=config.policy())
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
    yield from _validation_checks(context, config, totals)


VALIDATION_OUTPUTS = {dg.AssetKey("validated_loads"), dg.AssetKey("quarantined_measurements")}


def _require_both_outputs(context: dg.AssetExecutionContext) -> None:
    """Valid rows and quarantine are one split of the same readings: refuse a selection with only one of them."""
    selected = set(context.selected_asset_keys)
    if selected != VALIDATION_OUTPUTS:
        raise dg.Failure(
            description="validated_loads and quarantined_measurements are made together, and their checks are judged "
            f"when they are: select both (selected: {sorted(k.to_user_string() for k in selected) or 'checks only'})"
        )


def _validated_metadata(totals: ValidationTotals) -> dict:
    return {
        "rows_in": dg.MetadataValue.int(totals.rows_in),
        "rows_valid": dg.MetadataValue.int(totals.rows_valid),
        "rows_quarantined": dg.MetadataValue.int(totals.rows_quarantined),
        "rows_redelivered": dg.MetadataValue.int(totals.rows_redelivered),
        "hours_valid": dg.MetadataValue.int(totals.hours_valid),
        "hours_estimated": dg.MetadataValue.int(totals.hours_estimated),
        "interval_minutes": dg.MetadataValue.json({str(m): n for m, n in totals.interval_minutes_counts().items()}),
        "per_file": _md_table(totals.per_file(), limit=50),
        "quarantined_by_rule": dg.MetadataValue.json(totals.counts_by_rule()),
        "checks_not_judged": dg.MetadataValue.json(_checks_not_judged(totals)),
    }


def _quarantine_metadata(totals: ValidationTotals) -> dict:
    return {
        "rows_quarantined": dg.MetadataValue.int(totals.rows_quarantined),
        "by_rule": dg.MetadataValue.json(totals.counts_by_rule()),
        "sample": _md_table(totals.sample),
    }


CHECK_NAMES = ("rows_accounted_for", "quarantine_share_within_limit", "voltage_within_band")


def _checks_not_judged(totals: ValidationTotals) -> dict[str, str]:
    """The checks with nothing to judge in these readings, and why (they are skipped, never passed)."""
    why = {}
    if not totals.rows_in:
        why["rows_accounted_for"] = why["quarantine_share_within_limit"] = "no readings on these days"
    if totals.voltage_share_in_band() is None:
        why["voltage_within_band"] = "no SCADA voltage in these readings"
    return why


def _validation_checks(
    context: dg.AssetExecutionContext, config: ValidationConfig, totals: ValidationTotals
) -> Iterator[dg.AssetCheckResult]:
    """The checks that have something to judge. A check with nothing to judge is not yielded: Dagster records it
    as skipped for this run (neither passed nor failed), and the log and the metadata ``checks_not_judged`` say why."""
    nothing_to_judge = _checks_not_judged(totals)
    for name, why in nothing_to_judge.items():
        context.log.info(f"check {name} not judged: {why} (recorded as skipped, not as passed)")
    selected = {key.name for key in context.selected_asset_check_keys}
    not_judged = nothing_to_judge.keys() | {name for name in CHECK_NAMES if name not in selected}
    by_rule = totals.counts_by_rule()
    if "rows_accounted_for" not in not_judged:
        yield dg.AssetCheckResult(
            check_name="rows_accounted_for", asset_key="validated_loads", passed=totals.rows_accounted_for(),
            description="readings in = in valid hours + quarantined + re-delivered, for the range and for every file",
            metadata={"rows_in": totals.rows_in, "rows_valid": totals.rows_valid, "rows_quarantined": totals.rows_quarantined,
                      "rows_redelivered": totals.rows_redelivered, "files": len(totals.per_file())},
        )
    if "quarantine_share_within_limit" not in not_judged:
        over = totals.days_over(config.max_quarantine_share)
        worst = totals.worst_day()
        yield dg.AssetCheckResult(
            check_name="quarantine_share_within_limit", asset_key="validated_loads", passed=not over,
            metadata={
                "share_quarantined": float(totals.share_quarantined), "limit": config.max_quarantine_share, "by_rule": by_rule,
                "worst_day": worst.day, "worst_day_share": float(worst.share),
                "days_over_limit": dg.MetadataValue.json([{"day": d.day, "share": d.share} for d in over[:50]]),
            },
        )
    if "voltage_within_band" not in not_judged:
        share = totals.voltage_share_in_band()
        yield dg.AssetCheckResult(
            check_name="voltage_within_band", asset_key="validated_loads", passed=share >= VOLTAGE_MIN_SHARE_IN_BAND,
            metadata={"share_in_band": share, "required": VOLTAGE_MIN_SHARE_IN_BAND, "rows_judged": totals.voltage_judged},
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
