"""A self-contained HTML report of a phase-balancing result (matplotlib PNGs inlined as base64).

Figures, as in the study: aggregate load per phase before and after with the
average, the imbalance per interval before and after (the metric's ratio, in %
of the mean, and the same deviation in kWh), the share of energy per phase
before and after, and the K trade-off curve (when given). Time axes are the
window's timestamps (UTC dates; a window longer than two weeks plots daily
means); legends sit outside the plotting area so they cover no data.

**Physics check.** Where the feeder has an OpenDSS model, ``phase_change_impact`` runs its
unbalanced power flow before and after the moves and for each K of the curve; its table (one row
per scenario: ``scenario`` = before / recommended / curve, ``k``, ``changes``, and the figures of
:data:`IMPACT_FIGURES`) becomes a section of the report: VUF, neutral current and losses before vs
after the recommendation, and against K along the trade-off curve, with the table.
:func:`add_section` puts such a section into a report already written (replacing the one it held),
so the physics check, which runs after phase balancing, lands in the same file.

:func:`report_file_name` names a report by feeder and window; :func:`write_report`
writes it atomically and, with ``latest=True``, refreshes ``latest.html`` beside it.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lascopf_assets.lib.phase_balance.metric import hourly_imbalance, phase_aggregates  # noqa: E402
from lascopf_assets.lib.phase_balance.problem import PHASES, PhaseBalanceProblem  # noqa: E402
from lascopf_assets.lib.phase_balance.result import PhaseBalanceResult, neighbourhood_text  # noqa: E402

_COLORS = {"A": "#d62728", "B": "#2ca02c", "C": "#1f77b4"}
LATEST_NAME = "latest.html"
_OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "fontsize": 8}
_SMOOTH_AFTER_DAYS = 14  # a longer window plots daily means


def report_file_name(feeder: str, first: str, last: str) -> str:
    """``phase_balancing_<feeder>_<first>_<last>.html`` (the feeder's characters outside ``[A-Za-z0-9.-]`` as ``_``)."""
    safe = re.sub(r"[^A-Za-z0-9.\-]", "_", str(feeder)) or "feeder"
    return f"phase_balancing_{safe}_{first}_{last}.html"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Block means over ``window`` intervals; NaN-aware."""
    if window <= 1:
        return values
    n = len(values) // window * window
    if n == 0:
        return values
    return np.nanmean(values[:n].reshape(-1, window, *values.shape[1:]), axis=1)


def _stamps(problem: PhaseBalanceProblem) -> pd.DatetimeIndex | None:
    """The intervals' timestamps (UTC), or None when the problem's axis is plain interval numbers."""
    ts = problem.timestamps
    if len(ts) == 0 or (np.issubdtype(np.asarray(ts).dtype, np.number)):
        return None
    try:
        return pd.DatetimeIndex(pd.to_datetime(ts, utc=True))
    except (TypeError, ValueError):
        return None


def interval_minutes(problem: PhaseBalanceProblem) -> int | None:
    """The most common step between consecutive timestamps, in minutes (None: no dates or one interval)."""
    stamps = _stamps(problem)
    if stamps is None or len(stamps) < 2:
        return None
    steps = pd.Series(stamps[1:] - stamps[:-1]).mode()
    return int(steps.iloc[0].total_seconds() // 60) if len(steps) else None


def _step_text(problem: PhaseBalanceProblem) -> str:
    minutes = interval_minutes(problem)
    if minutes is None:
        return "interval"
    return "hour" if minutes == 60 else f"{minutes} min"


def _time_series(problem: PhaseBalanceProblem, values: np.ndarray):
    """(x, y, daily): the values against their timestamps, as daily means for a window longer than two weeks."""
    stamps = _stamps(problem)
    if stamps is None:
        window = 24 if problem.n_hours > 24 * _SMOOTH_AFTER_DAYS else 1
        y = _smooth(values, window)
        return np.arange(len(y)) * window, y, window > 1
    span_days = (stamps[-1] - stamps[0]) / pd.Timedelta(days=1)
    if span_days <= _SMOOTH_AFTER_DAYS:
        return stamps.tz_localize(None).to_numpy(), values, False
    frame = pd.DataFrame(values.reshape(len(values), -1), index=stamps)
    daily = frame.resample("D").mean()
    y = daily.to_numpy() if values.ndim > 1 else daily.iloc[:, 0].to_numpy()
    return daily.index.tz_localize(None).to_numpy(), y, True


def _time_axis(ax, problem: PhaseBalanceProblem, daily: bool) -> None:
    stamps = _stamps(problem)
    if stamps is None:
        ax.set_xlabel("interval" + (" (blocks of 24)" if daily else ""))
        return
    locator = mdates.AutoDateLocator(minticks=4, maxticks=14)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("date (UTC)" + (", daily means" if daily else ""))


def loads_figure(problem: PhaseBalanceProblem, assignment: np.ndarray):
    """The matplotlib figure of :func:`figure_phase_loads` (left open, for inspection)."""
    before = phase_aggregates(problem.loads, problem.initial_phase)
    after = phase_aggregates(problem.loads, assignment)
    fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True, sharey=True)
    daily = False
    for ax, agg, title in ((axes[0], before, "before"), (axes[1], after, "after")):
        x, sm, daily = _time_series(problem, agg)
        for p, name in enumerate(PHASES):
            ax.plot(x, sm[:, p], lw=0.8, color=_COLORS[name], label=f"phase {name}")
        ax.plot(x, sm.mean(axis=1), lw=1.2, color="black", ls="--", label="mean of the phases")
        ax.set_title(f"Aggregate load per phase, {title}")
        ax.set_ylabel(f"kWh per {_step_text(problem)}")
        ax.grid(alpha=0.3)
    axes[0].legend(**_OUTSIDE)
    _time_axis(axes[1], problem, daily)
    return fig


def imbalance_figure(problem: PhaseBalanceProblem, assignment: np.ndarray):
    """The matplotlib figure of :func:`figure_hourly_imbalance` (left open, for inspection).

    Top: the metric's term per interval, ``max_p |L_p(t) - mean(t)| / mean(t)``, in % of the mean
    (the objective is its sum, as a ratio). Bottom: the same deviation in kWh, ``max_p |L_p(t) - mean(t)|``.
    """
    fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    daily = False
    step = _step_text(problem)
    for x_phase, color, name in ((problem.initial_phase, "#7f7f7f", "before"), (assignment, "#9467bd", "after")):
        agg = phase_aggregates(problem.loads, x_phase)
        mean = agg.mean(axis=1)
        ratio = hourly_imbalance(problem.loads, x_phase)
        deviation = np.abs(agg - mean[:, None]).max(axis=1)
        x, y, daily = _time_series(problem, 100 * ratio)
        axes[0].plot(x, y, lw=0.8, color=color, label=f"{name}: sum of ratios {np.nansum(ratio):,.1f}")
        x, y, daily = _time_series(problem, deviation)
        axes[1].plot(x, y, lw=0.8, color=color, label=f"{name}: mean {np.nanmean(deviation):,.2f} kWh per {step}")
    axes[0].set_title("Imbalance per interval: largest phase deviation from the mean of the phases")
    axes[0].set_ylabel("% of the mean")
    axes[1].set_ylabel(f"kWh per {step}")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(**_OUTSIDE)
        ax.set_ylim(bottom=0)
    _time_axis(axes[1], problem, daily)
    return fig


def figure_phase_loads(problem: PhaseBalanceProblem, assignment: np.ndarray) -> str:
    return _png(loads_figure(problem, assignment))


def figure_hourly_imbalance(problem: PhaseBalanceProblem, assignment: np.ndarray) -> str:
    return _png(imbalance_figure(problem, assignment))


def figure_phase_shares(problem: PhaseBalanceProblem, assignment: np.ndarray) -> str:
    shares = []
    for x in (problem.initial_phase, assignment):
        energy = phase_aggregates(problem.loads, x).sum(axis=0)
        shares.append(100 * energy / max(energy.sum(), 1e-300))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    pos = np.arange(3)
    ax.bar(pos - 0.18, shares[0], width=0.36, color="#7f7f7f", label="before")
    ax.bar(pos + 0.18, shares[1], width=0.36, color="#9467bd", label="after")
    ax.axhline(100 / 3, color="black", ls="--", lw=1, label="even split (33.3 %)")
    ax.set_xticks(pos, [f"phase {p}" for p in PHASES])
    ax.set_ylabel("% of the window's energy")
    ax.set_title("Share of energy per phase")
    ax.legend(**_OUTSIDE)
    return _png(fig)


def figure_tradeoff(curve: list[PhaseBalanceResult]) -> str:
    ks = [r.max_changes for r in curve]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(ks, [r.imbalance for r in curve], marker="o", label="imbalance (best found)")
    ax.plot(ks, [r.bound for r in curve], ls=":", marker=".", color="black", label="proven lower bound")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("K (max junctions changed)")
    ax.set_ylabel("imbalance: sum over intervals of\nmax phase deviation / mean (ratio)")
    ax.set_title("Trade-off: imbalance vs. number of changes")
    ax.legend(**_OUTSIDE)
    return _png(fig)


def _window_text(problem: PhaseBalanceProblem) -> str:
    stamps = _stamps(problem)
    if stamps is None:
        return f"intervals 0 .. {problem.n_hours - 1}"
    minutes = interval_minutes(problem)
    step = f", {minutes}-minute intervals" if minutes else ""
    return f"{stamps[0]:%Y-%m-%d %H:%M} .. {stamps[-1]:%Y-%m-%d %H:%M} UTC{step}"


def render_report(problem: PhaseBalanceProblem, result: PhaseBalanceResult,
                  curve: list[PhaseBalanceResult] | None = None, title: str = "Phase balancing report") -> str:
    """The report as one HTML string (no external files)."""
    x = result.assignment
    step = _step_text(problem)
    figures = [
        ("Aggregate load per phase", figure_phase_loads(problem, x),
         f"Load of each phase (kWh per {step}) before and after the recommended changes, with the mean of the three."),
        ("Imbalance per interval", figure_hourly_imbalance(problem, x),
         "Top: the imbalance metric's term per interval, max over phases of |phase load - mean| / mean, in % of the "
         "mean; the imbalance figures in the tables are its sum over the window (a ratio, no unit). Bottom: the same "
         f"largest deviation in kWh per {step}."),
        ("Share of energy per phase", figure_phase_shares(problem, x),
         "Each phase's share of the window's energy; an even split is 33.3 %."),
    ]
    if curve:
        figures.append(("Trade-off curve", figure_tradeoff(curve),
                        "Best imbalance found and proven lower bound for each K (at most K junctions change phase)."))
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(c.junction)}</td><td>{c.from_phase}</td><td>{c.to_phase}</td></tr>" for c in result.changes
    ) or "<tr><td colspan=3>no change</td></tr>"
    before_kwh = _mean_deviation_kwh(problem, problem.initial_phase)
    after_kwh = _mean_deviation_kwh(problem, x)
    n = max(problem.n_hours - len(result.skipped_hours), 1)
    summary = [
        ("window", _window_text(problem)),
        ("junctions x intervals", f"{problem.n_junctions} x {problem.n_hours}"),
        ("max changes K", f"all {result.max_changes} junctions" if result.unlimited else str(result.max_changes)),
        ("status", result.status),
        *([("solver said", result.reason)] if result.reason else []),
        *([("neighbourhood search", neighbourhood_text(result.neighbourhood_search))] if result.neighbourhood_search else []),
        ("imbalance before (sum of ratios)", f"{result.initial_imbalance:.6g}"),
        ("imbalance after (sum of ratios)", f"{result.imbalance:.6g}"),
        ("proven lower bound (sum of ratios)", f"{result.bound:.6g}"),
        ("relative gap", f"{result.gap:.1e}"),
        ("mean imbalance per interval, before", f"{100 * result.initial_imbalance / n:.1f} % of the mean"),
        ("mean imbalance per interval, after", f"{100 * result.imbalance / n:.1f} % of the mean"),
        ("mean largest phase deviation, before", f"{before_kwh:,.2f} kWh per {step}"),
        ("mean largest phase deviation, after", f"{after_kwh:,.2f} kWh per {step}"),
        ("method / solver", f"{result.method} / {result.solver}"),
        ("solve time", f"{result.solve_seconds:.2f} s"),
        ("skipped intervals (zero load)", str(len(result.skipped_hours))),
    ]
    summary_rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in summary)
    curve_rows = ""
    if curve:
        header = ("<tr><th>K</th><th>imbalance (sum of ratios)</th><th>proven bound</th><th>gap</th>"
                  "<th>status</th></tr>")
        curve_rows = "<h2>Trade-off table</h2><table>" + header + "".join(
            f"<tr><td class='num'>{r.max_changes}</td><td class='num'>{r.imbalance:.6g}</td>"
            f"<td class='num'>{r.bound:.6g}</td><td class='num'>{r.gap:.1e}</td>"
            f"<td title='{esc(r.reason or '')}'>{r.status}</td></tr>"
            for r in curve
        ) + "</table>"
    imgs = "".join(
        f'<h2>{esc(t)}</h2><img alt="{esc(t)}" src="data:image/png;base64,{b}"/><p class="cap">{esc(c)}</p>'
        for t, b, c in figures
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + esc(title) + "</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
        "td.num{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}"
        ".cap{color:#555;font-size:0.9em;margin-top:0}.note{color:#555;font-size:0.9em}</style></head><body>"
        f"<h1>{esc(title)}</h1><table>{summary_rows}</table>"
        "<p class='note'>Imbalance of an interval: the largest deviation of a phase's load from the mean of the "
        "three phases, divided by that mean. The objective (\"sum of ratios\") adds it over the window's intervals; "
        "it has no unit. The kWh rows give the same deviation in energy.</p>"
        f"<h2>Recommended changes</h2><table><tr><th>junction</th><th>from</th><th>to</th></tr>{rows}</table>"
        f"{curve_rows}{imgs}</body></html>"
    )


def _mean_deviation_kwh(problem: PhaseBalanceProblem, assignment: np.ndarray) -> float:
    agg = phase_aggregates(problem.loads, assignment)
    if agg.size == 0:
        return 0.0
    return float(np.abs(agg - agg.mean(axis=1, keepdims=True)).max(axis=1).mean())


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(path: str | Path, problem: PhaseBalanceProblem, result: PhaseBalanceResult,
                 curve: list[PhaseBalanceResult] | None = None, title: str = "Phase balancing report",
                 latest: bool = False) -> Path:
    """Write the report atomically (temp file, then rename); ``latest``: also copy it to ``latest.html`` beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, render_report(problem, result, curve, title))
    if latest:
        _copy_latest(path)
    return path


