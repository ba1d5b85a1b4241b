"""PPO trained end to end inside ``jit``: rollout scan, GAE, epochs and minibatches.

    trainer = make_trainer(PPOConfig(...), env, env_params)
    result = jax.jit(trainer.train)(key)                # whole run in one jit; vmappable over keys
    runner, rows = loop.run(trainer, key, metadata=..., out_dir=...)  # chunks, progress, log, checkpoints

Observations are normalised by running statistics and rewards scaled by the running standard
deviation of the discounted return (both switchable). Discrete actions are categorical. Continuous
actions are a diagonal Gaussian over an unbounded variable ``u``; with ``squash_actions`` a Box
action is ``low + (high - low) * sigmoid(u)``. The map is a bijection, so PPO's probability ratios
on ``u`` are exact, and no sample lands in a flat region where the env's clipping hides the
gradient. Without it the sample goes to the env as it is.

The pieces multi-agent PPO (``training.learners.mappo``) reuses live here too: the shared
hyperparameters, the optimiser, the epoch/minibatch loop, the chunked and whole-run drivers, the
rollout record and the return bookkeeping. The networks are in ``networks``, the loss and GAE in
``losses``, the checkpoint format in ``storage``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax.training.train_state import TrainState

from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxmarket.core.sharding import ENV_AXIS, env_mesh, replicate, split_envs
from jaxmarket.core.validation import check_choice, check_env_params, check_int, check_range
from training.learners import storage
from training.learners.losses import LOSS_METRICS, gae, ppo_loss, warm_start_kl
from training.learners.networks import ACTIVATIONS, ActorCritic, space_action_map, space_network, space_spec
from training.learners.normalize import RunningStats

__all__ = [
    "LOSS_METRICS", "Hyperparameters", "PPOConfig", "RunnerState", "Trainer", "Transition", "WarmStart", "action_map",
    "chunk_and_train", "chunk_summary", "gae", "initial_policy", "make_network", "make_policy", "make_trainer", "observe", "optimizer",
    "place", "policy_actions", "ppo_epochs", "ppo_loss", "save_policy", "space_action_map", "space_network",
    "space_spec", "trained_policy",
]

ADAM_EPS = 1e-5  # Adam's epsilon


@dataclasses.dataclass(frozen=True)
class Hyperparameters:
    """The PPO hyperparameters single- and multi-agent PPO share (``PPOConfig``, ``MAPPOConfig``).

    A subclass names its rollout-length field and its total-samples field in ``ROLLOUT_FIELD``
    and ``TOTAL_FIELD``; ``batch_size``, ``num_updates`` and ``check`` read them.
    """

    ROLLOUT_FIELD: ClassVar[str]
    TOTAL_FIELD: ClassVar[str]

    num_envs: int = 1024
    """Parallel envs per rollout, >= 1 and a multiple of num_minibatches."""
    update_epochs: int = 4
    """Passes over each rollout batch per update, >= 1."""
    num_minibatches: int = 8
    """Minibatches per epoch, each of whole env trajectories; >= 1 and divides num_envs."""
    learning_rate: float = 3e-4
    """Adam learning rate at the start, > 0."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over the run."""
    gamma: float = 0.99
    """Discount factor per step, in [0, 1]."""
    gae_lambda: float = 0.95
    """GAE lambda, in [0, 1]."""
    clip_eps: float = 0.2
    """Clipping range of the probability ratio and of the value change, > 0."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus in the loss, >= 0."""
    vf_coef: float = 0.5
    """Weight of the value loss in the loss, >= 0."""
    max_grad_norm: float = 0.5
    """Gradients are clipped to this global norm, > 0."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the hidden layers of the policy and value torsos: at least one, each >= 1."""
    activation: str = "tanh"
    """Hidden-layer activation: tanh, relu or gelu."""
    init_log_std: float = 0.0
    """Initial log standard deviation of the Gaussian policy (continuous actions), any real."""
    squash_actions: bool = True
    """Box actions: env action = low + (high - low) * sigmoid(sample); needs finite bounds."""
    normalize_obs: bool = True
    """Normalise observations by their running mean and standard deviation."""
    normalize_reward: bool = True
    """Scale rewards by the running standard deviation of the discounted return."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to [-obs_clip, obs_clip]; > 0."""
    reward_clip: float = 10.0
    """Scaled rewards are clipped to [-reward_clip, reward_clip]; > 0."""
    updates_per_chunk: int = 10
    """Updates per jitted call of loop.run (one log row each), >= 1."""
    devices: int | None = None
    """Devices the env axis is split across, in [1, device count], dividing num_envs; None: every device."""

    @property
    def rollout_length(self) -> int:
        """Steps (PPO) or rounds (MAPPO) per env per update: the field named by ``ROLLOUT_FIELD``."""
        return getattr(self, self.ROLLOUT_FIELD)

    @property
    def batch_size(self) -> int:
        """Samples per update: ``num_envs * rollout_length``."""
        return self.num_envs * self.rollout_length

    @property
    def num_updates(self) -> int:
        """Updates in the run: the field named by ``TOTAL_FIELD`` over ``batch_size``, rounded down."""
        return getattr(self, self.TOTAL_FIELD) // self.batch_size

    def check(self) -> None:
        """Check every field before anything is compiled.

        Raises:
            ValueError: naming the first invalid field, its value and its valid range.
        """
        check_int(self.ROLLOUT_FIELD, self.rollout_length, 1)
        check_int(self.TOTAL_FIELD, getattr(self, self.TOTAL_FIELD), self.batch_size, math.inf)  # Python-only count
        self.check_learner()
        self.check_shared()

    def check_learner(self) -> None:
        """Check the fields of the learner's own (none here; a subclass may add some).

        Raises:
            ValueError: naming an invalid field.
        """

    def check_shared(self) -> None:
        """Check the shared fields (``devices`` is checked against the devices there are by ``mesh``).

        Raises:
            ValueError: naming the first invalid shared field, its value and its valid range.
        """
        for name in ("num_envs", "update_epochs", "num_minibatches", "updates_per_chunk"):
            check_int(name, getattr(self, name), 1)
        if self.num_envs % self.num_minibatches:
            raise ValueError(
                f"num_minibatches = {self.num_minibatches} does not divide num_envs = {self.num_envs} "
                f"(minibatches are whole env trajectories of the batch): valid values are divisors of {self.num_envs}"
            )
        check_range("learning_rate", self.learning_rate, 0.0, low_open=True)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("gae_lambda", self.gae_lambda, 0.0, 1.0)
        check_range("clip_eps", self.clip_eps, 0.0, low_open=True)
        check_range("ent_coef", self.ent_coef, 0.0)
        check_range("vf_coef", self.vf_coef, 0.0)
        check_range("max_grad_norm", self.max_grad_norm, 0.0, low_open=True)
        check_range("obs_clip", self.obs_clip, 0.0, low_open=True)
        check_range("reward_clip", self.reward_clip, 0.0, low_open=True)
        if not self.hidden_sizes:
            raise ValueError("hidden_sizes = () is empty: give at least one layer size >= 1")
        for size in self.hidden_sizes:
            check_int("hidden_sizes", size, 1)
        check_choice("activation", self.activation, tuple(ACTIVATIONS))

    def mesh(self) -> Mesh:
        """The mesh the env axis is split over (``jaxmarket.core.sharding.env_mesh``).

        Raises:
            ValueError: ``devices`` is more than there are, or does not divide ``num_envs``.
        """
        return env_mesh(self.devices, self.num_envs)


