"""What single- and multi-agent environments differ in, behind one small adapter.

``adapter(env)`` returns the env's ``agent_adapter`` (``SingleAgent`` for gymnax and
``Environment`` envs, ``MultiAgent`` for ``MultiAgentEnv``), so that ``VecEnv``, ``evaluate`` and
the env bases treat both kinds alike without asking which kind they hold:

- ``done(state, terminated, params, batched)``: whether the episode ended and the ``truncated``
  value to report;
- ``episode_steps(params)``: the steps of one episode;
- ``zero_return()``: the return accumulator;
- ``sample_action(key, params)``: a uniformly random action.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def episode_done(terminated: dict[str, jax.Array]) -> jax.Array:
    """Whether any agent of any family is done.

    Args:
      terminated: per family, a bool array ``(..., n_agents)``.

    Returns:
      bool, ``()`` for one env or ``(num_envs,)`` for a batch (each array reduced over its last axis).
    """
    return jnp.any(jnp.stack([d.any(axis=-1) for d in terminated.values()]), axis=0)


class SingleAgent:
    """The adapter of a gymnax-style env: a scalar reward, ``terminated`` and ``is_truncated``."""

    def __init__(self, env: Any) -> None:
        self.env = env

    def done(self, state: Any, terminated: jax.Array, params: Any, batched: bool = False) -> tuple[jax.Array, jax.Array]:
        """``(terminated | truncated, truncated)`` with ``truncated = env.is_truncated(state, params)``
        (vmapped over the leading axis when ``batched``)."""
        is_truncated = jax.vmap(self.env.is_truncated, (0, None)) if batched else self.env.is_truncated
        truncated = is_truncated(state, params)
        return terminated | truncated, truncated

    def episode_steps(self, params: Any) -> int:
        """``params.max_steps_in_episode`` as a Python int."""
        return int(params.max_steps_in_episode)

    def zero_return(self) -> jax.Array:
        """float32 ``()``."""
        return jnp.array(0.0, jnp.float32)

    def sample_action(self, key: jax.Array, params: Any) -> Any:
        """A uniform sample of ``env.action_space(params)``."""
        return self.env.action_space(params).sample(key)


class MultiAgent:
    """The adapter of a ``MultiAgentEnv``: dicts keyed by family, one entry per agent; an episode
    ends when any agent is done and is never truncated."""

    def __init__(self, env: Any) -> None:
        self.env = env

    def done(self, state: Any, terminated: dict[str, jax.Array], params: Any, batched: bool = False
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """``(episode_done(terminated), all-False truncated)``; ``batched`` changes nothing."""
        del state, params, batched
        return episode_done(terminated), jax.tree.map(jnp.zeros_like, terminated)

    def episode_steps(self, params: Any) -> int:
        """``env.episode_length(params)``: phases per round times rounds."""
        return self.env.episode_length(params)

    def zero_return(self) -> dict[str, jax.Array]:
        """Per family, float32 ``(n_agents,)`` zeros."""
        return {f: jnp.zeros((n,), jnp.float32) for f, n in self.env.num_agents.items()}

    def sample_action(self, key: jax.Array, params: Any) -> dict[str, jax.Array]:
        """Per family, ``(n_agents, ...)`` uniform samples of ``env.action_space(family, params)``."""
        env = self.env
        keys = jax.random.split(key, len(env.families))
        return {
            family: jax.vmap(env.action_space(family, params).sample)(jax.random.split(k, env.num_agents[family]))
            for family, k in zip(env.families, keys)
        }


Adapter = SingleAgent | MultiAgent


def adapter(env: Any) -> Adapter:
    """The env's adapter: ``type(env).agent_adapter(env)``, ``SingleAgent`` where the class names
    none (a plain gymnax env)."""
    return getattr(type(env), "agent_adapter", SingleAgent)(env)
