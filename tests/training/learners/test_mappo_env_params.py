"""Multi-agent PPO with the env parameters in the runner: the default batch is ``make_trainer``'s
parameters for every env, a batch of one set equals a trainer made with that set, new batch values
do not recompile, and ``episode_metrics=True`` keeps each env's last finished episode's metrics."""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.core.multi_agent import MultiAgentEnv
from jaxmarket.core.vec_env import per_env
from jaxmarket.otc.market import SIMULTANEOUS
from jaxmarket.otc.metrics import METRIC_RANGES
from tests.training.learners.test_calibration import ToyMarket
from training.learners.mappo import MAPPOConfig, make_trainer

NUM_ENVS = 4
OTC_ROUNDS = 2
# LPs and flow clients only, quoting in one phase a round: the smallest OTC program to compile
OTC_ENV, OTC_PARAMS = jm.make("jaxmarket/OTC-v0", n_lps=2, n_lts=0, n_flow=3, n_rounds=OTC_ROUNDS,
                              turn_order=SIMULTANEOUS)
OTC_CONFIG = MAPPOConfig(num_envs=NUM_ENVS, num_rounds=OTC_ROUNDS, total_rounds=NUM_ENVS * OTC_ROUNDS * 2,
                         update_epochs=1, num_minibatches=2, hidden_sizes=(8,), learn=("lp",))
OTC_TRAINER = make_trainer(OTC_CONFIG, OTC_ENV, OTC_PARAMS, episode_metrics=True)
# the batch path, compiled once for every batch below
OTC_TRAIN_BATCH = jax.jit(chex.assert_max_traces(OTC_TRAINER.train, n=1))
OTHER = OTC_PARAMS.replace(p_connect=0.3, annual_vol=0.4, p_buy=0.9)


