"""Seeded junction-level load instances for tests and benchmarks.

Each junction (a single-phase lateral) carries a number of customers of one
type (residential, commercial, night/heating) with a daily shape, a seasonal
swing and multiplicative hourly noise. Phases are skewed toward A so that the
initial average hourly imbalance is about 0.6, like the study's feeder
(5502 over 8760 hours).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lascopf_assets.lib.phase_balance.problem import PhaseBalanceProblem

_HOURS = np.arange(24)
# Daily shapes (relative kW per hour of day), one row per customer type.
_DAILY = np.vstack(
    [
        # residential: morning and evening peaks
        0.35 + 0.5 * np.exp(-0.5 * ((_HOURS - 7.5) / 1.3) ** 2) + 1.0 * np.exp(-0.5 * ((_HOURS - 19) / 2.0) ** 2),
        # commercial: office hours
        0.25 + 1.0 / (1 + np.exp(-(_HOURS - 8) * 1.5)) - 1.0 / (1 + np.exp(-(_HOURS - 18) * 1.5)),
        # night / electric heating: high overnight
        0.4 + 0.8 * np.exp(-0.5 * (((_HOURS + 6) % 24 - 4) / 3.0) ** 2),
    ]
)
_SEASONAL_AMPLITUDE = np.array([0.30, 0.10, 0.55])  # winter swing by type
_TYPE_SHARE = np.array([0.6, 0.25, 0.15])
_PHASE_SHARE = np.array([0.57, 0.28, 0.15])


def generate_instance(
    n_junctions: int = 40,
    n_hours: int = 8760,
    seed: int = 0,
    start: str = "2025-01-01",
    noise: float = 0.3,
    phase_share: tuple[float, float, float] | None = None,
) -> PhaseBalanceProblem:
    """A reproducible ``PhaseBalanceProblem`` with hourly kWh per junction.

    ``noise`` is one customer's hourly coefficient of variation (0.3 gives an
    after/before ratio close to the study's 405.9 / 5502.2); ``phase_share`` the
    probabilities of the initial phases A, B, C.
    """
    if n_junctions < 1 or n_hours < 1:
        raise ValueError("need at least one junction and one hour")
    rng = np.random.default_rng(seed)
    timestamps = pd.date_range(start, periods=n_hours, freq="h", tz="UTC")
    hour_of_day = timestamps.hour.to_numpy()
    day_of_year = timestamps.day_of_year.to_numpy()
    weekend = (timestamps.day_of_week.to_numpy() >= 5).astype(np.float64)

    kind = rng.choice(3, size=n_junctions, p=_TYPE_SHARE)
    customers = rng.integers(3, 40, size=n_junctions)
    size_kw = customers * rng.lognormal(mean=np.log(0.6), sigma=0.35, size=n_junctions)
    phase = rng.choice(3, size=n_junctions, p=_PHASE_SHARE if phase_share is None else phase_share)

    # Each junction's own time shift (+-1 h) and weekend dip so profiles are not collinear.
    shift = rng.integers(-1, 2, size=n_junctions)
    daily = _DAILY[kind[:, None], (hour_of_day[None, :] + shift[:, None]) % 24]
    season = 1.0 + _SEASONAL_AMPLITUDE[kind][:, None] * np.cos(2 * np.pi * (day_of_year[None, :] - 15) / 365.0)
    weekday_factor = np.where(kind[:, None] == 1, 1.0 - 0.6 * weekend[None, :], 1.0 + 0.1 * weekend[None, :])
    # Hourly noise of one customer is about `noise` (coefficient of variation); a junction
    # aggregates `customers` independent ones, so its own noise shrinks like 1/sqrt(customers).
    sigma = (noise / np.sqrt(customers))[:, None]
    noise_factor = rng.lognormal(mean=-0.5 * sigma**2, sigma=sigma, size=(n_junctions, n_hours))
    loads = size_kw[:, None] * daily * season * weekday_factor * noise_factor
    return PhaseBalanceProblem(
        loads=np.round(loads, 4),
        initial_phase=phase,
        junctions=np.array([f"JN{j:04d}" for j in range(n_junctions)], dtype=object),
        timestamps=timestamps.to_numpy(),
    )
