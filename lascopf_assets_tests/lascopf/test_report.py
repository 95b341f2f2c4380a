"""The dispatch report reads without the code at hand: rounded values with units, labels, grouped bindings."""

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from lascopf_assets.lib.lascopf import solve_lascopf
from lascopf_assets.lib.lascopf.report import (
    dispatch_report_html,
    grouped_binding,
    interval_ranges,
    unrated_branches,
    write_dispatch_report,
)
from lascopf_assets.lib.network import read_case
from lascopf_assets.lib.powersystems import RatingSpec, apply_ramp_fraction, apply_ratings

HOURS = pd.date_range("2023-01-02", periods=24, freq="h", tz="UTC")
NOTES = {"ramp_fraction_of_pmax": 0.2, "rating_mode": "uniform", "branches_rated": 20, "contingencies": "all",
         "export": "/data/exports/powersystems/2023-01-02"}


@pytest.fixture(scope="module")
def day():
    """case14 over a day at 100 MW ratings: L1 and L2 bind each other's outage in 18 of the 24 hours, in three runs."""
    net = read_case("case14")
    loads = net.case_loads(24) * (0.9 + 0.6 * np.sin(np.linspace(0, 4 * np.pi, 24)))[None, :]
    net = apply_ramp_fraction(net, 0.2)
    net, _ = apply_ratings(net, loads, RatingSpec("uniform", uniform_mw=100.0))
    result = solve_lascopf(net, loads, contingencies="all")
    assert result.status == "optimal"
    return result, loads


def _text(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", page, flags=re.S))


def test_interval_ranges_are_runs_of_interval_starts():
    assert interval_ranges([2, 3, 4, 5, 6, 10], HOURS) == "01:00-05:00, 09:00"
    assert interval_ranges([10, 2, 3, 3]) == "2-3, 10"


def test_binding_contingencies_are_grouped_by_outage_and_branch(day):
    result, loads = day
    raw = result.binding_contingencies
    grouped = grouped_binding(result, HOURS)
    assert len(raw) > len(grouped) == raw.groupby(["outaged_branch", "monitored_branch"]).ngroups
    assert grouped["n"].sum() == len(raw)
    page = dispatch_report_html(result, "day", loads, NOTES, HOURS)
    binding = page.split("<h2>Binding contingencies</h2>")[1].split("<h2>")[0]
    assert binding.count("<tr>") == len(grouped) + 1  # header + one row per (outage, branch)
    for r in grouped.itertuples():
        assert f"<td>{r.outaged_branch}</td><td>{r.monitored_branch}</td><td class='times'>{r.intervals}</td>" in binding
    assert "<td class='times'>00:00-06:00, 10:00-18:00, 22:00-23:00</td>" in binding


def test_values_are_rounded_with_units_and_labels_are_words(day):
    result, loads = day
    page = dispatch_report_html(result, "day", loads, NOTES, HOURS)
    text = _text(page)
    assert not re.search(r"\d+\.\d{6,}", text), re.findall(r"\d+\.\d{6,}", text)[:3]
    assert f"${result.objective:,.2f}" in text and f"{result.solve_seconds:,.2f} s" in text
    assert "% of rating" in text and "MW" in text and "$/MWh" in text and "20 % of Pmax per interval" in text
    assert "20 of 20" in text  # branches rated
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), re.findall(r"\b[a-z]+_[a-z_]+\b", text)[:5]
    assert "<th>cause</th>" not in page and "<th>solver said</th>" not in page  # no empty rows
    assert "<td></td>" not in page


def test_text_left_numbers_right(day):
    result, loads = day
    page = dispatch_report_html(result, "day", loads, NOTES, HOURS)
    assert "text-align:left" in page and "td.num,th.num{text-align:right" in page
    assert f"<th>objective (total cost)</th><td class='num'>${result.objective:,.2f}</td>" in page
    assert "<th>method</th><td>screening</td>" in page
    assert re.search(r"<td>L\d+</td><td>L\d+</td><td class='times'>[0-9:, -]+</td><td class='num'>\d+</td>", page)


def test_unrated_caption_only_when_branches_are_unrated(day):
    result, loads = day
    page = dispatch_report_html(result, "day", loads, NOTES, HOURS)
    assert unrated_branches(result) == [] and "unrated" not in page and "no rating" not in page
    flows = result.branch_flows.copy()
    flows.loc[flows["branch"].isin(["L3", "L7"]), "rate_mw"] = np.inf
    flows.loc[flows["branch"].isin(["L3", "L7"]), ["loading", "post_loading"]] = np.nan
    with_unrated = dataclasses.replace(result, branch_flows=flows)
    assert unrated_branches(with_unrated) == ["L3", "L7"]
    page = dispatch_report_html(with_unrated, "day", loads, NOTES, HOURS)
    assert "2 branches have no rating (L3, L7) and show as 0." in page


def test_a_failed_day_states_its_cause_once_and_has_no_figures(tmp_path, day):
    result, loads = day
    failed = dataclasses.replace(
        result, status="infeasible", objective=None, cause="base-case flow limits cannot be met",
        reason="Clarabel status 'PrimalInfeasible'", generator_dispatch=pd.DataFrame(), branch_flows=pd.DataFrame(),
        lmps=pd.DataFrame(), binding_contingencies=pd.DataFrame(),
    )
    path = write_dispatch_report(failed, tmp_path / "r.html", "day", loads, NOTES, HOURS)
    page = path.read_text()
    assert "status infeasible: base-case flow limits cannot be met" in page
    assert "<th>cause</th><td>base-case flow limits cannot be met</td>" in page
    assert "<th>solver said</th><td>Clarabel status &#x27;PrimalInfeasible&#x27;</td>" in page
    assert "objective" not in page and "data:image/png" not in page
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_corrective_report_shows_the_worst_outages_trajectories(tmp_path):
    from lascopf_assets.lib.lascopf.report import worst_outages

    net = read_case("case14")
    loads = net.case_loads(24) * (0.9 + 0.6 * np.sin(np.linspace(0, 4 * np.pi, 24)))[None, :]
    net = apply_ramp_fraction(net, 0.2)
    net, _ = apply_ratings(net, loads, RatingSpec("uniform", uniform_mw=100.0))
    result = solve_lascopf(net, loads, contingencies="all", security="corrective", restore_intervals=2)
    assert result.status == "optimal" and not result.trajectory_flows.empty
    worst = worst_outages(result, 4)
    assert len(worst) == 4 and worst["peak"].is_monotonic_decreasing
    assert (worst["peak"] > 1).all() and (worst["peak"] <= worst["emergency"] + 1e-6).all() and (worst["end"] <= 1 + 1e-6).all()
    page = write_dispatch_report(result, tmp_path / "c.html", "day", loads, NOTES, HOURS).read_text()
    assert page.count("data:image/png;base64,") == 4  # dispatch, loadings, LMPs, restoration
    section = page.split("<h2>Corrective restoration (worst outages)</h2>")[1].split("<h2>")[0]
    first = worst.iloc[0]
    assert f"<td>{first.outaged_branch}</td><td>{HOURS[first.interval - 1]:%H:%M}</td><td>{first.monitored_branch}</td>" in section
    assert "<th>restoration</th><td class='num'>2 steps of 15 min</td>" in page
    text = _text(page)
    assert "% of emergency rating" in text and not re.search(r"\d+\.\d{6,}", text)
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), re.findall(r"\b[a-z]+_[a-z_]+\b", text)[:5]
