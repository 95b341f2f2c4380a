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
    unlimited: bool = False  # solved as ``--max-changes all``: every junction free (max_changes = junctions)
    solver_seconds: float | None = None  # reference: the solver's own clock, without the build and cvxpy's compilation
    # unlimited setting: the exact neighbourhood search's steps, proven steps and improving steps (None: none ran)
    neighbourhood_search: dict | None = None

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
            "unlimited": bool(self.unlimited),
            "method": self.method,
            "solver": self.solver,
            "skipped_hours": [str(h) for h in self.skipped_hours],
            "neighbourhood_search": self.neighbourhood_search,
        }


def changes_between(problem: PhaseBalanceProblem, assignment: np.ndarray) -> list[PhaseChange]:
    """The junctions whose phase in ``assignment`` differs from the current one."""
    moved = np.flatnonzero(np.asarray(assignment) != problem.initial_phase)
    return [
        PhaseChange(str(problem.junctions[j]), PHASES[problem.initial_phase[j]], PHASES[assignment[j]]) for j in moved
    ]


def neighbourhood_text(counts: dict) -> str:
    """One line on what an unlimited solve's neighbourhood search did (``PhaseBalanceResult.neighbourhood_search``)."""
    return (f"{counts['steps']} random sets of junctions re-optimized with the rest fixed "
            f"({counts['proven']} proven, {counts['improved']} improved the assignment)")


UNLIMITED = "all"


def parse_max_changes(text) -> int | str:
    """``--max-changes``: a whole number, or ``all`` (every junction free to move). Anything else: ValueError."""
    if isinstance(text, str) and text.strip().lower() == UNLIMITED:
        return UNLIMITED
    try:
        return int(text)
    except (TypeError, ValueError):
        raise ValueError(f"expected a whole number of changes or 'all', got {text!r}") from None


def resolve_max_changes(value: int | str, problem: PhaseBalanceProblem) -> int:
    """The K to solve for: ``all`` is the number of junctions (no cap binds)."""
    return problem.n_junctions if value == UNLIMITED else int(value)


def fewest_changes_relabeling(initial_phase: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """Of the 6 relabelings of the phases of ``assignment`` (same imbalance: the metric is symmetric in the
    phases), the one with the fewest changes from ``initial_phase`` (the assignment itself on a tie)."""
    assignment = np.asarray(assignment)
    best, best_changes = assignment, int(np.count_nonzero(assignment != initial_phase))
    for perm in ((0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        relabeled = np.asarray(perm)[assignment]
        changes = int(np.count_nonzero(relabeled != initial_phase))
        if changes < best_changes:
            best, best_changes = relabeled, changes
    return best