@dataclasses.dataclass(frozen=True)
class PPOConfig(Hyperparameters):
    """PPO hyperparameters. A batch is ``num_envs * num_steps`` env steps per update; each epoch
    splits it into ``num_minibatches`` minibatches of whole env trajectories."""

    ROLLOUT_FIELD: ClassVar[str] = "num_steps"
    TOTAL_FIELD: ClassVar[str] = "total_timesteps"

    num_steps: int = 32
    """Rollout length per env per update, in env steps; >= 1."""
    total_timesteps: int = 10_000_000
    """Env steps over the whole run (all envs); >= num_envs * num_steps."""
    warm_kl_coef: float = 0.0
    """With a warm start: weight of KL(warm policy || policy), averaged over the minibatch's
    observations, added to the loss (keeps the policy near the one it started from while the critic
    catches up); >= 0, 0: none. Ignored without a warm start."""

    def check_learner(self) -> None:
        """Check ``warm_kl_coef``.

        Raises:
            ValueError: ``warm_kl_coef`` is negative or not finite.
        """
        check_range("warm_kl_coef", self.warm_kl_coef, 0.0)


@struct.dataclass
class WarmStart:
    """A policy PPO starts from instead of a fresh network (``make_trainer(..., warm_start=...)``):
    e.g. a behaviour-cloned actor with a fitted critic (``training.learners.bc``, ``iql``).

    Attributes:
        net_params: ``ActorCritic`` parameters of the network ``make_network`` builds for the run's
            config (same ``hidden_sizes``, ``activation`` and action space).
        obs_stats: the observation statistics the network was trained with, ``(d,)``; PPO keeps
            updating them, so give them their sample count (a large count keeps them stable).
        return_stats: the statistics of the discounted return for reward scaling, ``()``; None: fresh
            (the fitted critic then should be in unscaled units, or ``normalize_reward`` off).
    """

    net_params: Any
    obs_stats: RunningStats
    return_stats: RunningStats | None = None


