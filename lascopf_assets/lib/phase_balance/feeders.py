"""Phase balancing feeder by feeder: each feeder is its own problem, with its own K.

Imbalance is a property of what one transformer carries, so a long load table with a
``feeder`` column is split into one :class:`PhaseBalanceProblem` per feeder and each is solved
on its own (pooling two feeders would balance a sum no transformer carries). A junction
belongs to exactly one feeder, so no move can cross a feeder.

The crew planner's view is :func:`feeder_ranking`: feeders ordered by imbalance removed per
phase change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lascopf_assets.lib.phase_balance.problem import (
    LoadTableError,
    PhaseBalanceProblem,
    first_disagreement,
    first_rows,
    problem_from_long_table,
    row_label,
)
from lascopf_assets.lib.phase_balance.result import PhaseBalanceResult

FEEDER_COLUMN = "feeder"
RANKING_COLUMNS = [
    "rank", "feeder", "status", "junctions", "changes", "initial_imbalance", "imbalance", "removed",
    "removed_per_change", "gap",
]


def problems_by_feeder(table: pd.DataFrame, source: str = "loads", csv_lines: bool = True) -> dict[str, PhaseBalanceProblem]:
    """One problem per feeder of the long table ``feeder, junction, phase, timestamp, kwh``, sorted by feeder.

    Raises :class:`LoadTableError` naming the row for an empty feeder, and for a junction given
    under two feeders (a junction hangs off one feeder).
    """
    if FEEDER_COLUMN not in table.columns:
        raise LoadTableError(f"{source}: no {FEEDER_COLUMN} column")
    if len(table) == 0:
        raise LoadTableError(f"{source}: no rows")
    feeder = table[FEEDER_COLUMN]
    names = feeder.astype(str).str.strip()
    empty = (feeder.isna() | (names == "")).to_numpy()
    if empty.any():
        raise LoadTableError(f"{row_label(source, int(np.argmax(empty)), csv_lines)}: empty feeder")
    feeder_codes, feeder_names = pd.factorize(names, sort=True)
    junction_codes, junction_names = pd.factorize(table["junction"].astype(str))
    # the feeder of each junction's first row; any row that disagrees is the error
    first_row = first_rows(junction_codes, len(junction_names))
    first_feeder = feeder_codes[first_row[junction_codes]]
    pos = first_disagreement(feeder_codes, first_feeder)
    if pos is not None:
        j = junction_codes[pos]
        raise LoadTableError(
            f"{row_label(source, pos, csv_lines)}: junction {junction_names[j]!r} is under feeder "
            f"{feeder_names[feeder_codes[pos]]!r} here but under {feeder_names[first_feeder[pos]]!r} at "
            f"{row_label(source, int(first_row[j]), csv_lines)}"
        )
    problems = {}
    for code, name in enumerate(feeder_names):
        positions = np.flatnonzero(feeder_codes == code)
        problems[str(name)] = problem_from_long_table(
            table.iloc[positions], source=source, csv_lines=csv_lines, row_positions=positions
        )
    return problems


@dataclass
class FeederBalance:
    """One feeder's problem, its result for K and (optionally) its trade-off curve."""

    feeder: str
    problem: PhaseBalanceProblem
    result: PhaseBalanceResult
    curve: list[PhaseBalanceResult] | None = None

    def to_dict(self) -> dict:
        """The feeder's entry of the CLI's ``{"feeders": [...]}`` JSON."""
        out = {"feeder": self.feeder, **self.result.to_dict(), "junctions": self.problem.n_junctions,
               "intervals": self.problem.n_hours}
        if self.curve is not None:
            out["curve"] = curve_rows(self.curve)
        return out


def curve_rows(curve: list[PhaseBalanceResult]) -> list[dict]:
    """The trade-off curve as plain rows, each checkable on its own: K, status, reason, imbalance, proven bound,
    gap, that point's own ``changes`` (junction, from_phase, to_phase) and the ``seconds`` its solve took."""
    return [
        {"max_changes": r.max_changes, "status": r.status, "reason": r.reason, "imbalance": float(r.imbalance),
         "bound": float(r.bound), "gap": float(r.gap),
         "changes": [{"junction": c.junction, "from_phase": c.from_phase, "to_phase": c.to_phase} for c in r.changes],
         "seconds": float(r.solve_seconds)}
        for r in curve
    ]


def balance_feeders(problems: Mapping[str, PhaseBalanceProblem], solve) -> list[FeederBalance]:
    """``solve(problem) -> (result, curve)`` applied to every feeder, in feeder order.

    ``solve`` carries the method, solver, K, curve and the time budget of ONE feeder (each feeder
    is its own problem with its own budget).
    """
    balances = []
    for feeder in sorted(problems):
        result, curve = solve(problems[feeder])
        balances.append(FeederBalance(feeder, problems[feeder], result, curve))
    return balances


def feeder_ranking(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Feeders ranked by imbalance removed per phase change (what a crew planner reads).

    ``outcomes``: one row per feeder with ``feeder, status, junctions, changes, initial_imbalance,
    imbalance, gap``. ``removed = initial_imbalance - imbalance``; ``removed_per_change`` is
    ``removed / changes`` (NaN without a change: such feeders rank last, by removed = 0).
    Ties keep the larger total removed first, then the feeder name.
    """
    table = outcomes.copy()
    table["removed"] = table["initial_imbalance"] - table["imbalance"]
    changes = table["changes"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["removed_per_change"] = np.where(changes > 0, table["removed"].to_numpy() / changes, np.nan)
    order = table.assign(_per=table["removed_per_change"].fillna(-np.inf)).sort_values(
        ["_per", "removed", "feeder"], ascending=[False, False, True], kind="stable"
    )
    ranked = order.drop(columns="_per").reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked[RANKING_COLUMNS]


def balances_frame(balances: list[FeederBalance]) -> pd.DataFrame:
    """The ranking's input rows for solved feeders."""
    return pd.DataFrame(
        [
            {"feeder": b.feeder, "status": b.result.status, "junctions": b.problem.n_junctions,
             "changes": len(b.result.changes), "initial_imbalance": float(b.result.initial_imbalance),
             "imbalance": float(b.result.imbalance), "gap": float(b.result.gap)}
            for b in balances
        ]
    )
