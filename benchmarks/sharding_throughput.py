"""The env axis split across devices (``jaxmarket.core.sharding``) at the same total env count, and
the cost of the training loop's resumable checkpoints.

**Device scaling.** For each device count, at the same total env count: env steps/s of a
``VecEnv`` rollout (jitted ``lax.scan`` of steps with uniformly random actions, shared env
parameters) of MarketMaking-AS-v0 and of OTC-v0 (its default sizes: 4 LPs, 4 RL and 12 flow
clients), PPO training env steps/s on MarketMaking-AS-v0 (the demo's config) and multi-agent PPO
training agent-steps/s on OTC-v0 (the ``jaxmarket train otc`` market and config). Training is timed
as calls of the trainer's compiled ``chunk`` (what ``loop.run`` calls), compiling excluded: best of
2 after a warm-up call; the rollouts best of 3. On the CPU the devices are forced
(``XLA_FLAGS=--xla_force_host_platform_device_count=N``, fixed when JAX starts), so each count runs
in its own Python process (``--child-devices``); on a GPU every power of two up to
``jax.device_count()`` runs in this process. ``overhead`` is the 1-device rate over this count's
minus 1 (the extra wall time per step; the ratio to 1 device is ``1 / (1 + overhead)``).

**Checkpoint cost.** PPO on MarketMaking-AS-v0 with the demo's config (512 envs whatever
``--ppo-envs`` says; tiny with ``--smoke``), shortened to ``--checkpoint-chunks`` chunks, through
``loop.run`` with an output folder, its compile cached by an untimed run first: runs checkpointing
after every chunk against runs checkpointing only the final chunk, in pairs (the order
alternating), each timed whole. The cost of one checkpoint is a pair's difference over its extra
checkpoints (chunks - 1), the median over ``--checkpoint-repeats`` pairs; its ``overhead`` is that
cost over ``loop.CHECKPOINT_INTERVAL_S``. Then, directly (``--long-pairs`` pairs): a run of
``LONG_RUN_INTERVALS`` default intervals checkpointing at the default interval against the same run
checkpointing only at the end; its ``overhead`` is the first's wall time over the second's,
minus 1.

    python -m benchmarks.sharding_throughput [--smoke] [--devices 1 2 4] [--vec-envs 4096]
        [--ppo-envs 512] [--mappo-envs 512] [--workloads mm_vec otc_vec ppo mappo]
        [--checkpoint-chunks 10] [--checkpoint-repeats 3] [--long-pairs 1] [--no-checkpoint]
        [--budget-s SECONDS]

``--smoke`` runs every part at tiny sizes (its figures measure nothing). ``--budget-s`` bounds the
whole run: a device count's process is killed when it runs out, and a part that would not fit in
what is left (estimated from the rates measured before it) is skipped with a message. One JSON
line per configuration (``benchmarks.common.report``), then a plain-text summary with the ratios
to 1 device and the targets (4 devices at least ``TARGET_RATIO`` of 1 device's throughput on the
CPU; checkpoints under ``TARGET_CHECKPOINT_FRACTION`` of training time at the default interval).
The exit status is 1 if a part failed or ran out of budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax

import jaxmarket as jm
from benchmarks import env_throughput, otc_throughput
from benchmarks.common import REPEATS, best_time, report
from benchmarks.figures import parse_lines
from jaxmarket.core.agents import adapter
from training.learners import loop
from training.learners.mappo import make_trainer as make_mappo
from training.learners.ppo import make_trainer as make_ppo
from training.tasks.market_making import comparison as mm
from training.tasks.otc import train as otc_train

ROOT = Path(__file__).resolve().parents[1]  # the repository: the device-count processes run with it as cwd
DEVICE_FLAG = "--xla_force_host_platform_device_count"  # XLA's flag for N CPU devices
CPU_DEVICE_COUNTS = (1, 2, 4)  # forced CPU device counts, each in its own process
TARGET_RATIO = 0.8  # the target: 4 forced CPU devices reach this share of 1 device's throughput
TARGET_CHECKPOINT_FRACTION = 0.02  # the target: checkpoints cost under this share of training time
TRAINING_REPEATS = 2  # timed chunk calls per training configuration, as ppo_throughput and mappo_throughput
OTC_ENV_ID = "jaxmarket/OTC-v0"
LONG_RUN_INTERVALS = 2.5  # the direct run lasts this many checkpoint intervals: 2 interval checkpoints + the final
LONG_RUN_KEEP = 1000  # checkpoints kept by the direct runs, so that they can be counted afterwards
BUDGET_MARGIN = 1.5  # a part is started only if its estimated wall time times this fits in the budget left
METADATA = {"env_id": mm.ENV_ID, "env_overrides": mm.CRITERION}  # what loop.run stores with PPO checkpoints

MM_VEC = "mm_vec"
OTC_VEC = "otc_vec"
PPO = "ppo"
MAPPO = "mappo"
WORKLOADS = (MM_VEC, OTC_VEC, PPO, MAPPO)
WHAT = {
    MM_VEC: "sharded VecEnv env steps/s, random actions (MarketMaking-AS-v0)",
    OTC_VEC: "sharded VecEnv env steps/s, random actions (OTC-v0, 4 LPs / 4 RL + 12 flow clients)",
    PPO: "sharded PPO training env steps/s (MarketMaking-AS-v0, demo config, compiled chunk)",
    MAPPO: "sharded multi-agent PPO training agent-steps/s (OTC-v0 training market, compiled chunk)",
}
WORKLOAD_OF = {what: name for name, what in WHAT.items()}  # a row's workload, from its ``what``
RATE_FIELD = {MM_VEC: "env_steps_per_s", OTC_VEC: "env_steps_per_s", PPO: "env_steps_per_s",
              MAPPO: "agent_steps_per_s"}
CHECKPOINT_WHAT = "resumable checkpoint cost, one checkpoint (PPO MarketMaking-AS-v0 demo config, loop.run)"
LONG_WHAT = "PPO training with resumable checkpoints at the default interval vs only the final one (loop.run)"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What the device-scaling part runs at (the same total env count on every device count).

    Attributes:
        vec_envs: envs of the ``VecEnv`` rollouts (both envs); a multiple of every device count.
        mm_steps: MarketMaking-AS-v0 steps per env per timed call (capped by
            ``env_throughput.MAX_STEPS_PER_CALL`` env steps per call).
        otc_steps: OTC-v0 steps per env per timed call (capped by ``otc_throughput.MAX_STEPS_PER_CALL``).
        ppo_envs: PPO's ``num_envs``.
        ppo_num_steps: PPO's rollout length per env per update; None: the demo's (32).
        ppo_updates: PPO updates per timed chunk call; None: the demo's ``updates_per_chunk`` (50).
        mappo_envs: multi-agent PPO's ``num_envs``.
        mappo_rounds: its rounds per env per update; None: the ``train otc`` preset's (32).
        mappo_updates: its updates per timed chunk call.
    """

    vec_envs: int
    mm_steps: int
    otc_steps: int
    ppo_envs: int
    ppo_num_steps: int | None
    ppo_updates: int | None
    mappo_envs: int
    mappo_rounds: int | None
    mappo_updates: int


