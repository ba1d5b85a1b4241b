"""The Python training loop: jitted chunks of PPO updates with a progress bar, a CSV metrics log
and orbax checkpoints. Between chunks only a few scalars leave the device."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from tqdm import tqdm

from training import checkpoint
from training.ppo import RunnerState, Trainer, num_chunks

LOG_FIELDS = ("update", "env_steps", "wall_s", "steps_per_s", "episode_return", "value_loss", "actor_loss",
              "entropy", "approx_kl")


def _summary(metrics: dict[str, np.ndarray]) -> dict[str, float]:
    """Chunk means; the episode return is averaged over updates in which episodes ended."""
    ran = metrics["episodes"] > 0
    out = {name: float(np.mean(metrics[name])) for name in ("value_loss", "actor_loss", "entropy", "approx_kl")}
    out["episode_return"] = float(np.mean(metrics["episode_return"][ran])) if ran.any() else float("nan")
    return out


def run(
    trainer: Trainer,
    key: jax.Array,
    *,
    env_id: str,
    env_overrides: dict[str, Any],
    out_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    progress: bool = True,
) -> tuple[RunnerState, list[dict[str, float]]]:
    """Train ``trainer`` from ``key``; returns the final runner state and the log rows.

    With ``out_dir``: writes ``log.csv`` (a row per chunk), ``final/`` (a checkpoint of the last
    policy) and, if ``checkpoint_every > 0``, ``chunk_<n>/`` every that many chunks.
    """
    config = trainer.config
    out = Path(out_dir) if out_dir is not None else None
    runner = jax.jit(trainer.init)(key)
    chunk = jax.jit(trainer.chunk).lower(runner).compile()  # compiled first: the log times training only
    rows: list[dict[str, float]] = []
    writer = None
    log_file = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        log_file = open(out / "log.csv", "w", newline="")  # noqa: SIM115 - closed below
        writer = csv.DictWriter(log_file, LOG_FIELDS)
        writer.writeheader()
    bar = tqdm(total=config.num_updates * config.batch_size, unit="step", unit_scale=True, disable=not progress)
    start = time.perf_counter()
    try:
        for index in range(num_chunks(config)):
            runner, metrics = chunk(runner)
            metrics = jax.device_get(metrics)
            update = min((index + 1) * config.updates_per_chunk, config.num_updates)
            wall = time.perf_counter() - start
            row = {"update": update, "env_steps": update * config.batch_size, "wall_s": wall,
                   "steps_per_s": update * config.batch_size / wall, **_summary(metrics)}
            rows.append(row)
            if writer is not None:
                writer.writerow(row)
                log_file.flush()
            bar.update(row["env_steps"] - bar.n)
            bar.set_postfix(episode_return=f"{row['episode_return']:.2f}")
            if out is not None and checkpoint_every and (index + 1) % checkpoint_every == 0:
                _save(out / f"chunk_{index + 1}", trainer, runner, env_id, env_overrides, update)
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()
    if out is not None:
        _save(out / "final", trainer, runner, env_id, env_overrides, config.num_updates)
    return runner, rows


def _save(path: Path, trainer: Trainer, runner: RunnerState, env_id: str, env_overrides: dict, update: int) -> None:
    checkpoint.save(path, trainer.config, env_id, env_overrides, runner.train_state.params, runner.obs_stats, update)
