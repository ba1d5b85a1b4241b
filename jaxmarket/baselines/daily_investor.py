"""Daily-investor baselines for ``DailyInvestor-v0``: buy-and-hold and random."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxmarket.core.evaluate import Policy
from jaxmarket.envs.daily_investor import BUY, HOLD, SELL


def buy_and_hold(shares: int | None = None) -> Policy:
    """Market buys until the holdings reach a target, then hold.

    Args:
        shares: the target holdings, shares; ``None``: one order, ``params.order_size``.

    Returns:
        A policy ``act(key, obs, state, params)`` giving an int32 scalar action (``BUY`` or
        ``HOLD``) from ``state.holdings``.
    """

    def act(key: jax.Array, obs: Any, state: Any, params: Any) -> jax.Array:
        target = params.order_size if shares is None else shares
        return jnp.where(state.holdings < target, BUY, HOLD).astype(jnp.int32)

    return act


def random_trader() -> Policy:
    """Buy, hold or sell with equal probability each step.

    Returns:
        A policy ``act(key, obs, state, params)`` drawing an int32 scalar action in
        ``[BUY, SELL]`` from ``key``.
    """

    def act(key: jax.Array, obs: Any, state: Any, params: Any) -> jax.Array:
        return jax.random.randint(key, (), BUY, SELL + 1)

    return act
