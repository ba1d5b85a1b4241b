"""Monte-Carlo evaluation of a policy: many episodes in one jitted, vmapped rollout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarket.core.keys import seed_key
from jaxmarket.core.agents import adapter
from jaxmarket.core.sharding import dividing_device_count, env_mesh, gather, split_envs
from jaxmarket.core.validation import check_env_params, check_int

Policy = Callable[[jax.Array, Any, Any, Any], Any]
"""``act(key, obs, state, params) -> action``; analytic policies may read ``state``."""


def random_policy(env: Any) -> Policy:
    """A policy that samples uniformly from the env's action space.

    Args:
      env: a gymnax-style env (``env.action_space(params)``) or a ``MultiAgentEnv``.

    Returns:
      ``act(key, obs, state, params)``: one sample of ``env.action_space(params)``; for a
      multi-agent env, per family a ``(n_agents, ...)`` array of samples.
    """
    agents = adapter(env)

    def act(key: jax.Array, obs: Any, state: Any, params: Any) -> Any:
        del obs, state
        return agents.sample_action(key, params)

    return act


def episode_steps(env: Any, params: Any) -> int:
    """The number of env steps in one episode (``params.max_steps_in_episode`` for gymnax envs,
    ``env.episode_length(params)`` for multi-agent ones)."""
    return adapter(env).episode_steps(params)


def rollout_episode(env: Any, params: Any, policy: Policy, key: jax.Array, num_steps: int) -> dict:
    """One episode of at most ``num_steps`` steps without auto-reset.

    After the episode ends the state is frozen and rewards are no longer counted, so the last
    state is the episode's final one. Returns ``return`` (for a multi-agent env, a dict of
    per-agent returns keyed by family), ``length`` and ``env.episode_metrics``.
    """
    agents = adapter(env)
    reset_key, key = jax.random.split(key)
    obs, state = env.reset_env(reset_key, params)

    def step(carry, step_key):
        obs, state, done, ret, length = carry
        act_key, env_key = jax.random.split(step_key)
        action = policy(act_key, obs, state, params)
        next_obs, next_state, reward, terminated, _ = env.step_env(env_key, state, action, params)
        finished, _ = agents.done(next_state, terminated, params)
        alive = jnp.logical_not(done)
        ret = jax.tree.map(lambda total, r: total + jnp.where(alive, r, 0.0), ret, reward)
        length = length + alive.astype(jnp.int32)
        keep = lambda old, new: jnp.where(done, old, new)  # noqa: E731
        state = jax.tree.map(keep, state, next_state)
        obs = jax.tree.map(keep, obs, next_obs)
        done = done | finished
        return (obs, state, done, ret, length), None

    init = (obs, state, jnp.array(False), agents.zero_return(), jnp.array(0, jnp.int32))
    (_, state, _, ret, length), _ = jax.lax.scan(step, init, jax.random.split(key, num_steps))
    return {"return": ret, "length": length, **env.episode_metrics(state, params)}


def evaluate(
    env: Any,
    params: Any,
    policy: Policy,
    num_episodes: int = 1000,
    seed: int = 0,
    num_steps: int | None = None,
    devices: int | None = None,
) -> dict[str, np.ndarray]:
    """Run ``policy`` for ``num_episodes`` independent episodes in one jitted, vmapped rollout.

    The episodes are split across ``devices`` devices (``jaxmarket.core.sharding``); episode ``i``
    draws from the ``i``-th key split from the seed's key, so the result is bitwise the same on any
    number of devices.

    Args:
      env: a gymnax-style env or a ``MultiAgentEnv``.
      params: its parameters (checked before compiling).
      policy: ``act(key, obs, state, params) -> action``.
      num_episodes: the number of episodes, in ``[1, INT32_MAX]``.
      seed: the PRNG seed in ``[0, MAX_SEED]``; the same seed gives the same result.
      num_steps: the rollout length; defaults to one episode (``episode_steps``).
      devices: devices the episodes are split across, in ``[1, jax.device_count()]``, dividing
        ``num_episodes``; None: the most devices that divide ``num_episodes`` (every device when
        they do). The statistics do not depend on it (see above).

    Returns:
      ``{"return": (num_episodes,) float32, "length": (num_episodes,) int32, **env.episode_metrics}``
      as numpy arrays; for a multi-agent env ``"return"`` is a dict of ``(num_episodes, n_agents)``
      arrays per family.

    Raises:
      ValueError: invalid ``params``, ``num_episodes``, ``num_steps``, ``seed`` or ``devices``.
    """
    check_env_params(env, params)
    check_int("num_episodes", num_episodes, 1)
    num_steps = episode_steps(env, params) if num_steps is None else num_steps
    check_int("num_steps", num_steps, 1)
    count = dividing_device_count(num_episodes) if devices is None else devices
    mesh = env_mesh(count, num_episodes, envs_field="num_episodes")

    @jax.jit
    def run(key: jax.Array, params: Any) -> dict:
        keys = split_envs(jax.random.split(key, num_episodes), mesh)
        return split_envs(jax.vmap(lambda k: rollout_episode(env, params, policy, k, num_steps))(keys), mesh)

    return gather(run(seed_key(seed), params))
