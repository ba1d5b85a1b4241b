"""Auto-reset, written once (``jaxmarket.core.auto_reset``), and the single-/multi-agent adapter
(``jaxmarket.core.agents``), on a counter env whose every value is known by hand."""

from __future__ import annotations

from typing import Any

import chex
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import spaces as gymnax_spaces

import jaxmarket as jm
from jaxmarket.core.agents import MultiAgent, SingleAgent, adapter, episode_done
from jaxmarket.core.auto_reset import reset_where, step_with_auto_reset

LIMIT = 3  # the counter env terminates when its count reaches this
OPENING = 10  # the count a reset starts from
CONTINUE_AT = 100  # the count the env's auto_reset hook continues from


@struct.dataclass
class CounterState:
    count: jax.Array
    time: jax.Array


@struct.dataclass
class CounterParams:
    max_steps_in_episode: int = 50


class Counter(jm.Environment):
    """Adds the action (0 or 1) to a count that starts at ``OPENING``; terminates after ``LIMIT``
    steps that added 1; a finished episode continues from ``CONTINUE_AT`` (its ``auto_reset``)."""

    params_class = CounterParams

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, CounterState]:
        del key, params
        state = CounterState(count=jnp.array(OPENING, jnp.int32), time=jnp.array(0, jnp.int32))
        return state.count, state

    def step_env(self, key, state, action, params):
        del key, params
        state = CounterState(count=state.count + action, time=state.time + 1)
        reward = jnp.asarray(action, jnp.float32)
        return state.count, state, reward, state.count - OPENING >= LIMIT, {}

    def auto_reset(self, key, state, params):
        del key, state, params
        fresh = CounterState(count=jnp.array(CONTINUE_AT, jnp.int32), time=jnp.array(0, jnp.int32))
        return fresh.count, fresh

    def action_space(self, params: Any = None) -> gymnax_spaces.Discrete:
        return gymnax_spaces.Discrete(2)


def test_reset_where_picks_per_env_and_broadcasts_over_trailing_axes():
    fresh = {"a": jnp.full((3, 2), 7), "b": jnp.array([1.0, 2.0, 3.0])}
    current = {"a": jnp.zeros((3, 2), jnp.int32), "b": jnp.array([-1.0, -2.0, -3.0])}
    out = reset_where(jnp.array([True, False, True]), fresh, current)
    np.testing.assert_array_equal(out["a"], [[7, 7], [0, 0], [7, 7]])
    np.testing.assert_array_equal(out["b"], [1.0, -2.0, 3.0])
    one = reset_where(jnp.array(False), {"x": jnp.array([5, 6])}, {"x": jnp.array([8, 9])})
    np.testing.assert_array_equal(one["x"], [8, 9])


def test_env_step_continues_from_the_auto_reset_hook_at_the_end():
    env = Counter()
    obs, state = env.reset(jax.random.key(0))
    seen = []
    for i in range(LIMIT):
        obs, state, reward, terminated, truncated, info = env.step(jax.random.key(i + 1), state, 1)
        seen.append((int(obs), bool(terminated), int(info["final_observation"])))
    assert seen == [(OPENING + 1, False, OPENING + 1), (OPENING + 2, False, OPENING + 2),
                    (CONTINUE_AT, True, OPENING + LIMIT)]
    assert not bool(truncated) and float(reward) == 1.0


def test_truncation_ends_the_episode_and_is_reported():
    env = Counter(max_steps_in_episode=2)
    obs, state = env.reset(jax.random.key(0))
    _, state, _, terminated, truncated, _ = env.step(jax.random.key(1), state, 0)
    assert not bool(truncated)
    obs, state, _, terminated, truncated, info = env.step(jax.random.key(2), state, 0)
    assert bool(truncated) and not bool(terminated)
    assert int(obs) == CONTINUE_AT and int(info["final_observation"]) == OPENING


def test_vec_env_resets_only_the_finished_envs_with_a_fresh_episode():
    """``VecEnv`` continues a finished env from ``reset_env`` (a fresh episode), the others keep going."""
    venv = jm.VecEnv(Counter(), 3)
    step = jax.jit(chex.assert_max_traces(venv.step, n=1))
    obs, state = venv.reset(jax.random.key(0), CounterParams())
    actions = jnp.array([1, 0, 1])
    for i in range(LIMIT):
        obs, state, reward, terminated, truncated, info = step(jax.random.key(i + 1), state, actions, CounterParams())
    np.testing.assert_array_equal(terminated, [True, False, True])
    np.testing.assert_array_equal(obs, [OPENING, OPENING, OPENING])
    np.testing.assert_array_equal(info["final_observation"], [OPENING + LIMIT, OPENING, OPENING + LIMIT])
    np.testing.assert_array_equal(state.time, [0, LIMIT, 0])


@pytest.mark.parametrize("lazy", [False, True])
def test_lazy_and_eager_auto_reset_agree_and_only_lazy_branches(lazy):
    env = Counter()
    batch = 4
    _, state = jax.vmap(env.reset_env, (0, None))(jax.random.split(jax.random.key(0), batch), CounterParams())
    state = state.replace(count=jnp.array([OPENING, OPENING + 2, OPENING + 2, OPENING + 1]))
    actions = jnp.array([1, 1, 0, 1])

    def step(key, state, actions):
        return step_with_auto_reset(
            key, state, actions, CounterParams(),
            step=lambda k, s, a, p: jax.vmap(env.step_env, (None, 0, 0, None))(k, s, a, p),
            done=lambda s, t, p: adapter(env).done(s, t, p, batched=True),
            fresh=lambda k, s, p: (jnp.full((batch,), CONTINUE_AT), s.replace(count=jnp.full((batch,), CONTINUE_AT))),
            lazy=lazy)

    obs, state, _, terminated, _, info = jax.jit(step)(jax.random.key(1), state, actions)
    np.testing.assert_array_equal(terminated, [False, True, False, False])
    np.testing.assert_array_equal(obs, [OPENING + 1, CONTINUE_AT, OPENING + 2, OPENING + 2])
    np.testing.assert_array_equal(info["final_observation"], [OPENING + 1, OPENING + 3, OPENING + 2, OPENING + 2])
    primitives = {eqn.primitive.name for eqn in jax.make_jaxpr(step)(jax.random.key(1), state, actions).eqns}
    assert ("cond" in primitives) == lazy


def test_adapter_is_chosen_by_the_env_class():
    assert isinstance(adapter(Counter()), SingleAgent)
    cartpole, _ = gymnax.make("CartPole-v1")  # a plain gymnax env names no adapter
    assert isinstance(adapter(cartpole), SingleAgent)
    otc, params = jm.make("jaxmarket/OTC-v0", n_lps=2, n_lts=3, n_flow=1)
    agents = adapter(otc)
    assert isinstance(agents, MultiAgent)
    assert agents.episode_steps(params) == otc.episode_length(params)
    actions = agents.sample_action(jax.random.key(0), params)
    assert actions["lp"].shape == (2, otc.config.n_tiers + 2) and actions["lt"].shape == (3,)
    zero = agents.zero_return()
    assert zero["lp"].shape == (2,) and zero["lt"].shape == (3,)


def test_episode_done_reduces_agents_and_keeps_the_batch_axis():
    terminated = {"lp": jnp.array([[False, False], [False, True]]), "lt": jnp.array([[True], [False]])}
    np.testing.assert_array_equal(episode_done(terminated), [True, True])
    single = {"lp": jnp.array([False, False]), "lt": jnp.array([False])}
    assert not bool(episode_done(single))
