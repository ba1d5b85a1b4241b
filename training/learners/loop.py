"""The Python training loop: jitted chunks of updates with a progress bar, logs and resumable
checkpoints. Between chunks only a few scalars leave the device. It drives single-agent PPO
(``training.learners.ppo``), multi-agent PPO (``training.learners.mappo``) and the calibrator
(``training.learners.calibration``) and the offline learners (``training.learners.bc``,
``training.learners.iql``) alike: a trainer supplies ``init``, ``chunk``, ``config``
(``num_updates``, ``updates_per_chunk``), ``step_unit`` and ``steps_per_update`` (what a logged step
is), ``log_fields``, ``summary`` and ``save``, and optionally ``inputs``: arrays (an offline
learner's dataset) passed to every ``chunk`` after the runner as jit arguments, so that they are
neither constants of the compiled program nor part of the checkpoints.

A run directory holds:

- ``log.csv``: a row per chunk (``update``, the step count named by ``trainer.step_unit``,
  ``wall_s``, ``steps_per_s``, then ``trainer.log_fields``), and the same scalars as TensorBoard
  event files (``tensorboardX``; ``tensorboard --logdir RUN_DIR``), their step the step count;
- ``run.json``: what the run is (the trainer's config, the metadata, the key);
- ``checkpoints/<update>/``: everything the run needs to continue (the whole runner state:
  network parameters, optimiser states, normalisation statistics, RNG keys, env states, update
  counters, the calibrator's state), written by orbax's ``CheckpointManager`` (asynchronously and
  atomically: a checkpoint is written to a temporary folder and renamed when complete), the newest
  ``keep_checkpoints`` kept;
- ``final/``: the trained policy (``trainer.save``), what ``jaxmarket evaluate`` reads.

Running the same command on the same directory resumes from the newest checkpoint that restores:
a checkpoint that fails to restore (a folder truncated by a crash) is skipped with a warning and
the one before it used (none restoring: a warning, and the run starts over). The checkpoints
belong to one run: a longer run is another run (``total_timesteps`` is part of it), so it needs
another directory. The resumed run continues the same sequence of jitted chunks, so it ends
bitwise equal to an uninterrupted run on the same devices. A directory whose ``run.json`` differs
from the command's (other than ``devices``) is refused with the fields that differ.

With several processes (``jax.distributed``) every process runs the loop (the chunks and the
checkpoints are collective), and must have been started with the same settings (checked); only
process 0 writes ``log.csv``, ``run.json``, the event files and
the progress bar.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils
from tqdm import tqdm

LOG = "log.csv"  # the CSV log of a run directory
RUN = "run.json"  # what the run is, compared on resume
CHECKPOINTS = "checkpoints"  # the resumable checkpoints' folder
FINAL = "final"  # the trained policy's checkpoint
CHECKPOINT_INTERVAL_S = 60.0  # default wall seconds of training between resumable checkpoints
KEEP_CHECKPOINTS = 3  # default number of resumable checkpoints kept
REASON_CHARS = 160  # of a failed restore's error, quoted in the warning
CLOSED_LOOP = "Event loop is closed"  # what late tensorstore callbacks raise after a failed restore
RESUMABLE_FIELDS = ("devices",)  # config fields that may differ on resume (results then agree to reduction order)


def run(
    trainer: Any,
    key: jax.Array,
    *,
    metadata: dict[str, Any],
    out_dir: str | Path | None = None,
    checkpoint_interval: float = CHECKPOINT_INTERVAL_S,
    keep_checkpoints: int = KEEP_CHECKPOINTS,
    progress: bool = True,
) -> tuple[Any, list[dict[str, float]]]:
    """Train ``trainer`` from ``key`` in jitted chunks of ``config.updates_per_chunk`` updates,
    resuming from ``out_dir``'s newest checkpoint if it has one (see the module docstring).

    Args:
        trainer: a PPO, MAPPO, calibration or offline trainer (``init``, ``chunk``, ``config``,
            ``step_unit``, ``steps_per_update``, ``log_fields``, ``summary``, ``save``, and
            optionally ``inputs``).
        key: the run's typed PRNG key.
        metadata: JSON-serialisable data stored with each checkpoint (what rebuilds the env).
        out_dir: the run directory (created), or None to write nothing (and resume nothing).
        checkpoint_interval: wall seconds of training between resumable checkpoints, >= 0 (0:
            after every chunk). The last chunk is always checkpointed.
        keep_checkpoints: resumable checkpoints kept, >= 1 (older ones are deleted).
        progress: show a tqdm progress bar (in steps).

    Returns:
        ``(runner, rows)``: the final runner state and a log row per chunk, those of the run's
        earlier segments included (``{column: float}``, the columns of ``log.csv``; times in
        seconds; ``wall_s`` excludes compiling and adds up over segments; ``steps_per_s`` is this
        segment's rate).

    Raises:
        ValueError: ``checkpoint_interval`` or ``keep_checkpoints`` out of range, ``metadata`` not
            JSON-serialisable, or ``out_dir`` holding a run whose ``run.json`` differs from this
            one (naming the fields); all before anything is compiled.
    """
    check_checkpointing(checkpoint_interval, keep_checkpoints)
    config = trainer.config
    out = Path(out_dir).absolute() if out_dir is not None else None
    primary = jax.process_index() == 0
    spec = run_spec(trainer, key, metadata)
    check_same_run(spec)
    manager = None
    if out is not None:
        check_resumable(out, spec)
        out.mkdir(parents=True, exist_ok=True)
        if primary:
            (out / RUN).write_text(json.dumps(spec, indent=2) + "\n")
        manager = ocp.CheckpointManager(out / CHECKPOINTS, options=ocp.CheckpointManagerOptions(
            max_to_keep=keep_checkpoints, create=True, cleanup_tmp_directories=True))
    runner = jax.jit(trainer.init)(key)
    if manager is not None:
        runner = restore_newest(manager, runner)
    done_updates = int(jax.device_get(runner.update))
    inputs = tuple(getattr(trainer, "inputs", ()))
    chunk = jax.jit(trainer.chunk).lower(runner, *inputs).compile()  # compiled first: the log times training only
    unit = trainer.step_unit
    rows = read_log(out / LOG, done_updates, unit) if out is not None and done_updates else []
    log = (_Log(out, unit, trainer.log_fields, rows, done_updates * trainer.steps_per_update)
           if primary and out is not None else None)
    total_steps = config.num_updates * trainer.steps_per_update
    bar = tqdm(total=total_steps, initial=done_updates * trainer.steps_per_update, unit="step", unit_scale=True,
               disable=not (progress and primary))
    if done_updates and primary:
        print(f"resuming from update {done_updates} of {config.num_updates} ({out / CHECKPOINTS / str(done_updates)})")
    wall_before = rows[-1]["wall_s"] if rows else 0.0
    steps_before = done_updates * trainer.steps_per_update
    start = last_save = time.perf_counter()
    try:
        for index in range(math.ceil(done_updates / config.updates_per_chunk),
                           math.ceil(config.num_updates / config.updates_per_chunk)):
            runner, metrics = chunk(runner, *inputs)
            metrics = jax.device_get(metrics)
            update = min((index + 1) * config.updates_per_chunk, config.num_updates)
            now = time.perf_counter()
            steps = update * trainer.steps_per_update
            row = {"update": update, unit: steps, "wall_s": wall_before + now - start,
                   "steps_per_s": (steps - steps_before) / (now - start), **trainer.summary(metrics)}
            rows.append(row)
            if log is not None:
                log.write(row)
            bar.update(steps - bar.n)
            bar.set_postfix({k: f"{row[k]:.2f}" for k in trainer.log_fields if k.endswith("episode_return")})
            due = update == config.num_updates or _agreed(now - last_save >= checkpoint_interval)
            if manager is not None and due:
                manager.save(update, args=ocp.args.StandardSave(storable(runner)))
                last_save = time.perf_counter()
    finally:
        bar.close()
        if log is not None:
            log.close()
        if manager is not None:
            manager.wait_until_finished()
            manager.close()
    if out is not None:
        trainer.save(out / FINAL, runner, metadata, config.num_updates)
    return runner, rows


def check_checkpointing(checkpoint_interval: float, keep_checkpoints: int) -> None:
    """Check the checkpoint settings of ``run``.

    Raises:
        ValueError: ``checkpoint_interval`` is not a number >= 0 (seconds), or ``keep_checkpoints``
            not an integer >= 1.
    """
    if isinstance(checkpoint_interval, bool) or not (isinstance(checkpoint_interval, (int, float))
                                                     and checkpoint_interval >= 0):
        raise ValueError(f"checkpoint_interval = {checkpoint_interval!r}: valid range is [0, inf) seconds")
    if isinstance(keep_checkpoints, bool) or not (isinstance(keep_checkpoints, int) and keep_checkpoints >= 1):
        raise ValueError(f"keep_checkpoints = {keep_checkpoints!r}: valid range is [1, inf)")


def check_same_run(spec: dict[str, Any]) -> None:
    """With several processes: every process must run the same thing (their configs, metadata and
    keys), or the run would mix them silently while process 0's ``run.json`` recorded one.

    Raises:
        ValueError: this process's ``spec`` differs from process 0's.
    """
    if jax.process_count() == 1:
        return
    digest = np.frombuffer(hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).digest(), np.uint32)
    first = np.asarray(multihost_utils.broadcast_one_to_all(digest))
    if not np.array_equal(first, digest):
        raise ValueError(f"process {jax.process_index()} was started with other settings than process 0 (config, "
                         "environment, seed): start every process with the same command but --process-id")


def run_spec(trainer: Any, key: jax.Array, metadata: dict[str, Any]) -> dict[str, Any]:
    """What a run is, as JSON: the trainer's config (and its agents' trainer's, for a calibrator),
    the metadata and the key's data.

    Raises:
        ValueError: ``metadata`` is not JSON-serialisable.
    """
    spec = {"config": dataclasses.asdict(trainer.config)}
    inner = getattr(trainer, "trainer", None)
    if inner is not None:
        spec["agents"] = dataclasses.asdict(inner.config)
    spec["metadata"] = metadata
    spec["key"] = np.asarray(jax.random.key_data(key)).tolist()
    try:
        return json.loads(json.dumps(spec))
    except TypeError as err:
        raise ValueError(f"metadata = {metadata!r} is not JSON-serialisable: {err}") from err


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict as ``{dotted.name: value}``."""
    if isinstance(tree, dict):
        return {k: v for name, sub in tree.items() for k, v in _flat(sub, f"{prefix}{name}.").items()}
    return {prefix[:-1]: tree}


def spec_differences(stored: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """The fields in which two run specs differ, as ``"name: stored X, given Y"`` lines (the
    ``RESUMABLE_FIELDS`` of a config left out)."""
    a, b = _flat(stored), _flat(given)
    resumable = {f"{part}.{name}" for part in ("config", "agents") for name in RESUMABLE_FIELDS}
    missing = object()
    differing = [name for name in sorted(set(a) | set(b))
                 if name not in resumable and a.get(name, missing) != b.get(name, missing)]
    return [f"{name}: stored {a.get(name, missing)!r}, given {b.get(name, missing)!r}".replace(repr(missing), "absent")
            for name in differing]


def check_resumable(out: Path, spec: dict[str, Any]) -> None:
    """Refuse to resume into ``out`` if it holds checkpoints of a different run.

    Raises:
        ValueError: ``out`` has checkpoints and a ``run.json`` that differs from ``spec`` (other than
            ``RESUMABLE_FIELDS``), naming each differing field with both values.
    """
    stored_path = out / RUN
    if not stored_path.is_file() or not any((out / CHECKPOINTS).glob("[0-9]*")):
        return
    differences = spec_differences(json.loads(stored_path.read_text()), spec)
    if differences:
        raise ValueError(f"out = {str(out)!r} holds checkpoints of a different run; resuming it would mix two runs. "
                         "Give another output folder, or remove this one to start over. Fields that differ:\n  "
                         + "\n  ".join(differences))


def _is_key(leaf: Any) -> bool:
    return jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def storable(tree: Any) -> Any:
    """``tree`` with each typed PRNG key array replaced by its raw ``uint32`` data (what orbax stores)."""
    return jax.tree.map(lambda leaf: jax.random.key_data(leaf) if _is_key(leaf) else leaf, tree)


def restore_newest(manager: ocp.CheckpointManager, runner: Any) -> Any:
    """The newest checkpoint of ``manager`` that restores, into ``runner``'s structure, shapes,
    dtypes and shardings; ``runner`` itself if there is none.

    A checkpoint that fails to restore (truncated or corrupt files) is skipped with a
    ``UserWarning`` naming it, and the one before it tried; if none restores, a warning says that
    the run starts over.
    """
    _quiet_closed_loop()
    template = storable(runner)
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), template)
    steps = sorted(manager.all_steps(), reverse=True)
    for step in steps:
        try:
            restored = manager.restore(step, args=ocp.args.StandardRestore(abstract))
            restored = jax.tree.map(
                lambda new, old: jax.random.wrap_key_data(new, impl=jax.random.key_impl(old)) if _is_key(old) else new,
                restored, runner)
            problem = None if int(jax.device_get(restored.update)) == step else "it holds another update"
        except Exception as err:  # noqa: BLE001 - any failure to read a checkpoint means it is unusable
            problem = f"{type(err).__name__}: {str(err).splitlines()[0][:REASON_CHARS]}"
        if problem is None:
            return restored
        warnings.warn(f"checkpoint {manager.directory / str(step)} does not restore and is skipped ({problem})",
                      UserWarning, stacklevel=3)
    if steps:
        warnings.warn(f"none of the {len(steps)} checkpoints in {manager.directory} restores: the run starts over",
                      UserWarning, stacklevel=3)
    return runner