def _copy_latest(path: Path) -> None:
    link = path.with_name(LATEST_NAME)
    tmp = link.with_name(f".{LATEST_NAME}.tmp")
    shutil.copyfile(path, tmp)
    os.replace(tmp, link)


# -- the physics check (phase_change_impact's table) ------------------------------------------------------------

# (column, label, unit) of each figure of the physics check, in the order the plots show them
IMPACT_FIGURES = (
    ("max_vuf_pct", "max VUF", "%"),
    ("p95_vuf_pct", "95th percentile VUF", "%"),
    ("max_neutral_current_a", "max neutral current", "A"),
    ("losses_kwh", "losses", "kWh"),
)
_PANELS = (  # one panel per quantity: the VUF panel holds the max and the 95th percentile
    ("voltage unbalance factor", "VUF (%)", ("max_vuf_pct", "p95_vuf_pct")),
    ("neutral current at the transformer", "max |Ia + Ib + Ic| (A)", ("max_neutral_current_a",)),
    ("feeder losses over the horizon", "losses (kWh)", ("losses_kwh",)),
)
_BEFORE, _AFTER = "#7f7f7f", "#9467bd"
_SECTION_START, _SECTION_END = "<!-- physics-check -->", "<!-- /physics-check -->"


def _value(row, key) -> float:
    v = row.get(key) if hasattr(row, "get") else None
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _scenario_row(impact: pd.DataFrame, scenario: str):
    rows = impact[impact["scenario"] == scenario]
    return None if rows.empty else rows.iloc[0]


