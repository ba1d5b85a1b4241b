"""What the ABIDES-Gym environments share: the background market, the agent's orders, the
observation features, money relative to a reference price, and an auto-reset that does not
re-simulate the warm-up every step.

Features (ABIDES-Gym's definitions, prices in cents):

- ``gym_mid``: (best bid + best ask) / 2; the other side's best price on a one-sided book; the
  last trade on an empty one (``round(r_bar)`` before the first trade);
- ``gym_imbalance(depth)``: bid quantity / (bid + ask quantity) over the top ``depth`` levels
  (``None``: the whole book), 0.5 on an empty book, 0 with no bids, 1 with no asks;
- ``gym_spread``: best ask − best bid, 0 unless both sides hold orders;
- direction: mid − last trade; returns: the last three changes of the mid between steps.

**Money and prices relative to a reference.** Book prices are int32 ticks; an env keeps every
float32 price and amount relative to an int32 reference tick (``mid_rel``, ``sweep``): a
difference of two ticks is exact in int32, and only those differences, times share counts, are
formed in float32. So the error of an amount does not grow with the price level: a float32 number
is exact while it is an integer (or half-integer) below 2**24 (2**23), and otherwise carries a
relative error of at most 2**-24 per operation. Each env's docstring states its bound.

**Time.** Steps and the warm-up are whole milliseconds on the market's integer clock
(``clock.MS_PER_S``); each is split into a static number of ``advance`` calls
(``step_chunks``, ``warmup_chunks``, fixed when the env is built) so that none is longer than
``mm_period_s``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from jaxmarket.core.environment import Environment
from jaxmarket.core.validation import check_within
from jaxmarket.lob import views
from jaxmarket import background
from jaxmarket.background import clock
from jaxmarket.background import MarketConfig, MarketParams, MarketState
from jaxmarket.lob.book import ORDER_ID, PRICE, QTY, Book, largest_max_qty
from jaxmarket.lob.constants import ASK, BID

HISTORY = 4  # mids kept for the three returns
MAX_SHARES = 2**29  # largest order or parent size: share counts of an episode stay in int32


@struct.dataclass
class MarketEnvParams(MarketParams):
    """The background market's parameters plus what every env on it has: the warm-up before the
    first observation and the step, in seconds (whole milliseconds on the clock)."""

    first_interval_s: float | None = None  # trading before the first observation; None: the env's default
    step_s: float = 60.0  # trading per step
    # Default warm-up: the smaller of this and half the session. Each env sets its own.
    default_first_interval_s: ClassVar[float] = 300.0

    @property
    def first_ms(self) -> Any:
        """The warm-up on the clock (ms): ``first_interval_s``, or by default the smaller of
        ``default_first_interval_s`` and half the session (rounded down to a millisecond)."""
        if self.first_interval_s is not None:
            return clock.seconds_to_ms(self.first_interval_s)
        return clock.scalar_min(clock.seconds_to_ms(self.default_first_interval_s), self.session_ms // 2)

    @property
    def step_ms(self) -> Any:
        """The step on the clock (ms)."""
        return clock.seconds_to_ms(self.step_s)

    def check(self) -> None:
        super().check()
        if self.first_interval_s is not None:
            clock.check_time("first_interval_s", self.first_interval_s, 0.0, self.session_ms / clock.MS_PER_S,
                             high_open=True, high_name="close_s - open_s")
        clock.check_time("step_s", self.step_s, 0.0, clock.DAY_S, low_open=True)


def last_tick(book: Book, r_tick: jax.Array) -> jax.Array:
    """The last trade price (int32 ticks), ``r_tick`` (ABIDES's opening price) before any trade."""
    return jnp.where(book.last_trade_price > 0, book.last_trade_price, jnp.asarray(r_tick, jnp.int32))


def mid_ticks(book: Book, r_tick: jax.Array) -> tuple[jax.Array, jax.Array]:
    """ABIDES-Gym's mid as ``(floor, half)``: an int32 tick and 0.0 or 0.5 (float32), exact at any
    price (the mid is the floor plus the half)."""
    bid, ask = views.best_bid(book), views.best_ask(book)
    has_bid, has_ask = book.n[BID] > 0, book.n[ASK] > 0
    two = has_bid & has_ask
    floor = jnp.where(two, views.floor_mid(bid, ask),
                      jnp.where(has_bid, bid, jnp.where(has_ask, ask, last_tick(book, r_tick))))
    half = jnp.where(two & ((ask - bid) % 2 == 1), 0.5, 0.0).astype(jnp.float32)
    return floor, half


def mid_rel(book: Book, ref: jax.Array, r_tick: jax.Array) -> jax.Array:
    """ABIDES-Gym's mid minus the tick ``ref`` (float32 cents; exact while below 2**23)."""
    floor, half = mid_ticks(book, r_tick)
    return (floor - jnp.asarray(ref, jnp.int32)).astype(jnp.float32) + half


def gym_mid(book: Book, r_bar: jax.Array) -> jax.Array:
    """ABIDES-Gym's mid (float32 cents, for display: exact below 2**23; see the module docstring).
    ``r_bar`` is rounded to a tick for an empty book without trades."""
    r_tick = jnp.round(jnp.asarray(r_bar, jnp.float32)).astype(jnp.int32)
    floor, half = mid_ticks(book, r_tick)
    return floor.astype(jnp.float32) + half


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


def push_mid(mids: jax.Array, mid: jax.Array) -> jax.Array:
    """The mid history ``(HISTORY,)``, oldest first, with ``mid`` appended."""
    return jnp.concatenate([mids[1:], mid[None]])


def returns(mids: jax.Array) -> jax.Array:
    """The last ``HISTORY - 1`` mid changes (float32 cents), oldest first."""
    return mids[1:] - mids[:-1]


def sweep(book: Book, side: jax.Array, qty: jax.Array, ref: jax.Array, limit_price: jax.Array | None = None
          ) -> tuple[jax.Array, jax.Array]:
    """``(filled, edge)`` of an order of ``qty`` on ``side`` against ``book`` (a market order, or with
    ``limit_price`` the crossing part of a limit order), every fill at the resting order's price:
    ``filled`` int32 shares and ``edge = sum fill * (price - ref)`` float32 cents, from exact int32
    tick differences. Exact however many orders it crosses (the book's result lists only the
    first ``max_fills``). ``edge`` is exact while every partial sum is an integer below 2**24;
    otherwise its relative error is at most ``(capacity + 1) * 2**-24``."""
    opposite = book.orders[1 - side]
    avail = opposite[QTY]
    if limit_price is not None:
        crosses = jnp.where(side == BID, opposite[PRICE] <= limit_price, opposite[PRICE] >= limit_price)
        avail = jnp.where(crosses, avail, 0)
    ahead = jnp.cumsum(avail) - avail
    fill = jnp.clip(qty - ahead, 0, avail)
    deviation = (opposite[PRICE] - jnp.asarray(ref, jnp.int32)).astype(jnp.float32)
    return fill.sum(), jnp.sum(fill.astype(jnp.float32) * deviation)


def resting_qty(book: Book, order_id: jax.Array) -> jax.Array:
    """The quantity still resting under ``order_id`` (int32; 0 if it is not in the book)."""
    return jnp.sum(jnp.where(book.orders[:, ORDER_ID] == order_id, book.orders[:, QTY], 0))


class MarketEnv(Environment):
    """Base of the environments on the background market.

    The constructor takes ``MarketConfig`` fields (static: populations, capacity, slots) and
    fields of the env's parameter dataclass (numeric, traced), by name. The parameter class
    provides ``first_ms`` and ``step_ms`` (the warm-up and the step on the clock).

    Each step trades for ``step_ms`` in ``step_chunks`` advances and the warm-up in
    ``warmup_chunks``: static counts fixed here from the constructor's values, ``ceil(step /
    mm_period)`` and ``ceil(first_interval / mm_period)``, so that no advance is longer than a
    maker's refresh period. Parameters passed later must keep ``step_s <= step_chunks *
    mm_period_s`` (and the same for the warm-up); ``check_params`` says so otherwise.

    Auto-reset: ``step`` replaces a finished episode's state with the warmed-up market this env
    drew at its last ``reset`` (Brax's auto-reset does the same), so the warm-up is simulated once
    per ``reset``, not on every step. Later episodes in that slot start from the same opening book
    and then diverge, since every step draws new events. ``reset`` (and ``jm.evaluate``, which
    resets every episode) draws a new opening each time.

    A subclass defines its observation, action, reward and state (see ``Execution`` and
    ``DailyInvestor``); every one has the background market's ``MarketState`` in ``state.market``
    and the warmed-up opening in ``state.opening``.

    Args:
        **overrides: fields of ``MarketConfig`` (static) and of ``params_class`` (the default
            parameters), by name.

    Raises:
        ValueError: an unknown field name (listing the valid ones), or a value out of its range
            (naming field, value and valid range; ``check_params``).
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
        # The advance counts are fixed by the first ``check_params``: the constructor's parameters.
        self.warmup_chunks: int | None = None
        self.step_chunks: int | None = None
        super().__init__(**{k: v for k, v in overrides.items() if k in param_names})

    def _fix_chunks(self, params: Any) -> None:
        """Set ``warmup_chunks`` and ``step_chunks`` from ``params`` (1 each for values that are not
        plain numbers)."""
        try:
            period = params.mm_period_ms
            self.warmup_chunks = clock.interval_chunks(params.first_ms, period)
            self.step_chunks = clock.interval_chunks(params.step_ms, period)
        except (TypeError, ValueError, OverflowError):
            self.warmup_chunks = self.step_chunks = 1

    # Subclasses define ``start_episode``, ``step_env``, ``get_obs`` and the spaces.
    def start_episode(self, market: MarketState, params: Any) -> Any:
        """The env state at the start of an episode on the warmed-up ``market``."""
        raise NotImplementedError

    def warm_market(self, key: jax.Array, params: Any) -> MarketState:
        """The market from the open through ``first_interval_s``, in ``warmup_chunks`` advances."""
        init_key, key = jax.random.split(key)
        market = background.init(init_key, self.config, params)
        return background.advance_chunks(key, market, self.config, params, params.first_ms, self.warmup_chunks)

    def trade(self, key: jax.Array, market: MarketState, params: Any) -> MarketState:
        """One step of trading: ``step_ms`` in ``step_chunks`` advances (none after the close)."""
        return background.advance_chunks(key, market, self.config, params, params.step_ms, self.step_chunks)

    def reset_env(self, key: jax.Array, params: Any):
        market = self.warm_market(key, params)
        state = self.start_episode(market, params)
        return self.get_obs(state, params), state

    def auto_reset(self, key: jax.Array, state: Any, params: Any) -> tuple[Any, Any]:
        """The episode restarted from ``state.opening`` (see the class docstring); ``key`` unused."""
        del key
        fresh = self.start_episode(state.opening, params)
        return self.get_obs(fresh, params), fresh

    def check_params(self, params: Any) -> None:
        """``params.check()``, then the pairs of a parameter and this env's static settings: the step
        and the warm-up against their advance counts, and the order size against the book's
        largest quantity (set by ``capacity``)."""
        super().check_params(params)
        if self.step_chunks is None:  # the constructor's parameters, now checked
            self._fix_chunks(params)
        period_s = params.mm_period_s
        if isinstance(period_s, (int, float)):
            check_within("step_s", params.step_s, 0.0, self.step_chunks * period_s, low_open=True,
                         high_name=f"{self.step_chunks} advance(s) per step (fixed when the env was built) "
                                   f"x mm_period_s")
            check_within("first_interval_s", params.first_ms / clock.MS_PER_S, 0.0,
                         self.warmup_chunks * period_s,
                         high_name=f"{self.warmup_chunks} warm-up advance(s) (fixed when the env was built) "
                                   f"x mm_period_s")
        largest = min(MAX_SHARES, largest_max_qty(self.config.capacity))
        check_within("order_size", params.order_size, 1, largest, integer=True,
                     high_name=f"min(MAX_SHARES, the book's largest order at capacity = {self.config.capacity})")


__all__ = ["HISTORY", "MAX_SHARES", "MarketConfig", "MarketEnv", "MarketEnvParams", "MarketParams", "gym_imbalance", "gym_mid",
           "gym_spread", "last_tick", "mid_rel", "mid_ticks", "push_mid", "resting_qty", "returns",
           "sweep"]
