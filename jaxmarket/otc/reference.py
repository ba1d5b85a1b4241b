"""The reference (mid) price: a geometric Brownian motion, or the replay of a real series.

GBM: ``P' = P exp(sigma z - sigma^2 / 2)`` with ``z ~ N(0, 1)`` and the per-round volatility
``sigma = annual_vol / sqrt(rounds_per_year)`` (15-minute rounds: 96 a day, 252 days a year).
Replay: ``P_t = series[offset + t]``, the episode starting at a random ``offset``.
An optional permanent impact multiplies the next price by ``exp(impact * net ECN volume)``
(units bought on the ECN minus units sold, by clients and hedges).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def round_volatility(annual_vol: jax.Array, rounds_per_year: jax.Array) -> jax.Array:
    """Per-round log-return standard deviation."""
    return annual_vol / jnp.sqrt(rounds_per_year)


def gbm_next(price: jax.Array, z: jax.Array, sigma: jax.Array) -> jax.Array:
    """The next GBM price given a standard normal draw ``z`` (a martingale: E[P'] = P)."""
    return price * jnp.exp(sigma * z - 0.5 * sigma**2)


def replay_price(series: jax.Array, offset: jax.Array, t: jax.Array) -> jax.Array:
    """``series[offset + t]`` (clamped to the series' end)."""
    index = jnp.minimum(offset + t, series.shape[0] - 1)
    return series[index]


def impact_factor(impact: jax.Array, net_ecn_volume: jax.Array) -> jax.Array:
    """Multiplier of the next price from the permanent impact of the net ECN volume (units)."""
    return jnp.exp(impact * net_ecn_volume)
