"""Money at the largest valid price level (r_bar = R_BAR_MAX = 2**29 cents, book prices near
5.4e8 ticks, where float32's step is 64 cents): DailyInvestor-v0's value and rewards and
Execution-v0's cost and rewards against an exact integer / fraction recomputation of the same
fills, read here from the books with plain Python.

Hand-built books in markets without background agents make the fills deterministic
(``tests/envs/test_market_env.py`` also runs Execution-v0 on a market with agents trading at that level)."""

from __future__ import annotations

from fractions import Fraction

import jax
import jax.numpy as jnp
import pytest

import jaxmarket as jm
from jaxmarket import lob
from jaxmarket.core.validation import INT32_MAX
from jaxmarket.envs import daily_investor as dic
from jaxmarket import background
from jaxmarket.envs.daily_investor import DailyInvestorParams
from jaxmarket.envs.execution import ExecutionParams
from tests.envs.market_env_books import np_sweep, side_orders  # the plain-Python book readers

R = background.R_BAR_MAX  # the largest valid r_bar
P = R + 37  # the hand-built books trade around here
EMPTY = dict(n_noise=0, n_value=0, n_momentum=0, n_market_makers=0, max_arrival_slots=2, max_noise_per_advance=1,
             capacity=16)
BUY, HOLD, SELL = 0, 1, 2
MARKET_ORDER, LIMIT_ORDER, WAIT = 0, 1, 2
EPS = 2.0**-24  # float32's relative rounding
OTHER_IDS = 10_000_000
DI_PARAMS = DailyInvestorParams(r_bar=float(R))  # the params jm.make gives the fixtures' envs
EXE_PARAMS = ExecutionParams(r_bar=float(R), window_s=600.0)


@pytest.fixture(scope="module")
def di_env():
    return jm.make("jaxmarket/DailyInvestor-v0", r_bar=float(R), **EMPTY)[0]


@pytest.fixture(scope="module")
def exe_env():
    return jm.make("jaxmarket/Execution-v0", r_bar=float(R), window_s=600.0, **EMPTY)[0]


@pytest.fixture(scope="module")
def di_step(di_env):
    return jax.jit(di_env.step)


@pytest.fixture(scope="module")
def exe_step(exe_env):
    return jax.jit(exe_env.step)


def book_of(apply, bids=(), asks=(), capacity=16):
    """A book like the envs' from resting orders ``(price, qty)``, ids from OTHER_IDS, owner 3,
    built with the jitted ``apply``."""
    book = lob.empty(capacity, full_policy="evict")
    oid = OTHER_IDS
    for side, orders in ((lob.BID, bids), (lob.ASK, asks)):
        for price, qty in orders:
            book, res = apply(book, lob.limit(side, price, qty, oid, owner=3))
            assert int(res.status) == lob.OK
            oid += 1
    return book


def np_mark(book):
    return int(book.last_trade_price) if int(book.last_trade_price) > 0 else R


def np_mid(book):
    bids, asks = side_orders(book, lob.BID), side_orders(book, lob.ASK)
    if bids and asks:
        return Fraction(bids[0][0] + asks[0][0], 2)
    return Fraction((bids or asks)[0][0]) if bids or asks else Fraction(np_mark(book))


def start(env, params, book):
    state = env.start_episode(background.init(jax.random.key(0), env.config, params), params)
    state = state.replace(market=state.market.replace(book=book))
    return env.start_episode(state.market, params)  # the episode's references from this book


# ---------------------------------------------------------------- DailyInvestor

ASKS = [(P + 1, 40), (P + 2, 60), (P + 5, 500), (P + 9, 10_000_000)]
BIDS = [(P - 1, 30), (P - 3, 70), (P - 4, 600), (P - 8, 10_000_000)]
DI_ACTIONS = [BUY, BUY, HOLD, SELL, BUY, SELL, SELL, SELL, HOLD, BUY]


