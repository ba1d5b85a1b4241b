"""VecEnv: batched steps that reset only at episode ends, for single- and multi-agent envs."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm

NUM_ENVS = 3


def _otc():
    return jm.make("jaxmarket/OTC-v0", n_lps=2, n_lts=2, n_flow=3, n_rounds=3)


def _otc_actions(env, params, key):
    lp_key, lt_key = jax.random.split(key)
    lp = jax.random.uniform(lp_key, (NUM_ENVS, 2, env.config.n_tiers + 2), minval=0.0, maxval=0.5)
    lt = jax.random.randint(lt_key, (NUM_ENVS, 2), 0, env.config.n_lt_actions)
    return {"lp": lp, "lt": lt}


def test_matches_step_env_between_episode_ends_and_resets_at_them():
    env, params = _otc()
    venv = jm.VecEnv(env, NUM_ENVS)
    step = jax.jit(chex.assert_max_traces(venv.step, n=1))
    obs, state = venv.reset(jax.random.key(0), params)
    steps = env.episode_length(params)
    for t in range(steps):
        act_key, key = jax.random.split(jax.random.key(100 + t))
        actions = _otc_actions(env, params, act_key)
        # VecEnv's own split of the step key, replayed: the step gets a clone of the key
        env_keys = jax.random.split(jax.random.split(jax.random.clone(key))[0], NUM_ENVS)
        want_obs, want_state, want_r, want_term, _ = jax.vmap(env.step_env, (0, 0, 0, None))(env_keys, state, actions, params)
        obs, state, reward, terminated, truncated, info = step(key, state, actions, params)
        np.testing.assert_allclose(reward["lp"], want_r["lp"], rtol=1e-6)
        np.testing.assert_array_equal(terminated["lp"], want_term["lp"])
        np.testing.assert_array_equal(truncated["lp"], np.zeros_like(want_term["lp"]))
        chex.assert_trees_all_close(info["final_observation"], want_obs, rtol=1e-6, atol=1e-6)
        if t < steps - 1:
            chex.assert_trees_all_close(state, want_state, rtol=1e-6, atol=1e-6)
            assert not np.asarray(want_term["lp"]).any()
    # the last step ended every episode: all envs start afresh
    assert np.asarray(terminated["lp"]).all()
    np.testing.assert_array_equal(state.round, np.zeros(NUM_ENVS))
    np.testing.assert_array_equal(state.lp_volume, np.zeros((NUM_ENVS, 2)))
    assert not np.allclose(state.lp_types, want_state.lp_types), "fresh episodes draw fresh types"


def test_single_agent_env_resets_only_the_finished_envs():
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0", max_steps_in_episode=4)
    venv = jm.VecEnv(env, NUM_ENVS)
    obs, state = venv.reset(jax.random.key(0), params)
    state = state.replace(time=jnp.array([0, 2, 3], jnp.int32))  # env 2 ends on the next step
    actions = jnp.ones((NUM_ENVS, 2))
    obs, state, reward, terminated, truncated, _ = venv.step(jax.random.key(1), state, actions, params)
    np.testing.assert_array_equal(terminated, [False, False, True])
    np.testing.assert_array_equal(state.time, [1, 3, 0])
    np.testing.assert_allclose(obs[2], [1.0, 0.0])  # a fresh episode's observation
    assert np.isfinite(np.asarray(reward)).all()


def test_num_envs_is_checked():
    env, _ = _otc()
    with pytest.raises(ValueError, match="num_envs"):
        jm.VecEnv(env, 0)
