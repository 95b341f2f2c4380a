"""Look-ahead security-constrained OPF (PowerLASCOPF's problem): exact screening and extensive-form solvers."""

from .admm import solve_lascopf_admm
from .central import solve_lascopf
from .contingency_set import ContingencySet, resolve_contingencies
from .result import LascopfResult

__all__ = ["ContingencySet", "LascopfResult", "resolve_contingencies", "solve_lascopf", "solve_lascopf_admm"]
