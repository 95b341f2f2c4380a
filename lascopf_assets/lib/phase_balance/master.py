"""The master MILP of the exact method, built through the solvers' own APIs.

Variables: one binary ``y[m]`` per move (junction ``j`` to one of its two
other phases) and one continuous ``theta[i] >= 0`` per term (a group of hours and a phase).
Rows: at most one move per junction, at most ``K`` moves, and cuts
``theta[i] >= const + coef @ y`` added over the iterations. The objective is
``sum_i theta[i]``. Built through ``highspy`` with rows passed as CSR arrays and
re-solved after each round of cuts (HiGHS has no lazy-constraint callback; the
SCIP path is the single-tree :mod:`~lascopf_assets.lib.phase_balance.branch_and_cut`).

Threads: the master leaves HiGHS's ``threads`` option alone. HiGHS keeps one global task
scheduler per process, sized by the first model that runs; a later model that asks for another
thread count does not solve at all (model status ``Not Set``, "the scheduler has already been
initialized"). Whatever ran first in the process (cvxpy's HiGHS, another master) decides, and
HiGHS's warnings and errors are kept as the outcome's reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lascopf_assets.lib.solver_status import OPTIMAL, SolverOutcome, highs_outcome, quiet_highs_banner


@dataclass
class MasterSolution:
    outcome: SolverOutcome  # what HiGHS said (optimal within the requested gap, time limit, error)
    has_solution: bool
    objective: float
    bound: float  # valid lower bound on the master (and so on the true problem)
    y: np.ndarray | None
    theta: np.ndarray | None = None

    @property
    def solved(self) -> bool:
        return self.outcome.status == OPTIMAL


def set_highs_options(h, options: dict | None, messages: list[str]) -> None:
    """Set HiGHS options by name (``messages``: where ``h`` logs); a refused one is a ValueError with HiGHS's words."""
    import highspy

    for name, value in (options or {}).items():
        if h.setOptionValue(name, value) != highspy.HighsStatus.kOk:
            raise ValueError(f"HiGHS refuses option {name}={value!r}: {' '.join(messages).strip()}")


def logged_highs(serious_only: bool):
    """A ``highspy.Highs`` that logs through a callback only, and the list its messages go to.

    ``serious_only``: keep warnings and errors (a solve's reason), not the informational lines.
    """
    import highspy

    quiet_highs_banner()
    h = highspy.Highs()
    h.setOptionValue("log_to_console", False)
    messages: list[str] = []
    serious = (highspy.HighsLogType.kWarning, highspy.HighsLogType.kError)
    h.cbLogging += lambda e: messages.append(e.message) if not serious_only or e.data_out.log_type in serious else None
    return h, messages


def check_highs_options(options: dict | None) -> None:
    """Raise ValueError now, not at the first solve, if HiGHS refuses any of ``options``."""
    if options:
        h, messages = logged_highs(serious_only=False)
        set_highs_options(h, options, messages)


class _Master:
    def __init__(self, move_junction: np.ndarray, n_terms: int, max_changes: int) -> None:
        self.n_moves = len(move_junction)
        self.n_terms = n_terms
        self.move_junction = np.asarray(move_junction)
        self.n_cuts = 0

    def add_cuts(self, terms: np.ndarray, coef: np.ndarray, const: np.ndarray) -> None:
        raise NotImplementedError

    def set_max_changes(self, max_changes: int) -> None:
        raise NotImplementedError

    def fix_moves(self, zero: np.ndarray, one: np.ndarray) -> None:
        """Fix the moves ``zero`` to 0 and ``one`` to 1; every other move is free again."""
        raise NotImplementedError

    def solve(self, time_limit: float, rel_gap: float, start: np.ndarray | None,
              start_theta: np.ndarray | None) -> MasterSolution:
        raise NotImplementedError


