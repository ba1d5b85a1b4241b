"""The plot of a simulated day (``simulate``'s series): price, spread and depth panels against
the hour of the day.

    plot_day(series, "runs/day/day.png", "a day")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from training.plotting import save_png
from training.tasks.day.simulate import DEPTH


def clock_label(hours: float, _pos: Any = None) -> str:
    """``hours`` of the day as ``H:MM`` (``H:MM:SS`` off the minute)."""
    seconds = int(round(float(hours) * 3600))
    h, m, sec = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h:d}:{m:02d}:{sec:02d}" if sec else f"{h:d}:{m:02d}"


def _clock_ticks(start: float, end: float, most: int = 10) -> np.ndarray:
    """Tick positions (hours) on whole minutes: the finest of 1, 2, 5, ... 60, 120 minutes apart
    giving at most ``most`` ticks in ``[start, end]``."""
    lo, hi = start * 60, end * 60
    step = next((m for m in (1, 2, 5, 10, 15, 30, 60, 120) if (hi - lo) / m <= most), 240)
    return np.arange(np.ceil(lo / step) * step, hi + 1e-9, step) / 60


def plot_day(series: dict[str, np.ndarray], path: str | Path, title: str) -> Path:
    """Three panels against the hour of the day: prices (mid, fundamental, best bid and ask, the
    agent's trades as markers: green ^ buys, red v sells, sized by shares), the spread in ticks,
    and the bid and ask depth of the top ``DEPTH`` levels. Written as a PNG; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    hours = np.asarray(series["time"], np.float64) / 3600.0
    dollars = lambda cents: np.asarray(cents, np.float64) / 100.0  # noqa: E731
    fig, (ax_p, ax_s, ax_d) = plt.subplots(3, 1, figsize=(12, 8.5), sharex=True,
                                             gridspec_kw={"height_ratios": [3, 1.2, 1.5]})
    ax_p.plot(hours, dollars(series["best_bid"]), color="tab:blue", lw=0.6, alpha=0.7, label="best bid")
    ax_p.plot(hours, dollars(series["best_ask"]), color="tab:red", lw=0.6, alpha=0.7, label="best ask")
    ax_p.plot(hours, dollars(series["mid"]), color="black", lw=1.0, label="mid")
    ax_p.plot(hours, dollars(series["fundamental"]), color="tab:orange", lw=1.0, ls="--", label="fundamental")
    fills = np.asarray(series.get("fills", np.zeros(0)), np.float64)
    traded = fills.size and np.any(fills != 0)
    if traded:  # at the step's start, when the agent acts (passive fills land within the step)
        at = np.asarray(series["act_time"], np.float64) / 3600.0
        big = np.abs(fills).max()
        largest = np.clip(3000.0 / np.count_nonzero(fills), 15.0, 120.0)  # marker area: smaller when many
        price = np.where(np.isfinite(series["fill_price"]), series["fill_price"], series["mid"])
        for mask, marker, colour, name in ((fills > 0, "^", "tab:green", "agent buys"),
                                           (fills < 0, "v", "tab:red", "agent sells")):
            if mask.any():
                ax_p.scatter(at[mask], dollars(price[mask]), s=6 + largest * np.abs(fills[mask]) / big,
                             marker=marker, color=colour, edgecolor="black", linewidth=0.5, zorder=3,
                             label=f"{name} ({int(np.abs(fills[mask]).sum()):,} sh)")
    ax_p.set_ylabel("price ($)")
    ax_p.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax_p.legend(loc="best", fontsize=8, ncol=3)
    ax_p.grid(alpha=0.3)

    ax_s.plot(hours, series["spread"], color="tab:purple", lw=0.8)
    ax_s.set_ylabel("spread (ticks)")
    ax_s.set_ylim(bottom=0)
    ax_s.grid(alpha=0.3)

    ax_d.plot(hours, series["bid_depth"], color="tab:blue", lw=0.8, label="bid")
    ax_d.plot(hours, series["ask_depth"], color="tab:red", lw=0.8, label="ask")
    ax_d.set_ylabel(f"depth, top {DEPTH} levels (shares)")
    ax_d.set_ylim(bottom=0)
    ax_d.legend(loc="upper right", fontsize=8)
    ax_d.grid(alpha=0.3)
    ax_d.set_xlabel("time of day (hours)")
    ax_d.xaxis.set_major_formatter(FuncFormatter(clock_label))
    if hours.size > 1:
        first = min(hours[0], at.min()) if traded else hours[0]
        pad = 0.01 * (hours[-1] - first) if traded else 0.0
        ax_d.set_xlim(first - pad, hours[-1] + pad)
        ax_d.set_xticks(_clock_ticks(first - pad, hours[-1] + pad))

    fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)


__all__ = ["clock_label", "plot_day"]
