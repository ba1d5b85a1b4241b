"""Warm starts for PPO: a policy checkpoint (behaviour cloning, IQL or PPO) as the network PPO
starts from, and the reward-scaling statistics of logged data so that a critic fitted offline is in
the units PPO trains it in.

    warm = load_warm_start("runs/bc/final", config, env, params, return_stats=return_stats(trajectories, config.gamma))
    trainer = ppo.make_trainer(config, env, params, warm_start=warm)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from training.learners import storage
from training.learners.normalize import RunningStats
from training.learners.ppo import PPOConfig, WarmStart, make_network

__all__ = ["NETWORK_FIELDS", "discounted_returns", "load_warm_start", "return_stats"]

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


def return_stats(trajectories: Any, gamma: float) -> RunningStats:
    """The statistics of PPO's running discounted return over recorded single-agent episodes: what
    ``WarmStart.return_stats`` takes, and ``1 / sqrt(var)`` the reward scale for fitting its critic.

    Args:
        trajectories: a single-agent ``jaxmarket.Trajectories``.
        gamma: PPO's discount, in ``[0, 1]``.

    Returns:
        ``RunningStats`` of shape ``()`` over every valid step.

    Raises:
        ValueError: a multi-agent recording, or one with no valid step.
    """
    if isinstance(trajectories.rewards, dict):
        raise ValueError("trajectories: a multi-agent recording; reward statistics are per family (give one's rewards)")
    returns = discounted_returns(trajectories.rewards, trajectories.lengths, gamma)
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
        ValueError: no checkpoint there, a checkpoint of another env, or of another network (naming the field,
            its value in the checkpoint and the run's).
    """
    metadata = storage.read_metadata(directory)
    if env_id is not None and metadata.get("env_id") != env_id:
        raise ValueError(f"warm start {directory}: a policy for {metadata.get('env_id')!r}, this run trains on {env_id!r}")
    stored = metadata["config"]
    for name in NETWORK_FIELDS:
        mine = getattr(config, name)
        theirs = tuple(stored[name]) if isinstance(stored[name], list) else stored[name]
        if theirs != mine:
            raise ValueError(f"warm start {directory}: {name} = {theirs!r} in the checkpoint, {mine!r} in this run's "
                             f"config: they must be equal")
    obs_shape = env.observation_space(env_params).shape
    network = make_network(config, env, env_params)
    template = storage.policy_template(network.init(jax.random.key(0), jnp.zeros(obs_shape, jnp.float32)), obs_shape)
    net_params, obs_stats = storage.policy_from_tree(storage.read(directory, template))
    if return_stats is None and "return_stats" in metadata:
        stored_stats = metadata["return_stats"]
        return_stats = RunningStats(*(jnp.asarray(stored_stats[k], jnp.float32) for k in ("mean", "var", "count")))
    return WarmStart(net_params, obs_stats, return_stats)
