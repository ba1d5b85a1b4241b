"""The execution experiment: PPO on ``Execution-v0`` compared with TWAP, always-market and
always-passive over the same evaluation episodes."""

from __future__ import annotations

from typing import Any

import numpy as np

import jaxmarket as jm
from jaxmarket.baselines import always_market, always_passive, twap
from training.learners.ppo import PPOConfig

ENV_ID = "jaxmarket/Execution-v0"
EVAL_EPISODES = 1000

# Tuned on the 2-core CPU (see docs/abides_gym.md): 20 env steps (two episodes) per rollout.
PPO_CONFIG = PPOConfig(
    num_envs=256,
    num_steps=20,
    total_timesteps=400_000,
    update_epochs=4,
    num_minibatches=4,
    learning_rate=1e-3,
    gamma=1.0,  # the reward is a sum over a short finite episode
    gae_lambda=0.95,
    ent_coef=0.01,
    hidden_sizes=(64, 64),
    updates_per_chunk=10,
)


def baselines() -> dict[str, Any]:
    """The execution baselines, by name."""
    return {"TWAP": twap(), "always-market": always_market(), "always-passive": always_passive()}


def compare(policies: dict[str, Any], env_overrides: dict[str, Any], num_episodes: int = EVAL_EPISODES,
            seed: int = 1) -> list[dict]:
    """One row per policy over the same ``num_episodes`` episodes (same seed: the same fundamental
    path and event draws for every policy): mean reward with its standard error, and the mean
    difference to TWAP with its paired standard error."""
    env, params = jm.make(ENV_ID, **env_overrides)
    stats = {name: jm.evaluate(env, params, policy, num_episodes=num_episodes, seed=seed)
             for name, policy in policies.items()}
    reference = stats.get("TWAP")
    rows = []
    for name, s in stats.items():
        ret = s["return"]
        row = {
            "policy": name,
            "return": float(ret.mean()),
            "return_se": float(ret.std(ddof=1) / np.sqrt(num_episodes)),
            "cost_per_share": float(s["cost_per_share"].mean()),
            "done_qty": float(s["done_qty"].mean()),
            "underfilled": float((s["done_qty"] < params.parent_size).mean()),
            "length": float(s["length"].mean()),
            "market_orders": float(s["n_market_orders"].mean()),
            "limit_orders": float(s["n_limit_orders"].mean()),
        }
        if reference is not None:
            diff = ret - reference["return"]
            row["vs_twap"] = float(diff.mean())
            row["vs_twap_se"] = float(diff.std(ddof=1) / np.sqrt(num_episodes))
        rows.append(row)
    return rows


def format_table(rows: list[dict], num_episodes: int) -> str:
    """A markdown table of ``compare``'s rows."""
    lines = [
        f"Execution-v0, {num_episodes} episodes per policy (same seeds); reward in cents per parent share",
        "",
        "| policy | mean reward (± s.e.) | vs TWAP (± paired s.e.) | cost/share | shares done | underfilled | "
        "steps | market orders | limit orders |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['policy']} | {r['return']:.3f} ± {r['return_se']:.3f} | "
            f"{r.get('vs_twap', 0.0):+.3f} ± {r.get('vs_twap_se', 0.0):.3f} | {r['cost_per_share']:.3f} | "
            f"{r['done_qty']:.1f} | {100 * r['underfilled']:.1f}% | {r['length']:.2f} | {r['market_orders']:.2f} | "
            f"{r['limit_orders']:.2f} |"
        )
    return "\n".join(lines)
