"""The environment registry: ``make(env_id, **overrides) -> (env, params)``.

Every jaxmarket environment is also registered with gymnax, so ``gymnax.make(env_id, ...)`` gives
the same pair, and every single-agent one with gymnasium, so ``gymnasium.make(env_id, ...)`` and
``gymnasium.make_vec(env_id, num_envs, vectorization_mode="vector_entry_point")`` give it behind
the adapters of ``jaxmarket.interop`` (named by gymnasium's string entry points, which it imports
when it builds the env). ``overrides`` are the environment's constructor arguments (static configuration)
and fields of its parameter dataclass (numeric, traced settings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
import gymnax

from jaxmarket.core.multi_agent import MultiAgentEnv

EnvFactory = Callable[..., Any]

GYMNASIUM_ENTRY_POINT = "jaxmarket.interop.gymnasium_env:make_env"
GYMNASIUM_VECTOR_ENTRY_POINT = "jaxmarket.interop.gymnasium_vector:make_vector_env"

_REGISTRY: dict[str, EnvFactory] = {}


def register(env_id: str, factory: EnvFactory) -> None:
    """Register an environment under ``env_id`` here, in gymnax and, unless ``factory`` is a
    ``MultiAgentEnv`` class, in gymnasium.

    Args:
      env_id: the id, conventionally ``"jaxmarket/Name-vN"`` (gymnasium's ``namespace/Name-vN``).
      factory: ``factory(**overrides) -> env``, usually the env class.

    Raises:
      ValueError: ``env_id`` is already registered, or (a single-agent env) is not a gymnasium id
        or is taken by another gymnasium env; nothing is registered then.
    """
    if env_id in _REGISTRY:
        raise ValueError(f"env_id = {env_id!r} is already registered")
    in_gymnasium = not (isinstance(factory, type) and issubclass(factory, MultiAgentEnv))
    if in_gymnasium:
        check_gymnasium_id(env_id)
    _REGISTRY[env_id] = factory
    if env_id not in gymnax.registered_envs:
        gymnax.registration.register(env_id, factory)
    if in_gymnasium and env_id not in gymnasium.registry:
        gymnasium.register(env_id, entry_point=GYMNASIUM_ENTRY_POINT, vector_entry_point=GYMNASIUM_VECTOR_ENTRY_POINT,
                           kwargs={"env_id": env_id})


def check_gymnasium_id(env_id: str) -> None:
    """Raise ``ValueError`` unless ``env_id`` parses as a gymnasium id (``[namespace/]Name[-vN]``)
    that no other gymnasium env holds (this registry's own earlier registration is allowed)."""
    try:
        gymnasium.envs.registration.parse_env_id(env_id)
    except gymnasium.error.Error as error:
        raise ValueError(f"env_id = {env_id!r} is not a gymnasium id such as 'jaxmarket/Name-v0': {error}") from None
    spec = gymnasium.registry.get(env_id)
    if spec is not None and spec.entry_point != GYMNASIUM_ENTRY_POINT:
        raise ValueError(f"env_id = {env_id!r} is already a gymnasium env ({spec.entry_point}): choose another id")


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
