"""Range checks for configuration, run before anything is traced or compiled.

Every check raises ``ValueError`` with the field name, the offending value and the valid range,
so a user sees at once what to change.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


def is_concrete(value: Any) -> bool:
    """True for Python and numpy numbers and arrays, and lists or tuples of them: values a check
    can read without tracing."""
    if isinstance(value, (list, tuple)):
        return all(is_concrete(v) for v in value)
    return isinstance(value, (bool, int, float, np.ndarray, np.number))


def _values(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64).reshape(-1)


def check_range(
    field: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ``ValueError`` unless every element of ``value`` is finite and in the interval.

    ``low_open``/``high_open`` exclude the bound. Non-concrete values (tracers, device arrays)
    are skipped: they are checked where they were made.
    """
    if not is_concrete(value):
        return
    values = _values(value)
    lo_ok = values > low if low_open else values >= low
    hi_ok = values < high if high_open else values <= high
    bad = ~(np.isfinite(values) & lo_ok & hi_ok)
    if bad.any():
        shown = value if np.ndim(value) == 0 else values[bad][0]
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{field} = {shown!r} is out of range: valid range is {interval}")


def check_int(field: str, value: Any, low: int = 1, high: float = math.inf) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer in ``[low, high]``."""
    if not is_concrete(value):
        return
    values = _values(value)
    if not np.all(np.isfinite(values) & (values == np.round(values))):
        raise ValueError(f"{field} = {value!r} is not an integer: valid range is [{low}, {high}]")
    check_range(field, value, low, high)


def check_order(low_field: str, low: Any, high_field: str, high: Any) -> None:
    """Raise ``ValueError`` unless ``low <= high`` (skipped for non-concrete values)."""
    if is_concrete(low) and is_concrete(high) and float(low) > float(high):
        raise ValueError(f"{low_field} = {low!r} > {high_field} = {high!r}: need {low_field} <= {high_field}")


def check_choice(field: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{field} = {value!r} is not valid: choose one of {choices}")


def check_overrides(cls: type, overrides: dict[str, Any], what: str) -> None:
    """Raise ``ValueError`` for override names that are not fields of the dataclass ``cls``."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown {what} field(s) {unknown}: valid fields are {sorted(names)}")


def check_env_params(env: Any, params: Any) -> None:
    """Run ``env.check_params(params)`` where the env has one (jaxmarket envs do; plain gymnax
    envs do not), so any gymnax environment can be trained and evaluated."""
    check = getattr(env, "check_params", None)
    if check is not None:
        check(params)