def initial_policy(network: ActorCritic, key: jax.Array, obs_shape: tuple[int, ...],
                   warm_start: WarmStart | None) -> tuple[Any, RunningStats, RunningStats]:
    """What a PPO learner starts from: the warm start's network and statistics, or fresh ones.

    Args:
        network: the actor-critic.
        key: initialises a fresh network (unused with a warm start).
        obs_shape: the observation shape ``(d,)``.
        warm_start: the policy to start from, or None.

    Returns:
        ``(net_params, obs_stats (d,), return_stats ())``: the return statistics fresh unless the
        warm start has them.
    """
    if warm_start is None:
        return network.init(key, jnp.zeros(obs_shape, jnp.float32)), RunningStats.create(obs_shape), RunningStats.create()
    return_stats = RunningStats.create() if warm_start.return_stats is None else warm_start.return_stats
    return warm_start.net_params, warm_start.obs_stats, return_stats


def chunk_summary(metrics: dict[str, Any], loss_names: tuple[str, ...],
                  return_names: tuple[str, ...]) -> dict[str, float]:
    """A chunk's log row.

    Args:
        metrics: the chunk's metrics, each ``(updates_per_chunk,)``, with ``ran`` (1 where the
            update ran, 0 where it was past ``num_updates``) and ``episodes`` (episodes ended).
        loss_names: metrics averaged over the updates that ran.
        return_names: metrics averaged over the updates that ran and in which episodes ended.

    Returns:
        ``{name: float}`` for every name; a return is NaN if no episode ended in the chunk.
    """
    ran = np.asarray(metrics["ran"]) > 0
    ended = ran & (np.asarray(metrics["episodes"]) > 0)
    out = {name: float(np.mean(np.asarray(metrics[name])[ran])) for name in loss_names}
    for name in return_names:
        out[name] = float(np.mean(np.asarray(metrics[name])[ended])) if ended.any() else float("nan")
    return out


def observe(config: Hyperparameters, stats: RunningStats, obs: jax.Array) -> jax.Array:
    """What a network sees.

    Args:
        config: ``normalize_obs`` and ``obs_clip`` are read.
        stats: the running observation statistics.
        obs: ``(..., d)`` raw observations.

    Returns:
        ``(..., d)`` float32: normalised by ``stats`` and clipped, or the observations as they are.
    """
    return stats.normalize(obs, config.obs_clip) if config.normalize_obs else obs.astype(jnp.float32)


def policy_actions(network: ActorCritic, to_env: Callable, config: Hyperparameters, net_params: Any,
                   stats: RunningStats, obs: jax.Array, key: jax.Array | None, deterministic: bool) -> jax.Array:
    """Env actions for raw observations.

    Args:
        network: the actor-critic.
        to_env: the map from a policy sample to an env action (``space_action_map``).
        config: the hyperparameters it was trained with.
        net_params: its parameters.
        stats: its observation statistics.
        obs: ``(..., d)`` raw observations.
        key: the sampling key; unused (may be None) if ``deterministic``.
        deterministic: take the policy's mode (the Gaussian mean, squashed for Box actions; the
            most likely category) instead of a sample.

    Returns:
        ``(..., action_dim)`` float32 (Box) or ``(...)`` int (Discrete) env actions.
    """
    dist, _ = network.apply(net_params, observe(config, stats, obs))
    return to_env(dist.mode() if deterministic else dist.sample(seed=key))


def optimizer(config: Hyperparameters, num_updates: int) -> optax.GradientTransformation:
    """Adam after global-norm clipping, its learning rate annealed linearly to 0 if ``anneal_lr``.

    Args:
        config: ``learning_rate``, ``anneal_lr``, ``max_grad_norm``, ``update_epochs`` and
            ``num_minibatches`` are read.
        num_updates: updates in the run, each of ``update_epochs * num_minibatches`` steps.

    Returns:
        The optax transformation.
    """
    steps_per_update = config.update_epochs * config.num_minibatches

    def schedule(count: jax.Array) -> jax.Array:
        done = jnp.minimum(count // steps_per_update, num_updates)
        frac = 1.0 - done / num_updates if config.anneal_lr else 1.0
        return config.learning_rate * frac

    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(schedule, eps=ADAM_EPS))


