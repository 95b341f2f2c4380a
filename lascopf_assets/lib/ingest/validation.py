"""Validation of parsed interval readings into valid hourly loads and a quarantine with reasons.

A day's readings go through, in order (each reading stops at the first thing it breaks):

1. the row rules of ``schemas.readings_schema`` (parse errors first), ``timestamp_off_interval``
   judged on each (meter, file)'s interval (detected or declared: :class:`IntervalPolicy`);
2. re-deliveries: a reading identical to an earlier one (same meter, timestamp, kwh and SCADA
   values; earlier = the order of the rows given: files by name, then line) is collapsed: neither
   valid nor quarantined, counted in ``rows_redelivered``; a different value for the same meter
   and timestamp is quarantined as ``duplicate_reading`` (the first one stays);
3. the roll-up (``intervals.roll_up_hours``): each (meter, hour)'s readings sum to its kWh, SCADA
   values are the hour's means; an hour missing an interval is quarantined whole as
   ``hour_incomplete`` (or gap-filled with ``gap_fill="linear"``).

Nothing is lost: ``rows_in == rows_valid + rows_quarantined + rows_redelivered`` in readings, for
the result and for every source file (:meth:`ValidationResult.per_file`); ``rows_valid`` counts the
readings in valid hours, ``hours_valid`` the hourly rows. Each quarantined row keeps its raw
columns plus the rule it broke (``rule``) and a reason.

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

from lascopf_assets.lib.ingest.intervals import (
    IntervalPolicy,
    clock_labels,
    detect_interval_minutes,
    duplicate_reasons,
    order_by,
    resolve_duplicates,
    roll_up_hours,
)
from lascopf_assets.lib.ingest.landing import SCADA_COLUMNS
from lascopf_assets.lib.ingest.schemas import (
    INTERVAL_COLUMN,
    RULE_ORDER,
    RULES,
    UTC_US,
    VALIDATED_LOADS_SCHEMA,
    VOLTAGE_BAND_PU,
    readings_schema,
)
from lascopf_assets.lib.zone.versions import meters_in_force, version_starts

PROVENANCE_COLUMNS = ["source_file", "source_row"]  # of the hour's first reading
INTERVAL_COUNT_COLUMNS = ["intervals", "intervals_estimated"]  # readings summed, intervals gap-filled
# validated_loads, one row per meter and hour; the SCADA columns present (hourly means) come after kwh
VALID_COLUMNS = ["timestamp", "meter_id", "feeder", "junction", "phase", "kwh", *PROVENANCE_COLUMNS, *INTERVAL_COUNT_COLUMNS]
PER_FILE_COLUMNS = ["source_file", "rows_in", "rows_valid", "rows_quarantined", "rows_redelivered"]
QUARANTINE_SAMPLE_COLUMNS = ["source_file", "source_row", "meter_id", "rule", "reason"]
_CODE_BY_REASON = {reason: code for code, reason in RULES.items()}
_RULE_NAMES = np.asarray(list(RULES), dtype=object)
_RULE_REASONS = np.asarray(list(RULES.values()), dtype=object)
_NONE, _OTHER = -1, len(RULES)  # rule codes beside RULE_ORDER's: no rule broken; a parse error RULES does not list
_VALID, _QUARANTINED, _REDELIVERED = 1, 2, 3  # what became of each reading


def _empty_per_file() -> pd.DataFrame:
    return pd.DataFrame({"source_file": pd.Series([], dtype="str"), **{c: pd.Series([], dtype=np.int64) for c in PER_FILE_COLUMNS[1:]}})


@dataclass
class ValidationResult:
    """The valid hourly loads and the quarantined readings of one validation.

    ``rows_*`` count readings (landing rows): ``rows_valid`` the readings summed into valid hours
    (``valid["intervals"].sum()``), ``hours_valid`` the valid hourly rows, ``hours_estimated``
    those with a gap-filled interval. ``rows_in == rows_valid + rows_quarantined +
    rows_redelivered``, overall and per file (``files``, see :meth:`per_file`).
    ``interval_pairs``: minutes -> number of (meter, file) pairs with that interval.
    """

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int
    rows_redelivered: int = 0
    files: pd.DataFrame = field(default_factory=_empty_per_file)
    interval_pairs: dict[int, int] = field(default_factory=dict)

    @property
    def rows_valid(self) -> int:
        return int(self.valid["intervals"].sum()) if len(self.valid) else 0

    @property
    def hours_valid(self) -> int:
        return len(self.valid)

    @property
    def hours_estimated(self) -> int:
        return int(np.count_nonzero(self.valid["intervals_estimated"].to_numpy() > 0)) if len(self.valid) else 0

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    @property
    def share_quarantined(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0

    def counts_by_rule(self) -> dict[str, int]:
        counts = self.quarantine["rule"].value_counts()
        return {rule: int(counts[rule]) for rule in RULES if rule in counts.index}

    def per_file(self) -> pd.DataFrame:
        """``source_file, rows_in, rows_valid, rows_quarantined, rows_redelivered`` (readings), by file name."""
        return self.files.copy()

    def interval_minutes_counts(self) -> dict[int, int]:
        """{interval minutes: number of (meter, file) pairs}, over the readings with a readable timestamp of a known meter."""
        return dict(sorted(self.interval_pairs.items()))


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
    """The rules for readings under one meter map (``meter_id`` -> ``feeder, junction, phase``), built once,
    and the :class:`IntervalPolicy` their intervals are judged and rolled up by."""

    def __init__(self, meters: pd.DataFrame, policy: IntervalPolicy | None = None):
        self.lookup = _meter_map(meters)
        self.policy = _policy(policy)
        self._meter_ids = pyarrow.array(self.lookup["meter_id"].array)
        self._schemas: dict[tuple[str, ...], pa.DataFrameSchema] = {}

    def schema(self, scada: list[str]) -> pa.DataFrameSchema:
        key = tuple(scada)
        if key not in self._schemas:
            self._schemas[key] = readings_schema(self.lookup["meter_id"], scada)
        return self._schemas[key]

    def _meter_codes(self, meter_id: pd.Series) -> np.ndarray:
        """Each reading's row in the meter map (an Arrow hash lookup), -1 for a meter not in it."""
        position = pc.index_in(pyarrow.array(meter_id.array), value_set=self._meter_ids)
        return np.asarray(position.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)

    def _intervals(
        self, meter: np.ndarray, files: np.ndarray, file_count: int, micros: np.ndarray, order: np.ndarray
    ) -> tuple[np.ndarray, dict[int, int]]:
        """Each reading's interval (minutes; 60 where not readable) and {minutes: (meter, file) pairs}.

        ``order``: the readable positions sorted by (meter, timestamp); it serves detection as is
        when no meter has readings in two files (the usual day), else pairs are sorted anew.
        """
        interval = np.full(len(meter), 60, dtype=np.int64)
        m, f = meter[order], files[order]
        one_file_per_meter = not np.any((m[1:] == m[:-1]) & (f[1:] != f[:-1]))
        if one_file_per_meter:
            pair_of, pairs, pair_order = meter, len(self.lookup), order
        else:
            pair_of, pairs, pair_order = meter * file_count + files, len(self.lookup) * file_count, None
            if pairs > 4 * len(meter) + 1024:  # sparse pairs: number them densely
                dense, _ = pd.factorize(pair_of[order])
                pair_of = np.zeros(len(meter), dtype=np.int64)
                pair_of[order] = dense
                pairs = int(dense.max()) + 1
        pair = pair_of[order]
        if self.policy.interval_minutes is not None:
            per_pair = np.full(pairs, int(self.policy.interval_minutes), dtype=np.int64)
        else:
            positions = np.arange(len(order)) if pair_order is not None else None
            per_pair = detect_interval_minutes(pair, micros[order], pairs, positions)
        interval[order] = per_pair[pair]
        used = np.bincount(pair, minlength=pairs) > 0
        minutes, counts = np.unique(per_pair[used], return_counts=True)
        return interval, dict(zip(minutes.tolist(), counts.tolist(), strict=True))

    def validate(self, raw: pd.DataFrame) -> ValidationResult:
        raw = raw.reset_index(drop=True)
        n = len(raw)
        scada = [c for c in SCADA_COLUMNS if c in raw.columns]
        rule = np.full(n, _NONE, dtype=np.int16)  # a code of _RULE_CODES, set where a rule is broken
        reasons: list[tuple[np.ndarray, np.ndarray]] = []  # (positions, reason) where it says more than RULES
        has_parse_error = raw["parse_error"].notna().to_numpy()
        errors = raw["parse_error"][has_parse_error]
        rule[has_parse_error] = errors.map(RULE_ORDER).fillna(_OTHER).to_numpy(dtype=np.int16)

        micros = pd.DatetimeIndex(raw["timestamp"]).asi8
        meter = self._meter_codes(raw["meter_id"])
        files, file_names = pd.factorize(raw["source_file"], use_na_sentinel=False)
        files = files.astype(np.int64)
        readable = np.flatnonzero(~has_parse_error & (meter >= 0) & ~raw["timestamp"].isna().to_numpy())
        order = readable[order_by(meter[readable], micros[readable])]  # by (meter, timestamp, row)
        interval, interval_pairs = self._intervals(meter, files, len(file_names), micros, order)

        # 1. the row rules (timestamp_off_interval by each reading's interval)
        # (only the columns judged: pandera's failure report copies the frame it was given)
        judged = _rows(raw, ~has_parse_error, ["meter_id", "timestamp", "kwh", *scada])
        judged = judged.assign(**{INTERVAL_COLUMN: interval[~has_parse_error]})
        failed = _first_failed_rule(judged, self.schema(scada))
        rule[failed.index.to_numpy()] = failed.map(RULE_ORDER).to_numpy(dtype=np.int16)
        off = np.flatnonzero(rule == RULE_ORDER["timestamp_off_interval"])
        if len(off):
            reasons.append((off, ("timestamp " + clock_labels(micros[off]) + " is not on the meter's "
                                  + pd.Series(interval[off]).astype(str) + "-minute interval grid").to_numpy(dtype=object)))

        # 2. re-deliveries and conflicting duplicates, among the readings that passed
        passing = order[rule[order] == _NONE]  # still sorted by (meter, timestamp, row)
        kwh = raw["kwh"].to_numpy(dtype=np.float64)
        values = [kwh, *(raw[c].to_numpy(dtype=np.float64) for c in scada)]
        found = resolve_duplicates(meter, micros, values, passing)
        source_row = raw["source_row"].to_numpy(dtype=np.int64)
        if len(found.conflicting):
            rule[found.conflicting] = RULE_ORDER["duplicate_reading"]
            said = duplicate_reasons(found, ["kwh", *scada], values, raw["source_file"], source_row)
            reasons.append((found.conflicting, said.to_numpy(dtype=object)))
        status = np.zeros(n, dtype=np.int8)
        status[found.redelivered] = _REDELIVERED

        # 3. the roll-up of the rest to hours
        rest = passing[(rule[passing] == _NONE) & (status[passing] == 0)] if len(found.redelivered) + len(found.conflicting) else passing
        hours = roll_up_hours(meter, micros, interval, kwh, values[1:], self.policy.gap_fill, rest)
        if len(hours.mismatched):
            mismatched, kept = hours.mismatched, hours.mismatched_kept
            rule[mismatched] = RULE_ORDER["duplicate_reading"]
            kept_file = pd.Series(raw["source_file"].iloc[kept].to_numpy(dtype=object), dtype="str")
            said = ("on a " + pd.Series(interval[mismatched]).astype(str) + "-minute interval, but the meter's hour came first at "
                    + pd.Series(interval[kept]).astype(str) + "-minute intervals in " + kept_file
                    + " line " + pd.Series(source_row[kept]).astype(str) + ", which was kept")
            reasons.append((mismatched, said.to_numpy(dtype=object)))
        if len(hours.incomplete):
            rule[hours.incomplete] = RULE_ORDER["hour_incomplete"]
            reasons.append((hours.incomplete, hours.incomplete_reason.to_numpy(dtype=object)))
        status[hours.in_valid_hour] = _VALID
        bad = rule != _NONE
        status[bad] = _QUARANTINED  # (disjoint from the rest by construction; _per_file checks the total)

        files_table = _per_file(files, file_names, status)
        quarantine = self._quarantine(raw, bad, rule, errors, reasons)
        valid = self._valid_frame(raw, hours, scada)
        # the output contract's columns and dtypes, judged on no rows: the values are the rules' business, and
        # pandera's per-value pass over a day's rows cost a third of the validation of an hourly day
        VALIDATED_LOADS_SCHEMA.validate(valid.iloc[:0])
        return ValidationResult(valid=valid, quarantine=quarantine, rows_in=n, rows_redelivered=len(found.redelivered),
                                files=files_table, interval_pairs=interval_pairs)

    @staticmethod
    def _quarantine(raw: pd.DataFrame, bad: np.ndarray, rule: np.ndarray, errors: pd.Series,
                    reasons: list[tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
        quarantine = raw[bad].reset_index(drop=True)
        codes = rule[bad]
        names = _RULE_NAMES[np.where(codes == _OTHER, 0, codes)].astype(object)
        other = codes == _OTHER  # a parse error with no rule of its own: its code as the landing reader said
        if other.any():
            text = pd.Series(raw["parse_error"].to_numpy(dtype=object)[np.flatnonzero(bad)[other]])
            names[other] = text.to_numpy(dtype=object)
        said = _RULE_REASONS[np.where(codes == _OTHER, 0, codes)].astype(object)
        said[other] = names[other]
        where = np.full(len(rule), -1, dtype=np.int64)
        where[bad] = np.arange(len(codes))
        for positions, text in reasons:
            said[where[positions]] = text
        # typed even when empty, so every store can create the columns
        quarantine["rule"] = pd.Series(names, dtype="str")
        quarantine["reason"] = pd.Series(said, dtype="str")
        return quarantine

    def _valid_frame(self, raw: pd.DataFrame, hours, scada: list[str]) -> pd.DataFrame:
        first = hours.first
        valid = pd.DataFrame({"timestamp": pd.Series(hours.hour.astype("datetime64[us]")).dt.tz_localize("UTC").astype(UTC_US)})
        valid["meter_id"] = pd.Series(self.lookup["meter_id"].array.take(hours.meter), dtype="str")
        for column in ("feeder", "junction", "phase"):
            valid[column] = pd.Series(self.lookup[column].array.take(hours.meter), dtype="str")
        valid["kwh"] = hours.kwh.astype(np.float64)
        for j, column in enumerate(scada):
            valid[column] = hours.scada[:, j].astype(np.float64)
        valid["source_file"] = pd.Series(raw["source_file"].array.take(first), dtype="str")
        valid["source_row"] = raw["source_row"].to_numpy(dtype=np.int64)[first]
        valid["intervals"] = hours.intervals.astype(np.int64)
        valid["intervals_estimated"] = hours.estimated.astype(np.int64)
        return valid


def _policy(policy: IntervalPolicy | None) -> IntervalPolicy:
    if policy is None:
        return IntervalPolicy()
    if not isinstance(policy, IntervalPolicy):
        raise TypeError(f"policy must be an IntervalPolicy, got {type(policy).__name__}")
    return policy


def _per_file(files: np.ndarray, names, status: np.ndarray) -> pd.DataFrame:
    """Readings per source file by status (valid hour, quarantined, re-delivered); raises unless every reading has one."""
    k = len(names)
    if not np.all(status):
        raise RuntimeError(f"{int(np.count_nonzero(status == 0))} readings are neither valid, quarantined nor re-delivered")
    counts = np.bincount(files * 4 + status, minlength=k * 4).reshape(k, 4)
    table = pd.DataFrame({
        "source_file": pd.Series(np.asarray(names, dtype=object), dtype="str"),
        "rows_in": counts.sum(axis=1), "rows_valid": counts[:, 1], "rows_quarantined": counts[:, 2], "rows_redelivered": counts[:, 3],
    })
    return table.sort_values("source_file", ignore_index=True).astype({c: np.int64 for c in PER_FILE_COLUMNS[1:]})


def validate_readings(raw: pd.DataFrame, meters: pd.DataFrame, policy: IntervalPolicy | None = None) -> ValidationResult:
    """Validate parsed readings (landing.read_landing_file rows) into valid hourly loads and quarantine.

    ``meters`` maps ``meter_id`` to ``feeder``, ``junction`` and ``phase`` (the topology in
    force for these readings; ``feeder`` None for a meter under no feeder head).
    """
    return MeterRules(meters, policy).validate(raw)


def _joined(results: list[ValidationResult]) -> ValidationResult:
    if len(results) == 1:
        return results[0]
    valid = pd.concat([r.valid for r in results], ignore_index=True).sort_values("timestamp", kind="stable", ignore_index=True)
    quarantine = pd.concat([r.quarantine for r in results], ignore_index=True)
    files = pd.concat([r.files for r in results], ignore_index=True).groupby("source_file", as_index=False, sort=True).sum()
    pairs: Counter = Counter()
    for r in results:
        pairs.update(r.interval_pairs)
    return ValidationResult(valid, quarantine, sum(r.rows_in for r in results), sum(r.rows_redelivered for r in results),
                            files.astype({c: np.int64 for c in PER_FILE_COLUMNS[1:]}), dict(pairs))


class TopologyValidator:
    """Validates readings against the topology version in force at each reading's timestamp.

    ``topology`` is the versioned table of ``zone.versions.versioned_topology``; ``policy`` says
    how intervals are found and hours rolled up (default: detected, no gap filling). Each version's
    rules are built on first use and kept while in use, so validating a range day by day costs no
    more than validating it at once. Readings before the first version go with the first version.
    """

    def __init__(self, topology: pd.DataFrame, keep_versions: int = 4, policy: IntervalPolicy | None = None):
        self.topology = topology
        self.policy = _policy(policy)
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
        rules = self._rules[slot] = MeterRules(meters_in_force(self.topology, valid_from), self.policy)
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


def validate_by_topology_version(raw: pd.DataFrame, topology: pd.DataFrame, policy: IntervalPolicy | None = None) -> ValidationResult:
    """Validate each reading against the topology version in force at its timestamp (see :class:`TopologyValidator`)."""
    return TopologyValidator(topology, policy=policy).validate(raw)


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
    """What the validation of a range came to, added up day by day (small: a few numbers per day and file).

    ``rows_*`` count readings, as in :class:`ValidationResult`: ``rows_in == rows_valid +
    rows_quarantined + rows_redelivered`` (:meth:`rows_accounted_for`), and so for every file of
    :meth:`per_file`; ``hours_valid`` counts the hourly rows written.
    """

    rows_in: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    rows_redelivered: int = 0
    hours_valid: int = 0
    hours_estimated: int = 0
    by_rule: Counter = field(default_factory=Counter)
    interval_pairs: Counter = field(default_factory=Counter)
    voltage_in_band: int = 0
    voltage_judged: int = 0
    days: list[DayShare] = field(default_factory=list)
    sample: pd.DataFrame | None = None  # the first quarantined rows of the range
    sample_rows: int = 20
    _files: pd.DataFrame = field(default_factory=_empty_per_file, repr=False)

    def add(self, day: str, result: ValidationResult) -> None:
        self.rows_in += result.rows_in
        self.rows_valid += result.rows_valid
        self.rows_quarantined += result.rows_quarantined
        self.rows_redelivered += result.rows_redelivered
        self.hours_valid += result.hours_valid
        self.hours_estimated += result.hours_estimated
        self.by_rule.update(result.counts_by_rule())
        self.interval_pairs.update(result.interval_pairs)
        if len(result.files):  # a file may cover several days: its counts add up
            both = pd.concat([self._files, result.files], ignore_index=True) if len(self._files) else result.files
            self._files = both.groupby("source_file", as_index=False, sort=True).sum()
        in_band, judged = voltage_counts(result.valid)
        self.voltage_in_band += in_band
        self.voltage_judged += judged
        self.days.append(DayShare(day, result.rows_in, result.rows_quarantined))
        head = result.quarantine[QUARANTINE_SAMPLE_COLUMNS]
        if self.sample is None:
            self.sample = head.head(self.sample_rows).reset_index(drop=True)
        elif len(self.sample) < self.sample_rows and len(head):
            self.sample = pd.concat([self.sample, head.head(self.sample_rows - len(self.sample))], ignore_index=True)

    def rows_accounted_for(self) -> bool:
        """The invariant, for the range and for every file."""
        files = self._files
        per_file = (files["rows_in"] == files["rows_valid"] + files["rows_quarantined"] + files["rows_redelivered"]).all()
        return bool(per_file) and self.rows_in == self.rows_valid + self.rows_quarantined + self.rows_redelivered

    def per_file(self) -> pd.DataFrame:
        """``source_file, rows_in, rows_valid, rows_quarantined, rows_redelivered`` (readings) over the range, by file name."""
        return self._files.astype({c: np.int64 for c in PER_FILE_COLUMNS[1:]}).reset_index(drop=True)

    def interval_minutes_counts(self) -> dict[int, int]:
        """{interval minutes: (meter, file) pairs}, summed over the days (a file over two days counts on each)."""
        return {int(m): int(c) for m, c in sorted(self.interval_pairs.items())}

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
