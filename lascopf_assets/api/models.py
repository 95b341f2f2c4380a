"""Response shapes of the API (they are its OpenAPI schema, published at /openapi.json)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Problem(BaseModel):
    detail: str = Field(description="What was wrong with the request, or what is missing")


class PhaseChange(BaseModel):
    junction: str
    from_phase: str
    to_phase: str


class CurvePoint(BaseModel):
    k: int = Field(description="K: at most this many changes")
    recommended: bool = Field(description="The K phase_assignment was asked for")
    status: str
    imbalance: float | None
    bound: float | None
    gap: float | None
    changes: int
    moves: str = Field(description="That point's own moves, 'junction: A -> B; ...'")


class PhaseRecommendation(BaseModel):
    feeder: str
    changes: list[PhaseChange] = Field(description="phase_assignment: the recommended moves")
    status: str | None = Field(None, description="Solver status of the recommended point (null: no curve stored)")
    initial_imbalance: float | None = None
    imbalance: float | None = None
    gap: float | None = None
    window: str | None = None
    run_id: str | None = None
    computed_at: str | None = None
    curve: list[CurvePoint] = Field(description="phase_recommendations: the trade-off curve over K, where stored")
    impact: list[dict[str, Any]] | None = Field(None, description="phase_change_impact rows, where that asset exists")


class FeederList(BaseModel):
    feeders: list[str] = Field(description="Feeders with a phase_assignment")


class DayList(BaseModel):
    days: list[str]


class DispatchSummary(BaseModel):
    day: str
    summary: dict[str, Any] = Field(description="lascopf_dispatch: status, objective, solve seconds, iterations, ...")
    rows: dict[str, int] = Field(description="Rows of each dispatch result table for the day")


class TableRows(BaseModel):
    day: str
    table: str
    rows: list[dict[str, Any]]


class RejectedFile(BaseModel):
    file: str
    kind: str
    reason: str
    day: str | None


class DataQuality(BaseModel):
    day: str
    rows_in: int = Field(description="Readings ingested (raw_measurements rows of the day)")
    rows_valid: int = Field(description="Readings summed into valid hours (validated_loads: sum of intervals)")
    rows_quarantined: int = Field(description="quarantined_measurements rows of the day")
    rows_redelivered: int = Field(description="rows_in - rows_valid - rows_quarantined: identical re-sent readings")
    hours_valid: int = Field(description="validated_loads rows (meter-hours)")
    quarantined_by_rule: dict[str, int]
    rejected_files: list[RejectedFile] = Field(description="Landing files routed to this day (or to no known day) that "
                                               "could not be ingested")


class RunLaunched(BaseModel):
    run_id: str
    asset_selection: list[str]
    partition: str


class RunStatus(BaseModel):
    run_id: str
    status: str = Field(description="Dagster run status: QUEUED, STARTING, STARTED, SUCCESS, FAILURE, CANCELED, ...")
