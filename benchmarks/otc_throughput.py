"""OTC-v0 env steps/s with random actions, 1 to 1M environments, at 4 LPs / 16 clients and at
10 LPs / 100 clients, beside gymnax CartPole-v1 in the same process.

An env step is one phase of a round (Stackelberg: 2 steps per round); rounds/s is half of it.
``vec`` steps through ``jaxmarket.VecEnv`` (reset only at episode ends); ``vmap`` is
``vmap(env.step)``, gymnax's auto-reset that computes a reset on every step.

    python -m benchmarks.otc_throughput [--batches 1 64 1024 4096 16384 65536] [--steps 200]
"""

from __future__ import annotations

import argparse

import gymnax
import jax

import jaxmarket as jm
from benchmarks.common import best_time, report
from benchmarks.env_throughput import rollout_fn

SIZES = {"4x16": dict(n_lps=4, n_lts=4, n_flow=12), "10x100": dict(n_lps=10, n_lts=20, n_flow=80)}
MAX_STEPS_PER_CALL = 4_000_000  # env steps per timed call at most


def random_actions(env, params, key: jax.Array, num_envs: int) -> dict:
    """Uniform actions for every agent of every env, drawn in two batched calls."""
    lp_space, n_lps, n_lts = env.action_space("lp", params), env.num_agents["lp"], env.num_agents["lt"]
    k_lp, k_lt = jax.random.split(key)
    lp = jax.random.uniform(k_lp, (num_envs, n_lps) + lp_space.shape, minval=lp_space.low, maxval=lp_space.high)
    lt = jax.random.randint(k_lt, (num_envs, n_lts), 0, env.action_space("lt", params).n)
    return {"lp": lp, "lt": lt}


def otc_rollout(env, params, num_envs: int, num_steps: int, mode: str):
    """A jitted rollout of ``num_steps`` batched steps with random actions."""
    venv = jm.VecEnv(env, num_envs)
    step = jax.vmap(env.step, (0, 0, 0, None))

    def run(key):
        reset_key, key = jax.random.split(key)
        _, state = venv.reset(reset_key, params)

        def body(state, step_key):
            action_key, env_key = jax.random.split(step_key)
            actions = random_actions(env, params, action_key, num_envs)
            if mode == "vec":
                _, state, reward, _, _, _ = venv.step(env_key, state, actions, params)
            else:
                _, state, reward, _, _, _ = step(jax.random.split(env_key, num_envs), state, actions, params)
            return state, reward["lp"].sum()

        return jax.lax.scan(body, state, jax.random.split(key, num_steps))[1].sum()

    return jax.jit(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024, 4096, 16384, 65536])
    parser.add_argument("--steps", type=int, default=200, help="steps per env per timed call")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--modes", nargs="+", default=["vec", "vmap"], choices=["vec", "vmap"])
    parser.add_argument("--no-cartpole", action="store_true")
    args = parser.parse_args()
    cartpole, cartpole_params = gymnax.make("CartPole-v1")
    for num_envs in args.batches:
        steps = max(4, min(args.steps, MAX_STEPS_PER_CALL // num_envs))
        row = {}
        if not args.no_cartpole:
            seconds = best_time(rollout_fn(cartpole, cartpole_params, num_envs, steps), jax.random.key(0))
            row["cartpole"] = round(num_envs * steps / seconds)
        for size in args.sizes:
            env, params = jm.make("jaxmarket/OTC-v0", **SIZES[size])
            for mode in args.modes:
                seconds = best_time(otc_rollout(env, params, num_envs, steps, mode), jax.random.key(0))
                row[f"{size}_{mode}"] = round(num_envs * steps / seconds)
        report(what="OTC-v0 env steps/s, random actions", num_envs=num_envs, steps_per_env=steps, **row)


if __name__ == "__main__":
    main()
