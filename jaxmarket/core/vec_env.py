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

With ``per_env_params=True`` every leaf of ``params`` has a leading ``(num_envs,)`` axis and env
``i`` runs under its own parameters ``params[i]`` (a sweep or a calibration without recompiling;
``per_env(params, num_envs)`` broadcasts one parameter set to such a batch).

The env axis is split across ``devices`` devices (default: every device; ``jaxmarket.core.sharding``):
``reset`` and ``step`` return states, observations and rewards whose leading axis is sharded, each
device stepping its own ``num_envs / devices`` envs. Each env draws from a key split from the step's
key by its global index, so the result is bitwise the same on any number of devices.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from jaxmarket.core.agents import adapter
from jaxmarket.core.auto_reset import step_with_auto_reset
from jaxmarket.core.sharding import env_mesh, split_envs
from jaxmarket.core.validation import check_int, check_int32


class VecEnv:
    """``num_envs`` copies of ``env`` with lazy auto-reset (see the module docstring).

    Args:
      env: a gymnax-style env or a ``MultiAgentEnv``.
      num_envs: the batch size, an integer in ``[1, INT32_MAX]``.
      per_env_params: whether ``params`` holds one parameter set per env (a leading ``(num_envs,)``
        axis on every leaf) instead of one shared by every env.
      devices: devices the env axis is split across, in ``[1, jax.device_count()]``; None: every
        device. ``num_envs`` must be a multiple of it.

    Raises:
      ValueError: ``num_envs`` out of range, ``devices`` out of range or not dividing ``num_envs``.
    """

    def __init__(self, env: Any, num_envs: int, per_env_params: bool = False, devices: int | None = None) -> None:
        check_int("num_envs", num_envs, 1)
        self.env = env
        self.num_envs = num_envs
        self.per_env_params = bool(per_env_params)
        self.mesh = env_mesh(devices, num_envs)
        self._params_axis = 0 if self.per_env_params else None

    def reset(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        """``num_envs`` fresh episodes.

        Args:
          key: a typed PRNG key (split into one key per env).
          params: the env's parameters, shared by every env (per env with ``per_env_params``).

        Returns:
          ``(obs, state)`` with a leading ``(num_envs,)`` axis on every leaf.

        Raises:
          ValueError: invalid ``params``.
        """
        return self._reset(key, self._checked(params))

    def _checked(self, params: Any) -> Any:
        checked = getattr(self.env, "checked_params", None)  # plain gymnax envs have no checks
        if checked is None:
            return params
        if self.per_env_params:  # check the first env's set; vmap checks that the others' shapes agree
            checked(jax.tree.map(lambda leaf: leaf[0], params))
            return params
        return checked(params)

    @functools.partial(jax.jit, static_argnames=("self",))
    def _reset(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        keys = split_envs(jax.random.split(key, self.num_envs), self.mesh)
        return split_envs(jax.vmap(self.env.reset_env, (0, self._params_axis))(keys, self._split(params)), self.mesh)

    def _split(self, params: Any) -> Any:
        """Per-env parameters split like the envs; shared ones as they are."""
        return split_envs(params, self.mesh) if self.per_env_params else params

    def step(self, key: jax.Array, state: Any, actions: Any, params: Any) -> tuple:
        """One step of every env, resetting those whose episode ended.

        Args:
          key: a typed PRNG key.
          state: the batched state, leading axis ``(num_envs,)``.
          actions: the batched actions, leading axis ``(num_envs,)`` (per family for a multi-agent env).
          params: the env's parameters, shared by every env (per env with ``per_env_params``).

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
        out = step_with_auto_reset(key, split_envs(state, self.mesh), split_envs(actions, self.mesh),
                                   self._split(params), step=self._step_all, done=self._done,
                                   fresh=lambda k, _, p: self._reset(k, p), lazy=True)
        return split_envs(out, self.mesh)

    def _step_all(self, key: jax.Array, state: Any, actions: Any, params: Any) -> tuple:
        """``step_env`` of every env, each with its own key split from ``key``; no reset."""
        keys = split_envs(jax.random.split(key, self.num_envs), self.mesh)
        return jax.vmap(self.env.step_env, (0, 0, 0, self._params_axis))(keys, state, actions, params)

    def _done(self, state: Any, terminated: Any, params: Any) -> tuple[jax.Array, Any]:
        if self.per_env_params:
            return jax.vmap(lambda s, t, p: adapter(self.env).done(s, t, p, batched=False))(state, terminated, params)
        return adapter(self.env).done(state, terminated, params, batched=True)


def per_env(params: Any, num_envs: int) -> Any:
    """One parameter set broadcast to ``num_envs`` envs: every leaf gets a leading ``(num_envs,)`` axis.

    Args:
      params: a pytree of parameters (numbers or arrays).
      num_envs: the batch size, >= 1.

    Returns:
      The pytree with every leaf a JAX array of shape ``(num_envs, *leaf.shape)``.
    """
    check_int("num_envs", num_envs, 1)
    return jax.tree.map(lambda leaf: jnp.broadcast_to(jnp.asarray(leaf), (num_envs, *jnp.shape(leaf))), params)
