"""PPO training env steps/s: the market-making preset in one jit, the same run through the chunked
Python loop (its overhead), and the same PPO settings on gymnax CartPole-v1 in the same process.

    python -m benchmarks.ppo_throughput [--total-timesteps 20000000] [--num-envs 512 ...]
"""

from __future__ import annotations

import argparse
import dataclasses

import gymnax
import jax

import jaxmarket as jm
from benchmarks.common import best_time, report
from jaxmarket.baselines import cartea_jaimungal_value, policy_value, tabulate_policy
from training.learners import loop
from training.tasks.market_making import comparison as mm
from training.learners.ppo import make_trainer, trained_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--total-timesteps", type=int, default=mm.PPO_CONFIG.total_timesteps)
    parser.add_argument("--num-envs", type=int, nargs="+", default=[mm.PPO_CONFIG.num_envs])
    parser.add_argument("--repeats", type=int, default=2)
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
        value = policy_value(tabulate_policy(env, params, trained_policy(trainer, runner)), params)[0, params.max_inventory]

        # the loop times itself after compiling its chunk; best of the repeats, as for jit(train)
        loop_rate = max(
            loop.run(trainer, jax.random.key(0), metadata={"env_id": mm.ENV_ID, "env_overrides": mm.CRITERION}, progress=False)[1][-1][
                "steps_per_s"]
            for _ in range(args.repeats)
        )

        cartpole, cartpole_params = gymnax.make("CartPole-v1")
        cp_config = dataclasses.replace(config, gamma=0.99, gae_lambda=0.95)
        cp_train = jax.jit(make_trainer(cp_config, cartpole, cartpole_params).train).lower(jax.random.key(0)).compile()
        cp_seconds = best_time(cp_train, jax.random.key(0), repeats=args.repeats)
        report(what="PPO training env steps/s", num_envs=num_envs, env_steps=steps,
               market_making=round(steps / seconds), train_wall_s=round(seconds, 2),
               share_of_h00=round(value / h00, 4), loop_steps_per_s=round(loop_rate),
               loop_overhead=round(steps / seconds / loop_rate - 1, 3),
               cartpole_same_config=round(steps / cp_seconds), ratio_to_cartpole=round(cp_seconds / seconds, 3))


if __name__ == "__main__":
    main()
