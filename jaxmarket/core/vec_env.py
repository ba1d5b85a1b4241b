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

from jaxmarket.core.agents import adapter
from jaxmarket.core.auto_reset import step_with_auto_reset
from jaxmarket.core.validation import check_int, check_int32


class VecEnv:
    """``num_envs`` copies of ``env`` with lazy auto-reset (see the module docstring).

    Args:
      env: a gymnax-style env or a ``MultiAgentEnv``.
      num_envs: the batch size, an integer in ``[1, INT32_MAX]``.

    Raises:
      ValueError: ``num_envs`` out of range.
    """

    def __init__(self, env: Any, num_envs: int) -> None:
        check_int("num_envs", num_envs, 1)
        self.env = env
        self.num_envs = num_envs

    def reset(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        """``num_envs`` fresh episodes.

        Args:
          key: a typed PRNG key (split into one key per env).
          params: the env's parameters, shared by every env.

        Returns:
          ``(obs, state)`` with a leading ``(num_envs,)`` axis on every leaf.

        Raises:
          ValueError: invalid ``params``.
        """
        return self._reset(key, self._checked(params))

    def _checked(self, params: Any) -> Any:
        checked = getattr(self.env, "checked_params", None)  # plain gymnax envs have no checks
        return params if checked is None else checked(params)

    @functools.partial(jax.jit, static_argnames=("self",))
    def _reset(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        return jax.vmap(self.env.reset_env, (0, None))(jax.random.split(key, self.num_envs), params)

    def step(self, key: jax.Array, state: Any, actions: Any, params: Any) -> tuple:
        """One step of every env, resetting those whose episode ended.

        Args:
          key: a typed PRNG key.
          state: the batched state, leading axis ``(num_envs,)``.
          actions: the batched actions, leading axis ``(num_envs,)`` (per family for a multi-agent env).
          params: the env's parameters, shared by every env.

        Returns:
          ``(obs, state, reward, terminated, truncated, info)`` with a leading ``(num_envs,)`` axis,
          as the env's ``step`` returns them; ``info["final_observation"]`` holds the observations
          before any reset.

        Raises:
          ValueError: invalid ``params``, or a concrete integer action outside int32.
        """
        check_int32("actions", actions)
        return self._step(key, state, actions, self._checked(params))

    @functools.partial(jax.jit, static_argnames=("self",))
    def _step(self, key: jax.Array, state: Any, actions: Any, params: Any) -> tuple:
        return step_with_auto_reset(key, state, actions, params, step=self._step_all, done=self._done,
                                    fresh=lambda k, _, p: self._reset(k, p), lazy=True)

    def _step_all(self, key: jax.Array, state: Any, actions: Any, params: Any) -> tuple:
        """``step_env`` of every env, each with its own key split from ``key``; no reset."""
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.step_env, (0, 0, 0, None))(keys, state, actions, params)

    def _done(self, state: Any, terminated: Any, params: Any) -> tuple[jax.Array, Any]:
        return adapter(self.env).done(state, terminated, params, batched=True)
