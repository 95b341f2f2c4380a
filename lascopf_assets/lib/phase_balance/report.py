"""A self-contained HTML report of a phase-balancing result (matplotlib PNGs inlined as base64).

Figures, as in the study: aggregate load per phase before and after with the
average, hourly imbalance before and after, the share of energy per phase
before and after, and the K trade-off curve (when given).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lascopf_assets.lib.phase_balance.metric import hourly_imbalance, phase_aggregates  # noqa: E402
from lascopf_assets.lib.phase_balance.problem import PHASES, PhaseBalanceProblem  # noqa: E402
from lascopf_assets.lib.phase_balance.result import PhaseBalanceResult  # noqa: E402

_COLORS = {"A": "#d62728", "B": "#2ca02c", "C": "#1f77b4"}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Block means over ``window`` intervals (so a year plots as days); NaN-aware."""
    if window <= 1:
        return values
    n = len(values) // window * window
    if n == 0:
        return values
    return np.nanmean(values[:n].reshape(-1, window, *values.shape[1:]), axis=1)


def figure_phase_loads(problem: PhaseBalanceProblem, assignment: np.ndarray) -> str:
    before = phase_aggregates(problem.loads, problem.initial_phase)
    after = phase_aggregates(problem.loads, assignment)
    window = 24 if problem.n_hours > 24 * 14 else 1
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True, sharey=True)
    for ax, agg, title in ((axes[0], before, "before"), (axes[1], after, "after")):
        sm = _smooth(agg, window)
        for p, name in enumerate(PHASES):
            ax.plot(sm[:, p], lw=0.8, color=_COLORS[name], label=f"phase {name}")
        ax.plot(sm.mean(axis=1), lw=1.2, color="black", ls="--", label="average")
        ax.set_title(f"Aggregate load per phase, {title}")
        ax.set_ylabel("kWh per interval" + (" (daily mean)" if window > 1 else ""))
        ax.legend(loc="upper right", ncol=4, fontsize=8)
    axes[1].set_xlabel("day" if window > 1 else "interval")
    return _png(fig)


def figure_hourly_imbalance(problem: PhaseBalanceProblem, assignment: np.ndarray) -> str:
    before = hourly_imbalance(problem.loads, problem.initial_phase)
    after = hourly_imbalance(problem.loads, assignment)
    window = 24 if problem.n_hours > 24 * 14 else 1
    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.plot(_smooth(before, window), lw=0.8, color="#7f7f7f", label=f"before (sum {np.nansum(before):.4g})")
    ax.plot(_smooth(after, window), lw=0.8, color="#9467bd", label=f"after (sum {np.nansum(after):.4g})")
    ax.set_ylabel("max_p |L_p - mean| / mean" + (" (daily mean)" if window > 1 else ""))
    ax.set_xlabel("day" if window > 1 else "interval")
    ax.set_title("Imbalance per interval, before and after")
    ax.legend(fontsize=8)
    return _png(fig)


def figure_phase_shares(problem: PhaseBalanceProblem, assignment: np.ndarray) -> str:
    shares = []
    for x in (problem.initial_phase, assignment):
        energy = phase_aggregates(problem.loads, x).sum(axis=0)
        shares.append(100 * energy / max(energy.sum(), 1e-300))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    pos = np.arange(3)
    ax.bar(pos - 0.18, shares[0], width=0.36, color="#7f7f7f", label="before")
    ax.bar(pos + 0.18, shares[1], width=0.36, color="#9467bd", label="after")
    ax.axhline(100 / 3, color="black", ls="--", lw=1)
    ax.set_xticks(pos, [f"phase {p}" for p in PHASES])
    ax.set_ylabel("% of energy over the period")
    ax.set_title("Share of load per phase")
    ax.legend(fontsize=8)
    return _png(fig)


def figure_tradeoff(curve: list[PhaseBalanceResult]) -> str:
    ks = [r.max_changes for r in curve]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(ks, [r.imbalance for r in curve], marker="o", label="imbalance (best found)")
    ax.plot(ks, [r.bound for r in curve], ls=":", marker=".", color="black", label="proven lower bound")
    ax.set_xlabel("K (max junctions changed)")
    ax.set_ylabel("time-summed imbalance")
    ax.set_title("Trade-off: imbalance vs. number of changes")
    ax.legend(fontsize=8)
    return _png(fig)


def render_report(problem: PhaseBalanceProblem, result: PhaseBalanceResult,
                  curve: list[PhaseBalanceResult] | None = None, title: str = "Phase balancing report") -> str:
    """The report as one HTML string (no external files)."""
    x = result.assignment
    figures = [
        ("Aggregate load per phase", figure_phase_loads(problem, x)),
        ("Imbalance per interval", figure_hourly_imbalance(problem, x)),
        ("Share of load per phase", figure_phase_shares(problem, x)),
    ]
    if curve:
        figures.append(("Trade-off curve", figure_tradeoff(curve)))
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(c.junction)}</td><td>{c.from_phase}</td><td>{c.to_phase}</td></tr>" for c in result.changes
    ) or "<tr><td colspan=3>no change</td></tr>"
    summary = [
        ("junctions x intervals", f"{problem.n_junctions} x {problem.n_hours}"),
        ("max changes K", str(result.max_changes)),
        ("status", result.status),
        *([("solver said", result.reason)] if result.reason else []),
        ("imbalance before", f"{result.initial_imbalance:.6g}"),
        ("imbalance after", f"{result.imbalance:.6g}"),
        ("proven lower bound", f"{result.bound:.6g}"),
        ("relative gap", f"{result.gap:.3e}"),
        ("method / solver", f"{result.method} / {result.solver}"),
        ("solve seconds", f"{result.solve_seconds:.2f}"),
        ("skipped intervals (zero load)", str(len(result.skipped_hours))),
    ]
    summary_rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in summary)
    curve_rows = ""
    if curve:
        header = "<tr><th>K</th><th>imbalance</th><th>bound</th><th>gap</th><th>status</th></tr>"
        curve_rows = "<h2>Trade-off table</h2><table>" + header + "".join(
            f"<tr><td>{r.max_changes}</td><td>{r.imbalance:.6g}</td><td>{r.bound:.6g}</td><td>{r.gap:.2e}</td>"
            f"<td title='{esc(r.reason or '')}'>{r.status}</td></tr>"
            for r in curve
        ) + "</table>"
    imgs = "".join(f'<h2>{esc(t)}</h2><img alt="{esc(t)}" src="data:image/png;base64,{b}"/>' for t, b in figures)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + esc(title) + "</title>"
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}</style></head><body>"
        f"<h1>{esc(title)}</h1><table>{summary_rows}</table>"
        f"<h2>Recommended changes</h2><table><tr><th>junction</th><th>from</th><th>to</th></tr>{rows}</table>"
        f"{curve_rows}{imgs}</body></html>"
    )


def write_report(path: str | Path, problem: PhaseBalanceProblem, result: PhaseBalanceResult,
                 curve: list[PhaseBalanceResult] | None = None, title: str = "Phase balancing report") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(problem, result, curve, title), encoding="utf-8")
    return path
