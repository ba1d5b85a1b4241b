"""PPO training env steps/s: the market-making preset in one jit, the same run through the chunked
Python loop (its overhead), and the same PPO settings on gymnax CartPole-v1 in the same process.

    python -m benchmarks.ppo_throughput [--total-timesteps 20000000] [--num-envs 512 ...] [--repeats 2]
                                        [--no-loop] [--no-cartpole]

``--no-loop`` skips the chunked loop (its figures are left out of the line) and ``--no-cartpole``
the CartPole run: each saves a compile and its training runs.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import gymnax
import jax

import jaxmarket as jm
from benchmarks.common import best_time, report
from jaxmarket.baselines import cartea_jaimungal_value, policy_value, tabulate_policy
from training.learners import loop
from training.tasks.market_making import comparison as mm
from training.learners.ppo import make_trainer, trained_policy


def loop_figures(trainer: Any, steps: int, seconds: float, repeats: int) -> dict:
    """The chunked loop's env steps/s and its overhead over ``jit(train)``.

    Args:
        trainer: the PPO trainer that ``jit(train)`` ran.
        steps: env steps of one training run.
        seconds: wall time of the best ``jit(train)`` call.
        repeats: loop runs; the best is kept.

    Returns:
        ``loop_steps_per_s`` (env steps/s of the last chunk, best run) and ``loop_overhead``
        (the fraction by which the loop is slower than ``jit(train)``).
    """
    # the loop times itself after compiling its chunk; best of the repeats, as for jit(train)
    metadata = {"env_id": mm.ENV_ID, "env_overrides": mm.CRITERION}
    loop_rate = max(loop.run(trainer, jax.random.key(0), metadata=metadata, progress=False)[1][-1]["steps_per_s"]
                    for _ in range(repeats))
    return dict(loop_steps_per_s=round(loop_rate), loop_overhead=round(steps / seconds / loop_rate - 1, 3))


def cartpole_figures(config: Any, steps: int, seconds: float, repeats: int) -> dict:
    """The same PPO on gymnax CartPole-v1, with γ = 0.99 and λ = 0.95.

    Args:
        config: the market-making run's PPO config.
        steps: env steps of one training run.
        seconds: wall time of the best market-making ``jit(train)`` call.
        repeats: timed calls; the best is kept.

    Returns:
        ``cartpole_same_config`` (env steps/s) and ``ratio_to_cartpole`` (CartPole's wall time
        over the market maker's).
    """
    cartpole, cartpole_params = gymnax.make("CartPole-v1")
    cp_config = dataclasses.replace(config, gamma=0.99, gae_lambda=0.95)
    cp_train = jax.jit(make_trainer(cp_config, cartpole, cartpole_params).train).lower(jax.random.key(0)).compile()
    cp_seconds = best_time(cp_train, jax.random.key(0), repeats=repeats)
    return dict(cartpole_same_config=round(steps / cp_seconds), ratio_to_cartpole=round(cp_seconds / seconds, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total-timesteps", type=int, default=mm.PPO_CONFIG.total_timesteps)
    parser.add_argument("--num-envs", type=int, nargs="+", default=[mm.PPO_CONFIG.num_envs])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-loop", action="store_true", help="skip the chunked Python loop")
    parser.add_argument("--no-cartpole", action="store_true", help="skip the CartPole run")
    args = parser.parse_args()
    env, params = jm.make(mm.ENV_ID, **mm.CRITERION)
    h00 = cartea_jaimungal_value(0.0, 0, **mm.CRITERION)
    for num_envs in args.num_envs:
        config = mm.config_with(total_timesteps=args.total_timesteps, num_envs=num_envs)
        steps = config.num_updates * config.batch_size
        trainer = make_trainer(config, env, params)
        train = jax.jit(trainer.train).lower(jax.random.key(0)).compile()
        seconds = best_time(train, jax.random.key(0), repeats=args.repeats)
        runner = train(jax.random.key(0))["runner"]
        table = tabulate_policy(env, params, trained_policy(trainer, runner))
        value = policy_value(table, params)[0, params.max_inventory]
        row = dict(market_making=round(steps / seconds), train_wall_s=round(seconds, 2),
                   share_of_h00=round(value / h00, 4))
        if not args.no_loop:
            row.update(loop_figures(trainer, steps, seconds, args.repeats))
        if not args.no_cartpole:
            row.update(cartpole_figures(config, steps, seconds, args.repeats))
        report(what="PPO training env steps/s", num_envs=num_envs, env_steps=steps, **row)

if __name__ == "__main__":
    main()
