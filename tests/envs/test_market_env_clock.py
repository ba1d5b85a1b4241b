"""Episode lengths of DailyInvestor-v0 and Execution-v0 on the integer clock, for step lengths that
are not binary fractions of a second, against the count computed here with exact fractions; and a
step longer than the market makers' period, split into advances that keep every refresh on time.

A short session (30 s) and markets without background agents keep the episodes to a few hundred
steps and the compiles short; every params batch runs through one compiled rollout."""

from __future__ import annotations

import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxmarket as jm

EMPTY = dict(n_noise=0, n_value=0, n_momentum=0, n_market_makers=0, max_arrival_slots=2, max_noise_per_advance=1,
             capacity=4)
OPEN_S, SESSION_S = 34_200.0, 30.0
DAY = dict(open_s=OPEN_S, close_s=OPEN_S + SESSION_S, first_interval_s=5.0)  # 25 s of episode
HOLD, WAIT = 1, 2
MAX_STEPS = 300


def _lengths(env, action):
    """A jitted batch of rollouts (one per params row) of up to MAX_STEPS steps without auto-reset:
    the episode lengths, the clock at the first observation and when the episode ended."""

    def one(key, params):
        reset_key, key = jax.random.split(key)
        _, state = env.reset_env(reset_key, params)

        def body(carry, k):
            state, done, length, end_ms = carry
            _, new, _, terminated, _ = env.step_env(k, state, action, params)
            alive = ~done
            length = length + alive.astype(jnp.int32)
            end_ms = jnp.where(alive & terminated, new.market.time_ms, end_ms)
            return (new, done | terminated, length, end_ms), None

        init = (state, jnp.array(False), jnp.int32(0), jnp.int32(-1))
        (_, _, length, end_ms), _ = jax.lax.scan(body, init, jax.random.split(key, MAX_STEPS))
        return length, state.market.time_ms, end_ms

    return jax.jit(jax.vmap(one))


@pytest.fixture(scope="module")
def daily():
    """DailyInvestor-v0 on the short session, its params and its jitted rollouts (built once here)."""
    env, params = jm.make("jaxmarket/DailyInvestor-v0", **EMPTY, **DAY)
    return env, params, _lengths(env, HOLD)


@pytest.fixture(scope="module")
def execution():
    """Execution-v0 on the short session, its params and its jitted rollouts (built once here)."""
    env, params = jm.make("jaxmarket/Execution-v0", **EMPTY, **DAY, window_s=25.0)
    return env, params, _lengths(env, WAIT)


def batch(base, env, **columns):
    """``base`` with the given fields replaced row by row (checked), stacked into one params batch."""
    rows = [base.replace(**dict(zip(columns, values))) for values in zip(*columns.values())]
    for row in rows:
        env.check_params(row)
    return jax.tree.map(lambda *xs: jnp.asarray(np.stack(xs)), *rows)


STEPS = ["0.1", "0.3", "0.7", "1.7", "0.09", "0.123", "2.5", "25"]  # decimal strings: the intended values


def test_daily_investor_episode_length_is_exact(daily):
    """ceil((close - open - first_interval) / step) steps, computed from the decimal strings; the
    episode starts 5 s after the open and ends exactly at the close."""
    env, base, lengths_of = daily
    params = batch(base, env, step_s=[float(s) for s in STEPS])
    lengths, start_ms, end_ms = (np.asarray(x) for x in lengths_of(jax.random.split(jax.random.key(0), len(STEPS)),
                                                                    params))
    want = [math.ceil(Fraction("25") / Fraction(s)) for s in STEPS]
    assert lengths.tolist() == want == [250, 84, 36, 15, 278, 204, 10, 1]
    assert [base.replace(step_s=float(s)).max_steps_in_episode for s in STEPS] == want
    assert np.all(start_ms == 34_205_000) and np.all(end_ms == 34_230_000)


