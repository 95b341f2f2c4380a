"""Look-ahead security-constrained DC OPF (PowerLASCOPF's problem).

``solve_lascopf``: exact centralized solve (contingency screening or the extensive form), with
preventive (default) or corrective N-1 security (``security="corrective"``: emergency ratings at the
outage, then ``restore_intervals`` restoration steps back within the normal rating), over branch
outages and generator outages (``generator_contingencies``: the others pick up the lost output by
participation factors, within their limits).
``solve_lascopf_admm``: consensus ADMM across contingency-scenario groups (parallel processes).
Both return a :class:`LascopfResult` with pandas tables.

Modules, one job each: ``contingency_set`` (which outages), ``data`` (loads, flow
limits, flows from angles), ``generator_outages`` (participation factors, response, their flow
factors), ``corrective`` (emergency ratings, shift factors and step ramps of
the restoration trajectories), ``rows`` (flow-limit row sets, violated rows),
``formulation`` (the cvxpy problem, one function per constraint family), ``solve``
(solver choice and fallback ladder), ``solution`` (result tables from the solution
and the duals), ``diagnosis`` (why a problem is infeasible), ``central`` (the
screening / extensive-form loop), ``admm``, ``result``, ``report``, ``load_profile``.
"""

from .central import solve_lascopf
from .contingency_set import ContingencySet, resolve_contingencies
from .result import LascopfResult

__all__ = ["ContingencySet", "LascopfResult", "resolve_contingencies", "solve_lascopf", "solve_lascopf_admm"]


def __getattr__(name: str):
    """``solve_lascopf_admm`` is imported on first use (multiprocessing and the ADMM blocks are not needed by a central solve)."""
    if name == "solve_lascopf_admm":
        from .admm import solve_lascopf_admm

        return solve_lascopf_admm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
