"""ADMM across contingency scenarios: within 0.1 % of the exact centralized optimum."""

from __future__ import annotations

import numpy as np
import pytest

from lascopf_assets.lib.lascopf import solve_lascopf
from lascopf_assets.lib.lascopf.admm import solve_lascopf_admm
from lascopf_assets.lib.network import read_legacy_case

from .conftest import with_scaled_ratings


@pytest.mark.parametrize("n", [14, 30, 48, 57, 118, 300])
def test_admm_matches_central_on_legacy_cases(legacy_dir, n):
    net = read_legacy_case(legacy_dir / str(n))
    central = solve_lascopf(net, contingencies="marked")
    admm = solve_lascopf_admm(net, contingencies="marked")
    assert admm.status == central.status == "optimal"
    assert admm.objective == pytest.approx(central.objective, rel=1e-3)
    assert admm.iterations == len(admm.history) >= 1


@pytest.fixture(scope="module")
def tight14(legacy_dir):
    net = read_legacy_case(legacy_dir / "14")
    free = solve_lascopf(net, contingencies="all")
    net = with_scaled_ratings(net, 0.7 * free.max_post_contingency_loading)
    return net, solve_lascopf(net, contingencies="all")


def test_admm_converges_with_binding_contingencies(tight14):
    net, central = tight14
    assert len(central.binding_contingencies) > 0
    admm = solve_lascopf_admm(net, contingencies="all", groups=4)
    assert admm.status == "optimal"
    assert admm.objective == pytest.approx(central.objective, rel=1e-3)
    hist = admm.history
    assert admm.iterations > 10  # the consensus really had to be negotiated
    assert hist["primal_residual"].iloc[-1] < 1e-3 < hist["primal_residual"].iloc[0]
    # the unsecured start is cheaper; ADMM climbs to the secured optimum
    assert hist["objective"].iloc[0] < central.objective * (1 - 1e-3)
    np.testing.assert_allclose(
        admm.dispatch_matrix().to_numpy(), central.dispatch_matrix().to_numpy(), atol=0.05
    )
    assert admm.max_post_contingency_loading <= 1 + 1e-3


def test_admm_parallel_processes_give_the_same_answer(tight14):
    net, central = tight14
    serial = solve_lascopf_admm(net, contingencies="all", groups=4, workers=1)
    parallel = solve_lascopf_admm(net, contingencies="all", groups=4, workers=2)
    assert parallel.status == "optimal"
    assert parallel.iterations == serial.iterations
    assert parallel.objective == pytest.approx(serial.objective, rel=1e-7)
    assert parallel.objective == pytest.approx(central.objective, rel=1e-3)


def test_admm_reports_infeasible(legacy_dir):
    net = read_legacy_case(legacy_dir / "5")
    res = solve_lascopf_admm(net, contingencies="marked")
    assert res.status == "infeasible" and res.objective is None
    assert "outage" in res.cause
