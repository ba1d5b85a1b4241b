"""Execution baselines for ``Execution-v0``: always-market, TWAP and always-passive.

Each is a policy ``act(key, obs, state, params) -> action`` that reads the env state.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxmarket.core.evaluate import Policy
from jaxmarket.envs.execution import LIMIT_ORDER, MARKET_ORDER, WAIT
from jaxmarket.lob import views
from jaxmarket.lob.constants import BID, EMPTY_ID


def always_market() -> Policy:
    """A market order every step until the parent is done.

    Returns:
        A policy ``act(key, obs, state, params)`` giving the int32 scalar ``MARKET_ORDER``.
    """

    def act(key: jax.Array, obs: Any, state: Any, params: Any) -> jax.Array:
        return jnp.asarray(MARKET_ORDER, jnp.int32)

    return act


def twap() -> Policy:
    """Time-weighted: a market order whenever the shares done are behind the even schedule
    ``parent * (steps taken + 1) / steps`` for the end of this step, else wait.

    Returns:
        A policy ``act(key, obs, state, params)`` giving an int32 scalar action (``MARKET_ORDER``
        or ``WAIT``) from ``state.done_qty`` and ``state.time``.
    """

    def act(key: jax.Array, obs: Any, state: Any, params: Any) -> jax.Array:
        target = params.parent_size * (state.time + 1) / params.max_steps_in_episode
        return jnp.where(state.done_qty < target, MARKET_ORDER, WAIT).astype(jnp.int32)

    return act


def always_passive() -> Policy:
    """A limit order at the near touch, kept while it rests there (so it keeps its queue place);
    re-placed when it has been filled or the touch has moved away from it.

    Returns:
        A policy ``act(key, obs, state, params)`` giving an int32 scalar action (``LIMIT_ORDER``
        or ``WAIT``) from the book and ``state.order_id`` / ``state.order_price``.
    """

    def act(key: jax.Array, obs: Any, state: Any, params: Any) -> jax.Array:
        book = state.market.book
        touch = jnp.where(params.direction == BID, views.best_bid(book), views.best_ask(book))
        keep = (state.order_id != EMPTY_ID) & (state.order_price == touch)
        return jnp.where(keep, WAIT, LIMIT_ORDER).astype(jnp.int32)

    return act
