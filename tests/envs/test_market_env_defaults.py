"""Every default is valid with every valid value of the other fields: each field of MarketConfig,
MarketParams, DailyInvestorParams and ExecutionParams set alone to any value of its valid range
(drawn by hypothesis, the ends included) gives an environment that builds and passes its checks.
Only genuinely dependent pairs (open/close, the noise wake window) can be invalid together, and
their error names both fields. Nothing here compiles."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxmarket as jm
from jaxmarket.core.validation import INT32_MAX
from jaxmarket.envs import market_env
from jaxmarket import background
from jaxmarket.lob.book import largest_max_qty

EXE, DI = "jaxmarket/Execution-v0", "jaxmarket/DailyInvestor-v0"
EIGHTH = 0.125  # times on a 125-ms grid are whole milliseconds that float32 carries exactly


def grid(low_s, high_s, *, low_open=False, high_open=False):
    """Times in seconds on the 125-ms grid within the interval."""
    low = int(low_s / EIGHTH) + (1 if low_open else 0)
    high = int(high_s / EIGHTH) - (1 if high_open else 0)
    return st.integers(low, high).map(lambda k: k * EIGHTH)


def durations(high_s=86_400.0):
    """Positive durations: any whole millisecond below 8,192 s, or the 125-ms grid up to ``high_s``."""
    return st.one_of(st.integers(1, 8_191_999).map(lambda ms: ms / 1000), grid(0.0, high_s, low_open=True))


def ends(low, high):
    """Integers in [low, high], the ends drawn often."""
    return st.one_of(st.just(low), st.just(high), st.integers(low, high))


def positive(high=1e9):
    return st.floats(0.0, high, exclude_min=True, allow_nan=False)


SESSION = 23_400.0  # 09:30-16:00
CONFIG = {
    **{name: ends(0, background.MAX_POPULATION) for name in ("n_noise", "n_value", "n_momentum", "n_market_makers")},
    "mm_levels": ends(1, 128),
    "momentum_short": ends(1, 50),
    "momentum_long": ends(1, 100_000),
    "capacity": ends(2, 2**16),
    "max_fills": ends(1, 128),
    "full_policy": st.sampled_from(["reject", "evict"]),
    "max_arrival_slots": ends(2, background.MAX_SLOTS),
    "max_noise_per_advance": ends(1, background.MAX_SLOTS),
}
MARKET = {
    "open_s": grid(0.0, 57_600.0, high_open=True),
    "close_s": grid(34_200.0, 86_400.0, low_open=True),
    "r_bar": st.floats(1.0, float(background.R_BAR_MAX)),
    "kappa": st.floats(1e-30, 1.0),
    "fund_vol": st.floats(0.0, 1e3),
    "megashock_rate": st.floats(0.0, 1e3),
    "megashock_mean": st.floats(0.0, 1e6),
    "megashock_var": st.floats(0.0, 1e9),
    "noise_wake_start_s": grid(0.0, 86_400.0, high_open=True),
    "noise_wake_end_s": grid(0.0, 86_400.0, low_open=True),
    "value_interval_s": positive(),
    "value_obs_var": positive(),
    "value_kappa": st.floats(1e-30, 1.0, exclude_max=True),
    "value_sigma_s": st.floats(0.0, 1e9),
    "value_aggressive": st.floats(0.0, 1.0),
    "value_depth_spreads": st.floats(0.0, 1e3),
    "momentum_interval_s": positive(),
    "mm_period_s": durations(),
    "mm_pov": st.floats(0.0, 1.0),
    "mm_min_size": ends(1, INT32_MAX),
    "mm_level_spacing": st.floats(0.0, 1e3),
    "mm_price_skew": st.floats(0.0, 1e3),
    "mm_spread_alpha": st.floats(0.0, 1.0),
    "mm_initial_spread": st.floats(1.0, 1e6),
}
DAILY = {
    "first_interval_s": grid(0.0, SESSION, high_open=True),
    "step_s": durations(),
    "starting_cash": ends(1, INT32_MAX),
    "order_size": ends(1, INT32_MAX // 385),  # holdings after 385 buys fit int32
    "done_ratio": st.floats(0.0, 1.0),
    "reward_steps": positive(),
    "sparse_reward": st.booleans(),
}
EXECUTION = {
    "first_interval_s": grid(0.0, SESSION, high_open=True),
    "step_s": durations(),
    "window_s": grid(0.0, SESSION - 30.0, low_open=True),  # the default warm-up is 30 s
    "parent_size": ends(1, market_env.MAX_SHARES),
    "order_size": ends(1, min(market_env.MAX_SHARES, largest_max_qty(128))),
    "direction": st.sampled_from([0, 1]),
    "underfill_penalty": st.floats(0.0, 1e6),
    "overfill_penalty": st.floats(0.0, 1e6),
}
FIELDS = ([(env, name, strategy) for env in (EXE, DI) for name, strategy in {**CONFIG, **MARKET}.items()]
          + [(DI, name, strategy) for name, strategy in DAILY.items()]
          + [(EXE, name, strategy) for name, strategy in EXECUTION.items()])


def test_the_table_covers_every_field():
    for env_id, own in ((DI, DAILY), (EXE, EXECUTION)):
        env, params = jm.make(env_id)
        fields = {f.name for f in dataclasses.fields(params)} | {f.name for f in dataclasses.fields(env.config)}
        assert fields == set(CONFIG) | set(MARKET) | set(own), env_id


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_any_valid_value_of_one_field_keeps_every_default_valid(data):
    env_id, name, strategy = data.draw(st.sampled_from(FIELDS), label="field")
    value = data.draw(strategy, label=name)
    env, params = jm.make(env_id, **{name: value})  # raises ValueError if a default became invalid
    env.check_params(params)


@pytest.mark.parametrize("env_id, overrides", [
    (EXE, dict(capacity=2)),  # mm_levels (10) and max_fills (8) follow the capacity
    (DI, dict(momentum_long=5)),  # momentum_short (20) follows momentum_long
    (EXE, dict(mm_period_s=7.0)),  # a 60-s step is split into 9 advances
    (DI, dict(mm_period_s=0.001)),  # ... into 60,000
    (EXE, dict(open_s=3_600.0, close_s=3_600.002)),  # a 2-ms session: warm-up 1 ms, window 1 ms
    (DI, dict(open_s=3_600.0, close_s=3_600.001)),  # a 1-ms session: no warm-up, one step
    (DI, dict(r_bar=float(background.R_BAR_MAX))),  # money relative to a reference: order_size 10 is fine
    (EXE, dict(r_bar=float(background.R_BAR_MAX))),
    (DI, dict(step_s=0.001)),  # 23,100,000 steps: holdings of 10-share orders still fit int32
    (EXE, dict(noise_wake_start_s=80_000.0)),  # after the close: the wake window ends 1 ms later
    (EXE, dict(noise_wake_end_s=0.001)),  # the default start moves before it
])
def test_instances_from_the_issue(env_id, overrides):
    env, params = jm.make(env_id, **overrides)
    env.check_params(params)
    assert env.config.ladder_levels <= env.config.capacity and env.config.fills_per_result <= env.config.capacity
    assert env.config.short_window <= env.config.momentum_long
    assert params.noise_start_ms < params.noise_end_ms
    assert params.max_steps_in_episode >= 1


@pytest.mark.parametrize("overrides, field, other", [
    (dict(open_s=57_600.0), "close_s", "open_s"),
    (dict(close_s=30_000.0), "close_s", "open_s"),
    (dict(noise_wake_start_s=50_000.0, noise_wake_end_s=40_000.0), "noise_wake_end_s", "noise_wake_start_s"),
    (dict(mm_levels=200), "mm_levels", "capacity"),
    (dict(momentum_long=10, momentum_short=11), "momentum_short", "momentum_long"),
    (dict(first_interval_s=30.0, window_s=23_371.0), "window_s", "first_interval_s"),
])
def test_dependent_pairs_name_both_fields(overrides, field, other):
    with pytest.raises(ValueError) as info:
        jm.make(EXE, **overrides)
    message = str(info.value)
    assert message.startswith(f"{field} = ") and other in message, message
