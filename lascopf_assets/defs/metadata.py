"""Metadata helpers shared by the asset modules."""

import pandas as pd


def markdown_table(frame: pd.DataFrame, limit: int | None = 20, empty: str = "_none_") -> str:
    """``frame`` as a markdown table (at most ``limit`` rows, then a count of the rest)."""
    if frame.empty:
        return empty
    shown = frame if limit is None else frame.head(limit)
    header = "| " + " | ".join(map(str, shown.columns)) + " |\n|" + "---|" * len(shown.columns) + "\n"
    body = "\n".join("| " + " | ".join(map(str, row)) + " |" for row in shown.itertuples(index=False))
    more = f"\n\n({len(frame) - len(shown)} more rows)" if len(frame) > len(shown) else ""
    return header + body + more
