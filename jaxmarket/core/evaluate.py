"""Monte-Carlo evaluation of a policy: many episodes in one jitted, vmapped rollout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarket.core.keys import seed_key
from jaxmarket.core.multi_agent import MultiAgentEnv, episode_done
from jaxmarket.core.validation import check_env_params, check_int

Policy = Callable[[jax.Array, Any, Any, Any], Any]
"""``act(key, obs, state, params) -> action``; analytic policies may read ``state``."""


def random_policy(env: Any) -> Policy:
    """A policy that samples uniformly from ``env.action_space(params)``; for a multi-agent env,
    a dict of per-agent samples from each family's space."""

    def act(key: jax.Array, obs: Any, state: Any, params: Any) -> Any:
        del obs, state
        if isinstance(env, MultiAgentEnv):
            keys = jax.random.split(key, len(env.families))
            return {
                family: jax.vmap(env.action_space(family, params).sample)(jax.random.split(k, env.num_agents[family]))
                for family, k in zip(env.families, keys)
            }
        return env.action_space(params).sample(key)

    return act


def _step(env: Any, key: jax.Array, state: Any, action: Any, params: Any) -> tuple[Any, Any, Any, jax.Array]:
    """One step without auto-reset: (obs, state, reward, done). Multi-agent rewards are dicts."""
    obs, state, reward, terminated, _ = env.step_env(key, state, action, params)
    if isinstance(env, MultiAgentEnv):
        return obs, state, reward, episode_done(terminated)
    return obs, state, reward, terminated | env.is_truncated(state, params)


def episode_steps(env: Any, params: Any) -> int:
    """The number of env steps in one episode (``params.max_steps_in_episode`` for gymnax envs)."""
    if isinstance(env, MultiAgentEnv):
        return env.episode_length(params)
    return int(params.max_steps_in_episode)


def rollout_episode(env: Any, params: Any, policy: Policy, key: jax.Array, num_steps: int) -> dict:
    """One episode of at most ``num_steps`` steps without auto-reset.

    After the episode ends the state is frozen and rewards are no longer counted, so the last
    state is the episode's final one. Returns ``return`` (for a multi-agent env, a dict of
    per-agent returns keyed by family), ``length`` and ``env.episode_metrics``.
    """
    reset_key, key = jax.random.split(key)
    obs, state = env.reset_env(reset_key, params)

    def step(carry, step_key):
        obs, state, done, ret, length = carry
        act_key, env_key = jax.random.split(step_key)
        action = policy(act_key, obs, state, params)
        next_obs, next_state, reward, finished = _step(env, env_key, state, action, params)
        alive = jnp.logical_not(done)
        ret = jax.tree.map(lambda total, r: total + jnp.where(alive, r, 0.0), ret, reward)
        length = length + alive.astype(jnp.int32)
        keep = lambda old, new: jnp.where(done, old, new)  # noqa: E731
        state = jax.tree.map(keep, state, next_state)
        obs = jax.tree.map(keep, obs, next_obs)
        done = done | finished
        return (obs, state, done, ret, length), None

    if isinstance(env, MultiAgentEnv):
        zero = {f: jnp.zeros((n,), jnp.float32) for f, n in env.num_agents.items()}
    else:
        zero = jnp.array(0.0, jnp.float32)
    init = (obs, state, jnp.array(False), zero, jnp.array(0, jnp.int32))
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
      num_steps: the rollout length; defaults to one episode (``episode_steps``).

    Returns:
      ``{"return": (num_episodes,), "length": (num_episodes,), **env metrics}`` as numpy arrays;
      for a multi-agent env ``"return"`` is a dict of (num_episodes, n_agents) arrays per family.
    """
    check_env_params(env, params)
    check_int("num_episodes", num_episodes, 1)
    num_steps = episode_steps(env, params) if num_steps is None else num_steps
    check_int("num_steps", num_steps, 1)

    @jax.jit
    def run(key: jax.Array, params: Any) -> dict:
        keys = jax.random.split(key, num_episodes)
        return jax.vmap(lambda k: rollout_episode(env, params, policy, k, num_steps))(keys)

    stats = run(seed_key(seed), params)
    return jax.tree.map(np.asarray, stats)
