"""Data side: landing files -> raw_measurements -> validated_loads (+ quarantine) -> junction_aggregates.

``grid_topology`` (and the feeder partitions it keeps in step) is in ``topology.py``.

Thin wrappers over ``lascopf_assets.lib.ingest`` and ``lascopf_assets.lib.zone``.
Every daily asset backfills a range as one run (single-run backfill policy);
the lake IO manager stores one file per day.
"""


import hashlib

import dagster as dg
import pandas as pd

from lascopf_assets.defs.metadata import markdown_table
from lascopf_assets.defs.partitions import DAILY_SINGLE_RUN_BACKFILL, TIMESTAMP_SPLITS_DAYS
from lascopf_assets.defs.resources import LandingZone
from lascopf_assets.lib.ingest.aggregation import aggregate_by_junction
from lascopf_assets.lib.ingest.landing import LandingFileError
from lascopf_assets.lib.ingest.raw_rows import UnreadableLandingFiles, landing_tables_for_days, rows_in_window
from lascopf_assets.lib.ingest.schemas import VOLTAGE_BAND_PU, VOLTAGE_MIN_SHARE_IN_BAND
from lascopf_assets.lib.ingest.validation import validate_by_topology_version, voltage_share_in_band

# Follow upstream changes on every partition, not only the latest day: late
# landing files for past days are normal for meter data.
FOLLOW_UPSTREAM = dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window())
# time series go to PostgreSQL/TimescaleDB in production (the lake locally)
TIMESERIES = "timeseries_io_manager"


def _md_table(frame: pd.DataFrame, limit: int = 20) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(frame, limit))


@dg.asset(
    **DAILY_SINGLE_RUN_BACKFILL,
    group_name="ingestion",
    kinds={"pandas", "parquet"},
    metadata=TIMESTAMP_SPLITS_DAYS,
    io_manager_key=TIMESERIES,
    description="Every row of the day's landing files, typed, with provenance (file, line, ingest time) and parse errors.",
)
def raw_measurements(context: dg.AssetExecutionContext, zone: LandingZone) -> dg.Output[pd.DataFrame]:
    window = context.partition_time_window
    days = set(context.partition_keys)
    zone.prepare(days)
    ingested_at = pd.Timestamp.now(tz="UTC").as_unit("us")
    files, _refused = zone.scan()
    try:
        wanted, tables = landing_tables_for_days(zone.landing_index(), files, days, ingested_at)
    except UnreadableLandingFiles as exc:
        raise dg.Failure(description=str(exc), metadata={"unreadable_files": [f.file.name for f in exc.files]}) from exc
    except LandingFileError as exc:
        raise dg.Failure(description=str(exc), metadata={"file": exc.path, "reason": exc.reason}) from exc
    if not wanted:
        raise dg.Failure(description=f"no landing file in {zone.landing_dir} has rows for {min(days)}..{max(days)}")
    rows, stats = rows_in_window(tables, pd.Timestamp(window.start), pd.Timestamp(window.end))
    days_without_rows = sorted(days - set(stats.days))
    # the same file versions give the same data: reruns do not look like new data downstream
    identities = "\n".join(sorted(f.file.identity for f in wanted))
    version = hashlib.sha256(f"{min(days)}..{max(days)}\n{identities}".encode()).hexdigest()[:16]
    return dg.Output(
        rows,
        data_version=dg.DataVersion(version),
        metadata={
            "rows_ingested": dg.MetadataValue.int(len(rows)),
            "files": dg.MetadataValue.int(len(wanted)),
            "rows_with_parse_errors": dg.MetadataValue.int(stats.rows_with_parse_errors),
            "days_without_rows": dg.MetadataValue.json(days_without_rows),
            "per_file": _md_table(stats.per_file),
        },
    )


class ValidationConfig(dg.Config):
    max_quarantine_share: float = 0.05
    """A day whose share of quarantined rows exceeds this fails its blocking check."""


