"""The multi-agent environment base class: agent families, turn phases and auto-reset.

Observations, actions, rewards, ``terminated`` and ``truncated`` are dicts keyed by agent family
(``"lp"``, ``"lt"``, ...), each value an array with a leading agent axis, so one shared policy per
family is one ``vmap``:

    obs, state = env.reset(key, params)       # obs["lp"]: (n_lps, d_lp)
    obs, state, rewards, terminated, truncated, info = env.step(key, state, actions, params)

A round of the game is a sequence of *phases* (``turn_order``); in each phase some families act.
``env.acting(state)`` gives, per family, a bool mask over its agents: actions of agents that do
not act in the current phase are ignored. Stackelberg (leaders then followers) and simultaneous
play are both just turn orders.

``step`` auto-resets: when the episode ends the returned state and observations are those of a
fresh episode (drawn with the step's key), as in gymnax. ``step`` and ``reset`` are compiled once
per input shape, as gymnax's are; concrete integer actions outside int32 raise ``ValueError``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from jaxmarket.core.agents import MultiAgent, adapter, episode_done
from jaxmarket.core.auto_reset import step_with_auto_reset
from jaxmarket.core.environment import Configurable
from jaxmarket.core.validation import check_choice, check_int32

TurnOrder = tuple[tuple[str, ...], ...]


def check_turn_order(turn_order: TurnOrder, families: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless every family acts in exactly one phase of ``turn_order``."""
    if not isinstance(turn_order, tuple) or not turn_order or not all(isinstance(p, tuple) and p for p in turn_order):
        raise ValueError(f"turn_order = {turn_order!r} must be a non-empty tuple of non-empty tuples of families")
    seen = [f for phase in turn_order for f in phase]
    for family in seen:
        check_choice("turn_order family", family, families)
    if sorted(seen) != sorted(families):
        raise ValueError(f"turn_order = {turn_order!r}: each of {families} must act in exactly one phase")


class MultiAgentEnv(Configurable):
    """Base class for jaxmarket multi-agent environments.

    Subclasses set ``families`` (names), ``turn_order``, ``num_agents`` (family -> count) and
    define ``reset_env``, ``step_env`` (returning obs, state, rewards, terminated dict, info),
    ``phase(state)`` (the current phase index, int32), ``observation_space(family)``,
    ``action_space(family)`` and, optionally, ``episode_metrics``.
    """

    families: tuple[str, ...] = ()
    turn_order: TurnOrder = ()
    num_agents: dict[str, int] = {}
    agent_adapter = MultiAgent

    def reset(self, key: jax.Array, params: Any = None) -> tuple[dict[str, jax.Array], Any]:
        """A fresh episode.

        Args:
          key: a typed PRNG key.
          params: the env's parameters; ``default_params`` if None.

        Returns:
          ``(obs, state)``: ``obs`` per family an array ``(n_agents, *observation_space(family).shape)``.

        Raises:
          ValueError: invalid ``params`` (checked once per parameter object, before compiling).
        """
        return self._reset(key, self.checked_params(params))

    @functools.partial(jax.jit, static_argnames=("self",))
    def _reset(self, key: jax.Array, params: Any) -> tuple[dict[str, jax.Array], Any]:
        return self.reset_env(key, params)

    def step(
        self, key: jax.Array, state: Any, actions: dict[str, Any], params: Any = None
    ) -> tuple[dict, Any, dict, dict, dict, dict]:
        """One phase, with auto-reset (``jaxmarket.core.auto_reset``): a fresh episode when any agent
        is done.

        Args:
          key: a typed PRNG key.
          state: the state returned by the last ``reset`` or ``step``.
          actions: per family, ``(n_agents, *action_space(family).shape)``; the actions of agents
            that do not act in this phase (``acting(state)``) are ignored.
          params: the env's parameters; ``default_params`` if None.

        Returns:
          ``(obs, state, rewards, terminated, truncated, info)``: ``obs``, ``rewards`` (float32),
          ``terminated`` and ``truncated`` (bool, never set) are dicts of ``(n_agents, ...)`` arrays
          per family; ``info`` adds ``terminated``, ``truncated`` and ``final_observation``.

        Raises:
          ValueError: invalid ``params``, or a concrete integer action outside int32.
        """
        check_int32("actions", actions)
        return self._step(key, state, actions, self.checked_params(params))

    @functools.partial(jax.jit, static_argnames=("self",))
    def _step(self, key: jax.Array, state: Any, actions: dict[str, Any], params: Any) -> tuple:
        return step_with_auto_reset(key, state, actions, params, step=self.step_env, done=adapter(self).done,
                                    fresh=lambda k, _, p: self.reset_env(k, p))

    def acting(self, state: Any) -> dict[str, jax.Array]:
        """Per family, a bool mask (n_agents,): which agents act in the current phase."""
        return {f: jnp.broadcast_to(self.family_acts(f, state), (self.num_agents[f],)) for f in self.families}

    def family_acts(self, family: str, state: Any) -> jax.Array:
        """Whether ``family`` acts in the current phase (bool scalar)."""
        return jnp.array([family in p for p in self.turn_order])[self.phase(state)]

    def phase(self, state: Any) -> jax.Array:
        raise NotImplementedError

    def reset_env(self, key: jax.Array, params: Any) -> tuple[dict[str, jax.Array], Any]:
        raise NotImplementedError

    def step_env(self, key: jax.Array, state: Any, actions: dict[str, Any], params: Any) -> tuple:
        raise NotImplementedError

    def observation_space(self, family: str, params: Any = None) -> Any:
        raise NotImplementedError

    def action_space(self, family: str, params: Any = None) -> Any:
        raise NotImplementedError


__all__ = ["MultiAgentEnv", "TurnOrder", "check_turn_order", "episode_done"]
