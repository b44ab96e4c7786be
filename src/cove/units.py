"""Quantities as people read them, the same in the CLI and the console."""

from __future__ import annotations


def human_size(n: int) -> str:
    """``13`` → ``13 B``, ``1536`` → ``1.5 KiB``, up to GiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable: GiB ends the loop")
