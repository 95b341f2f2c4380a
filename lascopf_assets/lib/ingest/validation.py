"""Validation of parsed readings into valid rows and a quarantine with reasons.

Nothing is dropped: ``rows_in == rows_valid + rows_quarantined`` always, and
each quarantined row carries the first rule it broke (``rule``) and a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from lascopf_assets.lib.ingest.landing import SCADA_COLUMNS
from lascopf_assets.lib.ingest.schemas import (
    RULE_ORDER,
    RULES,
    UNIQUENESS_SCHEMA,
    VALIDATED_LOADS_SCHEMA,
    VOLTAGE_BAND_PU,
    readings_schema,
)
from lascopf_assets.lib.zone.versions import meters_in_force, split_by_version

VALID_COLUMNS = ["timestamp", "meter_id", "feeder", "junction", "phase", "kwh"]
PROVENANCE_COLUMNS = ["source_file", "source_row"]
_CODE_BY_REASON = {reason: code for code, reason in RULES.items()}


@dataclass
class ValidationResult:
    valid: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int

    @property
    def rows_valid(self) -> int:
        return len(self.valid)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    @property
    def share_quarantined(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0

    def counts_by_rule(self) -> dict[str, int]:
        counts = self.quarantine["rule"].value_counts()
        return {rule: int(counts[rule]) for rule in RULES if rule in counts.index}


def _first_failed_rule(df: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.Series:
    """Per failing row (by index label), the first rule it broke in RULE_ORDER."""
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        # pandera names a failed check by its error text when one is given
        code = exc.failure_cases["check"].map(lambda c: _CODE_BY_REASON.get(c, c))
        known = code.isin(RULE_ORDER)
        unexplained = exc.failure_cases[~known]
        if len(unexplained):
            raise ValueError(f"readings do not have the expected types: {unexplained.head(3).to_dict('records')}") from None
        cases = exc.failure_cases[known & exc.failure_cases["index"].notna()]
        order = code[cases.index].map(RULE_ORDER).astype(np.int64)
        first = (
            pd.DataFrame({"index": cases["index"].astype(np.int64), "order": order})
            .sort_values(["index", "order"])
            .drop_duplicates("index")
        )
        codes = np.array(list(RULES), dtype=object)[first["order"].to_numpy()]
        return pd.Series(codes, index=first["index"].to_numpy(), dtype="str")
    return pd.Series([], dtype="str")


def _rows(frame: pd.DataFrame, mask: np.ndarray, columns: list[str] | None = None) -> pd.DataFrame:
    """``frame[mask]`` (optionally some columns), without copying when every row is kept."""
    picked = frame if columns is None else frame[columns]
    return picked if mask.all() else picked[mask]


def _meter_map(meters: pd.DataFrame) -> pd.DataFrame:
    lookup = meters.drop_duplicates("meter_id").reset_index(drop=True)
    if "feeder" not in lookup.columns:  # a map without feeders: every meter under no feeder head
        lookup = lookup.assign(feeder=pd.array([None] * len(lookup), dtype="str"))
    odd = lookup[~lookup["phase"].isin(["A", "B", "C"])]
    if len(odd):
        sample = ", ".join(f"{m} ({p})" for m, p in odd[["meter_id", "phase"]].head(5).itertuples(index=False))
        raise ValueError(f"meters must hang under a single-phase junction (A, B or C); not so for {sample}")
    return lookup


def validate_readings(raw: pd.DataFrame, meters: pd.DataFrame) -> ValidationResult:
    """Split parsed readings (landing.read_landing_file rows) into valid rows and quarantine.

    ``meters`` maps ``meter_id`` to ``feeder``, ``junction`` and ``phase`` (the topology in
    force for these readings; ``feeder`` None for a meter under no feeder head).
    """
    raw = raw.reset_index(drop=True)
    lookup = _meter_map(meters)
    scada = [c for c in SCADA_COLUMNS if c in raw.columns]
    rule = np.full(len(raw), None, dtype=object)  # set only where a rule is broken
    has_parse_error = raw["parse_error"].notna().to_numpy()
    rule[has_parse_error] = raw["parse_error"].to_numpy(dtype=object)[has_parse_error]

    failed = _first_failed_rule(_rows(raw, ~has_parse_error), readings_schema(lookup["meter_id"], scada))
    rule[failed.index.to_numpy()] = failed.to_numpy(dtype=object)

    passing = pd.isna(rule)
    dup = _first_failed_rule(_rows(raw, passing, ["meter_id", "timestamp"]), UNIQUENESS_SCHEMA)
    rule[dup.index.to_numpy()] = dup.to_numpy(dtype=object)

    bad = ~pd.isna(rule)
    quarantine = raw[bad].copy()
    # typed even when empty, so every store can create the columns
    quarantine["rule"] = pd.Series(rule[bad], index=quarantine.index, dtype="str")
    quarantine["reason"] = quarantine["rule"].map(RULES).astype("str")

    valid = _rows(raw, ~bad, ["timestamp", "meter_id", "kwh", *scada, *PROVENANCE_COLUMNS]).reset_index(drop=True)
    position = pd.Index(lookup["meter_id"]).get_indexer(valid["meter_id"])  # every valid meter is known
    for offset, column in enumerate(("feeder", "junction", "phase")):
        valid.insert(2 + offset, column, pd.Series(lookup[column].array.take(position), dtype="str"))
    if not valid["timestamp"].is_monotonic_increasing:  # landing rows usually arrive in time order
        valid = valid.sort_values("timestamp", kind="stable", ignore_index=True)
    VALIDATED_LOADS_SCHEMA.validate(valid)  # the output contract (types; values are the rules' business)
    return ValidationResult(valid=valid, quarantine=quarantine.reset_index(drop=True), rows_in=len(raw))


def validate_by_topology_version(raw: pd.DataFrame, topology: pd.DataFrame) -> ValidationResult:
    """Validate each reading against the topology version in force at its timestamp.

    ``topology`` is the versioned table of ``zone.versions.versioned_topology``; the readings of
    each version's time span are checked against that version's meters, and the results joined
    (valid rows in time order, every quarantined row kept, ``rows_in`` summed).
    """
    results = [
        validate_readings(group, meters_in_force(topology, valid_from))
        for valid_from, group in split_by_version(raw, topology)
    ]
    if len(results) == 1:
        return results[0]
    valid = pd.concat([r.valid for r in results], ignore_index=True).sort_values("timestamp", kind="stable", ignore_index=True)
    quarantine = pd.concat([r.quarantine for r in results], ignore_index=True)
    return ValidationResult(valid, quarantine, sum(r.rows_in for r in results))


def voltage_share_in_band(valid: pd.DataFrame) -> float | None:
    """Share of rows with voltage magnitude within the band, or None without voltage data."""
    if "voltage_pu" not in valid.columns:
        return None
    v = valid["voltage_pu"].to_numpy(dtype=np.float64)
    v = v[~np.isnan(v)]
    if not len(v):
        return None
    lo, hi = VOLTAGE_BAND_PU
    return float(np.mean((v >= lo) & (v <= hi)))
