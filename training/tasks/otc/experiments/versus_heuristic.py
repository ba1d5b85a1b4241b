"""Claim 5: the learned LPs beat the heuristic dealers (curve pricing per tier, risk-averse
hedging; ``jaxmarket.otc.dealer``) on their own reward, on the same types and seeds.

Two evaluations with the same seed, hence the same LP and client types, connections, tiers, flow
and price path: the LP family played by the learned policy, then by the heuristic; the RL clients
play the market's client policy (learned, or its fixed stand-in) in both. Each LP's episode reward is compared pairwise.

    jaxmarket experiment versus_heuristic [--checkpoint runs/otc/final] [--out runs/experiments]
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxmarket.otc.dealer import heuristic_policy
from jaxmarket.otc.types import LP_TYPE_FIELDS
from training.tasks.otc.experiments.common import ExperimentConfig, Market, finish, measured, write_table
from training.tasks.otc.probe import record
from training.plotting import panels, save_panels

N_BINS = 3  # omega and gamma terciles


def with_lps(lp_policy: Any, other: Any) -> Any:
    """A policy taking the LPs' actions from ``lp_policy`` and the clients' from ``other``."""

    def act(key, obs, state, params):
        return {"lp": lp_policy(key, obs, state, params)["lp"], "lt": other(key, obs, state, params)["lt"]}

    return act


def measure(market: Market, episodes: int, seed: int) -> dict[str, Any]:
    """Paired per-LP episode rewards (learned, heuristic), their types, and the mean difference by type bins."""
    env, params = market.env, market.params
    learned = market.policy()
    runs = {name: record(env, params, policy, episodes, seed)
            for name, policy in (("learned", learned), ("heuristic", with_lps(heuristic_policy(env), learned)))}
    reward = {name: rec["lp_reward"].sum(axis=1).reshape(-1) for name, rec in runs.items()}
    types = runs["learned"]["lp_types"].reshape(-1, len(LP_TYPE_FIELDS))
    assert np.array_equal(types, runs["heuristic"]["lp_types"].reshape(types.shape)), "the runs must share the types"
    diff = reward["learned"] - reward["heuristic"]
    bins = {}
    for field in ("omega", "gamma"):
        value = types[:, LP_TYPE_FIELDS.index(field)]
        edges = np.quantile(value, np.linspace(0, 1, N_BINS + 1))
        which = np.clip(np.searchsorted(edges, value, side="right") - 1, 0, N_BINS - 1)
        bins[field] = [(edges[b], edges[b + 1], reward["learned"][which == b].mean(), reward["heuristic"][which == b].mean(),
                        diff[which == b].mean(), diff[which == b].std(ddof=1) / np.sqrt((which == b).sum()))
                       for b in range(N_BINS)]
    metrics = {name: {k: float(rec[k].mean()) for k in ("market_share", "lp_pnl", "hedge_volume")}
               for name, rec in runs.items()}
    return {"reward": reward, "diff": diff, "diff_se": float(diff.std(ddof=1) / np.sqrt(diff.size)),
            "wins": float(np.mean(diff > 0)), "bins": bins, "metrics": metrics}


def plot(m: dict, path, title: str):
    fig, axes = panels(2)
    a, b = axes
    h, lrn = m["reward"]["heuristic"], m["reward"]["learned"]
    a.scatter(h, lrn, s=4, alpha=0.3)
    lo, hi = min(h.min(), lrn.min()), max(h.max(), lrn.max())
    a.plot([lo, hi], [lo, hi], color="black", lw=0.8, ls="--", label="equal reward")
    a.set_xlabel("heuristic dealer's episode reward")
    a.set_ylabel("learned LP's episode reward")
    a.set_title(f"Same types and seeds: learned ahead in {100 * m['wins']:.0f}% of LP-episodes", fontsize=10)
    a.legend(fontsize=8)
    x = np.arange(N_BINS)
    rows = m["bins"]["omega"]
    b.bar(x - 0.2, [r[2] for r in rows], width=0.4, label="learned")
    b.bar(x + 0.2, [r[3] for r in rows], width=0.4, label="heuristic")
    b.set_xticks(x, [f"ω in [{r[0]:.2f}, {r[1]:.2f}]" for r in rows], fontsize=8)
    b.set_ylabel("mean episode reward")
    b.set_title("By ω tercile", fontsize=10)
    b.legend(fontsize=8)
    return save_panels(fig, axes, path, title)


@dataclasses.dataclass(frozen=True)
class VersusHeuristicConfig(ExperimentConfig):
    """Claim 5: the learned LPs beat the heuristic dealers on their own reward."""


def run(config: VersusHeuristicConfig) -> None:
    """Measure, plot and tabulate (module docstring)."""
    start, market, m = measured(config, measure)
    rows = [[f"{field} in [{lo:.2f}, {hi:.2f}]", float(lr), float(hr), f"{d:.1f} ± {se:.1f}"]
            for field, bins in m["bins"].items() for lo, hi, lr, hr, d, se in bins]
    rows.append(["all", float(m["reward"]["learned"].mean()), float(m["reward"]["heuristic"].mean()),
                 f"{m['diff'].mean():.1f} ± {m['diff_se']:.1f}"])
    png = plot(m, f"{config.out}/versus_heuristic.png", "Claim 5: learned LPs against the heuristic dealers")
    met = m["metrics"]
    table, text = write_table(
        config.out, "versus_heuristic", "LP episode reward, learned against heuristic dealers (same types and seeds)",
        ["LP types", "learned", "heuristic", "learned − heuristic (± s.e.)"], rows,
        [f"{config.episodes} episodes (seed {config.eval_seed}), the RL clients playing the market's client policy "
         f"({'learned' if 'lt' in market.trainer.learned else 'fixed'}) in both; learned ahead in "
         f"{100 * m['wins']:.1f}% of LP-episodes.",
         "Mean per LP: " + "; ".join(f"{name}: share {100 * v['market_share']:.1f}%, PnL {v['lp_pnl']:.1f}, hedged "
                                     f"{v['hedge_volume']:.1f} units" for name, v in met.items()),
         f"Market: {market.source}."])
    finish(market, start, text, png, table)
