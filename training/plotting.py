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


PANEL_SIZE = (6.0, 4.5)  # inches per panel of a row of panels


def panels(n: int) -> tuple[Any, list[Any]]:
    """A figure with a row of ``n`` axes, drawn headless (Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(PANEL_SIZE[0] * n, PANEL_SIZE[1]))
    return fig, list(axes) if n > 1 else [axes]


def save_panels(fig: Any, axes: list[Any], path: str | Path, title: str) -> Path:
    """Grid lines on every axis, the title, a tight layout; saved as a PNG (``save_png``)."""
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)
