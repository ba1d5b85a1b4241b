"""``jaxmarket/Execution-v0``: ABIDES-Gym's execution of a parent order on the background market.

The market opens at 09:30 and trades for ``first_interval_s`` (30 s); the mid then is the entry
price. Each step the agent acts, then the market trades for ``step_s`` (60 s). The episode ends
when the parent order (``parent_size`` shares, a buy by default) is done or when the
``window_s`` (10 min: 10 steps) is over: after ``max_steps_in_episode = ceil(window_s / step_s)``
steps, computed in integer milliseconds on the market's clock (``background``), so it is exact for
any step length. By default ``first_interval_s`` is the smaller of 30 s and half the session, and
``window_s`` the smaller of 600 s and what is left of the session after it.

Actions (``Discrete(3)``):
  0: cancel the agent's resting order, then a market order of ``order_size`` shares;
  1: cancel the agent's resting order, then a limit order of ``order_size`` at the near touch
     (the best bid for a buy, the best ask for a sell; the last trade price if that side is empty,
     the entry tick before any trade);
  2: do nothing: a resting order keeps its place in the queue.
Any other value (another index, a non-integral or non-finite float) is treated as 2 and counted in
``state.n_invalid_actions`` (``spaces.discrete_index``).

Observation (float32, shape (11,)): fraction of the parent done, fraction of the window elapsed,
their difference, imbalance (whole book), imbalance (top 5 levels), price impact (``log(mid /
entry)`` for a buy, ``log(entry / mid)`` for a sell), spread, mid − last trade, and the last three
changes of the mid (cents; see ``market_env``).

Reward per step: the fills of the step, ``sum (entry - price) * qty / parent_size`` for a buy
(``(price - entry)`` for a sell), in cents per parent share. When the episode ends,
``underfill_penalty`` (cents per share) times the shares left undone, or ``overfill_penalty``
times the shares done beyond the parent, is subtracted, divided by ``parent_size``.

**Money.** The entry price is kept exactly, as an int32 tick ``entry_tick`` (the mid's floor) and
``entry_half`` (0 or 0.5). Every fill's ``entry - price`` is formed from int32 tick differences
and only then multiplied by shares in float32 (``market_env.sweep``), so ``cost`` (float32 cents, the
running sum of the steps' fills) never holds a price-level number. A step's amount is exact while
its terms are integers (or half-integers) below 2**24 (2**23) cents, and otherwise has a relative
error of at most ``(capacity + 3) * 2**-24``; ``cost`` after ``n`` steps adds at most ``n * 2**-24
* max |cost|``. This holds at every valid ``r_bar`` (up to ``background.R_BAR_MAX``); share counts
are bounded by ``market_env.MAX_SHARES`` (so ``done_qty``, at most the parent plus two orders, stays
in int32) and the book's largest order.

Deviations from ABIDES-Gym, each a fix:
- ``order_size`` defaults to 200, twice the even pace (parent / steps). ABIDES-Gym's default of
  10 can fill at most 100 of its 1000 shares in 10 steps, so every episode paid the penalty;
- the end-of-episode penalty counts shares in the order's direction, so a sell is penalised for
  what it did not sell (ABIDES-Gym uses ``|holdings - parent|`` with negative holdings for a
  sell: an exact sale of 1000 pays for 2000 shares), and the fraction done is positive for a
  sell as well;
- one penalty per share, ``underfill_penalty = overfill_penalty = 100`` cents by default (the
  design's value; ABIDES-Gym charges 1000 for an underfill and 100 for an overfill);
- the near touch and the observation read the book at the moment the agent acts (ABIDES-Gym
  prices the limit order from the previous step's market data, stale between the cancel and
  the new order), and the entry price is set at every reset (ABIDES-Gym keeps the first
  episode's);
- passive fills are read from the book, so a fill of the agent's resting order is counted in
  the step it happens whatever else trades.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from jaxmarket.core import spaces
from jaxmarket.core.validation import check_choice, check_int, check_range
from jaxmarket.envs import market_env
from jaxmarket.lob import messages, views
from jaxmarket.background import clock
from jaxmarket.background import MarketState
from jaxmarket.lob.book import Book
from jaxmarket.lob.constants import ASK, BID, EMPTY_ID
from jaxmarket.lob.matching import apply

MARKET_ORDER, LIMIT_ORDER, WAIT = 0, 1, 2
NUM_ACTIONS = 3
IMBALANCE_DEPTH = 5
DEFAULT_WINDOW_S = 600.0  # ABIDES-Gym: a 10-minute execution window

# Observation columns (float32, ``(OBS_SIZE,)``).
OBS_DONE = 0  # fraction of the parent done, done_qty / parent_size
OBS_ELAPSED = 1  # fraction of the window elapsed
OBS_AHEAD = 2  # OBS_DONE - OBS_ELAPSED: ahead of (> 0) or behind (< 0) the even pace
OBS_IMBALANCE = 3  # bid share of the whole book's quantity, in [0, 1]
OBS_IMBALANCE_TOP = 4  # bid share of the quantity in the top IMBALANCE_DEPTH levels, in [0, 1]
OBS_IMPACT = 5  # log(mid / entry) for a buy, log(entry / mid) for a sell
OBS_SPREAD = 6  # best ask - best bid, cents (0 unless both sides hold orders)
OBS_DIRECTION = 7  # mid - last trade, cents
OBS_RETURNS = 8  # first of the last HISTORY - 1 changes of the mid, cents, oldest first
OBS_SIZE = OBS_RETURNS + market_env.HISTORY - 1


@struct.dataclass
class ExecutionParams(market_env.MarketEnvParams):
    """Defaults: ABIDES-Gym's, with the fixes in the module docstring; money in cents, times in
    seconds (whole milliseconds)."""

    default_first_interval_s: ClassVar[float] = 30.0  # ABIDES-Gym: the entry price 30 s after the open
    window_s: float | None = None  # the execution window; None: min(600 s, session - first interval)
    parent_size: int = 1000  # shares to trade
    order_size: int = 200  # shares per child order
    direction: int = BID  # BID: buy the parent; ASK: sell it
    underfill_penalty: float = 100.0  # cents per share left undone at the end
    overfill_penalty: float = 100.0  # cents per share done beyond the parent

    @property
    def window_ms(self) -> Any:
        """The window on the clock (ms): ``window_s``, or by default the smaller of 600 s and the
        rest of the session after the warm-up."""
        if self.window_s is not None:
            return clock.seconds_to_ms(self.window_s)
        return clock.scalar_min(clock.seconds_to_ms(DEFAULT_WINDOW_S), self.session_ms - self.first_ms)

    @property
    def max_steps_in_episode(self) -> Any:
        """Steps per episode, ``ceil(window / step)`` in integer milliseconds: an int for concrete
        parameters, an int32 array when traced."""
        return clock.ceil_div(self.window_ms, self.step_ms)

    def check(self) -> None:
        super().check()
        if self.window_s is not None:
            rest = (self.session_ms - self.first_ms) / clock.MS_PER_S
            clock.check_time("window_s", self.window_s, 0.0, rest, low_open=True,
                       high_name="close_s - open_s - first_interval_s")
        check_int("parent_size", self.parent_size, 1, market_env.MAX_SHARES)
        check_int("order_size", self.order_size, 1, market_env.MAX_SHARES)
        check_choice("direction", self.direction, (BID, ASK))
        check_range("underfill_penalty", self.underfill_penalty, 0.0)
        check_range("overfill_penalty", self.overfill_penalty, 0.0)


@struct.dataclass
class ExecutionState:
    market: MarketState
    opening: MarketState  # the warmed-up market this env's episodes restart from
    entry_tick: jax.Array  # int32 ticks: the floor of the mid at the start
    entry_half: jax.Array  # float32, 0.0 or 0.5: the entry price is entry_tick + entry_half
    done_qty: jax.Array  # int32 shares traded in the parent's direction
    cost: jax.Array  # float32: sum of (entry - price) * qty (buy) or (price - entry) * qty (sell), cents
    order_id: jax.Array  # int32 id of the agent's resting order (EMPTY_ID: none)
    order_price: jax.Array  # int32 cents
    order_qty: jax.Array  # int32 shares resting when the step started
    evicted: jax.Array  # int32: market.agent_evicted already accounted for
    mids: jax.Array  # (HISTORY,) float32: mid - entry_tick, cents
    time: jax.Array  # int32 steps taken
    n_market_orders: jax.Array  # int32
    n_limit_orders: jax.Array  # int32
    n_invalid_actions: jax.Array  # int32

    @property
    def entry_price(self) -> jax.Array:
        """The entry price in cents (float32, for display: exact below 2**23)."""
        return self.entry_tick.astype(jnp.float32) + self.entry_half


class Execution(market_env.MarketEnv):
    """ABIDES-Gym's execution of a parent order on the background market (the module docstring
    gives the episode, the money and the deviations from ABIDES-Gym).

    - observation: float32 ``(OBS_SIZE,)`` = ``(11,)``, columns ``OBS_*``:
        - ``OBS_DONE``: fraction of the parent done, ``done_qty / parent_size``;
        - ``OBS_ELAPSED``: fraction of the window elapsed;
        - ``OBS_AHEAD``: their difference;
        - ``OBS_IMBALANCE``, ``OBS_IMBALANCE_TOP``: bid share of the quantity of the whole book
          and of the top ``IMBALANCE_DEPTH`` levels, in [0, 1];
        - ``OBS_IMPACT``: ``log(mid / entry)`` for a buy, ``log(entry / mid)`` for a sell;
        - ``OBS_SPREAD``: best ask - best bid, cents;
        - ``OBS_DIRECTION``: mid - last trade, cents;
        - ``OBS_RETURNS`` on: the last three changes of the mid between steps, cents, oldest first.
    - action: ``Discrete(3)``, an int32 scalar: ``MARKET_ORDER`` (0), ``LIMIT_ORDER`` (1) at the
      near touch, ``WAIT`` (2); any other value is ``WAIT``, counted in ``n_invalid_actions``.
    - reward: float32 scalar, cents per parent share: the step's fills valued against the entry
      price, minus the end-of-episode under/overfill penalty.
    - state: ``ExecutionState``: the background market (``MarketState``) and the opening it
      restarts from, the entry price (``entry_tick`` int32 ticks + ``entry_half``), ``done_qty``
      (int32 shares), ``cost`` (float32 cents), the resting order (id, price in ticks, shares),
      the mid history (float32 ``(HISTORY,)`` cents), the step count and the action counters.

    Constructor arguments (fields of ``MarketConfig`` and of ``ExecutionParams``, by name) and
    their errors: see ``MarketEnv``.
    """

    params_class = ExecutionParams

    @property
    def name(self) -> str:
        return "Execution-v0"

    def start_episode(self, market: MarketState, params: ExecutionParams) -> ExecutionState:
        entry_tick, entry_half = market_env.mid_ticks(market.book, market.ref)
        zero = jnp.zeros((), jnp.int32)
        return ExecutionState(market=market, opening=market, entry_tick=entry_tick, entry_half=entry_half,
                              done_qty=zero, cost=jnp.zeros((), jnp.float32), order_id=jnp.asarray(EMPTY_ID, jnp.int32),
                              order_price=zero, order_qty=zero, evicted=market.agent_evicted,
                              mids=jnp.full(market_env.HISTORY, entry_half, jnp.float32), time=zero,
                              n_market_orders=zero, n_limit_orders=zero, n_invalid_actions=zero)

    def step_env(self, key: jax.Array, state: ExecutionState, action: Any, params: ExecutionParams):
        index, valid = spaces.discrete_index(action, NUM_ACTIONS)
        action = jnp.where(valid, index, WAIT)
        side = jnp.asarray(params.direction, jnp.int32)
        sign = jnp.where(side == BID, 1.0, -1.0)  # + for a buy
        market = state.market
        owner = self.config.agent_owner
        acts = action != WAIT
        book, order_id, order_qty = _cancel_resting(market.book, state, acts)
        book, filled, cost = _market_order(book, market.next_id, owner, state, action == MARKET_ORDER, side, sign,
                                           params)
        is_limit = action == LIMIT_ORDER
        book, limit_filled, limit_cost, order_id, order_qty, order_price = _limit_order(
            book, market.next_id, owner, state, is_limit, side, sign, params, order_id, order_qty)
        market = market.replace(book=book, next_id=market.next_id + acts.astype(jnp.int32))
        market = self.trade(key, market, params)
        still, passive, passive_cost = _passive_fills(market, state, order_id, order_qty, order_price, sign)

        step_cost = cost + limit_cost + passive_cost
        done_qty = state.done_qty + filled + limit_filled + passive
        time = state.time + 1
        finished = done_qty >= params.parent_size
        out_of_time = time >= params.max_steps_in_episode
        terminated = finished | out_of_time
        short = jnp.maximum(params.parent_size - done_qty, 0).astype(jnp.float32)
        over = jnp.maximum(done_qty - params.parent_size, 0).astype(jnp.float32)
        penalty = jnp.where(terminated, params.underfill_penalty * short + params.overfill_penalty * over, 0.0)
        reward = ((step_cost - penalty) / params.parent_size).astype(jnp.float32)

        new_state = state.replace(
            market=market, done_qty=done_qty, cost=state.cost + step_cost,
            order_id=jnp.where(still > 0, order_id, EMPTY_ID), order_price=order_price, order_qty=still,
            evicted=market.agent_evicted,
            mids=market_env.push_mid(state.mids, market_env.mid_rel(market.book, state.entry_tick, market.ref)),
            time=time,
            n_market_orders=state.n_market_orders + (action == MARKET_ORDER).astype(jnp.int32),
            n_limit_orders=state.n_limit_orders + is_limit.astype(jnp.int32),
            n_invalid_actions=state.n_invalid_actions + (~valid).astype(jnp.int32),
        )
        info = {"done_qty": done_qty, "cost": new_state.cost}
        return self.get_obs(new_state, params), new_state, reward, terminated, info

    def is_truncated(self, state: ExecutionState, params: ExecutionParams) -> jax.Array:
        return jnp.zeros((), bool)  # the window's end is part of the task (terminated, penalised)

    def get_obs(self, state: ExecutionState, params: ExecutionParams, key: Any = None) -> jax.Array:
        book = state.market.book
        mid = state.mids[-1]  # relative to entry_tick
        done = state.done_qty / params.parent_size
        elapsed = state.time.astype(jnp.float32) * params.step_ms / params.window_ms  # float32: no int32 overflow
        # log(mid / entry) = log1p((mid - entry) / entry), the difference exact in ticks
        impact = jnp.log1p((mid - state.entry_half) / state.entry_price)
        last = (market_env.last_tick(book, state.entry_tick) - state.entry_tick).astype(jnp.float32)
        features = {
            OBS_DONE: done,
            OBS_ELAPSED: elapsed,
            OBS_AHEAD: done - elapsed,
            OBS_IMBALANCE: market_env.gym_imbalance(book, None),
            OBS_IMBALANCE_TOP: market_env.gym_imbalance(book, IMBALANCE_DEPTH),
            OBS_IMPACT: jnp.where(params.direction == BID, impact, -impact),
            OBS_SPREAD: market_env.gym_spread(book),
            OBS_DIRECTION: mid - last,
        }
        scalars = jnp.stack([features[column] for column in range(OBS_RETURNS)]).astype(jnp.float32)
        obs = jnp.concatenate([scalars, market_env.returns(state.mids)])
        return jnp.nan_to_num(obs.astype(jnp.float32))

    def action_space(self, params: ExecutionParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(NUM_ACTIONS)

    def observation_space(self, params: ExecutionParams | None = None) -> spaces.Box:
        big = float(jnp.finfo(jnp.float32).max)
        low, high = [-big] * OBS_SIZE, [big] * OBS_SIZE
        for column in (OBS_IMBALANCE, OBS_IMBALANCE_TOP):  # fractions
            low[column], high[column] = 0.0, 1.0
        return spaces.Box(jnp.array(low, jnp.float32), jnp.array(high, jnp.float32), (OBS_SIZE,), jnp.float32)

    def episode_metrics(self, state: ExecutionState, params: ExecutionParams) -> dict[str, jax.Array]:
        return {
            "done_qty": state.done_qty,
            "cost_per_share": state.cost / jnp.maximum(state.done_qty, 1),
            "n_market_orders": state.n_market_orders,
            "n_limit_orders": state.n_limit_orders,
            "n_invalid_actions": state.n_invalid_actions,
        }


def _select(condition: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where ``condition`` holds, else ``old``, leaf by leaf."""
    return jax.tree.map(lambda x, y: jnp.where(condition, x, y), new, old)


