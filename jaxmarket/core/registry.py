"""The environment registry: ``make(env_id, **overrides) -> (env, params)``.

Every jaxmarket environment is also registered with gymnax, so ``gymnax.make(env_id, ...)`` gives
the same pair. ``overrides`` are the environment's constructor arguments (static configuration)
and fields of its parameter dataclass (numeric, traced settings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnax

EnvFactory = Callable[..., Any]

_REGISTRY: dict[str, EnvFactory] = {}


def register(env_id: str, factory: EnvFactory) -> None:
    """Register an environment under ``env_id`` here and in gymnax.

    Args:
      env_id: the id, conventionally ``"jaxmarket/Name-vN"``.
      factory: ``factory(**overrides) -> env``, usually the env class.

    Raises:
      ValueError: ``env_id`` is already registered.
    """
    if env_id in _REGISTRY:
        raise ValueError(f"env_id = {env_id!r} is already registered")
    _REGISTRY[env_id] = factory
    if env_id not in gymnax.registered_envs:
        gymnax.registration.register(env_id, factory)


def registered() -> list[str]:
    """The ids of all registered jaxmarket environments."""
    return sorted(_REGISTRY)


def make(env_id: str, **overrides: Any) -> tuple[Any, Any]:
    """Build a registered environment and its default parameters with ``overrides`` applied.

    Args:
      env_id: one of ``registered()``, e.g. ``"jaxmarket/MarketMaking-AS-v0"``.
      **overrides: constructor arguments (static configuration: populations, capacities, agent
        counts) and fields of the env's parameter dataclass (numeric settings, traced), by name;
        each env's docstring lists them with their units and ranges.

    Returns:
      ``(env, params)``: the environment and its checked default parameters (a ``flax.struct``
      dataclass) with ``overrides`` applied.

    Raises:
      ValueError: an unknown ``env_id``, an unknown override name, or a value outside its valid
        range (the message names the field, the value and the range); raised before anything
        compiles.
    """
    if env_id not in _REGISTRY:
        raise ValueError(f"env_id = {env_id!r} is not registered: choose one of {registered()}")
    env = _REGISTRY[env_id](**overrides)
    return env, env.default_params
