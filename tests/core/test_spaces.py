"""Discrete actions are read in their own dtype: a float that is not an exact index (0.99, 1.5,
NaN, 1e12) is invalid and counted, never truncated into a valid index."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.core.spaces import discrete_index

# action -> (index, valid) for Discrete(3)
CASES = [(0, 0, True), (2, 2, True), (3, 0, False), (-1, 0, False), (2.0, 2, True), (-0.0, 0, True),
         (0.99, 0, False), (1.5, 0, False), (2.7, 0, False), (np.nan, 0, False), (np.inf, 0, False),
         (-np.inf, 0, False), (1e12, 0, False), (2.0**32 + 1.0, 0, False)]


@pytest.mark.parametrize("action, index, valid", CASES)
def test_discrete_index(action, index, valid) -> None:
    got_index, got_valid = jax.jit(discrete_index, static_argnums=1)(jnp.float32(action) if isinstance(action, float)
                                                                       else jnp.int32(action), 3)
    assert (int(got_index), bool(got_valid)) == (index, valid)


def test_discrete_index_elementwise_and_int32_range() -> None:
    index, valid = discrete_index(jnp.array([0, 5, -7, 2**31 - 1, 4], jnp.int32), 5)
    np.testing.assert_array_equal(index, [0, 0, 0, 0, 4])
    np.testing.assert_array_equal(valid, [True, False, False, False, True])


NO_AGENTS = dict(n_noise=0, n_value=0, n_momentum=0, n_market_makers=0, max_arrival_slots=2, max_noise_per_advance=1,
                 capacity=4)


@pytest.mark.parametrize("env_id, hold", [("jaxmarket/Execution-v0", 2), ("jaxmarket/DailyInvestor-v0", 1)])
def test_float_actions_that_are_not_indices_hold_and_are_counted(env_id: str, hold: int) -> None:
    """Each bad action must do exactly what the hold action does, and be counted."""
    env, params = jm.make(env_id, **NO_AGENTS)
    step = jax.jit(env.step_env)
    _, state = env.reset(jax.random.key(0), params)
    bad = [np.nan, 0.99, 1.5, 2.7, 1e12, -0.5]
    for k, action in zip(jax.random.split(jax.random.key(1), len(bad)), bad):
        _, held, reward, _, _ = step(jax.random.clone(k), state, jnp.float32(action), params)
        _, want, want_reward, _, _ = step(k, state, jnp.float32(hold), params)
        assert int(held.n_invalid_actions) == int(state.n_invalid_actions) + 1, action
        assert float(reward) == float(want_reward)
        assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), held.market.book, want.market.book))
