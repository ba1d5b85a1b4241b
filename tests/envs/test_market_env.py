"""Execution-v0 and DailyInvestor-v0 against numpy computations on the same books: observation
features, rewards and penalties, passive fills and queue priority, invalid actions, the
auto-reset, bad input and the baselines.

Every test steps one jitted ``env.step`` per env (traced once, checked). Deterministic cases put
a hand-built book into the state and silence the background agents (``quiet``)."""

from __future__ import annotations

from fractions import Fraction

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket import lob
from jaxmarket.baselines import execution as exe_baselines
from jaxmarket.envs import daily_investor as dic
from jaxmarket.envs import execution as exe
from jaxmarket.envs import market_env
from jaxmarket import background
from jaxmarket.background import MarketConfig, clock
from jaxmarket.envs.daily_investor import DailyInvestorParams
from jaxmarket.envs.execution import ExecutionParams
from tests.envs.market_env_books import (
    assert_same_state,
    level_ids,
    np_imbalance,
    np_last,
    np_levels,
    np_mid,
    np_resting,
    np_spread,
    np_sweep,
    seeded,
    side_orders,
)

SMALL = dict(n_noise=100, n_value=20, n_momentum=4, max_arrival_slots=48)
# The window is given (its default is None, resolved where used): every params below then has the
# same structure, so each jitted step traces once. The params and config are the ones ``jm.make``
# gives the envs built by the fixtures below.
EXE_PARAMS = ExecutionParams(window_s=600.0)
DI_PARAMS = DailyInvestorParams()
CFG = MarketConfig(**SMALL)
LONG = EXE_PARAMS.replace(window_s=3000.0)  # 50 steps: no episode end while a test looks
MARKET_ORDER, LIMIT_ORDER, WAIT = 0, 1, 2
BUY, HOLD, SELL = 0, 1, 2
ENTRY = 10_005.0  # hand-built books trade near 10_000 cents: money stays exact in float32
OTHER_IDS = 10_000_000  # ids of hand-built orders, far from the market's own


@pytest.fixture(scope="module")
def exe_env():
    return jm.make("jaxmarket/Execution-v0", window_s=600.0, **SMALL)[0]


@pytest.fixture(scope="module")
def di_env():
    return jm.make("jaxmarket/DailyInvestor-v0", **SMALL)[0]


def traced_once(env):
    """``env.step`` jitted and traced at most once (checked; the check tells the two envs' steps
    apart by the fixture that built them), called with a seed and a Python action."""

    @chex.assert_max_traces(n=1)
    def step(key, state, action, params):
        return env.step(key, state, action, params)

    return seeded(jax.jit(step))


@pytest.fixture(scope="module")
def exe_step(exe_env):
    """Execution-v0's step, built once for this module."""
    return traced_once(exe_env)


@pytest.fixture(scope="module")
def di_step(di_env):
    """DailyInvestor-v0's step, built once for this module."""
    return traced_once(di_env)


def warm(env, step, params, steps, seed):
    """An episode started on a market that has traded ``steps`` minutes since the open."""
    idle = WAIT if env.name == "Execution-v0" else HOLD
    state = env.start_episode(background.init(jax.random.key(seed), CFG, params), params)
    for t in range(steps):
        state = step(1000 * seed + t, state, idle, params)[1]
    return env.start_episode(state.market, params)


@pytest.fixture(scope="module")
def exe_warm(exe_env, exe_step):
    return warm(exe_env, exe_step, LONG, 12, 1)


@pytest.fixture(scope="module")
def di_warm(di_env, di_step):
    return warm(di_env, di_step, DI_PARAMS, 12, 2)


# ---------------------------------------------------------------- books and numpy references

@pytest.fixture(scope="module")
def env_book(apply_jit):
    """``env_book(bids, asks, last_trade, first_id)``: a book like the env's (same capacity and
    policies) from resting orders ``(price, qty)``."""

    def build(bids=(), asks=(), last_trade=0, first_id=OTHER_IDS):
        book = lob.empty(CFG.capacity, max_fills=CFG.max_fills, full_policy=CFG.full_policy)
        oid = first_id
        for side, orders in ((lob.BID, bids), (lob.ASK, asks)):
            for price, qty in orders:
                book, res = apply_jit(book, lob.limit(side, price, qty, oid, owner=3))
                assert int(res.status) == lob.OK and int(res.filled) == 0
                oid += 1
        return book.replace(last_trade_price=jnp.int32(last_trade))

    return build


