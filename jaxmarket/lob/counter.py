"""Exact cumulative counters that do not wrap: int32 pairs ``[high, low]`` worth
``high * 2**30 + low`` (up to 2**61), since JAX runs in 32-bit integers by default."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

LOW_BITS = 30
LOW_MASK = (1 << LOW_BITS) - 1
MAX_INCREMENT = 1 << LOW_BITS  # an increment must be below this so `low + x` fits in int32


def zeros(shape: tuple[int, ...] = ()) -> jax.Array:
    """Counters of the given shape, all zero: int32 array of shape ``shape + (2,)``."""
    return jnp.zeros((*shape, 2), jnp.int32)


def add(counter: jax.Array, x: jax.Array) -> jax.Array:
    """``counter + x`` for int32 ``x`` in ``[0, MAX_INCREMENT)``, broadcast over ``shape``."""
    low = counter[..., 1] + x
    return jnp.stack([counter[..., 0] + (low >> LOW_BITS), low & LOW_MASK], axis=-1)


def add_large(counter: jax.Array, x: jax.Array) -> jax.Array:
    """``counter + x`` for int32 ``x`` in ``[0, 2**31)`` (an auction's volume can reach a side's
    total, ``capacity * max_qty``, which may exceed ``MAX_INCREMENT``); ``add`` is cheaper for small ``x``."""
    low = counter[..., 1] + (x & LOW_MASK)  # < 2**31: no overflow
    high = counter[..., 0] + (x >> LOW_BITS) + (low >> LOW_BITS)
    return jnp.stack([high, low & LOW_MASK], axis=-1)


def approx(counter: jax.Array) -> jax.Array:
    """float32 value, for use inside ``jit`` (exact up to 2**24)."""
    return counter[..., 0].astype(jnp.float32) * float(1 << LOW_BITS) + counter[..., 1].astype(jnp.float32)


def exact(counter: jax.Array) -> np.ndarray:
    """int64 numpy value, exact; call outside ``jit``."""
    c = np.asarray(counter, dtype=np.int64)
    return (c[..., 0] << LOW_BITS) + c[..., 1]
