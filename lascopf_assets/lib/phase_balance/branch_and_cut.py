"""Single-tree branch and cut in SCIP: the master's cuts are generated as the tree needs them.

The same model as :mod:`~lascopf_assets.lib.phase_balance.master` (move binaries
``y``, one ``theta`` per term: a group of hours and a phase), but instead of re-solving the master
after each round of cuts, a SCIP constraint handler checks every integral
candidate: it evaluates the true term values ``f_{g,p}`` at the candidate and, for
each term with ``theta_{g,p} < f_{g,p}``, adds the cut that is tight there. It also separates
fractional LP points the same way (``separate_fractional``): ``f_{g,p}`` is convex in ``y``, so the
row tight at a fractional ``y`` is a subgradient row, valid at every point; with it each node's bound
approaches the minimum of the true (convex) terms over the node instead of that of the rows made at
integral points. SCIP's branch-and-bound tree is built once.

What SCIP may deduce without seeing every row. The handler declares locks (``theta`` down, ``y`` both
ways), so no reduction that reads locks (dual fixing) can move a variable the missing rows constrain, and
presolvers that need the whole matrix skip a problem with a constraint handler they cannot read. Weak dual
reductions are allowed: they discard only points no better than the incumbent, judged on the node's LP,
which is a relaxation (every row, made at an integral candidate or at a fractional point, is valid), so
reduced-cost fixing and objective propagation are sound. Strong dual reductions (they may discard optima
and keep one, such as SCIP's symmetry handling) stay off: our own symmetry breaking is
:meth:`~.exact.ExactPhaseBalancer.symmetry_breaking`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyscipopt
from pyscipopt import SCIP_RESULT, Conshdlr

from lascopf_assets.lib.solver_status import SolverOutcome, from_raw

FRACTIONAL_CUT_TOL = 1e-4
"""A fractional LP point is cut where a term exceeds its ``theta`` by more than this (relative to max(1, term)).
Measured on the demo zone's K = 7: 1e-2 took 72 s to the proof, 1e-4 43-55 s."""


@dataclass
class BranchAndCutOutcome:
    outcome: SolverOutcome  # SCIP's status, mapped (optimal, time_limit, or error with SCIP's words)
    bound: float
    best_y: np.ndarray | None
    n_cuts: int  # rows made at integral candidates
    n_nodes: int
    n_fractional_cuts: int = 0  # rows made at fractional LP points


