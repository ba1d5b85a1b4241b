"""Behaviour cloning: config and data checks, the action map, recovering known policies (continuous,
squashed, discrete, two agent types), the critic's TD fixed point, the chunked loop, the PPO
checkpoint round trip, and cloning a baseline from recorded market-making episodes."""

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.baselines import avellaneda_stoikov
from jaxmarket.core import spaces
from training.learners import checkpoint, loop
from training.learners.bc import BCConfig, make_trainer
from training.learners.offline import ACTION_BOUND_EPS, policy_variable, unsquash
from training.learners.ppo import observe
from tests.keys import clone_keys

ENV_ID = "jaxmarket/MarketMaking-AS-v0"
SMALL = BCConfig(hidden_sizes=(64, 64), activation="tanh", learning_rate=1e-3, num_updates=2000, updates_per_chunk=500)
BASELINE_GAMMA = 0.1  # risk aversion of the Avellaneda-Stoikov baseline that makes the recorded data
RECORDED_EPISODES = 100  # of the baseline: 20,000 transitions
EVAL_EPISODES = 2000
Z_95 = 1.96  # two-sided 95% normal quantile
DEPTH_TOLERANCE = 0.03  # the clone's mean depth error on the data, as a fraction of the data's mean depth


class SpacesEnv:
    """What an offline learner reads of an env: its two spaces (observations unbounded)."""

    def __init__(self, obs_dim: int, action_space: object) -> None:
        self.obs_dim, self.space = obs_dim, action_space

    def observation_space(self, params: object) -> spaces.Box:
        return spaces.Box(-np.inf, np.inf, (self.obs_dim,), jnp.float32)

    def action_space(self, params: object) -> object:
        return self.space


def transitions(obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray | None = None,
                next_obs: np.ndarray | None = None, terminations: np.ndarray | None = None) -> jm.Transitions:
    """Single-step transitions (terminal, zero reward unless given)."""
    n = len(obs)
    return jm.Transitions(
        obs=obs.astype(np.float32), actions=actions,
        rewards=np.zeros(n, np.float32) if rewards is None else rewards.astype(np.float32),
        next_obs=obs.astype(np.float32) if next_obs is None else next_obs.astype(np.float32),
        terminations=np.ones(n, bool) if terminations is None else terminations,
        episode=np.arange(n, dtype=np.int32), step=np.zeros(n, np.int32), agent=np.zeros(n, np.int32))


def deterministic_actions(trainer, runner, obs):
    return np.asarray(trainer.policy(runner)(None, jnp.asarray(obs, jnp.float32), None, None))


def train(trainer, seed=0):
    """The final runner of a whole run in one jit, the data passed as an argument."""
    return jax.jit(trainer.train)(jax.random.key(seed), trainer.dataset)["runner"]


@functools.cache
def recorded_market_making():
    """The env, the Avellaneda-Stoikov baseline and 100 recorded episodes of it (20,000 transitions),
    recorded once per test process."""
    env, params = jm.make(ENV_ID)
    baseline = avellaneda_stoikov(BASELINE_GAMMA, "inventory")
    data = jm.to_transitions(jm.record(env, params, baseline, num_episodes=RECORDED_EPISODES, seed=1))
    return env, params, baseline, data


@pytest.fixture
def market_making():
    return recorded_market_making()


@pytest.mark.parametrize("field, value, shown", [
    ("learning_rate", 0.0, "0.0"),
    ("batch_size", 0, "0"),
    ("num_updates", 0, "0"),
    ("updates_per_chunk", 0, "0"),
    ("gamma", 1.5, "1.5"),
    ("target_tau", 0.0, "0.0"),
    ("value_coef", -1.0, "-1.0"),
    ("reward_scale", float("nan"), "nan"),
    ("obs_clip", 0.0, "0.0"),
    ("activation", "sine", "'sine'"),
    ("hidden_sizes", (8, 0), "0"),
    ("min_log_std", 0.5, "0.5"),  # above init_log_std 0
])
def test_invalid_config_raises_before_compiling(field, value, shown, monkeypatch):
    monkeypatch.setattr(jax, "jit", lambda *a, **k: pytest.fail("compiled before checking"))
    env = SpacesEnv(2, spaces.Discrete(3))
    data = transitions(np.zeros((4, 2)), np.zeros(4, np.int32))
    with pytest.raises(ValueError, match=f"{field} = {shown}"):
        make_trainer(dataclasses.replace(SMALL, **{field: value}), env, None, data)


