"""Plots of a calibration: the loss, the targeted metrics, theta and the proposals' std converging (from
a run's rows or its ``log.csv``, ``jaxmarket plot``); the RL calibrator against CMA-ES; hour-of-day
profiles against the real series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from training.plotting import panels, save_panels

MAX_LINES = 8  # metrics or theta entries drawn per panel; the rest are left out of the plot (all are in log.csv)
LOSS_FLOOR = 1e-12  # the smallest loss drawn on a log scale (a loss of 0 would have no place on it)
STEPS = "env_steps"  # the step column of a calibration log (``Calibrator.step_unit``)
METRIC_PREFIX = "metric:"  # log.csv column of a targeted metric entry's group mean (``Calibrator.log_fields``)
THETA_PREFIX = "theta:"  # log.csv column of a free parameter (``Calibrator.log_fields``)


def finite(steps: np.ndarray, values: list[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` without the entries where a value is NaN or infinite (a chunk in which no
    episode ended logs a NaN return): the line joins the logged points around them."""
    values = np.asarray(values, np.float64)
    keep = np.isfinite(values)
    return np.asarray(steps)[keep], values[keep]


def columns_with(rows: list[dict[str, float]], prefix: str) -> list[str]:
    """The names after ``prefix`` of the log columns that start with it, in the log's order."""
    return [name[len(prefix):] for name in rows[0] if name.startswith(prefix)] if rows else []


def plot_calibration(rows: list[dict[str, float]], targets: dict[str, float], path: str | Path, title: str,
                     bounds: dict[str, tuple[float, float]] | None = None) -> Path:
    """Four panels of a calibration log against env steps: the groups' mean loss (log scale); each
    targeted metric's group mean (up to ``MAX_LINES``) with its target dashed where ``targets`` has
    one; each theta (up to ``MAX_LINES``), as a fraction of its bounds where ``bounds`` has them, else
    in its own units; the proposals' mean std (unconstrained units). NaNs are skipped.

    Args:
        rows: the log's rows (``log.csv``, or ``loop.run``'s), each with ``env_steps``, ``loss``, ``std``,
            ``metric:<name>`` and ``theta:<name>``.
        targets: metric entry name -> its target value (``report.json``'s ``targets``); may be empty.
        path: the PNG to write.
        title: the figure's title.
        bounds: free parameter name -> ``(low, high)``, or None to draw theta in its own units.

    Returns:
        The path written.
    """
    steps = np.asarray([r[STEPS] for r in rows], np.float64)
    fig, axes = panels(4)
    axes[0].semilogy(*finite(steps, [max(r["loss"], LOSS_FLOOR) for r in rows]), color="black")
    axes[0].set(title="loss (groups' mean)", xlabel="env steps")
    for name in columns_with(rows, METRIC_PREFIX)[:MAX_LINES]:
        line, = axes[1].plot(*finite(steps, [r[METRIC_PREFIX + name] for r in rows]), label=name)
        if name in targets:
            axes[1].axhline(targets[name], color=line.get_color(), linestyle="--", linewidth=1)
    axes[1].set(title="targeted metrics (dashed: targets)", xlabel="env steps")
    axes[1].legend(fontsize=7)
    for name in columns_with(rows, THETA_PREFIX)[:MAX_LINES]:
        values = np.asarray([r[THETA_PREFIX + name] for r in rows], np.float64)
        if bounds is not None:
            low, high = bounds[name]
            values = (values - low) / (high - low)
        axes[2].plot(*finite(steps, values), label=name)
    if bounds is not None:
        axes[2].set(title="theta, as a fraction of its bounds", ylim=(0, 1))
    else:
        axes[2].set(title="theta")
    axes[2].set(xlabel="env steps")
    axes[2].legend(fontsize=7)
    axes[3].plot(*finite(steps, [r["std"] for r in rows]), color="black")
    axes[3].set(title="proposals' mean std (unconstrained units)", xlabel="env steps")
    return save_panels(fig, axes, path, title)


def plot_run(rows: list[dict[str, float]], report: dict[str, Any], bounds: dict[str, tuple[float, float]],
             path: str | Path, title: str) -> Path:
    """``plot_calibration`` of a finished run: the targets from its ``report`` (``run.report``), theta
    as a fraction of ``bounds`` (free parameter name -> ``(low, high)``)."""
    return plot_calibration(rows, {t["metric"]: t["target"] for t in report["targets"]}, path, title, bounds)


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
        ax.fill_between(steps, np.maximum(mean - err, LOSS_FLOOR), mean + err, alpha=0.25)
    ax.set_yscale("log")
    ax.set(xlabel="env steps", ylabel="target loss (groups' mean)")
    ax.legend()
    return save_panels(fig, [ax], path, title)