# CPU: the sizes the existing benchmarks use on this CPU (env_throughput and otc_throughput at 4096 envs,
# the demo's PPO at 512 envs, the train-otc market at 512 envs with mappo_throughput's 4 updates per call)
CPU_SIZES = Sizes(vec_envs=4096, mm_steps=1000, otc_steps=200, ppo_envs=512, ppo_num_steps=None, ppo_updates=None,
                  mappo_envs=512, mappo_rounds=None, mappo_updates=4)
SMOKE_SIZES = Sizes(vec_envs=8, mm_steps=4, otc_steps=4, ppo_envs=8, ppo_num_steps=4, ppo_updates=1,
                    mappo_envs=8, mappo_rounds=4, mappo_updates=1)
CHECKPOINT_CHUNKS = 10  # chunks of the short checkpoint runs (demo config: 50 updates of 16,384 env steps each)
CHECKPOINT_REPEATS = 3  # pairs of short checkpoint runs; the median is reported
SMOKE_DEVICE_COUNTS = (1, 2)  # --smoke: two device-count processes check the protocol; fewer compiles
SMOKE_CHECKPOINT_CHUNKS = 2  # --smoke: chunks of the short checkpoint runs
SMOKE_CHECKPOINT_REPEATS = 1  # --smoke: pairs of short checkpoint runs
SMOKE_CHECKPOINT_INTERVAL_S = 0.5  # --smoke: the direct comparison's interval (instead of the default 60 s)