def test_data_that_do_not_fit_the_env_are_refused(monkeypatch):
    monkeypatch.setattr(jax, "jit", lambda *a, **k: pytest.fail("compiled before checking"))
    box = SpacesEnv(3, spaces.Box(-1.0, 1.0, (2,), jnp.float32))
    good = transitions(np.zeros((5, 3)), np.zeros((5, 2), np.float32))
    with pytest.raises(ValueError, match=r"transitions\.obs: shape \(5, 4\), expected \(5, 3\)"):
        make_trainer(SMALL, box, None, dataclasses.replace(good, obs=np.zeros((5, 4), np.float32)))
    with pytest.raises(ValueError, match=r"transitions\.next_obs: shape \(5, 2\), expected \(5, 3\)"):
        make_trainer(SMALL, box, None, dataclasses.replace(good, next_obs=np.zeros((5, 2), np.float32)))
    with pytest.raises(ValueError, match=r"transitions\.actions: shape \(5, 3\), expected \(5, 2\)"):
        make_trainer(SMALL, box, None, dataclasses.replace(good, actions=np.zeros((5, 3), np.float32)))
    with pytest.raises(ValueError, match=r"transitions: empty \(0 transitions\)"):
        make_trainer(SMALL, box, None, transitions(np.zeros((0, 3)), np.zeros((0, 2), np.float32)))
    with pytest.raises(ValueError, match=r"transitions\.rewards: not all finite"):
        make_trainer(SMALL, box, None, dataclasses.replace(good, rewards=np.full(5, np.nan, np.float32)))
    with pytest.raises(ValueError, match="family = 'lp'"):
        make_trainer(SMALL, box, None, good, family="lp")
    discrete = SpacesEnv(3, spaces.Discrete(4))
    with pytest.raises(ValueError, match=r"transitions\.actions: values in \[0, 4\], expected \[0, 3\]"):
        make_trainer(SMALL, discrete, None, transitions(np.zeros((5, 3)), np.arange(5, dtype=np.int32)))
    with pytest.raises(ValueError, match=r"transitions\.actions: dtype float32, expected an integer dtype"):
        make_trainer(SMALL, discrete, None, transitions(np.zeros((5, 3)), np.zeros(5, np.float32)))
    with pytest.raises(ValueError, match="squash_actions = True needs a Box action space with finite bounds"):
        make_trainer(SMALL, SpacesEnv(3, spaces.Box(-np.inf, np.inf, (2,), jnp.float32)), None, good)


def test_policy_variable_inverts_the_squash_and_keeps_off_the_bounds():
    low, high = np.array([0.0, -2.0], np.float32), np.array([10.0, 2.0], np.float32)
    space = spaces.Box(low, high, (2,), jnp.float32)
    inside = np.array([[2.5, 0.0], [9.0, -1.5]], np.float32)
    u = policy_variable(inside, space, squash=True)
    np.testing.assert_allclose(low + (high - low) / (1.0 + np.exp(-np.asarray(u))), inside, rtol=1e-5, atol=1e-5)
    edges = np.array([[0.0, 2.0], [-1.0, 7.0]], np.float32)  # on and beyond the bounds
    bound_u = np.log(1.0 - ACTION_BOUND_EPS) - np.log(ACTION_BOUND_EPS)
    np.testing.assert_allclose(unsquash(edges, low, high), [[-bound_u, bound_u], [-bound_u, bound_u]], rtol=1e-4)
    np.testing.assert_array_equal(policy_variable(inside, space, squash=False), inside)


def test_recovers_a_linear_policy():
    rng = np.random.default_rng(0)
    weights, bias = rng.normal(size=(3, 2)), np.array([0.5, -1.0])
    obs = rng.normal(size=(4096, 3))
    env = SpacesEnv(3, spaces.Box(-np.inf, np.inf, (2,), jnp.float32))
    trainer = make_trainer(dataclasses.replace(SMALL, squash_actions=False), env, None,
                           transitions(obs, (obs @ weights + bias).astype(np.float32)))
    runner = train(trainer)
    test_obs = rng.normal(size=(1000, 3))
    error = deterministic_actions(trainer, runner, test_obs) - (test_obs @ weights + bias)
    assert np.sqrt(np.mean(error**2)) < 0.05 * np.std(test_obs @ weights)
    # the Gaussian's spread shrinks towards the (zero) spread of the data around the fitted mean
    assert np.all(np.asarray(runner.train_state.params["params"]["log_std"]) < SMALL.init_log_std - 0.5)
    # ... down to min_log_std, where the projection after each step holds it
    floored = train(make_trainer(dataclasses.replace(SMALL, squash_actions=False, min_log_std=-0.25), env, None,
                                 transitions(obs, (obs @ weights + bias).astype(np.float32))))
    np.testing.assert_array_equal(np.asarray(floored.train_state.params["params"]["log_std"]), np.float32(-0.25))


