"""Auto-reset, written once: step an environment and, where its episode ended, continue from a
fresh episode. Every env base (``Environment``, ``MultiAgentEnv``) and ``VecEnv`` steps through
``step_with_auto_reset``; they differ only in the functions they pass.

The returned six-tuple is gymnax's ``(obs, state, reward, terminated, truncated, info)``, with
``info`` extended by ``terminated``, ``truncated`` and ``final_observation`` (the observation the
step produced, before any reset).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

StepFn = Callable[[jax.Array, Any, Any, Any], tuple[Any, Any, Any, Any, dict]]
"""``step(key, state, action, params) -> (obs, state, reward, terminated, info)``, no reset."""
DoneFn = Callable[[Any, Any, Any], tuple[jax.Array, Any]]
"""``done(next_state, terminated, params) -> (done, truncated)``: ``done`` is a bool scalar for one
env or ``(num_envs,)`` for a batch."""
FreshFn = Callable[[jax.Array, Any, Any], tuple[Any, Any]]
"""``fresh(key, state, params) -> (obs, state)``: where an ended episode continues from
(``state`` is the state before the step)."""


def reset_where(done: jax.Array, fresh: Any, current: Any) -> Any:
    """Per leaf, ``fresh`` where ``done`` and ``current`` elsewhere.

    Args:
      done: bool, shape ``()`` (one env) or ``(num_envs,)`` (a batch: broadcast over each leaf's
        trailing axes).
      fresh, current: pytrees of the same structure, leaves with ``done``'s shape as prefix.

    Returns:
      A pytree like ``current``.
    """

    def pick(new: jax.Array, old: jax.Array) -> jax.Array:
        return jnp.where(done.reshape(done.shape + (1,) * (old.ndim - done.ndim)), new, old)

    return jax.tree.map(pick, fresh, current)


def step_with_auto_reset(
    key: jax.Array,
    state: Any,
    action: Any,
    params: Any,
    *,
    step: StepFn,
    done: DoneFn,
    fresh: FreshFn,
    lazy: bool = False,
) -> tuple[Any, Any, Any, Any, Any, dict]:
    """One step of ``step`` with auto-reset.

    The key is split into a step key and a reset key (in that order). With ``lazy=False`` the
    fresh episode is computed on every step and kept only where ``done`` (gymnax's auto-reset,
    cheap for one env); with ``lazy=True`` it is computed inside a ``lax.cond`` on "any episode
    ended", so a batch pays for one reset per episode boundary instead of one per step
    (``VecEnv``).

    Args:
      key: a typed PRNG key.
      state, action, params: what ``step`` takes.
      step: the step without reset (``StepFn``).
      done: whether the episode ended, and the ``truncated`` value to return (``DoneFn``).
      fresh: the observation and state an ended episode continues from (``FreshFn``).
      lazy: compute ``fresh`` only when some episode ended.

    Returns:
      ``(obs, state, reward, terminated, truncated, info)``; ``info`` adds ``terminated``,
      ``truncated`` and ``final_observation``.
    """
    step_key, reset_key = jax.random.split(key)
    obs, next_state, reward, terminated, info = step(step_key, state, action, params)
    ended, truncated = done(next_state, terminated, params)

    def with_reset(operand: tuple[Any, Any]) -> tuple[Any, Any]:
        fresh_obs, fresh_state = fresh(reset_key, state, params)
        return reset_where(ended, fresh_obs, operand[0]), reset_where(ended, fresh_state, operand[1])

    if lazy:
        obs_out, state_out = jax.lax.cond(ended.any(), with_reset, lambda operand: operand, (obs, next_state))
    else:
        obs_out, state_out = with_reset((obs, next_state))
    info = {**info, "terminated": terminated, "truncated": truncated, "final_observation": obs}
    return obs_out, state_out, reward, terminated, truncated, info
