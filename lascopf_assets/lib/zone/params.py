"""The parameters of a demo zone: its size, its time span, its randomness, and their checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

INTERVAL_MINUTES = (5, 10, 15, 20, 30, 60)  # reading intervals a zone can be written at: divisors of 60 from 5 up


@dataclass(frozen=True)
class DemoZoneParams:
    """Size and randomness of a demo zone.

    ``total_meters``, when given, overrides ``meters_per_junction``: the total is
    split over the junctions in proportion to per-junction draws from that range.
    ``replacements=None`` means one meter replacement per 200 meters (at least 1).
    ``imbalance`` is the target skew of the phase allocation (the mean hourly
    ``max_p |L_p - mean| / mean`` the zone should land near).

    A zone has ``feeders`` feeders, each with its own source transformer.
    ``junctions`` is the number of junctions *per feeder*;
    ``feeder_junctions`` (one count per feeder) overrides it. Each feeder's phases
    are skewed by its own ``feeder_imbalance`` entry; without one, feeder ``f``
    (0-based) gets ``imbalance * (1 - 0.6 * f / (feeders - 1))``, so the first
    feeder is the most skewed and the last has 40 % of its skew.
    :attr:`total_junctions` counts the junctions of all feeders.

    ``interval_minutes`` (one of :data:`INTERVAL_MINUTES`) is how often a meter reports:
    60 writes one reading per meter-hour (the zone's data as it has always been); less
    splits each present meter-hour into ``60 / interval_minutes`` readings at the interval
    starts whose kWh sum exactly to the hour's (see :mod:`~lascopf_assets.lib.zone.readings`).
    The hourly loads, the missing hours and everything else are the same at any interval.
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
    feeders: int = 1
    feeder_junctions: tuple[int, ...] | None = None
    feeder_imbalance: tuple[float, ...] | None = None
    interval_minutes: int = 60

    def __post_init__(self) -> None:
        # Lists are accepted and kept as tuples, so params stay hashable and compare equal.
        for name in ("feeder_junctions", "feeder_imbalance"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        self._check_feeders()
        lo, hi = self.meters_per_junction
        checks = [
            (self.junctions >= 1, f"junctions must be >= 1, got {self.junctions}"),
            (1 <= lo <= hi, f"meters_per_junction must be 1 <= lo <= hi, got {self.meters_per_junction}"),
            (
                self.total_meters is None or self.total_meters >= self.total_junctions,
                f"total_meters ({self.total_meters}) must be >= junctions ({self.total_junctions}"
                + (f" over {self.feeders} feeders)" if self.feeders > 1 else ")"),
            ),
            (self.days >= 1, f"days must be >= 1, got {self.days}"),
            (0.0 <= self.imbalance <= 1.4, f"imbalance must be in [0, 1.4], got {self.imbalance}"),
            (0.0 <= self.commercial_share <= 1.0, f"commercial_share must be in [0, 1], got {self.commercial_share}"),
            (0.0 <= self.missing_rate < 0.5, f"missing_rate must be in [0, 0.5), got {self.missing_rate}"),
            (self.outages >= 0, f"outages must be >= 0, got {self.outages}"),
            (self.glitches >= 0, f"glitches must be >= 0, got {self.glitches}"),
            (
                type(self.interval_minutes) is int and self.interval_minutes in INTERVAL_MINUTES,
                f"interval_minutes must be one of {', '.join(map(str, INTERVAL_MINUTES))}, got {self.interval_minutes!r}",
            ),
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

    def _check_feeders(self) -> None:
        """The feeder fields, checked before anything that counts junctions over feeders."""
        if isinstance(self.feeders, bool) or not isinstance(self.feeders, int) or self.feeders < 1:
            raise ValueError(f"feeders must be an integer >= 1, got {self.feeders!r}")
        for name in ("feeder_junctions", "feeder_imbalance"):
            value = getattr(self, name)
            if value is not None and len(value) != self.feeders:
                raise ValueError(f"{name} needs one value per feeder ({self.feeders}), got {len(value)}: {value}")
        if self.feeder_junctions is not None and not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in self.feeder_junctions
        ):
            raise ValueError(f"feeder_junctions must all be integers >= 1, got {self.feeder_junctions}")
        if self.feeder_imbalance is not None and not all(0.0 <= s <= 1.4 for s in self.feeder_imbalance):
            raise ValueError(f"feeder_imbalance must all be in [0, 1.4], got {self.feeder_imbalance}")

    @property
    def hours(self) -> int:
        """Number of hourly intervals the zone covers."""
        return self.days * 24

    @property
    def intervals_per_hour(self) -> int:
        """Readings per present meter-hour (1 for hourly zones)."""
        return 60 // self.interval_minutes

    @property
    def junctions_per_feeder(self) -> tuple[int, ...]:
        """Junction count of each feeder, in feeder order."""
        if self.feeder_junctions is not None:
            return self.feeder_junctions
        return (self.junctions,) * self.feeders

    @property
    def total_junctions(self) -> int:
        """Junctions of all feeders together."""
        return sum(self.junctions_per_feeder)

    @property
    def feeder_skews(self) -> tuple[float, ...]:
        """Target phase skew of each feeder, in feeder order."""
        if self.feeder_imbalance is not None:
            return tuple(float(s) for s in self.feeder_imbalance)
        if self.feeders == 1:
            return (self.imbalance,)
        return tuple(self.imbalance * (1 - 0.6 * f / (self.feeders - 1)) for f in range(self.feeders))
