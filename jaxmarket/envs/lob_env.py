"""What the ABIDES-Gym environments share: the background market, the agent's orders, the
observation features, and an auto-reset that does not re-simulate the warm-up every step.

Features (ABIDES-Gym's definitions, prices in cents):

- ``gym_mid``: (best bid + best ask) / 2; the other side's best price on a one-sided book; the
  last trade on an empty one (``r_bar`` before the first trade);
- ``gym_imbalance(depth)``: bid quantity / (bid + ask quantity) over the top ``depth`` levels
  (``None``: the whole book), 0.5 on an empty book, 0 with no bids, 1 with no asks;
- ``gym_spread``: best ask − best bid, 0 unless both sides hold orders;
- direction: mid − last trade; returns: the last three changes of the mid between steps.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

from jaxmarket.core.environment import Environment
from jaxmarket.core.validation import check_range
from jaxmarket.lob import background, views
from jaxmarket.lob.book import ORDER_ID, PRICE, QTY, Book
from jaxmarket.lob.constants import ASK, BID
from jaxmarket.lob.background import MarketConfig, MarketParams, MarketState

HISTORY = 4  # mids kept for the three returns


def gym_mid(book: Book, r_bar: jax.Array) -> jax.Array:
    """ABIDES-Gym's mid (float32 cents): see the module docstring."""
    bid, ask = views.best_bid(book), views.best_ask(book)
    has_bid, has_ask = book.n[BID] > 0, book.n[ASK] > 0
    last = jnp.where(book.last_trade_price > 0, book.last_trade_price, r_bar)
    one = jnp.where(has_bid, bid, ask).astype(jnp.float32)
    both = (bid.astype(jnp.float32) + ask.astype(jnp.float32)) / 2
    return jnp.where(has_bid & has_ask, both, jnp.where(has_bid | has_ask, one, jnp.asarray(last, jnp.float32)))


def gym_imbalance(book: Book, depth: int | None) -> jax.Array:
    """ABIDES-Gym's imbalance in [0, 1] (float32): see the module docstring."""
    if depth is None:
        volume = book.orders[:, QTY].sum(axis=-1)
        bid, ask = volume[BID], volume[ASK]
    else:
        levels = views.l2(book, depth)
        bid, ask = levels.bid_qty.sum(), levels.ask_qty.sum()
    bid, ask = bid.astype(jnp.float32), ask.astype(jnp.float32)
    total = bid + ask
    return jnp.where(total > 0, bid / jnp.maximum(total, 1.0), 0.5)


def gym_spread(book: Book) -> jax.Array:
    """Best ask − best bid (float32 cents), 0 unless both sides hold orders."""
    return views.spread(book).astype(jnp.float32)


def last_trade(book: Book, r_bar: jax.Array) -> jax.Array:
    """The last trade price (float32 cents), ``r_bar`` (ABIDES's opening price) before any trade."""
    return jnp.where(book.last_trade_price > 0, book.last_trade_price.astype(jnp.float32), r_bar)


def push_mid(mids: jax.Array, mid: jax.Array) -> jax.Array:
    """The mid history ``(HISTORY,)``, oldest first, with ``mid`` appended."""
    return jnp.concatenate([mids[1:], mid[None]])


def returns(mids: jax.Array) -> jax.Array:
    """The last ``HISTORY - 1`` mid changes (float32 cents), oldest first."""
    return mids[1:] - mids[:-1]


def sweep_cost(book: Book, side: jax.Array, qty: jax.Array, limit_price: jax.Array | None = None
               ) -> tuple[jax.Array, jax.Array]:
    """``(filled, notional)`` (int32 shares, int32 cents) of an order of ``qty`` on ``side``
    against ``book`` (a market order, or with ``limit_price`` the crossing part of a limit
    order), every fill at the resting order's price; exact however many orders it crosses (the
    book's result lists only the first ``max_fills``)."""
    opposite = book.orders[1 - side]
    avail = opposite[QTY]
    if limit_price is not None:
        crosses = jnp.where(side == BID, opposite[PRICE] <= limit_price, opposite[PRICE] >= limit_price)
        avail = jnp.where(crosses, avail, 0)
    ahead = jnp.cumsum(avail) - avail
    fill = jnp.clip(qty - ahead, 0, avail)
    return fill.sum(), jnp.sum(fill * opposite[PRICE])


