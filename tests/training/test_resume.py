"""Kill and resume on real processes: a training run killed with SIGKILL at a random moment after
its first checkpoint, then started again with the same command, ends bitwise equal to an
uninterrupted run of the same seed (its policy, its whole last checkpoint and its log but for the
wall times). PPO through the ``jaxmarket train market-making`` command, multi-agent PPO through
``tests/training/resume_run.py`` (a synthetic market). The three processes of a case share JAX's persistent compilation
cache (the later two load the executables the first compiled)."""

from __future__ import annotations

import csv
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.distributed.devices import ROOT, device_env
from training.learners import loop

pytestmark = pytest.mark.xdist_group("resume")

KILL_WINDOW_S = 0.5  # the kill comes uniformly within this long after the first checkpoint is complete
POLL_S = 0.05
RUN_TIMEOUT_S = 600
PPO_COMMAND = ("-m", "training.cli", "train", "market-making", "--ppo.num-envs", "64", "--ppo.num-steps", "16",
               "--ppo.num-minibatches", "4", "--ppo.total-timesteps", str(64 * 16 * 40), "--ppo.updates-per-chunk", "2",
               "--checkpoint-interval", "0", "--keep-checkpoints", "2", "--no-progress", "--seed", "4")
MAPPO_COMMAND = ("-m", "tests.training.resume_run")
TIMING = ("wall_s", "steps_per_s")


def environment(cache: Path) -> dict[str, str]:
    return device_env(1, JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")


def command(args: tuple[str, ...], out: Path) -> list[str]:
    if args[1] == "training.cli":
        return [sys.executable, *args, "--out", str(out)]
    return [sys.executable, *args, str(out)]


def finish(args: tuple[str, ...], out: Path, cache: Path) -> str:
    done = subprocess.run(command(args, out), cwd=ROOT, env=environment(cache), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def complete_steps(out: Path) -> list[int]:
    folder = out / loop.CHECKPOINTS
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []


def kill_after_first_checkpoint(args: tuple[str, ...], out: Path, cache: Path) -> float:
    """Start the run, SIGKILL it at a random moment after its first complete checkpoint; the delay."""
    process = subprocess.Popen(command(args, out), cwd=ROOT, env=environment(cache), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not complete_steps(out):
        assert process.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(POLL_S)
    delay = random.uniform(0.0, KILL_WINDOW_S)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out / loop.FINAL).exists(), f"the run finished within {delay:.2f} s of its first checkpoint"
    return delay


def leaves(path: Path) -> list[np.ndarray]:
    with ocp.StandardCheckpointer() as checkpointer:
        return [np.asarray(x) for x in jax.tree.leaves(checkpointer.restore(path))]


def log_without_times(out: Path) -> list[dict[str, str]]:
    with open(out / loop.LOG, newline="") as file:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(file)]


@pytest.mark.slow
@pytest.mark.parametrize("args", [PPO_COMMAND, MAPPO_COMMAND], ids=["ppo-command", "mappo"])
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path: Path, args: tuple[str, ...]) -> None:
    cache = tmp_path / "compilation-cache"
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    finish(args, whole, cache)
    delay = kill_after_first_checkpoint(args, killed, cache)
    resumed_from = complete_steps(killed)[-1]
    finish(args, killed, cache)
    last = complete_steps(whole)[-1]
    assert complete_steps(killed)[-1] == last > resumed_from, (delay, resumed_from)
    for a, b in zip(leaves(whole / loop.CHECKPOINTS / str(last) / "default"),
                    leaves(killed / loop.CHECKPOINTS / str(last) / "default"), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"killed {delay:.2f} s after the first checkpoint")
    state = "state"
    for a, b in zip(leaves(whole / loop.FINAL / state), leaves(killed / loop.FINAL / state), strict=True):
        np.testing.assert_array_equal(a, b)
    assert log_without_times(whole) == log_without_times(killed)
