"""One self-contained HTML report of a LASCOPF dispatch (figures as base64 PNGs, matplotlib Agg).

Sections: summary table, dispatch stack per interval (with the load), line
loadings (largest base-case and worst post-contingency loading per branch over
the intervals), an LMP map (bus x interval heatmap), binding contingencies and
skipped contingencies. An infeasible or failed solve gets the summary (with the
cause) and no figures.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .result import LascopfResult

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:0.9em;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}
img{max-width:100%;display:block;margin:0.5em 0 1.5em}
.bad{color:#b00020;font-weight:bold}
"""


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


def dispatch_stack_figure(result: LascopfResult, loads_mw: np.ndarray | None = None) -> str:
    mat = result.dispatch_matrix()
    fig, ax = _figure()
    intervals = mat.columns.to_numpy()
    order = pd.unique(result.generator_dispatch["gen"])
    mat = mat.loc[order]
    ax.stackplot(intervals, mat.to_numpy(), labels=[str(g) for g in mat.index], alpha=0.85)
    if loads_mw is not None:
        ax.plot(intervals, np.asarray(loads_mw).sum(axis=0), "k--", lw=1.5, label="load")
    ax.set_xlabel("interval")
    ax.set_ylabel("MW")
    ax.set_title("Dispatch stack")
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    ax.set_xlim(intervals.min(), intervals.max())
    return _png(fig)


def line_loading_figure(result: LascopfResult) -> str:
    flows = result.branch_flows
    per = flows.groupby("branch", sort=False).agg(base=("loading", "max"), post=("post_loading", "max"))
    per = per.replace([np.inf, -np.inf], np.nan)
    fig, ax = _figure()
    x = np.arange(len(per))
    ax.bar(x - 0.2, per["base"].fillna(0) * 100, width=0.4, label="base case (max over intervals)")
    ax.bar(x + 0.2, per["post"].fillna(0) * 100, width=0.4, label="worst post-contingency")
    ax.axhline(100, color="k", lw=1)
    ax.set_xticks(x, per.index.tolist(), rotation=90, fontsize=7)
    ax.set_ylabel("% of rating")
    ax.set_title("Line loadings (unrated branches shown as 0)")
    ax.legend(fontsize=8)
    return _png(fig)


def lmp_map_figure(result: LascopfResult) -> str:
    lmp = result.lmps.pivot(index="bus", columns="interval", values="lmp")
    fig, ax = _figure(10, max(3, 0.25 * len(lmp) + 1))
    im = ax.imshow(lmp.to_numpy(), aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(np.arange(len(lmp)) if len(lmp) <= 60 else [], lmp.index.tolist() if len(lmp) <= 60 else [], fontsize=7)
    ax.set_xticks(np.arange(lmp.shape[1]), lmp.columns.tolist(), fontsize=7)
    ax.set_xlabel("interval")
    ax.set_ylabel("bus")
    ax.set_title("LMP ($/MWh)")
    fig.colorbar(im, ax=ax)
    return _png(fig)


def _table(frame: pd.DataFrame, limit: int = 200) -> str:
    if frame.empty:
        return "<p>none</p>"
    more = f"<p>({len(frame) - limit} more rows)</p>" if len(frame) > limit else ""
    return frame.head(limit).to_html(index=False, float_format=lambda v: f"{v:,.3f}", na_rep="") + more


def dispatch_report_html(result: LascopfResult, title: str, loads_mw: np.ndarray | None = None, notes: dict | None = None) -> str:
    summary = result.summary().T.reset_index()
    summary.columns = ["field", "value"]
    if notes:
        summary = pd.concat([summary, pd.DataFrame({"field": list(notes), "value": list(notes.values())})], ignore_index=True)
    summary["value"] = summary["value"].map(lambda v: "" if v is None else str(v))
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if result.status != "optimal":
        parts.append(f"<p class='bad'>status {html.escape(result.status)}: {html.escape(result.cause or 'no cause known')}</p>")
    parts += ["<h2>Summary</h2>", _table(summary)]
    if result.status == "optimal":
        parts += [
            "<h2>Dispatch</h2>", dispatch_stack_figure(result, loads_mw),
            "<h2>Line loadings</h2>", line_loading_figure(result),
            "<h2>LMP map</h2>", lmp_map_figure(result),
        ]
    parts += [
        "<h2>Binding contingencies</h2>", _table(result.binding_contingencies),
        "<h2>Skipped contingencies</h2>", _table(result.contingencies_skipped),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_dispatch_report(
    result: LascopfResult, path: str | os.PathLike, title: str, loads_mw: np.ndarray | None = None, notes: dict | None = None
) -> Path:
    """Write the report atomically (temp file, then rename) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dispatch_report_html(result, title, loads_mw, notes), encoding="utf-8")
    os.replace(tmp, path)
    return path