def test_recovers_a_squashed_policy():
    rng = np.random.default_rng(1)
    low, high = np.array([0.0, -1.0]), np.array([4.0, 1.0])
    weights = rng.normal(size=(3, 2))
    obs = rng.normal(size=(4096, 3))

    def expert(o):
        return low + (high - low) / (1.0 + np.exp(-(o @ weights)))

    env = SpacesEnv(3, spaces.Box(low.astype(np.float32), high.astype(np.float32), (2,), jnp.float32))
    trainer = make_trainer(SMALL, env, None, transitions(obs, expert(obs).astype(np.float32)))
    runner = train(trainer)
    test_obs = rng.normal(size=(1000, 3))
    actions = deterministic_actions(trainer, runner, test_obs)
    assert np.all((actions >= low) & (actions <= high))
    assert np.sqrt(np.mean((actions - expert(test_obs)) ** 2, axis=0)).max() < 0.02 * (high - low).max()


def test_recovers_a_discrete_policy():
    rng = np.random.default_rng(2)
    weights = rng.normal(size=(3, 4))
    obs = rng.normal(size=(4096, 3))
    trainer = make_trainer(SMALL, SpacesEnv(3, spaces.Discrete(4)), None,
                           transitions(obs, np.argmax(obs @ weights, axis=1).astype(np.int32)))
    runner = train(trainer)
    test_obs = rng.normal(size=(2000, 3))
    actions = deterministic_actions(trainer, runner, test_obs)
    assert actions.dtype == np.int32
    assert np.mean(actions == np.argmax(test_obs @ weights, axis=1)) > 0.97


def test_one_policy_reproduces_two_agent_types():
    """Observations end with the agent's type (as the OTC agents'): the type is a network input."""
    rng = np.random.default_rng(3)
    n = 4096
    x, kind = rng.uniform(-1, 1, n), rng.integers(0, 2, n)
    slope = np.where(kind == 0, 0.8, -0.8)  # opposite behaviour of the two types
    env = SpacesEnv(2, spaces.Box(-1.0, 1.0, (1,), jnp.float32))
    data = transitions(np.stack([x, kind], 1), (slope * x)[:, None].astype(np.float32))
    trainer = make_trainer(SMALL, env, None, data)
    runner = train(trainer)
    grid = np.linspace(-0.9, 0.9, 19)
    for type_value, type_slope in ((0, 0.8), (1, -0.8)):
        actions = deterministic_actions(trainer, runner, np.stack([grid, np.full_like(grid, type_value)], 1))[:, 0]
        np.testing.assert_allclose(actions, type_slope * grid, atol=0.05)


def test_critic_is_the_td_fixed_point_of_the_data():
    """A 3-state Markov chain with random transitions, terminations and noisy rewards: the value head
    equals the data's TD(0) fixed point (the value of the chain estimated from the samples), solved in
    closed form, in units of reward_scale."""
    rng = np.random.default_rng(4)
    num_states, gamma, scale, n = 3, 0.9, 2.0, 8192
    chain = rng.dirichlet(np.ones(num_states), size=num_states)
    stop, mean_reward = np.array([0.0, 0.1, 0.5]), np.array([1.0, -0.5, 2.0])
    state = rng.integers(0, num_states, n)
    next_state = np.array([rng.choice(num_states, p=chain[s]) for s in state])
    terminated = rng.random(n) < stop[state]
    rewards = mean_reward[state] + 0.1 * rng.normal(size=n)
    one_hot = np.eye(num_states)
    # the fixed point of V = scale * r + gamma * (1 - d) * V(s') under the data's empirical model
    r_hat = np.array([rewards[state == s].mean() for s in range(num_states)])
    p_hat = np.array([[np.mean((next_state == j) & ~terminated & (state == s)) / np.mean(state == s)
                       for j in range(num_states)] for s in range(num_states)])
    expected = np.linalg.solve(np.eye(num_states) - gamma * p_hat, scale * r_hat)
    config = dataclasses.replace(SMALL, hidden_sizes=(32, 32), num_updates=3000, gamma=gamma, reward_scale=scale,
                                 target_tau=0.02)
    data = transitions(one_hot[state], np.zeros(n, np.int32), rewards, one_hot[next_state], terminated)
    trainer = make_trainer(config, SpacesEnv(num_states, spaces.Discrete(2)), None, data)
    runner = train(trainer)
    _, value = trainer.network.apply(runner.train_state.params,
                                     observe(config, runner.obs_stats, jnp.asarray(one_hot, jnp.float32)))
    np.testing.assert_allclose(value, expected, rtol=0.03)
    assert np.abs(expected - scale * r_hat).min() > 1.0  # the bootstrap matters: not just the rewards