def chunk_and_train(init: Callable, update: Callable, num_updates: int,
                    updates_per_chunk: int) -> tuple[Callable, Callable]:
    """The two ways to drive a trainer's update.

    Args:
        init: ``init(key, *args) -> runner``.
        update: ``update(runner) -> (runner, metrics)``; the runner counts its updates in ``update``.
        num_updates: updates in the run.
        updates_per_chunk: updates per ``chunk`` call.

    Returns:
        ``(chunk, train)``: ``chunk(runner) -> (runner, metrics (updates_per_chunk, ...))`` runs
        ``updates_per_chunk`` updates, those past ``num_updates`` skipped with zero metrics;
        ``train(key, *args) -> {"runner", "metrics" (num_updates, ...)}`` is the whole run in one
        scan, ``args`` passed on to ``init``.
    """

    def chunk(runner: Any) -> tuple[Any, dict]:
        def body(runner, _):
            def skip(r):
                return r, jax.tree.map(jnp.zeros_like, jax.eval_shape(update, r)[1])

            return jax.lax.cond(runner.update < num_updates, update, skip, runner)

        return jax.lax.scan(body, runner, None, updates_per_chunk)

    def train(key: jax.Array, *args: Any) -> dict:
        runner, metrics = jax.lax.scan(lambda r, _: update(r), init(key, *args), None, num_updates)
        return {"runner": runner, "metrics": metrics}

    return chunk, train


def ppo_epochs(train_state: TrainState, batch: Any, loss_fn: Callable, key: jax.Array,
               config: Hyperparameters, mesh: Mesh | None = None) -> tuple[TrainState, dict]:
    """The PPO epochs over one rollout batch.

    Each of ``config.update_epochs`` epochs shuffles the envs into ``config.num_minibatches``
    minibatches of whole env trajectories and takes a gradient step on each.

    Args:
        train_state: the network parameters and optimiser state.
        batch: a pytree of leaves ``(num_envs, steps, ...)``.
        loss_fn: ``loss_fn(params, minibatch) -> (loss, info)``, the minibatch's leaves
            ``(num_envs / num_minibatches * steps, ...)``.
        key: the shuffling key.
        config: ``num_envs``, ``num_minibatches`` and ``update_epochs`` are read.
        mesh: the env mesh; each minibatch's envs are split over it (the gradient steps run data
            parallel, the permutation stays global), when their count divides evenly.

    Returns:
        ``(train_state, info)``, the leaves of ``info`` ``(update_epochs, num_minibatches)``.
    """
    split = mesh is not None and mesh.size > 1 and (config.num_envs // config.num_minibatches) % mesh.size == 0
    by_minibatch = NamedSharding(mesh, PartitionSpec(None, ENV_AXIS)) if split else None

    def epoch(carry, _):
        train_state, key = carry
        key, perm_key = jax.random.split(key)
        perm = jax.random.permutation(perm_key, config.num_envs)
        shuffled = jax.tree.map(
            lambda x: jnp.take(x, perm, axis=0).reshape((config.num_minibatches, -1) + x.shape[2:]), batch
        )
        if split:
            shuffled = jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, by_minibatch), shuffled)

        def minibatch(train_state, mb):
            grads, info = jax.grad(loss_fn, has_aux=True)(train_state.params, mb)
            return train_state.apply_gradients(grads=grads), info

        train_state, info = jax.lax.scan(minibatch, train_state, shuffled)
        return (train_state, key), info

    (train_state, _), info = jax.lax.scan(epoch, (train_state, key), None, config.update_epochs)
    return train_state, info


class Transition(NamedTuple):
    """One step (PPO: arrays ``(num_envs, ...)``) or one family's round (MAPPO: arrays
    ``(num_envs, n_agents, ...)``) of a rollout."""

    obs: jax.Array  # float32, normalised, as the policy saw it
    raw_obs: jax.Array  # the env's observation
    action: jax.Array  # the policy's sample, before the map to the env's action
    log_prob: jax.Array  # float32, of the sample
    value: jax.Array  # float32, the value estimate of ``obs``
    reward: jax.Array  # float32, scaled
    done: jax.Array  # bool, the episode ended here
    episode_return: jax.Array  # float32, unscaled return of the episode that ended (where done)


