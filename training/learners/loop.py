"""The Python training loop: jitted chunks of updates with a progress bar, a CSV metrics log and
orbax checkpoints. Between chunks only a few scalars leave the device. It drives single-agent PPO
(``training.learners.ppo``) and multi-agent PPO (``training.learners.mappo``) trainers alike: a trainer supplies
``init``, ``chunk``, ``config`` (``num_updates``, ``updates_per_chunk``), ``step_unit`` and
``steps_per_update`` (what a logged step is), ``log_fields``, ``summary`` and ``save``."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any

import jax
from tqdm import tqdm


def run(
    trainer: Any,
    key: jax.Array,
    *,
    metadata: dict[str, Any],
    out_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    progress: bool = True,
) -> tuple[Any, list[dict[str, float]]]:
    """Train ``trainer`` from ``key`` in jitted chunks of ``config.updates_per_chunk`` updates.

    With ``out_dir``: writes ``log.csv`` (a row per chunk: ``update``, the step count named by
    ``trainer.step_unit``, ``wall_s``, ``steps_per_s`` and ``trainer.log_fields``), ``final/`` (a
    checkpoint of the last policy, with ``metadata``: the env id and overrides) and, if
    ``checkpoint_every > 0``, ``chunk_<n>/`` every that many chunks. Wall time excludes compiling.

    Args:
        trainer: a PPO or MAPPO ``Trainer`` (``init``, ``chunk``, ``config``, ``step_unit``,
            ``steps_per_update``, ``log_fields``, ``summary``, ``save``).
        key: the run's typed PRNG key.
        metadata: JSON-serialisable data stored with each checkpoint (what rebuilds the env).
        out_dir: the run directory (created), or None to write nothing.
        checkpoint_every: chunks between intermediate checkpoints, >= 0 (0: only ``final/``).
        progress: show a tqdm progress bar (in steps).

    Returns:
        ``(runner, rows)``: the final runner state and a log row per chunk (``{column: float}``,
        the columns of ``log.csv``; times in seconds).
    """
    config = trainer.config
    out = Path(out_dir) if out_dir is not None else None
    runner = jax.jit(trainer.init)(key)
    chunk = jax.jit(trainer.chunk).lower(runner).compile()  # compiled first: the log times training only
    rows: list[dict[str, float]] = []
    writer = None
    log_file = None
    unit = trainer.step_unit
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        log_file = open(out / "log.csv", "w", newline="")  # noqa: SIM115 - closed below
        writer = csv.DictWriter(log_file, ("update", unit, "wall_s", "steps_per_s", *trainer.log_fields))
        writer.writeheader()
    bar = tqdm(total=config.num_updates * trainer.steps_per_update, unit="step", unit_scale=True,
               disable=not progress)
    start = time.perf_counter()
    try:
        for index in range(math.ceil(config.num_updates / config.updates_per_chunk)):
            runner, metrics = chunk(runner)
            metrics = jax.device_get(metrics)
            update = min((index + 1) * config.updates_per_chunk, config.num_updates)
            wall = time.perf_counter() - start
            steps = update * trainer.steps_per_update
            row = {"update": update, unit: steps, "wall_s": wall, "steps_per_s": steps / wall,
                   **trainer.summary(metrics)}
            rows.append(row)
            if writer is not None:
                writer.writerow(row)
                log_file.flush()
            bar.update(steps - bar.n)
            bar.set_postfix({k: f"{row[k]:.2f}" for k in trainer.log_fields if k.endswith("episode_return")})
            if out is not None and checkpoint_every and (index + 1) % checkpoint_every == 0:
                trainer.save(out / f"chunk_{index + 1}", runner, metadata, update)
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()
    if out is not None:
        trainer.save(out / "final", runner, metadata, config.num_updates)
    return runner, rows
