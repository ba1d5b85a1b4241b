"""What the tasks' commands share: the run and training flags, the train/time/print block, and env
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
from training.learners.warm_start import load_warm_start


@dataclasses.dataclass(frozen=True)
class RunFlags:
    """The flags of every command that trains: checkpoints, the progress bar and the processes
    (``training.tasks.distributed``; ``training.cli`` starts them before the command runs)."""

    checkpoint_interval: float = loop.CHECKPOINT_INTERVAL_S
    """seconds of training between resumable checkpoints in OUT/checkpoints (0: after every chunk); the same
    command on the same OUT resumes from the newest"""
    keep_checkpoints: int = loop.KEEP_CHECKPOINTS
    """resumable checkpoints kept (the newest)"""
    progress: bool = True
    """show a progress bar (--no-progress: none)"""
    coordinator: str | None = None
    """HOST:PORT of process 0 for a run over several processes (jax.distributed); None: one process, or
    what a cluster scheduler (SLURM, Open MPI) sets"""
    num_processes: int | None = None
    """processes in a run over several processes (with --coordinator)"""
    process_id: int | None = None
    """this process's index in [0, num_processes) (with --coordinator)"""


@dataclasses.dataclass(frozen=True)
class TrainFlags(RunFlags):
    """The flags every training command takes."""

    seed: int = 0
    """training seed (``jax.random.key(seed)``)"""


@dataclasses.dataclass(frozen=True)
class PPOTrainFlags(TrainFlags):
    """The flags of the PPO training commands."""

    warm_start: str | None = None
    """a policy checkpoint to start from (e.g. OUT/final of 'jaxmarket dataset train-offline' or of a PPO run): its
    network fields (hidden sizes, activation, squashing, observation normalisation) must be this run's; None: a fresh
    network"""


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
        flags: the seed, the checkpoint interval and count, and the progress bar.
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
    loop.check_checkpointing(flags.checkpoint_interval, flags.keep_checkpoints)
    print(headline)
    start = time.perf_counter()
    runner, rows = loop.run(trainer, key, metadata={**metadata, "seed": flags.seed}, out_dir=out,
                            checkpoint_interval=flags.checkpoint_interval, keep_checkpoints=flags.keep_checkpoints,
                            progress=flags.progress)
    wall = time.perf_counter() - start
    last = rows[-1]
    print(f"{wall:.1f} s wall; the run: {last[trainer.step_unit]:,} {unit} in {last['wall_s']:.1f} s of training "
          f"({last[trainer.step_unit] / last['wall_s']:,.0f} {unit}/s after compiling); "
          f"checkpoint: {Path(out) / loop.FINAL}")
    return runner, rows, wall


def train_ppo(env_id: str, overrides: dict[str, Any], config: Any) -> tuple[Any, list[dict[str, float]], float]:
    """PPO on ``env_id`` built with ``overrides``, trained by ``train`` and checkpointed with the
    env id and overrides as metadata.

    Args:
        env_id: a registered env id.
        overrides: its ``jm.make`` overrides.
        config: a ``TrainFlags`` with ``ppo`` (a ``PPOConfig``) and ``out`` (the run directory), and
            optionally ``warm_start`` (a policy checkpoint PPO starts from, ``PPOTrainFlags``).

    Returns:
        ``(trained policy, log rows, wall seconds)``.

    Raises:
        ValueError: invalid overrides or PPO configuration, or a warm start that does not fit
            (``training.learners.warm_start.load_warm_start``).
    """
    env, params = jm.make(env_id, **overrides)
    warm = getattr(config, "warm_start", None)
    warm_start = None if warm is None else load_warm_start(warm, config.ppo, env, params, env_id=env_id)
    trainer = make_trainer(config.ppo, env, params, warm_start)
    ppo = config.ppo
    headline = (f"training PPO on {env_id} with {overrides}: {ppo.num_updates * ppo.batch_size:,} env steps, "
                f"{ppo.num_envs} envs, on {platform(trainer.mesh.size)}" + (f", warm-started from {warm}" if warm else ""))
    metadata = {"env_id": env_id, "env_overrides": overrides, **({"warm_start": str(warm)} if warm else {})}
    runner, rows, wall = train(trainer, config, config.out, metadata, headline, "env steps")
    return trained_policy(trainer, runner), rows, wall


def platform(devices: int | None = None) -> str:
    """The platform JAX runs on and the devices used (``cpu``, ``4 gpu devices``, ...): ``devices``, or every device."""
    count = jax.device_count() if devices is None else devices
    name = jax.devices()[0].platform
    where = name if count == 1 else f"{count} {name} devices"
    return where if jax.process_count() == 1 else f"{where} in {jax.process_count()} processes"
