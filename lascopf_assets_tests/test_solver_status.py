"""The status vocabulary: each solver's own statuses map explicitly; anything unknown is an error."""

import cvxpy as cp
import pytest

from lascopf_assets.lib.solver_status import (
    ERROR,
    INFEASIBLE,
    OPTIMAL,
    TIME_LIMIT,
    from_raw,
    option_value,
    parse_options,
    raw_cvxpy_status,
    solve_cvxpy,
)


@pytest.mark.parametrize("solver,raw,status", [
    ("HIGHS", "Optimal", OPTIMAL), ("HIGHS", "TimeLimit", TIME_LIMIT), ("HIGHS", "Infeasible", INFEASIBLE),
    ("HIGHS", "Notset", ERROR), ("HIGHS", "IterationLimit", ERROR), ("HIGHS", "SolutionLimit", ERROR),
    ("HIGHS", "UnboundedOrInfeasible", ERROR), ("HIGHS", "Interrupt", ERROR), ("HIGHS", "SolveError", ERROR),
    ("SCIP", "optimal", OPTIMAL), ("SCIP", "gaplimit", OPTIMAL), ("SCIP", "timelimit", TIME_LIMIT),
    ("SCIP", "infeasible", INFEASIBLE), ("SCIP", "nodelimit", ERROR), ("SCIP", "userinterrupt", ERROR),
    ("SCIP", "memlimit", ERROR), ("SCIP", "unknown", ERROR),
    ("CLARABEL", "Solved", OPTIMAL), ("CLARABEL", "AlmostSolved", OPTIMAL), ("CLARABEL", "MaxTime", TIME_LIMIT),
    ("CLARABEL", "PrimalInfeasible", INFEASIBLE), ("CLARABEL", "MaxIterations", ERROR),
    ("CLARABEL", "InsufficientProgress", ERROR), ("CLARABEL", "NumericalError", ERROR),
    ("CLARABEL", "DualInfeasible", ERROR), ("CLARABEL", "SomethingNew", ERROR),
])
def test_each_raw_status_maps_explicitly(solver, raw, status):
    outcome = from_raw(solver, raw)
    assert outcome.status == status
    if status != OPTIMAL or raw not in ("Optimal", "optimal", "Solved"):
        assert repr(raw) in outcome.reason  # the solver's own word is kept


def test_plain_optimal_has_no_reason():
    assert from_raw("SCIP", "optimal").reason is None and from_raw("HIGHS", "Optimal").reason is None


@pytest.mark.parametrize("solver,raw", [(cp.HIGHS, "Infeasible"), (cp.CLARABEL, "PrimalInfeasible"),
                                        (cp.SCIP, "infeasible")])
def test_raw_status_read_back_from_a_real_cvxpy_solve(solver, raw):
    x = cp.Variable(2, integer=solver == cp.SCIP)
    objective = cp.sum_squares(x) if solver == cp.CLARABEL else cp.sum(x)
    problem = cp.Problem(cp.Minimize(objective), [x >= 1, x <= 0])
    outcome = solve_cvxpy(problem, solver)
    assert raw_cvxpy_status(problem, solver) == raw
    assert outcome.status == INFEASIBLE


def test_option_values_from_text():
    assert [option_value(v) for v in ("1", "2.5", "true", "False", "off", " 3 ")] == [1, 2.5, True, False, "off", 3]
    assert parse_options({"limits/nodes": "10", " presolve ": "off"}) == {"limits/nodes": 10, "presolve": "off"}