def _legend_below(fig, axes) -> None:
    """One legend for the figure's panels, below them (it covers no data)."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=len(seen), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.0))


def impact_before_after_figure(impact: pd.DataFrame):
    """Bars of each physics figure before and after the recommended changes (left open, for inspection)."""
    before, after = _scenario_row(impact, "before"), _scenario_row(impact, "recommended")
    n = int(after["changes"]) if after is not None else 0
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    names = {"max_vuf_pct": "max", "p95_vuf_pct": "95th percentile"}
    width = 0.36
    for ax, (title, ylabel, keys) in zip(axes, _PANELS):
        pos = np.arange(len(keys))
        for offset, row, color, name in ((-width / 2, before, _BEFORE, "before (loads on their present phases)"),
                                         (width / 2, after, _AFTER, f"after the {n} recommended change{'s' if n != 1 else ''}")):
            values = [_value(row, key) if row is not None else float("nan") for key in keys]
            bars = ax.bar(pos + offset, values, width=width, color=color, label=name)
            ax.bar_label(bars, labels=[_fmt(v, ".3g") for v in values], fontsize=7, padding=1)
        if len(keys) > 1:
            ax.set_xticks(pos, [names[key] for key in keys])
        else:
            ax.set_xticks([])
        ax.set_xlim(-0.75, len(keys) - 0.25)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.15)  # room for the value labels
        ax.grid(axis="y", alpha=0.3)
    _legend_below(fig, axes[:1])
    return fig


def impact_vs_k_figure(impact: pd.DataFrame):
    """Each physics figure against K along the trade-off curve (K = 0 is the feeder as it is; left open)."""
    curve = impact[impact["scenario"] == "curve"].sort_values("k")
    recommended = _scenario_row(impact, "recommended")
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    styles = {"max_vuf_pct": ("o", "-", "#1f77b4", "max VUF"), "p95_vuf_pct": ("s", "--", "#17becf", "95th percentile VUF")}
    for ax, (title, ylabel, keys) in zip(axes, _PANELS):
        for key in keys:
            marker, ls, color, name = styles.get(key, ("o", "-", "#1f77b4", None))
            ax.plot(curve["k"].astype(int), pd.to_numeric(curve[key], errors="coerce"), marker=marker, ls=ls, color=color,
                    label=name)
        if recommended is not None:  # the recommendation's number of moves, on the K axis
            n = int(recommended["changes"])
            ax.axvline(n, color=_AFTER, ls=":", lw=1.5, label=f"recommended: {n} change{'s' if n != 1 else ''}")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("K (max junctions changed)")
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    _legend_below(fig, axes)
    return fig


def figure_impact_before_after(impact: pd.DataFrame) -> str:
    return _png(impact_before_after_figure(impact))


def figure_impact_vs_k(impact: pd.DataFrame) -> str:
    return _png(impact_vs_k_figure(impact))


def _fmt(v, digits: str) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "-"
    return "-" if np.isnan(x) else format(x, digits)


def impact_section(impact: pd.DataFrame, about: str = "") -> str:
    """The physics check as an HTML section of the report: the two figures (the curve's when it has two points) and the table.

    ``about``: one sentence on what was run (model, steps, interval), shown under the heading.
    """
    esc = html.escape
    parts = [f"{_SECTION_START}<h2>Physics check (OpenDSS unbalanced power flow)</h2>"]
    if about:
        parts.append(f"<p class='note'>{esc(about)}</p>")
    if _scenario_row(impact, "before") is not None and _scenario_row(impact, "recommended") is not None:
        parts.append(
            f'<h3>Before vs after the recommended changes</h3><img alt="physics before vs after" '
            f'src="data:image/png;base64,{figure_impact_before_after(impact)}"/>'
            "<p class='cap'>Voltage unbalance factor |V2|/|V1| over every three-phase bus and step (its maximum and "
            "95th percentile), the largest neutral current |Ia + Ib + Ic| at the transformer's low-voltage terminal, and "
            "the feeder's losses over the horizon, with the loads on their present phases and after the recommended "
            "moves.</p>")
    if (impact["scenario"] == "curve").sum() > 1:
        parts.append(
            f'<h3>Against K along the trade-off curve</h3><img alt="physics against K" '
            f'src="data:image/png;base64,{figure_impact_vs_k(impact)}"/>'
            "<p class='cap'>The same figures for each point of the trade-off curve (at most K junctions moved, each "
            "point's own moves; K = 0 is the feeder as it is): what each further crew visit buys physically.</p>")
    header = "".join(f"<th>{esc(h)}</th>" for h in (
        "scenario", "K", "changes", "max VUF (%)", "p95 VUF (%)", "max neutral current (A)", "losses (kWh)",
        "min voltage (pu)", "converged steps"))
    order = {"before": 0, "recommended": 1, "curve": 2}
    rows = impact.assign(_o=impact["scenario"].map(order)).sort_values(["_o", "k"], kind="stable")
    body = "".join(
        f"<tr><td>{esc(str(r['scenario']))}</td><td class='num'>{int(r['k'])}</td><td class='num'>{int(r['changes'])}</td>"
        f"<td class='num'>{_fmt(r['max_vuf_pct'], '.3f')}</td><td class='num'>{_fmt(r['p95_vuf_pct'], '.3f')}</td>"
        f"<td class='num'>{_fmt(r['max_neutral_current_a'], '.1f')}</td><td class='num'>{_fmt(r['losses_kwh'], '.3f')}</td>"
        f"<td class='num'>{_fmt(r['min_voltage_pu'], '.4f')}</td>"
        f"<td class='num'>{_fmt(r['converged_steps'], '.0f')} of {_fmt(r['steps'], '.0f')}</td></tr>"
        for _, r in rows.iterrows()
    )
    parts.append(f"<table><tr>{header}</tr>{body}</table>{_SECTION_END}")
    return "".join(parts)


def unchecked_section(reason: str) -> str:
    """The report's physics-check section for a feeder that was not checked, saying why."""
    return (f"{_SECTION_START}<h2>Physics check (OpenDSS unbalanced power flow)</h2>"
            f"<p class='note'>Not checked: {html.escape(reason)}.</p>{_SECTION_END}")


def add_section(path: str | Path, section: str) -> bool:
    """Put ``section`` (from :func:`impact_section` or :func:`unchecked_section`) into the report at ``path``.

    A section the report already holds is replaced, so a rerun never stacks two. Written atomically;
    ``latest.html`` beside it is refreshed when it was a copy of this report. False when there is no report.
    """
    path = Path(path)
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    latest = path.with_name(LATEST_NAME)
    was_latest = latest.is_file() and latest.read_text(encoding="utf-8") == text
    start, end = text.find(_SECTION_START), text.find(_SECTION_END)
    if start >= 0 and end > start:
        text = text[:start] + text[end + len(_SECTION_END):]
    at = text.rfind("</body>")
    text = text[:at] + section + text[at:] if at >= 0 else text + section
    _write_atomic(path, text)
    if was_latest:
        _copy_latest(path)
    return True
