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
    """Per-round log-return standard deviation ``sigma = annual_vol / sqrt(rounds_per_year)``.

    Args:
      annual_vol: volatility per year (>= 0), scalar.
      rounds_per_year: rounds in a year (> 0), scalar.

    Returns:
      The per-round volatility, a scalar of the inputs' float dtype.
    """
    return annual_vol / jnp.sqrt(rounds_per_year)


def gbm_next(price: jax.Array, z: jax.Array, sigma: jax.Array) -> jax.Array:
    """The next GBM price ``P' = P exp(sigma z - sigma^2 / 2)`` (a martingale: E[P'] = P).

    Args:
      price: the current price ``P`` (quote currency per unit), float32 scalar.
      z: a standard normal draw, float32 scalar.
      sigma: the per-round volatility (``round_volatility``).

    Returns:
      The next price, float32 scalar.
    """
    return price * jnp.exp(sigma * z - 0.5 * sigma**2)


def replay_price(series: jax.Array, offset: jax.Array, t: jax.Array) -> jax.Array:
    """The replayed price ``series[offset + t]``, the index clamped to the series' end.

    Args:
      series: (L,) float32 prices.
      offset: int32 scalar, the episode's start index.
      t: int32 scalar, the round.

    Returns:
      A float32 scalar price.
    """
    index = jnp.minimum(offset + t, series.shape[0] - 1)
    return series[index]


def impact_factor(impact: jax.Array, net_ecn_volume: jax.Array) -> jax.Array:
    """Multiplier ``exp(impact * net_ecn_volume)`` of the next price from the permanent impact.

    Args:
      impact: log-price change per unit of net ECN volume, scalar.
      net_ecn_volume: units bought on the ECN minus units sold (clients and hedges), float32 scalar.

    Returns:
      A float32 scalar factor (1 without impact).
    """
    return jnp.exp(impact * net_ecn_volume)
