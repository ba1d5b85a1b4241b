"""``jaxmarket train execution``: PPO on Execution-v0, then the comparison with TWAP,
always-market and always-passive."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jaxmarket.background import MarketConfig
from jaxmarket.envs.execution import ExecutionParams
from training.learners.ppo import PPOConfig
from training.tasks import common
from training.tasks.execution import comparison as ex
from training.tasks.registry import register


@dataclasses.dataclass(frozen=True)
class TrainConfig(common.PPOTrainFlags):
    """Train PPO on Execution-v0, then compare it with TWAP, always-market and always-passive on
    the same evaluation episodes."""

    out: str = "runs/execution"
    """run directory: log.csv, TensorBoard events, run.json, resumable checkpoints, the policy (OUT/final),
    comparison.md"""
    episodes: int = ex.EVAL_EPISODES
    """evaluation episodes per policy"""
    eval_seed: int = 1
    """evaluation seed (the same episodes for every policy)"""
    ppo: PPOConfig = dataclasses.field(default_factory=lambda: ex.PPO_CONFIG)
    """PPO hyperparameters (default: the task's tuned preset)"""
    market: MarketConfig = dataclasses.field(default_factory=MarketConfig)
    """the background market's static configuration (populations, book capacity, slots)"""
    env: ExecutionParams = dataclasses.field(default_factory=ExecutionParams)
    """the env's parameters (ExecutionParams: the market's numeric parameters and the parent order's)"""


def run_train(config: TrainConfig) -> None:
    """PPO on Execution-v0, then the comparison table, printed and written to ``out/comparison.md``."""
    overrides = common.overrides(config.market, config.env)
    policy, rows, wall = common.train_ppo(ex.ENV_ID, overrides, config)
    policies = {"PPO (learned)": policy, **ex.baselines()}
    table = ex.format_table(ex.compare(policies, overrides, config.episodes, config.eval_seed), config.episodes)
    print(table)
    (Path(config.out) / "comparison.md").write_text(f"{table}\n\nTraining: {rows[-1]['env_steps']:,.0f} env steps in "
                                                    f"{wall:.1f} s wall on {common.platform()}.\n")


register(("train", "execution"), TrainConfig, run_train, "PPO on Execution-v0 against TWAP, always-market and always-passive")
