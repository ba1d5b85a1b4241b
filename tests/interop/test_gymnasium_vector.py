"""The gymnasium vector adapter: the same numbers as ``VecEnv`` for the same seed and actions,
gymnasium's same-step autoreset layout, gymnasium's own vector wrappers on top, and clear errors."""

import chex
import gymnasium
import jax
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import jaxmarket as jm
from jaxmarket.interop import to_gymnasium_vector

STEPS = 12  # steps per episode: the 30 steps below cross two episode boundaries
NUM_ENVS = 4


@pytest.fixture(scope="module")
def market_making():
    return jm.make("jaxmarket/MarketMaking-AS-v0", max_steps_in_episode=STEPS)


def test_steps_equal_vec_env_with_the_documented_keys_across_autoresets(market_making):
    env, params = market_making
    envs = to_gymnasium_vector(env, params, NUM_ENVS)
    envs.action_space.seed(0)
    actions = [envs.action_space.sample() for _ in range(30)]
    vec = jm.VecEnv(env, NUM_ENVS)
    key = jax.random.key(7)
    key, sub = jax.random.split(key)
    obs_jax, state = vec.reset(sub, params)
    obs, _ = envs.reset(seed=7)
    np.testing.assert_array_equal(obs, obs_jax)
    ended_total = 0
    for action in actions:
        key, sub = jax.random.split(key)
        obs_jax, state, reward_jax, terminated_jax, truncated_jax, info_jax = vec.step(sub, state, action, params)
        obs, reward, terminated, truncated, info = envs.step(action)
        np.testing.assert_array_equal(obs, obs_jax)
        np.testing.assert_array_equal(reward, reward_jax)
        np.testing.assert_array_equal(terminated, terminated_jax)
        np.testing.assert_array_equal(truncated, truncated_jax)
        ended = np.asarray(terminated_jax | truncated_jax)
        np.testing.assert_array_equal(info["_final_obs"], ended)
        for i in range(NUM_ENVS):
            if ended[i]:
                np.testing.assert_array_equal(info["final_obs"][i], np.asarray(info_jax["final_observation"][i]))
            else:
                assert info["final_obs"][i] is None
        np.testing.assert_array_equal(info["pnl"], info_jax["pnl"])
        assert info["_pnl"].all()
        np.testing.assert_array_equal(info["_final_info"], ended)
        np.testing.assert_array_equal(info["final_info"]["_pnl"], ended)
        np.testing.assert_array_equal(info["final_info"]["pnl"], info_jax["pnl"])
        ended_total += int(ended.sum())
    assert ended_total == NUM_ENVS * (30 // STEPS), "every copy ended two episodes"


def test_gymnasium_episode_statistics_wrapper_sums_the_rewards(market_making):
    """gymnasium's own vector wrapper reads the same-step autoreset layout: its episode returns
    are the sums of the rewards the adapter returned."""
    envs = gymnasium.wrappers.vector.RecordEpisodeStatistics(to_gymnasium_vector(*market_making, num_envs=2))
    envs.reset(seed=1)
    totals = np.zeros(2)
    for _ in range(STEPS):
        _, reward, terminated, truncated, info = envs.step(np.full((2, 2), 0.4, np.float32))
        totals += reward
    assert (terminated | truncated).all()
    np.testing.assert_allclose(info["episode"]["r"], totals, rtol=1e-6)
    np.testing.assert_array_equal(info["episode"]["l"], [STEPS, STEPS])


def test_make_vec_builds_it_with_same_step_autoreset_and_steps_trace_once(market_making):
    envs = gymnasium.make_vec("jaxmarket/MarketMaking-AS-v0", num_envs=3, vectorization_mode="vector_entry_point",
                              max_steps_in_episode=STEPS)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert envs.observation_space.shape == (3, 2) and envs.action_space.shape == (3, 2)
    env = envs.unwrapped.env
    env.step_env = chex.assert_max_traces(env.step_env, n=1)
    envs.reset(seed=0)
    for _ in range(2 * STEPS):
        envs.step(envs.action_space.sample())


def test_reset_without_a_seed_draws_one_and_continues(market_making):
    envs = to_gymnasium_vector(*market_making, num_envs=2)
    first, _ = envs.reset()  # the first reset without a seed draws one from np_random
    envs.reset(seed=4)
    seeded = [envs.step(np.full((2, 2), 3.0, np.float32))[1] for _ in range(4)]
    envs.reset()  # continues the key: another episode
    assert first.shape == (2, 2)
    assert any(not np.array_equal(r, envs.step(np.full((2, 2), 3.0, np.float32))[1]) for r in seeded)


def test_a_discrete_env_gets_a_multi_discrete_batch_and_integer_actions():
    envs = to_gymnasium_vector("jaxmarket/Execution-v0", num_envs=3)
    assert envs.action_space == gymnasium.spaces.MultiDiscrete([3, 3, 3])
    with pytest.raises(ValueError, match=r"actions has dtype float32: expected integers \(codes in \[0, 3\)\)"):
        envs.step(np.zeros(3, np.float32))  # checked before anything compiles


def test_bad_input_is_refused_with_a_clear_message(market_making):
    with pytest.raises(ValueError, match="num_envs"):
        to_gymnasium_vector(*market_making, num_envs=0)
    with pytest.raises(ValueError, match="multi-agent env"):
        to_gymnasium_vector("jaxmarket/OTC-v0", num_envs=2)
    envs = to_gymnasium_vector(*market_making, num_envs=2)
    with pytest.raises(ValueError, match="one integer seed for the batch"):
        envs.reset(seed=[1, 2])
    with pytest.raises(ValueError, match=r"actions has shape \(2,\): expected shape \(2, 2\)"):
        envs.step(np.zeros(2, np.float32))
    with pytest.raises(gymnasium.error.ResetNeeded):
        envs.step(np.zeros((2, 2), np.float32))
