"""The pieces the offline learners (``bc``, ``iql``) share: the dataset on the device, its checks
against the env's spaces, observation statistics from the data, minibatch sampling inside ``jit``,
the map from env actions to the policy's unbounded variable, the shared hyperparameters and the
``Trainer`` that ``loop.run`` drives.

    transitions = jm.to_transitions(jm.record(env, params, policy, num_episodes=1000))
    trainer = bc.make_trainer(BCConfig(...), env, params, transitions)   # or iql.make_trainer
    result = jax.jit(trainer.train)(key, trainer.dataset)                 # whole run in one jit
    act = trainer.policy(result["runner"])                                # for jaxmarket.evaluate

The policy is PPO's ``ActorCritic`` (``training.learners.networks``), so an offline policy is a PPO
policy: it normalises observations by statistics of the data as PPO does by its running ones, its
Box actions live in the same unbounded variable ``u`` (``low + (high - low) * sigmoid(u)`` with
``squash_actions``), its checkpoint is a PPO checkpoint (``training.learners.checkpoint.load`` and
``jaxmarket evaluate --checkpoint`` read it), and its parameters and statistics can start a PPO run.

Agent types: the observations of typed agents (the OTC dealers and clients) end with the agent's
type, so a network trained on data of many types is conditioned on the type through its input; no
separate type input is needed.
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
from flax import struct
from flax.training.train_state import TrainState

from jaxmarket.core import spaces
from jaxmarket.core.multi_agent import MultiAgentEnv
from jaxmarket.core.validation import check_choice, check_env_params, check_int, check_range
from training.learners import storage
from training.learners.networks import ACTIVATIONS, ActorCritic, space_action_map, space_network
from training.learners.normalize import RunningStats
from training.learners.ppo import PPOConfig, chunk_and_train, policy_actions, save_policy

__all__ = [
    "ACTION_BOUND_EPS", "Dataset", "OfflineConfig", "Trainer", "action_features", "check_transitions", "floor_log_std",
    "make_dataset", "observation_stats", "polyak", "policy_variable", "sample", "spaces_of", "unsquash",
]

ACTION_BOUND_EPS = 1e-4
"""Fraction of a Box's range by which data actions are kept inside its bounds before the logit
(``unsquash``): an action on a bound becomes ``u = logit(1e-4) = -9.21`` (or ``+9.21``), finite, and
``sigmoid`` of it is within ``1e-4 * (high - low)`` of the bound."""
TRANSITION_FIELDS = ("obs", "actions", "rewards", "next_obs", "terminations")  # what the learners read
SAVED_METADATA = ("dataset_id", "algorithm", "return_stats")
"""Run metadata a policy checkpoint keeps: where the data came from, the learner, and the reward-scaling
statistics its critic was fitted with (``training.learners.warm_start`` restores them)."""
SQUARED_ERROR_SCALE = 0.5  # a squared-error loss is half the squared error (as PPO's value loss)


@struct.dataclass
class Dataset:
    """Transitions on the device, in the form the learners sample. ``N`` transitions.

    Attributes:
        obs: ``(N, *obs_shape)`` float32: the raw observation acted on.
        actions: the action in the policy's variable (``policy_variable``): ``(N, action_dim)``
            float32 for a Box (``u`` with ``squash_actions``, else the env action), ``(N,)`` int32
            for a Discrete space.
        rewards: ``(N,)`` float32: the reward, in the env's units.
        next_obs: ``(N, *obs_shape)`` float32: the next raw observation.
        terminations: ``(N,)`` float32: 1 where the episode terminated (no bootstrap), else 0.
    """

    obs: jax.Array
    actions: jax.Array
    rewards: jax.Array
    next_obs: jax.Array
    terminations: jax.Array

    @property
    def size(self) -> int:
        """``N``."""
        return int(self.rewards.shape[0])


@dataclasses.dataclass(frozen=True)
class OfflineConfig:
    """The hyperparameters the offline learners share. The network fields mean what PPO's do
    (``training.learners.ppo.Hyperparameters``); ``ppo_config`` carries them into a ``PPOConfig``."""

    hidden_sizes: tuple[int, ...] = (256, 256)
    """Widths of the hidden layers of the policy and value torsos (and of IQL's Q networks): at least one, each >= 1."""
    activation: str = "relu"
    """Hidden-layer activation: tanh, relu or gelu."""
    learning_rate: float = 3e-4
    """Adam learning rate, constant, > 0."""
    batch_size: int = 256
    """Transitions per gradient step, drawn uniformly with replacement; >= 1."""
    num_updates: int = 1_000_000
    """Gradient steps in the run, >= 1."""
    updates_per_chunk: int = 1000
    """Gradient steps per jitted call of loop.run (one log row each), >= 1."""
    gamma: float = 0.99
    """Discount factor per transition, in [0, 1]."""
    normalize_obs: bool = True
    """Normalise observations by the mean and standard deviation of the data's observations."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to [-obs_clip, obs_clip]; > 0."""
    squash_actions: bool = True
    """Box actions: env action = low + (high - low) * sigmoid(u), u the Gaussian policy's sample; finite bounds."""
    init_log_std: float = 0.0
    """Initial log standard deviation of the Gaussian policy (continuous actions), any real."""
    min_log_std: float = -5.0
    """Floor of the Gaussian policy's log standard deviation (continuous actions), restored after every gradient
    step, any real <= init_log_std: cloning nearly deterministic data would otherwise shrink it without bound, and the
    likelihood's gradient with respect to the mean grows as 1 / std^2."""

    def check(self) -> None:
        """Check every field before anything is compiled.

        Raises:
            ValueError: naming the first invalid field, its value and its valid range.
        """
        if not self.hidden_sizes:
            raise ValueError("hidden_sizes = () is empty: give at least one layer size >= 1")
        for size in self.hidden_sizes:
            check_int("hidden_sizes", size, 1)
        check_choice("activation", self.activation, tuple(ACTIVATIONS))
        check_range("learning_rate", self.learning_rate, 0.0, low_open=True)
        check_int("batch_size", self.batch_size, 1)
        check_int("num_updates", self.num_updates, 1)
        check_int("updates_per_chunk", self.updates_per_chunk, 1)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("obs_clip", self.obs_clip, 0.0, low_open=True)
        check_range("init_log_std", self.init_log_std)
        check_range("min_log_std", self.min_log_std, high=self.init_log_std)
        self.check_learner()

    def check_learner(self) -> None:
        """Check the learner's own fields (none here; a subclass adds them).

        Raises:
            ValueError: naming an invalid field.
        """

    @property
    def ppo_config(self) -> PPOConfig:
        """A ``PPOConfig`` with this config's network and observation fields (``hidden_sizes``,
        ``activation``, ``init_log_std``, ``squash_actions``, ``normalize_obs``, ``obs_clip``,
        ``gamma``), the others PPO's defaults: what the policy checkpoint stores, what rebuilds the
        policy, and the fields a PPO run warm-started from it must share."""
        return PPOConfig(hidden_sizes=tuple(self.hidden_sizes), activation=self.activation,
                         init_log_std=self.init_log_std, squash_actions=self.squash_actions,
                         normalize_obs=self.normalize_obs, obs_clip=self.obs_clip, gamma=self.gamma)


def spaces_of(env: Any, env_params: Any, family: str | None) -> tuple[Any, Any]:
    """The observation and action space the data must fit.

    Args:
        env: a single-agent (gymnax-style) env or a ``MultiAgentEnv``.
        env_params: its parameters.
        family: for a ``MultiAgentEnv``, the family whose agents made the data; None otherwise.

    Returns:
        ``(observation space, action space)`` of one agent.

    Raises:
        ValueError: ``family`` missing or unknown for a multi-agent env, or given for a single-agent one.
    """
    if isinstance(env, MultiAgentEnv):
        if family not in env.families:
            raise ValueError(f"family = {family!r}: a multi-agent env needs one of {list(env.families)}")
        return env.observation_space(family, env_params), env.action_space(family, env_params)
    if family is not None:
        raise ValueError(f"family = {family!r}: a single-agent env has no families (give None)")
    return env.observation_space(env_params), env.action_space(env_params)


def _field(transitions: Any, name: str) -> np.ndarray:
    """A field of a ``Transitions`` (or of a dict with its keys) as a numpy array."""
    value = transitions[name] if isinstance(transitions, dict) else getattr(transitions, name, None)
    if value is None:
        raise ValueError(f"transitions.{name} is missing: give a jaxmarket Transitions (jm.to_transitions)")
    return np.asarray(value)


def check_transitions(transitions: Any, obs_space: Any, action_space: Any) -> None:
    """Check transitions against the spaces of the env the policy is for.

    Args:
        transitions: a ``jaxmarket.Transitions`` (``jm.to_transitions``) or a dict with its fields
            ``obs``, ``actions``, ``rewards``, ``next_obs``, ``terminations``.
        obs_space: one agent's observation space.
        action_space: one agent's ``Discrete`` or ``Box`` action space.

    Raises:
        ValueError: a field is missing, the data are empty, a field's shape is not the one the
            spaces imply (naming the field, its shape and the expected one), a Discrete action is
            not an integer in ``[0, n)``, or observations, Box actions or rewards are not finite.
    """
    rewards = _field(transitions, "rewards")
    if rewards.ndim != 1:
        raise ValueError(f"transitions.rewards: shape {rewards.shape}, expected (N,) (one reward per transition)")
    n = rewards.shape[0]
    if n == 0:
        raise ValueError("transitions: empty (0 transitions): an offline learner needs at least one transition")
    obs_shape = tuple(obs_space.shape)
    for name in ("obs", "next_obs"):
        value = _field(transitions, name)
        if value.shape != (n, *obs_shape):
            raise ValueError(f"transitions.{name}: shape {value.shape}, expected {(n, *obs_shape)} "
                             f"(N = {n} observations of the observation space {obs_space!r})")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"transitions.{name}: not all finite")
    terminations = _field(transitions, "terminations")
    if terminations.shape != (n,):
        raise ValueError(f"transitions.terminations: shape {terminations.shape}, expected {(n,)}")
    if not np.all(np.isfinite(rewards)):
        raise ValueError("transitions.rewards: not all finite")
    actions = _field(transitions, "actions")
    if isinstance(action_space, spaces.Discrete):
        if actions.shape != (n,):
            raise ValueError(f"transitions.actions: shape {actions.shape}, expected {(n,)} "
                             f"(N = {n} actions of the action space Discrete({int(action_space.n)}))")
        if not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"transitions.actions: dtype {actions.dtype}, expected an integer dtype "
                             f"(a Discrete({int(action_space.n)}) action)")
        if actions.min() < 0 or actions.max() >= int(action_space.n):
            raise ValueError(f"transitions.actions: values in [{actions.min()}, {actions.max()}], expected "
                             f"[0, {int(action_space.n) - 1}] (a Discrete({int(action_space.n)}) action)")
    elif isinstance(action_space, spaces.Box):
        expected = (n, *tuple(action_space.shape))
        if actions.shape != expected:
            raise ValueError(f"transitions.actions: shape {actions.shape}, expected {expected} "
                             f"(N = {n} actions of the action space {action_space!r})")
        if not np.all(np.isfinite(actions)):
            raise ValueError("transitions.actions: not all finite")
    else:
        raise ValueError(f"action space {action_space!r} is not supported: use Discrete or Box")


