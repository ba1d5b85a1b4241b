"""The gymnasium adapter: gymnasium's own env checker on every single-agent env, the same
numbers as the JAX env for the same seed and actions, and clear errors on bad input."""

import warnings

import chex
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxmarket as jm
from jaxmarket.core.multi_agent import MultiAgentEnv
from jaxmarket.interop import GymnasiumEnv, to_gymnasium

# Small markets: the same code paths as the defaults, compiled and stepped in seconds.
SMALL = {
    "jaxmarket/MarketMaking-AS-v0": {"max_steps_in_episode": 40},
    "jaxmarket/DailyInvestor-v0": {"n_noise": 20, "n_value": 5, "n_momentum": 2, "n_market_makers": 1,
                                   "open_s": 34_200.0, "close_s": 34_200.0 + 900.0, "first_interval_s": 300.0},
    "jaxmarket/Execution-v0": {"n_noise": 20, "n_value": 5, "n_momentum": 2, "n_market_makers": 1},
    "jaxmarket/OTC-LP-v0": {"n_rounds": 12},
}
# gymnasium's advice, not API violations: it recommends [-1, 1] Box actions and finite observation
# bounds; the envs keep their natural units (depths in price units, unbounded features).
ADVICE = ("symmetric and normalized space", "minimum value is -infinity", "maximum value is infinity")


def single_agent_ids():
    return [i for i in jm.registered() if not isinstance(jm.make(i)[0], MultiAgentEnv)]


def test_every_single_agent_env_has_small_settings_and_is_registered_with_gymnasium():
    assert sorted(SMALL) == sorted(single_agent_ids())
    assert {i for i in gymnasium.registry if i.startswith("jaxmarket/")} == set(SMALL)


@pytest.fixture(scope="module", params=sorted(SMALL))
def made(request):
    """``gymnasium.make`` of the env at its small settings (with a spec, so the checker also tries
    the render modes)."""
    return request.param, gymnasium.make(request.param, render_mode="rgb_array", **SMALL[request.param])


def test_gymnasium_env_checker_passes(made):
    env_id, env = made
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    problems = [str(w.message) for w in caught if not any(a in str(w.message) for a in ADVICE)]
    assert problems == [], f"{env_id}: {problems}"


def jax_episode(env, params, seed, actions):
    """The JAX env stepped with the adapter's documented keys: ``(first obs, [(obs, reward,
    terminated, truncated)...])`` up to the episode's end (the observation before any reset)."""
    key = jax.random.key(seed)
    key, sub = jax.random.split(key)
    first, state = env.reset(sub, params)
    steps = []
    for action in actions:
        key, sub = jax.random.split(key)
        _, state, reward, terminated, truncated, info = env.step(sub, state, jnp.asarray(action), params)
        steps.append((np.asarray(info["final_observation"]), float(reward), bool(terminated), bool(truncated)))
        if terminated or truncated:
            break
    return np.asarray(first), steps


def adapter_episode(adapter, seed, actions):
    first, _ = adapter.reset(seed=seed)
    steps = []
    for action in actions:
        obs, reward, terminated, truncated, _ = adapter.step(action)
        steps.append((obs, reward, terminated, truncated))
        if terminated or truncated:
            break
    return first, steps


def assert_same_episode(ours, theirs):
    np.testing.assert_array_equal(ours[0], theirs[0])
    assert len(ours[1]) == len(theirs[1])
    for (o1, r1, te1, tr1), (o2, r2, te2, tr2) in zip(ours[1], theirs[1]):
        np.testing.assert_array_equal(o1, o2)
        assert (r1, te1, tr1) == (r2, te2, tr2)
    assert ours[1][-1][2] or ours[1][-1][3], "the episode ran to its end"


def test_whole_episodes_equal_the_jax_env_for_the_same_seed_and_actions(made):
    env_id, made_env = made
    adapter = made_env.unwrapped
    space = adapter.action_space
    space.seed(3)
    actions = [space.sample() for _ in range(adapter.env.agent_adapter(adapter.env).episode_steps(adapter.params) + 1)]
    assert_same_episode(adapter_episode(adapter, 11, actions), jax_episode(adapter.env, adapter.params, 11, actions))


MARKET_MAKING = jm.make("jaxmarket/MarketMaking-AS-v0", max_steps_in_episode=40)  # one env: compiled once


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), action_seed=st.integers(0, 1000))
def test_market_making_episodes_equal_the_jax_env_for_random_seeds(seed, action_seed):
    env, params = MARKET_MAKING
    adapter = to_gymnasium(env, params)
    space = adapter.action_space
    space.seed(action_seed)
    actions = [space.sample() for _ in range(params.max_steps_in_episode)]
    assert_same_episode(adapter_episode(adapter, seed, actions), jax_episode(env, params, seed, actions))


def test_two_whole_episodes_trace_the_step_once():
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0", max_steps_in_episode=30)
    env.step_env = chex.assert_max_traces(env.step_env, n=1)  # raises on a second trace
    adapter = to_gymnasium(env, params)
    for seed in (0, 1):
        adapter.reset(seed=seed)
        done = False
        while not done:
            _, _, terminated, truncated, _ = adapter.step(np.array([0.5, 0.5], np.float32))
            done = terminated or truncated


