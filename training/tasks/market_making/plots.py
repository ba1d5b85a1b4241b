"""The market-making plot: learned versus optimal quotes against inventory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import jaxmarket as jm
from jaxmarket.baselines import tabulate_policy
from jaxmarket.baselines.cartea_jaimungal import optimal_depths, value_table
from training.plotting import save_png
from training.tasks.market_making.comparison import ENV_ID


def plot_quotes(policy: Any, env_overrides: dict[str, Any], path: str | Path, label: str = "PPO",
                shown: int = 10) -> Path:
    """Bid and ask depths against inventory ``-shown..shown`` at three times, learned (solid)
    versus the Cartea–Jaimungal optimum (dashed); written as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    env, params = jm.make(ENV_ID, **env_overrides)
    learned = tabulate_policy(env, params, policy)
    optimal = optimal_depths(value_table(params)[:-1], params)
    steps, cap = int(params.max_steps_in_episode), int(params.max_inventory)
    q = np.arange(-cap, cap + 1)
    window = slice(cap - shown, cap + shown + 1)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for ax, frac in zip(axes, (0.0, 0.5, 0.95)):
        n = min(int(frac * steps), steps - 1)
        for side, colour, name in ((0, "tab:blue", "bid"), (1, "tab:red", "ask")):
            ax.plot(q[window], learned[n, window, side], color=colour, label=f"{label} {name}")
            ax.plot(q[window], optimal[n, window, side], color=colour, ls="--", label=f"optimal {name}")
        ax.set_title(f"t = {n * float(params.dt):.2f}")
        ax.set_xlabel("inventory q")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("depth from mid (price units)")
    axes[0].legend()
    fig.suptitle(f"Quotes: {label} versus Cartea–Jaimungal (phi={params.phi}, alpha={params.alpha})")
    fig.tight_layout()
    return save_png(fig, path)
