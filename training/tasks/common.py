"""What the tasks' commands share: the training flags, the train/time/print block, and env
overrides from the parsed parameter dataclasses."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax

import jaxmarket as jm
from jaxmarket.core.keys import seed_key
from training.learners import loop
from training.learners.ppo import make_trainer, trained_policy


@dataclasses.dataclass(frozen=True)
class TrainFlags:
    """The flags every training command takes."""

    seed: int = 0
    """training seed (``jax.random.key(seed)``)"""
    checkpoint_every: int = 0
    """also checkpoint every N logged chunks (0: only the final checkpoint)"""
    progress: bool = True
    """show a progress bar (``--no-progress``: none)"""


def overrides(*values: Any) -> dict[str, Any]:
    """The ``jm.make`` overrides that parsed parameter dataclasses stand for: the fields of each
    value that differ from its class's defaults, by name, in field order.

    Args:
        *values: dataclass instances (an env's parameters, a market's configuration) as parsed
            from the command line; each class must build with no arguments.

    Returns:
        ``{field name: value}`` of the fields that differ.
    """
    out = {}
    for value in values:
        default = type(value)()
        out.update({f.name: getattr(value, f.name) for f in dataclasses.fields(value)
                    if getattr(value, f.name) != getattr(default, f.name)})
    return out


def train(trainer: Any, flags: TrainFlags, out: str | Path, metadata: dict[str, Any], headline: str,
          unit: str) -> tuple[Any, list[dict[str, float]], float]:
    """Print ``headline``, run ``loop.run`` (seed, checkpoints and progress bar from ``flags``, log
    and checkpoints under ``out``), then print the wall time and the speed.

    Args:
        trainer: a PPO or multi-agent PPO trainer (``loop.run``'s).
        flags: the seed, the checkpoint period and the progress bar.
        out: directory for ``log.csv`` and the checkpoints (``out/final``).
        metadata: saved with each checkpoint (JSON).
        headline: the line printed before training.
        unit: what ``steps_per_s`` counts in the log, e.g. ``"env steps"``.

    Returns:
        ``(runner, log rows, wall seconds)``.

    Raises:
        ValueError: ``flags.seed`` is not an int, or the trainer's config is invalid.
    """
    key = seed_key(flags.seed, "--seed")  # refused before anything prints
    print(headline)
    start = time.perf_counter()
    runner, rows = loop.run(trainer, key, metadata=metadata, out_dir=out,
                            checkpoint_every=flags.checkpoint_every, progress=flags.progress)
    wall = time.perf_counter() - start
    print(f"trained in {wall:.1f} s wall ({rows[-1]['steps_per_s']:,.0f} {unit}/s after compiling); "
          f"checkpoint: {Path(out) / 'final'}")
    return runner, rows, wall


def train_ppo(env_id: str, overrides: dict[str, Any], config: Any) -> tuple[Any, list[dict[str, float]], float]:
    """PPO on ``env_id`` built with ``overrides``, trained by ``train`` and checkpointed with the
    env id and overrides as metadata.

    Args:
        env_id: a registered env id.
        overrides: its ``jm.make`` overrides.
        config: a ``TrainFlags`` with ``ppo`` (a ``PPOConfig``) and ``out`` (the run directory).

    Returns:
        ``(trained policy, log rows, wall seconds)``.

    Raises:
        ValueError: invalid overrides or PPO configuration.
    """
    env, params = jm.make(env_id, **overrides)
    trainer = make_trainer(config.ppo, env, params)
    ppo = config.ppo
    headline = (f"training PPO on {env_id} with {overrides}: {ppo.num_updates * ppo.batch_size:,} env steps, "
                f"{ppo.num_envs} envs, on {platform()}")
    runner, rows, wall = train(trainer, config, config.out, {"env_id": env_id, "env_overrides": overrides},
                               headline, "env steps")
    return trained_policy(trainer, runner), rows, wall


def platform() -> str:
    """The platform JAX runs on (``cpu``, ``gpu``, ...)."""
    return jax.devices()[0].platform
