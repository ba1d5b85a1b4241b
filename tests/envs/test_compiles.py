"""Every registered environment's ``reset`` and ``step``, called from plain Python, compile once
per input shape and then run without compiling, as gymnax's do; integer actions outside int32 are
refused before they can wrap."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.core.multi_agent import MultiAgentEnv
from tests.compiles import count_compiles

REPEATS = 3


def test_the_counter_sees_a_compilation() -> None:
    with count_compiles() as compiled:
        jax.jit(lambda x: x * 3 + 1)(np.float32(2.0))
    assert len(compiled) == 1


@pytest.mark.parametrize("env_id", jm.registered())
def test_reset_and_step_compile_once(env_id: str) -> None:
    env, params = jm.make(env_id)
    traces: list[int] = []
    step_env = env.step_env

    def counting_step_env(*args):
        traces.append(1)
        return step_env(*args)

    env.step_env = counting_step_env  # the compiled step traces it once per input shape
    keys = iter(jax.random.split(jax.random.key(0), 2 * REPEATS + 1))
    obs, state = env.reset(next(keys), params)
    action = jax.tree.map(np.asarray, jm.random_policy(env)(next(keys), obs, state, params))
    env.step(next(keys), state, action, params)
    with count_compiles() as compiled:
        for _ in range(REPEATS - 1):
            env.reset(next(keys), params)
            obs, state, *_ = env.step(next(keys), state, action, params)
    assert compiled == [], f"{env_id}: {len(compiled)} compilations on repeated calls"
    assert len(traces) == 1, f"{env_id}: step_env traced {len(traces)} times"


@pytest.mark.parametrize("env_id", jm.registered())
def test_integer_actions_outside_int32_are_refused(env_id: str) -> None:
    """``np.int64(2**32 + a)`` would reach the compiled step as ``a``: refused instead."""
    env, params = jm.make(env_id)
    reset_key, act_key, step_key = jax.random.split(jax.random.key(1), 3)
    obs, state = env.reset(reset_key, params)
    action = jax.tree.map(np.asarray, jm.random_policy(env)(act_key, obs, state, params))
    wrapped = jax.tree.map(lambda a: np.full(np.shape(a), 2**32, np.int64), action)
    name = "actions" if isinstance(env, MultiAgentEnv) else "action"
    with pytest.raises(ValueError, match=rf"{name}.* = np.int64\(4294967296\) is out of range: valid range is \[-2147483648, 2147483647\] \(int32\)"):
        env.step(step_key, state, wrapped, params)


@pytest.mark.parametrize("env_id, field, value", [
    ("jaxmarket/MarketMaking-AS-v0", "sigma", -1.0),
    ("jaxmarket/MarketMaking-AS-v0", "max_inventory", np.int64(2**32 + 1)),  # would run as 1
    ("jaxmarket/OTC-LP-v0", "price0", 2e9),
])
def test_reset_and_step_check_the_params_they_are_given(env_id: str, field: str, value) -> None:
    env, params = jm.make(env_id)
    reset_key, act_key, step_key = jax.random.split(jax.random.key(2), 3)
    obs, state = env.reset(reset_key, params)
    action = jm.random_policy(env)(act_key, obs, state, params)
    bad = params.replace(**{field: value})
    with pytest.raises(ValueError, match=field):
        env.reset(jax.random.key(3), bad)
    with pytest.raises(ValueError, match=field):
        env.step(step_key, state, action, bad)
    with pytest.raises(ValueError, match=field):
        jm.VecEnv(env, 2).reset(jax.random.key(4), bad)


def test_a_step_longer_than_the_env_was_built_for_is_refused() -> None:
    """Execution-v0 built for 60-s steps trades each step in one advance: 180 s would delay the
    market makers' refreshes, so ``step`` refuses it, naming the field and what set the bound."""
    env, params = jm.make("jaxmarket/Execution-v0", n_noise=0, n_value=0, n_momentum=0, n_market_makers=0,
                          max_arrival_slots=2, max_noise_per_advance=1, capacity=4)
    _, state = env.reset(jax.random.key(5), params)
    with pytest.raises(ValueError, match=r"step_s = 180.0 is out of range.*advance\(s\) per step"):
        env.step(jax.random.key(6), state, 2, params.replace(step_s=180.0))


def test_64_bit_mode_is_refused_before_compiling() -> None:
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0")
    with jax.enable_x64(True), pytest.raises(ValueError, match="jax_enable_x64 = True is not supported"):
        env.reset(jax.random.key(7), params)
    with jax.enable_x64(True), pytest.raises(ValueError, match="jax_enable_x64"):
        jm.evaluate(env, params, jm.random_policy(env), num_episodes=2)