@dg.multi_asset(
    **DAILY_SINGLE_RUN_BACKFILL,
    group_name="ingestion",
    outs={
        "validated_loads": dg.AssetOut(
            metadata=TIMESTAMP_SPLITS_DAYS, kinds={"pandas", "parquet"}, automation_condition=FOLLOW_UPSTREAM, io_manager_key=TIMESERIES,
            description="Readings that pass every rule, with the meter's junction and phase.",
        ),
        "quarantined_measurements": dg.AssetOut(
            metadata=TIMESTAMP_SPLITS_DAYS, kinds={"pandas", "parquet"}, automation_condition=FOLLOW_UPSTREAM, io_manager_key=TIMESERIES,
            description="Rejected readings with the rule they broke and a reason; never dropped.",
        ),
    },
    ins={"raw_measurements": dg.AssetIn(), "grid_topology": dg.AssetIn()},
    check_specs=[
        dg.AssetCheckSpec("rows_accounted_for", asset="validated_loads", blocking=True,
                          description="rows in = rows valid + rows quarantined"),
        dg.AssetCheckSpec("quarantine_share_within_limit", asset="validated_loads", blocking=True,
                          description="quarantined share of rows at most max_quarantine_share"),
        dg.AssetCheckSpec("voltage_within_band", asset="validated_loads", blocking=True,
                          description=f"SCADA voltage within {VOLTAGE_BAND_PU} p.u. for >= {VOLTAGE_MIN_SHARE_IN_BAND:.0%} of rows"),
    ],
    can_subset=False,
)
def validated_loads(
    context: dg.AssetExecutionContext, config: ValidationConfig, raw_measurements: pd.DataFrame, grid_topology: pd.DataFrame
):
    result = validate_by_topology_version(raw_measurements, grid_topology)
    by_rule = result.counts_by_rule()
    yield dg.Output(
        result.valid,
        output_name="validated_loads",
        metadata={
            "rows_in": dg.MetadataValue.int(result.rows_in),
            "rows_valid": dg.MetadataValue.int(result.rows_valid),
            "rows_quarantined": dg.MetadataValue.int(result.rows_quarantined),
            "quarantined_by_rule": dg.MetadataValue.json(by_rule),
        },
    )
    quarantine_sample = result.quarantine[["source_file", "source_row", "meter_id", "rule", "reason"]]
    yield dg.Output(
        result.quarantine,
        output_name="quarantined_measurements",
        metadata={
            "rows_quarantined": dg.MetadataValue.int(result.rows_quarantined),
            "by_rule": dg.MetadataValue.json(by_rule),
            "sample": _md_table(quarantine_sample),
        },
    )
    accounted = result.rows_valid + result.rows_quarantined
    yield dg.AssetCheckResult(
        check_name="rows_accounted_for", asset_key="validated_loads", passed=accounted == result.rows_in,
        metadata={"rows_in": result.rows_in, "rows_valid": result.rows_valid, "rows_quarantined": result.rows_quarantined},
    )
    yield dg.AssetCheckResult(
        check_name="quarantine_share_within_limit", asset_key="validated_loads",
        passed=result.share_quarantined <= config.max_quarantine_share,
        metadata={"share_quarantined": float(result.share_quarantined), "limit": config.max_quarantine_share, "by_rule": by_rule},
    )
    share = voltage_share_in_band(result.valid)
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
    description="kWh per junction, phase and hour, with the number of meters that reported.",
)
def junction_aggregates(validated_loads: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    aggregates = aggregate_by_junction(validated_loads)
    return dg.Output(
        aggregates,
        metadata={
            "rows": dg.MetadataValue.int(len(aggregates)),
            "junctions": dg.MetadataValue.int(int(aggregates["junction"].nunique())),
            "kwh_total": dg.MetadataValue.float(float(aggregates["kwh"].sum())),
        },
    )

