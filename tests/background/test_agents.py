"""The background agents' rules (``jaxmarket.background.agents``), order sizes, the fundamental, the noise wake
times and the market configuration checks, each against its documented definition."""

from __future__ import annotations

import math
from types import SimpleNamespace
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from jaxmarket import lob
from jaxmarket.background import agents, fundamental, order_size
from jaxmarket import background
from jaxmarket.background import MarketConfig, MarketParams, noise_wake_times

CAP = 16


@pytest.fixture(scope="module")
def rules():
    """The rules under test, jitted once for this module."""
    return SimpleNamespace(
        apply=jax.jit(lob.apply),
        noise=jax.jit(agents.noise_order),
        estimate=jax.jit(agents.value_estimate),
        value_order=jax.jit(agents.value_order),
        record=jax.jit(agents.momentum_record),
        signal=jax.jit(agents.momentum_signal, static_argnums=2),
        plan=jax.jit(agents.maker_plan, static_argnums=4),
        maker_order=jax.jit(agents.maker_order),
        sizes=jax.jit(jax.vmap(order_size.order_size, (0, 0, None)), static_argnums=2),
        ou=jax.jit(fundamental.ou_transition),
        shock=jax.jit(jax.vmap(fundamental.megashock, (None, None, None, None, 0, 0))),
        wake=jax.jit(noise_wake_times, static_argnums=1),
    )


def build(rules, bids=(), asks=(), first_id=1000):
    """A book from resting limit orders ``(price, qty)``, bids then asks, ids from ``first_id``."""
    book = lob.empty(CAP)
    oid = first_id
    for side, orders in ((lob.BID, bids), (lob.ASK, asks)):
        for price, qty in orders:
            book, res = rules.apply(book, lob.limit(side, price, qty, oid, owner=oid % 7))
            assert int(res.status) == lob.OK and int(res.filled) == 0
            oid += 1
    return book


def msg_tuple(msg):
    return tuple(int(getattr(msg, f)) for f in ("kind", "side", "price", "qty", "order_id", "new_order_id", "owner"))


# ---------------------------------------------------------------- noise agents

TWO_SIDED = dict(bids=[(99_990, 10), (99_980, 5)], asks=[(100_010, 7), (100_030, 9)])


@pytest.mark.parametrize("buy_u, side, price", [(0.0, lob.BID, 100_010), (0.49, lob.BID, 100_010),
                                                 (0.5, lob.ASK, 99_990), (0.99, lob.ASK, 99_990)])
def test_noise_order_trades_at_the_opposite_touch(rules, buy_u, side, price):
    book = build(rules, **TWO_SIDED)
    msg, send = rules.noise(book, jnp.float32(buy_u), jnp.int32(33), jnp.int32(5), jnp.int32(3))
    assert bool(send)
    assert msg_tuple(msg) == (lob.LIMIT, side, price, 33, 5, 0, 3)
    _, res = rules.apply(book, msg)  # it does trade at once
    assert int(res.filled) == min(33, 7 if side == lob.BID else 10)


@pytest.mark.parametrize("bids, asks, buy_sent, sell_sent", [
    ([(99_990, 10)], [], False, True),
    ([], [(100_010, 7)], True, False),
    ([], [], False, False),
])
def test_noise_order_not_sent_when_the_needed_side_is_empty(rules, bids, asks, buy_sent, sell_sent):
    book = build(rules, bids, asks)
    _, buy = rules.noise(book, jnp.float32(0.1), jnp.int32(10), jnp.int32(5), jnp.int32(3))
    _, sell = rules.noise(book, jnp.float32(0.9), jnp.int32(10), jnp.int32(5), jnp.int32(3))
    assert (bool(buy), bool(sell)) == (buy_sent, sell_sent)


# ---------------------------------------------------------------- value agents: the estimate

def np_value_estimate(estimate, variance, elapsed, to_close, obs, r_bar, kappa, sigma_s, obs_var):
    """The docstring's formulas in float64: ``a = (1 - kappa)^elapsed``, precision-weighted mean."""
    keep = np.log1p(-kappa)  # log(1 - kappa), accurate for tiny kappa
    a = np.exp(elapsed * keep)
    prior = (1 - a) * r_bar + a * estimate
    prior_var = a**2 * variance + (1 - a**2) / (kappa * (2 - kappa)) * sigma_s  # 1 - (1-k)^2 = k (2 - k)
    post_var = 1.0 / (1.0 / obs_var + 1.0 / prior_var)
    post = post_var * (prior / prior_var + obs / obs_var)
    a_close = np.exp(np.maximum(to_close, 0.0) * keep)
    return post, post_var, (1 - a_close) * r_bar + a_close * post


