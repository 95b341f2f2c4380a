"""PTDF and LODF from the sparse LU of the reduced bus susceptance matrix.

``PTDF[l, i]``: MW change of the flow on branch ``l`` per MW injected at bus
``i`` and withdrawn at the reference bus. ``LODF[l, j]``: change of the flow on
``l`` per MW of pre-outage flow on the outaged branch ``outaged[j]``
(``LODF[outaged[j], j] = -1``). An outage whose LODF denominator
``1 - PTDF_kk`` is ~0 splits the network; it is not modeled and is listed in
``skipped``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dc_model import DcModel

ISLANDING_TOL = 1e-6


def ptdf(model: DcModel, branches: np.ndarray | None = None) -> np.ndarray:
    """Dense PTDF rows (len(branches) x n_bus) for the selected branch positions (all by default)."""
    bf = model.bf if branches is None else model.bf[np.asarray(branches)]
    nr = model.nonref
    rhs = bf[:, nr].T.toarray()  # Bbus is symmetric: PTDF_r^T = Bred^-1 Bf_r^T
    out = np.zeros((bf.shape[0], model.network.n_bus))
    if rhs.shape[1]:
        out[:, nr] = model.reduced_lu().solve(np.ascontiguousarray(rhs)).T
    return out


def branch_ptdf(model: DcModel, outaged: np.ndarray) -> np.ndarray:
    """``H[:, j]`` = flow change on every branch per MW transferred from the from-bus to the to-bus of ``outaged[j]``."""
    nr = model.nonref
    rhs = model.cft[np.asarray(outaged)][:, nr].T.toarray()
    theta = np.zeros((model.network.n_bus, len(outaged)))
    if len(outaged):
        theta[nr] = model.reduced_lu().solve(np.ascontiguousarray(rhs))
    return np.asarray(model.bf @ theta)


@dataclass(frozen=True)
class OutageSensitivities:
    outaged: np.ndarray  # positions of modeled (non-islanding) outaged branches
    lodf: np.ndarray  # n_branch x len(outaged)
    skipped: np.ndarray  # positions of islanding outages (not modeled)

    def post_contingency_flows(self, base_flows: np.ndarray) -> np.ndarray:
        """Flows after each outage: (n_branch x n_outaged) for one interval's base flows (n_branch)."""
        return base_flows[:, None] + self.lodf * base_flows[self.outaged][None, :]


def lodf(model: DcModel, outages: np.ndarray) -> OutageSensitivities:
    """LODF columns for the requested outages; islanding outages are split off into ``skipped``."""
    outages = np.asarray(outages, dtype=int)
    h = branch_ptdf(model, outages)
    denom = 1.0 - h[outages, np.arange(len(outages))]
    islanding = np.abs(denom) < ISLANDING_TOL
    keep = ~islanding
    cols = h[:, keep] / denom[keep][None, :]
    kept = outages[keep]
    cols[kept, np.arange(len(kept))] = -1.0
    return OutageSensitivities(outaged=kept, lodf=cols, skipped=outages[islanding])
