"""Corrective security: what a restoration trajectory after an outage holds fixed.

With ``security="corrective"`` every modeled outage ``k`` in every interval ``t`` is met in two
stages (PowerLASCOPF's look-ahead after a contingency):

- at the moment of the outage, under the pre-outage dispatch ``P[:, t]``, the post-contingency
  flows stay within the **emergency rating** ``E`` (:func:`emergency_ratings`);
- a corrective trajectory ``Q[g, k, t, s]``, ``s = 1..N`` (``Q[., 0] = P[:, t]``; after a generator
  outage ``Q[., 0] = P'``, the participation response of :mod:`.generator_outages`, and the lost
  unit's ``Q`` is 0 at every step), each step
  ``restore_minutes`` long, moves generation within ``Pmin..Pmax`` and the ramp limits scaled to
  the step, balancing interval ``t``'s load, with the flows under outage ``k`` within ``E`` for
  ``s < N`` and within the normal rating ``rateA`` at ``s = N``.

The trajectory's flows come from generator shift factors, not from angle variables: with the
balance holding, the pre-outage flows of a dispatch ``Q`` are ``F = GSF Q + c_t`` with
``GSF = PTDF Cg`` and ``c_t = pfinj - PTDF (Pd_t + Gs + Pbusinj)``, and after outage ``k``
``F_l + LODF[l, k] F_k``. :class:`CorrectiveData` holds ``GSF`` and ``c`` of the branches the
rows need (the monitored and the outaged ones), the emergency ratings and the step ramps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..network.dc_model import DcModel
from ..network.sensitivities import ptdf

PREVENTIVE = "preventive"
CORRECTIVE = "corrective"
SECURITY_MODES = (PREVENTIVE, CORRECTIVE)
ENDPOINT = "endpoint"
FULL = "full"
TRAJECTORY_FORMS = (ENDPOINT, FULL)


@dataclass(frozen=True)
class CorrectiveSettings:
    """``restore_intervals`` steps of ``restore_minutes`` each after an outage (dispatch intervals of ``interval_minutes``)."""

    restore_intervals: int
    restore_minutes: float = 15.0
    emergency_factor: float = 1.2
    corrective_cost: float = 0.0  # $/MW of corrective movement sum_s |Q[s] - Q[s-1]|
    interval_minutes: float = 60.0  # length of a dispatch interval: the ramp limits are per interval
    trajectory_form: str = ENDPOINT  # "endpoint": Q_N only, straight-line check, fallback (:mod:`.endpoint`); "full": every step
    constant_fixed_units: bool = True  # units with Pmax == Pmin get no Q variables (their Q is the constant Pmin)

    def __post_init__(self):
        if self.trajectory_form not in TRAJECTORY_FORMS:
            raise ValueError(f"trajectory_form must be one of {'|'.join(TRAJECTORY_FORMS)}, got {self.trajectory_form!r}")
        if isinstance(self.restore_intervals, bool) or int(self.restore_intervals) != self.restore_intervals \
                or self.restore_intervals < 1:
            raise ValueError(f"restore_intervals must be an integer >= 1, got {self.restore_intervals!r}")
        for name, low in (("restore_minutes", 0.0), ("interval_minutes", 0.0)):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > low):
                raise ValueError(f"{name} must be a positive number of minutes, got {value!r}")
        if not (math.isfinite(self.emergency_factor) and self.emergency_factor >= 1.0):
            raise ValueError(f"emergency_factor must be a number >= 1, got {self.emergency_factor!r}")
        if not (math.isfinite(self.corrective_cost) and self.corrective_cost >= 0.0):
            raise ValueError(f"corrective_cost must be a number >= 0 ($/MW), got {self.corrective_cost!r}")

    @property
    def step_fraction(self) -> float:
        """Length of a restoration step as a fraction of a dispatch interval (the ramp scaling)."""
        return self.restore_minutes / self.interval_minutes


def emergency_ratings(branch, factor: float) -> np.ndarray:
    """Per branch: ``rateC`` where the case gives one, else ``rateB``, else ``rateA x factor`` (MW).

    Legacy cases carry one ``Capacity`` (``rate_mw``), so theirs is ``Capacity x factor``. An
    unrated branch (``rateA`` infinite) stays unlimited; a short-term rating below ``rateA`` is
    taken as ``rateA`` (an emergency rating is never tighter than the normal one, which keeps
    "corrective never costs more than preventive" and "more steps never cost more" true).
    """
    rate = branch["rate_mw"].to_numpy(float)
    emergency = rate * factor
    for column in ("rate_b_mw", "rate_c_mw"):  # rateC overrides rateB overrides the factor
        if column in branch:
            given = branch[column].to_numpy(float)
            emergency = np.where(np.isfinite(given) & (given > 0), given, emergency)
    return np.where(np.isfinite(rate), np.maximum(emergency, rate), np.inf)


@dataclass
class CorrectiveData:
    """Everything a corrective trajectory needs that is fixed across screening iterations."""

    settings: CorrectiveSettings
    emergency: np.ndarray  # n_branch, MW (inf = unlimited)
    gsf_branches: np.ndarray  # branch positions with a GSF row (monitored and outaged)
    gsf_row: np.ndarray  # n_branch: row of the branch in ``gsf`` (-1: none)
    gsf: np.ndarray  # len(gsf_branches) x n_gen, MW per MW
    flow_constant: np.ndarray  # len(gsf_branches) x T, MW: F = gsf Q + flow_constant[:, t]
    ramp_up_step: np.ndarray  # n_gen, MW per restoration step (inf = none)
    ramp_down_step: np.ndarray
    demand: np.ndarray  # T, MW the generators must cover in each interval (loads + shunts)

    @property
    def steps(self) -> int:
        return self.settings.restore_intervals

    def trajectory_units(self, pmin: np.ndarray, pmax: np.ndarray, responds: np.ndarray | None = None) -> np.ndarray:
        """Units with a ``Q`` variable: all, or (``constant_fixed_units``) those with ``Pmax > Pmin`` or a share in a
        generator outage's response (``responds``); every other unit has ``P = Q = Pmin`` at every step."""
        if not self.settings.constant_fixed_units:
            return np.arange(pmin.size)
        moving = pmax > pmin
        if responds is not None:
            moving |= responds
        return np.flatnonzero(moving)

    def post_outage_gsf(self, line: np.ndarray, k: np.ndarray, lodf: np.ndarray, outaged: np.ndarray) -> np.ndarray:
        """Per row: ``GSF[l] + LODF[l, k] GSF[outaged k]`` (rows x n_gen): MW on ``l = line`` after outage ``k`` per generator MW.

        A generator outage (``k >= len(outaged)``) leaves the network whole: ``GSF[l]`` (the lost unit's ``Q`` is 0).
        """
        out = self.gsf[self.gsf_row[line]]
        lost = np.flatnonzero(k < len(outaged))
        if lost.size:
            out[lost] += lodf[line[lost], k[lost]][:, None] * self.gsf[self.gsf_row[outaged[k[lost]]]]
        return out

    def post_outage_constant(
        self, line: np.ndarray, k: np.ndarray, t: np.ndarray, lodf: np.ndarray, outaged: np.ndarray
    ) -> np.ndarray:
        """Per row: ``c[l, t] + LODF[l, k] c[outaged k, t]`` (MW, ``l = line``; generator outages: ``c[l, t]``)."""
        out = self.flow_constant[self.gsf_row[line], t]
        lost = np.flatnonzero(k < len(outaged))
        if lost.size:
            out[lost] += lodf[line[lost], k[lost]] * self.flow_constant[self.gsf_row[outaged[k[lost]]], t[lost]]
        return out


