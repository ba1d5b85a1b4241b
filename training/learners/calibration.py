"""Calibration: an outer learner tunes env parameters until the learned market hits target statistics.

The seed papers' RL calibrator (Vadori et al., "Towards Multi-Agent Reinforcement Learning driven
Over-The-Counter Market Simulations", 2022, and Ardon et al., "An RL approach to calibration of
agent-based market simulators", ICAIF 2021): the free parameters theta (named env parameters, each
in a box ``[low, high]``) are optimised in unconstrained coordinates ``u`` with
``theta = low + (high - low) * sigmoid(u)``, on a slower timescale than the agents, who keep
learning (multi-agent PPO, ``training.learners.mappo``) on the markets the calibrator proposes.

One outer iteration (``update``):

1. propose ``G`` points ``u_g`` (the calibrator's Gaussian policy, or CMA-ES's ask);
2. every env of group ``g`` (``num_envs / G`` envs each) is reset under ``theta_g`` (the runner's
   per-env parameter batch: no recompiling) and runs one whole episode, the agents' PPO updating
   on the same rollouts as usual (``updates_per_iteration`` updates of ``num_rounds`` rounds);
3. each group's metrics ``m_g`` (``measure`` of its envs' finished episodes, a ``(k,)`` vector) give
   the loss ``L_g = sum_k w_k (m_gk - m*_k)^2`` and the reward ``-L_g``;
4. the calibrator learns: ``"rl"`` by policy gradient with a baseline, ``grad = mean_g A_g grad
   log N(u_g; mu, sigma)`` with ``A_g`` the group rewards standardised over the groups (their
   mean is the baseline), Adam on ``(mu, log sigma)`` at ``learning_rate`` (decayed linearly to 0
   with ``anneal_lr``), its mean kept within ``MEAN_LIMIT``;
   ``"cma_es"`` by evosax's CMA-ES (Hansen, "The CMA Evolution Strategy: A Tutorial", 2016), told
   the losses of its population, the black-box baseline at the same env steps.

For the first ``warmup`` fraction of the iterations the calibrator proposes but does not learn:
the agents first learn on a spread of markets around the start. The result is the calibrator's
mean ``theta``; ``evaluate`` checks it on fresh episodes with the
final agent policies.

    calibrator = make_calibrator(CalibrationConfig(...), trainer, space, apply, measure, targets, weights)
    result = jax.jit(calibrator.train)(key)            # the whole loop, agents included, in one jit
    runner, rows = loop.run(calibrator, key, ...)      # jitted chunks, progress, log.csv, checkpoints
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from evosax.algorithms import CMA_ES
from flax import struct

from jaxmarket.core.sharding import replicate
from jaxmarket.core.validation import check_choice, check_int, check_range
from jaxmarket.core.vec_env import VecEnv
from training.learners.mappo import RunnerState, Trainer, place_runner
from training.learners.ppo import chunk_and_train

METHODS = ("rl", "cma_es")
MEAN_LIMIT = 4.0  # |mu| bound in unconstrained units (theta within 1.8% of the box's ends): the
# sigmoid's flat tails would otherwise trap the mean where moving it no longer changes theta
ADVANTAGE_EPS = 1e-8  # added to the groups' reward std before standardising


@dataclasses.dataclass(frozen=True)
class CalibrationConfig:
    """The calibrator's hyperparameters (the agents' are the trainer's ``MAPPOConfig``)."""

    method: str = "rl"
    """"rl" (the Gaussian policy-gradient calibrator) or "cma_es" (evosax's CMA-ES, the black-box baseline)."""
    groups: int = 8
    """G, parameter points per outer iteration; >= 2 and divides the trainer's num_envs."""
    iterations: int = 100
    """Outer iterations, >= 1; each is one episode of every env."""
    learning_rate: float = 0.1
    """Adam step size of the "rl" calibrator on (mu, log sigma), > 0 (unconstrained units)."""
    anneal_lr: bool = True
    """Decay the "rl" calibrator's step size linearly to 0 over the iterations, so that its point
    settles while the agents' learning (annealed as well by default) settles."""
    init_std: float = 0.5
    """Initial sigma of the proposals in unconstrained coordinates, > 0 (both methods)."""
    min_std: float = 0.02
    """Lower bound on the "rl" calibrator's sigma, in (0, init_std]."""
    warmup: float = 0.2
    """Fraction of the iterations at the start in which the calibrator proposes (around its start)
    but does not learn, in [0, 1): the agents first learn on a spread of markets around the start."""
    iterations_per_chunk: int = 5
    """Outer iterations per jitted chunk of ``loop.run``, >= 1."""

    def check(self) -> None:
        """Raises ``ValueError`` naming the first field out of range."""
        check_choice("method", self.method, METHODS)
        check_int("groups", self.groups, 2)
        check_int("iterations", self.iterations, 1)
        check_range("learning_rate", self.learning_rate, 0.0, low_open=True)
        check_range("init_std", self.init_std, 0.0, low_open=True)
        check_range("min_std", self.min_std, 0.0, self.init_std, low_open=True)
        check_range("warmup", self.warmup, 0.0, 1.0, high_open=True)
        check_int("iterations_per_chunk", self.iterations_per_chunk, 1)

    # the names loop.run reads
    @property
    def warmup_iterations(self) -> int:
        """Iterations before the calibrator's first update."""
        return int(self.warmup * self.iterations)

    @property
    def num_updates(self) -> int:
        return self.iterations

    @property
    def updates_per_chunk(self) -> int:
        return self.iterations_per_chunk