def track_returns(config: Hyperparameters, return_stats: RunningStats, discounted_return: jax.Array,
                  episode_return: jax.Array, reward: jax.Array, done: jax.Array
                  ) -> tuple[jax.Array, jax.Array, RunningStats, jax.Array, jax.Array]:
    """The return bookkeeping of one step: reward scaling and the running returns.

    Args:
        config: ``gamma``, ``normalize_reward`` and ``reward_clip`` are read.
        return_stats: statistics of the discounted return (for reward scaling).
        discounted_return: the discounted return so far, float32, shape of ``reward``.
        episode_return: the unscaled return so far, float32, shape of ``reward``.
        reward: the step's float32 rewards.
        done: bool, shape of ``reward``: the episode ended at this step.

    Returns:
        ``(scaled, ended_return, return_stats, discounted_return, episode_return)``: the reward
        divided by the return's standard deviation (before this step's update) and clipped, or as
        it is; the episode return including this step; the updated statistics; and the two
        running returns for the next step (reset to 0 where ``done``).
    """
    discounted = discounted_return * config.gamma + reward
    ended_return = episode_return + reward
    scaled = return_stats.scale(reward, config.reward_clip) if config.normalize_reward else reward
    new_stats = return_stats.update(discounted) if config.normalize_reward else return_stats
    return scaled, ended_return, new_stats, jnp.where(done, 0.0, discounted), jnp.where(done, 0.0, ended_return)


def advantages(network: ActorCritic, config: Hyperparameters, net_params: Any, obs_stats: RunningStats,
               traj: Transition, last_obs: jax.Array) -> tuple[jax.Array, jax.Array, RunningStats]:
    """GAE over a rollout, then the observation statistics updated with its observations.

    Args:
        network: the actor-critic.
        config: ``gamma``, ``gae_lambda``, ``normalize_obs`` and ``obs_clip`` are read.
        net_params: its parameters.
        obs_stats: the observation statistics the rollout was normalised with.
        traj: the rollout, time-major ``(T, ...)``.
        last_obs: the raw observation after the last step, ``(..., d)``.

    Returns:
        ``(advantages, targets, obs_stats)``: float32 ``(T, ...)`` each, and the statistics
        updated with ``traj.raw_obs`` if ``normalize_obs`` (else unchanged).
    """
    _, last_value = network.apply(net_params, observe(config, obs_stats, last_obs))
    adv, targets = gae(traj.reward, traj.value, traj.done, last_value, config.gamma, config.gae_lambda)
    if config.normalize_obs:
        obs_stats = obs_stats.update(traj.raw_obs)
    return adv, targets, obs_stats


def mean_episode_return(done: jax.Array, episode_return: jax.Array) -> jax.Array:
    """The mean return of the episodes that ended in a rollout (0 if none did).

    Args:
        done: bool, the episode ended there.
        episode_return: float32, same shape: the return of the episode that ended (where done).

    Returns:
        A float32 scalar.
    """
    return jnp.where(done, episode_return, 0.0).sum() / jnp.maximum(done.sum(), 1)


def place(runner: Any, mesh: Mesh, env_fields: tuple[str, ...]) -> Any:
    """A runner's fields named ``env_fields`` split along the env axis over ``mesh``, the others replicated.

    Args:
        runner: a ``flax.struct`` dataclass of arrays.
        mesh: the env mesh.
        env_fields: the fields whose leaves have a leading ``(num_envs,)`` axis.

    Returns:
        ``runner`` under sharding constraints; unchanged on one device.
    """
    if mesh.size == 1:
        return runner
    split = {name: split_envs(getattr(runner, name), mesh) for name in env_fields}
    return replicate(runner.replace(**dict.fromkeys(env_fields)), mesh).replace(**split)


@struct.dataclass
class RunnerState:
    """Everything that evolves during a PPO run."""

    ENV_FIELDS: ClassVar[tuple[str, ...]] = ("env_state", "obs", "discounted_return", "episode_return")

    train_state: TrainState  # network parameters and optimiser state
    obs_stats: RunningStats  # of the raw observations, (d,)
    return_stats: RunningStats  # of the discounted return, for reward scaling, ()
    env_state: Any  # (num_envs, ...) env states
    obs: jax.Array  # (num_envs, d), the raw observations the next step acts on
    discounted_return: jax.Array  # (num_envs,) float32
    episode_return: jax.Array  # (num_envs,) float32, unscaled
    key: jax.Array
    update: jax.Array  # int32, updates done


