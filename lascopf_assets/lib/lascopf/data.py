"""What a LASCOPF solve holds fixed: the bus loads per interval, the flow limits, the LODFs.

``load_matrix`` turns the caller's loads into the n_bus x T matrix, ``make_data``
derives the base-case flow limits (rating and angle limits) once, and
``flows_from_angles`` gives the base-case branch flows of a solution's angles.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..network.dc_model import DcModel
from ..network.model import Network, NetworkDataError
from .contingency_set import ContingencySet
from .corrective import CORRECTIVE, PREVENTIVE, CorrectiveData, CorrectiveSettings, make_corrective_data
from .generator_outages import GeneratorOutageData, make_generator_outage_data


@dataclass
class LascopfData:
    """Everything fixed across screening iterations: network matrices, loads, limits, LODFs."""

    model: DcModel
    loads_mw: np.ndarray  # n_bus x T
    contingencies: ContingencySet
    soft_penalty: float | None
    base_lo: np.ndarray  # n_branch, MW (may be -inf)
    base_hi: np.ndarray
    rate: np.ndarray  # n_branch, MW (inf = unlimited)
    soft_slack: str = "row"  # "row": slack per post-contingency row; "branch": per monitored branch and interval
    corrective: CorrectiveData | None = None  # None: preventive security
    gen_outages: GeneratorOutageData | None = None  # the modeled generator outages (outage columns K..K+G-1)
    _lodf_mon: np.ndarray | None = field(default=None, repr=False)
    _godf_mon: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_intervals(self) -> int:
        return self.loads_mw.shape[1]

    @property
    def security(self) -> str:
        return PREVENTIVE if self.corrective is None else CORRECTIVE

    @property
    def post_rate(self) -> np.ndarray:
        """Limit of the post-contingency rows under the pre-outage dispatch: ``rateA`` (preventive) or the emergency rating (corrective)."""
        return self.rate if self.corrective is None else self.corrective.emergency

    @property
    def lodf(self) -> np.ndarray:
        return self.contingencies.sensitivities.lodf

    @property
    def outaged(self) -> np.ndarray:
        return self.contingencies.sensitivities.outaged

    @property
    def n_branch_outages(self) -> int:
        """``K``: outage columns ``0..K-1`` are branch outages, ``K..K+G-1`` generator outages."""
        return len(self.outaged)

    @property
    def n_gen_outages(self) -> int:
        return 0 if self.gen_outages is None else self.gen_outages.count

    @property
    def n_outages(self) -> int:
        return self.n_branch_outages + self.n_gen_outages

    def outage_branch(self, k: np.ndarray) -> np.ndarray:
        """Per outage column ``k``: the outaged branch's position, -1 for a generator outage."""
        return np.concatenate([self.outaged, np.full(self.n_gen_outages, -1)]).astype(int)[np.asarray(k, dtype=int)]

    def outage_names(self) -> np.ndarray:
        """Per outage column: the outaged branch's or generator's name."""
        net = self.model.network
        branches = net.branch["branch"].to_numpy()[self.outaged]
        if not self.n_gen_outages:
            return branches
        return np.concatenate([branches, net.gen["gen"].to_numpy()[self.gen_outages.gen]]).astype(object)

    def outage_kinds(self) -> np.ndarray:
        """Per outage column: ``"branch"`` or ``"generator"`` (what :meth:`outage_names` names)."""
        return np.repeat(np.array(["branch", "generator"], dtype=object), [self.n_branch_outages, self.n_gen_outages])

    def monitored_godf(self) -> np.ndarray:
        """Generator-outage flow factors ``D`` of the rated (monitored) branches (monitored x G), cached."""
        if self._godf_mon is None:
            self._godf_mon = np.ascontiguousarray(self.gen_outages.factors[self.monitored_branches()])
        return self._godf_mon

    def monitored_branches(self) -> np.ndarray:
        """Positions of the rated branches: the ones whose post-contingency flow is limited."""
        return np.flatnonzero(np.isfinite(self.rate))

    def monitored_lodf(self) -> np.ndarray:
        """LODF rows of the rated (monitored) branches, C-contiguous, cached."""
        if self._lodf_mon is None:
            self._lodf_mon = np.ascontiguousarray(self.lodf[self.monitored_branches()])
        return self._lodf_mon

    def replace(self, **changes) -> LascopfData:
        """A copy with ``changes`` applied (the cached monitored LODF and generator-outage rows are dropped)."""
        return dataclasses.replace(self, _lodf_mon=None, _godf_mon=None, **changes)


