"""Read a load profile CSV: one load multiplier per dispatch interval."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..network.model import NetworkDataError


def read_load_multipliers(path: str | os.PathLike) -> np.ndarray:
    """One number per line (first field of each row); an optional non-numeric header line is skipped.

    Errors name the file and line: non-numeric, non-finite or negative values, or no value at all.
    """
    path = Path(path)
    if not path.is_file():
        raise NetworkDataError(f"{path}: load profile file not found")
    values: list[float] = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        field = line.split(",")[0].strip()
        if not field:
            continue
        try:
            v = float(field)
        except ValueError:
            if lineno == 1 and not values:
                continue  # header
            raise NetworkDataError(f"{path}:{lineno}: not a number: {field!r}") from None
        if not math.isfinite(v) or v < 0:
            raise NetworkDataError(f"{path}:{lineno}: multiplier must be a finite number >= 0, got {field}")
        values.append(v)
    if not values:
        raise NetworkDataError(f"{path}: no multipliers found")
    return np.asarray(values)
