"""The parameters of a demo zone: its size, its time span, its randomness, and their checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class DemoZoneParams:
    """Size and randomness of a demo zone.

    ``total_meters``, when given, overrides ``meters_per_junction``: the total is
    split over the junctions in proportion to per-junction draws from that range.
    ``replacements=None`` means one meter replacement per 200 meters (at least 1).
    ``imbalance`` is the target skew of the phase allocation (the mean hourly
    ``max_p |L_p - mean| / mean`` the zone should land near).
    """

    junctions: int = 40
    meters_per_junction: tuple[int, int] = (10, 25)
    total_meters: int | None = None
    start: dt.date = dt.date(2023, 1, 1)
    days: int = 365
    seed: int = 7
    imbalance: float = 0.6
    commercial_share: float = 0.15
    missing_rate: float = 0.0005
    outages: int = 3
    replacements: int | None = None
    glitches: int = 0

    def __post_init__(self) -> None:
        lo, hi = self.meters_per_junction
        checks = [
            (self.junctions >= 1, f"junctions must be >= 1, got {self.junctions}"),
            (1 <= lo <= hi, f"meters_per_junction must be 1 <= lo <= hi, got {self.meters_per_junction}"),
            (
                self.total_meters is None or self.total_meters >= self.junctions,
                f"total_meters ({self.total_meters}) must be >= junctions ({self.junctions})",
            ),
            (self.days >= 1, f"days must be >= 1, got {self.days}"),
            (0.0 <= self.imbalance <= 1.4, f"imbalance must be in [0, 1.4], got {self.imbalance}"),
            (0.0 <= self.commercial_share <= 1.0, f"commercial_share must be in [0, 1], got {self.commercial_share}"),
            (0.0 <= self.missing_rate < 0.5, f"missing_rate must be in [0, 0.5), got {self.missing_rate}"),
            (self.outages >= 0, f"outages must be >= 0, got {self.outages}"),
            (self.glitches >= 0, f"glitches must be >= 0, got {self.glitches}"),
            (
                self.replacements is None or self.replacements >= 0,
                f"replacements must be >= 0, got {self.replacements}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if not isinstance(self.start, dt.date) or isinstance(self.start, dt.datetime):
            raise ValueError(f"start must be a datetime.date, got {self.start!r}")

    @property
    def hours(self) -> int:
        """Number of hourly intervals the zone covers."""
        return self.days * 24
