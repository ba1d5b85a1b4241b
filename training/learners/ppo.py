"""PPO trained end to end inside ``jit``: rollout scan, GAE, epochs and minibatches.

    trainer = make_trainer(PPOConfig(...), env, env_params)
    result = jax.jit(trainer.train)(key)                # whole run in one jit; vmappable over keys
    result = run(trainer, key, log_path=..., checkpoint_dir=...)  # chunks, progress, log, checkpoints

Observations are normalised by running statistics and rewards scaled by the running standard
deviation of the discounted return (both switchable). Discrete actions are categorical. Continuous
actions are a diagonal Gaussian over an unbounded variable ``u``; with ``squash_actions`` a Box
action is ``low + (high - low) * sigmoid(u)``. The map is a bijection, so PPO's probability ratios
on ``u`` are exact, and no sample lands in a flat region where the env's clipping hides the
gradient. Without it the sample goes to the env as it is.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax.training.train_state import TrainState

from jaxmarket.core import spaces
from jaxmarket.core.validation import check_choice, check_env_params, check_int, check_range
from training.learners.networks import ACTIVATIONS, ActorCritic
from training.learners.normalize import RunningStats

LOSS_METRICS = ("value_loss", "actor_loss", "entropy", "approx_kl")


@dataclasses.dataclass(frozen=True)
class Hyperparameters:
    """The PPO hyperparameters single- and multi-agent PPO share (``PPOConfig``, ``MAPPOConfig``)."""

    num_envs: int = 1024
    update_epochs: int = 4
    num_minibatches: int = 8  # per epoch, of whole env trajectories
    learning_rate: float = 3e-4
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    init_log_std: float = 0.0
    squash_actions: bool = True  # Box actions: env action = low + (high - low) * sigmoid(sample)
    normalize_obs: bool = True
    normalize_reward: bool = True
    obs_clip: float = 10.0  # normalised observations are clipped to [-obs_clip, obs_clip]
    reward_clip: float = 10.0
    updates_per_chunk: int = 10  # updates per jitted call in ``loop.run`` (one log row each)

    def check_shared(self) -> None:
        """Raise ``ValueError`` naming any invalid shared field."""
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


@dataclasses.dataclass(frozen=True)
class PPOConfig(Hyperparameters):
    """PPO hyperparameters. A batch is ``num_envs * num_steps`` env steps per update; each epoch
    splits it into ``num_minibatches`` minibatches of whole env trajectories."""

    num_steps: int = 32  # rollout length per env per update
    total_timesteps: int = 10_000_000

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size

    def check(self) -> None:
        """Raise ``ValueError`` naming any invalid field, before anything is compiled."""
        check_int("num_steps", self.num_steps, 1)
        check_int("total_timesteps", self.total_timesteps, self.batch_size, math.inf)  # Python-only count
        self.check_shared()


def chunk_summary(metrics: dict[str, Any], loss_names: tuple[str, ...], return_names: tuple[str, ...]) -> dict[str, float]:
    """A chunk's log row: the mean of each of ``loss_names`` over the updates that ran (skipped
    updates past ``num_updates`` report zeros), and of each of ``return_names`` over those in
    which episodes ended (NaN if none did)."""
    ran = np.asarray(metrics["ran"]) > 0
    ended = ran & (np.asarray(metrics["episodes"]) > 0)
    out = {name: float(np.mean(np.asarray(metrics[name])[ran])) for name in loss_names}
    for name in return_names:
        out[name] = float(np.mean(np.asarray(metrics[name])[ended])) if ended.any() else float("nan")
    return out


def observe(config: Hyperparameters, stats: RunningStats, obs: jax.Array) -> jax.Array:
    """What a network sees: observations normalised by ``stats`` and clipped, or as they are (float32)."""
    return stats.normalize(obs, config.obs_clip) if config.normalize_obs else obs.astype(jnp.float32)


def policy_actions(network: ActorCritic, to_env: Callable, config: Hyperparameters, net_params: Any,
                   stats: RunningStats, obs: jax.Array, key: jax.Array | None, deterministic: bool) -> jax.Array:
    """Env actions for raw observations: the policy's mode (the Gaussian mean, squashed for Box
    actions; the most likely category) if ``deterministic``, else a sample drawn with ``key``."""
    dist, _ = network.apply(net_params, observe(config, stats, obs))
    return to_env(dist.mode() if deterministic else dist.sample(seed=key))


def optimizer(config: Hyperparameters, num_updates: int) -> optax.GradientTransformation:
    """Adam after global-norm clipping, its learning rate annealed linearly to 0 over ``num_updates``
    (of ``update_epochs * num_minibatches`` steps each) if ``anneal_lr``."""
    steps_per_update = config.update_epochs * config.num_minibatches

    def schedule(count: jax.Array) -> jax.Array:
        done = jnp.minimum(count // steps_per_update, num_updates)
        frac = 1.0 - done / num_updates if config.anneal_lr else 1.0
        return config.learning_rate * frac

    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(schedule, eps=1e-5))


def chunk_and_train(init: Callable, update: Callable, num_updates: int, updates_per_chunk: int) -> tuple[Callable, Callable]:
    """From ``init(key)`` and ``update(runner) -> (runner, metrics)`` (whose runner counts its
    updates in ``update``): ``chunk(runner)``, ``updates_per_chunk`` updates with those past
    ``num_updates`` skipped (zero metrics), and ``train(key)``, the whole run in one scan."""

    def chunk(runner: Any) -> tuple[Any, dict]:
        def body(runner, _):
            def skip(r):
                return r, jax.tree.map(jnp.zeros_like, jax.eval_shape(update, r)[1])

            return jax.lax.cond(runner.update < num_updates, update, skip, runner)

        return jax.lax.scan(body, runner, None, updates_per_chunk)

    def train(key: jax.Array) -> dict:
        runner, metrics = jax.lax.scan(lambda r, _: update(r), init(key), None, num_updates)
        return {"runner": runner, "metrics": metrics}

    return chunk, train


def ppo_epochs(train_state: TrainState, batch: Any, loss_fn: Callable, key: jax.Array, config: Any) -> tuple[TrainState, dict]:
    """``config.update_epochs`` epochs over ``batch`` (leaves ``(num_envs, steps, ...)``), each
    shuffling the envs into ``num_minibatches`` minibatches of whole env trajectories (flattened to
    ``(envs * steps, ...)``) and taking a gradient step on ``loss_fn(params, minibatch) -> (loss,
    info)`` for each; returns the state and the infos."""

    def epoch(carry, _):
        train_state, key = carry
        key, perm_key = jax.random.split(key)
        perm = jax.random.permutation(perm_key, config.num_envs)
        shuffled = jax.tree.map(
            lambda x: jnp.take(x, perm, axis=0).reshape((config.num_minibatches, -1) + x.shape[2:]), batch
        )

        def minibatch(train_state, mb):
            grads, info = jax.grad(loss_fn, has_aux=True)(train_state.params, mb)
            return train_state.apply_gradients(grads=grads), info

        train_state, info = jax.lax.scan(minibatch, train_state, shuffled)
        return (train_state, key), info

    (train_state, _), info = jax.lax.scan(epoch, (train_state, key), None, config.update_epochs)
    return train_state, info


@struct.dataclass
class RunnerState:
    """Everything that evolves during training."""

    train_state: TrainState
    obs_stats: RunningStats
    return_stats: RunningStats  # of the discounted return, for reward scaling
    env_state: Any
    obs: jax.Array
    discounted_return: jax.Array  # (num_envs,)
    episode_return: jax.Array  # (num_envs,), unscaled
    key: jax.Array
    update: jax.Array  # int32, updates done


class Transition(NamedTuple):
    obs: jax.Array  # normalised, as the policy saw it
    raw_obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array  # scaled
    done: jax.Array
    episode_return: jax.Array  # unscaled return of the episode that ended (where done)


@dataclasses.dataclass(frozen=True)
class Trainer:
    """The jittable pieces of one PPO run: ``init``, ``update``, ``chunk`` and ``train``."""

    config: PPOConfig
    env: Any
    env_params: Any
    network: ActorCritic
    init: Callable[[jax.Array], RunnerState]
    update: Callable[[RunnerState], tuple[RunnerState, dict]]
    chunk: Callable[[RunnerState], tuple[RunnerState, dict]]
    train: Callable[[jax.Array], dict]
    step_unit = "env_steps"
    log_fields = ("episode_return", *LOSS_METRICS)

    @property
    def steps_per_update(self) -> int:
        return self.config.batch_size

    def summary(self, metrics: dict[str, Any]) -> dict[str, float]:
        """The chunk's log row (``chunk_summary``)."""
        return chunk_summary(metrics, LOSS_METRICS, ("episode_return",))

    def save(self, path: Any, runner: RunnerState, metadata: dict[str, Any], update: int) -> None:
        """Checkpoint the policy (``metadata``: ``env_id`` and ``env_overrides``)."""
        from training.learners import checkpoint

        checkpoint.save(path, self.config, metadata["env_id"], metadata["env_overrides"], runner.train_state.params,
                        runner.obs_stats, update)


