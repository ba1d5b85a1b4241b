"""Running a test script on several CPU devices: JAX fixes its device count when its backend starts,
so the script runs in a fresh Python with ``XLA_FLAGS=--xla_force_host_platform_device_count=N``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository root (where ``tests`` is a package)
DEVICE_FLAG = "--xla_force_host_platform_device_count"
SCRIPT_TIMEOUT_S = 900  # a hung collective fails the test instead of the suite


def device_env(devices: int, **extra: str) -> dict[str, str]:
    """The environment of a CPU-only Python that sees ``devices`` JAX devices."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": f"{DEVICE_FLAG}={devices}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.update(extra)
    return env


def run_module(module: str, *args: str, devices: int) -> subprocess.CompletedProcess:
    """``python -m module args...`` on ``devices`` CPU devices; raises with its output if it fails."""
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=device_env(devices),
                          capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S)
    if done.returncode:
        raise AssertionError(f"{module} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done
