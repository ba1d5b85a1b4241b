"""Offline-learner gradient steps/s: behaviour cloning (``training.learners.bc``) and IQL
(``training.learners.iql``), each run's ``jit(train)`` timed after compiling.

    python -m benchmarks.offline_throughput [--learners bc iql] [--num-updates 20000] [--batch-size 256]
                                            [--hidden-sizes 256 256] [--dataset-size 1000000]
                                            [--obs-dim 17] [--action-dim 6] [--repeats 2]

The data are synthetic transitions of the shapes of D4RL's halfcheetah (17 observations, 6 actions
in [-1, 1], 1M transitions), so the figures sit beside JAX-CORL's: its IQL (batch 256, two hidden
layers of 256) takes 9 minutes for 1M gradient steps on a GeForce GTX 1080 Ti, compiling included,
about 1,850 steps/s, and CORL's PyTorch IQL 4.08 h, about 68 steps/s (README of
github.com/nissymori/JAX-CORL, table "Algorithms", halfcheetah-medium-expert-v2). A gradient step's
cost does not depend on the data's values, only on the shapes, the batch and the networks.

One line per learner: ``grad_steps_per_s`` (gradient steps/s of the best run) and
``train_wall_s`` (its seconds, compiling excluded). The data are an argument of the compiled run,
as ``Trainer`` recommends, not a captured constant.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxmarket as jm
from benchmarks.common import best_time, report
from jaxmarket.core import spaces
from training.learners import bc, iql

LEARNERS = {"bc": (bc.make_trainer, bc.BCConfig), "iql": (iql.make_trainer, iql.IQLConfig)}
HALFCHEETAH_OBS, HALFCHEETAH_ACTIONS = 17, 6  # D4RL halfcheetah's observation and action sizes
D4RL_SIZE = 1_000_000  # transitions of a D4RL MuJoCo "medium" dataset


class SyntheticEnv:
    """The spaces a learner reads: unbounded observations of ``obs_dim``, actions in ``[-1, 1]^action_dim``."""

    def __init__(self, obs_dim: int, action_dim: int) -> None:
        self.obs_dim, self.action_dim = obs_dim, action_dim

    def observation_space(self, params: Any) -> spaces.Box:
        return spaces.Box(-np.inf, np.inf, (self.obs_dim,), jnp.float32)

    def action_space(self, params: Any) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.action_dim,), jnp.float32)


def synthetic_transitions(size: int, obs_dim: int, action_dim: int, seed: int = 0) -> jm.Transitions:
    """``size`` random transitions (Gaussian observations and rewards, uniform actions, 1% terminal)."""
    rng = np.random.default_rng(seed)
    return jm.Transitions(
        obs=rng.normal(size=(size, obs_dim)).astype(np.float32),
        actions=rng.uniform(-1.0, 1.0, (size, action_dim)).astype(np.float32),
        rewards=rng.normal(size=size).astype(np.float32),
        next_obs=rng.normal(size=(size, obs_dim)).astype(np.float32),
        terminations=rng.random(size) < 0.01,
        episode=np.zeros(size, np.int32), step=np.arange(size, dtype=np.int32), agent=np.zeros(size, np.int32),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", nargs="+", choices=sorted(LEARNERS), default=sorted(LEARNERS))
    parser.add_argument("--num-updates", type=int, default=20_000, help="gradient steps per timed run")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden-sizes", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--dataset-size", type=int, default=D4RL_SIZE)
    parser.add_argument("--obs-dim", type=int, default=HALFCHEETAH_OBS)
    parser.add_argument("--action-dim", type=int, default=HALFCHEETAH_ACTIONS)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    env = SyntheticEnv(args.obs_dim, args.action_dim)
    data = synthetic_transitions(args.dataset_size, args.obs_dim, args.action_dim)
    for name in args.learners:
        make_trainer, config_class = LEARNERS[name]
        config = dataclasses.replace(config_class(), num_updates=args.num_updates, batch_size=args.batch_size,
                                     hidden_sizes=tuple(args.hidden_sizes))
        trainer = make_trainer(config, env, None, data)
        train = jax.jit(trainer.train).lower(jax.random.key(0), trainer.dataset).compile()
        seconds = best_time(train, jax.random.key(0), trainer.dataset, repeats=args.repeats)
        report(what="offline learner gradient steps/s", learner=name, batch_size=args.batch_size,
               hidden_sizes=list(args.hidden_sizes), dataset_size=args.dataset_size, obs_dim=args.obs_dim,
               action_dim=args.action_dim, num_updates=args.num_updates,
               grad_steps_per_s=round(args.num_updates / seconds), train_wall_s=round(seconds, 2))


if __name__ == "__main__":
    main()
