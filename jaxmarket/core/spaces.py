"""Observation and action spaces: gymnax's jittable spaces, re-exported so envs import one place,
and ``discrete_index`` for reading a ``Discrete`` action safely."""

from typing import Any

import jax
import jax.numpy as jnp
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


__all__ = ["Box", "Dict", "Discrete", "Space", "Tuple", "discrete_index"]
