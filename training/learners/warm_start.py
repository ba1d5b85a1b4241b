"""Warm starts for PPO: a policy checkpoint (behaviour cloning, IQL or PPO) as the network PPO
starts from, and the reward-scaling statistics of logged data so that a critic fitted offline is in
the units PPO trains it in.

    warm = load_warm_start("runs/bc/final", config, env, params, return_stats=return_stats(trajectories, config.gamma))
    trainer = ppo.make_trainer(config, env, params, warm_start=warm)

For multi-agent PPO, a family's policy checkpoint (an offline learner trained on that family's
turns of a multi-agent recording) starts that family:

    warm = {"lp": load_family_warm_start("runs/bc_lp/final", mappo_config, env, params, "lp")}
    trainer = mappo.make_trainer(mappo_config, env, params, warm_start=warm)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarket.core.record import to_transitions
from jaxmarket.core.validation import check_choice
from training.learners import storage
from training.learners.mappo import MAPPOConfig, family_network
from training.learners.networks import ActorCritic
from training.learners.normalize import RunningStats
from training.learners.ppo import Hyperparameters, PPOConfig, WarmStart, make_network

__all__ = ["NETWORK_FIELDS", "discounted_returns", "load_family_warm_start", "load_warm_start", "return_stats"]

NETWORK_FIELDS = ("hidden_sizes", "activation", "squash_actions", "normalize_obs", "obs_clip")
"""The config fields a warm start's checkpoint must share with the run: they define the network and
what it sees."""


def discounted_returns(rewards: np.ndarray, lengths: np.ndarray, gamma: float) -> np.ndarray:
    """The running discounted return PPO's reward scaling tracks, ``d_t = gamma d_(t-1) + r_t`` from
    each episode's start (``ppo.track_returns``), at every valid step.

    Args:
        rewards: float ``(E, T)`` rewards of recorded episodes (``Trajectories.rewards``).
        lengths: int ``(E,)`` steps in each episode; later steps are left out.
        gamma: the discount, in ``[0, 1]``.

    Returns:
        float32 ``(sum(lengths),)``, episode by episode.
    """
    rewards = np.asarray(rewards, np.float64)
    running = np.zeros(rewards.shape[0])
    out = np.empty_like(rewards)
    for t in range(rewards.shape[1]):
        running = gamma * running + rewards[:, t]
        out[:, t] = running
    valid = np.arange(rewards.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return out[valid].astype(np.float32)


def return_stats(trajectories: Any, gamma: float, family: str | None = None) -> RunningStats:
    """The statistics of PPO's running discounted return over recorded episodes: what
    ``WarmStart.return_stats`` takes, and ``1 / sqrt(var)`` the reward scale for fitting its critic.

    For a family of a multi-agent recording, the return runs over each agent's turns (a reward is
    what the agent earned from one turn to its next, ``jaxmarket.to_transitions``), from each
    episode's start: what multi-agent PPO tracks per agent and round.

    Args:
        trajectories: a ``jaxmarket.Trajectories``.
        gamma: PPO's discount, in ``[0, 1]``.
        family: for a multi-agent recording, the family; None for a single-agent one.

    Returns:
        ``RunningStats`` of shape ``()`` over every valid step (or turn).

    Raises:
        ValueError: a multi-agent recording without ``family`` (or with an unknown one), a family for a
            single-agent recording, or a recording with no valid step.
    """
    if family is None and not isinstance(trajectories.rewards, dict):
        returns = discounted_returns(trajectories.rewards, trajectories.lengths, gamma)
    else:
        turns = to_transitions(trajectories, family)  # refuses a recording without a valid turn
        episode, agent = np.asarray(turns.episode), np.asarray(turns.agent)
        first = np.r_[True, (np.diff(episode) != 0) | (np.diff(agent) != 0)]  # an agent's first turn of an episode
        sequence = np.cumsum(first) - 1
        starts = np.flatnonzero(first)
        lengths = np.diff(np.r_[starts, len(turns)])
        rewards = np.zeros((len(starts), int(lengths.max())))
        rewards[sequence, np.arange(len(turns)) - starts[sequence]] = np.asarray(turns.rewards)
        returns = discounted_returns(rewards, lengths, gamma)
    if returns.size == 0:
        raise ValueError("trajectories: no valid step")
    return RunningStats.create().update(jnp.asarray(returns))


def load_warm_start(directory: str | Path, config: PPOConfig, env: Any, env_params: Any,
                    return_stats: RunningStats | None = None, env_id: str | None = None) -> WarmStart:
    """A PPO warm start from a policy checkpoint (``ppo.save_policy``'s format, which the offline
    learners write too).

    Args:
        directory: the checkpoint directory (e.g. a run's ``final``).
        config: the PPO run's config; its ``NETWORK_FIELDS`` must equal the checkpoint's.
        env: the env PPO trains on (its spaces build the network).
        env_params: its parameters.
        return_stats: reward-scaling statistics to start from (``return_stats``); None: those in the
            checkpoint's metadata (``return_stats``: ``mean``, ``var``, ``count``; what ``jaxmarket
            dataset train-offline --warm-start-gamma`` stores), else fresh ones.
        env_id: the run's env id; if given, the checkpoint's must be the same.

    Returns:
        The ``WarmStart`` for ``ppo.make_trainer``.

    Raises:
        ValueError: no checkpoint there, a checkpoint of another env (``env_id``), of one family of a
            multi-agent env (``family``; ``load_family_warm_start`` reads those), of another network, or
            with return statistics for another ``gamma`` (naming the field, its value in the checkpoint
            and the run's).
    """
    metadata = storage.read_metadata(directory)
    if metadata.get("family") is not None:
        raise ValueError(f"warm start {directory}: family = {metadata['family']!r} in the checkpoint, a policy of one "
                         "family of a multi-agent env: start multi-agent PPO from it (load_family_warm_start)")
    _check_metadata(directory, metadata, config, env_id)
    return _read_warm_start(directory, metadata, make_network(config, env, env_params),
                            env.observation_space(env_params).shape, return_stats)


def load_family_warm_start(directory: str | Path, config: MAPPOConfig, env: Any, env_params: Any, family: str,
                           return_stats: RunningStats | None = None, env_id: str | None = None) -> WarmStart:
    """A multi-agent PPO warm start for one family from that family's policy checkpoint (what the
    offline learners write when trained on one family of a multi-agent recording: ``ppo.save_policy``'s
    tree, with ``family`` in the metadata).

    Args:
        directory: the checkpoint directory (e.g. an offline run's ``final``).
        config: the multi-agent run's config; its ``NETWORK_FIELDS`` must equal the checkpoint's.
        env: the ``MultiAgentEnv`` the run trains on (the family's spaces build the network).
        env_params: its parameters.
        family: the family the warm start is for, one of ``env.families``; the checkpoint's must be the same.
        return_stats: reward-scaling statistics ``()`` to start from; None: those in the checkpoint's
            metadata (``return_stats``: ``mean``, ``var``, ``count``), else fresh ones.
        env_id: the run's env id; if given, the checkpoint's must be the same.

    Returns:
        The ``WarmStart`` for ``mappo.make_trainer(..., warm_start={family: ...})``: the network
        parameters, float32 observation statistics ``(d,)`` of the family's observations and the return
        statistics (or None).

    Raises:
        ValueError: ``family`` not one of the env's; no checkpoint there; a checkpoint of another env
            (``env_id``), of another family or of a single-agent policy (``family``), of another
            network, or with return statistics for another ``gamma`` (naming the field, its value in
            the checkpoint and the run's).
    """
    check_choice("family", family, env.families)
    metadata = storage.read_metadata(directory)
    if metadata.get("family") != family:
        raise ValueError(f"warm start {directory}: family = {metadata.get('family')!r} in the checkpoint (None: a "
                         f"single-agent policy), this run's warm start is for family {family!r}")
    _check_metadata(directory, metadata, config, env_id)
    return _read_warm_start(directory, metadata, family_network(config, env, env_params, family),
                            env.observation_space(family, env_params).shape, return_stats)


def _check_metadata(directory: str | Path, metadata: dict[str, Any], config: Hyperparameters,
                    env_id: str | None) -> None:
    """Check a policy checkpoint's env id and network fields against a run's.

    Args:
        directory: the checkpoint directory (for the messages).
        metadata: its metadata (``storage.read_metadata``).
        config: the run's config (``NETWORK_FIELDS`` are read).
        env_id: the run's env id, or None (not checked).

    Raises:
        ValueError: another ``env_id``, a ``NETWORK_FIELDS`` entry that differs, or, for a checkpoint
            with return statistics, another ``gamma`` (naming the field, its value in the checkpoint and
            the run's).
    """
    if env_id is not None and metadata.get("env_id") != env_id:
        raise ValueError(f"warm start {directory}: a policy for {metadata.get('env_id')!r} (the checkpoint's env_id), "
                         f"this run trains on {env_id!r}")
    stored = metadata["config"]
    if "return_stats" in metadata and stored.get("gamma") != config.gamma:
        raise ValueError(f"warm start {directory}: gamma = {stored.get('gamma')!r} in the checkpoint, whose critic and "
                         f"return statistics were fitted for that discount (train-offline --warm-start-gamma), "
                         f"{config.gamma!r} in this run's config: they must be equal")
    for name in NETWORK_FIELDS:
        mine = getattr(config, name)
        theirs = tuple(stored[name]) if isinstance(stored[name], list) else stored[name]
        if theirs != mine:
            raise ValueError(f"warm start {directory}: {name} = {theirs!r} in the checkpoint, {mine!r} in this run's "
                             f"config: they must be equal")


def _read_warm_start(directory: str | Path, metadata: dict[str, Any], network: ActorCritic,
                     obs_shape: tuple[int, ...], return_stats: RunningStats | None) -> WarmStart:
    """A policy checkpoint's parameters and statistics as a ``WarmStart``.

    Args:
        directory: the checkpoint directory.
        metadata: its metadata (``return_stats`` is read if ``return_stats`` is None).
        network: the network the checkpoint's parameters are for.
        obs_shape: the observation shape of its statistics.
        return_stats: reward-scaling statistics ``()``, or None (the metadata's, else none).

    Returns:
        The ``WarmStart``.
    """
    template = storage.policy_template(network.init(jax.random.key(0), jnp.zeros(obs_shape, jnp.float32)), obs_shape)
    net_params, obs_stats = storage.policy_from_tree(storage.read(directory, template))
    if return_stats is None and "return_stats" in metadata:
        stored_stats = metadata["return_stats"]
        return_stats = RunningStats(*(jnp.asarray(stored_stats[k], jnp.float32) for k in ("mean", "var", "count")))
    return WarmStart(net_params, obs_stats, return_stats)