def test_reset_without_a_seed_continues_and_a_seed_restarts():
    adapter = to_gymnasium(*MARKET_MAKING)
    action = np.array([1.5, 1.5], np.float32)  # fills with probability about 1/3 a step

    def pnls():  # the PnL path: it moves with the mid price and the fills, so it differs by key
        return [float(adapter.step(action)[4]["pnl"]) for _ in range(5)]

    adapter.reset(seed=5)
    first = pnls()
    adapter.reset(seed=5)
    assert pnls() == first
    adapter.reset()  # continues the key: a different episode
    assert pnls() != first
    fresh = to_gymnasium(*MARKET_MAKING)
    assert fresh.reset()[0].shape == (2,)  # the first reset without a seed draws one from np_random


def test_the_last_step_returns_the_episode_end_and_then_reset_is_needed():
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0", max_steps_in_episode=5)
    adapter = to_gymnasium(env, params)
    adapter.reset(seed=0)
    steps = [adapter.step(np.array([0.3, 0.3], np.float32)) for _ in range(5)]
    assert [s[2] for s in steps] == [False] * 4 + [True]
    obs, info = steps[-1][0], steps[-1][4]
    assert obs[0] == 0.0, "the last observation (no time left), not the next episode's first"
    assert set(info) == {"inventory", "pnl"}, "the env's own info entries"
    with pytest.raises(gymnasium.error.ResetNeeded):
        adapter.step(np.array([0.3, 0.3], np.float32))


def test_rgb_array_render_draws_the_episode():
    adapter = to_gymnasium("jaxmarket/MarketMaking-AS-v0", render_mode="rgb_array")
    adapter.reset(seed=0)
    blank = adapter.render()
    for _ in range(20):
        adapter.step(np.array([0.2, 1.5], np.float32))
    frame = adapter.render()
    assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
    assert not np.array_equal(frame, blank), "the lines of 20 steps are drawn"
    assert to_gymnasium("jaxmarket/MarketMaking-AS-v0").render() is None


def test_a_multi_agent_env_is_refused_and_pointed_to_pettingzoo():
    with pytest.raises(ValueError, match="multi-agent env .*to_pettingzoo"):
        to_gymnasium("jaxmarket/OTC-v0")
    assert "jaxmarket/OTC-v0" not in gymnasium.registry


def test_unknown_ids_are_refused_naming_the_registered_ones():
    with pytest.raises(ValueError, match=r"'jaxmarket/Nope-v0' is not registered: choose one of \[.*MarketMaking"):
        to_gymnasium("jaxmarket/Nope-v0")
    with pytest.raises(gymnasium.error.NameNotFound):
        gymnasium.make("jaxmarket/Nope-v0")


def test_a_numpy_seed_is_taken_and_a_bad_one_changes_nothing():
    adapter = to_gymnasium(*MARKET_MAKING)
    action = np.array([1.5, 1.5], np.float32)
    adapter.reset(seed=3)
    expected = [adapter.step(action)[1] for _ in range(5)]
    adapter.reset(seed=np.int64(3))
    assert [adapter.step(action)[1] for _ in range(5)] == expected
    adapter.reset(seed=7)
    key = adapter._key
    with pytest.raises(ValueError, match="seed"):
        adapter.reset(seed=2**40)
    assert adapter._key is key


def test_a_params_object_of_another_env_or_a_make_pair_is_refused():
    with pytest.raises(ValueError, match="params is a dict: expected the env's MarketMakingParams"):
        to_gymnasium("jaxmarket/MarketMaking-AS-v0", params={"phi": 0.1})
    with pytest.raises(ValueError, match="params is a OTCLPParams"):
        to_gymnasium(MARKET_MAKING[0], jm.make("jaxmarket/OTC-LP-v0")[1])
    with pytest.raises(ValueError, match=r"env is a tuple: pass jm.make's pair unpacked"):
        to_gymnasium(MARKET_MAKING)


def test_registering_an_id_gymnasium_cannot_hold_registers_nothing():
    from jaxmarket.envs.market_making import MarketMaking

    for env_id, message in (("My Env", "not a gymnasium id"), ("CartPole-v1", "already a gymnasium env")):
        with pytest.raises(ValueError, match=message):
            jm.register(env_id, MarketMaking)
        assert env_id not in jm.registered()


def test_bad_settings_are_refused_before_anything_compiles():
    with pytest.raises(ValueError, match="render_mode = 'human'"):
        to_gymnasium("jaxmarket/MarketMaking-AS-v0", render_mode="human")
    with pytest.raises(ValueError, match="sigma"):
        gymnasium.make("jaxmarket/MarketMaking-AS-v0", sigma=-1.0)
    with pytest.raises(ValueError, match="seed"):
        to_gymnasium("jaxmarket/MarketMaking-AS-v0").reset(seed=-1)


def test_wrong_actions_are_refused_naming_the_expected_shape_and_dtype_and_leave_the_state():
    adapter = GymnasiumEnv(*MARKET_MAKING)
    with pytest.raises(gymnasium.error.ResetNeeded):
        adapter.step(np.array([0.5, 0.5], np.float32))
    adapter.reset(seed=0)
    state, key = adapter._state, adapter._key
    with pytest.raises(ValueError, match=r"action has shape \(3,\): expected shape \(2,\)"):
        adapter.step(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="action has dtype bool"):
        adapter.step(np.array([True, False]))
    assert adapter._state is state and adapter._key is key
    discrete = GymnasiumEnv("jaxmarket/Execution-v0")  # the action is checked before anything compiles
    with pytest.raises(ValueError, match=r"action has dtype float64: expected integers \(codes in \[0, 3\)\)"):
        discrete.step(1.0)
    with pytest.raises(ValueError, match=r"action has shape \(1,\)"):
        discrete.step([1])
