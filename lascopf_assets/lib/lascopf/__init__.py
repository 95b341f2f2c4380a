"""Look-ahead security-constrained DC OPF (PowerLASCOPF's problem).

``solve_lascopf``: exact centralized solve (contingency screening or the extensive form).
``solve_lascopf_admm``: consensus ADMM across contingency-scenario groups (parallel processes).
Both return a :class:`LascopfResult` with pandas tables.
"""

from .admm import solve_lascopf_admm
from .central import solve_lascopf
from .contingency_set import ContingencySet, resolve_contingencies
from .result import LascopfResult

__all__ = ["ContingencySet", "LascopfResult", "resolve_contingencies", "solve_lascopf", "solve_lascopf_admm"]
