"""``jaxmarket/DailyInvestor-v0``: ABIDES-Gym's daily investor on the vectorized background market.

The market opens at 09:30 and trades for ``first_interval_s`` (5 min) before the first
observation at 09:35. Each step the agent acts, then the market trades for ``step_s`` (60 s);
the episode ends at the close (16:00: 385 steps) or when the marked-to-market value
``cash + holdings * last trade`` falls to ``done_ratio * starting_cash`` or below.

**Clock.** Times are whole milliseconds on the market's int32 clock (``background``), so an
episode has exactly ``max_steps_in_episode = ceil((close - open - first_interval) / step)``
steps (integer arithmetic) for any step length, unless it ends early (``done_ratio``). A step
longer than ``mm_period_s`` is traded in several advances (``MarketEnv``).

Actions (``Discrete(3)``): 0 a market buy of ``order_size`` shares, 1 hold, 2 a market sell.
Any other value (another index, a non-integral or non-finite float) is treated as hold and counted
in ``state.n_invalid_actions`` (``spaces.discrete_index``).

Observation (float32, shape (7,)): holdings (shares), imbalance over the top 3 levels, spread,
mid − last trade, and the last three changes of the mid (cents; see ``market_env``).

Reward: dense (default), the change of the marked-to-market value divided by ``order_size`` and
by ``reward_steps`` (390, the minutes of a day); sparse (``sparse_reward=True``), 0 until the
episode ends and then (value − starting cash) / ``order_size`` / ``reward_steps``.

**Money.** The value is kept as ``pnl = value − starting_cash`` (float32 cents), and each step
adds its change, computed from int32 tick differences between prices at most one step apart:
``change = holdings * (mark − previous mark) − sign * sum fill * (price − previous mark)``, with
``mark`` the last trade (``round(r_bar)`` before any). So money never holds a price-level number:
the change is exact while its terms are integers below 2**24 cents ($167,772), and otherwise has
a relative error of at most ``(capacity + 3) * 2**-24``; ``pnl`` after ``n`` steps adds at most
``n * 2**-24 * max |pnl|``. This holds at every valid ``r_bar`` (up to ``background.R_BAR_MAX``),
so ``order_size`` is bounded only by the int32 holdings (``order_size * max_steps_in_episode <
2**31``), ``market_env.MAX_SHARES`` and the book's largest order; the default 10 is valid with every
valid value of the other fields. The cash is ``starting_cash + pnl − holdings * mark``
(``cash``, float64, outside ``jit``).

Deviations from ABIDES-Gym, each a fix:
- the previous marked-to-market value is reset with each episode (ABIDES-Gym keeps it from the
  previous episode, so the first reward of every later episode is wrong);
- the observation reads the book when the step ends (ABIDES-Gym reads the last market-data
  snapshot its subscription delivered, up to 0.1 s stale);
- the episode has 385 steps: ABIDES-Gym's kernel adds a 386th step after the close in which
  nothing can trade.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarket.core import spaces
from jaxmarket.core.validation import INT32_MAX, check_bool, check_int, check_range, check_within
from jaxmarket.envs import market_env
from jaxmarket.lob import messages
from jaxmarket import background
from jaxmarket.background import clock
from jaxmarket.background import MarketState
from jaxmarket.lob.constants import ASK, BID
from jaxmarket.lob.matching import apply

BUY, HOLD, SELL = 0, 1, 2
NUM_ACTIONS = 3
IMBALANCE_DEPTH = 3

# Observation columns (float32, ``(OBS_SIZE,)``).
OBS_HOLDINGS = 0  # shares held
OBS_IMBALANCE = 1  # bid share of the quantity in the top IMBALANCE_DEPTH levels, in [0, 1]
OBS_SPREAD = 2  # best ask - best bid, cents (0 unless both sides hold orders)
OBS_DIRECTION = 3  # mid - last trade, cents
OBS_RETURNS = 4  # first of the last HISTORY - 1 changes of the mid, cents, oldest first
OBS_SIZE = OBS_RETURNS + market_env.HISTORY - 1


@struct.dataclass
class DailyInvestorParams(market_env.MarketEnvParams):
    """ABIDES-Gym's defaults; money in cents, times in seconds (whole milliseconds). The warm-up
    ``first_interval_s`` defaults to the smaller of 300 s and half the session."""

    default_first_interval_s: ClassVar[float] = 300.0  # ABIDES-Gym: the first observation 5 min after the open
    starting_cash: int = 1_000_000  # the agent's cash at the start, cents
    order_size: int = 10  # shares per market order
    done_ratio: float = 0.3  # the episode ends when the value falls to this fraction of the cash
    reward_steps: float = 390.0  # reward normaliser: steps in a 6.5-hour day of 60-s steps
    sparse_reward: bool = False

    @property
    def max_steps_in_episode(self) -> Any:
        """Steps per episode, ``ceil((close - open - first_interval) / step)`` in integer milliseconds:
        an int for concrete parameters, an int32 array when traced."""
        return clock.ceil_div(self.session_ms - self.first_ms, self.step_ms)

    def check(self) -> None:
        super().check()
        check_int("starting_cash", self.starting_cash, 1, INT32_MAX)
        if isinstance(self.step_s, (int, float)):  # holdings (int32) after a whole episode of buys
            largest = min(market_env.MAX_SHARES, INT32_MAX // max(self.max_steps_in_episode, 1))
            check_within("order_size", self.order_size, 1, largest, integer=True,
                         high_name=f"min(MAX_SHARES, INT32_MAX // max_steps_in_episode = {self.max_steps_in_episode})")
        else:
            check_int("order_size", self.order_size, 1, market_env.MAX_SHARES)
        check_range("done_ratio", self.done_ratio, 0.0, 1.0)
        check_bool("sparse_reward", self.sparse_reward)
        check_range("reward_steps", self.reward_steps, 0.0, low_open=True)


@struct.dataclass
class DailyInvestorState:
    market: MarketState
    opening: MarketState  # the warmed-up market this env's episodes restart from
    holdings: jax.Array  # int32 shares
    mark: jax.Array  # int32 ticks: the price the holdings were valued at (last trade; round(r_bar) before any)
    pnl: jax.Array  # float32 cents: the marked-to-market value minus the starting cash
    fill_edge: jax.Array  # float32 cents: sum fill * (price - previous mark) of the last step's order
    ref: jax.Array  # int32 ticks: the mids are relative to it (the mark at the start)
    mids: jax.Array  # (HISTORY,) float32 cents, mid - ref, oldest first
    time: jax.Array  # int32 steps taken
    n_trades: jax.Array  # int32 market orders sent
    n_invalid_actions: jax.Array  # int32


def cash(state: DailyInvestorState, params: DailyInvestorParams) -> np.ndarray:
    """The agent's cash, ``starting_cash + pnl - holdings * mark`` (float64 cents; call outside
    ``jit``). It is a price-level number: use ``pnl`` for anything accumulated."""
    return (np.asarray(params.starting_cash, np.float64) + np.asarray(state.pnl, np.float64)
            - np.asarray(state.holdings, np.float64) * np.asarray(state.mark, np.float64))


class DailyInvestor(market_env.MarketEnv):
    """ABIDES-Gym's daily investor on the background market (the module docstring gives the
    episode, the money and the deviations from ABIDES-Gym).

    - observation: float32 ``(OBS_SIZE,)`` = ``(7,)``, columns ``OBS_*``:
        - ``OBS_HOLDINGS``: shares held;
        - ``OBS_IMBALANCE``: bid share of the quantity in the top ``IMBALANCE_DEPTH`` levels, in [0, 1];
        - ``OBS_SPREAD``: best ask - best bid, cents;
        - ``OBS_DIRECTION``: mid - last trade, cents;
        - ``OBS_RETURNS`` on: the last three changes of the mid between steps, cents, oldest first.
    - action: ``Discrete(3)``, an int32 scalar: ``BUY`` (0) or ``SELL`` (2) a market order of
      ``order_size`` shares, ``HOLD`` (1); any other value is ``HOLD``, counted in
      ``n_invalid_actions``.
    - reward: float32 scalar: the change of the marked-to-market value (cents) divided by
      ``order_size * reward_steps`` (dense), or the episode's total change so divided at its end
      (``sparse_reward``).
    - state: ``DailyInvestorState``: the background market (``MarketState``) and the opening it
      restarts from, ``holdings`` (int32 shares), ``mark`` (int32 ticks), ``pnl`` (float32 cents),
      the mid history (float32 ``(HISTORY,)`` cents from ``ref``), the step count and counters.

    Constructor arguments (fields of ``MarketConfig`` and of ``DailyInvestorParams``, by name) and
    their errors: see ``MarketEnv``.
    """

    params_class = DailyInvestorParams

    @property
    def name(self) -> str:
        return "DailyInvestor-v0"

    def start_episode(self, market: MarketState, params: DailyInvestorParams) -> DailyInvestorState:
        zero = jnp.zeros((), jnp.int32)
        mark = market_env.last_tick(market.book, market.ref)
        mid = market_env.mid_rel(market.book, mark, market.ref)
        return DailyInvestorState(market=market, opening=market, holdings=zero, mark=mark,
                                  pnl=jnp.zeros((), jnp.float32), fill_edge=jnp.zeros((), jnp.float32), ref=mark,
                                  mids=jnp.full(market_env.HISTORY, mid, jnp.float32), time=zero, n_trades=zero,
                                  n_invalid_actions=zero)

    def step_env(self, key: jax.Array, state: DailyInvestorState, action: Any, params: DailyInvestorParams):
        index, valid = spaces.discrete_index(action, NUM_ACTIONS)
        action = jnp.where(valid, index, HOLD)
        trades = action != HOLD
        side = jnp.where(action == BUY, BID, ASK)
        market = state.market
        filled, edge = market_env.sweep(market.book, side, params.order_size, state.mark)
        order = messages.market(side, params.order_size, market.next_id, self.config.agent_owner)
        book, _ = apply(market.book, order)
        book = jax.tree.map(lambda new, old: jnp.where(trades, new, old), book, market.book)
        sign = jnp.where(side == BID, 1, -1)
        filled = jnp.where(trades, filled, 0)
        edge = jnp.where(trades, edge, 0.0)
        holdings = state.holdings + sign * filled
        market = market.replace(book=book, next_id=market.next_id + trades.astype(jnp.int32))
        market = self.trade(key, market, params)

        mark = market_env.last_tick(market.book, market.ref)
        change = holdings.astype(jnp.float32) * (mark - state.mark).astype(jnp.float32) - sign * edge
        pnl = state.pnl + change
        scale = params.order_size * params.reward_steps
        broke = pnl <= (params.done_ratio - 1.0) * params.starting_cash  # value <= done_ratio * starting cash
        terminated = broke | (market.time_ms >= params.close_ms)
        dense = change / scale
        sparse = jnp.where(terminated, pnl / scale, 0.0)
        reward = jnp.where(params.sparse_reward, sparse, dense).astype(jnp.float32)
        new_state = state.replace(
            market=market, holdings=holdings, mark=mark, pnl=pnl, fill_edge=edge,
            mids=market_env.push_mid(state.mids, market_env.mid_rel(market.book, state.ref, market.ref)), time=state.time + 1,
            n_trades=state.n_trades + trades.astype(jnp.int32),
            n_invalid_actions=state.n_invalid_actions + (~valid).astype(jnp.int32),
        )
        info = {"pnl": pnl, "holdings": holdings}
        return self.get_obs(new_state, params), new_state, reward, terminated, info

    def is_truncated(self, state: DailyInvestorState, params: DailyInvestorParams) -> jax.Array:
        return jnp.zeros((), bool)  # the close ends every episode (terminated)

    def get_obs(self, state: DailyInvestorState, params: DailyInvestorParams, key: Any = None) -> jax.Array:
        book = state.market.book
        last = (market_env.last_tick(book, state.market.ref) - state.ref).astype(jnp.float32)
        features = {
            OBS_HOLDINGS: state.holdings.astype(jnp.float32),
            OBS_IMBALANCE: market_env.gym_imbalance(book, IMBALANCE_DEPTH),
            OBS_SPREAD: market_env.gym_spread(book),
            OBS_DIRECTION: state.mids[-1] - last,
        }
        scalars = jnp.stack([features[column] for column in range(OBS_RETURNS)])
        return jnp.concatenate([scalars, market_env.returns(state.mids)]).astype(jnp.float32)

    def action_space(self, params: DailyInvestorParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(NUM_ACTIONS)

    def observation_space(self, params: DailyInvestorParams | None = None) -> spaces.Box:
        big = float(jnp.finfo(jnp.float32).max)
        low, high = [-big] * OBS_SIZE, [big] * OBS_SIZE
        low[OBS_IMBALANCE], high[OBS_IMBALANCE] = 0.0, 1.0  # a fraction
        return spaces.Box(jnp.array(low, jnp.float32), jnp.array(high, jnp.float32), (OBS_SIZE,), jnp.float32)

    def episode_metrics(self, state: DailyInvestorState, params: DailyInvestorParams) -> dict[str, jax.Array]:
        return {
            "pnl": state.pnl,
            "final_holdings": state.holdings,
            "n_trades": state.n_trades,
            "n_invalid_actions": state.n_invalid_actions,
            "book_events": background.book_events(state.market),
        }
