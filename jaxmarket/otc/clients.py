"""Flow clients: exogenous orders, and the choice of the cheapest connected venue.

Each round a flow client trades with probability ``p_trade``; its size is log-normal with mean
``size_scale`` (log-std ``size_log_std``) capped at ``max_size``; it buys with probability ``p_buy``
unless it is informed (probability ``informed``), when it trades in the direction of the next
price move (buying on an unchanged price). It picks the venue, among the LPs it is connected to
and the ECN, that costs least; exact ties are broken uniformly at random (one uniform per client picks among the tied venues).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

BUY, SELL = 1.0, -1.0


def flow_orders(
    key: jax.Array,
    p_trade: jax.Array,
    size_scale: jax.Array,
    informed: jax.Array,
    price_up: jax.Array,
    p_buy: jax.Array,
    size_log_std: jax.Array,
    max_size: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Sides (n,) in {+1, -1, 0 (no trade)} and sizes (n,) (units, 0 when not trading).

    ``p_trade``, ``size_scale``, ``informed``: (n,) from the clients' types; ``price_up``: whether
    the next reference price is at or above the current one (bool scalar).
    """
    n = p_trade.shape[0]
    uniform_key, normal_key = jax.random.split(key)
    uniforms = jax.random.uniform(uniform_key, (3, n))
    normals = jax.random.normal(normal_key, (n,))
    trades = uniforms[0] < p_trade
    informed_now = uniforms[1] < informed
    random_side = jnp.where(uniforms[2] < p_buy, BUY, SELL)
    side = jnp.where(informed_now, jnp.where(price_up, BUY, SELL), random_side)
    size = size_scale * jnp.exp(size_log_std * normals - 0.5 * size_log_std**2)
    size = jnp.where(trades, jnp.minimum(size, max_size), 0.0)
    return jnp.where(size > 0, side, 0.0), size


def cheapest_venue(costs: jax.Array, available: jax.Array, key: jax.Array) -> jax.Array:
    """Index (n_clients,) of the least costly available venue; uniform among exact ties.

    Args:
      costs: (n_venues, n_clients) cost per unit of each venue to each client.
      available: (n_venues, n_clients) bool; at least one venue (the ECN) is always available.
    """
    masked = jnp.where(available, costs, jnp.inf)
    tied = masked == masked.min(axis=0)[None, :]
    counts = [tied[0].astype(jnp.int32)]  # tied venues up to each index (shifted adds, not cumsum)
    for row in tied[1:]:
        counts.append(counts[-1] + row)
    pick = jnp.floor(jax.random.uniform(key, (costs.shape[1],)) * counts[-1]).astype(jnp.int32) + 1
    return jnp.argmax(tied & (jnp.stack(counts) == pick[None, :]), axis=0)
