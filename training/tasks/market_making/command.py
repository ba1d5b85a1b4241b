"""The market-making commands: ``jaxmarket demo`` (train, compare, plot) and ``jaxmarket train
market-making`` (train and checkpoint); ``evaluate`` runs ``evaluate`` here for its checkpoints."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from jaxmarket.envs.market_making import MarketMakingParams
from training.learners import checkpoint
from training.learners.ppo import PPOConfig
from training.tasks import common
from training.tasks.market_making import comparison as mm
from training.tasks.market_making.plots import plot_quotes
from training.tasks.registry import register

DEFAULT_EPISODES = 10_000  # evaluation episodes per policy of the comparison table


def criterion_params() -> MarketMakingParams:
    """The default of the ``--env`` flags: the env's defaults with the demo's Cartea–Jaimungal
    criterion (``comparison.CRITERION``: phi = 0.01, alpha = 0.001)."""
    return MarketMakingParams(**mm.CRITERION)


def env_overrides(env: MarketMakingParams) -> dict[str, Any]:
    """The overrides of ``jm.make`` for parsed ``--env`` flags: the criterion (``phi``, ``alpha``)
    always, then every other field that differs from the env's default."""
    return {"phi": env.phi, "alpha": env.alpha, **common.overrides(env)}


@dataclasses.dataclass(frozen=True)
class TrainConfig(common.PPOTrainFlags):
    """Train PPO on MarketMaking-AS-v0 under the Cartea–Jaimungal criterion and checkpoint it."""

    out: str = "runs/market-making"
    """run directory: log.csv, TensorBoard events, run.json, resumable checkpoints (OUT/checkpoints) and the
    policy (OUT/final)"""
    ppo: PPOConfig = dataclasses.field(default_factory=lambda: mm.PPO_CONFIG)
    """PPO hyperparameters (default: the task's tuned preset)"""
    env: MarketMakingParams = dataclasses.field(default_factory=criterion_params)
    """the model and the criterion (MarketMakingParams; phi and alpha default to the demo's criterion)"""


@dataclasses.dataclass(frozen=True)
class DemoConfig(TrainConfig):
    """Train PPO on market making, compare it with the closed-form optimum and the
    Avellaneda–Stoikov policies, and plot learned versus optimal quotes."""

    out: str = "runs/demo"
    """run directory: the training run's files (see train market-making), comparison.md/.json and quotes.png"""
    episodes: int = DEFAULT_EPISODES
    """evaluation episodes per policy"""
    eval_seed: int = 1
    """evaluation seed (the same episodes for every policy)"""


def train_policy(config: TrainConfig) -> tuple[Any, dict[str, Any], dict[str, float], float]:
    """Train PPO on MarketMaking-AS-v0 as ``config`` says; returns (policy, env overrides, last
    log row, wall seconds)."""
    overrides = env_overrides(config.env)
    policy, rows, wall = common.train_ppo(mm.ENV_ID, overrides, config)
    return policy, overrides, rows[-1], wall


def report(policies: dict[str, Any], overrides: dict[str, Any], episodes: int, eval_seed: int, out: str | None,
           extra: dict[str, Any]) -> str:
    """Compare ``policies`` on the model ``overrides``, print the table and, with ``out``, write
    ``comparison.md`` and ``comparison.json`` (the rows and ``extra``) there; returns the table."""
    rows = mm.compare(policies, overrides, episodes, eval_seed)
    table = mm.format_table(rows, mm.h00(overrides), episodes)
    print(table)
    if out:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "comparison.md").write_text(table + "\n")
        (folder / "comparison.json").write_text(json.dumps({"rows": rows, **extra}, indent=2))
    return table


def run_train(config: TrainConfig) -> None:
    """``jaxmarket train market-making``: train and checkpoint."""
    train_policy(config)


def run_demo(config: DemoConfig) -> None:
    """``jaxmarket demo``: train, compare with the analytic policies, plot the quotes."""
    policy, overrides, last, wall = train_policy(config)
    report({"PPO (learned)": policy, **mm.baselines(overrides)}, overrides, config.episodes, config.eval_seed,
           config.out, {"train_wall_s": wall, "train_steps_per_s": last["steps_per_s"], "env_steps": last["env_steps"]})
    path = plot_quotes(policy, overrides, Path(config.out) / "quotes.png")
    print(f"plot of learned versus optimal quotes: {path}")


def evaluate(checkpoint_dir: str | None, env: MarketMakingParams, episodes: int | None, eval_seed: int,
             out: str | None) -> None:
    """Compare a market-making checkpoint (if given) and the analytic policies on the checkpoint's
    model, or on ``env`` without one; with ``out``, write the table (and the quotes plot) there.

    Raises:
        ValueError: the checkpoint is of another env, or a setting is out of range.
    """
    episodes = DEFAULT_EPISODES if episodes is None else episodes
    policies: dict[str, Any] = {}
    if checkpoint_dir:
        _, _, policy, metadata = checkpoint.load(checkpoint_dir)
        if metadata["env_id"] != mm.ENV_ID:
            raise ValueError(f"checkpoint is for {metadata['env_id']}; evaluate supports {mm.ENV_ID}")
        overrides = metadata["env_overrides"]
        policies["PPO (checkpoint)"] = policy
    else:
        overrides = env_overrides(env)
    report({**policies, **mm.baselines(overrides)}, overrides, episodes, eval_seed, out, {})
    if checkpoint_dir and out:
        print(f"plot: {plot_quotes(policies['PPO (checkpoint)'], overrides, Path(out) / 'quotes.png')}")


register(("demo",), DemoConfig, run_demo,
         "train PPO on market making and compare it with the closed-form optimum")
register(("train", "market-making"), TrainConfig, run_train,
         "PPO on MarketMaking-AS-v0 under the Cartea–Jaimungal criterion, checkpointed")
