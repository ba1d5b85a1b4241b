"""Saving figures: one place for the PNG settings every experiment plot uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DPI = 110  # resolution of saved PNGs


def save_png(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (making its folder), close it, and return the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
