"""Every background population may be 0 (each alone, and all together): a reset and a few steps
run, the outputs are finite, the absent population sends nothing and value agents, where present,
do act. (Before, ``jm.make("jaxmarket/Execution-v0", n_value=0)`` was accepted and ``reset`` then
failed with an IndexError inside the event loop.)

Every configuration compiles its own program (about 10 s on the 2-core CPU), and the environments'
own code does not depend on the populations (only the background market does), so each population
alone is run in one environment, alternating, and all of them together in both."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket import background

BASE = dict(n_noise=30, n_value=6, n_momentum=2, n_market_makers=1, mm_levels=2, capacity=16, max_arrival_slots=16,
            max_noise_per_advance=4, momentum_long=3)
POPULATIONS = ("n_noise", "n_value", "n_momentum", "n_market_makers")
KIND = {"n_noise": "noise", "n_value": "value_order", "n_momentum": "momentum", "n_market_makers": "maker"}
EXE, DI = "jaxmarket/Execution-v0", "jaxmarket/DailyInvestor-v0"
CASES = [(EXE, ("n_value",)), (DI, ("n_noise",)), (EXE, ("n_market_makers",)), (DI, ("n_momentum",)),
         (EXE, POPULATIONS), (DI, POPULATIONS)]
STEPS = 4


def run(env, params):
    """``reset`` and STEPS steps of ``step`` (auto-reset) with actions 0, 1, 2, 0 in one compiled call."""

    @jax.jit
    def go(key):
        reset_key, key = jax.random.split(key)
        obs, state = env.reset(reset_key, params)

        def body(state, inputs):
            k, action = inputs
            obs, state, reward, terminated, truncated, _ = env.step(k, state, action, params)
            return state, (obs, reward, terminated)

        actions = jnp.arange(STEPS, dtype=jnp.int32) % 3
        state, outputs = jax.lax.scan(body, state, (jax.random.split(key, STEPS), actions))
        return obs, state, outputs

    return go(jax.random.key(0))


@pytest.mark.parametrize("env_id, zero", CASES, ids=[f"{e.split('/')[1]}-{'+'.join(z)}" for e, z in CASES])
def test_a_population_of_zero_runs(env_id, zero):
    overrides = {**BASE, **{name: 0 for name in zero}}
    env, params = jm.make(env_id, **overrides, step_s=30.0)
    obs, state, (step_obs, rewards, _) = run(env, params)
    for x in (obs, step_obs, rewards):
        assert np.all(np.isfinite(np.asarray(x)))
    market = state.market
    assert int(market.time_ms) == params.open_ms + params.first_ms + STEPS * 30_000  # no episode ended here
    accepted = dict(zip(background.EVENT_NAMES, np.asarray(market.accepted).tolist()))
    for name in POPULATIONS:
        if name in zero:
            assert accepted[KIND[name]] == 0, (name, accepted)
    if "n_value" not in zero:  # value agents send an order at every arrival, even on an empty book
        assert accepted["value_order"] > 0, accepted
