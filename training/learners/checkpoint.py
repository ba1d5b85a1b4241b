"""Orbax checkpoints of trained policies: the network parameters and observation statistics as an
orbax tree, and the JSON metadata (the learner's config, the env and its overrides) needed to
rebuild them. ``save``/``load`` serve single-agent PPO; ``write``/``read`` are the shared pieces
(``training.tasks.otc.train`` uses them for multi-agent runs)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

import jaxmarket as jm
from training.learners.normalize import RunningStats
from training.learners.ppo import PPOConfig, make_network, make_policy

METADATA = "metadata.json"
STATE = "state"


def stats_tree(stats: RunningStats) -> dict[str, jax.Array]:
    return {"mean": stats.mean, "var": stats.var, "count": stats.count}


def stats_template(shape: tuple[int, ...]) -> dict[str, jax.Array]:
    return {"mean": jnp.zeros(shape), "var": jnp.zeros(shape), "count": jnp.zeros(())}


def write(directory: str | Path, state: Any, metadata: dict[str, Any]) -> Path:
    """Write the pytree ``state`` and the JSON ``metadata`` to ``directory`` (created; an existing
    checkpoint there is replaced)."""
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(directory / STATE, state, force=True)
    (directory / METADATA).write_text(json.dumps(metadata, indent=2))
    return directory


def read_metadata(directory: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint; ``ValueError`` if ``directory`` holds none."""
    directory = Path(directory).absolute()
    if not (directory / METADATA).is_file():
        raise ValueError(f"checkpoint = {str(directory)!r} has no {METADATA}: give a directory written by training")
    return json.loads((directory / METADATA).read_text())


def read(directory: str | Path, template: Any) -> Any:
    """The state tree of a checkpoint, restored into the structure and shapes of ``template``."""
    with ocp.StandardCheckpointer() as checkpointer:
        return checkpointer.restore(Path(directory).absolute() / STATE, template)


def config_from(cls: type, fields: dict[str, Any]) -> Any:
    """A frozen config dataclass from its JSON fields (JSON lists back to tuples)."""
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def save(directory: str | Path, config: PPOConfig, env_id: str, env_overrides: dict[str, Any], net_params: Any,
         obs_stats: RunningStats, update: int) -> Path:
    """Write a PPO policy to ``directory``."""
    state = {"params": net_params, "obs_stats": stats_tree(obs_stats)}
    metadata = {"config": dataclasses.asdict(config), "env_id": env_id, "env_overrides": env_overrides, "update": update}
    return write(directory, state, metadata)


def load(directory: str | Path, deterministic: bool = True) -> tuple[Any, Any, Any, dict]:
    """Rebuild ``(env, env_params, policy, metadata)`` from a checkpoint written by ``save``."""
    metadata = read_metadata(directory)
    config = config_from(PPOConfig, metadata["config"])
    env, env_params = jm.make(metadata["env_id"], **metadata["env_overrides"])
    obs_shape = env.observation_space(env_params).shape
    template = {
        "params": make_network(config, env, env_params).init(jax.random.key(0), jnp.zeros(obs_shape)),
        "obs_stats": stats_template(obs_shape),
    }
    state = read(directory, template)
    policy = make_policy(config, env, env_params, state["params"], RunningStats(**state["obs_stats"]), deterministic)
    return env, env_params, policy, metadata
