"""The market clock: int32 milliseconds after midnight, and seconds converted to it.

Every time that ends an interval or an episode, or wakes an agent, is an integer on this clock, so
interval lengths and step counts are exact (a float32 time of day has a resolution of about 4 ms
at 16:00, and sums of float steps drift). Parameters give times in seconds (floats, traced as
float32 inside ``jit``); ``seconds_to_ms`` converts them, and ``check_time`` refuses a time that is
not a whole number of milliseconds or that float32 cannot carry to the millisecond: every whole
millisecond below ``FLOAT32_EXACT_S`` = 8,192 s is carried; beyond it, those within 0.5 ms of a
float32 number (every multiple of 1/8 s, so every whole second).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxmarket.core.validation import check_within, is_concrete

MS_PER_S = 1000  # clock ticks per second: the resolution is 1 ms
DAY_S = 86_400.0
DAY_MS = 86_400_000  # < 2**31: a whole day fits int32
NS_PER_MS = 1e6  # the fundamental's and the value agents' rates are per nanosecond (ABIDES's units)
FLOAT32_EXACT_S = 8192.0  # below this every whole millisecond survives float32 seconds exactly
SECONDS_PER_HOUR = 3600.0


def is_scalar_concrete(*values: Any) -> bool:
    """True when every value is a concrete scalar (a Python or numpy number, or a 0-d JAX array
    that holds a value): one whose time can be converted in Python."""
    return all(is_concrete(v) and np.ndim(v) == 0 for v in values)


def seconds_to_ms(seconds: Any) -> Any:
    """Seconds to clock ticks (milliseconds), rounded to the nearest.

    A Python or numpy scalar gives a Python ``int`` (computed in float64: ``0.1`` is exactly 100).
    Anything else (arrays, tracers) gives int32, computed from its float32 value as whole seconds
    plus the rounded fraction, so a float32 time of day keeps every millisecond it carries (``check``
    refuses times that float32 does not carry to the millisecond; see the module docstring).
    """
    if is_scalar_concrete(seconds):
        return int(round(float(seconds) * MS_PER_S))
    s = jnp.asarray(seconds, jnp.float32)
    whole = jnp.floor(s)
    return whole.astype(jnp.int32) * MS_PER_S + jnp.round((s - whole) * MS_PER_S).astype(jnp.int32)


def float32_ms(seconds: float) -> int:
    """``seconds_to_ms`` of ``seconds`` as it arrives inside ``jit`` (float32), in numpy."""
    s = np.float32(seconds)
    whole = np.floor(s)
    return int(whole) * MS_PER_S + int(np.round((s - whole) * np.float32(MS_PER_S)))


def scalar_min(a: Any, b: Any) -> Any:
    """``min`` of two Python numbers, ``jnp.minimum`` otherwise (concrete and traced clock values)."""
    return min(a, b) if is_scalar_concrete(a, b) else jnp.minimum(a, b)


def scalar_max(a: Any, b: Any) -> Any:
    """``max`` of two Python numbers, ``jnp.maximum`` otherwise."""
    return max(a, b) if is_scalar_concrete(a, b) else jnp.maximum(a, b)


def check_time(field: str, value: Any, low: float = 0.0, high: float = DAY_S, **bounds: Any) -> None:
    """Raise ``ValueError`` unless ``value`` (seconds) is in range (``check_within``'s keywords), a
    whole number of milliseconds, and carried to the millisecond by float32 (skipped when traced)."""
    check_within(field, value, low, high, **bounds)
    if not is_scalar_concrete(value):
        return
    ms = seconds_to_ms(value)
    if abs(float(value) * MS_PER_S - ms) > 1e-6:
        raise ValueError(f"{field} = {value!r} is not a whole number of milliseconds: the clock's resolution "
                         f"is {1 / MS_PER_S} s")
    if float32_ms(value) != ms:
        raise ValueError(f"{field} = {value!r} is not carried to the millisecond by float32 (it arrives inside "
                         f"jit as {float(np.float32(value))!r} s): valid times are whole milliseconds below "
                         f"{FLOAT32_EXACT_S} s, and above it whole milliseconds within 0.5 ms of a float32 "
                         f"number (e.g. every multiple of 1/8 s)")


def ceil_div(a: Any, b: Any) -> Any:
    """``ceil(a / b)`` for a non-negative integer ``a`` and a positive ``b`` (Python ints give an
    int, int32 arrays an int32 array): step counts in integer arithmetic."""
    return -(-a // b) if isinstance(a, int) and isinstance(b, int) else (a + b - 1) // b


def interval_chunks(duration_ms: Any, period_ms: Any) -> int:
    """The static number of ``advance`` calls that splits ``duration_ms`` into pieces of at most
    ``period_ms`` (at least 1; 1 for values that are not positive Python numbers)."""
    if not is_scalar_concrete(duration_ms, period_ms) or not period_ms > 0 or not duration_ms > 0:
        return 1
    return max(1, -(-int(duration_ms) // int(period_ms)))


__all__ = ["DAY_MS", "DAY_S", "FLOAT32_EXACT_S", "MS_PER_S", "NS_PER_MS", "SECONDS_PER_HOUR", "ceil_div", "check_time", "float32_ms",
           "interval_chunks", "is_scalar_concrete", "scalar_max", "scalar_min", "seconds_to_ms"]