def test_value_estimate_matches_float64_formulas(rules):
    """Random inputs where prior and observation weigh comparably (the weight is not ~0 or ~1)."""
    rng = np.random.default_rng(0)
    n = 4000
    log_uniform = lambda lo, hi: np.exp(rng.uniform(np.log(lo), np.log(hi), n))  # noqa: E731
    args = dict(
        estimate=rng.uniform(90_000, 110_000, n), variance=rng.uniform(0, 5_000, n),
        elapsed=log_uniform(1e6, 1e13), to_close=rng.uniform(-1e12, 3e13, n),
        obs=rng.uniform(90_000, 110_000, n), r_bar=rng.uniform(95_000, 105_000, n),
        kappa=log_uniform(1e-16, 1e-11), sigma_s=log_uniform(1e-11, 1e-7), obs_var=log_uniform(100, 5_000),
    )
    want = np_value_estimate(**args)
    got = rules.estimate(*(jnp.asarray(v, jnp.float32) for v in args.values()))
    weight = (want[0] - args["estimate"]) / (args["obs"] - args["estimate"])
    assert np.mean((weight > 0.05) & (weight < 0.95)) > 0.2  # the inputs do exercise the averaging
    for g, w, name in zip(got, want, ("estimate", "variance", "forecast")):
        np.testing.assert_allclose(np.asarray(g, np.float64), w, rtol=2e-5 if name == "variance" else 2e-6,
                                   err_msg=name)


def test_value_estimate_limits(rules):
    """Huge prior variance: the estimate is the observation; the forecast reverts to r_bar over the
    time to the close (none at 0 or a negative time, all of it when kappa * to_close is large)."""
    f = lambda var, elapsed, to_close, kappa: [float(x) for x in rules.estimate(  # noqa: E731
        jnp.float32(95_000), jnp.float32(var), jnp.float32(elapsed), jnp.float32(to_close), jnp.float32(101_234),
        jnp.float32(100_000), jnp.float32(kappa), jnp.float32(100_000), jnp.float32(1000))]
    est, var, forecast = f(1e12, 0.0, 0.0, 1.67e-15)
    assert abs(est - 101_234) < 0.05 and var == pytest.approx(1000, rel=1e-6) and forecast == est
    est, var, forecast = f(0.0, 1e11, -5e9, 1.67e-15)  # default sigma_s: prior variance ~1.7e16
    assert abs(est - 101_234) < 0.05 and forecast == est
    est, _, forecast = f(0.0, 1e11, 1e14, 1e-12)  # kappa * to_close = 100: all the way to r_bar
    assert abs(forecast - 100_000) < 0.05
    est, _, forecast = f(0.0, 1e11, math.log(2) / 1e-12, 1e-12)  # half-life: half-way
    assert forecast == pytest.approx(100_000 + (est - 100_000) / 2, abs=0.05)
    est, var, _ = f(0.0, 0.0, 0.0, 1e-12)  # no time elapsed, exact prior: the prior stays
    assert est == 95_000 and var == 0


# ---------------------------------------------------------------- value agents: the order

def value_msg(rules, book, forecast, aggressive_u=0.5, adjust_u=0.0, side_u=0.0, aggressive=0.1, depth=2.0):
    msg, send = rules.value_order(book, jnp.float32(forecast), jnp.float32(aggressive_u), jnp.float32(adjust_u),
                             jnp.float32(side_u), jnp.float32(aggressive), jnp.float32(depth), jnp.int32(25),
                             jnp.int32(77), jnp.int32(4))
    assert bool(send)
    kind, side, price, qty, order_id, _, owner = msg_tuple(msg)
    assert (kind, qty, order_id, owner) == (lob.LIMIT, 25, 77, 4)
    return side, price


@pytest.mark.parametrize("forecast, side", [
    (99_999.0, lob.ASK), (99_999.4, lob.ASK), (99_998.5, lob.ASK),  # rounds to 99_998 (half to even)
    (100_000.0, lob.BID), (99_999.5, lob.BID), (100_500.0, lob.BID), (50_000.0, lob.ASK),
])
def test_value_order_side_against_floor_mid(rules, forecast, side):
    """bid 99_990, ask 100_011: mid = floor(200_001 / 2) = 100_000; a tie buys."""
    book = build(rules, [(99_990, 5)], [(100_011, 5)])
    assert round(forecast) < 100_000 if side == lob.ASK else round(forecast) >= 100_000  # the test's own premise
    for aggressive_u in (0.0, 0.5):
        assert value_msg(rules, book, forecast, aggressive_u=aggressive_u, adjust_u=0.0)[0] == side


