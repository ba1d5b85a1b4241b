"""The background market alone over whole simulated days: the book stays uncrossed, the spread is
a few ticks, the mid tracks the fundamental, and the day's activity is of ABIDES rmsc04's order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmarket import lob
from jaxmarket import background

DAYS = 6
MINUTES = 390


@pytest.fixture(scope="module")
def days():
    config, params = background.MarketConfig(), background.MarketParams()

    def day(key):
        init_key, key = jax.random.split(key)
        state = background.init(init_key, config, params)

        def minute(state, k):
            state = background.advance(k, state, config, params, 60.0)
            book = state.book
            return state, (book.orders[lob.BID, 0, 0], book.orders[lob.ASK, 0, 0], book.n, state.fundamental,
                           state.time_ms)

        return jax.lax.scan(minute, state, jax.random.split(key, MINUTES))

    final, (bid, ask, n, fundamental, time_s) = jax.jit(jax.vmap(day))(jax.random.split(jax.random.key(7), DAYS))
    return config, params, final, *(np.asarray(x) for x in (bid, ask, n, fundamental, time_s))


def test_clock_runs_open_to_close(days):
    """Integer milliseconds: every minute exactly 60,000 ms from the open (09:30 = 34,200,000 ms) to
    the close (16:00 = 57,600,000 ms)."""
    _, params, final, *_, time_ms = days
    assert time_ms.dtype == np.int32
    np.testing.assert_array_equal(time_ms, 34_200_000 + 60_000 * np.arange(1, MINUTES + 1)[None, :].repeat(DAYS, 0))
    assert time_ms[0, -1] == 57_600_000 == params.close_ms
    assert np.all(np.asarray(final.mm_late) == 0)  # one-minute advances never delay a maker


def test_book_is_never_crossed_and_two_sided(days):
    *_, bid, ask, n, _, _ = days
    two_sided = (n[..., 0] > 0) & (n[..., 1] > 0)
    assert two_sided.mean() > 0.99
    assert np.all(bid[two_sided] < ask[two_sided])


def test_spread_is_a_few_ticks(days):
    *_, bid, ask, n, _, _ = days
    two_sided = (n[..., 0] > 0) & (n[..., 1] > 0)
    spread = (ask - bid)[two_sided]
    assert np.median(spread) <= 3
    assert np.mean(spread <= 10) > 0.95


def test_mid_tracks_the_fundamental(days):
    *_, bid, ask, n, fundamental, _ = days
    mid = (bid + ask) / 2
    gap = np.abs(mid - fundamental)[:, 30:]  # after the first half hour
    # The fundamental's own daily standard deviation is about 242 cents; the mid stays far closer.
    assert np.mean(gap) < 60
    # Over the day the mid follows the fundamental's moves.
    moves_mid = mid[:, -1] - mid[:, 30]
    moves_fundamental = fundamental[:, -1] - fundamental[:, 30]
    assert np.corrcoef(moves_mid, moves_fundamental)[0, 1] > 0.8 or np.max(np.abs(moves_mid - moves_fundamental)) < 120


def test_daily_activity_is_of_rmsc04_order(days):
    config, _, final, *_ = days
    events = np.asarray(background.book_events(final))
    assert np.all((events > 45_000) & (events < 75_000)), events  # ABIDES rmsc04: about 55k-70k
    accepted = np.asarray(final.accepted)
    names = background.EVENT_NAMES
    # Every value arrival sends an order; the expected count is 102 agents * 23,400 s / 175 s.
    value = accepted[:, names.index("value_order")]
    assert np.all(np.abs(value - 102 * 23_400 / 175) < 5 * np.sqrt(102 * 23_400 / 175))
    # Each market maker refreshes 20 orders a minute once it has seen a mid.
    maker = accepted[:, names.index("maker")]
    assert np.all(maker > 0.95 * config.n_market_makers * 2 * config.ladder_levels * MINUTES)
    # No arrival was dropped and every noise agent that wakes after the open acted or was refused
    # for an empty side only.
    assert np.all(np.asarray(final.dropped) == 0)
    assert np.all(np.asarray(final.noise_next) == config.n_noise)
    # Noise agents: one order each at most; about 81.5% wake after the open.
    noise = accepted[:, names.index("noise")]
    assert np.all((noise > 0.75 * config.n_noise) & (noise <= config.n_noise))


def test_same_key_same_day():
    config, params = background.MarketConfig(n_noise=50, n_value=10, n_momentum=2), background.MarketParams()
    def day_start(key):
        init_key, step_key = jax.random.split(key)
        return background.advance(step_key, background.init(init_key, config, params), config, params, 60.0)

    run = jax.jit(day_start)
    a, b = run(jax.random.key(3)), run(jax.random.key(3))
    assert jax.tree.all(jax.tree.map(lambda x, y: bool(jnp.array_equal(x, y, equal_nan=True)), a, b))
