"""Env steps/s with random actions for 1 to 65,536 environments, beside gymnax CartPole-v1 in the
same process.

    python -m benchmarks.env_throughput [--batches 1 16 256 4096 65536] [--steps 1000] [--no-cartpole]

``--no-cartpole`` times the market-making env alone (one compile per batch size instead of two).
"""

from __future__ import annotations

import argparse

import gymnax
import jax

import jaxmarket as jm
from benchmarks.common import best_time, report

MARKET_MAKING = "MarketMaking-AS-v0"
CARTPOLE = "CartPole-v1"
ENVS = {MARKET_MAKING: lambda: jm.make("jaxmarket/MarketMaking-AS-v0"), CARTPOLE: lambda: gymnax.make("CartPole-v1")}
MAX_STEPS_PER_CALL = 20_000_000  # env steps per timed call at most (fewer steps per env at large batches)
MIN_STEPS_PER_ENV = 10  # steps per env per timed call at least


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
    parser.add_argument("--no-cartpole", action="store_true", help="skip the CartPole comparison")
    args = parser.parse_args()
    names = [MARKET_MAKING] if args.no_cartpole else list(ENVS)
    for num_envs in args.batches:
        steps = max(MIN_STEPS_PER_ENV, min(args.steps, MAX_STEPS_PER_CALL // num_envs))
        rates = {}
        for name in names:
            env, params = ENVS[name]()
            seconds = best_time(rollout_fn(env, params, num_envs, steps), jax.random.key(0))
            rates[name] = num_envs * steps / seconds
        row = dict(market_making=round(rates[MARKET_MAKING]))
        if not args.no_cartpole:
            row.update(cartpole=round(rates[CARTPOLE]),
                       ratio_to_cartpole=round(rates[MARKET_MAKING] / rates[CARTPOLE], 3))
        report(what="env steps/s, random actions", num_envs=num_envs, steps_per_env=steps, **row)


if __name__ == "__main__":
    main()