@pytest.fixture(scope="module")
def add_orders(apply_jit):
    """``add_orders(book, side, orders, first_id)``: ``book`` with resting orders ``(price, qty)`` added."""

    def add(book, side, orders, first_id):
        for k, (price, qty) in enumerate(orders):
            book, res = apply_jit(book, lob.limit(side, price, qty, first_id + k, owner=3))
            assert int(res.status) == lob.OK and int(res.filled) == 0
        return book

    return add


def quiet(state, params):
    """No background agent acts: no noise agent due, no maker refresh, no Poisson arrivals."""
    never = jnp.full_like(state.market.mm_next_ms, 2 * clock.DAY_MS)
    market = state.market.replace(noise_next=jnp.int32(CFG.n_noise), mm_next_ms=never)
    return state.replace(market=market), params.replace(value_interval_s=1e30, momentum_interval_s=1e30)


def with_book(state, book, entry=ENTRY):
    """``state`` on ``book``; an Execution state also gets the entry price ``entry`` (a whole or half tick)."""
    state = state.replace(market=state.market.replace(book=book))
    if not hasattr(state, "entry_tick"):
        return state
    tick = int(np.floor(entry))
    return state.replace(entry_tick=jnp.int32(tick), entry_half=jnp.float32(entry - tick))


# ---------------------------------------------------------------- observation features

@pytest.fixture(scope="module")
def features():
    """The jitted features ``(mid, spread, imbalance)``, built once for this module."""
    return (jax.jit(market_env.gym_mid), jax.jit(market_env.gym_spread),
            jax.jit(market_env.gym_imbalance, static_argnums=1))


@pytest.mark.parametrize("bids, asks, last", [
    ([], [], 0), ([], [], 10_003), ([(10_000, 5), (9_990, 7)], [], 0), ([], [(10_010, 5)], 10_007),
    ([(10_000, 5), (10_000, 3), (9_999, 2), (9_998, 1), (9_990, 4), (9_980, 6), (9_970, 8), (9_960, 9)],
     [(10_010, 5), (10_011, 1), (10_011, 2), (10_030, 50)], 10_004),
])
def test_gym_features_on_hand_built_books(env_book, features, bids, asks, last):
    """Mid, spread and imbalance (top 3, top 5, whole book; 0.5 empty, 0 / 1 one-sided)."""
    _mid, _spread, _imb = features
    book = env_book(bids, asks, last)
    assert float(_mid(book, jnp.float32(100_000.0))) == np_mid(book, 100_000.0)
    assert float(_spread(book)) == np_spread(book)
    for depth in (3, 5, None):
        assert float(_imb(book, depth)) == pytest.approx(np_imbalance(book, depth), rel=1e-6)
    if not bids:
        assert float(_imb(book, None)) == (0.5 if not asks else 0.0)
    elif not asks:
        assert float(_imb(book, 5)) == 1.0
    if len(bids) > 5:  # the top-5 levels aggregate two orders at 10_000: 8 + 2 + 1 + 4 + 6 bid shares
        assert np_imbalance(book, 5) == 21 / (21 + 58)


