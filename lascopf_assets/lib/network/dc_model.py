"""The DC network model as MATPOWER's ``makeBdc``, plus the DC power flow.

Branch susceptance ``b = 1 / (x * tap)``; phase shifters inject
``Pfinj = -b * shift`` at the branch and ``Cft' Pfinj`` at the buses; bus shunt
conductance ``Gs`` is a constant load. Everything outside this module is in MW:
``flow = base * Bf theta + Pfinj_mw`` and ``base * Bbus theta = Pg - Pd - Gs - Pbusinj_mw``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

from .model import Network, NetworkDataError


@dataclass
class DcModel:
    network: Network
    b_pu: np.ndarray  # branch susceptance 1/(x tap), per unit
    from_pos: np.ndarray
    to_pos: np.ndarray
    ref: int  # position of the reference bus
    bbus: sp.csc_matrix  # n_bus x n_bus, per unit
    bf: sp.csr_matrix  # n_branch x n_bus, per unit
    cft: sp.csr_matrix  # n_branch x n_bus incidence (+1 from, -1 to)
    cg: sp.csr_matrix  # n_bus x n_gen generator placement
    pfinj_mw: np.ndarray  # n_branch
    pbusinj_mw: np.ndarray  # n_bus
    gs_mw: np.ndarray  # n_bus
    _lu: object = field(default=None, repr=False)

    @property
    def base_mva(self) -> float:
        return self.network.base_mva

    @property
    def nonref(self) -> np.ndarray:
        return np.delete(np.arange(self.network.n_bus), self.ref)

    def reduced_lu(self):
        """Sparse LU of ``Bbus`` without the reference row and column (cached)."""
        if self._lu is None:
            nr = self.nonref
            self._lu = splu(self.bbus[nr][:, nr].tocsc())
        return self._lu

    def solve_angles(self, rhs_pu: np.ndarray) -> np.ndarray:
        """Angles (radians, reference = 0) for bus injections ``rhs_pu`` (n_bus or n_bus x T)."""
        rhs_pu = np.asarray(rhs_pu, dtype=float)
        theta = np.zeros_like(rhs_pu)
        if rhs_pu.ndim == 1:
            theta[self.nonref] = self.reduced_lu().solve(rhs_pu[self.nonref])
        else:
            theta[self.nonref] = self.reduced_lu().solve(np.ascontiguousarray(rhs_pu[self.nonref]))
        return theta

    def net_injection_mw(self, pg_mw: np.ndarray, loads_mw: np.ndarray) -> np.ndarray:
        """Bus injections ``Cg Pg - Pd - Gs`` (n_bus x T) for dispatch (n_gen x T) and loads (n_bus x T)."""
        pg_mw = np.asarray(pg_mw, float)
        loads_mw = np.asarray(loads_mw, float)
        gs = self.gs_mw if loads_mw.ndim == 1 else self.gs_mw[:, None]
        return self.cg @ pg_mw - loads_mw - gs

    def power_flow(self, injection_mw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """DC power flow: angles (rad) and branch flows (MW); the reference bus takes any mismatch."""
        inj = np.asarray(injection_mw, float)
        pbus = self.pbusinj_mw if inj.ndim == 1 else self.pbusinj_mw[:, None]
        pfin = self.pfinj_mw if inj.ndim == 1 else self.pfinj_mw[:, None]
        theta = self.solve_angles((inj - pbus) / self.base_mva)
        return theta, self.base_mva * (self.bf @ theta) + pfin


def island_labels(n_bus: int, from_pos: np.ndarray, to_pos: np.ndarray) -> tuple[int, np.ndarray]:
    adj = sp.coo_matrix((np.ones(len(from_pos)), (from_pos, to_pos)), shape=(n_bus, n_bus))
    return connected_components(adj, directed=False)


def build_dc_model(network: Network) -> DcModel:
    """Build the DC matrices; the network must be one connected island."""
    br = network.branch
    nb, nl, ng = network.n_bus, network.n_branch, network.n_gen
    f = network.bus_position(br["from_bus"].to_numpy())
    t = network.bus_position(br["to_bus"].to_numpy())
    n_islands, labels = island_labels(nb, f, t)
    if n_islands > 1:
        ref_label = labels[np.flatnonzero(network.bus["is_ref"].to_numpy())[0]]
        stray = network.bus["bus"].to_numpy()[labels != ref_label][:10].tolist()
        raise NetworkDataError(
            f"{network.name}: network has {n_islands} islands; buses not connected to the reference: {stray}"
        )
    b = 1.0 / (br["x_pu"].to_numpy(float) * br["tap"].to_numpy(float))
    rows = np.arange(nl)
    cft = sp.csr_matrix(
        (np.concatenate([np.ones(nl), -np.ones(nl)]), (np.concatenate([rows, rows]), np.concatenate([f, t]))),
        shape=(nl, nb),
    )
    bf = sp.csr_matrix(sp.diags(b) @ cft)
    bbus = sp.csc_matrix(cft.T @ bf)
    pfinj = network.base_mva * (-b * np.deg2rad(br["shift_deg"].to_numpy(float)))
    pbusinj = cft.T @ pfinj
    gpos = network.bus_position(network.gen["bus"].to_numpy())
    cg = sp.csr_matrix((np.ones(ng), (gpos, np.arange(ng))), shape=(nb, ng))
    ref = int(np.flatnonzero(network.bus["is_ref"].to_numpy())[0])
    return DcModel(
        network=network, b_pu=b, from_pos=f, to_pos=t, ref=ref, bbus=bbus, bf=bf, cft=cft, cg=cg,
        pfinj_mw=pfinj, pbusinj_mw=np.asarray(pbusinj).ravel(), gs_mw=network.bus["gs_mw"].to_numpy(float),
    )
