"""``jaxmarket/DailyInvestor-v0``: ABIDES-Gym's daily investor on the vectorized background market.

The market opens at 09:30 and trades for ``first_interval_s`` (5 min) before the first
observation at 09:35. Each step the agent acts, then the market trades for ``step_s`` (60 s);
the episode ends at the close (16:00: 385 steps) or when the marked-to-market value
``cash + holdings * last trade`` falls to ``done_ratio * starting_cash`` or below.

Actions (``Discrete(3)``): 0 a market buy of ``order_size`` shares, 1 hold, 2 a market sell.
Any other index is treated as hold and counted in ``state.n_invalid_actions``.

Observation (float32, shape (7,)): holdings (shares), imbalance over the top 3 levels, spread,
mid − last trade, and the last three changes of the mid (cents; see ``lob_env``).

Reward: dense (default), the change of the marked-to-market value divided by ``order_size`` and
by ``reward_steps`` (390, the minutes of a day); sparse (``sparse_reward=True``), 0 until the
episode ends and then (value − starting cash) / ``order_size`` / ``reward_steps``.

Deviations from ABIDES-Gym, each a fix:
- the previous marked-to-market value is reset with each episode (ABIDES-Gym keeps it from the
  previous episode, so the first reward of every later episode is wrong);
- the observation reads the book when the step ends (ABIDES-Gym reads the last market-data
  snapshot its subscription delivered, up to 0.1 s stale);
- the episode has 385 steps: ABIDES-Gym's kernel adds a 386th step after the close in which
  nothing can trade.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxmarket.core import spaces
from jaxmarket.core.validation import check_int, check_range
from jaxmarket.envs import lob_env
from jaxmarket.lob import background, messages
from jaxmarket.lob.background import MarketParams, MarketState
from jaxmarket.lob.constants import ASK, BID
from jaxmarket.lob.matching import apply

BUY, HOLD, SELL = 0, 1, 2
IMBALANCE_DEPTH = 3


@struct.dataclass
class DailyInvestorParams(MarketParams):
    """ABIDES-Gym's defaults; money in cents, times in seconds."""

    first_interval_s: float = 300.0  # trading before the first observation
    step_s: float = 60.0  # trading per step
    starting_cash: int = 1_000_000
    order_size: int = 10  # shares per market order
    done_ratio: float = 0.3  # the episode ends when the value falls to this fraction of the cash
    reward_steps: float = 390.0  # reward normaliser: steps in a 6.5-hour day of 60-s steps
    sparse_reward: bool = False

    @property
    def max_steps_in_episode(self) -> Any:
        """Steps per episode: an int for concrete parameters, an int32 array when traced."""
        steps = (self.close_s - self.open_s - self.first_interval_s) / self.step_s
        return math.ceil(steps - 1e-9) if isinstance(steps, float) else jnp.ceil(steps - 1e-6).astype(jnp.int32)

    def check(self) -> None:
        super().check()
        # Cash and value are int32 cents: a whole day of trades at up to twice r_bar must fit.
        concrete = all(isinstance(v, (int, float)) for v in (self.r_bar, self.close_s, self.open_s, self.step_s))
        largest = lob_env.money_bound(self.r_bar, self.max_steps_in_episode) if concrete else 100_000
        check_int("order_size", self.order_size, 1, largest)
        check_int("starting_cash", self.starting_cash, 1, 2**30)
        check_range("done_ratio", self.done_ratio, 0.0, 1.0)
        check_range("reward_steps", self.reward_steps, 0.0, low_open=True)
        check_range("first_interval_s", self.first_interval_s, 0.0, self.close_s - self.open_s, low_open=True,
                    high_open=True)


@struct.dataclass
class DailyInvestorState:
    market: MarketState
    opening: MarketState  # the warmed-up market this env's episodes restart from
    cash: jax.Array  # int32 cents
    holdings: jax.Array  # int32 shares
    value: jax.Array  # int32 cents, marked to market at the last step
    mids: jax.Array  # (HISTORY,) float32 cents, oldest first
    time: jax.Array  # int32 steps taken
    n_trades: jax.Array  # int32 market orders sent
    n_invalid_actions: jax.Array  # int32


def mark_to_market(cash: jax.Array, holdings: jax.Array, market: MarketState, params: DailyInvestorParams) -> jax.Array:
    """``cash + holdings * last trade`` in int32 cents."""
    last = jnp.where(market.book.last_trade_price > 0, market.book.last_trade_price,
                     jnp.round(params.r_bar).astype(jnp.int32))
    return cash + holdings * last


