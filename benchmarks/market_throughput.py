"""Throughput of the background market and the ABIDES-Gym environments: env steps/s with random
actions (auto-reset; each env step is 60 s of trading by the full rmsc04 population), and
simulated trading days per second of the background market alone (390 one-minute advances).

    python -m benchmarks.market_throughput [--batches 1 16 256 1024 4096] [--steps 20] [--days]
                                           [--envs Execution-v0 DailyInvestor-v0]

``--envs`` times only the named envs (the line then has only their columns).
"""

from __future__ import annotations

import argparse

import jax

import jaxmarket as jm
from benchmarks.common import best_time, report
from benchmarks.env_throughput import rollout_fn
from jaxmarket import background

ENV_IDS = ("jaxmarket/Execution-v0", "jaxmarket/DailyInvestor-v0")
MINUTES_PER_DAY = 390


def day_fn(num_envs: int):
    """A jitted run of ``num_envs`` whole background days (from the open, 390 advances of 60 s)."""
    config, params = background.MarketConfig(), background.MarketParams()

    def run(key):
        init_key, key = jax.random.split(key)  # one key per use: the init keys and the minutes' keys differ
        state = jax.vmap(lambda k: background.init(k, config, params))(jax.random.split(init_key, num_envs))

        def body(state, step_key):
            keys = jax.random.split(step_key, num_envs)
            state = jax.vmap(lambda k, s: background.advance(k, s, config, params, 60.0))(keys, state)
            return state, None

        state, _ = jax.lax.scan(body, state, jax.random.split(key, MINUTES_PER_DAY))
        return background.book_events(state).sum()

    return jax.jit(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256, 1024, 4096])
    parser.add_argument("--steps", type=int, default=20, help="env steps per env per timed call")
    parser.add_argument("--days", action="store_true", help="also time whole simulated days")
    parser.add_argument("--envs", nargs="+", default=[i.split("/")[1] for i in ENV_IDS],
                        choices=[i.split("/")[1] for i in ENV_IDS], help="which envs to time")
    args = parser.parse_args()
    env_ids = [i for i in ENV_IDS if i.split("/")[1] in args.envs]
    for num_envs in args.batches:
        rates = {}
        for env_id in env_ids:
            env, params = jm.make(env_id)
            seconds = best_time(rollout_fn(env, params, num_envs, args.steps), jax.random.key(0), repeats=2)
            rates[env_id.split("/")[1]] = round(num_envs * args.steps / seconds)
        row = dict(what="env steps/s, random actions, full rmsc04 background", num_envs=num_envs,
                   steps_per_env=args.steps, **rates)
        if args.days:
            seconds = best_time(day_fn(num_envs), jax.random.key(0), repeats=1)
            row["days_per_s"] = round(num_envs / seconds, 3)
        report(**row)


if __name__ == "__main__":
    main()
