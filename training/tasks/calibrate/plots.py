"""Plots of a calibration: the loss, the targeted metrics and theta converging; the RL calibrator
against CMA-ES; hour-of-day profiles against the real series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from training.plotting import panels, save_panels

MAX_LINES = 8  # metrics or theta entries drawn per panel; the rest are left out of the plot (all are in log.csv)


def plot_run(rows: list[dict[str, float]], report: dict[str, Any], bounds: dict[str, tuple[float, float]],
             path: str | Path, title: str) -> Path:
    """Three panels against env steps: the groups' mean loss (log scale), each targeted metric's
    group mean (up to ``MAX_LINES``) with its target dashed, and each theta as a fraction of its bounds."""
    steps = np.asarray([r["env_steps"] for r in rows], np.float64)
    fig, axes = panels(3)
    axes[0].semilogy(steps, [max(r["loss"], 1e-12) for r in rows], color="black")
    axes[0].set(title="loss (groups' mean)", xlabel="env steps")
    for target in report["targets"][:MAX_LINES]:
        line, = axes[1].plot(steps, [r[f"metric:{target['metric']}"] for r in rows], label=target["metric"])
        axes[1].axhline(target["target"], color=line.get_color(), linestyle="--", linewidth=1)
    axes[1].set(title="targeted metrics (dashed: targets)", xlabel="env steps")
    axes[1].legend(fontsize=7)
    for name in list(report["theta"])[:MAX_LINES]:
        low, high = bounds[name]
        axes[2].plot(steps, [(r[f"theta:{name}"] - low) / (high - low) for r in rows], label=name)
    axes[2].set(title="theta, as a fraction of its bounds", xlabel="env steps", ylim=(0, 1))
    axes[2].legend(fontsize=7)
    return save_panels(fig, axes, path, title)


def plot_profiles(simulated: dict[str, np.ndarray], real: dict[str, np.ndarray], path: str | Path, title: str
                  ) -> Path:
    """Hour-of-day profiles, simulated against real, one panel per profile (24 hours, UTC)."""
    names = sorted(simulated)
    fig, axes = panels(len(names))
    hours = np.arange(24)
    for ax, name in zip(axes, names):
        sim, data = np.asarray(simulated[name]), np.asarray(real[name])
        ax.plot(hours, data / np.nansum(data), "o-", label="EUR/USD 2017 (normalised)")
        ax.plot(hours, sim / np.nansum(sim), "s-", label="simulated, calibrated (normalised)")
        ax.set(title=name, xlabel="hour of day (UTC)")
        ax.legend(fontsize=8)
    return save_panels(fig, axes, path, title)


def plot_comparison(curves: dict[str, list[tuple[np.ndarray, np.ndarray]]], path: str | Path, title: str) -> Path:
    """Loss against env steps per method: the mean over seeds with a band of one standard error.

    Args:
      curves: method -> one ``(env_steps, loss)`` pair of arrays per seed (equal lengths per method).
    """
    fig, (ax,) = panels(1)
    for method, runs in curves.items():
        steps = runs[0][0]
        losses = np.stack([loss for _, loss in runs])
        mean = losses.mean(axis=0)
        err = losses.std(axis=0, ddof=1) / np.sqrt(len(runs)) if len(runs) > 1 else np.zeros_like(mean)
        ax.plot(steps, mean, label=f"{method} ({len(runs)} seeds)")
        ax.fill_between(steps, np.maximum(mean - err, 1e-12), mean + err, alpha=0.25)
    ax.set_yscale("log")
    ax.set(xlabel="env steps", ylabel="target loss (groups' mean)")
    ax.legend()
    return save_panels(fig, [ax], path, title)
