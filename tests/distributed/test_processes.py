"""Two processes on the CPU (the coordinator on loopback, JAX's Gloo collectives), one device each,
train PPO through ``jaxmarket train market-making --coordinator ... --num-processes 2 --process-id i``
and end with the same policy and the same log as one process on two devices; only process 0 writes
the log and the run file. The process flags are checked before anything starts."""

from __future__ import annotations

import csv
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.distributed.devices import ROOT, SCRIPT_TIMEOUT_S, device_env
from training.learners import loop
from training.tasks.distributed import check_flags, initialize_from_args, scheduler_processes

pytestmark = pytest.mark.xdist_group("processes")

LOOPBACK = "127.0.0.1"
TRAIN = ("-m", "training.cli", "train", "market-making", "--ppo.num-envs", "64", "--ppo.num-steps", "16",
         "--ppo.num-minibatches", "4", "--ppo.total-timesteps", str(64 * 16 * 8), "--ppo.updates-per-chunk", "2",
         "--checkpoint-interval", "0", "--no-progress", "--seed", "2")
TIMING = ("wall_s", "steps_per_s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def policy_leaves(out: Path) -> list[np.ndarray]:
    template = None
    with ocp.StandardCheckpointer() as checkpointer:
        metadata = checkpointer.metadata(out / loop.FINAL / "state")
        tree = metadata.item_metadata if hasattr(metadata, "item_metadata") else metadata
        template = jax.tree.map(lambda m: np.zeros(m.shape, m.dtype), tree.tree if hasattr(tree, "tree") else tree)
        return [np.asarray(x) for x in jax.tree.leaves(checkpointer.restore(out / loop.FINAL / "state", template))]


def untimed_log(out: Path) -> list[dict[str, str]]:
    with open(out / loop.LOG, newline="") as file:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(file)]


@pytest.mark.slow
def test_two_processes_train_as_one_process_with_two_devices(tmp_path: Path) -> None:
    multi, single = tmp_path / "two-processes", tmp_path / "one-process"
    port = free_port()
    processes = [
        subprocess.Popen([sys.executable, *TRAIN, "--out", str(multi), "--coordinator", f"{LOOPBACK}:{port}",
                          "--num-processes", "2", "--process-id", str(i)], cwd=ROOT, env=device_env(1),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=SCRIPT_TIMEOUT_S)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert "on 2 cpu devices in 2 processes" in outputs[0] and "s of training" in outputs[0]
    assert "s of training" not in outputs[1]  # process 0 alone prints, logs and writes run.json
    done = subprocess.run([sys.executable, *TRAIN, "--out", str(single)], cwd=ROOT, env=device_env(2),
                          capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "on 2 cpu devices" in done.stdout
    for a, b in zip(policy_leaves(multi), policy_leaves(single), strict=True):
        np.testing.assert_array_equal(a, b)
    assert untimed_log(multi) == untimed_log(single)
    assert len(untimed_log(multi)) == 4


@pytest.mark.parametrize("flags, words", [
    (("127.0.0.1:1234", 2, None), "--process-id missing"),
    ((None, 2, 0), "--coordinator missing"),
    (("localhost", 2, 0), "not HOST:PORT"),
    (("localhost:70000", 2, 0), "not HOST:PORT"),
    (("localhost:1234", 0, 0), "num_processes = 0"),
    (("localhost:1234", 2, 2), "process_id = 2: valid range is [0, 1]"),
])
def test_bad_process_flags_are_refused(flags: tuple, words: str) -> None:
    with pytest.raises(ValueError) as error:
        check_flags(*flags)
    assert words in str(error.value)


def test_one_process_without_flags() -> None:
    assert check_flags(None, None, None) is False
    assert check_flags("localhost:1234", 2, 1) is True
    assert scheduler_processes({}) == 1
    assert scheduler_processes({"SLURM_NTASKS": "4", "SLURM_STEP_NODELIST": "node[1-4]"}) == 4
    assert scheduler_processes({"SLURM_NTASKS": "4", "SLURM_JOB_ID": "7"}) == 1  # an allocation, not a launched step
    assert scheduler_processes({"OMPI_COMM_WORLD_SIZE": "1", "OMPI_MCA_orte_hnp_uri": "x"}) == 1


def test_only_training_commands_read_the_process_flags() -> None:
    assert initialize_from_args(["plot", "runs/x", "--coordinator", "localhost:1234"]) is False
    assert initialize_from_args(["envs"]) is False
    assert initialize_from_args(["train", "otc", "--coordinator", "None", "--num-processes", "None"]) is False
    with pytest.raises(ValueError, match="--process-id missing"):
        initialize_from_args(["calibrate", "toy", "--coordinator", "localhost:1234", "--num-processes", "2"])


def test_the_command_line_refuses_bad_process_flags_before_starting() -> None:
    done = subprocess.run([sys.executable, "-m", "training.cli", "train", "market-making", "--coordinator",
                           "localhost:1234", "--num-processes", "2"], cwd=ROOT, env=device_env(1), capture_output=True,
                          text=True, timeout=SCRIPT_TIMEOUT_S)
    assert done.returncode == 1 and "jaxmarket: " in done.stderr and "--process-id missing" in done.stderr