def unsquash(actions: jax.Array, low: jax.Array, high: jax.Array, eps: float = ACTION_BOUND_EPS) -> jax.Array:
    """The inverse of the squash ``a = low + (high - low) * sigmoid(u)``, kept away from the bounds.

    Args:
        actions: ``(..., k)`` env actions.
        low: ``(k,)`` finite lower bounds.
        high: ``(k,)`` finite upper bounds, > ``low``.
        eps: the fraction of the range by which ``(a - low) / (high - low)`` is clipped into
            ``[eps, 1 - eps]`` first (actions on or beyond a bound get a finite ``u``).

    Returns:
        ``(..., k)`` float32 ``u = logit(clip((a - low) / (high - low), eps, 1 - eps))``.
    """
    frac = (jnp.asarray(actions, jnp.float32) - low) / (high - low)
    frac = jnp.clip(frac, eps, 1.0 - eps)
    return jnp.log(frac) - jnp.log1p(-frac)


def _box_bounds(space: Any) -> tuple[jax.Array, jax.Array]:
    """A Box's bounds broadcast to its flattened shape, float32 ``(k,)`` each."""
    size = int(np.prod(space.shape))
    low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), space.shape).reshape(size)
    high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), space.shape).reshape(size)
    return low, high


def policy_variable(actions: Any, action_space: Any, squash: bool, eps: float = ACTION_BOUND_EPS) -> jax.Array:
    """Env actions as the variable the policy's distribution is over (what PPO's log-probabilities use).

    Args:
        actions: ``(N, *action_shape)`` env actions.
        action_space: the ``Discrete`` or ``Box`` action space.
        squash: ``squash_actions``: a Box action is ``low + (high - low) * sigmoid(u)``.
        eps: see ``unsquash``.

    Returns:
        ``(N,)`` int32 for a Discrete space; ``(N, k)`` float32 for a Box of ``k`` elements:
        ``unsquash(actions)`` with ``squash``, else the actions flattened.

    Raises:
        ValueError: ``squash`` with a Box whose bounds are not all finite.
    """
    if isinstance(action_space, spaces.Discrete):
        return jnp.asarray(actions, jnp.int32)
    flat = jnp.asarray(actions, jnp.float32).reshape(len(actions), -1)
    if not squash:
        return flat
    low, high = _box_bounds(action_space)
    if not bool(jnp.all(jnp.isfinite(low) & jnp.isfinite(high))):
        raise ValueError("squash_actions = True needs a Box action space with finite bounds: set it to False")
    return unsquash(flat, low, high, eps)


