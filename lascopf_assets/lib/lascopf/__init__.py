"""Look-ahead security-constrained DC OPF (PowerLASCOPF's problem).

``solve_lascopf``: exact centralized solve (contingency screening or the extensive form).
``solve_lascopf_admm``: consensus ADMM across contingency-scenario groups (parallel processes).
Both return a :class:`LascopfResult` with pandas tables.

Modules, one job each: ``contingency_set`` (which outages), ``data`` (loads, flow
limits, flows from angles), ``rows`` (flow-limit row sets, violated rows),
``formulation`` (the cvxpy problem, one function per constraint family), ``solve``
(solver choice and fallback ladder), ``solution`` (result tables from the solution
and the duals), ``diagnosis`` (why a problem is infeasible), ``central`` (the
screening / extensive-form loop), ``admm``, ``result``, ``report``, ``load_profile``.
"""

from .admm import solve_lascopf_admm
from .central import solve_lascopf
from .contingency_set import ContingencySet, resolve_contingencies
from .result import LascopfResult

__all__ = ["ContingencySet", "LascopfResult", "resolve_contingencies", "solve_lascopf", "solve_lascopf_admm"]
