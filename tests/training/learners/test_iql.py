"""Implicit Q-Learning: config checks, the closed forms of a two-state problem (Q, the expectile V,
the advantage-weighted policy), picking the better action where the data mostly take the worse,
a continuous problem where it beats its data and behaviour cloning, and training on recorded
market-making episodes through the loop to a PPO checkpoint."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.core import spaces
from training.learners import bc, checkpoint, loop
from training.learners.iql import IQLConfig, TwinQ, expectile_loss, make_trainer
from training.learners.ppo import observe
from tests.keys import clone_keys
from tests.training.learners.test_bc import (
    ENV_ID, SpacesEnv, deterministic_actions, recorded_market_making, train, transitions,
)

OTC_ID = "jaxmarket/OTC-v0"
SMALL = IQLConfig(hidden_sizes=(32, 32), learning_rate=1e-3, target_tau=0.02, num_updates=3000, updates_per_chunk=500)


@pytest.mark.parametrize("field, value, shown", [
    ("expectile", 1.0, "1.0"),
    ("expectile", 0.0, "0.0"),
    ("temperature", -1.0, "-1.0"),
    ("max_weight", 0.0, "0.0"),
    ("target_tau", 1.5, "1.5"),
    ("reward_scale", float("inf"), "inf"),
    ("batch_size", 0, "0"),
    ("gamma", -0.1, "-0.1"),
])
def test_invalid_config_raises_before_compiling(field, value, shown, monkeypatch):
    monkeypatch.setattr(jax, "jit", lambda *a, **k: pytest.fail("compiled before checking"))
    data = transitions(np.zeros((4, 2)), np.zeros(4, np.int32))
    with pytest.raises(ValueError, match=f"{field} = {shown}"):
        make_trainer(dataclasses.replace(SMALL, **{field: value}), SpacesEnv(2, spaces.Discrete(3)), None, data)


def test_data_that_do_not_fit_the_env_are_refused():
    env = SpacesEnv(2, spaces.Discrete(3))
    with pytest.raises(ValueError, match=r"transitions\.obs: shape \(4, 3\), expected \(4, 2\)"):
        make_trainer(SMALL, env, None, transitions(np.zeros((4, 3)), np.zeros(4, np.int32)))
    with pytest.raises(ValueError, match=r"transitions: empty"):
        make_trainer(SMALL, env, None, transitions(np.zeros((0, 2)), np.zeros(0, np.int32)))


def test_expectile_loss_weights():
    diff = jnp.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(expectile_loss(diff, 0.7), [0.3 * 4, 0.3 * 0.25, 0.0, 0.7 * 0.25, 0.7 * 4])


def expectile(values: np.ndarray, probs: np.ndarray, tau: float) -> float:
    """The tau-expectile m of a discrete distribution: sum_i p_i |tau - 1(v_i < m)| (v_i - m) = 0, by bisection."""
    low, high = values.min(), values.max()
    for _ in range(100):
        m = 0.5 * (low + high)
        slope = np.sum(probs * np.where(values < m, 1 - tau, tau) * (values - m))
        low, high = (m, high) if slope > 0 else (low, m)
    return 0.5 * (low + high)


def test_two_state_problem_matches_closed_forms_and_picks_the_better_action():
    """From state A, action 1 leads to B with reward 0 and action 0 ends the episode with reward 0.5;
    from B either action ends it with reward 1. The data take action 1 in A 30% of the time. Then
    Q(B, .) = V(B) = 1, Q(A, 1) = gamma, Q(A, 0) = 0.5, V(A) is the expectile of Q(A, .) under the data's
    actions, and the policy in A is the data's reweighted by exp(temperature * (Q - V(A)))."""
    rng = np.random.default_rng(0)
    gamma, n, p_on = 0.9, 8192, 0.3
    in_b = rng.random(n) < 0.5
    action = np.where(in_b, rng.integers(0, 2, n), rng.random(n) < p_on).astype(np.int32)
    a_state, b_state = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    obs = np.where(in_b[:, None], b_state, a_state)
    moves_on = ~in_b & (action == 1)
    next_obs = np.where(moves_on[:, None], b_state, obs)
    rewards = np.where(in_b, 1.0, np.where(action == 1, 0.0, 0.5))
    config = dataclasses.replace(SMALL, gamma=gamma)
    trainer = make_trainer(config, SpacesEnv(2, spaces.Discrete(2)), None,
                           transitions(obs, action, rewards, next_obs, ~moves_on))
    runner = train(trainer)
    states = jnp.asarray(np.stack([a_state, b_state]), jnp.float32)
    seen = observe(config, runner.obs_stats, states)
    dist, value = trainer.network.apply(runner.train_state.params, seen)
    q = trainer_q(trainer, runner, seen)
    np.testing.assert_allclose(q[1], [1.0, 1.0], atol=0.02)
    np.testing.assert_allclose(q[0], [0.5, gamma], atol=0.02)
    p_data = np.mean(action[~in_b])  # the data's share of action 1 in A
    v_a = expectile(np.array([0.5, gamma]), np.array([1 - p_data, p_data]), config.expectile)
    assert abs(v_a - (p_data * gamma + (1 - p_data) * 0.5)) > 0.05  # the expectile is not the mean
    np.testing.assert_allclose(value, [v_a, 1.0], atol=0.02)
    weights = np.array([1 - p_data, p_data]) * np.exp(config.temperature * (np.array([0.5, gamma]) - v_a))
    np.testing.assert_allclose(dist.probs[0], weights / weights.sum(), atol=0.03)
    # the data mostly end in A (return 0.5 against 1 for moving on): IQL's return beats the data's
    iql_return = 1.0 if int(deterministic_actions(trainer, runner, a_state[None])[0]) == 1 else 0.5
    assert iql_return > p_data * 1.0 + (1 - p_data) * 0.5


