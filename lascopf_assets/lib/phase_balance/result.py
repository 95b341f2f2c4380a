"""What every phase-balancing solve reports."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lascopf_assets.lib.phase_balance.problem import PHASES, PhaseBalanceProblem


@dataclass(frozen=True)
class PhaseChange:
    junction: str
    from_phase: str
    to_phase: str


@dataclass
class PhaseBalanceResult:
    """Status, objective, proven bound, gap, changes and seconds of one solve.

    ``status`` is one of :data:`~lascopf_assets.lib.solver_status.STATUSES`: ``"optimal"`` (gap
    within the tolerance), ``"time_limit"`` (the best assignment found, with its proven gap) or
    ``"error"`` (the solver failed; ``reason`` holds its own words; the assignment is the best one
    evaluated before the failure, never worse than the current one). ``reason`` may also explain
    an optimal or time-limited solve (e.g. SCIP's ``gaplimit``).
    ``gap = (imbalance - bound) / imbalance`` (0 when both are 0).
    """

    status: str
    max_changes: int
    initial_imbalance: float
    imbalance: float
    bound: float
    assignment: np.ndarray
    changes: list[PhaseChange]
    solve_seconds: float
    method: str
    solver: str
    skipped_hours: list = field(default_factory=list)
    iterations: int = 0
    n_cuts: int = 0
    reason: str | None = None

    @property
    def gap(self) -> float:
        if self.imbalance <= 0:
            return 0.0
        return max(0.0, (self.imbalance - self.bound) / self.imbalance)

    def changes_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [(c.junction, c.from_phase, c.to_phase) for c in self.changes],
            columns=["junction", "from_phase", "to_phase"],
        )

    def to_dict(self) -> dict:
        """The CLI's JSON object (plain Python types)."""
        return {
            "status": self.status,
            "reason": self.reason,
            "initial_imbalance": float(self.initial_imbalance),
            "imbalance": float(self.imbalance),
            "bound": float(self.bound),
            "gap": float(self.gap),
            "changes": [
                {"junction": c.junction, "from_phase": c.from_phase, "to_phase": c.to_phase} for c in self.changes
            ],
            "solve_seconds": float(self.solve_seconds),
            "max_changes": int(self.max_changes),
            "method": self.method,
            "solver": self.solver,
            "skipped_hours": [str(h) for h in self.skipped_hours],
        }


def changes_between(problem: PhaseBalanceProblem, assignment: np.ndarray) -> list[PhaseChange]:
    """The junctions whose phase in ``assignment`` differs from the current one."""
    moved = np.flatnonzero(np.asarray(assignment) != problem.initial_phase)
    return [
        PhaseChange(str(problem.junctions[j]), PHASES[problem.initial_phase[j]], PHASES[assignment[j]]) for j in moved
    ]
