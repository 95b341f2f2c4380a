"""The random streams of a demo zone: one named numpy Generator per part, created once from the seed.

Each part of the generator draws only from its own stream, so the parts can be
built in any order, and adding draws to one part leaves the others' data as it
was. Within one stream the draws happen in the order its comment gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ZoneRandomStreams:
    """Independent Generators for the parts of one demo zone (use each zone's streams once)."""

    structure: np.random.Generator  # meters per junction, then each feeder's tree (bus parents, laterals, meter nodes)
    load_profiles: np.random.Generator  # per meter position: commercial or not, mean kWh, hour shift
    load_noise: np.random.Generator  # per-day factors, then per-hour noise
    replacements: np.random.Generator  # which meter positions get a new meter, then from which hour
    missing_readings: np.random.Generator  # scattered missing hours, then multi-hour outages
    glitch_files: np.random.Generator  # the landing file each bad line is appended to

    @classmethod
    def from_seed(cls, seed: int) -> ZoneRandomStreams:
        structure, load_profiles, load_noise, events = np.random.SeedSequence(seed).spawn(4)
        return cls(
            structure=np.random.default_rng(structure),
            load_profiles=np.random.default_rng(load_profiles),
            load_noise=np.random.default_rng(load_noise),
            replacements=np.random.default_rng(events),
            # A child of the events sequence and a plain ``seed + 1`` generator:
            # how the zone's data has always been drawn, kept so files stay byte-identical.
            missing_readings=np.random.default_rng(events.spawn(1)[0]),
            glitch_files=np.random.default_rng(seed + 1),
        )