def make_corrective_data(
    model: DcModel, loads_mw: np.ndarray, monitored: np.ndarray, outaged: np.ndarray, settings: CorrectiveSettings
) -> CorrectiveData:
    """Emergency ratings, generator shift factors and flow constants of the monitored and outaged branches, step ramps."""
    net = model.network
    branches = np.union1d(monitored, outaged).astype(int)
    rows = np.full(net.n_branch, -1)
    rows[branches] = np.arange(branches.size)
    shift = ptdf(model, branches) if branches.size else np.zeros((0, net.n_bus))  # MW per MW, reference withdraws
    gsf = np.asarray((model.cg.T @ shift.T).T)  # PTDF Cg
    withdrawal = loads_mw + model.gs_mw[:, None] + model.pbusinj_mw[:, None]
    constant = model.pfinj_mw[branches][:, None] - shift @ withdrawal
    gen = net.gen
    fraction = settings.step_fraction
    return CorrectiveData(
        settings=settings,
        emergency=emergency_ratings(net.branch, settings.emergency_factor),
        gsf_branches=branches,
        gsf_row=rows,
        gsf=np.ascontiguousarray(gsf),
        flow_constant=constant,
        ramp_up_step=gen["ramp_up_mw"].to_numpy(float) * fraction,
        ramp_down_step=gen["ramp_down_mw"].to_numpy(float) * fraction,
        demand=(loads_mw + model.gs_mw[:, None]).sum(axis=0),
    )