@dataclasses.dataclass(frozen=True)
class Trainer:
    """The jittable pieces of one PPO run: ``init``, ``update``, ``chunk`` and ``train``, and what
    ``loop.run`` reads (``step_unit``, ``steps_per_update``, ``log_fields``, ``summary``, ``save``)."""

    config: PPOConfig
    env: Any
    env_params: Any
    network: ActorCritic
    init: Callable[[jax.Array], RunnerState]
    update: Callable[[RunnerState], tuple[RunnerState, dict]]
    chunk: Callable[[RunnerState], tuple[RunnerState, dict]]
    train: Callable[[jax.Array], dict]
    mesh: Mesh  # the devices the env axis is split over
    step_unit = "env_steps"
    log_fields = ("episode_return", *LOSS_METRICS)

    @property
    def steps_per_update(self) -> int:
        """Env steps per update (``config.batch_size``)."""
        return self.config.batch_size

    def summary(self, metrics: dict[str, Any]) -> dict[str, float]:
        """The chunk's log row (``chunk_summary``)."""
        return chunk_summary(metrics, LOSS_METRICS, ("episode_return",))

    def save(self, path: Any, runner: RunnerState, metadata: dict[str, Any], update: int) -> None:
        """Checkpoint the policy (``save_policy``).

        Args:
            path: the checkpoint directory.
            runner: the run's state.
            metadata: ``env_id`` and ``env_overrides``, what rebuilds the env.
            update: the updates done.
        """
        save_policy(path, self.config, metadata["env_id"], metadata["env_overrides"], runner.train_state.params,
                    runner.obs_stats, update)


def save_policy(directory: str | Path, config: PPOConfig, env_id: str, env_overrides: dict[str, Any], net_params: Any,
                obs_stats: RunningStats, update: int, extra: dict[str, Any] | None = None) -> Path:
    """Write a PPO policy checkpoint (``training.learners.checkpoint.load`` reads it back).

    Args:
        directory: the checkpoint directory (created; an existing checkpoint is replaced).
        config: the run's config.
        env_id: the ``jaxmarket.make`` id of the env.
        env_overrides: the env parameter overrides given to ``jaxmarket.make``, JSON-serialisable.
        net_params: the network parameters.
        obs_stats: the observation statistics.
        update: the updates done.
        extra: more JSON-serialisable metadata (e.g. an offline policy's ``dataset_id`` and the
            ``return_stats`` its critic was fitted with), stored beside the entries above.

    Returns:
        The absolute checkpoint directory.
    """
    metadata = {**(extra or {}), "config": dataclasses.asdict(config), "env_id": env_id,
                "env_overrides": env_overrides, "update": update}
    return storage.write(directory, storage.policy_tree(net_params, obs_stats), metadata)


def action_map(config: Hyperparameters, env: Any, params: Any) -> Callable[[jax.Array], jax.Array]:
    """The map from the policy's sample to ``env``'s action (``space_action_map``).

    Raises:
        ValueError: ``squash_actions`` with a Box action space whose bounds are not finite.
    """
    return space_action_map(env.action_space(params), config.squash_actions)


def make_network(config: Hyperparameters, env: Any, params: Any) -> ActorCritic:
    """The actor-critic for ``env``'s action space (``space_network``).

    Raises:
        ValueError: the action space is neither Discrete nor Box.
    """
    return space_network(env.action_space(params), config.hidden_sizes, config.activation, config.init_log_std)


def _init_fn(config: PPOConfig, env: Any, env_params: Any, network: ActorCritic,
             tx: optax.GradientTransformation, mesh: Mesh, warm_start: WarmStart | None
             ) -> Callable[[jax.Array], RunnerState]:
    """``init(key)``: a fresh (or the warm start's) network, optimiser and statistics, and ``num_envs`` reset envs."""
    obs_shape = env.observation_space(env_params).shape
    vmap_reset = jax.vmap(env.reset, in_axes=(0, None))

    def init(key: jax.Array) -> RunnerState:
        net_key, reset_key, key = jax.random.split(key, 3)
        net_params, obs_stats, return_stats = initial_policy(network, net_key, obs_shape, warm_start)
        train_state = TrainState.create(apply_fn=network.apply, params=net_params, tx=tx)
        obs, env_state = vmap_reset(split_envs(jax.random.split(reset_key, config.num_envs), mesh), env_params)
        zeros = jnp.zeros(config.num_envs, jnp.float32)
        runner = RunnerState(
            train_state, obs_stats, return_stats, env_state, obs, zeros, zeros, key, jnp.array(0, jnp.int32),
        )
        return place(runner, mesh, RunnerState.ENV_FIELDS)

    return init


