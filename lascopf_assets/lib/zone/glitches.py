"""Bad lines appended to CSV landing files, as real meter feeds carry them.

Each kind breaks exactly one validation rule, so ingestion must quarantine
exactly as many rows as were appended. (A line identical to an earlier one would not do: an
identical re-delivery is collapsed and counted, not quarantined; so ``duplicate`` is the first
row's meter and timestamp with another kwh, which ``duplicate_reading`` quarantines; and
``off_hour`` is at 05:07, off the grid at every interval a zone is written at, not only hourly.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

GLITCH_KINDS = ("negative_kwh", "kwh_not_numeric", "no_utc_offset", "off_hour", "duplicate", "unknown_meter")


def glitch_line(kind: str, number: int, first_row: str) -> str:
    """The bad line of ``kind`` built from a file's ``first_row`` (``number`` names a ghost meter)."""
    meter, stamp, kwh = first_row.split(",")
    day = stamp[:10]
    return {
        "negative_kwh": f"{meter},{stamp},-1.2500",
        "kwh_not_numeric": f"{meter},{stamp},n/a",
        "no_utc_offset": f"{meter},{day}T05:00:00,0.5000",
        "off_hour": f"{meter},{day}T05:07:00+00:00,0.5000",  # off the grid of every zone interval (5..60 minutes)
        # conflicts with the first row (which is kept); ``number`` makes two in one file differ
        # from each other too, else the second would be a re-delivery of the first
        "duplicate": f"{meter},{stamp},{float(kwh) + 0.5 * (number + 1):.4f}",
        "unknown_meter": f"GHOST{number:03d},{stamp},0.5000",
    }[kind]


def append_glitches(paths: list[Path], count: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Append ``count`` bad lines, one kind after another, each to a file picked by ``rng``.

    Returns ``(file name, kind)`` per line appended.
    """
    appended = []
    for number in range(count):
        path = paths[int(rng.integers(len(paths)))]
        with path.open(encoding="utf-8") as handle:
            handle.readline()  # header
            first_row = handle.readline().rstrip("\n")
        kind = GLITCH_KINDS[number % len(GLITCH_KINDS)]
        with path.open("a", encoding="utf-8") as handle:
            handle.write(glitch_line(kind, number, first_row) + "\n")
        appended.append((path.name, kind))
    return appended
