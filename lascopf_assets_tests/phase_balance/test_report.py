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