def action_features(action_space: Any, squash: bool) -> Callable[[jax.Array], jax.Array]:
    """The map from the policy variable of data actions to a critic's action input.

    Args:
        action_space: the ``Discrete`` or ``Box`` action space.
        squash: ``squash_actions``.

    Returns:
        ``features(actions) -> inputs``: for a Discrete space the int32 actions as they are (a
        critic with one output per action picks its own); for a Box, float32 ``(..., k)``: the
        action scaled to ``[-1, 1]`` by the bounds (with ``squash``: ``2 sigmoid(u) - 1``), or the
        action as it is where a bound is infinite.
    """
    if isinstance(action_space, spaces.Discrete):
        return lambda actions: actions
    if squash:
        return lambda u: 2.0 * jax.nn.sigmoid(u) - 1.0
    low, high = _box_bounds(action_space)
    if not bool(jnp.all(jnp.isfinite(low) & jnp.isfinite(high))):
        return lambda actions: actions
    return lambda actions: 2.0 * (actions - low) / (high - low) - 1.0


def make_dataset(transitions: Any, obs_space: Any, action_space: Any, squash: bool) -> Dataset:
    """Checked transitions as device arrays (``check_transitions``, ``policy_variable``).

    Args:
        transitions: a ``jaxmarket.Transitions`` or a dict with its fields.
        obs_space: one agent's observation space.
        action_space: one agent's action space.
        squash: ``squash_actions``.

    Returns:
        The ``Dataset``.

    Raises:
        ValueError: see ``check_transitions``; ``squash`` with an unbounded Box.
    """
    check_transitions(transitions, obs_space, action_space)
    return Dataset(
        obs=jnp.asarray(_field(transitions, "obs"), jnp.float32),
        actions=policy_variable(_field(transitions, "actions"), action_space, squash),
        rewards=jnp.asarray(_field(transitions, "rewards"), jnp.float32),
        next_obs=jnp.asarray(_field(transitions, "next_obs"), jnp.float32),
        terminations=jnp.asarray(_field(transitions, "terminations"), jnp.float32),
    )