# ---------------------------------------------------------------------------------------------
# device scaling


def vec_rollout(env: Any, params: Any, num_envs: int, num_steps: int, devices: int) -> Callable[[jax.Array], Any]:
    """A jitted rollout of ``num_steps`` steps of a ``VecEnv`` split over ``devices`` devices.

    Args:
        env: a single- or multi-agent env.
        params: its parameters, shared by every env.
        num_envs: envs, a multiple of ``devices``.
        num_steps: steps per env.
        devices: devices the env axis is split across.

    Returns:
        ``run(key) -> float32 scalar`` (the sum of the rewards, so that nothing is optimised away).
    """
    venv = jm.VecEnv(env, num_envs, devices=devices)
    sample = jax.vmap(lambda k: adapter(env).sample_action(k, params))

    def run(key: jax.Array) -> jax.Array:
        reset_key, key = jax.random.split(key)
        _, state = venv.reset(reset_key, params)

        def body(state: Any, step_key: jax.Array) -> tuple[Any, jax.Array]:
            action_key, env_key = jax.random.split(step_key)
            actions = sample(jax.random.split(action_key, num_envs))
            _, state, reward, _, _, _ = venv.step(env_key, state, actions, params)
            return state, sum(r.sum() for r in jax.tree.leaves(reward))

        return jax.lax.scan(body, state, jax.random.split(key, num_steps))[1].sum()

    return jax.jit(run)


def chunk_seconds(trainer: Any, repeats: int) -> float:
    """Wall seconds of the fastest of ``repeats`` calls of ``trainer``'s compiled ``chunk``, from a
    fresh runner (one untimed warm-up call; compiling excluded)."""
    runner = jax.jit(trainer.init)(jax.random.key(0))
    chunk = jax.jit(trainer.chunk).lower(runner).compile()
    return best_time(chunk, runner, repeats=repeats)


def ppo_config(sizes: Sizes, devices: int | None, chunks: int = 0) -> Any:
    """The demo's PPO config at ``sizes``, split over ``devices`` devices.

    Args:
        sizes: ``ppo_envs``, ``ppo_num_steps`` and ``ppo_updates`` are read.
        devices: ``PPOConfig.devices``.
        chunks: the run's length in chunks; 0 keeps the demo's ``total_timesteps``, raised if needed
            to one whole chunk.

    Returns:
        A ``PPOConfig``.
    """
    config = mm.config_with(num_envs=sizes.ppo_envs, num_steps=sizes.ppo_num_steps,
                            updates_per_chunk=sizes.ppo_updates, devices=devices)
    config = dataclasses.replace(config, num_minibatches=math.gcd(config.num_minibatches, config.num_envs))
    chunk_steps = config.updates_per_chunk * config.batch_size
    total = chunks * chunk_steps if chunks else max(config.total_timesteps, chunk_steps)
    return dataclasses.replace(config, total_timesteps=total)


