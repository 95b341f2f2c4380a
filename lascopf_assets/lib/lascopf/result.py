"""The result of a LASCOPF solve: status, objective and pandas tables.

Tables (intervals are 1-based):

- ``generator_dispatch``: ``gen, bus, interval, p_mw``
- ``branch_flows``: ``branch, from_bus, to_bus, interval, flow_mw, rate_mw, loading,
  worst_post_flow_mw, worst_outage, post_loading`` (post: worst modeled outage)
- ``lmps``: ``bus, interval, lmp`` ($/MWh)
- ``binding_contingencies``: ``interval, outaged_branch, outage_kind, monitored_branch, post_flow_mw,
  limit_mw, shadow_price, slack_mw`` (``outage_kind`` is ``branch`` or ``generator``; after a generator
  outage ``outaged_branch`` is the generator's name, e.g. ``G12``)
- ``contingencies_skipped``: ``contingency, branch, generator, reason`` (every listed outage not modeled)
- corrective security only (empty otherwise), for every outage and interval whose flows at the
  outage exceed ``rateA`` (the ones a trajectory must correct):
  ``corrective_dispatch``: ``outaged_branch, outage_kind, interval, step, minutes, gen, bus, p_mw, corrective_mw``
  (step 0 is the pre-outage dispatch, after a generator outage the participation response with the
  lost unit at 0; ``corrective_mw = Q[s] - Q[0]``; ``outaged_branch`` names the lost generator then);
  ``trajectory_flows``: ``outaged_branch, outage_kind, interval, monitored_branch, step, minutes, flow_mw, rate_mw,
  emergency_mw, limit_mw, loading`` for the branches above ``rateA`` at some step (``limit_mw``: the
  step's limit, ``E`` before the last step, ``rateA`` at it; ``loading = |flow| / rateA``)
- ``history``: one row per iteration (screening: ``iteration, rows, new_rows, objective,
  build_seconds, solve_seconds``; ADMM: residuals)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = [
    "status", "objective", "method", "solve_seconds", "iterations", "intervals", "contingencies_modeled",
    "contingencies_skipped", "max_base_loading", "max_post_contingency_loading", "total_slack_mw", "cause", "reason",
]


@dataclass
class LascopfResult:
    status: str  # one of lib.solver_status.STATUSES: "optimal" | "time_limit" | "infeasible" | "error"
    objective: float | None
    method: str
    solve_seconds: float
    iterations: int
    intervals: int
    contingencies_modeled: list[str]
    contingencies_skipped: pd.DataFrame
    generator_contingencies_modeled: list[str] = field(default_factory=list)  # lost generators' names
    generator_dispatch: pd.DataFrame = field(default_factory=pd.DataFrame)
    branch_flows: pd.DataFrame = field(default_factory=pd.DataFrame)
    lmps: pd.DataFrame = field(default_factory=pd.DataFrame)
    binding_contingencies: pd.DataFrame = field(default_factory=pd.DataFrame)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    max_base_loading: float | None = None
    max_post_contingency_loading: float | None = None
    total_slack_mw: float = 0.0
    cause: str | None = None  # our diagnosis (which constraint family is infeasible, ...)
    reason: str | None = None  # the solver's own words behind a non-optimal status
    security: str = "preventive"  # or "corrective"
    restore_intervals: int | None = None  # corrective: restoration steps N
    restore_minutes: float | None = None  # corrective: minutes per step
    trajectory_form: str | None = None  # corrective: "endpoint" (Q_N only, straight lines checked) or "full"
    fallback_pairs: int = 0  # corrective endpoint form: pairs whose straight line failed and that got full trajectories
    max_emergency_loading: float | None = None  # corrective: max |flow at the outage| / emergency rating
    corrective_mw_total: float | None = None  # corrective: sum |Q[s] - Q[s-1]| over the corrected outages, MW
    corrective_dispatch: pd.DataFrame = field(default_factory=pd.DataFrame)
    trajectory_flows: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def generator_outages_skipped(self) -> int:
        """Listed generator outages not modeled (rows of ``contingencies_skipped`` naming a generator)."""
        s = self.contingencies_skipped
        if "generator" not in s or s.empty:
            return 0
        return int((s["generator"].fillna("") != "").sum())

    def dispatch_matrix(self) -> pd.DataFrame:
        """Generators x intervals (MW)."""
        if self.generator_dispatch.empty:
            return pd.DataFrame()
        return self.generator_dispatch.pivot(index="gen", columns="interval", values="p_mw")

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(
            [[
                self.status, self.objective, self.method, self.solve_seconds, self.iterations, self.intervals,
                len(self.contingencies_modeled) + len(self.generator_contingencies_modeled), len(self.contingencies_skipped),
                self.max_base_loading,
                self.max_post_contingency_loading, self.total_slack_mw, self.cause, self.reason,
            ]],
            columns=SUMMARY_COLUMNS,
        )

    def to_json_dict(self) -> dict:
        """The CLI's JSON object."""
        dispatch = {}
        if not self.generator_dispatch.empty:
            mat = self.dispatch_matrix()
            order = pd.unique(self.generator_dispatch["gen"])
            dispatch = {g: [float(v) for v in mat.loc[g].to_numpy()] for g in order}
        out = {
            "status": self.status,
            "objective": self.objective,
            "method": self.method,
            "intervals": self.intervals,
            "iterations": self.iterations,
            "contingencies_modeled": list(self.contingencies_modeled),
            "contingencies_skipped": self.contingencies_skipped.to_dict(orient="records"),
            "generator_contingencies_modeled": list(self.generator_contingencies_modeled),
            "generator_outages_modeled": len(self.generator_contingencies_modeled),
            "generator_outages_skipped": self.generator_outages_skipped,
            "dispatch": dispatch,
            "max_base_loading": _finite_or_none(self.max_base_loading),
            "max_post_contingency_loading": _finite_or_none(self.max_post_contingency_loading),
            "total_slack_mw": self.total_slack_mw,
            "binding_contingencies": len(self.binding_contingencies),
            "solve_seconds": self.solve_seconds,
            "security": self.security,
            "restore_intervals": self.restore_intervals,
            "max_emergency_loading": _finite_or_none(self.max_emergency_loading),
            "corrective_mw_total": self.corrective_mw_total,
            "trajectory_form": self.trajectory_form,
            "fallback_pairs": self.fallback_pairs,
        }
        if self.cause:
            out["cause"] = self.cause
        if self.reason:
            out["reason"] = self.reason
        if self.method == "admm" and not self.history.empty:
            out["residual_history"] = {
                "primal": [float(v) for v in self.history["primal_residual"]],
                "dual": [float(v) for v in self.history["dual_residual"]],
            }
        return out


def _finite_or_none(v):
    if v is None or not np.isfinite(v):
        return None
    return float(v)