def money_bound(r_bar: float, trades: float) -> int:
    """The largest order size (shares) for which ``trades`` orders at up to twice ``r_bar`` keep
    int32 cents exact."""
    return max(1, int((2**31 - 1) // (2.0 * r_bar * trades)))


def resting_qty(book: Book, order_id: jax.Array) -> jax.Array:
    """The quantity still resting under ``order_id`` (int32; 0 if it is not in the book)."""
    return jnp.sum(jnp.where(book.orders[:, ORDER_ID] == order_id, book.orders[:, QTY], 0))


class MarketEnv(Environment):
    """Base of the environments on the background market.

    The constructor takes ``MarketConfig`` fields (static: populations, capacity, slots) and
    fields of the env's parameter dataclass (numeric, traced), by name.

    Auto-reset: ``step`` replaces a finished episode's state with the warmed-up market this env
    drew at its last ``reset`` (Brax's auto-reset does the same), so the warm-up is simulated once
    per ``reset``, not on every step. Later episodes in that slot start from the same opening book
    and then diverge, since every step draws new events. ``reset`` (and ``jm.evaluate``, which
    resets every episode) draws a new opening each time.
    """

    def __init__(self, **overrides: Any) -> None:
        config_names = {f.name for f in dataclasses.fields(MarketConfig)}
        param_names = {f.name for f in dataclasses.fields(self.params_class)}
        unknown = sorted(set(overrides) - config_names - param_names)
        if unknown:
            raise ValueError(f"unknown {type(self).__name__} field(s) {unknown}: valid fields are "
                             f"{sorted(config_names | param_names)}")
        self.config = MarketConfig(**{k: v for k, v in overrides.items() if k in config_names})
        self.config.check()
        defaults = self.params_class()
        first = overrides.get("first_interval_s", defaults.first_interval_s)
        period = overrides.get("mm_period_s", defaults.mm_period_s)
        self.warmup_chunks = max(1, math.ceil(float(first) / float(period))) if period > 0 else 1
        super().__init__(**{k: v for k, v in overrides.items() if k in param_names})

    # Subclasses define ``start_episode``, ``step_env``, ``get_obs`` and the spaces.
    def start_episode(self, market: MarketState, params: Any) -> Any:
        """The env state at the start of an episode on the warmed-up ``market``."""
        raise NotImplementedError

    def warm_market(self, key: jax.Array, params: Any) -> MarketState:
        """The market from the open through ``first_interval_s``, in ``warmup_chunks`` advances
        (fixed at construction, so that each is at most ``mm_period_s``)."""
        init_key, key = jax.random.split(key)
        market = background.init(init_key, self.config, params)
        warmup, chunks = params.first_interval_s, self.warmup_chunks

        def chunk(market: MarketState, k: jax.Array) -> tuple[MarketState, None]:
            return background.advance(k, market, self.config, params, warmup / chunks), None

        market, _ = jax.lax.scan(chunk, market, jax.random.split(key, chunks))
        return market

    def reset_env(self, key: jax.Array, params: Any):
        market = self.warm_market(key, params)
        state = self.start_episode(market, params)
        return self.get_obs(state, params), state

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        """Gymnax's step with the auto-reset described in the class docstring."""
        params = self.default_params if params is None else params
        obs_st, state_st, reward, terminated, info = self.step_env(key, state, action, params)
        truncated = self.is_truncated(state_st, params)
        done = terminated | truncated
        state_re = self.start_episode(state.opening, params)
        obs_re = self.get_obs(state_re, params)
        pick = lambda re, st: jax.lax.select(done, re, st)  # noqa: E731
        state = jax.tree.map(pick, state_re, state_st)
        obs = jax.tree.map(pick, obs_re, obs_st)
        info = {**info, "terminated": terminated, "truncated": truncated, "final_observation": obs_st}
        return obs, state, reward, terminated, truncated, info

    def check_params(self, params: Any) -> None:
        super().check_params(params)
        check_range("step_s", params.step_s, 0.0, params.mm_period_s, low_open=True)
        check_range("first_interval_s", params.first_interval_s, 0.0, self.warmup_chunks * params.mm_period_s,
                    low_open=True)


__all__ = ["MarketConfig", "MarketEnv", "MarketParams", "gym_imbalance", "gym_mid", "gym_spread", "last_trade",
           "push_mid", "resting_qty", "returns", "sweep_cost"]