def _quiet_closed_loop() -> None:
    """When a restore fails, tensorstore's reads still in flight call back into orbax's finished
    asyncio loop, and each callback's ``RuntimeError("Event loop is closed")`` reaches
    ``sys.unraisablehook`` as a traceback. Drop exactly those; anything else goes to the hook as before."""
    previous = sys.unraisablehook
    if getattr(previous, "quiets_closed_loop", False):
        return

    def hook(unraisable: Any) -> None:
        if not (isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == CLOSED_LOOP):
            previous(unraisable)

    hook.quiets_closed_loop = True
    sys.unraisablehook = hook


def _agreed(flag: bool) -> bool:
    """``flag`` as process 0 sees it (every process must take the same save decision)."""
    if jax.process_count() == 1:
        return flag
    return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag)))


def read_log(path: Path, last_update: int, unit: str) -> list[dict[str, float]]:
    """The rows of a run's ``log.csv`` up to ``last_update``: whole rows with increasing updates,
    stopping at the first incomplete, out-of-order or later one (what a kill may have left).
    ``update`` and the step count ``unit`` are ints, the other columns floats."""
    if not path.is_file():
        return []
    rows: list[dict[str, float]] = []
    with open(path, newline="") as file:
        for raw in csv.DictReader(file):
            try:
                row = {k: int(v) if k in ("update", unit) else float(v) for k, v in raw.items()}
            except (TypeError, ValueError):
                break
            if None in raw or row["update"] > last_update or (rows and row["update"] <= rows[-1]["update"]):
                break
            rows.append(row)
    return rows


class _Log:
    """``log.csv`` and the TensorBoard event files of a run directory."""

    def __init__(self, out: Path, unit: str, fields: tuple[str, ...], rows: list[dict[str, float]],
                 steps: int) -> None:
        from tensorboardX import SummaryWriter

        self.unit = unit
        self.file = open(out / LOG, "w", newline="")  # noqa: SIM115 - closed by close()
        self.csv = csv.DictWriter(self.file, ("update", unit, "wall_s", "steps_per_s", *fields))
        self.csv.writeheader()
        for row in rows:  # the earlier segments' rows, as they were
            self.csv.writerow(row)
        self.file.flush()
        # on resume, the events written after the checkpoint's step are dropped
        self.events = SummaryWriter(str(out), purge_step=steps + 1 if steps else None)

    def write(self, row: dict[str, float]) -> None:
        self.csv.writerow(row)
        self.file.flush()
        step = int(row[self.unit])
        for name, value in row.items():
            if name not in ("update", self.unit) and math.isfinite(value):
                self.events.add_scalar(name.replace(":", "/"), value, step)
        self.events.flush()

    def close(self) -> None:
        self.file.close()
        self.events.close()
