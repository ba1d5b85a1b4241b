"""Runs under ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (``tests/distributed/devices.py``
starts it): the same computations on 1, 2 and 4 CPU devices, written as JSON for the tests to check.

    python -m tests.distributed.sharded_runs OUT.json

For each computation: per leaf of the result, whether it is bitwise equal to the 1-device result and
the largest difference relative to the 1-device leaf's scale; and the row counts of the shards of
the env-axis arrays.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxmarket as jm
from jaxmarket.core.agents import adapter
from jaxmarket.core.keys import check_key_reuse
from jaxmarket.core.vec_env import VecEnv, per_env
from training.learners.mappo import MAPPOConfig
from training.learners.mappo import make_trainer as make_mappo
from training.learners.ppo import PPOConfig
from training.learners.ppo import make_trainer as make_ppo
from tests.training.learners import test_calibration as toy

DEVICE_COUNTS = (1, 2, 4)  # PPO runs on each; the rest on 1 and 4
NUM_ENVS = 8
VEC_STEPS = 12  # steps of the VecEnv rollouts: OTC episodes of 4 rounds (2 phases each) end and reset
OTC_SIZES = {"n_lps": 2, "n_lts": 1, "n_flow": 3, "n_rounds": 4}
MM_ENV_ID = "jaxmarket/MarketMaking-AS-v0"
PPO = PPOConfig(num_envs=NUM_ENVS, num_steps=8, total_timesteps=NUM_ENVS * 8 * 5, num_minibatches=2, update_epochs=2,
                hidden_sizes=(16,))
MAPPO = MAPPOConfig(num_envs=NUM_ENVS, num_rounds=4, total_rounds=NUM_ENVS * 4 * 4, update_epochs=2, num_minibatches=2,
                    hidden_sizes=(8,))
CALIBRATION_ITERATIONS = 12  # of the synthetic market of the calibrator's tests (16 envs in 8 groups)


def compare(result: Any, reference: Any) -> list[dict[str, Any]]:
    """Per leaf: bitwise equality and the largest |difference| over the reference's largest |value|."""
    out = []
    for a, b in zip(jax.tree.leaves(result), jax.tree.leaves(reference), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        scale = float(np.max(np.abs(b.astype(np.float64)))) if b.size else 0.0
        diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if b.size else 0.0
        out.append({"bitwise": bool(np.array_equal(a, b)), "relative": diff / max(scale, TINY), "shape": list(b.shape),
                    "discrete": b.dtype.kind in "biu"})
    return out


TINY = 1e-30  # the scale of an all-zero leaf


def shard_rows(tree: Any) -> list[list[int]]:
    """For each leaf: the leading-axis length of each of its shards (all of them when replicated)."""
    return [[int(s.data.shape[0]) if s.data.ndim else 0 for s in leaf.addressable_shards]
            for leaf in jax.tree.leaves(tree)]


def keys(seed: int) -> jax.Array:
    return jax.random.key(seed)


def unkey(tree: Any) -> Any:
    """Typed keys as their raw data (to compare them as arrays)."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x, tree)


def vec_rollout(env: Any, params: Any, devices: int, per_env_params: bool) -> tuple[Any, Any]:
    """Reset and VEC_STEPS steps of a VecEnv with the same uniform random actions on every device count."""
    venv = VecEnv(env, NUM_ENVS, per_env_params=per_env_params, devices=devices)
    batch = per_env(params, NUM_ENVS) if per_env_params else params
    key = keys(1)
    obs, state = venv.reset(jax.random.fold_in(key, 0), batch)
    sample = jax.vmap(lambda k: adapter(env).sample_action(k, params))
    outputs = []
    for t in range(VEC_STEPS):
        action_key, step_key = jax.random.split(jax.random.fold_in(key, t + 1))
        obs, state, reward, terminated, truncated, _ = venv.step(
            step_key, state, sample(jax.random.split(action_key, NUM_ENVS)), batch)
        outputs.append((obs, reward, terminated, truncated))
    return {"outputs": outputs, "state": unkey(state)}, state


def errors() -> dict[str, str]:
    """The messages of the configurations refused on 4 devices (nothing compiles before them)."""
    out = {}
    mm_env, mm_params = jm.make(MM_ENV_ID)
    for name, build in {
        "ppo_indivisible": lambda: make_ppo(dataclasses.replace(PPO, num_envs=6, devices=4), mm_env, mm_params),
        "ppo_too_many": lambda: make_ppo(dataclasses.replace(PPO, devices=5), mm_env, mm_params),
        "vec_env_default_all": lambda: VecEnv(mm_env, 6),
        "evaluate_indivisible": lambda: jm.evaluate(mm_env, mm_params, jm.random_policy(mm_env), num_episodes=10,
                                                    devices=4),
        "evaluate_default_divides": lambda: jm.evaluate(mm_env, mm_params, jm.random_policy(mm_env), num_episodes=6),
    }.items():
        try:
            build()
            out[name] = "accepted"
        except ValueError as err:
            out[name] = str(err)
    return out


def main(out: str) -> None:
    check_key_reuse()
    assert jax.device_count() >= max(DEVICE_COUNTS), jax.devices()
    results: dict[str, Any] = {"devices": jax.device_count()}
    otc_env, otc_params = jm.make("jaxmarket/OTC-v0", **OTC_SIZES)
    mm_env, mm_params = jm.make(MM_ENV_ID)
    runs: dict[str, dict[int, Any]] = {}
    shards: dict[str, dict[int, Any]] = {}
    for d in DEVICE_COUNTS:
        trainer = make_ppo(dataclasses.replace(PPO, devices=d), mm_env, mm_params)
        runner = jax.jit(trainer.train)(keys(5))["runner"]
        runs.setdefault("ppo_params", {})[d] = runner.train_state.params
        runs.setdefault("ppo_env_state", {})[d] = runner.env_state
        shards.setdefault("ppo_env_state", {})[d] = shard_rows(runner.env_state)
        shards.setdefault("ppo_params", {})[d] = shard_rows(runner.train_state.params)
        if d == 2:
            continue
        for name, per in (("vec_mm", False), ("vec_mm_per_env", True)):  # OTC's VecEnv runs in multi-agent PPO
            runs.setdefault(name, {})[d], state = vec_rollout(mm_env, mm_params, d, per)
            shards.setdefault(name, {})[d] = shard_rows(state)
        stats = jm.evaluate(mm_env, mm_params, jm.random_policy(mm_env), num_episodes=NUM_ENVS, seed=3, devices=d)
        runs.setdefault("evaluate_mm", {})[d] = stats
        otc_stats = jm.evaluate(otc_env, otc_params, jm.random_policy(otc_env), num_episodes=NUM_ENVS, seed=3,
                                devices=d)
        runs.setdefault("evaluate_otc", {})[d] = otc_stats

        trainer = make_mappo(dataclasses.replace(MAPPO, devices=d), otc_env, otc_params)
        runner = jax.jit(trainer.train)(keys(6))["runner"]
        runs.setdefault("mappo_params", {})[d] = {f: fam.train_state.params for f, fam in runner.families.items()}
        shards.setdefault("mappo_env_state", {})[d] = shard_rows(runner.env_state)
        shards.setdefault("mappo_env_params", {})[d] = shard_rows(runner.env_params)

        agents = make_mappo(dataclasses.replace(toy.AGENTS, devices=d), toy.ENV, toy.BASE, episode_metrics=True)
        calibrator = toy.calibrator(trainer=agents, iterations=CALIBRATION_ITERATIONS)
        state = jax.jit(calibrator.train)(keys(7))
        runs.setdefault("calibration", {})[d] = {"theta": state["metrics"]["theta"], "loss": state["metrics"]["loss"],
                                                 "agents": state["runner"].runner.families["agent"].train_state.params}
        shards.setdefault("calibration_env_state", {})[d] = shard_rows(state["runner"].runner.env_state)
    results["compare"] = {name: {d: compare(result, by_count[1]) for d, result in by_count.items() if d > 1}
                          for name, by_count in runs.items()}
    results["errors"] = errors()
    results["shards"] = shards
    Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
