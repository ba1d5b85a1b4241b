"""Behaviour cloning inside ``jit``: the data's actions by maximum likelihood under PPO's
``ActorCritic`` policy, and its value head fitted to the data's policy by TD(0).

    trainer = make_trainer(BCConfig(...), env, env_params, jm.to_transitions(trajectories))
    result = jax.jit(trainer.train)(key, trainer.dataset)  # whole run in one jit; vmappable over keys
    act = trainer.policy(result["runner"])               # for jaxmarket.evaluate
    runner, rows = loop.run(trainer, key, metadata=..., out_dir=...)  # chunks, log, checkpoints, final/

The actor loss is the negative log-likelihood of the data's actions: for a Discrete space the
categorical's, for a Box the diagonal Gaussian's over PPO's unbounded variable ``u`` (with
``squash_actions`` the data's actions are mapped through the inverse of ``low + (high - low) *
sigmoid(u)``, ``offline.unsquash``), so the cloned policy's probabilities are in the space PPO's
ratios use. The Gaussian's standard deviation is learned too: it ends at the spread of the data's
actions around the fitted mean.

The critic: the value head learns ``V(s) = reward_scale * r + gamma * (1 - terminated) * V_target(s')``
on the data's transitions, ``V_target`` a Polyak average of the network (step ``target_tau``).
Its fixed point is the value of the data's policy in units of ``reward_scale`` times the reward:
with ``reward_scale`` set to PPO's reward scale (one over the return's standard deviation) it is a
value head PPO can start from. Truncated episodes bootstrap from their last observation.

The observations of typed agents end with their type, so data of several types train one
type-conditioned policy (see ``training.learners.offline``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from jaxmarket.core.validation import check_range
from training.learners.normalize import RunningStats
from training.learners.offline import (
    Dataset, OfflineConfig, Trainer, build_policy_parts, check_fraction, finite, floor_log_std, half_squared_error,
    make_offline_trainer, observation_stats, polyak, sample,
)
from training.learners.ppo import observe

__all__ = ["BCConfig", "LOG_FIELDS", "RunnerState", "bc_loss", "make_trainer"]

LOG_FIELDS = ("actor_loss", "value_loss", "entropy")  # per step: negative log-likelihood, TD loss, policy entropy


@dataclasses.dataclass(frozen=True)
class BCConfig(OfflineConfig):
    """Behaviour-cloning hyperparameters (the shared ones: ``offline.OfflineConfig``)."""

    value_coef: float = 1.0
    """Weight of the TD loss in the summed loss, >= 0; 0 leaves the value head at its initialisation. The actor and
    value torsos are separate and Adam scales each parameter's step, so any positive weight fits the critic at about
    the same speed."""
    target_tau: float = 0.005
    """Polyak step of the critic's target network per gradient step, in (0, 1]."""
    reward_scale: float = 1.0
    """The critic's rewards are the data's times this, any finite real (PPO's reward scale for a warm start)."""

    def check_learner(self) -> None:
        """Check ``value_coef``, ``target_tau`` and ``reward_scale``.

        Raises:
            ValueError: naming the invalid field, its value and its valid range.
        """
        check_range("value_coef", self.value_coef, 0.0)
        check_fraction("target_tau", self.target_tau)
        finite("reward_scale", self.reward_scale)


@struct.dataclass
class RunnerState:
    """Everything that evolves during a behaviour-cloning run."""

    train_state: TrainState  # the ActorCritic's parameters and Adam state
    target_params: Any  # Polyak average of the ActorCritic's parameters (its value head is the TD target)
    obs_stats: RunningStats  # of the data's observations, (*obs_shape,); constant over the run
    key: jax.Array
    update: jax.Array  # int32, gradient steps done


