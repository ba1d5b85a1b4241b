"""The Avellaneda–Stoikov (2008) quoting strategies for ``MarketMaking-AS-v0``.

Inventory strategy: quotes around the reservation price ``r = S - q gamma sigma^2 (T - t)`` with
total spread ``gamma sigma^2 (T - t) + (2 / gamma) ln(1 + gamma / k)``. Symmetric strategy: the
same spread around the mid ``S``. Depths are clipped to ``[0, max_depth]``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxmarket.core.evaluate import Policy
from jaxmarket.core.validation import check_choice, check_range

STRATEGIES = ("inventory", "symmetric")  # quotes around the reservation price, or around the mid


def avellaneda_stoikov_depths(
    gamma: float, strategy: str, time_to_horizon: Any, inventory: Any, params: Any
) -> jax.Array:
    """The Avellaneda–Stoikov depths: half the total spread
    ``gamma sigma^2 tau + (2 / gamma) ln(1 + gamma / k)`` on each side of the reservation price
    ``S - q gamma sigma^2 tau`` (``"inventory"``) or of the mid (``"symmetric"``).

    Args:
        gamma: risk aversion, > 0, per price unit.
        strategy: ``"inventory"`` or ``"symmetric"`` (not checked here; see ``avellaneda_stoikov``).
        time_to_horizon: ``tau = T - t`` in time units, any shape.
        inventory: ``q`` in units, broadcastable with ``time_to_horizon``.
        params: ``MarketMakingParams`` (``sigma``, ``decay`` = k, ``max_depth`` are read).

    Returns:
        ``(..., 2)`` float32 depths ``(delta_b, delta_a)`` in price units, clipped to
        ``[0, max_depth]``.
    """
    tau = time_to_horizon
    risk = gamma * params.sigma**2 * tau
    half_spread = 0.5 * (risk + (2.0 / gamma) * jnp.log1p(gamma / params.decay))
    skew = inventory * risk if strategy == "inventory" else jnp.zeros_like(risk)
    depths = jnp.stack([half_spread + skew, half_spread - skew], axis=-1)
    return jnp.clip(depths, 0.0, params.max_depth)


def avellaneda_stoikov(gamma: float, strategy: str = "inventory") -> Policy:
    """The Avellaneda–Stoikov policy (``avellaneda_stoikov_depths``); it reads time and inventory
    from the state and the model from ``params`` at each step.

    Args:
        gamma: risk aversion, > 0, per price unit.
        strategy: ``"inventory"`` (around the reservation price) or ``"symmetric"`` (around the mid).

    Returns:
        ``act(key, obs, state, params) -> (2,)`` float32 depths ``(delta_b, delta_a)`` for
        ``jaxmarket.evaluate`` on ``MarketMaking-AS-v0``.

    Raises:
        ValueError: ``gamma <= 0`` or an unknown ``strategy``.
    """
    check_range("gamma", gamma, 0.0, low_open=True)
    check_choice("strategy", strategy, STRATEGIES)

    def act(key: jax.Array, obs: Any, state: Any, params: Any) -> jax.Array:
        del key, obs
        tau = params.horizon - state.time * params.dt
        return avellaneda_stoikov_depths(gamma, strategy, tau, state.inventory, params)

    return act