def _leaves_equal(got, want, what, same_structure=True):
    """Bitwise equality of two pytrees' leaves (typed keys compared by their data); two trainers'
    states differ in their static parts (the networks' bound apply functions), so for those only the
    leaves are compared (``same_structure=False``)."""
    unkey = lambda x: jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x
    got, want = jax.tree.map(unkey, got), jax.tree.map(unkey, want)
    if same_structure:
        assert jax.tree.structure(got) == jax.tree.structure(want), what
    assert len(jax.tree.leaves(got)) == len(jax.tree.leaves(want)), what
    for path, a, b in zip(jax.tree_util.tree_flatten_with_path(got)[0], jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{what}: {path[0]}")


def _mixed(first, second, split):
    """A per-env batch: envs [0, split) under ``first``, the others under ``second`` (with the dtypes
    of ``per_env``'s batches, so that the compiled batch path is reused)."""
    return jax.tree.map(lambda x, y: x.at[split:].set(y[split:]), per_env(first, NUM_ENVS), per_env(second, NUM_ENVS))


def test_default_batch_is_the_trainers_params_for_every_env_and_new_values_do_not_recompile():
    """(a) ``train(key)`` equals ``train(key, per_env(params, num_envs))`` bitwise: the default is
    that very batch, so the two programs compute the same operations on the same values; (c) a
    batch with other values runs through the same compiled function and changes the run."""
    default = jax.jit(OTC_TRAINER.train)(jax.random.key(0))
    batch = OTC_TRAIN_BATCH(jax.random.key(0), per_env(OTC_PARAMS, NUM_ENVS))
    _leaves_equal(batch["metrics"], default["metrics"], "metrics")
    _leaves_equal(batch["runner"], default["runner"], "runner")
    assert int(default["runner"].update) == OTC_CONFIG.num_updates == 2

    mixed_batch = _mixed(OTC_PARAMS, OTHER, 2)
    mixed = OTC_TRAIN_BATCH(jax.random.key(0), mixed_batch)  # asserts a single trace
    _leaves_equal(mixed["runner"].env_params, mixed_batch, "the runner keeps its batch")
    np.testing.assert_array_equal(mixed["runner"].env_params.p_connect, np.float32([0.8, 0.8, 0.3, 0.3]))
    # same key, other markets for envs 2 and 3: the agents learn on other data
    lp_default = jax.tree.leaves(default["runner"].families["lp"].train_state.params)
    lp_mixed = jax.tree.leaves(mixed["runner"].families["lp"].train_state.params)
    assert any(not np.array_equal(a, b) for a, b in zip(lp_default, lp_mixed))
    connect = np.asarray(mixed["runner"].env_state.connected, np.float64)  # (envs, n_lps, n_clients)
    assert connect[2:].mean() < connect[:2].mean()
    again = OTC_TRAIN_BATCH(jax.random.key(1), _mixed(OTHER, OTC_PARAMS, 1))  # still the one trace
    assert np.isfinite(np.asarray(again["metrics"]["lp_episode_return"])).all()


def test_otc_episode_metrics_in_range_after_an_episode():
    """(d) on OTC-v0: after two rollouts of one episode each, every env's metrics are those of a
    finished episode, not of the fresh one the env continued with: in their ranges, with client
    volume, and the flow split adding up (zeros before an episode ends: the toy market's test)."""
    out = OTC_TRAIN_BATCH(jax.random.key(3), per_env(OTC_PARAMS, NUM_ENVS))
    metrics = jax.tree.map(np.asarray, out["runner"].episode_metrics)
    assert set(metrics) == set(METRIC_RANGES)
    for name, (low, high) in METRIC_RANGES.items():
        assert (metrics[name] >= low - 1e-6).all() and (metrics[name] <= high + 1e-6).all(), name
    # one episode of 2 rounds with 3 flow clients: every env traded
    assert (metrics["lp_volume"].sum(axis=1) > 0).any()
    flow = metrics["flow_lp"] + metrics["flow_ecn"]
    assert (flow > 0).all()
    np.testing.assert_allclose(flow, 1.0, rtol=1e-5)
    np.testing.assert_allclose(metrics["market_share"].sum(axis=1), metrics["flow_lp"], rtol=1e-5, atol=1e-6)
    assert (metrics["realized_vol"] > 0).all()
    # the episode ended at the last step of the rollout; the runner's env state is a fresh episode
    np.testing.assert_array_equal(out["runner"].env_state.round, np.zeros(NUM_ENVS))
    assert not np.asarray(out["runner"].env_state.lp_volume).any()


TOY = ToyMarket()
TOY_PARAMS = TOY.default_params.replace(n_rounds=2, noise=0.05)
TOY_CONFIG = MAPPOConfig(learn=("agent",), num_envs=NUM_ENVS, num_minibatches=2, num_rounds=2,
                         total_rounds=NUM_ENVS * 2 * 3, update_epochs=2, hidden_sizes=(8,))
TOY_A = TOY_PARAMS.replace(a=0.7, b=1.3)


def test_batch_of_one_set_equals_a_trainer_made_with_it():
    """(b) A trainer made with the default parameters and run on a batch of A equals a trainer
    made with A, run on its default batch: bitwise, since the default batch is ``per_env(A)`` built
    inside the same program, and XLA folding A's values as constants must not change the float
    results of these elementwise operations."""
    made_with_a = make_trainer(TOY_CONFIG, TOY, TOY_A)
    base = make_trainer(TOY_CONFIG, TOY, TOY_PARAMS)
    base_train = jax.jit(base.train)
    want = jax.jit(made_with_a.train)(jax.random.key(4))
    got = base_train(jax.random.key(4), per_env(TOY_A, NUM_ENVS))
    _leaves_equal(got["metrics"], want["metrics"], "metrics")
    _leaves_equal(got["runner"].families, want["runner"].families, "families", same_structure=False)
    _leaves_equal(got["runner"].env_state, want["runner"].env_state, "env state")
    # the parameters reach the agents: the same key under the default parameters is another run
    other = base_train(jax.random.key(4), per_env(TOY_PARAMS, NUM_ENVS))
    assert not np.array_equal(np.asarray(other["metrics"]["agent_episode_return"]),
                              np.asarray(want["metrics"]["agent_episode_return"]))
    np.testing.assert_allclose(want["runner"].env_params.a, [0.7] * NUM_ENVS, rtol=1e-7)


def test_episode_metrics_are_each_envs_last_finished_episode():
    """(d) recomputed independently: the toy market's metrics are ``(a + e0, a b + e1)`` with the
    noise ``e`` drawn at reset and kept in the state, so each env's finished episode's metrics follow
    from the state at the episode's start and the env's own (a, b). Episodes last 2 rounds and a
    rollout 1 round: zeros until the first episode ends, then kept through the next rollout, then
    the second episode's."""
    num_rounds = 1
    config = dataclasses.replace(TOY_CONFIG, num_rounds=num_rounds, total_rounds=NUM_ENVS * num_rounds * 4)
    trainer = make_trainer(config, TOY, TOY_PARAMS, episode_metrics=True)
    batch = per_env(TOY_PARAMS, NUM_ENVS).replace(a=jnp.array([0.5, 1.0, 1.5, 2.0]), b=jnp.array([2.0, -1.0, 0.0, 3.0]))
    runner = jax.jit(trainer.init)(jax.random.key(5), batch)
    np.testing.assert_array_equal(runner.episode_metrics["m"], np.zeros((NUM_ENVS, 2)))
    update = jax.jit(trainer.update)
    a, b = np.asarray(batch.a), np.asarray(batch.b)
    expected = np.zeros((NUM_ENVS, 2), np.float32)
    rounds_done = 0
    for _ in range(4):
        if int(runner.env_state.round[0]) == 0:  # a rollout that starts an episode
            start_noise = np.asarray(runner.env_state.noise)
        runner, _ = update(runner)
        rounds_done += num_rounds
        if rounds_done % TOY_PARAMS.n_rounds == 0:  # an episode ended at this rollout's last round
            expected = np.stack([a, a * b], axis=1).astype(np.float32) + start_noise
        np.testing.assert_allclose(np.asarray(runner.episode_metrics["m"]), expected, rtol=1e-6, atol=1e-7)
    assert rounds_done == 4 * num_rounds
    assert np.abs(expected).sum() > 0
    assert not np.array_equal(start_noise[0], start_noise[1])  # each env its own episode


class NoMetrics(ToyMarket):
    """The toy market without episode metrics: the base class's default, nothing in ``info``."""

    episode_metrics = MultiAgentEnv.episode_metrics  # the default every MultiAgentEnv inherits

    def step_env(self, key, state, actions, params):
        obs, state, reward, terminated, _ = super().step_env(key, state, actions, params)
        return obs, state, reward, terminated, {}


class MetricsNone(ToyMarket):
    episode_metrics = None


def test_episode_metrics_needs_an_env_with_them():
    """(e) ``episode_metrics=True`` on an env that defines no episode metrics is refused up front."""
    with pytest.raises(ValueError, match="episode_metrics = True: env MetricsNone.s step puts no episode metrics"):
        make_trainer(TOY_CONFIG, MetricsNone(), TOY_PARAMS, episode_metrics=True)
    with pytest.raises(ValueError, match="episode_metrics = True: env NoMetrics.s step puts no episode metrics"):
        make_trainer(TOY_CONFIG, NoMetrics(), TOY_PARAMS, episode_metrics=True)
    make_trainer(TOY_CONFIG, NoMetrics(), TOY_PARAMS)  # without the option the env is fine