def _cancel_resting(book: Book, state: ExecutionState, acts: jax.Array) -> tuple[Book, jax.Array, jax.Array]:
    """Actions 0 and 1 cancel the resting order. Returns the book, the resting order's id and its
    quantity still resting now (what is left after the previous step's fills; 0 once cancelled)."""
    resting = market_env.resting_qty(book, state.order_id)
    cancelled, _ = apply(book, messages.cancel(state.order_id))
    book = _select(acts & (resting > 0), cancelled, book)
    return book, jnp.where(acts, EMPTY_ID, state.order_id), jnp.where(acts, 0, resting)


def _market_order(book: Book, order_id: jax.Array, owner: int, state: ExecutionState, is_market: jax.Array,
                  side: jax.Array, sign: jax.Array, params: ExecutionParams) -> tuple[Book, jax.Array, jax.Array]:
    """Action 0: a market order, every fill known exactly from the book before it;
    sum (entry - price) * fill = half * filled - sum (price - entry_tick) * fill. Returns the book,
    the shares filled and their cost (float32 cents)."""
    filled, edge = market_env.sweep(book, side, params.order_size, state.entry_tick)
    after_market, _ = apply(book, messages.market(side, params.order_size, order_id, owner))
    book = _select(is_market, after_market, book)
    filled = jnp.where(is_market, filled, 0)
    cost = jnp.where(is_market, sign * (state.entry_half * filled.astype(jnp.float32) - edge), 0.0)
    return book, filled, cost