def trainer_q(trainer, runner, seen):
    """The minimum of the twin Q networks for every action, (states, actions)."""
    q_network = TwinQ(trainer.config.hidden_sizes, trainer.config.activation, num_actions=2)
    per_action = [q_network.apply(runner.q_state.params, seen, jnp.full(seen.shape[:1], a, jnp.int32)).min(0)
                  for a in range(2)]
    return np.stack(per_action, axis=1)


def test_continuous_actions_beat_the_data_and_behaviour_cloning():
    """Uniform actions in [-1, 1], reward -(a - x / 2)^2 for observation x: IQL's deterministic actions
    earn more than the data's and than behaviour cloning's (which clones the uniform mean)."""
    rng = np.random.default_rng(1)
    n = 8192
    x = rng.uniform(-1, 1, (n, 1))
    actions = rng.uniform(-1, 1, (n, 1)).astype(np.float32)

    def reward(a, o):
        return -(a - 0.5 * o) ** 2

    data = transitions(x, actions, reward(actions, x)[:, 0])
    env = SpacesEnv(1, spaces.Box(-1.0, 1.0, (1,), jnp.float32))
    grid = np.linspace(-1, 1, 101)[:, None]
    config = dataclasses.replace(SMALL, hidden_sizes=(64, 64))
    trainer = make_trainer(config, env, None, data)
    iql_return = reward(deterministic_actions(trainer, train(trainer), grid), grid).mean()
    cloner = bc.make_trainer(bc.BCConfig(hidden_sizes=(64, 64), learning_rate=1e-3, num_updates=2000), env, None, data)
    bc_return = reward(deterministic_actions(cloner, train(cloner), grid), grid).mean()
    data_return = reward(rng.uniform(-1, 1, grid.shape), grid).mean()  # -(1/3 + x^2/4) on average
    assert iql_return > bc_return + 0.03 > data_return + 0.03
    assert iql_return > -0.01  # within 0.1 of the best action on average


def test_trains_on_recorded_episodes_through_the_loop_to_a_ppo_checkpoint(tmp_path):
    env, params, _, data = recorded_market_making()
    config = dataclasses.replace(SMALL, num_updates=25, updates_per_chunk=10, reward_scale=0.1)
    trainer = make_trainer(config, env, params, data)
    key = jax.random.key(2)
    update = jax.jit(chex.assert_max_traces(trainer.update, n=1))
    runner = jax.jit(trainer.init)(clone_keys(key))
    for _ in range(3):
        runner, metrics = update(runner, trainer.dataset)
    assert all(np.isfinite(metrics[name]) for name in trainer.log_fields)
    full = jax.jit(trainer.train)(clone_keys(key), trainer.dataset)["runner"]
    looped, rows = loop.run(trainer, key, metadata={"env_id": ENV_ID, "env_overrides": {}}, out_dir=tmp_path,
                            progress=False)
    assert [row["update"] for row in rows] == [10, 20, 25]
    chex.assert_trees_all_close(looped.q_state.params, full.q_state.params, rtol=1e-5, atol=1e-6)
    _, loaded_params, loaded_policy, _ = checkpoint.load(tmp_path / loop.FINAL)
    obs = jnp.asarray(data.obs[::97])
    np.testing.assert_array_equal(jax.vmap(lambda o: loaded_policy(None, o, None, loaded_params))(obs),
                                  trainer.policy(looped)(None, obs, None, None))


def test_trains_on_one_family_of_a_multi_agent_recording(tmp_path):
    """The OTC clients' (Discrete) turns of a short random recording: the family's spaces are checked,
    the policy acts for all the family's agents at once, and the checkpoint names the family."""
    env, params = jm.make(OTC_ID)
    data = jm.to_transitions(jm.record(env, params, jm.random_policy(env), num_episodes=4, seed=0, num_steps=20),
                             family="lt")
    config = dataclasses.replace(SMALL, num_updates=20, updates_per_chunk=10)
    with pytest.raises(ValueError, match=r"family = None: a multi-agent env needs one of \['lp', 'lt'\]"):
        make_trainer(config, env, params, data)
    with pytest.raises(ValueError, match=r"transitions\.obs: shape \(\d+, 24\), expected \(\d+, 13\)"):
        make_trainer(config, env, params, data, family="lp")
    trainer = make_trainer(config, env, params, data, family="lt")
    runner = train(trainer)
    obs, state = env.reset_env(jax.random.key(1), params)
    actions = trainer.policy(runner)(None, obs["lt"], state, params)
    assert actions.shape == (env.num_agents["lt"],) and jnp.issubdtype(actions.dtype, jnp.integer)
    assert np.all((np.asarray(actions) >= 0) & (np.asarray(actions) < env.action_space("lt", params).n))
    trainer.save(tmp_path, runner, {"env_id": OTC_ID, "env_overrides": {}}, config.num_updates)
    assert checkpoint.read_metadata(tmp_path)["family"] == "lt"
