"""``VecEnv``: a batch of environments stepped together, resetting only when an episode ends.

``env.step`` (gymnax's auto-reset) computes a fresh reset on every step and keeps it only where
an episode ended: under ``vmap`` that reset is paid on every step. ``VecEnv`` steps all
environments with ``step_env`` and runs the reset inside a ``lax.cond`` on "any episode ended",
outside the ``vmap``, so it costs one reset per episode boundary instead of one per step. The
result is the same as ``vmap(env.step)`` up to which random key the fresh episodes are drawn
with. Works for single-agent (gymnax) and multi-agent (``MultiAgentEnv``) environments.
``reset`` and ``step`` are compiled once per input shape; concrete integer actions outside int32
raise ``ValueError``.

    venv = VecEnv(env, num_envs=4096)
    obs, state = venv.reset(key, params)            # leaves have a leading (num_envs,) axis
    obs, state, reward, terminated, truncated, info = venv.step(key, state, actions, params)
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from jaxmarket.core.multi_agent import MultiAgentEnv, episode_done
from jaxmarket.core.validation import check_int, check_int32


class VecEnv:
    """``num_envs`` copies of ``env`` with lazy auto-reset (see the module docstring)."""

    def __init__(self, env: Any, num_envs: int) -> None:
        check_int("num_envs", num_envs, 1)
        self.env = env
        self.num_envs = num_envs

    def reset(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        """``num_envs`` fresh episodes: leaves with a leading ``(num_envs,)`` axis. Raises
        ``ValueError`` for invalid ``params``."""
        return self._reset(key, self._checked(params))

    def _checked(self, params: Any) -> Any:
        checked = getattr(self.env, "checked_params", None)  # plain gymnax envs have no checks
        return params if checked is None else checked(params)

    @functools.partial(jax.jit, static_argnames=("self",))
    def _reset(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        return jax.vmap(self.env.reset_env, (0, None))(jax.random.split(key, self.num_envs), params)

    def _done(self, state: Any, terminated: Any, params: Any) -> tuple[jax.Array, Any]:
        if isinstance(self.env, MultiAgentEnv):
            done = episode_done(terminated)
            truncated = jax.tree.map(jnp.zeros_like, terminated)
            return done, truncated
        truncated = jax.vmap(self.env.is_truncated, (0, None))(state, params)
        return terminated | truncated, truncated

    def step(self, key: jax.Array, state: Any, actions: Any, params: Any) -> tuple:
        """One step of every env: ``(obs, state, reward, terminated, truncated, info)`` with a
        leading ``(num_envs,)`` axis. Raises ``ValueError`` for invalid ``params`` and for a concrete
        integer action outside int32."""
        check_int32("actions", actions)
        return self._step(key, state, actions, self._checked(params))

    @functools.partial(jax.jit, static_argnames=("self",))
    def _step(self, key: jax.Array, state: Any, actions: Any, params: Any) -> tuple:
        step_key, reset_key = jax.random.split(key)
        keys = jax.random.split(step_key, self.num_envs)
        obs, state, reward, terminated, info = jax.vmap(self.env.step_env, (0, 0, 0, None))(keys, state, actions, params)
        done, truncated = self._done(state, terminated, params)

        def with_reset(operand):
            obs, state = operand
            fresh_obs, fresh_state = self._reset(reset_key, params)
            pick = lambda new, old: jnp.where(done.reshape(done.shape + (1,) * (old.ndim - 1)), new, old)  # noqa: E731
            return jax.tree.map(pick, fresh_obs, obs), jax.tree.map(pick, fresh_state, state)

        final_obs = obs
        obs, state = jax.lax.cond(done.any(), with_reset, lambda operand: operand, (obs, state))
        info = {**info, "terminated": terminated, "truncated": truncated, "final_observation": final_obs}
        return obs, state, reward, terminated, truncated, info
