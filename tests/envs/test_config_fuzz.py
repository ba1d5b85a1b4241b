"""Configuration fuzzing: configurations of every registered environment, drawn across and just
beyond their documented ranges (populations and counts down to 0 or 1), either run (``make``,
``reset``, a few ``step``s and ``evaluate``, all outputs finite) or are refused by a ``ValueError``
from ``make`` before anything compiles.

Every drawn configuration compiles new programs, so CI draws a few per environment; set
``JAXMARKET_FUZZ_SCALE`` (an integer) to draw that many times more.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxmarket as jm
from jaxmarket.core.multi_agent import MultiAgentEnv
from jaxmarket.envs.market_making import MAX_S0
from jaxmarket.background import R_BAR_MAX
from jaxmarket.otc import market
from tests.compiles import count_compiles

SCALE = int(os.environ.get("JAXMARKET_FUZZ_SCALE", "1"))
STEPS = 3  # env.step calls per configuration
EVAL_EPISODES, EVAL_STEPS = 4, 4


def _positive(high: float) -> st.SearchStrategy[float]:
    """Valid positive values from tiny to ``high``, and the invalid 0 now and then."""
    return st.one_of(st.floats(1e-6, high), st.just(0.0))


MARKET_MAKING = st.fixed_dictionaries({}, optional={
    "s0": st.one_of(st.floats(1e-3, MAX_S0), st.just(MAX_S0)),
    "sigma": _positive(1e3),
    "horizon": _positive(1e3),
    "max_steps_in_episode": st.integers(0, 50),
    "intensity": _positive(1e4),
    "decay": _positive(1e2),
    "phi": st.floats(0.0, 10.0),
    "alpha": st.floats(0.0, 10.0),
    "max_inventory": st.integers(0, 20),
    "max_depth": _positive(1e3),
})

_OTC_PARAMS = {
    "n_rounds": st.integers(0, 6),
    "price0": st.sampled_from([market.PRICE_MIN, 1.1, 150.0, market.PRICE_MAX]),
    "annual_vol": st.floats(0.0, 2.0),
    "impact": st.floats(-1e-3, 1e-3),
    "p_connect": st.floats(0.0, 1.0),
    "p_buy": st.floats(0.0, 1.0),
    "size_log_std": st.floats(0.0, 2.0),
    "ecn_depth": _positive(1e3),
    "max_fill": st.floats(0.01, 0.99),
}
OTC = st.fixed_dictionaries({
    "n_lps": st.integers(0, 3),
    "n_lts": st.integers(0, 3),
    "n_flow": st.integers(0, 4),
    "n_tiers": st.integers(1, 3),
    "turn_order": st.sampled_from([market.STACKELBERG, market.SIMULTANEOUS]),
}, optional=_OTC_PARAMS)
OTC_LP = st.fixed_dictionaries({
    "n_lps": st.integers(0, 3),
    "n_flow": st.integers(0, 4),
    "n_tiers": st.integers(1, 3),
}, optional=_OTC_PARAMS)

_BACKGROUND = {  # MarketConfig and MarketParams fields shared by the ABIDES-Gym envs
    "n_noise": st.integers(0, 20),
    "n_value": st.integers(0, 4),
    "n_momentum": st.integers(0, 3),
    "n_market_makers": st.integers(0, 2),
    "capacity": st.integers(1, 16),
    "mm_levels": st.one_of(st.none(), st.integers(0, 17)),
    "momentum_long": st.integers(1, 8),
    "momentum_short": st.one_of(st.none(), st.integers(0, 9)),
    "max_fills": st.one_of(st.none(), st.integers(0, 17)),
    "full_policy": st.sampled_from(["reject", "evict"]),
    "max_arrival_slots": st.integers(1, 24),
    "max_noise_per_advance": st.integers(0, 8),
    "r_bar": st.sampled_from([1.0, 1000.0, 100_000.0, float(R_BAR_MAX)]),
    "step_s": st.sampled_from([0.1, 1.7, 60.0, 90.0, 0.0]),
    "mm_period_s": st.sampled_from([30.0, 60.0]),
    "megashock_rate": st.sampled_from([0.0, 2.77778e-18, 1e-9]),
    "value_aggressive": st.floats(0.0, 1.0),
}
DAILY_INVESTOR = st.fixed_dictionaries({}, optional={
    **_BACKGROUND,
    "first_interval_s": st.sampled_from([None, 0.5, 300.0]),
    "order_size": st.integers(0, 10_000),
    "starting_cash": st.integers(0, 2**30),
    "done_ratio": st.floats(0.0, 1.0),
    "sparse_reward": st.booleans(),
})
EXECUTION = st.fixed_dictionaries({}, optional={
    **_BACKGROUND,
    "first_interval_s": st.sampled_from([None, 0.5, 30.0]),
    "window_s": st.sampled_from([None, 1.0, 600.0]),
    "parent_size": st.integers(0, 5000),
    "order_size": st.integers(0, 1000),
    "direction": st.integers(0, 2),
    "underfill_penalty": st.floats(0.0, 1000.0),
})

# env id -> (strategy of make() overrides, configurations drawn in CI)
CONFIGS: dict[str, tuple[st.SearchStrategy[dict[str, Any]], int]] = {
    "jaxmarket/MarketMaking-AS-v0": (MARKET_MAKING, 12),
    "jaxmarket/OTC-v0": (OTC, 5),
    "jaxmarket/OTC-LP-v0": (OTC_LP, 4),
    "jaxmarket/DailyInvestor-v0": (DAILY_INVESTOR, 3),
    "jaxmarket/Execution-v0": (EXECUTION, 3),
}


def _finite(tree: Any) -> bool:
    return all(np.all(np.isfinite(np.asarray(leaf, np.float64))) for leaf in jax.tree.leaves(tree))


def run_or_refuse(env_id: str, overrides: dict[str, Any]) -> None:
    """``make`` raises ``ValueError`` before compiling anything, or the env runs with finite outputs."""
    with count_compiles() as compiled:
        try:
            env, params = jm.make(env_id, **overrides)
        except ValueError:
            assert compiled == [], f"{env_id} {overrides}: ValueError raised after compiling"
            return
    policy = jm.random_policy(env)
    reset_key, *keys = jax.random.split(jax.random.key(0), 1 + 2 * STEPS)
    obs, state = env.reset(reset_key, params)
    assert _finite(obs), f"{env_id} {overrides}: reset observation not finite"
    for act_key, step_key in zip(keys[::2], keys[1::2]):
        action = policy(act_key, obs, state, params)
        obs, state, reward, terminated, truncated, info = env.step(step_key, state, action, params)
        assert _finite((obs, reward)), f"{env_id} {overrides}: step outputs not finite"
        assert _finite(info["final_observation"])
    stats = jm.evaluate(env, params, policy, num_episodes=EVAL_EPISODES, seed=1, num_steps=EVAL_STEPS)
    assert _finite(stats), f"{env_id} {overrides}: evaluate gave {stats}"
    if not isinstance(env, MultiAgentEnv):
        assert env.observation_space(params).contains(obs)


def test_every_registered_env_is_fuzzed() -> None:
    assert sorted(CONFIGS) == jm.registered()


@pytest.mark.parametrize("env_id", sorted(CONFIGS))
def test_configurations_run_or_are_refused_before_compiling(env_id: str) -> None:
    strategy, examples = CONFIGS[env_id]

    @settings(max_examples=examples * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(overrides=strategy)
    def check(overrides: dict[str, Any]) -> None:
        run_or_refuse(env_id, overrides)

    check()
