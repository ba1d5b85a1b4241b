"""Implicit Q-Learning (IQL) inside ``jit``: Kostrikov, Nair and Levine (2021), "Offline
Reinforcement Learning with Implicit Q-Learning", arXiv:2110.06169.

    trainer = make_trainer(IQLConfig(...), env, env_params, jm.to_transitions(trajectories))
    result = jax.jit(trainer.train)(key, trainer.dataset)  # whole run in one jit; vmappable over keys
    act = trainer.policy(result["runner"])               # for jaxmarket.evaluate
    runner, rows = loop.run(trainer, key, metadata=..., out_dir=...)  # chunks, log, checkpoints, final/

IQL never evaluates an action outside the data. Per gradient step, on one minibatch
(``r`` the reward times ``reward_scale``, ``d`` 1 where the episode terminated):

- value (eq. 5): ``L_V = E[L_2^tau(Q_target(s, a) - V(s))]`` with the expectile loss
  ``L_2^tau(x) = |tau - 1(x < 0)| x^2``: ``V(s)`` tends to the ``tau``-expectile of the data's
  ``Q(s, a)`` over the data's actions, an estimate of the best in-data action's value as ``tau -> 1``;
- Q (eq. 6): ``L_Q = E[(r + gamma (1 - d) V(s') - Q_i(s, a))^2]`` for twin Q networks ``i = 1, 2``;
  ``Q_target`` is the minimum of their Polyak averages (step ``target_tau``);
- actor (eq. 7, advantage-weighted regression): ``L_pi = -E[min(exp(beta (Q_target(s, a) - V(s))),
  max_weight) log pi(a | s)]``, ``beta`` the ``temperature``.

The three losses are computed on the same minibatch from the parameters before the step, and their
gradients applied together (the reference implementation updates V, then the actor, then Q in
turn; the fixed points are the same).

The actor and V are PPO's ``ActorCritic`` (``training.learners.networks``): its policy head is the
advantage-weighted policy, its value head the expectile V, so the trained network, its observation
statistics and its checkpoint are a PPO policy's (``offline.Trainer.save``), and the value head
is in units of ``reward_scale`` times the reward. The twin Q networks (``TwinQ``) are separate
MLPs of the same hidden sizes: for a Box space, of the normalised observation and the action
scaled to ``[-1, 1]`` (``offline.action_features``); for a Discrete space, of the observation with
one output per action. The observations of typed agents end with their type, so data of several
types train one type-conditioned policy and critic (see ``training.learners.offline``).

The defaults are the paper's MuJoCo locomotion settings (its appendix B): expectile 0.7,
temperature 3.0, target step 0.005, discount 0.99, batch 256, Adam with learning rate 3e-4,
two hidden layers of 256 ReLU units, 1M gradient steps, and the weights clipped at 100 (the
reference implementation's ``exp_a.clip(max=100)``). The paper's cosine decay of the actor's
learning rate is left out (the rate is constant), and its rewards are the raw ones times
``reward_scale``: the paper scales locomotion rewards by 1000 over the range of the data's episode
returns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from jaxmarket.core import spaces
from jaxmarket.core.validation import check_range
from training.learners.networks import ACTIVATIONS, HIDDEN_INIT_SCALE, VALUE_INIT_SCALE
from training.learners.normalize import RunningStats
from training.learners.offline import (
    Dataset, OfflineConfig, Trainer, action_features, build_policy_parts, check_fraction, finite, floor_log_std,
    make_offline_trainer, observation_stats, polyak, sample,
)
from training.learners.ppo import observe

__all__ = ["IQLConfig", "LOG_FIELDS", "NUM_CRITICS", "RunnerState", "TwinQ", "expectile_loss", "iql_losses",
           "make_trainer"]

LOG_FIELDS = ("actor_loss", "value_loss", "q_loss", "advantage")  # per step: eq. 7, eq. 5, eq. 6, mean Q_target - V
NUM_CRITICS = 2  # twin Q networks, the target the minimum of both (clipped double Q)


@dataclasses.dataclass(frozen=True)
class IQLConfig(OfflineConfig):
    """IQL hyperparameters (the shared ones: ``offline.OfflineConfig``); defaults from the paper's
    locomotion settings (arXiv:2110.06169, appendix B)."""

    expectile: float = 0.7
    """tau of the expectile value loss (eq. 5), in (0, 1); 0.5 fits the data's mean Q, towards 1 its best action's."""
    temperature: float = 3.0
    """beta, the inverse temperature of the advantage weights exp(beta * advantage) (eq. 7), >= 0; 0 is behaviour
    cloning."""
    max_weight: float = 100.0
    """The advantage weights are clipped at this, > 0 (the reference implementation's 100)."""
    target_tau: float = 0.005
    """Polyak step of the target Q networks per gradient step, in (0, 1]."""
    reward_scale: float = 1.0
    """The critics' rewards are the data's times this, any finite real."""

    def check_learner(self) -> None:
        """Check ``expectile``, ``temperature``, ``max_weight``, ``target_tau`` and ``reward_scale``.

        Raises:
            ValueError: naming the invalid field, its value and its valid range.
        """
        check_range("expectile", self.expectile, 0.0, 1.0, low_open=True, high_open=True)
        check_range("temperature", self.temperature, 0.0)
        check_range("max_weight", self.max_weight, 0.0, low_open=True)
        check_fraction("target_tau", self.target_tau)
        finite("reward_scale", self.reward_scale)


class _QNetwork(nn.Module):
    """One Q network: an MLP with ``outputs`` outputs (orthogonal weights, zero biases, as the ActorCritic)."""

    hidden_sizes: Sequence[int]
    activation: str
    outputs: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = act(nn.Dense(size, kernel_init=nn.initializers.orthogonal(HIDDEN_INIT_SCALE))(x))
        return nn.Dense(self.outputs, kernel_init=nn.initializers.orthogonal(VALUE_INIT_SCALE))(x)


class TwinQ(nn.Module):
    """``NUM_CRITICS`` independent Q networks evaluated at the data's actions.

    Attributes:
        hidden_sizes: the hidden layer widths, each >= 1.
        activation: a key of ``networks.ACTIVATIONS``.
        num_actions: for a Discrete space its ``n`` (one output per action); 0 for a Box (the
            action is an input).
    """

    hidden_sizes: Sequence[int]
    activation: str
    num_actions: int = 0

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        """The Q values of ``action``.

        Args:
            obs: ``(..., d)`` float32 normalised observations.
            action: ``(...)`` int32 actions (Discrete) or ``(..., k)`` float32 action features (Box).

        Returns:
            ``(NUM_CRITICS, ...)`` float32.
        """
        # separate modules rather than nn.vmap over one: a vmapped orthogonal initialiser is a batched QR,
        # which XLA's CPU runtime can deadlock on (two batched LAPACK calls waiting on the same thread pool)
        outputs = self.num_actions or 1
        critics = [_QNetwork(tuple(self.hidden_sizes), self.activation, outputs) for _ in range(NUM_CRITICS)]
        if self.num_actions:
            q = jnp.stack([critic(obs) for critic in critics])
            return jnp.take_along_axis(q, jnp.broadcast_to(action[None, ..., None], q.shape[:-1] + (1,)), -1)[..., 0]
        x = jnp.concatenate([obs, action], -1)
        return jnp.stack([critic(x)[..., 0] for critic in critics])


@struct.dataclass
class RunnerState:
    """Everything that evolves during an IQL run."""

    train_state: TrainState  # the ActorCritic (actor: the AWR policy, value head: V) and its Adam state
    q_state: TrainState  # the twin Q networks and their Adam state
    target_q_params: Any  # Polyak average of the twin Q networks' parameters
    obs_stats: RunningStats  # of the data's observations, (*obs_shape,); constant over the run
    key: jax.Array
    update: jax.Array  # int32, gradient steps done


def expectile_loss(diff: jax.Array, expectile: float) -> jax.Array:
    """The asymmetric squared loss of eq. 5, ``|tau - 1(diff < 0)| diff^2``, elementwise.

    Args:
        diff: ``Q - V``, float32.
        expectile: ``tau`` in ``(0, 1)``.

    Returns:
        Float32, the shape of ``diff``.
    """
    weight = jnp.where(diff < 0, 1.0 - expectile, expectile)
    return weight * jnp.square(diff)


def iql_losses(network: Any, q_network: TwinQ, features: Any, config: IQLConfig, net_params: Any, q_params: Any,
               target_q_params: Any, obs_stats: RunningStats, batch: Dataset) -> tuple[jax.Array, dict]:
    """The three IQL losses on a minibatch, summed (each depends on its own parameters only).

    Args:
        network: the ``ActorCritic`` (actor and V).
        q_network: the ``TwinQ``.
        features: the map from the policy variable of the actions to the Q networks' action input.
        config: ``expectile``, ``temperature``, ``max_weight``, ``gamma``, ``reward_scale``,
            ``normalize_obs`` and ``obs_clip`` are read.
        net_params: the ``ActorCritic``'s parameters (differentiated: actor and value loss).
        q_params: the Q networks' parameters (differentiated: Q loss).
        target_q_params: the target Q networks' parameters.
        obs_stats: the observation statistics.
        batch: ``B`` transitions (``Dataset`` layout).

    Returns:
        ``(actor_loss + value_loss + q_loss, parts)``, ``parts`` the float32 scalars of ``LOG_FIELDS``.
    """
    obs = observe(config, obs_stats, batch.obs)
    action = features(batch.actions)
    target_q = jax.lax.stop_gradient(q_network.apply(target_q_params, obs, action).min(axis=0))
    dist, value = network.apply(net_params, obs)
    value_loss = expectile_loss(target_q - value, config.expectile).mean()
    advantage = target_q - jax.lax.stop_gradient(value)
    weight = jnp.minimum(jnp.exp(config.temperature * advantage), config.max_weight)
    actor_loss = -(weight * dist.log_prob(batch.actions)).mean()
    _, next_value = network.apply(net_params, observe(config, obs_stats, batch.next_obs))
    target = config.reward_scale * batch.rewards + config.gamma * (1.0 - batch.terminations) * next_value
    q = q_network.apply(q_params, obs, action)
    q_loss = jnp.square(q - jax.lax.stop_gradient(target)).sum(axis=0).mean()
    parts = {"actor_loss": actor_loss, "value_loss": value_loss, "q_loss": q_loss, "advantage": advantage.mean()}
    return actor_loss + value_loss + q_loss, parts


def make_trainer(config: IQLConfig, env: Any, env_params: Any, transitions: Any,
                 family: str | None = None) -> Trainer:
    """Check the config, the env parameters and the data, then build the jittable training functions:
    the arguments, the ``offline.Trainer`` returned and the errors raised are those of
    ``bc.make_trainer`` (here the networks are the ``ActorCritic`` and the twin Q networks, the
    runner an IQL ``RunnerState``, the metrics ``LOG_FIELDS`` and ``ran``).
    """
    network, to_env, dataset, action_space = build_policy_parts(config, env, env_params, transitions, family)
    discrete = isinstance(action_space, spaces.Discrete)
    q_network = TwinQ(tuple(config.hidden_sizes), config.activation, int(action_space.n) if discrete else 0)
    features = action_features(action_space, config.squash_actions)
    stats = observation_stats(dataset.obs)
    tx = optax.adam(config.learning_rate)
    grad_fn = jax.grad(lambda net_params, q_params, *args: iql_losses(network, q_network, features, config, net_params,
                                                                      q_params, *args),
                       argnums=(0, 1), has_aux=True)

    def init(key: jax.Array) -> RunnerState:
        net_key, q_key, key = jax.random.split(key, 3)
        obs = jnp.zeros(dataset.obs.shape[1:], jnp.float32)
        net_params = network.init(net_key, obs)
        q_params = q_network.init(q_key, obs, features(jnp.zeros(dataset.actions.shape[1:], dataset.actions.dtype)))
        return RunnerState(TrainState.create(apply_fn=network.apply, params=net_params, tx=tx),
                           TrainState.create(apply_fn=q_network.apply, params=q_params, tx=tx),
                           q_params, stats, key, jnp.array(0, jnp.int32))

    def update(runner: RunnerState, data: Dataset) -> tuple[RunnerState, dict]:
        key, batch_key = jax.random.split(runner.key)
        batch = sample(batch_key, data, config.batch_size)
        (net_grads, q_grads), info = grad_fn(runner.train_state.params, runner.q_state.params,
                                             runner.target_q_params, runner.obs_stats, batch)
        q_state = runner.q_state.apply_gradients(grads=q_grads)
        runner = runner.replace(
            train_state=floor_log_std(runner.train_state.apply_gradients(grads=net_grads), config.min_log_std),
            q_state=q_state,
            target_q_params=polyak(runner.target_q_params, q_state.params, config.target_tau), key=key,
            update=runner.update + 1,
        )
        return runner, {**info, "ran": jnp.array(1, jnp.int32)}

    return make_offline_trainer(config, env, env_params, family, network, to_env, dataset, init, update, LOG_FIELDS)
