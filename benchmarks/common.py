"""Timing helpers shared by the benchmarks: best-of-N wall time of a compiled call, one JSON line
per configuration."""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import jax

REPEATS = 3  # timed calls per configuration; the best is reported


def device_name() -> str:
    device = jax.devices()[0]
    if device.platform == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {jax.device_count()} device, {_cores()} cores)"
    return f"{device.platform} ({device.device_kind})"


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def best_time(fn: Callable[..., Any], *args: Any, repeats: int = REPEATS) -> float:
    """Seconds of the fastest of ``repeats`` calls of a compiled ``fn`` (one untimed warm-up)."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def report(**fields: Any) -> dict:
    """Print one JSON line with the device and the date added."""
    row = {**fields, "device": device_name(), "date": datetime.date.today().isoformat()}
    print(json.dumps(row), flush=True)
    return row
