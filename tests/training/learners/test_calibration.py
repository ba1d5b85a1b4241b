"""The calibrator on a synthetic market whose metrics are a known smooth function of theta: both
methods recover the theta that produced the targets; the box, the loss, the policy gradient, every
configuration check, seeds under vmap and compiling once."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxmarket.core import spaces
from jaxmarket.core.multi_agent import MultiAgentEnv
from jaxmarket.core.validation import check_int, check_range
from tests.keys import clone_keys
from training.learners.calibration import (
    Box,
    CalibrationConfig,
    group_loss,
    make_calibrator,
    policy_gradient_loss,
)
from training.learners.mappo import MAPPOConfig, make_trainer


@struct.dataclass
class ToyParams:
    """Two free numbers ``a`` and ``b``; the episode's metrics are ``(a, a b)`` plus noise."""

    a: float = 1.0
    b: float = 1.0
    noise: float = 0.01  # std of the normal noise added to each metric, drawn at reset
    n_rounds: int = 1

    def check(self) -> None:
        check_range("noise", self.noise, 0.0)
        check_int("n_rounds", self.n_rounds, 1)


@struct.dataclass
class ToyState:
    round: jax.Array  # int32
    noise: jax.Array  # (2,) float32


class ToyMarket(MultiAgentEnv):
    """One family of one agent with a two-way action whose reward depends on (a, b) (so do its
    observations); ``episode_metrics`` is ``{"m": (a + e0, a b + e1)}`` with noise ``e`` drawn at
    reset, put in ``info["metrics"]`` at every step as OTC-v0 does."""

    params_class = ToyParams
    families = ("agent",)
    turn_order = (("agent",),)
    num_agents: ClassVar[dict[str, int]] = {"agent": 1}

    def phase(self, state: ToyState) -> jax.Array:
        return jnp.array(0, jnp.int32)

    def observe(self, state: ToyState, params: ToyParams) -> dict[str, jax.Array]:
        left = 1.0 - state.round / params.n_rounds
        return {"agent": jnp.stack([left, params.a, params.b]).astype(jnp.float32)[None]}

    def reset_env(self, key: jax.Array, params: ToyParams) -> tuple[dict, ToyState]:
        state = ToyState(jnp.array(0, jnp.int32), params.noise * jax.random.normal(key, (2,), jnp.float32))
        return self.observe(state, params), state

    def step_env(self, key: jax.Array, state: ToyState, actions: dict, params: ToyParams) -> tuple:
        del key
        state = state.replace(round=state.round + 1)
        reward = {"agent": jnp.where(actions["agent"] == 1, params.a, params.b - 1.0).astype(jnp.float32)}
        done = state.round >= params.n_rounds
        terminated = {"agent": jnp.broadcast_to(done, (1,))}
        return self.observe(state, params), state, reward, terminated, {"metrics": self.episode_metrics(state, params)}

    def episode_metrics(self, state: ToyState, params: ToyParams) -> dict[str, jax.Array]:
        a = jnp.asarray(params.a, jnp.float32)
        b = jnp.asarray(params.b, jnp.float32)
        return {"m": jnp.stack([a, a * b]) + state.noise}

    def observation_space(self, family: str, params: Any = None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (3,), jnp.float32)

    def action_space(self, family: str, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(2)


ENV = ToyMarket()
BASE = ENV.default_params
GROUPS, ENVS_PER_GROUP = 8, 2
AGENTS = MAPPOConfig(learn=("agent",), num_envs=GROUPS * ENVS_PER_GROUP, num_minibatches=1, num_rounds=1,
                     total_rounds=GROUPS * ENVS_PER_GROUP * 1000, update_epochs=1, hidden_sizes=(8,))
TRAINER = make_trainer(AGENTS, ENV, BASE, episode_metrics=True)
BOX = Box(("a", "b"), np.array([0.0, 0.0]), np.array([2.0, 2.0]))
THETA_STAR = np.array([1.2, 0.5])
TARGETS = np.array([THETA_STAR[0], THETA_STAR[0] * THETA_STAR[1]])  # m(theta*) = (a*, a* b*): theta* is unique
START = np.array([1.0, 1.0])  # |start - theta*| = (0.2, 0.5)
SEEDS = 4


def apply(theta: jax.Array) -> ToyParams:
    return BASE.replace(a=theta[0], b=theta[1])


def measure(metrics: dict[str, jax.Array]) -> jax.Array:
    return metrics["m"].mean(axis=0)


def calibrator(trainer=TRAINER, episode_rounds=1, targets=TARGETS, weights=(1.0, 1.0), start=START,
               metric_names=("a", "ab"), **config):
    config = {"groups": GROUPS, "learning_rate": 0.05, "init_std": 0.5, "min_std": 0.02, **config}
    return make_calibrator(CalibrationConfig(**config), trainer, BOX, apply, measure, targets, weights, start,
                           episode_rounds, metric_names)


# Tolerance of the recovery: each group's metrics carry noise of std 0.01 / sqrt(2) (two envs a
# group), so the loss surface is only known to about 1e-4 near theta*. The "rl" mean moves by Adam
# steps of at most about learning_rate (0.05, annealed) in u, i.e. up to 0.05 * (high - low) / 4 =
# 0.025 in theta, and CMA-ES stalls at the noise floor; 0.05 is twice the "rl" step and a quarter of
# the start's smallest distance to theta* (0.2), so a calibrator that does not converge fails.
RECOVERY_ATOL = 0.05


@pytest.mark.parametrize("method, iterations", [("rl", 150), ("cma_es", 100)])
def test_recovers_the_theta_that_made_the_targets(method, iterations):
    cal = calibrator(method=method, iterations=iterations)
    out = jax.jit(jax.vmap(cal.train))(jax.random.split(jax.random.key(0), SEEDS))
    metrics = jax.tree.map(np.asarray, out["metrics"])
    theta = metrics["theta"]  # (seeds, iterations, 2): the calibrator's point after each iteration
    assert theta.shape == (SEEDS, iterations, 2)
    assert (theta >= BOX.low).all() and (theta <= BOX.high).all()
    np.testing.assert_allclose(theta[:, -1], np.broadcast_to(THETA_STAR, (SEEDS, 2)), atol=RECOVERY_ATOL)
    np.testing.assert_allclose(metrics["metrics"][:, -1], np.broadcast_to(TARGETS, (SEEDS, 2)), atol=RECOVERY_ATOL)
    assert (metrics["loss"][:, -10:].mean(axis=1) < 0.02 * metrics["loss"][:, :3].mean(axis=1)).all()
    assert metrics["group_loss"].shape == (SEEDS, iterations, GROUPS)
    np.testing.assert_allclose(metrics["group_loss"].mean(axis=-1), metrics["loss"], rtol=1e-5)
    assert (metrics["ran"] == 1).all()
    # every env of the last iteration ran under a proposal inside the box, one proposal per group
    params = out["runner"].runner.env_params
    for name in ("a", "b"):
        values = np.asarray(getattr(params, name)).reshape(SEEDS, GROUPS, ENVS_PER_GROUP)
        assert (values >= 0.0).all() and (values <= 2.0).all()
        np.testing.assert_array_equal(values[..., 0], values[..., 1])
        assert len(np.unique(values[0, :, 0])) == GROUPS
    # the seeds run differently
    assert not np.array_equal(theta[0], theta[1])
    assert not np.array_equal(metrics["group_loss"][0], metrics["group_loss"][1])
    assert int(out["runner"].update[0]) == iterations


def test_theta_stays_in_the_box_for_every_u():
    """``to_theta`` maps every u into ``[low, high]`` (the bounds below are float32 numbers, so the
    box is the same in float32 and float64), saturated sigmoids included."""
    u = jnp.array([-1e30, -1e3, -30.0, -17.0, -16.0, -1.0, 0.0, 1.0, 16.0, 17.0, 30.0, 1e3, 1e30], jnp.float32)
    bounds = [(0.0, 2.0), (2.0**-10, 1.0), (0.25, 0.75), (-8.319693565368652, 6.2422966957092285),
              (-0.002083726227283478, 0.1316198855638504), (-1.7068829536437988, 2.9965813159942627)]
    for low, high in bounds:
        assert float(np.float32(low)) == low and float(np.float32(high)) == high
        box = Box(("x",), np.array([low]), np.array([high]))
        theta = np.asarray(box.to_theta(u[:, None]))[:, 0]
        assert (theta >= low).all() and (theta <= high).all(), (low, high, theta)
        assert theta[0] == np.float32(low)


def test_box_round_trip_and_checks():
    box = Box(("a", "b", "c"), np.array([0.0, -3.0, 1e-3]), np.array([2.0, 5.0, 1.0]))
    rng = np.random.default_rng(0)
    theta = box.low + (box.high - box.low) * rng.uniform(0.01, 0.99, (200, 3))
    for row in theta:
        u = box.to_u(row)
        assert u.shape == (3,)
        np.testing.assert_allclose(np.asarray(box.to_theta(jnp.asarray(u, jnp.float32))), row, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(box.to_u([1.0, 1.0, 0.5005]), [0.0, 0.0, 0.0], atol=1e-12)  # the midpoint is u = 0
    u = jnp.asarray(rng.uniform(-4.0, 4.0, (50, 3)), jnp.float32)
    back = np.stack([box.to_u(row) for row in np.asarray(box.to_theta(u), np.float64)])
    np.testing.assert_allclose(back, u, rtol=1e-3, atol=1e-3)
    assert box.dim == 3
    with pytest.raises(ValueError, match=r"b: start = (np\.float64\()?5\.0\)? must lie strictly inside"):
        box.to_u([1.0, 5.0, 0.5])
    with pytest.raises(ValueError, match=r"a: start = (np\.float64\()?-0\.1"):
        box.to_u([-0.1, 0.0, 0.5])
    with pytest.raises(ValueError, match=r"must be \(2,\), one per name"):
        Box(("a", "b"), np.array([0.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match=r"must be \(2,\), one per name"):
        Box(("a", "b"), np.array([0.0, 0.0]), np.array([[1.0, 1.0]]))
    with pytest.raises(ValueError, match="b: bounds"):
        Box(("a", "b"), np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="a: bounds"):
        Box(("a",), np.array([0.0]), np.array([np.inf]))
    with pytest.raises(ValueError, match="a: bounds"):
        Box(("a",), np.array([np.nan]), np.array([1.0]))


def test_group_loss_by_hand():
    metrics = jnp.array([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]])
    targets = jnp.array([1.5, 0.0, 3.0])
    weights = jnp.array([2.0, 0.5, 0.0])
    # group 0: 2 * 0.25 + 0.5 * 4 + 0 = 2.5; group 1: 2 * 1 + 0.5 * 1 + 0 * 1 = 2.5
    np.testing.assert_allclose(group_loss(metrics, targets, weights), [2.5, 2.5], rtol=1e-6)
    np.testing.assert_allclose(group_loss(metrics[0], targets, jnp.ones(3)), 0.25 + 4.0, rtol=1e-6)
    assert group_loss(jnp.zeros((4, 5, 3)), targets, weights).shape == (4, 5)


def test_policy_gradient_moves_the_mean_toward_the_better_sample():
    """Two groups, u_1 = mu + (1, 2) sigma rewarded more than u_2 = mu - (1, 2) sigma: the
    standardised advantages are (+1, -1) (up to ADVANTAGE_EPS), so by hand
    d loss / d mu = -1/2 sum_g A_g (u_g - mu) / sigma^2 = -(1, 2) / sigma and
    d loss / d log sigma = -1/2 sum_g A_g ((u_g - mu)^2 / sigma^2 - 1) = 0."""
    mean, log_std = jnp.array([0.3, -0.2]), jnp.log(jnp.array([0.5, 0.5]))
    u = jnp.stack([mean + jnp.array([1.0, 2.0]) * 0.5, mean - jnp.array([1.0, 2.0]) * 0.5])
    params = {"mean": mean, "log_std": log_std}
    grads = jax.grad(policy_gradient_loss)(params, u, jnp.array([-0.1, -3.0]))
    np.testing.assert_allclose(grads["mean"], [-2.0, -4.0], rtol=1e-5)
    np.testing.assert_allclose(grads["log_std"], [0.0, 0.0], atol=1e-6)
    stepped = mean - 0.1 * grads["mean"]
    assert np.linalg.norm(stepped - u[0]) < np.linalg.norm(mean - u[0])
    # swapping the rewards swaps the direction; a positive affine change of the rewards changes nothing
    swapped = jax.grad(policy_gradient_loss)(params, u, jnp.array([-3.0, -0.1]))
    np.testing.assert_allclose(swapped["mean"], [2.0, 4.0], rtol=1e-5)
    affine = jax.grad(policy_gradient_loss)(params, u, 7.0 * jnp.array([-0.1, -3.0]) + 11.0)
    np.testing.assert_allclose(affine["mean"], grads["mean"], rtol=1e-5)
    # a wider better sample: sigma grows (d loss / d log sigma < 0 where the far sample wins)
    far = jnp.stack([mean + 2.0 * 0.5, mean + 0.5 * 0.5])
    widen = jax.grad(policy_gradient_loss)(params, far, jnp.array([1.0, 0.0]))
    # -1/2 (1 * (4 - 1) - 1 * (0.25 - 1)) = -1.875 per coordinate
    np.testing.assert_allclose(widen["log_std"], [-1.875, -1.875], rtol=1e-5)


@pytest.mark.parametrize("changes, message", [
    ({"method": "sgd"}, "method = 'sgd'"),
    ({"groups": 1}, "groups = 1"),
    ({"groups": 2.5}, "groups = 2.5"),
    ({"iterations": 0}, "iterations = 0"),
    ({"learning_rate": 0.0}, "learning_rate = 0.0"),
    ({"learning_rate": float("nan")}, "learning_rate = nan"),
    ({"init_std": -0.1}, "init_std = -0.1"),
    ({"min_std": 0.6}, r"min_std = 0.6 is out of range: valid range is \(0.0, 0.5\]"),
    ({"min_std": 0.0}, "min_std = 0.0"),
    ({"iterations_per_chunk": 0}, "iterations_per_chunk = 0"),
])
def test_config_check(changes, message):
    config = dataclasses.replace(CalibrationConfig(init_std=0.5), **changes)
    with pytest.raises(ValueError, match=message):
        config.check()
    with pytest.raises(ValueError, match=message):
        calibrator(**{"init_std": 0.5, **changes})
    CalibrationConfig().check()  # the defaults are valid


@pytest.mark.parametrize("kwargs, message", [
    ({"groups": 3}, "groups = 3 must divide the agents' num_envs = 16"),
    ({"groups": 32}, "groups = 32 must divide"),
    ({"episode_rounds": 0}, "episode_rounds = 0"),
    ({"weights": (0.0, 0.0)}, "weights are all zero"),
    ({"weights": (1.0, -0.5)}, r"weights = (np\.float64\()?-0\.5\)? is out of range"),
    ({"weights": (1.0, np.inf)}, r"weights = (np\.float64\()?inf\)? is out of range"),
    ({"weights": (1.0, 1.0, 1.0)}, r"weights has shape \(3,\): need \(2,\)"),
    ({"targets": (1.0, 2.0, 3.0)}, r"weights has shape \(2,\): need \(3,\)"),
    ({"metric_names": ("a",)}, "metric_names has 1 names: need 2"),
    ({"start": (2.0, 1.0)}, r"a: start = (np\.float64\()?2\.0\)? must lie strictly inside"),
    ({"start": (1.0, -1.0)}, r"b: start = (np\.float64\()?-1\.0\)? must lie strictly inside"),
    ({"start": (1.0,)}, "start"),
    ({"start": (1.0, 1.0, 1.0)}, "start"),
    ({"start": 1.0}, "start"),
])
def test_make_calibrator_checks_before_compiling(kwargs, message, monkeypatch):
    monkeypatch.setattr(jax, "jit", lambda *a, **k: pytest.fail("compiled before checking"))
    with pytest.raises(ValueError, match=message):
        calibrator(**kwargs)


def test_make_calibrator_needs_episode_metrics_and_whole_episodes():
    with pytest.raises(ValueError, match="episode_metrics=True"):
        calibrator(trainer=make_trainer(AGENTS, ENV, BASE))
    two_rounds = make_trainer(dataclasses.replace(AGENTS, num_rounds=2), ENV, BASE.replace(n_rounds=4),
                              episode_metrics=True)
    with pytest.raises(ValueError, match="num_rounds = 2 must divide the episode's rounds \\(3\\)"):
        calibrator(trainer=two_rounds, episode_rounds=3)
    cal = calibrator(trainer=two_rounds, episode_rounds=4)
    assert cal.updates_per_iteration == 2
    assert cal.env_steps_per_iteration == GROUPS * ENVS_PER_GROUP * 4
    fields = cal.log_fields
    assert fields[0] == "loss"
    wanted = ["metric:a", "metric:ab", "theta:a", "theta:b", "agent_episode_return"]
    assert [f for f in fields if f in wanted] == wanted  # present, in this order


def test_chunks_compile_once_match_train_and_evaluate_runs_the_point():
    cal = calibrator(iterations=5, iterations_per_chunk=2)
    chunk = jax.jit(chex.assert_max_traces(cal.chunk, n=1))
    state = jax.jit(cal.init)(jax.random.key(3))
    assert int(state.update) == 0
    np.testing.assert_allclose(cal.point(state.calibrator), START, rtol=1e-6)
    ran, thetas = [], []
    for _ in range(3):  # 6 iterations' worth of chunks: the sixth is skipped
        state, metrics = chunk(state)
        ran += np.asarray(metrics["ran"]).tolist()
        thetas.append(np.asarray(metrics["theta"]))
    assert ran == [1, 1, 1, 1, 1, 0]
    assert int(state.update) == 5
    np.testing.assert_array_equal(thetas[-1][1], 0.0)
    row = cal.summary(metrics)
    assert set(row) == set(cal.log_fields)
    np.testing.assert_allclose([row["theta:a"], row["theta:b"]], thetas[-1][0], rtol=1e-6)
    full = jax.jit(cal.train)(jax.random.key(3))
    np.testing.assert_allclose(np.asarray(full["metrics"]["theta"]), np.concatenate(thetas)[:5], rtol=1e-5)
    np.testing.assert_allclose(cal.point(full["runner"].calibrator), cal.point(state.calibrator), rtol=1e-5)

    evaluate = jax.jit(cal.evaluate, static_argnames="episodes")
    at_star = evaluate(clone_keys(state), jax.random.key(4), 20, jnp.asarray(THETA_STAR, jnp.float32))
    m = np.asarray(at_star["metrics"]["m"])
    assert m.shape == (32, 2)  # 20 episodes rounded up to two batches of 16 envs
    np.testing.assert_allclose(m, np.broadcast_to(TARGETS, m.shape), atol=5 * BASE.noise)
    np.testing.assert_allclose(m.mean(axis=0), TARGETS, atol=BASE.noise)
    assert np.unique(m[:, 0]).size == 32  # fresh noise in every episode
    at_point = evaluate(state, jax.random.key(5), 16)
    np.testing.assert_allclose(at_point["theta"], cal.point(state.calibrator), rtol=1e-6)
    a, b = np.asarray(at_point["theta"], np.float64)
    np.testing.assert_allclose(np.asarray(at_point["metrics"]["m"]).mean(axis=0), [a, a * b], atol=BASE.noise)


def test_evaluate_draws_its_randomness_from_its_key():
    """Two evaluations of one finished run (here at two thetas) with two keys: ``evaluate`` takes a
    key, so it must not consume the key stored in the run's state (which the key-reuse check in
    this suite reports as a reused key on the second call)."""
    cal = calibrator(iterations=1)
    state = jax.jit(cal.init)(jax.random.key(6))
    evaluate = jax.jit(cal.evaluate, static_argnames="episodes")
    first = evaluate(state, jax.random.key(7), 16, jnp.array([0.5, 0.5], jnp.float32))
    second = evaluate(state, jax.random.key(8), 16, jnp.array([1.5, 1.5], jnp.float32))
    np.testing.assert_allclose(np.asarray(first["metrics"]["m"]).mean(axis=0), [0.5, 0.25], atol=BASE.noise)
    np.testing.assert_allclose(np.asarray(second["metrics"]["m"]).mean(axis=0), [1.5, 2.25], atol=BASE.noise)
