"""Order sizes of the background agents: ABIDES's mixture of a log-normal and normals near round
lots, rounded to whole shares (a size of 0 means the agent sends no order, as in ABIDES)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Component 0 is log-normal(LOGNORMAL_MU, LOGNORMAL_SIGMA); the others are N(mean, NORMAL_STD).
LOGNORMAL_MU = 2.9
LOGNORMAL_SIGMA = 1.2
NORMAL_STD = 0.15
MEANS = (0.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0)
WEIGHTS = (0.2, 0.7, 0.06, 0.004, 0.0329, 0.001, 0.0006, 0.0004, 0.0005, 0.0003, 0.0003)


def order_size(uniform: jax.Array, normal: jax.Array, max_size: int) -> jax.Array:
    """Shares (int32 in ``[0, max_size]``, rounded half to even) from one uniform (picks the
    component) and one standard normal (draws within it)."""
    weights = jnp.asarray(WEIGHTS, jnp.float32)
    edges = jnp.cumsum(weights) / weights.sum()
    component = jnp.minimum(jnp.sum(uniform >= edges), len(WEIGHTS) - 1)
    lognormal = jnp.exp(LOGNORMAL_MU + LOGNORMAL_SIGMA * normal)
    near_lot = jnp.asarray(MEANS, jnp.float32)[component] + NORMAL_STD * normal
    size = jnp.where(component == 0, lognormal, near_lot)
    return jnp.clip(jnp.round(size), 0, max_size).astype(jnp.int32)