class DailyInvestor(lob_env.MarketEnv):
    """ABIDES-Gym's daily investor (see the module docstring)."""

    params_class = DailyInvestorParams

    @property
    def name(self) -> str:
        return "DailyInvestor-v0"

    def start_episode(self, market: MarketState, params: DailyInvestorParams) -> DailyInvestorState:
        cash = jnp.asarray(params.starting_cash, jnp.int32)
        holdings = jnp.zeros((), jnp.int32)
        mid = lob_env.gym_mid(market.book, params.r_bar)
        zero = jnp.zeros((), jnp.int32)
        return DailyInvestorState(market=market, opening=market, cash=cash, holdings=holdings,
                                  value=mark_to_market(cash, holdings, market, params),
                                  mids=jnp.full(lob_env.HISTORY, mid, jnp.float32), time=zero, n_trades=zero,
                                  n_invalid_actions=zero)

    def step_env(self, key: jax.Array, state: DailyInvestorState, action: Any, params: DailyInvestorParams):
        action = jnp.asarray(action, jnp.int32)
        valid = (action >= BUY) & (action <= SELL)
        action = jnp.where(valid, action, HOLD)
        trades = action != HOLD
        side = jnp.where(action == BUY, BID, ASK)
        market = state.market
        filled, notional = lob_env.sweep_cost(market.book, side, params.order_size)
        order = messages.market(side, params.order_size, market.next_id, self.config.agent_owner)
        book, _ = apply(market.book, order)
        book = jax.tree.map(lambda new, old: jnp.where(trades, new, old), book, market.book)
        sign = jnp.where(side == BID, 1, -1)
        holdings = state.holdings + jnp.where(trades, sign * filled, 0)
        cash = state.cash - jnp.where(trades, sign * notional, 0)
        market = market.replace(book=book, next_id=market.next_id + trades.astype(jnp.int32))
        market = background.advance(key, market, self.config, params, params.step_s)

        value = mark_to_market(cash, holdings, market, params)
        time = state.time + 1
        scale = params.order_size * params.reward_steps
        broke = value <= params.done_ratio * params.starting_cash
        terminated = broke | (market.time_s >= params.close_s)
        dense = (value - state.value).astype(jnp.float32) / scale
        sparse = jnp.where(terminated, (value - params.starting_cash).astype(jnp.float32) / scale, 0.0)
        reward = jnp.where(params.sparse_reward, sparse, dense)
        new_state = state.replace(
            market=market, cash=cash, holdings=holdings, value=value,
            mids=lob_env.push_mid(state.mids, lob_env.gym_mid(market.book, params.r_bar)), time=time,
            n_trades=state.n_trades + trades.astype(jnp.int32),
            n_invalid_actions=state.n_invalid_actions + (~valid).astype(jnp.int32),
        )
        info = {"value": value, "holdings": holdings}
        return self.get_obs(new_state, params), new_state, reward, terminated, info

    def is_truncated(self, state: DailyInvestorState, params: DailyInvestorParams) -> jax.Array:
        return jnp.zeros((), bool)  # the close ends every episode (terminated)

    def get_obs(self, state: DailyInvestorState, params: DailyInvestorParams, key: Any = None) -> jax.Array:
        book = state.market.book
        mid = state.mids[-1]
        features = [
            state.holdings.astype(jnp.float32),
            lob_env.gym_imbalance(book, IMBALANCE_DEPTH),
            lob_env.gym_spread(book),
            mid - lob_env.last_trade(book, params.r_bar),
        ]
        return jnp.concatenate([jnp.stack(features), lob_env.returns(state.mids)]).astype(jnp.float32)

    def action_space(self, params: DailyInvestorParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(3)

    def observation_space(self, params: DailyInvestorParams | None = None) -> spaces.Box:
        big = float(jnp.finfo(jnp.float32).max)
        low = jnp.array([-big, 0.0] + [-big] * 5, jnp.float32)
        high = jnp.array([big, 1.0] + [big] * 5, jnp.float32)
        return spaces.Box(low, high, (7,), jnp.float32)

    def episode_metrics(self, state: DailyInvestorState, params: DailyInvestorParams) -> dict[str, jax.Array]:
        return {
            "pnl": (state.value - params.starting_cash).astype(jnp.float32),
            "final_holdings": state.holdings,
            "n_trades": state.n_trades,
            "n_invalid_actions": state.n_invalid_actions,
            "book_events": background.book_events(state.market),
        }