def test_value_order_aggressive_goes_to_the_opposite_touch(rules):
    book = build(rules, **TWO_SIDED)  # bid 99_990, ask 100_010, spread 20
    for adjust_u in (0.0, 0.5, 0.99):
        assert value_msg(rules, book, 101_000, aggressive_u=0.09, adjust_u=adjust_u) == (lob.BID, 100_010)
        assert value_msg(rules, book, 99_000, aggressive_u=0.09, adjust_u=adjust_u) == (lob.ASK, 99_990)
        # aggressive_u >= aggressive: backs off
        backed_off = value_msg(rules, book, 101_000, aggressive_u=0.1, adjust_u=adjust_u)[1]
        assert backed_off == 100_010 - math.floor(adjust_u * 40)
    assert value_msg(rules, book, 101_000, aggressive_u=0.5, adjust_u=0.9, aggressive=1.0) == (lob.BID, 100_010)


def test_value_order_adjust_range(rules):
    """adjust is uniform on {0, ..., floor(depth * spread) - 1}: both ends reachable, never beyond."""
    book = build(rules, **TWO_SIDED)
    below_one = float(np.nextafter(np.float32(1), np.float32(0)))
    for depth, spread_ticks in ((2.0, 20), (1.5, 20), (0.25, 20), (0.0, 20)):
        top = max(math.floor(depth * spread_ticks) - 1, 0)
        for u, adjust in ((0.0, 0), (1e-7, 0), (below_one, top), (1.0, top)):
            assert value_msg(rules, book, 101_000, adjust_u=u, depth=depth) == (lob.BID, 100_010 - adjust), (depth, u)
            assert value_msg(rules, book, 99_000, adjust_u=u, depth=depth) == (lob.ASK, 99_990 + adjust), (depth, u)
    prices = {value_msg(rules, book, 101_000, adjust_u=u)[1] for u in np.linspace(0, below_one, 400)}
    assert prices == set(range(100_010 - 39, 100_010 + 1))  # all 40 prices, uniform steps


