"""The environment axis split across devices (``jax.sharding``).

Every batched computation in jaxmarket has a leading environment axis (``VecEnv``'s envs,
``evaluate``'s episodes, the learners' rollouts). ``env_mesh`` makes a one-dimensional ``Mesh`` over
``devices`` devices, its axis named ``ENV_AXIS``; ``split_envs`` constrains a pytree of env-axis
arrays to be split along it (env ``i`` lives on device ``i // (num_envs / devices)``) and
``replicate`` constrains the rest (network parameters, optimiser states, keys) to a full copy on
every device. XLA's SPMD partitioner does the rest: an env step runs on each device's slice, and
a mean over envs or a gradient over a sharded batch is reduced across devices by the compiler.

Each env's random stream is a function of its global index, never of its device: keys are split
for all envs at once (``jax.random.split(key, num_envs)``) and JAX's partitionable Threefry
(``jax_threefry_partitionable``, on by default) draws the same bits for an index whatever the
sharding. The environments are therefore bitwise equal on 1, 2 or 4 devices; reductions across
devices (a learner's losses and gradients) differ only in floating-point summation order.

With several processes (``jax.distributed.initialize``), ``jax.devices()`` lists every process's
devices and each process holds the slice of the env axis on its own devices; ``gather`` brings a
sharded result back to every process as numpy.

    mesh = env_mesh(devices=None, num_envs=4096)       # every device; 4096 divisible by their count
    state = jax.jit(lambda s: split_envs(step(s), mesh))(state)
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxmarket.core.validation import check_int

ENV_AXIS = "envs"  # the mesh axis the environment axis is split along


def env_mesh(devices: int | None = None, num_envs: int | None = None, *, devices_field: str = "devices",
             envs_field: str = "num_envs") -> Mesh:
    """A one-dimensional mesh over the first ``devices`` devices, its axis ``ENV_AXIS``.

    Args:
        devices: how many devices, in ``[1, jax.device_count()]``; None: every device (of every
            process). With several processes it must be every device.
        num_envs: the size of the env axis to split, or None; must be a multiple of the device count.
        devices_field: the name of ``devices`` in error messages (e.g. ``"ppo.devices"``).
        envs_field: the name of ``num_envs`` in error messages.

    Returns:
        ``Mesh(jax.devices()[:devices], (ENV_AXIS,))``.

    Raises:
        ValueError: ``devices`` is not an integer in range, is fewer than every device with several
            processes, or does not divide ``num_envs``.
    """
    available = jax.device_count()
    if devices is None:
        count = available
    else:
        if isinstance(devices, int) and not isinstance(devices, bool) and devices > available:
            raise ValueError(f"{devices_field} = {devices} is more than the {available} "
                             f"{jax.devices()[0].platform} device(s) JAX sees: valid range is [1, {available}]")
        check_int(devices_field, devices, 1, available)
        count = int(devices)
    if jax.process_count() > 1 and count != available:
        raise ValueError(f"{devices_field} = {devices} with {jax.process_count()} processes: every process must hold "
                         f"a slice of the env axis, so use every device ({available}, or leave it unset)")
    if num_envs is not None and num_envs % count:
        raise ValueError(f"{envs_field} = {num_envs} is not divisible by the device count {count} "
                         f"({devices_field} = {devices}): each device holds an equal slice of the envs, "
                         f"so give a multiple of {count}")
    return Mesh(np.array(jax.devices()[:count]), (ENV_AXIS,))


def dividing_device_count(num_envs: int) -> int:
    """The most devices, at most every device, that split ``num_envs`` evenly (every device with
    several processes, where each must hold a slice).

    Args:
        num_envs: the size of the env axis, >= 1.

    Returns:
        The largest divisor of ``num_envs`` that is at most ``jax.device_count()``.
    """
    available = jax.device_count()
    if jax.process_count() > 1:
        return available
    return max(d for d in range(1, available + 1) if num_envs % d == 0)


def env_sharding(mesh: Mesh) -> NamedSharding:
    """Arrays split along their leading axis over ``mesh``'s ``ENV_AXIS``."""
    return NamedSharding(mesh, PartitionSpec(ENV_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """Arrays copied whole onto every device of ``mesh``."""
    return NamedSharding(mesh, PartitionSpec())


def split_envs(tree: Any, mesh: Mesh) -> Any:
    """Constrain every leaf of ``tree`` to be split along its leading (env) axis.

    Args:
        tree: a pytree of arrays with a leading env axis divisible by ``mesh.size``; scalar leaves
            (no env axis) are left as they are.
        mesh: an ``env_mesh``.

    Returns:
        ``tree``, each leaf under ``jax.lax.with_sharding_constraint``; unchanged on one device.
    """
    if mesh.size == 1:
        return tree
    sharding = env_sharding(mesh)
    return jax.tree.map(lambda leaf: jax.lax.with_sharding_constraint(leaf, sharding) if jax.numpy.ndim(leaf) else leaf,
                        tree)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Constrain every leaf of ``tree`` to a full copy on every device of ``mesh``.

    Args:
        tree: a pytree of arrays.
        mesh: an ``env_mesh``.

    Returns:
        ``tree``, each leaf under ``jax.lax.with_sharding_constraint``; unchanged on one device.
    """
    if mesh.size == 1:
        return tree
    return jax.tree.map(lambda leaf: jax.lax.with_sharding_constraint(leaf, replicated(mesh)), tree)


def gather(tree: Any) -> Any:
    """A pytree of (possibly sharded, possibly multi-process) arrays as numpy on this process.

    Args:
        tree: a pytree of ``jax.Array``.

    Returns:
        The same pytree of numpy arrays, each whole: shards held by other processes are fetched
        (``multihost_utils.process_allgather``; every process must call this together).
    """
    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, tree)
    return multihost_utils.process_allgather(tree, tiled=True)
