"""Observation and action spaces: gymnax's jittable spaces, re-exported so envs import one place,
``discrete_index`` for reading a ``Discrete`` action safely, and ``to_gymnasium_space`` for the
equal gymnasium space (the adapters and the datasets use it)."""

from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments.spaces import Box, Dict, Discrete, Space, Tuple


def discrete_index(action: Any, n: int) -> tuple[jax.Array, jax.Array]:
    """A ``Discrete(n)`` action as ``(index, valid)``: int32 ``index`` in ``[0, n)`` (0 where not
    valid) and bool ``valid``, elementwise.

    ``valid`` is False for an index outside ``[0, n)`` and, for a float action, for a non-finite
    or non-integral value (``0.99``, ``1.5``, NaN). The test runs in the action's own dtype before
    any cast, so neither a float nor a wide integer is truncated or wrapped into a valid index.
    """
    a = jnp.asarray(action)
    if jnp.issubdtype(a.dtype, jnp.floating):
        valid = jnp.isfinite(a) & (a == jnp.round(a)) & (a >= 0) & (a < n)
    else:
        valid = (a >= 0) & (a < n)
    return jnp.where(valid, a, 0).astype(jnp.int32), valid


def to_gymnasium_space(space: Space) -> gymnasium.spaces.Space:
    """The gymnasium space equal to a gymnax one.

    Args:
      space: a gymnax ``Discrete(n)`` (int32), ``Box(low, high, shape, dtype)``, ``Dict`` or ``Tuple``.

    Returns:
      ``gymnasium.spaces.Discrete(n)`` (gymnasium's int64 samples), a ``Box`` with the bounds
      broadcast to ``shape`` and the same dtype, or a ``Dict``/``Tuple`` of converted spaces.

    Raises:
      ValueError: a space of another kind.
    """
    if isinstance(space, Discrete):
        return gymnasium.spaces.Discrete(int(space.n))
    if isinstance(space, Box):
        dtype = np.dtype(space.dtype)
        low = np.broadcast_to(np.asarray(space.low, dtype), space.shape).copy()
        high = np.broadcast_to(np.asarray(space.high, dtype), space.shape).copy()
        return gymnasium.spaces.Box(low=low, high=high, shape=tuple(space.shape), dtype=dtype)
    if isinstance(space, Dict):
        return gymnasium.spaces.Dict({name: to_gymnasium_space(s) for name, s in space.spaces.items()})
    if isinstance(space, Tuple):
        return gymnasium.spaces.Tuple(tuple(to_gymnasium_space(s) for s in space.spaces))
    raise ValueError(f"space = {space!r} is not a gymnax Discrete, Box, Dict or Tuple space")


__all__ = ["Box", "Dict", "Discrete", "Space", "Tuple", "discrete_index", "to_gymnasium_space"]
