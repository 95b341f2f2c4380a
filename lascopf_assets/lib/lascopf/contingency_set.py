"""Which branch outages a LASCOPF models, and which it lists as skipped (with the reason)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..network.dc_model import DcModel
from ..network.matpower_changes import read_contingency_table
from ..network.model import NetworkDataError
from ..network.sensitivities import OutageSensitivities, lodf

SKIPPED_COLUMNS = ["contingency", "branch", "reason"]


@dataclass(frozen=True)
class ContingencySet:
    sensitivities: OutageSensitivities  # LODF columns of the modeled outages
    modeled: list[str]  # branch names, same order as sensitivities.outaged
    skipped: pd.DataFrame  # contingency, branch, reason


def resolve_contingencies(model: DcModel, spec) -> ContingencySet:
    """Resolve ``"marked" | "all" | "none"``, a MATPOWER contab path, or a list of branch names.

    Islanding outages (LODF denominator ~0) are moved to ``skipped``.
    """
    net = model.network
    names = net.branch["branch"].to_numpy()
    skipped_rows: list[tuple[str, str, str]] = []
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
        src = pd.Index(net.branch["source_row"].to_numpy())
        pos = src.get_indexer(table["branch_row"].to_numpy())
        modeled_here = (table["reason"] == "").to_numpy()
        out_of_service = modeled_here & (pos < 0)
        for lab, reason, row in zip(
            table["label"].to_numpy()[~modeled_here | out_of_service],
            np.where(out_of_service, "branch already out of service", table["reason"].to_numpy())[~modeled_here | out_of_service],
            table["branch_row"].to_numpy()[~modeled_here | out_of_service],
        ):
            skipped_rows.append((f"C{lab}", f"L{row}" if row > 0 else "", reason))
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
            skipped_rows.append((lab, names[c], "islanding outage (disconnects the network)"))
    skipped = pd.DataFrame(skipped_rows, columns=SKIPPED_COLUMNS)
    return ContingencySet(sensitivities=sens, modeled=names[sens.outaged].tolist(), skipped=skipped)


def without_outages(contingencies: ContingencySet) -> ContingencySet:
    """The same set with no modeled outage (no LODF columns); the skipped list is kept."""
    sensitivities = contingencies.sensitivities
    none = OutageSensitivities(np.zeros(0, dtype=int), np.zeros((sensitivities.lodf.shape[0], 0)), sensitivities.skipped)
    return ContingencySet(none, [], contingencies.skipped)
