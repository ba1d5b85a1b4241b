"""What the OTC experiments share: the trained market (loaded from a checkpoint, or trained with
the preset and saved), their command-line options, and the output (a PNG and a markdown table)."""

from __future__ import annotations

import argparse
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


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--checkpoint", default=None,
                   help="a 'jaxmarket train otc' checkpoint (…/final); default: train the preset market first")
    p.add_argument("--total-rounds", type=int, default=otc_train.PPO_CONFIG.total_rounds,
                   help="env rounds of training when no checkpoint is given")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--episodes", type=int, default=DEFAULT_EPISODES, help="evaluation episodes")
    p.add_argument("--eval-seed", type=int, default=1)
    p.add_argument("--out", default="runs/experiments", help="directory for the PNG and the table")
    p.add_argument("--market-dir", default="runs/markets",
                   help="where a market trained here is checkpointed (a folder per preset)")
    return p


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


def market_from(args: argparse.Namespace, preset: str = "market", roles: dict[str, str] | None = None,
                learned: str = "lp") -> Market:
    """The market of ``--checkpoint`` (whose family ``learned`` must have been learned), or one
    trained now on ``preset`` (saved to ``--market-dir``/``preset``)."""
    if args.checkpoint:
        trainer, _, meta = otc_train.load(args.checkpoint)
        if learned not in trainer.learned:
            raise ValueError(f"checkpoint = {args.checkpoint!r} has roles {meta['roles']}: this experiment needs "
                             f"{learned!r} learned (train with --{learned} learn, e.g. --preset {preset})")
        net_params, obs_stats = trainer.restore(args.checkpoint)
        return Market(trainer, net_params, obs_stats, 0.0,
                      f"checkpoint {args.checkpoint} (preset {meta['preset']!r}, roles {meta['roles']}, {meta['update']} updates)")
    return train_market(args.total_rounds, args.seed, Path(args.market_dir) / preset, preset=preset, roles=roles)


def measured(doc: str, measure: Any, argv: list[str] | None) -> tuple[argparse.Namespace, float, Market, dict]:
    """An experiment's start: its options (``parser``), the start time, the market and ``measure(market,
    episodes, seed)``."""
    args = parser(doc.splitlines()[0]).parse_args(argv)
    start = time.perf_counter()
    market = market_from(args)
    return args, start, market, measure(market, args.episodes, args.eval_seed)


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