class _TermCuts(Conshdlr):
    def __init__(self, oracle, y_vars, theta_vars, tol_rel: float) -> None:
        super().__init__()
        self.oracle = oracle
        self.y_vars = y_vars
        self.theta_vars = theta_vars
        self.tol_rel = tol_rel
        self.n_cuts = 0
        self.n_fractional_cuts = 0
        self._term_values: dict[bytes, np.ndarray] = {}

    def _values(self, sol):
        m = self.model
        y = np.array([m.getSolVal(sol, v) for v in self.y_vars])
        theta = np.array([m.getSolVal(sol, v) for v in self.theta_vars])
        return y, theta

    def _violated_terms(self, y, theta):
        """Terms whose theta underestimates f_{g,p} at integral y (None if y is fractional)."""
        if np.any(np.abs(y - np.round(y)) > 1e-6):
            return None, None
        y = np.round(y).astype(np.int8)
        key = y.tobytes()
        values = self._term_values.get(key)
        x = self.oracle.to_assignment(y)
        if values is None:
            values = self.oracle.term_values(x)
            if len(self._term_values) < 200_000:
                self._term_values[key] = values
            self.oracle.offer(x, float(values.sum()))
        return np.flatnonzero(values - theta > self.tol_rel * np.maximum(1.0, values)), x

    def conscheck(self, constraints, solution, checkintegrality, checklprows, printreason, completely, **kw):
        y, theta = self._values(solution)
        viol, _ = self._violated_terms(y, theta)
        if viol is not None and len(viol):
            return {"result": SCIP_RESULT.INFEASIBLE}
        return {"result": SCIP_RESULT.FEASIBLE}

    def _enforce(self):
        y, theta = self._values(None)
        viol, x = self._violated_terms(y, theta)
        if viol is None or len(viol) == 0:
            return {"result": SCIP_RESULT.FEASIBLE}
        coef, const, _ = self.oracle.cuts_at(x)
        q = pyscipopt.quicksum
        for g in viol:
            nz = np.flatnonzero(coef[g])
            self.model.addCons(
                self.theta_vars[int(g)] - q(float(coef[g, i]) * self.y_vars[i] for i in nz) >= float(const[g]),
                removable=False,
            )
        self.n_cuts += len(viol)
        return {"result": SCIP_RESULT.CONSADDED}

    def conssepalp(self, constraints, nusefulconss, **kw):
        """Rows tight at the LP point, for the terms it underestimates by more than ``FRACTIONAL_CUT_TOL``."""
        y, theta = self._values(None)
        terms, coef, const = self.oracle.violated_cuts_at_moves(y, theta, FRACTIONAL_CUT_TOL)
        if not len(terms):
            return {"result": SCIP_RESULT.DIDNOTFIND}
        m = self.model
        for term, row_coef, c in zip(terms.tolist(), (-coef).tolist(), const.tolist()):
            row = m.createEmptyRowUnspec(name="fc", lhs=c, rhs=None, local=False, removable=True)
            m.cacheRowExtensions(row)
            m.addVarToRow(row, self.theta_vars[term], 1.0)
            for var, a in zip(self.y_vars, row_coef):
                if a != 0.0:
                    m.addVarToRow(row, var, a)
            m.flushRowExtensions(row)
            m.addCut(row, forcecut=True)
            m.releaseRow(row)
        self.n_fractional_cuts += len(terms)
        return {"result": SCIP_RESULT.SEPARATED}

    def consenfolp(self, constraints, nusefulconss, solinfeasible, **kw):
        return self._enforce()

    def consenfops(self, constraints, nusefulconss, solinfeasible, objinfeasible, **kw):
        return self._enforce()

    def conslock(self, constraint, locktype, nlockspos, nlocksneg, **kw):
        for v in self.theta_vars:
            self.model.addVarLocks(v, nlockspos, nlocksneg)
        for v in self.y_vars:
            self.model.addVarLocks(v, nlockspos + nlocksneg, nlockspos + nlocksneg)


def set_scip_params(m: pyscipopt.Model, params: dict | None) -> None:
    """Set SCIP parameters by name; an unknown name or a wrong value is a ValueError naming it."""
    for name, value in (params or {}).items():
        try:
            m.setParam(name, value)
        except (KeyError, LookupError, TypeError, ValueError) as exc:
            raise ValueError(f"SCIP refuses parameter {name}={value!r}: {exc}") from None


def check_scip_params(params: dict | None) -> None:
    """Raise ValueError now, not at the first solve, if SCIP refuses any of ``params``."""
    if params:
        set_scip_params(pyscipopt.Model(), params)