@dataclasses.dataclass(frozen=True)
class Box:
    """The free parameters' box: ``low`` and ``high`` (d,) float, finite, ``low < high``, and names."""

    names: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray

    def __post_init__(self) -> None:
        low, high = np.asarray(self.low, np.float64), np.asarray(self.high, np.float64)
        if low.shape != (len(self.names),) or high.shape != low.shape:
            raise ValueError(f"low {low.shape} and high {high.shape} must be ({len(self.names)},), one per name")
        for name, lo, hi in zip(self.names, low, high):
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ValueError(f"{name}: bounds [{lo}, {hi}] must be finite with low < high")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def dim(self) -> int:
        return len(self.names)

    def to_theta(self, u: jax.Array) -> jax.Array:
        """``theta = low + (high - low) sigmoid(u)``, (..., d) float32, clipped to the box (float32
        rounding could otherwise step just past ``high``)."""
        low, high = jnp.asarray(self.low, jnp.float32), jnp.asarray(self.high, jnp.float32)
        return jnp.clip(low + (high - low) * jax.nn.sigmoid(u), low, high)

    def to_u(self, theta: Any) -> np.ndarray:
        """The unconstrained coordinates of ``theta`` (d,), which must lie strictly inside the box.

        Raises:
          ValueError: a start not of shape (d,), or naming the first entry not strictly inside ``(low, high)``.
        """
        theta = np.asarray(theta, np.float64)
        if theta.shape != (self.dim,):
            raise ValueError(f"start has shape {theta.shape}: need ({self.dim},), one per name")
        for name, value, lo, hi in zip(self.names, theta, self.low, self.high):
            if not lo < value < hi:
                raise ValueError(f"{name}: start = {value!r} must lie strictly inside its bounds ({lo}, {hi})")
        fraction = (theta - self.low) / (self.high - self.low)
        return np.log(fraction) - np.log1p(-fraction)


@struct.dataclass
class CalibratorState:
    """The outer learner's state: ``mean`` and ``log_std`` (d,) of the "rl" Gaussian with its Adam
    state, or CMA-ES's state (``es``; its mean is the point)."""

    mean: jax.Array
    log_std: jax.Array
    opt_state: Any
    es: Any


@struct.dataclass
class CalibrationState:
    """Everything that evolves: the agents' ``runner`` and the calibrator."""

    runner: RunnerState
    calibrator: CalibratorState
    key: jax.Array
    update: jax.Array  # int32, outer iterations done


def group_loss(metrics: jax.Array, targets: jax.Array, weights: jax.Array) -> jax.Array:
    """``sum_k w_k (m_k - m*_k)^2`` over the last axis: metrics (..., k), targets and weights (k,)."""
    return jnp.sum(weights * (metrics - targets) ** 2, axis=-1)