def gae(rewards: jax.Array, values: jax.Array, dones: jax.Array, last_value: jax.Array, gamma: float,
        lam: float) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimates and value targets over time-major ``(T, ...)`` arrays.

    ``dones[t]`` marks that the episode ended at step ``t`` (terminated or truncated): nothing is
    bootstrapped across it. ``last_value`` is the value of the observation after the last step.
    """

    def backward(carry, step):
        advantage, next_value = carry
        reward, value, done = step
        not_done = 1.0 - done.astype(jnp.float32)
        delta = reward + gamma * next_value * not_done - value
        advantage = delta + gamma * lam * not_done * advantage
        return (advantage, value), advantage

    init = (jnp.zeros_like(last_value), last_value)
    _, advantages = jax.lax.scan(backward, init, (rewards, values, dones), reverse=True)
    return advantages, advantages + values


def ppo_loss(network: ActorCritic, net_params: Any, obs: jax.Array, action: jax.Array, old_log_prob: jax.Array,
             old_value: jax.Array, adv: jax.Array, targets: jax.Array, clip_eps: float, vf_coef: float,
             ent_coef: float) -> tuple[jax.Array, dict]:
    """The clipped PPO objective on a minibatch (advantages normalised within it), with a clipped
    value loss and an entropy bonus; returns the loss and its parts."""
    dist, value = network.apply(net_params, obs)
    log_prob = dist.log_prob(action)
    value_clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
    value_loss = 0.5 * jnp.maximum(jnp.square(value - targets), jnp.square(value_clipped - targets)).mean()
    ratio = jnp.exp(log_prob - old_log_prob)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    actor_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * adv).mean()
    entropy = dist.entropy().mean()
    total = actor_loss + vf_coef * value_loss - ent_coef * entropy
    approx_kl = ((ratio - 1) - jnp.log(ratio)).mean()
    return total, {"value_loss": value_loss, "actor_loss": actor_loss, "entropy": entropy, "approx_kl": approx_kl}


def space_spec(space: Any) -> tuple[int, bool]:
    """(action size or number of categories, discrete?) of a ``Discrete`` or ``Box`` space."""
    if isinstance(space, spaces.Discrete):
        return int(space.n), True
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape)), False
    raise ValueError(f"action space {space!r} is not supported: use Discrete or Box")


def space_action_map(space: Any, squash: bool) -> Callable[[jax.Array], jax.Array]:
    """From the policy's sample to an action of ``space``: with ``squash``, a Box action is
    ``low + (high - low) * sigmoid(u)`` (finite bounds needed); otherwise the sample as it is."""
    if not (squash and isinstance(space, spaces.Box)):
        return lambda u: u
    low, high = jnp.asarray(space.low, jnp.float32), jnp.asarray(space.high, jnp.float32)
    if not bool(jnp.all(jnp.isfinite(low) & jnp.isfinite(high))):
        raise ValueError("squash_actions = True needs a Box action space with finite bounds: set it to False")
    return lambda u: low + (high - low) * jax.nn.sigmoid(u)


def space_network(space: Any, hidden_sizes: tuple[int, ...], activation: str, init_log_std: float) -> ActorCritic:
    """The actor-critic whose head fits ``space``."""
    action_dim, discrete = space_spec(space)
    return ActorCritic(action_dim, discrete, tuple(hidden_sizes), activation, init_log_std)


def action_map(config: PPOConfig, env: Any, params: Any) -> Callable[[jax.Array], jax.Array]:
    """From the policy's sample to the env's action: the sigmoid squash onto a finite Box, or identity."""
    return space_action_map(env.action_space(params), config.squash_actions)


def make_network(config: PPOConfig, env: Any, params: Any) -> ActorCritic:
    """The actor-critic for ``env``'s action space."""
    return space_network(env.action_space(params), config.hidden_sizes, config.activation, config.init_log_std)


