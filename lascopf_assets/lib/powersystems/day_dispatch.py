"""One day's dispatch from its export: the export checked against the stored bus loads, then
ramps and ratings applied and the LASCOPF solved. Shared by the ``lascopf_dispatch`` asset and
anything else that dispatches an exported day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..lascopf import LascopfResult, solve_lascopf
from ..network.model import Network
from .dispatch_setup import RatingSpec, apply_ramp_fraction, apply_ratings
from .export import ExportedSystem, ExportError


@dataclass(frozen=True)
class DaySettings:
    """How a day is dispatched (the asset's config, without Dagster)."""

    ratings: RatingSpec
    ramp_fraction: float | None = 0.2
    contingencies: str = "all"
    generator_contingencies: str = "listed"  # lib.lascopf.contingency_set: listed | all | none
    method: str = "screening"
    soft_limit_penalty: float | None = None
    max_iterations: int = 50
    solver_options: dict = field(default_factory=dict)
    security: str = "preventive"  # or "corrective" (lib.lascopf.corrective), with the restoration settings below
    restore_intervals: int | None = None
    restore_minutes: float = 15.0
    emergency_factor: float = 1.2
    corrective_cost: float = 0.0


def check_export_matches(exported: ExportedSystem, bus_loads: pd.DataFrame) -> None:
    """Raise ExportError unless the export's loads equal ``bus_loads`` (``timestamp, bus, load_mw``).

    The export on disk is what is solved, so it must be the one the stored table came from.
    """
    expected = bus_loads.pivot(index="bus", columns="timestamp", values="load_mw")
    expected = expected.reindex(index=exported.loads.bus_ids, columns=exported.loads.timestamps)
    same = not expected.isna().to_numpy().any() and np.allclose(
        expected.to_numpy(float), exported.loads.matrix, rtol=1e-12, atol=1e-9
    )
    if not same:
        raise ExportError(f"export {exported.folder} differs from the stored bus loads")


def solve_day(network: Network, loads_frame: pd.DataFrame, settings: DaySettings) -> tuple[LascopfResult, dict]:
    """Apply the ramps and ratings to ``network`` and solve the day; returns the result and notes on the setup."""
    network = apply_ramp_fraction(network, settings.ramp_fraction)
    notes = {"ramp_fraction_of_pmax": settings.ramp_fraction, "rating_mode": settings.ratings.mode}
    try:
        rated, ratings = apply_ratings(network, loads_frame.to_numpy(float), settings.ratings)
        notes["branches_rated"] = int(np.isfinite(ratings).sum())
    except ValueError as exc:  # the day has no dispatch even without flow limits: the solve below says why
        rated, notes["rating_note"] = network, str(exc)
    result = solve_lascopf(
        rated, loads_frame, contingencies=settings.contingencies, generator_contingencies=settings.generator_contingencies,
        method=settings.method,
        soft_limit_penalty=settings.soft_limit_penalty, max_iterations=settings.max_iterations,
        solver_options=settings.solver_options or None, **security_keywords(settings),
    )
    return result, notes


def security_keywords(settings: DaySettings) -> dict:
    """``solve_lascopf``'s security keywords: only ``security`` for preventive, all restoration settings for corrective."""
    if settings.security != "corrective":
        return {"security": settings.security}
    return {
        "security": settings.security, "restore_intervals": settings.restore_intervals,
        "restore_minutes": settings.restore_minutes, "emergency_factor": settings.emergency_factor,
        "corrective_cost": settings.corrective_cost,
    }
