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
from training.networks import ACTIVATIONS, ActorCritic
from training.normalize import RunningStats


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters. A batch is ``num_envs * num_steps`` env steps per update; each epoch
    splits it into ``num_minibatches`` minibatches of whole env trajectories."""

    num_envs: int = 1024
    num_steps: int = 32  # rollout length per env per update
    total_timesteps: int = 10_000_000
    update_epochs: int = 4
    num_minibatches: int = 8
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
    updates_per_chunk: int = 10  # updates per jitted call in ``run`` (one log row each)

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size

    def check(self) -> None:
        """Raise ``ValueError`` naming any invalid field, before anything is compiled."""
        for name in ("num_envs", "num_steps", "update_epochs", "num_minibatches", "updates_per_chunk"):
            check_int(name, getattr(self, name), 1)
        check_int("total_timesteps", self.total_timesteps, self.batch_size)
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


def _action_spec(env: Any, params: Any) -> tuple[int, bool]:
    space = env.action_space(params)
    if isinstance(space, spaces.Discrete):
        return int(space.n), True
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape)), False
    raise ValueError(f"action space {space!r} is not supported: use Discrete or Box")


def action_map(config: PPOConfig, env: Any, params: Any) -> Callable[[jax.Array], jax.Array]:
    """From the policy's sample to the env's action: the sigmoid squash onto a finite Box, or identity."""
    space = env.action_space(params)
    if not (config.squash_actions and isinstance(space, spaces.Box)):
        return lambda u: u
    low, high = jnp.asarray(space.low, jnp.float32), jnp.asarray(space.high, jnp.float32)
    if not bool(jnp.all(jnp.isfinite(low) & jnp.isfinite(high))):
        raise ValueError("squash_actions = True needs a Box action space with finite bounds: set it to False")
    return lambda u: low + (high - low) * jax.nn.sigmoid(u)


def make_network(config: PPOConfig, env: Any, params: Any) -> ActorCritic:
    """The actor-critic for ``env``'s action space."""
    action_dim, discrete = _action_spec(env, params)
    return ActorCritic(action_dim, discrete, tuple(config.hidden_sizes), config.activation, config.init_log_std)


def make_trainer(config: PPOConfig, env: Any, env_params: Any) -> Trainer:
    """Check the configuration and the env parameters, then build the jittable training functions."""
    config.check()
    check_env_params(env, env_params)
    network = make_network(config, env, env_params)
    to_env = action_map(config, env, env_params)
    obs_shape = env.observation_space(env_params).shape
    num_updates = config.num_updates
    steps_per_update = config.update_epochs * config.num_minibatches

    def schedule(count: jax.Array) -> jax.Array:
        done = jnp.minimum(count // steps_per_update, num_updates)
        frac = 1.0 - done / num_updates if config.anneal_lr else 1.0
        return config.learning_rate * frac

    tx = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(schedule, eps=1e-5))
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

    def observe(stats: RunningStats, obs: jax.Array) -> jax.Array:
        return stats.normalize(obs, config.obs_clip) if config.normalize_obs else obs.astype(jnp.float32)

    def env_step(runner: RunnerState, _: Any) -> tuple[RunnerState, Transition]:
        key, act_key, step_key = jax.random.split(runner.key, 3)
        obs = observe(runner.obs_stats, runner.obs)
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
        dist, value = network.apply(net_params, traj.obs)
        log_prob = dist.log_prob(traj.action)
        value_clipped = traj.value + jnp.clip(value - traj.value, -config.clip_eps, config.clip_eps)
        value_loss = 0.5 * jnp.maximum(jnp.square(value - targets), jnp.square(value_clipped - targets)).mean()
        ratio = jnp.exp(log_prob - traj.log_prob)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        actor_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - config.clip_eps, 1 + config.clip_eps) * adv).mean()
        entropy = dist.entropy().mean()
        total = actor_loss + config.vf_coef * value_loss - config.ent_coef * entropy
        approx_kl = ((ratio - 1) - jnp.log(ratio)).mean()
        return total, {"value_loss": value_loss, "actor_loss": actor_loss, "entropy": entropy, "approx_kl": approx_kl}

    def update(runner: RunnerState) -> tuple[RunnerState, dict]:
        runner, traj = jax.lax.scan(env_step, runner, None, config.num_steps)
        _, last_value = network.apply(runner.train_state.params, observe(runner.obs_stats, runner.obs))
        adv, targets = gae(traj.reward, traj.value, traj.done, last_value, config.gamma, config.gae_lambda)
        if config.normalize_obs:
            runner = runner.replace(obs_stats=runner.obs_stats.update(traj.raw_obs))

        # (num_steps, num_envs, ...) -> (num_envs, num_steps, ...): minibatches are whole env
        # trajectories, so a shuffle permutes num_envs rows rather than the whole batch.
        by_env = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), (traj, adv, targets))

        def epoch(carry, _):
            train_state, key = carry
            key, perm_key = jax.random.split(key)
            perm = jax.random.permutation(perm_key, config.num_envs)
            shuffled = jax.tree.map(
                lambda x: jnp.take(x, perm, axis=0).reshape((config.num_minibatches, -1) + x.shape[2:]), by_env
            )

            def minibatch(train_state, batch):
                grads, info = jax.grad(loss_fn, has_aux=True)(train_state.params, batch)
                return train_state.apply_gradients(grads=grads), info

            train_state, info = jax.lax.scan(minibatch, train_state, shuffled)
            return (train_state, key), info

        key, epoch_key = jax.random.split(runner.key)
        (train_state, _), info = jax.lax.scan(epoch, (runner.train_state, epoch_key), None, config.update_epochs)
        runner = runner.replace(train_state=train_state, key=key, update=runner.update + 1)
        episodes = traj.done.sum()
        metrics = {name: value.mean() for name, value in info.items()}
        metrics["episodes"] = episodes
        metrics["episode_return"] = jnp.where(traj.done, traj.episode_return, 0.0).sum() / jnp.maximum(episodes, 1)
        return runner, metrics

    def chunk(runner: RunnerState) -> tuple[RunnerState, dict]:
        """``updates_per_chunk`` updates; those past ``num_updates`` are skipped."""

        def body(runner, _):
            def skip(r):
                return r, jax.tree.map(jnp.zeros_like, jax.eval_shape(update, r)[1])

            return jax.lax.cond(runner.update < num_updates, update, skip, runner)

        return jax.lax.scan(body, runner, None, config.updates_per_chunk)

    def train(key: jax.Array) -> dict:
        runner, metrics = jax.lax.scan(lambda r, _: update(r), init(key), None, num_updates)
        return {"runner": runner, "metrics": metrics}

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
        if config.normalize_obs:
            obs = obs_stats.normalize(obs, config.obs_clip)
        dist, _ = network.apply(net_params, obs)
        return to_env(dist.mode() if deterministic else dist.sample(seed=key))

    return act


def trained_policy(trainer: Trainer, runner: RunnerState, deterministic: bool = True) -> Callable:
    """The policy of a finished run."""
    return make_policy(trainer.config, trainer.env, trainer.env_params, runner.train_state.params,
                       runner.obs_stats, deterministic)


def num_chunks(config: PPOConfig) -> int:
    return math.ceil(config.num_updates / config.updates_per_chunk)
