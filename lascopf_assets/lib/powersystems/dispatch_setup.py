"""Line ratings and ramp limits for cases that have none (MATPOWER's IEEE cases: RATE_A = 0, no ramps).

Ratings (only branches without a case rating are touched; case ratings are kept):

- ``case``: nothing changes; unrated branches stay unlimited (N-1 is then trivial).
- ``uniform``: every unrated branch gets ``uniform_mw``.
- ``flow_factor``: solve the day without flow limits or contingencies (the
  economic dispatch), take each branch's largest base-case |flow| over the
  intervals, and rate the branch ``max(factor * that flow, floor_mw)``. With a
  factor a little above 1 the base case fits and some N-1 limits bind.

Ramps: ``ramp_fraction`` times Pmax per interval (hour), up and down, for
generators without a ramp limit; ``None`` leaves them unlimited.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..network.model import Network

RATING_MODES = ("case", "uniform", "flow_factor")


@dataclass(frozen=True)
class RatingSpec:
    mode: str = "case"
    uniform_mw: float | None = None
    factor: float | None = None
    floor_mw: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in RATING_MODES:
            raise ValueError(f"rating mode {self.mode!r} is not one of {RATING_MODES}")
        if self.mode == "uniform" and not (self.uniform_mw and self.uniform_mw > 0):
            raise ValueError("rating mode 'uniform' needs a positive uniform_mw")
        if self.mode == "flow_factor" and not (self.factor and self.factor > 0):
            raise ValueError("rating mode 'flow_factor' needs a positive factor")
        if self.floor_mw < 0:
            raise ValueError("floor_mw must be >= 0")


def _with(network: Network, gen: pd.DataFrame | None = None, branch: pd.DataFrame | None = None) -> Network:
    return Network(
        network.name, network.base_mva, network.bus, network.gen if gen is None else gen,
        network.branch if branch is None else branch, network.pwl_points, network.load_profile_mw,
    )


def unconstrained_flows(network: Network, loads) -> np.ndarray:
    """Base-case branch flows (branches x intervals, MW) of the dispatch without flow limits or contingencies."""
    from ..lascopf.central import solve_lascopf

    free = _with(network, branch=network.branch.assign(rate_mw=np.inf))
    result = solve_lascopf(free, loads, contingencies="none", diagnose=False)
    if result.status != "optimal":
        raise ValueError(f"{network.name}: the dispatch without flow limits is {result.status}; cannot derive ratings from it")
    table = result.branch_flows
    return table["flow_mw"].to_numpy(float).reshape(network.n_branch, result.intervals)


def apply_ratings(network: Network, loads, spec: RatingSpec) -> tuple[Network, np.ndarray]:
    """The network with ratings on its unrated branches per ``spec``, and the ratings set (MW, NaN = untouched)."""
    rate = network.branch["rate_mw"].to_numpy(float)
    unrated = ~np.isfinite(rate)
    new = np.full(rate.shape, np.nan)
    if spec.mode == "case" or not unrated.any():
        return network, new
    if spec.mode == "uniform":
        new[unrated] = spec.uniform_mw
    else:
        peak = np.abs(unconstrained_flows(network, loads)).max(axis=1)
        new[unrated] = np.maximum(spec.factor * peak[unrated], spec.floor_mw)
    rated = np.where(unrated, new, rate)
    return _with(network, branch=network.branch.assign(rate_mw=rated)), new


def apply_ramp_fraction(network: Network, fraction: float | None) -> Network:
    """Ramp up/down = ``fraction`` * Pmax per interval for generators without ramp limits."""
    if fraction is None:
        return network
    if not fraction > 0:
        raise ValueError("ramp fraction must be positive")
    gen = network.gen
    pmax = gen["pmax_mw"].to_numpy(float)
    up = gen["ramp_up_mw"].to_numpy(float)
    down = gen["ramp_down_mw"].to_numpy(float)
    return _with(network, gen=gen.assign(
        ramp_up_mw=np.where(np.isfinite(up), up, fraction * pmax),
        ramp_down_mw=np.where(np.isfinite(down), down, fraction * pmax),
    ))