def _limit_order(book: Book, new_id: jax.Array, owner: int, state: ExecutionState, is_limit: jax.Array,
                 side: jax.Array, sign: jax.Array, params: ExecutionParams, order_id: jax.Array,
                 order_qty: jax.Array) -> tuple[Book, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Action 1: a limit order at the near touch, which rests whole; where its own side of the book
    is empty it goes at the last trade price and may cross, filling at the resting orders' prices.
    Returns the
    book, the shares filled, their cost (float32 cents), and the resting order's id, quantity and
    price (int32 ticks)."""
    entry, half = state.entry_tick, state.entry_half
    touch = jnp.where(side == BID, views.best_bid(book), views.best_ask(book))
    last = jnp.where(book.last_trade_price > 0, book.last_trade_price, entry)
    price = jnp.where(book.n[side] > 0, touch, last)
    book_before_limit = book
    after_limit, placed = apply(book, messages.limit(side, price, params.order_size, new_id, owner))
    book = _select(is_limit, after_limit, book)
    # A limit order at the last trade price can cross when its side is empty: its fills are at
    # the resting orders' prices.
    crossed, crossed_edge = market_env.sweep(book_before_limit, side, params.order_size, entry, price)
    limit_filled = jnp.where(is_limit, placed.filled, 0)
    limit_cost = jnp.where(is_limit, sign * (half * crossed.astype(jnp.float32) - crossed_edge), 0.0)
    order_id = jnp.where(is_limit & (placed.remaining > 0), new_id, order_id)
    order_qty = jnp.where(is_limit, market_env.resting_qty(book, new_id), order_qty)
    order_price = jnp.where(is_limit, price, state.order_price)
    return book, limit_filled, limit_cost, order_id, order_qty, order_price


def _passive_fills(market: MarketState, state: ExecutionState, order_id: jax.Array, order_qty: jax.Array,
                   order_price: jax.Array, sign: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Passive fills: what left the resting order during the step other than by eviction. Returns
    the quantity still resting, the shares filled and their cost (float32 cents)."""
    still = market_env.resting_qty(market.book, order_id)
    evicted = market.agent_evicted - state.evicted
    passive = jnp.where(order_id != EMPTY_ID, jnp.maximum(order_qty - still - evicted, 0), 0)
    passive_cost = sign * ((state.entry_tick - order_price).astype(jnp.float32) + state.entry_half) * passive.astype(
        jnp.float32)
    return still, passive, passive_cost
