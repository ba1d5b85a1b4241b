"""Monte-Carlo evaluation of a policy: many episodes in one jitted, vmapped rollout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarket.core.validation import check_env_params, check_int

Policy = Callable[[jax.Array, Any, Any, Any], Any]
"""``act(key, obs, state, params) -> action``; analytic policies may read ``state``."""


def random_policy(env: Any) -> Policy:
    """A policy that samples uniformly from ``env.action_space(params)``."""

    def act(key: jax.Array, obs: Any, state: Any, params: Any) -> Any:
        del obs, state
        return env.action_space(params).sample(key)

    return act


def rollout_episode(env: Any, params: Any, policy: Policy, key: jax.Array, num_steps: int) -> dict:
    """One episode of at most ``num_steps`` steps without auto-reset.

    After the episode ends the state is frozen and rewards are no longer counted, so the last
    state is the episode's final one. Returns ``return``, ``length`` and ``env.episode_metrics``.
    """
    reset_key, key = jax.random.split(key)
    obs, state = env.reset_env(reset_key, params)

    def step(carry, step_key):
        obs, state, done, ret, length = carry
        act_key, env_key = jax.random.split(step_key)
        action = policy(act_key, obs, state, params)
        next_obs, next_state, reward, terminated, _ = env.step_env(env_key, state, action, params)
        truncated = env.is_truncated(next_state, params)
        alive = jnp.logical_not(done)
        ret = ret + jnp.where(alive, reward, 0.0)
        length = length + alive.astype(jnp.int32)
        keep = lambda old, new: jnp.where(done, old, new)  # noqa: E731
        state = jax.tree.map(keep, state, next_state)
        obs = jax.tree.map(keep, obs, next_obs)
        done = done | terminated | truncated
        return (obs, state, done, ret, length), None

    init = (obs, state, jnp.array(False), jnp.array(0.0, jnp.float32), jnp.array(0, jnp.int32))
    (_, state, _, ret, length), _ = jax.lax.scan(step, init, jax.random.split(key, num_steps))
    return {"return": ret, "length": length, **env.episode_metrics(state, params)}


def evaluate(
    env: Any,
    params: Any,
    policy: Policy,
    num_episodes: int = 1000,
    seed: int = 0,
    num_steps: int | None = None,
) -> dict[str, np.ndarray]:
    """Run ``policy`` for ``num_episodes`` independent episodes; returns per-episode arrays.

    Args:
      env, params: the environment and its parameters (checked before compiling).
      policy: ``act(key, obs, state, params) -> action``.
      num_episodes: number of episodes, all run in one vmapped rollout.
      seed: the PRNG seed; the same seed gives the same result.
      num_steps: the rollout length; defaults to ``params.max_steps_in_episode``.

    Returns:
      ``{"return": (num_episodes,), "length": (num_episodes,), **env metrics}`` as numpy arrays.
    """
    check_env_params(env, params)
    check_int("num_episodes", num_episodes, 1)
    num_steps = int(params.max_steps_in_episode) if num_steps is None else num_steps
    check_int("num_steps", num_steps, 1)

    @jax.jit
    def run(key: jax.Array, params: Any) -> dict:
        keys = jax.random.split(key, num_episodes)
        return jax.vmap(lambda k: rollout_episode(env, params, policy, k, num_steps))(keys)

    stats = run(jax.random.PRNGKey(seed), params)
    return {name: np.asarray(value) for name, value in stats.items()}
