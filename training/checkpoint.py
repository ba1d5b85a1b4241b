"""Orbax checkpoints of a trained policy: network parameters, observation statistics and the
JSON metadata (PPO config, env id and overrides) needed to rebuild it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

import jaxmarket as jm
from training.normalize import RunningStats
from training.ppo import PPOConfig, make_network, make_policy

METADATA = "metadata.json"
STATE = "state"


def save(directory: str | Path, config: PPOConfig, env_id: str, env_overrides: dict[str, Any], net_params: Any,
         obs_stats: RunningStats, update: int) -> Path:
    """Write the policy to ``directory`` (created; an existing checkpoint there is replaced)."""
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    state = {"params": net_params, "obs_stats": {"mean": obs_stats.mean, "var": obs_stats.var, "count": obs_stats.count}}
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(directory / STATE, state, force=True)
    metadata = {"config": dataclasses.asdict(config), "env_id": env_id, "env_overrides": env_overrides, "update": update}
    (directory / METADATA).write_text(json.dumps(metadata, indent=2))
    return directory


def load(directory: str | Path, deterministic: bool = True) -> tuple[Any, Any, Any, dict]:
    """Rebuild ``(env, env_params, policy, metadata)`` from a checkpoint written by ``save``."""
    directory = Path(directory).absolute()
    if not (directory / METADATA).is_file():
        raise ValueError(f"checkpoint = {str(directory)!r} has no {METADATA}: give a directory written by training")
    metadata = json.loads((directory / METADATA).read_text())
    fields = metadata["config"]
    fields["hidden_sizes"] = tuple(fields["hidden_sizes"])
    config = PPOConfig(**fields)
    env, env_params = jm.make(metadata["env_id"], **metadata["env_overrides"])
    obs_shape = env.observation_space(env_params).shape
    template = {
        "params": make_network(config, env, env_params).init(jax.random.PRNGKey(0), jnp.zeros(obs_shape)),
        "obs_stats": {"mean": jnp.zeros(obs_shape), "var": jnp.zeros(obs_shape), "count": jnp.zeros(())},
    }
    with ocp.StandardCheckpointer() as checkpointer:
        state = checkpointer.restore(directory / STATE, template)
    stats = RunningStats(**state["obs_stats"])
    policy = make_policy(config, env, env_params, state["params"], stats, deterministic)
    return env, env_params, policy, metadata
