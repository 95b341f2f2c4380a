"""One self-contained HTML report of a LASCOPF dispatch (figures as base64 PNGs, matplotlib Agg).

Sections: summary table (human labels, rounded values with their units, no empty rows), dispatch
stack per interval (with the load), line loadings (largest base-case and worst post-contingency
loading per branch over the intervals), an LMP map (bus x interval heatmap), binding contingencies
grouped by (outage, monitored branch) with their intervals listed, and skipped contingencies. A
corrective solve adds its restoration view: for the worst outages (the highest loading at the
moment of the outage) the flow trajectory of the branches above their normal rating, from the
emergency rating back under the normal one, as a figure and a table. An
infeasible or failed solve gets the summary (with the cause) and no figures. Text columns are
left-aligned, numbers right-aligned. With the intervals' ``timestamps`` the axes and interval lists
read as UTC clock times (``01:00-05:00, 09:00``: interval starts), otherwise as interval numbers.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .result import LascopfResult

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:0.9em;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f2f2f2}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}td.num{white-space:nowrap}
td.times{min-width:12em}
img{max-width:100%;display:block;margin:0.5em 0 0.3em}
.cap{color:#555;font-size:0.9em;margin:0 0 1.5em}
.bad{color:#b00020;font-weight:bold}
"""

# labels of the setup notes solve_day returns (and the call site adds); other keys: underscores to spaces
_NOTE_LABELS = {
    "ramp_fraction_of_pmax": "ramp limit",
    "rating_mode": "branch ratings",
    "branches_rated": "branches rated",
    "rating_note": "rating note",
    "contingencies": "contingency set",
    "export": "PowerSystems export",
}


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return '<img alt="figure" src="data:image/png;base64,' + base64.b64encode(buf.getvalue()).decode("ascii") + '">'


def _figure(width=10, height=4):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _clock(timestamps: Sequence | None, interval: int) -> str:
    """The start of 1-based ``interval``: ``HH:MM`` (UTC) with timestamps, else the interval's number."""
    if timestamps is None or not 1 <= interval <= len(timestamps):
        return str(interval)
    return f"{pd.Timestamp(timestamps[interval - 1]):%H:%M}"


def interval_ranges(intervals, timestamps: Sequence | None = None) -> str:
    """Sorted 1-based intervals as runs: ``01:00-05:00, 09:00`` (interval starts), or ``1-5, 9`` without timestamps."""
    values = sorted({int(i) for i in intervals})
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return ", ".join(
        _clock(timestamps, a) if a == b else f"{_clock(timestamps, a)}-{_clock(timestamps, b)}" for a, b in runs
    )


def _interval_axis(ax, intervals: np.ndarray, timestamps: Sequence | None, positions: np.ndarray | None = None) -> None:
    positions = intervals if positions is None else positions
    if timestamps is None:
        ax.set_xlabel("interval")
        return
    step = max(1, len(intervals) // 12)
    ax.set_xticks(positions[::step], [_clock(timestamps, int(i)) for i in intervals[::step]])
    day = pd.Timestamp(timestamps[0])
    ax.set_xlabel(f"interval start, {day:%Y-%m-%d} (UTC)")


def dispatch_stack_figure(result: LascopfResult, loads_mw: np.ndarray | None = None,
                          timestamps: Sequence | None = None) -> str:
    mat = result.dispatch_matrix()
    fig, ax = _figure()
    intervals = mat.columns.to_numpy()
    order = pd.unique(result.generator_dispatch["gen"])
    mat = mat.loc[order]
    ax.stackplot(intervals, mat.to_numpy(), labels=[str(g) for g in mat.index], alpha=0.85)
    if loads_mw is not None:
        ax.plot(intervals, np.asarray(loads_mw).sum(axis=0), "k--", lw=1.5, label="load")
    _interval_axis(ax, intervals, timestamps)
    ax.set_ylabel("MW")
    ax.set_title("Dispatch stack")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8)
    ax.set_xlim(intervals.min(), intervals.max())
    return _png(fig)


