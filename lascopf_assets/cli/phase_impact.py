"""``lascopf phase-impact`` (placeholder until the physics check lands)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    return None
