"""Phase balancing of distribution feeders: metric, formulations, exact solver, curve, report.

No Dagster imports here. Entry points:

- :func:`problem_from_long_table` / :func:`read_load_table`: the input contract
  ``junction, phase, timestamp, kwh``.
- :func:`imbalance`, :func:`hourly_imbalance`: the study's metric.
- :func:`solve_fast`: the exact fast method; :func:`tradeoff_curve`: K = 0..Kmax.
- :func:`solve_reference`: the study's formulation (and the epigraph one) in cvxpy.
"""

from lascopf_assets.lib.phase_balance.exact import SOLVERS, ExactPhaseBalancer, solve_fast, tradeoff_curve
from lascopf_assets.lib.phase_balance.metric import hourly_imbalance, imbalance, phase_aggregates
from lascopf_assets.lib.phase_balance.problem import (
    PHASES,
    LoadTableError,
    PhaseBalanceProblem,
    problem_from_long_table,
    problem_to_long_table,
    read_load_table,
)
from lascopf_assets.lib.phase_balance.reference import solve_reference
from lascopf_assets.lib.phase_balance.result import PhaseBalanceResult, PhaseChange

__all__ = [
    "PHASES",
    "SOLVERS",
    "ExactPhaseBalancer",
    "LoadTableError",
    "PhaseBalanceProblem",
    "PhaseBalanceResult",
    "PhaseChange",
    "hourly_imbalance",
    "imbalance",
    "phase_aggregates",
    "problem_from_long_table",
    "problem_to_long_table",
    "read_load_table",
    "solve_fast",
    "solve_reference",
    "tradeoff_curve",
]