def unrated_branches(result: LascopfResult) -> list[str]:
    """Branches without a finite rating (no flow limit), in the network's order."""
    flows = result.branch_flows
    if flows.empty or "rate_mw" not in flows:
        return []
    rate = flows.groupby("branch", sort=False)["rate_mw"].first()
    return [str(b) for b, r in rate.items() if not np.isfinite(r)]


def line_loading_figure(result: LascopfResult) -> str:
    flows = result.branch_flows
    per = flows.groupby("branch", sort=False).agg(base=("loading", "max"), post=("post_loading", "max"))
    per = per.replace([np.inf, -np.inf], np.nan)
    unrated = unrated_branches(result)
    fig, ax = _figure()
    x = np.arange(len(per))
    ax.bar(x - 0.2, per["base"].fillna(0) * 100, width=0.4, label="base case (max over intervals)")
    ax.bar(x + 0.2, per["post"].fillna(0) * 100, width=0.4, label="worst post-contingency (max over intervals)")
    ax.axhline(100, color="k", lw=1)
    top = np.nanmax([per["base"].max(), per["post"].max(), 1.0]) * 100
    ax.set_ylim(0, max(105.0, top * 1.05))
    ax.set_xticks(x, per.index.tolist(), rotation=90, fontsize=7)
    ax.set_xlabel("branch")
    ax.set_ylabel("% of rating")
    title = "Line loadings"
    if unrated:
        title += f" ({len(unrated)} unrated branch{'es' if len(unrated) > 1 else ''} shown as 0)"
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8)
    return _png(fig)


def lmp_map_figure(result: LascopfResult, timestamps: Sequence | None = None) -> str:
    lmp = result.lmps.pivot(index="bus", columns="interval", values="lmp")
    fig, ax = _figure(10, max(3, 0.25 * len(lmp) + 1))
    im = ax.imshow(lmp.to_numpy(), aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(np.arange(len(lmp)) if len(lmp) <= 60 else [], lmp.index.tolist() if len(lmp) <= 60 else [], fontsize=7)
    intervals = lmp.columns.to_numpy()
    if timestamps is None:
        ax.set_xticks(np.arange(lmp.shape[1]), lmp.columns.tolist(), fontsize=7)
        ax.set_xlabel("interval")
    else:
        _interval_axis(ax, intervals, timestamps, positions=np.arange(lmp.shape[1]))
    ax.set_ylabel("bus")
    ax.set_title("Locational marginal price per bus and interval")
    fig.colorbar(im, ax=ax, label="$/MWh")
    return _png(fig)


def _cell(value, numeric: bool | str) -> str:
    """A cell: ``numeric`` True right-aligns it, a string is the cell's CSS class."""
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    css = "num" if numeric is True else (numeric or "")
    return f"<td class='{css}'>{html.escape(text)}</td>" if css else f"<td>{html.escape(text)}</td>"


def _html_table(header: list[str], rows: list[list], numeric: list[bool | str], limit: int = 200) -> str:
    """A table with text columns left-aligned and numeric ones right-aligned."""
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th class='num'>{html.escape(h)}</th>" if n is True else f"<th>{html.escape(h)}</th>"
                   for h, n in zip(header, numeric))
    body = "".join("<tr>" + "".join(_cell(v, n) for v, n in zip(row, numeric)) + "</tr>" for row in rows[:limit])
    more = f"<p>({len(rows) - limit} more rows)</p>" if len(rows) > limit else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def _pct(v) -> str | None:
    return None if v is None or not np.isfinite(v) else f"{100 * v:.1f} % of rating"