def _env_step_fn(config: PPOConfig, env: Any, env_params: Any, network: ActorCritic,
                 to_env: Callable, mesh: Mesh) -> Callable[[RunnerState, Any], tuple[RunnerState, Transition]]:
    """``env_step(runner, _)``: one step of every env under the current policy (a scan body)."""
    vmap_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def env_step(runner: RunnerState, _: Any) -> tuple[RunnerState, Transition]:
        key, act_key, step_key = jax.random.split(runner.key, 3)
        obs = observe(config, runner.obs_stats, runner.obs)
        dist, value = network.apply(runner.train_state.params, obs)
        action = dist.sample(seed=act_key)
        log_prob = dist.log_prob(action)
        next_obs, env_state, reward, terminated, truncated, _ = vmap_step(
            split_envs(jax.random.split(step_key, config.num_envs), mesh), runner.env_state, to_env(action), env_params
        )
        done = terminated | truncated
        scaled, episode_return, return_stats, discounted, running_return = track_returns(
            config, runner.return_stats, runner.discounted_return, runner.episode_return, reward.astype(jnp.float32),
            done,
        )
        transition = Transition(obs, runner.obs, action, log_prob, value, scaled, done, episode_return)
        runner = runner.replace(env_state=env_state, obs=next_obs, key=key, discounted_return=discounted,
                                episode_return=running_return, return_stats=return_stats)
        return runner, transition

    return env_step


def _update_fn(config: PPOConfig, network: ActorCritic, env_step: Callable, mesh: Mesh,
               warm_start: WarmStart | None) -> Callable[[RunnerState], tuple[RunnerState, dict]]:
    """``update(runner)``: a rollout, GAE, then the PPO epochs (with the KL to the warm start's
    policy added to the loss if ``warm_kl_coef > 0``)."""
    anchored = warm_start is not None and config.warm_kl_coef > 0

    def loss_fn(net_params: Any, batch: tuple) -> tuple[jax.Array, dict]:
        traj, adv, targets = batch
        loss, info = ppo_loss(network, net_params, traj.obs, traj.action, traj.log_prob, traj.value, adv, targets,
                              config.clip_eps, config.vf_coef, config.ent_coef)
        if anchored:
            loss = loss + config.warm_kl_coef * warm_start_kl(network, net_params, warm_start.net_params, traj.obs)
        return loss, info

    def update(runner: RunnerState) -> tuple[RunnerState, dict]:
        runner, traj = jax.lax.scan(env_step, runner, None, config.num_steps)
        adv, targets, obs_stats = advantages(network, config, runner.train_state.params, runner.obs_stats, traj,
                                             runner.obs)
        runner = runner.replace(obs_stats=obs_stats)

        # (num_steps, num_envs, ...) -> (num_envs, num_steps, ...): minibatches are whole env
        # trajectories, so a shuffle permutes num_envs rows rather than the whole batch.
        by_env = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), (traj, adv, targets))

        key, epoch_key = jax.random.split(runner.key)
        train_state, info = ppo_epochs(runner.train_state, by_env, loss_fn, epoch_key, config, mesh)
        runner = place(runner.replace(train_state=train_state, key=key, update=runner.update + 1), mesh,
                       RunnerState.ENV_FIELDS)
        metrics = {name: value.mean() for name, value in info.items()}
        metrics["episodes"] = traj.done.sum()
        metrics["ran"] = jnp.array(1, jnp.int32)
        metrics["episode_return"] = mean_episode_return(traj.done, traj.episode_return)
        return runner, metrics

    return update


