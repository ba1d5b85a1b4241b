"""``jm.record`` and ``jm.to_transitions`` against a step-by-step replay, ``jm.evaluate``'s returns,
conservation of the rewards, and the errors they raise."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.baselines import cartea_jaimungal
from jaxmarket.otc import dealer
from jaxmarket.otc.market import LP_TYPE_FIELDS
from tests.compiles import count_compiles

MM_STEPS = 20  # a short market-making episode
OTC_ROUNDS = 6
EPISODES = 8
NOISE = 0.1  # price units, the market-making policy's exploration noise


@pytest.fixture(scope="module")
def market_making():
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0", max_steps_in_episode=MM_STEPS)
    optimal = cartea_jaimungal(params.phi, params.alpha, max_steps_in_episode=MM_STEPS)

    def noisy(key, obs, state, p):  # the optimal depths with exploration noise: the policy's key matters
        return optimal(key, obs, state, p) + NOISE * jax.random.normal(key, (2,))

    return env, params, noisy


@pytest.fixture(scope="module")
def otc():
    env, params = jm.make("jaxmarket/OTC-v0", n_lps=2, n_lts=3, n_flow=4, n_rounds=OTC_ROUNDS)
    return env, params, dealer.heuristic_policy(env)


def test_a_recording_replays_step_by_step(market_making):
    """Episode 1's recorded observations, actions and rewards are those of a plain Python loop over
    ``reset_env``/``step_env`` with the key schedule ``record`` documents (as ``evaluate``'s)."""
    env, params, policy = market_making
    t = jm.record(env, params, policy, EPISODES, seed=3)
    key = jax.random.split(jm.seed_key(3), EPISODES)[1]
    reset_key, key = jax.random.split(key)
    obs, state = env.reset_env(reset_key, params)
    for step, step_key in enumerate(jax.random.split(key, MM_STEPS)):
        act_key, env_key = jax.random.split(step_key)
        action = policy(act_key, obs, state, params)
        np.testing.assert_array_equal(t.observations[1, step], obs)
        np.testing.assert_allclose(t.actions[1, step], action, rtol=1e-6)
        obs, state, reward, terminated, _ = env.step_env(env_key, state, action, params)
        np.testing.assert_allclose(t.rewards[1, step], reward, rtol=1e-5, atol=1e-6)
        assert bool(t.terminations[1, step]) == bool(terminated)
        assert bool(t.truncations[1, step]) == bool(env.is_truncated(state, params))
    np.testing.assert_array_equal(t.observations[1, MM_STEPS], obs)
    assert t.observations.shape == (EPISODES, MM_STEPS + 1, 2) and t.actions.shape == (EPISODES, MM_STEPS, 2)
    assert t.acting is None and t.types is None
    np.testing.assert_array_equal(t.lengths, MM_STEPS)
    assert t.terminations[:, -1].all() and not t.terminations[:, :-1].any() and not t.truncations[:, :-1].any()


def test_returns_and_metrics_are_evaluate_s(market_making, otc):
    """The recorded rewards sum to ``jm.evaluate``'s returns for the same policy and seed (both
    families of a multi-agent env), and the metrics are its metrics."""
    for env, params, policy in (market_making, otc):
        t = jm.record(env, params, policy, EPISODES, seed=5)
        stats = jm.evaluate(env, params, policy, EPISODES, seed=5)
        if isinstance(t.rewards, dict):
            for family in env.families:
                np.testing.assert_allclose(t.rewards[family].sum(axis=1), stats["return"][family], rtol=1e-4, atol=1e-3)
        else:
            np.testing.assert_allclose(t.rewards.sum(axis=1), stats["return"], rtol=1e-4, atol=1e-3)
        for name, value in t.metrics.items():
            np.testing.assert_allclose(value, stats[name], rtol=1e-6, atol=1e-6, err_msg=name)


def test_a_longer_rollout_is_padded(market_making):
    """Steps after the episode's end are padding: the final observation repeated, zero rewards, no
    termination; ``lengths`` counts the real steps and ``to_transitions`` drops the padding."""
    env, params, policy = market_making
    extra = 5
    t = jm.record(env, params, policy, 4, seed=0, num_steps=MM_STEPS + extra)
    np.testing.assert_array_equal(t.lengths, MM_STEPS)
    final = t.observations[:, MM_STEPS]
    for k in range(1, extra + 1):
        np.testing.assert_array_equal(t.observations[:, MM_STEPS + k], final)
    assert not t.rewards[:, MM_STEPS:].any() and not t.terminations[:, MM_STEPS:].any()
    short = jm.record(env, params, policy, 4, seed=0)
    np.testing.assert_array_equal(t.observations[:, : MM_STEPS + 1], short.observations)
    x = jm.to_transitions(t)
    assert len(x) == 4 * MM_STEPS == t.num_transitions
    np.testing.assert_array_equal(x.next_obs[x.terminations], final)
    np.testing.assert_array_equal(x.obs[1:][x.episode[1:] == x.episode[:-1]],
                                  x.next_obs[:-1][x.episode[1:] == x.episode[:-1]])


def test_types_are_the_agents_types():
    """OTC-LP-v0's recorded type is the one its agent observes (the last columns of its observation)."""
    env, params = jm.make("jaxmarket/OTC-LP-v0", n_rounds=OTC_ROUNDS)

    def policy(key, obs, state, p):
        return dealer.heuristic_lp_actions(obs[None], env.config, p)[0]

    t = jm.record(env, params, policy, EPISODES, seed=2)
    assert env.type_fields == LP_TYPE_FIELDS and t.types.shape == (EPISODES, len(LP_TYPE_FIELDS))
    np.testing.assert_array_equal(t.observations[:, 0, -len(LP_TYPE_FIELDS):], t.types)
    assert len(np.unique(t.types[:, 0])) == EPISODES  # a type drawn per episode


def test_multi_agent_transitions_follow_the_turns(otc):
    """OTC-v0's Stackelberg turns: each agent's transitions run from one of its turns to the next;
    the rewards are conserved, and each next observation is the agent's at its next turn."""
    env, params, policy = otc
    t = jm.record(env, params, policy, EPISODES, seed=4)
    steps = params.n_rounds * env.config.n_phases
    assert t.observations["lp"].shape == (EPISODES, steps + 1, 2, 13)
    assert t.types["lt"].shape == (EPISODES, 3, len(env.type_fields["lt"]))
    for family in env.families:
        x = jm.to_transitions(t, family)
        assert len(x) == int(t.acting[family].sum()) == EPISODES * params.n_rounds * env.num_agents[family]
        np.testing.assert_allclose(x.rewards.sum(), t.rewards[family].sum(), rtol=1e-5)
        np.testing.assert_allclose(np.bincount(x.episode, x.rewards), t.rewards[family].sum(axis=(1, 2)), rtol=1e-4,
                                   atol=1e-3)
        assert x.terminations.sum() == EPISODES * env.num_agents[family]
        inner = ~x.terminations
        np.testing.assert_array_equal(x.next_obs[:-1][inner[:-1]], x.obs[1:][inner[:-1]])
        np.testing.assert_array_equal(x.step[1:][inner[:-1]] - x.step[:-1][inner[:-1]], env.config.n_phases)


def test_bad_input_is_refused_before_compiling(market_making, otc):
    env, params, _ = market_making
    with pytest.raises(ValueError, match=r"policy action: shape \(3,\), expected \(2,\)"):
        jm.record(env, params, lambda k, o, s, p: jnp.zeros(3), 2)
    with pytest.raises(ValueError, match="num_episodes"):
        jm.record(env, params, lambda k, o, s, p: jnp.zeros(2), 0)
    with pytest.raises(ValueError, match=r"policy action: dtype int32, expected a floating dtype \(a Box action\)"):
        jm.record(env, params, lambda k, o, s, p: jnp.zeros(2, jnp.int32), 2)
    menv, mparams, mpolicy = otc
    with pytest.raises(ValueError, match=f"env_params: a {type(mparams).__name__}, expected {type(params).__name__}"):
        jm.record(env, mparams, lambda k, o, s, p: jnp.zeros(2), 2)
    with pytest.raises(ValueError, match=r"expected a dict with keys \['lp', 'lt'\]"):
        jm.record(menv, mparams, lambda k, o, s, p: {"lp": mpolicy(k, o, s, p)["lp"]}, 2)
    with pytest.raises(ValueError, match=r"policy action\['lt'\]: dtype float32, expected an integer"):
        jm.record(menv, mparams, lambda k, o, s, p: {**mpolicy(k, o, s, p), "lt": jnp.zeros(3)}, 2)
    t = jm.record(menv, mparams, mpolicy, 2, seed=0)
    with pytest.raises(ValueError, match="family = None: a multi-agent recording needs one of"):
        jm.to_transitions(t)
    with pytest.raises(ValueError, match="single-agent recording has no families"):
        jm.to_transitions(jm.record(env, params, market_making[2], 2), family="lp")


def test_recording_in_chunks_compiles_once(market_making):
    """A second recording of the same size with the same policy reuses the compiled rollout."""
    env, params, policy = market_making
    jm.record(env, params, policy, 3, seed=0)
    with count_compiles() as compiled:
        again = jm.record(env, params, policy, 3, seed=1)
    assert compiled == [] and again.num_episodes == 3
