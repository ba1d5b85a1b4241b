"""Env steps/s of the gymnasium adapters (``jaxmarket.interop``) at 1 to 4,096 envs, beside the JAX
env itself and gymnasium's CartPole-v1 stepped from Python in the same process.

For each env (MarketMaking-AS-v0, OTC-LP-v0) and each batch size, every path takes ``steps``
steps of every env per timed run:

- ``gymnasium_vector``: ``to_gymnasium_vector(env, params, num_envs).step(actions)`` called from a
  Python loop, numpy in and out (one jitted, vmapped ``VecEnv.step`` per call, same-step
  autoreset). The actions are numpy arrays sampled from its ``action_space`` before the timing.
- ``gymnasium_env`` (1 env only): ``to_gymnasium(env, params).step(action)`` from a Python loop,
  with ``reset()`` after each episode end inside the timing, actions sampled before it.
- ``jax_loop``: the adapter's own ``VecEnv.step`` (the same compiled call) from the same Python
  loop on device arrays: the same actions put on the device and the keys split before the timing,
  one block at the end. The per-call peer of the adapter without the numpy round trip.
- ``jax_scan``: a jitted ``lax.scan`` of ``steps`` ``VecEnv.step`` calls, uniformly random actions
  drawn inside it: the speed of staying in JAX.
- CartPole-v1 (``--no-cartpole`` skips it): at 1 env ``gymnasium.make("CartPole-v1")`` stepped from
  Python, ``reset()`` after each episode end (path ``gymnasium_env``); above it gymnasium's
  numpy-vectorized ``gymnasium.make_vec("CartPole-v1", num_envs, vectorization_mode="vector_entry_point")``
  (path ``gymnasium_vector``, its own autoreset). Actions sampled before the timing.

Every path runs once untimed (compiling and warming), then ``--repeats`` rounds time every path
once each, interleaved so that a busy moment of the machine falls on all of them alike; the best
run of each path is reported. steps/s = num_envs × steps / seconds. One JSON line per env, path
and batch size (``benchmarks.common.report``) with ``env_steps_per_s`` and, on the jaxmarket
lines, ``ratio_to_cartpole`` (its rate over CartPole's at the same batch size); on the Python-loop
lines ``loop_overhead`` (the ``jax_scan`` rate over the line's, minus 1); on the adapter lines
``overhead`` (the ``jax_loop`` rate over the line's, minus 1: the numpy round trip's extra wall
time per step). Then a plain-text summary with the adapter's ratios to ``jax_loop``, ``jax_scan``
and CartPole (``1 / (1 + overhead)``, ``1 / (1 + loop_overhead)`` and ``ratio_to_cartpole``).

    python -m benchmarks.interop_throughput [--smoke] [--batches 1 64 4096] [--steps 1000]
        [--max-env-steps 1000000] [--envs MarketMaking-AS-v0 OTC-LP-v0] [--repeats 3] [--no-cartpole]

``--smoke`` runs MarketMaking-AS-v0 at 1 and 4 envs, 4 steps, one timed round: it checks that every
path runs; its figures measure nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium
import jax
import numpy as np

import jaxmarket as jm
from benchmarks.common import REPEATS, report
from jaxmarket.interop import to_gymnasium, to_gymnasium_vector

ENVS = ("MarketMaking-AS-v0", "OTC-LP-v0")  # registered ids without the "jaxmarket/" prefix
CARTPOLE = "CartPole-v1"
GYM_VECTOR = "gymnasium_vector"
GYM_ENV = "gymnasium_env"
JAX_LOOP = "jax_loop"
JAX_SCAN = "jax_scan"
LOOP_PATHS = (GYM_VECTOR, GYM_ENV, JAX_LOOP)  # stepped from a Python loop: their lines carry loop_overhead
ADAPTER_PATHS = (GYM_VECTOR, GYM_ENV)  # numpy in and out: their lines carry overhead
WHAT = "gymnasium adapters beside the JAX env and CartPole-v1, env steps/s"
BATCHES = (1, 64, 4096)
STEPS = 1000  # steps per env per timed run
MAX_ENV_STEPS = 1_000_000  # env steps per timed run at most (fewer steps per env at large batches)
MIN_STEPS = 10  # steps per env per timed run at least
SMOKE_BATCHES = (1, 4)
SMOKE_STEPS = 4
SEED = 0


@dataclasses.dataclass(frozen=True)
class Path:
    """One way of stepping an env, timed as a whole run of ``steps`` steps.

    Attributes:
        env: the env's name (``CARTPOLE`` or one of ``ENVS``).
        path: ``GYM_VECTOR``, ``GYM_ENV``, ``JAX_LOOP`` or ``JAX_SCAN``.
        prepare: ``prepare(run) -> thunk``: builds what run number ``run`` needs (keys) outside the
            timing and returns the thunk that is timed; the thunk takes the steps and returns once
            they are done.
    """

    env: str
    path: str
    prepare: Callable[[int], Callable[[], Any]]


def steps_for(num_envs: int, steps: int, max_env_steps: int, min_steps: int = MIN_STEPS) -> int:
    """Steps per env per timed run: ``steps``, capped at ``max_env_steps`` env steps, at least ``min_steps``."""
    return max(min_steps, min(steps, max_env_steps // num_envs))


def sampled(space: gymnasium.spaces.Space, count: int, seed: int = SEED) -> list[np.ndarray]:
    """``count`` actions drawn from ``space`` (seeded), as numpy arrays."""
    space.seed(seed)
    return [np.asarray(space.sample()) for _ in range(count)]


def gym_vector_path(name: str, envs: gymnasium.vector.VectorEnv, steps: int) -> Path:
    """``envs.step`` from a Python loop on pre-sampled numpy actions (CartPole's vector env or the adapter)."""
    actions = sampled(envs.action_space, steps)
    envs.reset(seed=SEED)

    def prepare(_: int) -> Callable[[], None]:
        def run() -> None:
            for action in actions:
                envs.step(action)

        return run

    return Path(name, GYM_VECTOR, prepare)


def gym_env_path(name: str, env: gymnasium.Env, steps: int) -> Path:
    """``env.step`` from a Python loop on pre-sampled actions, ``reset()`` after each episode end."""
    actions = sampled(env.action_space, steps)
    env.reset(seed=SEED)

    def prepare(_: int) -> Callable[[], None]:
        def run() -> None:
            for action in actions:
                _, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    env.reset()

        return run

    return Path(name, GYM_ENV, prepare)


def jax_loop_path(name: str, adapter: Any, steps: int) -> Path:
    """The adapter's ``VecEnv.step`` from a Python loop on device arrays: the same actions as the
    adapter's, put on the device, and keys split before the timing; one block at the end."""
    venv, params = adapter.vec_env, adapter.params
    actions = [jax.device_put(a) for a in sampled(adapter.action_space, steps)]
    carry = {"state": venv.reset(jax.random.key(SEED), params)[1]}

    def prepare(run_index: int) -> Callable[[], None]:
        keys = list(jax.random.split(jax.random.key(run_index), steps))  # fresh keys for every run

        def run() -> None:
            state = carry["state"]
            for key, action in zip(keys, actions, strict=True):
                _, state, _, _, _, _ = venv.step(key, state, action, params)
            carry["state"] = jax.block_until_ready(state)

        return run

    return Path(name, JAX_LOOP, prepare)


def scan_fn(adapter: Any, steps: int) -> Callable[[jax.Array, Any], tuple[Any, jax.Array]]:
    """A jitted ``lax.scan`` of ``steps`` steps of the adapter's ``VecEnv``, uniformly random actions
    drawn inside it: ``run(key, state) -> (state, reward sum)``."""
    venv, env, params = adapter.vec_env, adapter.env, adapter.params
    sample = jax.vmap(env.action_space(params).sample)

    def run(key: jax.Array, state: Any) -> tuple[Any, jax.Array]:
        def body(state: Any, step_key: jax.Array) -> tuple[Any, jax.Array]:
            action_key, env_key = jax.random.split(step_key)
            actions = sample(jax.random.split(action_key, venv.num_envs))
            _, state, reward, _, _, _ = venv.step(env_key, state, actions, params)
            return state, reward.sum()

        state, rewards = jax.lax.scan(body, state, jax.random.split(key, steps))
        return state, rewards.sum()

    return jax.jit(run)


def jax_scan_path(name: str, adapter: Any, steps: int) -> Path:
    """``scan_fn``'s compiled call, continuing from the state the previous run left."""
    scan = scan_fn(adapter, steps)
    carry = {"state": adapter.vec_env.reset(jax.random.key(SEED), adapter.params)[1]}

    def prepare(run_index: int) -> Callable[[], None]:
        key = jax.random.key(run_index)

        def run() -> None:
            carry["state"] = jax.block_until_ready(scan(key, carry["state"]))[0]

        return run

    return Path(name, JAX_SCAN, prepare)


def cartpole_path(num_envs: int, steps: int) -> Path:
    """gymnasium's CartPole-v1: one env from ``gymnasium.make`` at 1 env, its numpy-vectorized env above."""
    if num_envs == 1:
        return gym_env_path(CARTPOLE, gymnasium.make(CARTPOLE), steps)
    envs = gymnasium.make_vec(CARTPOLE, num_envs=num_envs, vectorization_mode="vector_entry_point")
    return gym_vector_path(CARTPOLE, envs, steps)


def env_paths(name: str, num_envs: int, steps: int) -> list[Path]:
    """The jaxmarket paths of ``jaxmarket/<name>`` at ``num_envs`` envs (``gymnasium_env`` at 1 env only)."""
    env, params = jm.make(f"jaxmarket/{name}")
    adapter = to_gymnasium_vector(env, params, num_envs)
    paths = [gym_vector_path(name, adapter, steps)]
    if num_envs == 1:
        paths.append(gym_env_path(name, to_gymnasium(env, params), steps))
    return [*paths, jax_loop_path(name, adapter, steps), jax_scan_path(name, adapter, steps)]


def time_paths(paths: Sequence[Path], repeats: int) -> list[float]:
    """Seconds of the best of ``repeats`` timed runs of each path, after one untimed run of each;
    the rounds interleave the paths (every path once per round)."""
    runs = itertools.count(1)  # each run's number: its keys are drawn from it
    for path in paths:
        path.prepare(next(runs))()  # untimed: compiles and warms
    best = [math.inf] * len(paths)
    for _ in range(repeats):
        for index, path in enumerate(paths):
            thunk = path.prepare(next(runs))
            start = time.perf_counter()
            thunk()
            best[index] = min(best[index], time.perf_counter() - start)
    return best


def rows_for(paths: Sequence[Path], seconds: Sequence[float], num_envs: int, steps: int) -> list[dict]:
    """The JSON lines of one batch size, printed as they are made (see the module docstring)."""
    rates = {(p.env, p.path): num_envs * steps / s for p, s in zip(paths, seconds, strict=True)}
    cartpole = next((rate for (env, _), rate in rates.items() if env == CARTPOLE), None)
    rows = []
    for (env, path), rate in rates.items():
        row: dict[str, Any] = dict(what=WHAT, env=env, path=path, num_envs=num_envs, steps_per_env=steps,
                                   env_steps_per_s=round(rate))
        if env != CARTPOLE:
            if cartpole is not None:
                row["ratio_to_cartpole"] = round(rate / cartpole, 4)
            if path in LOOP_PATHS:
                row["loop_overhead"] = round(rates[env, JAX_SCAN] / rate - 1, 4)
            if path in ADAPTER_PATHS:
                row["overhead"] = round(rates[env, JAX_LOOP] / rate - 1, 4)
        rows.append(report(**row))
    return rows


def summary(rows: Sequence[dict], smoke: bool = False) -> str:
    """The adapters' ratios to the JAX env's Python loop, to its scan and to CartPole, per env and size."""
    lines = ["", "summary (smoke sizes: these figures measure nothing):" if smoke else "summary:"]
    for row in rows:
        if row["path"] not in ADAPTER_PATHS or row["env"] == CARTPOLE:
            continue
        ratios = [f"/ {JAX_LOOP} {1 / (1 + row['overhead']):.3f}", f"/ {JAX_SCAN} {1 / (1 + row['loop_overhead']):.3f}"]
        if "ratio_to_cartpole" in row:
            ratios.append(f"/ CartPole {row['ratio_to_cartpole']:.3f}")
        envs = f"{row['num_envs']:,} env" + ("" if row["num_envs"] == 1 else "s")
        lines.append(f"  {row['env']}, {envs}, {row['path']}: {row['env_steps_per_s']:,} env steps/s; "
                     + ", ".join(ratios))
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, with the preset's (``--smoke`` or not) sizes where none is given."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that every path runs")
    parser.add_argument("--batches", type=int, nargs="+", default=None,
                        help=f"env counts, small to large (default {' '.join(map(str, BATCHES))})")
    parser.add_argument("--steps", type=int, default=None, help=f"steps per env per timed run (default {STEPS})")
    parser.add_argument("--max-env-steps", type=int, default=MAX_ENV_STEPS,
                        help=f"env steps per timed run at most (default {MAX_ENV_STEPS:,}; at least {MIN_STEPS} "
                             "steps per env)")
    parser.add_argument("--envs", nargs="+", choices=ENVS, default=None, help="jaxmarket envs (default: both)")
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"timed runs per path, the best kept (default {REPEATS})")
    parser.add_argument("--no-cartpole", action="store_true", help="skip the CartPole comparison")
    args = parser.parse_args(argv)
    if args.batches is None:
        args.batches = list(SMOKE_BATCHES if args.smoke else BATCHES)
    if args.envs is None:
        args.envs = [ENVS[0]] if args.smoke else list(ENVS)
    if args.repeats is None:
        args.repeats = 1 if args.smoke else REPEATS
    if args.steps is None:
        args.steps = SMOKE_STEPS if args.smoke else STEPS
    for name, values in (("--steps", [args.steps]), ("--repeats", [args.repeats]),
                         ("--max-env-steps", [args.max_env_steps]), ("--batches", args.batches)):
        if min(values) < 1:
            parser.error(f"{name} = {' '.join(map(str, values))}: at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (0)."""
    args = parse(argv)
    rows: list[dict] = []
    for num_envs in args.batches:
        steps = steps_for(num_envs, args.steps, args.max_env_steps, min(MIN_STEPS, args.steps))
        paths = [] if args.no_cartpole else [cartpole_path(num_envs, steps)]
        for name in args.envs:
            paths += env_paths(name, num_envs, steps)
        rows += rows_for(paths, time_paths(paths, args.repeats), num_envs, steps)
    print(summary(rows, args.smoke), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