def run_daily_investor(env, step, apply, order_size):
    """The DI_ACTIONS on the hand-built book: the env's (pnl, reward) per step and the exact ones,
    with the per-step float32 bound's terms (|holdings * mark change| + sum |fill * (price - mark)|)."""
    params = DI_PARAMS.replace(order_size=order_size, starting_cash=INT32_MAX, done_ratio=0.0)  # never broke here
    env.check_params(params)
    state = start(env, params, book_of(apply, BIDS, ASKS))
    cash, holdings, previous = params.starting_cash, 0, params.starting_cash
    mark = np_mark(state.market.book)
    got, want, terms = [], [], []
    for t, action in enumerate(DI_ACTIONS):
        side = lob.BID if action == BUY else lob.ASK
        filled, notional = np_sweep(state.market.book, side, order_size) if action != HOLD else (0, 0)
        _, state, reward, terminated, _, _ = step(jax.random.key(t + 1), state, jnp.int32(action), params)
        sign = 1 if action == BUY else -1
        cash, holdings = cash - sign * notional, holdings + sign * filled
        new_mark = np_mark(state.market.book)
        value = cash + holdings * new_mark  # Python ints: exact (cash is near -1e15 here)
        want.append((value - params.starting_cash, Fraction(value - previous, order_size * 390)))
        got.append((float(state.pnl), float(reward)))
        terms.append(abs(holdings * (new_mark - mark)) + abs(notional - filled * mark))
        assert int(state.holdings) == holdings and not bool(terminated)
        previous, mark = value, new_mark
    return params, state, got, want, terms, cash


def test_daily_investor_money_is_exact_at_the_largest_price_level(di_env, di_step, apply_jit):
    """Order size 10: every amount is far below 2**24 cents, so pnl and rewards are exact although the
    cash (about -R * holdings) is a price-level number int32 cents could not hold."""
    params, state, got, want, _, cash = run_daily_investor(di_env, di_step, apply_jit, 10)
    for (pnl, reward), (exact_pnl, exact_reward) in zip(got, want):
        assert pnl == exact_pnl
        assert reward == pytest.approx(float(exact_reward), rel=1e-6, abs=1e-9)
    assert any(p != 0 for p, _ in got)
    assert float(dic.cash(state, params)) == cash  # float64: exact below 2**53


def test_daily_investor_money_error_within_the_documented_bound(di_env, di_step, apply_jit):
    """Order size 3,000,000: the amounts exceed 2**24, and the error stays within the docstring's
    bound, sum over steps of (capacity + 3) * 2**-24 * the step's terms, plus n * 2**-24 * max |pnl|."""
    params, _, got, want, terms, _ = run_daily_investor(di_env, di_step, apply_jit, 3_000_000)
    capacity = di_env.config.capacity
    bound = 0.0
    for t, ((pnl, _), (exact_pnl, _)) in enumerate(zip(got, want)):
        bound += (capacity + 3) * EPS * terms[t]
        largest = max(abs(p) for p, _ in want[: t + 1])
        assert abs(pnl - exact_pnl) <= bound + (t + 1) * EPS * largest, (t, pnl, exact_pnl)
    assert max(abs(p) for p, _ in want) > 2**24  # the test does reach beyond float32's exact integers


# ---------------------------------------------------------------- Execution

@pytest.mark.parametrize("direction", [lob.BID, lob.ASK])
def test_execution_cost_is_exact_at_the_largest_price_level(exe_env, exe_step, apply_jit, direction):
    """Entry = the mid (a half tick here). A limit order at the near touch (no fill), then market
    orders sweeping several levels (the first cancels the resting order): cost = sum over fills of
    (entry - price) * qty (mirrored for a sell), each reward its step's part / parent, exactly."""
    bids = [(P - 1, 30), (P - 2, 40), (P - 6, 5_000)]
    asks = [(P + 2, 30), (P + 3, 40), (P + 7, 5_000)]
    params = EXE_PARAMS.replace(direction=direction, parent_size=5_000)
    state = start(exe_env, params, book_of(apply_jit, bids, asks))
    entry = np_mid(state.market.book)
    assert entry == P + Fraction(1, 2) and int(state.entry_tick) == P and float(state.entry_half) == 0.5
    sign = 1 if direction == lob.BID else -1
    _, state, reward, *_ = exe_step(jax.random.key(1), state, jnp.int32(LIMIT_ORDER), params)
    assert int(state.order_price) == (P - 1 if direction == lob.BID else P + 2) and float(reward) == 0.0
    cost = Fraction(0)
    for t in (2, 3):
        filled, notional = np_sweep(state.market.book, direction, params.order_size)
        _, state, reward, *_ = exe_step(jax.random.key(t), state, jnp.int32(MARKET_ORDER), params)
        step = sign * (entry * filled - notional)
        cost += step
        assert float(reward) == pytest.approx(float(step / params.parent_size), rel=1e-6)
    assert float(state.cost) == cost != 0 and int(state.done_qty) == 400
    assert np_resting(state.market.book, exe_env.config.agent_owner) == 0  # the limit order was cancelled


def np_resting(book, owner):
    return sum(q for s in (lob.BID, lob.ASK) for _, q, _, o in side_orders(book, s) if o == owner)