def summary_rows(result: LascopfResult, notes: dict | None = None) -> list[tuple[str, str, bool]]:
    """``(label, value, numeric)`` rows of the summary; nothing without a value."""
    n_branches = int(result.branch_flows["branch"].nunique()) if not result.branch_flows.empty else None
    rows: list[tuple[str, str | None, bool]] = [
        ("status", result.status, False),
        ("cause", result.cause, False),
        ("solver said", result.reason, False),
        ("objective (total cost)", None if result.objective is None else f"${result.objective:,.2f}", True),
        ("method", result.method, False),
        ("solve time", f"{result.solve_seconds:,.2f} s", True),
        ("screening iterations" if result.method == "screening" else "iterations", f"{result.iterations:,}", True),
        ("intervals", f"{result.intervals:,}", True),
        ("outages modeled (N-1)", f"{len(result.contingencies_modeled):,}", True),
        ("outages skipped", f"{len(result.contingencies_skipped):,}", True),
        ("max base-case loading", _pct(result.max_base_loading), True),
        ("max post-contingency loading", _pct(result.max_post_contingency_loading), True),
        ("total limit slack", f"{result.total_slack_mw:,.1f} MW", True),
    ]
    if result.security == "corrective":
        steps = result.restore_intervals or 0
        corrected = result.corrective_dispatch
        pairs = len(corrected[["outaged_branch", "interval"]].drop_duplicates()) if len(corrected) else 0
        rows += [
            ("N-1 security", "corrective", False),
            ("restoration", f"{steps} step{'s' if steps != 1 else ''} of {result.restore_minutes or 0:g} min", True),
            ("max loading at the outage", None if result.max_emergency_loading is None
             else f"{100 * result.max_emergency_loading:.1f} % of emergency rating", True),
            ("outage-intervals corrected", f"{pairs:,}" if result.status == "optimal" else None, True),
            ("corrective movement", None if result.corrective_mw_total is None else f"{result.corrective_mw_total:,.1f} MW", True),
        ]
    for key, value in (notes or {}).items():
        if value is None or value == "":
            continue
        label = _NOTE_LABELS.get(key, key.replace("_", " "))
        if key == "ramp_fraction_of_pmax" and isinstance(value, (int, float)):
            rows.append((label, f"{100 * value:.0f} % of Pmax per interval", True))
        elif key == "branches_rated" and n_branches is not None:
            rows.append((label, f"{value} of {n_branches}", True))
        elif isinstance(value, float):
            rows.append((label, f"{value:,.4g}", True))
        elif isinstance(value, int):
            rows.append((label, f"{value:,}", True))
        else:
            rows.append((label, str(value), False))
    return [(k, v, n) for k, v, n in rows if v is not None and v != ""]


def grouped_binding(result: LascopfResult, timestamps: Sequence | None = None) -> pd.DataFrame:
    """Binding contingencies, one row per (outage, monitored branch): its intervals and the extremes over them."""
    b = result.binding_contingencies
    if b.empty:
        return pd.DataFrame()
    b = b.assign(abs_flow=b["post_flow_mw"].abs())
    g = b.groupby(["outaged_branch", "monitored_branch"], sort=False)
    out = g.agg(
        n=("interval", "nunique"), first=("interval", "min"), limit=("limit_mw", "max"),
        flow=("abs_flow", "max"), price_max=("shadow_price", "max"), price_mean=("shadow_price", "mean"),
        slack=("slack_mw", "sum"),
    )
    out["intervals"] = g["interval"].agg(lambda s: interval_ranges(s, timestamps))
    return out.reset_index().sort_values(["first", "outaged_branch", "monitored_branch"], kind="stable")


def _binding_table(result: LascopfResult, timestamps: Sequence | None) -> str:
    grouped = grouped_binding(result, timestamps)
    if grouped.empty:
        return "<p>none</p>"
    rows = [
        [r.outaged_branch, r.monitored_branch, r.intervals, f"{r.n:,}", f"{r.flow:,.1f}", f"{r.limit:,.1f}",
         f"{r.price_mean:,.2f}", f"{r.price_max:,.2f}", f"{r.slack:,.1f}"]
        for r in grouped.itertuples()
    ]
    header = ["outage", "monitored branch", "binding intervals (UTC start)" if timestamps is not None else
              "binding intervals", "count", "max flow after outage (MW)", "limit (MW)",
              "mean shadow price ($/MWh)", "max shadow price ($/MWh)", "slack (MW)"]
    numeric = [False, False, "times", True, True, True, True, True, True]
    cap = (f"<p class='cap'>{len(result.binding_contingencies):,} binding (interval, outage, branch) limits, "
           f"grouped into {len(grouped):,} rows.</p>")
    return _html_table(header, rows, numeric) + cap


