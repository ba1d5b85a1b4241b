"""What the OTC experiments share: the trained market (loaded from a checkpoint, or trained with
the preset and saved), their options (``ExperimentConfig``), and the output (a PNG and a markdown table)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxmarket.core.keys import seed_key
from training.learners import loop
from training.tasks.otc import train as otc_train
from training.learners.mappo import Trainer, family_actions, family_params, make_policy

DEFAULT_EPISODES = 256


@dataclass
class Market:
    """A trained OTC market: the trainer (env, params, networks), the learned families' weights and
    observation statistics, and how long training took (0 when loaded)."""

    trainer: Trainer
    net_params: dict[str, Any]
    obs_stats: dict[str, Any]
    train_wall_s: float
    source: str
    _policy: Any = None

    @property
    def env(self) -> Any:
        return self.trainer.env

    @property
    def params(self) -> Any:
        return self.trainer.env_params

    def policy(self) -> Any:
        """Every family's deterministic policy (the learned networks, the fixed heuristics); the
        same function on every call, so recordings compile once."""
        if self._policy is None:
            self._policy = make_policy(self.trainer, self.net_params, self.obs_stats)
        return self._policy

    def act(self, family: str) -> Any:
        """``obs (..., d) -> actions``: the learned family's deterministic policy."""
        return lambda obs: family_actions(self.trainer, family, self.net_params[family], self.obs_stats[family], obs)


@dataclass(frozen=True)
class ExperimentConfig:
    """The options every OTC experiment takes (each experiment subclasses it, with its own
    docstring as its command's help)."""

    checkpoint: str | None = None
    """a 'jaxmarket train otc' checkpoint (.../final); None: train the preset market first"""
    total_rounds: int = otc_train.PPO_CONFIG.total_rounds
    """env rounds of training when no checkpoint is given"""
    seed: int = 0
    """training seed"""
    episodes: int = DEFAULT_EPISODES
    """evaluation episodes"""
    eval_seed: int = 1
    """evaluation seed"""
    out: str = "runs/experiments"
    """directory for the PNG and the table"""
    market_dir: str = "runs/markets"
    """where a market trained here is checkpointed (a folder per preset)"""


def train_market(total_rounds: int, seed: int, out_dir: str | Path | None = None, progress: bool = True,
                 preset: str = "market", roles: dict[str, str] | None = None, **config_fields: Any) -> Market:
    """Train the learned families on a preset market (``otc_train``); checkpoint to ``out_dir`` if given."""
    config = replace(otc_train.PPO_CONFIG, total_rounds=total_rounds, **config_fields)
    trainer = otc_train.build(config, preset, {}, roles)
    start = time.perf_counter()
    runner, _ = loop.run(trainer, seed_key(seed), metadata=otc_train.metadata(preset, {}, roles or {}),
                         out_dir=out_dir, progress=progress)
    wall = time.perf_counter() - start
    return Market(trainer, *family_params(runner), wall,
                  f"trained here: preset {preset!r}, roles {otc_train.check_roles(roles or {})}, {total_rounds:,} rounds, "
                  f"seed {seed}")


def market_from(config: ExperimentConfig, preset: str = "market", roles: dict[str, str] | None = None,
                learned: str = "lp") -> Market:
    """The market of ``config.checkpoint`` (whose family ``learned`` must have been learned), or one
    trained now on ``preset`` (saved to ``config.market_dir``/``preset``)."""
    if config.checkpoint:
        trainer, _, meta = otc_train.load(config.checkpoint)
        if learned not in trainer.learned:
            raise ValueError(f"checkpoint = {config.checkpoint!r} has roles {meta['roles']}: this experiment needs "
                             f"{learned!r} learned (train with --{learned} learn, e.g. --preset {preset})")
        net_params, obs_stats = trainer.restore(config.checkpoint)
        return Market(trainer, net_params, obs_stats, 0.0,
                      f"checkpoint {config.checkpoint} (preset {meta['preset']!r}, roles {meta['roles']}, "
                      f"{meta['update']} updates)")
    return train_market(config.total_rounds, config.seed, Path(config.market_dir) / preset, preset=preset, roles=roles)


def measured(config: ExperimentConfig, measure: Any) -> tuple[float, Market, dict]:
    """An experiment's start: the start time, the market (``market_from``) and ``measure(market,
    episodes, seed)``."""
    start = time.perf_counter()
    market = market_from(config)
    return start, market, measure(market, config.episodes, config.eval_seed)


def write_table(out: str | Path, name: str, title: str, header: list[str], rows: list[list[Any]],
                notes: list[str]) -> tuple[Path, str]:
    """A markdown table (with a title and notes) written to ``out/name.md``; returns (path, text)."""
    cell = lambda v: (f"{v:.3f}" if isinstance(v, (float, np.floating)) else str(v)).replace("|", "\\|")  # noqa: E731
    lines = [f"### {title}", "", "| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    text = "\n".join(lines + [""] + notes) + "\n"
    path = Path(out) / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path, text


def finish(market: Market, start: float, text: str, png: Path, table: Path) -> None:
    """Print the table, the files and the wall times."""
    wall = time.perf_counter() - start
    print(text)
    print(f"market: {market.source}; training wall {market.train_wall_s:.1f} s, experiment wall "
          f"{wall - market.train_wall_s:.1f} s, total {wall:.1f} s on {jax.devices()[0].platform}")
    print(f"plot: {png}\ntable: {table}")
