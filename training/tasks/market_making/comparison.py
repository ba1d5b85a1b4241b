"""The market-making experiment: PPO on ``MarketMaking-AS-v0`` under the Cartea–Jaimungal
criterion, compared with the analytic policies (the plot of learned versus optimal quotes is in
``plots``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

import jaxmarket as jm
from jaxmarket.baselines import (
    avellaneda_stoikov,
    cartea_jaimungal,
    cartea_jaimungal_value,
    policy_value,
    tabulate_policy,
)
from training.learners.ppo import PPOConfig

ENV_ID = "jaxmarket/MarketMaking-AS-v0"
CRITERION = {"phi": 0.01, "alpha": 0.001}  # the Cartea–Jaimungal criterion of the demo
AS_GAMMA = 0.1  # risk aversion of the Avellaneda–Stoikov baselines (the paper's middle case)

# Tuned on the 2-core CPU: 97%+ of h(0, 0) in about 20 s (see docs/market_making.md).
PPO_CONFIG = PPOConfig(
    num_envs=512,
    num_steps=32,
    total_timesteps=20_000_000,
    update_epochs=2,
    num_minibatches=4,
    learning_rate=1e-3,
    gamma=1.0,  # the criterion is an undiscounted sum over a finite horizon
    gae_lambda=0.8,
    hidden_sizes=(32, 32),
    updates_per_chunk=50,
)


def split_criterion(env_overrides: dict[str, Any]) -> tuple[float, float, dict[str, Any]]:
    """``(phi, alpha, model overrides)`` from env overrides."""
    model = {k: v for k, v in env_overrides.items() if k not in ("phi", "alpha")}
    return env_overrides.get("phi", 0.0), env_overrides.get("alpha", 0.0), model


def h00(env_overrides: dict[str, Any]) -> float:
    """The closed-form value ``h(0, 0)`` of the model and criterion ``env_overrides``."""
    phi, alpha, model = split_criterion(env_overrides)
    return cartea_jaimungal_value(0.0, 0, phi, alpha, **model)


def baselines(env_overrides: dict[str, Any]) -> dict[str, Any]:
    """The analytic policies for the model ``env_overrides``."""
    phi, alpha, model = split_criterion(env_overrides)
    return {
        "Cartea–Jaimungal (optimal)": cartea_jaimungal(phi, alpha, **model),
        f"Avellaneda–Stoikov inventory γ={AS_GAMMA}": avellaneda_stoikov(AS_GAMMA, "inventory"),
        f"Avellaneda–Stoikov symmetric γ={AS_GAMMA}": avellaneda_stoikov(AS_GAMMA, "symmetric"),
    }


def compare(policies: dict[str, Any], env_overrides: dict[str, Any], num_episodes: int, seed: int) -> list[dict]:
    """One row per policy: Monte-Carlo criterion (mean, standard error), its exact value by
    dynamic programming, the share of the closed-form ``h(0, 0)``, PnL and inventory statistics."""
    env, params = jm.make(ENV_ID, **env_overrides)
    value_00 = h00(env_overrides)
    centre = int(params.max_inventory)
    rows = []
    for name, policy in policies.items():
        stats = jm.evaluate(env, params, policy, num_episodes=num_episodes, seed=seed)
        exact = policy_value(tabulate_policy(env, params, policy), params)[0, centre]
        rows.append({
            "policy": name,
            "criterion": float(stats["return"].mean()),
            "criterion_se": float(stats["return"].std(ddof=1) / np.sqrt(num_episodes)),
            "exact": float(exact),
            "share_of_h00": float(stats["return"].mean() / value_00),
            "pnl": float(stats["pnl"].mean()),
            "pnl_std": float(stats["pnl"].std(ddof=1)),
            "abs_final_inventory": float(np.abs(stats["final_inventory"]).mean()),
            "mean_spread": float(stats["mean_spread"].mean()),
        })
    return rows


def format_table(rows: list[dict], value_00: float, num_episodes: int) -> str:
    """A markdown table of ``compare``'s rows."""
    lines = [
        f"Cartea–Jaimungal closed-form value h(0, 0) = {value_00:.3f}; {num_episodes} episodes per policy",
        "",
        "| policy | criterion (± s.e.) | exact (DP) | % of h(0,0) | PnL mean | PnL std | mean abs q_T | mean spread |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['policy']} | {r['criterion']:.3f} ± {r['criterion_se']:.3f} | {r['exact']:.3f} | "
            f"{100 * r['share_of_h00']:.2f} | {r['pnl']:.2f} | {r['pnl_std']:.2f} | "
            f"{r['abs_final_inventory']:.2f} | {r['mean_spread']:.3f} |"
        )
    return "\n".join(lines)


def config_with(**changes: Any) -> PPOConfig:
    """The preset with ``changes`` (``None`` values keep the preset's)."""
    return dataclasses.replace(PPO_CONFIG, **{k: v for k, v in changes.items() if v is not None})
