"""Generator outages as contingencies: participation factors, the response and its flow factors.

After the loss of generator ``g`` in interval ``t`` the other units pick up its output
``P[g, t]`` in proportion to participation factors (a linear response, GO Competition style):

    response[h] = alpha[g, h] P[g, t],   alpha[g, h] = w[h] / sum_{h' != g} w[h']  (h != g),   alpha[g, g] = 0

with weights ``w`` (default: ``Pmax`` of the available units, 0 for the others). The network holds
only in-service units, and those are the ones online in this DC OPF (no commitment); of them a unit
is *available* to respond when it can move: ``Pmax > Pmin`` and ``Pmax > 0`` (a unit fixed at
``Pmin = Pmax``, e.g. ACTIVSg2000's 117 must-run units, has no range to pick anything up).
``sum_h alpha[g, h] = 1``, so the response balances the loss exactly (DC model, no losses) and the
post-outage injections are

    P'[h, t] = P[h, t] + alpha[g, h] P[g, t]  (h != g),      P'[g, t] = 0.

**Limits** (how they are enforced, exactly): one linear row per responding unit ``h``
(``alpha[g, h] > 0``), modeled outage ``g`` and interval ``t``:

    P[h, t] + alpha[g, h] P[g, t] <= Pmax[h]                      (always)
    P[h, t] + alpha[g, h] P[g, t] >= Pmin[h]                      (only where Pmin[g] < 0)

The lower row is left out where ``Pmin[g] >= 0``: then ``P[g, t] >= 0``, the response is
``>= 0`` and the row follows from ``P[h, t] >= Pmin[h]``. Units with ``alpha = 0`` keep
``P' = P``, within their limits already. The ramp limits do not limit the response (they hold
between intervals and, corrective, between restoration steps). The factors are fixed: a unit that
reaches ``Pmax`` does not hand its share to the others; the dispatch keeps enough headroom on every
responding unit instead (:func:`.rows.violated_response_rows` screens these rows, the extensive
form holds them all).

**Flows.** The change of bus injections ``Cg (alpha[g] - e_g) P[g, t]`` sums to zero, so the
flows change by ``D[:, j] P[g_j, t]`` with

    D[:, j] = Bf Bred^-1 Cg (alpha[j] - e_{g_j})        (MW per MW lost, any reference bus)

and the post-contingency row of branch ``l`` is ``F[l, t] + D[l, j] P[g_j, t]`` within the
post-contingency rating (preventive: ``rateA``; corrective: the emergency rating at the outage,
then a restoration trajectory starting from ``P'``; :mod:`.corrective`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..network.dc_model import DcModel
from ..network.model import Network


def participation_weights(network: Network, participation=None) -> np.ndarray:
    """Per generator: its participation weight ``w`` (default ``Pmax`` where ``Pmax > max(Pmin, 0)``, else 0; or the given
    n_gen weights >= 0)."""
    if participation is None:
        pmin, pmax = network.gen["pmin_mw"].to_numpy(float), network.gen["pmax_mw"].to_numpy(float)
        return np.where((pmax > pmin) & (pmax > 0), pmax, 0.0)
    w = np.asarray(participation, dtype=float).ravel()
    if w.shape != (network.n_gen,) or not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError(f"participation must be {network.n_gen} finite weights >= 0 (one per generator)")
    return w


def can_respond(weights: np.ndarray, gen: np.ndarray) -> np.ndarray:
    """Per lost generator: whether any other unit has a positive weight (someone picks up its output)."""
    return weights.sum() - weights[gen] > 1e-9 * max(1.0, weights.sum())


@dataclass(frozen=True)
class GeneratorOutageData:
    """The modeled generator outages (outage column ``K + j`` after the ``K`` branch outages)."""

    gen: np.ndarray  # G: positions of the lost generators
    alpha: np.ndarray  # G x n_gen: participation of every unit in outage j (row sums 1, alpha[j, gen[j]] = 0)
    factors: np.ndarray  # n_branch x G: D, flow change per MW lost
    lower: np.ndarray  # G bool: the lost unit's Pmin < 0 (the response can be negative: lower rows needed)

    @property
    def count(self) -> int:
        return len(self.gen)

    def response(self, p: np.ndarray, j: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Post-outage dispatch ``P'`` (n_gen x len(j)) of outage ``j`` in interval ``t`` (per column)."""
        j, t = np.asarray(j, int), np.asarray(t, int)
        post = p[:, t] + self.alpha[j].T * p[self.gen[j], t][None, :]
        post[self.gen[j], np.arange(j.size)] = 0.0
        return post


def no_generator_outages(network: Network) -> GeneratorOutageData:
    return GeneratorOutageData(
        np.zeros(0, int), np.zeros((0, network.n_gen)), np.zeros((network.n_branch, 0)), np.zeros(0, bool),
    )


def make_generator_outage_data(model: DcModel, gen: np.ndarray, participation=None) -> GeneratorOutageData:
    """Participation factors and flow factors ``D`` of the outages of generators ``gen`` (positions)."""
    net = model.network
    gen = np.asarray(gen, dtype=int)
    if not gen.size:
        return no_generator_outages(net)
    w = participation_weights(net, participation)
    stuck = ~can_respond(w, gen)
    if stuck.any():
        names = net.gen["gen"].to_numpy()[gen[stuck]][:5].tolist()
        raise ValueError(f"no other unit has a participation factor to pick up the output of {names}")
    alpha = np.repeat(w[None, :], gen.size, axis=0)
    alpha[np.arange(gen.size), gen] = 0.0
    alpha /= alpha.sum(axis=1, keepdims=True)
    change = alpha.copy()
    change[np.arange(gen.size), gen] = -1.0  # injection change per MW lost: alpha - e_g
    injection = np.asarray(model.cg @ change.T)  # n_bus x G, sums to 0 per column
    theta = model.solve_angles(injection)  # "per unit" MW / base: the base cancels in Bf theta
    factors = np.asarray(model.bf @ theta)
    lower = net.gen["pmin_mw"].to_numpy(float)[gen] < 0
    return GeneratorOutageData(gen, alpha, np.ascontiguousarray(factors), lower)
