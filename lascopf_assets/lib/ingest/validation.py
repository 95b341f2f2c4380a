"""Validation of parsed readings into valid rows and a quarantine with reasons.

Nothing is dropped: ``rows_in == rows_valid + rows_quarantined`` always, and
each quarantined row carries the first rule it broke (``rule``) and a reason.

A range of days is validated one day at a time (every rule is judged within a day: a
meter-hour lies in one day), by one :class:`TopologyValidator` that builds each topology
version's meter map and schema once. :class:`ValidationTotals` adds up what the range's
metadata and checks report; :class:`QuarantineSpill` keeps each day's quarantined rows on
local disk until the quarantine output writes them (the valid rows are written first, so the
rows are validated once and the range never sits in memory).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
import pyarrow.ipc

from lascopf_assets.lib.ingest.landing import SCADA_COLUMNS
from lascopf_assets.lib.ingest.schemas import (
    RULE_ORDER,
    RULES,
    UNIQUENESS_SCHEMA,
    VALIDATED_LOADS_SCHEMA,
    VOLTAGE_BAND_PU,
    readings_schema,
)
from lascopf_assets.lib.zone.versions import meters_in_force, version_starts

VALID_COLUMNS = ["timestamp", "meter_id", "feeder", "junction", "phase", "kwh"]
PROVENANCE_COLUMNS = ["source_file", "source_row"]
QUARANTINE_SAMPLE_COLUMNS = ["source_file", "source_row", "meter_id", "rule", "reason"]
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


class MeterRules:
    """The row rules for readings under one meter map (``meter_id`` -> ``feeder, junction, phase``), built once."""

    def __init__(self, meters: pd.DataFrame):
        self.lookup = _meter_map(meters)
        self._meter_ids = pyarrow.array(self.lookup["meter_id"].array)
        self._schemas: dict[tuple[str, ...], pa.DataFrameSchema] = {}

    def schema(self, scada: list[str]) -> pa.DataFrameSchema:
        key = tuple(scada)
        if key not in self._schemas:
            self._schemas[key] = readings_schema(self.lookup["meter_id"], scada)
        return self._schemas[key]

    def validate(self, raw: pd.DataFrame) -> ValidationResult:
        raw = raw.reset_index(drop=True)
        scada = [c for c in SCADA_COLUMNS if c in raw.columns]
        rule = np.full(len(raw), None, dtype=object)  # set only where a rule is broken
        has_parse_error = raw["parse_error"].notna().to_numpy()
        rule[has_parse_error] = raw["parse_error"].to_numpy(dtype=object)[has_parse_error]

        failed = _first_failed_rule(_rows(raw, ~has_parse_error), self.schema(scada))
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
        # every valid meter is known: its row in the map, by an Arrow hash lookup
        position = pc.index_in(pyarrow.array(valid["meter_id"].array), value_set=self._meter_ids)
        position = np.asarray(position.to_numpy(zero_copy_only=False), dtype=np.int64)
        for offset, column in enumerate(("feeder", "junction", "phase")):
            valid.insert(2 + offset, column, pd.Series(self.lookup[column].array.take(position), dtype="str"))
        if not valid["timestamp"].is_monotonic_increasing:  # landing rows usually arrive in time order
            valid = valid.sort_values("timestamp", kind="stable", ignore_index=True)
        VALIDATED_LOADS_SCHEMA.validate(valid)  # the output contract (types; values are the rules' business)
        return ValidationResult(valid=valid, quarantine=quarantine.reset_index(drop=True), rows_in=len(raw))


def validate_readings(raw: pd.DataFrame, meters: pd.DataFrame) -> ValidationResult:
    """Split parsed readings (landing.read_landing_file rows) into valid rows and quarantine.

    ``meters`` maps ``meter_id`` to ``feeder``, ``junction`` and ``phase`` (the topology in
    force for these readings; ``feeder`` None for a meter under no feeder head).
    """
    return MeterRules(meters).validate(raw)


def _joined(results: list[ValidationResult]) -> ValidationResult:
    if len(results) == 1:
        return results[0]
    valid = pd.concat([r.valid for r in results], ignore_index=True).sort_values("timestamp", kind="stable", ignore_index=True)
    quarantine = pd.concat([r.quarantine for r in results], ignore_index=True)
    return ValidationResult(valid, quarantine, sum(r.rows_in for r in results))


class TopologyValidator:
    """Validates readings against the topology version in force at each reading's timestamp.

    ``topology`` is the versioned table of ``zone.versions.versioned_topology``. Each version's
    rules are built on first use and kept while in use, so validating a range day by day costs no
    more than validating it at once. Readings before the first version go with the first version.
    """

    def __init__(self, topology: pd.DataFrame, keep_versions: int = 4):
        self.topology = topology
        self.starts = version_starts(topology)
        self.keep_versions = keep_versions
        self._rules: OrderedDict[int, MeterRules] = OrderedDict()

    def _rules_of(self, slot: int) -> MeterRules:
        """The rules of one version; the last ``keep_versions`` used are kept (days come in time order,
        so a range with many versions, e.g. one per meter replacement, holds a few, not all)."""
        if slot in self._rules:
            self._rules.move_to_end(slot)
            return self._rules[slot]
        valid_from = pd.Timestamp(int(self.starts[slot]), unit="us", tz="UTC")
        rules = self._rules[slot] = MeterRules(meters_in_force(self.topology, valid_from))
        while len(self._rules) > max(1, self.keep_versions):
            self._rules.popitem(last=False)
        return rules

    def validate(self, raw: pd.DataFrame) -> ValidationResult:
        """Each version's readings checked against that version's meters, the results joined
        (valid rows in time order, every quarantined row kept, ``rows_in`` summed)."""
        times = pd.DatetimeIndex(raw["timestamp"]).asi8
        slot = np.clip(np.searchsorted(self.starts, times, side="right") - 1, 0, None)
        slots = np.unique(slot)
        if len(slots) <= 1:  # one version for every reading (the usual day): no split, no copy
            return self._rules_of(int(slots[0]) if len(slots) else 0).validate(raw)
        return _joined([self._rules_of(int(s)).validate(raw[slot == s]) for s in slots])


def validate_by_topology_version(raw: pd.DataFrame, topology: pd.DataFrame) -> ValidationResult:
    """Validate each reading against the topology version in force at its timestamp (see :class:`TopologyValidator`)."""
    return TopologyValidator(topology).validate(raw)


def voltage_share_in_band(valid: pd.DataFrame) -> float | None:
    """Share of rows with voltage magnitude within the band, or None without voltage data."""
    in_band, judged = voltage_counts(valid)
    return in_band / judged if judged else None


def voltage_counts(valid: pd.DataFrame) -> tuple[int, int]:
    """(rows with voltage within the band, rows with a voltage): what :func:`voltage_share_in_band` divides."""
    if "voltage_pu" not in valid.columns:
        return 0, 0
    v = valid["voltage_pu"].to_numpy(dtype=np.float64)
    v = v[~np.isnan(v)]
    lo, hi = VOLTAGE_BAND_PU
    return int(np.count_nonzero((v >= lo) & (v <= hi))), len(v)


@dataclass
class DayShare:
    day: str
    rows_in: int
    rows_quarantined: int

    @property
    def share(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0


@dataclass
class ValidationTotals:
    """What the validation of a range came to, added up day by day (small: a few numbers per day)."""

    rows_in: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    by_rule: Counter = field(default_factory=Counter)
    voltage_in_band: int = 0
    voltage_judged: int = 0
    days: list[DayShare] = field(default_factory=list)
    sample: pd.DataFrame | None = None  # the first quarantined rows of the range
    sample_rows: int = 20

    def add(self, day: str, result: ValidationResult) -> None:
        self.rows_in += result.rows_in
        self.rows_valid += result.rows_valid
        self.rows_quarantined += result.rows_quarantined
        self.by_rule.update(result.counts_by_rule())
        in_band, judged = voltage_counts(result.valid)
        self.voltage_in_band += in_band
        self.voltage_judged += judged
        self.days.append(DayShare(day, result.rows_in, result.rows_quarantined))
        head = result.quarantine[QUARANTINE_SAMPLE_COLUMNS]
        if self.sample is None:
            self.sample = head.head(self.sample_rows).reset_index(drop=True)
        elif len(self.sample) < self.sample_rows and len(head):
            self.sample = pd.concat([self.sample, head.head(self.sample_rows - len(self.sample))], ignore_index=True)

    @property
    def share_quarantined(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0

    def counts_by_rule(self) -> dict[str, int]:
        return {rule: int(self.by_rule[rule]) for rule in RULES if self.by_rule[rule]}

    def voltage_share_in_band(self) -> float | None:
        return self.voltage_in_band / self.voltage_judged if self.voltage_judged else None

    def worst_day(self) -> DayShare | None:
        return max(self.days, key=lambda d: d.share) if self.days else None

    def days_over(self, limit: float) -> list[DayShare]:
        return [d for d in self.days if d.share > limit]


class QuarantineSpill:
    """Each day's quarantined rows on local disk (Arrow IPC, under ``folder``) until :meth:`take` reads them back.

    A day without quarantined rows keeps only its empty, typed frame in memory. The files are the
    spill's own: :meth:`take` deletes each as it is read; the caller removes ``folder``.
    """

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = os.fspath(folder) if folder is not None else tempfile.mkdtemp(prefix="lascopf-quarantine-")
        self._empty: dict[str, pd.DataFrame] = {}
        self._files: dict[str, str] = {}

    def put(self, day: str, quarantine: pd.DataFrame) -> None:
        if not len(quarantine):
            self._empty[day] = quarantine
            return
        path = os.path.join(self.folder, f"{day}.arrow")
        table = pyarrow.Table.from_pandas(quarantine, preserve_index=False)
        with pyarrow.OSFile(path, "wb") as sink, pyarrow.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        self._files[day] = path

    def take(self, day: str) -> pd.DataFrame:
        if day in self._empty:
            return self._empty.pop(day)
        path = self._files.pop(day)
        with pyarrow.OSFile(path, "rb") as source:
            frame = pyarrow.ipc.open_file(source).read_all().to_pandas()
        os.remove(path)
        return frame