class HighsMaster(_Master):
    def __init__(self, move_junction, n_terms, max_changes, options: dict | None = None) -> None:
        import highspy

        super().__init__(move_junction, n_terms, max_changes)
        self._hs = highspy
        h, self._messages = logged_highs(serious_only=True)  # warnings and errors become the outcome's reason
        set_highs_options(h, options, self._messages)
        inf = highspy.kHighsInf
        n = self.n_moves + n_terms
        h.addVars(n, np.zeros(n), np.concatenate([np.ones(self.n_moves), np.full(n_terms, inf)]))
        idx = np.arange(n, dtype=np.int32)
        h.changeColsCost(n, idx, np.concatenate([np.zeros(self.n_moves), np.ones(n_terms)]))
        h.changeColsIntegrality(self.n_moves, idx[: self.n_moves],
                                np.array([highspy.HighsVarType.kInteger] * self.n_moves))
        # at most one move per junction
        order = np.argsort(self.move_junction, kind="stable").astype(np.int32)
        n_j = int(self.move_junction.max()) + 1 if self.n_moves else 0
        starts = np.searchsorted(self.move_junction[order], np.arange(n_j)).astype(np.int32)
        if n_j:
            h.addRows(n_j, np.full(n_j, -inf), np.ones(n_j), self.n_moves, starts, order,
                      np.ones(self.n_moves))
        # cardinality row
        self._card_row = n_j
        h.addRows(1, np.array([-inf]), np.array([float(max_changes)]), self.n_moves,
                  np.array([0], dtype=np.int32), np.arange(self.n_moves, dtype=np.int32), np.ones(self.n_moves))
        self._h = h

    def add_cuts(self, terms, coef, const) -> None:
        c = len(terms)
        if c == 0:
            return
        nz = coef != 0
        counts = nz.sum(axis=1) + 1
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
        rows, cols = np.nonzero(nz)
        # row r: theta[i] - coef @ y >= const  (theta first, then the nonzero y entries)
        indices = np.empty(counts.sum(), dtype=np.int32)
        values = np.empty(counts.sum())
        indices[starts] = self.n_moves + np.asarray(terms)
        values[starts] = 1.0
        mask = np.ones(counts.sum(), dtype=bool)
        mask[starts] = False
        indices[mask] = cols
        values[mask] = -coef[rows, cols]
        self._h.addRows(c, np.asarray(const, dtype=np.float64), np.full(c, self._hs.kHighsInf),
                        int(counts.sum()), starts, indices, values)
        self.n_cuts += c

    def set_max_changes(self, max_changes: int) -> None:
        self._h.changeRowBounds(self._card_row, -self._hs.kHighsInf, float(max_changes))

    def fix_moves(self, zero: np.ndarray, one: np.ndarray) -> None:
        lower, upper = np.zeros(self.n_moves), np.ones(self.n_moves)
        upper[np.asarray(zero, dtype=np.int64)] = 0.0
        lower[np.asarray(one, dtype=np.int64)] = 1.0
        self._h.changeColsBounds(self.n_moves, np.arange(self.n_moves, dtype=np.int32), lower, upper)

    def solve(self, time_limit, rel_gap, start, start_theta) -> MasterSolution:
        h = self._h
        h.setOptionValue("time_limit", max(float(time_limit), 0.01))
        h.setOptionValue("mip_rel_gap", rel_gap)
        h.setOptionValue("mip_abs_gap", 1e-9)
        if start is not None:
            vals = np.concatenate([start, start_theta]).astype(np.float64)
            h.setSolution(len(vals), np.arange(len(vals), dtype=np.int32), vals)
        self._messages.clear()
        h.run()
        outcome = highs_outcome(h, self._messages)
        info = h.getInfo()
        has = info.primal_solution_status == 2 or outcome.status == OPTIMAL
        col = np.asarray(h.getSolution().col_value) if has else None
        y = np.round(col[: self.n_moves]).astype(np.int64) if has else None
        theta = col[self.n_moves:] if has else None
        bound = info.mip_dual_bound
        if not math.isfinite(bound):
            bound = 0.0
        return MasterSolution(
            outcome=outcome,
            has_solution=bool(has),
            objective=info.objective_function_value if has else math.inf,
            bound=max(bound, 0.0),
            y=y,
            theta=theta,
        )


def make_master(solver: str, move_junction: np.ndarray, n_terms: int, max_changes: int,
                options: dict | None = None) -> _Master:
    if solver == "highs":
        return HighsMaster(move_junction, n_terms, max_changes, options)
    raise ValueError(f"the iterative master is built with HiGHS only, got {solver!r}")