def gaussian_log_prob(u: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """log N(u; mean, diag(exp(log_std)^2)) up to a constant, summed over the last axis."""
    return jnp.sum(-0.5 * ((u - mean) / jnp.exp(log_std)) ** 2 - log_std, axis=-1)


def policy_gradient_loss(params: dict[str, jax.Array], u: jax.Array, rewards: jax.Array) -> jax.Array:
    """The "rl" calibrator's loss: ``-mean_g A_g log N(u_g; mu, sigma)``, A the rewards standardised
    over the groups (their mean is the baseline). u (G, d), rewards (G,)."""
    adv = (rewards - rewards.mean()) / (rewards.std() + ADVANTAGE_EPS)
    return -jnp.mean(jax.lax.stop_gradient(adv) * gaussian_log_prob(u, params["mean"], params["log_std"]))


@dataclasses.dataclass(frozen=True)
class Calibrator:
    """The jittable pieces of one calibration run, with the interface ``loop.run`` drives."""

    config: CalibrationConfig
    trainer: Trainer
    box: Box
    apply: Callable[[jax.Array], Any]
    measure: Callable[[Any], jax.Array]
    targets: np.ndarray
    weights: np.ndarray
    metric_names: tuple[str, ...]
    updates_per_iteration: int
    env_steps_per_iteration: int
    init: Callable[..., CalibrationState]
    update: Callable[[CalibrationState], tuple[CalibrationState, dict]]
    chunk: Callable[[CalibrationState], tuple[CalibrationState, dict]]
    train: Callable[..., dict]
    evaluate: Callable[..., dict]
    point: Callable[[CalibratorState], jax.Array]

    step_unit = "env_steps"

    @property
    def steps_per_update(self) -> int:
        return self.env_steps_per_iteration

    @property
    def log_fields(self) -> tuple[str, ...]:
        """The log columns: the groups' mean loss, the proposals' mean sigma, each metric entry's group
        mean, each theta."""
        return ("loss", "std", *(f"metric:{n}" for n in self.metric_names), *(f"theta:{n}" for n in self.box.names),
                *(f"{f}_episode_return" for f in self.trainer.learned))

    def summary(self, metrics: dict[str, Any]) -> dict[str, float]:
        """The last iteration that ran in a chunk: its loss, the proposals' mean sigma (unconstrained
        units), metrics and theta (the calibrator's point)."""
        ran = np.asarray(metrics["ran"]).astype(bool)
        last = int(np.flatnonzero(ran)[-1]) if ran.any() else 0
        row = {"loss": float(np.asarray(metrics["loss"])[last]), "std": float(np.asarray(metrics["std"])[last].mean())}
        row.update({f"metric:{n}": float(v) for n, v in zip(self.metric_names, np.asarray(metrics["metrics"])[last])})
        row.update({f"theta:{n}": float(v) for n, v in zip(self.box.names, np.asarray(metrics["theta"])[last])})
        for f in self.trainer.learned:
            row[f"{f}_episode_return"] = float(np.asarray(metrics[f"{f}_episode_return"])[last])
        return row

    def save(self, path: str | Path, state: CalibrationState, metadata: dict[str, Any], update: int) -> None:
        """Checkpoint the agents' policies (``Trainer.save``) with the calibrator's point theta in the
        metadata (``"theta"``: {name: value})."""
        theta = np.asarray(self.point(state.calibrator), np.float64)
        self.trainer.save(path, state.runner, {**metadata, "theta": dict(zip(self.box.names, theta.tolist()))}, update)


def _broadcast_groups(tree: Any, envs_per_group: int) -> Any:
    """(G, ...) leaves -> (G * envs_per_group, ...): group g's parameters for its envs."""
    return jax.tree.map(lambda leaf: jnp.repeat(leaf, envs_per_group, axis=0), tree)


def _by_group(tree: Any, groups: int) -> Any:
    """(num_envs, ...) leaves -> (G, envs_per_group, ...)."""
    return jax.tree.map(lambda leaf: leaf.reshape((groups, -1) + leaf.shape[1:]), tree)


def make_calibrator(
    config: CalibrationConfig,
    trainer: Trainer,
    box: Box,
    apply: Callable[[jax.Array], Any],
    measure: Callable[[Any], jax.Array],
    targets: Any,
    weights: Any,
    start: Any,
    episode_rounds: int,
    metric_names: tuple[str, ...] | None = None,
) -> Calibrator:
    """Check everything, then build the jittable calibration functions.

    Args:
        config: the calibrator's hyperparameters.
        trainer: a multi-agent trainer built with ``episode_metrics=True``, whose ``num_envs`` is a
            multiple of ``config.groups`` and whose ``num_rounds`` divides ``episode_rounds``.
        box: the free parameters' names and bounds (d,).
        apply: ``apply(theta (d,)) -> env params`` (one parameter set, the pytree structure of the
            trainer's), pure and traceable.
        measure: ``measure(metrics) -> (k,) float32``: the group statistic from the episode metrics
            of one group's envs (leaves with a leading ``(num_envs / G,)`` axis).
        targets: (k,) the target values ``m*``.
        weights: (k,) the weights ``w``, >= 0, not all zero.
        start: (d,) the starting theta, strictly inside the box.
        episode_rounds: rounds per episode (the env's ``n_rounds``).
        metric_names: (k,) names for the log; default ``m0, m1, ...``.

    Returns:
        The ``Calibrator``. ``jax.jit(calibrator.train)(key)`` runs ``config.iterations`` outer
        iterations and returns ``{"runner": CalibrationState, "metrics": {name: (iterations, ...)}}``
        (``loss`` the groups' mean loss, ``metrics`` (k,) their mean metrics, ``theta`` (d,) the
        calibrator's point, ``group_loss`` (G,), the agents' ``<f>_episode_return``; ``ran``).

    Raises:
        ValueError: a config field out of range; a trainer without episode metrics; ``num_envs``
            not a multiple of ``groups``; ``episode_rounds`` not a multiple of ``num_rounds``;
            targets, weights or start of the wrong shape; a negative, non-finite or all-zero
            weight; a start outside the box. All before anything is compiled.
    """
    config.check()
    ppo = trainer.config
    if not trainer.tracks_metrics:
        raise ValueError("trainer: build it with make_trainer(..., episode_metrics=True)")
    if ppo.num_envs % config.groups:
        raise ValueError(f"groups = {config.groups} must divide the agents' num_envs = {ppo.num_envs}")
    check_int("episode_rounds", episode_rounds, 1)
    if episode_rounds % ppo.num_rounds:
        raise ValueError(f"num_rounds = {ppo.num_rounds} must divide the episode's rounds ({episode_rounds}): "
                         "an outer iteration is one whole episode of every env")
    targets = np.asarray(targets, np.float32).reshape(-1)
    weights = np.asarray(weights, np.float32).reshape(-1)
    if weights.shape != targets.shape:
        raise ValueError(f"weights has shape {weights.shape}: need {targets.shape}, one per target entry")
    check_range("targets", targets)
    check_range("weights", weights, 0.0)
    if not weights.any():
        raise ValueError("weights are all zero: at least one target needs a weight > 0")
    names = tuple(metric_names) if metric_names is not None else tuple(f"m{i}" for i in range(targets.size))
    if len(names) != targets.size:
        raise ValueError(f"metric_names has {len(names)} names: need {targets.size}, one per target entry")
    u0 = jnp.asarray(box.to_u(start), jnp.float32)
    groups, envs_per_group = config.groups, ppo.num_envs // config.groups
    updates_per_iteration = episode_rounds // ppo.num_rounds
    venv = VecEnv(trainer.env, ppo.num_envs, per_env_params=True, devices=trainer.mesh.size)
    steps_per_iteration = ppo.num_envs * episode_rounds * len(trainer.env.turn_order)
    t_targets, t_weights = jnp.asarray(targets), jnp.asarray(weights)
    learning_steps = max(config.iterations - config.warmup_iterations, 1)
    step_size = (optax.linear_schedule(config.learning_rate, 0.0, learning_steps) if config.anneal_lr
                 else config.learning_rate)
    tx = optax.adam(step_size)
    min_log_std = math.log(config.min_std)
    es = None
    if config.method == "cma_es":
        es = CMA_ES(population_size=groups, solution=jnp.zeros((box.dim,), jnp.float32))
        es_params = es.default_params.replace(std_init=config.init_std)

    def point(cal: CalibratorState) -> jax.Array:
        """The calibrator's theta: its distribution's mean, mapped into the box."""
        return box.to_theta(cal.mean if es is None else cal.es.mean)

    def init_calibrator(key: jax.Array) -> CalibratorState:
        log_std = jnp.full((box.dim,), math.log(config.init_std), jnp.float32)
        opt_state = tx.init({"mean": u0, "log_std": log_std})
        es_state = None if es is None else es.init(key, u0, es_params)
        return CalibratorState(u0, log_std, opt_state, es_state)

    def init(key: jax.Array) -> CalibrationState:
        agent_key, cal_key, key = jax.random.split(key, 3)
        params = _broadcast_groups(jax.vmap(apply)(jnp.broadcast_to(box.to_theta(u0), (groups, box.dim))),
                                   envs_per_group)
        runner = trainer.init(agent_key, params)
        return place_calibration(CalibrationState(runner, init_calibrator(cal_key), key, jnp.array(0, jnp.int32)))

    def place_calibration(state: CalibrationState) -> CalibrationState:
        """The agents' runner split over the trainer's mesh (``place_runner``), the calibrator replicated."""
        if trainer.mesh.size == 1:
            return state
        rest = replicate(state.replace(runner=None), trainer.mesh)
        return rest.replace(runner=place_runner(state.runner, trainer.mesh))

    def propose(cal: CalibratorState, key: jax.Array) -> tuple[jax.Array, CalibratorState]:
        if es is None:
            noise = jax.random.normal(key, (groups, box.dim), jnp.float32)
            return cal.mean + jnp.exp(cal.log_std) * noise, cal
        population, es_state = es.ask(key, cal.es, es_params)
        return population, cal.replace(es=es_state)

    def learn(cal: CalibratorState, u: jax.Array, loss: jax.Array, key: jax.Array) -> CalibratorState:
        if es is None:
            params = {"mean": cal.mean, "log_std": cal.log_std}
            grads = jax.grad(policy_gradient_loss)(params, u, -loss)
            step, opt_state = tx.update(grads, cal.opt_state, params)
            params = optax.apply_updates(params, step)
            return cal.replace(mean=jnp.clip(params["mean"], -MEAN_LIMIT, MEAN_LIMIT),
                               log_std=jnp.maximum(params["log_std"], min_log_std),
                               opt_state=opt_state)
        es_state, _ = es.tell(key, u, loss, cal.es, es_params)  # evosax minimises
        return cal.replace(es=es_state)

    def run_episodes(runner: RunnerState, params: Any, key: jax.Array, learn_agents: bool
                     ) -> tuple[RunnerState, dict]:
        """Reset every env under ``params`` (num_envs, ...) and run one whole episode."""
        obs, env_state = venv.reset(key, params)
        runner = runner.replace(env_params=params, env_state=env_state, obs=obs)
        if learn_agents:
            return jax.lax.scan(lambda r, _: trainer.update(r), runner, None, updates_per_iteration)
        runner, _ = jax.lax.scan(lambda r, _: trainer.rollout(r), runner, None, updates_per_iteration)
        return runner, {}

    def update(state: CalibrationState) -> tuple[CalibrationState, dict]:
        key, draw_key, reset_key, tell_key = jax.random.split(state.key, 4)
        u, cal = propose(state.calibrator, draw_key)
        theta = box.to_theta(u)  # (G, d)
        params = _broadcast_groups(jax.vmap(apply)(theta), envs_per_group)
        runner, agent_metrics = run_episodes(state.runner, params, reset_key, learn_agents=True)
        group_metrics = jax.vmap(measure)(_by_group(runner.episode_metrics, groups))  # (G, k)
        loss = group_loss(group_metrics, t_targets, t_weights)  # (G,)
        cal = jax.lax.cond(state.update >= config.warmup_iterations, lambda c: learn(c, u, loss, tell_key),
                           lambda c: c, cal)
        metrics = {
            "loss": loss.mean(), "group_loss": loss, "metrics": group_metrics.mean(axis=0), "theta": point(cal),
            "std": jnp.exp(cal.log_std) if es is None else jnp.full((box.dim,), cal.es.std),
            "ran": jnp.array(1, jnp.int32),
            **{f"{f}_episode_return": agent_metrics[f"{f}_episode_return"].mean() for f in trainer.learned},
        }
        return place_calibration(CalibrationState(runner, cal, key, state.update + 1)), metrics

    def evaluate(state: CalibrationState, key: jax.Array, episodes: int, theta: Any = None) -> dict:
        """Fresh episodes under one theta (default: the calibrator's point) with the final agent
        policies, acting as in training (sampled actions), without learning.

        Args:
            state: the run's state.
            key: a typed PRNG key.
            episodes: episodes wanted (static); rounded up to a multiple of num_envs.
            theta: (d,) the parameters to evaluate, or None for the calibrator's point.

        Returns:
            ``{"theta": (d,), "metrics": {name: (n_episodes, ...)}}``: every episode metric of the
            env, one row per episode.
        """
        theta = point(state.calibrator) if theta is None else jnp.asarray(theta, jnp.float32)
        params = _broadcast_groups(jax.vmap(apply)(theta[None]), ppo.num_envs)
        key, runner_key = jax.random.split(key)  # the agents' sampling draws from this call's key
        batches = -(-episodes // ppo.num_envs)

        def one(runner, k):
            runner, _ = run_episodes(runner, params, k, learn_agents=False)
            return runner, runner.episode_metrics

        _, values = jax.lax.scan(one, state.runner.replace(key=runner_key), jax.random.split(key, batches))
        return {"theta": theta, "metrics": jax.tree.map(lambda v: v.reshape((-1,) + v.shape[2:]), values)}

    chunk, train = chunk_and_train(init, update, config.iterations, config.iterations_per_chunk)
    return Calibrator(config, trainer, box, apply, measure, targets, weights, names, updates_per_iteration,
                      steps_per_iteration, init, update, chunk, train, evaluate, point)
