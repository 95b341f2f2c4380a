"""LASCOPF solver failures: ``error`` with the solver's own words (Clarabel, HiGHS, screening, ADMM)."""

from __future__ import annotations

import json

import cvxpy as cp
import pytest

from lascopf_assets.cli import main
from lascopf_assets.lib.lascopf import solve_lascopf
from lascopf_assets.lib.lascopf.admm import solve_lascopf_admm
from lascopf_assets.lib.network import read_legacy_case

from .conftest import with_scaled_ratings


@pytest.fixture(scope="module")
def case14(legacy_dir):
    return read_legacy_case(legacy_dir / "14")


@pytest.fixture(scope="module")
def tight14(case14):
    """Ratings at 70 % of the worst unconstrained post-contingency flow: screening needs several rounds."""
    free = solve_lascopf(case14, contingencies="all")
    return with_scaled_ratings(case14, 0.7 * free.max_post_contingency_loading)


def _assert_error_without_tables(result, reason):
    assert result.status == "error"
    assert result.reason == reason
    assert result.objective is None and result.generator_dispatch.empty and result.lmps.empty
    summary = result.summary()
    assert summary.loc[0, "status"] == "error" and summary.loc[0, "reason"] == reason


def test_clarabel_iteration_limit_is_an_error(case14):
    result = solve_lascopf(case14, solver_options={"max_iter": 1})
    _assert_error_without_tables(result, "Clarabel status 'MaxIterations' (cvxpy status 'user_limit')")


def test_highs_iteration_limit_is_an_error(case14):
    assert solve_lascopf(case14, solver=cp.HIGHS).status == "optimal"  # HiGHS solves this QP when left alone
    result = solve_lascopf(case14, solver=cp.HIGHS, solver_options={"simplex_iteration_limit": 0, "qp_iteration_limit": 0})
    _assert_error_without_tables(result, "HiGHS status 'IterationLimit' (cvxpy status 'user_limit')")


def test_highs_not_set_is_an_error_with_its_status(case14):
    x = cp.Variable(2)
    cp.Problem(cp.Minimize(cp.sum(x)), [x >= 1]).solve(solver=cp.HIGHS)  # sizes HiGHS's scheduler
    result = solve_lascopf(case14, solver=cp.HIGHS, solver_options={"threads": 64})
    assert result.status == "error"
    assert result.reason.startswith("HiGHS status 'Notset'; HiGHS failed: Solver 'HIGHS' failed.")


def test_screening_iteration_limit_is_an_error_naming_the_rows_left(tight14):
    full = solve_lascopf(tight14, contingencies="all")
    assert full.status == "optimal" and full.iterations >= 2
    cut = solve_lascopf(tight14, contingencies="all", max_iterations=1)
    assert cut.status == "error"
    assert cut.reason.startswith("screening stopped at its iteration limit (1) with ")
    assert cut.reason.endswith(" violated rows left") and " 0 violated" not in cut.reason


def test_admm_iteration_limit_is_an_error_with_residuals(tight14):
    result = solve_lascopf_admm(tight14, contingencies="all", groups=4, max_iterations=3)
    assert result.status == "error" and result.objective is None
    assert result.reason.startswith("ADMM stopped at its iteration limit (3): primal residual ")
    assert result.iterations == 3


def test_infeasible_stays_infeasible_with_clarabel_words(legacy_dir):
    net = read_legacy_case(legacy_dir / "5")  # infeasible under its marked N-1 set (test_solver.py)
    result = solve_lascopf(net, contingencies="marked")
    assert result.status == "infeasible" and "outage of L1" in result.cause
    assert result.reason == "Clarabel status 'PrimalInfeasible'"


def test_cli_error_json_has_reason_and_exit_1(capsys, legacy_dir):
    code = main(["dispatch", str(legacy_dir / "14"), "--solver-option", "max_iter=1", "--json"])
    out, _ = capsys.readouterr()
    data = json.loads(out)
    assert code == 1
    assert data["status"] == "error" and data["objective"] is None
    assert data["reason"] == "Clarabel status 'MaxIterations' (cvxpy status 'user_limit')"


def test_cli_refuses_an_unknown_solver_setting_in_one_line(capsys, legacy_dir):
    code = main(["dispatch", str(legacy_dir / "14"), "--solver-option", "bogus=1"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.strip() == (
        "lascopf dispatch: error: Clarabel refuses the options {'bogus': 1}: Clarabel: unrecognized solver setting 'bogus'."
    )