def bc_loss(network: Any, config: BCConfig, net_params: Any, target_params: Any, obs_stats: RunningStats,
            batch: Dataset) -> tuple[jax.Array, dict]:
    """The behaviour-cloning loss on a minibatch.

    Args:
        network: the ``ActorCritic``.
        config: ``gamma``, ``reward_scale``, ``value_coef``, ``normalize_obs``, ``obs_clip`` are read.
        net_params: its parameters (what the gradient is taken with respect to).
        target_params: the target parameters (the TD target's value head).
        obs_stats: the observation statistics.
        batch: ``B`` transitions (``Dataset`` layout).

    Returns:
        ``(loss, parts)``: ``actor_loss + value_coef * value_loss`` and the float32 scalars of
        ``LOG_FIELDS``: ``actor_loss`` the mean negative log-likelihood of the actions (in the policy
        variable), ``value_loss`` half the mean squared TD(0) error, ``entropy`` the policy's mean entropy.
    """
    dist, value = network.apply(net_params, observe(config, obs_stats, batch.obs))
    _, next_value = network.apply(target_params, observe(config, obs_stats, batch.next_obs))
    target = config.reward_scale * batch.rewards + config.gamma * (1.0 - batch.terminations) * next_value
    actor_loss = -dist.log_prob(batch.actions).mean()
    value_loss = half_squared_error(value, jax.lax.stop_gradient(target))
    loss = actor_loss + config.value_coef * value_loss
    return loss, {"actor_loss": actor_loss, "value_loss": value_loss, "entropy": dist.entropy().mean()}


def make_trainer(config: BCConfig, env: Any, env_params: Any, transitions: Any, family: str | None = None) -> Trainer:
    """Check the config, the env parameters and the data, then build the jittable training functions.

    Args:
        config: the hyperparameters.
        env: the env the policy is for (its spaces shape the network and are checked against the data).
        env_params: its parameters.
        transitions: a ``jaxmarket.Transitions`` (``jm.to_transitions``) of that env, or a dict with
            its fields; copied to the device once.
        family: for a ``MultiAgentEnv``, the family whose agents made the data; None otherwise.

    Returns:
        The ``offline.Trainer``: ``jax.jit(trainer.train)(key, trainer.dataset)`` takes
        ``config.num_updates`` gradient steps of ``config.batch_size`` transitions and returns
        ``{"runner": RunnerState, "metrics": {name: (num_updates,)}}``
        (``LOG_FIELDS`` and ``ran``).

    Raises:
        ValueError: an invalid config field, invalid env parameters, an unknown or missing family,
            an unsupported action space, ``squash_actions`` with an unbounded Box, or data that are
            empty or do not fit the env's spaces (naming the field and the expected shape); all
            before anything is compiled.
    """
    network, to_env, dataset, _ = build_policy_parts(config, env, env_params, transitions, family)
    stats = observation_stats(dataset.obs)
    tx = optax.adam(config.learning_rate)

    def init(key: jax.Array) -> RunnerState:
        net_key, key = jax.random.split(key)
        net_params = network.init(net_key, jnp.zeros(dataset.obs.shape[1:], jnp.float32))
        train_state = TrainState.create(apply_fn=network.apply, params=net_params, tx=tx)
        return RunnerState(train_state, net_params, stats, key, jnp.array(0, jnp.int32))

    def update(runner: RunnerState, data: Dataset) -> tuple[RunnerState, dict]:
        key, batch_key = jax.random.split(runner.key)
        batch = sample(batch_key, data, config.batch_size)
        grads, info = jax.grad(bc_loss, argnums=2, has_aux=True)(network, config, runner.train_state.params,
                                                                  runner.target_params, runner.obs_stats, batch)
        train_state = floor_log_std(runner.train_state.apply_gradients(grads=grads), config.min_log_std)
        target_params = polyak(runner.target_params, train_state.params, config.target_tau)
        runner = runner.replace(train_state=train_state, target_params=target_params, key=key,
                                update=runner.update + 1)
        return runner, {**info, "ran": jnp.array(1, jnp.int32)}

    return make_offline_trainer(config, env, env_params, family, network, to_env, dataset, init, update, LOG_FIELDS)