def observation_stats(obs: jax.Array) -> RunningStats:
    """The statistics a policy normalises observations with: a ``RunningStats`` merged with every
    observation of the data (PPO's starting statistics plus the data, as PPO's running ones).

    Args:
        obs: ``(N, *obs_shape)`` raw observations.

    Returns:
        Float32 statistics of shape ``obs_shape``.
    """
    return RunningStats.create(obs.shape[1:]).update(obs)


def sample(key: jax.Array, dataset: Dataset, batch_size: int) -> Dataset:
    """A minibatch of transitions drawn uniformly with replacement (jittable).

    Args:
        key: the typed PRNG key of the draw.
        dataset: the ``N`` transitions.
        batch_size: ``B``, a Python int.

    Returns:
        A ``Dataset`` of ``B`` transitions.
    """
    index = jax.random.randint(key, (batch_size,), 0, dataset.size)
    return jax.tree.map(lambda x: jnp.take(x, index, axis=0), dataset)


def floor_log_std(train_state: TrainState, min_log_std: float) -> TrainState:
    """``train_state`` with the Gaussian policy's ``log_std`` parameter raised to at least
    ``min_log_std`` (a projection after the gradient step; a network without one, a Discrete
    policy's, is returned as it is).

    Args:
        train_state: the ``ActorCritic``'s parameters and optimiser state.
        min_log_std: the floor.

    Returns:
        The projected ``TrainState``.
    """
    params = train_state.params["params"]
    if "log_std" not in params:
        return train_state
    floored = {**params, "log_std": jnp.maximum(params["log_std"], min_log_std)}
    return train_state.replace(params={**train_state.params, "params": floored})


