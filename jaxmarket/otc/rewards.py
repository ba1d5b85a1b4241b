"""The reward families. Money terms are in bp-units: 1 = one basis point of one unit's notional at
the episode's opening price (``money / (P_0 * 1e-4)``).

LP (per round):
    r = omega (spread + inventory - hedge_cost - gamma |inventory|) + (1 - omega) c (-|share - m*|)
with ``spread`` the markup earned on client trades, ``inventory`` = ``z (P' - P)`` on the
inventory held over the price move, ``hedge_cost`` the ECN cost of the hedge, and ``share`` the
LP's client volume over all client volume this round (the share term is 0 in a round with no
client volume).

LT (per round):
    r = omega alpha (execution + inventory - gamma |inventory|) + (1 - omega) flow
with ``execution`` the PnL of the round's trade against the mid (minus the cost paid),
``inventory`` = ``x (P' - P)`` and ``flow = -|executed - target t / T|``, the gap (units) to a
linear execution schedule after ``t`` of ``T`` rounds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

BASIS_POINT = 1e-4


def lp_reward(
    spread: jax.Array,
    inventory: jax.Array,
    hedge_cost: jax.Array,
    share: jax.Array,
    has_volume: jax.Array,
    gamma: jax.Array,
    omega: jax.Array,
    target_share: jax.Array,
    share_weight: jax.Array,
) -> jax.Array:
    """LP rewards (n_lps,) from this round's PnL terms (bp-units) and market share."""
    pnl = spread + inventory - hedge_cost - gamma * jnp.abs(inventory)
    share_term = jnp.where(has_volume, -jnp.abs(share - target_share), 0.0)
    return omega * pnl + (1.0 - omega) * share_weight * share_term


def lt_reward(
    execution: jax.Array,
    inventory: jax.Array,
    executed: jax.Array,
    schedule: jax.Array,
    omega: jax.Array,
    alpha: jax.Array,
    gamma: jax.Array,
) -> jax.Array:
    """LT rewards (n,) from this round's PnL terms (bp-units) and the gap to the schedule (units)."""
    pnl = execution + inventory - gamma * jnp.abs(inventory)
    return omega * alpha * pnl + (1.0 - omega) * (-jnp.abs(executed - schedule))