def test_update_traces_once_and_the_loop_ends_where_jit_train_ends(market_making, tmp_path):
    env, params, _, data = market_making
    config = dataclasses.replace(SMALL, num_updates=25, updates_per_chunk=10)
    trainer = make_trainer(config, env, params, data)
    key = jax.random.key(5)
    update = jax.jit(chex.assert_max_traces(trainer.update, n=1))
    runner = jax.jit(trainer.init)(clone_keys(key))
    for _ in range(3):
        runner, metrics = update(runner, trainer.dataset)
    assert set(trainer.log_fields) <= set(metrics) and np.isfinite(metrics["actor_loss"])
    full = jax.jit(trainer.train)(clone_keys(key), trainer.dataset)["runner"]
    metadata = {"env_id": ENV_ID, "env_overrides": {}}
    looped, rows = loop.run(trainer, key, metadata=metadata, out_dir=tmp_path, progress=False)
    assert [row["update"] for row in rows] == [10, 20, 25] and int(looped.update) == 25
    chex.assert_trees_all_close(looped.train_state.params, full.train_state.params, rtol=1e-5, atol=1e-6)
    # the data are a jit argument, not runner state: the resumable checkpoints hold networks and optimisers only
    saved = sum(f.stat().st_size for f in (tmp_path / loop.CHECKPOINTS).rglob("*") if f.is_file())
    data_bytes = sum(np.asarray(x).nbytes for x in jax.tree.leaves(trainer.dataset))
    assert saved < data_bytes / 2, (saved, data_bytes)
    assert set(trainer.log_fields) <= set(rows[-1]) and rows[-1]["gradient_steps"] == 25
    # the final policy is a PPO checkpoint: checkpoint.load rebuilds it, acting identically
    _, loaded_params, loaded_policy, stored = checkpoint.load(tmp_path / loop.FINAL)
    assert stored["env_id"] == ENV_ID and stored["config"]["hidden_sizes"] == list(config.hidden_sizes)
    obs = jnp.asarray(data.obs[::97])
    np.testing.assert_array_equal(jax.vmap(lambda o: loaded_policy(None, o, None, loaded_params))(obs),
                                  trainer.policy(looped)(None, obs, None, None))


def test_passed_and_captured_data_give_the_same_run_over_several_keys():
    rng = np.random.default_rng(6)
    obs = rng.normal(size=(64, 3))
    config = dataclasses.replace(SMALL, hidden_sizes=(8,), num_updates=10)
    trainer = make_trainer(config, SpacesEnv(3, spaces.Discrete(2)), None,
                           transitions(obs, (obs[:, 0] > 0).astype(np.int32), rng.normal(size=64)))
    keys = jax.random.split(jax.random.key(7), 2)
    # lax.map rather than vmap over the keys: see offline.Trainer on batched initialisers on the CPU
    mapped = jax.jit(lambda ks, data: jax.lax.map(lambda k: trainer.train(k, data), ks))(clone_keys(keys),
                                                                                          trainer.dataset)
    assert mapped["metrics"]["actor_loss"].shape == (2, config.num_updates)
    captured = jax.jit(lambda k: trainer.train(k, trainer.dataset))(keys[1])["runner"]  # the data a constant
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[1], mapped["runner"].train_state.params),
                                captured.train_state.params, rtol=1e-5, atol=1e-6)


def test_clones_a_market_making_baseline_from_recorded_episodes(market_making):
    """Independent evaluations (other seeds): BC's mean return within 1.96 standard errors of the
    baseline's, and its depths within a small fraction of the baseline's."""
    env, params, baseline, data = market_making
    trainer = make_trainer(SMALL, env, params, data)
    runner = train(trainer)
    policy = trainer.policy(runner)
    base = jm.evaluate(env, params, baseline, num_episodes=EVAL_EPISODES, seed=7)["return"]
    cloned = jm.evaluate(env, params, policy, num_episodes=EVAL_EPISODES, seed=8)["return"]
    se = np.sqrt(base.var() / len(base) + cloned.var() / len(cloned))
    assert abs(cloned.mean() - base.mean()) < Z_95 * se, (cloned.mean(), base.mean(), se)
    depth_error = np.abs(deterministic_actions(trainer, runner, data.obs) - data.actions)
    assert depth_error.mean() < DEPTH_TOLERANCE * data.actions.mean()