def polyak(target: Any, online: Any, tau: float) -> Any:
    """Polyak averaging: ``(1 - tau) * target + tau * online`` leaf by leaf.

    Args:
        target: the target parameters.
        online: the trained parameters, same structure.
        tau: the step, in ``(0, 1]``.

    Returns:
        The new target parameters.
    """
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def half_squared_error(prediction: jax.Array, target: jax.Array) -> jax.Array:
    """``0.5 * mean((prediction - target)^2)``, a float32 scalar."""
    return SQUARED_ERROR_SCALE * jnp.mean(jnp.square(prediction - target))


@dataclasses.dataclass(frozen=True)
class Trainer:
    """The jittable pieces of one offline run and what ``loop.run`` reads.

    - ``init(key) -> runner``: fresh networks and optimisers.
    - ``update(runner, dataset) -> (runner, metrics)``: one gradient step on a minibatch of ``dataset``.
    - ``chunk(runner, dataset) -> (runner, metrics (updates_per_chunk,))``: what ``loop.run`` calls.
    - ``train(key, dataset) -> {"runner", "metrics" (num_updates,)}``: the whole run.
      Seeds: ``jax.vmap(trainer.train, in_axes=(0, None))(keys, trainer.dataset)``. On the CPU a
      vmap batches the orthogonal initialiser's QR decompositions, and XLA's CPU runtime can
      deadlock when two batched LAPACK calls wait on its thread pool at once (seen with 2 cores);
      ``jax.lax.map`` over the keys avoids it.

    The data are an argument of every jitted call, never part of the runner: XLA embeds arrays a
    closure captures into the compiled program (a million transitions of 17 float32 observations
    put 136 MB of observations and next observations into it), and a runner's arrays go into every
    resumable checkpoint. ``inputs`` is ``(dataset,)``, what ``loop.run`` passes to each ``chunk``
    after the runner (and never checkpoints).

    A runner has ``train_state`` (the ``ActorCritic``'s parameters and optimiser), ``obs_stats`` (of
    the data), ``key`` and ``update`` (steps done), and the learner's own fields. ``log_fields``
    are the learner's losses, each a mean over a chunk's steps.
    """

    config: OfflineConfig
    env: Any
    env_params: Any
    family: str | None  # the family of a multi-agent env the data come from, or None
    network: ActorCritic
    to_env: Callable[[jax.Array], jax.Array]  # policy variable -> env action
    dataset: Dataset
    init: Callable[[jax.Array], Any]
    update: Callable[[Any, Dataset], tuple[Any, dict]]
    chunk: Callable[[Any, Dataset], tuple[Any, dict]]
    train: Callable[[jax.Array, Dataset], dict]
    log_fields: tuple[str, ...]
    step_unit = "gradient_steps"
    steps_per_update = 1

    @property
    def inputs(self) -> tuple[Dataset]:
        """What ``loop.run`` passes to ``chunk`` after the runner: ``(dataset,)``."""
        return (self.dataset,)

    @property
    def ppo_config(self) -> PPOConfig:
        """The ``PPOConfig`` with the network fields (``OfflineConfig.ppo_config``)."""
        return self.config.ppo_config

    def summary(self, metrics: dict[str, Any]) -> dict[str, float]:
        """A chunk's log row: each of ``log_fields`` averaged over the steps that ran.

        Args:
            metrics: ``{name: (updates_per_chunk,)}`` with ``ran`` (1 where the step ran).

        Returns:
            ``{name: float}`` for each of ``log_fields``.
        """
        ran = np.asarray(metrics["ran"]) > 0
        return {name: float(np.mean(np.asarray(metrics[name])[ran])) for name in self.log_fields}

    def policy(self, runner: Any, deterministic: bool = True) -> Callable:
        """The trained policy.

        Args:
            runner: the run's state (``train(key)["runner"]`` or ``loop.run``'s).
            deterministic: act with the policy's mode (the Gaussian mean, squashed for Box actions;
                the most likely category) instead of a sample.

        Returns:
            ``act(key, obs, state, params) -> action`` for ``jaxmarket.evaluate``: ``obs`` raw
            observations ``(..., *obs_shape)`` (for a multi-agent family, its agents' ``(n, d)``),
            the actions ``(..., action_dim)`` float32 (Box) or ``(...)`` int (Discrete).
        """
        net_params, obs_stats = runner.train_state.params, runner.obs_stats
        config, network, to_env = self.ppo_config, self.network, self.to_env

        def act(key: jax.Array, obs: Any, state: Any, params: Any) -> jax.Array:
            del state, params
            return policy_actions(network, to_env, config, net_params, obs_stats, obs, key, deterministic)

        return act

    def save(self, path: str | Path, runner: Any, metadata: dict[str, Any], update: int) -> Path:
        """Write the policy as a PPO policy checkpoint (``ppo.save_policy``), which
        ``training.learners.checkpoint.load`` reads; for a multi-agent family the same tree, with
        ``family`` added to the metadata.

        Args:
            path: the checkpoint directory (created; an existing checkpoint is replaced).
            runner: the run's state.
            metadata: ``env_id`` and ``env_overrides``, what rebuilds the env, and optionally the
                ``SAVED_METADATA`` entries (kept in the checkpoint's metadata).
            update: the gradient steps done.

        Returns:
            The absolute checkpoint directory.
        """
        params, stats = runner.train_state.params, runner.obs_stats
        extra = {name: metadata[name] for name in SAVED_METADATA if name in metadata}
        if self.family is None:
            return save_policy(path, self.ppo_config, metadata["env_id"], metadata["env_overrides"], params, stats,
                               update, extra)
        stored = {**extra, "config": dataclasses.asdict(self.ppo_config), "env_id": metadata["env_id"],
                  "env_overrides": metadata["env_overrides"], "family": self.family, "update": update}
        return storage.write(path, storage.policy_tree(params, stats), stored)