def check_exe_obs(obs, state, params):
    """The observation from numpy on the state's book; the mids are kept relative to the entry tick."""
    book, r_bar = state.market.book, params.r_bar
    mid = np_mid(book, r_bar)
    entry = int(state.entry_tick) + float(state.entry_half)
    assert float(state.mids[-1]) == mid - int(state.entry_tick)
    done = int(state.done_qty) / params.parent_size
    elapsed = int(state.time) * params.step_ms / params.window_ms
    impact = np.log(mid / entry) * (1 if params.direction == lob.BID else -1)
    want = [done, elapsed, done - elapsed, np_imbalance(book), np_imbalance(book, 5), impact, np_spread(book),
            mid - np_last(book, r_bar), *np.diff(np.asarray(state.mids, np.float64))]
    np.testing.assert_allclose(np.asarray(obs, np.float64), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("direction", [lob.BID, lob.ASK])
def test_execution_observation_matches_numpy(exe_step, exe_warm, direction):
    params = LONG.replace(direction=direction, parent_size=5000)  # not done within the test
    state = exe_warm
    rng = np.random.default_rng(direction)
    seen_two_sided = seen_done = 0
    for t in range(12):
        prev = state
        obs, state, reward, terminated, _, _ = exe_step(50 + t, state, int(rng.integers(0, 3)), params)
        assert not bool(terminated)
        check_exe_obs(obs, state, params)
        np.testing.assert_array_equal(np.asarray(state.mids[:-1]), np.asarray(prev.mids[1:]))
        seen_two_sided += int(np_spread(state.market.book) > 0)
        seen_done += int(state.done_qty) > 0
    assert seen_two_sided > 6 and seen_done > 0


def test_daily_investor_observation_matches_numpy(di_step, di_warm):
    state, params = di_warm, DI_PARAMS
    rng = np.random.default_rng(3)
    for t in range(10):
        prev = state
        obs, state, *_ = di_step(70 + t, state, int(rng.integers(0, 3)), params)
        book = state.market.book
        mid = np_mid(book, params.r_bar)
        assert float(state.mids[-1]) == mid - int(state.ref)  # mids relative to the episode's reference tick
        np.testing.assert_array_equal(np.asarray(state.mids[:-1]), np.asarray(prev.mids[1:]))
        want = [int(state.holdings), np_imbalance(book, 3), np_spread(book), mid - np_last(book, params.r_bar),
                *np.diff(np.asarray(state.mids, np.float64))]
        np.testing.assert_allclose(np.asarray(obs, np.float64), want, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- Execution rewards

ASKS = [(10_010, 30), (10_010, 40), (10_020, 50), (10_030, 500)]
BIDS = [(10_000, 120), (9_990, 100), (9_980, 40)]


@pytest.mark.parametrize("direction, bids, asks", [
    (lob.BID, BIDS, ASKS),  # sweeps three price levels
    (lob.BID, BIDS, [(10_010, 30), (10_015, 20)]),  # only 50 shares on offer
    (lob.ASK, BIDS, ASKS),
    (lob.ASK, [(10_000, 20)], ASKS),
])
def test_execution_market_order_reward(exe_step, env_book, exe_warm, direction, bids, asks):
    """reward = (entry * filled - notional) / parent for a buy, mirrored for a sell."""
    state, params = quiet(with_book(exe_warm, env_book(bids, asks)), LONG.replace(direction=direction))
    filled, notional = np_sweep(state.market.book, direction, params.order_size)
    _, new, reward, terminated, _, info = exe_step(7, state, MARKET_ORDER, params)
    edge = ENTRY * filled - notional if direction == lob.BID else notional - ENTRY * filled
    assert not bool(terminated) and int(new.done_qty) == int(info["done_qty"]) == filled
    assert float(reward) == pytest.approx(edge / params.parent_size, rel=1e-6)
    assert float(new.cost) == pytest.approx(edge, rel=1e-6)
    assert int(new.n_market_orders) == 1 and int(new.order_id) == lob.EMPTY_ID
    opposite = np_levels(new.market.book, 1 - direction)
    assert sum(q for _, q in opposite) == sum(q for _, q in (asks if direction == lob.BID else bids)) - filled


def test_execution_underfill_penalty_when_the_window_ends(exe_step, exe_warm):
    """One step (window 60 s), nothing done: -underfill_penalty * parent / parent = -100."""
    params = EXE_PARAMS.replace(window_s=60.0)
    _, _, reward, terminated, _, info = exe_step(3, exe_warm, WAIT, params)
    assert bool(terminated) and int(info["done_qty"]) == 0 and float(reward) == -100.0


@pytest.mark.parametrize("direction, parent, book_side, penalty", [
    (lob.ASK, 200, BIDS, 0.0),  # a sale of exactly the parent: no penalty (ABIDES charged 2 * parent)
    (lob.ASK, 200, [(10_000, 100), (9_990, 50)], 70.0 * 50),  # 150 sold: 50 short
    (lob.BID, 150, ASKS, 30.0 * 50),  # 200 bought: 50 over
    (lob.BID, 200, ASKS, 0.0),
])
def test_execution_end_of_episode_penalty(exe_step, env_book, exe_warm, direction, parent, book_side, penalty):
    params = EXE_PARAMS.replace(window_s=60.0, direction=direction, parent_size=parent, underfill_penalty=70.0,
                                overfill_penalty=30.0)
    book = env_book(book_side, []) if direction == lob.ASK else env_book([], book_side)
    state, params = quiet(with_book(exe_warm, book), params)
    filled, notional = np_sweep(book, direction, params.order_size)
    _, _, reward, terminated, _, info = exe_step(4, state, MARKET_ORDER, params)
    edge = ENTRY * filled - notional if direction == lob.BID else notional - ENTRY * filled
    assert bool(terminated) and int(info["done_qty"]) == filled
    assert float(reward) == pytest.approx((edge - penalty) / parent, rel=1e-6)


def test_execution_crossing_limit_order_costs_its_fill_prices(exe_step, env_book, exe_warm):
    """No bid and a last trade above the best ask: the limit buy at the last trade crosses."""
    book = env_book([], [(10_010, 50), (10_020, 300)], last_trade=10_015)
    state, params = quiet(with_book(exe_warm, book), LONG)
    _, new, reward, _, _, _ = exe_step(5, state, LIMIT_ORDER, params)
    assert int(new.done_qty) == 50 and int(new.order_price) == 10_015 and int(new.order_qty) == 150
    assert float(reward) == pytest.approx((ENTRY - 10_010) * 50 / params.parent_size, rel=1e-6)


# ---------------------------------------------------------------- Execution: the agent's limit order

def test_execution_limit_order_rests_at_the_near_touch(exe_step, env_book, exe_warm):
    bids, asks = [(10_000, 30), (10_000, 20), (9_990, 40)], [(10_010, 100), (10_020, 60)]
    for direction, price, ahead in ((lob.BID, 10_000, [OTHER_IDS, OTHER_IDS + 1]), (lob.ASK, 10_010, [OTHER_IDS + 3])):
        state, params = quiet(with_book(exe_warm, env_book(bids, asks)), LONG.replace(direction=direction))
        _, new, reward, _, _, _ = exe_step(6, state, LIMIT_ORDER, params)
        oid = int(state.market.next_id)
        assert (int(new.order_id), int(new.order_price), int(new.order_qty)) == (oid, price, params.order_size)
        assert level_ids(new.market.book, direction, price) == ahead + [oid]
        resting = [o for o in side_orders(new.market.book, direction) if o[2] == oid]
        assert resting == [(price, params.order_size, oid, CFG.agent_owner)]
        assert int(new.n_limit_orders) == 1 and int(new.done_qty) == 0 and float(reward) == 0.0
    # an empty near side and no trade yet: the price is the entry tick (the entry mid's floor)
    state, params = quiet(with_book(exe_warm, env_book([], asks), entry=10_004.5), LONG)
    new = exe_step(6, state, LIMIT_ORDER, params)[1]
    assert side_orders(new.market.book, lob.BID) == [(10_004, 200, int(state.market.next_id), CFG.agent_owner)]


def sellers(state, params):
    """Value agents that sell at the bid: their fundamental is far below the book's prices."""
    below = jnp.float32(5_000.0 - int(state.market.ref))  # deviations from the reference tick
    market = state.market.replace(fundamental_dev=below,
                                  value_estimate=jnp.full_like(state.market.value_estimate, below))
    return state.replace(market=market), params.replace(value_interval_s=240.0, value_aggressive=1.0, value_kappa=1e-30)


@pytest.fixture(scope="module")
def resting(exe_step, env_book, exe_warm):
    """The agent's buy order resting at 10_000 behind two others (ids OTHER_IDS, OTHER_IDS + 1)."""
    book = env_book([(10_000, 30), (10_000, 20), (9_990, 40)], [(10_010, 400), (10_020, 600)])
    state, params = quiet(with_book(exe_warm, book), LONG)
    return exe_step(8, state, LIMIT_ORDER, params)[1], params


def test_execution_passive_fills_are_what_left_the_book(exe_step, add_orders, resting):
    """Each step: done_qty grows by the agent's quantity that left the book (not evicted), at the
    order's price (not the touch: a better bid is put ahead of it every step); the orders ahead of
    it fill first."""
    state, params = sellers(*resting)
    oid, total, ahead_filled = int(state.order_id), 0, 0
    for t in range(6):
        ahead = OTHER_IDS + 100 + t
        asks = side_orders(state.market.book, lob.ASK)
        if not asks or asks[0][0] > 10_001:  # (sellers' remainders may rest as low asks)
            state = state.replace(market=state.market.replace(
                book=add_orders(state.market.book, lob.BID, [(10_001, 10)], ahead)))
        _, new, reward, _, _, info = exe_step(20 + t, state, WAIT, params)
        before, after = np_resting(state.market.book, oid), np_resting(new.market.book, oid)
        evicted = int(new.market.agent_evicted) - int(state.market.agent_evicted)
        passive = before - after - evicted
        assert int(new.done_qty) - int(state.done_qty) == passive
        assert float(new.cost) - float(state.cost) == pytest.approx((ENTRY - 10_000) * passive, abs=1e-3)
        assert float(reward) == pytest.approx((ENTRY - 10_000) * passive / params.parent_size, abs=1e-6)
        if passive:
            assert sum(np_resting(new.market.book, i) for i in (OTHER_IDS, OTHER_IDS + 1, ahead)) == 0
            ahead_filled += np_resting(state.market.book, ahead) > 0
        assert int(new.order_id) == (oid if after else lob.EMPTY_ID) and int(new.order_qty) == after
        total += passive
        state = new
    assert 0 < total == int(state.done_qty) and ahead_filled > 0


def test_wait_keeps_the_queue_position(exe_step, add_orders, resting):
    """WAIT leaves the order (id, place among same-price orders); LIMIT re-queues it at the back."""
    state, params = resting
    oid = int(state.order_id)
    a, b, c, d = OTHER_IDS, OTHER_IDS + 1, OTHER_IDS + 50, OTHER_IDS + 51
    state = state.replace(market=state.market.replace(
        book=add_orders(state.market.book, lob.BID, [(10_000, 15), (10_000, 25)], c)))
    assert level_ids(state.market.book, lob.BID, 10_000) == [a, b, oid, c, d]
    waited = exe_step(30, state, WAIT, params)[1]
    assert int(waited.order_id) == oid and level_ids(waited.market.book, lob.BID, 10_000) == [a, b, oid, c, d]
    again = exe_step(30, state, LIMIT_ORDER, params)[1]
    new_id = int(state.market.next_id)
    assert int(again.order_id) == new_id and level_ids(again.market.book, lob.BID, 10_000) == [a, b, c, d, new_id]
    # with sellers trading: the survivors keep their order, the agent's id stays while it rests
    state, params = sellers(state, params)
    order = [a, b, oid, c, d]
    for t in range(4):
        state = exe_step(40 + t, state, WAIT, params)[1]
        ids = level_ids(state.market.book, lob.BID, 10_000)
        assert [i for i in ids if i in order] == [i for i in order if i in ids]
        assert int(state.order_id) == (oid if oid in ids else lob.EMPTY_ID)


# ---------------------------------------------------------------- DailyInvestor

@pytest.mark.parametrize("action, bids, asks", [
    (BUY, BIDS, ASKS), (BUY, BIDS, [(10_010, 30), (10_015, 20)]), (SELL, BIDS, ASKS), (SELL, [(10_000, 20)], ASKS),
])
def test_daily_investor_trade_moves_holdings_and_cash_exactly(di_step, env_book, di_warm, action, bids, asks):
    """Holdings move by the fill; the value (starting cash + pnl) by holdings * mark change minus the
    fills' cost against the mark, i.e. the cash moves by the notional (integer arithmetic here)."""
    book = env_book(bids, asks, last_trade=10_003)
    state, params = quiet(with_book(di_warm, book), DI_PARAMS.replace(order_size=150))
    state = state.replace(mark=jnp.int32(10_003))
    side = lob.BID if action == BUY else lob.ASK
    filled, notional = np_sweep(state.market.book, side, 150)
    new = di_step(9, state, action, params)[1]
    sign = 1 if action == BUY else -1
    assert int(new.holdings) - int(state.holdings) == sign * filled
    cash = params.starting_cash - sign * notional  # di_warm holds nothing: the cash was the starting cash
    value = cash + int(new.holdings) * np_last(new.market.book, round(params.r_bar))
    assert float(new.pnl) == value - params.starting_cash
    assert float(dic.cash(new, params)) == cash
    assert int(new.n_trades) == int(state.n_trades) + 1


def test_daily_investor_dense_reward(di_step, di_warm):
    """reward = (value_t - value_{t-1}) / order_size / 390, value = cash + holdings * last trade, with
    the cash tracked here from the numpy sweeps."""
    state, params = di_warm, DI_PARAMS
    rng = np.random.default_rng(4)
    rewards = []
    cash, holdings = params.starting_cash, 0
    previous = cash
    for t in range(12):
        action = int(rng.choice([BUY, BUY, HOLD, SELL]))
        side = lob.BID if action == BUY else lob.ASK
        filled, notional = np_sweep(state.market.book, side, params.order_size) if action != HOLD else (0, 0)
        _, new, reward, terminated, _, info = di_step(90 + t, state, action, params)
        sign = 1 if action == BUY else -1
        cash, holdings = cash - sign * notional, holdings + sign * filled
        assert int(new.holdings) == holdings
        value = cash + holdings * np_last(new.market.book, round(params.r_bar))
        assert float(new.pnl) == float(info["pnl"]) == value - params.starting_cash and not bool(terminated)
        assert float(reward) == pytest.approx((value - previous) / (params.order_size * 390), rel=1e-6)
        rewards.append(float(reward))
        state, previous = new, value
    assert int(state.holdings) != 0 and any(r != 0 for r in rewards)


def test_daily_investor_sparse_reward_and_auto_reset(di_step, di_warm):
    """0 until the close; then (value - starting cash) / order_size / 390; the next state is the opening."""
    params = DI_PARAMS.replace(sparse_reward=True)
    state = di_warm
    for t in range(5):
        _, state, reward, terminated, _, _ = di_step(110 + t, state, BUY, params)
        assert float(reward) == 0.0 and not bool(terminated)
    assert int(state.holdings) > 0
    state = state.replace(market=state.market.replace(time_ms=jnp.int32(params.close_ms - 30_000)))
    state, quiet_params = quiet(state, params)
    _, new, reward, terminated, _, info = di_step(120, state, HOLD, quiet_params)
    value = float(dic.cash(state, params)) + int(state.holdings) * np_last(state.market.book, round(params.r_bar))
    assert bool(terminated) and float(info["pnl"]) == value - params.starting_cash  # nothing traded: the value stands
    assert float(reward) == pytest.approx((value - params.starting_cash) / (params.order_size * 390), rel=1e-6)
    assert_same_state(new.market, state.opening)
    assert (float(new.pnl), int(new.holdings), int(new.time)) == (0.0, 0, 0)


# ---------------------------------------------------------------- invalid actions, auto-reset

@pytest.mark.parametrize("invalid", [7, -1, 3])
def test_invalid_action_is_wait_and_counted(exe_step, di_step, resting, di_warm, invalid):
    state, params = sellers(*resting)  # a resting order, and trading that fills it
    a = exe_step(60, state, invalid, params)
    b = exe_step(60, state, WAIT, params)
    assert_same_state(a[1], b[1], skip=("n_invalid_actions",))
    assert int(a[1].n_invalid_actions) == int(b[1].n_invalid_actions) + 1 == 1
    np.testing.assert_array_equal(np.asarray(a[0]), np.asarray(b[0]))
    assert float(a[2]) == float(b[2])
    a = di_step(61, di_warm, invalid, DI_PARAMS)
    b = di_step(61, di_warm, HOLD, DI_PARAMS)
    assert_same_state(a[1], b[1], skip=("n_invalid_actions",))
    assert int(a[1].n_invalid_actions) == int(b[1].n_invalid_actions) + 1 == 1
    assert float(a[2]) == float(b[2])


def test_execution_auto_reset_restarts_from_the_opening(exe_step, exe_warm):
    params = EXE_PARAMS.replace(window_s=60.0)
    after_one = exe_step(11, exe_warm, MARKET_ORDER, LONG)[1]  # an episode under way
    obs, new, _, terminated, truncated, info = exe_step(12, after_one, MARKET_ORDER, params)
    assert bool(terminated) and not bool(truncated)
    assert_same_state(new.market, after_one.opening)
    assert_same_state(new.opening, after_one.opening)
    assert (int(new.time), int(new.done_qty), float(new.cost), int(new.order_id)) == (0, 0, 0.0, lob.EMPTY_ID)
    assert int(new.entry_tick) + float(new.entry_half) == np_mid(after_one.opening.book, params.r_bar)
    check_exe_obs(obs, new, params)
    assert float(info["final_observation"][exe.OBS_DONE]) == pytest.approx(int(info["done_qty"]) / params.parent_size, rel=1e-6)
    assert int(info["done_qty"]) > 0


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("env_id, overrides, pattern", [
    ("jaxmarket/Execution-v0", dict(n_value=-1), r"^n_value = -1 "),
    ("jaxmarket/Execution-v0", dict(parent_size=0), r"^parent_size = 0 "),
    ("jaxmarket/Execution-v0", dict(direction=2), r"^direction = 2 "),
    ("jaxmarket/Execution-v0", dict(step_s=0.0005), r"^step_s = 0.0005 .*milliseconds"),
    ("jaxmarket/Execution-v0", dict(window_s=1e6), r"^window_s = 1000000.0 .*close_s - open_s - first_interval_s"),
    ("jaxmarket/Execution-v0", dict(order_size=2**29 + 1), r"^order_size = 536870913 "),
    ("jaxmarket/Execution-v0", dict(bogus_field=3), r"bogus_field"),
    ("jaxmarket/DailyInvestor-v0", dict(n_value=-1), r"^n_value = -1 "),
    ("jaxmarket/DailyInvestor-v0", dict(step_s=-60.0), r"^step_s = -60.0 "),
    ("jaxmarket/DailyInvestor-v0", dict(order_size=0), r"^order_size = 0 "),
    ("jaxmarket/DailyInvestor-v0", dict(first_interval_s=23_400.0), r"^first_interval_s = 23400.0 .*close_s - open_s"),
    ("jaxmarket/DailyInvestor-v0", dict(done_ratio=1.5), r"^done_ratio = 1.5 "),
    ("jaxmarket/DailyInvestor-v0", dict(parent_size=10), r"parent_size"),  # an Execution field
])
def test_bad_input_names_field_and_value(env_id, overrides, pattern):
    with pytest.raises(ValueError, match=pattern):
        jm.make(env_id, **overrides)


def test_params_must_fit_the_advances_fixed_at_construction(exe_env):
    """The env splits a step into ceil(step / mm_period) advances when it is built; parameters passed
    later may not need more (the message names mm_period_s)."""
    env, params = jm.make("jaxmarket/Execution-v0", step_s=120.0)  # 2 advances of 60 s per step
    assert env.step_chunks == 2 and exe_env.step_chunks == 1
    env.check_params(params.replace(step_s=90.0))
    with pytest.raises(ValueError, match=r"^step_s = 120.0 .*\(0.0, 60.0\].*mm_period_s"):
        exe_env.check_params(EXE_PARAMS.replace(step_s=120.0))
    with pytest.raises(ValueError, match=r"^step_s = 120.0 .*\(0.0, 60.0\].*mm_period_s"):
        env.check_params(params.replace(mm_period_s=30.0, step_s=120.0, first_interval_s=30.0))


# ---------------------------------------------------------------- baselines

def test_twap_is_behind_the_even_schedule(exe_step, exe_warm):
    act = exe_baselines.twap()
    for window, parent in ((600.0, 1000), (180.0, 1000)):
        params = EXE_PARAMS.replace(window_s=window, parent_size=parent)
        steps = params.max_steps_in_episode
        for t in range(steps):
            for done in range(0, parent + 1, 1 if steps == 3 else 25):
                s = exe_warm.replace(time=jnp.int32(t), done_qty=jnp.int32(done))
                want = MARKET_ORDER if done * steps < parent * (t + 1) else WAIT
                assert int(act(None, None, s, params)) == want, (window, t, done)
    # in a rollout: market orders exactly when behind
    state, params = exe_warm, LONG
    sent = 0
    for t in range(10):
        action = int(act(None, None, state, params))
        assert action == (MARKET_ORDER if int(state.done_qty) * 50 < 1000 * (int(state.time) + 1) else WAIT)
        state = exe_step(130 + t, state, action, params)[1]
        sent += action == MARKET_ORDER
        assert int(state.n_market_orders) == sent
    assert 0 < sent < 10


def test_always_passive_waits_while_at_the_touch(exe_step, add_orders, exe_warm, resting):
    act = exe_baselines.always_passive()
    assert int(act(None, None, exe_warm, LONG)) == LIMIT_ORDER  # no order yet
    state, params = resting
    assert int(act(None, None, state, params)) == WAIT  # resting at the best bid, 10_000
    state = exe_step(140, state, WAIT, params)[1]
    assert int(act(None, None, state, params)) == WAIT
    better = state.replace(market=state.market.replace(
        book=add_orders(state.market.book, lob.BID, [(10_001, 5)], OTHER_IDS + 60)))
    assert int(act(None, None, better, params)) == LIMIT_ORDER  # the touch moved away
    assert int(act(None, None, state.replace(order_id=jnp.int32(lob.EMPTY_ID)), params)) == LIMIT_ORDER
    sell = params.replace(direction=lob.ASK)  # the touch of a sell is the best ask, 10_010
    assert int(act(None, None, state, sell)) == LIMIT_ORDER
    assert int(act(None, None, state.replace(order_price=jnp.int32(10_010)), sell)) == WAIT


# ---------------------------------------------------------------- rollouts

def test_random_rollouts_stay_finite(exe_env, di_env, exe_step, di_step):
    """From the open (an empty book), Execution through two auto-resets, invalid actions mixed in."""
    rng = np.random.default_rng(5)
    cases = ((exe_env, exe_step, EXE_PARAMS, [0, 1, 2, 2, 5]), (di_env, di_step, DI_PARAMS, [0, 1, 2, -3]))
    for env, step, params, actions in cases:
        state = env.start_episode(background.init(jax.random.key(9), CFG, params), params)
        for t in range(25):
            obs, state, reward, *_ = step(200 + t, state, int(rng.choice(actions)), params)
            assert np.all(np.isfinite(np.asarray(obs))) and np.isfinite(float(reward)), (env.name, t)
            assert np.all(np.isfinite(np.asarray(state.mids)))
            if env is exe_env:
                assert np.isfinite(float(state.cost)) and np.isfinite(float(state.entry_price))


# ---------------------------------------------------------------- the largest price level

def test_execution_on_a_market_at_the_largest_price_level(exe_step, exe_env):
    """The background market at r_bar = R_BAR_MAX = 2**29 cents (float32's step there is 64 cents):
    prices stay near it, and the cost (limit orders filled passively by the background, market
    orders) matches the exact recomputation from the books: each passive fill is what left the
    agent's order, at its price; each market order the sweep of the book before it."""
    r = background.R_BAR_MAX
    params = LONG.replace(r_bar=float(r), window_s=1200.0, parent_size=100_000)
    exe_env.check_params(params)
    state = warm(exe_env, exe_step, params, 3, 11)
    owner = CFG.agent_owner
    entry = Fraction(2 * int(state.entry_tick) + int(2 * float(state.entry_half)), 2)
    assert entry == Fraction(int(2 * np_mid(state.market.book, r)), 2) and abs(entry - r) < 20_000
    cost, done, passive_total = Fraction(0), 0, 0
    for t, action in enumerate([LIMIT_ORDER, WAIT, WAIT, LIMIT_ORDER, WAIT, MARKET_ORDER, LIMIT_ORDER, WAIT]):
        book = state.market.book
        if action == MARKET_ORDER:
            filled, notional = np_sweep(book, lob.BID, params.order_size)  # the agent's own bid is not swept
            cost += entry * filled - notional
            done += filled
        _, new, _, terminated, _, _ = exe_step(300 + t, state, action, params)
        assert not bool(terminated)
        mine = [o for o in side_orders(book, lob.BID) if o[3] == owner]
        if action == LIMIT_ORDER:
            assert int(new.order_price) == max(p for p, _, _, o in side_orders(book, lob.BID) if o != owner)
        # the agent's order before the background traded: all of a new limit order (a near-touch
        # limit does not cross a two-sided book), or what rested at the start of a WAIT
        resting = sum(q for _, q, _, _ in mine)
        before = params.order_size if action == LIMIT_ORDER else (resting if action == WAIT else 0)
        after = sum(q for _, q, _, o in side_orders(new.market.book, lob.BID) if o == owner)
        passive = before - after - (int(new.market.agent_evicted) - int(state.market.agent_evicted))
        cost += (entry - int(new.order_price)) * passive
        done += passive
        passive_total += passive
        assert int(new.done_qty) == done and float(new.cost) == cost, t
        state = new
    assert passive_total > 0 and done > passive_total  # both kinds of fill happened