@settings(max_examples=150, deadline=None)
@given(bid=st.integers(1_000, 2_000), spread=st.integers(1, 60), depth=st.integers(0, 12).map(lambda k: k / 4),
       forecast=st.floats(900, 2_100), aggressive_u=st.floats(0, 1, exclude_max=True),
       adjust_u=st.floats(0, 1, exclude_max=True), aggressive=st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_value_order_matches_reference(rules, bid, spread, depth, forecast, aggressive_u, adjust_u, aggressive):
    """Randomized: the docstring rule in plain Python (float32 inputs as the agent sees them)."""
    ask = bid + spread
    book = build(rules, [(bid, 3)], [(ask, 3)])
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    target = round(f32(forecast))
    span = math.floor(depth * spread)  # depth is a multiple of 1/4: exact
    adjust = min(math.floor(np.float32(f32(adjust_u)) * np.float32(span)), max(span - 1, 0))
    if f32(aggressive_u) < f32(aggressive):
        adjust = 0
    buy = target >= (bid + ask) // 2
    want = (lob.BID, ask - adjust) if buy else (lob.ASK, bid + adjust)
    assert value_msg(rules, book, forecast, aggressive_u, adjust_u, 0.3, aggressive, depth) == want


@pytest.mark.parametrize("bids, asks", [([(99_990, 5)], []), ([], [(100_010, 5)]), ([], [])])
def test_value_order_one_sided_book(rules, bids, asks):
    """Price = the rounded forecast, the side a fair coin."""
    book = build(rules, bids, asks)
    assert value_msg(rules, book, 100_123.6, side_u=0.2, aggressive_u=0.0) == (lob.BID, 100_124)
    assert value_msg(rules, book, 100_123.4, side_u=0.7, adjust_u=0.9) == (lob.ASK, 100_123)
    assert value_msg(rules, book, 99_000.5, side_u=0.5) == (lob.ASK, 99_000)


# ---------------------------------------------------------------- momentum agents

def test_momentum_ring_buffer_against_numpy_moving_averages(rules):
    """13 observations through a ring of 5 (short 2); one-sided books in between are skipped."""
    long, short = 5, 2
    rng = np.random.default_rng(1)
    mids, count = jnp.zeros(long, jnp.float32), jnp.int32(0)
    seen = []
    one_sided = [build(rules, [(1_500, 3)], []), build(rules, [], [(1_500, 3)]), build(rules)]
    checked = {True: 0, False: 0}
    for t in range(13):
        bid = int(rng.integers(1_000, 1_100))
        ask = bid + int(rng.integers(1, 6))
        mids, count = rules.record(mids, count, build(rules, [(bid, 1)], [(ask, 1)]))
        seen.append(Fraction(bid + ask, 2))
        skipped_mids, skipped_count = rules.record(mids, count, one_sided[t % 3])
        np.testing.assert_array_equal(np.asarray(skipped_mids), np.asarray(mids))
        assert int(skipped_count) == int(count) == len(seen)
        ready, buy = rules.signal(mids, count, short)
        assert bool(ready) == (len(seen) >= long + 1)
        if len(seen) >= long:
            want = sum(seen[-short:]) / short >= sum(seen[-long:]) / long
            assert bool(buy) == want, (t, seen[-long:])
            checked[want] += 1
    assert checked[True] and checked[False]  # both signals occurred
    # the buffer holds the last `long` mids (in ring order)
    assert sorted(np.asarray(mids).tolist()) == sorted(float(m) for m in seen[-long:])


def test_momentum_signal_ties_buy(rules):
    mids = jnp.full(5, 1000.5, jnp.float32)
    for count in (6, 7, 11):
        assert tuple(map(bool, rules.signal(mids, jnp.int32(count), 2))) == (True, True)
    # newest is slot (count - 1) % long: here slot 0 and slot 4 are the last two
    mids = jnp.asarray([1000.0, 1002, 1002, 1002, 1000], jnp.float32)
    assert tuple(map(bool, rules.signal(mids, jnp.int32(6), 2))) == (True, False)  # short 1000 < long 1001.2
    assert tuple(map(bool, rules.signal(mids, jnp.int32(8), 2))) == (True, True)  # last two: slots 1, 2


# ---------------------------------------------------------------- market makers

def plan(rules, book, spread=50.0, last_mid=float("nan"), volume=(0, 0), levels=3, pov=0.1, min_size=1,
         spacing=5.0, alpha=0.75, skew=4.0, ref=0):
    out = rules.plan(book, jnp.float32(spread), jnp.float32(last_mid), jnp.asarray(volume, jnp.int32), levels,
                jnp.float32(pov), jnp.int32(min_size), jnp.float32(spacing), jnp.float32(alpha), jnp.float32(skew),
                jnp.int32(ref))
    prices, size, spread, mid, quoting = out
    return np.asarray(prices).tolist(), int(size), float(spread), float(mid), bool(quoting)


def ladder(centre, s, levels, spacing):
    tick = max(round(spacing * s), 1)
    bid, ask = centre - math.floor(s / 2), centre + math.ceil(s / 2)
    return [[bid - tick * k for k in range(levels)], [ask + tick * k for k in range(levels)]]


def test_maker_plan_hand_computed_ladder(rules):
    book = build(rules, **TWO_SIDED)  # bid 99_990, ask 100_010
    # s = 0.75 * 20 + 0.25 * 50 = 27.5; skew (2 * 30 / 40 - 1) * 4 = 2; tick round(137.5) = 138
    prices, size, s, mid, quoting = plan(rules, book, volume=(30, 10))
    assert (s, mid, quoting, size) == (27.5, 100_000.0, True, 4)
    assert prices == [[99_989, 99_851, 99_713], [100_016, 100_154, 100_292]] == ladder(100_002, 27.5, 3, 5.0)
    # selling pressure: skew (2 * 1 / 3 - 1) * 4 = -1.33, centre int(99_998.67) = 99_998
    prices, size, s, _, _ = plan(rules, book, volume=(1, 2), pov=0.025, min_size=7)
    assert size == 7 and prices == ladder(99_998, 27.5, 3, 5.0)
    # no volume: centre = mid, size = min_size; odd sum floors the mid; tiny spacing: 1 tick
    book = build(rules, [(99_990, 5)], [(100_011, 5)])
    prices, size, s, mid, _ = plan(rules, book, spread=21.0, volume=(0, 0), min_size=3, spacing=0.01, levels=4)
    assert (s, mid, size) == (21.0, 100_000.0, 3)
    assert prices == [[99_990, 99_989, 99_988, 99_987], [100_011, 100_012, 100_013, 100_014]]
    # size = round(pov * total), half to even: 0.5 * 5 = 2.5 -> 2
    assert plan(rules, book, volume=(4, 1), pov=0.5)[1] == 2


def test_maker_plan_one_sided_book_keeps_the_last_mid_and_spread(rules):
    for bids, asks in (([(99_990, 5)], []), ([], [(100_010, 5)]), ([], [])):
        book = build(rules, bids, asks)
        prices, size, s, mid, quoting = plan(rules, book, spread=12.0, last_mid=100_500.0, volume=(10, 10))
        assert (s, mid, quoting) == (12.0, 100_500.0, True)
        assert prices == ladder(100_500, 12.0, 3, 5.0)
        assert not plan(rules, book, last_mid=float("nan"))[4]  # no mid seen yet: not quoting
    assert plan(rules, build(rules, **TWO_SIDED), last_mid=float("nan"))[4]  # a two-sided book gives a mid


def test_maker_order_replaces_only_a_resting_order(rules):
    book = build(rules, [(99_990, 5)], [(100_010, 5)], first_id=1000)  # ids 1000 (bid), 1001 (ask)
    args = (jnp.int32(2000), jnp.int32(lob.ASK), jnp.int32(100_020), jnp.int32(9), jnp.int32(8))
    assert msg_tuple(rules.maker_order(book, jnp.int32(1001), *args)) == (lob.REPLACE, 0, 100_020, 9, 1001, 2000, 0)
    for old in (1234, lob.EMPTY_ID):  # gone, or never placed (empty slots hold EMPTY_ID too)
        assert msg_tuple(rules.maker_order(book, jnp.int32(old), *args)) == (lob.LIMIT, lob.ASK, 100_020, 9, 2000, 0, 8)
    after, res = rules.apply(book, rules.maker_order(book, jnp.int32(1001), *args))
    assert int(res.status) == lob.OK and int(after.n[lob.ASK]) == 1 and int(after.orders[lob.ASK, 2, 0]) == 2000


# ---------------------------------------------------------------- the price level

BIG = background.R_BAR_MAX  # the largest valid r_bar: prices near 5.4e8 ticks, where float32's step is 64


def shifted(orders, by):
    return [(price + by, qty) for price, qty in orders]


@settings(max_examples=60, deadline=None)
@given(bid=st.integers(1_000, 2_000), spread=st.integers(1, 60), shape=st.sampled_from(["two", "bid", "ask", "empty"]),
       forecast=st.floats(0, 3_000), aggressive_u=st.floats(0, 1, exclude_max=True),
       adjust_u=st.floats(0, 1, exclude_max=True), side_u=st.floats(0, 1, exclude_max=True))
def test_value_order_is_the_same_at_the_largest_price_level(rules, bid, spread, shape, forecast, aggressive_u, adjust_u,
                                                            side_u):
    """Prices shifted by BIG and the forecast given relative to ref = BIG: the order is the small
    level's order shifted by BIG, to the tick (the forecast deviation, not BIG + forecast, is float32)."""
    bids = [(bid, 3)] if shape in ("two", "bid") else []
    asks = [(bid + spread, 3)] if shape in ("two", "ask") else []
    small, big = build(rules, bids, asks), build(rules, shifted(bids, BIG), shifted(asks, BIG))
    args = (jnp.float32(aggressive_u), jnp.float32(adjust_u), jnp.float32(side_u), jnp.float32(0.1), jnp.float32(2.0),
            jnp.int32(25), jnp.int32(77), jnp.int32(4))
    want = msg_tuple(rules.value_order(small, jnp.float32(forecast), *args)[0])
    got = msg_tuple(rules.value_order(big, jnp.float32(forecast), *args, jnp.int32(BIG))[0])
    assert got == (want[0], want[1], want[2] + BIG, *want[3:])


def test_maker_plan_and_momentum_mids_are_the_same_at_the_largest_price_level(rules):
    """The ladder and the recorded mids relative to ref = BIG match the small level's, to the tick."""
    cases = [(dict(bids=[(1_990, 10)], asks=[(2_011, 7)]), 40.0, (30, 10)),  # odd spread: a floored mid
             (dict(bids=[(1_990, 10)], asks=[]), 12.0, (1, 2))]  # one-sided: the last mid (relative) is kept
    for orders, spread, volume in cases:
        small = build(rules, orders["bids"], orders["asks"])
        big = build(rules, shifted(orders["bids"], BIG), shifted(orders["asks"], BIG))
        want = plan(rules, small, spread=spread, last_mid=1_500.0, volume=volume)
        got = plan(rules, big, spread=spread, last_mid=1_500.0, volume=volume, ref=BIG)
        assert got[0] == [[p + BIG for p in side] for side in want[0]] and got[1:] == want[1:]
    mids, count = jnp.zeros(3, jnp.float32), jnp.int32(0)
    for bid, ask in ((1_000, 1_003), (1_001, 1_002), (999, 1_006)):
        mids, count = rules.record(mids, count, build(rules, [(bid + BIG, 1)], [(ask + BIG, 1)]), jnp.int32(BIG))
    assert np.asarray(mids).tolist() == [1_001.5, 1_001.5, 1_002.5] and int(count) == 3


def test_each_random_quantity_of_an_event_has_its_own_column():
    """No column of an event's uniforms or normals feeds two random quantities."""
    uniforms = [background.U_SIZE, background.U_NOISE_SIDE, background.U_VALUE_AGGRESSIVE, background.U_VALUE_ADJUST,
                background.U_VALUE_SIDE, background.U_SHOCK_OCCURS, background.U_SHOCK_SIGN]
    normals = [background.Z_OU, background.Z_SHOCK, background.Z_SIZE, background.Z_OBSERVATION]
    assert sorted(uniforms) == list(range(background.NUM_UNIFORMS))
    assert sorted(normals) == list(range(background.NUM_NORMALS))


# ---------------------------------------------------------------- order sizes

N_SIZES = 200_000


@pytest.fixture(scope="module")
def sizes(rules):
    ku, kn = jax.random.split(jax.random.key(11))
    return np.asarray(rules.sizes(jax.random.uniform(ku, (N_SIZES,)), jax.random.normal(kn, (N_SIZES,)), 100_000))


def lognormal_mass(lo, hi):
    """P(lo <= X < hi) for X ~ lognormal(2.9, 1.2)."""
    cdf = lambda x: stats.norm.cdf((math.log(x) - order_size.LOGNORMAL_MU) / order_size.LOGNORMAL_SIGMA) if x > 0 else 0.0  # noqa: E731
    return cdf(hi) - cdf(lo)


def assert_frequency(hits, n, p, z=4.5):
    se = math.sqrt(p * (1 - p) / n)
    assert abs(hits / n - p) < z * se, (hits / n, p, se)


@pytest.mark.parametrize("lot", [100, 200, 300, 400, 1000])
def test_order_size_component_frequencies(sizes, lot):
    """P(size == lot) = w_lot * P(|0.15 Z| < 0.5) + w_0 * P(lognormal rounds to lot)."""
    w = dict(zip(order_size.MEANS, order_size.WEIGHTS))
    p = w[float(lot)] * (2 * stats.norm.cdf(0.5 / order_size.NORMAL_STD) - 1) + w[0.0] * lognormal_mass(lot - 0.5, lot + 0.5)
    assert_frequency(np.sum(sizes == lot), N_SIZES, p)


def test_order_size_headline_weights(sizes):
    """The brief's numbers: ~0.7 at 100, ~0.06 at 200, ~0.0329 at 400."""
    for lot, p in ((100, 0.7), (200, 0.06), (400, 0.0329)):
        assert abs(np.mean(sizes == lot) - p) < 0.002 + 4.5 * math.sqrt(p * (1 - p) / N_SIZES)


def test_order_size_lognormal_part(sizes):
    """Sizes below 90 are the rounded lognormal(2.9, 1.2) restricted to X < 89.5: the CDF at 16.5
    (near the restricted median) and the median itself match."""
    small = sizes[sizes < 90]
    total = lognormal_mass(0, 89.5)
    assert_frequency(len(small), N_SIZES, order_size.WEIGHTS[0] * total)
    for k in (5, 16, 40):
        assert_frequency(np.sum(small <= k), len(small), lognormal_mass(0, k + 0.5) / total)
    q = stats.norm.ppf(stats.norm.cdf((math.log(89.5) - 2.9) / 1.2) / 2)
    assert abs(np.median(small) - math.exp(2.9 + 1.2 * q)) <= 1.0  # continuous median ~15.8
    assert_frequency(np.sum(sizes == 0), N_SIZES, order_size.WEIGHTS[0] * lognormal_mass(0, 0.5))


def test_order_size_bounds(rules, sizes):
    assert sizes.min() == 0 and sizes.max() <= 100_000 and sizes.dtype == np.int32
    ku, kn = jax.random.split(jax.random.key(12))
    clipped = np.asarray(rules.sizes(jax.random.uniform(ku, (20_000,)), jax.random.normal(kn, (20_000,)), 50))
    assert clipped.min() >= 0 and clipped.max() == 50
    assert np.mean(clipped == 50) > 0.7  # every lot of 100 and up, and the lognormal tail, hits the cap


# ---------------------------------------------------------------- the fundamental

def ou_moments(value, dt, r_bar, kappa, vol):
    return r_bar + (value - r_bar) * math.exp(-kappa * dt), vol**2 * -math.expm1(-2 * kappa * dt) / (2 * kappa)


OU_CASES = [  # value, dt_ns, r_bar, kappa, fund_vol
    (100_000.0, 23_400e9, 100_000.0, 1.67e-16, 5e-5),  # a day at the defaults
    (101_000.0, 1e12, 100_000.0, 1e-12, 1e-4),  # kappa dt = 1
    (90_000.0, 5e12, 100_000.0, 1e-12, 1e-4),  # kappa dt = 5
    (100_500.0, 60e9, 100_000.0, 1.67e-16, 5e-5),  # one minute
]


@pytest.mark.parametrize("case", OU_CASES)
def test_ou_transition_mean_and_variance(rules, case):
    mean, var = ou_moments(*case)
    # affine in the normal: exact mean and standard deviation
    at = lambda z: float(rules.ou(*(jnp.float32(v) for v in case), jnp.float32(z)))  # noqa: E731
    assert at(0.0) == pytest.approx(mean, abs=0.02)
    assert at(1.0) - at(0.0) == pytest.approx(math.sqrt(var), rel=1e-4, abs=0.02)
    # over many draws
    n = 200_000
    z = jax.random.normal(jax.random.key(3), (n,))
    draws = np.asarray(rules.ou(*(jnp.float32(v) for v in case), z), np.float64)
    assert abs(draws.mean() - mean) < 4.5 * math.sqrt(var / n) + 0.02
    assert draws.var() == pytest.approx(var, rel=4.5 * math.sqrt(2 / n))


def test_ou_daily_std_at_defaults():
    """About 5e-5 * sqrt(23_400e9) = 242 cents over 6.5 hours (kappa dt = 0.004 is small)."""
    _, var = ou_moments(*OU_CASES[0])
    assert math.sqrt(var) == pytest.approx(5e-5 * math.sqrt(23_400e9), rel=0.005)
    assert 240 < math.sqrt(var) < 243
    p = MarketParams()
    assert (p.kappa, p.fund_vol) == (1.67e-16, 5e-5)


def test_ou_transition_composes(rules):
    """Exact transitions compose: two steps of dt/2 have the one-step law over dt."""
    value, dt, r_bar, kappa, vol = 101_000.0, 2e12, 100_000.0, 1e-12, 1e-4
    mean, var = ou_moments(value, dt, r_bar, kappa, vol)
    n = 200_000
    z1, z2 = jax.random.normal(jax.random.key(4), (2, n))
    half = [jnp.float32(v) for v in (dt / 2, r_bar, kappa, vol)]
    draws = np.asarray(rules.ou(rules.ou(jnp.float32(value), *half, z1), *half, z2), np.float64)
    assert abs(draws.mean() - mean) < 4.5 * math.sqrt(var / n)
    assert draws.var() == pytest.approx(var, rel=4.5 * math.sqrt(2 / n))


def test_megashock_probability_sign_and_size(rules):
    n = 200_000
    ku, kn = jax.random.split(jax.random.key(5))
    rate, dt, mean, var = 1e-9, 1e9, 1000.0, 50_000.0
    shocks = np.asarray(rules.shock(jnp.float32(dt), jnp.float32(rate), jnp.float32(mean), jnp.float32(var),
                               jax.random.uniform(ku, (n, 2)), jax.random.normal(kn, (n,))), np.float64)
    p = -math.expm1(-rate * dt)  # 0.632
    happened = shocks[shocks != 0]
    assert_frequency(len(happened), n, p)
    assert_frequency(np.sum(happened > 0), len(happened), 0.5)
    size = np.abs(happened)  # N(1000, 50_000) is positive for all practical purposes
    assert abs(size.mean() - mean) < 4.5 * math.sqrt(var / len(size))
    assert size.var() == pytest.approx(var, rel=4.5 * math.sqrt(2 / len(size)))
    none = rules.shock(jnp.float32(60e9), jnp.float32(0.0), jnp.float32(mean), jnp.float32(var),
                  jnp.zeros((10, 2)), jnp.ones(10))
    assert np.all(np.asarray(none) == 0)  # rate 0: never, even with uniforms at 0
    rare = MarketParams().megashock_rate * 60e9  # the docstring's 1.7e-7 per minute
    assert -math.expm1(-rare) == pytest.approx(1.67e-7, rel=0.01)


# ---------------------------------------------------------------- noise wake times

def test_noise_wake_times_u_quadratic(rules):
    """Integer milliseconds, sorted, in [start, end], U-quadratic (CDF checked at several points)."""
    n, start, end = 200_000, 9 * 3_600_000, 16 * 3_600_000
    t = np.asarray(rules.wake(jax.random.key(6), n, jnp.int32(start), jnp.int32(end)))
    assert t.dtype == np.int32 and np.all(np.diff(t) >= 0) and t.min() >= start and t.max() <= end
    t = t.astype(np.float64)
    cdf = lambda x: 4 * ((x - 0.5) ** 3 + 0.125)  # noqa: E731  density 12 (x - 1/2)^2 on [0, 1]
    assert cdf(1 / 14) == pytest.approx(0.185, abs=5e-4)
    assert_frequency(np.sum(t < 9.5 * 3_600_000), n, cdf(1 / 14))  # before the open
    for x in (0.02, 0.3, 0.5, 0.7, 0.95):
        assert_frequency(np.sum(t < start + x * (end - start)), n, cdf(x))
    short = np.asarray(rules.wake(jax.random.key(7), 1000, jnp.int32(5), jnp.int32(8)))  # a 3-ms span
    assert set(short.tolist()) <= {5, 6, 7, 8} and {5, 8} <= set(short.tolist())


# ---------------------------------------------------------------- configuration checks

@pytest.mark.parametrize("cls, overrides, field, shown, names", [
    (MarketConfig, dict(n_value=-1), "n_value", "-1", ()),
    (MarketConfig, dict(n_noise=2.5), "n_noise", "2.5", ()),
    (MarketConfig, dict(capacity=1, mm_levels=1, max_fills=1), "capacity", "1", ()),
    (MarketConfig, dict(mm_levels=200), "mm_levels", "200", ("capacity",)),
    (MarketConfig, dict(capacity=4, max_fills=5), "max_fills", "5", ("capacity",)),
    (MarketConfig, dict(momentum_short=60), "momentum_short", "60", ("momentum_long",)),
    (MarketConfig, dict(full_policy="drop"), "full_policy", "'drop'", ()),
    (MarketConfig, dict(max_arrival_slots=1), "max_arrival_slots", "1", ()),
    (MarketParams, dict(kappa=0.0), "kappa", "0.0", ()),
    (MarketParams, dict(kappa=float("nan")), "kappa", "nan", ()),
    (MarketParams, dict(value_aggressive=1.5), "value_aggressive", "1.5", ()),
    (MarketParams, dict(close_s=30_000.0), "close_s", "30000.0", ("open_s",)),
    (MarketParams, dict(open_s=86_400.0, close_s=86_400.0), "open_s", "86400.0", ()),
    (MarketParams, dict(fund_vol=-1e-5), "fund_vol", "-1e-05", ()),
    (MarketParams, dict(mm_min_size=0), "mm_min_size", "0", ()),
    (MarketParams, dict(r_bar=float(background.R_BAR_MAX) + 1), "r_bar", "536870913.0", ()),
    (MarketParams, dict(noise_wake_start_s=32_400.0, noise_wake_end_s=30_000.0), "noise_wake_end_s", "30000.0",
     ("noise_wake_start_s",)),
    (MarketParams, dict(mm_period_s=0.0005), "mm_period_s", "0.0005", ()),  # not a whole millisecond
    (MarketParams, dict(close_s=50_000.1), "close_s", "50000.1", ()),  # float32 cannot carry the 0.1
])
def test_config_checks_name_field_and_value(cls, overrides, field, shown, names):
    """The message starts with the field and its value, and names the other field of a dependent pair."""
    with pytest.raises(ValueError) as info:
        cls(**overrides).check()
    message = str(info.value)
    assert message.startswith(f"{field} = {shown} ")
    assert all(f"{name} = " in message for name in names), message


def test_defaults_pass_their_checks():
    MarketConfig().check()
    MarketParams().check()