def worst_outages(result: LascopfResult, count: int = 4) -> pd.DataFrame:
    """The ``count`` (outage, interval) pairs with the highest loading (of ``rateA``) at the moment of the outage.

    Columns ``outaged_branch, interval, monitored_branch`` (its most loaded branch), ``peak``, ``end`` (that
    branch's loading at the outage and after the last step), ``emergency`` (its emergency rating over ``rateA``).
    """
    flows = result.trajectory_flows
    if flows.empty:
        return pd.DataFrame(columns=["outaged_branch", "interval", "monitored_branch", "peak", "end", "emergency"])
    last = int(flows["step"].max())
    at_outage = flows[flows["step"] == 0].sort_values("loading", ascending=False, kind="stable")
    top = at_outage.drop_duplicates(["outaged_branch", "interval"]).head(count)
    end = flows[flows["step"] == last].set_index(["outaged_branch", "interval", "monitored_branch"])["loading"]
    keys = list(zip(top["outaged_branch"], top["interval"], top["monitored_branch"]))
    return pd.DataFrame({
        "outaged_branch": top["outaged_branch"].to_numpy(), "interval": top["interval"].to_numpy(),
        "monitored_branch": top["monitored_branch"].to_numpy(), "peak": top["loading"].to_numpy(),
        "end": end.loc[keys].to_numpy(), "emergency": (top["emergency_mw"] / top["rate_mw"]).to_numpy(),
    })


