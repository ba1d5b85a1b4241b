"""The background market's integer clock and its randomness: seconds to milliseconds (exhaustively
where float32 carries every millisecond), exact interval sums, the megashock's law against its
model with megashocks forced on, and late maker refreshes. Small populations (none at all where
the test allows) keep each compile short."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxmarket import background
from jaxmarket.background import clock
from jaxmarket.background import MarketConfig, MarketParams

EMPTY = MarketConfig(n_noise=0, n_value=0, n_momentum=0, n_market_makers=0, max_arrival_slots=2,
                     max_noise_per_advance=1, capacity=4)  # no agent at all: every slot a pad
MAKER_ONLY = MarketConfig(n_noise=0, n_value=0, n_momentum=0, n_market_makers=1, mm_levels=1, max_arrival_slots=2,
                          max_noise_per_advance=1, capacity=4)
OPEN_MS = 34_200_000  # 09:30



@pytest.fixture(scope="module")
def to_ms():
    """``clock.seconds_to_ms`` jitted, once for this module."""
    return jax.jit(clock.seconds_to_ms)


# ---------------------------------------------------------------- seconds to milliseconds

def test_every_millisecond_below_8192_s_survives_float32(to_ms):
    """All 8,192,000 whole-millisecond durations below FLOAT32_EXACT_S, as float32 seconds inside jit,
    convert back to exactly their millisecond (0.1 s is 100 ms, 0.3 s is 300 ms, ...)."""
    ms = np.arange(int(clock.FLOAT32_EXACT_S * 1000), dtype=np.int64)
    got = np.asarray(to_ms(jnp.asarray((ms / 1000.0).astype(np.float32))))
    np.testing.assert_array_equal(got, ms)
    assert clock.seconds_to_ms(0.1) == 100 and clock.seconds_to_ms(1.7) == 1700  # Python: float64


def test_every_eighth_of_a_second_of_the_day_survives_float32(to_ms):
    """Times of day on a 125-ms grid up to 24:00 (exact in float32) convert exactly inside jit."""
    ms = np.arange(0, clock.DAY_MS + 1, 125, dtype=np.int64)
    got = np.asarray(to_ms(jnp.asarray((ms / 1000.0).astype(np.float32))))
    np.testing.assert_array_equal(got, ms)


@settings(max_examples=300, deadline=None)
@given(ms=st.integers(0, clock.DAY_MS))
def test_check_accepts_a_time_exactly_when_float32_carries_it(to_ms, ms):
    """``check_time`` accepts a whole-millisecond time of day iff the traced conversion of its float32
    value gives back the same millisecond (so a checked time is never moved inside jit)."""
    seconds = ms / 1000.0
    traced = int(to_ms(jnp.float32(seconds)))
    try:
        clock.check_time("t", seconds)
        accepted = True
    except ValueError as error:
        assert str(error).startswith(f"t = {seconds!r} is not carried to the millisecond"), error
        accepted = False
    assert accepted == (traced == ms)
    if ms < clock.FLOAT32_EXACT_S * 1000 or ms % 125 == 0:
        assert accepted


def test_check_refuses_a_time_that_is_not_whole_milliseconds():
    with pytest.raises(ValueError, match=r"^t = 0.0005 is not a whole number of milliseconds"):
        clock.check_time("t", 0.0005)
    clock.check_time("t", 0.001)


# ---------------------------------------------------------------- exact intervals

def run_empty(key, duration_ms, params):
    """250 advances of ``duration_ms`` on the empty market: the clock after each."""
    init_key, key = jax.random.split(key)
    state = background.init(init_key, EMPTY, params)

    def body(state, k):
        state = background.advance_ms(k, state, EMPTY, params, duration_ms)
        return state, state.time_ms

    return jax.lax.scan(body, state, jax.random.split(key, 250))[1]


@pytest.fixture(scope="module")
def run_empty_jit():
    return jax.jit(run_empty)


@pytest.mark.parametrize("step", ["0.1", "0.3", "1.7", "0.007", "13.001"])
def test_advances_add_up_exactly(run_empty_jit, step):
    """k advances of a non-binary step end exactly k steps after the open, in integer ms; the
    float32 clock this replaces drifted (34,200 + 0.1 is 34,200.1015625 in float32)."""
    params = MarketParams()
    duration = clock.seconds_to_ms(float(step))
    assert duration == round(float(step) * 1000)
    times = np.asarray(run_empty_jit(jax.random.key(0), jnp.int32(duration), params))
    np.testing.assert_array_equal(times, OPEN_MS + duration * np.arange(1, 251))


def test_advance_converts_a_traced_duration_to_its_millisecond():
    params = MarketParams()
    state = background.init(jax.random.key(1), EMPTY, params)
    run = jax.jit(lambda s, d: background.advance(jax.random.key(2), s, EMPTY, params, d).time_ms)
    for seconds, ms in ((0.1, 100), (0.3, 300), (1.7, 1700), (59.999, 59_999)):
        assert int(run(state, jnp.float32(seconds))) == OPEN_MS + ms


def test_advance_chunks_add_up_and_stop_at_the_close():
    params = MarketParams(close_s=34_200.5)  # a 500-ms session
    state = background.init(jax.random.key(3), EMPTY, params)
    run = jax.jit(lambda s, d: background.advance_chunks(jax.random.key(4), s, EMPTY, params, d, 7).time_ms)
    assert int(run(state, jnp.int32(301))) == OPEN_MS + 301  # 7 pieces of 43 or 42 ms
    assert int(run(state, jnp.int32(10_000))) == OPEN_MS + 500  # nothing after the close
    assert int(run(state, jnp.int32(-5))) == OPEN_MS  # a negative duration is clipped to 0


# ---------------------------------------------------------------- the megashock (one per advance)

N_MARKETS = 4000


def shocks(key, params):
    """The fundamental's move over one 60-s advance from the open, in N_MARKETS independent empty
    markets. With fund_vol = 0 and no events the only move is the end-of-interval megashock."""
    def one(k):
        init_key, step_key = jax.random.split(k)
        state = background.init(init_key, EMPTY, params)
        return background.advance(step_key, state, EMPTY, params, 60.0).fundamental_dev - state.fundamental_dev

    return jax.vmap(one)(jax.random.split(key, N_MARKETS))


@pytest.fixture(scope="module")
def shocks_jit():
    return jax.jit(shocks)


@pytest.mark.parametrize("mean, var", [(0.0, 50_000.0), (1000.0, 50_000.0)])
def test_forced_megashock_has_the_model_law(shocks_jit, mean, var):
    """Megashocks forced on (rate 1 per ns: probability 1 - e^-60e9 = 1 per advance): each move is
    sign * (mean + sqrt(var) z) with a fair sign independent of z, so its mean is 0, its variance
    mean^2 + var, P(move > 0) = 1/2 and E|move| = E|mean + sqrt(var) z|. (With the sign and the size
    drawn from one key, as before, the mean was about +179 cents for mean 0, 50 standard errors off.)"""
    params = MarketParams(megashock_rate=1.0, megashock_mean=mean, megashock_var=var, fund_vol=0.0)
    moves = np.asarray(shocks_jit(jax.random.key(11), params), np.float64)
    n, total_var = N_MARKETS, mean**2 + var
    assert np.all(moves != 0)  # one shock every advance
    assert abs(moves.mean()) < 4.5 * math.sqrt(total_var / n)
    assert abs(np.mean(moves > 0) - 0.5) < 4.5 * math.sqrt(0.25 / n)
    sd = math.sqrt(var)
    abs_mean = (sd * math.sqrt(2 / math.pi) * math.exp(-mean**2 / (2 * var))  # E|mean + sd z|, folded normal
                + mean * math.erf(mean / (sd * math.sqrt(2))))
    assert abs(np.abs(moves).mean() - abs_mean) < 4.5 * math.sqrt((total_var - abs_mean**2) / n)
    fourth = mean**4 + 6 * mean**2 * var + 3 * var**2  # E (mean + sd z)^4
    assert abs(moves.var() - total_var) < 4.5 * math.sqrt((fourth - total_var**2) / n)


# ---------------------------------------------------------------- market makers

def test_a_long_advance_delays_a_maker_and_counts_it():
    """A maker refreshes at most once per advance: one advance of 150 s (period 60 s) leaves its
    next refresh behind the clock, and the next advance counts it late; three advances of 50 s
    keep every refresh on time (next refresh = phase + k * 60 s, exactly)."""
    params = MarketParams()
    state = background.init(jax.random.key(5), MAKER_ONLY, params)
    phase = int(state.mm_next_ms[0]) - OPEN_MS
    assert 0 <= phase < 60_000
    run = jax.jit(lambda k, s, d, chunks: background.advance_chunks(k, s, MAKER_ONLY, params, d, chunks),
                  static_argnums=3)
    long = run(jax.random.key(6), state, jnp.int32(150_000), 1)
    assert int(long.mm_next_ms[0]) == OPEN_MS + phase + 60_000 < OPEN_MS + 150_000 and int(long.mm_late) == 0
    after = run(jax.random.key(7), long, jnp.int32(10_000), 1)
    assert int(after.mm_late) == 1
    split = run(jax.random.key(8), state, jnp.int32(150_000), 3)
    refreshes = -(-(150_000 - phase) // 60_000)  # refreshes at phase, phase + 60 s, ... before 150 s
    assert int(split.mm_next_ms[0]) == OPEN_MS + phase + 60_000 * refreshes and int(split.mm_late) == 0