def branch_and_cut(oracle, max_changes: int, initial_cuts, start_y, start_theta, time_limit: float,
                   gap_tolerance: float, tol_rel: float = 1e-7, params: dict | None = None,
                   fixed_zero=(), separate_fractional: bool = True, fixed_one=()) -> BranchAndCutOutcome:
    """Solve ``min sum theta`` with lazily generated cuts.

    ``oracle`` provides ``n_terms``, ``move_junction``, ``to_assignment(y)``,
    ``term_values(x)``, ``cuts_at(x) -> (coef, const, values)`` and
    ``offer(x, value)`` (records incumbents);
    ``initial_cuts`` is a list of ``(terms, coef, const)``; ``params``: SCIP parameters set last
    (they override the ones below); ``fixed_zero``, ``fixed_one``: moves fixed to 0 (symmetry breaking) or 1
    (junctions kept on a phase other than their own); ``start_y`` must respect them;
    ``separate_fractional``: cut fractional LP points too (one round per node, every node), not only integral ones.
    """
    m = pyscipopt.Model()
    m.hideOutput()
    m.setParam("misc/allowstrongdualreds", False)
    # Weak dual reductions on (the module docstring says why they are sound here): reduced-cost fixing on
    # the node LPs. Measured over the proofs that take over 1 s (demo zone K = 6, 7; three synthetic 40 x 8760
    # instances K = 6..9; the LV feeder 1-minute K = 4, 5; 11 solves): 56,045 nodes and 130 s in all, against
    # 61,497 nodes and 141 s with them off (the demo's K = 7 21,392 nodes against 26,053).
    m.setParam("misc/allowweakdualreds", True)
    m.setParam("limits/time", max(float(time_limit), 0.01))
    m.setParam("limits/gap", gap_tolerance)
    m.setParam("limits/absgap", 1e-9)
    # Measured on 40 junctions x 8760 h, K=5: SCIP's primal heuristics only propose candidates the
    # Python handler must evaluate, and cMIR cuts on the dense term rows cost more than they
    # prune; with both off the proof took 7 s instead of 23 s (the local-search incumbent is given).
    m.setSeparating(pyscipopt.SCIP_PARAMSETTING.OFF)
    m.setHeuristics(pyscipopt.SCIP_PARAMSETTING.OFF)
    # Propagating the term cuts (dense linear rows in a theta and every move) fixes almost nothing, and it
    # costs at every node. Measured with propagation off vs on (one theta per group of hours, before the
    # per-phase terms):
    # - IEEE European LV 1-minute, K = 5, 200 groups: proven in 39 s instead of 57 s;
    # - the same LV, K = 0..4 with 12 groups: 23 s instead of 29 s;
    # - the demo zone, K = 0..6: 7.2 s instead of 7.6 s; synthetic 40 x 8760, K = 6: 2.4 s instead of 2.7 s.
    # The one-move-per-junction rows keep their propagation, and so does the cardinality row unless the loads
    # are spiky (exact.SPIKY_SCIP_PARAMS). Switching off conflict analysis
    # as well made the demo's K = 6 take 15 s instead of 7.6 s.
    m.setParam("constraints/linear/propfreq", -1)
    if separate_fractional:
        # One round of term cuts per node (the root: until none is violated). Measured on the demo zone
        # (40 x 8760, 4 groups), K = 7 after K = 0..6: SCIP's default rounds took 1,266 nodes in 60 s
        # to a bound of 168.8, one round 7,017 nodes to 168.1, and one round proved it in 43-55 s.
        m.setParam("separating/maxrounds", 1)
    set_scip_params(m, params)
    q = pyscipopt.quicksum
    n_moves = len(oracle.move_junction)
    zero, one = set(int(i) for i in fixed_zero), set(int(i) for i in fixed_one)
    y = [m.addVar(vtype="B", name=f"y{i}", lb=1.0 if i in one else 0.0, ub=0.0 if i in zero else 1.0)
         for i in range(n_moves)]
    theta = [m.addVar(lb=0.0, obj=1.0, name=f"theta{i}") for i in range(oracle.n_terms)]
    for j in np.unique(oracle.move_junction):
        m.addCons(q(y[i] for i in np.flatnonzero(oracle.move_junction == j)) <= 1)
    m.addCons(q(y) <= max_changes)
    for terms, coef, const in initial_cuts:
        for i, row, c in zip(terms, coef, const):
            nz = np.flatnonzero(row)
            m.addCons(theta[int(i)] - q(float(row[i]) * y[i] for i in nz) >= float(c))
    handler = _TermCuts(oracle, y, theta, tol_rel)
    m.includeConshdlr(handler, "termcuts", "term cuts (hour group, phase)", chckpriority=-10, enfopriority=-10,
                      needscons=True, sepafreq=1 if separate_fractional else -1)
    cons = m.createCons(handler, "termcuts")
    m.addPyCons(cons)
    if start_y is not None:
        sol = m.createSol()
        for v, val in zip(y, start_y):
            m.setSolVal(sol, v, float(val))
        for v, val in zip(theta, start_theta):
            m.setSolVal(sol, v, float(val))
        m.addSol(sol, free=True)
    m.optimize()
    outcome = from_raw("SCIP", m.getStatus())
    best_y = None
    if m.getNSols() > 0:
        best = m.getBestSol()
        best_y = np.round([m.getSolVal(best, v) for v in y]).astype(np.int64)
    # Valid: every row is a lower bound on some f_g, so (y*, f(y*)) of an optimum y* is feasible in
    # the master and accepted by the handler; hence SCIP's dual bound <= f(y*). (Accepted candidates
    # may undershoot f_g by tol_rel; the caller reports true objective values, not SCIP's.)
    bound = m.getDualbound()
    bound = max(0.0, bound if math.isfinite(bound) else 0.0)
    return BranchAndCutOutcome(outcome, bound, best_y, handler.n_cuts, int(m.getNNodes()), handler.n_fractional_cuts)