def trajectory_figure(result: LascopfResult, timestamps: Sequence | None = None, count: int = 4) -> str:
    """Per worst outage: each listed branch's loading (% of rateA) over the restoration minutes, with 100 % and its emergency level."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    worst = worst_outages(result, count)
    fig, axes = plt.subplots(1, len(worst), figsize=(3.2 * len(worst) + 1, 3.4), squeeze=False, sharey=True)
    flows = result.trajectory_flows
    for ax, pair in zip(axes[0], worst.itertuples()):
        mine = flows[(flows["outaged_branch"] == pair.outaged_branch) & (flows["interval"] == pair.interval)]
        for branch, path in mine.groupby("monitored_branch", sort=False):
            line, = ax.plot(path["minutes"], 100 * path["loading"], marker="o", label=str(branch))
            ax.axhline(100 * path["emergency_mw"].iloc[0] / path["rate_mw"].iloc[0], color=line.get_color(), ls=":", lw=1)
        ax.axhline(100, color="k", lw=1)
        ax.set_title(f"outage {pair.outaged_branch}, {_clock(timestamps, int(pair.interval))}", fontsize=9)
        ax.set_xlabel("minutes after the outage")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("% of normal rating")
    return _png(fig)


def _trajectory_table(result: LascopfResult, timestamps: Sequence | None, count: int = 20) -> str:
    worst = worst_outages(result, count)
    moved = result.corrective_dispatch.assign(step_mw=result.corrective_dispatch.groupby(
        ["outaged_branch", "interval", "gen"], sort=False)["p_mw"].diff().abs())
    moved = moved.groupby(["outaged_branch", "interval"])["step_mw"].sum()
    rows = [
        [r.outaged_branch, _clock(timestamps, int(r.interval)), r.monitored_branch, f"{100 * r.peak:,.1f}",
         f"{100 * r.emergency:,.1f}", f"{100 * r.end:,.1f}", f"{moved.loc[(r.outaged_branch, r.interval)]:,.1f}"]
        for r in worst.itertuples()
    ]
    header = ["outage", "interval start (UTC)" if timestamps is not None else "interval", "most loaded branch",
              "at the outage (% of rating)", "emergency rating (% of rating)", "after restoration (% of rating)",
              "corrective movement (MW)"]
    return _html_table(header, rows, [False, False, False, True, True, True, True])


def _skipped_table(result: LascopfResult) -> str:
    s = result.contingencies_skipped
    if s.empty:
        return "<p>none</p>"
    labels = {"contingency": "outage", "branch": "branch", "reason": "why skipped"}
    if "generator" in s:  # one element column: the branch, or the generator of a generator outage
        generator = s["generator"].fillna("").astype(str)
        if (generator != "").any():
            labels["branch"] = "branch or generator"
        s = s.assign(branch=s["branch"].fillna("").astype(str).where(generator == "", generator)).drop(columns="generator")
    cols = list(s.columns)
    numeric = [bool(pd.api.types.is_numeric_dtype(s[c])) for c in cols]
    rows = [[v if not isinstance(v, float) else f"{v:,.3g}" for v in row] for row in s.itertuples(index=False)]
    return _html_table([labels.get(c, str(c).replace("_", " ")) for c in cols], rows, numeric)


def dispatch_report_html(result: LascopfResult, title: str, loads_mw: np.ndarray | None = None, notes: dict | None = None,
                         timestamps: Sequence | None = None) -> str:
    """The report; ``timestamps`` (the intervals' starts, UTC) label the axes and interval lists with clock times."""
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if result.status != "optimal":
        parts.append(f"<p class='bad'>status {html.escape(result.status)}: {html.escape(result.cause or 'no cause known')}</p>")
    summary = "".join(f"<tr><th>{html.escape(k)}</th>{_cell(v, numeric)}</tr>" for k, v, numeric in summary_rows(result, notes))
    parts += ["<h2>Summary</h2>", f"<table>{summary}</table>"]
    if result.status == "optimal":
        unrated = unrated_branches(result)
        caption = "Largest base-case and worst post-contingency loading of each branch over the intervals."
        if unrated:
            caption += (f" {len(unrated)} branch{'es have' if len(unrated) > 1 else ' has'} no rating "
                        f"({', '.join(unrated[:10])}{', ...' if len(unrated) > 10 else ''}) and show as 0.")
        parts += [
            "<h2>Dispatch</h2>", dispatch_stack_figure(result, loads_mw, timestamps),
            "<p class='cap'>Generator output per interval (MW), stacked, with the total load.</p>",
            "<h2>Line loadings</h2>", line_loading_figure(result), f"<p class='cap'>{html.escape(caption)}</p>",
            "<h2>LMP map</h2>", lmp_map_figure(result, timestamps),
            "<p class='cap'>Locational marginal price ($/MWh) per bus and interval.</p>",
        ]
        if result.security == "corrective" and not result.trajectory_flows.empty:
            minutes = f"{result.restore_intervals} x {result.restore_minutes:g} min"
            parts += [
                "<h2>Corrective restoration (worst outages)</h2>", trajectory_figure(result, timestamps),
                f"<p class='cap'>Flows after the outages with the highest loading at the moment of the outage, as % of the "
                f"normal rating, from the outage (0 min) over the restoration steps ({minutes}); dotted: each branch's "
                f"emergency rating, solid black: the normal rating every branch is back under after the last step.</p>",
                _trajectory_table(result, timestamps),
            ]
    parts += [
        "<h2>Binding contingencies</h2>", _binding_table(result, timestamps),
        "<h2>Skipped contingencies</h2>", _skipped_table(result),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_dispatch_report(
    result: LascopfResult, path: str | os.PathLike, title: str, loads_mw: np.ndarray | None = None, notes: dict | None = None,
    timestamps: Sequence | None = None,
) -> Path:
    """Write the report atomically (temp file, then rename) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dispatch_report_html(result, title, loads_mw, notes, timestamps), encoding="utf-8")
    os.replace(tmp, path)
    return path