def make_data(
    model: DcModel, loads_mw: np.ndarray, contingencies: ContingencySet, soft_penalty: float | None, soft_slack: str = "row",
    corrective: CorrectiveSettings | None = None, participation=None,
) -> LascopfData:
    """Base-case flow limits ``max(-rate, min(a1, a2)) .. min(rate, max(a1, a2))``, with ``a = base b (angle limit - shift)``.

    With ``corrective`` settings also the trajectory data (:func:`.corrective.make_corrective_data`); the
    generator outages' participation and flow factors (:mod:`.generator_outages`, weights
    ``participation``, default ``Pmax``).
    """
    branch = model.network.branch
    base = model.base_mva
    rate = branch["rate_mw"].to_numpy(float)
    shift = np.deg2rad(branch["shift_deg"].to_numpy(float))
    with np.errstate(invalid="ignore"):
        flow_at_angmin = base * model.b_pu * (np.deg2rad(branch["angmin_deg"].to_numpy(float)) - shift)
        flow_at_angmax = base * model.b_pu * (np.deg2rad(branch["angmax_deg"].to_numpy(float)) - shift)
    flow_at_angmin = np.where(np.isnan(flow_at_angmin), -np.inf, flow_at_angmin)  # inf - inf: no angle limit
    flow_at_angmax = np.where(np.isnan(flow_at_angmax), np.inf, flow_at_angmax)
    lo = np.maximum(-rate, np.minimum(flow_at_angmin, flow_at_angmax))
    hi = np.minimum(rate, np.maximum(flow_at_angmin, flow_at_angmax))
    if soft_slack not in ("row", "branch"):
        raise ValueError(f"soft_slack must be 'row' or 'branch', got {soft_slack!r}")
    loads_mw = np.asarray(loads_mw, float)
    corrective_data = None
    if corrective is not None:
        monitored = np.flatnonzero(np.isfinite(rate))
        corrective_data = make_corrective_data(model, loads_mw, monitored, contingencies.sensitivities.outaged, corrective)
    gen_outages = make_generator_outage_data(model, contingencies.generators, participation)
    return LascopfData(model, loads_mw, contingencies, soft_penalty, lo, hi, rate, soft_slack, corrective_data, gen_outages)


def load_matrix(network: Network, loads_by_interval) -> np.ndarray:
    """Bus loads as an n_bus x T MW matrix.

    ``loads_by_interval``: ``None`` (the network's own profile, or its case loads for one
    interval), an array (n_bus, or n_bus x T), or a DataFrame indexed by bus id with one
    column per interval (missing buses load 0).
    """
    if loads_by_interval is None:
        return network.case_loads(1 if network.load_profile_mw is None else network.load_profile_mw.shape[1])
    if isinstance(loads_by_interval, pd.DataFrame):
        loads = loads_by_interval.reindex(network.bus["bus"].to_numpy()).fillna(0.0).to_numpy(float)
    else:
        loads = np.asarray(loads_by_interval, dtype=float)
    if loads.ndim == 1:
        loads = loads[:, None]
    if loads.shape[0] != network.n_bus:
        raise NetworkDataError(f"{network.name}: loads have {loads.shape[0]} rows for {network.n_bus} buses")
    if not np.all(np.isfinite(loads)):
        raise NetworkDataError(f"{network.name}: loads contain non-finite values")
    return loads


def flows_from_angles(model: DcModel, theta: np.ndarray) -> np.ndarray:
    """Base-case branch flows (n_branch x T, MW): ``F = base Bf theta + Pfinj``."""
    return model.base_mva * (model.bf @ theta) + model.pfinj_mw[:, None]
