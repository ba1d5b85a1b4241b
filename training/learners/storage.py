"""Checkpoint storage that knows no learner: a pytree of arrays as an orbax tree next to a JSON
metadata file. The learners (``ppo``, ``mappo``) decide what goes in; ``checkpoint`` rebuilds a
PPO policy from it.

A policy's state is ``{"params": network parameters, "obs_stats": {"mean", "var", "count"}}``
(``policy_tree``); a multi-agent checkpoint holds one such tree per learned family.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from training.learners.normalize import RunningStats

METADATA = "metadata.json"  # the JSON metadata file of a checkpoint directory
STATE = "state"  # the orbax tree's subdirectory of a checkpoint directory


def stats_tree(stats: RunningStats) -> dict[str, jax.Array]:
    """The arrays of ``stats`` as a dict (what orbax stores).

    Args:
        stats: running statistics with ``mean``/``var`` of shape ``shape`` and a scalar ``count``.

    Returns:
        ``{"mean": (*shape,), "var": (*shape,), "count": ()}``, float32 arrays.
    """
    return {"mean": stats.mean, "var": stats.var, "count": stats.count}


def stats_template(shape: tuple[int, ...]) -> dict[str, jax.Array]:
    """A ``stats_tree`` of zeros: the structure and shapes that ``read`` restores into.

    Args:
        shape: the shape of one observation.

    Returns:
        ``{"mean": (*shape,), "var": (*shape,), "count": ()}``, float32 zeros.
    """
    return {"mean": jnp.zeros(shape), "var": jnp.zeros(shape), "count": jnp.zeros(())}


def policy_tree(net_params: Any, obs_stats: RunningStats) -> dict[str, Any]:
    """One policy's stored state: its network parameters and observation statistics.

    Args:
        net_params: the network's parameter pytree.
        obs_stats: the observation statistics the network was trained with.

    Returns:
        ``{"params": net_params, "obs_stats": stats_tree(obs_stats)}``.
    """
    return {"params": net_params, "obs_stats": stats_tree(obs_stats)}


def policy_template(net_params: Any, obs_shape: tuple[int, ...]) -> dict[str, Any]:
    """The template of a ``policy_tree``, to restore one into.

    Args:
        net_params: parameters of the right structure and shapes (their values are ignored).
        obs_shape: the shape of one observation.

    Returns:
        ``{"params": net_params, "obs_stats": stats_template(obs_shape)}``.
    """
    return {"params": net_params, "obs_stats": stats_template(obs_shape)}


def policy_from_tree(tree: dict[str, Any]) -> tuple[Any, RunningStats]:
    """Split a restored ``policy_tree`` into its parts.

    Args:
        tree: ``{"params": ..., "obs_stats": {"mean", "var", "count"}}``.

    Returns:
        ``(network parameters, observation statistics)``.
    """
    return tree["params"], RunningStats(**tree["obs_stats"])


def write(directory: str | Path, state: Any, metadata: dict[str, Any]) -> Path:
    """Write a checkpoint; an existing one in ``directory`` is replaced.

    With several processes every process must call it (orbax writes collectively); process 0
    writes the metadata.

    Args:
        directory: the checkpoint directory (created with its parents).
        state: a pytree of arrays, stored by orbax under ``STATE``.
        metadata: JSON-serialisable data, stored as ``METADATA``.

    Returns:
        The absolute path of ``directory``.
    """
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(directory / STATE, state, force=True)
    if jax.process_index() == 0:
        (directory / METADATA).write_text(json.dumps(metadata, indent=2))
    return directory


def read_metadata(directory: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint.

    Args:
        directory: a directory written by ``write``.

    Returns:
        The JSON metadata as a dict.

    Raises:
        ValueError: ``directory`` has no ``METADATA`` file.
    """
    directory = Path(directory).absolute()
    if not (directory / METADATA).is_file():
        raise ValueError(f"checkpoint = {str(directory)!r} has no {METADATA}: give a directory written by training")
    return json.loads((directory / METADATA).read_text())


def read(directory: str | Path, template: Any) -> Any:
    """The state tree of a checkpoint.

    Args:
        directory: a directory written by ``write``.
        template: a pytree with the structure, shapes and dtypes of the stored state.

    Returns:
        The stored state, restored into the structure of ``template``.
    """
    with ocp.StandardCheckpointer() as checkpointer:
        return checkpointer.restore(Path(directory).absolute() / STATE, template)


def config_from(cls: type, fields: dict[str, Any]) -> Any:
    """A frozen config dataclass from its JSON fields (JSON lists become tuples again).

    Args:
        cls: the config class, e.g. ``PPOConfig``.
        fields: the stored ``dataclasses.asdict`` of a config.

    Returns:
        ``cls(**fields)`` with lists as tuples.
    """
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
