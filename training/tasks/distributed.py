"""Starting a run over several processes (hosts) with ``jax.distributed.initialize``.

Every process runs the same command; JAX then sees every process's devices (``jax.devices()``),
the env axis is split over all of them (``jaxmarket.core.sharding``), each process holding the
slice on its own devices, and the jitted chunks run as one SPMD program. On the CPU the processes
reduce over JAX's Gloo collectives. Process 0 writes the logs, ``run.json`` and the progress bar;
the checkpoints are written by all together (orbax).

    jaxmarket train otc --out runs/otc --coordinator 10.0.0.1:1234 --num-processes 2 --process-id 0   # host 0
    jaxmarket train otc --out runs/otc --coordinator 10.0.0.1:1234 --num-processes 2 --process-id 1   # host 1

Under a cluster scheduler that JAX recognises (a SLURM ``srun`` step of several tasks, Open MPI's
``mpirun``) the three flags may be left out: the processes find each other from the scheduler's variables.
The output folder must be on a file system every process sees.

``jax.distributed.initialize`` must run before JAX starts its backend, and importing gymnax (so
jaxmarket) starts it: ``training.cli`` reads the three flags from the command line with
``initialize_from_args`` before it imports anything else. This module imports only JAX.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import jax

# per scheduler JAX detects: the variable holding the process count, and one set only inside a launched
# job step (SLURM's srun, Open MPI's mpirun), without which JAX cannot find the coordinator
SCHEDULERS = {"SLURM_NTASKS": "SLURM_STEP_NODELIST", "OMPI_COMM_WORLD_SIZE": "OMPI_MCA_orte_hnp_uri"}
TRAINING_COMMANDS = ("train", "demo", "calibrate")  # the first words of the commands that take the process flags
NONE = "None"  # how the command line's help writes an unset flag
CPU_COLLECTIVES = "gloo"  # JAX's cross-process collectives on the CPU
MAX_PORT = 2**16  # ports are below it


def scheduler_processes(environ: dict[str, str] | None = None) -> int:
    """The number of processes a cluster scheduler started this one among (1 if none did).

    Args:
        environ: the environment variables (default ``os.environ``).

    Returns:
        The process count of a launched job step of a scheduler in ``SCHEDULERS`` (its size
        variable, when its step variable is set too), else 1.
    """
    environ = os.environ if environ is None else environ
    sizes = [int(environ[size]) for size, step in SCHEDULERS.items()
             if environ.get(size, "").isdigit() and step in environ]
    return max(sizes, default=1)


def check_flags(coordinator: str | None, num_processes: int | None, process_id: int | None) -> bool:
    """Check the three process flags together.

    Args:
        coordinator: ``HOST:PORT`` of process 0, or None.
        num_processes: processes in the run, >= 1, or None.
        process_id: this process's index in ``[0, num_processes)``, or None.

    Returns:
        True if the flags ask for several processes (all three given), False if none is given.

    Raises:
        ValueError: some but not all of the three given, a coordinator that is not ``HOST:PORT``,
            or a count or index out of range.
    """
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    missing = [f"--{name.replace('_', '-')}" for name, value in given.items() if value is None]
    if len(missing) == len(given):
        return False
    if missing:
        raise ValueError(f"a run over several processes needs --coordinator, --num-processes and --process-id "
                         f"together: {', '.join(missing)} missing")
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < MAX_PORT:
        raise ValueError(f"coordinator = {coordinator!r} is not HOST:PORT with a port in [1, {MAX_PORT - 1}]")
    if not isinstance(num_processes, int) or num_processes < 1:
        raise ValueError(f"num_processes = {num_processes!r}: valid range is [1, inf)")
    if not isinstance(process_id, int) or not 0 <= process_id < num_processes:
        raise ValueError(f"process_id = {process_id!r}: valid range is [0, {num_processes - 1}] (num_processes - 1)")
    return True


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
               ) -> bool:
    """Join a run over several processes if the flags or a cluster scheduler ask for one.

    Must run before anything starts JAX's backend. Does nothing for a single process, or when this
    process has already joined.

    Args:
        coordinator: ``HOST:PORT`` of process 0, or None.
        num_processes: processes in the run, or None.
        process_id: this process's index, or None.

    Returns:
        Whether this process is (now) one of several.

    Raises:
        ValueError: invalid flags (``check_flags``).
    """
    explicit = check_flags(coordinator, num_processes, process_id)
    if jax.distributed.is_initialized():
        return True
    if not (explicit or scheduler_processes() > 1):
        return False
    jax.config.update("jax_cpu_collectives_implementation", CPU_COLLECTIVES)
    if explicit:
        jax.distributed.initialize(coordinator, num_processes, process_id)
    else:
        jax.distributed.initialize()
    return True


def process_index() -> int:
    """This process's index in the run (0 for a single process)."""
    return jax.process_index()


def initialize_from_args(argv: Sequence[str]) -> bool:
    """``initialize`` with ``--coordinator``, ``--num-processes`` and ``--process-id`` read from the
    command line of a training command (its first word in ``TRAINING_COMMANDS``); the other
    arguments, and every other command's, are left to the command's parser.

    Args:
        argv: the command-line arguments after ``jaxmarket``.

    Returns:
        Whether this process is (now) one of several.

    Raises:
        ValueError: a flag's value is not of its type, or the flags are invalid (``check_flags``).
    """
    if not argv or argv[0] not in TRAINING_COMMANDS:
        return False
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--coordinator", default=None)
    for flag in ("--num-processes", "--process-id"):
        parser.add_argument(flag, default=None)
    flags, _ = parser.parse_known_args(list(argv))
    values = {name: None if value == NONE else value for name, value in vars(flags).items()}
    for name in ("num_processes", "process_id"):
        value = values[name]
        if value is not None and not value.lstrip("-").isdigit():
            raise ValueError(f"{name} = {value!r} is not an integer")
        values[name] = None if value is None else int(value)
    return initialize(values["coordinator"], values["num_processes"], values["process_id"])
