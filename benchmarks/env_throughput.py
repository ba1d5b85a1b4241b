"""Env steps/s with random actions for 1 to 65,536 environments, beside gymnax CartPole-v1 in the
same process.

    python -m benchmarks.env_throughput [--batches 1 16 256 4096 65536] [--steps 1000]
"""

from __future__ import annotations

import argparse

import gymnax
import jax

import jaxmarket as jm
from benchmarks.common import best_time, report

ENVS = {"MarketMaking-AS-v0": lambda: jm.make("jaxmarket/MarketMaking-AS-v0"), "CartPole-v1": lambda: gymnax.make("CartPole-v1")}


def rollout_fn(env, params, num_envs: int, num_steps: int):
    """A jitted rollout of ``num_steps`` vmapped steps (auto-reset) with uniformly random actions."""

    def run(key):
        reset_key, key = jax.random.split(key)
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(reset_key, num_envs), params)

        def body(state, step_key):
            action_key, env_key = jax.random.split(step_key)
            actions = jax.vmap(env.action_space(params).sample)(jax.random.split(action_key, num_envs))
            _, state, reward, _, _, _ = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(env_key, num_envs), state, actions, params
            )
            return state, reward.sum()

        return jax.lax.scan(body, state, jax.random.split(key, num_steps))[1].sum()

    return jax.jit(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256, 4096, 65536])
    parser.add_argument("--steps", type=int, default=1000, help="steps per env per timed call")
    args = parser.parse_args()
    for num_envs in args.batches:
        steps = max(10, min(args.steps, 20_000_000 // num_envs))  # keep each call at most ~20M steps
        rates = {}
        for name, make in ENVS.items():
            env, params = make()
            seconds = best_time(rollout_fn(env, params, num_envs, steps), jax.random.key(0))
            rates[name] = num_envs * steps / seconds
        report(what="env steps/s, random actions", num_envs=num_envs, steps_per_env=steps,
               market_making=round(rates["MarketMaking-AS-v0"]), cartpole=round(rates["CartPole-v1"]),
               ratio_to_cartpole=round(rates["MarketMaking-AS-v0"] / rates["CartPole-v1"], 3))


if __name__ == "__main__":
    main()