def test_execution_episode_length_is_exact(execution):
    """ceil(window / step) steps (a parent never filled in an empty market: the window ends it)."""
    env, base, lengths_of = execution
    windows = ["25", "24.9", "7.7", "25", "20.02", "3", "0.5", "12.34"]
    params = batch(base, env, step_s=[float(s) for s in STEPS], window_s=[float(w) for w in windows])
    lengths, start_ms, _ = (np.asarray(x) for x in lengths_of(jax.random.split(jax.random.key(1), len(STEPS)),
                                                               params))
    want = [math.ceil(Fraction(w) / Fraction(s)) for s, w in zip(STEPS, windows)]
    assert lengths.tolist() == want == [250, 83, 11, 15, 223, 25, 1, 1]
    assert np.all(start_ms == 34_205_000)


@settings(max_examples=8, deadline=None)
@given(steps_ms=st.lists(st.integers(101, 2_000), min_size=4, max_size=4),
       first_ms=st.lists(st.integers(0, 4_000), min_size=4, max_size=4))
def test_daily_investor_episode_length_for_random_steps(daily, steps_ms, first_ms):
    """Any whole-millisecond step and warm-up: ceil((30,000 - first) / step) in integers."""
    env, base, lengths_of = daily
    params = batch(base, env, step_s=[m / 1000 for m in steps_ms], first_interval_s=[f / 1000 for f in first_ms])
    lengths, start_ms, end_ms = (np.asarray(x) for x in lengths_of(jax.random.split(jax.random.key(2), 4), params))
    assert lengths.tolist() == [-(-(30_000 - f) // m) for m, f in zip(steps_ms, first_ms)]
    assert start_ms.tolist() == [34_200_000 + f for f in first_ms] and np.all(end_ms == 34_230_000)


# ---------------------------------------------------------------- a step longer than the makers' period

MAKER = dict(n_noise=0, n_value=0, n_momentum=0, n_market_makers=1, mm_levels=1, max_arrival_slots=2,
             max_noise_per_advance=1, capacity=4)


def test_a_step_longer_than_the_refresh_period_is_split():
    """step_s = 60 with mm_period_s = 7: ceil(60 / 7) = 9 advances per step (and ceil(30 / 7) = 5
    for the warm-up), so the maker refreshes every 7 s on time: after 4 steps its next refresh is
    the first one at or after 09:34:30 on its phase + k * 7 s grid, and none was late."""
    env, params = jm.make("jaxmarket/DailyInvestor-v0", mm_period_s=7.0, first_interval_s=30.0, **MAKER)
    assert (env.step_chunks, env.warmup_chunks) == (9, 5)

    @jax.jit
    def run(key):
        reset_key, key = jax.random.split(key)
        _, state = env.reset_env(reset_key, params)
        first = state.market.mm_next_ms

        def body(state, k):
            return env.step_env(k, state, HOLD, params)[1], None

        state, _ = jax.lax.scan(body, state, jax.random.split(key, 4))
        return first, state.market

    first, market = run(jax.random.key(3))
    end = 34_200_000 + 30_000 + 4 * 60_000
    assert int(market.time_ms) == end and int(market.mm_late) == 0
    next_ms, first = int(market.mm_next_ms[0]), int(first[0])
    assert (next_ms - first) % 7_000 == 0 and end <= next_ms < end + 7_000


@pytest.mark.parametrize("env_id", ["jaxmarket/DailyInvestor-v0", "jaxmarket/Execution-v0"])
def test_first_interval_and_window_defaults_follow_a_short_session(env_id):
    """A 2-minute session: the warm-up defaults to min(300 or 30 s, half the session), the window to
    what is left after it (at most 600 s); both valid, whatever the session."""
    env, params = jm.make(env_id, close_s=OPEN_S + 120.0, **EMPTY)
    first = 60_000 if env_id.endswith("DailyInvestor-v0") else 30_000
    assert params.first_interval_s is None and params.first_ms == first
    if env_id.endswith("Execution-v0"):
        assert params.window_ms == 90_000 and params.max_steps_in_episode == 2
    else:
        assert params.max_steps_in_episode == 1
