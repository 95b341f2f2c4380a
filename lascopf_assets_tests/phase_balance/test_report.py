"""The HTML report is self-contained, holds the study's figures and reads without the code at hand."""

import base64
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from lascopf_assets.lib.phase_balance.exact import tradeoff_curve
from lascopf_assets.lib.phase_balance.generator import generate_instance
from lascopf_assets.lib.phase_balance.problem import PhaseBalanceProblem
from lascopf_assets.lib.phase_balance.report import (
    LATEST_NAME,
    imbalance_figure,
    loads_figure,
    report_file_name,
    write_report,
)


@pytest.fixture(scope="module")
def solved():
    problem = generate_instance(10, 24 * 20, seed=1)
    curve = tradeoff_curve(problem, 3)
    return problem, curve


def _year(problem: PhaseBalanceProblem) -> PhaseBalanceProblem:
    """The problem's 20 days tiled over 2023, hourly."""
    hours = pd.date_range("2023-01-01", "2023-12-31 23:00", freq="h", tz="UTC")
    reps = -(-len(hours) // problem.n_hours)
    loads = np.tile(problem.loads, reps)[:, : len(hours)]
    return PhaseBalanceProblem(loads, problem.initial_phase, problem.junctions, np.asarray(hours.to_pydatetime()))


def test_report_embeds_four_png_figures_and_the_changes(tmp_path, solved):
    problem, curve = solved
    path = write_report(tmp_path / "sub" / "report.html", problem, curve[2], curve)
    text = path.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 4
    for b in images:
        assert base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n"
    for c in curve[2].changes:
        assert f"<td>{c.junction}</td><td>{c.from_phase}</td><td>{c.to_phase}</td>" in text
    assert "src=\"http" not in text and "<script" not in text
    assert f"{curve[2].imbalance:.6g}" in text
    assert not (tmp_path / "sub" / LATEST_NAME).exists()  # only on request


def test_report_states_the_window_and_the_units(tmp_path, solved):
    problem, curve = solved
    text = write_report(tmp_path / "r.html", problem, curve[2], curve).read_text()
    first, last = pd.Timestamp(problem.timestamps[0]), pd.Timestamp(problem.timestamps[-1])
    assert f"{first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M} UTC, 60-minute intervals" in text
    assert "kWh per hour" in text and "% of the mean" in text and "sum of ratios" in text
    assert "no unit" in text  # the objective is said to be a ratio, not left bare
    assert not re.search(r"\bday\b", re.sub(r"<[^>]+>", " ", text).replace("data:image", ""))


def test_time_axis_is_dated_and_a_year_shows_months(solved):
    problem, curve = solved
    year = _year(problem)
    for make in (loads_figure, imbalance_figure):
        fig = make(year, curve[2].assignment)
        fig.canvas.draw()
        bottom = fig.axes[-1] if make is loads_figure else fig.axes[1]
        labels = [t.get_text() for t in bottom.get_xticklabels() if t.get_text()]
        assert "Feb" in labels and "Jun" in labels and "Dec" in labels, labels
        assert bottom.get_xlabel() == "date (UTC), daily means"
        months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
        assert set(labels) <= months | {"2023", "2024"}, labels  # months and the year, no "day 0 .. 365"
        plt.close(fig)


def test_legends_sit_outside_the_plotted_area(solved):
    problem, curve = solved
    for make in (loads_figure, imbalance_figure):
        fig = make(problem, curve[2].assignment)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is None:
                continue
            assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1
        plt.close(fig)


def test_imbalance_axes_are_labelled_with_units(solved):
    problem, curve = solved
    fig = imbalance_figure(problem, curve[2].assignment)
    assert [ax.get_ylabel() for ax in fig.axes] == ["% of the mean", "kWh per hour"]
    plt.close(fig)


def test_report_named_by_feeder_and_window_with_a_latest_copy(tmp_path, solved):
    problem, curve = solved
    name = report_file_name("TR1", "2023-01-01", "2023-12-31")
    assert name == "phase_balancing_TR1_2023-01-01_2023-12-31.html"
    assert report_file_name("sub/st 1", "2023-01-01", "2023-01-02") == "phase_balancing_sub_st_1_2023-01-01_2023-01-02.html"
    older = write_report(tmp_path / report_file_name("TR1", "2022-01-01", "2022-12-31"), problem, curve[0], curve,
                         latest=True)
    newer = write_report(tmp_path / name, problem, curve[2], curve, latest=True)
    latest = tmp_path / LATEST_NAME
    assert latest.read_bytes() == newer.read_bytes() != older.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([older.name, newer.name, LATEST_NAME])  # no temp left


# -- the physics check section (phase_change_impact's table) --------------------------------------------------

def _impact() -> pd.DataFrame:
    """A physics check table as phase_change_impact writes it: before, the recommendation (3 moves), K = 0..3."""
    keys = ["max_vuf_pct", "p95_vuf_pct", "max_neutral_current_a", "losses_kwh", "min_voltage_pu", "converged_steps", "steps"]
    rows = [("before", 0, 0, (1.25, 0.31, 129.9, 5.06, 0.9816, 1440, 1440)),
            ("recommended", 3, 3, (1.12, 0.25, 109.9, 4.76, 0.9871, 1440, 1440)),
            ("curve", 0, 0, (1.25, 0.31, 129.9, 5.06, 0.9816, 1440, 1440)),
            ("curve", 1, 1, (1.25, 0.28, 129.9, 4.95, 0.9817, 1440, 1440)),
            ("curve", 2, 2, (1.24, 0.27, 125.0, 4.91, 0.9817, 1438, 1440)),
            ("curve", 3, 3, (1.12, 0.25, 109.9, 4.76, 0.9871, 1440, 1440))]
    return pd.DataFrame([{"feeder": "lv-tr1", "scenario": s, "k": k, "changes": c, **dict(zip(keys, v))}
                         for s, k, c, v in rows])


def test_physics_before_after_bars_are_the_tables_figures():
    from lascopf_assets.lib.phase_balance.report import impact_before_after_figure

    impact = _impact()
    fig = impact_before_after_figure(impact)
    before, after = impact.iloc[0], impact.iloc[1]
    vuf, neutral, losses = fig.axes
    heights = [[round(b.get_height(), 6) for b in c] for c in vuf.containers]
    assert heights == [[before["max_vuf_pct"], before["p95_vuf_pct"]], [after["max_vuf_pct"], after["p95_vuf_pct"]]]
    assert [c[0].get_height() for c in neutral.containers] == [before["max_neutral_current_a"], after["max_neutral_current_a"]]
    assert [c[0].get_height() for c in losses.containers] == [before["losses_kwh"], after["losses_kwh"]]
    assert [ax.get_ylabel() for ax in fig.axes] == ["VUF (%)", "max |Ia + Ib + Ic| (A)", "losses (kWh)"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["before (loads on their present phases)", "after the 3 recommended changes"]
    plt.close(fig)


def test_physics_against_k_follows_the_curve_and_marks_the_recommendation():
    from lascopf_assets.lib.phase_balance.report import impact_vs_k_figure

    impact = _impact()
    curve = impact[impact["scenario"] == "curve"]
    fig = impact_vs_k_figure(impact)
    vuf, neutral, losses = fig.axes
    lines = {line.get_label(): line for line in vuf.get_lines()}
    assert list(lines["max VUF"].get_xdata()) == [0, 1, 2, 3]
    assert list(lines["max VUF"].get_ydata()) == curve["max_vuf_pct"].tolist()
    assert list(lines["95th percentile VUF"].get_ydata()) == curve["p95_vuf_pct"].tolist()
    assert list(neutral.get_lines()[0].get_ydata()) == curve["max_neutral_current_a"].tolist()
    assert list(losses.get_lines()[0].get_ydata()) == curve["losses_kwh"].tolist()
    for ax in fig.axes:  # the recommendation's 3 moves, on the K axis of every panel
        marks = [line for line in ax.get_lines() if line.get_label() == "recommended: 3 changes"]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == [3, 3]
    plt.close(fig)


def test_physics_legends_sit_below_the_panels():
    from lascopf_assets.lib.phase_balance.report import impact_before_after_figure, impact_vs_k_figure

    for make in (impact_before_after_figure, impact_vs_k_figure):
        fig = make(_impact())
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        legend = fig.legends[0].get_window_extent(renderer)
        for ax in fig.axes:  # below every panel and its tick labels: it covers no data
            assert legend.y1 <= ax.get_tightbbox(renderer).y0 + 1
        plt.close(fig)


def test_the_physics_section_goes_into_a_written_report_once(tmp_path, solved):
    from lascopf_assets.lib.phase_balance.report import add_section, impact_section, unchecked_section

    problem, curve = solved
    path = write_report(tmp_path / "r.html", problem, curve[2], curve, latest=True)
    other = tmp_path / "older.html"
    other.write_text("<html><body><h1>an older window</h1></body></html>")
    plain = path.read_text()
    assert "Physics check" not in plain
    assert add_section(path, impact_section(_impact(), "1,440 steps of 1 min"))
    text = path.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 6 and all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in images)
    assert text.index("Trade-off curve") < text.index("Physics check") < text.index("</body>")
    assert "1,440 steps of 1 min" in text
    table = text[text.index("<th>scenario</th>"):]
    assert "<td>recommended</td><td class='num'>3</td><td class='num'>3</td><td class='num'>1.120</td>" in table
    assert "1438 of 1440" in table  # a step that did not converge is shown, not hidden
    assert (tmp_path / LATEST_NAME).read_text() == text  # latest was this report: refreshed with it
    # a rerun replaces the section; a report that is not the latest leaves latest.html alone
    add_section(path, unchecked_section("no OpenDSS model for feeder TR1"))
    text = path.read_text()
    assert text.count("Physics check") == 1 and "Not checked: no OpenDSS model for feeder TR1." in text
    assert text.replace(unchecked_section("no OpenDSS model for feeder TR1"), "") == plain
    add_section(other, unchecked_section("x"))
    assert (tmp_path / LATEST_NAME).read_text() == text
    assert add_section(tmp_path / "missing.html", "x") is False



def test_an_unlimited_result_says_so_and_what_its_neighbourhood_search_did(tmp_path, solved):
    import dataclasses

    problem, curve = solved
    counts = {"steps": 17, "proven": 15, "improved": 4}
    unlimited = dataclasses.replace(curve[2], unlimited=True, max_changes=problem.n_junctions,
                                    neighbourhood_search=counts)
    text = write_report(tmp_path / "u.html", problem, unlimited, curve).read_text()
    assert f"<td>all {problem.n_junctions} junctions</td>" in text
    assert "17 random sets of junctions re-optimized with the rest fixed (15 proven, 4 improved the assignment)" in text
    plain = write_report(tmp_path / "k.html", problem, curve[2], curve).read_text()
    assert "neighbourhood search" not in plain and "<td>2</td>" in plain