def scaling_rows(devices: int, sizes: Sizes, workloads: Sequence[str] = WORKLOADS,
                 one_device: dict[str, dict] | None = None) -> list[dict]:
    """Each workload's rate with the env axis split over ``devices`` devices, in this process,
    each row printed as it is measured (``benchmarks.common.report``).

    Args:
        devices: how many of this process's devices to use.
        sizes: what to run at.
        workloads: which of ``WORKLOADS``, in that order.
        one_device: the 1-device rows by workload, to add ``overhead`` (see ``with_overhead``);
            with ``devices == 1`` the rows are added to it. None: no ``overhead`` (a device-count
            process: its parent adds it).

    Returns:
        One row per workload: ``what``, ``workload``, ``devices``, ``num_envs``, the work per timed call, the rate
        (``env_steps_per_s``, or ``agent_steps_per_s`` and ``rounds_per_s`` for multi-agent PPO),
        ``overhead`` (if known), ``device`` and ``date``.
    """
    rows = []

    def emit(name: str, **fields: Any) -> None:
        fields = {"what": WHAT[name], "workload": name, **fields}  # the workload names the row in the suite's table
        if one_device is not None and devices == 1:
            one_device[name] = fields
        rows.append(report(**with_overhead(fields, one_device or {})))

    for name in (w for w in (MM_VEC, OTC_VEC) if w in workloads):
        env_id, steps, cap = {MM_VEC: (mm.ENV_ID, sizes.mm_steps, env_throughput.MAX_STEPS_PER_CALL),
                              OTC_VEC: (OTC_ENV_ID, sizes.otc_steps, otc_throughput.MAX_STEPS_PER_CALL)}[name]
        steps = max(1, min(steps, cap // sizes.vec_envs))
        env, params = jm.make(env_id)
        seconds = best_time(vec_rollout(env, params, sizes.vec_envs, steps, devices), jax.random.key(0),
                            repeats=REPEATS)
        emit(name, devices=devices, num_envs=sizes.vec_envs, steps_per_env=steps,
             env_steps_per_s=round(sizes.vec_envs * steps / seconds))
    if PPO in workloads:
        env, params = jm.make(mm.ENV_ID, **mm.CRITERION)
        trainer = make_ppo(ppo_config(sizes, devices), env, params)
        steps = trainer.config.updates_per_chunk * trainer.config.batch_size
        seconds = chunk_seconds(trainer, TRAINING_REPEATS)
        emit(PPO, devices=devices, num_envs=trainer.config.num_envs, num_steps=trainer.config.num_steps,
             updates_per_call=trainer.config.updates_per_chunk, env_steps_per_s=round(steps / seconds))
    if MAPPO in workloads:
        env, params = otc_train.make_env("market")
        base = dataclasses.replace(otc_train.PPO_CONFIG, num_envs=sizes.mappo_envs, devices=devices,
                                   num_rounds=sizes.mappo_rounds or otc_train.PPO_CONFIG.num_rounds,
                                   updates_per_chunk=sizes.mappo_updates)
        config = dataclasses.replace(base, num_minibatches=math.gcd(base.num_minibatches, base.num_envs),
                                     total_rounds=base.batch_size * base.updates_per_chunk)
        trainer = make_mappo(config, env, params)
        rounds = config.updates_per_chunk * config.batch_size
        seconds = chunk_seconds(trainer, TRAINING_REPEATS)
        emit(MAPPO, devices=devices, num_envs=config.num_envs, num_rounds=config.num_rounds,
             updates_per_call=config.updates_per_chunk,
             agent_steps_per_s=round(rounds * trainer.agents_per_round / seconds), rounds_per_s=round(rounds / seconds))
    return rows


def device_counts(requested: Sequence[int] | None, smoke: bool = False) -> list[int]:
    """The device counts to run: ``requested``, else on the CPU ``SMOKE_DEVICE_COUNTS`` with
    ``smoke`` and ``CPU_DEVICE_COUNTS`` without, else every power of two up to ``jax.device_count()``."""
    if requested:
        return list(requested)
    if jax.default_backend() == "cpu":
        return list(SMOKE_DEVICE_COUNTS if smoke else CPU_DEVICE_COUNTS)
    return [2 ** k for k in range(int(math.log2(jax.device_count())) + 1)]


def child_env(devices: int) -> dict[str, str]:
    """The environment of a CPU-only Python that sees ``devices`` JAX devices: this one's, with any
    other ``XLA_FLAGS`` kept and the repository first on ``PYTHONPATH``."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(DEVICE_FLAG)]
    return {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": " ".join([*flags, f"{DEVICE_FLAG}={devices}"]),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def run_child(devices: int, args: Sequence[str], timeout_s: float | None) -> tuple[list[dict], str | None]:
    """``scaling_rows`` for ``devices`` forced CPU devices in a fresh Python.

    Args:
        devices: the device count (and the count the process is forced to).
        args: the size and workload arguments passed on.
        timeout_s: seconds after which the process is killed; None: no limit.

    Returns:
        ``(rows, error)``: the JSON lines it printed, and None or what went wrong (its exit status
        or the timeout, with the end of its output).
    """
    command = [sys.executable, "-m", "benchmarks.sharding_throughput", "--child-devices", str(devices), *args]
    try:
        done = subprocess.run(command, cwd=ROOT, env=child_env(devices), capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout.decode() if isinstance(expired.stdout, bytes) else expired.stdout or ""
        return parse_lines(out)[0], f"{devices} devices: killed after {timeout_s:.0f} s (budget)"
    rows = parse_lines(done.stdout)[0]
    if done.returncode:
        return rows, f"{devices} devices: exit {done.returncode}\n{done.stderr[-2000:]}"
    return rows, None


def with_overhead(row: dict, one_device: dict[str, dict]) -> dict:
    """``row`` with ``overhead`` before its ``device`` and ``date``: the 1-device rate of its
    workload over its own, minus 1 (the fraction by which its wall time per step is longer).

    Args:
        row: a row of ``scaling_rows`` (with or without ``device`` and ``date``).
        one_device: the 1-device rows by workload.

    Returns:
        A new row; ``row`` as it is if ``one_device`` has no row of its workload.
    """
    name = WORKLOAD_OF[row["what"]]
    base = one_device.get(name)
    if base is None:
        return row
    field = RATE_FIELD[name]
    fields = dict(row)
    metadata = {k: fields.pop(k) for k in ("device", "date") if k in fields}
    return {**fields, "overhead": round(base[field] / row[field] - 1.0, 4), **metadata}


# ---------------------------------------------------------------------------------------------
# checkpoint cost


def timed_run(trainer: Any, interval_s: float, keep: int = loop.KEEP_CHECKPOINTS) -> tuple[float, float, int]:
    """One ``loop.run`` of ``trainer`` into a fresh folder (deleted afterwards).

    Args:
        trainer: a PPO trainer whose ``init`` and ``chunk`` are already compiled (cached by JAX).
        interval_s: ``checkpoint_interval`` in seconds (``math.inf``: the final chunk only).
        keep: ``keep_checkpoints``.

    Returns:
        ``(seconds, training_s, checkpoints)``: the wall seconds of the whole call (the final save,
        its wait and the policy included); the loop's own training wall time (``wall_s`` of its
        last log row: from the first chunk to the end of the last, the final save excluded); and
        the checkpoint folders left (all of them if ``keep`` is at least their number).
    """
    with tempfile.TemporaryDirectory(prefix="sharding_throughput_") as out:
        start = time.perf_counter()
        _, rows = loop.run(trainer, jax.random.key(0), metadata=METADATA, out_dir=out,
                           checkpoint_interval=interval_s, keep_checkpoints=keep, progress=False)
        seconds = time.perf_counter() - start
        return seconds, rows[-1]["wall_s"], len(list((Path(out) / loop.CHECKPOINTS).glob("[0-9]*")))


def warm(trainer: Any) -> None:
    """Compile ``trainer``'s ``init`` and ``chunk`` as ``loop.run`` does, so its runs find them cached."""
    runner = jax.jit(trainer.init)(jax.random.key(0))
    jax.jit(trainer.chunk).lower(runner).compile()


def checkpoint_cost(sizes: Sizes, chunks: int, repeats: int) -> tuple[dict, dict]:
    """The wall cost of one resumable checkpoint of the demo's PPO run.

    Args:
        sizes: PPO's sizes (``ppo_envs``, ``ppo_num_steps``, ``ppo_updates``).
        chunks: chunks per run, >= 2.
        repeats: pairs of runs (every chunk, final only), the order alternating.

    Returns:
        ``(row, detail)``: the JSON row (``wall_s``: the median cost of one checkpoint in seconds;
        ``overhead``: that over ``loop.CHECKPOINT_INTERVAL_S``) and, for the summary, the per-pair
        costs and wall times (s) and ``chunk_s``, the wall seconds of one chunk inside the loop
        (the final-only runs' median).
    """
    env, params = jm.make(mm.ENV_ID, **mm.CRITERION)
    trainer = make_ppo(ppo_config(sizes, None, chunks), env, params)
    timed_run(trainer, 0.0)  # untimed: compiles, and warms orbax and the event writer
    costs, every, final, training = [], [], [], []
    for pair in range(repeats):
        order = (0.0, math.inf) if pair % 2 == 0 else (math.inf, 0.0)
        runs = {interval: timed_run(trainer, interval) for interval in order}
        every.append(runs[0.0][0])
        final.append(runs[math.inf][0])
        training.append(runs[math.inf][1])
        costs.append((runs[0.0][0] - runs[math.inf][0]) / (chunks - 1))
    cost = statistics.median(costs)
    steps = trainer.config.num_updates * trainer.config.batch_size
    row = report(what=CHECKPOINT_WHAT, num_envs=trainer.config.num_envs, env_steps=steps, chunks=chunks,
                 updates_per_chunk=trainer.config.updates_per_chunk, pairs=repeats,
                 wall_s=round(cost, 5), overhead=round(cost / loop.CHECKPOINT_INTERVAL_S, 6))
    detail = {"costs": costs, "every": every, "final": final, "chunk_s": statistics.median(training) / chunks}
    return row, detail


def long_runs(sizes: Sizes, chunk_s: float, interval_s: float, pairs: int) -> tuple[dict, dict]:
    """A run of ``LONG_RUN_INTERVALS`` checkpoint intervals at ``interval_s`` against the same run
    checkpointing only at the end.

    Args:
        sizes: PPO's sizes.
        chunk_s: wall seconds of one chunk in ``loop.run`` (sizes the run).
        interval_s: ``checkpoint_interval`` of the first run of each pair.
        pairs: pairs of runs, the order alternating.

    Returns:
        ``(row, detail)``: the JSON row (``wall_s``: the median wall time of the checkpointing
        runs in seconds; ``overhead``: the median of their wall time over the final-only run's,
        minus 1; the run's length, measured from ``chunk_s``, is left out of the configuration) and,
        for the summary, the per-pair wall times (s), checkpoint counts and overheads, the run's
        env steps and chunks.
    """
    env, params = jm.make(mm.ENV_ID, **mm.CRITERION)
    chunks = max(2, math.ceil(LONG_RUN_INTERVALS * interval_s / chunk_s))
    trainer = make_ppo(ppo_config(sizes, None, chunks), env, params)
    warm(trainer)
    timed, final, counts = [], [], []
    for pair in range(pairs):
        order = (interval_s, math.inf) if pair % 2 == 0 else (math.inf, interval_s)
        runs = {interval: timed_run(trainer, interval, keep=LONG_RUN_KEEP) for interval in order}
        timed.append(runs[interval_s][0])
        final.append(runs[math.inf][0])
        counts.append(runs[interval_s][2])
    overheads = [a / b - 1.0 for a, b in zip(timed, final, strict=True)]
    steps = trainer.config.num_updates * trainer.config.batch_size
    row = report(what=LONG_WHAT, num_envs=trainer.config.num_envs, interval_s=interval_s,
                 run_intervals=LONG_RUN_INTERVALS, pairs=pairs, wall_s=round(statistics.median(timed), 2),
                 overhead=round(statistics.median(overheads), 4))
    return row, {"timed": timed, "final": final, "counts": counts, "overheads": overheads, "env_steps": steps,
                 "chunks": chunks}


# ---------------------------------------------------------------------------------------------
# driver


def summary(scaling: list[dict], checkpoint: tuple[dict, dict] | None, long: tuple[dict, dict] | None,
            smoke: bool = False) -> str:
    """The plain-text summary: each rate's ratio to 1 device and the targets, the checkpoint costs
    (``smoke``: said to measure nothing)."""
    lines = ["", "summary (smoke sizes: these figures measure nothing):" if smoke else "summary:"]
    one = {r["what"]: r for r in scaling if r["devices"] == 1}
    for row in scaling:
        name = WORKLOAD_OF[row["what"]]
        rate = row[RATE_FIELD[name]]
        base = one.get(row["what"])
        ratio = f"{rate / base[RATE_FIELD[name]]:.3f} of 1 device" if base else "no 1-device rate"
        lines.append(f"  {name:8s} {row['devices']} devices, {row['num_envs']} envs: {rate:,} "
                     f"{RATE_FIELD[name].replace('_per_s', '/s').replace('_', ' ')}, {ratio}")
    four = [r for r in scaling if r["devices"] == 4 and r["what"] in one]
    if four and all(r["device"].startswith("cpu") for r in four):
        field = {r["what"]: RATE_FIELD[WORKLOAD_OF[r["what"]]] for r in four}
        worst = min(r[field[r["what"]]] / one[r["what"]][field[r["what"]]] for r in four)
        verdict = "met" if worst >= TARGET_RATIO else "NOT met"
        lines.append(f"  target: 4 CPU devices >= {TARGET_RATIO:.0%} of 1 device: {verdict} (lowest ratio {worst:.3f})")
    if checkpoint is not None:
        row, d = checkpoint
        lines.append(f"  one checkpoint: {row['wall_s'] * 1e3:.1f} ms median over {row['pairs']} pairs "
                     f"(per pair {', '.join(f'{c * 1e3:.1f}' for c in d['costs'])} ms; runs of {row['chunks']} chunks: "
                     f"every chunk {', '.join(f'{t:.2f}' for t in d['every'])} s, final only "
                     f"{', '.join(f'{t:.2f}' for t in d['final'])} s; a chunk {d['chunk_s']:.2f} s)")
        verdict = "met" if row["overhead"] < TARGET_CHECKPOINT_FRACTION else "NOT met"
        lines.append(f"  per default interval ({loop.CHECKPOINT_INTERVAL_S:g} s): {row['overhead']:.4%} of training "
                     f"time; target < {TARGET_CHECKPOINT_FRACTION:.0%}: {verdict}")
    if long is not None:
        row, d = long
        timed, final = (", ".join(f"{t:.1f}" for t in d[k]) for k in ("timed", "final"))
        counts, overheads = ", ".join(map(str, d["counts"])), ", ".join(f"{o:+.2%}" for o in d["overheads"])
        lines.append(f"  direct, {d['env_steps']:,} env steps in {d['chunks']} chunks: checkpoints every "
                     f"{row['interval_s']:g} s {timed} s ({counts} checkpoints) vs final only {final} s: overhead "
                     f"{overheads} (median {row['overhead']:+.2%})")
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, with the checkpoint defaults of the preset (``--smoke`` or not) filled in."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that every part runs")
    parser.add_argument("--devices", type=int, nargs="+", default=None,
                        help="device counts (default: 1 2 4 forced CPU devices, 1 2 with --smoke; on a GPU "
                             "every power of two up to the device count)")
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--vec-envs", type=int, default=None, help="envs of the VecEnv rollouts (default 4096)")
    parser.add_argument("--ppo-envs", type=int, default=None, help="PPO's num_envs (default 512)")
    parser.add_argument("--mappo-envs", type=int, default=None, help="multi-agent PPO's num_envs (default 512)")
    parser.add_argument("--checkpoint-chunks", type=int, default=None,
                        help=f"chunks of the short checkpoint runs, >= 2 (default {CHECKPOINT_CHUNKS})")
    parser.add_argument("--checkpoint-repeats", type=int, default=None,
                        help=f"pairs of short checkpoint runs (default {CHECKPOINT_REPEATS})")
    parser.add_argument("--long-pairs", type=int, default=1,
                        help="pairs of runs of the direct comparison at the default interval (0: skip it)")
    parser.add_argument("--no-checkpoint", action="store_true", help="skip the checkpoint cost")
    parser.add_argument("--no-scaling", action="store_true", help="skip the device scaling")
    parser.add_argument("--budget-s", type=float, default=None, help="wall seconds for the whole run (default: none)")
    parser.add_argument("--child-devices", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.checkpoint_chunks is None:
        args.checkpoint_chunks = SMOKE_CHECKPOINT_CHUNKS if args.smoke else CHECKPOINT_CHUNKS
    if args.checkpoint_repeats is None:
        args.checkpoint_repeats = SMOKE_CHECKPOINT_REPEATS if args.smoke else CHECKPOINT_REPEATS
    if args.checkpoint_chunks < 2:
        parser.error(f"--checkpoint-chunks = {args.checkpoint_chunks}: at least 2")
    return args


def sizes_of(args: argparse.Namespace) -> Sizes:
    """The preset (``SMOKE_SIZES`` or ``CPU_SIZES``) with the command line's env counts on top."""
    preset = SMOKE_SIZES if args.smoke else CPU_SIZES
    changes = {"vec_envs": args.vec_envs, "ppo_envs": args.ppo_envs, "mappo_envs": args.mappo_envs}
    return dataclasses.replace(preset, **{k: v for k, v in changes.items() if v is not None})


def size_args(args: argparse.Namespace) -> list[str]:
    """The arguments a device-count process needs to run the same sizes and workloads."""
    sizes = sizes_of(args)
    out = ["--vec-envs", str(sizes.vec_envs), "--ppo-envs", str(sizes.ppo_envs), "--mappo-envs",
           str(sizes.mappo_envs), "--workloads", *args.workloads]
    return [*out, "--smoke"] if args.smoke else out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (0 if every part ran)."""
    args = parse(argv)
    sizes = sizes_of(args)
    if args.child_devices is not None:
        scaling_rows(args.child_devices, sizes, args.workloads)
        return 0
    deadline = math.inf if args.budget_s is None else time.perf_counter() + args.budget_s
    failures: list[str] = []
    scaling: list[dict] = []
    if not args.no_scaling:
        one: dict[str, dict] = {}
        for devices in device_counts(args.devices, args.smoke):
            left = deadline - time.perf_counter()
            if left <= 0:
                failures.append(f"{devices} devices: skipped, no budget left")
            elif jax.default_backend() != "cpu":  # every device is visible here
                scaling += scaling_rows(devices, sizes, args.workloads, one)
            else:
                rows, error = run_child(devices, size_args(args), None if math.isinf(left) else left)
                for row in rows:
                    if devices == 1:
                        one[WORKLOAD_OF[row["what"]]] = row
                    scaling.append(with_overhead(row, one))
                    print(json.dumps(scaling[-1]), flush=True)
                if error:
                    failures.append(error)
    checkpoint = long = None
    if not args.no_checkpoint and time.perf_counter() >= deadline:
        failures.append("checkpoint cost: skipped, no budget left")
    elif not args.no_checkpoint:
        demo = SMOKE_SIZES if args.smoke else CPU_SIZES  # the demo's PPO sizes, not --ppo-envs
        checkpoint = checkpoint_cost(demo, args.checkpoint_chunks, args.checkpoint_repeats)
        interval = SMOKE_CHECKPOINT_INTERVAL_S if args.smoke else loop.CHECKPOINT_INTERVAL_S
        if args.long_pairs > 0:
            estimate = 2 * args.long_pairs * (LONG_RUN_INTERVALS * interval + checkpoint[1]["chunk_s"])
            if estimate * BUDGET_MARGIN <= deadline - time.perf_counter():
                long = long_runs(demo, checkpoint[1]["chunk_s"], interval, args.long_pairs)
            else:
                failures.append(f"direct checkpoint comparison: skipped, needs about {estimate:.0f} s")
    print(summary(scaling, checkpoint, long, args.smoke), flush=True)
    for failure in failures:
        print(f"not run: {failure}", file=sys.stderr, flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
