"""LP quotes: a spread multiplier per client tier, a skew, and the price a client pays.

An LP's quote to client ``i`` of tier ``k`` for size ``v`` is, relative to the mid ``P``,

    ask = P (1 + (1 + eps_k) S_ref(v) + eps_skew S_ref(0))
    bid = P (1 - (1 + eps_k) S_ref(v) + eps_skew S_ref(0)),

so a client buying (side +1) or selling (side -1) ``v`` pays, per unit and relative to the mid,

    cost = (1 + eps_k) S_ref(v) + side * eps_skew * S_ref(0).

A positive skew raises both prices (the LP wants to buy); ``eps_k > -1`` keeps ask > bid.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def client_costs(
    tier_eps: jax.Array, skew: jax.Array, tier: jax.Array, side: jax.Array, s_v: jax.Array, s_0: jax.Array
) -> jax.Array:
    """Relative cost per unit (n_lps, n_clients) of each LP's quote to each client.

    Args:
      tier_eps: (n_lps, n_tiers) spread multipliers; skew: (n_lps,) skews.
      tier: (n_clients,) int tier of each client; side: (n_clients,) +1 buy, -1 sell.
      s_v: (n_clients,) ``S_ref`` at each client's size; s_0: ``S_ref(0)``.
    """
    eps = tier_multipliers(tier_eps, tier)
    return (1.0 + eps) * s_v[None, :] + side[None, :] * skew[:, None] * s_0


def tier_multipliers(tier_eps: jax.Array, tier: jax.Array) -> jax.Array:
    """``tier_eps[:, tier]`` (n_lps, n_clients), written as a sum over tiers (no gather)."""
    n_tiers = tier_eps.shape[1]
    onehot = tier[None, :] == jnp.arange(n_tiers)[:, None]  # (n_tiers, n_clients)
    return jnp.sum(jnp.where(onehot[None, :, :], tier_eps[:, :, None], 0.0), axis=1)


def quote_prices(price: jax.Array, tier_eps: jax.Array, skew: jax.Array, tier: jax.Array, s_v: jax.Array, s_0: jax.Array):
    """(bid, ask) prices, each (n_lps, n_clients), of every LP's quote to every client."""
    half = (1.0 + tier_multipliers(tier_eps, tier)) * s_v[None, :]
    shift = skew[:, None] * s_0
    return price * (1.0 - half + shift), price * (1.0 + half + shift)