def make_trainer(config: PPOConfig, env: Any, env_params: Any, warm_start: WarmStart | None = None) -> Trainer:
    """Check the configuration and the env parameters, then build the jittable training functions.

    Args:
        config: the hyperparameters.
        env: a single-agent ``jaxmarket`` (gymnax-style) env with a Discrete or Box action space.
        env_params: its parameters.
        warm_start: the network and statistics to start from (checked against the network the
            config builds); None: a fresh network.

    Returns:
        The ``Trainer``: ``jax.jit(trainer.train)(key)`` runs ``config.num_updates`` updates of
        ``config.batch_size`` env steps and returns ``{"runner": RunnerState, "metrics": {name:
        (num_updates,)}}`` (metrics ``episode_return``, the ``LOSS_METRICS``, ``episodes``, ``ran``).

    Raises:
        ValueError: an invalid config field, invalid env parameters, an unsupported action space,
            ``squash_actions`` with an unbounded Box, ``devices`` more than there are or not
            dividing ``num_envs``, or a warm start whose parameters or statistics do not have the
            network's shapes; all before anything is compiled.
    """
    config.check()
    mesh = config.mesh()
    check_env_params(env, env_params)
    network = make_network(config, env, env_params)
    to_env = action_map(config, env, env_params)
    if warm_start is not None:
        check_warm_start(warm_start, network, env.observation_space(env_params).shape)
    tx = optimizer(config, config.num_updates)
    init = _init_fn(config, env, env_params, network, tx, mesh, warm_start)
    update = _update_fn(config, network, _env_step_fn(config, env, env_params, network, to_env, mesh), mesh,
                        warm_start)
    chunk, train = chunk_and_train(init, update, config.num_updates, config.updates_per_chunk)
    return Trainer(config, env, env_params, network, init, update, chunk, train, mesh)


def check_warm_start(warm_start: WarmStart, network: ActorCritic, obs_shape: tuple[int, ...]) -> None:
    """Check a warm start against the network a run builds (by abstract evaluation; nothing runs).

    Args:
        warm_start: the parameters and statistics to start from.
        network: the run's actor-critic.
        obs_shape: the env's observation shape.

    Raises:
        ValueError: a parameter of another name, shape or dtype than the network's (e.g. other
            ``hidden_sizes``), or statistics of another shape than ``obs_shape`` / ``()``.
    """
    expected = jax.eval_shape(network.init, jax.random.key(0), jnp.zeros(obs_shape, jnp.float32))
    want = {jax.tree_util.keystr(p): (v.shape, v.dtype) for p, v in jax.tree_util.tree_leaves_with_path(expected)}
    got = {jax.tree_util.keystr(p): (jnp.shape(v), jnp.result_type(v))
           for p, v in jax.tree_util.tree_leaves_with_path(warm_start.net_params)}
    if want != got:
        wrong = sorted(set(want.items()) ^ set(got.items()))[:4]
        raise ValueError(f"warm_start.net_params: not the parameters of this run's network (hidden_sizes, activation "
                         f"and action space must match); differing entries (path, (shape, dtype)): {wrong}")
    stats = [("obs_stats", warm_start.obs_stats, tuple(obs_shape))]
    if warm_start.return_stats is not None:
        stats.append(("return_stats", warm_start.return_stats, ()))
    for name, value, shape in stats:
        if jnp.shape(value.mean) != shape or jnp.shape(value.var) != shape or jnp.shape(value.count) != ():
            raise ValueError(f"warm_start.{name}: mean shape {jnp.shape(value.mean)}, expected {shape}")


def make_policy(config: PPOConfig, env: Any, env_params: Any, net_params: Any, obs_stats: RunningStats,
                deterministic: bool = True) -> Callable:
    """A policy for ``jaxmarket.evaluate`` from trained parameters.

    Args:
        config: the config it was trained with.
        env: the env.
        env_params: its parameters (to build the action map).
        net_params: the network parameters.
        obs_stats: the observation statistics.
        deterministic: act with the Gaussian mean (continuous, squashed as in training) or the
            most likely action (discrete), instead of a sample.

    Returns:
        ``act(key, obs (d,), state, params) -> action``.

    Raises:
        ValueError: an unsupported action space, or ``squash_actions`` with an unbounded Box.
    """
    network = make_network(config, env, env_params)
    to_env = action_map(config, env, env_params)

    def act(key: jax.Array, obs: jax.Array, state: Any, params: Any) -> jax.Array:
        del state, params
        return policy_actions(network, to_env, config, net_params, obs_stats, obs, key, deterministic)

    return act


def trained_policy(trainer: Trainer, runner: RunnerState, deterministic: bool = True) -> Callable:
    """The policy of a finished run (``make_policy``).

    Args:
        trainer: the run's trainer.
        runner: its final ``RunnerState`` (``train(key)["runner"]`` or ``loop.run``'s).
        deterministic: act with the policy's mode instead of a sample.

    Returns:
        ``act(key, obs, state, params) -> action`` for ``jaxmarket.evaluate``.
    """
    return make_policy(trainer.config, trainer.env, trainer.env_params, runner.train_state.params,
                       runner.obs_stats, deterministic)
