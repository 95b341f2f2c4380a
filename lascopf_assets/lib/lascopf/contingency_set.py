"""Which branch and generator outages a LASCOPF models, and which it lists as skipped (with the reason).

Branch outages come from ``spec`` (:func:`resolve_contingencies`); generator outages from
``generators``: ``"listed"`` (default: the ones the contingency list names, i.e. the
``CT_TGEN ... GEN_STATUS CT_REP 0`` rows of a MATPOWER contab; ``"marked"``/``"all"``/``"none"``
and branch lists name none), ``"all"`` (every in-service generator), ``"none"`` (the listed ones
are skipped, each with its reason) or a list of generator names. Nothing is dropped silently:
every listed outage that is not modeled is a row of ``skipped``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..network.dc_model import DcModel
from ..network.matpower_changes import read_contingency_table
from ..network.model import NetworkDataError
from ..network.sensitivities import OutageSensitivities, lodf
from .generator_outages import can_respond, participation_weights

SKIPPED_COLUMNS = ["contingency", "branch", "generator", "reason"]
GENERATOR_SPECS = ("listed", "all", "none")


@dataclass(frozen=True)
class ContingencySet:
    sensitivities: OutageSensitivities  # LODF columns of the modeled branch outages
    modeled: list[str]  # branch names, same order as sensitivities.outaged
    skipped: pd.DataFrame  # contingency, branch, generator, reason
    generators: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # positions of the lost generators
    generators_modeled: list[str] = field(default_factory=list)  # their names, same order
    generator_labels: list[str] = field(default_factory=list)  # their contingency labels (contab C<label>, else the name)


def resolve_contingencies(model: DcModel, spec, generators="listed") -> ContingencySet:
    """Resolve ``"marked" | "all" | "none"``, a MATPOWER contab path, or a list of branch names; and ``generators``.

    Islanding outages (LODF denominator ~0) are moved to ``skipped``; so are generator outages
    of units already out of service, of units no other unit can stand in for (no other unit with
    ``Pmax > Pmin``, :func:`.generator_outages.participation_weights`), and, with ``generators="none"``, the listed ones.
    """
    net = model.network
    names = net.branch["branch"].to_numpy()
    if isinstance(generators, str) and generators not in GENERATOR_SPECS:
        raise ValueError(f"unknown generator contingencies {generators!r} (listed|all|none or a list of names)")
    skipped_rows: list[tuple[str, str, str, str]] = []
    listed_gens: list[tuple[str, int]] = []  # (label, 1-based source generator row)
    if isinstance(spec, str) and spec in ("marked", "all", "none"):
        if spec == "marked":
            cand = np.flatnonzero(net.branch["contingency_marked"].to_numpy())
        elif spec == "all":
            cand = np.arange(net.n_branch)
        else:
            cand = np.array([], dtype=int)
        labels = names[cand].tolist()
    elif isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        table = read_contingency_table(path)
        is_gen = (table["gen_row"] > 0).to_numpy()
        listed_gens = [(f"C{lab}", int(row)) for lab, row in zip(table["label"].to_numpy()[is_gen], table["gen_row"].to_numpy()[is_gen])]
        table = table[~is_gen]
        src = pd.Index(net.branch["source_row"].to_numpy())
        pos = src.get_indexer(table["branch_row"].to_numpy())
        modeled_here = (table["reason"] == "").to_numpy()
        out_of_service = modeled_here & (pos < 0)
        for lab, reason, row in zip(
            table["label"].to_numpy()[~modeled_here | out_of_service],
            np.where(out_of_service, "branch already out of service", table["reason"].to_numpy())[~modeled_here | out_of_service],
            table["branch_row"].to_numpy()[~modeled_here | out_of_service],
        ):
            skipped_rows.append((f"C{lab}", f"L{row}" if row > 0 else "", "", reason))
        keep = modeled_here & (pos >= 0)
        cand = pos[keep]
        labels = [f"C{lab}" for lab in table["label"].to_numpy()[keep]]
        # a branch listed twice is modeled once
        cand, first = np.unique(cand, return_index=True)
        order = np.argsort(first)
        cand = cand[order]
        labels = [labels[i] for i in np.sort(first)]
    else:
        wanted = list(spec)
        index = pd.Index(names)
        cand = index.get_indexer(wanted)
        if (cand < 0).any():
            raise NetworkDataError(f"{net.name}: unknown contingency branch(es) {[w for w, c in zip(wanted, cand) if c < 0][:5]}")
        labels = list(wanted)
    sens = lodf(model, np.asarray(cand, dtype=int))
    island = set(sens.skipped.tolist())
    for lab, c in zip(labels, cand):
        if c in island:
            skipped_rows.append((lab, names[c], "", "islanding outage (disconnects the network)"))
    gen_positions, gen_labels = _generator_outages(model, generators, listed_gens, skipped_rows)
    skipped = pd.DataFrame(skipped_rows, columns=SKIPPED_COLUMNS)
    return ContingencySet(
        sensitivities=sens, modeled=names[sens.outaged].tolist(), skipped=skipped, generators=gen_positions,
        generators_modeled=net.gen["gen"].to_numpy()[gen_positions].tolist(), generator_labels=gen_labels,
    )


def _generator_outages(
    model: DcModel, generators, listed: list[tuple[str, int]], skipped_rows: list
) -> tuple[np.ndarray, list[str]]:
    """Positions and labels of the modeled generator outages; the listed ones not modeled appended to ``skipped_rows``.

    ``listed``: (label, 1-based source row) from a contab; the MATPOWER reader names an in-service
    generator ``G<source row>``, so a row without such a generator is out of service.
    """
    net = model.network
    gen_names = net.gen["gen"].to_numpy()
    index = pd.Index(gen_names)
    labels: list[str] = []
    if isinstance(generators, str):
        if generators == "none":
            for label, row in listed:
                skipped_rows.append((label, "", f"G{row}", "generator outage not requested (generator contingencies: none)"))
            return np.zeros(0, dtype=int), []
        candidates: list[int] = []
        for label, row in listed:
            position = index.get_indexer([f"G{row}"])[0]
            if position < 0:
                skipped_rows.append((label, "", f"G{row}", "generator already out of service"))
            else:
                candidates.append(int(position))
                labels.append(label)
        if generators == "all":
            candidates += list(range(net.n_gen))
            labels += gen_names.tolist()
    else:
        wanted = [str(g) for g in generators]
        found = index.get_indexer(wanted)
        if (found < 0).any():
            raise NetworkDataError(f"{net.name}: unknown generator(s) {[w for w, f in zip(wanted, found) if f < 0][:5]}")
        candidates, labels = found.tolist(), wanted
    candidates_arr = np.asarray(candidates, dtype=int)
    _, first = np.unique(candidates_arr, return_index=True)  # a generator listed twice is modeled once
    first = np.sort(first)
    candidates_arr = candidates_arr[first]
    labels = [labels[i] for i in first]
    ok = can_respond(participation_weights(net), candidates_arr) if candidates_arr.size else np.zeros(0, bool)
    for label, position in zip(np.asarray(labels, dtype=object)[~ok], candidates_arr[~ok]):
        skipped_rows.append((label, "", gen_names[position], "no other unit can pick up its output (none with Pmax > Pmin)"))
    return candidates_arr[ok], [label for label, keep in zip(labels, ok) if keep]


def without_outages(contingencies: ContingencySet) -> ContingencySet:
    """The same set with no modeled outage (no LODF columns); the skipped list is kept."""
    sensitivities = contingencies.sensitivities
    none = OutageSensitivities(np.zeros(0, dtype=int), np.zeros((sensitivities.lodf.shape[0], 0)), sensitivities.skipped)
    return ContingencySet(none, [], contingencies.skipped)


def without_generator_outages(contingencies: ContingencySet, reason: str) -> ContingencySet:
    """The same set with its generator outages moved to ``skipped`` with ``reason``."""
    if not len(contingencies.generators):
        return contingencies
    moved = pd.DataFrame(
        {"contingency": contingencies.generator_labels or contingencies.generators_modeled, "branch": "",
         "generator": contingencies.generators_modeled,
         "reason": reason}
    )
    skipped = pd.concat([contingencies.skipped.reindex(columns=SKIPPED_COLUMNS), moved], ignore_index=True)
    return ContingencySet(contingencies.sensitivities, contingencies.modeled, skipped)