def make_trainer(config: PPOConfig, env: Any, env_params: Any) -> Trainer:
    """Check the configuration and the env parameters, then build the jittable training functions."""
    config.check()
    check_env_params(env, env_params)
    network = make_network(config, env, env_params)
    to_env = action_map(config, env, env_params)
    obs_shape = env.observation_space(env_params).shape
    num_updates = config.num_updates
    tx = optimizer(config, num_updates)
    vmap_reset = jax.vmap(env.reset, in_axes=(0, None))
    vmap_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def init(key: jax.Array) -> RunnerState:
        net_key, reset_key, key = jax.random.split(key, 3)
        net_params = network.init(net_key, jnp.zeros(obs_shape, jnp.float32))
        train_state = TrainState.create(apply_fn=network.apply, params=net_params, tx=tx)
        obs, env_state = vmap_reset(jax.random.split(reset_key, config.num_envs), env_params)
        zeros = jnp.zeros(config.num_envs, jnp.float32)
        return RunnerState(
            train_state, RunningStats.create(obs_shape), RunningStats.create(), env_state, obs, zeros, zeros, key,
            jnp.array(0, jnp.int32),
        )

    def env_step(runner: RunnerState, _: Any) -> tuple[RunnerState, Transition]:
        key, act_key, step_key = jax.random.split(runner.key, 3)
        obs = observe(config, runner.obs_stats, runner.obs)
        dist, value = network.apply(runner.train_state.params, obs)
        action = dist.sample(seed=act_key)
        log_prob = dist.log_prob(action)
        next_obs, env_state, reward, terminated, truncated, _ = vmap_step(
            jax.random.split(step_key, config.num_envs), runner.env_state, to_env(action), env_params
        )
        done = terminated | truncated
        reward = reward.astype(jnp.float32)
        discounted = runner.discounted_return * config.gamma + reward
        episode_return = runner.episode_return + reward
        scaled = runner.return_stats.scale(reward, config.reward_clip) if config.normalize_reward else reward
        transition = Transition(obs, runner.obs, action, log_prob, value, scaled, done, episode_return)
        runner = runner.replace(
            env_state=env_state,
            obs=next_obs,
            key=key,
            discounted_return=jnp.where(done, 0.0, discounted),
            episode_return=jnp.where(done, 0.0, episode_return),
            return_stats=runner.return_stats.update(discounted) if config.normalize_reward else runner.return_stats,
        )
        return runner, transition

    def loss_fn(net_params: Any, batch: tuple) -> tuple[jax.Array, dict]:
        traj, adv, targets = batch
        return ppo_loss(network, net_params, traj.obs, traj.action, traj.log_prob, traj.value, adv, targets,
                        config.clip_eps, config.vf_coef, config.ent_coef)

    def update(runner: RunnerState) -> tuple[RunnerState, dict]:
        runner, traj = jax.lax.scan(env_step, runner, None, config.num_steps)
        _, last_value = network.apply(runner.train_state.params, observe(config, runner.obs_stats, runner.obs))
        adv, targets = gae(traj.reward, traj.value, traj.done, last_value, config.gamma, config.gae_lambda)
        if config.normalize_obs:
            runner = runner.replace(obs_stats=runner.obs_stats.update(traj.raw_obs))

        # (num_steps, num_envs, ...) -> (num_envs, num_steps, ...): minibatches are whole env
        # trajectories, so a shuffle permutes num_envs rows rather than the whole batch.
        by_env = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), (traj, adv, targets))

        key, epoch_key = jax.random.split(runner.key)
        train_state, info = ppo_epochs(runner.train_state, by_env, loss_fn, epoch_key, config)
        runner = runner.replace(train_state=train_state, key=key, update=runner.update + 1)
        episodes = traj.done.sum()
        metrics = {name: value.mean() for name, value in info.items()}
        metrics["episodes"] = episodes
        metrics["ran"] = jnp.array(1, jnp.int32)
        metrics["episode_return"] = jnp.where(traj.done, traj.episode_return, 0.0).sum() / jnp.maximum(episodes, 1)
        return runner, metrics

    chunk, train = chunk_and_train(init, update, num_updates, config.updates_per_chunk)
    return Trainer(config, env, env_params, network, init, update, chunk, train)


def make_policy(config: PPOConfig, env: Any, env_params: Any, net_params: Any, obs_stats: RunningStats,
                deterministic: bool = True) -> Callable:
    """A policy ``act(key, obs, state, params)`` for ``jaxmarket.evaluate``: the Gaussian mean
    (continuous, then squashed as in training) or the most likely action (discrete) if
    ``deterministic``, else a sample."""
    network = make_network(config, env, env_params)
    to_env = action_map(config, env, env_params)

    def act(key: jax.Array, obs: jax.Array, state: Any, params: Any) -> jax.Array:
        del state, params
        return policy_actions(network, to_env, config, net_params, obs_stats, obs, key, deterministic)

    return act


def trained_policy(trainer: Trainer, runner: RunnerState, deterministic: bool = True) -> Callable:
    """The policy of a finished run."""
    return make_policy(trainer.config, trainer.env, trainer.env_params, runner.train_state.params,
                       runner.obs_stats, deterministic)
