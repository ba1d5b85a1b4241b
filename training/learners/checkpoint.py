"""Checkpoints of trained policies. A checkpoint directory holds the network parameters and
observation statistics as an orbax tree and the JSON metadata (the learner's config, the env id and
its overrides, the update) that rebuilds them.

The storage itself knows no learner (``training.learners.storage``; its names are re-exported
here). ``load`` is the factory that rebuilds a single-agent PPO policy from a checkpoint written by
``training.learners.ppo.save_policy`` (``save`` here); a multi-agent checkpoint is rebuilt by its
trainer (``training.learners.mappo.Trainer.restore``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

import jaxmarket as jm
from training.learners.ppo import PPOConfig, make_network, make_policy
from training.learners.ppo import save_policy as save
from training.learners.storage import (
    METADATA, STATE, config_from, policy_from_tree, policy_template, read, read_metadata, stats_template, stats_tree,
    write,
)

__all__ = [
    "METADATA", "STATE", "config_from", "load", "read", "read_metadata", "save", "stats_template", "stats_tree",
    "write",
]


def load(directory: str | Path, deterministic: bool = True) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Rebuild a PPO policy and its env from a checkpoint written by ``save``.

    Args:
        directory: the checkpoint directory.
        deterministic: the policy acts with its mode instead of a sample (``ppo.make_policy``).

    Returns:
        ``(env, env_params, policy, metadata)``: the env made from the stored id and overrides,
        ``policy(key, obs, state, params) -> action`` for ``jaxmarket.evaluate``, and the metadata.

    Raises:
        ValueError: ``directory`` holds no checkpoint metadata.
    """
    metadata = read_metadata(directory)
    config = config_from(PPOConfig, metadata["config"])
    env, env_params = jm.make(metadata["env_id"], **metadata["env_overrides"])
    obs_shape = env.observation_space(env_params).shape
    template = policy_template(make_network(config, env, env_params).init(jax.random.key(0), jnp.zeros(obs_shape)),
                               obs_shape)
    net_params, obs_stats = policy_from_tree(read(directory, template))
    policy = make_policy(config, env, env_params, net_params, obs_stats, deterministic)
    return env, env_params, policy, metadata