def make_offline_trainer(config: OfflineConfig, env: Any, env_params: Any, family: str | None, network: ActorCritic,
                         to_env: Callable, dataset: Dataset, init: Callable[[jax.Array], Any],
                         update: Callable[[Any, Dataset], tuple[Any, dict]], log_fields: tuple[str, ...]) -> Trainer:
    """A learner's ``Trainer`` from its ``init(key)`` and ``update(runner, dataset)`` (see ``Trainer``).

    Args:
        config: the learner's config (``num_updates``, ``updates_per_chunk`` are read).
        env: the env.
        env_params: its parameters.
        family: the data's family, or None.
        network: the ``ActorCritic``.
        to_env: the map from the policy variable to env actions.
        dataset: the learner's data.
        init: ``init(key) -> runner``.
        update: one gradient step, ``update(runner, dataset) -> (runner, metrics)``, counting it in
            ``runner.update``.
        log_fields: the metrics ``summary`` reports.

    Returns:
        The ``Trainer``.
    """
    def driven_by(data: Dataset) -> tuple[Callable, Callable]:
        return chunk_and_train(init, lambda runner: update(runner, data), config.num_updates, config.updates_per_chunk)

    def chunk(runner: Any, data: Dataset) -> tuple[Any, dict]:
        return driven_by(data)[0](runner)

    def train(key: jax.Array, data: Dataset) -> dict:
        return driven_by(data)[1](key)

    return Trainer(config, env, env_params, family, network, to_env, dataset, init, update, chunk, train, log_fields)


def build_policy_parts(config: OfflineConfig, env: Any, env_params: Any, transitions: Any, family: str | None
                       ) -> tuple[ActorCritic, Callable, Dataset, Any]:
    """What every offline learner starts from, checked: the network, the action map and the dataset.

    Args:
        config: the learner's config (checked first).
        env: the env the policy is for.
        env_params: its parameters.
        transitions: the data.
        family: the data's family for a multi-agent env, else None.

    Returns:
        ``(network, to_env, dataset, action_space)``.

    Raises:
        ValueError: an invalid config field, env parameters, family, action space or transitions
            (see ``check_transitions``), or ``squash_actions`` with an unbounded Box.
    """
    config.check()
    check_env_params(env, env_params)
    obs_space, action_space = spaces_of(env, env_params, family)
    network = space_network(action_space, config.hidden_sizes, config.activation, config.init_log_std)
    to_env = space_action_map(action_space, config.squash_actions)
    dataset = make_dataset(transitions, obs_space, action_space, config.squash_actions)
    return network, to_env, dataset, action_space


def check_fraction(field: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value`` is in ``(0, 1]`` (a Polyak step)."""
    check_range(field, value, 0.0, 1.0, low_open=True)


def finite(field: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite real."""
    check_range(field, value, -math.inf, math.inf)
