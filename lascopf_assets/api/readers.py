"""The results, read from the store the assets write (``store.ResultStore``); plain Python, no Dagster.

What each answer is made of:

* phase recommendation of a feeder: ``phase_assignment/<feeder>`` (the moves), the feeder's rows of
  ``phase_recommendations`` (the trade-off curve the asset stores from each feeder's latest
  materialization: status, imbalance, bound, gap, moves per K; the recommended point gives the
  summary) and ``phase_change_impact/<feeder>`` where that asset has been written.
* dispatch of a day: ``lascopf_dispatch`` (the summary row) and the day's ``generator_dispatch``,
  ``branch_flows``, ``bus_lmps``, ``binding_contingencies``.
* data quality of a day: counted where the tables are stored (``ResultStore.day_counts``: in
  PostgreSQL by the server, never a day's rows copied to count them), the same accounting as the validation
  (readings in = in valid hours + quarantined + re-delivered): ``raw_measurements`` rows (in),
  the sum of ``validated_loads.intervals`` (valid readings; its rows when written before that
  column), ``quarantined_measurements`` rows by ``rule``, the difference (re-delivered), and the
  ``rejected_landing_files`` routed to the day or to no known day.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from lascopf_assets.api.store import ResultStore
from lascopf_assets.storage.results_schema import RESULTS_TABLES

DISPATCH_TABLES = tuple(spec.name for spec in RESULTS_TABLES if spec.name != "lascopf_dispatch")  # per interval


class NotFound(LookupError):
    """Something asked for was never materialized (the API's 404, with this message)."""


def _plain(value: Any) -> Any:
    """A JSON-able scalar: NaN/NaT/NA -> None, numpy scalars -> Python, timestamps -> ISO 8601."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    cols = list(frame.columns)
    return [{c: _plain(v) for c, v in zip(cols, row)} for row in frame.itertuples(index=False, name=None)]


class Results:
    def __init__(self, store: ResultStore):
        self.store = store

    # -- phase balancing ----------------------------------------------------------
    def feeders(self) -> list[str]:
        return self.store.partitions("phase_assignment")

    def phase_recommendation(self, feeder: str) -> dict:
        changes = self.store.partition("phase_assignment", feeder)
        if changes is None:
            known = self.feeders()
            raise NotFound(f"feeder {feeder!r} has no phase_assignment (feeders with one: {', '.join(known) or 'none'})")
        out: dict[str, Any] = {
            "feeder": feeder, "changes": records(changes[["junction", "from_phase", "to_phase"]].astype(str)), "curve": [],
        }
        curve = self.store.table("phase_recommendations")
        if curve is not None and len(curve):
            mine = curve[curve["feeder"] == feeder].sort_values("k")
            points = records(mine[["k", "recommended", "status", "imbalance", "bound", "gap", "changes", "moves"]])
            out["curve"] = [{**p, "moves": p["moves"] or ""} for p in points]
            if len(mine):  # the same for every point of the feeder's latest materialization
                row = records(mine.head(1))[0]
                out.update({k: row.get(k) for k in ("initial_imbalance", "window", "run_id", "computed_at")})
            chosen = mine[mine["recommended"].astype(bool)]
            if len(chosen):  # the recommended K's outcome (absent when the curve stops below that K)
                row = records(chosen.head(1))[0]
                out.update({k: row.get(k) for k in ("status", "imbalance", "gap")})
        impact = self.store.partition("phase_change_impact", feeder)
        out["impact"] = records(impact) if impact is not None else None
        return out

    # -- dispatch -----------------------------------------------------------------
    def dispatch_days(self) -> list[str]:
        return self.store.days("lascopf_dispatch")

    def dispatch(self, day: str) -> dict:
        summary = self.store.day("lascopf_dispatch", day)
        if summary is None or summary.empty:
            raise NotFound(f"no lascopf_dispatch for {day} (days with one: {_span(self.dispatch_days())})")
        rows = {}
        for name in DISPATCH_TABLES:
            counts = self.store.day_counts(name, day)
            rows[name] = 0 if counts is None else counts.rows
        return {"day": day, "summary": records(summary.head(1))[0], "rows": rows}

    def dispatch_table(self, day: str, table: str) -> dict:
        if table not in DISPATCH_TABLES:
            raise ValueError(f"unknown dispatch table {table!r}: one of {', '.join(DISPATCH_TABLES)}")
        frame = self.store.day(table, day)
        if frame is None:
            # the day's dispatch wrote every table in the same run: none of its rows (no binding contingency
            # that day) is an empty table, which PostgreSQL cannot tell from a day never written
            if self.store.day_counts("lascopf_dispatch", day) is None:
                raise NotFound(f"no {table} for {day} (days with a dispatch: {_span(self.dispatch_days())})")
            frame = pd.DataFrame()
        return {"day": day, "table": table, "rows": records(frame)}

    # -- data quality -------------------------------------------------------------
    def quality_days(self) -> list[str]:
        return self.store.days("raw_measurements")

    def quality(self, day: str) -> dict:
        raw = self.store.day_counts("raw_measurements", day)
        if raw is None:
            raise NotFound(f"no raw_measurements for {day} (days ingested: {_span(self.quality_days())})")
        valid = self.store.day_counts("validated_loads", day, sum_column="intervals")
        quarantine = self.store.day_counts("quarantined_measurements", day, group_column="rule")
        hours_valid = 0 if valid is None else valid.rows
        if valid is None:
            rows_valid = 0
        elif valid.total is not None:
            rows_valid = int(valid.total)
        else:
            rows_valid = hours_valid  # written before intervals existed: hourly readings
        rows_quarantined = 0 if quarantine is None else quarantine.rows
        return {
            "day": day, "rows_in": raw.rows, "rows_valid": rows_valid, "rows_quarantined": rows_quarantined,
            "rows_redelivered": max(0, raw.rows - rows_valid - rows_quarantined), "hours_valid": hours_valid,
            "quarantined_by_rule": {} if quarantine is None else quarantine.groups,
            "rejected_files": self.rejected_files(day),
        }

    def rejected_files(self, day: str) -> list[dict]:
        frame = self.store.table("rejected_landing_files")
        if frame is None or frame.empty:
            return []
        days = frame["day"].astype("string")
        mine = frame[days.isna() | (days.str[:10] == day)]
        rows = records(mine[["file", "kind", "reason", "day"]])
        return [{**r, "day": None if r["day"] is None else str(r["day"])[:10]} for r in rows]


def _span(days: list[str]) -> str:
    if not days:
        return "none"
    return days[0] if len(days) == 1 else f"{days[0]} .. {days[-1]} ({len(days)})"
